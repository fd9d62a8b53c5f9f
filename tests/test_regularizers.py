"""densefit.regularizers: Keras 3's names, defaults, strings and configs, and
their place in a model (config, saving, model.losses, the reported loss)."""
import numpy as np
import pytest

import densefit
from densefit import Sequential, regularizers as R
from densefit.layers import Activation, Dense, Input

W = np.array([[1.0, -2.0], [3.0, 0.5]], np.float32)


def test_defaults_and_penalties_are_keras():
    assert R.L1().get_config() == {"l1": 0.01} and R.L2().get_config() == {"l2": 0.01}
    assert R.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert R.l1 is R.L1 and R.l2 is R.L2 and R.l1_l2 is R.L1L2  # Keras 3: the same classes
    assert R.l1_l2().get_config() == {"l1": 0.0, "l2": 0.0}  # a no-op, as in Keras 3
    assert float(R.l1(0.1)(W)) == pytest.approx(0.65)
    assert float(R.l2(0.1)(W)) == pytest.approx(1.425)
    assert float(R.L1L2(0.1, 0.2)(W)) == pytest.approx(3.5)


@pytest.mark.parametrize("name, cls, config", [
    ("l1", R.L1, {"l1": 0.01}), ("l2", R.L2, {"l2": 0.01}), ("L2", R.L2, {"l2": 0.01}),
    ("l1l2", R.L1L2, {"l1": 0.0, "l2": 0.0}), ("L1L2", R.L1L2, {"l1": 0.0, "l2": 0.0})])
def test_string_identifiers(name, cls, config):
    got = R.get(name)
    assert type(got) is cls and got.get_config() == config


def test_get_forms_and_refusals():
    assert R.get(None) is None
    r = R.L2(0.3)
    assert R.get(r) is r and R.get(R.L1) == R.L1()
    keras_dict = {"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.3},
                  "registered_name": None}
    assert R.get(keras_dict) == R.L2(0.3)
    with pytest.raises(ValueError, match="l1_l2.*L1L2"):
        R.get("l1_l2")  # Keras 3 refuses it too
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'"):
        R.get("l3")
    with pytest.raises(NotImplementedError, match="OrthogonalRegularizer is not supported"):
        R.get("orthogonal_regularizer")
    with pytest.raises(NotImplementedError, match="OrthogonalRegularizer"):
        R.OrthogonalRegularizer()
    with pytest.raises(TypeError, match="regularizer must be"):
        R.get(lambda w: 0.0)


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "a", True])
def test_factors_are_checked(bad):
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0"):
        R.L2(bad)


@pytest.mark.parametrize("r", [R.L1(0.2), R.L2(0.3), R.L1L2(0.1, 0.2)])
def test_config_round_trip(r):
    assert type(r).from_config(r.get_config()) == r
    assert R.deserialize(R.serialize(r)) == r
    assert R.serialize(r) == {"class_name": type(r).__name__, "config": r.get_config()}


def test_a_custom_penalty_is_refused_by_a_layer():
    class Custom(R.Regularizer):
        def __call__(self, x):
            return np.sum(x ** 4)
    with pytest.raises(TypeError, match="kernel_regularizer=.*compiled loop"):
        Dense(2, kernel_regularizer=Custom())


def _model(**kwargs):
    model = Sequential([Input((3,)), Dense(4, activation="relu", name="d0", **kwargs),
                        Dense(2, name="d1")])
    model.compile("adam", densefit.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_dense_config_saves_and_loads_its_regularizers(tmp_path):
    model = _model(kernel_regularizer="l2", bias_regularizer=R.L1(0.5),
                   activity_regularizer=R.L1L2(0.1, 0.2))
    config = model.layers[0].get_config()
    assert config["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    assert Dense.from_config(config).activity_regularizer == R.L1L2(0.1, 0.2)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = densefit.load_model(path)
    assert loaded.layers[0].bias_regularizer == R.L1(0.5)
    with pytest.raises(AttributeError, match="cannot be changed"):
        model.layers[0].kernel_regularizer = R.L2(1.0)


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(10, 3)).astype(np.float32), rng.integers(0, 2, 10)


def test_fit_and_evaluate_report_the_penalties():
    """Keras' composition (keras-notes §5): loss + weight penalties + activity
    penalty of the relu output over the batch's rows, pre-update weights."""
    x, y = _data()
    model = _model(kernel_regularizer="l2", bias_regularizer=R.l1(0.5),
                   activity_regularizer=R.l1(0.1))
    model.compile(densefit.optimizers.SGD(1e-30), model.loss)
    d0, d1 = model.layers
    hidden = np.maximum(x @ d0.kernel + d0.bias, 0)
    z = hidden @ d1.kernel + d1.bias
    ce = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(10), y])
    expected = (ce + 0.01 * np.sum(d0.kernel ** 2) + 0.5 * np.abs(d0.bias).sum()
                + 0.1 * hidden.sum() / 10)
    assert model.evaluate(x, y, batch_size=3, verbose=0) == pytest.approx(expected, rel=1e-5)
    history = model.fit(x, y, batch_size=10, verbose=0).history
    assert history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_model_losses_as_keras():
    x, _ = _data()
    model = _model(kernel_regularizer="l2", bias_regularizer=R.l1(0.5),
                   activity_regularizer=R.l1(0.1))
    d0 = model.layers[0]
    weights = [0.01 * np.sum(d0.kernel ** 2), 0.5 * np.abs(d0.bias).sum()]
    np.testing.assert_allclose(model.losses, weights, rtol=1e-6)  # no call yet: weights only
    model(x)
    activity = 0.1 * np.maximum(x @ d0.kernel + d0.bias, 0).sum() / len(x)
    np.testing.assert_allclose(model.losses, [activity] + weights, rtol=1e-5)
    d0.trainable = False  # a frozen layer's weights are not regularized (Keras)
    np.testing.assert_allclose(model.losses, [activity], rtol=1e-5)


def test_frozen_weights_leave_the_loss():
    x, y = _data()
    model = _model(kernel_regularizer=R.L2(10.0))
    plain = _model()
    plain.set_weights(model.get_weights())
    model.layers[0].trainable = False
    assert model.evaluate(x, y, verbose=0) == pytest.approx(plain.evaluate(x, y, verbose=0))


def test_activity_regularizer_keeps_the_next_activation_apart():
    """Keras penalizes the Dense's own output, before a following Activation layer."""
    x, _ = _data()
    model = Sequential([Input((3,)), Dense(4, activity_regularizer=R.L1(1.0)),
                        Activation("relu"), Dense(2)])
    model(x)
    d0 = model.layers[0]
    assert float(model.losses[0]) == pytest.approx(np.abs(x @ d0.kernel + d0.bias).sum() / 10,
                                                   rel=1e-5)


def test_activity_on_a_fused_output_is_refused():
    model = Sequential([Input((3,)), Dense(2, activation="softmax",
                                           activity_regularizer="l2")])
    with pytest.raises(ValueError, match="activity_regularizer on the output layer"):
        model.compile("adam", "sparse_categorical_crossentropy")
