"""The ML specialization's "Coffee Roasting in TensorFlow" lab (course 2,
week 1): Normalization + adapt on the data, np.tile, sigmoid layers,
get_layer(...).get_weights() and set_weights."""
import numpy as np

import densefit as keras
from densefit.layers import Dense
from densefit.models import Sequential

from . import _data


def main(epochs=10, tile=1000):
    X, Y = _data.coffee()
    print(f"Temperature Max, Min pre normalization: {np.max(X[:,0]):0.2f}, {np.min(X[:,0]):0.2f}")
    norm_l = keras.layers.Normalization(axis=-1)
    norm_l.adapt(X)  # learns mean, variance
    Xn = norm_l(X)
    print(f"Temperature Max, Min post normalization: {np.max(Xn[:,0]):0.2f}, {np.min(Xn[:,0]):0.2f}")
    Xt = np.tile(Xn, (tile, 1))
    Yt = np.tile(Y, (tile, 1))
    keras.utils.set_random_seed(1234)  # tf.random.set_seed(1234)
    model = Sequential([
        keras.Input(shape=(2,)),
        Dense(3, activation="sigmoid", name="layer1"),
        Dense(1, activation="sigmoid", name="layer2")
    ])
    model.summary()
    L1_num_params = 2 * 3 + 3
    L2_num_params = 3 * 1 + 1
    W1, b1 = model.get_layer("layer1").get_weights()
    W2, b2 = model.get_layer("layer2").get_weights()
    model.compile(loss=keras.losses.BinaryCrossentropy(),
                  optimizer=keras.optimizers.Adam(learning_rate=0.01))
    model.fit(Xt, Yt, epochs=epochs)
    W1, b1 = model.get_layer("layer1").get_weights()
    W2, b2 = model.get_layer("layer2").get_weights()
    model.get_layer("layer1").set_weights([W1, b1])
    model.get_layer("layer2").set_weights([W2, b2])
    X_test = np.array([[200, 13.9], [200, 17]])  # positive example, negative example
    X_testn = norm_l(X_test)
    predictions = model.predict(X_testn)
    yhat = (predictions >= 0.5).astype(int)
    accuracy = float(np.mean((model.predict(Xn) >= 0.5) == Y))
    return {"params": (L1_num_params, L2_num_params, model.count_params()),
            "shapes": (W1.shape, b1.shape, W2.shape, b2.shape), "yhat": yhat.ravel().tolist(),
            "accuracy": accuracy}
