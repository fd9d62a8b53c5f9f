"""Optimizers with Keras' names, defaults and update rules.

The update itself runs in the compiled core, fused over all of a model's
parameters; an optimizer object holds the hyper-parameters, the step count
``iterations`` and its state arrays (Keras' names: ``momentums``,
``velocities``), flat over all of the model's parameters once built.

>>> from densefit.optimizers import Adam
>>> Adam(learning_rate=1e-3).epsilon
1e-07
"""
import inspect
import weakref

import numpy as np

from . import _core, validation
from .utils import unknown_name_error

_STATE = ("momentums", "velocities")  # every state array an optimizer may keep
MAX_ITERATIONS = 2**63 - 1  # the core counts steps in an int64

_BASE_ARGS = """learning_rate: the step size, a finite number > 0."""


def _documented(cls):
    """``cls`` with ``{{base_optimizer_keyword_args}}`` in its docstring filled in."""
    cls.__doc__ = cls.__doc__.replace("{{base_optimizer_keyword_args}}", _BASE_ARGS)
    return cls


def _positive(value, name):
    return validation.real(value, name, low=0, low_open=True)


def _fraction(value, name):
    return validation.real(value, name, low=0, high=1, high_open=True)


class Optimizer:
    """Base: the hyper-parameters, ``iterations`` and the state arrays.

    A subclass names its update rule (``rule``, a key of ``_core.OPTIMIZERS``),
    takes its hyper-parameters as keyword arguments of ``__init__`` (their
    defaults written there alone: ``get_config`` reads the names from the
    signature) and says which state arrays its rule keeps (``slot_names``)."""

    rule = None

    def __init__(self, learning_rate):
        self.learning_rate = _positive(learning_rate, "learning_rate")
        self.iterations = 0
        self.momentums = None
        self.velocities = None
        self._model = None  # weak reference to the one model it trains

    @property
    def slot_names(self):
        """The state arrays this optimizer's rule keeps, of ``("momentums", "velocities")``."""
        return ()

    # ------------------------------------------------------------ state

    def fits(self, params):
        """Whether the state is built for the flat parameter array ``params``: each of
        ``slot_names`` present with its shape and dtype."""
        return all(getattr(self, name) is not None and getattr(self, name).shape == params.shape
                   and getattr(self, name).dtype == params.dtype for name in self.slot_names)

    def build(self, params):
        """Zero state for the flat parameter array ``params``, unless the state already
        fits it.  New state is for new weights: ``iterations`` restarts at 0."""
        if self.fits(params):
            return
        for name in _STATE:
            setattr(self, name, np.zeros_like(params) if name in self.slot_names else None)
        self.iterations = 0

    def save_own_variables(self, store):
        """Write ``iterations`` (a 0-d int64 array) and each built state array (the
        arrays themselves, not copies) into the dict ``store``."""
        store["iterations"] = np.array(self.iterations, np.int64)
        for name in self.slot_names:
            if getattr(self, name) is not None:
                store[name] = getattr(self, name)

    def load_own_variables(self, store):
        """Copy the state in ``store`` (as ``save_own_variables`` wrote it) into the
        built state arrays; everything is checked before anything is written."""
        arrays = {name: getattr(self, name) for name in self.slot_names}
        if any(array is None for array in arrays.values()):
            raise ValueError(f"{type(self).__name__} is not built: call build(params) before "
                             f"load_own_variables")
        for name, target in arrays.items():
            value = _stored(store, name)
            if not isinstance(value, np.ndarray) or value.shape != target.shape \
                    or validation.native(value.dtype) != target.dtype:  # ">f4": its values
                got = (f"shape {value.shape} of {value.dtype}" if isinstance(value, np.ndarray)
                       else repr(value))
                raise ValueError(f"{name} must be an array of shape {target.shape} of "
                                 f"{target.dtype}, got {got}")
        iterations = _stored(store, "iterations")
        if isinstance(iterations, np.ndarray) and iterations.shape == ():
            iterations = iterations[()]  # a 0-d array of any integer type: its value
        iterations = validation.integer(iterations, "iterations", low=0, high=MAX_ITERATIONS)
        for name, target in arrays.items():
            target[...] = store[name]
        self.iterations = iterations

    # ------------------------------------------------------------ use

    def bind(self, model):
        """Make this optimizer the one training ``model``: its state belongs to that
        model's weights, so another model still alive is refused (as Keras does)."""
        user = self._model() if self._model is not None else None
        if user is not None and user is not model:
            raise ValueError(f"optimizer {self!r} already trains model {user.name!r}: "
                             f"give each model its own optimizer instance")
        self._model = weakref.ref(model)

    def core_arguments(self):
        """The update rule's code and hyper-parameters, as the compiled core takes them."""
        # the core takes every hyper-parameter; the ones this rule does not use are 0
        # (False), which are placeholders it ignores, not defaults
        unused = dict(beta_1=0.0, beta_2=0.0, epsilon=0.0, momentum=0.0, nesterov=False,
                      rho=0.0)
        return dict(unused, **self.get_config(), rule=_core.OPTIMIZERS[self.rule])

    # ------------------------------------------------------------ config

    def get_config(self):
        """The hyper-parameters, by their argument names."""
        names = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _stored(store, key):
    if key not in store:
        raise ValueError(f"{key} is missing from the optimizer's saved state")
    return store[key]


