"""Activation functions, computed by the compiled core.

Each function takes an array (any shape; softmax works along ``axis``) and
returns a new float array: float64 input (in either byte order) stays float64,
other floats are computed in float32, and anything else (ints, lists) in
``backend.floatx()`` (float32 unless ``set_floatx`` changed it), as Keras does.

>>> from densefit import activations
>>> activations.softmax([[1.0, 1.0]]).tolist()
[[0.5, 0.5]]
"""
import numpy as np

from . import _core, backend, validation
from .utils import unknown_name_error

LEAKY_RELU_SLOPE = 0.2  # Keras' leaky_relu function default (the LeakyReLU layer's is 0.3)


def check_negative_slope(negative_slope):
    """``negative_slope`` as a float: a finite number >= 0 (leaky_relu and the
    LeakyReLU layer check it here)."""
    return validation.real(negative_slope, "negative_slope", low=0)


def _float_array(x):
    x = np.asarray(x)
    if x.dtype.kind == "c" or x.dtype.kind not in "biuf":
        raise TypeError(f"x must be a real numeric array, got dtype {x.dtype}")
    # np.asarray, not np.ascontiguousarray: that one turns a 0-d array into shape (1,)
    return np.asarray(x, dtype=backend.compute_dtype(x.dtype), order="C")


def _apply(name, x, slope=0.0):
    x = _float_array(x)
    if x.size == 0:
        return x.copy()
    rows = x.reshape(-1, x.shape[-1]) if x.ndim >= 1 else x.reshape(1, 1)
    return _core.activation_forward(rows, _core.ACTIVATIONS[name], slope).reshape(x.shape)


def linear(x):
    return _float_array(x).copy()


def relu(x):
    return _apply("relu", x)


def sigmoid(x):
    return _apply("sigmoid", x)


def tanh(x):
    return _apply("tanh", x)


def leaky_relu(x, negative_slope=LEAKY_RELU_SLOPE):
    return _apply("leaky_relu", x, check_negative_slope(negative_slope))


def softmax(x, axis=-1):
    x = _float_array(x)
    if x.ndim == 0:
        raise ValueError("softmax needs at least one axis, got a scalar")
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    return np.moveaxis(_apply("softmax", moved), -1, axis)


_FUNCTIONS = {name: globals()[name] for name in _core.ACTIVATIONS}  # one function per name


class Activation:
    """A resolved activation: its name and, for leaky_relu, its negative slope."""

    __slots__ = ("name", "slope")

    def __init__(self, name, slope=0.0):
        self.name = validation.one_of(name, "activation", tuple(_core.ACTIVATIONS))
        self.slope = check_negative_slope(slope)

    @property
    def code(self):
        return _core.ACTIVATIONS[self.name]

    def __call__(self, x):
        return leaky_relu(x, self.slope) if self.name == "leaky_relu" else _FUNCTIONS[self.name](x)

    def __eq__(self, other):
        return isinstance(other, Activation) and (self.name, self.slope) == (other.name, other.slope)

    def __repr__(self):
        return f"Activation({self.name!r}" + (f", slope={self.slope})" if self.name == "leaky_relu" else ")")


def get(identifier):
    """An ``Activation`` from a name (``"relu"``), one of this module's functions,
    a ``LeakyReLU`` layer, an ``Activation``, or None (linear)."""
    if identifier is None:
        return Activation("linear")
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _FUNCTIONS:
            raise unknown_name_error("activation", identifier, _FUNCTIONS)
        return Activation(identifier, LEAKY_RELU_SLOPE if identifier == "leaky_relu" else 0.0)
    if callable(identifier) and _FUNCTIONS.get(getattr(identifier, "__name__", None)) is identifier:
        return get(identifier.__name__)
    as_activation = getattr(identifier, "as_activation", None)  # layers.LeakyReLU, layers.Activation
    if as_activation is not None:
        return as_activation()
    raise TypeError(f"activation must be a name such as 'relu', a densefit.activations function "
                    f"or None, got {identifier!r}: densefit compiles its activations, so "
                    f"arbitrary Python callables are not supported")


def serialize(activation):
    return {"name": activation.name, "slope": activation.slope}


def deserialize(config):
    return Activation(config["name"], config.get("slope", 0.0))
