"""Files from strangers are accepted or refused in time and memory proportional
to the model they describe (issue #9, family "files").

Every size a file declares is checked against what its config implies before
anything is allocated or built: the layer count and config.json's size before
the config is turned into layers, weights.npz's declared size against the
parameter count the config gives, each array member against one array's
bytes, and nesting (the arrays inside weights.npz are stored, as ``np.savez``
writes them, so a deflated member nested in the deflated weights.npz cannot
multiply deflate's 1032:1 twice).  A MemoryError names the file.  The hostile
files are written here with zipfile; tests/reliability/test_files.py covers
headers that lie about sizes, and this file the sizes that are honest but far
beyond the model.
"""
import io
import json
import os
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from densefit import Sequential
from densefit.layers import Dense, Input
from densefit.models import load_model
from densefit.utils import set_random_seed

SANITIZE = bool(os.environ.get("DENSEFIT_SANITIZE_RUN"))
BOMB_BYTES = (32 if SANITIZE else 128) * 2**20  # what a bomb would inflate to
PEAK = 5 * 2**20  # what refusing any of these files may allocate
X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)


def _model():
    set_random_seed(3)
    model = Sequential([Input(shape=(4,)), Dense(3, activation="relu"), Dense(2)])
    model.compile("adam", "mse")
    model.fit(X, np.zeros((6, 2)), epochs=1, verbose=0)
    return model


MODEL = _model()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The members of a saved model file: {name: bytes}."""
    path = tmp_path_factory.mktemp("saved") / "m.densefit"
    MODEL.save(path)
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def zip_bytes(contents, compression=zipfile.ZIP_DEFLATED):
    """A zip of {name: bytes or ZipBomb}."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in contents.items():
            if isinstance(data, ZipBomb):
                data.write_into(archive, name)
            else:
                archive.writestr(name, data)
    return buffer.getvalue()


class ZipBomb:
    """A deflated member of ``prefix`` then ``size`` zero bytes, written without ever
    holding those bytes (a megabyte at a time)."""

    def __init__(self, prefix, size):
        self.prefix, self.size = prefix, size

    def write_into(self, archive, name):
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            member.write(self.prefix)
            chunk, left = bytes(2**20), self.size
            while left:
                member.write(chunk[:min(left, len(chunk))])
                left -= min(left, len(chunk))


