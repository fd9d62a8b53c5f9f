"""``keras.datasets.boston_housing``: ``load_data(...)`` from a local file."""
import numpy as np

from .. import validation
from . import _keras_files


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """The Boston housing prices as Keras' ``boston_housing.load_data()``
    returns them: 13 features per house (float64) and its price, shuffled with
    ``np.random.RandomState(seed)`` and split, the last ``test_split`` for test.

    Args:
        path: the ``boston_housing.npz`` Keras downloads; a bare file name is
            looked for in Keras' cache (``~/.keras/datasets``).  Nothing is
            downloaded.
        test_split: the fraction held out for test, in [0, 1).
        seed: the shuffle's seed.
    """
    test_split = validation.real(test_split, "test_split", low=0, high=1, high_open=True)
    seed = validation.integer(seed, "seed", low=0, high=2**32 - 1)
    given = None if "/" not in str(path) and not str(path).startswith("~") else path
    found = _keras_files.find(given, str(path), "the Boston housing data (boston_housing.npz)",
                              _keras_files.download_url("boston_housing.npz"))
    a = _keras_files.read_npz(found, {"x": (lambda s: len(s) == 2 and s[1] == 13, "f"),
                                      "y": (lambda s: len(s) == 1, "f")})
    x, y = a["x"], a["y"]
    if len(x) != len(y):
        raise ValueError(f"{found}: {len(x)} houses but {len(y)} prices")
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)  # Keras' order, draw for draw
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
