"""Data that does not fit in memory: fit, evaluate and predict on batches from a
Python generator or iterator, or a ``PyDataset`` (Keras 3's
``keras.utils.PyDataset``, alias ``Sequence``), streamed into the compiled core.

Each batch is checked as arrays are (data_adapter.py: shapes, dtype range,
NaN/inf, label range; messages name the batch) and copied, in the model's
dtype, into a block of consecutive batches of one size held in buffers reused
from call to call; one ``_core.train_batches`` call trains the whole block.
Fetching a batch (the user's code, then the checks) is Python work per batch;
the training is not.

Epochs follow Keras 3's ``EpochIterator`` (``batches.py``'s ``Batches``).
"""
import contextlib
import math
import warnings

import numpy as np

from . import _core, inference
from . import callbacks as callbacks_module
from .batches import PyDataset, Sequence, is_stream  # noqa: F401  (the names users meet)
from .batches import Batches, unpack, user_stacklevel
from .progress import Progress
from .training_loop import BatchRunner, ChunkClock, warn_not_applied

# a block of batches trained (or evaluated) in one compiled call holds at most
# this many bytes of inputs (or one batch, when a batch alone is larger)
BLOCK_BYTES = 1 << 22


class Block:
    """Reusable buffers for a run of checked batches: inputs, targets (int32 labels
    or a dense matrix) and weights, grown (never shrunk) as batches need.  For
    training the run's batches have one size (``uniform``); for evaluation any."""

    def __init__(self, network, labels, uniform):
        self.network, self.labels, self.uniform = network, labels, uniform
        self.x = self.y = self.w = self.order = None
        self.clear()

    def clear(self):
        self.rows = self.count = 0
        self.size, self.weighted, self.ignore_class = None, False, None

    def takes(self, rows, most):
        """Whether a batch of ``rows`` joins the run (of at most ``most`` batches)."""
        if self.count == 0:
            return True
        if self.uniform and (rows != self.size or self.count >= most):
            return False
        return (self.rows + rows) * self.x[0].nbytes <= BLOCK_BYTES

    def add(self, data):
        """Copies a checked batch (a ``_core.Dataset``) after the run's rows."""
        rows, end = data.n, self.rows + data.n
        self._reserve(end)
        self.x[self.rows:end] = data.x
        self.y[self.rows:end] = data.y
        if data.sample_weight is not None:
            if not self.weighted:  # the run's batches so far weigh 1
                self.w[:self.rows] = 1
            self.w[self.rows:end] = data.sample_weight
        elif self.weighted:
            self.w[self.rows:end] = 1
        self.weighted = self.weighted or data.sample_weight is not None
        if data.labels and data.ignore_class is not None:
            self.ignore_class = data.ignore_class
        self.size = self.size or rows
        self.rows, self.count = end, self.count + 1

    def _reserve(self, rows):
        if self.x is not None and len(self.x) >= rows:
            return
        net = self.network
        most = BLOCK_BYTES // (net.units[0] * np.dtype(net.dtype).itemsize)
        rows = max(rows, min(2 * len(self.x), most) if self.x is not None else 0)
        old = (self.x, self.y, self.w)
        self.x = np.empty((rows, net.units[0]), net.dtype)
        self.y = (np.empty(rows, np.int32) if self.labels else
                  np.empty((rows, net.units[-1]), net.dtype))
        self.w = np.empty(rows, net.dtype)
        self.order = np.arange(rows, dtype=np.int64)
        if old[0] is not None:  # a run being gathered keeps its rows
            for new, kept in zip((self.x, self.y, self.w), old):
                new[:self.rows] = kept[:self.rows]

    def dataset(self):
        """The run as a ``_core.Dataset`` over the buffers (no copy of x or y)."""
        rows = self.rows
        return _core.Dataset(self.network, self.x[:rows], self.y[:rows], self.labels,
                             copy=False, ignore_class=self.ignore_class,
                             sample_weight=self.w[:rows] if self.weighted else None)


