"""keras.io's "Simple MNIST convnet" (examples/vision/mnist_convnet.py) in its
dense-only parts: scaling, keras.utils.to_categorical, categorical_crossentropy,
batch_size=128, validation_split=0.1, model.evaluate's score; the Conv2D and
MaxPooling2D blocks become Flatten + Dense (densefit is dense-only; see
test_programs for the MissingFeatureError those names raise)."""
import numpy as np

import densefit as keras
from densefit import layers

from . import _data

num_classes = 10
input_shape = (28, 28, 1)


def main(epochs=5):
    (x_train, y_train), (x_test, y_test) = _data.mnist(3000, 1000)
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    print("x_train shape:", x_train.shape)
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    model = keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ])
    model.summary()
    batch_size = 128
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                        validation_split=0.1, verbose=0)
    score = model.evaluate(x_test, y_test, verbose=0)
    print("Test loss:", score[0])
    print("Test accuracy:", score[1])
    return {"loss": score[0], "accuracy": score[1], "keys": sorted(history.history)}
