"""``compile``, ``fit``, ``evaluate`` and ``predict``: Keras' ``Trainer``.

A mix-in of ``Sequential`` (as Keras' ``Model`` mixes in ``Trainer``): the
model's structure lives in models.py; this module turns compile's choices into
the compiled core's objective and optimizer state, and hands data, checked by
data_adapter.py, to the epoch loop in training_loop.py.

What it needs from the class it is mixed into: ``_network`` (the
``_core.Network``, None until built), ``_ensure_built(sample_shape)``, ``_flattens_input``, ``_rows_in``,
``_output()`` (the output layer's units and activation name),
``seed_generator``, ``name``, ``dtype`` and ``input_shape``.
"""
import contextlib
import math
import os
import threading
import weakref

import numpy as np

from . import (_core, data_adapter, distributed, inference, losses, optimizers, streaming,
               validation)
from . import callbacks as callbacks_module, metrics as metrics_module
from .progress import Progress
from .step_lock import StepLock
from .training_loop import BatchRunner, run_epochs

DEFAULT_BATCH_SIZE = 32  # Keras' fit default
_models = weakref.WeakSet()  # every model, for their locks in a fork's child


def _after_fork_in_child():
    for model in list(_models):
        model._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _ChosenByCompile:
    """A model attribute that only ``compile`` sets: fit runs the kernels compile
    chose, so an assignment would change what is saved but not what trains."""

    def __init__(self, doc):
        self.__doc__ = doc

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, model, owner=None):
        return self if model is None else getattr(model, "_" + self.name)

    def __set__(self, model, value):
        raise AttributeError(f"{self.name} cannot be assigned: fit runs the kernels compile "
                             f"chose; call model.compile(optimizer=..., loss=...) instead")


