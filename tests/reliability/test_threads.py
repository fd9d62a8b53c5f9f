"""Threads: the compiled calls release the GIL, and models are safe to share.

* fit's compiled chunks run without the GIL: while one thread fits, a pure-Python
  loop in another thread keeps running *inside* the compiled calls (time stamps
  strictly within a call's start and end, a margin of a few GIL switch
  intervals trimmed off each side: a GIL-holding core would allow none there).
* predict / ``model(x)`` from 4 threads at once on one model is bit-identical to
  the single-threaded results.
* fit on one model while another thread predicts on a different model ends
  bit-identical to the same fit run alone.
* A second fit on a model that is being trained raises RuntimeError in the
  caller and leaves the running fit alone: the model ends exactly as after one
  fit.
* predict on a model that another thread is fitting does not crash and is not
  refused: it returns the outputs of the weights as they are at that moment,
  i.e. mid-training (the optimizer may be between updating two layers: the
  result need not match any single step).  Once fit returns, predict is exact.

Sizes are chosen so the whole file takes a few seconds; under the
AddressSanitizer CI stage (DENSEFIT_SANITIZE_RUN=1) the call counts are reduced.
"""
import os
import sys
import threading
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from threadpoolctl import threadpool_limits

from densefit import Sequential, _core
from densefit.callbacks import Callback
from densefit.layers import Dense, Input
from densefit.utils import set_random_seed

SANITIZE = bool(os.environ.get("DENSEFIT_SANITIZE_RUN"))
TIMEOUT = 30  # seconds: no join or wait below should ever come near it


