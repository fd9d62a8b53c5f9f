"""densefit.Sequential: building, weights, compile, fit, evaluate, predict, errors.

Training is checked against ``densefit.reference.MLP``, the plain-NumPy trainer,
started from the model's own initial weights and run in the model's dtype:
with ``shuffle=False`` both see the same batches, so History's per-epoch loss
must be the batch-size-weighted mean of the reference's per-batch losses.

Tolerances: float64 runs agree to round-off (sums in a different order);
float32 runs compound round-off through a few layers and Adam steps, as in
tests/test_core.py.
"""
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import densefit
from densefit import Sequential, _core, inference, losses, reference
from densefit.activations import LEAKY_RELU_SLOPE as KERAS_SLOPE  # leaky_relu's default
from densefit.callbacks import LambdaCallback
from densefit.layers import Dense, Input, Softmax
from densefit.losses import (BinaryCrossentropy, CategoricalCrossentropy, MeanSquaredError,
                             SparseCategoricalCrossentropy)
from densefit.optimizers import SGD, Adam
from densefit.trainer import WorkspacePool
from densefit.utils import set_random_seed

DTYPES = [np.float32, np.float64]
TRAIN_TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
FWD_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}
# a loss averaged over a data set: sums of a few hundred float32 terms, accumulated differently
MEAN_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


# ------------------------------------------------------------------ helpers

@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same global seed, so initial weights are reproducible."""
    set_random_seed(1234)


def data(n=50, features=4, classes=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(dtype)
    y = (np.abs(x[:, 0] * 1.7 + x[:, -1]) * classes / 3).astype(np.int64) % classes
    return x, y


def classifier(features=4, classes=3, dtype=None, output="linear", hidden="relu"):
    return Sequential([Input(shape=(features,), dtype=dtype), Dense(6, activation=hidden),
                       Dense(5, activation="tanh"), Dense(classes, activation=output)])


def compiled(model=None, loss=None, metrics=("accuracy",), **adam):
    model = model or classifier()
    model.compile(optimizer=Adam(**adam),
                  loss=loss or SparseCategoricalCrossentropy(from_logits=True),
                  metrics=list(metrics) or None)
    return model


def snapshot(model):
    return [w.copy() for w in model.get_weights()]


def assert_same_weights(model, weights):
    current = model.get_weights()
    assert len(current) == len(weights)
    for a, b in zip(current, weights):
        assert_array_equal(a, b)


def output_activations(model):
    """Each Dense layer's activation, activation layers folded in as the model runs them."""
    acts = []
    for layer in model.layers:
        if isinstance(layer, Dense):
            acts.append(layer.activation.name)
        else:
            acts[-1] = layer.as_activation().name
    return acts


def reference_mlp(model, loss, fused=False, **adam):
    """A reference.MLP with the model's current weights and activations, in its dtype
    (Adam: Keras' defaults but for ``adam``)."""
    w = model.get_weights()
    acts = output_activations(model)
    return reference.MLP(list(zip(w[::2], w[1::2], acts)), loss, fused, KERAS_SLOPE,
                         **dict(Adam().get_config(), **adam))


def reference_fit(mlp, x, y, batch_size, epochs, orders=None, metric=None):
    """Per-epoch (loss, metric) as Keras logs them: batch means weighted by batch size,
    each computed with the batch's pre-update weights."""
    n = len(x)
    losses, metrics = [], []
    for epoch in range(epochs):
        order = np.arange(n) if orders is None else orders[epoch]
        batch_loss, batch_metric, rows = [], [], []
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            if metric is not None:
                batch_metric.append(metric(mlp.forward(x[idx], training=True)[-1], y[idx]))
            batch_loss.append(mlp.train_step(x[idx], y[idx]))
            rows.append(len(idx))
        losses.append(np.dot(batch_loss, rows) / n)
        if metric is not None:
            metrics.append(np.dot(batch_metric, rows) / n)
    return np.array(losses), np.array(metrics)


def assert_weights_close(model, mlp, tol):
    for got, want in zip(model.get_weights(), mlp.parameters()):
        assert_allclose(got, want, **tol)


def expect_error(model, exc, match, fn):
    """``fn`` raises ``exc`` matching ``match`` and leaves the weights, the step count
    and the optimizer's slots (Adam's moments) alone."""
    weights = snapshot(model) if model.built else None
    optimizer = model.optimizer
    iterations = optimizer.iterations if optimizer else None
    slots = _state(optimizer) if optimizer else None
    with pytest.raises(exc, match=match):
        fn()
    if weights is not None:
        assert_same_weights(model, weights)
    if iterations is not None:
        assert model.optimizer.iterations == iterations
    if slots is not None:
        after = _state(model.optimizer)
        assert after.keys() == slots.keys()
        for name in slots:
            assert_array_equal(slots[name], after[name])


def _state(optimizer):
    """Copies of the optimizer's step count and state arrays."""
    store = {}
    optimizer.save_own_variables(store)
    return {name: np.copy(value) for name, value in store.items()}


@pytest.fixture
def trained():
    """A compiled model that has trained one epoch (so it has optimizer state)."""
    x, y = data()
    model = compiled()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert model.optimizer.iterations == 4
    return model, x, y


# ------------------------------------------------------------------ building

def test_lazy_build_on_first_data():
    model = Sequential([Dense(5, activation="relu"), Dense(2)])
    assert not model.built
    assert model.get_weights() == [] and model.weights == [] and model.count_params() == 0
    assert model.input_shape is None and model.output_shape == (None, 2)
    out = model.predict(np.ones((3, 7)))
    assert model.built and out.shape == (3, 2)
    assert model.input_shape == (None, 7)
    assert [w.shape for w in model.get_weights()] == [(7, 5), (5,), (5, 2), (2,)]


