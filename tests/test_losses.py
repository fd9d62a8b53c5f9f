"""densefit.losses: values against the NumPy oracle (densefit.reference) and
against numbers worked out by hand from Keras' formulas, the choice of the
compiled kernel (fused for softmax/sigmoid outputs), target validation, and
names/configs.

Tolerances: the compiled kernels and the reference do the same operations in
the same precision but in a different order, so a few dozen ulps of the dtype.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from densefit import Sequential, _core, losses, reference
from densefit.layers import Dense
from densefit.activations import LEAKY_RELU_SLOPE as KERAS_SLOPE  # leaky_relu's default
from densefit.losses import (BinaryCrossentropy, CategoricalCrossentropy, MeanSquaredError,
                             SparseCategoricalCrossentropy)

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
LOSS = _core.LOSSES


def _data(rng, n, k, dtype):
    """Logits, softmax probabilities, sigmoid probabilities, labels, one-hot and binary targets."""
    logits = rng.normal(scale=3.0, size=(n, k)).astype(dtype)
    labels = rng.integers(0, k, n)
    return {
        "logits": logits,
        "softmax": reference.softmax(logits.astype(np.float64)).astype(dtype),
        "sigmoid": reference.sigmoid(logits.astype(np.float64)).astype(dtype),
        "labels": labels,
        "onehot": reference.one_hot(labels, k, dtype),
        "soft": rng.dirichlet(np.ones(k), n).astype(dtype),   # probability targets
        "binary": rng.integers(0, 2, (n, k)).astype(dtype),
        "unit": rng.uniform(0, 1, (n, k)).astype(dtype),      # soft binary targets
        "real": rng.normal(size=(n, k)).astype(dtype),
    }


# (loss, input key, target key, reference function)
CASES = {
    "sparse-logits": (SparseCategoricalCrossentropy(from_logits=True), "logits", "labels",
                      reference.sparse_softmax_cross_entropy),
    "sparse-probs": (SparseCategoricalCrossentropy(), "softmax", "labels",
                     reference.sparse_categorical_cross_entropy),
    "ce-logits": (CategoricalCrossentropy(from_logits=True), "logits", "onehot",
                  reference.softmax_cross_entropy),
    "ce-logits-soft": (CategoricalCrossentropy(from_logits=True), "logits", "soft",
                       reference.softmax_cross_entropy),
    "ce-probs": (CategoricalCrossentropy(), "softmax", "onehot",
                 reference.categorical_cross_entropy),
    "ce-probs-soft": (CategoricalCrossentropy(), "softmax", "soft",
                      reference.categorical_cross_entropy),
    "bce-logits": (BinaryCrossentropy(from_logits=True), "logits", "binary",
                   reference.binary_cross_entropy_from_logits),
    "bce-logits-soft": (BinaryCrossentropy(from_logits=True), "logits", "unit",
                        reference.binary_cross_entropy_from_logits),
    "bce-probs": (BinaryCrossentropy(), "sigmoid", "binary", reference.binary_cross_entropy),
    "bce-probs-soft": (BinaryCrossentropy(), "sigmoid", "unit", reference.binary_cross_entropy),
    "mse": (MeanSquaredError(), "real", "real", reference.mean_squared_error),
}


# ------------------------------------------------------------------ values against the oracle

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 7), seed=st.integers(0, 2**32 - 1))
def test_loss_matches_reference(case, dtype, n, k, seed):
    loss, x_key, y_key, oracle = CASES[case]
    rng = np.random.default_rng(seed)
    d = _data(rng, n, k, dtype)
    pred = d[x_key]
    target = rng.normal(size=(n, k)).astype(dtype) if case == "mse" else d[y_key]
    got = loss(target, pred)
    expected, _ = oracle(pred, target)
    assert type(got) is np.dtype(dtype).type  # a NumPy scalar of the prediction's float type
    assert_allclose(got, expected, rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_and_other_float_predictions_are_computed_in_float32(dtype):
    loss = MeanSquaredError()
    assert type(loss([[1]], np.array([[3]], dtype=np.int64))) is np.float32
    assert type(loss([[1]], np.array([[3]], dtype=np.float16))) is np.float32
    assert type(loss([[1]], np.array([[3]], dtype=dtype))) is np.dtype(dtype).type
    assert loss([[1]], np.array([[3]], dtype=dtype)) == 4


@pytest.mark.parametrize("dtype", DTYPES)
def test_probability_loss_equals_logits_loss_on_the_activated_outputs(dtype):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(20, 4)).astype(dtype)
    labels = rng.integers(0, 4, 20)
    binary = rng.integers(0, 2, (20, 4))
    tol = dict(rtol=1e-5 if dtype == np.float32 else 1e-11)
    assert_allclose(SparseCategoricalCrossentropy()(labels, reference.softmax(z)),
                    SparseCategoricalCrossentropy(from_logits=True)(labels, z), **tol)
    assert_allclose(CategoricalCrossentropy()(reference.one_hot(labels, 4), reference.softmax(z)),
                    CategoricalCrossentropy(from_logits=True)(reference.one_hot(labels, 4), z),
                    **tol)
    assert_allclose(BinaryCrossentropy()(binary, reference.sigmoid(z)),
                    BinaryCrossentropy(from_logits=True)(binary, z), **tol)


# ------------------------------------------------------------------ values worked out by hand

def _keras_bce(y, p, dtype):
    """Keras' BinaryCrossentropy on one probability, in ``dtype`` as Keras computes it."""
    f = np.dtype(dtype).type
    eps = f(1e-7)
    p = min(max(f(p), eps), f(1) - eps)
    y = f(y)
    return float(-(y * np.log(p) + (f(1) - y) * np.log(f(1) - p)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("y, p", [(1, 0.0), (0, 1.0), (0, 0.0), (1, 1.0)])
def test_binary_crossentropy_clips_probabilities_to_1e7(dtype, y, p):
    got = BinaryCrossentropy()(np.array([[y]]), np.array([[p]], dtype=dtype))
    assert np.isfinite(got)
    assert_allclose(got, _keras_bce(y, p, dtype), rtol=1e-6 if dtype == np.float32 else 1e-9)
    if (y, p) in ((1, 0.0), (0, 1.0)):  # a wrong certainty costs -log(1e-7), not inf
        # float32 cannot hold 1 - 1e-7, so its upper clip is 1 - 2**-23 and -log(2**-23) = 15.94
        assert_allclose(got, -math.log(1e-7), rtol=1.2e-2 if dtype == np.float32 else 1e-8)
    else:  # a right certainty costs -log(1 - 1e-7) ~ 1e-7, not 0
        assert 0 < got < 2e-7


def test_binary_crossentropy_hand_values():
    # mean over the outputs of each sample, then over the samples
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    p = np.array([[0.9, 0.2], [0.3, 0.6]])
    expected = np.mean([-math.log(0.9), -math.log(0.8), -math.log(0.7), -math.log(0.6)])
    assert_allclose(BinaryCrossentropy()(y, p), expected, rtol=1e-12)
    # from logits: max(x, 0) - x y + log(1 + exp(-|x|)); stable for large |x|
    z = np.array([[0.0], [100.0], [-100.0], [1e4], [-3.0]])
    t = np.array([[1.0], [0.0], [1.0], [1.0], [0.25]])
    per_sample = [math.log(2), 100.0, 100.0, 0.0, 3.0 * 0.25 + math.log1p(math.exp(-3.0))]
    assert_allclose(BinaryCrossentropy(from_logits=True)(t, z), np.mean(per_sample), rtol=1e-12)


def test_categorical_crossentropy_hand_values():
    # log 2 from equal logits (the module's docstring example)
    assert_allclose(SparseCategoricalCrossentropy(from_logits=True)([0], [[0.0, 0.0]]),
                    math.log(2), rtol=1e-6)
    # probabilities are renormalised to sum to one before the log: [2, 2] -> [.5, .5]
    assert_allclose(CategoricalCrossentropy()([[1.0, 0.0]], np.array([[2.0, 2.0]])), math.log(2),
                    rtol=1e-12)
    assert_allclose(SparseCategoricalCrossentropy()([1], np.array([[1.0, 3.0]])),
                    -math.log(0.75), rtol=1e-12)
    # a zero probability on the true class is clipped to 1e-7
    assert_allclose(SparseCategoricalCrossentropy()([0], np.array([[0.0, 1.0]])),
                    -math.log(1e-7), rtol=1e-12)
    assert_allclose(CategoricalCrossentropy()([[0.0, 1.0]], np.array([[1.0, 0.0]])),
                    -math.log(1e-7), rtol=1e-12)
    # soft targets: -sum(t log p)
    assert_allclose(CategoricalCrossentropy()([[0.25, 0.75]], np.array([[0.5, 0.5]])),
                    math.log(2), rtol=1e-12)
    # stable from logits however large they are
    big = np.array([[1e4, -1e4, 0.0]], dtype=np.float32)
    assert SparseCategoricalCrossentropy(from_logits=True)([0], big) == 0
    assert_allclose(SparseCategoricalCrossentropy(from_logits=True)([1], big), 2e4, rtol=1e-6)


def test_mean_squared_error_hand_values():
    assert MeanSquaredError()([1, 2], [1.0, 4.0]) == 2.0
    # the mean over outputs and samples
    assert_allclose(MeanSquaredError()([[0.0, 1.0], [2.0, 2.0]], [[1.0, 1.0], [2.0, 5.0]]),
                    (1 + 0 + 0 + 9) / 4, rtol=1e-12)


# ------------------------------------------------------------------ shapes

@pytest.mark.parametrize("loss", [BinaryCrossentropy(), BinaryCrossentropy(from_logits=True),
                                  MeanSquaredError()], ids=repr)
def test_single_output_targets_may_be_1d_or_2d(loss):
    y = np.array([0.0, 1.0, 1.0, 0.0])
    p = np.array([0.2, 0.7, 0.9, 0.4])
    expected = loss(y.reshape(-1, 1), p.reshape(-1, 1))
    assert loss(y, p.reshape(-1, 1)) == expected
    assert loss(y.reshape(-1, 1), p) == expected
    assert loss(y, p) == expected


def test_sparse_labels_may_be_1d_or_a_column():
    p = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    y = np.array([1, 0, 1])
    assert SparseCategoricalCrossentropy()(y.reshape(-1, 1), p) == \
        SparseCategoricalCrossentropy()(y, p)


@pytest.mark.parametrize("loss, y, p", [
    (BinaryCrossentropy(), np.zeros(3), np.full((3, 2), 0.5)),          # (n,) for 2 outputs
    (MeanSquaredError(), np.zeros((3, 3)), np.zeros((3, 2))),
    (MeanSquaredError(), np.zeros((4, 1)), np.zeros((3, 1))),           # sample count
    (CategoricalCrossentropy(), np.eye(3)[:2], np.full((2, 2), 0.5)),   # 3 classes for 2 outputs
    (CategoricalCrossentropy(), np.array([0, 1]), np.full((2, 2), 0.5)),  # labels for a dense loss
    (SparseCategoricalCrossentropy(), np.array([0, 1, 1]), np.full((2, 2), 0.5)),
    (SparseCategoricalCrossentropy(), np.eye(2), np.full((2, 2), 0.5)),  # one-hot for labels
    (MeanSquaredError(), np.zeros((2, 2, 2)), np.zeros((2, 2, 2))),     # 3-d predictions
], ids=lambda v: repr(v) if isinstance(v, losses.Loss) else str(np.shape(v)))
def test_mismatched_shapes_raise(loss, y, p):
    with pytest.raises(ValueError, match="shape"):
        loss(y, p)


# ------------------------------------------------------------------ kernel choice

@pytest.mark.parametrize("loss, output, kernel, fused", [
    (SparseCategoricalCrossentropy(), "softmax", "sparse_ce_logits", True),
    (SparseCategoricalCrossentropy(), "linear", "sparse_ce_probs", False),
    (SparseCategoricalCrossentropy(), "sigmoid", "sparse_ce_probs", False),
    (SparseCategoricalCrossentropy(from_logits=True), "linear", "sparse_ce_logits", False),
    (CategoricalCrossentropy(), "softmax", "ce_logits", True),
    (CategoricalCrossentropy(), "relu", "ce_probs", False),
    (CategoricalCrossentropy(from_logits=True), "linear", "ce_logits", False),
    (BinaryCrossentropy(), "sigmoid", "bce_logits", True),
    (BinaryCrossentropy(), "softmax", "bce_probs", False),
    (BinaryCrossentropy(), "linear", "bce_probs", False),
    (BinaryCrossentropy(from_logits=True), "linear", "bce_logits", False),
    (MeanSquaredError(), "linear", "mse", False),
    (MeanSquaredError(), "sigmoid", "mse", False),
    (MeanSquaredError(), "softmax", "mse", False),
], ids=lambda v: repr(v) if isinstance(v, losses.Loss) else str(v))
def test_kernel_for_output_activation(loss, output, kernel, fused):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loss.kernel_for(output) == (LOSS[kernel], fused)


@pytest.mark.parametrize("loss, output, kernel", [
    (SparseCategoricalCrossentropy(from_logits=True), "softmax", "sparse_ce_logits"),
    (CategoricalCrossentropy(from_logits=True), "softmax", "ce_logits"),
    (BinaryCrossentropy(from_logits=True), "sigmoid", "bce_logits"),
], ids=lambda v: repr(v) if isinstance(v, losses.Loss) else str(v))
def test_from_logits_on_a_probability_output_warns_and_uses_the_real_logits(loss, output,
                                                                              kernel):
    """As Keras' TensorFlow backend: the output layer's pre-activation is used (fused),
    not the probabilities taken for logits, and a warning says so."""
    with pytest.warns(UserWarning, match=f"from_logits=True.*{output}"):
        assert loss.kernel_for(output) == (LOSS[kernel], True)


def test_binary_from_logits_on_a_softmax_output_reads_the_outputs_as_logits():
    """Keras recovers logits only from the activation that matches the loss (sigmoid
    for binary cross-entropy); a softmax output is taken as it is, without a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert BinaryCrossentropy(from_logits=True).kernel_for("softmax") == (
            LOSS["bce_logits"], False)


def test_from_logits_warning_points_at_the_callers_compile():
    model = Sequential([Dense(3, activation="softmax")])
    with pytest.warns(UserWarning) as record:
        model.compile("adam", SparseCategoricalCrossentropy(from_logits=True))
    assert record[0].filename == __file__


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, loss, oracle_loss, targets", [
    ("softmax", SparseCategoricalCrossentropy(), "sparse_ce_logits", "labels"),
    ("softmax", CategoricalCrossentropy(), "ce_logits", "onehot"),
    ("sigmoid", BinaryCrossentropy(), "bce_logits", "binary"),
])
def test_probability_loss_on_its_output_trains_from_the_logits(dtype, output, loss, oracle_loss,
                                                               targets):
    # the fused path: one Adam step equals the oracle's step through the pre-activation
    rng = np.random.default_rng(3)
    d = _data(rng, 12, 3, dtype)
    x = rng.normal(size=(12, 4)).astype(dtype)
    model = Sequential([Dense(5, activation="tanh", dtype=dtype),
                        Dense(3, activation=output, dtype=dtype)])
    model.build((None, 4))
    w = model.get_weights()
    model.compile("adam", loss)
    history = model.fit(x, d[targets], batch_size=12, epochs=1, shuffle=False, verbose=0)
    mlp = reference.MLP([(w[0], w[1], "tanh"), (w[2], w[3], output)], oracle_loss, True,
                        KERAS_SLOPE, **model.optimizer.get_config())
    expected_loss = mlp.train_step(x, d[targets])
    tol = dict(rtol=1e-4, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    assert_allclose(history.history["loss"][0], expected_loss, **tol)
    for got, want in zip(model.get_weights(), mlp.parameters()):
        assert_allclose(got, want, **tol)


# ------------------------------------------------------------------ target validation

@pytest.mark.parametrize("y, error, match", [
    ([0, 3], ValueError, r"class labels in \[0, 3\).*got 3"),
    ([0, 7], ValueError, r"\[0, 3\)"),
    ([-1, 0], ValueError, r"\[0, 3\).*got -1"),
    ([0.5, 1.0], ValueError, "integer class labels"),
    ([np.nan, 1.0], ValueError, "integer class labels"),
    ([np.inf, 1.0], ValueError, "integer class labels"),
    (np.array(["0", "1"]), TypeError, "integer class labels"),
    (np.array([0j, 1j]), TypeError, "integer class labels"),
    (np.array([0, 1], dtype=object), TypeError, "integer class labels"),
])
def test_sparse_label_validation(y, error, match):
    with pytest.raises(error, match=match):
        SparseCategoricalCrossentropy()(y, np.full((2, 3), 1 / 3))


@pytest.mark.parametrize("y", [np.array([0, 2], dtype=np.uint8), np.array([0.0, 2.0]),
                               np.array([0, 2], dtype=np.int64), [[0], [2]]],
                         ids=["uint8", "integral floats", "int64", "column"])
def test_sparse_labels_accept_integer_valued_arrays(y):
    p = np.array([[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]])
    assert_allclose(SparseCategoricalCrossentropy()(y, p), math.log(2), rtol=1e-12)


@pytest.mark.parametrize("loss", [BinaryCrossentropy(), BinaryCrossentropy(from_logits=True)],
                         ids=repr)
@pytest.mark.parametrize("y", [[[2.0]], [[-0.5]], [[1.0 + 1e-6]]])
def test_binary_targets_must_lie_in_0_1(loss, y):
    with pytest.raises(ValueError, match=r"binary targets in \[0, 1\]"):
        loss(y, [[0.5]])


@pytest.mark.parametrize("loss", [BinaryCrossentropy(), CategoricalCrossentropy(),
                                  MeanSquaredError()], ids=repr)
def test_dense_targets_must_be_finite_numbers(loss):
    with pytest.raises(ValueError, match="NaN or inf"):
        loss([[np.nan, 0.0]], [[0.5, 0.5]])
    with pytest.raises(TypeError, match="numeric"):
        loss(np.array([["a", "b"]]), [[0.5, 0.5]])


def test_from_logits_must_be_a_bool():
    assert BinaryCrossentropy(from_logits=np.True_).from_logits is True
    for bad in ("True", 1, None):
        with pytest.raises(TypeError, match="from_logits"):
            BinaryCrossentropy(from_logits=bad)


# ------------------------------------------------------------------ names and configs

@pytest.mark.parametrize("name, cls", [
    ("sparse_categorical_crossentropy", SparseCategoricalCrossentropy),
    ("categorical_crossentropy", CategoricalCrossentropy),
    ("binary_crossentropy", BinaryCrossentropy),
    ("mse", MeanSquaredError),
    ("mean_squared_error", MeanSquaredError),
])
def test_get_by_name(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    assert loss.from_logits is False  # Keras' default
    assert loss.name == ("mean_squared_error" if cls is MeanSquaredError else name)


def test_get_class_and_instance():
    assert type(losses.get(BinaryCrossentropy)) is BinaryCrossentropy
    loss = CategoricalCrossentropy(from_logits=True)
    assert losses.get(loss) is loss


def test_get_unknown_name_suggests_close_ones():
    with pytest.raises(ValueError, match="Did you mean 'sparse_categorical_crossentropy'"):
        losses.get("sparse_categorical_crosentropy")
    with pytest.raises(ValueError, match="Did you mean 'binary_crossentropy'"):
        losses.get("binary_crossentropyy")
    with pytest.raises(ValueError, match="Unknown loss 'cosine_similarity'.*Known: bce, "
                                         "binary_crossentropy"):
        losses.get("cosine_similarity")


@pytest.mark.parametrize("bad", [None, 3, lambda y, p: 0.0])
def test_get_rejects_non_losses(bad):
    with pytest.raises(TypeError, match="loss must be"):
        losses.get(bad)


@pytest.mark.parametrize("loss", [SparseCategoricalCrossentropy(), CategoricalCrossentropy(True),
                                  BinaryCrossentropy(), BinaryCrossentropy(from_logits=True),
                                  MeanSquaredError()], ids=repr)
def test_config_round_trip(loss):
    config = losses.serialize(loss)
    assert config == {"class_name": type(loss).__name__, "config": loss.get_config()}
    for again in (losses.deserialize(config), type(loss).from_config(loss.get_config())):
        assert type(again) is type(loss)
        assert again.get_config() == loss.get_config()
        assert again.from_logits == loss.from_logits
        assert again.kernel_for("linear") == loss.kernel_for("linear")
        assert repr(again) == repr(loss)


@pytest.mark.parametrize("loss, config", [
    (BinaryCrossentropy(from_logits=True, name="bce"), {"name": "bce", "from_logits": True,
                                                        "label_smoothing": 0.0}),
    (SparseCategoricalCrossentropy(), {"name": "sparse_categorical_crossentropy",
                                       "from_logits": False, "ignore_class": None}),
    (MeanSquaredError(name="squares"), {"name": "squares"}),
], ids=repr)
def test_get_config_keeps_the_name(loss, config):
    assert loss.get_config() == config
    assert losses.deserialize(losses.serialize(loss)).name == config["name"]


@pytest.mark.parametrize("flat, cls, from_logits", [
    ({"class_name": "CategoricalCrossentropy", "from_logits": True}, CategoricalCrossentropy,
     True),
    ({"class_name": "MeanSquaredError"}, MeanSquaredError, False),
])
def test_deserialize_reads_the_flat_form_of_densefit_1_0(flat, cls, from_logits):
    loss = losses.deserialize(flat)
    assert type(loss) is cls and loss.from_logits is from_logits
    assert loss.name == cls().name


@pytest.mark.parametrize("loss, labels", [
    (SparseCategoricalCrossentropy(), True), (SparseCategoricalCrossentropy(True), True),
    (CategoricalCrossentropy(), False), (BinaryCrossentropy(True), False),
    (MeanSquaredError(), False)], ids=repr)
def test_labels_come_from_the_core(loss, labels):
    from densefit import _core

    assert loss.labels is labels
    assert loss.labels == _core.loss_uses_labels(loss.kernel_for("linear")[0])


def test_deserialize_rejects_unknown_classes():
    with pytest.raises(ValueError, match="unknown loss"):
        losses.deserialize({"class_name": "CosineSimilarity"})
    with pytest.raises(ValueError, match="unknown loss"):
        losses.deserialize({})


# ---------------------------------------------------------------- issue 10's losses

NEW_LOSSES = {  # Keras' string names -> class, and Keras' default name
    "mae": ("MeanAbsoluteError", "mean_absolute_error"),
    "mean_absolute_error": ("MeanAbsoluteError", "mean_absolute_error"),
    "mape": ("MeanAbsolutePercentageError", "mean_absolute_percentage_error"),
    "msle": ("MeanSquaredLogarithmicError", "mean_squared_logarithmic_error"),
    "huber": ("Huber", "huber_loss"),
    "log_cosh": ("LogCosh", "log_cosh"), "logcosh": ("LogCosh", "log_cosh"),
    "kl_divergence": ("KLDivergence", "kl_divergence"), "kld": ("KLDivergence", "kl_divergence"),
    "poisson": ("Poisson", "poisson"),
    "hinge": ("Hinge", "hinge"), "squared_hinge": ("SquaredHinge", "squared_hinge"),
    "categorical_hinge": ("CategoricalHinge", "categorical_hinge"),
}


@pytest.mark.parametrize("alias", list(NEW_LOSSES))
def test_new_loss_names_and_training(alias):
    """Each name gives Keras' class and default name; the model trains with it in the
    compiled loop, History's loss being the loss of the pre-update weights."""
    import densefit

    cls_name, default = NEW_LOSSES[alias]
    loss = losses.get(alias)
    assert type(loss).__name__ == cls_name and loss.name == default
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = rng.uniform(0.1, 1, (40, 2)).astype(np.float32)
    if cls_name == "CategoricalHinge":
        y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 40)]
    model = densefit.Sequential([densefit.layers.Input((3,)),
                                 densefit.layers.Dense(2, activation="sigmoid")])
    model.compile(optimizer="adam", loss=alias)
    before = model.evaluate(x, y, batch_size=40, verbose=0)
    assert before == pytest.approx(float(loss(y, model.predict(x, verbose=0))), rel=1e-5)
    history = model.fit(x, y, batch_size=40, epochs=3, verbose=0).history
    assert history["loss"][0] == pytest.approx(before, rel=1e-5)
    assert history["loss"][-1] < history["loss"][0]


