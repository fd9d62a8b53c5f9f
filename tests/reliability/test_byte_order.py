"""Byte order: an array whose bytes are not in this machine's order (``>f4``, as
``np.load`` of a big-endian ``.npy``, HDF5, FITS or ``np.frombuffer`` give) is
taken as the values it holds by every public entry point, and computed in the
precision its type names (``>f8`` is float64).  The compiled core never reads
such bytes as native: it refuses them with a TypeError that names the argument
and says how to convert it.
"""
import io
import json
import zipfile

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from densefit import Sequential, _core, activations, load_model, losses
from densefit.layers import Dense, Input
from densefit.utils import set_random_seed

SWAPPED = {np.float32: ">f4", np.float64: ">f8"}  # this machine is little-endian
pytestmark = pytest.mark.skipif(np.little_endian is False, reason="big-endian machine")


def _model(dtype=np.float32, n_in=4, outputs=3, loss="mse"):
    set_random_seed(0)
    model = Sequential([Input((n_in,), dtype=np.dtype(dtype).name),
                        Dense(8, activation="relu"), Dense(outputs)])
    model.compile("adam", loss)
    return model


def _x(rows=6, n_in=4, dtype=np.float32):
    return np.random.default_rng(1).normal(size=(rows, n_in)).astype(dtype)


# ---------------------------------------------------------------- predict, model(x)

