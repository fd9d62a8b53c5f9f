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
    (lambda: metrics.Precision(top_k=0), "top_k must be"),
    (lambda: metrics.AUC(num_thresholds=1), "num_thresholds must be"),
    (lambda: metrics.AUC(multi_label=True, label_weights=[1, -1]), "label_weights must be"),
    (lambda: metrics.AUC(curve="XY"), "curve must be one of"),
    (lambda: metrics.F1Score(average="mean"), "average must be one of"),
])
def test_metric_checks_its_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ------------------------------------------------------------------ objects on their own (issue 11)

RNG = np.random.default_rng(11)
P = RNG.random((40, 3))
T = (RNG.random((40, 3)) > 0.6).astype(float)
W = RNG.random(40)


def _keras_auc(tp, fp, tn, fn, curve):
    """Keras' AUC.result for ROC and PR with interpolation, written out."""
    if curve == "ROC":
        x, y = fp / np.maximum(fp + tn, 1e-300), tp / np.maximum(tp + fn, 1e-300)
        return np.sum((x[:-1] - x[1:]) * (y[:-1] + y[1:]) / 2)
    dtp, p = tp[:-1] - tp[1:], tp + fp
    dp = p[:-1] - p[1:]
    slope = np.where(dp > 0, dtp / np.where(dp > 0, dp, 1), 0)
    intercept = tp[1:] - slope * p[1:]
    ratio = np.where((p[:-1] > 0) & (p[1:] > 0), p[:-1] / np.where(p[1:] > 0, p[1:], 1), 1)
    pos = tp[1:] + fn[1:]
    return np.sum(np.where(pos > 0, slope * (dtp + intercept * np.log(ratio)) /
                           np.where(pos > 0, pos, 1), 0))


def _counts(thresholds, p=P, t=T, w=None):
    w = np.ones(len(p)) if w is None else w
    state = reference.metric_state("confusion", p, t, w, thresholds=thresholds)
    return state.reshape(-1, 4).T


def test_mean_metrics_on_their_own():
    err = T - P
    cases = [(metrics.MeanAbsoluteError(), np.abs(err).mean()),
             (metrics.MeanSquaredError(), (err ** 2).mean()),
             (metrics.RootMeanSquaredError(), np.sqrt((err ** 2).mean())),
             (metrics.MeanAbsolutePercentageError(),
              (100 * np.abs(err) / np.maximum(np.abs(T), 1e-7)).mean()),
             (metrics.MeanSquaredLogarithmicError(),
              ((np.log(P + 1) - np.log(np.maximum(T, 1e-7) + 1)) ** 2).mean()),
             (metrics.BinaryAccuracy(), ((P > 0.5) == T).mean()),
             (metrics.CategoricalAccuracy(), (P.argmax(1) == T.argmax(1)).mean()),
             (metrics.TopKCategoricalAccuracy(k=2), None)]
    for metric, expected in cases[:-1]:
        metric.update_state(T[:15], P[:15])
        metric.update_state(T[15:], P[15:])  # batches accumulate
        assert_allclose(metric.result(), expected, rtol=1e-12)
        metric.reset_state()
        assert metric.result() == 0.0


def test_sparse_and_top_k_accuracies():
    labels = RNG.integers(0, 3, 40)
    metric = metrics.SparseTopKCategoricalAccuracy(k=1)
    metric.update_state(labels, P)
    assert_allclose(metric.result(), (P.argmax(1) == labels).mean())
    metric = metrics.SparseCategoricalAccuracy()
    metric.update_state(labels, P, sample_weight=W)  # on its own, weights apply
    assert_allclose(metric.result(), (W * (P.argmax(1) == labels)).sum() / W.sum())


