"""Layers: ``Dense``, ``Input``, ``Flatten`` and the activation layers that fold into a Dense.

A Dense layer's ``kernel`` (shape ``(in, units)``, Keras') and ``bias`` are
views into its model's single parameter buffer once the model is built, so
the compiled core updates them in place.

Every layer has Keras' ``get_config()`` and ``from_config(config)``;
``serialize(layer)`` / ``deserialize(config)`` add and read the class name.
"""
import numpy as np

from . import _core, activations, backend, initializers, missing, validation
from .utils import new_seed

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
    """What every layer has: a name, a dtype (None: the model's, float32 by
    default), ``trainable``, and its weights once its model is built.

    The arguments a layer was made with are fixed afterwards (``_FIXED``): its
    model's weights and saved config depend on them, so ``layer.units = 5`` is
    an AttributeError saying to make a new layer.  ``name`` may change while it
    stays unique in the layer's model.  A layer belongs to one model at most.

    A layer the compiled core runs names its kind (``core_kind``, a key of
    ``_core.LAYER_KINDS``) and its weights (``weight_names``, Keras' order);
    its weights are views into its model's buffers, so the core updates them in
    place.

    Args:
        name: the layer's name (default: the class name in lower case, numbered
            from the second layer of a class on: ``dense``, ``dense_1``, ...).
        dtype: ``"float32"``, ``"float64"`` or None.
        trainable: False freezes the layer, as in Keras: its weights are not
            trained (and a BatchNormalization layer runs in inference mode).
            Changing it on a built model rebuilds the model's buffers (the
            weights are kept; the optimizer's state starts anew, as after a
            recompile in Keras).
    """

    _FIXED = ("dtype",)
    _VIEWS = ()          # attributes that are views into the model's buffers
    core_kind = None     # what the compiled core runs; None: in no plan (Input, Flatten)
    weight_names = ()    # the weights it has once built, in Keras' order

    def __init__(self, name=None, dtype=None, trainable=True):
        base = type(self).__name__.lower()
        name = validation.string(name, "name")
        if name is None:
            name = backend.unique_name(base)
        self._model = None  # weak reference to the model holding this layer (models.py)
        self._weights = None  # views into the model's buffers once built (_attach)
        self._trained = None  # which of them training updates
        self.name = name
        self.dtype = _dtype(dtype)
        self._trainable = validation.boolean(trainable, "trainable")

    def __setattr__(self, attr, value):
        if attr in self._VIEWS or (attr in self._FIXED and attr in self.__dict__):
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

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = validation.boolean(value, "trainable")
        model = self.model
        if model is not None and value != self._trainable:
            model._retrain(self, value)  # rebuilds the buffers with the new layout
        else:
            self._trainable = value

    # ------------------------------------------------------------ weights

    @property
    def built(self):
        return self._weights is not None

    def _attach(self, views, trained):
        """Make ``views`` (into the model's buffers, ``weight_names`` order) this
        layer's; ``trained[i]``: whether weight i is trained (in the optimizer's buffer)."""
        object.__setattr__(self, "_weights", list(views))
        object.__setattr__(self, "_trained", list(trained))

    def initial_weights(self, n_in, rng):
        """Fresh weights (``weight_names`` order) for ``n_in`` input features."""
        return []

    def output_units(self, n_in):
        """The features this layer outputs for ``n_in`` input features."""
        return n_in

    def core_options(self):
        """What the core's ``Layers`` reads of this layer beyond kind and size."""
        return {"trainable": self.trainable}

    @property
    def weights(self):
        """Its weights (views into the model's buffers), Keras' order; [] until built."""
        return list(self._weights or [])

    @property
    def trainable_weights(self):
        """The weights training updates (none once frozen; never moving statistics)."""
        return [w for w, t in zip(self.weights, self._trained or []) if t]

    @property
    def non_trainable_weights(self):
        return [w for w, t in zip(self.weights, self._trained or []) if not t]

    def get_weights(self):
        """Copies of its weights, Keras' order."""
        model = self.model
        if model is not None:
            with model._step_lock.reading():
                return [w.copy() for w in self.weights]
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Copy ``weights`` (as from get_weights) in; all are checked before any is written."""
        model = self.model
        if model is None or not self.built:
            raise ValueError(f"layer {self.name!r} is not built yet: add it to a model and "
                             f"build the model before set_weights")
        model._set_weights_of(self.weights, weights, f"layer {self.name!r}")

    def count_params(self):
        return sum(w.size for w in self.weights)

    def get_config(self):
        """The arguments that make this layer again with ``from_config``."""
        config = {"name": self.name}
        if not self.trainable:
            config["trainable"] = False
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _fixed_message(layer, attr):
    kind = type(layer).__name__
    if attr in layer._VIEWS:
        return (f"{kind}.{attr} cannot be assigned: it is a view into its model's parameter "
                f"buffer; write into it in place (layer.{attr}[...] = values) or use "
                f"layer.set_weights(...)")
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
        name, dtype, trainable: as ``Layer``.

    >>> layer = Dense(25, activation="relu")
    """

    _FIXED = ("dtype", "units", "activation", "use_bias", "kernel_initializer",
              "bias_initializer", "input_shape")
    _VIEWS = ("kernel", "bias")
    core_kind = "dense"
    weight_names = ("kernel", "bias")

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", input_shape=None, name=None, dtype=None,
                 trainable=True):
        super().__init__(name, dtype, trainable)
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

    @property
    def kernel(self):
        """The kernel, ``(in, units)``: a view into the model's buffer (None until built)."""
        return self._weights[0] if self._weights else None

    @property
    def bias(self):
        return self._weights[1] if self._weights else None

    def initial_weights(self, n_in, rng):
        """Fresh [kernel, bias] from this layer's initialisers."""
        kernel_init, bias_init = self._initializers
        return [initializers.sample(kernel_init, (n_in, self.units), rng),
                initializers.sample(bias_init, (self.units,), rng)]

    def output_units(self, n_in):
        return self.units

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


