"""Data-parallel fits for tests/test_distributed.py: imported there to train in
one process, and run as ``mpiexec -n 2 python mpi_cases.py OUT`` to train
the same cases with ``distribute=MPIStrategy()``; each rank writes its weights
and History to ``OUT/rank<r>.npz``.  ``OUT/crash``: rank 1 exits mid-fit;
``OUT/early``: rank 1 exits before fit; ``OUT/shard``: the SHARD_CASES with
``MPIStrategy(data="shard")``, rank r passing rows r::2; ``OUT/sigterm``: rank
1 sends rank 0 a SIGTERM (as Open MPI's mpirun would) after 2 steps."""
import signal
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


def adam_whole(dtype=np.float32):
    """adam_sparse with a batch larger than the data: all of it each epoch (on
    shards of 102 and 101 rows: fit cuts it to 204 on one rank, 202 on the
    other, and shard mode to the smaller shard's 202)."""
    model, x, y, fit = adam_sparse(dtype)
    return model, x, y, {**fit, "batch_size": 1001}


CASES = {"adam_sparse": adam_sparse, "sgd_momentum": sgd_momentum,
         "rmsprop_binary": rmsprop_binary}
# trained on shards only
SHARD_ONLY = {"adam_whole": adam_whole}


def start(name, seed=0):
    """Case ``name``'s model with its initial weights and shuffle generator set
    from ``seed``, its data and fit's arguments."""
    model, x, y, fit = {**CASES, **SHARD_ONLY}[name]()
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


# the cases trained on shards (their batch sizes even); sgd_momentum's 7 is refused
SHARD_CASES = ("adam_sparse", "rmsprop_binary", "adam_whole")


def _shard_fit(fit, rows):
    """fit's arguments with the per-row ones cut to ``rows``."""
    return {**fit, **({"sample_weight": fit["sample_weight"][rows]}
                      if "sample_weight" in fit else {})}


def train_shard(name, strategy):
    """Case ``name`` trained with each rank passing its rows rank::size."""
    model, x, y, fit = start(name)
    rows = slice(strategy.rank, None, strategy.size)
    history = model.fit(x[rows], y[rows], verbose=0, distribute=strategy,
                        **_shard_fit(fit, rows))
    return model.get_weights(), history.history


def train_interleaved(name, size):
    """What ``train_shard`` on ``size`` ranks computes, in one process: each
    epoch, every rank's shard order as shard mode draws it (``shard_order``, cut
    to the smallest shard), global batch k made of every rank's local batch k
    in rank order, trained without shuffling one epoch a fit."""
    from densefit.distributed import shard_order
    model, x, y, fit = start(name)
    epochs, shuffle, batch = fit.pop("epochs"), fit.pop("shuffle", True), fit["batch_size"]
    shards = [np.arange(len(x))[rank::size] for rank in range(size)]
    rows = min(len(shard) for shard in shards)
    local = min(batch, rows * size) // size
    history = {}
    for epoch in range(epochs):
        seed = int(model.seed_generator.integers(2 ** 63)) if shuffle else None
        orders = [shard[shard_order(seed, rank, len(shard))[:rows]] if shuffle else shard[:rows]
                  for rank, shard in enumerate(shards)]
        order = np.concatenate([o[start:start + local] for start in range(0, rows, local)
                                for o in orders])
        logs = model.fit(x[order], y[order], verbose=0, shuffle=False, epochs=1,
                         **_shard_fit({k: v for k, v in fit.items()}, order)).history
        for key, values in logs.items():
            history.setdefault(key, []).extend(values)
    return model.get_weights(), history


def _crash_after(batches):
    """A callback that ends this process abruptly after ``batches`` batches."""
    return df.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: os._exit(3) if batch + 1 >= batches else None)


def _terminate_after(batches, pid):
    """A callback that sends ``pid`` a SIGTERM after ``batches`` batches."""
    return df.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: os.kill(pid, signal.SIGTERM)
        if batch + 1 == batches else None)


def main(out):
    from densefit.distributed import MPIStrategy
    strategy = MPIStrategy(timeout=float(os.environ.get("DENSEFIT_TEST_TIMEOUT", "60")))
    mode = os.path.basename(out)
    if mode in ("crash", "early", "sigterm"):
        model, x, y, fit = start("adam_sparse")
        if mode == "early" and strategy.rank == 1:
            os._exit(3)
        # the ranks start fit together (its short timeout then times fit alone)
        pids = strategy.comm.allgather(os.getpid()) if mode != "early" else None
        stop = _terminate_after(2, pids[0]) if mode == "sigterm" else _crash_after(2)
        callbacks = [stop] if strategy.rank == 1 else []
        model.fit(x, y, verbose=0, distribute=strategy, callbacks=callbacks, **fit)
        return
    saved = {}
    if mode == "shard":
        strategy = MPIStrategy(timeout=strategy.timeout, data="shard")
        try:
            train_shard("sgd_momentum", strategy)
        except ValueError as error:
            saved["refused"] = np.array(str(error))
    for name in SHARD_CASES if mode == "shard" else CASES:
        weights, history = (train_shard if mode == "shard" else train)(name, strategy)
        saved.update({f"{name}/w{i}": w for i, w in enumerate(weights)})
        saved.update({f"{name}/h/{key}": np.array(values) for key, values in history.items()})
    np.savez(os.path.join(out, f"rank{strategy.rank}.npz"), **saved)


if __name__ == "__main__":
    main(sys.argv[1])
