"""TensorFlow's "Basic classification: Classify images of clothing"
(tensorflow/docs site/en/tutorials/keras/classification.ipynb); MNIST's
files stand in for Fashion MNIST's (same shapes)."""
import numpy as np

import densefit as keras

from . import _data


def main(epochs=10):
    (train_images, train_labels), (test_images, test_labels) = _data.mnist()
    train_images = train_images / 255.0
    test_images = test_images / 255.0
    model = keras.Sequential([
        keras.layers.Flatten(input_shape=(28, 28)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10)
    ])
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(train_images, train_labels, epochs=epochs, verbose=0)
    test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=2)
    probability_model = keras.Sequential([model, keras.layers.Softmax()])
    predictions = probability_model.predict(test_images)
    img = test_images[1]
    img = np.expand_dims(img, 0)
    predictions_single = probability_model.predict(img)
    return {"accuracy": test_acc, "first": int(np.argmax(predictions[0])),
            "single": int(np.argmax(predictions_single[0])), "label1": int(test_labels[1])}
