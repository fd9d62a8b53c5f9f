"""densefit.optimizers: Keras' defaults and argument checks, names and configs,
and training: a model trained with each optimizer equals the NumPy oracle's
update rules (densefit.reference) applied by hand, and Adam equals numbers
worked out here from Keras' formula alone.
"""
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from densefit import Sequential, optimizers, reference
from densefit.layers import Dense
from densefit.activations import LEAKY_RELU_SLOPE as KERAS_SLOPE  # leaky_relu's default
from densefit.losses import MeanSquaredError, SparseCategoricalCrossentropy
from densefit.optimizers import SGD, Adam, RMSprop

DTYPES = [np.float32, np.float64]
# several epochs of updates through a two-layer network compound round-off
TRAIN_TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


# ------------------------------------------------------------------ defaults and checks

# Keras' base-optimizer options, all off by default
NO_OPTIONS = {"weight_decay": None, "clipnorm": None, "clipvalue": None, "global_clipnorm": None}

def test_defaults_are_keras():
    adam = Adam()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (1e-3, 0.9, 0.999, 1e-7)
    sgd = SGD()
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov) == (0.01, 0.0, False)
    rms = RMSprop()
    assert (rms.learning_rate, rms.rho, rms.epsilon) == (1e-3, 0.9, 1e-7)
    for opt in (adam, sgd, rms):
        assert opt.iterations == 0 and opt.momentums is None and opt.velocities is None


def test_hyper_parameters_are_stored_as_floats():
    opt = Adam(learning_rate=np.float32(0.5), beta_1=0, beta_2=np.float64(0.5), epsilon=1)
    assert opt.get_config() == {"learning_rate": 0.5, "beta_1": 0.0, "beta_2": 0.5, "epsilon": 1.0,
                                "amsgrad": False, **NO_OPTIONS}
    assert all(type(v) is float for k, v in opt.get_config().items()
               if k != "amsgrad" and k not in NO_OPTIONS)
    assert SGD(momentum=np.int64(0)).momentum == 0.0


@pytest.mark.parametrize("cls, kwargs, name", [
    (Adam, {"learning_rate": 0}, "learning_rate"),
    (Adam, {"learning_rate": -1e-3}, "learning_rate"),
    (Adam, {"learning_rate": float("nan")}, "learning_rate"),
    (Adam, {"learning_rate": float("inf")}, "learning_rate"),
    (Adam, {"learning_rate": "0.001"}, "learning_rate"),
    (Adam, {"learning_rate": True}, "learning_rate"),
    (Adam, {"learning_rate": None}, "learning_rate"),
    (Adam, {"beta_1": 1.0}, "beta_1"),
    (Adam, {"beta_1": -0.1}, "beta_1"),
    (Adam, {"beta_1": float("nan")}, "beta_1"),
    (Adam, {"beta_2": 1.5}, "beta_2"),
    (Adam, {"epsilon": 0.0}, "epsilon"),
    (Adam, {"epsilon": -1e-7}, "epsilon"),
    (SGD, {"learning_rate": 0}, "learning_rate"),
    (SGD, {"momentum": 1.0}, "momentum"),
    (SGD, {"momentum": -0.5}, "momentum"),
    (SGD, {"momentum": "0.9"}, "momentum"),
    (RMSprop, {"rho": 1.0}, "rho"),
    (RMSprop, {"rho": -0.1}, "rho"),
    (RMSprop, {"epsilon": 0}, "epsilon"),
    (RMSprop, {"learning_rate": -1}, "learning_rate"),
], ids=lambda v: v.__name__ if isinstance(v, type) else str(v))
def test_bad_hyper_parameters_raise_naming_them(cls, kwargs, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        cls(**kwargs)


# ------------------------------------------------------------------ names and configs

@pytest.mark.parametrize("name, cls", [("adam", Adam), ("Adam", Adam), ("sgd", SGD), ("SGD", SGD),
                                       ("rmsprop", RMSprop), ("RMSprop", RMSprop)])
def test_get_by_name_gives_defaults(name, cls):
    opt = optimizers.get(name)
    assert type(opt) is cls
    assert opt.get_config() == cls().get_config()


def test_get_class_and_instance():
    assert type(optimizers.get(RMSprop)) is RMSprop
    opt = SGD(0.1, momentum=0.5)
    assert optimizers.get(opt) is opt


def test_get_unknown_names():
    with pytest.raises(ValueError, match="Unknown optimizer 'adamx'. Did you mean 'adam"):
        optimizers.get("adamx")
    with pytest.raises(ValueError, match="Unknown optimizer 'rmsprp'. Did you mean 'rmsprop'"):
        optimizers.get("rmsprp")
    with pytest.raises(ValueError, match="Known: adagrad, adam, adamax, adamw, nadam, rmsprop, sgd"):
        optimizers.get("lbfgs")


@pytest.mark.parametrize("bad", [None, 0.01, str])
def test_get_rejects_non_optimizers(bad):
    with pytest.raises(TypeError, match="optimizer must be"):
        optimizers.get(bad)


@pytest.mark.parametrize("opt", [Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-5),
                                 SGD(0.1, momentum=0.9, nesterov=True), SGD(),
                                 RMSprop(0.002, rho=0.8, epsilon=1e-6)], ids=repr)
