"""Each compiled kernel beside its NumPy reference, in one group per kernel and
shape, so the table reads as a ratio.  Layer shapes are those of models A-C.

    pytest benchmarks --benchmark-only -k kernels --benchmark-columns=median
"""
import numpy as np
import pytest

from densefit import _core, reference
from densefit.activations import LEAKY_RELU_SLOPE as KERAS_SLOPE
from densefit.optimizers import Adam

# (batch, n_in, n_out) of the first and widest layers of models A, B, C
SHAPES = {"A": (32, 784, 25), "B": (128, 784, 256), "C": (256, 2048, 2048)}
IMPLS = ["densefit", "numpy"]


def _layer(shape, seed=0):
    rows, n_in, n_out = shape
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((rows, n_in), np.float32),
            (rng.standard_normal((n_in, n_out), np.float32) * np.sqrt(2 / n_in)).astype(np.float32),
            rng.standard_normal(n_out, np.float32))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("model", SHAPES)
def test_dense_forward(benchmark, model, impl):
    benchmark.group = f"dense_forward relu {model} {SHAPES[model]}"
    x, w, b = _layer(SHAPES[model])
    relu = _core.ACTIVATIONS["relu"]
    if impl == "densefit":
        out = benchmark(_core.dense_forward, x, w, b, relu, KERAS_SLOPE)
    else:
        out = benchmark(reference.dense_forward, x, w, b, "relu", KERAS_SLOPE)
    assert out.shape == (x.shape[0], w.shape[1])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("model", SHAPES)
def test_dense_backward(benchmark, model, impl):
    benchmark.group = f"dense_backward relu {model} {SHAPES[model]}"
    x, w, b = _layer(SHAPES[model])
    a = reference.dense_forward(x, w, b, "relu", KERAS_SLOPE).astype(np.float32)
    grad = np.random.default_rng(1).standard_normal(a.shape, np.float32)
    relu = _core.ACTIVATIONS["relu"]
    if impl == "densefit":
        dw, db, dx = benchmark(_core.dense_backward, x, w, a, grad, relu, KERAS_SLOPE,
                                 True)
    else:
        dw, db, dx = benchmark(reference.dense_backward, x, w, a, grad, "relu",
                                 KERAS_SLOPE, True)
    assert dw.shape == w.shape and dx.shape == x.shape


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("batch", [32, 256])
def test_softmax_cross_entropy(benchmark, batch, impl):
    benchmark.group = f"sparse softmax CE from logits ({batch}, 10)"
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((batch, 10), np.float32) * 3
    labels = rng.integers(0, 10, batch).astype(np.int32)
    if impl == "densefit":
        value, _ = benchmark(_core.loss, _core.LOSSES["sparse_ce_logits"], logits, labels)
    else:
        value, _ = benchmark(reference.sparse_softmax_cross_entropy, logits, labels)
    assert np.isfinite(value)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("batch", [32, 256])
def test_binary_cross_entropy(benchmark, batch, impl):
    benchmark.group = f"BCE from logits ({batch}, 1)"
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((batch, 1), np.float32) * 3
    targets = rng.integers(0, 2, (batch, 1)).astype(np.float32)
    if impl == "densefit":
        value, _ = benchmark(_core.loss, _core.LOSSES["bce_logits"], logits, targets)
    else:
        value, _ = benchmark(reference.binary_cross_entropy_from_logits, logits, targets)
    assert np.isfinite(value)


# parameter counts of models A, B, C
ADAM_SIZES = {"A": 784 * 25 + 25 + 25 * 15 + 15 + 15 * 10 + 10,
              "B": 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10,
              "C": 784 * 2048 + 2048 + 2048 * 2048 + 2048 + 2048 * 10 + 10}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("model", ADAM_SIZES)
def test_adam(benchmark, model, impl):
    n = ADAM_SIZES[model]
    benchmark.group = f"adam {model} ({n} parameters)"
    rng = np.random.default_rng(0)
    g = rng.standard_normal(n, np.float32)

    def setup():
        return (np.ones(n, np.float32), g, np.zeros(n, np.float32), np.zeros(n, np.float32)), {}

    update = _core.adam_update if impl == "densefit" else reference.adam_update
    adam = {k: v for k, v in Adam().get_config().items()
            if k in ("learning_rate", "beta_1", "beta_2", "epsilon")}  # the rule's own
    benchmark.pedantic(lambda w, g, m, v: update(w, g, m, v, 1, **adam), setup=setup,
                       rounds=20)
