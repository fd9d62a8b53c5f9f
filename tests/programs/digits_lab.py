"""The ML specialization's "Neural Networks for Handwritten Digit Recognition,
Multiclass" lab (course 2, week 2): 400 features (20x20 images; here the
8x8 digits set, 64 features), Input(shape=(400,)), named layers, history's
loss, argmax of predictions and the softmax of one row."""
import numpy as np

import densefit as keras
from densefit.layers import Dense
from densefit.models import Sequential


def load_data():
    from densefit.datasets import load_digits  # stands in for the lab's X.npy, y.npy
    (x, y), _ = load_digits()
    return x.reshape(len(x), -1) / 16.0, y.reshape(-1, 1)


def main(epochs=40):
    X, y = load_data()
    keras.utils.set_random_seed(1234)
    model = Sequential([
        keras.Input(shape=(X.shape[1],)),
        Dense(25, activation="relu", name="L1"),
        Dense(15, activation="relu", name="L2"),
        Dense(10, activation="linear", name="L3")
    ], name="my_model")
    model.summary()
    [layer1, layer2, layer3] = model.layers
    W1, b1 = layer1.get_weights()
    W2, b2 = layer2.get_weights()
    W3, b3 = layer3.get_weights()
    print(f"W1 shape = {W1.shape}, b1 shape = {b1.shape}")
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  optimizer=keras.optimizers.Adam(learning_rate=0.001))
    history = model.fit(X, y, epochs=epochs, verbose=0)
    image_of_two = X[2]
    prediction = model.predict(image_of_two.reshape(1, X.shape[1]))
    prediction_p = keras.activations.softmax(prediction)  # tf.nn.softmax(prediction)
    yhat = np.argmax(prediction_p)
    accuracy = float(np.mean(np.argmax(model.predict(X), axis=1) == y[:, 0]))
    return {"first_loss": history.history["loss"][0], "last_loss": history.history["loss"][-1],
            "yhat": int(yhat), "label": int(y[2, 0]), "p_sum": float(np.sum(prediction_p)),
            "accuracy": accuracy}
