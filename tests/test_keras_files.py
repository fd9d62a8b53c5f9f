"""Keras' .keras and .weights.h5 files written and read by densefit (keras_files.py):
round trips, and hostile files refused cleanly.  Keras itself: test_keras_parity.py."""
import io
import json
import zipfile

import numpy as np
import pytest

import densefit as keras
from densefit import keras_files

h5py = pytest.importorskip("h5py")


def _model(optimizer="adam", dtype=None):
    keras.utils.clear_session()  # layer names from "dense" on
    rng = np.random.default_rng(0)
    x = rng.random((64, 5)).astype(dtype or "float32")
    y = rng.random((64, 2)).astype(dtype or "float32")
    norm = keras.layers.Normalization(dtype=dtype)
    norm.adapt(x)
    model = keras.Sequential([
        keras.Input((5,), dtype=dtype), norm, keras.layers.Dense(8, activation="relu"),
        keras.layers.BatchNormalization(), keras.layers.Dropout(0.2), keras.layers.PReLU(),
        keras.layers.Dense(6, kernel_regularizer="l2"), keras.layers.LeakyReLU(),
        keras.layers.ELU(), keras.layers.ReLU(), keras.layers.Activation("tanh"),
        keras.layers.Dense(2), keras.layers.Softmax()])
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    return model, x, y


@pytest.mark.parametrize("optimizer", ["adam", "sgd", keras.optimizers.SGD(momentum=0.9),
                                       "rmsprop", "adagrad", "adamax", "nadam", "adamw"])
def test_round_trip_predicts_and_trains_on_identically(tmp_path, optimizer):
    model, x, y = _model(optimizer)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert _no_dtypes(loaded.get_config()) == _no_dtypes(model.get_config())
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations
    a = model.fit(x, y, epochs=2, verbose=0, shuffle=False).history["loss"]
    b = loaded.fit(x, y, epochs=2, verbose=0, shuffle=False).history["loss"]
    assert a == b


def _no_dtypes(config):
    """Keras states every layer's dtype; densefit's layers leave None for the model's."""
    return [{k: v for k, v in layer["config"].items() if k != "dtype"}
            for layer in config["layers"]]


def test_layout_is_keras(tmp_path):
    model, _, _ = _model()
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(archive.read("config.json"))
        h5 = h5py.File(io.BytesIO(archive.read("model.weights.h5")))
    assert config["class_name"] == "Sequential"
    assert [layer["class_name"] for layer in config["config"]["layers"]][:3] == [
        "InputLayer", "Normalization", "Dense"]
    assert h5["layers/dense/vars/0"].shape == (5, 8)
    assert h5["layers/normalization/vars/2"].dtype == np.int64
    assert h5["optimizer/vars/0"][()] == model.optimizer.iterations
    assert h5["optimizer/vars/2"].shape == h5["optimizer/vars/3"].shape == (5, 8)  # m, v


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_weights_h5_round_trip(tmp_path, dtype):
    model, x, _ = _model(dtype=dtype)
    model.save_weights(tmp_path / "w.weights.h5")
    other = keras.models.clone_model(model)
    other.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(model.predict(x, verbose=0), other.predict(x, verbose=0))


def test_weights_h5_of_another_model_is_refused(tmp_path):
    model, _, _ = _model()
    model.save_weights(tmp_path / "w.weights.h5")
    other = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="w.weights.h5"):
        other.load_weights(tmp_path / "w.weights.h5")


def test_activation_without_a_keras_name_is_refused(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(
        2, activation=keras.layers.LeakyReLU(0.1))])
    with pytest.raises(ValueError, match="LeakyReLU"):
        model.save(tmp_path / "m.keras")


# ------------------------------------------------------------ hostile files