def test_lazy_build_on_fit():
    model = Sequential([Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    assert model.built and model.input_shape == (None, 3)


@pytest.mark.parametrize("how", ["Input", "input_shape"])
def test_immediate_build(how):
    layers = ([Input(shape=(7,)), Dense(5, activation="relu"), Dense(2)] if how == "Input"
              else [Dense(5, activation="relu", input_shape=(7,)), Dense(2)])
    model = Sequential(layers)
    assert model.built
    assert model.input_shape == (None, 7) and model.output_shape == (None, 2)
    assert [w.shape for w in model.get_weights()] == [(7, 5), (5,), (5, 2), (2,)]
    assert model.count_params() == 7 * 5 + 5 + 5 * 2 + 2
    assert len(model.layers) == 2  # Input is not a layer, as in Keras


def test_immediate_build_layer_by_layer_with_add():
    model = Sequential()
    model.add(Input(shape=(4,)))
    model.add(Dense(3, activation="relu"))
    assert model.built and model.count_params() == 15
    first = snapshot(model)
    model.add(Dense(2))
    model.add(Softmax())
    assert [w.shape for w in model.get_weights()] == [(4, 3), (3,), (3, 2), (2,)]
    for a, b in zip(first, model.get_weights()):  # adding keeps the weights already there
        assert_array_equal(a, b)
    assert_allclose(model.predict(np.ones((2, 4))).sum(axis=1), 1, rtol=1e-6)


def test_adding_an_output_activation_after_compile_uses_the_fused_kernel():
    x, y = data(n=32)
    late = compiled(Sequential([Input(shape=(4,)), Dense(6, activation="relu"), Dense(3)]),
                    loss=SparseCategoricalCrossentropy())
    late.add(Softmax())  # now a softmax output under a probability loss: trained from logits
    logits = compiled(Sequential([Input(shape=(4,)), Dense(6, activation="relu"), Dense(3)]),
                      loss=SparseCategoricalCrossentropy(from_logits=True))
    logits.set_weights(late.get_weights())
    saturate = [w * 200 for w in late.get_weights()]
    late.set_weights(saturate)
    logits.set_weights(saturate)
    assert late.evaluate(x, y, verbose=0)[0] > -np.log(reference.EPSILON)
    assert_allclose(late.evaluate(x, y, verbose=0), logits.evaluate(x, y, verbose=0), rtol=1e-6)


def test_every_way_of_building_draws_the_same_initial_weights():
    models = []
    for layers in ([Input(shape=(6,)), Dense(4), Dense(3)],
                   [Dense(4, input_shape=(6,)), Dense(3)],
                   [Dense(4), Dense(3)]):
        set_random_seed(11)
        model = Sequential(layers)
        model.build((None, 6))
        models.append(model)
    for model in models[1:]:
        assert_same_weights(model, models[0].get_weights())


def test_build_method():
    model = Sequential([Dense(3)])
    model.build((None, 5))
    assert model.built and model.get_weights()[0].shape == (5, 3)
    with pytest.raises(ValueError, match="input_shape"):
        Sequential([Dense(3)]).build((5,))


def test_model_without_dense_layers():
    model = Sequential()
    with pytest.raises(ValueError, match="no Dense layer"):
        model.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="no Dense layer"):
        model.compile(optimizer="adam", loss="mse")


def test_glorot_uniform_kernels_and_zero_biases():
    model = Sequential([Input(shape=(60,)), Dense(40, activation="relu"), Dense(30),
                        Dense(10)])
    w = model.get_weights()
    for kernel, bias in zip(w[::2], w[1::2]):
        fan_in, fan_out = kernel.shape
        limit = np.sqrt(6 / (fan_in + fan_out))
        assert kernel.dtype == np.float32
        assert np.abs(kernel).max() <= limit
        assert np.abs(kernel).max() > 0.95 * limit
        assert_allclose(kernel.std(), limit / np.sqrt(3), rtol=0.1)
        assert_array_equal(bias, 0)
    # the layers draw independently: no two kernels share their values
    assert not np.allclose(w[2][:10, :10], w[4][:10, :10])


def test_seed_fixes_the_initial_weights():
    set_random_seed(3)
    a = classifier()
    set_random_seed(3)
    b = classifier()
    set_random_seed(4)
    c = classifier()
    assert_same_weights(b, a.get_weights())
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


# ------------------------------------------------------------------ weights

def test_get_weights_returns_copies():
    model = classifier()
    weights = model.get_weights()
    weights[0][...] = 123
    assert not (model.get_weights()[0] == 123).any()


def test_set_weights_round_trip():
    model = classifier()
    rng = np.random.default_rng(1)
    new = [rng.normal(size=w.shape) for w in model.get_weights()]  # float64: cast in
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        assert got.dtype == np.float32
        assert_array_equal(got, want.astype(np.float32))
    other = classifier()
    other.set_weights(model.get_weights())
    x, _ = data()
    assert_array_equal(other.predict(x), model.predict(x))
    assert_allclose(model.predict(x), reference_mlp(model, "mse").predict(x), **FWD_TOL[np.float32])


@pytest.mark.parametrize("change, match", [
    (lambda w: w[:-1], "list of 6 arrays"),
    (lambda w: w + [w[-1]], "list of 6 arrays"),
    (lambda w: w[:-1] + [np.zeros(4)], r"weights\[5\] must have shape \(3,\)"),
    (lambda w: [w[0].T] + w[1:], r"weights\[0\] must have shape \(4, 6\)"),
    (lambda w: w[:-1] + [np.array([0, np.nan, 0])], r"weights\[5\] must hold finite"),
    (lambda w: w[:-1] + [np.array(["a", "b", "c"])], r"weights\[5\] must hold finite real"),
], ids=["too-few", "too-many", "bad-last-shape", "transposed-kernel", "nan", "strings"])
def test_set_weights_is_all_or_nothing(change, match):
    model = classifier()
    before = snapshot(model)
    new = [w + 1 for w in model.get_weights()]  # every entry but the bad one is valid
    expect_error(model, ValueError, match, lambda: model.set_weights(change(new)))
    assert_same_weights(model, before)


def test_set_weights_before_build():
    model = Sequential([Dense(2)])
    with pytest.raises(ValueError, match="not built"):
        model.set_weights([np.zeros((3, 2)), np.zeros(2)])


# ------------------------------------------------------------------ summary

def test_summary_lists_layers_and_params():
    model = Sequential([Input(shape=(784,)), Dense(25, activation="relu", name="hidden_a"),
                        Dense(15, activation="relu", name="hidden_b"), Dense(10, name="out"),
                        Softmax(name="probs")], name="notes")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "notes"' in text
    for name, shape, params in [("hidden_a", "(None, 25)", "19,625"),
                                ("hidden_b", "(None, 15)", "390"), ("out", "(None, 10)", "160")]:
        row = next(line for line in text.splitlines() if line.startswith(f"│ {name} "))
        assert "(Dense)" in row and shape in row and row.endswith(f" {params} │")
    assert re.search(r"^│ probs \(Softmax\) .* 0 │$", text, re.M)
    assert "Total params: 20,175 (78.81 KB)" in text
    assert "Trainable params: 20,175" in text
    assert "Non-trainable params: 0" in text


def test_summary_of_an_unbuilt_model(capsys):
    Sequential([Dense(4, name="lazy")]).summary()
    out = capsys.readouterr().out
    assert re.search(r"lazy \(Dense\).*\(unbuilt\)", out)
    assert "Total params: 0" in out


def test_summary_of_a_float64_model_counts_8_bytes():
    model = Sequential([Input(shape=(10,)), Dense(12, dtype="float64")])
    lines = []
    model.summary(print_fn=lines.append)
    assert "Total params: 132 (1.03 KB)" in lines[0]


# ------------------------------------------------------------------ fit vs the reference

FIT_CASES = {
    # name: (output activation, loss object, reference loss, fused, targets)
    "sparse-logits": ("linear", lambda: SparseCategoricalCrossentropy(from_logits=True),
                      "sparse_ce_logits", False, "labels"),
    "sparse-softmax": ("softmax", SparseCategoricalCrossentropy, "sparse_ce_logits", True,
                       "labels"),
    "sparse-sigmoid-probs": ("sigmoid", SparseCategoricalCrossentropy, "sparse_ce_probs",
                             False, "labels"),
    "categorical-softmax": ("softmax", CategoricalCrossentropy, "ce_logits", True, "onehot"),
    "categorical-logits": ("linear", lambda: CategoricalCrossentropy(from_logits=True),
                           "ce_logits", False, "onehot"),
    "binary-sigmoid": ("sigmoid", BinaryCrossentropy, "bce_logits", True, "binary"),
    "binary-logits": ("linear", lambda: BinaryCrossentropy(from_logits=True), "bce_logits",
                      False, "binary"),
    "mse": ("linear", MeanSquaredError, "mse", False, "onehot"),
}


def targets(kind, y, classes, dtype):
    if kind == "labels":
        return y
    if kind == "onehot":
        return reference.one_hot(y, classes, dtype)
    return (np.stack([y == 0, y == 1], axis=1)).astype(dtype)  # two independent binary outputs


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", list(FIT_CASES))
def test_history_is_the_weighted_mean_of_reference_batch_losses(case, dtype):
    output, make_loss, ref_loss, fused, kind = FIT_CASES[case]
    classes = 2 if kind == "binary" else 3
    x, labels = data(n=50, classes=3, dtype=dtype)
    y = targets(kind, labels, classes, dtype)
    model = classifier(classes=classes, dtype=np.dtype(dtype).name, output=output)
    model.compile(optimizer=Adam(learning_rate=0.01), loss=make_loss())
    mlp = reference_mlp(model, ref_loss, fused=fused, learning_rate=0.01)
    # 50 samples in batches of 16: 16, 16, 16 and a partial last batch of 2
    history = model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    want, _ = reference_fit(mlp, x, y, 16, 4)
    assert model.optimizer.iterations == 16
    assert_allclose(history.history["loss"], want, **TRAIN_TOL[dtype])
    assert_weights_close(model, mlp, TRAIN_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_history_accuracy_is_the_weighted_mean_of_batch_accuracies(dtype):
    x, y = data(n=45, dtype=dtype)
    model = compiled(classifier(dtype=np.dtype(dtype).name))
    mlp = reference_mlp(model, "sparse_ce_logits")
    history = model.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0)
    want_loss, want_acc = reference_fit(mlp, x, y, 10, 3, metric=reference.sparse_accuracy)
    assert_allclose(history.history["loss"], want_loss, **TRAIN_TOL[dtype])
    assert_allclose(history.history["accuracy"], want_acc, rtol=1e-12)


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 50), features=st.integers(1, 5),
       hidden=st.integers(1, 6), classes=st.integers(2, 4), seed=st.integers(0, 2**16))
