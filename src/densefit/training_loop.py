"""The epoch loop of ``fit``: epochs and their callbacks in Python, batches in C.

Each epoch runs as a few compiled calls (``_core.train_batches``), each sized
by a ``ChunkClock`` to take about ``CHUNK_SECONDS``, so Ctrl-C and the progress
bar stay responsive while Python costs tens of microseconds per call, not per
batch.  A callback with batch hooks, or a learning rate that is a Python
callable, makes every call one batch long.
"""
import time
import warnings

import numpy as np

from . import _core

# fit returns to Python about this often (seconds); the per-return cost is tens
# of microseconds
CHUNK_SECONDS = 0.1


class ChunkClock:
    """How many batches the next compiled call should run: about CHUNK_SECONDS of
    work judged from the last call, growing at most 4x per call, never above
    ``most`` (the progress bar's redraw interval)."""

    def __init__(self, most, per_batch):
        self.most, self.per_batch = most, per_batch
        self.size = 1 if per_batch else min(most, 8)

    def start(self):
        self.started = time.perf_counter()

    def ran(self, batches):
        """Record that the call since ``start`` ran ``batches`` batches (fewer than
        ``size`` when cut short by the epoch's end)."""
        if self.per_batch:
            return
        scale = CHUNK_SECONDS / max(time.perf_counter() - self.started, 1e-6)
        self.size = max(1, min(self.most, 4 * self.size, int(batches * scale)))


