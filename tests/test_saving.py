"""Saving and loading: ``model.save`` / ``load_model`` give back the same
predictions, weights, compile settings and training state (a loaded model
continues training bit for bit as the saved one would); ``save_weights`` /
``load_weights``; damaged and hostile files fail with clear errors and never
unpickle; a failed save leaves the previous file intact."""
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densefit
from densefit import Sequential, saving
from densefit.layers import Dense, Input
from densefit.losses import BinaryCrossentropy, SparseCategoricalCrossentropy
from densefit.models import load_model
from densefit.optimizers import SGD, Adam, RMSprop
from densefit.utils import set_random_seed

RNG = np.random.default_rng(0)
X = RNG.normal(size=(70, 5)).astype(np.float32)
Y = RNG.integers(0, 3, 70)


def _model(dtype="float32", output="softmax"):
    return Sequential([Dense(8, activation="relu", dtype=dtype),
                       Dense(3, activation=output, dtype=dtype)])


def _trained(optimizer=None, dtype="float32", epochs=2, loss=None, metrics=("accuracy",)):
    set_random_seed(3)
    model = _model(dtype)
    model.compile(optimizer or Adam(0.01), loss or SparseCategoricalCrossentropy(),
                  metrics=list(metrics))
    if epochs:
        model.fit(X, Y, batch_size=16, epochs=epochs, verbose=0)
    else:
        model.build((None, 5))
    return model


def _assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for p, q in zip(wa, wb):
        assert p.dtype == q.dtype
        assert_array_equal(p, q)


OPTIMIZERS = [lambda: Adam(0.01, beta_1=0.8), lambda: SGD(0.05, momentum=0.9, nesterov=True),
              lambda: RMSprop(0.005, rho=0.8)]
OPTIMIZER_IDS = ["adam", "nesterov", "rmsprop"]


# ------------------------------------------------------------------ round trips

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make_optimizer", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_round_trip_predictions_weights_and_compile_settings(tmp_path, make_optimizer, dtype):
    a = _trained(make_optimizer(), dtype)
    path = tmp_path / "model.densefit"
    a.save(path)
    b = load_model(path)
    assert_array_equal(a.predict(X), b.predict(X))
    _assert_same_weights(a, b)
    assert b.dtype == a.dtype == np.dtype(dtype)
    assert b.name == a.name and [l.name for l in b.layers] == [l.name for l in a.layers]
    assert b.get_config() == a.get_config()
    assert type(b.optimizer) is type(a.optimizer)
    assert b.optimizer.get_config() == a.optimizer.get_config()
    assert b.optimizer.iterations == a.optimizer.iterations == 10
    assert b.optimizer.slot_names == a.optimizer.slot_names != ()
    for name in a.optimizer.slot_names:
        assert_array_equal(getattr(a.optimizer, name), getattr(b.optimizer, name))
    assert type(b.loss) is type(a.loss) and b.loss.from_logits == a.loss.from_logits
    assert b.metrics_names == a.metrics_names == ["loss", "accuracy"]
    assert b.get_compile_config() == a.get_compile_config()
    assert b.evaluate(X, Y, verbose=0) == a.evaluate(X, Y, verbose=0)


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS, ids=OPTIMIZER_IDS)
def test_loaded_model_continues_training_exactly(tmp_path, make_optimizer):
    a = _trained(make_optimizer(), epochs=2)
    a.save(tmp_path / "a.densefit")
    b = load_model(tmp_path / "a.densefit")
    history_a = a.fit(X, Y, batch_size=16, epochs=2, shuffle=True, validation_split=0.2,
                      verbose=0).history
    history_b = b.fit(X, Y, batch_size=16, epochs=2, shuffle=True, validation_split=0.2,
                      verbose=0).history
    assert history_a == history_b
    _assert_same_weights(a, b)
    assert a.optimizer.iterations == b.optimizer.iterations == 10 + 2 * 4


def test_continuing_exactly_needs_the_saved_shuffle_state_and_slots(tmp_path):
    # the previous test is not vacuous: a copy without the shuffle generator's
    # state, or without the optimizer's slots, trains differently
    a = _trained(Adam(0.01), epochs=2)
    a.save(tmp_path / "a.densefit")
    fresh_rng = load_model(tmp_path / "a.densefit")
    fresh_rng.seed_generator.bit_generator.state = np.random.default_rng(12345).bit_generator.state
    no_slots = load_model(tmp_path / "a.densefit")
    no_slots.optimizer.momentums = no_slots.optimizer.velocities = None
    for model in (a, fresh_rng, no_slots):
        model.fit(X, Y, batch_size=16, epochs=1, verbose=0)
    assert not np.array_equal(a.get_weights()[0], fresh_rng.get_weights()[0])
    assert not np.array_equal(a.get_weights()[0], no_slots.get_weights()[0])


