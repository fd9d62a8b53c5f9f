"""TensorFlow's "TensorFlow 2 quickstart for beginners"
(tensorflow/docs site/en/tutorials/quickstart/beginner.ipynb)."""
import numpy as np

import densefit as keras

from . import _data


def main(epochs=5):
    (x_train, y_train), (x_test, y_test) = _data.mnist()
    x_train, x_test = x_train / 255.0, x_test / 255.0

    model = keras.models.Sequential([
        keras.layers.Flatten(input_shape=(28, 28)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10)
    ])
    predictions = model(x_train[:1])
    probs = keras.activations.softmax(predictions)  # tf.nn.softmax(predictions).numpy()
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    first_loss = float(loss_fn(y_train[:1], predictions))  # loss_fn(...).numpy()
    model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=2)
    probability_model = keras.Sequential([model, keras.layers.Softmax()])
    p = probability_model(x_test[:5])
    return {"first_loss": first_loss, "probs_sum": float(np.sum(probs)),
            "accuracy": accuracy, "p_rows": np.sum(p, axis=1)}