@pytest.mark.parametrize("loss", [
    losses.Huber(delta=0.25, name="h"), losses.BinaryCrossentropy(label_smoothing=0.1),
    losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
    losses.SparseCategoricalCrossentropy(ignore_class=255), losses.KLDivergence(),
], ids=repr)
def test_hyper_parameters_round_trip(loss):
    again = losses.deserialize(losses.serialize(loss))
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    assert again.core_options() == loss.core_options()


def test_huber_delta_and_smoothing_reach_the_kernel():
    y, p = np.array([[0.0, 0.0]], np.float32), np.array([[0.2, 2.0]], np.float32)
    assert float(losses.Huber()(y, p)) == pytest.approx((0.02 + 1.5) / 2)
    assert float(losses.Huber(delta=3.0)(y, p)) == pytest.approx((0.02 + 2.0) / 2)
    smooth = losses.BinaryCrossentropy(from_logits=True, label_smoothing=1.0)
    # every target becomes 0.5: the loss of logit z is log(1 + e^z) - z/2, least at 0
    assert float(smooth([[1.0]], [[0.0]])) == pytest.approx(np.log(2))


def test_ignore_class_in_fit_and_evaluate():
    """Rows labelled ignore_class do not train; labels out of range are accepted only
    when they are that class."""
    import densefit

    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    y[::3] = 255
    model = densefit.Sequential([densefit.layers.Input((4,)), densefit.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, verbose=0)
    model.compile(loss=losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255),
                  metrics=["accuracy"])
    initial = model.get_weights()
    model.fit(x[::3], y[::3], epochs=2, verbose=0)  # only ignored rows: nothing moves
    for a, b in zip(model.get_weights(), initial):
        np.testing.assert_array_equal(a, b)
    loss, accuracy = model.evaluate(x, y, batch_size=30, verbose=0)
    kept = y != 255
    expected = losses.SparseCategoricalCrossentropy(from_logits=True)(
        y[kept], model.predict(x, verbose=0)[kept])
    assert loss == pytest.approx(float(expected), rel=1e-5)
    # accuracy counts every row, as Keras': an ignored row is never a hit
    assert accuracy == pytest.approx(np.mean(model.predict(x, verbose=0).argmax(1) == y))