def test_history_matches_reference_for_any_batching(n, batch_size, features, hidden, classes,
                                                    seed):
    x, y = data(n=n, features=features, classes=classes, seed=seed, dtype=np.float64)
    model = Sequential([Input(shape=(features,), dtype="float64"),
                        Dense(hidden, activation="tanh"), Dense(classes, activation="softmax")])
    model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy")
    mlp = reference_mlp(model, "sparse_ce_logits", fused=True, learning_rate=0.01)
    history = model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
    want, _ = reference_fit(mlp, x, y, batch_size, 2)
    assert model.optimizer.iterations == 2 * -(-n // batch_size)
    assert_allclose(history.history["loss"], want, **TRAIN_TOL[np.float64])
    assert_weights_close(model, mlp, TRAIN_TOL[np.float64])


def test_batch_size_defaults_to_32():
    x, y = data(n=100, dtype=np.float64)
    model = compiled(classifier(dtype="float64"))
    mlp = reference_mlp(model, "sparse_ce_logits")
    history = model.fit(x, y, epochs=2, shuffle=False, verbose=0)
    assert model.optimizer.iterations == 2 * 4  # 32, 32, 32, 4
    assert_allclose(history.history["loss"], reference_fit(mlp, x, y, 32, 2)[0],
                    **TRAIN_TOL[np.float64])


def test_batch_larger_than_the_data_is_one_batch():
    x, y = data(n=10, dtype=np.float64)
    model = compiled(classifier(dtype="float64"))
    mlp = reference_mlp(model, "sparse_ce_logits")
    history = model.fit(x, y, epochs=3, verbose=0)  # default batch 32 > 10 samples
    assert model.optimizer.iterations == 3
    assert_allclose(history.history["loss"], reference_fit(mlp, x, y, 10, 3)[0],
                    **TRAIN_TOL[np.float64])


def test_shuffle_draws_a_fresh_permutation_each_epoch():
    """The model shuffles with its own generator (seeded by set_random_seed)."""
    x, y = data(n=40, dtype=np.float64)
    set_random_seed(5)
    model = compiled(classifier(dtype="float64"))
    rng = np.random.default_rng()
    rng.bit_generator.state = model.seed_generator.bit_generator.state
    orders = [rng.permutation(40) for _ in range(3)]
    assert not np.array_equal(orders[0], orders[1])
    mlp = reference_mlp(model, "sparse_ce_logits")
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    want, _ = reference_fit(mlp, x, y, 8, 3, orders=orders)
    assert_allclose(history.history["loss"], want, **TRAIN_TOL[np.float64])
    assert_weights_close(model, mlp, TRAIN_TOL[np.float64])


def run_seeded(seed, epochs=3, **fit_args):
    set_random_seed(seed)
    x, y = data(n=60)
    model = compiled()
    history = model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, **fit_args)
    return model, history


def test_same_seed_is_bit_identical():
    a, ha = run_seeded(7)
    b, hb = run_seeded(7)
    assert ha.history == hb.history
    assert_same_weights(a, b.get_weights())


def test_different_seeds_differ():
    a, ha = run_seeded(7)
    b, hb = run_seeded(8)
    assert ha.history["loss"] != hb.history["loss"]
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])


def test_shuffle_changes_the_batches():
    """Same initial weights, shuffled or not: the per-batch updates differ."""
    x, y = data(n=60)
    set_random_seed(1)
    a = compiled()
    set_random_seed(1)
    b = compiled()
    ha = a.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=True)
    hb = b.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    assert ha.history["loss"][0] != hb.history["loss"][0]


def test_fit_continues_across_calls():
    """fit(2) then fit(3) is fit(5): weights, optimizer state and shuffles carry over."""
    a, ha = run_seeded(2, epochs=5)
    set_random_seed(2)
    x, y = data(n=60)
    b = compiled()
    h1 = b.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert b.optimizer.iterations == 2 * 8
    h2 = b.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert b.optimizer.iterations == 5 * 8 == a.optimizer.iterations
    assert h1.history["loss"] + h2.history["loss"] == ha.history["loss"]
    assert_same_weights(b, a.get_weights())
    assert b.history is h2


def test_initial_epoch(capsys):
    x, y = data()
    model = compiled()
    history = model.fit(x, y, batch_size=10, epochs=5, initial_epoch=3, verbose=2)
    assert history.epoch == [3, 4]
    assert len(history.history["loss"]) == 2
    assert model.optimizer.iterations == 2 * 5
    out = capsys.readouterr().out
    assert "Epoch 4/5" in out and "Epoch 5/5" in out and "Epoch 1/5" not in out


