"""Numerical safety of whole-model training: extreme inputs and logits, saturated
sigmoids, all-equal logits and absurd learning rates.

The promise: ``fit`` either reports finite losses, or stops with the core's
RuntimeWarning ("... training stopped before applying that batch"); in every
case the weights (and the optimizer's slots) it leaves are finite.  A batch
whose loss is not finite is not applied, and neither is an optimizer step that
would overflow a parameter or a slot (the core checks each step before writing
it: csrc/kernels_impl.h, ``df_step_is_finite``).
"""
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from densefit import Sequential, _core, losses, optimizers
from densefit.activations import LEAKY_RELU_SLOPE as KERAS_SLOPE  # leaky_relu's default
from densefit.layers import Dense, Input
from densefit.optimizers import SGD, Adam, RMSprop
from densefit.utils import set_random_seed

SANITIZE = bool(os.environ.get("DENSEFIT_SANITIZE_RUN"))
STOPPED = "training stopped before applying that batch"


@pytest.fixture(autouse=True)
def _seeded():
    set_random_seed(21)


def all_finite(arrays):
    return all(np.isfinite(a).all() for a in arrays)


def fit(model, x, y, **kwargs):
    """``(history, warning messages)``; asserts the promise above."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, verbose=0, **dict(dict(batch_size=8, epochs=3), **kwargs))
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    losses_ = history.history["loss"]
    stopped = any(STOPPED in m for m in messages)
    assert stopped or np.isfinite(losses_).all(), (losses_, messages)
    assert all_finite(model.get_weights()), "fit left NaN or inf in the weights"
    slots = [getattr(model.optimizer, name) for name in model.optimizer.slot_names]
    if all(slot is not None for slot in slots):
        assert all_finite(slots), "fit left NaN or inf in the optimizer's slots"
    return history, messages


def model_for(loss, outputs, output="linear", hidden="relu", optimizer=None, features=5,
              dtype=None, units=8):
    model = Sequential([Input(shape=(features,), dtype=dtype), Dense(units, activation=hidden),
                        Dense(outputs, activation=output)])
    model.compile(optimizer=optimizer or Adam(), loss=loss)
    return model


def problem(n=48, features=5, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)) * scale
    labels = rng.integers(0, 3, n)
    return x, labels


# (loss, output units, output activation, targets from labels)
SETUPS = {
    "sparse-logits": (losses.SparseCategoricalCrossentropy(from_logits=True), 3, "linear",
                      lambda lab: lab),
    "sparse-softmax": ("sparse_categorical_crossentropy", 3, "softmax", lambda lab: lab),
    "categorical-logits": (losses.CategoricalCrossentropy(from_logits=True), 3, "linear",
                           lambda lab: np.eye(3)[lab]),
    "categorical-softmax": ("categorical_crossentropy", 3, "softmax", lambda lab: np.eye(3)[lab]),
    "binary-sigmoid": ("binary_crossentropy", 1, "sigmoid", lambda lab: (lab == 1) * 1.0),
    "binary-logits": (losses.BinaryCrossentropy(from_logits=True), 1, "linear",
                      lambda lab: (lab == 1) * 1.0),
    "binary-probs-of-linear": ("binary_crossentropy", 1, "linear",  # clipped probabilities
                               lambda lab: (lab == 1) * 1.0),
    "mse": ("mse", 3, "linear", lambda lab: np.eye(3)[lab]),
}


# ------------------------------------------------------------------ extreme logits and inputs

@pytest.mark.parametrize("setup", list(SETUPS))
def test_logits_of_1e4_train_with_finite_losses(setup):
    """Outputs of +-1e4 (pre-activation) give large but finite losses and gradients:
    the fused and clipped kernels never take log(0) or exp(1e4)."""
    loss, outputs, output, targets = SETUPS[setup]
    x, labels = problem()
    model = model_for(loss, outputs, output, optimizer=Adam(1e-3))
    w = model.get_weights()
    # one hidden unit copies a feature, the output layer scales it to +-1e4 logits
    w[0][:] = 0
    w[0][0, 0] = 1
    w[2][:] = 0
    w[2][0] = np.linspace(-1e4, 1e4, outputs) if outputs > 1 else 1e4
    model.set_weights(w)
    logits = model.predict(x) if output == "linear" else None
    if logits is not None:
        assert np.abs(logits).max() > 1e3
    history, messages = fit(model, x, targets(labels))
    assert not messages, messages
    assert np.isfinite(history.history["loss"]).all()
    assert max(history.history["loss"]) > 10 or setup == "binary-probs-of-linear"


@pytest.mark.parametrize("setup", list(SETUPS))
@pytest.mark.parametrize("scale", [1e4, 1e8])
def test_unscaled_inputs_train_or_stop_cleanly(setup, scale):
    """Inputs of 1e4 and 1e8 with Adam's default step: Adam's step is bounded by the
    learning rate, so these train; whatever happens, the weights stay finite."""
    loss, outputs, output, targets = SETUPS[setup]
    x, labels = problem(scale=scale)
    model = model_for(loss, outputs, output)
    history, messages = fit(model, x.astype(np.float32), targets(labels))
    if scale == 1e4 and setup != "mse":
        assert not messages and np.isfinite(history.history["loss"]).all()


def test_float64_model_with_inputs_of_1e200():
    x, labels = problem(scale=1e200)
    model = model_for("sparse_categorical_crossentropy", 3, "softmax", dtype="float64",
                      optimizer=SGD(0.1))
    fit(model, x, labels)
    assert model.dtype == np.float64


# ------------------------------------------------------------------ saturation and ties

@pytest.mark.parametrize("output, loss", [("sigmoid", "binary_crossentropy"),
                                          ("linear", losses.BinaryCrossentropy(from_logits=True))])
def test_saturated_sigmoids(output, loss):
    """Hidden sigmoids saturated at exactly 0 and 1 (zero gradient) and an output
    saturated at the wrong answer: finite loss, finite gradients, no warning."""
    x, labels = problem(scale=1e4)
    y = (labels == 1) * 1.0
    model = model_for(loss, 1, output, hidden="sigmoid", optimizer=Adam(1e-2))
    hidden = model.predict(x)  # noqa: F841 (builds)
    w = model.get_weights()
    w[2][:] = 50.0           # outputs ~ +-1e2..1e3 logits: sigmoid == 1.0 in float32
    w[3][:] = 0.0
    model.set_weights(w)
    first = model.evaluate(x, 1 - (model.predict(x) > 0.5), verbose=0)  # all wrong
    assert np.isfinite(first) and first > 10
    history, messages = fit(model, x, y, epochs=5)
    assert not messages
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][-1] <= history.history["loss"][0]


@pytest.mark.parametrize("setup", ["sparse-logits", "sparse-softmax", "categorical-softmax",
                                   "binary-sigmoid", "mse"])
def test_all_equal_logits(setup):
    """Zero weights: every logit equal (softmax exactly uniform, sigmoid exactly 0.5).
    The loss is log(classes) (log 2 for binary), and training moves off the tie."""
    loss, outputs, output, targets = SETUPS[setup]
    x, labels = problem()
    model = model_for(loss, outputs, output, optimizer=Adam(1e-2))
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    y = targets(labels)
    want = {"mse": np.mean(np.eye(3)[labels] ** 2),
            "binary-sigmoid": np.log(2)}.get(setup, np.log(3))
    assert_allclose(model.evaluate(x, y, verbose=0), want, rtol=1e-6)
    history, messages = fit(model, x, y, epochs=4)
    assert not messages and np.isfinite(history.history["loss"]).all()
    # the biases break the tie even though every hidden unit starts identical (and dead)
    assert not np.allclose(model.get_weights()[-1], 0)
    assert history.history["loss"][-1] < want


def test_constant_inputs_and_targets():
    """Every sample identical: zero variance in x, all-equal logits after training."""
    x = np.ones((32, 5))
    model = model_for("sparse_categorical_crossentropy", 3, "softmax")
    history, messages = fit(model, x, np.zeros(32, int), epochs=3)
    assert not messages and np.isfinite(history.history["loss"]).all()


# ------------------------------------------------------------------ huge learning rates

OPTIMIZERS = {
    "sgd": lambda lr: SGD(lr),
    "sgd-momentum": lambda lr: SGD(lr, momentum=0.9),
    "nesterov": lambda lr: SGD(lr, momentum=0.9, nesterov=True),
    "adam": lambda lr: Adam(lr),
    "rmsprop": lambda lr: RMSprop(lr),
}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("lr", [1.0, 1e12, 1e30])
@pytest.mark.parametrize("scale", [1.0, 1e10])
@pytest.mark.parametrize("setup", ["sparse-softmax", "binary-sigmoid", "mse"])
def test_huge_learning_rates_never_leave_nan_weights(optimizer, lr, scale, setup):
    """Steps that overflow (a huge rate, or gradients of 1e10 inputs squared in
    Adam's and RMSprop's second moments) are refused; losses that overflow stop fit."""
    loss, outputs, output, targets = SETUPS[setup]
    x, labels = problem(scale=scale)
    model = model_for(loss, outputs, output, optimizer=OPTIMIZERS[optimizer](lr))
    _, messages = fit(model, x, targets(labels), epochs=4)
    # a stopped fit applied exactly the batches before the refused one
    assert model.optimizer.iterations <= 4 * 6
    # the model stays usable: training on with a sane rate keeps everything finite
    model.compile(optimizer=Adam(1e-3), loss=loss)
    fit(model, x, targets(labels), epochs=1)


def test_a_step_that_would_overflow_is_refused_whole():
    """A finite loss whose step would overflow float32: nothing of that step is
    written (weights, slots, step count), and the warning says why."""
    x = np.full((8, 1), 1e10, np.float32)
    y = np.zeros(8, np.float32)
    model = Sequential([Input(shape=(1,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer=SGD(1e30), loss="binary_crossentropy")
    model.set_weights([np.full((1, 1), 1e-9, np.float32), np.zeros(1, np.float32)])
    before = model.get_weights()
    history, messages = fit(model, x, y, epochs=2)
    assert len(messages) == 1
    assert ("the update would have made the weights, the moving statistics or the optimizer's "
            "state NaN or inf") in messages[0] and "epoch 1, batch 1" in messages[0]
    assert np.isfinite(history.history["loss"]).all()  # the loss itself was finite
    assert model.optimizer.iterations == 0 and len(history.history["loss"]) == 1
    for got, want in zip(model.get_weights(), before):
        assert_array_equal(got, want)


def test_a_non_finite_loss_stops_before_its_batch():
    x = np.full((8, 1), 1e30, np.float32)
    model = Sequential([Input(shape=(1,)), Dense(1)])
    model.compile(optimizer=SGD(0.1), loss="mse")
    model.set_weights([np.full((1, 1), 1e10, np.float32), np.zeros(1, np.float32)])
    before = model.get_weights()
    history, messages = fit(model, x, np.zeros(8), epochs=2)
    assert len(messages) == 1 and "the loss became inf at epoch 1, batch 1" in messages[0]
    assert model.optimizer.iterations == 0
    assert_array_equal(model.get_weights()[0], before[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["sgd", "sgd-momentum", "nesterov", "adam", "rmsprop",
                                  "adamw", "amsgrad", "adagrad", "adamax", "nadam",
                                  "adam-clipnorm", "sgd-decay"])
def test_core_refuses_an_overflowing_step(dtype, kind):
    """The check in the compiled loop itself: with a finite loss and gradient but a
    learning rate of the type's maximum, train_batches applies no step, writes
    nothing of it, and still applies the same batch at a sane rate."""
    units = (2, 2)
    params = np.array([1.0, -1.0, 1.0, 1.0, 0.0, 0.0], dtype)
    net = _core.Network(list(units), [0], [0.2], params, np.zeros(6, dtype))
    optimizer = {"sgd": SGD(), "sgd-momentum": SGD(momentum=0.9),
                 "nesterov": SGD(momentum=0.9, nesterov=True),
                 "adam": Adam(), "rmsprop": RMSprop(), "adamw": optimizers.AdamW(),
                 "amsgrad": Adam(amsgrad=True), "adagrad": optimizers.Adagrad(),
                 "adamax": optimizers.Adamax(), "nadam": optimizers.Nadam(),
                 "adam-clipnorm": Adam(clipnorm=1.0),
                 "sgd-decay": SGD(weight_decay=0.1)}[kind]
    names = optimizer.slot_names  # the state arrays its rule keeps
    work = _core.Workspace(net, 4, False)
    data = _core.Dataset(net, np.full((4, 2), 10, dtype), np.full((4, 2), -10, dtype), False)
    objective = _core.Objective(_core.LOSSES["mse"], False, _core.METRICS["none"], 0.5)
    losses_ = np.zeros(1)

    def step(learning_rate):
        # some optimizer state (Adam's v stays 0), to see that it is not written
        slots = {name: np.full(6, 0.0 if name == "velocities" and "adam" in kind else 0.5,
                               dtype) for name in names}
        state = _core.OptimizerState(net, **dict(optimizer.core_arguments(),
                                                 learning_rate=learning_rate, iterations=0,
                                                 **slots))
        arrays = [params, *slots.values()]
        before = [a.copy() for a in arrays]
        done = _core.train_batches(net, work, objective, state, data, np.arange(4), 4, 0, 1,
                                   losses_, np.zeros(1))
        assert np.isfinite(losses_[0])  # the loss was fine: the step is what overflows
        return done, state, arrays, before

    done, state, arrays, before = step(float(np.finfo(dtype).max))
    assert done == 0 and state.iterations == 0
    for now, was in zip(arrays, before):
        assert_array_equal(now, was)
    done, state, arrays, before = step(1e-3)
    assert done == 1 and state.iterations == 1
    assert not np.array_equal(params, before[0]) and np.isfinite(params).all()


def test_steps_the_quick_bound_cannot_vouch_for_are_checked_exactly():
    """Adam with epsilon 5e-324 (the least double): the cheap magnitude bound on the
    step (lr * |m| / eps) is useless, so each step is computed without writing
    first; finite steps are then applied, exactly as the reference Adam does."""
    from densefit import reference
    x, labels = problem()
    model = model_for(losses.SparseCategoricalCrossentropy(from_logits=True), 3, "linear",
                      dtype="float64", optimizer=Adam(1e-2, epsilon=5e-324))
    w = model.get_weights()
    mlp = reference.MLP([(w[0], w[1], "relu"), (w[2], w[3], "linear")], "sparse_ce_logits",
                        False, KERAS_SLOPE, **model.optimizer.get_config())
    history, messages = fit(model, x, labels, epochs=2, shuffle=False)
    assert not messages and model.optimizer.iterations == 12
    want = [np.mean(mlp.fit_epoch(x, labels, 8, np.arange(len(x)))) for _ in range(2)]
    assert_allclose(history.history["loss"], want, rtol=1e-10)
    for got, ref in zip(model.get_weights(), mlp.parameters()):
        assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ fuzzing the promise

@settings(max_examples=15 if SANITIZE else 40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(setup=st.sampled_from(sorted(SETUPS)), optimizer=st.sampled_from(sorted(OPTIMIZERS)),
       log_lr=st.integers(-4, 30), log_scale=st.integers(-20, 30),
       hidden=st.sampled_from(["relu", "sigmoid", "tanh", "leaky_relu", "linear", "softmax"]),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2**16))
def test_fit_never_leaves_nan_weights(setup, optimizer, log_lr, log_scale, hidden, dtype, seed):
    loss, outputs, output, targets = SETUPS[setup]
    x, labels = problem(n=24, seed=seed, scale=10.0 ** log_scale)
    set_random_seed(seed)
    model = model_for(loss, outputs, output, hidden=hidden, dtype=dtype,
                      optimizer=OPTIMIZERS[optimizer](10.0 ** log_lr))
    fit(model, x, targets(labels), epochs=2, batch_size=8)
    with warnings.catch_warnings():  # inputs up to 1e30 may overflow the outputs: that warns
        warnings.simplefilter("ignore", RuntimeWarning)
        out = model.predict(x)
    assert out.shape == (24, outputs)
