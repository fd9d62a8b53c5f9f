"""Ctrl-C during fit: prompt, and the model stays usable.

fit runs the compiled loop in time-sized chunks and regains control about every
``models._CHUNK_SECONDS`` (0.1 s); a SIGINT that arrives while a chunk runs is
raised as KeyboardInterrupt when that chunk returns.  These tests check that:

* the interrupt surfaces within one chunk: no chunk starts after the signal,
  and the KeyboardInterrupt is raised at most 2 x _CHUNK_SECONDS after it;
  with a fake clock, no chunk is sized much over _CHUNK_SECONDS, even right
  after one cut short by the end of an epoch;
* weights, optimizer slots and ``optimizer.iterations`` are exactly those of
  the last completed batch: with k = ``optimizer.iterations`` after the
  interrupt, an identically seeded fresh model trained for exactly k batches
  (a per-batch callback sets ``stop_training`` at batch k; per-batch callbacks
  make the compiled loop return after every batch, which computes the same
  numbers as chunked training) ends bit-identical;
* ``model.history`` holds the epochs completed before the interrupt;
* a further fit works, changes the weights, and (in the deterministic variant)
  is bit-identical to the same further fit of the reference model.

Ctrl-C is simulated with ``os.kill(os.getpid(), SIGINT)`` from a timer thread
(the signal arrives while the main thread is inside the compiled loop), and
deterministically with ``signal.raise_signal(SIGINT)`` from a per-batch callback.
The sizes are small enough for the AddressSanitizer CI stage as they are.
"""
import os
import signal
import threading
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from densefit import Sequential, models
from densefit.callbacks import Callback
from densefit.layers import Dense, Input
from densefit.utils import set_random_seed

SEED = 2024


@pytest.fixture(autouse=True)
def _default_sigint():
    """SIGINT raises KeyboardInterrupt in the main thread (Python's default handler)."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def data(n, features, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = (np.abs(x[:, 0] * 1.3 + x[:, 1]) * 2).astype(np.int64) % classes
    return x, y


def make(features, hidden=64, classes=4):
    set_random_seed(SEED)
    model = Sequential([Input(shape=(features,)), Dense(hidden, activation="relu"),
                        Dense(hidden, activation="tanh"), Dense(classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class StopAfter(Callback):
    """Stops training once ``k`` batches have been applied in total."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def on_train_batch_end(self, batch, logs=None):
        if self.model.optimizer.iterations >= self.k:
            self.model.stop_training = True


class Deadline(Callback):
    """A safety net (epoch hooks only, so chunking is unchanged): ends fit after
    ``seconds`` should the interrupt never come."""

    def __init__(self, seconds):
        super().__init__()
        self.end = time.perf_counter() + seconds

    def on_epoch_end(self, epoch, logs=None):
        if time.perf_counter() > self.end:
            self.model.stop_training = True


def assert_same_state(model, reference):
    assert model.optimizer.iterations == reference.optimizer.iterations
    for mine, theirs in ((model.get_weights(), reference.get_weights()),
                         (model.optimizer.slots, reference.optimizer.slots)):
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs):
            assert_array_equal(a, b)


def reference_after(k, x, y, batch_size, hidden=64):
    """A fresh, identically seeded model trained for exactly ``k`` batches."""
    reference = make(x.shape[1], hidden)
    reference.fit(x, y, batch_size=batch_size, epochs=10**6, verbose=0,
                  callbacks=[StopAfter(k)])
    assert reference.optimizer.iterations == k
    return reference