class Dropout(Layer):
    """Inverted dropout, as Keras': in training (``fit``) each value is kept with
    probability ``1 - rate`` and scaled by ``1 / (1 - rate)``, the others set to 0;
    in ``predict`` and ``evaluate`` it is the identity.

    The masks come from a counter-based generator of ``seed`` and the training
    step, computed in the compiled loop: a run is bit-reproducible and the same
    however its epochs are split.  Keras' masks come from another generator, so
    runs agree with Keras' in distribution, not value by value.

    Args:
        rate: the fraction of values dropped, in [0, 1).
        noise_shape: must be None (one mask value per value, Keras' default).
        seed: an int in [0, 2**64), or None: drawn from the global seed
            (``densefit.utils.set_random_seed``) when the layer is made, as Keras does.
        name: as ``Layer``'s.
    """

    _FIXED = ("dtype", "rate", "noise_shape", "seed")
    core_kind = "dropout"

    def __init__(self, rate, noise_shape=None, seed=None, name=None, **kwargs):
        super().__init__(name, **kwargs)
        self.rate = validation.real(rate, "rate", low=0, high=1, high_open=True)
        if noise_shape is not None:
            raise ValueError("noise_shape is not supported: densefit draws one mask value per "
                             "value (noise_shape=None, Keras' default)")
        self.noise_shape = None
        self.seed = new_seed() if seed is None else validation.integer(seed, "seed", low=0,
                                                                     high=2**64 - 1)

    def core_options(self):
        return dict(super().core_options(), rate=self.rate, seed=self.seed)

    def get_config(self):
        return dict(super().get_config(), rate=self.rate, noise_shape=None, seed=self.seed)

    def __repr__(self):
        return f"Dropout({self.rate}, name={self.name!r})"


class _ActivationLayer(Layer):
    """An activation as a layer.  The model folds it into the layer before it
    when that one has no activation of its own (a Dense, BatchNormalization,
    ...): one pass over the data, as the core fuses them; elsewhere it runs as
    a layer of its own."""

    core_kind = "activation"


class Activation(_ActivationLayer):
    """An activation as its own layer (see ``_ActivationLayer``).

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


class LeakyReLU(_ActivationLayer):
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


class ELU(_ActivationLayer):
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


class ReLU(_ActivationLayer):
    """``max(x, 0)`` as a layer.

    Args:
        name: as ``Layer``'s.
    """

    def as_activation(self):
        return activations.Activation("relu")


class Softmax(_ActivationLayer):
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
                                    Flatten, Dropout)}


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


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
