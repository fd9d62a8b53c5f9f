"""Learning-rate schedules with Keras 3's names, arguments and formulas
(``keras.optimizers.schedules``), evaluated per step inside the compiled loop:
each names its kind in the core (``_core.SCHEDULES``) and hands its arguments
to C, which computes the rate from the optimizer's ``iterations``.

>>> from densefit.optimizers import SGD, schedules
>>> lr = schedules.ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)
>>> round(lr(100), 6)
0.05
"""
import inspect

from . import _core, validation


class LearningRateSchedule:
    """Base: ``schedule(step)`` is the learning rate at that optimizer step.

    A subclass names its core kind (``kind``) and takes Keras' arguments in
    ``__init__`` (``get_config`` reads their names from the signature)."""

    kind = None

    def core_schedule(self):
        """The ``_core.Schedule`` that evaluates this schedule in C."""
        config = {k: v for k, v in self.get_config().items() if k != "name"}
        if "first_decay_steps" in config:
            config["decay_steps"] = config.pop("first_decay_steps")
        return _core.Schedule(_core.SCHEDULES[self.kind], **config)

    def __call__(self, step):
        return self.core_schedule()(validation.integer(step, "step", low=0))

    def get_config(self):
        names = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _steps(value, name):
    return validation.real(value, name, low=0, low_open=True)


def _rate(value, name):
    return validation.real(value, name)


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (the exponent
    floored with ``staircase``)."""

    kind = "exponential"

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _steps(decay_steps, "decay_steps")
        self.decay_rate = _rate(decay_rate, "decay_rate")
        self.staircase = validation.boolean(staircase, "staircase")
        self.name = name


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (the ratio
    floored with ``staircase``)."""

    kind = "inverse_time"

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _steps(decay_steps, "decay_steps")
        self.decay_rate = _rate(decay_rate, "decay_rate")
        self.staircase = validation.boolean(staircase, "staircase")
        self.name = name


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, then ``values[-1]``."""

    kind = "piecewise_constant"

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        self.boundaries = [_rate(b, "boundaries") for b in boundaries]
        self.values = [_rate(v, "values") for v in values]
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(f"values must have one entry more than boundaries, got "
                             f"{len(self.values)} values for {len(self.boundaries)} boundaries")
        self.name = name


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``, the step held at
    ``decay_steps`` (or, with ``cycle``, ``decay_steps`` grown to the next multiple)."""

    kind = "polynomial"

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _steps(decay_steps, "decay_steps")
        self.end_learning_rate = _rate(end_learning_rate, "end_learning_rate")
        self.power = _rate(power, "power")
        self.cycle = validation.boolean(cycle, "cycle")
        self.name = name


class CosineDecay(LearningRateSchedule):
    """Cosine decay from ``initial_learning_rate`` (or, after a linear warmup of
    ``warmup_steps`` to ``warmup_target``, from that) to ``alpha`` times it over
    ``decay_steps``."""

    kind = "cosine"

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _steps(decay_steps, "decay_steps")
        self.alpha = _rate(alpha, "alpha")
        self.name = name
        self.warmup_target = (None if warmup_target is None
                              else _rate(warmup_target, "warmup_target"))
        self.warmup_steps = validation.real(warmup_steps, "warmup_steps", low=0)


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay restarted after ``first_decay_steps``, each period ``t_mul`` times
    longer and its peak ``m_mul`` times higher than the last."""

    kind = "cosine_restarts"

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name="SGDRDecay"):
        self.initial_learning_rate = _rate(initial_learning_rate, "initial_learning_rate")
        self.first_decay_steps = _steps(first_decay_steps, "first_decay_steps")
        self.t_mul = _steps(t_mul, "t_mul")
        self.m_mul = _rate(m_mul, "m_mul")
        self.alpha = _rate(alpha, "alpha")
        self.name = name


_CLASSES = {c.__name__: c for c in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay,
                                    PolynomialDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule):
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config):
    cls = _CLASSES.get(config.get("class_name")) if isinstance(config, dict) else None
    if cls is None:
        raise ValueError(f"unknown learning-rate schedule in config: {config!r}")
    return cls.from_config(config["config"])