def test_serialize_round_trip(opt):
    config = optimizers.serialize(opt)
    assert config == {"class_name": type(opt).__name__, "config": opt.get_config()}
    again = optimizers.deserialize(config)
    assert type(again) is type(opt)
    assert again.get_config() == opt.get_config()
    assert repr(again) == repr(opt)
    same = type(opt).from_config(opt.get_config())
    assert type(same) is type(opt) and same.get_config() == opt.get_config()


def test_deserialize_reads_the_saved_form_of_densefit_1_0():
    """Files saved before keep ``iterations`` beside the config: it is ignored here
    (the saver restores it through load_own_variables)."""
    again = optimizers.deserialize({"class_name": "SGD", "iterations": 17,
                                    "config": {"learning_rate": 0.1, "momentum": 0.9,
                                               "nesterov": True}})
    assert again.get_config() == SGD(0.1, momentum=0.9, nesterov=True).get_config()
    assert again.iterations == 0


def test_get_config_holds_exactly_the_signature_arguments():
    assert SGD().get_config() == {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False,
                                  **NO_OPTIONS}
    assert RMSprop().get_config() == {"learning_rate": 0.001, "rho": 0.9, "epsilon": 1e-7,
                                      **NO_OPTIONS}


def test_docstrings_document_every_argument():
    for cls in (Adam, SGD, RMSprop):
        assert "{{" not in cls.__doc__
        for name in cls().get_config():
            assert f"{name}: " in cls.__doc__, (cls, name)


def test_deserialize_rejects_unknown_classes():
    with pytest.raises(ValueError, match="unknown optimizer"):
        optimizers.deserialize({"class_name": "Lion", "config": {}})


# ------------------------------------------------------------------ training against the oracle

def _update_rule(opt):
    """``(slots, step)`` applying ``opt``'s update to one parameter with the oracle."""
    if isinstance(opt, Adam):
        def step(p, g, s, t):
            reference.adam_update(p, g, s[0], s[1], t, opt.learning_rate, opt.beta_1,
                                  opt.beta_2, opt.epsilon)
    elif isinstance(opt, SGD):
        def step(p, g, s, t):
            reference.sgd_update(p, g, s[0], opt.learning_rate, opt.momentum, opt.nesterov)
    else:
        def step(p, g, s, t):
            reference.rmsprop_update(p, g, s[0], opt.learning_rate, opt.rho, opt.epsilon)
    return step


def _train_by_hand(weights, hidden, x, y, opt, batch_size, epochs):
    """The oracle's gradients and update rules over batches in order; returns
    (parameters, per-epoch batch-size-weighted mean losses)."""
    mlp = reference.MLP([(weights[0], weights[1], hidden), (weights[2], weights[3], "linear")],
                        "sparse_ce_logits", False, KERAS_SLOPE,
                        **Adam().get_config())  # for its gradients only: opt updates
    params = mlp.parameters()
    slots = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
    step, t, history = _update_rule(opt), 0, []
    for _ in range(epochs):
        losses, rows = [], []
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            loss, grads = mlp.gradients(xb, yb)
            t += 1
            for p, g, s in zip(params, grads, slots):
                step(p, g, s, t)
            losses.append(loss)
            rows.append(len(xb))
        history.append(float(np.dot(losses, rows) / np.sum(rows)))
    return params, history


