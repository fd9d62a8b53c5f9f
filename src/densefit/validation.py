"""Checks of user-given arguments, declared once with one message format.

Each check returns the value converted to a plain Python type, or raises an
error that names the argument, says what it must be and shows what it got, as
scikit-learn's ``_validate_params`` and numpy.random's ``check_constraint`` do::

    batch_size = validation.integer(batch_size, "batch_size")         # >= 1
    epochs = validation.integer(epochs, "epochs", low=0)
    beta_1 = validation.real(beta_1, "beta_1", low=0, high=1, high_open=True)

The compiled core keeps only the checks that protect memory (shapes, dtypes,
aliasing, label range); the messages a user reads are written here.
"""
import math
import numbers
import os

import numpy as np


def _is_integer(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def integer(value, name, low=1, high=None):
    """``value`` as an int in ``[low, high]`` (``high=None``: no upper bound); a bool,
    a float or anything else is a ValueError, since ``Dense(1.5)`` or
    ``epochs=True`` is always a mistake."""
    if _is_integer(value) and value >= low and (high is None or value <= high):
        return int(value)
    if high is not None:
        what = f"{'a positive integer' if low == 1 else 'an integer'} in [{low}, {high}]"
    elif low == 1:
        what = "a positive integer"
    else:
        what = f"an integer >= {low}"
    raise ValueError(f"{name} must be {what}, got {value!r}")


def shape(value, name, high, rank=None):
    """``value`` (an int, or a tuple or list of them) as a tuple of positive ints
    whose product is at most ``high``; ``rank``: the one length allowed (None: any
    length >= 1).  Per-sample shapes: ``Input(shape=(28, 28))``."""
    if _is_integer(value):
        value = (value,)
    value = tuple(value) if isinstance(value, (tuple, list)) else value
    if not isinstance(value, tuple) or not value or (rank is not None and len(value) != rank):
        what = "a 1-tuple such as (784,)" if rank == 1 else "a tuple such as (784,) or (28, 28)"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    dims = tuple(integer(d, f"{name}[{i}]", high=high) for i, d in enumerate(value))
    if math.prod(dims) > high:
        raise ValueError(f"{name} {dims} has {math.prod(dims)} features per sample, more than "
                         f"densefit's limit of {high}")
    return dims


def real(value, name, low=None, high=None, low_open=False, high_open=False):
    """``value`` as a finite float within the bounds given (``low_open``: the bound
    itself excluded).  NaN, inf and bools are refused."""
    if _is_real(value) and np.isfinite(value) and _within(value, low, high, low_open, high_open):
        return float(value)
    raise ValueError(f"{name} must be {_describe(low, high, low_open, high_open)}, "
                     f"got {value!r}")


def _within(value, low, high, low_open, high_open):
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value < high if high_open else value <= high)
    return above and below


def _describe(low, high, low_open, high_open):
    if low is not None and high is not None:
        return f"a number in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"a finite number {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"a finite number {'<' if high_open else '<='} {high}"
    return "a finite number"


def boolean(value, name):
    """``value`` as a bool: only True, False (or NumPy's bools) are accepted."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def one_of(value, name, choices):
    """``value`` itself when it is one of ``choices``."""
    if isinstance(value, (str, int)) and not isinstance(value, bool) and value in choices:
        return value
    raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, "
                     f"got {value!r}")


def string(value, name, allow_none=True):
    """``value`` when it is a str (or None, when allowed)."""
    if isinstance(value, str) or (allow_none and value is None):
        return value
    raise ValueError(f"{name} must be a string, got {value!r}")


def shown(value):
    """A user's number as a message prints it: exactly (the shortest text that reads
    back as the same value, never rounded as ``:g`` would), whole floats without
    ``.0`` (``3``, ``1234567``, ``2.5``, ``1e+39``)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer() \
            and abs(value) < 2**53:
        return str(int(value))
    return str(value)  # a NumPy float prints the shortest text for its own precision


FLOAT_DTYPES = ("float32", "float64")  # the dtypes a model computes in


def native(dtype):
    """``dtype`` in this machine's byte order: ``>f8`` (big-endian, as ``np.load`` of
    a big-endian ``.npy``, HDF5 or FITS gives) is float64.  Arrays of another
    byte order are taken as the values they hold: compare and convert with this."""
    return np.dtype(dtype).newbyteorder("=")


def float_dtype(dtype, name="dtype"):
    """``dtype`` (a name, NumPy type or dtype) as a NumPy dtype of ``FLOAT_DTYPES``,
    or None for None (the model's default)."""
    if dtype is None:
        return None
    try:
        dtype_name = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    except TypeError:
        dtype_name = dtype
    return np.dtype(one_of(dtype_name, name, FLOAT_DTYPES))