class _Ready:
    """A batch that passed ``Feeder.ready``'s screen: the fields of a ``_core.Dataset``
    that ``Block.add`` reads."""
    labels, ignore_class, sample_weight = True, None, None

    def __init__(self, x, y):
        self.x, self.y, self.n = x, y, len(x)


class Feeder:
    """Gathers checked batches of one epoch into a ``Block``: the batches after a
    failing one (the source raised, or a batch failed its checks) are never
    read, and the error is raised after the batches before it were used."""

    def __init__(self, model, uniform, class_weight=None):
        self.model, self.class_weight = model, class_weight
        self.block = Block(model._network, model.loss.labels, uniform)
        self.pending, self.error = None, None
        network = model._network
        self.screens = (model.loss.labels and model.loss.ignored_label is None
                        and class_weight is None)
        self.shape, self.dtype, self.classes = network.units[0], network.dtype, network.units[-1]

    def checked(self, index, batch):
        """Batch ``index`` as a ``_core.Dataset`` checked for the model."""
        x, y, weight = unpack(batch, index)
        if weight is None and self.screens and (ready := self.ready(x, y)) is not None:
            return ready
        where = f"of batch {index}"
        return self.model._dataset(x, y, f"x {where}", f"y {where}", weight, self.class_weight)

    def ready(self, x, y):
        """The common batch, screened in a few microseconds: inputs already a
        C-contiguous array of the model's dtype and width, finite, and integer
        labels in range (a ``_Ready``); else None, and the full checks of
        data_adapter.py (which word the messages) run instead."""
        if not (type(x) is np.ndarray and type(y) is np.ndarray and x.dtype == self.dtype
                and x.ndim == 2 and x.shape[1] == self.shape and x.flags.c_contiguous
                and y.ndim == 1 and y.dtype.kind in "iu" and len(y) == len(x) > 0):
            return None
        if y.min() < 0 or y.max() >= self.classes or _core.first_nonfinite_row(x) >= 0:
            return None
        return _Ready(x, y)

    def fill(self, batches, most):
        """The next run of batches from the ``batches`` iterator of ``(index, batch)``
        (empty at the epoch's end); ``self.error`` holds what stopped it early."""
        block = self.block
        block.clear()
        while self.error is None:
            if self.pending is None:
                try:
                    item = next(batches, None)
                    if item is None:
                        break
                    self.pending = self.checked(*item)
                except Exception as e:  # raised after the batches before it are used
                    self.error = e
                    break
            if not block.takes(self.pending.n, most):
                break
            block.add(self.pending)
            self.pending = None
        return block

    def raise_error(self):
        if self.error is not None:
            error, self.error = self.error, None
            raise error


class StreamLogs:
    """Keras' epoch logs over streamed batches: the mean of the batches' losses
    weighted by their sizes, and the metrics from the state the core adds to."""

    def __init__(self, compiled):
        self.compiled = compiled
        self.metric_state = compiled.new_state() if compiled.metrics else None
        self.losses = self.metrics = np.empty(0)
        self.begin_epoch()

    def begin_epoch(self):
        self.loss_sum = self.seen = 0.0
        if self.metric_state is not None:
            self.metric_state[:] = 0

    def reserve(self, count):
        if len(self.losses) < count:
            self.losses, self.metrics = np.empty(2 * count), np.empty(2 * count)

    def add(self, count, size):
        """Records ``count`` batches of ``size`` rows whose losses the core wrote."""
        self.loss_sum += float(self.losses[:count].sum()) * size
        self.seen += count * size

    def __call__(self):
        logs = {"loss": self.loss_sum / self.seen}
        if self.metric_state is None:
            return logs
        logs.update(self.compiled.results(self.metric_state))
        return dict(sorted(logs.items()))