OPTIMIZERS = [Adam, lambda: Adam(0.02, beta_1=0.8, beta_2=0.99, epsilon=1e-4),
              SGD, lambda: SGD(0.1), lambda: SGD(0.05, momentum=0.9),
              lambda: SGD(0.05, momentum=0.9, nesterov=True),
              RMSprop, lambda: RMSprop(0.01, rho=0.8, epsilon=1e-4)]
OPTIMIZER_IDS = ["adam", "adam-custom", "sgd", "sgd-0.1", "momentum", "nesterov", "rmsprop",
                 "rmsprop-custom"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make_optimizer", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_training_equals_oracle_update_rules(make_optimizer, dtype):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(45, 6)).astype(dtype)   # batches of 16, 16 and a partial 13
    y = rng.integers(0, 3, 45)
    model = Sequential([Dense(8, activation="tanh", dtype=dtype), Dense(3, dtype=dtype)])
    model.build((None, 6))
    initial = model.get_weights()
    opt = make_optimizer()
    model.compile(optimizer=opt, loss=SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)

    params, losses = _train_by_hand(initial, "tanh", x, y, make_optimizer(), 16, 4)
    assert opt.iterations == 4 * 3
    assert_allclose(history.history["loss"], losses, **TRAIN_TOL[dtype])
    for got, want in zip(model.get_weights(), params):
        assert got.dtype == dtype
        assert_allclose(got, want, **TRAIN_TOL[dtype])
    assert not np.allclose(model.get_weights()[0], initial[0])  # it did train


@pytest.mark.parametrize("make_optimizer", [Adam, lambda: SGD(0.05, momentum=0.9), RMSprop],
                         ids=["adam", "momentum", "rmsprop"])
def test_a_second_fit_continues_the_optimizer_state(make_optimizer):
    # 2 epochs then 2 more equal 4 at once: step count (Adam's bias correction)
    # and slots (moments, velocity, mean square) carry over between fit calls
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(40, 5)), rng.integers(0, 3, 40)
    models = []
    for _ in range(2):
        model = Sequential([Dense(6, activation="relu", dtype="float64"),
                            Dense(3, dtype="float64")])
        model.build((None, 5))
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    for model in models:
        model.compile(make_optimizer(), SparseCategoricalCrossentropy(from_logits=True))
    models[0].fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    models[1].fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    models[1].fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert models[1].optimizer.iterations == 20
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        assert_array_equal(a, b)


# ------------------------------------------------------------------ Adam by hand

