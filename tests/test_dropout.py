"""Dropout: the compiled masks against densefit.reference, bit for bit, and the
layer end to end (fit, predict, evaluate, ``model(x, training=True)``, seeds,
chunked epochs, saving).

The masks are a pure function of (seed, step, row, column): the C core and
``reference.dropout_mask`` compute them independently, so a difference in the
hash, the threshold, the index or the step the loop passes shows up as a
mismatch here.
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densefit
from densefit import Sequential, _core, callbacks, layers, optimizers, reference, training_loop
from densefit.layers import Dense, Dropout, Input
from densefit.utils import set_random_seed

DTYPES = [np.float32, np.float64]
LINEAR, TANH = _core.ACTIVATIONS["linear"], _core.ACTIVATIONS["tanh"]
DROPOUT, DENSE = _core.LAYER_KINDS["dropout"], _core.LAYER_KINDS["dense"]
SHAPES = [(1, 1), (1, 9), (3, 7), (33, 17), (64, 130)]
SEEDS = [0, 12345, 2**63 + 17, 2**64 - 1]
STEPS = [0, 1, 7, 2**40, -1]  # -1: model(x, training=True)'s first call


def dropout_network(n, rate, seed, dtype):
    """A network of one Dropout layer on n features (no weights)."""
    empty = np.zeros(0, dtype)
    return _core.Network([n, n], [LINEAR], [0.0], empty, empty.copy(), kinds=[DROPOUT],
                         options=[{"rate": rate, "seed": seed}])


def core_dropout(x, rate, seed, step, training=True):
    net = dropout_network(x.shape[1], rate, seed, x.dtype)
    work = _core.Workspace(net, len(x), False, True)
    return _core.forward(net, work, x, training, step)[-1]


def nonzero(rng, shape, dtype):
    """Values away from 0, so a kept value is never mistaken for a dropped one."""
    x = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return x.astype(dtype)


# ------------------------------------------------------------------ the kernel

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, cols", SHAPES)
@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_mask_matches_reference(dtype, rows, cols, rate):
    rng = np.random.default_rng(rows * 100 + cols)
    x = nonzero(rng, (rows, cols), dtype)
    for seed in SEEDS:
        for step in STEPS:
            mask = reference.dropout_mask(seed, step, rows, cols, rate)
            out = core_dropout(x, rate, seed, step)
            assert out.dtype == dtype
            assert_array_equal(out != 0, mask, err_msg=f"seed {seed} step {step}")
            assert_array_equal(out, reference.dropout(x, mask, rate))


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_values(dtype):
    """Large, tiny and zero values are scaled as the reference scales them."""
    x = np.array([[1e30, -1e30, 1e-30, -1e-30, 0.0, 80.0, -80.0]] * 5, dtype)
    mask = reference.dropout_mask(3, 4, 5, 7, 0.3)
    assert_array_equal(core_dropout(x, 0.3, 3, 4), reference.dropout(x, mask, 0.3))


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5, 0.8])
def test_kept_fraction_and_scale(rate):
    """Each value is kept with probability 1 - rate (within 5 standard deviations
    over 10**5 values) and kept ones are scaled by 1 / (1 - rate)."""
    x = np.ones((2000, 50), np.float32)
    out = core_dropout(x, rate, 7, 0)
    kept = out != 0
    sigma = np.sqrt(rate * (1 - rate) / x.size)
    assert abs(kept.mean() - (1 - rate)) < 5 * sigma
    assert_array_equal(out[kept], np.float32(1 / (1 - rate)))
    # rows and columns carry no pattern: every column's fraction is plausible too
    assert np.abs(kept.mean(axis=0) - (1 - rate)).max() < 6 * np.sqrt(rate * (1 - rate) / 2000)


def test_masks_change_with_step_and_seed():
    x = np.ones((16, 32))
    base = core_dropout(x, 0.5, 1, 0)
    assert_array_equal(core_dropout(x, 0.5, 1, 0), base)
    assert not np.array_equal(core_dropout(x, 0.5, 1, 1), base)
    assert not np.array_equal(core_dropout(x, 0.5, 2, 0), base)


@pytest.mark.parametrize("dtype", DTYPES)
def test_identity_outside_training_and_at_rate_zero(dtype):
    x = nonzero(np.random.default_rng(0), (9, 13), dtype)
    assert_array_equal(core_dropout(x, 0.7, 1, 3, training=False), x)
    assert_array_equal(core_dropout(x, 0.0, 1, 3), x)


def test_threshold_is_rate_times_two_to_the_53():
    """A value is dropped when its 53 bits are below rate * 2**53: a rate just
    above 0 drops (almost) nothing, a rate just below 1 (almost) everything."""
    x = np.ones((100, 100))
    assert (core_dropout(x, 1e-12, 5, 0) != 0).all()
    assert (core_dropout(x, 1 - 1e-12, 5, 0) == 0).all()


# ------------------------------------------------------------------ backward

def dense_dropout_dense(rate, seed, dtype, rng, n_in=5, hidden=7, n_out=3):
    """Dense(tanh) -> Dropout -> Dense(linear), its parameters and a workspace."""
    layout = _core.layout([n_in, hidden, hidden, n_out], kinds=[DENSE, DROPOUT, DENSE],
                          options=[None, {"rate": rate, "seed": seed}, None])
    params = (rng.normal(size=layout.n_params) * 0.7).astype(dtype)
    net = _core.Network([n_in, hidden, hidden, n_out], [TANH, LINEAR, LINEAR], [0.0] * 3,
                        params, np.zeros_like(params), kinds=[DENSE, DROPOUT, DENSE],
                        options=[None, {"rate": rate, "seed": seed}, None])
    return net, _core.Workspace(net, 8, False, True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_matches_reference(dtype):
    """Gradients through Dense -> Dropout -> Dense equal the reference's, which
    applies the forward pass's mask (same seed and step) to the gradient."""
    rng = np.random.default_rng(1)
    net, work = dense_dropout_dense(0.4, 99, dtype, rng)
    x, g = rng.normal(size=(8, 5)).astype(dtype), rng.normal(size=(8, 3)).astype(dtype)
    step = 5
    _core.forward(net, work, x, True, step)
    dx = _core.backward(net, work, x, g, step, need_dx=True)
    (k1, b1), _, (k2, b2) = net.weight_views()
    mask = reference.dropout_mask(99, step, 8, 7, 0.4)
    h = reference.dense_forward(x, k1, b1, "tanh", 0.0)
    d = reference.dropout(h, mask, 0.4)
    dk2, db2, dd = reference.dense_backward(d, k2, d @ k2 + b2, g, "linear", 0.0, True)
    dk1, db1, dx_ref = reference.dense_backward(x, k1, h, reference.dropout(dd, mask, 0.4),
                                                "tanh", 0.0, True)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    flat = np.concatenate([a.ravel() for a in (dk1, db1, dk2, db2)])
    assert_allclose(net.grads, flat, **tol)
    assert_allclose(dx, dx_ref, **tol)


