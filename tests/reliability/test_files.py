"""Damaged and hostile files for ``load_model`` and ``load_weights``.

Every failure is a ValueError whose message names the file (FileNotFoundError
for a missing path, as tests/test_saving.py checks), never another exception
type, never an allocation sized by a header the file's bytes cannot back, never
an unpickle and never a file written.  Builds on tests/test_saving.py, which
covers a text file, a directory, three truncations, missing members, bad
configs and object arrays for load_model; here: every prefix, bit flips (raw,
and inside members with valid checksums), config values fuzzed, enormous
declared sizes, path-traversal member names, unsupported and encrypted
members, and the weights-only file.
"""
import io
import json
import os
import re
import struct
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from densefit import Sequential
from densefit.layers import Dense, Input
from densefit.models import load_model
from densefit.optimizers import Adam
from densefit.utils import set_random_seed

SANITIZE = bool(os.environ.get("DENSEFIT_SANITIZE_RUN"))
EXAMPLES = 30 if SANITIZE else 100
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)


def _small_model():
    set_random_seed(2)
    model = Sequential([Input(shape=(4,)), Dense(3, activation="relu"), Dense(2)])
    model.compile(Adam(0.01), "mse")
    model.fit(X, np.zeros((6, 2)), epochs=1, verbose=0)
    return model


MODEL = _small_model()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(model file bytes, weights file bytes)"""
    directory = tmp_path_factory.mktemp("saved")
    MODEL.save(directory / "m.densefit")
    MODEL.save_weights(directory / "w.npz")
    return (directory / "m.densefit").read_bytes(), (directory / "w.npz").read_bytes()


def _fresh():
    return Sequential([Input(shape=(4,)), Dense(3, activation="relu"), Dense(2)])


def refused(path, load):
    """``load(path)`` raises ValueError naming the file; returns the message."""
    with pytest.raises(ValueError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message, message
    return message


def load_model_or_refuse(path):
    """A model, or None after a ValueError naming the file; nothing else may escape."""
    try:
        model = load_model(path)
    except ValueError as e:
        assert str(path) in str(e), str(e)
        return None
    assert isinstance(model, Sequential)
    return model


def load_weights_or_refuse(path):
    model = _fresh()
    before = model.get_weights()
    try:
        model.load_weights(path)
    except ValueError as e:
        assert str(path) in str(e), str(e)
        for a, b in zip(model.get_weights(), before):  # nothing written on failure
            assert_array_equal(a, b)
        return None
    return model


def members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rezip(contents, compression=zipfile.ZIP_DEFLATED):
    """A zip of {name: bytes} with valid checksums (so the content itself is tested)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_header(shape, descr="<f4", fortran=False, version=(1, 0)):
    """A hand-made .npy header declaring ``shape`` and ``descr``."""
    header = repr({"descr": descr, "fortran_order": fortran, "shape": shape}).encode("latin1")
    prefix = 10 if version == (1, 0) else 12
    header += b" " * (64 - (prefix + len(header) + 1) % 64) + b"\n"
    if version == (1, 0):
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header


def with_weights(saved_bytes, npz_contents):
    """The saved model with weights.npz replaced by an npz of {member: bytes}."""
    outer = members(saved_bytes)
    outer["weights.npz"] = rezip(npz_contents, zipfile.ZIP_STORED)
    return rezip(outer)


# ------------------------------------------------------------------ truncation and bit flips

def test_every_prefix_of_a_model_file_is_refused(saved, tmp_path):
    data = saved[0]
    path = tmp_path / "cut.densefit"
    step = 3 if SANITIZE else 1
    for length in range(0, len(data), step):
        path.write_bytes(data[:length])
        refused(path, load_model)
    path.write_bytes(data)
    assert_array_equal(load_model(path).predict(X), MODEL.predict(X))


def test_every_prefix_of_a_weights_file_is_refused(saved, tmp_path):
    data = saved[1]
    path = tmp_path / "cut.npz"
    step = 3 if SANITIZE else 1
    for length in range(0, len(data), step):
        path.write_bytes(data[:length])
        assert load_weights_or_refuse(path) is None
    path.write_bytes(data)
    assert_array_equal(load_weights_or_refuse(path).predict(X), MODEL.predict(X))


