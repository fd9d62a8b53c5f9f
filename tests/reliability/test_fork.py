"""fork: a child process (``os.fork``, multiprocessing's default start on Linux)
has only the thread that forked.  densefit must work there: predict's thread
pools are made anew (their workers are gone), and locks a vanished thread held
(a model's fit lock, its build lock, the pools' lock) are freed.

Each test forks directly and waits for the child with a deadline, so a
regression fails instead of hanging CI; the child reports through its exit
status and never returns into pytest.
"""
import os
import threading
import time

import numpy as np
import pytest

import densefit
from densefit import Sequential, inference
from densefit.layers import Dense, Input
from densefit.utils import get_num_threads, set_random_seed

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")
DEADLINE = 20  # seconds a child may take; each needs well under one


def _in_child(work):
    """Run ``work()`` in a forked child; assert that it returned True in time."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            code = 0 if work() else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0, "the child's work failed"
            return
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail(f"the child did not finish within {DEADLINE} s: it hangs")


@pytest.fixture
def two_threads():
    before = get_num_threads()
    densefit.set_num_threads(2)
    yield
    densefit.set_num_threads(before)


def _narrow(dtype="float32"):
    set_random_seed(0)
    model = Sequential([Input((40,), dtype=dtype), Dense(25, activation="relu"), Dense(10)])
    model.compile("adam", "mse")
    return model


X = np.random.default_rng(0).normal(size=(10_000, 40)).astype(np.float32)


def test_threaded_predict_works_in_a_forked_child(two_threads):
    model = _narrow()
    assert inference.parts(model._network, len(X), inference.DEFAULT_BATCH)  # threads used
    expected = model.predict(X, verbose=0)
    for _ in range(2):
        model.predict(X, verbose=0)  # the pool's workers exist now
    _in_child(lambda: np.array_equal(model.predict(X, verbose=0), expected)
              and np.array_equal(_narrow().predict(X, verbose=0), expected))
    assert np.array_equal(model.predict(X, verbose=0), expected)  # the parent's pool too


def _held_by_another_thread(lock):
    """Hold ``lock`` in a thread until the returned event is set (as a fit or a
    build running in that thread would)."""
    held, release = threading.Event(), threading.Event()

    def hold():
        with lock:
            held.set()
            release.wait()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(5)
    return release, thread


def test_fit_works_in_a_child_forked_while_another_thread_fits():
    model = _narrow()
    x, y = X[:64], np.zeros((64, 10), np.float32)
    release, thread = _held_by_another_thread(model._fit_lock)
    model._fit_thread = thread.ident  # what fit records
    try:
        def child():
            model.fit(x, y, epochs=1, verbose=0)  # neither refused nor blocked
            model.set_weights(model.get_weights())
            return True
        _in_child(child)
    finally:
        release.set()
        thread.join()
        model._fit_thread = None


def test_a_child_can_build_while_the_parent_was_building_in_another_thread():
    set_random_seed(0)
    model = Sequential([Dense(3)])  # built on first data
    release, thread = _held_by_another_thread(model._build_lock)
    try:
        _in_child(lambda: model.predict(X[:5], verbose=0).shape == (5, 3))
    finally:
        release.set()
        thread.join()


def test_predict_pools_lock_is_free_in_the_child(two_threads):
    model = _narrow()
    release, thread = _held_by_another_thread(inference._pools_lock)
    try:
        _in_child(lambda: model.predict(X, verbose=0).shape == (len(X), 10))
    finally:
        release.set()
        thread.join()


def test_thread_count_works_in_a_forked_child(two_threads):
    def child():
        densefit.set_num_threads(1)
        ok = get_num_threads() == 1
        densefit.set_num_threads(2)
        return ok and get_num_threads() == 2 and _narrow().predict(X, verbose=0).shape[0] > 0
    _in_child(child)