def test_backward_finite_differences():
    """Central finite differences of sum(g * output) at a fixed step (a fixed
    mask) agree with backward, for every parameter and every input."""
    rng = np.random.default_rng(2)
    net, work = dense_dropout_dense(0.5, 7, np.float64, rng)
    x, g = rng.normal(size=(8, 5)), rng.normal(size=(8, 3))
    step = 11

    def loss(inputs):
        return float((_core.forward(net, work, inputs, True, step)[-1] * g).sum())

    loss(x)
    dx = _core.backward(net, work, x, g, step, need_dx=True)
    grads = net.grads.copy()
    h = 1e-6
    numeric = np.empty_like(grads)
    for i in range(len(net.params)):
        saved = net.params[i]
        net.params[i] = saved + h
        up = loss(x)
        net.params[i] = saved - h
        numeric[i] = (up - loss(x)) / (2 * h)
        net.params[i] = saved
    assert_allclose(grads, numeric, rtol=1e-6, atol=1e-8)
    numeric_x = np.empty_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        numeric_x[i] = (loss(x + e) - loss(x - e)) / (2 * h)
    assert_allclose(dx, numeric_x, rtol=1e-6, atol=1e-8)
    # the mask did matter: some hidden units take no gradient
    assert (reference.dropout_mask(7, step, 8, 7, 0.5) == 0).any()


