"""Data-parallel fits for tests/test_distributed.py: imported there to train in
one process, and run as ``mpiexec -n 2 python mpi_cases.py OUT`` to train
the same cases with ``distribute=MPIStrategy()``; each rank writes its weights
and History to ``OUT/rank<r>.npz``.  ``OUT/crash``: rank 1 exits mid-fit."""
import os
import sys

import numpy as np

import densefit as df


def _data(n, n_in, seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in)).astype(dtype)
    return rng, x


def adam_sparse(dtype=np.float32):
    """Adam with clipnorm, an l2 kernel regularizer, Dropout (the global rows'
    masks), sample weights, 203 rows in batches of 32 (the last of 11)."""
    rng, x = _data(203, 12, 1, dtype)
    y = rng.integers(0, 3, 203)
    model = df.Sequential([df.Input((12,), dtype=dtype),
                           df.layers.Dense(16, activation="relu", kernel_regularizer="l2"),
                           df.layers.Dropout(0.25, seed=3),
                           df.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=df.optimizers.Adam(0.01, clipnorm=1.0),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    fit = dict(batch_size=32, epochs=3, sample_weight=rng.uniform(0.2, 2, 203))
    return model, x, y, fit


def sgd_momentum(dtype=np.float64):
    """SGD with Nesterov momentum and global_clipnorm, MSE, an l1 bias and an
    activity regularizer, validation data, 50 rows in batches of 7 (the last
    of 1 row: one rank has none)."""
    rng, x = _data(50, 5, 2, dtype)
    y = rng.normal(size=(50, 2)).astype(dtype)
    model = df.Sequential([df.Input((5,), dtype=dtype),
                           df.layers.Dense(8, activation="tanh", bias_regularizer="l1",
                                           activity_regularizer=df.regularizers.l2(0.001)),
                           df.layers.Dense(2)])
    model.compile(optimizer=df.optimizers.SGD(0.05, momentum=0.9, nesterov=True,
                                              global_clipnorm=2.0),
                  loss="mse", metrics=["mae"])
    fit = dict(batch_size=7, epochs=2, validation_data=(x[:9], y[:9]))
    return model, x, y, fit


def rmsprop_binary(dtype=np.float32):
    """RMSprop, binary cross-entropy with class weights and AUC's confusion
    counts, no shuffle, 64 rows in batches of 16 (even)."""
    rng, x = _data(64, 4, 3, dtype)
    y = (x[:, 0] + 0.3 * rng.normal(size=64) > 0).astype(dtype)[:, None]
    model = df.Sequential([df.Input((4,), dtype=dtype), df.layers.Dense(6, activation="relu"),
                           df.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=df.optimizers.RMSprop(0.01), loss="binary_crossentropy",
                  metrics=["accuracy", df.metrics.AUC(name="auc")])
    fit = dict(batch_size=16, epochs=2, shuffle=False, class_weight={0: 1.0, 1: 2.5})
    return model, x, y, fit


CASES = {"adam_sparse": adam_sparse, "sgd_momentum": sgd_momentum,
         "rmsprop_binary": rmsprop_binary}


def start(name, seed=0):
    """Case ``name``'s model with its initial weights and shuffle generator set
    from ``seed``, its data and fit's arguments."""
    model, x, y, fit = CASES[name]()
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=0.5, size=w.shape) for w in model.get_weights()])
    model.seed_generator.bit_generator.state = np.random.default_rng(seed + 1).bit_generator.state
    return model, x, y, fit


def train(name, distribute=None):
    """Case ``name`` trained; returns (weights, History.history)."""
    model, x, y, fit = start(name)
    if distribute is not None and distribute.rank != 0:  # rank 0's must win
        model.set_weights([w + 1 for w in model.get_weights()])
        model.seed_generator.bit_generator.state = np.random.default_rng(99).bit_generator.state
    history = model.fit(x, y, verbose=0, distribute=distribute, **fit)
    return model.get_weights(), history.history


def _crash_after(batches):
    """A callback that ends this process abruptly after ``batches`` batches."""
    return df.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: os._exit(3) if batch + 1 >= batches else None)


def main(out):
    from densefit.distributed import MPIStrategy
    strategy = MPIStrategy(timeout=float(os.environ.get("DENSEFIT_TEST_TIMEOUT", "60")))
    if os.path.basename(out) == "crash":
        model, x, y, fit = start("adam_sparse")
        callbacks = [_crash_after(2)] if strategy.rank == 1 else []
        model.fit(x, y, verbose=0, distribute=strategy, callbacks=callbacks, **fit)
        return
    saved = {}
    for name in CASES:
        weights, history = train(name, strategy)
        saved.update({f"{name}/w{i}": w for i, w in enumerate(weights)})
        saved.update({f"{name}/h/{key}": np.array(values) for key, values in history.items()})
    np.savez(os.path.join(out, f"rank{strategy.rank}.npz"), **saved)


if __name__ == "__main__":
    main(sys.argv[1])
