"""Layers: ``Dense``, ``Input`` and the activation layers that fold into a Dense.

A Dense layer's ``kernel`` (shape ``(in, units)``, Keras') and ``bias`` are
views into its model's single parameter buffer once the model is built, so
the compiled core updates them in place.
"""
import numpy as np

from . import activations, initializers

_DTYPES = {"float32": np.float32, "float64": np.float64}


def _dtype(dtype):
    if dtype is None:
        return None
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in _DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(_DTYPES[name])


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _input_shape(shape, name="shape"):
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else shape
    if not isinstance(shape, tuple) or len(shape) != 1:
        raise ValueError(f"{name} must be a 1-tuple such as (784,): densefit's Dense layers take "
                         f"2-d input (samples, features); got {shape!r}")
    return (_positive_int(shape[0], f"{name}[0]"),)


class Input:
    """The input of a Sequential model: ``Input(shape=(784,))`` builds it at once."""

    def __init__(self, shape, dtype=None, name=None):
        self.shape = _input_shape(shape)
        self.dtype = _dtype(dtype)
        self.name = name or "input"

    def __repr__(self):
        return f"Input(shape={self.shape})"


class Layer:
    """What every layer has: a name and a dtype (None: the model's, float32 by default)."""

    _count = {}

    def __init__(self, name=None, dtype=None):
        base = type(self).__name__.lower()
        if name is not None and not isinstance(name, str):
            raise ValueError(f"name must be a string, got {name!r}")
        if name is None:
            n = Layer._count.get(base, 0)
            Layer._count[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
        self.name = name
        self.dtype = _dtype(dtype)


class Dense(Layer):
    """``activation(x @ kernel + bias)``, as Keras' Dense.

    >>> layer = Dense(25, activation="relu")
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", input_shape=None, name=None, dtype=None):
        super().__init__(name, dtype)
        self.units = _positive_int(units, "units")
        self._activation = activations.get(activation)
        if use_bias is not True:
            raise ValueError("use_bias=False is not supported: densefit's Dense always has a bias "
                             "(initialise it with zeros and it starts as Keras' would)")
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self._initializers = (initializers.get(kernel_initializer),
                              initializers.get(bias_initializer))
        self.input_shape = None if input_shape is None else _input_shape(input_shape, "input_shape")
        self.kernel = None
        self.bias = None

    @property
    def activation(self):
        """The activation, callable on arrays (``layer.activation(z)``)."""
        return self._activation

    def initial_weights(self, n_in, rng):
        """Fresh (kernel, bias) from this layer's initialisers."""
        kernel_init, bias_init = self._initializers
        return kernel_init((n_in, self.units), rng), bias_init((self.units,), rng)

    @property
    def built(self):
        return self.kernel is not None

    def get_weights(self):
        if not self.built:
            return []
        return [self.kernel.copy(), self.bias.copy()]

    def get_config(self):
        return {"name": self.name, "units": self.units,
                "activation": activations.serialize(self._activation),
                "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer}

    @classmethod
    def from_config(cls, config):
        layer = cls(config["units"], activations.deserialize(config["activation"]),
                    kernel_initializer=config["kernel_initializer"],
                    bias_initializer=config["bias_initializer"], name=config["name"])
        return layer

    def __repr__(self):
        return f"Dense({self.units}, activation={self._activation.name!r}, name={self.name!r})"


class Activation(Layer):
    """An activation as its own layer.  It must follow a Dense layer without an
    activation of its own, and the model folds it into that layer."""

    def __init__(self, activation, name=None):
        super().__init__(name)
        self._activation = activations.get(activation)

    def as_activation(self):
        return self._activation


class LeakyReLU(Layer):
    """``max(x, negative_slope * x)``; Keras' layer default slope is 0.3."""

    def __init__(self, negative_slope=0.3, name=None, **kwargs):
        super().__init__(name)
        if "alpha" in kwargs:  # Keras 2's name for it, common in course notes
            negative_slope = kwargs.pop("alpha")
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
        if isinstance(negative_slope, bool) or not (
                isinstance(negative_slope, (int, float, np.floating, np.integer))
                and 0 <= negative_slope < np.inf):
            raise ValueError(f"negative_slope must be a finite number >= 0, got "
                             f"{negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def as_activation(self):
        return activations.Activation("leaky_relu", self.negative_slope)

    def get_config(self):
        return {"name": self.name, "negative_slope": self.negative_slope}


class ReLU(Layer):
    """``max(x, 0)`` as a layer."""

    def as_activation(self):
        return activations.Activation("relu")


class Softmax(Layer):
    """Softmax over the last axis as a layer."""

    def as_activation(self):
        return activations.Activation("softmax")
