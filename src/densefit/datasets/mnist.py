"""``keras.datasets.mnist``: ``load_data(path=None)`` from local files."""
from pathlib import Path

from . import _keras_files
from .originals import load_mnist


def load_data(path=None):
    """MNIST as Keras' ``mnist.load_data()`` returns it: ``((x_train, y_train),
    (x_test, y_test))``, uint8 images (60000, 28, 28) and (10000, 28, 28), uint8
    labels.

    Args:
        path: Keras' ``mnist.npz``, or a directory holding the four original
            ``*-ubyte.gz`` files (see ``load_mnist``); None: ``$DENSEFIT_DATA``
            (as load_mnist), else Keras' cache (``~/.keras/datasets/mnist.npz``).
            Nothing is downloaded.
    """
    if path is None:
        try:
            return load_mnist()
        except FileNotFoundError:
            pass  # then Keras' cache
    elif Path(path).expanduser().is_dir():
        return load_mnist(path)
    found = _keras_files.find(path, "mnist.npz", "MNIST (mnist.npz)",
                              _keras_files.download_url("mnist.npz"))
    images = (lambda shape: len(shape) == 3 and shape[1:] == (28, 28), "u")
    labels = (lambda shape: len(shape) == 1, "u")
    a = _keras_files.read_npz(found, {"x_train": images, "y_train": labels,
                                      "x_test": images, "y_test": labels})
    return (a["x_train"], a["y_train"]), (a["x_test"], a["y_test"])
