"""densefit.layers.Normalization: adapt, the model around it, its weights and files.

Outputs are checked against ``densefit.reference``; Keras' own numbers are in
test_keras_parity.py.
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from densefit import Sequential, backend, reference
from densefit.layers import Dense, Input, Normalization, serialize, deserialize
from densefit.models import load_model
from densefit.utils import set_random_seed


@pytest.fixture(autouse=True)
def _seeded():
    set_random_seed(7)


@pytest.fixture
def x():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(60, 4)) * [1, 10, 100, 0.1] + [5, -3, 0, 2]).astype("float32")


def test_adapt_sets_the_mean_and_population_variance(x):
    norm = Normalization()
    assert norm.mean is None and norm.variance is None
    norm.adapt(x)
    mean, variance = reference.adapt_statistics(x)
    assert norm.mean.shape == (1, 4) and norm.variance.shape == (1, 4)  # Keras' shapes
    assert_allclose(norm.mean[0], mean, rtol=1e-6)
    assert_allclose(norm.variance[0], variance, rtol=1e-6)  # np.var: ddof=0


def test_keras_io_pattern_normalization_first_then_fit_and_predict(x):
    y = (x[:, :1] > 5).astype("float32")
    norm = Normalization()
    norm.adapt(x)
    model = Sequential([norm, Dense(8, activation="relu"), Dense(1, activation="sigmoid")])
    assert model.built and model.input_shape == (None, 4)  # the width from adapt's data
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    after = model.get_weights()
    for i in range(3):  # mean, variance, count: never trained
        assert_array_equal(after[i], before[i])
    assert not np.allclose(after[3], before[3])
    kernel, bias = (w.astype(np.float64) for w in after[3:5])
    hidden = reference.dense_forward(
        reference.normalization_forward(x.astype(np.float64), after[0], after[1]),
        kernel, bias, "relu", 0.0)
    out = reference.dense_forward(hidden, after[5].astype(np.float64),
                                  after[6].astype(np.float64), "sigmoid", 0.0)
    assert_allclose(model.predict(x, verbose=0), out, rtol=1e-5, atol=1e-6)


def test_weights_are_keras_mean_variance_count(x):
    norm = Normalization()
    model = Sequential([Input((4,)), norm, Dense(2)])
    assert [w.shape for w in norm.get_weights()] == [(4,), (4,), ()]
    assert norm.trainable_weights == [] and len(norm.non_trainable_weights) == 3
    assert_array_equal(norm.get_weights()[0], 0)  # before adapt: the identity, as Keras
    assert_array_equal(norm.get_weights()[1], 1)
    assert_allclose(model.predict(x, verbose=0), x @ model.get_weights()[3]
                    + model.get_weights()[4], rtol=1e-5, atol=1e-5)
    norm.adapt(x)  # in a built model: written into its weights
    assert_allclose(norm.get_weights()[0], x.mean(0), rtol=1e-5)
    assert norm.get_weights()[2] == 0  # Keras never updates count
    assert model.count_params() == 4 + 4 + 1 + 10


def test_invert_undoes_normalization(x):
    norm = Normalization()
    norm.adapt(x)
    inv = Normalization(invert=True)
    inv.adapt(x)
    model = Sequential([Input((4,)), norm, inv])
    assert_allclose(model.predict(x, verbose=0), x, rtol=1e-5, atol=1e-4)


def test_given_mean_and_variance_and_the_deviation_floor():
    model = Sequential([Input((2,)), Normalization(mean=1.0, variance=0.0)])
    assert_array_equal(model.predict(np.array([[1.0, 1.5]], "float32"), verbose=0),
                       [[0.0, np.float32(0.5) / np.float32(1e-7)]])
    m = Sequential([Input((3,)), Normalization(mean=[1, 2, 3], variance=[4, 4, 4])])
    assert_allclose(m.predict(np.zeros((1, 3)), verbose=0), [[-0.5, -1, -1.5]])


def test_adapt_before_and_after_building(x):
    norm = Normalization()
    model = Sequential([norm, Dense(3)])  # not adapted: builds on the first data
    assert not model.built
    norm.adapt(x[:, :2] * 0 + 1)
    with pytest.raises(ValueError, match="has 2 features but the model's input has 4"):
        model.predict(x, verbose=0)
    norm.adapt(x)
    model.predict(x, verbose=0)
    norm.adapt(x * 2)  # replaces, never accumulates
    assert_allclose(norm.mean[0], 2 * x.mean(0), rtol=1e-5)
    with pytest.raises(ValueError, match="has 4 features but adapt's data has 3"):
        norm.adapt(x[:, :3])


@pytest.mark.parametrize("data", ["list", "batches", "pandas"])
def test_adapt_data_kinds(x, data):
    if data == "pandas":
        pd = pytest.importorskip("pandas")
        given = pd.DataFrame(x, columns=list("abcd"))
    else:
        given = x.tolist() if data == "list" else [x[:25], x[25:]]
    norm = Normalization()
    norm.adapt(given, batch_size=8)
    assert_allclose(norm.mean[0], x.astype(np.float64).mean(0), rtol=1e-5)
    assert_allclose(norm.variance[0], x.astype(np.float64).var(0), rtol=1e-5)


def test_save_load_keeps_the_statistics(tmp_path, x):
    norm = Normalization()
    norm.adapt(x)
    model = Sequential([norm, Dense(2)])
    model.compile("adam", "mse")
    model.fit(x, x[:, :2], epochs=1, verbose=0)
    model.save(tmp_path / "m.densefit")
    loaded = load_model(tmp_path / "m.densefit")
    assert type(loaded.layers[0]) is Normalization
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert_array_equal(a, b)
    assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_config_round_trip():
    backend.clear_session()
    norm = Normalization(mean=[1.0, 2.0], variance=[3.0, 4.0], invert=True)
    config = norm.get_config()
    assert config == {"name": "normalization", "axis": (-1,), "invert": True,
                      "mean": [1.0, 2.0], "variance": [3.0, 4.0], "dtype": None}
    again = deserialize(serialize(norm))
    assert isinstance(again, Normalization) and again.get_config() == config
    assert Normalization.from_config(Normalization(axis=1).get_config()).axis == (-1,)


@pytest.mark.parametrize("kwargs, match", [
    (dict(mean=1.0), "both `mean` and `variance` must be set"),
    (dict(mean=[1, 2], variance=[1, 2, 3]), "must have the same shape"),
    (dict(axis=0), "axis=0 is not supported"),
])
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Normalization(**kwargs)


@pytest.mark.parametrize("data", [np.ones(5), np.ones((2, 3, 4)), np.ones((0, 3)),
                                  np.array([[1.0, np.nan]])])
def test_adapt_refuses_what_it_cannot_normalize(data):
    with pytest.raises(ValueError, match="adapt"):
        Normalization().adapt(data)


def test_adapt_refused_with_given_statistics_and_wrong_width_at_build():
    with pytest.raises(ValueError, match="adapt would replace them"):
        Normalization(mean=0.0, variance=1.0).adapt(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"shape \(2,\), the model's input has 3"):
        Sequential([Input((3,)), Normalization(mean=[0, 0], variance=[1, 1])])
    with pytest.raises(AttributeError):
        Normalization().invert = True


def test_axis_none_one_statistic_over_all_values_as_tensorflows_regression_tutorial():
    """``Normalization(input_shape=[1,], axis=None)`` adapted on a 1-d feature, then
    a model fitted and called on 1-d x (Keras 3 adds the feature axis)."""
    rng = np.random.default_rng(0)
    horsepower = rng.uniform(50, 200, 300).astype(np.float32)
    norm = Normalization(input_shape=[1], axis=None)
    norm.adapt(horsepower)
    assert_allclose(norm.mean, horsepower.mean(), rtol=1e-6)
    assert_allclose(norm.variance, horsepower.var(), rtol=1e-5)
    assert norm.mean.shape == ()
    set_random_seed(0)
    model = Sequential([norm, Dense(1)])
    kernel, bias = model.get_weights()[3:]
    expected = (horsepower[:, None] - horsepower.mean()) / horsepower.std() @ kernel + bias
    assert_allclose(model.predict(horsepower, verbose=0), expected, rtol=1e-4, atol=1e-5)
    model.compile("adam", "mean_absolute_error")
    history = model.fit(horsepower, horsepower * 0.1, epochs=2, verbose=0, validation_split=0.2)
    assert np.isfinite(history.history["val_loss"]).all()
    assert Normalization.from_config(norm.get_config()).axis is None


def test_axis_none_statistics_broadcast_over_every_feature():
    x = np.arange(12.0).reshape(4, 3)
    norm = Normalization(axis=None)
    norm.adapt(x)
    model = Sequential([norm])
    assert_allclose(model.predict(x, verbose=0), (x - x.mean()) / x.std(), rtol=1e-6)
    with pytest.raises(ValueError, match="axis=None takes a scalar mean"):
        Sequential([Input((2,)), Normalization(axis=None, mean=[0, 1], variance=[1, 1])])



def test_called_on_data_normalizes_as_in_a_model():
    """norm(x) outside a model gives what the layer computes inside one:
    before and after building, float32, and a width mismatch said as such."""
    x = np.random.default_rng(1).normal(5, 3, (40, 2))
    norm = Normalization()
    np.testing.assert_array_equal(norm(x), x.astype(np.float32))  # identity until adapted
    norm.adapt(x)
    direct = norm(x)
    assert direct.dtype == np.float32 and direct.shape == x.shape
    np.testing.assert_allclose(direct.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(direct.std(0), 1, rtol=1e-5)
    model = Sequential([norm])
    np.testing.assert_allclose(model.predict(x, verbose=0), direct, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(norm(x), direct)
    with pytest.raises(ValueError, match="2 features but inputs have 3"):
        norm(np.ones((2, 3)))