def _keras_adam(w, grad, steps, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Keras 3's Adam on one scalar parameter, written from its formula:
    t = iterations + 1; m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
    w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)."""
    m = v = 0.0
    trajectory = []
    for t in range(1, steps + 1):
        g = grad(w)
        m += (g - m) * (1 - beta_1)
        v += (g * g - v) * (1 - beta_2)
        w -= lr * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t) * m / (math.sqrt(v) + epsilon)
        trajectory.append(w)
    return trajectory


def _pytorch_adam(w, grad, steps, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """The other common form: eps added after bias-correcting v (PyTorch's)."""
    m = v = 0.0
    for t in range(1, steps + 1):
        g = grad(w)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        w -= lr * (m / (1 - beta_1 ** t)) / (math.sqrt(v / (1 - beta_2 ** t)) + epsilon)
    return w


@pytest.mark.parametrize("offset", [0.5, 5e-7], ids=["gradient-1", "gradient-1e-6"])
def test_adam_three_steps_equal_keras_formula(offset):
    # one sample, input 0: the kernel's gradient is 0 and it never moves, so the
    # bias is a single parameter b with loss (b - target)^2 and gradient 2 (b - target)
    b0, target, lr = 0.25, 0.25 - offset, 0.1
    model = Sequential([Dense(1, dtype="float64")])
    model.build((None, 1))
    model.set_weights([np.array([[0.75]]), np.array([b0])])
    model.compile(Adam(learning_rate=lr), MeanSquaredError())
    x, y = np.zeros((1, 1)), np.array([[target]])
    expected = _keras_adam(b0, lambda b: 2 * (b - target), 3, lr)
    for step in range(3):
        model.fit(x, y, batch_size=1, epochs=1, verbose=0)
        kernel, bias = model.get_weights()
        assert kernel[0, 0] == 0.75
        assert_allclose(bias[0], expected[step], rtol=1e-14)
    # the tolerance tells Keras' epsilon placement from PyTorch's: they differ by
    # 2e-6 of the distance moved for gradients ~1, and by 2x when sqrt(v) ~ eps
    other = _pytorch_adam(b0, lambda b: 2 * (b - target), 3, lr)
    assert abs(other - bias[0]) > 1e-6 * abs(bias[0] - b0)


def test_adam_step_values_by_hand():
    # the first step by hand: m = 0.1 g, v = 0.001 g^2, step size lr sqrt(0.001) / 0.1, so
    # the move is lr * g / (|g| + eps / sqrt(0.001)), i.e. -lr * sign(g) for |g| >> eps
    model = Sequential([Dense(1, dtype="float64")])
    model.build((None, 1))
    model.set_weights([np.zeros((1, 1)), np.array([1.0])])
    model.compile(Adam(learning_rate=0.01), MeanSquaredError())
    model.fit(np.zeros((1, 1)), np.array([[0.0]]), batch_size=1, epochs=1, verbose=0)
    g = 2.0
    assert_allclose(model.get_weights()[1][0], 1.0 - 0.01 * g / (g + 1e-7 / math.sqrt(0.001)),
                    rtol=1e-14)


def test_sgd_nesterov_two_steps_by_hand():
    # Keras: m = mu m - lr g; w += mu m - lr g (Nesterov, with the new m)
    model = Sequential([Dense(1, dtype="float64")])
    model.build((None, 1))
    model.set_weights([np.zeros((1, 1)), np.array([1.0])])
    model.compile(SGD(learning_rate=0.1, momentum=0.5, nesterov=True), MeanSquaredError())
    w, m = 1.0, 0.0
    for _ in range(2):
        model.fit(np.zeros((1, 1)), np.array([[0.0]]), batch_size=1, epochs=1, verbose=0)
        g = 2 * w
        m = 0.5 * m - 0.1 * g
        w += 0.5 * m - 0.1 * g
        assert_allclose(model.get_weights()[1][0], w, rtol=1e-14)
    assert_allclose(w, 0.44, rtol=1e-14)  # on paper: m = -0.2, w = 0.7; m = -0.24, w = 0.44


def test_one_optimizer_cannot_train_two_models():
    """Slots and step count belong to one model's weights: a second model is refused
    (recompiling the same model with it is fine)."""
    from densefit import Sequential
    from densefit.layers import Dense

    adam = Adam()
    first = Sequential([Dense(2)])
    first.compile(adam, "mse")
    first.compile(adam, "mse")
    with pytest.raises(ValueError, match="already trains model"):
        Sequential([Dense(2)]).compile(adam, "mse")


def test_new_weights_restart_the_step_count():
    """When the parameters are rebuilt with another size, the optimizer's slots and its
    step count start again (Adam's bias correction would otherwise be off)."""
    from densefit import Sequential
    from densefit.layers import Dense

    x, y = np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32)
    model = Sequential([Dense(2)])
    model.compile("adam", "mse")
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert model.optimizer.iterations == 4
    model.optimizer.momentums = np.zeros(3, np.float32)  # stale
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert model.optimizer.iterations == 2


# ------------------------------------------------------------------ state: slot_names, build, save, load

@pytest.mark.parametrize("opt, names", [(Adam(), ("momentums", "velocities")),
                                        (SGD(), ()), (SGD(momentum=0.5), ("momentums",)),
                                        (RMSprop(), ("velocities",))], ids=repr)
def test_slot_names_and_build(opt, names):
    assert opt.slot_names == names
    params = np.arange(5, dtype=np.float64)
    opt.iterations = 3
    opt.build(params)
    for name in ("momentums", "velocities"):
        state = getattr(opt, name)
        if name in names:
            assert state.shape == (5,) and state.dtype == np.float64 and not state.any()
            assert not np.shares_memory(state, params)
        else:
            assert state is None
    assert opt.iterations == (3 if not names else 0)  # no state to build: nothing restarts
    assert opt.fits(params) and (not names or not opt.fits(params.astype(np.float32)))