def data(n, features, classes=4, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(dtype)
    y = (np.abs(x[:, 0] * 1.3 + x[:, 1]) * 2).astype(np.int64) % classes
    return x, y


def make(features, hidden=32, classes=4, seed=11, dtype=None):
    set_random_seed(seed)
    model = Sequential([Input(shape=(features,), dtype=dtype), Dense(hidden, activation="relu"),
                        Dense(hidden, activation="tanh"), Dense(classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def assert_same_model(a, b):
    assert a.optimizer.iterations == b.optimizer.iterations
    names = a.optimizer.slot_names
    for mine, theirs in ((a.get_weights(), b.get_weights()),
                         ([getattr(a.optimizer, name) for name in names],
                          [getattr(b.optimizer, name) for name in names])):
        assert len(mine) == len(theirs)
        for p, q in zip(mine, theirs):
            assert_array_equal(p, q)


def run_threads(targets):
    """Runs the callables in threads; re-raises the first exception any raised."""
    errors = []

    def guarded(fn):
        try:
            fn()
        except BaseException as e:  # noqa: B902 - reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive(), "a thread did not finish"
    if errors:
        raise errors[0]


def test_fit_releases_the_gil(compiled_calls):
    x, y = data(16384, 128)
    model = make(128, hidden=256)
    margin = 4 * sys.getswitchinterval() + 0.005  # GIL hand-overs at a call's edges
    calls = compiled_calls  # (start, end) of each compiled chunk
    done = threading.Event()
    stamps = []

    def fit():
        try:
            model.fit(x, y, batch_size=64, epochs=4, verbose=0)
        finally:
            done.set()

    # one BLAS thread: the fit thread and this loop then have a core each on 2 cores
    with threadpool_limits(1, user_api="blas"):
        fitting = threading.Thread(target=fit)
        fitting.start()
        while not done.is_set():  # pure Python: runs only while it holds the GIL
            stamps.append(time.perf_counter())
            for _ in range(200):
                pass
        fitting.join(TIMEOUT)
    assert model.optimizer.iterations == 4 * 256
    stamps = np.array(stamps)
    inside = sum(int(((stamps > a + margin) & (stamps < b - margin)).sum()) for a, b in calls)
    covered = sum(max(0.0, b - a - 2 * margin) for a, b in calls)
    print(f"{len(calls)} compiled chunks, {covered:.2f} s well inside them; the Python loop "
          f"ran {len(stamps)} times, {inside} of them inside a compiled chunk")
    assert covered > 0.1, "the chunks were too short to tell"
    assert inside >= 100


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_concurrent_predict_is_bit_identical_to_single_threaded(dtype):
    model = make(32, hidden=64, dtype=dtype)
    x, y = data(600, 32, dtype=dtype)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    rng = np.random.default_rng(3)
    # 1 and 7 rows: the stack path of predict; 600 and 1500: heap buffers, larger GEMMs
    # (BLAS keeps its default thread count: concurrent callers of a threaded BLAS)
    inputs = [rng.normal(size=(n, 32)).astype(dtype) for n in (1, 7, 600, 1500)]
    expected = [model.predict(a, verbose=0) for a in inputs]
    calls = 16 if SANITIZE else 48
    barrier = threading.Barrier(4)

    def worker(seed):
        def run():
            barrier.wait(TIMEOUT)
            for i in range(calls):
                j = (i + seed) % len(inputs)
                out = model(inputs[j]) if (i + seed) % 2 else model.predict(inputs[j], verbose=0)
                assert_array_equal(out, expected[j])
        return run

    run_threads([worker(s) for s in range(4)])


def test_fit_beside_predict_on_another_model_matches_fit_alone():
    x, y = data(3000, 20)
    alone = make(20, seed=5)
    alone_history = alone.fit(x, y, batch_size=16, epochs=3, verbose=0)

    model = make(20, seed=5)
    other = make(20, hidden=48, seed=6)
    probe = data(500, 20, seed=9)[0]
    expected = other.predict(probe, verbose=0)
    done, started = threading.Event(), threading.Event()
    predictions = []

    def predict_until_done():
        # at least one predict, begun before fit starts (under load the fit could
        # otherwise end before this thread first ran)
        started.set()
        while True:
            out = other.predict(probe, verbose=0)
            assert_array_equal(out, expected)
            predictions.append(1)
            if done.is_set():
                break

    def fit():
        started.wait(TIMEOUT)
        try:
            history = model.fit(x, y, batch_size=16, epochs=3, verbose=0)
            assert history.history == alone_history.history
        finally:
            done.set()

    run_threads([fit, predict_until_done])
    assert predictions, "the predicting thread never ran"
    assert_same_model(model, alone)


class Hold(Callback):
    """Blocks fit in on_train_begin (the model's lock held) until ``release`` is set."""

    def __init__(self, started, release):
        super().__init__()
        self.started, self.release = started, release

    def on_train_begin(self, logs=None):
        self.started.set()
        assert self.release.wait(TIMEOUT)


def test_second_fit_on_a_model_being_trained_is_refused():
    x, y = data(500, 10)
    alone = make(10)
    alone.fit(x, y, batch_size=20, epochs=2, verbose=0)

    model = make(10)
    started, release = threading.Event(), threading.Event()
    results = []

    def first():
        results.append(model.fit(x, y, batch_size=20, epochs=2, verbose=0,
                                 callbacks=[Hold(started, release)]))

    fitting = threading.Thread(target=first)
    fitting.start()
    try:
        assert started.wait(TIMEOUT)
        with pytest.raises(RuntimeError, match="already being trained in another thread"):
            model.fit(x, y, batch_size=20, epochs=5, verbose=0)
    finally:
        release.set()
        fitting.join(TIMEOUT)
    assert len(results) == 1
    assert model.history is results[0]
    assert len(model.history.history["loss"]) == 2
    assert_same_model(model, alone)
    # the lock is free again: a later fit (from this thread) trains
    model.fit(x, y, batch_size=20, epochs=1, verbose=0)
    assert model.optimizer.iterations == 3 * 25


def test_set_weights_from_another_thread_during_fit_is_refused():
    """The compiled loop bounds each step by the weights it last wrote: weights
    swapped in by another thread mid-call would escape that check.  A callback
    of the fit itself may still set them (EarlyStopping restores this way)."""
    x, y = data(500, 10)
    alone = make(10)
    alone.fit(x, y, batch_size=20, epochs=2, verbose=0)

    model = make(10)
    started, release = threading.Event(), threading.Event()
    fitting = threading.Thread(target=lambda: model.fit(
        x, y, batch_size=20, epochs=2, verbose=0, callbacks=[Hold(started, release)]))
    fitting.start()
    try:
        assert started.wait(TIMEOUT)
        zeros = [np.zeros_like(w) for w in model.get_weights()]
        with pytest.raises(RuntimeError, match="being trained in another thread"):
            model.set_weights(zeros)
    finally:
        release.set()
        fitting.join(TIMEOUT)
    assert_same_model(model, alone)

    class Restore(Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.set_weights(alone.get_weights())

    model.fit(x, y, batch_size=20, epochs=1, verbose=0, callbacks=[Restore()])
    for got, want in zip(model.get_weights(), alone.get_weights()):
        assert_array_equal(got, want)
    model.set_weights(zeros)  # after fit, from any thread
    assert all((w == 0).all() for w in model.get_weights())


def test_two_threads_racing_to_fit_one_model():
    """Both threads prepare their data and reach the lock together; the winner
    holds it (in on_train_begin) until the loser has returned, so exactly one
    RuntimeError is certain, and the model ends as after one fit."""
    x, y = data(400, 10)
    alone = make(10)
    alone.fit(x, y, batch_size=16, epochs=2, verbose=0)

    for _ in range(3 if SANITIZE else 10):
        model = make(10)
        barrier = threading.Barrier(2)
        loser_done = threading.Event()
        outcomes = []

        class WaitForLoser(Callback):
            def on_train_begin(self, logs=None):
                assert loser_done.wait(TIMEOUT)

        def contender():
            barrier.wait(TIMEOUT)
            try:
                model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[WaitForLoser()])
                outcomes.append("trained")
            except RuntimeError as e:
                outcomes.append(str(e))
                loser_done.set()

        run_threads([contender, contender])
        assert sorted(outcomes) == ["this model is already being trained in another thread",
                                    "trained"]
        assert_same_model(model, alone)


def test_predict_while_the_same_model_is_being_fit():
    x, y = data(4000, 16)
    model = make(16)
    probe = data(64, 16, seed=4)[0]
    before = model.predict(probe, verbose=0)
    done = threading.Event()
    seen = []

    def fit():
        try:
            model.fit(x, y, batch_size=8, epochs=3 if SANITIZE else 6, verbose=0)
        finally:
            done.set()

    fitting = threading.Thread(target=fit)
    fitting.start()
    try:
        while not done.is_set():
            out = model.predict(probe, verbose=0)
            assert out.shape == (64, 4) and np.isfinite(out).all()
            assert_array_equal(model(probe[:1]).shape, (1, 4))
            seen.append(out)
    finally:
        fitting.join(TIMEOUT)
    assert model.optimizer.iterations == (3 if SANITIZE else 6) * 500
    assert len(seen) >= 2
    # mid-training weights: what predict saw moved on from the initial outputs
    assert any(not np.array_equal(out, before) for out in seen)
    # softmax rows: every output (torn or not) is still a distribution
    assert all(np.allclose(out.sum(axis=1), 1, atol=1e-5) for out in seen)
    # once fit has returned, predict gives exactly the final weights' outputs
    copy = make(16)
    copy.set_weights(model.get_weights())
    assert_array_equal(model.predict(probe, verbose=0), copy.predict(probe, verbose=0))


def test_fit_inside_a_running_fit_is_refused_before_touching_data():
    """The model's lock is taken before fit looks at the data: a nested fit (here from
    a callback, the same path a second thread would take) is refused, even on data that
    would otherwise rebuild nothing, and the outer fit finishes normally."""
    from densefit import Sequential, callbacks
    from densefit.layers import Dense

    x = np.random.default_rng(0).random((40, 3)).astype(np.float32)
    y = (x.sum(axis=1) > 1.5).astype(np.int64)
    model = Sequential([Dense(4, activation="relu"), Dense(2)])
    model.compile("adam", "sparse_categorical_crossentropy")
    refused = []

    def nested(epoch, logs):
        try:
            model.fit(x[:, :2], y, verbose=0)  # wrong width: the lock answers first
        except RuntimeError as e:
            refused.append(str(e))

    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.LambdaCallback(on_epoch_end=nested)])
    assert len(refused) == 2 and all("already being trained" in r for r in refused)
    assert model.optimizer.iterations == 4


def test_evaluate_does_not_create_optimizer_state():
    """evaluate works with scratch optimizer state and leaves the optimizer's alone, so
    it can never swap the buffers a concurrent fit is updating."""
    from densefit import Sequential
    from densefit.layers import Dense, Input

    model = Sequential([Input((3,)), Dense(2)])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    x = np.ones((5, 3), np.float32)
    model.evaluate(x, np.zeros(5, np.int64), verbose=0)
    assert model.optimizer.momentums is None and model.optimizer.velocities is None
    model.fit(x, np.zeros(5, np.int64), verbose=0)
    slots = model.optimizer.momentums, model.optimizer.velocities
    model.evaluate(x, np.zeros(5, np.int64), verbose=0)
    assert model.optimizer.momentums is slots[0] and model.optimizer.velocities is slots[1]