@_documented
class Adam(Optimizer):
    """Keras 3's Adam: ``epsilon`` is added to the uncorrected ``sqrt(v)``.

    With ``t = iterations + 1``: ``m += (g - m)(1 - beta_1)``,
    ``v += (g**2 - v)(1 - beta_2)``,
    ``w -= learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)``.

    Args:
        {{base_optimizer_keyword_args}}
        beta_1: decay of the first moment (``momentums``), a number in [0, 1).
        beta_2: decay of the second moment (``velocities``), a number in [0, 1).
        epsilon: added to ``sqrt(v)`` for stability, a finite number > 0.
    """

    rule = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(learning_rate)
        self.beta_1 = _fraction(beta_1, "beta_1")
        self.beta_2 = _fraction(beta_2, "beta_2")
        self.epsilon = _positive(epsilon, "epsilon")

    @property
    def slot_names(self):
        return ("momentums", "velocities")


@_documented
class SGD(Optimizer):
    """Keras' SGD, with optional (Nesterov) momentum.

    Without momentum ``w -= learning_rate * g``; with it ``m = momentum * m -
    learning_rate * g`` then ``w += m``, or with Nesterov ``w += momentum * m -
    learning_rate * g`` (the new ``m``).

    Args:
        {{base_optimizer_keyword_args}}
        momentum: the decay of ``momentums``, a number in [0, 1); 0 keeps no state.
        nesterov: True or False: Nesterov momentum.
    """

    rule = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        super().__init__(learning_rate)
        self.momentum = _fraction(momentum, "momentum")
        self.nesterov = validation.boolean(nesterov, "nesterov")

    @property
    def slot_names(self):
        return ("momentums",) if self.momentum else ()


@_documented
class RMSprop(Optimizer):
    """Keras' RMSprop (no momentum, not centered): ``epsilon`` inside the square root.

    ``v = rho * v + (1 - rho) * g**2`` (the mean square, Keras' ``velocities``),
    ``w -= learning_rate * g / sqrt(v + epsilon)``.

    Args:
        {{base_optimizer_keyword_args}}
        rho: the decay of the mean square, a number in [0, 1).
        epsilon: added to the mean square for stability, a finite number > 0.
    """

    rule = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7):
        super().__init__(learning_rate)
        self.rho = _fraction(rho, "rho")
        self.epsilon = _positive(epsilon, "epsilon")

    @property
    def slot_names(self):
        return ("velocities",)


_CLASSES = {c.__name__: c for c in (Adam, SGD, RMSprop)}
_NAMES = {c.rule: c for c in _CLASSES.values()}  # "adam", "sgd", "rmsprop"


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


def serialize(optimizer):
    """``{"class_name": ..., "config": ...}``: the class and its hyper-parameters."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    """The optimizer ``serialize`` described.  The state (``iterations``, which files
    saved by densefit 1.0 keep beside the config, and the arrays) is not part of it:
    it is restored through ``load_own_variables``."""
    cls = _CLASSES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"unknown optimizer in config: {config!r}")
    return cls.from_config(config["config"])
