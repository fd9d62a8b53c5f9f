"""Paths a careless user gives to save/load (issue #9, family "files").

Every error names the user's path (never a hidden temporary file), the cause
and the fix: a pipe or a directory where a file is read, the other kind of
densefit file, files of other programs, a missing directory or a directory
where a file is written, a read-only file.  Saving behaves as
``open(path, "w")`` would (through a symlink, keeping an existing file's mode)
and leaves no temporary file behind, even when killed by SIGTERM midway.
"""
import gzip
import io
import os
import pickle
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import zipfile

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from densefit import Sequential
from densefit.layers import Dense, Input
from densefit.models import load_model
from densefit.utils import set_random_seed

X = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)


def _model():
    set_random_seed(4)
    model = Sequential([Input(shape=(4,)), Dense(3, activation="tanh"), Dense(2)])
    model.compile("sgd", "mse")
    return model


MODEL = _model()
SAVERS = {"save": MODEL.save, "save_weights": MODEL.save_weights}


def _load_weights(path):
    model = _model()
    model.load_weights(path)
    return model


LOADERS = {"load_model": load_model, "load_weights": _load_weights}


def refused(load, path, *expected, error=ValueError):
    with pytest.raises(error) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message, message
    for words in expected:  # said in the message, not just in the path it names
        assert words in message.replace(str(path), ""), f"{words!r} not in {message!r}"
    assert ".densefit-" not in message, message  # never a temporary file's name
    return message


@pytest.fixture()
def files(tmp_path):
    MODEL.save(tmp_path / "m.densefit")
    MODEL.save_weights(tmp_path / "w.npz")
    return tmp_path / "m.densefit", tmp_path / "w.npz"


# ------------------------------------------------------------------ reading what cannot seek

@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_fifo_is_refused_at_once(tmp_path, loader):
    """main blocked in open() until some writer came, then said "File is not a zip file"."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    outcome = []

    def load():
        try:
            LOADERS[loader](fifo)
        except BaseException as e:  # noqa: BLE001 (reported to the test's thread)
            outcome.append(e)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # unblock it, so the test fails instead of hanging
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
        pytest.fail(f"{loader} blocked on a FIFO")
    assert len(outcome) == 1 and isinstance(outcome[0], ValueError), outcome
    message = str(outcome[0])
    assert str(fifo) in message and "pipe" in message and "regular file" in message, message


@pytest.mark.parametrize("loader", ["load_model", "load_weights"])
def test_dev_stdin_from_a_pipe(files, loader):
    """``cat m.densefit | python -c 'load_model("/dev/stdin")'``: the cause is that a
    pipe cannot seek, the fix is to save the stream to a file."""
    script = textwrap.dedent(f"""
        from densefit import Sequential
        from densefit.layers import Dense, Input
        from densefit.models import load_model
        try:
            if {loader == "load_model"}:
                load_model("/dev/stdin")
            else:
                Sequential([Input(shape=(4,)), Dense(3), Dense(2)]).load_weights("/dev/stdin")
        except ValueError as e:
            print(e)
        """)
    data = files[0].read_bytes() if loader == "load_model" else files[1].read_bytes()
    result = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True,
                            timeout=120)
    message = result.stdout.decode()
    assert "/dev/stdin" in message and "pipe" in message and "file first" in message, \
        (message, result.stderr.decode()[-2000:])


# ------------------------------------------------------------------ the wrong kind of file

def _keras_file(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        archive.writestr("config.json", '{"module": "keras", "class_name": "Sequential"}')
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(100))


def _npy(path):
    with open(path, "wb") as f:  # np.save(path) would append .npy to the name
        np.save(f, np.zeros(3))


OTHER_FILES = {  # what: (make(path, files), the words that say what it is)
    "weights-file": (lambda p, f: p.write_bytes(f[1].read_bytes()), "save_weights"),
    "model-file": (lambda p, f: p.write_bytes(f[0].read_bytes()), "model.save"),
    "empty": (lambda p, f: p.write_bytes(b""), "empty"),
    "keras": (lambda p, f: _keras_file(p), "Keras .keras file"),
    "hdf5": (lambda p, f: p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(600)), "HDF5"),
    "npy": (lambda p, f: _npy(p), ".npy"),
    "gzip": (lambda p, f: p.write_bytes(gzip.compress(f[0].read_bytes())), "gzip"),
    "pickle": (lambda p, f: p.write_bytes(pickle.dumps([1.0])), "pickle"),
    "text": (lambda p, f: p.write_text("model = 1\n"), "text"),
    "other-zip": (lambda p, f: p.write_bytes(_zip({"readme.txt": b"hi"})), "readme.txt"),
}


def _zip(contents):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    return buffer.getvalue()


FIXES = {  # (loader, kind of file) -> the fix the message must name
    ("load_weights", "model-file"): "load_model",
    ("load_model", "weights-file"): "load_weights",
}


@pytest.mark.parametrize("loader, kind", [
    (loader, kind) for kind in OTHER_FILES for loader in LOADERS
    if (loader, kind) not in (("load_model", "model-file"), ("load_weights", "weights-file"))])
def test_the_wrong_kind_of_file_says_what_it_is(files, loader, kind):
    make, what = OTHER_FILES[kind]
    path = files[0].parent / f"{kind}.file"
    make(path, files)
    message = refused(LOADERS[loader], path, what)
    if (loader, kind) in FIXES:
        assert FIXES[loader, kind] in message, message
    assert "\\x93NUMPY" not in message and "magic" not in message, message


@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_directory_is_named_as_one(tmp_path, loader):
    refused(LOADERS[loader], tmp_path, "is a directory")


@pytest.mark.parametrize("loader", list(LOADERS))
@pytest.mark.parametrize("value, error", [(None, TypeError), (3, TypeError), (1.5, TypeError),
                                          ("", ValueError), ("m\0.densefit", ValueError)],
                         ids=["None", "fd", "float", "empty", "nul"])
def test_a_filepath_that_is_not_a_path(loader, value, error):
    with pytest.raises(error, match="filepath must be"):
        LOADERS[loader](value)


@pytest.mark.parametrize("saver", list(SAVERS))
@pytest.mark.parametrize("value, error", [(None, TypeError), (3, TypeError),
                                          ("", ValueError), ("m\0.densefit", ValueError)],
                         ids=["None", "fd", "empty", "nul"])
def test_a_filepath_to_save_that_is_not_a_path(tmp_path, saver, value, error):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(error, match="filepath must be"):
            SAVERS[saver](value)
    finally:
        os.chdir(cwd)
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ where a save cannot go

@pytest.mark.parametrize("saver", list(SAVERS))
def test_save_into_a_missing_directory_names_it(tmp_path, saver):
    path = tmp_path / "no" / "such" / "m.densefit"
    message = refused(SAVERS[saver], path, "does not exist", "create it",
                      error=FileNotFoundError)
    assert str(tmp_path / "no") in message
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("saver", list(SAVERS))
def test_save_onto_a_directory(tmp_path, saver):
    target = tmp_path / "models"
    target.mkdir()
    refused(SAVERS[saver], target, "is a directory", error=IsADirectoryError)
    assert os.listdir(target) == [] and os.listdir(tmp_path) == ["models"]
    # a path ending in a separator names a directory, whether or not it exists
    refused(SAVERS[saver], str(tmp_path / "new") + os.sep, "directory", error=OSError)
    assert os.listdir(tmp_path) == ["models"]


@pytest.mark.parametrize("saver", list(SAVERS))
def test_save_over_a_read_only_file_is_refused(tmp_path, saver):
    path = tmp_path / "kept.densefit"
    path.write_bytes(b"precious")
    path.chmod(0o444)
    try:
        refused(SAVERS[saver], path, "read-only", error=PermissionError)
        assert path.read_bytes() == b"precious"
    finally:
        path.chmod(0o644)
    assert os.listdir(tmp_path) == ["kept.densefit"]


@pytest.mark.parametrize("saver", list(SAVERS))
def test_save_through_a_symlink_writes_its_target(tmp_path, saver):
    real = tmp_path / "real" / "m.densefit"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "link.densefit"
    link.symlink_to(real)
    SAVERS[saver](link)
    assert link.is_symlink() and real.read_bytes() != b"old"
    assert sorted(os.listdir(real.parent)) == ["m.densefit"]


@pytest.mark.parametrize("saver", list(SAVERS))
def test_a_saved_file_gets_the_mode_open_would_give(tmp_path, saver):
    old_umask = os.umask(0o022)
    try:
        SAVERS[saver](tmp_path / "new.densefit")
        assert stat.S_IMODE(os.stat(tmp_path / "new.densefit").st_mode) == 0o644
        existing = tmp_path / "existing.densefit"
        existing.write_bytes(b"old")
        existing.chmod(0o640)
        SAVERS[saver](existing)
        assert stat.S_IMODE(os.stat(existing).st_mode) == 0o640
    finally:
        os.umask(old_umask)


# ------------------------------------------------------------------ killed midway

CHILD = """
import sys, time
import numpy as np
from densefit import Sequential, saving
from densefit.layers import Dense, Input
model = Sequential([Input(shape=(4,)), Dense(3), Dense(2)])
model.compile("sgd", "mse")

