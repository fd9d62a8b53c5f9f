"""The careful NumPy peer of compare.py trains exactly as the readable reference:
otherwise its speed would be a speed at something else."""
import tracemalloc

import numpy as np
import pytest

from densefit import reference
from densefit.activations import LEAKY_RELU_SLOPE
from densefit.optimizers import Adam

from careful_numpy import CarefulMLP

SIZES = [784, 25, 15, 10]  # model A
ROWS = 790  # not a multiple of the batch sizes below: every epoch ends on a partial batch


def _pair(seed=0):
    rng = np.random.default_rng(seed)
    kernels = [reference.glorot_uniform(a, b, rng) for a, b in zip(SIZES, SIZES[1:])]
    # nonzero biases, so a bias mixed up with another would show
    biases = [rng.normal(0, 0.1, b).astype(np.float32) for b in SIZES[1:]]
    names = ["relu"] * (len(SIZES) - 2) + ["linear"]
    ref = reference.MLP(list(zip(kernels, biases, names)), "sparse_ce_logits", False,
                        LEAKY_RELU_SLOPE, **Adam().get_config())  # CarefulMLP's: Keras' Adam
    return ref, CarefulMLP(kernels, biases), rng


@pytest.mark.parametrize("label_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("batch_size", [32, 100])
def test_matches_reference(batch_size, label_dtype):
    ref, careful, rng = _pair()
    x = rng.random((ROWS, SIZES[0]), np.float32)
    x[x < 0.5] = 0  # MNIST-like: many exact zeros
    y = rng.integers(0, 10, ROWS).astype(label_dtype)
    for _ in range(2):  # 2 epochs, 50 (batch 32) or 16 (batch 100) Adam steps
        order = rng.permutation(ROWS)
        expected = ref.fit_epoch(x, y, batch_size, order)
        got = careful.fit_epoch(x, y, batch_size, order)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    for p, q in zip(careful.parameters(), ref.parameters()):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-5)
    for rows in (x[:1], x[:1], x[:300]):  # the second call reuses the first's buffers
        np.testing.assert_allclose(careful.predict(rows), ref.predict(rows), rtol=1e-4, atol=1e-5)


def test_steady_state_allocates_no_arrays():
    """What makes it careful: once its buffers exist, an epoch allocates only
    its loss array and scalars, not a batch-sized array per step."""
    _, careful, rng = _pair()
    x = rng.random((ROWS, SIZES[0]), np.float32)
    y = rng.integers(0, 10, ROWS)
    careful.fit_epoch(x, y, 32, rng.permutation(ROWS))  # makes the buffers
    order = rng.permutation(ROWS)
    tracemalloc.start()
    try:
        careful.fit_epoch(x, y, 32, order)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # ~5 kB seen: the loss array, scalars, and NumPy's iterator for the broadcast
    # bias add; a per-step gathered batch (x[idx]) alone would be 100 kB
    assert peak < 32 * SIZES[0] * 4 / 4, peak