class StreamRunner(BatchRunner):
    """``BatchRunner.run`` over one ``Block`` at a time: the block's Dataset, its
    batch size and a workspace large enough for it replace the array path's
    fixed data (``BatchRunner.__init__``, which sizes these from arrays, is not
    called)."""

    def __init__(self, model):
        self.model, self.network = model, model._network
        self.objective, self.state = model._compiled.objective, model._optimizer_state()
        self.optimizer, self.lock = model.optimizer, model._step_lock
        self.logs = StreamLogs(model._compiled)
        self.work = self.data = self.batch_size = None

    def train(self, block):
        """Trains the block's batches; returns how many were applied."""
        if self.work is None or self.work.capacity < block.size:
            self.release()
            self.work = self.model._workspaces.take(self.network, block.size, block.labels,
                                                    training=True)
        self.data, self.batch_size = block.dataset(), block.size
        self.logs.reserve(block.count)
        applied = self.run(block.order[:block.rows], 0, block.count)
        self.logs.add(min(applied + 1, block.count), block.size)
        return applied

    def release(self):
        if self.work is not None:
            self.model._workspaces.give(self.work)
            self.work = None


def fit(model, x, epochs, verbose, callbacks, validation_data, shuffle,
        initial_epoch, class_weight, validation_options, validator):
    """``fit`` on a stream ``x`` (the caller checked that Keras' arguments for
    arrays are absent); ``validator(validation_data, validation_batch_size)``
    makes the ``validate(epoch)`` of array validation data."""
    steps, val_batch, due, val_steps = validation_options
    source = Batches(x, "x", steps, shuffle, model.seed_generator)
    _build(model, source)
    callbacks = callbacks_module.CallbackList(callbacks, model=model)
    history = callbacks_module.History()
    callbacks.append(history)
    validate = (stream_validator(model, validation_data, val_steps, due)
                if is_stream(validation_data) else validator(validation_data, val_batch))
    runner = StreamRunner(model)
    model.stop_training, model.history = False, history
    try:
        feeder = Feeder(model, True, class_weight)
        run_stream_epochs(model, runner, feeder, source, callbacks,
                          Progress(source.steps_shown, verbose), (initial_epoch, epochs),
                          validate)
    finally:
        runner.release()
    return history


def _build(model, source):
    """Builds the model on the first batch's inputs (an empty source is an error)."""
    x = unpack(source.first(), 0)[0]
    model._model_inputs(x, "x of batch 0", check_finite=False)


def run_stream_epochs(model, runner, feeder, source, callbacks, progress, epochs, validate):
    """Keras' fit loop over ``source``'s epochs from ``epochs = (initial, end)``: as
    ``training_loop.run_epochs``, and stops after an epoch in which a generator
    ran out of data (or before one it has none for), as Keras' warning says."""
    clock = ChunkClock(progress.chunk, callbacks.needs_batches or runner.optimizer.rate_per_batch)
    logs = {}
    model._initial_epoch = None
    callbacks.on_train_begin({})
    initial_epoch = model._initial_epoch or epochs[0]
    try:
        for epoch in range(initial_epoch, epochs[1]):
            if source.exhausted():
                break
            callbacks.on_epoch_begin(epoch, {})
            progress.begin_epoch(epoch, epochs[1])
            runner.logs.begin_epoch()
            done = _stream_epoch(model, runner, feeder, source, callbacks, progress, clock,
                                 epoch)
            logs = runner.logs()
            if validate is not None and np.isfinite(logs["loss"]):
                logs.update(validate(epoch))
            progress.end_epoch(done, logs)
            callbacks.on_epoch_end(epoch, logs)
            if model.stop_training or source.ran_out:
                break
    finally:  # also on an error from the source: the model is as after the last batch applied
        callbacks.on_train_end(logs)


def _stream_epoch(model, runner, feeder, source, callbacks, progress, clock, epoch):
    """One epoch's batches, a block per compiled call; returns how many ran."""
    done = 0
    with contextlib.closing(source.epoch()) as batches:
        while True:
            block = feeder.fill(batches, clock.size)
            if block.count == 0:
                break
            if clock.per_batch:
                callbacks.on_train_batch_begin(done, {})
            clock.start()
            applied = runner.train(block)
            clock.ran(block.count)
            if applied < block.count:  # a non-finite loss or step: not applied
                done += applied + 1
                warn_not_applied(runner.logs.losses[applied], epoch, done,
                                 stacklevel=user_stacklevel() + 1)
                model.stop_training = True
                return done
            done += block.count
            logs = runner.logs()
            if clock.per_batch:
                callbacks.on_train_batch_end(done - 1, logs)
            progress.update(done, logs)
            if model.stop_training:
                break
        feeder.pending = None
    feeder.raise_error()
    return done