def npy_header(shape, descr="<f4"):
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * (64 - (10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def bounded(path, load, expected):
    """``load(path)`` refuses with a ValueError naming the file and ``expected``,
    within PEAK bytes and a few seconds; returns the message."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ValueError) as info:
            load(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert str(path) in message and expected in message, message
    assert peak < PEAK, f"allocated {peak} bytes to refuse {path.name}: {message}"
    assert time.perf_counter() - started < 5
    return message


def _fresh():
    return Sequential([Input(shape=(4,)), Dense(3, activation="relu"), Dense(2)])


# ------------------------------------------------------------------ nesting

def test_a_deflated_array_nested_in_the_deflated_weights_member(tmp_path):
    """Each level under deflate's ratio, together 1032**2: the file is a few KB and
    would inflate to BOMB_BYTES.  The arrays inside weights.npz must be stored.
    (The config's model is wide enough for weights.npz itself to pass its bound.)"""
    set_random_seed(0)
    wide = Sequential([Input(shape=(8000,)), Dense(3), Dense(2)])
    wide.save(tmp_path / "wide.densefit")
    with zipfile.ZipFile(tmp_path / "wide.densefit") as archive:
        saved = {info.filename: archive.read(info) for info in archive.infolist()}
    count = BOMB_BYTES // 4
    inner = zip_bytes({"params.npy": ZipBomb(npy_header((count,)), count * 4)})
    path = tmp_path / "nested.densefit"
    path.write_bytes(zip_bytes(dict(saved, **{"weights.npz": inner})))
    assert path.stat().st_size < BOMB_BYTES / 1000  # the bomb itself is small
    message = bounded(path, load_model, "params.npy")
    assert "stored" in message  # the cause, and what densefit writes


def test_a_stored_array_far_beyond_the_model(saved, tmp_path):
    """Honest sizes (stored inner member, deflated outer one), but the config's model
    has 23 parameters: weights.npz is refused before it is inflated."""
    count = BOMB_BYTES // 4
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_STORED) as archive:
        ZipBomb(npy_header((count,)), count * 4).write_into(archive, "params.npy")
    # store the inner zip's bytes as a deflated member without holding them inflated twice
    path = tmp_path / "big.densefit"
    path.write_bytes(zip_bytes(dict(saved, **{"weights.npz": inner.getvalue()})))
    message = bounded(path, load_model, "weights.npz")
    assert "23 parameters" in message, message


def test_the_saved_files_still_load(saved, tmp_path):
    path = tmp_path / "same.densefit"
    path.write_bytes(zip_bytes(saved))
    assert_array_equal(load_model(path).predict(X), MODEL.predict(X))


# ------------------------------------------------------------------ the config

def _config_with_layers(saved, n_layers):
    config = json.loads(saved["config.json"])
    layer = config["model"]["config"]["layers"][-1]
    config["model"]["config"]["layers"] = [
        dict(layer, config=dict(layer["config"], name=f"d{i}", units=1))
        for i in range(n_layers)]
    return json.dumps(config).encode()


def test_forty_thousand_layers_are_refused_before_any_is_built(saved, tmp_path):
    """~24 KB on disk: main took 22 s (quadratic in the count) before refusing."""
    path = tmp_path / "deep.densefit"
    path.write_bytes(zip_bytes(dict(saved, **{"config.json": _config_with_layers(saved,
                                                                                40000)})))
    assert path.stat().st_size < 200_000
    started = time.perf_counter()
    with pytest.raises(ValueError, match="config.json declares") as info:
        load_model(path)
    assert time.perf_counter() - started < 2
    assert str(path) in str(info.value) and "at most 2048 layers" in str(info.value)


def test_more_layers_than_a_file_may_hold_in_a_small_config(saved, tmp_path):
    """Short layer configs, so config.json is within its bound: the count is checked
    before any layer is built."""
    config = json.loads(_config_with_layers(saved, 3000))
    for layer in config["model"]["config"]["layers"]:
        layer["config"] = {"units": 1}
    path = tmp_path / "deep.densefit"
    path.write_bytes(zip_bytes(dict(saved, **{"config.json": json.dumps(config).encode()})))
    started = time.perf_counter()
    with pytest.raises(ValueError, match="3000 layers; densefit files hold at most") as info:
        load_model(path)
    assert time.perf_counter() - started < 2
    assert str(path) in str(info.value)


def test_save_refuses_a_model_its_load_would_refuse(tmp_path):
    model = Sequential([Dense(1) for _ in range(2049)])
    model.build((None, 1))  # once: adding to a built model rebuilds it on each add
    with pytest.raises(ValueError, match="2049 layers; densefit files hold at most 2048"):
        model.save(tmp_path / "deep.densefit")
    assert os.listdir(tmp_path) == []


def test_a_deep_but_allowed_model_round_trips(tmp_path):
    set_random_seed(0)
    model = Sequential([Input(shape=(2,))] + [Dense(2) for _ in range(200)])
    model.save(tmp_path / "deep.densefit")
    loaded = load_model(tmp_path / "deep.densefit")
    assert_array_equal(loaded.predict(X[:, :2]), model.predict(X[:, :2]))


def test_a_config_member_of_many_megabytes_is_refused_before_inflating(saved, tmp_path):
    path = tmp_path / "bigconfig.densefit"
    padded = ZipBomb(saved["config.json"][:-1], BOMB_BYTES)  # zeros: refused unread anyway
    path.write_bytes(zip_bytes(dict(saved, **{"config.json": padded})))
    bounded(path, load_model, "config.json")


# ------------------------------------------------------------------ weights files

def test_a_weights_member_far_beyond_the_model_is_refused_before_reading(tmp_path):
    count = BOMB_BYTES // 4
    path = tmp_path / "w.npz"
    path.write_bytes(zip_bytes({"arr_0.npy": ZipBomb(npy_header((count,)), count * 4)}))
    message = bounded(path, _fresh().load_weights, "arr_0.npy")
    assert "23 parameters" in message, message


def test_a_weights_file_with_more_arrays_than_the_model_has(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, *[np.zeros(1, np.float32)] * 5000)
    message = bounded(path, _fresh().load_weights, "5000 arrays")
    assert "4 arrays" in message  # kernel and bias of two Dense layers


def test_compressed_weights_files_still_load(tmp_path):
    path = tmp_path / "w.npz"
    np.savez_compressed(path, *MODEL.get_weights())
    model = _fresh()
    model.load_weights(path)
    assert_array_equal(model.predict(X), MODEL.predict(X))


def test_load_weights_on_an_unbuilt_model_reads_nothing(tmp_path):
    path = tmp_path / "w.npz"
    MODEL.save_weights(path)
    model = Sequential([Dense(3), Dense(2)])
    with pytest.raises(ValueError, match="not built") as info:
        model.load_weights(path)
    assert str(path) in str(info.value)


# ------------------------------------------------------------------ out of memory

@pytest.mark.parametrize("kind", ["model", "weights"])
def test_a_memory_error_while_reading_names_the_file(tmp_path, monkeypatch, kind):
    path = tmp_path / ("m.densefit" if kind == "model" else "w.npz")
    (MODEL.save if kind == "model" else MODEL.save_weights)(path)

    def out_of_memory(self, *args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(zipfile.ZipFile, "read", out_of_memory)
    with pytest.raises(MemoryError) as info:
        load_model(path) if kind == "model" else _fresh().load_weights(path)
    message = str(info.value)
    assert str(path) in message and "memory" in message, message


def test_a_memory_error_while_building_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "m.densefit"
    MODEL.save(path)
    from densefit import network

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(network, "build", out_of_memory)
    with pytest.raises(MemoryError) as info:
        load_model(path)
    assert str(path) in str(info.value) and "23 parameters" in str(info.value)


def test_the_deflate_stream_of_a_bomb_is_small():
    """The premise of the tests above: deflate reaches ~1000:1 on zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    size = len(compressor.compress(bytes(2**24))) + len(compressor.flush())
    assert size < 2**24 / 1000