@pytest.mark.parametrize("epochs, initial_epoch", [(0, 0), (2, 2), (2, 5)])
def test_no_epochs_trains_nothing(epochs, initial_epoch, capsys):
    x, y = data()
    model = compiled()
    before = snapshot(model)
    history = model.fit(x, y, epochs=epochs, initial_epoch=initial_epoch, verbose=2)
    assert history.history == {} and history.epoch == []
    assert model.optimizer.iterations == 0
    assert_same_weights(model, before)
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------ validation

def test_validation_split_takes_the_last_fraction_before_shuffling():
    x, y = data(n=50)
    set_random_seed(3)
    model = compiled()
    # the first 40 rows train (shuffled), the last 10 validate
    history = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.2, verbose=0)
    assert model.optimizer.iterations == 3 * 5
    val_loss, val_acc = model.evaluate(x[40:], y[40:], verbose=0)
    assert_allclose(history.history["val_loss"][-1], val_loss, rtol=1e-12)
    assert_allclose(history.history["val_accuracy"][-1], val_acc, rtol=1e-12)
    # and the training rows were exactly the first 40: a model trained on them alone matches
    set_random_seed(3)
    head = compiled()
    h_head = head.fit(x[:40], y[:40], batch_size=8, epochs=3, verbose=0)
    assert h_head.history["loss"] == history.history["loss"]
    assert_same_weights(head, model.get_weights())


def test_validation_split_rounds_the_training_part_down():
    """Keras: split_at = floor(n * (1 - validation_split))."""
    x, y = data(n=10)
    model = compiled()
    model.fit(x, y, batch_size=1, epochs=1, validation_split=0.25, shuffle=False, verbose=0)
    assert model.optimizer.iterations == 7  # floor(7.5) training rows, 3 validation rows


def test_validation_loss_is_evaluate_on_the_validation_data():
    x, y = data(n=50)
    xv, yv = data(n=23, seed=9)
    model = compiled()
    history = model.fit(x, y, batch_size=16, epochs=2, validation_data=(xv, yv), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert_allclose(history.history["val_loss"][-1], model.evaluate(xv, yv, verbose=0)[0],
                    rtol=1e-12)


def test_validation_data_overrides_validation_split():
    x, y = data(n=50)
    xv, yv = data(n=20, seed=9)
    model = compiled()
    history = model.fit(x, y, batch_size=10, epochs=1, validation_split=0.5,
                        validation_data=(xv, yv), verbose=0)
    assert model.optimizer.iterations == 5  # all 50 rows trained
    assert_allclose(history.history["val_loss"][-1], model.evaluate(xv, yv, verbose=0)[0],
                    rtol=1e-12)


def test_validation_data_as_list_and_ints():
    x, y = data(n=30)
    model = compiled()
    xv = np.round(x[:7] * 3).astype(int)
    history = model.fit(x, y, epochs=1, validation_data=[xv.tolist(), list(y[:7])], verbose=0)
    assert_allclose(history.history["val_loss"][0],
                    model.evaluate(xv.astype(np.float32), y[:7], verbose=0)[0], rtol=1e-12)


# ------------------------------------------------------------------ History and verbose

def test_history_keys():
    x, y = data()
    plain = compiled(metrics=())
    h = plain.fit(x, y, epochs=2, verbose=0)
    assert list(h.history) == ["loss"] and h.epoch == [0, 1]
    assert plain.history is h
    assert all(isinstance(v, float) for v in h.history["loss"])
    with_val = compiled()
    h = with_val.fit(x, y, epochs=2, validation_split=0.2, verbose=0)
    assert list(h.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]  # Keras' order
    assert all(len(v) == 2 for v in h.history.values())


@pytest.mark.parametrize("metric", ["acc", "sparse_categorical_accuracy"])
def test_batch_and_epoch_logs_are_sorted_by_name(metric):
    """Keras sorts its logs: the metric before or after "loss" by its name."""
    x, y = data()
    batch_logs = []
    model = compiled(metrics=(metric,))
    record = LambdaCallback(on_train_batch_end=lambda batch, logs: batch_logs.append(list(logs)))
    h = model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[record])
    assert batch_logs == [sorted([metric, "loss"])] * 4
    assert list(h.history) == sorted([metric, "loss"])


