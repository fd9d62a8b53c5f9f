"""Keras' backend functions that dense-network programs call: the default float
type (``floatx``/``set_floatx``), and the unique names of layers and models
(``get_uid``), which ``clear_session`` starts again.

>>> from densefit import backend
>>> backend.floatx()
'float32'
"""
import re

import numpy as np

from . import missing, validation

_state = {"floatx": "float32"}  # Keras' default
_uids = {}  # name prefix -> how many names it has given


def floatx():
    """The float type models compute in when no layer or ``Input`` names one:
    ``"float32"`` (Keras' default) or ``"float64"``."""
    return _state["floatx"]


def set_floatx(value):
    """Make ``value`` (the string ``"float32"`` or ``"float64"``) the default float type of the
    models built from now on, as ``keras.backend.set_floatx`` does.  A model's
    dtype is fixed when it is built; a layer or ``Input`` given a dtype keeps it."""
    _state["floatx"] = validation.one_of(value, "value", validation.FLOAT_DTYPES)


def compute_dtype(dtype):
    """The float type a standalone function (an activation, a loss) computes
    an array of ``dtype`` in: float64 stays float64 (whatever its byte order),
    other floats float32, and anything else (ints, bools, lists) ``floatx()``,
    as Keras converts them."""
    if validation.native(dtype) == np.float64:
        return np.dtype(np.float64)
    return np.dtype(np.float32) if np.dtype(dtype).kind == "f" else np.dtype(floatx())


def get_uid(prefix):
    """1, 2, 3, ... for successive calls with one ``prefix`` (Keras' ``get_uid``):
    the first layer named after ``prefix`` is ``prefix``, the next ``prefix_1``."""
    _uids[prefix] = _uids.get(prefix, 0) + 1
    return _uids[prefix]


def unique_name(prefix):
    """``prefix``, then ``prefix_1``, ``prefix_2``, ... (Keras' automatic names)."""
    uid = get_uid(prefix)
    return prefix if uid == 1 else f"{prefix}_{uid - 1}"


def snake_case(name):
    """Keras' automatic layer name for a class name: ``BatchNormalization`` ->
    ``batch_normalization``, ``PReLU`` -> ``p_re_lu``, ``Dense`` -> ``dense``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def clear_session():
    """Start automatic names again (``dense``, ``sequential``, ...), as
    ``keras.backend.clear_session`` does.  densefit keeps no graph or session:
    models already made are untouched."""
    _uids.clear()


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