@pytest.mark.parametrize("cls, pick", [
    (metrics.TruePositives, lambda tp, fp, tn, fn: tp), (metrics.FalsePositives,
                                                         lambda tp, fp, tn, fn: fp),
    (metrics.TrueNegatives, lambda tp, fp, tn, fn: tn), (metrics.FalseNegatives,
                                                         lambda tp, fp, tn, fn: fn),
    (metrics.Precision, lambda tp, fp, tn, fn: tp / (tp + fp)),
    (metrics.Recall, lambda tp, fp, tn, fn: tp / (tp + fn)),
])
def test_confusion_metrics(cls, pick):
    metric = cls()
    metric.update_state(T, P)
    assert_allclose(metric.result(), pick(*_counts([0.5]))[0], rtol=1e-12)
    several = cls(thresholds=[0.3, 0.7])
    several.update_state(T, P)
    assert_allclose(several.result(), pick(*_counts([0.3, 0.7])), rtol=1e-12)


def test_precision_and_recall_top_k():
    """Keras' docstring examples: only each row's top_k outputs can be predicted
    positive; without thresholds, all of them are."""
    precision = metrics.Precision(top_k=2)
    precision.update_state([[0, 0, 1, 1]], [[1, 1, 1, 1]])  # ties: the first two outputs
    assert_allclose(precision.result(), 0.0)
    recall = metrics.Recall(top_k=2)
    recall.update_state([[0, 0, 1, 1]], [[0.4, 0.3, 0.2, 0.1]])
    assert_allclose(recall.result(), 0.0)
    recall.update_state([[0, 1, 1, 0]], [[0.1, 0.3, 0.9, 0.2]])  # both in the top 2
    assert_allclose(recall.result(), 0.5)
    thresholded = metrics.Precision(top_k=2, thresholds=[0.25, 0.35], class_id=1)
    thresholded.update_state([[0, 1, 1, 0]], [[0.1, 0.3, 0.9, 0.2]])
    assert thresholded.result() == [1.0, 0.0]  # 0.3: in the top 2, above 0.25 only


def test_top_k_survives_config():
    metric = metrics.deserialize(metrics.serialize(metrics.Recall(top_k=3, class_id=1)))
    assert (metric.top_k, metric.class_id, metric.thresholds) == (3, 1, [metrics.NEG_INF])
    assert metrics.Precision().get_config()["top_k"] is None


@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_auc_is_keras_approximation(curve):
    metric = metrics.AUC(curve=curve)
    metric.update_state(T, P)
    thresholds = [-1e-7] + [(i + 1) / 199 for i in range(198)] + [1 + 1e-7]
    assert_allclose(metric.result(), _keras_auc(*_counts(thresholds), curve), rtol=1e-12)
    assert 0.3 < metric.result() < 0.7  # random scores


def test_multi_label_auc_is_the_weighted_mean_of_each_outputs_auc():
    weights = [0.5, 2.0, 1.0]
    metric = metrics.AUC(multi_label=True, label_weights=weights)
    metric.update_state(T, P)
    each = []
    for j in range(3):
        alone = metrics.AUC()
        alone.update_state(T[:, j], P[:, j])
        each.append(alone.result())
    assert_allclose(metric.result(), np.dot(each, weights) / np.sum(weights), rtol=1e-12)
    assert not np.isclose(metric.result(), np.mean(each))  # the weights count
    copy = metrics.deserialize(metrics.serialize(metric))
    assert (copy.multi_label, copy.label_weights) == (True, weights)


def test_multi_label_auc_checks_its_labels():
    with pytest.raises(NotImplementedError, match="without multi_label=True"):
        metrics.AUC(label_weights=[1, 2, 3])
    metric = metrics.AUC(multi_label=True, num_labels=2)
    with pytest.raises(ValueError, match="for 2 outputs, the model has 3"):
        metric.update_state(T, P)


def test_f1_score():
    tp, fp, _, fn = _counts([0.5])
    metric = metrics.F1Score(threshold=0.5, average="micro")
    metric.update_state(T, P)
    precision, recall = tp / (tp + fp + 1e-7), tp / (tp + fn + 1e-7)
    assert_allclose(metric.result(), (2 * precision * recall / (precision + recall + 1e-7))[0],
                    rtol=1e-9)
    per_class = metrics.F1Score()  # argmax: one prediction per row
    per_class.update_state(T, P)
    assert per_class.result().shape == (3,)


def test_second_instances_are_numbered():
    first, second = metrics.AUC(), metrics.AUC()
    assert second.name == first.name + "_1" or second.name.startswith("auc_")
    assert metrics.Precision(name="p").name == "p"