def slow(arrays):
    print("writing", flush=True)
    time.sleep(60)

saving._npz_bytes = slow
getattr(model, sys.argv[1])(sys.argv[2])
"""


@pytest.mark.parametrize("saver", list(SAVERS))
def test_sigterm_mid_save_leaves_no_temporary_file(files, saver):
    """The previous file is intact and nothing else is in the directory."""
    path = files[0] if saver == "save" else files[1]
    before = path.read_bytes()
    listing = sorted(os.listdir(path.parent))
    child = subprocess.Popen([sys.executable, "-c", CHILD, saver, str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = child.stdout.readline()
        assert line == b"writing\n", (line, child.stderr.read()[-2000:])
        child.send_signal(signal.SIGTERM)
        assert child.wait(30) == -signal.SIGTERM
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert sorted(os.listdir(path.parent)) == listing
    assert path.read_bytes() == before


@pytest.mark.parametrize("saver", list(SAVERS))
def test_without_o_tmpfile_a_failed_save_still_cleans_up(tmp_path, monkeypatch, saver):
    """The named temporary file (where O_TMPFILE is missing) is removed on any exception."""
    from densefit import saving
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)

    def fail(arrays):
        raise KeyboardInterrupt

    SAVERS[saver](tmp_path / "m.densefit")
    before = (tmp_path / "m.densefit").read_bytes()
    monkeypatch.setattr(saving, "_npz_bytes", fail)
    with pytest.raises(KeyboardInterrupt):
        SAVERS[saver](tmp_path / "m.densefit")
    assert os.listdir(tmp_path) == ["m.densefit"]
    assert (tmp_path / "m.densefit").read_bytes() == before
    monkeypatch.undo()
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    SAVERS[saver](tmp_path / "m.densefit")  # and a successful one, by the fallback
    assert os.listdir(tmp_path) == ["m.densefit"]


def test_round_trips_still_work(files):
    assert_array_equal(load_model(files[0]).predict(X), MODEL.predict(X))
    assert_array_equal(_load_weights(files[1]).predict(X), MODEL.predict(X))