def evaluate_stream(model, source, caller="evaluate", what="loss"):
    """The logs (loss and metrics) over the batches of one epoch of ``source``
    (a ``Batches``), gathered into blocks of any batch sizes."""
    network, compiled = model._network, model._compiled
    state = compiled.new_state()
    feeder = Feeder(model, False)
    loss_sum, rows = 0.0, 0
    with contextlib.closing(source.epoch()) as batches:
        while (block := feeder.fill(batches, math.inf)).count:
            data = block.dataset()
            work = model._workspaces.take(network, min(data.n, inference.DEFAULT_BATCH),
                                          data.labels, training=False)
            try:
                with model._step_lock.reading():
                    loss, _ = _core.evaluate(network, work, compiled.objective, data, state)
            finally:
                model._workspaces.give(work)
            loss_sum, rows = loss_sum + loss, rows + data.n
    feeder.raise_error()
    if rows == 0:
        raise ValueError(f"{source.name} has no batches left to {caller} on: {source.advice}")
    logs = {"loss": loss_sum / rows}
    if not math.isfinite(logs["loss"]):
        inference.warn_nonfinite_loss(caller, what, logs["loss"], network.dtype,
                                      user_stacklevel())
    logs.update(compiled.results(state))
    return dict(sorted(logs.items()))


def stream_validator(model, validation_data, validation_steps, due):
    """fit's ``validate(epoch)`` over a stream: ``validation_steps`` batches per
    validation (all without it), a PyDataset's from its first each time, as
    Keras', a generator's from where the last validation left off (Keras
    replays the two batches it peeked at first, then goes on)."""
    source = Batches(validation_data, "validation_data", validation_steps, False)

    def validate(epoch):
        if not due(epoch + 1) or source.exhausted():  # a used-up generator: warned once
            return {}
        source.restart()
        return {f"val_{k}": v for k, v in evaluate_stream(
            model, source, "fit", "validation loss").items()}
    return validate


def evaluate(model, x, steps):
    """``evaluate`` on a stream ``x``: ``steps`` batches, or all it yields."""
    source = Batches(x, "x", steps, False)
    _build(model, source)
    return evaluate_stream(model, source)


def predict(model, x, steps, capacity):
    """``predict`` on a stream of inputs (arrays, or tuples whose first item is
    the inputs): ``steps`` batches, or all it yields; the outputs concatenated."""
    source = Batches(x, "x", steps, False)
    _build(model, source)
    outputs = []
    with contextlib.closing(source.epoch()) as batches:
        for index, batch in batches:
            inputs = model._model_inputs(unpack(batch, index)[0], f"x of batch {index}",
                                         check_finite=False)
            outputs.append(model._outputs(inputs, capacity, "predict"))
    return np.concatenate(outputs)


def refuse_array_arguments(x, y, sample_weight, validation_split, batch_size):
    """Keras' refusals (and warning) for arguments that a stream ``x`` carries itself."""
    kind = "PyDataset" if isinstance(x, PyDataset) else "generator"
    for value, arg, what in ((y, "y", "the targets"),
                             (sample_weight, "sample_weight", "the sample weights")):
        if value is not None:
            raise ValueError(f"When providing `x` as a {kind}, `{arg}` should not be passed. "
                             f"Instead, {what} should be included as part of the {kind}.")
    if validation_split:
        raise ValueError(f"validation_split is only supported for arrays, not a {kind}: pass "
                         f"validation_data (arrays, a generator or a PyDataset) instead")
    if batch_size is not None:
        warnings.warn(f"batch_size={batch_size} is ignored: a {kind} yields its own batches "
                      f"(Keras 3 ignores it too)", UserWarning, stacklevel=user_stacklevel())