@pytest.mark.parametrize("model_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("swapped", [">f4", ">f8", ">i4"])
def test_predict_takes_a_swapped_array_as_its_values(model_dtype, swapped):
    model = _model(model_dtype)
    x = np.round(_x() * 4)  # integral, so >i4 holds the same values
    expected = model.predict(x.astype(model_dtype), verbose=0)
    assert_array_equal(model.predict(x.astype(swapped), verbose=0), expected)
    assert_array_equal(model(x.astype(swapped)), expected)


@pytest.mark.parametrize("model_dtype", [np.float32, np.float64])
def test_threaded_predict_takes_a_swapped_array_as_its_values(model_dtype):
    model = _model(model_dtype, n_in=40)
    x = _x(3000, 40, model_dtype)
    expected = model.predict(x, batch_size=256, verbose=0)
    assert_array_equal(model.predict(x.astype(SWAPPED[model_dtype]), batch_size=256,
                                     verbose=0), expected)


def test_accepts_refuses_a_swapped_array():
    model = _model()
    x = _x()
    assert _core.accepts(model._network, x)
    assert not _core.accepts(model._network, x.astype(">f4"))


# ---------------------------------------------------------------- the core refuses

def _net(dtype=np.float32):
    return _model(dtype)._network


def _core_calls(dtype):
    """Every core entry point with one argument swapped: (call, argument's name)."""
    s = SWAPPED[dtype]
    net = _net(dtype)
    x, w, b = _x(3, 4, dtype), np.ones((4, 2), dtype), np.zeros(2, dtype)
    out, labels = np.ones((3, 2), dtype), np.array([0, 1, 1], np.int32)
    relu = _core.ACTIVATIONS["relu"]
    mse, sparse = _core.LOSSES["mse"], _core.LOSSES["sparse_ce_logits"]
    acc = _core.METRICS["sparse_accuracy"]
    v = np.ones(5, dtype)
    return {
        "predict x": (lambda: _core.predict(net, x.astype(s), 4), "x"),
        "predict out": (lambda: _core.predict(net, x, 4, out=np.empty((3, 3), s)), "out"),
        "first_nonfinite_row": (lambda: _core.first_nonfinite_row(x.astype(s)), "x"),
        "activation_forward": (lambda: _core.activation_forward(x.astype(s), relu, 0.0), "z"),
        "activation_backward": (lambda: _core.activation_backward(x, x.astype(s), relu, 0.0),
                                "grad"),
        "dense_forward kernel": (lambda: _core.dense_forward(x, w.astype(s), b, relu, 0.0),
                                 "kernel"),
        "dense_forward bias": (lambda: _core.dense_forward(x, w, b.astype(s), relu, 0.0), "bias"),
        "dense_backward a": (lambda: _core.dense_backward(x, w, out.astype(s), out, relu, 0.0,
                                                          True), "a"),
        "loss out": (lambda: _core.loss(mse, out.astype(s), out), "out"),
        "loss target": (lambda: _core.loss(mse, out, out.astype(s)), "target"),
        "loss labels": (lambda: _core.loss(sparse, out, labels.astype(">i4")), "target"),
        "metric labels": (lambda: _core.metric(acc, out, labels.astype(">i4"), 0.5), "target"),
        "adam m": (lambda: _core.adam_update(v.copy(), v, v.astype(s), v.copy(), 1, 1e-3, 0.9,
                                             0.999, 1e-7), "m"),
        "sgd variable": (lambda: _core.sgd_update(v.astype(s), v, None, 0.1, 0.0, False),
                         "variable"),
        "rmsprop grad": (lambda: _core.rmsprop_update(v.copy(), v.astype(s), v.copy(), 0.1, 0.9,
                                                      1e-7), "grad"),
        "Network params": (lambda: _core.Network(
            [4, 2], [relu], [0.0], np.zeros(10, s), np.zeros(10, dtype)), "params"),
        "Dataset x": (lambda: _core.Dataset(net, x.astype(s), np.ones((3, 3), dtype), False),
                      "x"),
        "Dataset labels": (lambda: _core.Dataset(net, x, labels.astype(">i4"), True), "y"),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_core_refuses_swapped_arrays_naming_them_and_the_fix(dtype):
    for what, (call, name) in _core_calls(dtype).items():
        with pytest.raises(TypeError) as info:
            call()
        message = str(info.value)
        assert message.startswith(f"{name} has dtype >"), (what, message)
        assert "byte order" in message and "newbyteorder('=')" in message, (what, message)


def test_train_batches_refuses_a_swapped_order():
    model = _model()
    x, y = _x(8), np.zeros((8, 3), np.float32)
    model.fit(x, y, epochs=1, verbose=0)  # builds the optimizer's state
    net = model._network
    work = _core.Workspace(net, 4, False, True)
    state = model._optimizer_state()
    data = _core.Dataset(net, x, y, False)
    logs = np.empty(2), np.empty(2)
    with pytest.raises(TypeError, match=r"^order has dtype >i8.*byte order"):
        _core.train_batches(net, work, model._compiled.objective, state, data,
                            np.arange(8).astype(">i8"), 4, 0, 2, *logs)
    with pytest.raises(TypeError, match=r"^batch_loss has dtype >f8.*byte order"):
        _core.train_batches(net, work, model._compiled.objective, state, data,
                            np.arange(8), 4, 0, 2, logs[0].astype(">f8"), logs[1])


# ---------------------------------------------------------------- standalone functions

@pytest.mark.parametrize("name", sorted(_core.ACTIVATIONS))
def test_activations_compute_swapped_float64_in_float64(name):
    x = _x(3, 4, np.float64) * 30
    native = getattr(activations, name)(x)
    assert native.dtype == np.float64
    swapped = getattr(activations, name)(x.astype(">f8"))
    assert swapped.dtype == np.float64
    assert_array_equal(swapped, native)
    assert_array_equal(getattr(activations, name)(x.astype(">f4")),
                       getattr(activations, name)(x.astype(np.float32)))


@pytest.mark.parametrize("loss", [losses.MeanSquaredError(), losses.BinaryCrossentropy(),
                                  losses.CategoricalCrossentropy()])
def test_loss_computes_swapped_float64_in_float64(loss):
    y_pred = np.array([[0.2, 0.3, 0.5], [0.1, 0.8, 0.1]])
    y_true = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    native = loss(y_true, y_pred)
    assert isinstance(native, np.float64)
    swapped = loss(y_true.astype(">f8"), y_pred.astype(">f8"))
    assert isinstance(swapped, np.float64) and swapped == native


def test_sparse_loss_takes_swapped_labels():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    logits = np.array([[1.0, 2.0], [3.0, -1.0]])
    assert loss(np.array([1, 0], ">i8"), logits.astype(">f8")) == loss([1, 0], logits)


# ---------------------------------------------------------------- fit, evaluate, weights

def test_fit_and_evaluate_take_swapped_inputs_labels_and_validation_data():
    x = _x(32, 4)
    y = (x[:, 0] > 0).astype(np.int64)

    def run(convert):
        model = _model(loss="sparse_categorical_crossentropy")
        model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        history = model.fit(convert(x, ">f8"), convert(y, ">i8"), epochs=2, batch_size=8,
                            verbose=0, validation_data=(convert(x, ">f4"), convert(y, ">i2")))
        return history.history, model.evaluate(convert(x, ">f8"), convert(y, ">i8"),
                                               verbose=0), model.get_weights()

    native = run(lambda a, _: a)
    swapped = run(lambda a, dtype: a.astype(dtype))
    assert swapped[0] == native[0] and swapped[1] == native[1]
    for a, b in zip(swapped[2], native[2]):
        assert_array_equal(a, b)


def test_set_weights_takes_swapped_arrays_as_values():
    model = _model()
    weights = [w + 1 for w in model.get_weights()]
    model.set_weights([w.astype(">f4") for w in weights])
    for got, expected in zip(model.get_weights(), weights):
        assert got.dtype == np.float32 and got.dtype.isnative
        assert_array_equal(got, expected)


def test_optimizer_load_own_variables_takes_swapped_arrays():
    model = _model()
    model.fit(_x(8), np.zeros((8, 3)), epochs=1, verbose=0)
    store = {}
    model.optimizer.save_own_variables(store)
    expected = {name: value.copy() for name, value in store.items()}
    model.optimizer.load_own_variables({name: value.astype(value.dtype.newbyteorder(">"))
                                        for name, value in store.items()})
    for name in ("momentums", "velocities"):
        assert_array_equal(getattr(model.optimizer, name), expected[name])


# ---------------------------------------------------------------- files

def _rewrite_big_endian(path):
    """The model file at ``path`` with every float array in weights.npz big-endian."""
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json")
        arrays = dict(np.load(io.BytesIO(archive.read("weights.npz"))))
    buffer = io.BytesIO()
    np.savez(buffer, **{k: v.astype(v.dtype.newbyteorder(">")) if v.dtype.kind == "f" else v
                        for k, v in arrays.items()})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", config)
        archive.writestr("weights.npz", buffer.getvalue())
    return arrays


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_load_model_takes_big_endian_params_and_optimizer_state(tmp_path, dtype):
    model = _model(dtype)
    x, y = _x(16, 4, dtype), np.ones((16, 3), dtype)
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    path = tmp_path / "model.densefit"
    model.save(path)
    arrays = _rewrite_big_endian(path)
    assert any(k.startswith("optimizer_") for k in arrays)
    assert json.loads(zipfile.ZipFile(path).read("config.json"))  # still a model file
    loaded = load_model(path)
    assert loaded.dtype == dtype
    for got, expected in zip(loaded.get_weights(), model.get_weights()):
        assert got.dtype.isnative
        assert_array_equal(got, expected)
    for name in ("momentums", "velocities"):
        assert_array_equal(getattr(loaded.optimizer, name), getattr(model.optimizer, name))
    # continues training exactly as the original
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=4, verbose=0)
    for got, expected in zip(loaded.get_weights(), model.get_weights()):
        assert_array_equal(got, expected)


def test_load_weights_takes_big_endian_arrays(tmp_path):
    model = _model()
    path = tmp_path / "w.npz"
    weights = [w + 0.5 for w in model.get_weights()]
    np.savez(path, *[w.astype(">f4") for w in weights])
    model.load_weights(path)
    for got, expected in zip(model.get_weights(), weights):
        assert_array_equal(got, expected)


def test_load_model_keeps_the_dtype_its_input_layer_gave(tmp_path):
    """The model's dtype decides how a file's arrays are read: a model made float64
    by ``Input(dtype="float64")`` alone (no layer dtype) loads as float64."""
    model = Sequential([Input((4,), dtype="float64"), Dense(3)])
    model.save(tmp_path / "m.densefit")
    loaded = load_model(tmp_path / "m.densefit")
    assert loaded.dtype == np.float64
    assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
