"""Metrics: Keras' stateful metric objects, accumulated by the compiled core.

Each metric keeps a few float64 numbers of state (a mean metric its weighted
sum and count; a confusion metric TP/FP/TN/FN per threshold; F1Score per-class
counts).  The compiled loop adds each batch to that state (``_core.Objective``'s
metrics, ``csrc/kernels_impl.h``'s ``df_metrics_update``); ``result_of(state)``
turns it into Keras' value.  On their own, ``update_state``, ``result`` and
``reset_state`` run the same kernel.

``"accuracy"`` (or ``"acc"``, in any case) picks the right accuracy from the
loss: sparse categorical accuracy for integer labels, binary accuracy for
binary cross-entropy (and single-output MSE), categorical otherwise.  Keras
picks from shapes; the two differ only for binary cross-entropy with several
outputs, where Keras picks categorical accuracy and binary accuracy is the
right one.  Like Keras, a string is logged under the name given.

Unlike Keras, binary accuracy named by a string thresholds the model's
*logits* at 0 when the output is logits (``from_logits=True``, or a sigmoid
output trained through the fused kernel): Keras compares logits with 0.5 and
reports a wrong accuracy (tensorflow/tensorflow#41413).
"""
import math

import numpy as np

from . import _core, backend, losses, missing, validation
from .utils import unknown_name_error

EPSILON = 1e-7  # Keras' backend.epsilon(), in F1Score's and the errors' formulas
NEG_INF = -1e10  # Keras' metrics_utils.NEG_INF: a top_k filter's dropped outputs (DF_NEG_INF)


class Metric:
    """Base: a name, state the compiled core adds batches to, and Keras'
    ``update_state(y_true, y_pred, sample_weight=None)``, ``result()`` and
    ``reset_state()``.  A subclass names its core ``kind`` and turns state into
    its value in ``result_of``."""
    kind = None                  # a key of _core.METRICS
    reads_probabilities = False  # True: a fused output's activation is applied first
    labels = False               # True: reads integer labels (sparse metrics)

    def __init__(self, name=None, dtype=None):
        self.name = validation.string(name, "name") or backend.unique_name(
            backend.snake_case(type(self).__name__))
        self.dtype = dtype
        self._outputs, self._objective, self._state = None, None, None

    def spec(self, outputs):
        """The core's description (a dict for ``_core.Objective(metrics=...)``)."""
        return {"kind": _core.METRICS[self.kind],
                "reads_probabilities": self.reads_probabilities}

    def state_size(self, outputs):
        return 2  # mean metrics: (weighted sum, weight)

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds a batch: ``y_pred`` the model's outputs (probabilities, as Keras'
        metrics read them), ``y_true`` labels or targets like it."""
        y_pred = np.asarray(y_pred)
        y_pred = np.ascontiguousarray(
            y_pred.reshape(len(y_pred), -1) if y_pred.ndim != 1 else y_pred[:, None],
            dtype=y_pred.dtype if y_pred.dtype in (np.float32, np.float64) else np.float64)
        y_true = _targets(y_true, y_pred, self.labels)
        if self._outputs != y_pred.shape[1]:
            self._build(y_pred.shape[1])
        _core.update_metrics(self._objective, y_pred, y_true, sample_weight, self._state)

    def _build(self, outputs):
        spec = dict(self.spec(outputs), weighted=True)
        loss = _core.LOSSES["sparse_ce_logits" if self.labels else "mse"]
        self._objective = _core.Objective(loss, False, 0, 0.5, metrics=[spec], outputs=outputs)
        self._outputs, self._state = outputs, np.zeros(self._objective.metric_state_size)

    def result(self):
        if self._state is None:
            return self.result_of(np.zeros(self.state_size(1)))
        return self.result_of(self._state)

    def reset_state(self):
        if self._state is not None:
            self._state[:] = 0

    def result_of(self, state):
        return _divide_no_nan(state[0], state[1])

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


def _targets(y_true, y_pred, labels):
    """y_true as the core reads it: int32 labels, or a float matrix like y_pred."""
    y_true = np.asarray(y_true)
    if labels:
        return np.ascontiguousarray(y_true.reshape(len(y_true)), dtype=np.int32)
    return np.ascontiguousarray(y_true.reshape(y_pred.shape), dtype=y_pred.dtype)


def _divide_no_nan(a, b):
    return float(a / b) if b != 0 else 0.0


# ------------------------------------------------------------------ mean metrics

class BinaryAccuracy(Metric):
    """The fraction of outputs on the right side of ``threshold`` (0.5)."""
    kind, reads_probabilities = "binary_accuracy", True

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(name, dtype)
        self.threshold = validation.real(threshold, "threshold")

    def spec(self, outputs):
        return dict(super().spec(outputs), threshold=self.threshold)

    def get_config(self):
        return dict(super().get_config(), threshold=self.threshold)


class CategoricalAccuracy(Metric):
    kind = "categorical_accuracy"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name, dtype)


class SparseCategoricalAccuracy(Metric):
    kind, labels = "sparse_accuracy", True

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)


class TopKCategoricalAccuracy(Metric):
    """Whether the target's class is among the ``k`` (5) largest outputs."""
    kind = "top_k"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(name, dtype)
        self.k = validation.integer(k, "k")

    def spec(self, outputs):
        return dict(super().spec(outputs), k=self.k)

    def get_config(self):
        return dict(super().get_config(), k=self.k)


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    kind, labels = "sparse_top_k", True

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(k, name, dtype)


