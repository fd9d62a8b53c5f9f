"""Shared data for the benchmarks: MNIST from ../shared/data/mnist when present,
else synthetic data of the same shape (so the suite runs anywhere).

With --benchmark-disable (as CI runs it) every benchmark body runs once on a
small slice, to prove it still works without spending minutes timing it.
"""
import numpy as np
import pytest

from compare import MNIST_DIR, MODELS  # noqa: F401  (MODELS is re-exported to the tests)

SMOKE_SAMPLES = 2048  # rows used when benchmarking is disabled


def _mnist():
    from densefit import datasets

    if MNIST_DIR.is_dir():
        (x, y), (xt, yt) = datasets.load_mnist(MNIST_DIR)
        return (x.reshape(len(x), -1).astype(np.float32) / 255, y.astype(np.int32),
                xt.reshape(len(xt), -1).astype(np.float32) / 255, yt.astype(np.int32), "mnist")
    rng = np.random.default_rng(0)
    return (rng.random((60000, 784), np.float32), rng.integers(0, 10, 60000).astype(np.int32),
            rng.random((10000, 784), np.float32), rng.integers(0, 10, 10000).astype(np.int32),
            "synthetic")


@pytest.fixture(scope="session")
def mnist_full():
    return _mnist()


@pytest.fixture
def mnist(mnist_full, benchmark):
    """(x_train, y_train, x_test, y_test): the full set when timing, a slice when disabled."""
    x, y, xt, yt, _ = mnist_full
    if benchmark.disabled:
        return x[:SMOKE_SAMPLES], y[:SMOKE_SAMPLES], xt[:SMOKE_SAMPLES], yt[:SMOKE_SAMPLES]
    return x, y, xt, yt