def filepath(value, name="filepath"):
    """``value`` (a str, bytes or os.PathLike path) as a str; an int (a file
    descriptor), an open file or an empty path is refused."""
    if not isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a path (a str or os.PathLike such as "
                        f"pathlib.Path), got {value!r}")
    path = os.fsdecode(os.fspath(value))
    if not path or "\0" in path:
        raise ValueError(f"{name} must be a path to a file, got {value!r}")
    return path


def sample_weights(value, n, name="sample_weight"):
    """``value`` (one weight per sample: shape (n,) or (n, 1)) as a float64 array of
    finite numbers >= 0.  Converted by the caller's data adapter first."""
    weights = np.asarray(value)
    if weights.ndim == 2 and weights.shape[1] == 1:
        weights = weights[:, 0]
    if weights.ndim != 1 or len(weights) != n:
        raise ValueError(f"{name} must hold one weight per sample, shape ({n},), got shape "
                         f"{weights.shape}")
    if weights.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {weights.dtype}")
    weights = weights.astype(np.float64)
    bad = np.flatnonzero(~(np.isfinite(weights) & (weights >= 0)))
    if len(bad):
        raise ValueError(f"{name} must hold finite numbers >= 0, got {shown(weights[bad[0]])} "
                         f"at sample {bad[0]}")
    return weights


def class_weights(value, name="class_weight"):
    """``value`` as a dict of int class -> float weight (finite, >= 0)."""
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict mapping class indices to weights, e.g. "
                        f"{{0: 1.0, 1: 5.0}}, got {type(value).__name__}")
    checked = {}
    for key, weight in value.items():
        if not _is_integer(key):
            raise ValueError(f"{name}'s keys must be integer class indices, got {key!r}")
        checked[int(key)] = real(weight, f"{name}[{key}]", low=0)
    return checked


def epochs_due(value, name):
    """``value`` (Keras' ``validation_freq``: an int n, every n-th epoch; or a list
    of epochs, counted from 1) as a test of a 1-based epoch number."""
    if _is_integer(value) and value >= 1:
        return lambda epoch: epoch % int(value) == 0
    if isinstance(value, (list, tuple)) and all(_is_integer(e) and e >= 1 for e in value):
        chosen = {int(e) for e in value}
        return chosen.__contains__
    raise ValueError(f"{name} must be an integer >= 1 or a list of epochs (counted from 1), "
                     f"got {value!r}")


def unsupported(value, name, caller, why):
    """A ValueError unless ``value`` is None: ``name`` is a Keras argument
    ``caller`` accepts only at its default."""
    if value is not None:
        raise ValueError(f"{caller}: {name} is not supported ({why}); leave it as None, got "
                         f"{value!r}")


def save_freq(value, name="save_freq"):
    """``"epoch"`` or a number of batches (an int >= 1), as Keras' checkpoints take."""
    if value == "epoch" and isinstance(value, str):
        return value
    if _is_integer(value) and value >= 1:
        return int(value)
    raise ValueError(f"{name} must be 'epoch' or a number of batches (an int >= 1), "
                     f"got {value!r}")


def suffix(path, suffixes, name, why):
    """``path`` (a str) when it ends in one of ``suffixes``; ``why`` says what they mark."""
    if path.endswith(suffixes):
        return path
    raise ValueError(f"{name} must end in {' or '.join(repr(s) for s in suffixes)} ({why}), "
                     f"got {path!r}")
def output_file(value, name="path", example="plot.png"):
    """``value`` (a path, as ``filepath`` takes) as a str naming a file that can be
    created: its directory exists and it is not itself a directory (``example``:
    a file name the message suggests)."""
    path = filepath(value, name)
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise IsADirectoryError(f"{name} {path!r} names a directory; give a file path such as "
                                f"{os.path.join(path, example)!r}")
    directory = os.path.dirname(os.path.realpath(path))
    if not os.path.isdir(directory):
        cause = "is not a directory" if os.path.exists(directory) else "does not exist"
        raise FileNotFoundError(f"{name} {path!r}: the directory {directory} {cause}; create "
                                f"it first (os.makedirs)")
    return path


def layer_range(value):
    """``summary``'s ``layer_range``: two strings (regexes), Keras' messages."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        length = len(value) if hasattr(value, "__len__") else "?"
        raise ValueError(f"layer_range must be a list or tuple of length 2. Received: "
                         f"layer_range = {value} of length {length}")
    if not all(isinstance(v, str) for v in value):
        raise ValueError(f"layer_range should contain string type only. Received: {value}")
    return value