class MeanAbsoluteError(Metric):
    kind, reads_probabilities = "abs_error", True

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(name, dtype)


class MeanSquaredError(Metric):
    kind, reads_probabilities = "squared_error", True

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(name, dtype)


class RootMeanSquaredError(Metric):
    """The root of the mean squared error (Keras' formula: of the whole mean)."""
    kind, reads_probabilities = "squared_error", True

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def result_of(self, state):
        return math.sqrt(_divide_no_nan(state[0], state[1]))


class MeanAbsolutePercentageError(Metric):
    kind, reads_probabilities = "percent_error", True

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(name, dtype)


class MeanSquaredLogarithmicError(Metric):
    kind, reads_probabilities = "squared_log_error", True

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(name, dtype)


class LossMetric(Metric):
    """A ``losses.Loss`` as a metric: the mean of its per-sample values (what
    ``compile(metrics=[losses.Huber()])`` makes; named after the loss)."""
    kind = "loss"

    def __init__(self, loss, name=None, dtype=None):
        self.loss = losses.get(loss)
        super().__init__(name or self.loss.name, dtype)
        self.labels = self.loss.labels
        self.fused_activation = None  # the model's fused output activation, set by resolve

    def spec(self, outputs):
        code, fused = self.loss.kernel_for(self.fused_activation)
        objective = _core.Objective(code, fused, 0, 0.5, **self.loss.core_options())
        return {"kind": _core.METRICS["loss"], "loss": objective,
                "reads_probabilities": not fused}

    def get_config(self):
        return dict(super().get_config(), loss=losses.serialize(self.loss))

    @classmethod
    def from_config(cls, config):
        return cls(losses.deserialize(config.pop("loss")), **config)


class _CrossentropyMetric(LossMetric):
    """Keras' probabilistic metrics (``keras.metrics.BinaryCrossentropy``, ...):
    the mean of the loss of the same name, with that loss's ``from_logits`` and
    ``label_smoothing`` (Keras' signature: name first)."""
    loss_class = None

    def __init__(self, name=None, dtype=None, axis=None, **loss_arguments):
        if axis not in (None, -1, 1):
            raise ValueError(f"axis={axis!r} is not supported: densefit's outputs are 2-d "
                             f"(samples, classes); use axis=-1")
        self.loss_arguments = loss_arguments if axis is None else dict(loss_arguments, axis=axis)
        super().__init__(self.loss_class(**loss_arguments), name, dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, **self.loss_arguments}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class BinaryCrossentropy(_CrossentropyMetric):
    loss_class = losses.BinaryCrossentropy

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0):
        super().__init__(name, dtype, from_logits=from_logits, label_smoothing=label_smoothing)


class CategoricalCrossentropy(_CrossentropyMetric):
    loss_class = losses.CategoricalCrossentropy

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0, axis=-1):
        super().__init__(name, dtype, from_logits=from_logits, label_smoothing=label_smoothing,
                         axis=axis)


class SparseCategoricalCrossentropy(_CrossentropyMetric):
    loss_class = losses.SparseCategoricalCrossentropy

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 ignore_class=None, axis=-1):
        super().__init__(name, dtype, from_logits=from_logits, ignore_class=ignore_class,
                         axis=axis)


# ------------------------------------------------------------------ confusion metrics

