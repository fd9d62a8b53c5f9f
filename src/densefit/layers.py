"""Layers: ``Dense``, ``Input``, ``Flatten`` and the activation layers that fold into a Dense.

A Dense layer's ``kernel`` (shape ``(in, units)``, Keras') and ``bias`` are
views into its model's single parameter buffer once the model is built, so
the compiled core updates them in place.

Every layer has Keras' ``get_config()`` and ``from_config(config)``;
``serialize(layer)`` / ``deserialize(config)`` add and read the class name.
"""
import numpy as np

from . import _core, activations, backend, initializers, validation

_dtype = validation.float_dtype


def _dtype_name(dtype):
    return None if dtype is None else dtype.name


def _input_shape(shape, name="shape", rank=None):
    return validation.shape(shape, name, high=_core.MAX_ROWS, rank=rank)


class Input:
    """The input of a Sequential model: ``Input(shape=(784,))`` builds it at once.

    Args:
        shape: one sample's shape: ``(features,)`` (or an int), or image-shaped
            such as ``(28, 28)`` or ``(28, 28, 1)``, which a ``Flatten()`` before
            the first Dense layer flattens (as in Keras, whose Dense would act on
            the last axis alone).
        dtype: ``"float32"`` or ``"float64"``; None: the layers' (float32 by default).
        name: the layer's name (default ``"input"``).
    """

    def __init__(self, shape, dtype=None, name=None):
        self.shape = _input_shape(shape)
        self.dtype = _dtype(dtype)
        self.name = validation.string(name, "name") or "input"

    def get_config(self):
        return {"shape": list(self.shape), "dtype": _dtype_name(self.dtype), "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"Input(shape={self.shape})"


class Layer:
    """What every layer has: a name and a dtype (None: the model's, float32 by default).

    The arguments a layer was made with are fixed afterwards (``_FIXED``): its
    model's weights and saved config depend on them, so ``layer.units = 5`` is
    an AttributeError saying to make a new layer.  ``name`` may change while it
    stays unique in the layer's model.  A layer belongs to one model at most.

    Args:
        name: the layer's name (default: the class name in lower case, numbered
            from the second layer of a class on: ``dense``, ``dense_1``, ...).
        dtype: ``"float32"``, ``"float64"`` or None.
    """

    _FIXED = ("dtype",)

    def __init__(self, name=None, dtype=None):
        base = type(self).__name__.lower()
        name = validation.string(name, "name")
        if name is None:
            name = backend.unique_name(base)
        self._model = None  # weak reference to the model holding this layer (models.py)
        self.name = name
        self.dtype = _dtype(dtype)

    def __setattr__(self, attr, value):
        if attr in self._FIXED and attr in self.__dict__:
            raise AttributeError(_fixed_message(self, attr))
        if attr == "name":
            value = validation.string(value, "name", allow_none=False)
            model = self.model
            if model is not None:
                model._check_rename(self, value)
        object.__setattr__(self, attr, value)

    @property
    def model(self):
        """The model this layer is in, or None."""
        return None if self._model is None else self._model()

    def get_config(self):
        """The arguments that make this layer again with ``from_config``."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _fixed_message(layer, attr):
    kind = type(layer).__name__
    if attr in ("kernel", "bias"):
        return (f"{kind}.{attr} cannot be assigned: it is a view into its model's parameter "
                f"buffer; write into it in place (layer.{attr}[...] = values) or use "
                f"model.set_weights(...)")
    return (f"{kind}.{attr} cannot be changed once the layer is made (its model's weights and "
            f"saved config depend on it); make a new layer instead, e.g. "
            f"{kind}.from_config(dict(layer.get_config(), {attr}=...)) before building the model")


class Dense(Layer):
    """``activation(x @ kernel + bias)``, as Keras' Dense.

    Args:
        units: the number of outputs, a positive integer.
        activation: a name such as ``"relu"``, a ``densefit.activations`` function,
            an activation layer, or None (linear).
        use_bias: must be True: densefit's Dense always has a bias.
        kernel_initializer: the kernel's initialiser, a name such as ``"glorot_uniform"``
            or a ``densefit.initializers`` class instance such as ``HeNormal(seed=0)``.
        bias_initializer: the bias' initialiser (``"zeros"``).
        input_shape: ``(features,)`` on a model's first layer builds the model at once.
        name, dtype: as ``Layer``.

    >>> layer = Dense(25, activation="relu")
    """

    _FIXED = ("dtype", "units", "activation", "use_bias", "kernel_initializer",
              "bias_initializer", "input_shape", "kernel", "bias")

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", input_shape=None, name=None, dtype=None):
        super().__init__(name, dtype)
        # at most the core's limit, checked here rather than after a build allocated
        self.units = validation.integer(units, "units", high=_core.MAX_ROWS)
        self.activation = activations.get(activation)  # callable on arrays: layer.activation(z)
        if use_bias is not True:
            raise ValueError("use_bias=False is not supported: densefit's Dense always has a bias "
                             "(initialise it with zeros and it starts as Keras' would)")
        self.use_bias = True
        self._initializers = (initializers.get(kernel_initializer),
                              initializers.get(bias_initializer))
        self.kernel_initializer, self.bias_initializer = (initializers.serialize(f)
                                                          for f in self._initializers)
        self.input_shape = None if input_shape is None else _input_shape(input_shape, "input_shape",
                                                                    rank=1)
        self.kernel = None  # views into the model's buffer once built (_attach)
        self.bias = None

    def _attach(self, kernel, bias):
        """Make ``kernel`` and ``bias`` (views into the model's buffer) this layer's."""
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "bias", bias)

    def initial_weights(self, n_in, rng):
        """Fresh (kernel, bias) from this layer's initialisers."""
        kernel_init, bias_init = self._initializers
        return (initializers.sample(kernel_init, (n_in, self.units), rng),
                initializers.sample(bias_init, (self.units,), rng))

    @property
    def built(self):
        return self.kernel is not None

    def get_weights(self):
        if not self.built:
            return []
        return [self.kernel.copy(), self.bias.copy()]

    def get_config(self):
        return dict(super().get_config(), units=self.units,
                    activation=activations.serialize(self.activation),
                    kernel_initializer=self.kernel_initializer,
                    bias_initializer=self.bias_initializer,
                    input_shape=None if self.input_shape is None else list(self.input_shape),
                    dtype=_dtype_name(self.dtype))

    @classmethod
    def from_config(cls, config):
        return cls(**dict(config, activation=activations.deserialize(config["activation"])))

    def __repr__(self):
        return f"Dense({self.units}, activation={self.activation.name!r}, name={self.name!r})"


class Activation(Layer):
    """An activation as its own layer.  It must follow a Dense layer without an
    activation of its own, and the model folds it into that layer.

    Args:
        activation: as ``Dense``'s.
        name: as ``Layer``'s.
    """

    _FIXED = ("dtype", "activation")

    def __init__(self, activation, name=None):
        super().__init__(name)
        self.activation = activations.get(activation)

    def as_activation(self):
        return self.activation

    def get_config(self):
        return dict(super().get_config(), activation=activations.serialize(self.activation))

    @classmethod
    def from_config(cls, config):
        return cls(**dict(config, activation=activations.deserialize(config["activation"])))


class LeakyReLU(Layer):
    """``max(x, negative_slope * x)``.

    Args:
        negative_slope: a finite number >= 0; Keras' layer default is 0.3 (the
            ``"leaky_relu"`` function's is 0.2).  ``alpha``, Keras 2's name for
            it, is accepted too.
        name: as ``Layer``'s.
    """

    _FIXED = ("dtype", "negative_slope")

    def __init__(self, negative_slope=0.3, name=None, **kwargs):
        super().__init__(name)
        if "alpha" in kwargs:  # Keras 2's name for it, common in course notes
            negative_slope = kwargs.pop("alpha")
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(kwargs)}")
        self.negative_slope = activations.check_negative_slope(negative_slope)

    def as_activation(self):
        return activations.Activation("leaky_relu", self.negative_slope)

    def get_config(self):
        return dict(super().get_config(), negative_slope=self.negative_slope)


class ELU(Layer):
    """``x`` if ``x > 0``, else ``alpha * (exp(x) - 1)``.

    Args:
        alpha: a finite number >= 0 (Keras' default 1.0; densefit reads elu's
            derivative from the output's sign, which a negative alpha would flip).
        name: as ``Layer``'s.
    """

    _FIXED = ("dtype", "alpha")

    def __init__(self, alpha=activations.ELU_ALPHA, name=None):
        super().__init__(name)
        self.alpha = activations.check_negative_slope(alpha, "alpha")

    def as_activation(self):
        return activations.Activation("elu", self.alpha)

    def get_config(self):
        return dict(super().get_config(), alpha=self.alpha)


class ReLU(Layer):
    """``max(x, 0)`` as a layer.

    Args:
        name: as ``Layer``'s.
    """

    def as_activation(self):
        return activations.Activation("relu")


class Softmax(Layer):
    """Softmax over the last axis as a layer.

    Args:
        name: as ``Layer``'s.
    """

    def as_activation(self):
        return activations.Activation("softmax")


class Flatten(Layer):
    """Each sample flattened to one row of ``prod(shape)`` features, as Keras'.

    Before the first Dense layer it flattens image-shaped input (``Input(shape=(28,
    28))`` or its own ``input_shape``) without a copy when the data is
    C-contiguous; after a Dense layer (2-d data) it is the identity.

    Args:
        data_format: ``"channels_last"`` (or None, Keras' default, the same);
            ``"channels_first"`` is not supported.
        input_shape: one sample's shape, e.g. ``(28, 28)``, on a model's first layer:
            builds the model at once, as ``Input(shape=...)``.
        name: as ``Layer``'s.

    >>> layer = Flatten(input_shape=(28, 28))
    """

    _FIXED = ("dtype", "data_format", "input_shape")

    def __init__(self, data_format=None, input_shape=None, name=None):
        super().__init__(name)
        self.data_format = validation.one_of("channels_last" if data_format is None
                                             else data_format, "data_format",
                                             ("channels_last",))
        self.input_shape = None if input_shape is None else _input_shape(input_shape,
                                                                         "input_shape")

    def get_config(self):
        return dict(super().get_config(), data_format=self.data_format,
                    input_shape=None if self.input_shape is None else list(self.input_shape))

    def __repr__(self):
        return f"Flatten(name={self.name!r})"


_CLASSES = {c.__name__: c for c in (Input, Dense, Activation, LeakyReLU, ELU, ReLU, Softmax,
                                    Flatten)}


def serialize(layer):
    """``{"class_name": ..., "config": ...}`` for any layer of this module."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config):
    """The layer ``serialize`` described.  A bare Dense config (no ``class_name``),
    as densefit 1.0 saved its layers, is a Dense."""
    if "class_name" not in config:
        return Dense.from_config(config)
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"unknown layer in config: {config!r}")
    return cls.from_config(config["config"])
