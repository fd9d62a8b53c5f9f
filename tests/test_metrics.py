"""densefit.metrics: which accuracy ``"accuracy"`` resolves to for each loss and
output count, its threshold (0 on logits, 0.5 on probabilities: a documented
difference from Keras), mismatches and unknown names; then the accuracies a
compiled model reports against the NumPy oracle."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from densefit import Sequential, _core, metrics, reference
from densefit.layers import Dense
from densefit.losses import (BinaryCrossentropy, CategoricalCrossentropy, MeanSquaredError,
                             SparseCategoricalCrossentropy)

SPARSE, SPARSE_LOGITS = SparseCategoricalCrossentropy(), SparseCategoricalCrossentropy(True)
CE, CE_LOGITS = CategoricalCrossentropy(), CategoricalCrossentropy(True)
BCE, BCE_LOGITS = BinaryCrossentropy(), BinaryCrossentropy(True)
MSE = MeanSquaredError()


@pytest.mark.parametrize("name", ["accuracy", "acc", "Accuracy", "ACC"])
@pytest.mark.parametrize("loss, outputs, logits, kind, threshold", [
    (SPARSE, 10, True, "sparse_accuracy", 0.5),           # fused softmax output
    (SPARSE, 10, False, "sparse_accuracy", 0.5),
    (SPARSE_LOGITS, 10, True, "sparse_accuracy", 0.5),
    (SPARSE_LOGITS, 1, True, "sparse_accuracy", 0.5),     # labels decide, not the output count
    (CE, 4, False, "categorical_accuracy", 0.5),
    (CE_LOGITS, 4, True, "categorical_accuracy", 0.5),
    (BCE, 1, True, "binary_accuracy", 0.0),               # sigmoid output trained fused
    (BCE, 1, False, "binary_accuracy", 0.5),              # probabilities from another output
    (BCE, 3, False, "binary_accuracy", 0.5),              # multi-label
    (BCE_LOGITS, 1, True, "binary_accuracy", 0.0),
    (BCE_LOGITS, 5, True, "binary_accuracy", 0.0),
    (MSE, 1, False, "binary_accuracy", 0.5),
    (MSE, 3, False, "categorical_accuracy", 0.5),
], ids=lambda v: repr(v) if not isinstance(v, (int, float, str)) else str(v))
def test_accuracy_resolves_from_loss_and_outputs(name, loss, outputs, logits, kind, threshold):
    metric = metrics.resolve(name, loss, outputs, output_is_logits=logits)
    assert (metric.kind, getattr(metric, "threshold", 0.5)) == (kind, threshold)
    assert metric.name == name  # logged under the name given, as Keras does
    assert metric.kind in _core.METRICS


@pytest.mark.parametrize("name, loss, outputs, logits, kind, threshold", [
    ("sparse_categorical_accuracy", SPARSE_LOGITS, 3, True, "sparse_accuracy", 0.5),
    ("categorical_accuracy", CE, 3, False, "categorical_accuracy", 0.5),
    ("categorical_accuracy", BCE_LOGITS, 3, True, "categorical_accuracy", 0.5),
    ("binary_accuracy", BCE_LOGITS, 2, True, "binary_accuracy", 0.0),
    ("binary_accuracy", BCE, 2, False, "binary_accuracy", 0.5),
    ("binary_accuracy", MSE, 2, False, "binary_accuracy", 0.5),
    ("binary_accuracy", CE, 3, False, "binary_accuracy", 0.5),
])
def test_explicit_names(name, loss, outputs, logits, kind, threshold):
    metric = metrics.resolve(name, loss, outputs, output_is_logits=logits)
    assert (metric.name, metric.kind, getattr(metric, "threshold", 0.5)) == \
        (name, kind, threshold)


@pytest.mark.parametrize("name, loss", [
    ("sparse_categorical_accuracy", CE),
    ("sparse_categorical_accuracy", BCE),
    ("sparse_categorical_accuracy", MSE),
    ("categorical_accuracy", SPARSE),
    ("binary_accuracy", SPARSE_LOGITS),
])
def test_metric_and_loss_mismatch_raises(name, loss):
    with pytest.raises(ValueError, match=f"metric '{name}' does not fit loss"):
        metrics.resolve(name, loss, 3, output_is_logits=False)


def test_unknown_names():
    with pytest.raises(ValueError, match="Unknown metric 'accuracyy'. Did you mean 'accuracy'"):
        metrics.resolve("accuracyy", SPARSE, 3, False)
    with pytest.raises(ValueError, match="Did you mean 'categorical_accuracy'"):
        metrics.resolve("categorical_acuracy", CE, 3, False)
    with pytest.raises(ValueError, match="Unknown metric 'aucc'. Did you mean .*'auc'"):
        metrics.resolve("aucc", BCE, 1, False)


@pytest.mark.parametrize("bad", [None, 1, ["accuracy"]])  # a list inside the list
def test_non_string_metrics_are_a_type_error(bad):
    with pytest.raises(TypeError, match="metrics must be names"):  # or Metric objects
        metrics.resolve(bad, SPARSE, 3, False)


# ------------------------------------------------------------------ what a model reports

# one input; kernel 1, bias 0: the output's pre-activation z equals x
X = np.array([[-1.0], [-0.2], [0.2], [0.4], [0.7], [2.0]])
Y = np.array([0, 0, 1, 1, 1, 1])


def _identity_model(activation, loss, metric="accuracy"):
    model = Sequential([Dense(1, activation=activation, dtype="float64")])
    model.build((None, 1))
    model.set_weights([np.ones((1, 1)), np.zeros(1)])
    model.compile("sgd", loss, metrics=[metric])
    return model


@pytest.mark.parametrize("activation, loss, expected, threshold", [
    ("linear", BCE_LOGITS, 1.0, 0.0),  # logits thresholded at 0 (Keras would use 0.5: 4/6)
    ("sigmoid", BCE, 1.0, 0.0),        # fused: logits at 0, i.e. probabilities at 0.5
    ("sigmoid", MSE, 1.0, 0.5),        # probabilities at 0.5
    ("linear", MSE, 4 / 6, 0.5),       # regression outputs read as probabilities: 0.5
])
def test_binary_accuracy_threshold_in_a_model(activation, loss, expected, threshold):
    model = _identity_model(activation, loss)
    _, accuracy = model.evaluate(X, Y, verbose=0)
    assert_allclose(accuracy, expected, rtol=1e-12)
    out = model.predict(X)
    read = X if threshold == 0.0 else out  # what the metric compares: logits or outputs
    assert_allclose(accuracy, reference.binary_accuracy(read, Y.reshape(-1, 1), threshold),
                    rtol=1e-12)


@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_history_and_evaluate_use_the_name_given(name):
    model = _identity_model("sigmoid", BCE, metric=name)
    history = model.fit(X, Y, epochs=2, verbose=0)
    assert set(history.history) == {"loss", name}
    assert set(model.evaluate(X, Y, verbose=0, return_dict=True)) == {"loss", name}
    assert model.metrics_names == ["loss", name]


@pytest.mark.parametrize("output, loss, targets", [
    ("softmax", SPARSE, "labels"), ("linear", SPARSE_LOGITS, "labels"),
    ("softmax", CE, "onehot"), ("linear", CE_LOGITS, "onehot"),
    ("sigmoid", BCE, "multi"), ("linear", BCE_LOGITS, "multi"),
])
def test_model_accuracy_matches_oracle(output, loss, targets):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 4))
    labels = rng.integers(0, 3, 50)
    y = {"labels": labels, "onehot": reference.one_hot(labels, 3),
         "multi": rng.integers(0, 2, (50, 3)).astype(float)}[targets]
    model = Sequential([Dense(6, activation="relu"), Dense(3, activation=output)])
    model.compile("adam", loss, metrics=["accuracy"])
    _, accuracy = model.evaluate(x, y, verbose=0)
    out = model.predict(x)
    if targets == "labels":
        expected = reference.sparse_accuracy(out, labels)
    elif targets == "onehot":
        expected = reference.categorical_accuracy(out, y)
    else:
        expected = reference.binary_accuracy(out, y, 0.0 if output == "linear" else 0.5)
    assert_allclose(accuracy, expected, rtol=1e-6)


@pytest.mark.parametrize("metric", [metrics.resolve("acc", BCE_LOGITS, 1, True),
                                    metrics.resolve("sparse_categorical_accuracy", SPARSE, 3,
                                                    False),
                                    metrics.resolve("accuracy", CE, 4, False)], ids=repr)
def test_metric_config_round_trip(metric):
    again = metrics.deserialize(metrics.serialize(metric))
    assert again.get_config() == metric.get_config()
    assert (again.name, again.kind) == (metric.name, metric.kind)
    assert repr(again) == repr(metric)


def test_keras_names_map_to_the_cores_kinds():
    for keras_name, cls in metrics._STRINGS.items():
        assert cls.kind in _core.METRICS
        assert isinstance(metrics.get(keras_name), cls)


@pytest.mark.parametrize("make, match", [
    (lambda: metrics.BinaryAccuracy(name=3), "name must be a string, got 3"),
    (lambda: metrics.BinaryAccuracy(threshold=float("nan")),
     "threshold must be a finite number, got nan"),
    (lambda: metrics.Precision(thresholds=1.5), "thresholds must be"),
    (lambda: metrics.AUC(num_thresholds=1), "num_thresholds must be"),
    (lambda: metrics.AUC(curve="XY"), "curve must be one of"),
    (lambda: metrics.F1Score(average="mean"), "average must be one of"),
])
def test_metric_checks_its_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