@SETTINGS
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                      min_size=1, max_size=8), weights_file=st.booleans())
def test_bit_flipped_files(saved, tmp_path, flips, weights_file):
    """Raw flips: the zip's checksums and headers catch them, or the flip was in a
    field that does not matter and the file loads as it was saved."""
    data = bytearray(saved[1] if weights_file else saved[0])
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    path = tmp_path / ("flipped.npz" if weights_file else "flipped.densefit")
    path.write_bytes(bytes(data))
    model = load_weights_or_refuse(path) if weights_file else load_model_or_refuse(path)
    if model is not None:
        assert_array_equal(model.predict(X), MODEL.predict(X))


@SETTINGS
@given(data=st.data())
def test_bit_flips_inside_members_with_valid_checksums(saved, tmp_path, data):
    """Flips in config.json or in a .npy (its header included) of a zip rebuilt with
    valid checksums: the parsers themselves must refuse or load something sane."""
    outer = members(saved[0])
    inner = members(outer["weights.npz"])
    target = data.draw(st.sampled_from(["config.json"] + sorted(inner)))
    raw = bytearray(outer[target] if target == "config.json" else inner[target])
    header_end = 128 if target != "config.json" else len(raw)  # mostly the .npy header
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, min(header_end, len(raw)) - 1))] ^= data.draw(
            st.integers(1, 255))
    if target == "config.json":
        outer["config.json"] = bytes(raw)
    else:
        inner[target] = bytes(raw)
        outer["weights.npz"] = rezip(inner, zipfile.ZIP_STORED)  # as np.savez writes it
    path = tmp_path / "edited.densefit"
    path.write_bytes(rezip(outer))
    model = load_model_or_refuse(path)
    if model is not None:
        assert model.predict(X).shape[0] == len(X)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


@SETTINGS
@given(data=st.data())
def test_fuzzed_config_values(saved, tmp_path, data):
    """Any JSON value anywhere in config.json: a ValueError naming the file, or a
    model (never a KeyError, AttributeError, OverflowError or MemoryError)."""
    outer = members(saved[0])
    config = json.loads(outer["config.json"])
    paths = list(_paths(config))
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(paths))
        value = data.draw(JSON)
        if not where:
            config = value
            break
        node = config
        try:
            for key in where[:-1]:
                node = node[key]
            node[where[-1]] = value
        except (KeyError, IndexError, TypeError):  # an earlier edit changed the structure
            pass
    outer["config.json"] = json.dumps(config).encode()
    path = tmp_path / "fuzzed.densefit"
    path.write_bytes(rezip(outer))
    model = load_model_or_refuse(path)
    if model is not None:
        assert model.predict(X).shape == (len(X), model.output_shape[1])


# ------------------------------------------------------------------ not a model at all

def _random_zip():
    return rezip({"readme.txt": b"hello", "data/x.bin": os.urandom(100)})


WRONG = {
    "zero-length": lambda saved: b"",
    "text": lambda saved: b"model = 'densefit'\n",
    "random-bytes": lambda saved: np.random.default_rng(1).bytes(700),
    "random-zip": lambda saved: _random_zip(),
    "weights-npz": lambda saved: saved[1],
    "model-file": lambda saved: saved[0],
    "npy": lambda saved: npy_bytes(np.zeros(3, np.float32)),
    "pickle": lambda saved: __import__("pickle").dumps([np.zeros((4, 3))]),
    "gzip": lambda saved: __import__("gzip").compress(saved[0]),
}


@pytest.mark.parametrize("kind", list(WRONG))
def test_wrong_formats(saved, tmp_path, kind):
    path = tmp_path / f"{kind}.file"
    path.write_bytes(WRONG[kind](saved))
    if kind != "model-file":
        message = refused(path, load_model)
        assert "cannot read the model file" in message or "not a densefit model" in message
    if kind != "weights-npz":
        assert load_weights_or_refuse(path) is None
    else:
        assert load_weights_or_refuse(path) is not None


def test_a_directory_for_load_weights(tmp_path):
    refused(tmp_path, _fresh().load_weights)


# ------------------------------------------------------------------ sizes the bytes cannot back

@pytest.mark.parametrize("shape", [(2**40,), (2**31, 2**31), (10**30,), (2**62, 4)],
                         ids=["4-TiB", "product-overflows-int64", "beyond-int64", "2**64-elems"])
