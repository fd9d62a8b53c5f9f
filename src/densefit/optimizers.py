"""Optimizers with Keras' names, defaults and update rules.

The update itself runs in the compiled core, fused over all of a model's
parameters; an optimizer object holds the hyper-parameters, the step count
``iterations`` and its state arrays (Keras' names: ``momentums``,
``velocities``, ``velocity_hats``, ``accumulators``, ``norms``: which a rule
keeps is the core's ``rule_slots``), flat over all of the model's parameters
once built.  ``learning_rate`` may be a schedule (``optimizers.schedules``),
evaluated per step in the compiled loop.

>>> from densefit.optimizers import Adam
>>> Adam(learning_rate=1e-3).epsilon
1e-07
"""
import inspect
import weakref

import numpy as np

from . import _core, missing, schedules, validation
from .utils import unknown_name_error

_STATE = tuple(_core.SLOTS)  # every state array an optimizer may keep, named by the core
MAX_ITERATIONS = 2**63 - 1  # the core counts steps in an int64

_BASE_ARGS = """learning_rate: the step size, a finite number > 0, or a schedule of
            ``optimizers.schedules`` (evaluated per step in the compiled loop).
        weight_decay: None, or w -= w * weight_decay * learning_rate on every
            parameter (biases too) before each update.
        clipnorm: None, or clip each variable's gradient (each kernel, each bias)
            to this norm.
        clipvalue: None, or clip each gradient element to [-clipvalue, clipvalue].
        global_clipnorm: None, or clip all gradients together to this norm.
        At most one of the three clipping options; clipping comes first, then
        weight decay, then the update (as in Keras)."""


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

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        self.learning_rate = learning_rate
        self.weight_decay = _optional(weight_decay, "weight_decay", low=0)
        self.clipnorm = _optional(clipnorm, "clipnorm", low=0, low_open=True)
        self.clipvalue = _optional(clipvalue, "clipvalue", low=0, low_open=True)
        self.global_clipnorm = _optional(global_clipnorm, "global_clipnorm", low=0,
                                         low_open=True)
        if sum(v is not None for v in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"only one of clipnorm, clipvalue and global_clipnorm can be "
                             f"set, got clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self.iterations = 0
        for name in _STATE:
            setattr(self, name, None)
        self._model = None  # weak reference to the one model it trains

    @property
    def learning_rate(self):
        """The learning rate of the next step, a number, as Keras' (a schedule's value
        at ``iterations``; the schedule itself is ``get_config()["learning_rate"]``).
        Settable to a number, a schedule or a callable of the step, e.g. by a
        callback between epochs: the next compiled call uses it."""
        lr = self._learning_rate
        if not callable(lr):
            return lr
        # a schedule may reach 0 (CosineDecay with alpha=0 ends there)
        return validation.real(float(lr(self.iterations)), "the learning-rate schedule's value",
                               low=0)

    @learning_rate.setter
    def learning_rate(self, value):
        if callable(value):
            self._learning_rate = value
        else:
            self._learning_rate = _positive(value, "learning_rate")
        self._core_schedule = _core_schedule(self._learning_rate)

    @property
    def schedule_in_core(self):
        """Whether the learning rate is one of ``optimizers.schedules``, evaluated by
        the compiled loop at each step."""
        return self._core_schedule is not None

    @property
    def rate_per_batch(self):
        """Whether the learning rate is a Python callable of the step (not one of
        ``optimizers.schedules``, which run in C): fit then returns to Python
        before each batch to evaluate it, as for a callback with batch hooks."""
        return callable(self._learning_rate) and not self.schedule_in_core

    @property
    def slot_names(self):
        """The state arrays this optimizer's rule keeps, of ``_core.SLOTS`` (the core's
        ``rule_slots`` says which)."""
        return _core.rule_slots(_core.OPTIMIZERS[self.rule], getattr(self, "momentum", 0.0),
                                getattr(self, "amsgrad", False))

    def _initial_slot(self, name, params):
        """A new state array ``name`` for ``params``: zeros unless a rule says otherwise."""
        return np.zeros_like(params)

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
            setattr(self, name, self._initial_slot(name, params) if name in self.slot_names
                    else None)
        self.iterations = 0
        self._reset_scalars()

    def reset(self):
        """Forget the state (the model's weights were laid out anew, e.g. a layer
        frozen): the next ``build`` starts it from zero, step 0."""
        for name in _STATE:
            setattr(self, name, None)
        self.iterations = 0
        self._reset_scalars()

    def _reset_scalars(self):
        """Scalar state beyond ``iterations`` back to its start (Nadam's ``u_product``)."""

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
        """The update rule's code, hyper-parameters and state, as the compiled core's
        ``OptimizerState`` takes them."""
        # the core takes every hyper-parameter; the ones this rule does not use are 0
        # (False), which are placeholders it ignores, not defaults
        unused = dict(beta_1=0.0, beta_2=0.0, epsilon=0.0, momentum=0.0, nesterov=False,
                      rho=0.0)
        config = self.get_config()
        del config["learning_rate"]
        for name in ("initial_accumulator_value",):
            config.pop(name, None)
        options = {name: config.pop(name) or 0.0 for name in _OPTIONS}
        slots = {name: getattr(self, name) for name in _STATE}
        return dict(unused, **config, **options, **slots, rule=_core.OPTIMIZERS[self.rule],
                    learning_rate=0.0 if self.schedule_in_core else self.learning_rate,
                    schedule=self._core_schedule,
                    iterations=self.iterations, **self._core_scalars())

    def _core_scalars(self):
        return {}

    # ------------------------------------------------------------ config

    def get_config(self):
        """The hyper-parameters, by their argument names (a schedule as its
        ``{"class_name", "config"}``)."""
        names = [*inspect.signature(type(self).__init__).parameters, *_OPTIONS]
        config = {name: getattr(self, name) for name in names
                  if name not in ("self", "kwargs", "learning_rate")}
        lr = self._learning_rate
        config = {"learning_rate": schedules.serialize(lr) if isinstance(
            lr, schedules.LearningRateSchedule) else lr, **config}
        return config

    @classmethod
    def from_config(cls, config):
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config = dict(config, learning_rate=schedules.deserialize(lr))
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _core_schedule(lr):
    """The core's form of a built-in schedule, else None."""
    if isinstance(lr, schedules.LearningRateSchedule) and lr.kind is not None:
        return lr.core_schedule()
    return None


_OPTIONS = tuple(inspect.signature(Optimizer.__init__).parameters)[2:]  # weight_decay, clip*


def _optional(value, name, **bounds):
    return None if value is None else validation.real(value, name, **bounds)


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
        amsgrad: True: AMSGrad, ``sqrt(v)`` replaced by that of the running
            maximum of ``v`` (``velocity_hats``).
    """

    rule = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _fraction(beta_1, "beta_1")
        self.beta_2 = _fraction(beta_2, "beta_2")
        self.epsilon = _positive(epsilon, "epsilon")
        self.amsgrad = validation.boolean(amsgrad, "amsgrad")


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

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _fraction(momentum, "momentum")
        self.nesterov = validation.boolean(nesterov, "nesterov")


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

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = _fraction(rho, "rho")
        self.epsilon = _positive(epsilon, "epsilon")


@_documented
class AdamW(Adam):
    """Keras' AdamW: Adam with weight decay ``w -= w * weight_decay * learning_rate``
    on every parameter before each step.

    Args:
        {{base_optimizer_keyword_args}}
        beta_1, beta_2, epsilon, amsgrad: as Adam's.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad,
                         weight_decay=weight_decay, **kwargs)


