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

from . import _core, backend, missing, validation
from .utils import unknown_name_error

LEAKY_RELU_SLOPE = 0.2  # Keras' leaky_relu function default (the LeakyReLU layer's is 0.3)
ELU_ALPHA = 1.0  # Keras' elu function and ELU layer default
# The activations with a parameter (the core's "slope"), and its default for the name
PARAMETER_DEFAULTS = {"leaky_relu": LEAKY_RELU_SLOPE, "elu": ELU_ALPHA}


def check_negative_slope(negative_slope, name="negative_slope"):
    """``negative_slope`` (or elu's ``alpha``) as a float: a finite number >= 0,
    since the core reads the derivative from the output's sign (leaky_relu, elu
    and their layers check it here)."""
    return validation.real(negative_slope, name, low=0)


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


def elu(x, alpha=ELU_ALPHA):
    """``x`` if ``x > 0``, else ``alpha * (exp(x) - 1)``; ``alpha >= 0``."""
    return _apply("elu", x, check_negative_slope(alpha, "alpha"))


def selu(x):
    """``scale * elu(x, alpha)`` with Keras' constants (scale 1.0507..., alpha 1.6732...)."""
    return _apply("selu", x)


def gelu(x, approximate=False):
    """``x * Phi(x)``, the exact erf form; ``approximate=True``: Keras' tanh form."""
    return _apply("gelu_approximate" if approximate else "gelu", x)


def gelu_approximate(x):
    """densefit's name for ``gelu(x, approximate=True)`` (Keras has no string for it)."""
    return gelu(x, approximate=True)


def silu(x):
    """``x * sigmoid(x)``; ``swish`` is the same function."""
    return _apply("silu", x)


def softplus(x):
    return _apply("softplus", x)


def softsign(x):
    """``x / (1 + |x|)``."""
    return _apply("softsign", x)


def hard_sigmoid(x):
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, ``x / 6 + 0.5`` between."""
    return _apply("hard_sigmoid", x)


def hard_silu(x):
    """``x * hard_sigmoid(x)``; ``hard_swish`` is the same function."""
    return _apply("hard_silu", x)


def relu6(x):
    return _apply("relu6", x)


def exponential(x):
    return _apply("exponential", x)


def mish(x):
    """``x * tanh(softplus(x))``."""
    return _apply("mish", x)


swish = silu  # Keras' aliases: the same functions
hard_swish = hard_silu


def softmax(x, axis=-1):
    x = _float_array(x)
    if x.ndim == 0:
        raise ValueError("softmax needs at least one axis, got a scalar")
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    return np.moveaxis(_apply("softmax", moved), -1, axis)


_FUNCTIONS = {name: globals()[name] for name in _core.ACTIVATIONS}  # one function per name
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
_DEFAULT = object()  # Activation(name): the name's default parameter


class Activation:
    """A resolved activation: its name and, for leaky_relu and elu, its parameter
    (the negative slope, alpha)."""

    __slots__ = ("name", "slope")

    def __init__(self, name, slope=_DEFAULT):
        self.name = validation.one_of(name, "activation", tuple(_core.ACTIVATIONS))
        self.slope = check_negative_slope(PARAMETER_DEFAULTS.get(self.name, 0.0)
                                          if slope is _DEFAULT else slope)

    @property
    def code(self):
        return _core.ACTIVATIONS[self.name]

    def __call__(self, x):
        if self.name in PARAMETER_DEFAULTS:
            return _FUNCTIONS[self.name](x, self.slope)
        return _FUNCTIONS[self.name](x)

    def __eq__(self, other):
        return isinstance(other, Activation) and (self.name, self.slope) == (other.name, other.slope)

    def __repr__(self):
        return f"Activation({self.name!r}" + (
            f", slope={self.slope})" if self.name in PARAMETER_DEFAULTS else ")")


def get(identifier):
    """An ``Activation`` from a name (``"relu"``), one of this module's functions,
    a ``LeakyReLU`` layer, an ``Activation``, or None (linear)."""
    if identifier is None:
        return Activation("linear")
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        name = _ALIASES.get(identifier, identifier)
        if name not in _FUNCTIONS:
            raise unknown_name_error("activation", identifier, list(_FUNCTIONS) + list(_ALIASES))
        return Activation(name)
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


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