@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_an_enormous_npy_header_is_refused_without_allocating(saved, tmp_path, shape, version):
    member = npy_header(shape, version=version) + b"\0" * 16
    cases = [(tmp_path / "huge.densefit", with_weights(saved[0], {"params.npy": member}),
              load_model),
             (tmp_path / "huge.npz", rezip({"arr_0.npy": member, "arr_1.npy": member}),
              _fresh().load_weights)]
    for path, data, load in cases:
        path.write_bytes(data)
        tracemalloc.start()
        started = time.perf_counter()
        try:
            message = refused(path, load)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert "declares shape" in message and "holds 16 bytes" in message
        assert peak < 5 * 2**20, f"allocated {peak} bytes for a header"
        assert time.perf_counter() - started < 2


def _patch_declared_size(data, name, file_size):
    """The zip with ``name``'s uncompressed size (local and central headers) set to
    ``file_size``: a header that lies about what its data expands to."""
    data = bytearray(data)
    encoded = name.encode()
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(encoded)] == encoded:
                data[start + offset:start + offset + 4] = struct.pack("<I", file_size)
            start += 4
    return bytes(data)


@pytest.mark.parametrize("member", ["config.json", "weights.npz"])
def test_a_member_declaring_more_than_its_bytes_can_hold(saved, tmp_path, member):
    path = tmp_path / "bomb.densefit"
    path.write_bytes(_patch_declared_size(saved[0], member, 0xFFFFFFF0))
    tracemalloc.start()
    try:
        message = refused(path, load_model)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"{member} declares 4294967280 bytes" in message
    assert peak < 5 * 2**20


def test_an_npy_whose_data_is_short_or_long(saved, tmp_path):
    good = npy_bytes(np.zeros(5, np.float32))
    for label, member in [("short", good[:-4]), ("long", good + b"\0" * 4)]:
        path = tmp_path / f"{label}.npz"
        path.write_bytes(rezip({"arr_0.npy": member}))
        assert "declares shape (5,)" in refused(path, _fresh().load_weights)


# ------------------------------------------------------------------ hostile members

def test_path_traversal_member_names_are_never_written(saved, tmp_path):
    """Members are read by name, never extracted: ``../evil`` and absolute names are
    ignored by load_model (whose members are named) and refused by load_weights
    (whose members must be arr_0, arr_1, ...); no file appears anywhere."""
    work = tmp_path / "work"
    work.mkdir()
    absolute = tmp_path / "absolute-target.txt"
    hostile = {"../evil.txt": b"owned", "../../evil2.txt": b"owned",
               str(absolute): b"owned", "sub/../../evil3.txt": b"owned"}
    outer = members(saved[0])
    inner = members(outer["weights.npz"])
    inner["../evil.npy"] = npy_bytes(np.ones(3, np.float32))
    model_file = work / "m.densefit"
    stored = rezip(inner, zipfile.ZIP_STORED)  # as np.savez writes it
    model_file.write_bytes(rezip(dict(outer, **hostile, **{"weights.npz": stored})))
    weights = members(saved[1])
    weights_file = work / "w.npz"
    weights_file.write_bytes(rezip(dict(weights, **{"../arr_9.npy": weights["arr_0.npy"]},
                                        **{str(absolute) + ".npy": weights["arr_0.npy"]})))
    before = sorted(p for p in tmp_path.rglob("*"))
    cwd = os.getcwd()
    os.chdir(work)
    try:
        model = load_model(model_file)
        assert_array_equal(model.predict(X), MODEL.predict(X))
        assert load_weights_or_refuse(weights_file) is None
    finally:
        os.chdir(cwd)
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not absolute.exists() and not (tmp_path / "evil.txt").exists()


