"""TensorFlow's "Basic regression: Predict fuel efficiency"
(tensorflow/docs site/en/tutorials/keras/regression.ipynb), on a synthetic
table of Auto MPG's shape (the original downloads it with pandas)."""
import numpy as np

import densefit as keras
from densefit import layers

from . import _data


def build_and_compile_model(norm):
    model = keras.Sequential([
        norm,
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(1)
    ])
    model.compile(loss="mean_absolute_error",
                  optimizer=keras.optimizers.Adam(0.001))
    return model


def main(epochs=60):
    x, y = _data.auto_mpg()
    n_train = int(0.8 * len(x))
    train_features, test_features = x[:n_train], x[n_train:]
    train_labels, test_labels = y[:n_train], y[n_train:]

    normalizer = keras.layers.Normalization(axis=-1)
    normalizer.adapt(np.array(train_features))
    first = np.array(train_features[:1])
    normalized_first = normalizer(first)  # .numpy() dropped (Porting from Keras)

    horsepower = np.array(train_features[:, 2])
    horsepower_normalizer = layers.Normalization(input_shape=[1, ], axis=None)
    horsepower_normalizer.adapt(horsepower)
    horsepower_model = keras.Sequential([
        horsepower_normalizer,
        layers.Dense(units=1)
    ])
    horsepower_model.predict(horsepower[:10])
    horsepower_model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.1),
                             loss="mean_absolute_error")
    history = horsepower_model.fit(train_features[:, 2], train_labels, epochs=epochs,
                                   verbose=0, validation_split=0.2)
    hp_mae = horsepower_model.evaluate(test_features[:, 2], test_labels, verbose=0)
    x_line = np.linspace(0.0, 250, 251)
    y_line = horsepower_model.predict(x_line)

    dnn_model = build_and_compile_model(normalizer)
    dnn_model.fit(train_features, train_labels, validation_split=0.2, verbose=0,
                  epochs=epochs)
    dnn_mae = dnn_model.evaluate(test_features, test_labels, verbose=0)
    test_predictions = dnn_model.predict(test_features).flatten()
    return {"normalized_first": normalized_first, "hp_mae": hp_mae, "dnn_mae": dnn_mae,
            "history_keys": sorted(history.history), "y_line": y_line.shape,
            "test_predictions": test_predictions.shape, "mean": normalizer.mean}
