"""The course notes' three networks on real MNIST, ported by changing the imports.

(1) sigmoid 25 -> 15 -> 1 with BinaryCrossentropy (here: digit 0 against the rest);
(2) relu 25 -> 15 -> softmax 10 with SparseCategoricalCrossentropy() (the version the
    notes warn is numerically worse: densefit computes it from the logits);
(3) relu 25 -> 15 -> linear 10 with SparseCategoricalCrossentropy(from_logits=True),
    Adam(1e-3), batch 32, 5 epochs: at least 95% test accuracy (the issue's bar;
    Keras reaches 95.4-95.9% on seeds 0-2).

The thresholds sit below what these runs reach here (seeds 0-3: (1) 99.2-99.5%
after 2 epochs, (2) 94.5-94.7% after 2 epochs, (3) 95.2-95.9% after 5 epochs);
with a fixed seed each run is deterministic.  About 9 MNIST epochs in all,
~0.2 s each.  Skipped when the MNIST files are not available (see conftest.py).
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from densefit import Sequential, activations
from densefit.layers import Dense
from densefit.losses import BinaryCrossentropy, SparseCategoricalCrossentropy
from densefit.optimizers import Adam
from densefit.utils import set_random_seed


@pytest.fixture(scope="module")
def binary_model(mnist):
    (x_train, y_train), _ = mnist
    set_random_seed(0)
    model = Sequential([Dense(25, activation="sigmoid"), Dense(15, activation="sigmoid"),
                        Dense(1, activation="sigmoid")])
    model.compile(loss=BinaryCrossentropy(), metrics=["accuracy"])  # Keras' default: RMSprop
    history = model.fit(x_train, (y_train == 0).astype(np.float32), epochs=2, verbose=0)
    return model, history


@pytest.fixture(scope="module")
def softmax_model(mnist):
    (x_train, y_train), _ = mnist
    set_random_seed(0)
    model = Sequential([Dense(25, activation="relu"), Dense(15, activation="relu"),
                        Dense(10, activation="softmax")])
    model.compile(optimizer=Adam(learning_rate=1e-3), loss=SparseCategoricalCrossentropy(),
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=2, verbose=0)
    return model, history


@pytest.fixture(scope="module")
def logits_model(mnist):
    (x_train, y_train), _ = mnist
    set_random_seed(0)
    model = Sequential([Dense(25, activation="relu"), Dense(15, activation="relu"),
                        Dense(10, activation="linear")])
    model.compile(optimizer=Adam(learning_rate=1e-3),
                  loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=5, verbose=0)
    return model, history


def test_mnist_shapes(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and 0 <= x_train.min() and x_train.max() <= 1
    assert set(np.unique(y_train)) == set(range(10))


def test_binary_sigmoid_network(mnist, binary_model):
    _, (x_test, y_test) = mnist
    model, history = binary_model
    assert [w.shape for w in model.get_weights()] == [(784, 25), (25,), (25, 15), (15,),
                                                      (15, 1), (1,)]
    assert model.optimizer.iterations == 2 * 1875
    assert history.history["loss"][1] < history.history["loss"][0]
    target = (y_test == 0).astype(np.float32)
    loss, accuracy = model.evaluate(x_test, target, verbose=0)
    assert accuracy >= 0.98
    assert np.isfinite(loss) and loss < 0.06
    probs = model.predict(x_test)
    assert probs.shape == (10000, 1) and ((probs > 0) & (probs < 1)).all()
    # the notes' decision rule, yhat = (p >= 0.5), gives the accuracy evaluate reports
    assert_allclose(((probs[:, 0] >= 0.5) == (y_test == 0)).mean(), accuracy, atol=1e-4)


def test_softmax_output_network(mnist, softmax_model):
    _, (x_test, y_test) = mnist
    model, history = softmax_model
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.93
    assert np.isfinite(loss)
    probs = model.predict(x_test)
    assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    assert (probs.argmax(axis=1) == y_test).mean() == accuracy


def test_logits_network_reaches_95_percent(mnist, logits_model):
    _, (x_test, y_test) = mnist
    model, history = logits_model
    assert model.optimizer.iterations == 5 * 1875
    assert len(history.history["loss"]) == 5
    assert np.all(np.diff(history.history["loss"]) < 0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.95


def test_logits_to_probabilities(mnist, logits_model):
    """The notes' follow-up: ``tf.nn.softmax(model(x))`` turns the logits into
    probabilities; densefit.activations.softmax does the same."""
    _, (x_test, y_test) = mnist
    model, _ = logits_model
    logits = model(x_test[:500])
    probs = activations.softmax(logits)
    assert probs.shape == (500, 10) and probs.dtype == np.float32
    assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)
    assert (probs >= 0).all()
    assert (probs.argmax(axis=1) == logits.argmax(axis=1)).all()
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert (activations.softmax(model(x_test)).argmax(axis=1) == y_test).mean() == accuracy


def test_softmax_version_trains_as_the_logits_version(softmax_model, logits_model):
    """Same seed, so the same initial weights and shuffles: a softmax output under
    SparseCategoricalCrossentropy() trains exactly as the from_logits=True network
    (its first two epochs' losses match), the stability the notes ask for."""
    _, h_softmax = softmax_model
    _, h_logits = logits_model
    assert_allclose(h_softmax.history["loss"], h_logits.history["loss"][:2], rtol=1e-5)
    assert_allclose(h_softmax.history["accuracy"], h_logits.history["accuracy"][:2],
                    atol=1e-4)
