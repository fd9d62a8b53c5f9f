"""TensorFlow's "Classification on imbalanced data"
(tensorflow/docs site/en/tutorials/structured_data/imbalanced_data.ipynb), on
synthetic data of the credit-card set's shape (the original downloads it)."""
import os
import tempfile

import numpy as np

import densefit as keras

from . import _data

METRICS = [
    keras.metrics.BinaryCrossentropy(name="cross entropy"),
    keras.metrics.MeanSquaredError(name="Brier score"),
    keras.metrics.TruePositives(name="tp"),
    keras.metrics.FalsePositives(name="fp"),
    keras.metrics.TrueNegatives(name="tn"),
    keras.metrics.FalseNegatives(name="fn"),
    keras.metrics.BinaryAccuracy(name="accuracy"),
    keras.metrics.Precision(name="precision"),
    keras.metrics.Recall(name="recall"),
    keras.metrics.AUC(name="auc"),
    keras.metrics.AUC(name="prc", curve="PR"),
]
EPOCHS = 100
BATCH_SIZE = 2048


def make_model(train_features, metrics=METRICS, output_bias=None):
    if output_bias is not None:
        output_bias = keras.initializers.Constant(output_bias)
    model = keras.Sequential([
        keras.layers.Dense(16, activation="relu", input_shape=(train_features.shape[-1],)),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(1, activation="sigmoid", bias_initializer=output_bias),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss=keras.losses.BinaryCrossentropy(), metrics=metrics)
    return model


def main(epochs=20):
    x, y = _data.credit_card()
    n = len(x) * 3 // 4
    train_features, val_features = x[:n], x[n:]
    train_labels, val_labels = y[:n], y[n:]
    neg, pos = np.bincount(train_labels.astype(int))
    total = neg + pos
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_prc", verbose=1, patience=10, mode="max", restore_best_weights=True)
    model = make_model(train_features)
    model.summary()
    model.predict(train_features[:10])
    results = model.evaluate(train_features, train_labels, batch_size=BATCH_SIZE, verbose=0)
    print("Loss: {:0.4f}".format(results[0]))
    initial_bias = np.log([pos / neg])
    model = make_model(train_features, output_bias=initial_bias)
    biased_loss = model.evaluate(train_features, train_labels, batch_size=BATCH_SIZE,
                                 verbose=0)[0]
    initial_weights = os.path.join(tempfile.mkdtemp(), "initial.weights.h5")
    model.save_weights(initial_weights)

    model = make_model(train_features)
    model.load_weights(initial_weights)
    model.layers[-1].bias.assign([0.0])
    zero_bias_history = model.fit(train_features, train_labels, batch_size=BATCH_SIZE,
                                  epochs=epochs, validation_data=(val_features, val_labels),
                                  verbose=0)

    weight_for_0 = (1 / neg) * (total / 2.0)
    weight_for_1 = (1 / pos) * (total / 2.0)
    class_weight = {0: weight_for_0, 1: weight_for_1}
    weighted_model = make_model(train_features)
    weighted_model.load_weights(initial_weights)
    weighted_history = weighted_model.fit(
        train_features, train_labels, batch_size=BATCH_SIZE, epochs=epochs,
        callbacks=[early_stopping], validation_data=(val_features, val_labels),
        class_weight=class_weight, verbose=0)
    baseline_results = weighted_model.evaluate(val_features, val_labels,
                                               batch_size=BATCH_SIZE, verbose=0)
    named = dict(zip(weighted_model.metrics_names, baseline_results))
    return {"initial_loss": results[0], "biased_loss": biased_loss,
            "expected_biased_loss": float(-(pos / total) * np.log(pos / total)
                                          - (neg / total) * np.log(neg / total)),
            "zero_bias_keys": sorted(zero_bias_history.history),
            "weighted": named, "bias_after_assign": float(model.layers[-1].bias.numpy()[0])}