class EpochLogs:
    """Keras' epoch logs: the mean of the batches' loss (which the core writes into
    ``losses``) weighted by batch size, over the first ``done`` batches, and each
    compiled metric's value from the state the core adds the batches to
    (``metric_state``, zeroed by ``begin_epoch``); keys sorted by name as Keras
    sorts them.  A function of ``done`` alone, so chunked and per-batch runs log
    the same."""

    def __init__(self, n, batch_size, compiled):
        n_batches = -(-n // batch_size)
        self.rows = np.full(n_batches, batch_size, np.float64)
        self.rows[-1] = n - batch_size * (n_batches - 1)
        self.seen = np.cumsum(self.rows).tolist()  # whole numbers: exact
        self.losses = np.empty(n_batches)
        self.metrics = np.empty(n_batches)  # the core's single-metric output: unused
        self.compiled = compiled
        self.metric_state = compiled.new_state() if compiled.metrics else None
        self.start = 0
        self.combine = None  # data-parallel training: sums the metric state over the ranks

    def begin_epoch(self, start=0):
        """An epoch from batch ``start`` of a pass (not 0 only with steps_per_epoch)."""
        self.start = start
        if self.metric_state is not None:
            self.metric_state[:] = 0

    def epoch_end(self, done):
        """The logs of an epoch whose batches are done: as ``__call__``, the metric
        state first combined over the ranks when ``combine`` is set."""
        if self.combine is not None and self.metric_state is not None:
            self.combine(self.metric_state)
        return self(done)

    def __call__(self, done):
        start = self.start
        rows = self.rows[start:done]
        seen = self.seen[done - 1] - (self.seen[start - 1] if start else 0)
        logs = {"loss": float(self.losses[start:done].dot(rows)) / seen}
        if self.metric_state is None:
            return logs
        logs.update(self.compiled.results(self.metric_state))
        return dict(sorted(logs.items()))


class BatchRunner:
    """Trains batches of one epoch through the compiled core: the network, its
    work buffers, objective, optimizer state and data, fixed for a whole fit.
    Each call holds the model's ``StepLock`` exclusively (step_lock.py), so
    readers in other threads see the state between two calls."""

    reducer = None  # data-parallel training: a _core.GradientReducer (distributed.py)

    def __init__(self, core_parts, optimizer, batch_size, compiled, lock, steps_per_epoch=None):
        self.network, self.work, self.objective, self.state, self.data = core_parts
        self.optimizer, self.batch_size, self.lock = optimizer, batch_size, lock
        self.logs = EpochLogs(self.data.n, batch_size, compiled)
        self.n_batches = len(self.logs.losses)  # in a pass over the data
        self.steps_per_epoch = steps_per_epoch
        self.steps = min(steps_per_epoch or self.n_batches, self.n_batches)  # an epoch's most

    def epoch_end(self, start):
        """Where an epoch from batch ``start`` of a pass ends: ``steps_per_epoch``
        later or at the pass's end, as Keras' iterator over arrays (the next
        epoch goes on from there; a pass ended short of ``steps_per_epoch``
        starts a new one), with the "ran out of data" warning once a fit."""
        end = min(self.n_batches, start + self.steps)
        if self.steps_per_epoch and end - start < self.steps_per_epoch:
            left = self.n_batches - start
            warnings.warn(f"steps_per_epoch={self.steps_per_epoch} but a pass over x has only "
                          f"{left} batch{'es' if left > 1 else ''} of {self.batch_size} left: the "
                          f"epoch ends there and the next starts a new pass (as Keras' "
                          f"'Your input ran out of data')", UserWarning, stacklevel=5)
            self.steps_per_epoch = None  # said once
        return end

    def run(self, order, done, end):
        """Trains batches [done, end) of the epoch in ``order``; returns how many
        were applied (fewer when one's loss or step is not finite)."""
        with self.lock.stepping():
            try:
                # the optimizer's step count (and Nadam's u_product) as a callback left
                # them: unchanged, or restored from a backup (BackupAndRestore)
                self.state.iterations = self.optimizer.iterations
                if hasattr(self.optimizer, "u_product"):
                    self.state.u_product = self.optimizer.u_product
                if not self.optimizer.schedule_in_core:
                    # a callback's new rate, or a Python callable's for this batch
                    self.state.learning_rate = self.optimizer.learning_rate
                return _core.train_batches(self.network, self.work, self.objective, self.state,
                                           self.data, order, self.batch_size, done, end,
                                           self.logs.losses[done:], self.logs.metrics[done:],
                                           self.logs.metric_state, self.reducer)
            finally:
                self.optimizer.iterations = self.state.iterations
                if hasattr(self.optimizer, "u_product"):
                    self.optimizer.u_product = self.state.u_product

    def epoch_order(self, generator, shuffle):
        """The epoch's sample order: a permutation drawn from ``generator`` (the
        model's, saved with it: drawn under the lock) or the samples in order."""
        n = self.data.n
        if not shuffle:
            return np.arange(n, dtype=np.int64)
        with self.lock.stepping():
            return generator.permutation(n).astype(np.int64, copy=False)


def run_epochs(model, runner, callbacks, progress, epochs, initial_epoch, shuffle, validate):
    """Keras' fit loop from ``initial_epoch`` to ``epochs``; ``validate(epoch)`` gives
    the ``val_`` logs after each epoch ({} when not due; or is None).  Stops when a callback sets
    ``model.stop_training`` or a batch could not be applied."""
    # a Python learning-rate callable is evaluated before each batch, as a batch hook
    clock = ChunkClock(progress.chunk, callbacks.needs_batches or runner.optimizer.rate_per_batch)
    logs = {}
    model._initial_epoch = None
    callbacks.on_train_begin({})
    # a callback may move the start (BackupAndRestore resuming), as in Keras' fit
    initial_epoch = model._initial_epoch or initial_epoch
    start = 0  # the batch of the pass over the data the epoch starts at
    try:
        for epoch in range(initial_epoch, epochs):
            callbacks.on_epoch_begin(epoch, {})
            progress.begin_epoch(epoch, epochs)
            if start == 0:
                order = runner.epoch_order(model.seed_generator, shuffle)
            runner.logs.begin_epoch(start)
            done = _run_epoch(model, runner, callbacks, progress, clock, order, epoch,
                              (start, runner.epoch_end(start)))
            logs = runner.logs.epoch_end(done)
            if validate is not None and np.isfinite(logs["loss"]):
                logs.update(validate(epoch))
            progress.end_epoch(done - start, logs)
            start = done % runner.n_batches
            callbacks.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
    finally:  # also on KeyboardInterrupt: state is that of the last applied batch
        callbacks.on_train_end(logs)


def _run_epoch(model, runner, callbacks, progress, clock, order, epoch, span):
    """The batches ``[start, stop)`` of the pass (``span``) in chunks; returns
    where it stopped."""
    start, stop = span
    done = start
    while done < stop:
        end = min(stop, done + clock.size)
        if clock.per_batch:
            callbacks.on_train_batch_begin(done - start, {})
        clock.start()
        applied = runner.run(order, done, end)
        clock.ran(end - done)
        if applied < end - done:  # a non-finite loss or step: not applied
            done += applied + 1
            warn_not_applied(runner.logs.losses[done - 1], epoch, done - start)
            model.stop_training = True
            break
        done = end
        logs = runner.logs(done)
        if clock.per_batch:
            callbacks.on_train_batch_end(done - 1 - start, logs)
        progress.update(done - start, logs)
        if model.stop_training:  # set by a batch hook: end the epoch here, as Keras
            break
    return done


def warn_not_applied(loss, epoch, batch, stacklevel=5):
    what = (f"the loss became {loss}" if not np.isfinite(loss) else
            "the update would have made the weights, the moving statistics or the "
            "optimizer's state NaN or inf")
    warnings.warn(f"{what} at epoch {epoch + 1}, batch {batch}; training stopped before "
                  f"applying that batch (lower the learning rate or check the data)",
                  RuntimeWarning, stacklevel=stacklevel)
