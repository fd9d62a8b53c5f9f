"""densefit.sklearn: scikit-learn's own estimator checks on both estimators; their
place in Pipeline, GridSearchCV and cross_val_score with joblib processes; MLP's
parameters, attributes and stopping rules (against MLPClassifier where they can be
compared); targets of every kind; pickling through densefit's file format; the
lazy import and its message."""
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import densefit  # noqa: E402
from densefit import datasets, optimizers  # noqa: E402
from densefit.sklearn import DenseClassifier, DenseRegressor  # noqa: E402

# fits of a few epochs on small data are the point of most tests: MLP's warning is noise
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# check name -> why it is expected to fail: none is (both estimators pass every check)
EXPECTED_FAILED_CHECKS = {}


@pytest.fixture(scope="module")
def digits():
    """The bundled digits as scikit-learn uses them: 64 features of 0-16, ``(X_train,
    y_train, X_test, y_test)`` (1437 and 360 samples)."""
    (x_train, y_train), (x_test, y_test) = datasets.load_digits()
    return (x_train.reshape(len(x_train), -1).astype(np.float64), y_train,
            x_test.reshape(len(x_test), -1).astype(np.float64), y_test)


def _activation(model, index):
    """The name of the activation of ``model``'s layer ``index``."""
    return model.get_config()["layers"][index]["config"]["activation"]["name"]


def _small(digits, n=400):
    """The first ``n`` training digits scaled to [0, 1]: fast to fit."""
    X, y = digits[0][:n] / 16, digits[1][:n]
    return X, y


@parametrize_with_checks([DenseClassifier(), DenseRegressor()],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 200 epochs on tiny data
        check(estimator)


def test_import_densefit_does_not_import_sklearn():
    code = "import sys, densefit; assert 'sklearn' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_scikit_learn_the_error_names_the_extra():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "try:\n    import densefit.sklearn\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert 'pip install "densefit[sklearn]"' in out and "scikit-learn" in out


def test_keras_wrappers_point_here():
    with pytest.raises(AttributeError, match=r"densefit\.sklearn\.DenseClassifier"):
        densefit.wrappers


def test_pipeline_on_digits_is_as_accurate_as_mlp_classifier(digits):
    """StandardScaler then each classifier, same hidden sizes, solver and epochs:
    both >= 96% on the 360 held-out digits (0.972 densefit, 0.972 scikit-learn here
    at seed 0; seeds 1, 2: 0.975/0.967, 0.972/0.961), within 2 points of each other."""
    X_train, y_train, X_test, y_test = digits
    params = dict(hidden_layer_sizes=(32,), max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = make_pipeline(StandardScaler(), DenseClassifier(**params)).fit(X_train, y_train)
        theirs = make_pipeline(StandardScaler(), MLPClassifier(**params)).fit(X_train, y_train)
    assert isinstance(ours[-1].model_, densefit.Sequential)
    ours, theirs = ours.score(X_test, y_test), theirs.score(X_test, y_test)
    assert ours >= 0.96 and theirs >= 0.96
    assert abs(ours - theirs) <= 0.02, (ours, theirs)


def test_grid_search_in_joblib_processes_matches_one_process(digits):
    X, y = _small(digits)
    grid = {"hidden_layer_sizes": [(16,), (32,)], "alpha": [1e-4, 1e-1]}
    est = DenseClassifier(max_iter=15, batch_size=50, learning_rate_init=0.01, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        parallel = GridSearchCV(est, grid, cv=2, n_jobs=-1).fit(X, y)
        serial = GridSearchCV(est, grid, cv=2, n_jobs=1).fit(X, y)
    np.testing.assert_array_equal(parallel.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])
    assert parallel.best_params_ in list(parallel.cv_results_["params"])
    assert parallel.best_score_ > 0.8
    assert parallel.best_estimator_.model_.layers[0].units == \
        parallel.best_params_["hidden_layer_sizes"][0]


def test_cross_val_score_in_joblib_processes_matches_one_process(digits):
    X, y = _small(digits)
    est = DenseRegressor(hidden_layer_sizes=(16,), max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        parallel = cross_val_score(est, X, y.astype(float), cv=3, n_jobs=-1)
        serial = cross_val_score(est, X, y.astype(float), cv=3, n_jobs=1)
    np.testing.assert_array_equal(parallel, serial)
    assert len(parallel) == 3 and np.all(np.isfinite(parallel))


def test_multiclass_probabilities_sum_to_one(digits):
    X, y = _small(digits)
    clf = DenseClassifier(hidden_layer_sizes=(16,), max_iter=50, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 10) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))


def test_binary_has_one_sigmoid_output_and_two_probability_columns(digits):
    X, y = _small(digits)
    y = np.where(y < 5, "small", "large")
    clf = DenseClassifier(hidden_layer_sizes=(8,), max_iter=30, learning_rate_init=0.01,
                          random_state=0).fit(X, y)
    assert clf.model_.output_shape == (None, 1)
    assert _activation(clf.model_, -1) == "sigmoid"
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba[:, 1], clf.model_.predict(X, verbose=0)[:, 0])
    assert list(clf.classes_) == ["large", "small"]
    assert clf.score(X, y) > 0.85