def test_build_keeps_state_that_fits_and_replaces_state_that_does_not():
    opt = Adam()
    params = np.zeros(4, np.float32)
    opt.build(params)
    opt.momentums += 1
    opt.iterations = 7
    kept = opt.momentums
    opt.build(np.ones(4, np.float32))
    assert opt.momentums is kept and opt.iterations == 7
    opt.build(np.ones(6, np.float32))  # other weights
    assert opt.momentums.shape == (6,) and not opt.momentums.any() and opt.iterations == 0
    opt.build(np.ones(6, np.float64))  # another dtype
    assert opt.velocities.dtype == np.float64


@pytest.mark.parametrize("make", [Adam, lambda: SGD(momentum=0.9), SGD, RMSprop],
                         ids=["adam", "momentum", "sgd", "rmsprop"])
def test_save_and_load_own_variables_round_trip(make):
    params = np.zeros(4, np.float32)
    source = make()
    source.build(params)
    for i, name in enumerate(source.slot_names):
        getattr(source, name)[...] = np.arange(4) + 10 * i
    source.iterations = 12
    store = {}
    source.save_own_variables(store)
    assert set(store) == {"iterations", *source.slot_names}
    assert store["iterations"].shape == () and store["iterations"].dtype == np.int64
    target = make()
    target.build(params)
    arrays = [getattr(target, name) for name in target.slot_names]
    target.load_own_variables(store)
    assert target.iterations == 12 and type(target.iterations) is int
    for name, array in zip(target.slot_names, arrays):
        assert getattr(target, name) is array  # copied into the built arrays
        assert_array_equal(array, store[name])
        assert not np.shares_memory(array, store[name])


def test_load_own_variables_needs_a_built_optimizer():
    store = {}
    built = Adam()
    built.build(np.zeros(3))
    built.save_own_variables(store)
    with pytest.raises(ValueError, match="not built: call build"):
        Adam().load_own_variables(store)


@pytest.mark.parametrize("change, match", [
    (lambda s: s.pop("velocities"), "velocities is missing"),
    (lambda s: s.pop("iterations"), "iterations is missing"),
    (lambda s: s.update(momentums=np.zeros(4)), r"momentums must be an array of shape \(3,\) "
                                                r"of float64, got shape \(4,\) of float64"),
    (lambda s: s.update(velocities=np.zeros(3, np.float32)), "velocities must be .* of float64"),
    (lambda s: s.update(momentums=[0.0, 0.0, 0.0]), r"momentums must be .*, got \[0.0"),
    (lambda s: s.update(iterations=np.array(-1)), "iterations must be an integer in"),
    (lambda s: s.update(iterations=2**63), "iterations must be an integer in"),
    (lambda s: s.update(iterations=1.5), "iterations must be an integer in"),
    (lambda s: s.update(iterations=True), "iterations must be an integer in"),
], ids=["missing-slot", "missing-iterations", "shape", "dtype", "list", "negative",
        "too-large", "float", "bool"])
def test_load_own_variables_checks_everything_before_writing(change, match):
    opt = Adam()
    opt.build(np.zeros(3))
    store = {"iterations": np.array(5, np.int64), "momentums": np.ones(3),
             "velocities": np.ones(3)}
    change(store)
    with pytest.raises(ValueError, match=match):
        opt.load_own_variables(store)
    assert opt.iterations == 0 and not opt.momentums.any() and not opt.velocities.any()


@pytest.mark.parametrize("opt", [Adam(0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-5),
                                 SGD(0.1, momentum=0.9, nesterov=True), SGD(0.2),
                                 RMSprop(0.002, rho=0.8, epsilon=1e-6)], ids=repr)
