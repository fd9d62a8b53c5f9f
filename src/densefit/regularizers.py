"""Weight and activity regularizers with Keras 3's names, defaults and formulas.

``L1(l1=0.01)`` adds ``l1 * sum(|w|)`` to the loss, ``L2(l2=0.01)`` adds
``l2 * sum(w**2)``, ``L1L2(l1=0.0, l2=0.0)`` both.  The lowercase ``l1``,
``l2`` and ``l1_l2`` are the same classes, as in Keras 3, so ``l1_l2()`` with
no arguments is no penalty at all (Keras' docstring says 0.01 each; its code
says 0).  A layer's regularizers run in the compiled loop (``Dense(...,
kernel_regularizer="l2")``); calling one on an array gives its penalty.

>>> float(L2(0.1)(np.array([1.0, -2.0])))
0.5
"""
import numpy as np

from . import missing, reference, validation
from .serializable import ConfigObject
from .utils import unknown_name_error


class Regularizer(ConfigObject):
    """The base class: a penalty of a weight or of a layer's output.

    densefit's compiled loop runs the penalties ``factors()`` describes, ``l1 *
    sum(|x|) + l2 * sum(x**2)``; a subclass that does not say its factors (a
    custom penalty) can be called on arrays but not given to a layer.
    """

    def __call__(self, x):
        """The penalty of ``x``, a NumPy float."""
        return np.float64(0.0)

    def factors(self):
        """``(l1, l2)`` of the penalty, or None when it is not of that form."""
        return None


def _factor(value, name):
    return validation.real(value, name, low=0)


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``.

    Args:
        l1: a finite number >= 0 (Keras' default 0.0).
        l2: a finite number >= 0 (Keras' default 0.0).
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _factor(l1, "l1"), _factor(l2, "l2")

    def __call__(self, x):
        return reference.regularization(np.asarray(x), *self.factors())

    def factors(self):
        return self.l1, self.l2

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|x|)``.

    Args:
        l1: a finite number >= 0 (Keras' default 0.01).
    """

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(x**2)``.

    Args:
        l2: a finite number >= 0 (Keras' default 0.01).
    """

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Keras' orthogonality penalty: not supported (the compiled loop runs L1 and L2 penalties)."""

    def __init__(self, factor=0.01, mode="rows"):
        raise NotImplementedError(_ORTHOGONAL)


_ORTHOGONAL = ("OrthogonalRegularizer is not supported: densefit's compiled loop runs L1 and "
               "L2 penalties only (regularizers.L1, L2, L1L2)")

# Keras 3 exports the lowercase names as the same classes
l1, l2, l1_l2 = L1, L2, L1L2

_CLASSES = {c.__name__: c for c in (L1, L2, L1L2)}
# Keras' string identifiers: a class name or its snake case ("l1_l2" is not one)
_NAMES = {"l1": L1, "l2": L2, "l1l2": L1L2, **_CLASSES}
_UNSUPPORTED = ("orthogonal_regularizer", "OrthogonalRegularizer")


def serialize(regularizer):
    """``{"class_name": ..., "config": ...}``, or None for None."""
    if regularizer is None:
        return None
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def deserialize(config):
    """The regularizer ``serialize`` described (Keras' dicts, with ``module``, too)."""
    if config is None:
        return None
    name = config.get("class_name") if isinstance(config, dict) else None
    if name in _UNSUPPORTED:
        raise NotImplementedError(_ORTHOGONAL)
    if name not in _CLASSES:
        raise ValueError(f"unknown regularizer in config: {config!r}")
    return _CLASSES[name].from_config(config.get("config") or {})


def get(identifier):
    """A regularizer from None, a Regularizer, a class (made with its
    defaults), a ``serialize`` dict or a Keras string identifier (``"l1"``,
    ``"l2"``, ``"l1l2"``, ``"L2"``, ...)."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if not isinstance(identifier, str):
        raise TypeError(f"regularizer must be None, a name such as 'l2' or a "
                        f"densefit.regularizers instance such as L2(0.01), got {identifier!r}")
    if identifier in _UNSUPPORTED:
        raise NotImplementedError(_ORTHOGONAL)
    if identifier == "l1_l2":
        raise ValueError("'l1_l2' is not a regularizer name (nor in Keras 3, where "
                         "regularizers.l1_l2() is L1L2(l1=0.0, l2=0.0), no penalty): write "
                         "regularizers.L1L2(l1=0.01, l2=0.01)")
    if identifier not in _NAMES:
        raise unknown_name_error("regularizer", identifier, _NAMES)
    return _NAMES[identifier]()


def core_factors(regularizer, argument):
    """``(l1, l2)`` for the compiled loop: (0, 0) for None; a regularizer that is
    not an L1/L2 penalty is a TypeError naming ``argument``."""
    if regularizer is None:
        return 0.0, 0.0
    factors = regularizer.factors()
    if factors is None:
        raise TypeError(f"{argument}={regularizer!r} cannot run in densefit's compiled loop: "
                        f"it runs L1 and L2 penalties only (regularizers.L1, L2, L1L2)")
    return factors


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