def test_string_labels_round_trip(digits):
    X, y = _small(digits)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"], dtype=object)
    clf = DenseClassifier(hidden_layer_sizes=(32,), max_iter=60, learning_rate_init=0.01,
                          random_state=0)
    predicted = clf.fit(X, names[y]).predict(X)
    assert set(predicted) <= set(names)
    assert np.mean(predicted == names[y]) > 0.95
    assert list(clf.classes_) == sorted(names)


def test_multilabel_targets_get_sigmoid_outputs(digits):
    X, y = _small(digits)
    Y = np.column_stack([y % 2, y >= 5, y == 0]).astype(int)
    clf = DenseClassifier(hidden_layer_sizes=(32,), max_iter=60, learning_rate_init=0.01,
                          random_state=0).fit(X, Y)
    assert _activation(clf.model_, -1) == "sigmoid"
    assert clf.predict_proba(X).shape == (len(X), 3)
    predicted = clf.predict(X)
    assert predicted.shape == Y.shape and set(np.unique(predicted)) <= {0, 1}
    assert np.mean(predicted == Y) > 0.9
    with pytest.raises(ValueError, match="y is multiclass but the estimator was fitted on "
                                         "multilabel-indicator targets"):
        clf.partial_fit(X, y)


def test_multi_output_regression(digits):
    X, y = _small(digits)
    Y = np.column_stack([y, 9 - 2 * y.astype(float)])
    reg = DenseRegressor(hidden_layer_sizes=(32,), max_iter=100, learning_rate_init=0.01,
                          random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, Y)
    assert reg.predict(X).shape == (len(X), 2) and reg.n_outputs_ == 2
    assert reg.score(X, Y) > 0.8
    with pytest.raises(ValueError, match="y has 1 targets but the estimator was fitted on 2"):
        reg.partial_fit(X, Y[:, 0])
    assert reg.fit(X, Y[:, 0]).predict(X).shape == (len(X),)


def test_poisson_loss_has_exponential_outputs(digits):
    X, y = _small(digits)
    reg = DenseRegressor(loss="poisson", hidden_layer_sizes=(16,), max_iter=5,
                         random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y.astype(float))
    assert _activation(reg.model_, -1) == "exponential"
    assert np.all(reg.predict(X) > 0)
    with pytest.raises(ValueError, match="loss='poisson' needs targets >= 0"):
        reg.fit(X, y - 5.0)