class Trainer:
    """compile/fit/evaluate/predict over the compiled core."""

    def _init_trainer(self):
        self._optimizer = self._loss = None
        self.stop_training = False
        self.history = None
        self._compiled = None  # _Compiled, from compile
        self._fit_lock = threading.Lock()  # held by fit, and by compile and add (_changing)
        self._fit_thread = None  # the thread running fit while _fit_lock is held
        self._step_lock = StepLock()  # fit's compiled calls against readers (step_lock.py)
        self._workspaces = WorkspacePool()
        self._training_calls = 0  # model(x, training=True) calls: their dropout masks
        _models.add(self)

    def _after_fork_in_child(self):
        """A fork's child has only the thread that forked: a fit that another
        thread was running will never finish there, so its lock is freed."""
        if self._fit_thread != threading.get_ident():
            self._fit_lock, self._fit_thread = threading.Lock(), None

    optimizer = _ChosenByCompile("The ``Optimizer`` compile chose (None before).")
    loss = _ChosenByCompile("The ``Loss`` compile chose (None before).")

    @contextlib.contextmanager
    def _changing(self, what):
        """Held while ``what`` (compile, add, fit) changes the model: one at a time,
        and never while fit runs, from another thread or from fit's own callbacks
        (the running fit keeps the network, optimizer and loss it started with)."""
        lock = self._fit_lock  # released as taken, were the model nested meanwhile
        if not lock.acquire(blocking=False):
            if self._fit_thread == threading.get_ident():
                raise RuntimeError(f"{what} cannot be called from a callback of this model's "
                                   f"fit: the model is already being trained, and fit keeps the "
                                   f"layers, optimizer and loss it started with; call {what} "
                                   f"after fit returns")
            raise RuntimeError("this model is already being trained in another thread"
                               if what == "fit" else
                               f"{what}: this model is being trained or changed in another "
                               f"thread; call {what} after that fit returns")
        try:
            yield
        finally:
            lock.release()

    # ------------------------------------------------------------ compile

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, weighted_metrics=None):
        """Choose how the model trains (Keras' defaults: RMSprop, no metrics).

        Args:
            optimizer: an ``Optimizer`` or its name (``"adam"``, ``"sgd"``, ``"rmsprop"`` ...).
            loss: a ``Loss`` or its Keras name (``"sparse_categorical_crossentropy"`` ...).
            metrics: Keras names (``"accuracy"``, ``"auc"`` ...), Metric or Loss objects
                (metrics.py), not weighted; weighted_metrics: the same, weighted.

        Refused (RuntimeError) while the model trains, from fit's callbacks too.
        """
        with self._changing("compile"):
            self._compile(optimizer, loss, metrics, weighted_metrics)

    def _compile(self, optimizer, loss, metrics, weighted_metrics=None):
        optimizer = optimizers.get(optimizer)
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='sparse_categorical_crossentropy'")
        loss = losses.get(loss)
        units, output_activation = self._output()
        loss.check_output(units, output_activation)  # these two warn at the user's line
        loss_code, fused = loss.kernel_for(output_activation)
        if fused and self._stack.plan[-1][0].activity_regularizer is not None:
            raise ValueError(f"an activity_regularizer on the output layer is not supported "
                             f"with a {output_activation} output under {type(loss).__name__}: "
                             f"the compiled loop trains on its logits; put it on a hidden "
                             f"layer, or use a linear output with from_logits=True")
        names = (_metric_names(metrics, "metrics"), _metric_names(weighted_metrics, "weighted"))
        resolved = _resolve_metrics(names, loss, units, fused, output_activation)
        optimizer.bind(self)
        self._optimizer, self._loss = optimizer, loss
        self._compiled = _Compiled(loss_code, fused, resolved, names, loss.core_options(), units)

    def _recompile(self):
        """compile again with the same optimizer, loss and metrics (the output
        layer changed; the caller holds ``_changing``)."""
        self._compile(self.optimizer, self.loss, *self._compiled.names)

    def get_compile_config(self):
        """compile's arguments as plain data (None before compile), for saving."""
        if self._compiled is None:
            return None
        return {"optimizer": optimizers.serialize(self.optimizer),
                "loss": losses.serialize(self.loss), **self._compiled.metrics_config()}

    def compile_from_config(self, config):
        """``compile`` with the arguments ``get_compile_config`` returned."""
        self.compile(optimizers.deserialize(config["optimizer"]),
                     losses.deserialize(config["loss"]), *metrics_module.from_compile(config))

    @property
    def compiled(self):
        return self._compiled is not None

    @property
    def metrics_names(self):
        """``["loss"]`` and the metrics' names (Keras 3: ``["loss", "compile_metrics"]``)."""
        return ["loss"] + [m.name for m in self.metrics]

    @property
    def metrics(self):
        """The compiled Metric objects (fit and evaluate keep their state apart)."""
        return list(self._compiled.metrics) if self._compiled else []

    def _require_compiled(self, what):
        if self._compiled is None:
            raise RuntimeError(f"You must call compile() before {what}.")

    # ------------------------------------------------------------ fit

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, distribute=None):
        """Train for ``epochs`` epochs and return a ``History``.

        Each epoch runs in the compiled core; Python regains control between
        epochs (and between batches only for callbacks with batch hooks, or to
        draw the verbose=1 bar).  Arguments as Keras' ``fit``: ``batch_size``
        defaults to 32, ``validation_split`` takes the last fraction of the
        samples before shuffling, ``validation_data`` is ``(x_val, y_val)`` or
        ``(x_val, y_val, sample_weight_val)``.  ``sample_weight`` (one weight per
        sample) or ``class_weight`` (a dict class -> weight) scale each sample's
        loss; a batch's loss is ``sum(w * loss) / batch_size``, as Keras' (and
        weighted_metrics, not metrics).  ``steps_per_epoch``, ``validation_steps``,
        ``validation_batch_size`` and ``validation_freq`` as Keras' (see
        ``_validation_options``).  ``x`` and ``validation_data`` may stream (streaming.py).
        ``distribute``: None, or a ``densefit.distributed.MPIStrategy`` (distributed.py).
        """
        # held from the first look at the data: two threads can neither build nor
        # train the same model at once
        with self._changing("fit"):
            self._fit_thread = threading.get_ident()
            try:
                return self._fit(x, y, batch_size, epochs, verbose, callbacks,
                                 validation_split, validation_data, bool(shuffle), initial_epoch,
                                 (sample_weight, class_weight), _validation_options(
                                     steps_per_epoch, validation_steps, validation_batch_size,
                                     validation_freq), distribute)
            finally:
                self._fit_thread = None

    def _fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
             validation_data, shuffle, initial_epoch, weights, validation_options,
             distribute=None):
        self._require_compiled("fit")
        if distribute is not None:  # the progress bar and file writers on rank 0 only
            callbacks, verbose = distributed.fit_options(distribute, callbacks, verbose,
                                                         (x, validation_data))
        if streaming.is_stream(x):  # batches from a generator or a PyDataset
            return _fit_stream(self, x, y, batch_size, epochs, verbose, callbacks, *(
                validation_split, validation_data, shuffle, initial_epoch, weights,
                validation_options))
        requested = None if batch_size is None else validation.integer(batch_size, "batch_size")
        epochs = validation.integer(epochs, "epochs", low=0)
        initial_epoch = validation.integer(initial_epoch, "initial_epoch", low=0)
        verbose = _verbosity(verbose)
        steps, val_batch, due, val_steps = validation_options
        callbacks = callbacks_module.CallbackList(callbacks, model=self)
        data, val = self._fit_data(x, y, validation_split, validation_data, *weights,
                                   val_rows=_validation_rows(val_steps, val_batch, requested))
        history = callbacks_module.History()
        callbacks.append(history)
        # a batch larger than the data is all of it (of every rank's, with shards)
        batch_size = _batch_rows(requested, steps, distributed.most_rows(distribute, data.n))
        work = self._workspaces.take(self._network, batch_size, data.labels, training=True)
        try:
            runner = BatchRunner((self._network, work, self._compiled.objective,
                                  self._optimizer_state(), data), self.optimizer, batch_size,
                                 self._compiled, self._step_lock, steps)
            if distribute is not None:
                distribute.attach(self, runner, callbacks)
            self.stop_training, self.history = False, history
            validate = _validator(self, val, val_batch or max(batch_size, inference.DEFAULT_BATCH),
                                  due, val_steps)
            run_epochs(self, runner, callbacks, Progress(runner.steps, verbose), epochs,
                       initial_epoch, shuffle, validate)
        finally:
            self._workspaces.give(work)
        return history

    def _fit_data(self, x, y, validation_split, validation_data, sample_weight, class_weight,
                  val_rows=None):
        """The training and validation ``_core.Dataset`` (the latter may be None,
        else its first ``val_rows`` samples, or all); class weights weigh the
        training samples only, as in Keras."""
        validation_split = validation.real(validation_split, "validation_split", low=0, high=1,
                                           high_open=True)
        x = data_adapter.as_array(x, "x", self.dtype) if x is not None else None
        y = data_adapter.as_array(y, "y") if y is not None else None
        if validation_data is None:
            x, y, sample_weight, validation_data = data_adapter.split_validation(
                x, y, validation_split, sample_weight)
        data = self._dataset(x, y, sample_weight=sample_weight, class_weight=class_weight)
        if data.n == 0:
            raise ValueError("x is empty: fit needs at least one sample")
        if validation_data is None or streaming.is_stream(validation_data):
            return data, validation_data  # a stream is read by streaming.stream_validator
        x_val, y_val, weight_val = _first_rows(data_adapter.validation_triple(validation_data),
                                               val_rows)
        val = self._dataset(x_val, y_val, "x_val", "y_val", weight_val)
        if val.n == 0:
            raise ValueError("validation_data is empty")
        return data, val

    def _optimizer_state(self):
        """The core's view of the optimizer's state for this model's parameters
        (created, with the step count restarted, when the weights are new)."""
        params = self._network.params
        with self._step_lock.stepping():  # a reader sees the old state or the new, whole
            self.optimizer.build(params)
        return _core.OptimizerState(self._network, **self.optimizer.core_arguments())

    # ------------------------------------------------------------ evaluate, predict

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """The loss (and metrics) over ``(x, y)``: ``loss``, or ``[loss, *metrics]`` in
        ``metrics_names``' order, or a dict with ``return_dict=True``.
        ``sample_weight`` weighs the loss and weighted_metrics, as in ``fit``; ``steps``:
        how many batches, as Keras' (``_evaluate_logs``, ``callbacks`` too).  ``x`` may stream."""
        self._require_compiled("evaluate")
        logs = _evaluate_logs(self, x, y, batch_size, sample_weight, steps, callbacks)
        if _verbosity(verbose):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in sorted(logs.items())))
        return returned(logs, self.metrics_names, return_dict)

    def _evaluate(self, data, batch_size, caller="evaluate", what="loss", stacklevel=3):
        """The logs over ``data``; a loss that is NaN or inf is a RuntimeWarning
        from ``caller`` (the inputs and targets are finite: checked)."""
        capacity = max(1, min(batch_size, data.n))
        work = self._workspaces.take(self._network, capacity, data.labels, training=False)
        try:
            with self._step_lock.reading():  # another thread's fit: between two steps
                state = self._compiled.new_state()
                loss_sum, _ = _core.evaluate(self._network, work, self._compiled.objective, data,
                                             state)
        finally:
            self._workspaces.give(work)
        logs = {"loss": loss_sum / data.n}
        if not math.isfinite(logs["loss"]):
            inference.warn_nonfinite_loss(caller, what, logs["loss"], self._network.dtype,
                                          stacklevel)
        logs.update(self._compiled.results(state))
        return dict(sorted(logs.items()))

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for ``x`` as an array of shape (samples, units).  While
        another thread trains the model, the outputs of one step's weights (predict
        runs again, after that step, when a step overlapped it).  ``steps``, ``x``: as
        evaluate's; ``callbacks``: their ``on_predict_begin``/``on_predict_end``."""
        capacity = (inference.DEFAULT_BATCH if batch_size is None  # C-int batches
                    else min(validation.integer(batch_size, "batch_size"), _core.MAX_ROWS))
        if verbose != "auto":
            _verbosity(verbose)
        if steps is not None or callbacks or (type(x) is not np.ndarray and streaming.is_stream(x)):
            return _predict_steps(self, x, batch_size, capacity, steps, callbacks)
        return self._outputs(x, capacity, "predict")

    def __call__(self, x, training=None):
        """``model(x)``: the outputs for a batch, as predict.  ``training=True`` (Keras'
        keyword): ``x`` as one batch in training mode (``inference.training_outputs``).
        Records the layers' activity penalties for ``model.losses``, as Keras' call."""
        if training is None or training is False or not validation.boolean(training,
                                                                            "training"):
            out = self._outputs(x, inference.DEFAULT_BATCH, "model(x)")
        else:
            out = self._training_outputs(x)
        self._activity_losses = self._activity_penalties(x)
        return out

    def _outputs(self, x, capacity, caller):
        """predict's outputs; rows whose outputs are NaN or inf (the inputs being
        finite) are a RuntimeWarning from ``caller``."""
        network = self._network  # once: an add in another thread may replace it
        if not (self._rows_in and _core.accepts(network, x)):  # the fast path: no conversion
            x = self._model_inputs(x, "x", check_finite=False)
            network = self._network
        # the weights of one step if another thread's fit is running (StepLock.read,
        # written out here: a sample costs ~1 us, and the call would add 10%); one
        # compiled call (inference.parts' first test) inline.  Both paths screen x for
        # NaN/inf and the outputs in C.
        lock = self._step_lock
        generation = lock.generation
        if len(x) < 2 * capacity:  # (check_finite, out, return_nonfinite)
            out, bad = _core.predict(network, x, capacity, True, None, True)
            if generation & 1 or lock.generation != generation:
                out, bad = lock.read(_core.predict, network, x, capacity, True, None, True)
        else:
            out, bad = lock.read(inference.predict, network, x, capacity)
        if bad >= 0:
            inference.warn_nonfinite_outputs(caller, out, bad, stacklevel=3)
        return out