def test_compiled_but_untrained_model(tmp_path):
    a = _trained(SGD(0.1, momentum=0.5), epochs=0)
    assert a.optimizer.momentums is None and a.optimizer.velocities is None
    a.save(tmp_path / "a.densefit")
    b = load_model(tmp_path / "a.densefit")
    assert b.optimizer.momentums is None and b.optimizer.velocities is None
    assert b.optimizer.iterations == 0
    a.fit(X, Y, epochs=2, verbose=0)
    b.fit(X, Y, epochs=2, verbose=0)
    _assert_same_weights(a, b)


def test_save_before_compile_loads_uncompiled(tmp_path):
    set_random_seed(1)
    a = Sequential([Input(shape=(5,)), Dense(4, activation="tanh"),
                    Dense(2, activation="sigmoid")])
    a.save(tmp_path / "a.densefit")
    b = load_model(tmp_path / "a.densefit")
    assert b.optimizer is None and b.loss is None
    assert_array_equal(a.predict(X), b.predict(X))
    with pytest.raises(RuntimeError, match="compile"):
        b.evaluate(X, np.zeros((70, 2)), verbose=0)
    for model in (a, b):
        model.compile("adam", "binary_crossentropy")
        model.fit(X, np.zeros((70, 2)), epochs=2, verbose=0)
    _assert_same_weights(a, b)


def test_other_compile_settings_survive(tmp_path):
    # three outputs, binary targets: a multi-label model with logits
    set_random_seed(0)
    a = Sequential([Dense(4, activation="relu"), Dense(3)])
    a.compile(RMSprop(), BinaryCrossentropy(from_logits=True), metrics=["binary_accuracy"])
    targets = RNG.integers(0, 2, (70, 3))
    a.fit(X, targets, epochs=1, verbose=0)
    a.save(tmp_path / "a.densefit")
    b = load_model(tmp_path / "a.densefit")
    assert isinstance(b.loss, BinaryCrossentropy) and b.loss.from_logits
    assert b.metrics_names == ["loss", "binary_accuracy"]
    assert b.get_compile_config() == a.get_compile_config()
    assert b.evaluate(X, targets, verbose=0) == a.evaluate(X, targets, verbose=0)


def test_top_level_load_model_and_string_paths(tmp_path):
    a = _trained()
    a.save(str(tmp_path / "a.densefit"))
    b = densefit.load_model(str(tmp_path / "a.densefit"))
    assert_array_equal(a.predict(X), b.predict(X))


def test_file_layout_is_a_zip_of_json_and_npz(tmp_path):
    a = _trained()
    a.save(tmp_path / "a.densefit")
    with zipfile.ZipFile(tmp_path / "a.densefit") as archive:
        assert sorted(archive.namelist()) == ["config.json", "weights.npz"]
        config = json.loads(archive.read("config.json"))
        with np.load(io.BytesIO(archive.read("weights.npz")), allow_pickle=False) as npz:
            assert sorted(npz.files) == ["optimizer_momentums", "optimizer_velocities", "params"]
    assert (config["format"], config["version"]) == (saving.FORMAT, saving.VERSION)
    assert config["optimizer_iterations"] == 10


def test_saving_overwrites(tmp_path):
    path = tmp_path / "m.densefit"
    _trained(epochs=1).save(path)
    a = _trained(epochs=3)
    a.save(path)
    assert_array_equal(load_model(path).predict(X), a.predict(X))
    assert os.listdir(tmp_path) == ["m.densefit"]


# ------------------------------------------------------------------ weights only

def test_save_weights_load_weights_round_trip(tmp_path):
    a = _trained()
    a.save_weights(tmp_path / "w.npz")
    b = _model()
    b.build((None, 5))
    assert not np.array_equal(a.predict(X), b.predict(X))
    b.load_weights(tmp_path / "w.npz")
    _assert_same_weights(a, b)
    assert_array_equal(a.predict(X), b.predict(X))
    with np.load(tmp_path / "w.npz", allow_pickle=False) as npz:  # plain get_weights order
        for i, w in enumerate(a.get_weights()):
            assert_array_equal(npz[f"arr_{i}"], w)