def test_feature_names_from_a_dataframe(digits):
    pd = pytest.importorskip("pandas")
    X, y = _small(digits, 100)
    frame = pd.DataFrame(X, columns=[f"pixel{i}" for i in range(64)])
    clf = DenseClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(frame, y)
    assert list(clf.feature_names_in_) == list(frame.columns) and clf.n_features_in_ == 64
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        np.testing.assert_array_equal(clf.predict(frame), clf.predict(X))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame.rename(columns={"pixel0": "other"}))


def test_partial_fit_learns_one_epoch_a_call(digits):
    X, y = _small(digits)
    clf = DenseClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:50], y[:50], classes=np.arange(10))
    first = clf.score(X, y)
    for _ in range(20):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 21 and len(clf.loss_curve_) == 21
    assert clf.loss_curve_[-1] < clf.loss_curve_[1]
    assert clf.score(X, y) > max(first, 0.9)
    with pytest.raises(ValueError, match="differs from the first call's classes_"):
        clf.partial_fit(X, y, classes=np.arange(11))
    with pytest.raises(ValueError, match=r"labels \[10\] not in classes_"):
        clf.partial_fit(X[:3], np.array([10, 1, 2]))


def test_a_continuing_partial_fit_draws_nothing_from_numpys_generator(digits):
    X, y = _small(digits, 50)
    clf = DenseClassifier(hidden_layer_sizes=(4,)).partial_fit(X, y, classes=np.arange(10))
    before = np.random.get_state()[1].copy()  # random_state=None: the first call drew there
    clf.partial_fit(X, y).partial_fit(X, y)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_partial_fit_refuses_early_stopping(digits):
    X, y = _small(digits, 50)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        DenseClassifier(early_stopping=True).partial_fit(X, y, classes=np.arange(10))


def test_set_params_then_fit_changes_the_model(digits):
    X, y = _small(digits, 100)
    clf = DenseClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        assert [layer.units for layer in clf.model_.layers] == [8, 10]
        clf.set_params(hidden_layer_sizes=(12, 6), activation="tanh", solver="sgd").fit(X, y)
    assert [layer.units for layer in clf.model_.layers] == [12, 6, 10]
    assert _activation(clf.model_, 0) == "tanh"
    assert isinstance(clf.model_.optimizer, optimizers.SGD)
    assert clf.get_params()["hidden_layer_sizes"] == (12, 6)
    assert [layer.units for layer in clf.set_params(hidden_layer_sizes=()).fit(X, y).model_
            .layers] == [10]  # no hidden layer: multinomial logistic regression, as MLP's


def test_optimizer_settings_reach_densefit_optimizers():
    X, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    fit = DenseClassifier(hidden_layer_sizes=(4,), max_iter=1, learning_rate_init=0.02,
                          beta_1=0.8, beta_2=0.99, epsilon=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        adam = fit.fit(X, y).model_.optimizer.get_config()
        sgd = fit.set_params(solver="sgd", momentum=0.5).fit(X, y).model_.optimizer.get_config()
        rms = fit.set_params(optimizer="rmsprop").fit(X, y).model_.optimizer
    assert (adam["learning_rate"], adam["beta_1"], adam["beta_2"], adam["epsilon"]) == \
        pytest.approx((0.02, 0.8, 0.99, 1e-6))
    assert (sgd["momentum"], sgd["nesterov"]) == (0.5, True)
    assert isinstance(rms, optimizers.RMSprop) and rms.get_config()["epsilon"] == 1e-6


@pytest.mark.parametrize("params, message", [
    (dict(solver="lbfgs"), "solver must be one of 'adam', 'sgd'"),
    (dict(optimizer="adamm"), "adam"),
    (dict(hidden_layer_sizes=(10, 0)), "each of hidden_layer_sizes must be a positive"),
    (dict(hidden_layer_sizes="big"), "each of hidden_layer_sizes"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(alpha=-1.0), "alpha must be"),
    (dict(learning_rate_init=0.0), "learning_rate_init must be"),
    (dict(max_iter=0), "max_iter must be a positive integer"),
    (dict(early_stopping=True, validation_fraction=1.0), "validation_fraction must be"),
])
def test_bad_parameters_are_named(params, message):
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    with pytest.raises(ValueError, match=message):
        DenseClassifier(**params).fit(X, y)


def test_a_validation_set_of_one_sample_is_refused():
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40.0)
    with pytest.raises(ValueError, match="The validation set is too small"):
        DenseRegressor(early_stopping=True, validation_fraction=0.02).fit(X, y)