def test_core_arguments(opt):
    from densefit import _core

    args = opt.core_arguments()
    options = {"amsgrad", *NO_OPTIONS, "schedule", "iterations", *_core.SLOTS}
    assert set(args) == {"rule", "learning_rate", "beta_1", "beta_2", "epsilon", "momentum",
                         "nesterov", "rho"} | options - ({"amsgrad"} if not isinstance(opt, Adam)
                                                         else set())
    assert args["rule"] == _core.OPTIMIZERS[type(opt).__name__.lower()]
    for name, value in args.items():
        if name not in ("rule",) and name not in options:
            assert value == opt.get_config().get(name, False if name == "nesterov" else 0.0)


def test_bind_refuses_a_second_live_model_but_not_the_same_or_a_dead_one():
    import gc

    class Model:
        def __init__(self, name):
            self.name = name

    opt, first = Adam(), Model("first")
    opt.bind(first)
    opt.bind(first)
    second = Model("second")
    with pytest.raises(ValueError, match="already trains model 'first': give each model its "
                                         "own optimizer instance"):
        opt.bind(second)
    del first
    gc.collect()
    opt.bind(second)  # the first model is gone: its state is free to take
    with pytest.raises(ValueError, match="already trains model 'second'"):
        opt.bind(Model("third"))


# ------------------------------------------------------------------ issue 10: the new rules, options, schedules

from densefit import load_model  # noqa: E402
from densefit.layers import Input  # noqa: E402
from densefit.optimizers import AdamW, Adagrad, Adamax, Nadam, schedules  # noqa: E402
from densefit.utils import set_random_seed  # noqa: E402


def test_new_optimizers_have_keras_defaults_and_names():
    assert AdamW().get_config() == {"learning_rate": 0.001, "weight_decay": 0.004,
                                    "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                                    "amsgrad": False, "clipnorm": None, "clipvalue": None,
                                    "global_clipnorm": None}
    assert (Adagrad().learning_rate, Adagrad().initial_accumulator_value,
            Adagrad().epsilon) == (0.001, 0.1, 1e-7)
    for cls in (Adamax, Nadam):
        opt = cls()
        assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon) == (0.001, 0.9, 0.999,
                                                                             1e-7)
    for name, cls in (("adamw", AdamW), ("adagrad", Adagrad), ("adamax", Adamax),
                      ("nadam", Nadam), ("AdamW", AdamW)):
        assert type(optimizers.get(name)) is cls
    for cls in (AdamW, Adagrad, Adamax, Nadam):
        assert "{{" not in cls.__doc__
        for name in cls().get_config():
            assert f"{name}" in cls.__doc__ or name in ("beta_1", "beta_2"), (cls, name)


@pytest.mark.parametrize("opt, names", [
    (Adam(amsgrad=True), ("momentums", "velocities", "velocity_hats")),
    (AdamW(), ("momentums", "velocities")), (Adagrad(), ("accumulators",)),
    (Adamax(), ("momentums", "norms")), (Nadam(), ("momentums", "velocities"))], ids=repr)
def test_new_slot_names_and_build(opt, names):
    assert opt.slot_names == names
    opt.build(np.zeros(4, np.float32))
    for name in names:
        start = 0.1 if isinstance(opt, Adagrad) else 0.0
        assert_array_equal(getattr(opt, name), np.full(4, start, np.float32))


@pytest.mark.parametrize("kwargs", [dict(clipnorm=1.0, clipvalue=1.0),
                                    dict(clipnorm=1.0, global_clipnorm=1.0),
                                    dict(clipvalue=1.0, global_clipnorm=1.0)])
def test_only_one_clipping_option(kwargs):
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        Adam(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(clipnorm=0), "clipnorm"), (dict(clipvalue=-1), "clipvalue"),
    (dict(global_clipnorm=float("nan")), "global_clipnorm"), (dict(weight_decay=-0.1),
                                                              "weight_decay"),
    (dict(learning_rate="schedule"), "learning_rate")])
def test_bad_options_raise_naming_them(kwargs, name):
    with pytest.raises((TypeError, ValueError), match=name):
        Adam(**kwargs)


def _small_model(optimizer, seed=0):
    set_random_seed(seed)
    model = Sequential([Input(shape=(4,)), Dense(6, activation="relu"), Dense(3)])
    model.compile(optimizer=optimizer, loss=SparseCategoricalCrossentropy(from_logits=True))
    return model


def _small_data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    return x, rng.integers(0, 3, 40)


