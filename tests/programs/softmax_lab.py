"""The ML specialization's "Softmax function" and "Multi-class" labs
(course 2, week 2): make_blobs data, a linear output with
SparseCategoricalCrossentropy(from_logits=True), then tf.nn.softmax on the
predictions; layers read back with model.layers and get_weights."""
import numpy as np

import densefit as keras
from densefit.activations import linear, relu  # noqa: F401 (the lab imports them)
from densefit.layers import Dense
from densefit.models import Sequential

from . import _data


def main(epochs=10):
    X_train, y_train = _data.blobs()
    keras.utils.set_random_seed(1234)  # tf.random.set_seed(1234)
    preferred_model = Sequential([
        Dense(25, activation="relu"),
        Dense(15, activation="relu"),
        Dense(4, activation="linear")
    ])
    preferred_model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.Adam(0.001),
    )
    preferred_model.fit(X_train, y_train, epochs=epochs)
    p_preferred = preferred_model.predict(X_train)
    print(f"two example output vectors:\n {p_preferred[:2]}")
    print("largest value", np.max(p_preferred), "smallest value", np.min(p_preferred))
    sm_preferred = keras.activations.softmax(p_preferred)  # tf.nn.softmax(p).numpy()
    for i in range(5):
        print(f"{p_preferred[i]}, category: {np.argmax(p_preferred[i])}")

    keras.utils.set_random_seed(1234)
    model = Sequential([
        Dense(2, activation="relu", name="L1"),
        Dense(4, activation="linear", name="L2")
    ])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.Adam(0.01))
    model.fit(X_train, y_train, epochs=epochs * 20, verbose=0)
    l1 = model.get_layer("L1")
    W1, b1 = l1.get_weights()
    [layer1, layer2] = model.layers
    W2, b2 = layer2.get_weights()
    accuracy = float(np.mean(np.argmax(model.predict(X_train), axis=1) == y_train))
    return {"softmax_rows": np.sum(sm_preferred, axis=1), "shapes": (W1.shape, b1.shape,
                                                                     W2.shape, b2.shape),
            "preferred_accuracy": float(np.mean(np.argmax(p_preferred, 1) == y_train)),
            "accuracy": accuracy}