def test_alpha_is_mlps_penalty_in_the_loss_curve():
    """With one full batch and no step to speak of, the first epoch's loss is MLP's
    at the initial weights: its log-loss (summed over the labels of a multilabel
    target) or half the mean squared error, plus alpha / (2 n) * sum ||W||^2."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    targets = {"multiclass": np.arange(30) % 3, "binary": np.arange(30) % 2,
               "multilabel": rng.integers(0, 2, size=(30, 3)), "regression": X @ [1, 2, 3, 4]}
    for kind, y in targets.items():
        est = (DenseRegressor if kind == "regression" else DenseClassifier)(
            hidden_layer_sizes=(5,), alpha=0.7, max_iter=1, learning_rate_init=1e-12,
            batch_size=30, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        penalty = 0.7 / (2 * 30) * sum(np.sum(w ** 2) for w in est.model_.get_weights()[::2])
        if kind == "regression":
            data_loss = np.mean((est.predict(X) - y) ** 2) / 2
        elif kind == "multilabel":
            p = est.predict_proba(X)
            data_loss = sum(log_loss(y[:, j], p[:, j]) for j in range(3))
        else:
            data_loss = log_loss(y, est.predict_proba(X))
        assert est.loss_curve_[0] == pytest.approx(data_loss + penalty, rel=1e-6), kind


@pytest.mark.parametrize("early_stopping", [False, True])
def test_stopping_rule_is_mlps(digits, early_stopping):
    """A tol no epoch can beat: both stop after n_iter_no_change + 2 epochs (the first
    sets the best, then more than n_iter_no_change without improvement)."""
    X, y = _small(digits, 200)
    params = dict(hidden_layer_sizes=(8,), tol=10.0, n_iter_no_change=3, max_iter=50,
                  early_stopping=early_stopping, random_state=0)
    ours, theirs = DenseClassifier(**params).fit(X, y), MLPClassifier(**params).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 5
    if early_stopping:
        assert ours.best_loss_ is None and len(ours.validation_scores_) == 5
        assert ours.best_validation_score_ == max(ours.validation_scores_)
    else:
        assert ours.validation_scores_ is None and ours.best_loss_ == min(ours.loss_curve_)


def test_early_stopping_holds_out_validation_fraction(digits):
    X, y = _small(digits, 100)
    clf = DenseClassifier(hidden_layer_sizes=(8,), early_stopping=True,
                          validation_fraction=0.3, max_iter=200, random_state=0).fit(X, y)
    assert clf.n_iter_ < 200  # stopped on the validation score's plateau
    scores = np.array(clf.validation_scores_) * 30  # accuracy on 30 held-out samples
    np.testing.assert_allclose(scores, np.round(scores), atol=1e-9)
    assert len(scores) == clf.n_iter_ and clf.best_validation_score_ == scores.max() / 30


def test_same_random_state_same_model_without_touching_numpys_global_state(digits):
    X, y = _small(digits, 200)
    params = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=3)
    before = np.random.get_state()[1].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a, b = DenseClassifier(**params).fit(X, y), DenseClassifier(**params).fit(X, y)
        c = DenseClassifier(**dict(params, random_state=4)).fit(X, y)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    assert a.loss_curve_ == b.loss_curve_ and a.loss_curve_ != c.loss_curve_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_warm_start_continues_from_the_last_weights(digits):
    X, y = _small(digits, 200)
    clf = DenseClassifier(hidden_layer_sizes=(16,), max_iter=10, warm_start=True,
                          random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        weights = clf.model_.get_weights()
        model = clf.model_
        clf.fit(X, y)
        assert clf.model_ is model and clf.n_iter_ == 20 and len(clf.loss_curve_) == 20
        assert clf.loss_curve_[10] < clf.loss_curve_[0]  # not from fresh weights
        cold = clone(clf).set_params(warm_start=False).fit(X, y)
        cold.fit(X, y)
    assert cold.n_iter_ == 10
    assert not np.array_equal(weights[0], clf.model_.get_weights()[0])


def test_pickle_holds_densefit_file_bytes_and_resumes_exactly(digits):
    X, y = _small(digits, 200)
    clf = DenseClassifier(hidden_layer_sizes=(16,), random_state=0)
    clf.partial_fit(X, y, classes=np.arange(10))
    state = clf.__getstate__()
    assert isinstance(state["model_"], bytes) and state["model_"][:2] == b"PK"  # a zip
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    copy.partial_fit(X, y)
    clf.partial_fit(X, y)  # the optimizer's state and the shuffle went along
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    assert copy.loss_curve_ == clf.loss_curve_


def test_unfitted_and_convergence_messages(digits, capsys):
    X, y = _small(digits, 50)
    with pytest.raises(NotFittedError):
        DenseClassifier().predict(X)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\) reached"):
        DenseClassifier(hidden_layer_sizes=(4,), max_iter=2, verbose=True).fit(X, y)
    assert capsys.readouterr().out.startswith("Iteration 1, loss = ")


def test_n_iter_no_change_inf_runs_every_epoch(digits):
    X, y = _small(digits, 50)
    clf = DenseClassifier(hidden_layer_sizes=(4,), tol=10.0, n_iter_no_change=np.inf,
                          max_iter=4, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.n_iter_ == 4 and clf._no_improvement_count == 3


def _first_epoch(est, X, y, sample_weight):
    """``est`` fitted for one full-batch epoch with a step too small to move it."""
    est.set_params(max_iter=1, learning_rate_init=1e-12, batch_size=len(X), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, sample_weight=sample_weight)


def test_sample_weight_is_mlps_weighted_loss_in_the_loss_curve():
    """MLP 1.9's _backprop: the weighted mean of the data loss (divided by the sum
    of the batch's weights) plus alpha / (2 * sum of weights) * sum ||W||^2."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    w = rng.uniform(0, 3, size=30)
    w[:4] = 0
    targets = {"multiclass": np.arange(30) % 3, "binary": np.arange(30) % 2,
               "multilabel": rng.integers(0, 2, size=(30, 3)), "regression": X @ [1, 2, 3, 4]}
    for kind, y in targets.items():
        est = _first_epoch((DenseRegressor if kind == "regression" else DenseClassifier)(
            hidden_layer_sizes=(5,), alpha=0.7), X, y, w)
        penalty = 0.7 / (2 * w.sum()) * sum(np.sum(k ** 2) for k in est.model_.get_weights()[::2])
        if kind == "regression":
            data_loss = np.average((est.predict(X) - y) ** 2, weights=w) / 2
        elif kind == "multilabel":
            p = est.predict_proba(X)
            data_loss = sum(log_loss(y[:, j], p[:, j], sample_weight=w) for j in range(3))
        else:
            data_loss = log_loss(y, est.predict_proba(X), sample_weight=w)
        assert est.loss_curve_[0] == pytest.approx(data_loss + penalty, rel=1e-6), kind