@pytest.mark.parametrize("make", [
    lambda: Nadam(0.01), lambda: Adam(0.01, amsgrad=True), lambda: Adagrad(0.05),
    lambda: Adamax(0.01), lambda: AdamW(0.01, clipnorm=0.5),
    lambda: SGD(schedules.CosineDecayRestarts(0.1, 3), momentum=0.9, global_clipnorm=1.0),
    lambda: Adam(schedules.PiecewiseConstantDecay([5, 9], [0.01, 0.005, 0.001])),
    lambda: RMSprop(schedules.CosineDecay(0.0, 8, warmup_target=0.01, warmup_steps=4))],
    ids=["nadam", "amsgrad", "adagrad", "adamax", "adamw-clipnorm", "sgd-restarts",
         "adam-piecewise", "rmsprop-warmup"])
def test_saved_model_continues_training_exactly(make, tmp_path):
    """Every state array, Nadam's u_product and a schedule's place (iterations) are
    saved: a loaded model's next epoch is the saved model's, bit for bit."""
    x, y = _small_data()
    model = _small_model(make())
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    model.save(tmp_path / "m.densefit")
    again = load_model(tmp_path / "m.densefit")
    assert again.optimizer.get_config() == model.optimizer.get_config()
    assert again.optimizer.iterations == model.optimizer.iterations == 10
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    again.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for a, b in zip(again.get_weights(), model.get_weights()):
        assert_array_equal(a, b)
    if isinstance(model.optimizer, Nadam):
        assert model.optimizer.u_product == again.optimizer.u_product < 1


def test_learning_rate_is_settable_between_epochs():
    """A callback's new rate is what the next compiled call uses: with SGD and rate 0
    from the second epoch on, the weights stop moving."""
    from densefit.callbacks import LambdaCallback
    x, y = _small_data()
    model = _small_model(SGD(0.1))
    seen = []

    def on_epoch_end(epoch, logs):
        seen.append(model.get_weights())
        model.optimizer.learning_rate = 1e-30 if epoch == 0 else model.optimizer.learning_rate
    model.fit(x, y, batch_size=8, epochs=3, verbose=0,
              callbacks=[LambdaCallback(on_epoch_end=on_epoch_end)])
    assert model.optimizer.learning_rate == 1e-30
    for a, b in zip(seen[1], seen[0]):
        assert_allclose(a, b, rtol=0, atol=1e-20)
    with pytest.raises(ValueError, match="learning_rate"):
        model.optimizer.learning_rate = -1.0


def test_schedule_config_round_trip_and_current_rate():
    opt = Adam(schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True))
    config = opt.get_config()
    assert config["learning_rate"] == {"class_name": "ExponentialDecay", "config": {
        "initial_learning_rate": 0.1, "decay_steps": 10.0, "decay_rate": 0.5,
        "staircase": True, "name": "ExponentialDecay"}}
    again = Adam.from_config(config)
    assert again.get_config() == config
    opt.iterations = 25
    assert opt.learning_rate == pytest.approx(0.025)  # the next step's, as Keras' is
    with pytest.raises(ValueError, match="values must have one entry more"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1])
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.CosineDecay(0.1, 0)


def test_a_python_callable_learning_rate_is_evaluated_per_step():
    """Any callable of the step works (one return to Python per batch): the same
    rates as the compiled schedule give the same training."""
    x, y = _small_data()
    steps = []

    def rate(step):
        steps.append(step)
        return 0.1 * 0.5 ** (step / 4)

    by_python = _small_model(SGD(rate))
    by_core = _small_model(SGD(schedules.ExponentialDecay(0.1, 4, 0.5)))
    for model in (by_python, by_core):
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert sorted(set(steps)) == list(range(10))  # each step (and the first at the start)
    assert by_python.optimizer.rate_per_batch and not by_core.optimizer.rate_per_batch
    for a, b in zip(by_python.get_weights(), by_core.get_weights()):
        assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="Python callable, which a config cannot hold"):
        by_python.get_compile_config()


def test_a_callable_returning_a_bad_rate_is_refused():
    x, y = _small_data()
    model = _small_model(SGD(lambda step: -1.0))
    with pytest.raises(ValueError, match="learning-rate schedule's value"):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