# ------------------------------------------------------------------ in fit

def regression(n=10, features=4, outputs=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)), rng.normal(size=(n, outputs))


def model_with(rate, seed=3, dtype="float64", hidden=6):
    return Sequential([Input((4,), dtype=dtype), Dense(hidden, activation="tanh"),
                       Dropout(rate, seed=seed), Dense(2)])


def test_fit_steps_match_reference():
    """Two SGD steps (batches of 5, no shuffle) through Dense -> Dropout -> Dense
    equal the reference computed with the masks of steps 0 and 1 (the optimizer's
    iterations) over each batch's rows."""
    x, y = regression()
    model = model_with(0.5)
    k1, b1, k2, b2 = model.get_weights()
    model.compile(optimizers.SGD(0.1), "mse")
    model.fit(x, y, batch_size=5, epochs=1, shuffle=False, verbose=0)
    for step, rows in enumerate((slice(0, 5), slice(5, 10))):
        xb, yb = x[rows], y[rows]
        mask = reference.dropout_mask(3, step, 5, 6, 0.5)
        h = reference.dense_forward(xb, k1, b1, "tanh", 0.0)
        d = reference.dropout(h, mask, 0.5)
        out = d @ k2 + b2
        _, g = reference.mean_squared_error(out, yb)
        dk2, db2, dd = reference.dense_backward(d, k2, out, g, "linear", 0.0, True)
        dk1, db1, _ = reference.dense_backward(xb, k1, h, reference.dropout(dd, mask, 0.5),
                                               "tanh", 0.0, False)
        k1, b1, k2, b2 = (w - 0.1 * dw for w, dw in zip((k1, b1, k2, b2), (dk1, db1, dk2, db2)))
    for got, want in zip(model.get_weights(), (k1, b1, k2, b2)):
        assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def trained(model, x, y, **fit):
    model.compile(optimizers.Adam(0.01), "mse")
    model.fit(x, y, verbose=0, **dict(dict(batch_size=4, epochs=2), **fit))
    return model.get_weights()


def test_rate_zero_equals_no_layer():
    x, y = regression(30)
    set_random_seed(0)
    with_layer = trained(model_with(0.0, dtype="float32"), x, y)
    set_random_seed(0)
    plain = Sequential([Input((4,)), Dense(6, activation="tanh"), Dense(2)])
    for a, b in zip(with_layer, trained(plain, x, y)):
        assert_array_equal(a, b)


def test_dropout_changes_training():
    x, y = regression(30)
    set_random_seed(0)
    dropped = trained(model_with(0.5), x, y)
    set_random_seed(0)
    kept = trained(model_with(0.0), x, y)
    assert not np.allclose(dropped[0], kept[0])


def test_predict_and_evaluate_are_identity():
    x, y = regression(30)
    model = model_with(0.5)
    trained(model, x, y)
    plain = Sequential([Input((4,), dtype="float64"), Dense(6, activation="tanh"), Dense(2)])
    plain.set_weights(model.get_weights())
    plain.compile("sgd", "mse")
    assert_array_equal(model.predict(x, verbose=0), plain.predict(x, verbose=0))
    assert_array_equal(model(x), plain(x))
    assert model.evaluate(x, y, verbose=0) == plain.evaluate(x, y, verbose=0)