def test_sample_weight_none_and_ones_train_the_same(digits):
    """(Weights of 3 would not: MLP divides alpha's penalty by the weights' sum.)"""
    X, y = _small(digits, 100)
    params = dict(hidden_layer_sizes=(8,), max_iter=5, batch_size=32, random_state=0)
    a = DenseClassifier(**params).fit(X, y)
    b = DenseClassifier(**params).fit(X, y, sample_weight=np.ones(len(X)))
    np.testing.assert_array_equal(b.predict_proba(X), a.predict_proba(X))
    assert b.loss_curve_ == a.loss_curve_


@pytest.mark.parametrize("shuffle", [False, True])
def test_integer_weights_are_repeated_rows_in_one_full_batch(shuffle):
    """One batch holding all the data: weights of 0, 1, 2, ... train exactly as the
    rows removed or repeated (what check_sample_weight_equivalence_on_dense_data
    asks); only mini-batches, which group other rows together, make them differ."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), np.arange(40) % 3
    w = rng.integers(0, 4, size=40)
    params = dict(hidden_layer_sizes=(6,), max_iter=30, learning_rate_init=0.01,
                  shuffle=shuffle, random_state=0)
    weighted = DenseClassifier(batch_size=40, **params).fit(X, y, sample_weight=w)
    repeated = DenseClassifier(batch_size=int(w.sum()), **params).fit(
        X.repeat(w, axis=0), y.repeat(w))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-9)
    small = dict(params, batch_size=8)
    in_batches = DenseClassifier(**small).fit(X, y, sample_weight=w)
    assert not np.allclose(in_batches.predict_proba(X),
                           DenseClassifier(**small).fit(X.repeat(w, axis=0), y.repeat(w))
                           .predict_proba(X))


def test_sample_weight_reaches_partial_fit_and_the_validation_score(digits):
    X, y = _small(digits, 200)
    w = np.where(y < 5, 2.0, 0.5)
    clf = DenseClassifier(hidden_layer_sizes=(8,), random_state=0)
    clf.partial_fit(X, y, w, classes=np.arange(10))  # MLP's order: sample_weight, classes
    clf.partial_fit(X, y, sample_weight=w)
    assert clf.n_iter_ == 2
    early = DenseClassifier(hidden_layer_sizes=(8,), early_stopping=True, max_iter=3,
                            validation_fraction=0.25, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        early.fit(X, y, sample_weight=w)
    # the held-out quarter (split as _fit draws its seed), scored with its weights
    seed = np.random.default_rng(np.random.RandomState(0).randint(2**31 - 1)).integers(2**31 - 1)
    _, X_val, _, y_val, _, w_val = sklearn.model_selection.train_test_split(
        X, y, w, test_size=0.25, stratify=y, random_state=int(seed))
    weighted = early.score(X_val, y_val, sample_weight=w_val)
    assert early.best_validation_score_ == pytest.approx(weighted)
    assert weighted != pytest.approx(early.score(X_val, y_val))
    with pytest.raises(ValueError, match="Sample weights must contain at least one non-zero"):
        DenseRegressor().fit(X, y.astype(float), sample_weight=np.zeros(len(X)))
    # weight only on the held-out samples: the training part has nothing to learn from
    train, _ = sklearn.model_selection.train_test_split(np.arange(len(X)), test_size=0.25,
                                                        random_state=int(seed))
    held_out = np.ones(len(X))
    held_out[train] = 0
    with pytest.raises(ValueError, match="sample_weight is zero for every training sample"):
        DenseRegressor(early_stopping=True, validation_fraction=0.25, random_state=0).fit(
            X, y.astype(float), sample_weight=held_out)
    with pytest.raises(ValueError, match="Negative values in data passed to .sample_weight"):
        DenseRegressor().fit(X, y.astype(float), sample_weight=-np.ones(len(X)))


def test_mlps_fitted_attributes(digits):
    X, y = _small(digits, 100)
    clf = DenseClassifier(hidden_layer_sizes=(8, 6), max_iter=3, batch_size=30,
                          random_state=0).fit(X, y)
    theirs = MLPClassifier(hidden_layer_sizes=(8, 6), max_iter=3, batch_size=30,
                           random_state=0).fit(X, y)
    assert clf.n_layers_ == theirs.n_layers_ == 4
    assert clf.out_activation_ == theirs.out_activation_ == "softmax"
    assert clf.t_ == theirs.t_ == 300  # samples seen: 3 epochs of 100
    assert [c.shape for c in clf.coefs_] == [c.shape for c in theirs.coefs_]
    assert [b.shape for b in clf.intercepts_] == [b.shape for b in theirs.intercepts_]
    weights = clf.model_.get_weights()
    for i, (kernel, bias) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        np.testing.assert_array_equal(kernel, weights[2 * i])
        np.testing.assert_array_equal(bias, weights[2 * i + 1])
    held = clf.coefs_[0]  # a view into the model: writes reach it, training moves it
    before = held.copy()
    clf.partial_fit(X, y)
    assert clf.t_ == 400 and not np.array_equal(held, before)
    clf.intercepts_[-1][:] = [100.0] + [0.0] * 9
    assert np.all(clf.predict(X) == 0)
    kinds = [(DenseClassifier(max_iter=1), np.arange(100) % 2, "logistic"),
             (DenseClassifier(max_iter=1), np.eye(3, dtype=int)[np.arange(100) % 3], "logistic"),
             (DenseRegressor(max_iter=1), y.astype(float), "identity"),
             (DenseRegressor(loss="poisson", max_iter=1), y.astype(float), "exp")]
    for est, target, name in kinds:
        assert est.fit(X, target).out_activation_ == name
        assert est.n_layers_ == 3
    with pytest.raises(AttributeError):
        DenseClassifier().coefs_


def test_invscaling_and_adaptive_rates_are_mlps_sequence(digits):
    """After each epoch (one partial_fit call), the SGD rate equals MLPClassifier's
    with the same settings: invscaling from the samples seen; adaptive with a tol
    no epoch beats, divided by 5 after every n_iter_no_change + 1 epochs."""
    X, y = _small(digits, 100)
    common = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.01,
                  batch_size=32, random_state=0)
    for params in (dict(learning_rate="invscaling", power_t=0.3),
                   dict(learning_rate="adaptive", tol=100.0, n_iter_no_change=2),
                   dict(learning_rate="constant")):
        ours, theirs = DenseClassifier(**common, **params), MLPClassifier(**common, **params)
        rates = []
        for _ in range(12):
            ours.partial_fit(X, y, classes=np.arange(10))
            theirs.partial_fit(X, y, classes=np.arange(10))
            rates.append((float(ours.model_.optimizer.learning_rate),
                          theirs._optimizer.learning_rate))
        np.testing.assert_allclose(*zip(*rates), rtol=1e-12)
        assert ours.t_ == theirs.t_ == 1200
    assert rates[-1][0] == 0.01  # constant
    # adaptive stops once the rate is at most 1e-6: 0.01 / 5**6 = 6.4e-7, as MLP's
    params = dict(common, learning_rate="adaptive", tol=100.0, n_iter_no_change=2, max_iter=100)
    ours, theirs = DenseClassifier(**params).fit(X, y), MLPClassifier(**params).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 1 + 6 * 3 + 3
    assert float(ours.model_.optimizer.learning_rate) == pytest.approx(0.01 / 5**6)


def test_invscaling_rate_trains_the_next_epoch():
    """Two epochs of invscaling are one epoch, the rate set by hand to
    learning_rate_init / (n + 1) ** power_t, then another: the compiled loop steps
    with the rate the callback set."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    params = dict(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=0.05,
                  power_t=0.5, batch_size=10, shuffle=False, random_state=0)
    scheduled = DenseRegressor(learning_rate="invscaling", max_iter=2, **params).fit(X, y)
    by_hand = DenseRegressor(**params).partial_fit(X, y)
    by_hand.model_.optimizer.learning_rate = 0.05 / 51 ** 0.5
    by_hand.partial_fit(X, y)
    np.testing.assert_allclose(scheduled.predict(X), by_hand.predict(X), rtol=1e-12)
    constant = DenseRegressor(max_iter=2, **params).fit(X, y)
    assert not np.allclose(scheduled.predict(X), constant.predict(X))