def test_verbose_0_prints_nothing(capsys):
    x, y = data()
    model = compiled()
    model.fit(x, y, epochs=2, validation_split=0.2, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr() == ("", "")


NUMBER = r"\d+\.\d{4}(e[-+]\d+)?"
PER_STEP = r"\d+(s|ms|us)/step"


def test_verbose_2_prints_one_keras_line_per_epoch(capsys):
    x, y = data(n=50)
    model = compiled()
    # 40 training rows (the last 10 validate) in batches of 16: 3 steps
    history = model.fit(x, y, batch_size=16, epochs=3, validation_split=0.2, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    pattern = (rf"3/3 - \d+s - {PER_STEP} - accuracy: {NUMBER} - loss: {NUMBER}"
               rf" - val_accuracy: {NUMBER} - val_loss: {NUMBER}")
    for epoch in range(3):
        assert lines[2 * epoch] == f"Epoch {epoch + 1}/3"
        assert re.fullmatch(pattern, lines[2 * epoch + 1]), lines[2 * epoch + 1]
        assert f"loss: {history.history['loss'][epoch]:.4f}" in lines[2 * epoch + 1]


@pytest.mark.parametrize("verbose", [1, "auto"])
def test_verbose_1_off_a_terminal_prints_the_final_line(capsys, verbose):
    x, y = data(n=50)
    model = compiled(metrics=())
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=verbose)
    out = capsys.readouterr().out
    assert "\r" not in out  # no in-place redraws off a terminal
    lines = out.splitlines()
    assert len(lines) == 4 and lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    for line, loss in zip(lines[1::2], history.history["loss"]):
        assert re.fullmatch(rf"4/4 ━{{20}} \d+s {PER_STEP} - loss: {NUMBER}", line), line
        assert line.endswith(f"loss: {loss:.4f}")


def test_verbose_prints_small_values_in_scientific_notation(capsys):
    model = Sequential([Input(shape=(1,)), Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=SGD(learning_rate=1e-9), loss="mse")
    model.fit(np.ones((4, 1)), np.full(4, 1e-3), epochs=1, verbose=2)
    assert re.search(r"loss: 1\.0000e-06$", capsys.readouterr().out.strip())


def test_verbose_must_be_known():
    x, y = data()
    model = compiled()
    expect_error(model, ValueError, "verbose", lambda: model.fit(x, y, verbose=3))


# ------------------------------------------------------------------ evaluate and predict

@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_evaluate_forms_and_values(dtype):
    x, y = data(n=70, dtype=dtype)
    model = compiled(classifier(dtype=np.dtype(dtype).name))
    model.fit(x, y, epochs=2, verbose=0)
    logits = reference_mlp(model, "mse").predict(x)
    want_loss, _ = reference.sparse_softmax_cross_entropy(logits.astype(np.float64), y)
    want_acc = reference.sparse_accuracy(logits, y)
    loss, acc = model.evaluate(x, y, verbose=0)
    assert_allclose(loss, want_loss, **MEAN_TOL[dtype])
    assert acc == want_acc
    assert model.evaluate(x, y, verbose=0, return_dict=True) == {"accuracy": acc, "loss": loss}
    assert model.metrics_names == ["loss", "accuracy"]
    assert_allclose(model.evaluate(x, y, batch_size=8, verbose=0), [loss, acc],
                    **MEAN_TOL[dtype])
    no_metric = compiled(classifier(dtype=np.dtype(dtype).name), metrics=())
    no_metric.set_weights(model.get_weights())
    alone = no_metric.evaluate(x, y, verbose=0)
    assert isinstance(alone, float) and alone == loss
    assert no_metric.evaluate(x, y, verbose=0, return_dict=True) == {"loss": loss}


def test_evaluate_verbose_prints_the_results(capsys):
    x, y = data()
    model = compiled()
    loss, acc = model.evaluate(x, y, verbose=1)
    assert capsys.readouterr().out.strip() == f"accuracy: {acc:.4f} - loss: {loss:.4f}"


def test_evaluate_does_not_train(trained):
    model, x, y = trained
    before = snapshot(model)
    model.evaluate(x, y, verbose=0)
    assert_same_weights(model, before)
    assert model.optimizer.iterations == 4


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_predict_and_call_equal_the_reference_forward(dtype):
    x, _ = data(n=2500, dtype=dtype)  # more rows than one inference batch (1024)
    model = classifier(dtype=np.dtype(dtype).name, output="softmax")
    want = reference_mlp(model, "mse").predict(x)
    out = model.predict(x)
    assert out.dtype == dtype and out.shape == (2500, 3)
    assert_allclose(out, want, **FWD_TOL[dtype])
    assert_array_equal(model(x), out)
    assert_allclose(model.predict(x, batch_size=7), out, **FWD_TOL[dtype])
    assert_allclose(model.predict(x[:1]), out[:1], **FWD_TOL[dtype])


def test_predict_accepts_lists():
    model = classifier()
    x = [[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]]
    assert_array_equal(model.predict(x), model.predict(np.array(x, np.float32)))


@settings(max_examples=20, deadline=None)
@given(features=st.integers(1, 9), units=st.lists(st.integers(1, 9), min_size=1, max_size=4),
       rows=st.integers(1, 40), batch=st.integers(1, 50),
       activation=st.sampled_from(["linear", "relu", "sigmoid", "tanh", "leaky_relu",
                                   "softmax"]))
def test_any_architecture_predicts_as_the_reference(features, units, rows, batch, activation):
    model = Sequential([Input(shape=(features,), dtype="float64")]
                       + [Dense(u, activation=activation) for u in units])
    assert [w.shape for w in model.get_weights()] == [
        s for n_in, n_out in zip([features] + units, units) for s in ((n_in, n_out), (n_out,))]
    assert model.count_params() == sum((i + 1) * o for i, o in zip([features] + units, units))
    x = np.random.default_rng(rows).normal(size=(rows, features))
    want = reference_mlp(model, "mse").predict(x)
    assert_allclose(model.predict(x, batch_size=batch), want, **FWD_TOL[np.float64])


# ------------------------------------------------------------------ the fused output path

@pytest.mark.parametrize("kind", ["sparse", "categorical"])
def test_softmax_with_probability_loss_trains_as_logits_with_from_logits(kind):
    x, labels = data(n=64)
    y = labels if kind == "sparse" else reference.one_hot(labels, 3, np.float32)
    loss_cls = SparseCategoricalCrossentropy if kind == "sparse" else CategoricalCrossentropy
    probs = classifier(output="softmax")
    logits = classifier(output="linear")
    logits.set_weights(probs.get_weights())
    probs.compile(optimizer=Adam(0.05), loss=loss_cls())
    logits.compile(optimizer=Adam(0.05), loss=loss_cls(from_logits=True))
    hp = probs.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    hl = logits.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    assert_allclose(hp.history["loss"], hl.history["loss"], rtol=1e-6)
    for a, b in zip(probs.get_weights(), logits.get_weights()):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the softmax model still outputs probabilities
    assert_allclose(probs.predict(x), densefit.activations.softmax(logits.predict(x)),
                    rtol=1e-5, atol=1e-6)


def test_sigmoid_with_binary_crossentropy_trains_as_logits_with_from_logits():
    x, labels = data(n=64)
    y = (labels == 1).astype(np.float32)
    probs = classifier(classes=1, output="sigmoid")
    logits = classifier(classes=1, output="linear")
    logits.set_weights(probs.get_weights())
    probs.compile(optimizer=Adam(0.05), loss=BinaryCrossentropy(), metrics=["accuracy"])
    logits.compile(optimizer=Adam(0.05), loss=BinaryCrossentropy(from_logits=True),
                   metrics=["accuracy"])
    hp = probs.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    hl = logits.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    assert_allclose(hp.history["loss"], hl.history["loss"], rtol=1e-6)
    assert hp.history["accuracy"] == hl.history["accuracy"]
    for a, b in zip(probs.get_weights(), logits.get_weights()):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def saturated(output, classes):
    """A one-layer model whose pre-activations are +-500 for x = (+-1, 0): far past where
    a probability rounds to exactly 0 or 1 in float32."""
    model = Sequential([Input(shape=(2,)), Dense(classes, activation=output)])
    kernel = np.zeros((2, classes), np.float32)
    kernel[0] = [500, -500][:classes]
    model.set_weights([kernel, np.zeros(classes, np.float32)])
    return model


def test_softmax_probability_loss_does_not_saturate():
    model = saturated("softmax", 2)
    x = np.array([[1.0, 0.0], [1.0, 0.0]], np.float32)  # logits (500, -500)
    y = np.array([1, 1])  # confidently wrong
    model.compile(optimizer=SGD(learning_rate=1e-3), loss=SparseCategoricalCrossentropy())
    assert_array_equal(model.predict(x), [[1, 0], [1, 0]])  # probabilities saturate
    loss = model.evaluate(x, y, verbose=0)
    assert_allclose(loss, 1000, rtol=1e-6)  # the true cross-entropy, not the clip's 16.1
    assert loss > -np.log(reference.EPSILON)
    before = model.get_weights()[0].copy()
    history = model.fit(x, y, epochs=1, verbose=0)
    assert_allclose(history.history["loss"], [1000], rtol=1e-6)
    kernel = model.get_weights()[0]
    assert np.isfinite(kernel).all()
    # the gradient is not lost to the clip: softmax - onehot = (1, -1) per row
    assert_allclose(kernel - before, [[-1e-3, 1e-3], [0, 0]], atol=4e-5)  # float32 ulp at 500


def test_sigmoid_binary_crossentropy_does_not_saturate():
    model = saturated("sigmoid", 1)
    x = np.array([[1.0, 0.0], [-1.0, 0.0]], np.float32)  # logits 500 and -500
    y = np.array([0.0, 1.0])  # both confidently wrong
    model.compile(optimizer=SGD(learning_rate=1e-3), loss=BinaryCrossentropy())
    assert_array_equal(model.predict(x).ravel(), [1, 0])
    assert_allclose(model.evaluate(x, y, verbose=0), 500, rtol=1e-6)
    before = model.get_weights()[0].copy()
    model.fit(x, y, epochs=1, verbose=0)
    kernel = model.get_weights()[0]
    assert np.isfinite(kernel).all()
    # gradient of the mean: ((1 - 0) * 1 + (0 - 1) * -1) / 2 = 1 for the first input
    assert_allclose(kernel - before, [[-1e-3], [0]], atol=4e-5)  # float32 ulp at 500


def bias_only(output, bias, loss, metric="accuracy"):
    model = Sequential([Input(shape=(3,)), Dense(1, activation=output)])
    model.set_weights([np.zeros((3, 1), np.float32), np.array([bias], np.float32)])
    model.compile(optimizer="adam", loss=loss, metrics=[metric])
    return model


@pytest.mark.parametrize("metric", ["accuracy", "acc", "binary_accuracy"])
def test_binary_accuracy_thresholds_logits_at_zero(metric):
    """Output logit 0.25 (probability 0.56) for every row: label 1 is right.
    Keras' 0.5 threshold on the logit would call it wrong (tensorflow#41413)."""
    x = np.ones((6, 3), np.float32)
    ones, zeros = np.ones(6), np.zeros(6)
    logits = bias_only("linear", 0.25, BinaryCrossentropy(from_logits=True), metric)
    assert logits.evaluate(x, ones, verbose=0)[1] == 1.0
    assert logits.evaluate(x, zeros, verbose=0)[1] == 0.0
    negative = bias_only("linear", -0.25, BinaryCrossentropy(from_logits=True), metric)
    assert negative.evaluate(x, ones, verbose=0)[1] == 0.0
    # a sigmoid output reads probabilities 0.56 / 0.44: the same answers
    assert bias_only("sigmoid", 0.25, "binary_crossentropy", metric).evaluate(
        x, ones, verbose=0)[1] == 1.0
    assert bias_only("sigmoid", -0.25, "binary_crossentropy", metric).evaluate(
        x, ones, verbose=0)[1] == 0.0
    # an output taken as a probability (from_logits=False, no sigmoid) is cut at 0.5
    assert bias_only("linear", 0.25, BinaryCrossentropy(), metric).evaluate(
        x, ones, verbose=0)[1] == 0.0
    assert bias_only("linear", 0.75, BinaryCrossentropy(), metric).evaluate(
        x, ones, verbose=0)[1] == 1.0


def test_binary_accuracy_during_fit_uses_the_same_threshold():
    x = np.ones((8, 3), np.float32)
    model = bias_only("linear", 0.25, BinaryCrossentropy(from_logits=True))
    model.compile(optimizer=SGD(learning_rate=1e-9), loss=BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    assert model.fit(x, np.ones(8), epochs=1, verbose=0).history["accuracy"] == [1.0]


def test_categorical_accuracy_matches_argmax():
    x, labels = data(n=40)
    y = reference.one_hot(labels, 3, np.float32)
    model = compiled(classifier(output="softmax"), loss="categorical_crossentropy")
    _, acc = model.evaluate(x, y, verbose=0)
    assert acc == reference.categorical_accuracy(model.predict(x), y)


# ------------------------------------------------------------------ errors

def test_fit_and_evaluate_before_compile():
    x, y = data()
    model = classifier()
    before = snapshot(model)
    with pytest.raises(RuntimeError, match=r"compile\(\) before fit"):
        model.fit(x, y)
    with pytest.raises(RuntimeError, match=r"compile\(\) before evaluate"):
        model.evaluate(x, y)
    assert_same_weights(model, before)


def test_compile_without_loss():
    model = classifier()
    with pytest.raises(ValueError, match="compile needs a loss"):
        model.compile(optimizer="adam")


@pytest.mark.parametrize("args, exc, match", [
    (dict(loss="sparse_categorical_crossentropyy"), ValueError,
     r"Unknown loss .*Did you mean 'sparse_categorical_crossentropy'"),
    (dict(loss="mse", optimizer="adamm"), ValueError, r"Unknown optimizer .*Did you mean 'adam'"),
    (dict(loss="mse", optimizer="sgdd"), ValueError, r"Did you mean 'sgd'"),
    (dict(loss="sparse_categorical_crossentropy", metrics=["accuracyy"]), ValueError,
     r"Unknown metric .*Did you mean 'accuracy'"),
    (dict(loss="binary_crossentropy", metrics=["sparse_categorical_accuracy"]), ValueError,
     "does not fit loss"),
    (dict(loss="mse", metrics=["accuracy", "accuracy"]), ValueError, "both named 'accuracy'"),
    (dict(loss=3), TypeError, "loss must be"),
    (dict(loss="mse", optimizer=3), TypeError, "optimizer must be"),
    (dict(loss="mse", metrics=[len]), TypeError, "metrics must be names"),
])
def test_compile_errors_keep_the_previous_compile(trained, args, exc, match):
    model, x, y = trained
    optimizer, loss = model.optimizer, model.loss
    expect_error(model, exc, match, lambda: model.compile(**args))
    assert model.optimizer is optimizer and model.loss is loss
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # still trains as compiled
    assert model.optimizer.iterations == 8


def test_unknown_activation_suggests():
    with pytest.raises(ValueError, match=r"Unknown activation 'relux'.*Did you mean 'relu'"):
        Sequential([Dense(3, activation="relux")])


BAD_FIT = {
    "wrong-features": (lambda x, y: (x[:, :3], y), ValueError,
                       r"x must have 4 features .*got shape \(50, 3\)"),
    "length-mismatch": (lambda x, y: (x, y[:-1]), ValueError,
                        "x and y must have the same number of samples, got 50 and 49"),
    "empty": (lambda x, y: (x[:0], y[:0]), ValueError, "x is empty"),
    "nan-row": (lambda x, y: (np.where(np.arange(50)[:, None] == 7, np.nan, x), y), ValueError,
                r"x holds NaN or inf \(first at row 7\)"),
    "inf-row": (lambda x, y: (np.where(np.arange(50)[:, None] == 31, np.inf, x), y),
                ValueError, "row 31"),
    "label-too-big": (lambda x, y: (x, np.where(np.arange(50) == 3, 3, y)), ValueError,
                      r"y must hold class labels in \[0, 3\).*got 3"),
    "label-negative": (lambda x, y: (x, np.where(np.arange(50) == 3, -1, y)), ValueError,
                       r"y must hold class labels in \[0, 3\).*got -1"),
    "label-fraction": (lambda x, y: (x, y + 0.5), ValueError, "y must hold integer class labels"),
    "label-nan": (lambda x, y: (x, np.where(np.arange(50) == 3, np.nan, y)), ValueError,
                  "y must hold integer class labels"),
    "label-strings": (lambda x, y: (x, y.astype(str)), TypeError, "y must hold integer"),
    "labels-2d": (lambda x, y: (x, np.stack([y, y], 1)), ValueError, r"y must hold 50"),
    "complex-x": (lambda x, y: (x + 1j, y), TypeError, "x must hold real numbers"),
    "object-x": (lambda x, y: (x.astype(object), y), TypeError, "x must hold real numbers"),
    "string-x": (lambda x, y: (x.astype(str), y), TypeError, "x must hold real numbers"),
    "1d-x": (lambda x, y: (x[:, 0], y), ValueError, r"x must be 2-d .*model takes 4 features"),
    "3d-x": (lambda x, y: (x.reshape(50, 2, 2), y), ValueError, r"2-d .*flatten"),
    "no-features": (lambda x, y: (x[:, :0], y), ValueError, "at least one feature"),
    "x-none": (lambda x, y: (None, y), ValueError, "x is required"),
    "y-none": (lambda x, y: (x, None), ValueError, "y is required"),
}


@pytest.mark.parametrize("case", list(BAD_FIT))
def test_bad_data_is_refused_before_training(trained, case):
    model, x, y = trained
    make, exc, match = BAD_FIT[case]
    bad_x, bad_y = make(x, y)
    expect_error(model, exc, match, lambda: model.fit(bad_x, bad_y, epochs=1, verbose=0))
    expect_error(model, exc, match, lambda: model.evaluate(bad_x, bad_y, verbose=0))


def test_bad_x_for_predict(trained):
    model, x, _ = trained
    expect_error(model, ValueError, "x must have 4 features", lambda: model.predict(x[:, :2]))
    expect_error(model, ValueError, "row 2",
                 lambda: model.predict(np.where(np.arange(50)[:, None] == 2, np.nan, x)))
    expect_error(model, ValueError, "reshape", lambda: model.predict(x[0]))
    expect_error(model, TypeError, "real numbers", lambda: model.predict(x.astype(complex)))
    expect_error(model, ValueError, "batch_size", lambda: model.predict(x, batch_size=0))


def test_bad_data_on_an_unbuilt_model_is_refused():
    model = compiled(Sequential([Dense(3)]))
    with pytest.raises(ValueError, match="2-d"):
        model.fit(np.ones(5), np.zeros(5), verbose=0)
    assert not model.built and model.optimizer.iterations == 0


def test_binary_crossentropy_targets_must_be_in_0_1():
    x, y = data()
    model = compiled(classifier(classes=1, output="sigmoid"), loss="binary_crossentropy")
    model.fit(x, (y == 1).astype(float), epochs=1, verbose=0)
    for bad, shown in [(2.0, r"\[0, 2\]"), (-0.5, r"\[-0.5, 1\]")]:
        targets = np.where(np.arange(50) == 4, bad, (y == 1).astype(float))
        expect_error(model, ValueError, rf"y must hold binary targets in \[0, 1\].*{shown}",
                     lambda: model.fit(x, targets, verbose=0))


def test_dense_targets_must_match_the_output_shape(trained):
    model, x, y = trained
    model.compile(optimizer=model.optimizer, loss="mse")
    expect_error(model, ValueError, r"y must have shape \(50, 3\)",
                 lambda: model.fit(x, np.zeros((50, 2)), verbose=0))


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, True, "32"])
def test_batch_size_must_be_a_positive_integer(trained, batch_size):
    model, x, y = trained
    expect_error(model, ValueError, "batch_size must be a positive integer",
                 lambda: model.fit(x, y, batch_size=batch_size, verbose=0))
    expect_error(model, ValueError, "batch_size",
                 lambda: model.evaluate(x, y, batch_size=batch_size, verbose=0))


@pytest.mark.parametrize("epochs", [-1, 1.5, None, True])
def test_epochs_must_be_an_integer_at_least_0(trained, epochs):
    model, x, y = trained
    expect_error(model, ValueError, "epochs must be an integer >= 0",
                 lambda: model.fit(x, y, epochs=epochs, verbose=0))


def test_initial_epoch_must_be_an_integer_at_least_0(trained):
    model, x, y = trained
    expect_error(model, ValueError, "initial_epoch",
                 lambda: model.fit(x, y, epochs=2, initial_epoch=-1, verbose=0))


@pytest.mark.parametrize("split, n, match", [
    (1.0, 50, r"validation_split must be a number in \[0, 1\)"),
    (-0.1, 50, r"validation_split must be a number in \[0, 1\)"),
    ("0.2", 50, "validation_split must be a number"),
    (0.9, 1, "leaves an empty training set"),
    (0.5, 1, "leaves an empty training set"),
    (1e-20, 50, "leaves an empty validation set"),
])
def test_validation_split_errors(trained, split, n, match):
    model, x, y = trained
    expect_error(model, ValueError, match,
                 lambda: model.fit(x[:n], y[:n], validation_split=split, verbose=0))


@pytest.mark.parametrize("val, exc, match", [
    ((np.ones((5, 4)),), ValueError, r"validation_data must be a tuple \(x_val, y_val\)"),
    (np.ones((5, 4)), ValueError, "validation_data must be a tuple"),
    ((np.ones((5, 3)), np.zeros(5)), ValueError, "x_val must have 4 features"),
    ((np.ones((5, 4)), np.full(5, 7)), ValueError, r"y_val must hold class labels in \[0, 3\)"),
    ((np.ones((5, 4)), np.zeros(4)), ValueError, "x_val and y_val must have the same number"),
    ((np.ones((0, 4)), np.zeros(0)), ValueError, "validation_data is empty"),
])
def test_validation_data_errors(trained, val, exc, match):
    model, x, y = trained
    expect_error(model, exc, match, lambda: model.fit(x, y, validation_data=val, verbose=0))


# ------------------------------------------------------------------ input conversions

def train_on(x, y, seed=4, dtype=None):
    set_random_seed(seed)
    model = compiled(classifier(dtype=dtype))
    history = model.fit(x, y, batch_size=8, epochs=2, validation_split=0.2, verbose=0)
    return history.history, model.get_weights(), model.predict(x)


def assert_same_training(a, b):
    assert a[0] == b[0]
    for wa, wb in zip(a[1], b[1]):
        assert_array_equal(wa, wb)
    assert_array_equal(a[2], b[2])


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint8, np.bool_, np.float16,
                                   np.float64])
