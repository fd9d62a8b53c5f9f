"""keras.io's "Writing your own callbacks" guide
(guides/writing_your_own_callbacks.py): a Callback subclass printing logs'
keys, LossAndErrorPrintingCallback, EarlyStoppingAtMinLoss with
self.model.get_weights()/set_weights and stop_training, and
CustomLearningRateScheduler setting self.model.optimizer.learning_rate."""
import numpy as np

import densefit as keras

from . import _data


def get_model():
    model = keras.Sequential()
    model.add(keras.layers.Dense(1))
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
                  loss="mean_squared_error", metrics=["mean_absolute_error"])
    return model


class CustomCallback(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_begin(self, logs=None):
        keys = list(logs.keys())
        self.seen.append(("train_begin", keys))
        print("Starting training; got log keys: {}".format(keys))

    def on_epoch_begin(self, epoch, logs=None):
        keys = list(logs.keys())
        print("Start epoch {} of training; got log keys: {}".format(epoch, keys))

    def on_epoch_end(self, epoch, logs=None):
        keys = list(logs.keys())
        self.seen.append(("epoch_end", keys))
        print("End epoch {} of training; got log keys: {}".format(epoch, keys))

    def on_test_begin(self, logs=None):
        print("Start testing; got log keys: {}".format(list(logs.keys())))

    def on_predict_end(self, logs=None):
        self.seen.append(("predict_end", list(logs.keys())))

    def on_train_batch_end(self, batch, logs=None):
        keys = list(logs.keys())
        if batch == 0:
            self.seen.append(("train_batch_end", keys))
        print("...Training: end of batch {}; got log keys: {}".format(batch, keys))


class LossAndErrorPrintingCallback(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        print("The average loss for epoch {} is {:7.2f} "
              "and mean absolute error is {:7.2f}.".format(
                  epoch, logs["loss"], logs["mean_absolute_error"]))


class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
    def __init__(self, patience=0):
        super().__init__()
        self.patience = patience
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get("loss")
        if np.less(current, self.best):
            self.best = current
            self.wait = 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                print("Restoring model weights from the end of the best epoch.")
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


class CustomLearningRateScheduler(keras.callbacks.Callback):
    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.rates = []

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.model.optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        lr = self.model.optimizer.learning_rate
        scheduled_lr = self.schedule(epoch, lr)
        self.model.optimizer.learning_rate = scheduled_lr
        self.rates.append(float(self.model.optimizer.learning_rate))
        print(f"\nEpoch {epoch}: Learning rate is {float(np.array(scheduled_lr))}.")


LR_SCHEDULE = [(3, 0.05), (6, 0.01), (9, 0.005), (12, 0.001)]


def lr_schedule(epoch, lr):
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for i in range(len(LR_SCHEDULE)):
        if epoch == LR_SCHEDULE[i][0]:
            return LR_SCHEDULE[i][1]
    return lr


def main():
    (x_train, y_train), (x_test, y_test) = _data.mnist(1000, 1000)
    x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
    x_test = x_test.reshape(-1, 784).astype("float32") / 255.0
    x_train = x_train[:1000]
    y_train = y_train[:1000]
    x_test = x_test[:1000]
    y_test = y_test[:1000]

    model = get_model()
    custom = CustomCallback()
    model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0,
              validation_split=0.5, callbacks=[custom])
    res = model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[custom])
    res = model.predict(x_test, batch_size=128, callbacks=[custom])
    predictions = res

    model = get_model()
    model.fit(x_train, y_train, batch_size=64, epochs=2, verbose=0,
              callbacks=[LossAndErrorPrintingCallback()])
    res = model.evaluate(x_test, y_test, batch_size=128, verbose=0,
                         callbacks=[LossAndErrorPrintingCallback()])

    model = get_model()
    stopper = EarlyStoppingAtMinLoss()
    history = model.fit(x_train, y_train, batch_size=64, epochs=30, verbose=0,
                        callbacks=[LossAndErrorPrintingCallback(), stopper])

    model = get_model()
    scheduler = CustomLearningRateScheduler(lr_schedule)
    model.fit(x_train, y_train, batch_size=64, epochs=15, verbose=0,
              callbacks=[LossAndErrorPrintingCallback(), scheduler])
    return {"seen": custom.seen, "predictions": predictions.shape, "stopped_epoch": stopper.stopped_epoch,
            "epochs_run": len(history.history["loss"]), "rates": scheduler.rates}