def test_learning_rate_applies_to_sgd_only(digits):
    X, y = _small(digits, 100)
    adam = DenseClassifier(hidden_layer_sizes=(4,), learning_rate="invscaling", max_iter=3,
                           random_state=0).fit(X, y)
    assert float(adam.model_.optimizer.learning_rate) == 0.001  # as MLP: solver="sgd" only
    with pytest.raises(ValueError, match="learning_rate must be one of 'constant', "
                                         "'invscaling', 'adaptive'"):
        DenseClassifier(learning_rate="optimal").fit(X, y)
    with pytest.raises(ValueError, match="power_t must be"):
        DenseClassifier(power_t=-1.0).fit(X, y)


def test_sparse_csr_input_trains_as_its_dense_array(digits):
    """CSR (and CSC) X, as MLP takes: densefit's data adapter densifies it, so a fit
    on the sparse matrix is the fit on its dense array, prediction too."""
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, y = _small(digits, 200)
    X = np.where(X > 0.5, X, 0.0)  # mostly zeros, as sparse data is
    csr = scipy_sparse.csr_matrix(X)
    params = dict(hidden_layer_sizes=(8,), max_iter=5, early_stopping=True, random_state=0)
    on_sparse = DenseClassifier(**params).fit(csr, y, sample_weight=np.arange(200) % 3 + 1)
    on_dense = DenseClassifier(**params).fit(X, y, sample_weight=np.arange(200) % 3 + 1)
    assert on_sparse.loss_curve_ == on_dense.loss_curve_
    np.testing.assert_array_equal(on_sparse.predict_proba(csr), on_dense.predict_proba(X))
    np.testing.assert_array_equal(on_sparse.predict_proba(scipy_sparse.csc_array(X)),
                                  on_dense.predict_proba(X))
    reg = DenseRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    reg.fit(csr.astype(np.float32), y.astype(float))
    assert reg.model_.dtype == np.float32 and reg.predict(csr).shape == (200,)


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression"])
def test_sgd_steps_are_mlps_from_the_same_weights(kind):
    """MLP started from densefit's initial weights (warm_start, coefs_ set) takes
    the same plain-SGD steps: the loss, its alpha penalty and the sample weights
    have MLP's gradient exactly, not a multiple of it (half the MSE, the labels'
    summed log-loss). With weights in one full batch; without, in 3 batches."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    y = {"multiclass": np.arange(30) % 3, "binary": np.arange(30) % 2,
         "multilabel": rng.integers(0, 2, size=(30, 3)), "regression": X @ [1, 2, 3, 4]}[kind]
    ours_cls, theirs_cls = ((DenseRegressor, sklearn.neural_network.MLPRegressor)
                            if kind == "regression" else (DenseClassifier, MLPClassifier))
    w = rng.uniform(0, 3, size=30)
    for sample_weight, batch_size in ((w, 30), (None, 10)):
        params = dict(hidden_layer_sizes=(5,), solver="sgd", momentum=0.0, alpha=0.3,
                      batch_size=batch_size, max_iter=3, shuffle=False, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = ours_cls(**dict(params, max_iter=1), learning_rate_init=1e-300).fit(
                X, y, sample_weight=sample_weight)  # a step that moves nothing
            ours = ours_cls(**params, learning_rate_init=0.05).fit(
                X, y, sample_weight=sample_weight)
            theirs = theirs_cls(**dict(params, max_iter=1), learning_rate_init=0.05,
                                warm_start=True).fit(X, y, sample_weight=sample_weight)
            theirs.coefs_ = [c.copy() for c in start.coefs_]
            theirs.intercepts_ = [b.copy() for b in start.intercepts_]
            theirs.set_params(max_iter=3).fit(X, y, sample_weight=sample_weight)
        for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_[1:], rtol=1e-9)
