"""Memory over long runs and the memory cost of fit.

* No leaks: many build / fit / predict / save / load cycles in one process.
  After a 100-cycle warm-up, the resident set size (``/proc/self/statm``; the
  test skips where there is none) may grow by at most ``RSS_BOUND`` (2 MiB)
  over 1,000 cycles (about 0.5 MiB is seen: allocator settling, flat after).
  Every cycle allocates about 40 KiB that must be freed (the network, its
  gradient and Adam buffers, a training workspace, the C heap buffer of
  predict -- 96 rows make it take the ``malloc`` path --, the zip file's
  bytes), so leaking any one of them, or any 2 KiB a cycle, fails.
  Under ``tracemalloc``, the Python-visible memory (objects and NumPy arrays)
  after 150 cycles (past a 50-cycle warm-up) must not have grown by more than
  ``TRACED_BOUND`` (64 KiB: under 450 B a cycle; about 10 KiB of one-off
  caches is seen).
* evaluate allocates activation buffers alone: 1,024 rows of the notes'
  network (784-25-15-10) trace a peak under twice their 0.2 MiB (a training
  workspace, with the gathered x and the gradient buffers, was 9.4 MiB).
* fit uses the training set in place: ``tracemalloc`` (NumPy reports its
  allocations to it) sees a peak during fit of a 40 MB float32 C-contiguous x
  below 10% of x; a float64 x is converted once (peak about one float32 copy,
  and an epoch after the first allocates < 10% of x); an ``np.memmap`` trains
  without being read into memory and gives the same model as the array.

DENSEFIT_SANITIZE_RUN=1 (set by the AddressSanitizer stage of .ci/run) skips
the RSS test (ASan keeps freed memory in quarantine, so RSS says nothing about
leaks there) and scales the traced one down to 20 + 40 cycles.  The data-size
tests are cheap and run unchanged.
"""
import gc
import os
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from densefit import Sequential, load_model
from densefit.callbacks import Callback
from densefit.layers import Dense, Input
from densefit.utils import set_random_seed

SANITIZE = bool(os.environ.get("DENSEFIT_SANITIZE_RUN"))
RSS_BOUND = 2 * 2**20
TRACED_BOUND = 64 * 2**10


def rss_bytes():
    """Resident set size from /proc/self/statm, or None where there is none."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@pytest.fixture
def tracing():
    """tracemalloc on for the test (and off after it, whatever happens)."""
    if tracemalloc.is_tracing():
        pytest.skip("tracemalloc is already running")
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def cycle(x, y, path):
    model = Sequential([Input(shape=(20,)), Dense(16, activation="relu"),
                        Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    out = model.predict(x, verbose=0)
    model.save(path)
    loaded = load_model(path)
    assert_array_equal(loaded.predict(x, verbose=0), out)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3


@pytest.fixture(scope="module")
def cycle_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 20)).astype(np.float32)
    return x, rng.integers(0, 3, 96)


def test_cycles_do_not_grow_the_resident_set(cycle_data, tmp_path):
    """1,000 cycles after a 100-cycle warm-up grow RSS by less than RSS_BOUND."""
    if SANITIZE:
        pytest.skip("AddressSanitizer's quarantine holds freed memory: RSS says nothing here")
    if rss_bytes() is None:
        pytest.skip("no /proc/self/statm to read the resident set size from")
    path = tmp_path / "model.densefit"
    for _ in range(100):
        cycle(*cycle_data, path)
    gc.collect()
    before = rss_bytes()
    for _ in range(1000):
        cycle(*cycle_data, path)
    gc.collect()
    growth = rss_bytes() - before
    print(f"RSS growth over 1000 cycles: {growth / 1024:.0f} KiB")
    assert growth < RSS_BOUND


def test_cycles_do_not_grow_traced_python_memory(cycle_data, tmp_path, tracing):
    """After a warm-up, 150 traced cycles leave traced memory within TRACED_BOUND."""
    path = tmp_path / "model.densefit"
    warmup, traced = (20, 40) if SANITIZE else (50, 150)
    for _ in range(warmup):
        cycle(*cycle_data, path)
    gc.collect()
    start = tracemalloc.get_traced_memory()[0]
    for _ in range(traced):
        cycle(*cycle_data, path)
    gc.collect()
    growth = tracemalloc.get_traced_memory()[0] - start
    print(f"traced growth over {traced} cycles: {growth} B")
    assert growth < TRACED_BOUND


class EpochPeaks(Callback):
    """The traced peak (above the start of the epoch) of each epoch after the first."""

    def __init__(self):
        super().__init__()
        self.peaks = []

    def on_epoch_begin(self, epoch, logs=None):
        if epoch:
            tracemalloc.reset_peak()
            self.base = tracemalloc.get_traced_memory()[0]

    def on_epoch_end(self, epoch, logs=None):
        if epoch:
            self.peaks.append(tracemalloc.get_traced_memory()[1] - self.base)


def model_for(features, dtype=None):
    set_random_seed(7)
    model = Sequential([Input(shape=(features,), dtype=dtype), Dense(4, activation="relu"),
                        Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def traced_fit(model, x, y, **kwargs):
    """(peak traced bytes above the start during fit, per-epoch peaks after the first)."""
    epochs = EpochPeaks()
    gc.collect()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    model.fit(x, y, batch_size=64, epochs=2, verbose=0, callbacks=[epochs], **kwargs)
    return tracemalloc.get_traced_memory()[1] - base, epochs.peaks


@pytest.fixture(scope="module")
def big():
    """A 40 MB float32 C-contiguous x (10,000 x 1,000) and labels."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10_000, 1_000), dtype=np.float32)
    return x, rng.integers(0, 3, len(x)).astype(np.int32)