def test_load_weights_errors(tmp_path):
    a = _trained()
    a.save_weights(tmp_path / "w.npz")
    other = Sequential([Dense(8, activation="relu"), Dense(4)])
    other.build((None, 5))
    with pytest.raises(ValueError, match="shape"):
        other.load_weights(tmp_path / "w.npz")
    deeper = Sequential([Dense(8), Dense(8), Dense(3)])
    deeper.build((None, 5))
    with pytest.raises(ValueError, match="expects a list of 6 arrays"):
        deeper.load_weights(tmp_path / "w.npz")
    with pytest.raises(FileNotFoundError):
        a.load_weights(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("not weights")
    with pytest.raises(ValueError, match="cannot read weights"):
        a.load_weights(tmp_path / "text.npz")
    np.savez(tmp_path / "objects.npz", arr_0=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="cannot read weights"):
        a.load_weights(tmp_path / "objects.npz")
    before = a.get_weights()
    np.savez(tmp_path / "nan.npz", *[np.full_like(w, np.nan) for w in before])
    with pytest.raises(ValueError, match="finite"):
        a.load_weights(tmp_path / "nan.npz")
    _assert_same_weights_list(a.get_weights(), before)  # nothing written on failure


def _assert_same_weights_list(got, expected):
    for p, q in zip(got, expected):
        assert_array_equal(p, q)


def test_unbuilt_model_cannot_be_saved(tmp_path):
    model = Sequential([Dense(3)])
    with pytest.raises(ValueError, match="not built"):
        model.save(tmp_path / "m.densefit")
    with pytest.raises(ValueError, match="not built"):
        model.save_weights(tmp_path / "w.npz")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ damaged and hostile files

@pytest.fixture
def saved(tmp_path):
    """A saved trained model: (path, config dict, weights.npz bytes)."""
    path = tmp_path / "good.densefit"
    _trained().save(path)
    with zipfile.ZipFile(path) as archive:
        return path, json.loads(archive.read("config.json")), archive.read("weights.npz")


def _write_zip(path, config=None, weights=None, arrays=None):
    if arrays is not None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        weights = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        if config is not None:
            archive.writestr("config.json", config if isinstance(config, str)
                             else json.dumps(config))
        if weights is not None:
            archive.writestr("weights.npz", weights)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing.densefit")


def test_a_text_file(tmp_path):
    path = tmp_path / "notes.densefit"
    path.write_text("this is not a model\n")
    with pytest.raises(ValueError, match="notes.densefit: cannot read the model file: File is not "
                                         "a zip file"):
        load_model(path)


def test_a_directory(tmp_path):
    with pytest.raises(ValueError, match="cannot read the model file"):
        load_model(tmp_path)


def test_zip_without_config(tmp_path, saved):
    path = _write_zip(tmp_path / "bare.densefit", weights=saved[2])
    with pytest.raises(ValueError, match=r"not a densefit model file \(no config.json\)"):
        load_model(path)


def test_zip_without_weights(tmp_path, saved):
    path = _write_zip(tmp_path / "bare.densefit", config=saved[1])
    with pytest.raises(ValueError, match=r"no weights.npz"):
        load_model(path)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_file(tmp_path, saved, keep):
    data = saved[0].read_bytes()
    path = tmp_path / "cut.densefit"
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(ValueError, match="cut.densefit: cannot read the model file"):
        load_model(path)


def test_config_that_is_not_json(tmp_path, saved):
    path = _write_zip(tmp_path / "m.densefit", config="{not json", weights=saved[2])
    with pytest.raises(ValueError, match="cannot read the model file"):
        load_model(path)


@pytest.mark.parametrize("change, match", [
    ({"format": "keras.model"}, "not a densefit model file"),
    ({"format": None}, "not a densefit model file"),
    ({"version": 3}, "format version 3 is not supported"),
], ids=["other-format", "no-format", "version"])
def test_config_of_another_format(tmp_path, saved, change, match):
    config = dict(saved[1], **change)
    path = _write_zip(tmp_path / "m.densefit", config=config, weights=saved[2])
    with pytest.raises(ValueError, match=match):
        load_model(path)


def test_config_that_is_not_a_dict(tmp_path, saved):
    path = _write_zip(tmp_path / "m.densefit", config=[1, 2, 3], weights=saved[2])
    with pytest.raises(ValueError, match="not a densefit model file"):
        load_model(path)


def _edit(config, *keys, value=None, delete=False):
    config = json.loads(json.dumps(config))
    node = config
    for key in keys[:-1]:
        node = node[key]
    if delete:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return config


@pytest.mark.parametrize("keys, value, delete, match", [
    (("model", "config", "layers", 0, "config", "units"), None, True, "config is invalid"),
    (("model", "config", "layers", 0, "config", "activation", "name"), "celu", False,
     "activation must be one of 'linear', .*got 'celu'"),
    (("model", "config", "layers", 0, "config", "units"), -3, False,
     "units must be a positive integer"),
    (("model", "config", "dtype"), "int8", False,
     "dtype must be one of 'float32', 'float64', got 'int8'"),
    (("model",), None, True, "config is invalid"),
    (("model", "class_name"), "Functional", False, "unknown model class"),
    (("seed_state",), {"bit_generator": "MT19937"}, False, "PCG64"),
    (("compile", "optimizer", "class_name"), "Lion", False, "unknown optimizer"),
    (("compile", "optimizer", "config", "learning_rate"), -1, False, "learning_rate"),
    (("compile", "loss", "class_name"), "CosineSimilarity", False, "unknown loss"),
], ids=["no-units", "activation", "units", "dtype", "no-model", "model-class", "rng", "optimizer",
        "learning-rate", "loss"])
def test_invalid_configs_name_the_file(tmp_path, saved, keys, value, delete, match):
    path = _write_zip(tmp_path / "bad.densefit", weights=saved[2],
                      config=_edit(saved[1], *keys, value=value, delete=delete))
    with pytest.raises(ValueError, match=match) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: ")


def test_weights_of_the_wrong_shape_or_dtype(tmp_path, saved):
    n = _trained().count_params()
    for name, arrays, match in [
            ("short", {"params": np.zeros(n - 1, np.float32)}, rf"params must be \({n},\) float32"),
            ("dtype", {"params": np.zeros(n, np.float64)}, "float32, got.*float64"),
            ("none", {"kernel": np.zeros(n, np.float32)}, "got None"),
            ("slots", {"params": np.zeros(n, np.float32),
                       "optimizer_momentums": np.zeros(3, np.float32),
                       "optimizer_velocities": np.zeros(n, np.float32)}, "momentums must be")]:
        path = _write_zip(tmp_path / f"{name}.densefit", config=saved[1], arrays=arrays)
        with pytest.raises(ValueError, match=match):
            load_model(path)


def test_object_arrays_are_never_unpickled(tmp_path, saved, monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("load_model tried to unpickle")

    n = _trained().count_params()
    path = _write_zip(tmp_path / "evil.densefit", config=saved[1],
                      arrays={"params": np.array([{"payload": n}], dtype=object)})
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    with pytest.raises(ValueError, match="evil.densefit: cannot read the model file: Object "):
        load_model(path)


def test_a_weights_member_that_is_a_pickle(tmp_path, saved):
    import pickle
    path = _write_zip(tmp_path / "pickle.densefit", config=saved[1],
                      weights=pickle.dumps({"params": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="cannot read the model file"):
        load_model(path)


# ------------------------------------------------------------------ atomic saving

def _leftovers(directory, keep):
    return sorted(set(os.listdir(directory)) - set(keep))


@pytest.mark.parametrize("where", ["npz", "fsync", "replace"])
def test_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch, where):
    path = tmp_path / "m.densefit"
    first = _trained(epochs=1)
    first.save(path)
    before = path.read_bytes()
    second = _trained(epochs=3)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    target = {"npz": (saving, "_npz_bytes"), "fsync": (os, "fsync"),
              "replace": (os, "replace")}[where]
    monkeypatch.setattr(*target, fail)
    with pytest.raises(OSError, match="disk full"):
        second.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _leftovers(tmp_path, ["m.densefit"]) == []  # no temporary files left behind
    assert_array_equal(load_model(path).predict(X), first.predict(X))


def test_a_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    def fail(arrays):
        raise KeyboardInterrupt

    monkeypatch.setattr(saving, "_npz_bytes", fail)
    with pytest.raises(KeyboardInterrupt):
        _trained().save(tmp_path / "m.densefit")
    with pytest.raises(KeyboardInterrupt):
        _trained().save_weights(tmp_path / "w.npz")
    assert os.listdir(tmp_path) == []


def test_save_into_a_missing_directory_fails_cleanly(tmp_path):
    with pytest.raises(FileNotFoundError):
        _trained().save(tmp_path / "no" / "such" / "dir" / "m.densefit")
    assert os.listdir(tmp_path) == []


def test_pathlike_everywhere(tmp_path):
    a = _trained()
    a.save(Path(tmp_path) / "m.densefit")
    a.save_weights(Path(tmp_path) / "w.npz")
    b = load_model(Path(tmp_path) / "m.densefit")
    b.load_weights(Path(tmp_path) / "w.npz")
    _assert_same_weights(a, b)


# ------------------------------------------------------------------ files from densefit 1.0

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_version_1_files_load_and_continue_as_densefit_1_0_did(name):
    """Files written by densefit 1.0 (format version 1, made by its own save) load
    with the same predictions, and one more epoch gives the weights 1.0 gave:
    their optimizer slots were mapped to momentums/velocities correctly.  (Bit
    for bit in a release build; a sanitizer build, which compiles the hot loops
    for one instruction set only, rounds differently in the last place.  Slots
    left at zero would be off by about 1e-2.)"""
    expected = np.load(DATA / "v1-expected.npz")
    x, y = expected["x"], expected["y"]
    model = load_model(DATA / f"v1-{name}.densefit")
    assert_array_equal(model.predict(x), expected[f"{name}_predict"])
    assert model.optimizer.iterations == 10
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for i, weight in enumerate(model.get_weights()):
        assert_allclose(weight, expected[f"{name}_after_{i}"], rtol=1e-6, atol=1e-7)