def test_ctrl_c_from_timer_stops_within_one_chunk(monkeypatch):
    x, y = data(40000, 32)
    batch_size = 8  # 5000 batches per epoch: an epoch takes several chunks
    n_batches = 5000
    model = make(x.shape[1], hidden=128)
    calls = []  # start time of each compiled chunk
    train_batches = models._core.train_batches

    def recording(*args):
        calls.append(time.perf_counter())
        return train_batches(*args)

    monkeypatch.setattr(models._core, "train_batches", recording)
    sent = []

    def interrupt():
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)
        sent.append(time.perf_counter())

    timer = threading.Timer(0.4, interrupt)
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            model.fit(x, y, batch_size=batch_size, epochs=10**6, verbose=0,
                      callbacks=[Deadline(20)])
        caught = time.perf_counter()
    finally:
        timer.cancel()
        timer.join()
    assert sent, "the timer never fired: fit ended before the interrupt"
    latency = caught - sent[0]
    print(f"interrupt latency {latency * 1e3:.1f} ms after {sent[0] - start:.2f} s of fit, "
          f"{len(calls)} chunks, {model.optimizer.iterations} batches")
    assert all(t < sent[1] for t in calls), "a chunk started after the signal"
    assert latency <= 2 * models._CHUNK_SECONDS
    monkeypatch.setattr(models._core, "train_batches", train_batches)

    k = model.optimizer.iterations
    assert k > 0
    epochs_done = len(model.history.epoch)
    assert epochs_done * n_batches <= k <= (epochs_done + 1) * n_batches
    assert model.history.epoch == list(range(epochs_done))

    reference = reference_after(k, x, y, batch_size, hidden=128)
    assert_same_state(model, reference)
    for key, values in model.history.history.items():
        assert values == reference.history.history[key][:epochs_done]

    # the model trains on from there (the lock and the workspace were released)
    before = model.get_weights()
    history = model.fit(x[:2000], y[:2000], batch_size=batch_size, epochs=1, verbose=0)
    assert model.optimizer.iterations == k + 250
    assert np.isfinite(history.history["loss"][0])
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("epoch, batch", [(0, 0), (1, 6), (2, 12)])
def test_ctrl_c_from_a_batch_hook_is_exact_and_training_continues(epoch, batch):
    x, y = data(200, 12)
    batch_size = 16  # 13 batches per epoch, the last one of 8 rows
    n_batches = 13

    class CtrlC(Callback):
        def on_train_batch_end(self, b, logs=None):
            if self.model.history.epoch == list(range(epoch)) and b == batch:
                signal.raise_signal(signal.SIGINT)

    model = make(x.shape[1], hidden=8)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=batch_size, epochs=5, verbose=0, callbacks=[CtrlC()])
    k = epoch * n_batches + batch + 1
    assert model.optimizer.iterations == k
    assert model.history.epoch == list(range(epoch))

    reference = reference_after(k, x, y, batch_size, hidden=8)
    assert_same_state(model, reference)
    assert model._rng.bit_generator.state == reference._rng.bit_generator.state
    for key, values in model.history.history.items():
        assert values == reference.history.history[key][:epoch]

    # continuing: the same further fit of both models gives the same model
    before = model.get_weights()
    kwargs = dict(batch_size=batch_size, epochs=2, verbose=0)
    history = model.fit(x, y, **kwargs)
    assert history.history == reference.fit(x, y, **kwargs).history
    assert model.optimizer.iterations == k + 2 * n_batches
    assert_same_state(model, reference)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_ctrl_c_in_the_validation_pass_keeps_the_epochs_weights(monkeypatch):
    """An interrupt during the end-of-epoch validation pass (inside evaluate) leaves
    the epoch's training applied and the model usable."""
    x, y = data(300, 12)
    model = make(x.shape[1], hidden=8)
    evaluate = models._core.evaluate

    def interrupted(*args):
        evaluate(*args)
        signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(models._core, "evaluate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x[:200], y[:200], batch_size=20, epochs=3, verbose=0,
                  validation_data=(x[200:], y[200:]))
    monkeypatch.setattr(models._core, "evaluate", evaluate)
    assert model.optimizer.iterations == 10
    assert model.history.epoch == []
    assert_same_state(model, reference_after(10, x[:200], y[:200], 20, hidden=8))
    assert np.isfinite(model.evaluate(x[200:], y[200:], verbose=0)[0])
    model.fit(x[:200], y[:200], batch_size=20, epochs=1, verbose=0)
    assert model.optimizer.iterations == 20


class _Clock:
    """A stand-in for ``models.time``: compiled work takes 1 ms per batch."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


@pytest.mark.parametrize("n_batches", [250, 1000, 1234])
def test_chunks_stay_near_chunk_seconds_across_epoch_ends(monkeypatch, n_batches):
    """With a clock that makes every batch cost 1 ms, each compiled call must cover
    about _CHUNK_SECONDS (0.1 s = 100 batches) and never much more: a chunk cut
    short by the end of an epoch must not inflate the next one.  This bounds how
    long Ctrl-C can wait, whatever the epoch length."""
    clock = _Clock()
    train_batches = models._core.train_batches
    sizes = []

    def timed(*args):
        done = train_batches(*args)
        sizes.append(args[8] - args[7])  # end_batch - first_batch
        clock.now += 1e-3 * sizes[-1]
        return done

    monkeypatch.setattr(models, "time", clock)
    monkeypatch.setattr(models._core, "train_batches", timed)
    x, y = data(n_batches, 3)
    model = make(3, hidden=2)
    model.fit(x, y, batch_size=1, epochs=4, verbose=0)
    assert sum(sizes) == 4 * n_batches
    limit = 1.5 * models._CHUNK_SECONDS / 1e-3
    assert max(sizes) <= limit, sizes
    assert max(sizes) >= 0.9 * models._CHUNK_SECONDS / 1e-3  # chunks do grow to ~0.1 s
