"""TensorFlow's "Save and load models"
(tensorflow/docs site/en/tutorials/keras/save_and_load.ipynb).  The original's
``tf.train.latest_checkpoint`` reads TensorFlow checkpoints, which Keras 3's
``.weights.h5`` files are not: the latest file is found with ``glob``."""
import glob
import os
import tempfile

import densefit as keras

from . import _data


def create_model():
    model = keras.models.Sequential([
        keras.layers.Dense(512, activation="relu", input_shape=(784,)),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10)
    ])
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy()])
    return model


def main(epochs=10):
    (train_images, train_labels), (test_images, test_labels) = _data.mnist(1000, 1000)
    train_labels = train_labels[:1000]
    test_labels = test_labels[:1000]
    train_images = train_images[:1000].reshape(-1, 28 * 28) / 255.0
    test_images = test_images[:1000].reshape(-1, 28 * 28) / 255.0
    os.chdir(tempfile.mkdtemp())

    model = create_model()
    model.summary()
    checkpoint_path = "training_1/cp.weights.h5"
    cp_callback = keras.callbacks.ModelCheckpoint(filepath=checkpoint_path,
                                                  save_weights_only=True, verbose=1)
    model.fit(train_images, train_labels, epochs=epochs,
              validation_data=(test_images, test_labels), callbacks=[cp_callback], verbose=0)
    untrained = create_model()
    _, untrained_acc = untrained.evaluate(test_images, test_labels, verbose=2)
    untrained.load_weights(checkpoint_path)
    _, restored_acc = untrained.evaluate(test_images, test_labels, verbose=2)

    checkpoint_path = "training_2/cp-{epoch:04d}.weights.h5"
    batch_size = 32
    n_batches = len(train_images) / batch_size
    n_batches = int(n_batches) + (1 if n_batches % 1 else 0)  # math.ceil
    cp_callback = keras.callbacks.ModelCheckpoint(
        filepath=checkpoint_path, verbose=1, save_weights_only=True, save_freq=5 * n_batches)
    model = create_model()
    os.makedirs("training_2", exist_ok=True)  # Keras 3 needs it too (no TF checkpoint)
    model.save_weights(checkpoint_path.format(epoch=0))
    model.fit(train_images, train_labels, epochs=epochs, batch_size=batch_size,
              callbacks=[cp_callback], validation_data=(test_images, test_labels), verbose=0)
    saved = sorted(glob.glob("training_2/*.weights.h5"))
    latest = saved[-1]
    model = create_model()
    model.load_weights(latest)
    loss, latest_acc = model.evaluate(test_images, test_labels, verbose=2)

    model = create_model()
    model.fit(train_images, train_labels, epochs=epochs // 2, verbose=0)
    model.save("my_model.keras")
    new_model = keras.models.load_model("my_model.keras")
    new_model.summary()
    loss, new_acc = new_model.evaluate(test_images, test_labels, verbose=2)
    same = (new_model.predict(test_images) == model.predict(test_images)).all()
    return {"untrained_acc": untrained_acc, "restored_acc": restored_acc,
            "saved": [os.path.basename(p) for p in saved], "latest_acc": latest_acc,
            "new_acc": new_acc, "same_predictions": bool(same)}