class _Compiled:
    """What compile decided: the core's objective with the metrics it accumulates,
    and the (metrics, weighted_metrics) asked for."""

    def __init__(self, loss_code, fused, metrics, names, loss_options, outputs):
        self.metrics, self.names = tuple(metrics), names
        weighted = [False] * len(names[0]) + [True] * len(names[1])
        specs = [dict(m.spec(outputs), weighted=w) for m, w in zip(metrics, weighted)]
        self.objective = _core.Objective(loss_code, fused, 0, 0.5, metrics=specs,
                                         outputs=outputs, **loss_options)

    def metrics_config(self):
        return {key: [metrics_module.serialize(m) for m in names]
                for key, names in zip(("metrics", "weighted_metrics"), self.names)}

    def new_state(self):
        """A zeroed state buffer for the metrics (fit's epoch, an evaluate)."""
        return np.zeros(self.objective.metric_state_size)

    def results(self, state):
        """``{name: value}`` of each metric from ``state``."""
        ends = self.objective.metric_offsets[1:] + (self.objective.metric_state_size,)
        return {m.name: m.result_of(state[start:end]) for m, start, end in
                zip(self.metrics, self.objective.metric_offsets, ends)}


class WorkspacePool:
    """Work buffers for a network from a pool, so concurrent calls never share a
    set.  Only idle sets as large as any needed so far are kept: one that is too
    small is dropped rather than kept beside its replacement.  A new network (the
    model was rebuilt) empties the pool."""

    def __init__(self):
        self._network, self._idle = None, {}

    def take(self, network, capacity, labels, training):
        if network is not self._network:
            self._network, self._idle = network, {}
        pool = self._idle.setdefault((labels, training), [])
        while pool:
            work = pool.pop()
            if work.capacity >= capacity:
                return work
        return _core.Workspace(network, capacity, labels, training)

    def give(self, work):
        if work.owner is self._network:
            self._idle.setdefault((work.labels, work.training), []).append(work)

    def idle_count(self):
        return sum(len(pool) for pool in self._idle.values())