def test_fit_uses_a_float32_x_in_place(big, tracing):
    x, y = big
    peak, epoch_peaks = traced_fit(model_for(x.shape[1]), x, y)
    print(f"float32 x {x.nbytes / 2**20:.1f} MiB: traced peak during fit "
          f"{peak / 2**20:.2f} MiB, in epoch 2 {epoch_peaks[0] / 2**20:.2f} MiB")
    assert peak < 0.10 * x.nbytes
    assert epoch_peaks[0] < 0.10 * x.nbytes


def test_fit_converts_a_float64_x_once(big, tracing):
    x64 = big[0].astype(np.float64)
    y = big[1]
    copy = x64.nbytes // 2  # one float32 copy
    peak, epoch_peaks = traced_fit(model_for(x64.shape[1]), x64, y)
    print(f"float64 x {x64.nbytes / 2**20:.1f} MiB: traced peak during fit "
          f"{peak / 2**20:.2f} MiB, in epoch 2 {epoch_peaks[0] / 2**20:.2f} MiB")
    assert copy <= peak < 1.10 * copy  # one float32 copy, not two, and no float64 copy
    assert epoch_peaks[0] < 0.10 * copy  # converted once, not per epoch
    # and it trains as the float32 array does
    m32, m64 = model_for(x64.shape[1]), model_for(x64.shape[1])
    m32.fit(big[0][:2000], y[:2000], batch_size=64, epochs=1, verbose=0)
    m64.fit(x64[:2000], y[:2000], batch_size=64, epochs=1, verbose=0)
    for a, b in zip(m32.get_weights(), m64.get_weights()):
        assert_array_equal(a, b)


def test_fit_from_a_memmap_reads_it_in_place_and_matches_the_array(tmp_path, tracing):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((20_000, 200), dtype=np.float32)  # 16 MB
    y = rng.integers(0, 3, len(x)).astype(np.int32)
    path = tmp_path / "x.f32"
    mapped = np.memmap(path, dtype=np.float32, mode="w+", shape=x.shape)
    mapped[...] = x
    mapped.flush()
    del mapped
    mapped = np.memmap(path, dtype=np.float32, mode="r", shape=x.shape)

    from_map, from_array = model_for(x.shape[1]), model_for(x.shape[1])
    peak, _ = traced_fit(from_map, mapped, y)
    print(f"memmap x {x.nbytes / 2**20:.1f} MiB: traced peak during fit {peak / 2**20:.2f} MiB")
    assert peak < 0.10 * x.nbytes
    history = from_array.fit(x, y, batch_size=64, epochs=2, verbose=0)
    assert from_map.history.history == history.history
    for a, b in zip(from_map.get_weights(), from_array.get_weights()):
        assert_array_equal(a, b)
    for name in from_map.optimizer.slot_names:
        assert_array_equal(getattr(from_map.optimizer, name), getattr(from_array.optimizer, name))
    assert_array_equal(from_map.predict(mapped[:100], verbose=0),
                       from_array.predict(x[:100], verbose=0))


def test_evaluate_allocates_activation_buffers_only(tracing):
    set_random_seed(3)
    model = Sequential([Input(shape=(784,)), Dense(25, activation="relu"),
                        Dense(15, activation="relu"), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1024, 784), dtype=np.float32)
    y = rng.integers(0, 10, len(x)).astype(np.int32)
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0)  # the optimizer's slots
    activations = len(x) * (25 + 15 + 10) * 4
    gc.collect()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    model.evaluate(x, y, batch_size=1024, verbose=0)
    peak = tracemalloc.get_traced_memory()[1] - base
    print(f"evaluate of 1024 rows: traced peak {peak / 2**10:.0f} KiB "
          f"(activations {activations / 2**10:.0f} KiB)")
    assert activations <= peak < 2 * activations