def _parts(tmp_path):
    model, _, _ = _model()
    model.save(tmp_path / "good.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def _write(tmp_path, parts, name="bad.keras"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in parts.items():
            archive.writestr(member, data)
    return path


def _with_layer(parts, edit):
    config = json.loads(parts["config.json"])
    edit(config["config"]["layers"])
    return dict(parts, **{"config.json": json.dumps(config)})


def _refused(path, *words):
    with pytest.raises(ValueError) as info:
        keras.models.load_model(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message, message
    return message


def test_unknown_and_lambda_layers_are_refused(tmp_path):
    parts = _parts(tmp_path)
    lam = {"module": "keras.layers", "class_name": "Lambda",
           "config": {"name": "l", "function": {"class_name": "__lambda__",
                                                "config": {"code": "4wEAAAAA"}}}}
    _refused(_write(tmp_path, _with_layer(parts, lambda layers: layers.insert(2, lam))),
             "Lambda", "not one densefit has")
    custom = {"module": "my_package", "class_name": "Dense", "config": {"units": 2}}
    _refused(_write(tmp_path, _with_layer(parts, lambda layers: layers.append(custom))),
             "my_package")


def test_custom_objects_inside_layers_are_refused(tmp_path):
    def edit(layers):
        layers[2]["config"]["kernel_initializer"] = {
            "module": "evil", "class_name": "GlorotUniform", "config": {},
            "registered_name": "evil>Init"}
    _refused(_write(tmp_path, _with_layer(_parts(tmp_path), edit)), "custom object")


def test_unsupported_keras_arguments_are_named(tmp_path):
    def edit(layers):
        layers[2]["config"]["kernel_constraint"] = {"class_name": "NonNeg", "config": {}}
    _refused(_write(tmp_path, _with_layer(_parts(tmp_path), edit)), "kernel_constraint")


def test_huge_declared_shapes_are_refused_before_allocating(tmp_path):
    def edit(layers):
        layers[0]["config"]["batch_shape"] = [None, 2**31 - 1]
        layers[2]["config"]["units"] = 2**31 - 1
    _refused(_write(tmp_path, _with_layer(_parts(tmp_path), edit)), "model.weights.h5")


def _h5_edit(parts, edit):
    buffer = io.BytesIO(parts["model.weights.h5"])
    with h5py.File(buffer, "a") as h5:
        edit(h5)
    return dict(parts, **{"model.weights.h5": buffer.getvalue()})


@pytest.mark.parametrize("edit, words", [
    (lambda h5: (h5["layers/dense/vars"].__delitem__("0"),
                 h5["layers/dense/vars"].create_dataset("0", data=np.zeros((5, 8), "S4"))),
     ["numbers"]),
    (lambda h5: (h5["layers/dense/vars"].__delitem__("0"),
                 h5["layers/dense/vars"].create_dataset("0", data=np.zeros((6, 8)))),
     ["(5, 8)"]),
    (lambda h5: h5["layers/dense/vars"].__delitem__("1"), ["no layers/dense/vars/1"]),
    (lambda h5: (h5["layers/dense/vars"].__delitem__("0"),
                 h5["layers/dense/vars"].create_dataset("0", data=np.zeros((5, 8)),
                                                        compression="gzip")),
     ["filters"]),
    (lambda h5: (h5["layers/dense/vars"].__delitem__("0"),
                 h5["layers/dense/vars"].__setitem__("0", h5py.SoftLink("/layers/dense/vars/1"))),
     ["link"]),
    (lambda h5: (h5["layers/dense/vars"].__delitem__("0"),
                 h5["layers/dense/vars"].create_dataset("0", shape=(5, 8), dtype="f4",
                                                        external=[("/etc/hostname", 0, 160)])),
     ["external"]),
])
def test_hostile_weights_are_refused(tmp_path, edit, words):
    _refused(_write(tmp_path, _h5_edit(_parts(tmp_path), edit)), *words)


def test_not_hdf5_and_nested_zip_are_refused(tmp_path):
    parts = _parts(tmp_path)
    _refused(_write(tmp_path, dict(parts, **{"model.weights.h5": b"\x89HDF\r\n\x1a\n" + bytes(99)})),
             "HDF5")
    nested = io.BytesIO()
    with zipfile.ZipFile(nested, "w") as inner:
        inner.writestr("model.weights.h5", parts["model.weights.h5"])
    _refused(_write(tmp_path, dict(parts, **{"model.weights.h5": nested.getvalue()})), "HDF5")


def test_deep_json_and_missing_members_are_refused(tmp_path):
    parts = _parts(tmp_path)
    _refused(_write(tmp_path, dict(parts, **{"config.json": "[" * 100000})))
    del parts["metadata.json"]
    _refused(_write(tmp_path, parts), "not a Keras .keras file")


def test_other_dtypes_and_classes_are_refused(tmp_path):
    parts = _parts(tmp_path)
    config = json.loads(parts["config.json"])
    config["config"]["layers"][2]["config"]["dtype"] = "mixed_float16"
    _refused(_write(tmp_path, dict(parts, **{"config.json": json.dumps(config)})), "float32")
    config["class_name"] = "Functional"
    _refused(_write(tmp_path, dict(parts, **{"config.json": json.dumps(config)})), "Sequential")


def test_missing_h5py_names_the_extra(monkeypatch, tmp_path):
    import builtins
    real = builtins.__import__

    def no_h5py(name, *args, **kwargs):
        if name == "h5py":
            raise ImportError(name)
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_h5py)
    model, _, _ = _model()
    with pytest.raises(ImportError, match=r"densefit\[keras-files\]"):
        model.save(tmp_path / "m.keras")
    assert keras_files.KERAS_VERSION


def test_metric_objects_round_trip(tmp_path):
    """compile(metrics=[SparseCategoricalAccuracy(), a loss object]) (the
    save-and-load tutorial's create_model): the .keras file loads, the metrics
    written as Keras writes them (keras.metrics / keras.losses objects)."""
    from densefit import losses, metrics
    x = np.random.default_rng(0).normal(size=(20, 4))
    y = np.arange(20) % 3
    model = keras.Sequential([keras.Input(shape=(4,)),
                                 keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy",
                  metrics=[metrics.SparseCategoricalAccuracy(),
                           metrics.SparseCategoricalCrossentropy(name="sce"),
                           losses.SparseCategoricalCrossentropy(name="as_loss")])
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        written = json.loads(z.read("config.json"))["compile_config"]["metrics"]
    assert [m["module"] for m in written] == ["keras.metrics", "keras.metrics", "keras.losses"]
    loaded = keras.models.load_model(path)
    assert loaded.metrics_names == model.metrics_names
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0))
