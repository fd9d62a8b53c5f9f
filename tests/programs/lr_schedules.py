"""Learning-rate schedules as Keras' guides write them: a
LearningRateSchedule subclass (keras.io's "Customizing what happens in fit"
and the optimizers API page), ExponentialDecay, and the
LearningRateScheduler callback's docstring example (tf.math.exp -> np.exp)."""
import numpy as np

import densefit as keras


class MyLRSchedule(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, initial_learning_rate):
        self.initial_learning_rate = initial_learning_rate

    def __call__(self, step):
        return self.initial_learning_rate / (step + 1)


def scheduler(epoch, lr):
    if epoch < 10:
        return lr
    else:
        return lr * np.exp(-0.1)  # tf.math.exp(-0.1)


def main():
    model = keras.models.Sequential([keras.layers.Dense(10)])
    model.compile(keras.optimizers.SGD(), loss="mse")
    print(round(model.optimizer.learning_rate, 5))
    callback = keras.callbacks.LearningRateScheduler(scheduler)
    # the docstring's np.zeros(5) stops Keras 3 too ("Incompatible shapes: [5] vs. [5,10]")
    history = model.fit(np.arange(100).reshape(5, 20), np.zeros((5, 10)), epochs=15,
                        callbacks=[callback], verbose=0)
    after = round(float(model.optimizer.learning_rate), 5)

    lr_schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=1e-2, decay_steps=10000, decay_rate=0.9)
    optimizer = keras.optimizers.SGD(learning_rate=lr_schedule)
    decayed = [float(lr_schedule(step)) for step in (0, 10000, 20000)]

    x = np.random.default_rng(0).normal(size=(64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]])
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=MyLRSchedule(0.1)), loss="mse")
    custom = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    model2 = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(1)])
    model2.compile(optimizer=optimizer, loss="mse")
    model2.fit(x, y, epochs=1, verbose=0)
    return {"after": after, "epochs_run": len(history.history["loss"]), "decayed": decayed,
            "custom_loss": custom.history["loss"], "custom_step_lr": float(
                model.optimizer.learning_rate)}
