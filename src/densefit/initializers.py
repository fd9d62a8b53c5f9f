"""Weight initialisers with Keras' names and formulas (fans from a kernel's (in, out) shape).

Each is a function of ``(shape, rng)`` under its Keras string name and a class
under its Keras class name (``GlorotUniform(seed=None)``, ``RandomNormal(mean=0.0,
stddev=0.05, seed=None)``, ...) with ``get_config``/``from_config``.  A ``seed``
gives the same draw every call, from NumPy's generator: not the numbers Keras
draws for that seed.

>>> GlorotUniform(seed=1)((2, 3)).shape
(2, 3)
"""
import numpy as np

from . import missing, validation
from .serializable import ConfigObject
from .utils import unknown_name_error

# stddev of a standard normal truncated to [-2, 2]: Keras divides by it so the
# truncated draw keeps the intended variance
_TRUNCATED_STD = 0.87962566103423978


def _truncated_normal(rng, stddev, shape):
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():  # redraw the tails, as a truncated normal does
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return out * stddev


# None as a layer's initializer: Keras' Layer.add_weight draws a float weight with
# glorot_uniform (a bias of shape (n,) too: fans (n, n)); the config keeps None
FOR_NONE = "glorot_uniform"


def _fans(shape):
    return (shape[0], shape[1]) if len(shape) == 2 else (shape[0], shape[0])


def glorot_uniform(shape, rng):
    limit = np.sqrt(6 / sum(_fans(shape)))
    return rng.uniform(-limit, limit, shape)


def glorot_normal(shape, rng):
    return _truncated_normal(rng, np.sqrt(2 / sum(_fans(shape))) / _TRUNCATED_STD, shape)


def he_uniform(shape, rng):
    return rng.uniform(-1, 1, shape) * np.sqrt(6 / _fans(shape)[0])


def he_normal(shape, rng):
    return _truncated_normal(rng, np.sqrt(2 / _fans(shape)[0]) / _TRUNCATED_STD, shape)


def lecun_uniform(shape, rng):
    return rng.uniform(-1, 1, shape) * np.sqrt(3 / _fans(shape)[0])


def lecun_normal(shape, rng):
    return _truncated_normal(rng, np.sqrt(1 / _fans(shape)[0]) / _TRUNCATED_STD, shape)


def random_normal(shape, rng):
    return rng.normal(0.0, 0.05, shape)


def random_uniform(shape, rng):
    return rng.uniform(-0.05, 0.05, shape)


def _truncated(rng, mean, stddev, shape):
    """Keras' TruncatedNormal: within two stddevs of the mean, not rescaled."""
    return mean + _truncated_normal(rng, stddev, shape)


def zeros(shape, rng):
    return np.zeros(shape)


def ones(shape, rng):
    return np.ones(shape)


_INITIALIZERS = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal,
                                         lecun_uniform, lecun_normal, random_normal,
                                         random_uniform, zeros, ones)}


class Initializer(ConfigObject):
    """A seeded or unseeded draw: ``init(shape, dtype=None)`` as Keras' (float32 by
    default); a Dense draws through ``sample(shape, rng)``, from its model's
    generator unless the initialiser has a seed."""

    def __init__(self, seed=None):
        self.seed = None if seed is None else validation.integer(seed, "seed", low=0)

    def draw(self, shape, rng):
        raise NotImplementedError

    def sample(self, shape, rng):
        return self.draw(tuple(shape), rng if self.seed is None else np.random.default_rng(self.seed))

    def __call__(self, shape, dtype=None):
        return self.sample(shape, np.random.default_rng(self.seed)).astype(
            validation.float_dtype(dtype or "float32"))

    def get_config(self):
        return {"seed": self.seed}



def _named(function):
    """An Initializer class drawing with ``function(shape, rng)``."""
    return type("".join(p.title() for p in function.__name__.split("_")), (Initializer,),
                {"draw": lambda self, shape, rng: function(shape, rng),
                 "__doc__": f"Keras' ``{function.__name__}``, as a class (``seed=None``)."})


GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal = (
    _named(f) for f in (glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform,
                        lecun_normal))


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = validation.real(mean, "mean"), validation.real(stddev, "stddev", low=0)

    def draw(self, shape, rng):
        return rng.normal(self.mean, self.stddev, shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Normal within two ``stddev`` of ``mean`` (redrawn outside), as Keras'."""

    def draw(self, shape, rng):
        return _truncated(rng, self.mean, self.stddev, shape)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = validation.real(minval, "minval"), validation.real(maxval, "maxval")

    def draw(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class Constant(Initializer):
    """``value`` everywhere: a number, or (as Keras, which multiplies it by ones)
    an array broadcast to the weight's shape, such as the imbalanced-data
    tutorial's ``Constant(np.log([pos / neg]))`` for a one-unit bias."""

    def __init__(self, value=0.0):
        super().__init__()
        self.value = _constant_value(value)

    def draw(self, shape, rng):
        try:
            return np.broadcast_to(self.value, shape).astype(np.float64)
        except ValueError:
            raise ValueError(f"Constant's value has shape {np.shape(self.value)}, which does "
                             f"not broadcast to the weight's shape {shape}: give a number or "
                             f"an array of the weight's shape") from None

    def get_config(self):
        return {"value": self.value.tolist() if isinstance(self.value, np.ndarray)
                else self.value}


def _constant_value(value):
    """Constant's value: a finite number, or an array of finite numbers."""
    if np.ndim(value) == 0:
        return validation.real(value, "value")
    array = np.array(value, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"value must hold finite numbers, got {value!r}")
    return array


class Zeros(Constant):
    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class Ones(Constant):
    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-d shapes only), as Keras'."""

    def __init__(self, gain=1.0):
        super().__init__()
        self.gain = validation.real(gain, "gain")

    def draw(self, shape, rng):
        if len(shape) != 2:
            raise ValueError(f"Identity needs a 2-d shape, got {shape}")
        return self.gain * np.eye(*shape)

    def get_config(self):
        return {"gain": self.gain}


_CLASSES = {c.__name__: c for c in (GlorotUniform, GlorotNormal, HeUniform, HeNormal,
                                    LecunUniform, LecunNormal, RandomNormal, RandomUniform,
                                    TruncatedNormal, Constant, Zeros, Ones, Identity)}


def sample(initializer, shape, rng):
    """Draw ``shape`` with what ``get`` returned (a function or an Initializer)."""
    if isinstance(initializer, Initializer):
        return initializer.sample(shape, rng)
    return initializer(shape, rng)


def serialize(initializer):
    """A function's name, or ``{"class_name", "config"}`` for an Initializer."""
    if isinstance(initializer, Initializer):
        return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
    return initializer.__name__


def get(identifier):
    """The initialiser for a Keras name such as ``"glorot_uniform"`` (its function),
    an Initializer, or a ``serialize`` dict."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        return _CLASSES[identifier["class_name"]].from_config(identifier.get("config", {}))
    if callable(identifier) and _INITIALIZERS.get(getattr(identifier, "__name__", None)) is identifier:
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(f"initializer must be a name such as 'glorot_uniform', got "
                        f"{identifier!r}")
    if identifier not in _INITIALIZERS:
        raise unknown_name_error("initializer", identifier, _INITIALIZERS)
    return _INITIALIZERS[identifier]


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