def test_integer_bool_and_other_float_x_are_converted(dtype):
    x, y = data(n=40)
    x = (x > 0) if dtype is np.bool_ else np.round(x * 3).astype(dtype)
    assert_same_training(train_on(x, y), train_on(x.astype(np.float32), y))


def test_label_types_are_equivalent():
    x, y = data(n=40)
    want = train_on(x, y)
    for labels in (y.astype(np.uint8), y.astype(np.float64), y.reshape(-1, 1), y.tolist()):
        assert_same_training(train_on(x, labels), want)


@pytest.mark.parametrize("layout", ["strided-columns", "fortran", "reversed", "read-only",
                                    "list"])
def test_memory_layout_does_not_matter(layout):
    x, y = data(n=40)
    wide = np.repeat(x, 2, axis=1)
    views = {
        "strided-columns": (wide[:, ::2], x),
        "fortran": (np.asfortranarray(x), x),
        "reversed": (x[::-1], np.ascontiguousarray(x[::-1])),
        "read-only": (x.copy(), x),
        "list": (x.tolist(), x),
    }
    view, contiguous = views[layout]
    if layout == "read-only":
        view.setflags(write=False)
    labels = y[::-1].copy() if layout == "reversed" else y
    assert_same_training(train_on(view, labels), train_on(contiguous, labels))


