"""Losses with Keras' names, defaults and reduction (the mean over the batch).

A loss chooses the compiled kernel that trains with it.  When it takes
probabilities and the output layer is the matching softmax or sigmoid, it is
computed from that layer's pre-activation with the stable fused kernel, as
Keras' TensorFlow backend does: ``from_logits=False`` on a softmax output
trains as stably as a linear output with ``from_logits=True``.

>>> from densefit.losses import SparseCategoricalCrossentropy
>>> round(float(SparseCategoricalCrossentropy(from_logits=True)([0], [[0.0, 0.0]])), 6)  # log 2
0.693147
"""
import numpy as np

from . import _core, backend, data_adapter, missing, validation
from .utils import unknown_name_error, warn_at_user


class Loss:
    """Base: ``from_logits``, ``name`` and the compiled kernels that compute the loss.

    Args:
        from_logits: True or False: whether the model's outputs are logits
            (unbounded scores) rather than probabilities.
        name: the loss' name (default: the class name in snake case).
    """

    categorical = False     # whether the loss compares classes across the outputs
    default_name = None     # Keras' default name, where it is not the class name in snake case
    ignored_label = None    # a label whose rows the loss ignores (sparse CE's ignore_class)
    fusable_output = None   # the output activation whose logits a probability loss can use
    logits_kernel = None    # the core's kernel (a key of _core.LOSSES) on logits
    probs_kernel = None     # ... and on probabilities

    def __init__(self, from_logits=False, name=None):
        self.from_logits = validation.boolean(from_logits, "from_logits")
        self.name = (validation.string(name, "name") or self.default_name
                     or _snake(type(self).__name__))

    @property
    def labels(self):
        """Whether the targets are integer class labels (sparse) rather than dense."""
        return _core.loss_uses_labels(self._code(self.from_logits))

    def core_options(self):
        """The hyper-parameters the core's kernel reads (keywords of ``_core.Objective``)."""
        return {}

    def _code(self, logits):
        return _core.LOSSES[self.logits_kernel if logits else self.probs_kernel]

    def kernel_for(self, output_activation):
        """``(loss code, fused)`` for a model whose last activation is ``output_activation``."""
        if output_activation == self.fusable_output:
            # the output layer's pre-activation is the true logits, whatever from_logits
            # says; Keras' TensorFlow backend reads them the same way, and warns likewise
            if self.from_logits:
                warn_at_user(f"{type(self).__name__}(from_logits=True) on a {output_activation} "
                             f"output: the outputs are probabilities, not logits; densefit "
                             f"uses the layer's pre-activation logits, as Keras does. Use "
                             f"activation='linear' with from_logits=True, or "
                             f"from_logits=False.")
            return self._code(True), True
        return self._code(self.from_logits), False

    def check_output(self, units, output_activation):
        """Warn, at the user's line, of an output layer that trains a constant model
        with this loss (classic mistakes that would otherwise train silently)."""
        if output_activation == "softmax" and units == 1:
            warn_at_user("softmax over 1 unit is always 1.0: use activation='sigmoid' with "
                         "BinaryCrossentropy for two classes, or Dense(n_classes, "
                         "activation='softmax') for more")
        elif self.categorical and units == 1:
            warn_at_user(f"{type(self).__name__} on a 1-unit output: one class, so the loss "
                         f"is constant and nothing trains. For two classes use "
                         f"Dense(1, activation='sigmoid') with BinaryCrossentropy; for more, "
                         f"Dense(n_classes, activation='softmax')")

    def __call__(self, y_true, y_pred, sample_weight=None):
        """The mean loss over the batch, as a NumPy scalar of y_pred's float type;
        with ``sample_weight`` (one per sample) ``sum(w * loss) / samples``, as Keras'
        ``sum_over_batch_size``."""
        y_pred = data_adapter.as_array(y_pred, "y_pred")
        if y_pred.dtype.kind not in "biuf":
            raise TypeError(f"y_pred must hold real numbers, got dtype {y_pred.dtype}")
        y_pred = data_adapter.converted(y_pred.reshape(-1, 1) if y_pred.ndim == 1 else y_pred,
                                        backend.compute_dtype(y_pred.dtype), "y_pred")
        if y_pred.ndim != 2:
            raise ValueError(f"y_pred must have shape (samples, outputs), got {y_pred.shape}")
        target = self.prepare_targets(y_true, y_pred.shape, y_pred.dtype, "y_true")
        weights = data_adapter.weights_of(None, sample_weight, None, len(y_pred), y_pred.dtype)
        value, _ = _core.loss(self._code(self.from_logits), y_pred, target,
                              sample_weight=weights, **self.core_options())
        return y_pred.dtype.type(value)

    def prepare_targets(self, y, output_shape, dtype, name="y"):
        """Targets as the core reads them: dense (n, outputs) in ``dtype``; errors
        name the targets ``name``."""
        y = data_adapter.as_array(y, name)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be numeric, got dtype {y.dtype}")
        n, outputs = output_shape
        if y.ndim == 1 and outputs == 1:
            y = y.reshape(-1, 1)
        if y.shape != (n, outputs):
            raise ValueError(f"{name} must have shape {(n, outputs)} to match the model's "
                             f"output, got {y.shape}{_labels_hint(y, name, outputs)}")
        self.check_targets(y, name)  # the values as given, so messages print them exactly
        return data_adapter.converted(y, dtype, name)

    def check_targets(self, y, name="y"):
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            row = int(np.nonzero(~np.isfinite(y).all(axis=1))[0][0])
            raise ValueError(f"{name} holds NaN or inf (first at row {row})")

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy against integer class labels ``0..classes-1``.

    Args:
        from_logits: as ``Loss``.
        ignore_class: None, or a label (in range or not, e.g. -1 or 255) whose
            rows add no loss and no gradient; as in Keras, a batch's loss is then
            the mean over its other rows (0 if there are none).  Accuracy still
            counts every row, as Keras' does.
        name: as ``Loss``.
    """

    categorical = True
    fusable_output = "softmax"
    logits_kernel, probs_kernel = "sparse_ce_logits", "sparse_ce_probs"

    def __init__(self, from_logits=False, ignore_class=None, name=None):
        super().__init__(from_logits, name)
        self.ignored_label = self.ignore_class = (
            None if ignore_class is None
            else validation.integer(ignore_class, "ignore_class", -2**31, 2**31 - 1))

    def core_options(self):
        return {"ignore_class": self.ignore_class}

    def get_config(self):
        return dict(super().get_config(), ignore_class=self.ignore_class)

    def prepare_targets(self, y, output_shape, dtype=None, name="y"):
        y = data_adapter.as_array(y, name)
        n, classes = output_shape
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or len(y) != n:
            raise ValueError(f"{name} must hold {n} integer class labels, shape ({n},), "
                             f"got shape {y.shape}")
        if y.dtype.kind == "f":
            bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
            if len(bad):
                raise ValueError(f"{name} must hold integer class labels; got "
                                 f"{validation.shown(y[bad[0]])} (first at row {bad[0]})")
        elif y.dtype.kind not in "biu":
            raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
        outside = (y < 0) | (y >= classes)
        if self.ignore_class is not None:
            outside &= y != self.ignore_class
        if n and outside.any():
            row = int(np.flatnonzero(outside)[0])
            hint = ("; a 1-unit output has one class: for two classes use "
                    "Dense(1, activation='sigmoid') with BinaryCrossentropy"
                    if classes == 1 else "")
            raise ValueError(f"{name} must hold class labels in [0, {classes}) for a model with "
                             f"{classes} outputs, got {validation.shown(y[row])} (first at row "
                             f"{row}){hint}")
        return np.ascontiguousarray(y, dtype=np.int32)


class _Smoothed(Loss):
    """A cross-entropy whose targets may be smoothed (Keras' ``label_smoothing``):
    the subclass's docstring says towards what."""

    def __init__(self, from_logits=False, label_smoothing=0.0, name=None):
        super().__init__(from_logits, name)
        self.label_smoothing = validation.real(label_smoothing, "label_smoothing", 0, 1)

    def core_options(self):
        return {"label_smoothing": self.label_smoothing}

    def get_config(self):
        return dict(super().get_config(), label_smoothing=self.label_smoothing)


class CategoricalCrossentropy(_Smoothed):
    """Cross-entropy against one-hot (or probability) targets of shape (n, classes).

    As in Keras, the targets are not checked to be one-hot or to sum to 1: any
    finite values are accepted and the loss is ``-sum(y * log p)`` per sample,
    so soft labels (label smoothing, distillation) train as they do in Keras.  A
    row that is not a distribution still trains, towards what that formula
    rewards.  NaN or inf targets are refused, naming the first such row.

    Args:
        from_logits: as ``Loss``.
        label_smoothing: ``s`` in [0, 1]: the targets become ``y (1 - s) + s / classes``.
        name: as ``Loss``.
    """

    categorical = True
    fusable_output = "softmax"
    logits_kernel, probs_kernel = "ce_logits", "ce_probs"


class BinaryCrossentropy(_Smoothed):
    """Cross-entropy of independent binary outputs against targets in [0, 1].

    Args:
        from_logits: as ``Loss``.
        label_smoothing: ``s`` in [0, 1]: the targets become ``y (1 - s) + 0.5 s``.
        name: as ``Loss``.
    """

    fusable_output = "sigmoid"
    logits_kernel, probs_kernel = "bce_logits", "bce_probs"

    def check_targets(self, y, name="y"):
        super().check_targets(y, name)
        if y.size and (y.min() < 0 or y.max() > 1):
            row = int(np.flatnonzero(((y < 0) | (y > 1)).any(axis=-1))[0])
            low, high = validation.shown(y.min()), validation.shown(y.max())
            hint = ""
            if y.min() >= 0 and _whole(y):  # integer class labels
                classes = int(y.max()) + 1
                hint = (f": these look like class labels; for {classes} classes use "
                        f"SparseCategoricalCrossentropy with a Dense({classes}, "
                        f"activation='softmax') output")
            raise ValueError(f"{name} must hold binary targets in [0, 1], got values in "
                             f"[{low}, {high}] (first outside at row {row}){hint}")


class _ValueLoss(Loss):
    """A loss on the outputs' values (no logits): its kernel and its name alone.

    Args:
        name: the loss' name (default: Keras', e.g. ``"mean_squared_error"``).
    """

    def __init__(self, name=None):
        super().__init__(False, name)

    def get_config(self):
        return {"name": self.name}


class MeanSquaredError(_ValueLoss):
    """The mean over outputs of ``(y_pred - y_true)**2``.  Args: ``name``."""
    logits_kernel = probs_kernel = "mse"


class MeanAbsoluteError(_ValueLoss):
    """The mean over outputs of ``|y_pred - y_true|``.  Args: ``name``."""
    logits_kernel = probs_kernel = "mae"


class MeanAbsolutePercentageError(_ValueLoss):
    """``100 *`` the mean over outputs of ``|y_true - y_pred| / max(|y_true|, 1e-7)``.
    Args: ``name``."""
    logits_kernel = probs_kernel = "mape"


class MeanSquaredLogarithmicError(_ValueLoss):
    """The mean over outputs of ``(log(y_pred + 1) - log(y_true + 1))**2``, each
    value first raised to at least 1e-7.  Args: ``name``."""
    logits_kernel = probs_kernel = "msle"


class Huber(_ValueLoss):
    """The mean over outputs of ``0.5 e**2`` where ``|e| <= delta``, else
    ``delta |e| - 0.5 delta**2`` (``e = y_pred - y_true``).

    Args:
        delta: where the square becomes linear (>= 0).
        name: the loss' name (default ``"huber_loss"``, Keras').
    """

    logits_kernel = probs_kernel = "huber"
    default_name = "huber_loss"

    def __init__(self, delta=1.0, name=None):
        super().__init__(name)
        self.delta = validation.real(delta, "delta", 0)

    def core_options(self):
        return {"delta": self.delta}

    def get_config(self):
        return dict(super().get_config(), delta=self.delta)


class LogCosh(_ValueLoss):
    """The mean over outputs of ``log(cosh(y_pred - y_true))``.  Args: ``name``."""
    logits_kernel = probs_kernel = "log_cosh"


class KLDivergence(_ValueLoss):
    """The sum over outputs of ``y_true log(y_true / y_pred)``, both clipped to
    [1e-7, 1] (Keras' form).  Args: ``name`` (default ``"kl_divergence"``)."""
    logits_kernel = probs_kernel = "kld"
    default_name = "kl_divergence"


class Poisson(_ValueLoss):
    """The mean over outputs of ``y_pred - y_true log(y_pred + 1e-7)``.  Args: ``name``."""
    logits_kernel = probs_kernel = "poisson"


class Hinge(_ValueLoss):
    """The mean over outputs of ``max(1 - y_true y_pred, 0)``, for targets in
    {-1, 1}; a batch whose targets are all 0 or 1 is read as -1/1 (Keras does the
    same, batch by batch).  Args: ``name``."""
    logits_kernel = probs_kernel = "hinge"


class SquaredHinge(_ValueLoss):
    """The mean over outputs of ``max(1 - y_true y_pred, 0)**2``; targets as for
    ``Hinge``.  Args: ``name``."""
    logits_kernel = probs_kernel = "squared_hinge"


class CategoricalHinge(_ValueLoss):
    """Per sample ``max(max((1 - y_true) y_pred) - sum(y_true y_pred) + 1, 0)``,
    for one-hot targets.  Args: ``name``."""
    logits_kernel = probs_kernel = "categorical_hinge"


def _labels_hint(y, name, outputs):
    """For 1-d or column targets of whole numbers against several outputs: how to
    use class labels."""
    if outputs < 2 or not y.size or y.ndim not in (1, 2) or y.shape[1:] not in ((), (1,)) \
            or not _whole(y) or y.min() < 0:
        return ""
    labels = name if y.ndim == 1 and y.dtype.kind in "iu" else f"{name}.ravel().astype(int)"
    return (f"; if {name} holds class labels, use SparseCategoricalCrossentropy, or one-hot "
            f"them: np.eye({outputs})[{labels}]")


def _whole(y):
    """Whether every value of the real array ``y`` is a whole number."""
    return y.dtype.kind != "f" or bool((y == np.round(y)).all())


def _snake(name):
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


_CLASSES = {c.__name__: c for c in (
    SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy, MeanSquaredError,
    MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, Huber, LogCosh,
    KLDivergence, Poisson, Hinge, SquaredHinge, CategoricalHinge)}
# Keras' string names: each loss function's name ("mean_absolute_error", "huber",
# "kl_divergence" ...) and the short aliases of keras.losses.get ("mae", "kld" ...)
_ALIASES = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "huber": Huber,
    "log_cosh": LogCosh, "logcosh": LogCosh,  # "logcosh": Keras 2's name
    "kl_divergence": KLDivergence, "kld": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "poisson": Poisson,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
}


def get(identifier):
    """A Loss from an instance, a Keras name (``"sparse_categorical_crossentropy"``,
    ``"mse"`` ...) or a class."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]()
    if isinstance(identifier, str):
        raise unknown_name_error("loss", identifier, _ALIASES)
    raise TypeError(f"loss must be a densefit.losses.Loss or a name such as "
                    f"'sparse_categorical_crossentropy', got {identifier!r}")


def serialize(loss):
    """``{"class_name": ..., "config": ...}``: the class and its arguments."""
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config):
    """The loss ``serialize`` described; also densefit 1.0's flat form
    ``{"class_name": ..., "from_logits": ...}``."""
    config = dict(config)
    cls = _CLASSES.get(config.pop("class_name", None))
    if cls is None:
        raise ValueError(f"unknown loss in config: {config!r}")
    return cls.from_config(config["config"] if "config" in config else config)


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
