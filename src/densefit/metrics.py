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
from . import _core, losses, missing, validation
from .utils import unknown_name_error

# the core's metric kinds (keys of _core.METRICS), and Keras' names for them
SPARSE, CATEGORICAL, BINARY = "sparse_accuracy", "categorical_accuracy", "binary_accuracy"
_KERAS_NAMES = {"sparse_categorical_accuracy": SPARSE, "categorical_accuracy": CATEGORICAL,
                "binary_accuracy": BINARY}
_AUTO = ("accuracy", "acc")  # names whose kind is chosen from the loss


class Metric:
    """A resolved metric: the name it is logged under, the core's kind and the
    threshold binary accuracy compares outputs with.

    Args:
        name: the name in the logs (the one given to ``compile``).
        kind: one of the core's metric kinds, ``_core.METRICS``' keys.
        threshold: a finite number: 0.5 for probabilities, 0 for logits.
    """

    def __init__(self, name, kind, threshold=0.5):
        self.name = validation.string(name, "name", allow_none=False)
        self.kind = validation.one_of(kind, "kind", tuple(_core.METRICS))
        self.threshold = validation.real(threshold, "threshold")

    @property
    def code(self):
        return _core.METRICS[self.kind]

    def get_config(self):
        return {"name": self.name, "kind": self.kind, "threshold": self.threshold}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"Metric({self.name!r}, {self.kind!r}, threshold={self.threshold})"


def resolve(identifier, loss, outputs, output_is_logits):
    """The Metric for a name from ``compile(metrics=[...])``, given the loss, the
    number of outputs and whether the values it will read are logits."""
    if not isinstance(identifier, str):
        raise TypeError(f"metrics must be names such as 'accuracy', got {identifier!r}")
    if identifier.lower() in _AUTO:
        if loss.labels:
            kind = SPARSE
        elif isinstance(loss, losses.BinaryCrossentropy) or outputs == 1:
            kind = BINARY
        else:
            kind = CATEGORICAL
    elif identifier in _KERAS_NAMES:
        kind = _KERAS_NAMES[identifier]
    else:
        raise unknown_name_error("metric", identifier, list(_AUTO) + list(_KERAS_NAMES))
    if (kind == SPARSE) != loss.labels:
        raise ValueError(f"metric {identifier!r} does not fit loss {type(loss).__name__}: "
                         f"sparse_categorical_accuracy goes with integer labels "
                         f"(SparseCategoricalCrossentropy), the others with dense targets")
    threshold = 0.0 if (kind == BINARY and output_is_logits) else 0.5
    # logged under the name given, as Keras does ("acc" stays "acc")
    return Metric(identifier, kind, threshold)


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