# ------------------------------------------------------------------ several metrics in a model

def _data(n=64):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(n, 4))
    return x, (x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(float)


def test_fit_history_and_evaluate_with_several_metrics():
    x, y = _data()
    model = Sequential([Dense(5, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy",
                  metrics=["accuracy", "mae", metrics.AUC(name="auc"),
                           metrics.Precision(name="precision"), MeanSquaredError()])
    names = ["accuracy", "mae", "auc", "precision", "mean_squared_error"]
    assert model.metrics_names == ["loss"] + names
    history = model.fit(x, y, epochs=2, validation_split=0.25, batch_size=7, verbose=0)
    assert set(history.history) == {"loss", *names} | {f"val_{k}" for k in ["loss", *names]}
    result = model.evaluate(x, y, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert result == [logs[k] for k in model.metrics_names]
    p = model.predict(x, verbose=0)[:, 0]
    assert_allclose(logs["accuracy"], ((p > 0.5) == y).mean(), rtol=1e-6)
    assert_allclose(logs["mae"], np.abs(p - y).mean(), rtol=1e-5)
    assert_allclose(logs["mean_squared_error"], ((p - y) ** 2).mean(), rtol=1e-5)
    alone = metrics.AUC()
    alone.update_state(y, p)
    assert_allclose(logs["auc"], alone.result(), rtol=1e-6)


def test_history_is_the_epochs_value_and_sample_weights_apply_to_weighted_metrics_only():
    x, y = _data()
    w = np.linspace(0.1, 2, len(x))
    model = Sequential([Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["mae"], weighted_metrics=["mse"])
    logs = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)[:, 0]
    assert_allclose(logs["mae"], np.abs(p - y).mean(), rtol=1e-6)
    assert_allclose(logs["mse"], (w * (p - y) ** 2).sum() / w.sum(), rtol=1e-6)
    model.compile("sgd", "binary_crossentropy", metrics=["mae"])  # lr 0.01: a step moves little
    history = model.fit(x, y, epochs=1, batch_size=len(x), shuffle=False, verbose=0)
    assert_allclose(history.history["mae"][0], np.abs(p - y).mean(), rtol=1e-6)


def test_compile_config_round_trips_metric_objects():
    model = Sequential([Dense(3, activation="softmax")])
    model.build((None, 4))
    model.compile("adam", "categorical_crossentropy",
                  metrics=["accuracy", metrics.TopKCategoricalAccuracy(k=2, name="top2"),
                           metrics.F1Score(average="macro")])
    config = model.get_compile_config()
    again = Sequential([Dense(3, activation="softmax")])
    again.build((None, 4))
    again.compile_from_config(config)
    assert again.metrics_names == model.metrics_names
    assert again.get_compile_config() == config


@pytest.mark.parametrize("name, loss, targets", [
    ("BinaryCrossentropy", "binary_crossentropy", "binary"),
    ("CategoricalCrossentropy", "categorical_crossentropy", "onehot"),
    ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy", "labels")])
def test_crossentropy_metric_classes_are_the_losses_mean(name, loss, targets):
    """keras.metrics.BinaryCrossentropy & co (the imbalanced-data tutorial's
    metrics list): Keras' names and config, the mean of the loss of that name."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4))
    labels = rng.integers(0, 3, 30)
    y = {"binary": (labels > 0).astype(float)[:, None], "onehot": np.eye(3)[labels],
         "labels": labels}[targets]
    units = 1 if targets == "binary" else 3
    model = Sequential([Dense(units, activation="sigmoid" if units == 1 else "softmax")])
    metric = getattr(metrics, name)()
    assert metric.name == loss
    model.compile(loss=loss, metrics=[metric, getattr(metrics, name)(name="again",
                                                                     from_logits=False)])
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    assert_allclose(result[loss], result["loss"], rtol=1e-6)
    assert_allclose(result["again"], result["loss"], rtol=1e-6)
    config = metric.get_config()
    assert config["name"] == loss and config["from_logits"] is False
    assert type(metrics.deserialize(metrics.serialize(metric))) is type(metric)
    assert metrics.get(loss).name == loss
    with pytest.raises(ValueError, match="axis=0 is not supported"):
        metrics.CategoricalCrossentropy(axis=0)


def test_top_k_precision_in_a_compiled_model_matches_the_object():
    """fit's compiled loop reads Precision/Recall(top_k, class_id) as the object does."""
    rng = np.random.default_rng(5)
    x, labels = rng.normal(size=(40, 4)), rng.integers(0, 4, 40)
    y = np.eye(4)[labels]
    model = Sequential([Dense(4, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy",
                  metrics=[metrics.Precision(top_k=2, name="p2"),
                           metrics.Recall(top_k=1, class_id=3, name="r1"),
                           metrics.AUC(multi_label=True, label_weights=[1, 2, 3, 4]),
                           metrics.PrecisionAtRecall(0.5, class_id=1)])
    _, p2, r1, auc, at = model.evaluate(x, y, batch_size=7, verbose=0)
    out = model.predict(x, verbose=0)
    for value, metric in ((p2, metrics.Precision(top_k=2)),
                          (r1, metrics.Recall(top_k=1, class_id=3)),
                          (auc, metrics.AUC(multi_label=True, label_weights=[1, 2, 3, 4])),
                          (at, metrics.PrecisionAtRecall(0.5, class_id=1))):
        metric.update_state(y, out)
        assert_allclose(value, metric.result(), rtol=1e-6)
    assert 0 < p2 < 0.5  # 2 of 4 outputs predicted, one target each: at most a half


@pytest.mark.parametrize("cls, constrained, dependent", [
    (metrics.SensitivityAtSpecificity, "specificity", "sensitivity"),
    (metrics.SpecificityAtSensitivity, "sensitivity", "specificity"),
    (metrics.PrecisionAtRecall, "recall", "precision"),
    (metrics.RecallAtPrecision, "precision", "recall"),
])
def test_at_constraint_metrics(cls, constrained, dependent):
    """The largest dependent rate among the thresholds 0, 1/20, ..., 1 whose
    constrained rate is at least the value; 0 when none is."""
    thresholds = [i / 20 for i in range(21)]
    rates = metrics._rates(*_counts(thresholds))
    value = float(np.median(rates[constrained]))  # about half the thresholds meet it
    metric = cls(value, num_thresholds=21)
    metric.update_state(T, P)
    feasible = rates[constrained] >= value
    assert 0 < feasible.sum() < 21
    assert_allclose(metric.result(), rates[dependent][feasible].max(), rtol=1e-12)
    assert cls(1.0, num_thresholds=1).result() == 0.0  # nothing counted: no threshold is feasible
    copy = metrics.deserialize(metrics.serialize(metric))
    assert (copy.value, len(copy.thresholds), copy.get_config()[constrained]) == (value, 21, value)
    with pytest.raises(ValueError, match=f"{constrained} must be"):
        cls(1.5)
    with pytest.raises(KeyError):
        metrics._STRINGS[metrics.backend.snake_case(cls.__name__)]  # needs its value: no string


def test_a_class_id_beyond_the_outputs_is_refused_at_compile_and_update():
    # Keras raises an index error; counting nothing would be a silent 0
    from densefit import Input, Sequential, metrics as metrics_module
    from densefit.layers import Dense
    y, p = np.array([[0, 1], [1, 0]]), np.array([[0.2, 0.8], [0.6, 0.4]])
    with pytest.raises(ValueError, match=r"precision(_\d+)?: class_id=3 but the predictions have "
                                         r"2 outputs.*below 2"):
        metrics_module.Precision(class_id=3).update_state(y, p)
    model = Sequential([Input((4,)), Dense(2, activation="sigmoid")])
    with pytest.raises(ValueError, match=r"recall(_\d+)?: class_id=2 but the predictions have 2"):
        model.compile("adam", "binary_crossentropy",
                      metrics=[metrics_module.Recall(class_id=2)])
    last = metrics_module.Precision(class_id=1)
    last.update_state(y, p)
    assert last.result() == 1.0