def test_object_arrays_are_never_unpickled_by_load_weights(saved, tmp_path, monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("load_weights tried to unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"payload": 1}], dtype=object), allow_pickle=True)
    path = tmp_path / "objects.npz"
    path.write_bytes(rezip({"arr_0.npy": buffer.getvalue()}))
    assert "Object arrays cannot be loaded" in refused(path, _fresh().load_weights)
    # a header that only claims dtype object, followed by anything
    path.write_bytes(rezip({"arr_0.npy": npy_header((1,), descr="|O") + b"junk"}))
    assert "Object arrays cannot be loaded" in refused(path, _fresh().load_weights)
    path = tmp_path / "objects.densefit"
    path.write_bytes(with_weights(saved[0], {"params.npy": npy_header((2,), descr=[("a", "|O")])
                                             + b"\0" * 16}))
    assert "Object arrays cannot be loaded" in refused(path, load_model)


def _set_header_field(data, name, offset_local, offset_central, value, fmt="<H"):
    data = bytearray(data)
    encoded = name.encode()
    for signature, offset in ((b"PK\x03\x04", offset_local), (b"PK\x01\x02", offset_central)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(encoded)] == encoded:
                data[start + offset:start + offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
            start += 4
    return bytes(data)


def _lzma(saved):
    outer = members(saved[0])
    return rezip(outer, zipfile.ZIP_LZMA)


ZIP_TRICKS = {
    # compression methods densefit never writes: refused before zipfile tries them
    "lzma": (_lzma, "compression method 14"),
    "method-99": (lambda saved: _set_header_field(saved[0], "config.json", 8, 10, 99),
                  "compression method 99"),
    "encrypted": (lambda saved: _set_header_field(saved[0], "config.json", 6, 8, 0x1),
                  "config.json is encrypted"),
    # deflate data that does not inflate (a valid-length stream of garbage)
    "bad-deflate": (lambda saved: _garbage_deflate(saved), "cannot read the model file"),
    # JSON that is not UTF-8, and JSON nested beyond Python's recursion limit
    "not-utf8": (lambda saved: rezip(dict(members(saved[0]), **{"config.json": b"\xff\xfe{"})),
                 "cannot read the model file"),
    "deep-json": (lambda saved: rezip(dict(members(saved[0]),
                                           **{"config.json": b"[" * 100000 + b"]" * 100000})),
                  "cannot read the model file"),
    "config-not-object": (lambda saved: rezip(dict(members(saved[0]), **{"config.json": b"7"})),
                          "not a densefit model file"),
    "empty-weights": (lambda saved: rezip(dict(members(saved[0]), **{"weights.npz": b""})),
                      "cannot read the model file"),
}


def _garbage_deflate(saved):
    data = bytearray(saved[0])
    with zipfile.ZipFile(io.BytesIO(saved[0])) as archive:
        info = archive.getinfo("config.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start:start + 40] = b"\xff" * 40
    return bytes(data)


@pytest.mark.parametrize("trick", list(ZIP_TRICKS))
def test_zip_errors_never_leak(saved, tmp_path, trick):
    make, expected = ZIP_TRICKS[trick]
    path = tmp_path / f"{trick}.densefit"
    path.write_bytes(make(saved))
    assert expected in refused(path, load_model)


@pytest.mark.parametrize("edit, expected", [
    (lambda c: c["model"]["config"].update(input_shape=[2**40]),
     r"input_shape\[0\] must be a positive integer in \[1, "),
    (lambda c: c["model"]["config"].update(input_shape=[2**20, 2**20]),
     "features per sample, more than"),
    (lambda c: c["model"]["config"].update(input_shape=[1e300]),
     r"input_shape\[0\] must be a positive integer"),
    (lambda c: c["model"]["config"].update(layers=[]), r"params must be \(0,\)"),
    (lambda c: c.update(optimizer_iterations=2**70), "iterations must be"),
    (lambda c: c.update(optimizer_iterations=-1), "iterations must be"),
    (lambda c: c["compile"].update(optimizer=["adam"]), "config is invalid"),
    (lambda c: c["model"]["config"].update(name=5), "name must be a string"),
    (lambda c: c.update(seed_state={"bit_generator": "PCG64", "state": {"state": -1, "inc": 1},
                                   "has_uint32": 0, "uinteger": 0}), "cannot|invalid|state"),
], ids=["huge-input", "huge-image-input", "float-input", "no-layers", "iterations-huge", "iterations-negative",
        "optimizer-list", "name-int", "rng-state"])
def test_configs_that_would_have_allocated_or_crashed(saved, tmp_path, edit, expected):
    outer = members(saved[0])
    config = json.loads(outer["config.json"])
    edit(config)
    outer["config.json"] = json.dumps(config).encode()
    path = tmp_path / "edited.densefit"
    path.write_bytes(rezip(outer))
    tracemalloc.start()
    try:
        message = refused(path, load_model)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert re.search(expected, message), message
    assert peak < 5 * 2**20


def test_weights_files_in_fortran_order_and_float64_load(tmp_path):
    """The hand-checked reader keeps what np.load reads: Fortran-order members
    (np.save writes them so) and other float types, cast by set_weights."""
    weights = [np.asfortranarray(w.astype(np.float64)) for w in MODEL.get_weights()]
    assert weights[0].flags.f_contiguous and not weights[0].flags.c_contiguous
    path = tmp_path / "fortran.npz"
    np.savez(path, *weights)
    model = load_weights_or_refuse(path)
    for got, want in zip(model.get_weights(), MODEL.get_weights()):
        assert_array_equal(got, want)
