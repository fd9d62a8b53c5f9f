"""Optimizers with Keras' names, defaults and update rules.

The update itself runs in the compiled core, fused over all of a model's
parameters; an optimizer object holds the hyper-parameters, the step count
and its slot buffers (created when a model is trained).

>>> from densefit.optimizers import Adam
>>> Adam(learning_rate=1e-3).epsilon
1e-07
"""
import numpy as np

from . import _core
from .utils import unknown_name_error


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _fraction(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


class Optimizer:
    """Base: ``learning_rate``, ``iterations`` and the slot buffers."""

    kind = None

    def __init__(self, learning_rate):
        self.learning_rate = _positive(learning_rate, "learning_rate")
        self.iterations = 0
        self.slots = None  # (slot_1, slot_2) flat arrays once attached to a model
        self._model = None  # weak reference to the one model compiled with it

    def trainer_args(self):
        """Keyword arguments for ``_core.Trainer``: the config's names are the core's."""
        return dict(self.get_config(), optimizer=_core.OPTIMIZERS[self.kind])

    def get_config(self):
        return {"learning_rate": self.learning_rate}

    def serialize(self):
        return {"class_name": type(self).__name__, "config": self.get_config(),
                "iterations": int(self.iterations)}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Adam(Optimizer):
    """Keras 3's Adam: ``epsilon`` is added to the uncorrected ``sqrt(v)``."""

    kind = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        self.beta_1 = _fraction(beta_1, "beta_1")
        self.beta_2 = _fraction(beta_2, "beta_2")
        self.epsilon = _positive(epsilon, "epsilon")

    def get_config(self):
        return dict(super().get_config(), beta_1=self.beta_1, beta_2=self.beta_2,
                    epsilon=self.epsilon)


class SGD(Optimizer):
    """Keras' SGD, with optional (Nesterov) momentum."""

    kind = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        super().__init__(learning_rate)
        self.momentum = _fraction(momentum, "momentum")
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)

    def get_config(self):
        return dict(super().get_config(), momentum=self.momentum, nesterov=self.nesterov)


class RMSprop(Optimizer):
    """Keras' RMSprop (no momentum, not centered): ``epsilon`` inside the square root."""

    kind = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7):
        super().__init__(learning_rate)
        self.rho = _fraction(rho, "rho")
        self.epsilon = _positive(epsilon, "epsilon")

    def get_config(self):
        return dict(super().get_config(), rho=self.rho, epsilon=self.epsilon)


_CLASSES = {c.__name__: c for c in (Adam, SGD, RMSprop)}
_NAMES = {"adam": Adam, "sgd": SGD, "rmsprop": RMSprop}


def get(identifier):
    """An Optimizer from an instance, a name (``"adam"``, ``"sgd"``, ``"rmsprop"``) or a class."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str):
        cls = _NAMES.get(identifier.lower())
        if cls is None:
            raise unknown_name_error("optimizer", identifier, _NAMES)
        return cls()
    raise TypeError(f"optimizer must be a densefit.optimizers.Optimizer or a name such as "
                    f"'adam', got {identifier!r}")


def deserialize(config):
    cls = _CLASSES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"unknown optimizer in config: {config!r}")
    optimizer = cls(**config["config"])
    iterations = config.get("iterations", 0)
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) \
            or not 0 <= iterations < 2**63:
        raise ValueError(f"iterations must be an integer in [0, 2**63), got {iterations!r}")
    optimizer.iterations = int(iterations)
    return optimizer