def test_non_contiguous_labels():
    x, y = data(n=40)
    assert_same_training(train_on(x, np.repeat(y, 2)[::2]), train_on(x, y))


@pytest.mark.parametrize("labels", ["int32", "uint8", "int64", "float64", "int32 column"])
def test_labels_are_copied_once_into_a_private_array(labels, monkeypatch):
    """C indexes with the labels, so it trains on a copy no one else holds: the
    conversion to int32 when there is one, else a copy the core makes -- not both."""
    x, y = data(n=40)
    given = {"int32": y.astype(np.int32), "uint8": y.astype(np.uint8), "int64": y,
             "float64": y.astype(np.float64),
             "int32 column": y.astype(np.int32).reshape(-1, 1)}[labels]
    made = []

    def dataset(network, x, targets, labels, copy, ignore_class, sample_weight=None):
        made.append((targets, copy, real(network, x, targets, labels, copy=copy,
                                         ignore_class=ignore_class,
                                         sample_weight=sample_weight)))
        return made[-1][-1]

    real = densefit._core.Dataset
    monkeypatch.setattr(densefit._core, "Dataset", dataset)
    compiled().fit(x, given, batch_size=8, epochs=1, verbose=0)
    [(targets, copy, made)] = made
    assert copy == labels.startswith("int32")  # the core copies only the caller's own array
    assert np.shares_memory(targets, given) == copy
    assert not np.shares_memory(made.y, given)
    assert_array_equal(made.y, y)