def _metric_names(metrics, what):
    """compile's metrics (or weighted_metrics: ``what`` "weighted") as a list."""
    what = "weighted_metrics" if what == "weighted" else what
    if metrics is None:
        return []
    if isinstance(metrics, (str, metrics_module.Metric, losses.Loss)):
        return [metrics]
    if isinstance(metrics, dict) or not hasattr(metrics, "__iter__"):
        raise TypeError(f"{what} must be a list of names such as ['accuracy'] or Metric "
                        f"objects, got {metrics!r}")
    return list(metrics)


def _resolve_metrics(names, loss, units, fused, output_activation):
    """compile's (metrics, weighted_metrics) as Metric objects, their names unique."""
    resolved = [metrics_module.resolve(m, loss, units, fused or loss.from_logits,
                                       output_activation if fused else None)
                for m in names[0] + names[1]]
    seen = set()
    for name in (m.name for m in resolved):
        if name in seen or name == "loss":
            raise ValueError(f"two compiled metrics (or a metric and the loss) are both "
                             f"named {name!r}: give one another name")
        seen.add(name)
    return resolved


def returned(logs, names, return_dict):
    """Keras' return of evaluate and the on-batch calls: the loss alone when
    nothing else is tracked, else ``[loss, *metrics]`` in ``names`` order, or the
    dict itself."""
    if return_dict:
        return logs
    return logs["loss"] if len(logs) == 1 else [logs[k] for k in names]


