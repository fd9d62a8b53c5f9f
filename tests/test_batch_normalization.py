"""layers.BatchNormalization through the public API: Keras' weights, modes
(batch statistics in fit, moving ones in evaluate and predict), freezing,
folding an activation, summary, config and files.  The kernels themselves are
checked against reference.py in test_core.py, and against Keras in
test_keras_parity.py."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densefit
from densefit import layers, losses, optimizers, reference, regularizers
from densefit.layers import Activation, BatchNormalization, Dense, Input

TOL = dict(rtol=1e-5, atol=1e-6)


def data(n=12, features=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, features)) * 2 + 1).astype("float32"), rng.normal(
        size=(n, 2)).astype("float32")


def bn_model(bn=None, activation=None, units=4):
    stack = [Input((3,)), Dense(units), bn or BatchNormalization()]
    if activation:
        stack.append(Activation(activation))
    return densefit.Sequential(stack + [Dense(2)])


def forward(model, x, training):
    """The model's output by reference.py, with batch (training) or moving statistics."""
    kernel, bias, gamma, beta, mm, mv, k2, b2 = model.get_weights()
    h, _ = reference.batch_norm_forward(x @ kernel + bias, gamma, beta, mm, mv, 1e-3, training)
    return h @ k2 + b2


def test_weights_in_keras_order_and_groups():
    model = bn_model()
    bn = model.layers[1]
    assert bn.name == "batch_normalization"
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4,), (4,), (4,), (4,),
                                                       (4, 2), (2,)]
    gamma, beta, mm, mv = bn.get_weights()
    assert_array_equal(gamma, 1) and assert_array_equal(beta, 0)
    assert_array_equal(mm, 0) and assert_array_equal(mv, 1)
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    # Keras' regrouping: the model's trainable weights first, then the rest, each in layer order
    assert [w.shape for w in model.trainable_weights] == [(3, 4), (4,), (4,), (4,), (4, 2), (2,)]
    assert [w.shape for w in model.non_trainable_weights] == [(4,), (4,)]
    assert model.non_trainable_weights[0] is bn.weights[2]


@pytest.mark.parametrize("center, scale, names", [
    (False, True, ["gamma", "moving_mean", "moving_variance"]),
    (True, False, ["beta", "moving_mean", "moving_variance"]),
    (False, False, ["moving_mean", "moving_variance"])])
def test_center_and_scale_drop_beta_and_gamma(center, scale, names):
    model = bn_model(BatchNormalization(center=center, scale=scale))
    bn = model.layers[1]
    assert list(bn.weight_names) == names
    assert len(bn.get_weights()) == len(names)
    assert len(bn.trainable_weights) == len(names) - 2
    x, y = data()
    model.compile(optimizers.SGD(0.1), "mse")
    model.fit(x, y, batch_size=4, verbose=0)
    assert np.isfinite(model.predict(x, verbose=0)).all()


def test_fit_uses_batch_statistics_and_evaluate_predict_the_moving_ones():
    """With a learning rate of 1e-12 the weights stay: fit's loss is the batch-statistics
    loss, the moving statistics move once per batch, and evaluate and predict use them."""
    x, y = data()
    model = bn_model(BatchNormalization(momentum=0.9, moving_variance_initializer="ones"))
    model.compile(optimizers.SGD(1e-12), "mse")
    kernel, bias, _, _, mm, mv, _, _ = model.get_weights()
    want_loss = ((forward(model, x, True) - y) ** 2).mean()
    history = model.fit(x, y, batch_size=12, epochs=1, verbose=0, shuffle=False)
    assert_allclose(history.history["loss"][0], want_loss, **TOL)
    mean, var = reference.batch_moments(x @ kernel + bias)
    bn = model.layers[1]
    assert_allclose(bn.get_weights()[2], reference.moving_update(mm, mean, 0.9), **TOL)
    assert_allclose(bn.get_weights()[3], reference.moving_update(mv, var, 0.9), **TOL)
    inference = forward(model, x, False)
    assert_allclose(model.predict(x, verbose=0), inference, **TOL)
    assert_allclose(model.evaluate(x, y, verbose=0), ((inference - y) ** 2).mean(), **TOL)
    assert not np.allclose(inference, forward(model, x, True), atol=1e-3)


def test_activation_after_batch_normalization_folds_into_it():
    """Dense(4), BatchNormalization(), Activation("relu"): BN runs with a fused relu."""
    model = bn_model(activation="relu")
    plan = model._stack.plan
    assert len(plan) == 3 and plan[1][0] is model.layers[1] and plan[1][1].name == "relu"
    x, _ = data()
    model.layers[1].set_weights([np.ones(4), np.full(4, 0.5), np.full(4, 0.3), np.full(4, 2.0)])
    kernel, bias, gamma, beta, mm, mv, k2, b2 = model.get_weights()
    h, _ = reference.batch_norm_forward(x @ kernel + bias, gamma, beta, mm, mv, 1e-3, False)
    assert_allclose(model.predict(x, verbose=0), np.maximum(h, 0) @ k2 + b2, **TOL)