def test_float64_model_keeps_float64_precision():
    x, y = data(n=40, dtype=np.float64)
    model = compiled(classifier(dtype="float64"))
    mlp = reference_mlp(model, "sparse_ce_logits")
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert all(w.dtype == np.float64 for w in model.get_weights())
    want, _ = reference_fit(mlp, x, y, 8, 2)
    assert_allclose(history.history["loss"], want, rtol=1e-12)
    # float32 input is widened, not the model narrowed
    assert model.predict(x.astype(np.float32)).dtype == np.float64


def test_workspace_pool_stays_bounded_across_sizes():
    """Evaluating or fitting at many sizes reuses large-enough work buffers instead of
    keeping one set per size."""
    model = compiled(classifier())
    x, y = data()
    model.build((None, x.shape[1]))
    network = core_network(model)
    pool = WorkspacePool()
    for n in range(1, 40):
        for training in (False, True):
            work = pool.take(network, n, True, training)
            assert work.capacity >= n and work.training is training
            pool.give(work)
    assert pool.idle_count() <= 2
    assert pool.take(core_network(model), 1, True, True) is not work  # a new network: new buffers


def test_from_logits_true_on_softmax_output_uses_the_real_logits():
    """A softmax output with from_logits=True trains exactly like from_logits=False
    (both read the layer's pre-activation, as Keras' TensorFlow backend does)."""
    x, y = data()
    histories = []
    for from_logits in (False, True):
        set_random_seed(5)
        model = Sequential([Dense(6, activation="relu"), Dense(3, activation="softmax")])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=from_logits),
                          ["accuracy"])
        histories.append(model.fit(x, y, epochs=2, verbose=0).history)
    assert histories[0] == histories[1]


# ---------------------------------------------------------------- predict on several threads

@pytest.fixture
def two_threads():
    """BLAS (and so densefit) limited to two threads for the test; skips where the
    process cannot have two."""
    from densefit.utils import get_num_threads, set_num_threads

    before = get_num_threads()
    set_num_threads(2)
    if get_num_threads() < 2:
        set_num_threads(before)
        pytest.skip("this process cannot run two BLAS threads")
    yield
    set_num_threads(before)


def core_network(model):
    """A ``_core.Network`` over a copy of the model's weights (Dense layers with their
    own activations, no leaky_relu)."""
    weights = model.get_weights()
    units = [weights[0].shape[0]] + [b.size for b in weights[1::2]]
    acts = [_core.ACTIVATIONS[name] for name in output_activations(model)]
    params = np.concatenate([w.ravel() for w in weights])
    return _core.Network(units, acts, [0.0] * len(acts), params, np.zeros_like(params))


def _narrow_model(hidden=25):
    set_random_seed(3)
    model = Sequential([Dense(hidden, activation="relu"), Dense(10)])
    model.build((None, 40))
    return model


def test_large_predict_is_split_across_threads_with_the_same_bits(two_threads):
    """A network of narrow layers runs without BLAS, so predict splits a large x over
    the threads itself, at multiples of the batch size: every row meets the same
    batches as in one call and comes out bit-identical."""
    model = _narrow_model()
    network = core_network(model)
    x = np.random.default_rng(0).standard_normal((5000, 40)).astype(np.float32)
    if _core.forward_uses_blas(network):
        pytest.skip("no AVX-512: this network's forward pass goes through BLAS")
    assert inference.parts(network, len(x), 1024) == [(0, 2048), (2048, 5000)]
    assert inference.parts(network, len(x), 100) == [(0, 2500), (2500, 5000)]
    for batch_size in (None, 100, 333):
        split = model.predict(x, batch_size=batch_size)
        whole = _core.predict(network, x, batch_size or 1024, True)
        assert_array_equal(split, whole)


def test_split_predict_names_the_first_bad_row_of_the_whole_input(two_threads):
    model = _narrow_model()
    x = np.ones((5000, 40), np.float32)
    x[4000, 7] = np.inf
    x[3999, 0] = np.nan
    with pytest.raises(ValueError, match="row 3999"):
        model.predict(x)


def test_predict_is_not_split_when_blas_runs_the_network(two_threads):
    """A wide layer goes through BLAS, whose own threads split the products: a second
    level of threads would only compete with them."""
    wide = core_network(_narrow_model(hidden=64))
    assert _core.forward_uses_blas(wide)
    assert inference.parts(wide, 5000, 1024) is None
    narrow = core_network(_narrow_model())
    try:
        _core.set_narrow_kernels(False)
        assert inference.parts(narrow, 5000, 1024) is None
    finally:
        _core.set_narrow_kernels(True)
    if not _core.forward_uses_blas(narrow):
        assert inference.parts(narrow, 3000, 1024) is None  # each part takes two batches or more
