"""A Sequential as a layer of another (Keras' ``Sequential([base, Softmax()])``):
not supported yet, and the error says what works instead."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from densefit import Sequential
from densefit.activations import softmax
from densefit.layers import Dense, Input, Softmax


def trained_model():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 5)).astype("float32"), rng.integers(0, 3, 40)
    model = Sequential([Input((5,)), Dense(8, activation="relu"), Dense(3)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    return model, x


def test_a_model_as_a_layer_is_refused_naming_what_works():
    model, x = trained_model()
    before = model.get_weights()
    with pytest.raises(TypeError, match=r"cannot be a layer of another Sequential yet.*"
                                        r"softmax\(model.predict\(x\)\)"):
        Sequential([model, Softmax()])
    outer = Sequential([Input((5,))])
    with pytest.raises(TypeError, match=f"model {model.name!r} cannot be a layer"):
        outer.add(model)
    assert outer.layers == []
    for a, b in zip(model.get_weights(), before):  # the inner model is untouched
        assert_allclose(a, b)


def test_the_alternatives_the_message_names_give_keras_probabilities():
    model, x = trained_model()
    logits = model.predict(x, verbose=0)
    probabilities = softmax(logits)
    assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-6)
    assert_allclose(probabilities, np.exp(logits) / np.exp(logits).sum(1, keepdims=True),
                    rtol=1e-5)
    copy = Sequential([Input((5,)), *[type(layer).from_config(layer.get_config())
                                      for layer in model.layers], Softmax()])
    copy.set_weights(model.get_weights())
    assert_allclose(copy.predict(x, verbose=0), probabilities, rtol=1e-5, atol=1e-7)
    assert_allclose(copy(x), probabilities, rtol=1e-5, atol=1e-7)