def test_reproducible_under_set_random_seed():
    """Dropout(seed=None) draws its seed from the global generator: the same
    global seed gives the same seed, masks and trained weights."""
    x, y = regression(30)
    runs = []
    for _ in range(2):
        set_random_seed(5)
        model = Sequential([Input((4,)), Dense(6, activation="relu"), Dropout(0.3), Dense(2)])
        runs.append((model.layers[1].seed, trained(model, x, y, shuffle=True)))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        assert_array_equal(a, b)
    set_random_seed(6)
    assert Dropout(0.3).seed != runs[0][0]


class _BatchHook(callbacks.Callback):
    """Any batch hook makes fit run one batch per compiled call."""

    def on_train_batch_end(self, batch, logs=None):
        pass


def test_same_weights_however_an_epoch_is_chunked(monkeypatch):
    x, y = regression(103)
    results = []
    for fit in ({}, {"callbacks": [_BatchHook()]}, "big chunks"):
        set_random_seed(1)
        model = model_with(0.4, seed=None, dtype="float32")
        if fit == "big chunks":
            monkeypatch.setattr(training_loop, "CHUNK_SECONDS", 1e6)
            fit = {}
        results.append(trained(model, x, y, shuffle=True, epochs=3, **fit))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert_array_equal(a, b)


def test_two_fits_of_one_epoch_equal_one_fit_of_two():
    """The masks follow the optimizer's iterations, which a second fit continues."""
    x, y = regression(40)
    set_random_seed(2)
    once = trained(model_with(0.5, seed=None), x, y, shuffle=True, epochs=2)
    set_random_seed(2)
    model = model_with(0.5, seed=None)
    model.compile(optimizers.Adam(0.01), "mse")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert model.optimizer.iterations == 20
    for a, b in zip(once, model.get_weights()):
        assert_array_equal(a, b)


def test_config_round_trip_keeps_the_seed():
    set_random_seed(9)
    layer = Dropout(0.25)
    config = layer.get_config()
    assert config["seed"] == layer.seed and config["rate"] == 0.25
    again = Dropout.from_config(config)
    assert (again.seed, again.rate, again.noise_shape) == (layer.seed, 0.25, None)
    restored = layers.deserialize(layers.serialize(layer))
    assert isinstance(restored, Dropout) and restored.seed == layer.seed


def test_saved_model_continues_training_exactly(tmp_path):
    x, y = regression(30)
    model = model_with(0.5, seed=None)
    trained(model, x, y, shuffle=True, epochs=1)
    model.save(tmp_path / "m.keras")
    loaded = densefit.load_model(tmp_path / "m.keras")
    assert loaded.layers[1].seed == model.layers[1].seed
    for m in (model, loaded):
        m.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=True)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert_array_equal(a, b)


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_rate_out_of_range(rate):
    with pytest.raises(ValueError, match="rate"):
        Dropout(rate)


def test_no_weights():
    model = model_with(0.2)
    layer = model.layers[1]
    assert layer.weights == layer.get_weights() == layer.trainable_weights == []
    assert layer.count_params() == 0
    layer.set_weights([])
    with pytest.raises(ValueError, match="0 arrays"):
        layer.set_weights([np.ones(1)])


# ------------------------------------------------------------------ model(x, training=...)

def test_call_in_training_mode():
    """model(x, training=True): dropout active (kept values scaled), a fresh mask
    each call, weights and the optimizer's step untouched."""
    model = Sequential([Input((50,), dtype="float64"), Dropout(0.2, seed=4)])
    x = np.ones((2000, 50))
    assert_array_equal(model(x), x)
    assert_array_equal(model(x, training=False), x)
    first = model(x, training=True)
    assert set(np.unique(first)) == {0.0, 1.25}
    assert abs((first == 0).mean() - 0.2) < 0.01
    second = model(x, training=True)
    assert not np.array_equal(first, second)
    # the k-th training call uses step -1 - k: never one of fit's steps (>= 0)
    assert_array_equal(first != 0, reference.dropout_mask(4, -1, 2000, 50, 0.2))
    assert_array_equal(second != 0, reference.dropout_mask(4, -2, 2000, 50, 0.2))