def _fit_stream(model, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                validation_data, shuffle, initial_epoch, weights, validation_options):
    """fit on batches from a generator or a PyDataset ``x`` (streaming.py)."""
    streaming.refuse_array_arguments(x, y, weights[0], validation_split, batch_size)
    epochs = validation.integer(epochs, "epochs", low=0)
    initial_epoch = validation.integer(initial_epoch, "initial_epoch", low=0)
    _, _, due, val_steps = validation_options

    def validator(validation_data, val_batch):  # for arrays
        if validation_data is None:
            return None
        rows = _validation_rows(val_steps, val_batch, DEFAULT_BATCH_SIZE)
        x_val, y_val, weight_val = (None if part is None else part[:rows] for part in
                                    data_adapter.validation_triple(validation_data))
        val = model._dataset(x_val, y_val, "x_val", "y_val", weight_val)
        return _validator(model, val, val_batch or inference.DEFAULT_BATCH, due)
    return streaming.fit(model, x, epochs, _verbosity(verbose), callbacks, validation_data,
                         shuffle, initial_epoch, weights[1], validation_options, validator)


def _evaluate_logs(model, x, y, batch_size, sample_weight, steps, callbacks=None):
    """evaluate's logs, between ``callbacks``' on_test_begin/on_test_end
    (``callbacks.around``)."""
    return callbacks_module.around("test", callbacks, model, lambda: _evaluated(
        model, x, y, batch_size, sample_weight, steps))


def _evaluated(model, x, y, batch_size, sample_weight, steps):
    """evaluate's logs: over arrays (with ``steps`` and ``batch_size`` the first
    ``steps`` batches, as Keras'; ``steps`` alone sizes the batches to cover all)
    or a stream (streaming.py)."""
    steps = None if steps is None else validation.integer(steps, "steps")
    if streaming.is_stream(x):
        streaming.refuse_array_arguments(x, y, sample_weight, 0, batch_size)
        return streaming.evaluate(model, x, steps)
    capacity = (inference.DEFAULT_BATCH if batch_size is None
                else validation.integer(batch_size, "batch_size"))
    if steps is not None and batch_size is not None:  # the first steps batches
        rows = steps * batch_size
        x, y, sample_weight = (None if part is None else data_adapter.as_array(
            part, name)[:rows] for part, name in ((x, "x"), (y, "y"),
                                                  (sample_weight, "sample_weight")))
    data = model._dataset(x, y, sample_weight=sample_weight)
    if data.n == 0:
        raise ValueError("x is empty: evaluate needs at least one sample")
    return model._evaluate(data, capacity, stacklevel=7)  # the user, past 6 frames of ours