class _Confusion(Metric):
    """TP, FP, TN, FN at each of ``thresholds`` (an output above one is predicted
    positive, a target not 0 is positive); ``class_id``: one output only."""
    kind, reads_probabilities = "confusion", True

    def __init__(self, thresholds=None, name=None, dtype=None, class_id=None):
        super().__init__(name, dtype)
        self.init_thresholds = thresholds
        values = [0.5] if thresholds is None else np.atleast_1d(thresholds).tolist()
        self.thresholds = [validation.real(t, "thresholds", low=0, high=1) for t in values]
        self.class_id = None if class_id is None else validation.integer(class_id, "class_id",
                                                                         low=0)

    def spec(self, outputs):
        if self.class_id is not None and self.class_id >= outputs:
            raise ValueError(f"{self.name}: class_id={self.class_id} but the predictions have "
                             f"{outputs} output{'s' if outputs != 1 else ''} (class_id counts "
                             f"outputs from 0): use a class_id below {outputs}")
        return dict(super().spec(outputs), thresholds=self.thresholds, class_id=self.class_id)

    def state_size(self, outputs):
        return 4 * len(self.thresholds)

    def counts(self, state):
        """(tp, fp, tn, fn), each an array over the thresholds."""
        return tuple(np.asarray(state).reshape(-1, 4).T)

    def one_or_all(self, values):
        """Keras' result: a number for one threshold given as a number, else a list."""
        if self.init_thresholds is None or np.ndim(self.init_thresholds) == 0:
            return float(values[0])
        return [float(v) for v in values]

    def get_config(self):
        return dict(super().get_config(), thresholds=self.init_thresholds,
                    class_id=self.class_id)


def _ratio(a, b):
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b != 0)


class TruePositives(_Confusion):
    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds, name, dtype)

    def result_of(self, state):
        return self.one_or_all(self.counts(state)[0])

    def get_config(self):
        return {k: v for k, v in super().get_config().items() if k != "class_id"}


class FalsePositives(TruePositives):
    def result_of(self, state):
        return self.one_or_all(self.counts(state)[1])


class TrueNegatives(TruePositives):
    def result_of(self, state):
        return self.one_or_all(self.counts(state)[2])


class FalseNegatives(TruePositives):
    def result_of(self, state):
        return self.one_or_all(self.counts(state)[3])


class Precision(_Confusion):
    """TP / (TP + FP) at ``thresholds`` (0.5); ``top_k``: only each row's k
    largest outputs can be predicted positive (the others read as Keras'
    NEG_INF, -1e10), with no threshold given, all of them are."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(thresholds, name, dtype, class_id)
        self.top_k = None if top_k is None else validation.integer(top_k, "top_k", low=1)
        if top_k is not None and thresholds is None:
            self.thresholds = [NEG_INF]

    def spec(self, outputs):
        return dict(super().spec(outputs), k=self.top_k or 0)

    def get_config(self):
        return dict(super().get_config(), top_k=self.top_k)

    def result_of(self, state):
        tp, fp, _, _ = self.counts(state)
        return self.one_or_all(_ratio(tp, tp + fp))


class Recall(Precision):
    """TP / (TP + FN) at ``thresholds`` (0.5); ``top_k`` as Precision's."""

    def result_of(self, state):
        tp, _, _, fn = self.counts(state)
        return self.one_or_all(_ratio(tp, tp + fn))


def _rates(tp, fp, tn, fn):
    """Sensitivity (recall), specificity and precision at each threshold."""
    return {"sensitivity": _ratio(tp, tp + fn), "specificity": _ratio(tn, tn + fp),
            "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn)}


class _AtConstraint(_Confusion):
    """Keras' SensitivitySpecificityBase: counts at ``num_thresholds`` (200)
    thresholds ``0, 1/(n-1), ..., 1`` (one: 0.5); the result is the largest
    ``dependent`` rate among the thresholds whose ``constrained`` rate is at
    least the value given (0 when none is)."""
    constrained = dependent = None  # names of _rates

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        num = validation.integer(num_thresholds, "num_thresholds", low=1)
        thresholds = [0.5] if num == 1 else \
            [0.0] + [(i + 1) / (num - 1) for i in range(num - 2)] + [1.0]
        super().__init__(thresholds, name, dtype, class_id)
        self.value = validation.real(value, self.constrained, low=0, high=1)

    def result_of(self, state):
        rates = _rates(*self.counts(state))
        feasible = rates[self.constrained] >= self.value
        return float(np.max(rates[self.dependent][feasible], initial=0.0))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, self.constrained: self.value,
                "num_thresholds": len(self.thresholds), "class_id": self.class_id}


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity at a threshold whose specificity is >= ``specificity``."""
    constrained, dependent = "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity at a threshold whose sensitivity is >= ``sensitivity``."""
    constrained, dependent = "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtConstraint):
    """The best precision at a threshold whose recall is >= ``recall``."""
    constrained, dependent = "recall", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtConstraint):
    """The best recall at a threshold whose precision is >= ``precision``."""
    constrained, dependent = "precision", "recall"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)