def test_call_in_training_mode_is_reproducible():
    x, _ = regression(20)
    outs = []
    for _ in range(2):
        set_random_seed(3)
        model = model_with(0.5, seed=None)
        outs.append([model(x, training=True) for _ in range(3)])
    for a, b in zip(*outs):
        assert_array_equal(a, b)


def test_call_in_training_mode_matches_reference():
    x, _ = regression(20)
    model = model_with(0.5)
    k1, b1, k2, b2 = model.get_weights()
    mask = reference.dropout_mask(3, -1, 20, 6, 0.5)
    h = reference.dropout(reference.dense_forward(x, k1, b1, "tanh", 0.0), mask, 0.5)
    assert_allclose(model(x, training=True), h @ k2 + b2, rtol=1e-12, atol=1e-14)


def test_call_in_training_mode_leaves_weights_and_step():
    x, y = regression(20)
    model = model_with(0.5)
    trained(model, x, y, epochs=1)
    before, iterations = model.get_weights(), model.optimizer.iterations
    model(x, training=True)
    assert model.optimizer.iterations == iterations
    for a, b in zip(before, model.get_weights()):
        assert_array_equal(a, b)


@pytest.mark.parametrize("training", ["yes", 1, 0.0])
def test_call_training_must_be_a_bool(training):
    model = model_with(0.5)
    with pytest.raises(TypeError, match="training"):
        model(np.ones((2, 4)), training=training)


def test_call_in_training_mode_builds_and_checks_inputs():
    model = Sequential([Dense(3), Dropout(0.5, seed=1), Dense(1)])
    out = model(np.ones((4, 5), np.float32), training=True)
    assert out.shape == (4, 1) and model.built
    with pytest.raises(ValueError):
        model(np.full((2, 5), np.nan, np.float32), training=True)
    assert model(np.ones((0, 5), np.float32), training=True).shape == (0, 1)


def test_training_outputs_update_moving_statistics():
    """A training call normalizes by the batch's statistics and then moves batch
    normalization's moving statistics as Keras 3's does (momentum weighs the
    old value; the variance is the biased one); a frozen layer stays put."""
    bn = _core.LAYER_KINDS["batch_normalization"]
    x = np.random.default_rng(3).normal(2.0, 3.0, size=(9, 3))
    for trainable in (True, False):
        options = [{"momentum": 0.99, "epsilon": 1e-3, "trainable": trainable}]
        layout = _core.layout([3, 3], kinds=[bn], options=options)
        params = np.zeros(layout.n_params)
        net = _core.Network([3, 3], [LINEAR], [0.0], params, np.zeros_like(params), kinds=[bn],
                            options=options, state=np.zeros(layout.n_state))
        gamma, beta, mean, variance = net.weight_views()[0]
        gamma[...], beta[...], mean[...], variance[...] = 1.5, 0.5, 0.25, 2.0
        out = densefit.inference.training_outputs(net, x, 0)
        if trainable:
            z = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3)
            assert_allclose(out, 1.5 * z + 0.5, rtol=1e-12, atol=1e-12)
            assert_allclose(mean, 0.99 * 0.25 + 0.01 * x.mean(0), rtol=1e-12)
            assert_allclose(variance, 0.99 * 2.0 + 0.01 * x.var(0), rtol=1e-12)
        else:
            assert_allclose(out, 1.5 * (x - 0.25) / np.sqrt(2.0 + 1e-3) + 0.5, rtol=1e-12)
            assert_array_equal(mean, 0.25)
            assert_array_equal(variance, 2.0)