@_documented
class Adagrad(Optimizer):
    """Keras' Adagrad: ``acc += g**2`` (``accumulators``, starting at
    ``initial_accumulator_value``), ``w -= learning_rate * g / sqrt(acc + epsilon)``.

    Args:
        {{base_optimizer_keyword_args}}
        initial_accumulator_value: the accumulators' start, a number >= 0.
        epsilon: added to the accumulator inside the root, a finite number > 0.
    """

    rule = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = validation.real(
            initial_accumulator_value, "initial_accumulator_value", low=0)
        self.epsilon = _positive(epsilon, "epsilon")

    def _initial_slot(self, name, params):
        return np.full_like(params, self.initial_accumulator_value)


@_documented
class Adamax(Optimizer):
    """Keras' Adamax: ``m += (g - m)(1 - beta_1)``, ``u = max(beta_2 * u, |g|)``
    (``momentums``, ``norms``), ``w -= learning_rate / (1 - beta_1**t) * m / (u + epsilon)``.

    Args:
        {{base_optimizer_keyword_args}}
        beta_1, beta_2: decays of m and u, numbers in [0, 1).
        epsilon: added to u, a finite number > 0.
    """

    rule = "adamax"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _fraction(beta_1, "beta_1")
        self.beta_2 = _fraction(beta_2, "beta_2")
        self.epsilon = _positive(epsilon, "epsilon")


@_documented
class Nadam(Optimizer):
    """Keras' Nadam: Adam with Nesterov momentum and Keras' momentum schedule
    ``u_t = beta_1 * (1 - 0.5 * 0.96**t)``, whose running product ``u_product``
    (a scalar, saved with the state) the step advances.

    Args:
        {{base_optimizer_keyword_args}}
        beta_1, beta_2: decays of ``momentums`` and ``velocities``, numbers in [0, 1).
        epsilon: added to ``sqrt(v_hat)``, a finite number > 0.
    """

    rule = "nadam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = _fraction(beta_1, "beta_1")
        self.beta_2 = _fraction(beta_2, "beta_2")
        self.epsilon = _positive(epsilon, "epsilon")
        self.u_product = 1.0

    def _reset_scalars(self):
        self.u_product = 1.0

    def _core_scalars(self):
        return {"u_product": self.u_product}

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["u_product"] = np.array(self.u_product, np.float64)

    def load_own_variables(self, store):
        u_product = _stored(store, "u_product")
        u_product = validation.real(u_product[()] if isinstance(u_product, np.ndarray)
                                    else u_product, "u_product")
        super().load_own_variables(store)
        self.u_product = u_product


_CLASSES = {c.__name__: c for c in (Adam, SGD, RMSprop, AdamW, Adagrad, Adamax, Nadam)}
_NAMES = {name.lower(): c for name, c in _CLASSES.items()}  # "adam", "sgd", "adamw", ...


def get(identifier):
    """An Optimizer from an instance, a name (``"adam"``, ``"sgd"``, ``"rmsprop"``,
    ``"adamw"``, ``"adagrad"``, ``"adamax"``, ``"nadam"``) or a class."""
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
    if optimizer.rate_per_batch:
        raise ValueError(f"the learning rate {optimizer.get_config()['learning_rate']!r} is a "
                         f"Python callable, "
                         f"which a config cannot hold: use one of optimizers.schedules to save "
                         f"the model with its optimizer")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    """The optimizer ``serialize`` described.  The state (``iterations``, which files
    saved by densefit 1.0 keep beside the config, and the arrays) is not part of it:
    it is restored through ``load_own_variables``."""
    cls = _CLASSES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"unknown optimizer in config: {config!r}")
    return cls.from_config(config["config"])


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
