"""Metrics: the accuracies Keras offers, computed by the compiled core as it trains.

``"accuracy"`` (or ``"acc"``, in any case) picks the right one from the loss:
sparse categorical accuracy for integer labels, binary accuracy for binary
cross-entropy (and single-output MSE), categorical otherwise.  Keras picks from
shapes; the two differ only for binary cross-entropy with several outputs, where
Keras picks categorical accuracy and binary accuracy is the right one.  Like
Keras, it is logged under the name given (``metrics=["acc"]`` logs ``"acc"``).

Unlike Keras, binary accuracy thresholds the model's *logits* at 0 when the
output is logits (``from_logits=True``, or a sigmoid output trained through
the fused kernel): Keras compares logits with 0.5 and reports a wrong
accuracy (tensorflow/tensorflow#41413).  Probabilities are thresholded at 0.5.
"""
from . import _core, losses
from .utils import unknown_name_error

_EXPLICIT = {
    "sparse_categorical_accuracy": "sparse_accuracy",
    "categorical_accuracy": "categorical_accuracy",
    "binary_accuracy": "binary_accuracy",
}
_AUTO = ("accuracy", "acc")


class Metric:
    """A resolved metric: the name it is logged under and the core's code and threshold."""

    def __init__(self, name, kind, threshold):
        self.name, self.kind, self.threshold = name, kind, threshold

    @property
    def code(self):
        return _core.METRICS[self.kind]

    def __repr__(self):
        return f"Metric({self.name!r}, {self.kind!r}, threshold={self.threshold})"


def resolve(identifier, loss, outputs, output_is_logits):
    """The Metric for a name from ``compile(metrics=[...])``, given the loss, the
    number of outputs and whether the values it will read are logits."""
    if not isinstance(identifier, str):
        raise TypeError(f"metrics must be names such as 'accuracy', got {identifier!r}")
    name = identifier  # logged under the name given, as Keras does ("acc" stays "acc")
    if identifier.lower() in _AUTO:
        if isinstance(loss, losses.SparseCategoricalCrossentropy):
            kind = "sparse_accuracy"
        elif isinstance(loss, losses.BinaryCrossentropy) or outputs == 1:
            kind = "binary_accuracy"
        else:
            kind = "categorical_accuracy"
    elif identifier in _EXPLICIT:
        kind = _EXPLICIT[identifier]
    else:
        raise unknown_name_error("metric", identifier, list(_AUTO) + list(_EXPLICIT))
    if (kind == "sparse_accuracy") != loss.labels:
        raise ValueError(f"metric {identifier!r} does not fit loss {type(loss).__name__}: "
                         f"sparse_categorical_accuracy goes with integer labels "
                         f"(SparseCategoricalCrossentropy), the others with dense targets")
    threshold = 0.0 if (kind == "binary_accuracy" and output_is_logits) else 0.5
    return Metric(name, kind, threshold)
