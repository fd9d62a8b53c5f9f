"""Weight initialisers with Keras' names and formulas (fans from a kernel's (in, out) shape)."""
import numpy as np

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


def zeros(shape, rng):
    return np.zeros(shape)


def ones(shape, rng):
    return np.ones(shape)


_INITIALIZERS = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal,
                                         lecun_uniform, lecun_normal, random_normal,
                                         random_uniform, zeros, ones)}


def get(identifier):
    """The initialiser function for a Keras name such as ``"glorot_uniform"``."""
    if callable(identifier) and _INITIALIZERS.get(getattr(identifier, "__name__", None)) is identifier:
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(f"initializer must be a name such as 'glorot_uniform', got "
                        f"{identifier!r}")
    if identifier not in _INITIALIZERS:
        raise unknown_name_error("initializer", identifier, _INITIALIZERS)
    return _INITIALIZERS[identifier]
