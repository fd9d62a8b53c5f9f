"""Whole-network timings: one training epoch of models A, B and C, and
inference, densefit beside the NumPy reference trainer in the same group.

    pytest benchmarks --benchmark-only -k end_to_end --benchmark-columns=median,rounds
"""
import numpy as np
import pytest

from densefit import Sequential, reference
from densefit.layers import Dense
from densefit.losses import SparseCategoricalCrossentropy
from densefit.optimizers import Adam
from densefit.utils import set_random_seed

from conftest import MODELS


def _model(hidden, n_in=784):
    set_random_seed(0)
    model = Sequential([Dense(h, activation="relu") for h in hidden] + [Dense(10)])
    model.compile(optimizer=Adam(1e-3), loss=SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.build((None, n_in))
    return model


def _reference(model):
    weights = model.get_weights()
    layers = [(weights[i], weights[i + 1], "relu") for i in range(0, len(weights) - 2, 2)]
    layers.append((weights[-2], weights[-1], "linear"))
    return reference.MLP(layers, "sparse_ce_logits")


@pytest.mark.parametrize("impl", ["densefit", "numpy"])
@pytest.mark.parametrize("name", MODELS)
def test_epoch(benchmark, mnist, name, impl):
    hidden, batch_size = MODELS[name]
    x, y, _, _ = mnist
    benchmark.group = f"epoch {name}: 784-{'-'.join(map(str, hidden))}-10, batch {batch_size}"
    model = _model(hidden)
    rounds = 1 if name == "C" else 3
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


@pytest.mark.parametrize("impl", ["densefit", "numpy"])
def test_predict_one(benchmark, mnist, impl):
    benchmark.group = "predict 1 sample, model A"
    model = _model(MODELS["A"][0])
    x = mnist[2][:1]
    out = benchmark(model.predict, x) if impl == "densefit" else benchmark(_reference(model).predict, x)
    assert out.shape == (1, 10)


@pytest.mark.parametrize("impl", ["densefit", "numpy"])
def test_predict_test_set(benchmark, mnist, impl):
    benchmark.group = "predict the test set, model A"
    model = _model(MODELS["A"][0])
    x = mnist[2]
    out = benchmark(model.predict, x) if impl == "densefit" else benchmark(_reference(model).predict, x)
    assert out.shape == (len(x), 10)
