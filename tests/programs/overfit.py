"""TensorFlow's "Overfit and underfit"
(tensorflow/docs site/en/tutorials/keras/overfit_and_underfit.ipynb), on
synthetic data of the HIGGS subset's shape (the original downloads it)."""
import densefit as keras
from densefit import layers, regularizers

from . import _data

FEATURES = 28
N_TRAIN = 1500
BATCH_SIZE = 100
STEPS_PER_EPOCH = N_TRAIN // BATCH_SIZE

lr_schedule = keras.optimizers.schedules.InverseTimeDecay(
    0.001, decay_steps=STEPS_PER_EPOCH * 1000, decay_rate=1, staircase=False)


def get_optimizer():
    return keras.optimizers.Adam(lr_schedule)


def get_callbacks(name):
    return [keras.callbacks.EarlyStopping(monitor="val_binary_crossentropy", patience=200)]


def compile_and_fit(model, name, train, validate, optimizer=None, max_epochs=10000):
    if optimizer is None:
        optimizer = get_optimizer()
    model.compile(optimizer=optimizer,
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.losses.BinaryCrossentropy(from_logits=True,
                                                           name="binary_crossentropy"),
                           "accuracy"])
    model.summary()
    history = model.fit(train[0], train[1], batch_size=BATCH_SIZE,
                        steps_per_epoch=STEPS_PER_EPOCH, epochs=max_epochs,
                        validation_data=validate, callbacks=get_callbacks(name), verbose=0)
    return history


def main(max_epochs=30):
    x, y = _data.higgs(n=N_TRAIN + 500, features=FEATURES)
    train, validate = (x[:N_TRAIN], y[:N_TRAIN]), (x[N_TRAIN:], y[N_TRAIN:])
    tiny_model = keras.Sequential([
        layers.Dense(16, activation="elu", input_shape=(FEATURES,)),
        layers.Dense(1)
    ])
    size_histories = {}
    size_histories["Tiny"] = compile_and_fit(tiny_model, "sizes/Tiny", train, validate,
                                             max_epochs=max_epochs)
    l2_model = keras.Sequential([
        layers.Dense(512, activation="elu", kernel_regularizer=regularizers.l2(0.0001),
                     input_shape=(FEATURES,)),
        layers.Dense(512, activation="elu", kernel_regularizer=regularizers.l2(0.0001)),
        layers.Dense(1)
    ])
    size_histories["l2"] = compile_and_fit(l2_model, "regularizers/l2", train, validate,
                                           max_epochs=max_epochs)
    dropout_model = keras.Sequential([
        layers.Dense(512, activation="elu", input_shape=(FEATURES,)),
        layers.Dropout(0.5),
        layers.Dense(512, activation="elu"),
        layers.Dropout(0.5),
        layers.Dense(1)
    ])
    size_histories["dropout"] = compile_and_fit(dropout_model, "regularizers/dropout", train,
                                                validate, max_epochs=max_epochs)
    return {name: h.history for name, h in size_histories.items()}