def test_frozen_batch_normalization_trains_nothing_and_runs_in_inference_mode():
    x, y = data()
    model = bn_model()
    model.compile(optimizers.SGD(0.1), "mse")
    model.fit(x, y, batch_size=4, verbose=0)
    bn = model.layers[1]
    bn.trainable = False
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4
    before = bn.get_weights()
    lr0 = bn_model()
    lr0.set_weights(model.get_weights())
    want = ((forward(model, x, False) - y) ** 2).mean()
    model.compile(optimizers.SGD(1e-12), "mse")
    history = model.fit(x, y, batch_size=12, verbose=0)
    assert_allclose(history.history["loss"][0], want, **TOL)
    model.compile(optimizers.SGD(0.1), "mse")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    for a, b in zip(before, bn.get_weights()):
        assert_array_equal(a, b)


def test_summary_counts_moving_statistics_as_non_trainable():
    lines = []
    bn_model().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(BatchNormalization)" in text
    assert "Total params: 42" in text  # (3 * 4 + 4) + 4 * 4 + (4 * 2 + 2), as Keras
    assert "Trainable params: 34" in text and "Non-trainable params: 8" in text  # moving


def test_save_and_load_continue_training_exactly(tmp_path):
    x, y = data(n=20)
    model = bn_model(BatchNormalization(momentum=0.8, epsilon=1e-2), activation="relu")
    model.compile(optimizers.Adam(0.01), "mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    model.save(tmp_path / "bn.densefit")
    loaded = densefit.load_model(tmp_path / "bn.densefit")
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert_array_equal(a, b)
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert_array_equal(a, b)


def test_config_round_trip_in_keras_order():
    bn = BatchNormalization(momentum=0.9, epsilon=1e-4, center=False, gamma_initializer="zeros",
                            name="bn", trainable=False)
    config = bn.get_config()
    assert list(config)[3:] == ["axis", "momentum", "epsilon", "center", "scale",
                                "beta_initializer", "gamma_initializer",
                                "moving_mean_initializer", "moving_variance_initializer",
                                "beta_regularizer", "gamma_regularizer", "beta_constraint",
                                "gamma_constraint", "synchronized", "renorm",
                                "renorm_clipping", "renorm_momentum"]
    again = layers.deserialize(layers.serialize(bn))
    assert type(again) is BatchNormalization and again.get_config() == config
    assert again.weight_names == ("gamma", "moving_mean", "moving_variance")
    assert not again.trainable


def test_keras_defaults():
    bn = BatchNormalization()
    assert (bn.axis, bn.momentum, bn.epsilon, bn.center, bn.scale) == (-1, 0.99, 1e-3, True, True)
    assert BatchNormalization(axis=1).axis == -1  # the same axis of 2-d data


@pytest.mark.parametrize("kwargs, match", [
    (dict(axis=0), r"axis=0\) is not supported.*axis=-1"),
    (dict(axis=2), r"axis=2\) is not supported"),
    (dict(gamma_constraint="non_neg"), "constraint.*not supported"),
    (dict(synchronized=True), "synchronized=True is not supported.*synchronized=False"),
    (dict(renorm=True), "renorm=False"),
    (dict(epsilon=0.0), "epsilon must be a finite number > 0"),
    (dict(momentum=float("nan")), "momentum must be a finite number"),
])
def test_what_densefit_cannot_do_is_refused_with_the_alternative(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchNormalization(**kwargs)


def test_arguments_are_fixed_once_made():
    bn = BatchNormalization()
    with pytest.raises(AttributeError, match="cannot be changed"):
        bn.momentum = 0.5


def test_regularizer_factors_reach_the_core_for_gamma_and_beta():
    bn = BatchNormalization(gamma_regularizer=regularizers.L1L2(0.5, 0.25),
                            beta_regularizer="l2")
    options = bn.core_options()
    assert options["l1"] == [0.5, 0.0, 0.0, 0.0] and options["l2"] == [0.25, 0.01, 0.0, 0.0]
    assert bn.get_config()["beta_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}
    assert options["weights"] == [True, True, True, True]
    assert (options["momentum"], options["epsilon"]) == (0.99, 1e-3)


def test_save_and_load_with_a_frozen_layer(tmp_path):
    """The optimizer's state covers the trainable weights only (not moving statistics,
    not a frozen layer's): a file of a trained model with both loads and trains on."""
    x, y = data(n=20)
    model = bn_model()
    model.layers[0].trainable = False
    model.compile(optimizers.Adam(0.01), "mse")
    model.fit(x, y, batch_size=8, verbose=0, shuffle=False)
    model.save(tmp_path / "frozen.densefit")
    loaded = densefit.load_model(tmp_path / "frozen.densefit")
    model.fit(x, y, batch_size=8, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert_array_equal(a, b)


def test_a_batch_whose_variance_overflows_is_refused_whole():
    """A spread beyond float32's range overflows the batch variance while the
    normalised output, and so the loss, stays finite: the batch is refused (a
    warning, training stops) rather than folding inf into the moving variance."""
    x, y = data(n=8)
    x[::2] *= 1e25  # float32 values, whose variance is not one
    model = densefit.Sequential([Input((3,)), BatchNormalization(), Dense(2)])
    model.compile(optimizers.SGD(0.1), "mse")
    before = model.get_weights()
    with pytest.warns(RuntimeWarning, match="moving statistics .*NaN or inf"):
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for a, b in zip(before, model.get_weights()):
        assert_array_equal(a, b)
    assert model.optimizer.iterations == 0
