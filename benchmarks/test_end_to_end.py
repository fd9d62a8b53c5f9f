"""Whole-network timings: one training epoch of models A, B, C and D, and
inference, densefit beside its peers in the same group.

The peers: "numpy", the readable NumPy reference trainer (densefit.reference.MLP,
from the densefit model's own initial weights); then, built by compare.build()
(one definition of each peer, shared with compare.py), "numpy-careful"
(careful_numpy.py, the fast hand-written NumPy loop), and "sklearn", "torch" and
"keras" when scikit-learn, PyTorch or TensorFlow/Keras are installed (each is
skipped otherwise).  compare.build() peers are warmed up by one fit on
compare.WARMUP_ROWS rows before they are timed, as compare.py does.  Model D
(B with BatchNormalization and Dropout after each hidden layer) is built by
densefit, PyTorch and Keras only (compare.supports): the other cells skip, and
densefit's skips until densefit.layers has those layers.

    pytest benchmarks --benchmark-only -k end_to_end --benchmark-columns=median,rounds

Everything runs on one thread, as the issue's targets are stated: PyTorch and
Keras through compare.build(threads=1), densefit and the BLAS-based peers (both
NumPy trainers, scikit-learn) under a threadpoolctl limit for this module.

The model C epochs (one round each) take tens of seconds per peer: add
`-k "end_to_end and not C-"` to leave them out, or `-k "end_to_end and (densefit or numpy)"`
to leave out scikit-learn, PyTorch and Keras.
"""
import numpy as np
import pytest

from densefit import reference
from densefit.activations import LEAKY_RELU_SLOPE

import compare
from conftest import MODELS

@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    """BLAS on one thread for densefit and the NumPy and scikit-learn peers."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


# compare.build() makes these; densefit and "numpy" are made here, as before
PEERS = [p for p in compare.PEERS if p not in ("densefit", "numpy")]
IMPLS = ["densefit", "numpy", *PEERS]


def _reference(model):
    weights = model.get_weights()
    layers = [(weights[i], weights[i + 1], "relu") for i in range(0, len(weights) - 2, 2)]
    layers.append((weights[-2], weights[-1], "linear"))
    return reference.MLP(layers, "sparse_ce_logits", False, LEAKY_RELU_SLOPE,
                         **model.optimizer.get_config())


def _peer(impl, net, x, y):
    """compare.build()'s (epoch, predict) for one peer on one thread, after one
    warm-up fit (tracing, lazy init; scikit-learn must fit before it predicts).
    Skips when the peer's library is not installed."""
    for module in compare.PEER_MODULES.get(impl, ()):
        pytest.importorskip(module)
    epoch, predict = compare.build(impl, net, threads=1)
    epoch(x[:compare.WARMUP_ROWS], y[:compare.WARMUP_ROWS], net.batch)
    return epoch, predict


def _predictor(impl, mnist):
    """The predict function of model A for one impl."""
    net = MODELS["A"]
    if impl in PEERS:
        return _peer(impl, net, mnist[0], mnist[1])[1]
    model = compare.densefit_model(net)
    return model.predict if impl == "densefit" else _reference(model).predict


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", MODELS)
def test_epoch(benchmark, mnist, name, impl):
    net = MODELS[name]
    batch_size = net.batch
    x, y, _, _ = mnist
    benchmark.group = f"epoch {net.describe(name)}"
    if not compare.supports(impl, net):
        pytest.skip(f"{net.shape()}: {compare.unbuilt(impl, net)}")
    rounds = 1 if name == "C" else 3
    if impl in PEERS:
        epoch, predict = _peer(impl, net, x, y)
        benchmark.pedantic(epoch, args=(x, y, batch_size), rounds=rounds)
        assert np.isfinite(np.asarray(predict(x[:100]))).all()
        return
    model = compare.densefit_model(net)
    if impl == "densefit":
        history = benchmark.pedantic(model.fit, args=(x, y),
                                     kwargs=dict(epochs=1, batch_size=batch_size, verbose=0),
                                     rounds=rounds)
        assert np.isfinite(history.history["loss"][0])
    else:
        mlp = _reference(model)
        order = np.random.default_rng(0).permutation(len(x))
        losses = benchmark.pedantic(mlp.fit_epoch, args=(x, y, batch_size, order), rounds=rounds)
        assert np.isfinite(losses).all()


@pytest.mark.parametrize("impl", IMPLS)
def test_predict_one(benchmark, mnist, impl):
    benchmark.group = "predict 1 sample, model A"
    predict = _predictor(impl, mnist)
    out = benchmark(predict, mnist[2][:1])
    assert np.asarray(out).shape == (1, 10)


@pytest.mark.parametrize("impl", IMPLS)
def test_predict_test_set(benchmark, mnist, impl):
    benchmark.group = "predict the test set, model A"
    predict = _predictor(impl, mnist)
    x = mnist[2]
    out = benchmark(predict, x)
    assert np.asarray(out).shape == (len(x), 10)