def _predict_steps(model, x, batch_size, capacity, steps, callbacks=None):
    """predict's outputs with ``steps``, a stream or ``callbacks`` (their
    on_predict_begin/on_predict_end around it: ``callbacks.around``)."""
    return callbacks_module.around("predict", callbacks, model, lambda: _predicted(
        model, x, batch_size, capacity, steps))


def _predicted(model, x, batch_size, capacity, steps):
    """predict's outputs over a stream (``steps`` batches, or all), or over
    arrays as evaluate's (``_evaluate_logs``)."""
    steps = None if steps is None else validation.integer(steps, "steps")
    if streaming.is_stream(x):
        streaming.refuse_array_arguments(x, None, None, 0, batch_size)
        return streaming.predict(model, x, steps, capacity)
    if batch_size is not None and steps is not None:
        x = data_adapter.as_array(x, "x")[:steps * batch_size]
    return model._outputs(x, capacity, "predict")


def _validator(model, val, batch_size, due, val_steps=None):
    """fit's ``validate(epoch)``: the ``val_`` logs over the ``val`` Dataset (or
    stream: ``val_steps`` batches of it) after the epochs ``due`` chooses, else {}
    (None without validation data)."""
    if val is None:
        return None
    if streaming.is_stream(val):
        return streaming.stream_validator(model, val, val_steps, due)
    return lambda epoch: {f"val_{k}": v for k, v in model._evaluate(
        val, batch_size, "fit", "validation loss", stacklevel=6).items()} if due(epoch + 1) else {}


def _validation_options(steps_per_epoch, validation_steps, validation_batch_size,
                        validation_freq):
    """fit's ``(steps per epoch or None, validation batch size or None, test of a
    1-based epoch, validation steps or None)``.  ``validation_batch_size``
    defaults to predict's (the value does not change the result, unless
    ``validation_steps`` is given: then to ``batch_size``, as Keras');
    ``validation_freq`` is an int (every that many epochs) or a list of epochs,
    as Keras'.  ``steps_per_epoch`` and ``validation_steps`` as Keras' for arrays
    (see training_loop.py and ``_validation_rows``)."""
    steps = None if steps_per_epoch is None else validation.integer(steps_per_epoch,
                                                                    "steps_per_epoch")
    val_steps = None if validation_steps is None else validation.integer(validation_steps,
                                                                         "validation_steps")
    val_batch = (None if validation_batch_size is None
                 else validation.integer(validation_batch_size, "validation_batch_size"))
    return steps, val_batch, validation.epochs_due(validation_freq, "validation_freq"), val_steps


def _validation_rows(val_steps, val_batch, batch_size):
    """How many validation samples each validation reads: the first
    ``validation_steps`` batches of ``validation_batch_size`` (default
    ``batch_size``), from the start every time, as Keras' (None: all; also when
    neither batch size is given: Keras then sizes ``validation_steps`` batches to
    cover the validation data)."""
    rows = val_batch or batch_size
    return None if val_steps is None or rows is None else val_steps * rows


def _batch_rows(batch_size, steps_per_epoch, n):
    """fit's batch size on ``n`` samples: ``batch_size``; when it is not given,
    ``ceil(n / steps_per_epoch)`` with ``steps_per_epoch`` (Keras' array adapter:
    the epoch's steps cover the data), else 32.  Never above ``n`` (a batch larger
    than the data is all of it)."""
    if batch_size is None:
        batch_size = math.ceil(n / steps_per_epoch) if steps_per_epoch else DEFAULT_BATCH_SIZE
    return min(batch_size, n)


def _verbosity(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def _first_rows(parts, rows):
    """``parts`` (arrays or None) cut to their first ``rows`` rows (validation_steps'
    first batches); all of them when ``rows`` is None."""
    if rows is None:
        return parts
    return tuple(None if part is None else part[:rows] for part in parts)