class AUC(_Confusion):
    """The area under the ROC or PR curve from ``num_thresholds`` (200) evenly
    spaced thresholds (the first just below 0, the last just above 1), summed
    as Keras does (``"interpolation"``; PR with its interpolation of precision
    between thresholds).  Outputs are pooled, or with ``multi_label`` each has
    its curve and the result is their mean, weighted by ``label_weights``.
    Keras' ``label_weights`` without ``multi_label`` and ``from_logits`` are
    not supported."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None):
        num = validation.integer(num_thresholds, "num_thresholds", low=2)
        inner = ([(i + 1) / (num - 1) for i in range(num - 2)] if thresholds is None
                 else sorted(float(t) for t in np.atleast_1d(thresholds)))
        super().__init__([0.0] + inner + [1.0], name, dtype)
        self.thresholds = [-EPSILON] + inner + [1 + EPSILON]
        self.num_thresholds = len(self.thresholds)
        self.curve = validation.one_of(str(curve).upper(), "curve", ("ROC", "PR"))
        self.summation_method = validation.one_of(
            summation_method, "summation_method", ("interpolation", "minoring", "majoring"))
        self.init_thresholds = None if thresholds is None else inner
        self._labels(multi_label, num_labels, label_weights)

    def _labels(self, multi_label, num_labels, label_weights):
        """Keras' multi_label, num_labels (None: the model's outputs) and label_weights."""
        self.multi_label = validation.boolean(multi_label, "multi_label")
        self.num_labels = None if num_labels is None else validation.integer(
            num_labels, "num_labels", low=1)
        self.label_weights = None if label_weights is None else [
            validation.real(w, "label_weights", low=0) for w in np.ravel(label_weights)]
        if self.label_weights is not None and not self.multi_label:
            raise NotImplementedError("AUC(label_weights=...) without multi_label=True is not "
                                      "supported: pass multi_label=True to weight each "
                                      "output's AUC in the mean")

    def spec(self, outputs):
        labels = self.num_labels or (len(self.label_weights) if self.label_weights else None)
        if self.multi_label and labels not in (None, outputs):
            raise ValueError(f"AUC's num_labels/label_weights are for {labels} outputs, the "
                             f"model has {outputs}: give one per output")
        return dict(super().spec(outputs), per_output=self.multi_label)

    def state_size(self, outputs):
        return super().state_size(outputs) * (outputs if self.multi_label else 1)

    def result_of(self, state):
        if not self.multi_label:
            return self.curve_area(state)
        blocks = np.asarray(state).reshape(-1, 4 * self.num_thresholds)
        areas = np.array([self.curve_area(block) for block in blocks])
        weights = np.ones(len(areas)) if self.label_weights is None else \
            np.array(self.label_weights)
        return float(_divide_no_nan(np.sum(areas * weights), np.sum(weights)))

    def curve_area(self, state):
        """The area under one curve from its counts at the thresholds."""
        tp, fp, tn, fn = self.counts(state)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return _interpolate_pr_auc(tp, fp, fn)
        recall = _ratio(tp, tp + fn)
        x, y = (_ratio(fp, fp + tn), recall) if self.curve == "ROC" else \
            (recall, _ratio(tp, tp + fp))
        pair = {"interpolation": lambda a, b: (a + b) / 2, "minoring": np.minimum,
                "majoring": np.maximum}[self.summation_method]
        return float(np.sum((x[:-1] - x[1:]) * pair(y[:-1], y[1:])))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "num_thresholds": self.num_thresholds,
                "curve": self.curve, "summation_method": self.summation_method,
                "thresholds": self.init_thresholds, "multi_label": self.multi_label,
                "num_labels": self.num_labels, "label_weights": self.label_weights}


def _interpolate_pr_auc(tp, fp, fn):
    """Keras' AUC.interpolate_pr_auc: precision interpolated between thresholds
    (Davis & Goadrich), the area summed over the intervals."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    dp = p[:-1] - p[1:]
    slope = _ratio(dtp, np.maximum(dp, 0))
    intercept = tp[1:] - slope * p[1:]
    both = (p[:-1] > 0) & (p[1:] > 0)
    ratio = np.where(both, _ratio(p[:-1], np.maximum(p[1:], 0)), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        increment = _ratio(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
    return float(np.sum(increment))


class F1Score(Metric):
    """Keras' F1Score: per output TP, FP, FN, an output predicted when above
    ``threshold``, or (None) when it is its row's largest; ``average`` None (a
    value per output), "micro", "macro" or "weighted"."""
    kind, reads_probabilities = "class_counts", True
    beta = 1.0

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(name, dtype)
        self.average = None if average is None else validation.one_of(
            average, "average", ("micro", "macro", "weighted"))
        self.threshold = None if threshold is None else validation.real(
            threshold, "threshold", low=0, high=1)

    def spec(self, outputs):
        return dict(super().spec(outputs),
                    threshold=math.nan if self.threshold is None else self.threshold)

    def state_size(self, outputs):
        return 4 * outputs

    def result_of(self, state):
        tp, fp, fn, support = np.asarray(state, dtype=np.float64).reshape(4, -1)
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        b2 = self.beta ** 2
        f = precision * recall / (b2 * precision + recall + EPSILON) * (1 + b2)
        if self.average == "weighted":
            return float(np.sum(f * support / (support.sum() + EPSILON)))
        if self.average is not None:
            return float(np.mean(f))
        return f

    def get_config(self):
        return dict(super().get_config(), average=self.average, threshold=self.threshold)


# ------------------------------------------------------------------ resolving compile's metrics

_AUTO = ("accuracy", "acc")  # names whose kind is chosen from the loss
_CLASSES = {cls.__name__: cls for cls in (
    BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError,
    MeanAbsolutePercentageError, MeanSquaredLogarithmicError, TruePositives, FalsePositives,
    TrueNegatives, FalseNegatives, Precision, Recall, AUC, F1Score, BinaryCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy, SensitivityAtSpecificity,
    SpecificityAtSensitivity, PrecisionAtRecall, RecallAtPrecision)}
_NAMED = {n: c for n, c in _CLASSES.items() if not issubclass(c, _AtConstraint)}  # no strings:
_STRINGS = {**{backend.snake_case(n): c for n, c in _NAMED.items()}, **_NAMED,  # need a value
            "mae": MeanAbsoluteError, "mse": MeanSquaredError, "rmse": RootMeanSquaredError,
            "mape": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError,
            "auc": AUC, "f1_score": F1Score}


def get(identifier):
    """A Metric for a Keras name or class name, or the Metric itself."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, losses.Loss):
        return LossMetric(identifier)
    if isinstance(identifier, str) and identifier in _STRINGS:
        return _STRINGS[identifier](name=identifier)
    if isinstance(identifier, str):
        raise unknown_name_error("metric", identifier,
                                 list(_AUTO) + sorted(k for k in _STRINGS if k.islower()))
    raise TypeError(f"metrics must be names such as 'accuracy' or Metric objects, "
                    f"got {identifier!r}")


def serialize(metric):
    """compile's metric entry as plain data: a string stays as it is."""
    if isinstance(metric, str):
        return metric
    if isinstance(metric, losses.Loss):
        metric = LossMetric(metric)
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config):
    if isinstance(config, str):
        return config
    cls = {**_CLASSES, "LossMetric": LossMetric}.get(config["class_name"])
    if cls is None:
        raise unknown_name_error("metric", config["class_name"], sorted(_CLASSES))
    return cls.from_config(dict(config["config"]))


def from_compile(config):
    """(metrics, weighted_metrics) from a compile config (saving.py's)."""
    return [[deserialize(m) for m in config.get(key) or ()]
            for key in ("metrics", "weighted_metrics")]


def resolve(identifier, loss, outputs, output_is_logits, fused_activation=None):
    """The Metric for an entry of ``compile(metrics=[...])``, given the loss, the
    number of outputs, whether the values it reads are logits and the output
    activation the compiled loop leaves to the loss (fused; None if not)."""
    if isinstance(identifier, str) and identifier.lower() in _AUTO:
        cls = (SparseCategoricalAccuracy if loss.labels else
               BinaryAccuracy if isinstance(loss, losses.BinaryCrossentropy) or outputs == 1
               else CategoricalAccuracy)
        metric = cls(name=identifier)
    else:
        metric = get(identifier)
    if isinstance(metric, LossMetric):
        metric.fused_activation = fused_activation
    if metric.labels != loss.labels:
        raise ValueError(f"metric {metric.name!r} does not fit loss {type(loss).__name__}: "
                         f"sparse metrics go with integer labels (SparseCategoricalCrossentropy"
                         f"), the others with dense targets")
    if isinstance(identifier, str) and type(metric) is BinaryAccuracy and output_is_logits:
        metric.threshold, metric.reads_probabilities = 0.0, False  # logits: threshold 0
    return metric


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
