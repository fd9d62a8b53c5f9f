"""``keras.datasets.fashion_mnist``: ``load_data(path=None)`` from local files."""
from . import _keras_files
from .originals import _read_idx

_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
          "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")


def load_data(path=None):
    """Fashion-MNIST as Keras' ``fashion_mnist.load_data()`` returns it: uint8
    images (60000, 28, 28) and (10000, 28, 28), uint8 labels 0-9.

    Args:
        path: a directory holding the four ``*-ubyte.gz`` files Keras downloads;
            None: Keras' cache, ``~/.keras/datasets/fashion-mnist``.  Nothing is
            downloaded.
    """
    directory = _keras_files.find(path, "fashion-mnist", "the Fashion-MNIST directory",
                                  f"the files {', '.join(_FILES)} from "
                                  f"{_keras_files.download_url('')}")
    missing = [name for name in _FILES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{directory}: missing {', '.join(missing)} (Fashion-MNIST's "
                                f"files, from {_keras_files.download_url('')})")
    y_train, x_train, y_test, x_test = (_checked(directory / name) for name in _FILES)
    return (x_train, y_train), (x_test, y_test)


def _checked(path):
    magic, array = _read_idx(path)
    images = "images" in path.name
    if magic != (2051 if images else 2049) or array.shape[1:] != ((28, 28) if images else ()):
        raise ValueError(f"{path}: IDX magic {magic} with shape {array.shape} is not "
                         f"Fashion-MNIST's {'images' if images else 'labels'}")
    return array
