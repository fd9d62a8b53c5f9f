"""``Sequential``: Keras' model API over the compiled core.

>>> import numpy as np
>>> from densefit import Sequential
>>> from densefit.layers import Dense
>>> model = Sequential([Dense(4, activation="relu"), Dense(2)])
>>> model.compile(optimizer="adam", loss="mse")
>>> history = model.fit(np.ones((8, 3)), np.zeros((8, 2)), epochs=2, verbose=0)
>>> len(history.history["loss"])
2
"""
import concurrent.futures
import threading
import time
import warnings
import weakref

import numpy as np

from . import _core, activations, callbacks as callbacks_module, layers as layers_module
from . import losses, metrics as metrics_module, optimizers
from .progress import Progress
from .utils import get_num_threads, new_generator

_DEFAULT_DTYPE = np.dtype(np.float32)  # Keras' floatx
_INFERENCE_BATCH = 1024  # rows per compiled forward call when predict's batch_size is None

_pools = {}  # thread count -> the executor predict splits large inputs over
_pools_lock = threading.Lock()


def _predict_pool(workers):
    with _pools_lock:
        if workers not in _pools:
            _pools[workers] = concurrent.futures.ThreadPoolExecutor(
                workers, thread_name_prefix="densefit-predict")
        return _pools[workers]
# fit returns to Python about this often (seconds), so Ctrl-C and the progress
# bar stay responsive; the per-return cost is tens of microseconds
_CHUNK_SECONDS = 0.1


def _as_array(value, name):
    """``np.asarray(value)``, with a ragged nested list reported under ``name``."""
    try:
        return np.asarray(value)
    except ValueError as e:  # "setting an array element with a sequence ..."
        raise ValueError(f"{name} must be a rectangular array (rows of equal length), "
                         f"got a ragged sequence: {e}") from None


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class Sequential:
    """A linear stack of Dense layers (activation layers fold into the Dense before them)."""

    _count = 0

    def __init__(self, layers=None, name=None):
        if layers is not None and (isinstance(layers, (str, bytes))
                                   or not hasattr(layers, "__iter__")):
            raise TypeError(f"layers must be a list of layers such as [Dense(10)], got "
                            f"{layers!r}")
        if name is not None and not isinstance(name, str):
            raise ValueError(f"name must be a string, got {name!r}")
        if name is None:
            name = "sequential" if Sequential._count == 0 else f"sequential_{Sequential._count}"
            Sequential._count += 1
        self.name = name
        self.layers = []      # what the user added, Input excluded (as Keras lists them)
        self._plan = []       # [(Dense, Activation)]: what the core runs
        self._input_shape = None
        self._input_dtype = None  # from Input(dtype=...)
        self._rng = None  # drawn from the global seed when the weights are first built
        self._network = None
        self._workspaces = {}
        self._compiled = None
        self._lock = threading.Lock()
        self._fit_thread = None  # the thread running fit while _lock is held
        self.optimizer = self.loss = None
        self.stop_training = False
        self.history = None
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------ structure

    def add(self, layer):
        """Append a layer: ``Input``, ``Dense`` or an activation layer.  Once the input
        shape is known (``Input(shape=...)``, a first Dense's ``input_shape``, or data)
        the model is built, and rebuilt on each add: the layers already there keep
        their weights."""
        if isinstance(layer, layers_module.Input):
            if self.layers or self._input_shape is not None:
                raise ValueError("Input must be the first layer of a Sequential model")
            self._input_shape, self._input_dtype = layer.shape, layer.dtype
            return
        plan = list(self._plan)
        if isinstance(layer, layers_module.Dense):
            if any(layer is d for d, _ in plan):
                raise ValueError(f"layer {layer.name!r} is already in this model")
            if layer.built:
                raise ValueError(f"layer {layer.name!r} already belongs to a built model")
            plan.append((layer, layer.activation))
        elif hasattr(layer, "as_activation"):
            if not plan or plan[-1][1].name != "linear":
                raise ValueError(f"{type(layer).__name__} layer {layer.name!r} must follow a Dense "
                                 f"layer without activation: densefit fuses it into that layer")
            plan[-1] = (plan[-1][0], layer.as_activation())
        else:
            raise TypeError(f"layer must be a densefit.layers Dense, Input or activation layer, "
                            f"got {layer!r}")
        input_shape = self._input_shape
        if input_shape is None and not self.layers and isinstance(layer, layers_module.Dense):
            input_shape = layer.input_shape
        previous, self._plan = self._plan, plan
        if input_shape is not None:
            try:
                self._build(input_shape[0], self._input_dtype)
            except BaseException:
                self._plan = previous
                raise
        self.layers.append(layer)
        if self._compiled is not None:  # the output layer may have changed: re-pick the kernels
            self.compile(self.optimizer, self.loss, self._compiled["metric_names"] or None)

    @property
    def built(self):
        return self._network is not None

    def build(self, input_shape):
        """Create the weights for inputs of shape ``(None, features)``."""
        if self.built:
            return
        if len(tuple(input_shape)) != 2:
            raise ValueError(f"input_shape must be (batch, features), got {input_shape!r}")
        self._build(_check_positive_int(tuple(input_shape)[1], "input_shape[1]"))

    def _dtype(self, requested=None):
        dtypes = {d.dtype for d, _ in self._plan if d.dtype is not None}
        if requested is not None:
            dtypes.add(requested)
        if len(dtypes) > 1:
            raise ValueError(f"all layers must share one dtype, got {sorted(map(str, dtypes))}")
        return dtypes.pop() if dtypes else _DEFAULT_DTYPE

    def _build(self, n_in, dtype=None):
        """(Re)create the parameter buffer and the core network for ``n_in`` input
        features: layers that have weights keep them, the others are initialised."""
        dtype_of_plan = self._dtype(dtype) if self._plan else None
        self._input_shape = (n_in,)
        self._input_dtype = dtype
        if not self._plan:
            return  # built when the first Dense arrives
        if self._rng is None:  # as Keras, weights come from the seed in force at build
            self._rng = new_generator()
        units = [n_in] + [d.units for d, _ in self._plan]
        params = np.empty(_core.parameter_count(units), dtype_of_plan)
        views, offset = [], 0
        for (dense, _), n in zip(self._plan, units):
            kernel, bias = ((dense.kernel, dense.bias) if dense.built
                            else dense.initial_weights(n, self._rng))
            k = params[offset:offset + kernel.size].reshape(kernel.shape)
            offset += kernel.size
            b = params[offset:offset + bias.size]
            offset += bias.size
            k[...], b[...] = kernel, bias
            views.append((k, b))
        network = _core.Network(units, [a.code for _, a in self._plan],
                                [a.slope for _, a in self._plan], params, np.zeros_like(params))
        for (dense, _), (k, b) in zip(self._plan, views):
            dense.kernel, dense.bias = k, b
        self._network = network
        self._workspaces = {}

    def _ensure_built(self, n_in):
        if not self._plan:
            raise ValueError("the model has no Dense layer: add one before using it")
        if not self.built:
            self._build(n_in, self._input_dtype)

    @property
    def dtype(self):
        return self._network.dtype if self.built else self._dtype()

    @property
    def input_shape(self):
        return None if self._input_shape is None else (None,) + self._input_shape

    @property
    def output_shape(self):
        return (None, self._plan[-1][0].units) if self._plan else None

    # ------------------------------------------------------------ weights

    @property
    def weights(self):
        return [w for d, _ in self._plan if d.built for w in (d.kernel, d.bias)]

    def get_weights(self):
        """Copies of kernel, bias for each Dense layer in order (Keras' order and shapes)."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Copy ``weights`` (as from get_weights) in; all are checked before any is written.

        Refused while another thread trains the model: the compiled loop bounds
        each step by the weights it last wrote itself.  Callbacks of the fit
        (EarlyStopping's restore) may set them between its compiled calls."""
        if self._lock.locked() and self._fit_thread != threading.get_ident():
            raise RuntimeError("set_weights: this model is being trained in another thread; "
                               "wait for fit to return")
        if not self.built:
            raise ValueError("the model is not built yet: call it on data, fit it, or start it "
                             "with Input(shape=...) before set_weights")
        current = self.weights
        if isinstance(weights, (str, bytes, np.ndarray)) or not hasattr(weights, "__iter__"):
            raise TypeError(f"weights must be a list of arrays (kernel and bias per Dense "
                            f"layer, as get_weights() returns), got {type(weights).__name__}")
        weights = list(weights)
        if len(weights) != len(current):
            raise ValueError(f"set_weights expects a list of {len(current)} arrays (kernel and "
                             f"bias per Dense layer), got {len(weights)}")
        arrays = []
        for i, (new, old) in enumerate(zip(weights, current)):
            new = _as_array(new, f"weights[{i}]")
            if new.shape != old.shape:
                raise ValueError(f"weights[{i}] must have shape {old.shape}, got {new.shape}")
            if new.dtype.kind not in "biuf":
                raise ValueError(f"weights[{i}] must hold finite real numbers, got dtype "
                                 f"{new.dtype}")
            with np.errstate(over="ignore"):  # checked in the model's dtype (1e39: inf in float32)
                new = new.astype(old.dtype)
            if not np.isfinite(new).all():
                raise ValueError(f"weights[{i}] must hold finite real numbers (in {old.dtype}), "
                                 f"got NaN or inf, or values beyond {old.dtype}'s range")
            arrays.append(new)
        for new, old in zip(arrays, current):
            old[...] = new

    def count_params(self):
        return sum(w.size for w in self.weights)

    # ------------------------------------------------------------ compile

    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimizer, loss and metrics (Keras' defaults: RMSprop, no metrics)."""
        optimizer = optimizers.get(optimizer)
        user = optimizer._model() if optimizer._model is not None else None
        if user is not None and user is not self:
            # its slots and step count belong to that model's weights (Keras refuses too)
            raise ValueError(f"optimizer {optimizer!r} already trains model {user.name!r}: "
                             f"give each model its own optimizer instance")
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='sparse_categorical_crossentropy'")
        loss = losses.get(loss)
        if not self._plan:
            raise ValueError("the model has no Dense layer: add layers before compile")
        output_activation = self._plan[-1][1].name
        loss_code, fused = loss.kernel_for(output_activation)
        if metrics is not None and not isinstance(metrics, str) \
                and not hasattr(metrics, "__iter__"):
            raise TypeError(f"metrics must be a list of names such as ['accuracy'], "
                            f"got {metrics!r}")
        names = [] if metrics is None else ([metrics] if isinstance(metrics, str) else list(metrics))
        if len(names) > 1:
            raise ValueError(f"densefit computes one metric (an accuracy) per model, got {names}")
        metric = (metrics_module.resolve(names[0], loss, self._plan[-1][0].units,
                                         output_is_logits=fused or loss.from_logits)
                  if names else None)
        optimizer._model = weakref.ref(self)
        self.optimizer, self.loss = optimizer, loss
        self._compiled = {"loss_code": loss_code, "fused": fused, "metric": metric,
                          "metric_names": names}

    @property
    def metrics_names(self):
        return ["loss"] + ([self._compiled["metric"].name] if self._compiled
                           and self._compiled["metric"] else [])

    def _objective(self):
        """The core Objective of the compiled loss and metric."""
        metric = self._compiled["metric"]
        return _core.Objective(self._compiled["loss_code"], self._compiled["fused"],
                               metric.code if metric else _core.METRICS["none"],
                               metric.threshold if metric else 0.5)

    def _optimizer_state(self):
        """A fresh core OptimizerState over the optimizer's (persistent) slot buffers,
        created here for new weights (only training calls this: evaluate never
        replaces what a running fit updates)."""
        optimizer = self.optimizer
        net = self._network
        fits = (optimizer.slots is not None and optimizer.slots[0].shape == net.params.shape
                and optimizer.slots[0].dtype == net.dtype)
        if not fits:  # new state for new weights: the step count restarts too
            optimizer.slots = (np.zeros_like(net.params), np.zeros_like(net.params))
            optimizer.iterations = 0
        # CORE-SPLIT (port me): optimizers.py and saving.py keep ``slots`` as
        # (slot_1, slot_2); the core names the state as Keras does.  Adam: (m, v) =
        # (momentums, velocities); SGD: slot_1 is the velocity = momentums, kept only
        # with momentum; RMSprop: slot_1 is the mean square = velocities.
        slot_1, slot_2 = optimizer.slots
        momentums, velocities = {"adam": (slot_1, slot_2), "rmsprop": (None, slot_1),
                                 "sgd": (slot_1 if getattr(optimizer, "momentum", 0) else None,
                                         None)}[optimizer.kind]
        # every hyper-parameter is passed: a rule reads only its own (its config's)
        hyper = dict(beta_1=0.0, beta_2=0.0, epsilon=0.0, momentum=0.0, nesterov=False,
                     rho=0.0)
        hyper.update(optimizer.get_config())
        return _core.OptimizerState(net, _core.OPTIMIZERS[optimizer.kind],
                                    hyper["learning_rate"], hyper["beta_1"], hyper["beta_2"],
                                    hyper["epsilon"], hyper["momentum"], hyper["nesterov"],
                                    hyper["rho"], optimizer.iterations, momentums, velocities)

    def _workspace(self, capacity, labels, training=True):
        """Work buffers for at least ``capacity`` rows, from a pool, so concurrent calls
        never share one.  The pool holds only idle sets as large as any needed so far:
        one that is too small is dropped rather than kept beside its replacement.
        ``training=False`` (evaluate) asks for activation buffers alone."""
        pool = self._workspaces.setdefault((labels, training), [])
        while pool:
            work = pool.pop()
            if work.capacity >= capacity:
                return work
        return _core.Workspace(self._network, capacity, labels, training)

    def _release(self, work):
        self._workspaces.setdefault((work.labels, work.training), []).append(work)

    # ------------------------------------------------------------ data

    def _inputs(self, x, name="x", check_finite=True):
        """``x`` as a C-contiguous array of the model's dtype, checked (NaN or inf
        included, unless the caller screens it); builds the model."""
        if x is None:
            raise ValueError(f"{name} is required")
        x = _as_array(x, name)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers (float, int or bool), got dtype {x.dtype}")
        if x.ndim != 2:
            hint = (" (for one feature use x.reshape(-1, 1); for images flatten them, e.g. "
                    "x.reshape(len(x), -1))" if x.ndim in (1, 3, 4) else "")
            raise ValueError(f"{name} must be 2-d (samples, features), got shape {x.shape}{hint}")
        if x.shape[1] < 1:
            raise ValueError(f"{name} must have at least one feature, got shape {x.shape}")
        self._ensure_built(x.shape[1])
        n_in = self._network.units[0]
        if x.shape[1] != n_in:
            raise ValueError(f"{name} must have {n_in} features to match the model's input "
                             f"shape {self.input_shape}, got shape {x.shape}")
        x = np.ascontiguousarray(x, dtype=self._network.dtype)
        row = _core.first_nonfinite_row(x) if check_finite else -1
        if row >= 0:
            raise ValueError(f"{name} holds NaN or inf (first at row {row})")
        return x

    def _dataset(self, x, y, xname="x", yname="y"):
        x = self._inputs(x, xname)
        if y is None:
            raise ValueError(f"{yname} is required for training and evaluation")
        n_out = self._network.units[-1]
        y_arr = _as_array(y, yname)
        y_len = len(y_arr) if y_arr.ndim else "a scalar"
        if y_len != len(x):
            raise ValueError(f"{xname} and {yname} must have the same number of samples, got "
                             f"{len(x)} and {y_len}")
        try:
            targets = self.loss.prepare_targets(y_arr, (len(x), n_out), self._network.dtype)
        except (ValueError, TypeError) as e:
            raise type(e)(str(e).replace("y ", f"{yname} ", 1)) from None
        # labels are copied once: the core keeps a private copy (C indexes with them)
        # unless converting them to int32 already made a new array
        return _core.Dataset(self._network, x, targets, self.loss.labels,
                             copy=np.may_share_memory(targets, y_arr))

    def _require_compiled(self, what):
        if self._compiled is None:
            raise RuntimeError(f"You must call compile() before {what}.")

    # ------------------------------------------------------------ training

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0):
        """Train for ``epochs`` epochs; returns a History.  Each epoch runs in the
        compiled core; Python regains control between epochs (and between batches
        only for callbacks with batch hooks, or to draw the verbose=1 bar)."""
        # the lock is held from the first look at the data, so two threads can
        # neither build nor train the same model at once
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("this model is already being trained in another thread")
        self._fit_thread = threading.get_ident()
        try:
            return self._checked_fit(x, y, batch_size, epochs, verbose, callbacks,
                                     validation_split, validation_data, shuffle, initial_epoch)
        finally:
            self._fit_thread = None
            self._lock.release()

    def _checked_fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                     validation_data, shuffle, initial_epoch):
        self._require_compiled("fit")
        batch_size = 32 if batch_size is None else _check_positive_int(batch_size, "batch_size")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) \
                or initial_epoch < 0:
            raise ValueError(f"initial_epoch must be an integer >= 0, got {initial_epoch!r}")
        verbose = _verbosity(verbose)
        if not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must be a number in [0, 1), got "
                             f"{validation_split!r}")
        if callbacks is not None and (not isinstance(callbacks, (list, tuple)) or not all(
                isinstance(cb, callbacks_module.Callback) for cb in callbacks)):
            raise TypeError(f"callbacks must be a list of densefit.callbacks.Callback "
                            f"instances, got {callbacks!r}")
        x_all = _as_array(x, "x") if x is not None else None
        y_all = _as_array(y, "y") if y is not None else None
        if validation_data is None and validation_split:
            if x_all is None or y_all is None or x_all.ndim == 0 or y_all.ndim == 0:
                raise ValueError("validation_split needs array x and y")
            split = int(np.floor(len(x_all) * (1 - validation_split)))
            if split == 0 or split == len(x_all):
                raise ValueError(f"validation_split={validation_split} of {len(x_all)} samples "
                                 f"leaves an empty {'training' if split == 0 else 'validation'} "
                                 f"set")
            if len(y_all) != len(x_all):
                raise ValueError(f"x and y must have the same number of samples, got "
                                 f"{len(x_all)} and {len(y_all)}")
            validation_data = (x_all[split:], y_all[split:])
            x_all, y_all = x_all[:split], y_all[:split]
        data = self._dataset(x_all, y_all)
        if data.n == 0:
            raise ValueError("x is empty: fit needs at least one sample")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val)")
            val = self._dataset(*validation_data, xname="x_val", yname="y_val")
            if val.n == 0:
                raise ValueError("validation_data is empty")
        return self._fit(data, val, batch_size, int(epochs), verbose, callbacks or [],
                         bool(shuffle), int(initial_epoch))

    def _fit(self, data, val, batch_size, epochs, verbose, user_callbacks, shuffle, initial_epoch):
        history = callbacks_module.History()
        cbs = [*user_callbacks, history]
        for cb in cbs:
            cb.set_model(self)
        per_batch = any(cb.needs_batches() for cb in cbs)
        objective, state = self._objective(), self._optimizer_state()  # CORE-SPLIT
        batch_size = min(batch_size, data.n)  # a batch larger than the data is all of it
        work = self._workspace(batch_size, data.labels)
        epoch_logs = _EpochLogs(data.n, batch_size, self._compiled["metric"])
        n_batches = len(epoch_logs.losses)
        progress = Progress(n_batches, verbose)
        chunk = 1 if per_batch else min(progress.chunk, 8)
        self.stop_training = False
        self.history = history
        logs = {}
        # hooks get their logs positionally (Keras passes a train-batch hook's by
        # keyword; LambdaCallback's functions take ``(epoch, logs)``, ``(batch, logs)``
        # or ``(logs)``, which suit both)
        for cb in cbs:
            cb.on_train_begin({})
        try:
            for epoch in range(initial_epoch, epochs):
                for cb in cbs:
                    cb.on_epoch_begin(epoch, {})
                progress.begin_epoch(epoch, epochs)
                order = (self._rng.permutation(data.n) if shuffle
                         else np.arange(data.n)).astype(np.int64, copy=False)
                done = 0
                while done < n_batches:
                    end = min(n_batches, done + chunk)
                    if per_batch:
                        for cb in cbs:
                            cb.on_train_batch_begin(done, {})
                    started = time.perf_counter()
                    applied = _core.train_batches(self._network, work, objective, state, data,
                                                  order, batch_size, done, end,
                                                  epoch_logs.losses[done:],
                                                  epoch_logs.metrics[done:])
                    self.optimizer.iterations = state.iterations
                    if not per_batch:  # size the next chunk to take about _CHUNK_SECONDS
                        scale = _CHUNK_SECONDS / max(time.perf_counter() - started, 1e-6)
                        # from the batches this call ran (fewer than chunk when cut short by
                        # the epoch's end), growing at most 4x per call
                        chunk = max(1, min(progress.chunk, 4 * chunk,
                                           int((end - done) * scale)))
                    if applied < end - done:  # a non-finite loss or step: not applied
                        done += applied + 1
                        self.stop_training = True
                        bad = epoch_logs.losses[done - 1]
                        what = (f"the loss became {bad}" if not np.isfinite(bad) else
                                "the update would have made the weights or the optimizer's "
                                "state NaN or inf")
                        warnings.warn(f"{what} at epoch {epoch + 1}, batch {done}; training "
                                      f"stopped before applying that batch (lower the learning "
                                      f"rate or check the data)", RuntimeWarning, stacklevel=3)
                        break
                    done = end
                    logs = epoch_logs(done)
                    if per_batch:
                        for cb in cbs:
                            cb.on_train_batch_end(done - 1, logs)
                    progress.update(done, logs)
                    if self.stop_training:  # set by a batch hook: end the epoch here, as Keras
                        break
                logs = epoch_logs(done)
                if val is not None and np.isfinite(logs["loss"]):
                    val_logs = self._evaluate(val, max(batch_size, _INFERENCE_BATCH))
                    logs.update({f"val_{k}": v for k, v in val_logs.items()})
                progress.end_epoch(done, logs)
                for cb in cbs:
                    cb.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        finally:  # also on KeyboardInterrupt: state is that of the last applied batch
            self.optimizer.iterations = state.iterations
            self._release(work)
            for cb in cbs:
                cb.on_train_end(logs)
        return history

    # ------------------------------------------------------------ inference

    def predict(self, x, batch_size=None, verbose="auto"):
        """The model's outputs for ``x`` as an array of shape (samples, units)."""
        capacity = (_INFERENCE_BATCH if batch_size is None  # the core takes C-int batches
                    else min(_check_positive_int(batch_size, "batch_size"), _core.MAX_ROWS))
        if verbose != "auto":
            _verbosity(verbose)
        if not _core.accepts(self._network, x):  # the per-call fast path skips conversion
            x = self._inputs(x, check_finite=False)
        parts = self._predict_parts(len(x), capacity) if len(x) >= 2 * capacity else None
        if parts:
            try:
                outs = list(_predict_pool(len(parts)).map(
                    lambda part: _core.predict(self._network, x[part[0]:part[1]], capacity),
                    parts))
                return np.concatenate(outs)
            except ValueError:  # NaN or inf: the single call below names its row in x
                pass
        return _core.predict(self._network, x, capacity)  # NaN/inf screened in C

    def _predict_parts(self, n, capacity):
        """Row ranges to predict on separate threads: one per thread densefit uses
        (get_num_threads), each at least two batches, when the network runs
        without BLAS (whose own threads would otherwise compete); None for one
        call.  Cut at multiples of ``capacity``, so every row meets the same
        batches, and gets the same bits, as in one call."""
        if _core.forward_uses_blas(self._network):
            return None
        batches = -(-n // capacity)
        count = min(get_num_threads(), batches // 2)
        if count <= 1:
            return None
        cuts = [min(n, capacity * (batches * i // count)) for i in range(count + 1)]
        return list(zip(cuts[:-1], cuts[1:]))

    def __call__(self, x):
        """``model(x)``: the outputs for a batch, as predict."""
        return self.predict(x)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False):
        """Loss (and metric) over (x, y): ``loss``, or ``[loss, metric]`` with a metric."""
        self._require_compiled("evaluate")
        data = self._dataset(x, y)
        if data.n == 0:
            raise ValueError("x is empty: evaluate needs at least one sample")
        capacity = (_INFERENCE_BATCH if batch_size is None
                    else _check_positive_int(batch_size, "batch_size"))
        logs = self._evaluate(data, capacity)
        if _verbosity(verbose):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in sorted(logs.items())))
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else [logs[k] for k in self.metrics_names]

    def _evaluate(self, data, capacity):
        work = self._workspace(max(1, min(capacity, data.n)), data.labels, training=False)
        try:
            loss_sum, metric_sum = _core.evaluate(self._network, work, self._objective(), data)
        finally:
            self._release(work)
        logs = {"loss": loss_sum / data.n}
        metric = self._compiled["metric"]
        if metric is not None:
            logs[metric.name] = metric_sum / data.n
        return dict(sorted(logs.items()))

    # ------------------------------------------------------------ description

    def summary(self, print_fn=print):
        rows = [(f"{layer.name} ({type(layer).__name__})",
                 str((None, layer.units)) if isinstance(layer, layers_module.Dense)
                 else "(same as input)",
                 (layer.kernel.size + layer.bias.size) if getattr(layer, "built", False)
                 else (0 if not isinstance(layer, layers_module.Dense) else None))
                for layer in self.layers]
        width = [max([len("Layer (type)")] + [len(r[0]) for r in rows]) + 2, 26, 12]
        line = "-" * sum(width)
        out = [f'Model: "{self.name}"', line,
               "Layer (type)".ljust(width[0]) + "Output Shape".ljust(width[1])
               + "Param #".rjust(width[2]), "=" * sum(width)]
        for name, shape, count in rows:
            out.append(name.ljust(width[0]) + shape.ljust(width[1])
                       + ("(unbuilt)" if count is None else f"{count:,}").rjust(width[2]))
        out.append("=" * sum(width))
        total = self.count_params()
        size = total * (np.dtype(self.dtype).itemsize)
        out += [f"Total params: {total:,} ({_bytes(size)})",
                f"Trainable params: {total:,} ({_bytes(size)})",
                "Non-trainable params: 0 (0.00 B)", line]
        print_fn("\n".join(out))

    def get_config(self):
        return {"name": self.name, "dtype": str(self.dtype),
                "input_shape": list(self._input_shape) if self._input_shape else None,
                "layers": [dict(dense.get_config(), activation=activations.serialize(act))
                           for dense, act in self._plan]}

    def save(self, filepath):
        """Save architecture, weights, compile settings and optimizer state in one file."""
        from .saving import save_model
        save_model(self, filepath)

    def save_weights(self, filepath):
        from .saving import save_weights
        save_weights(self, filepath)

    def load_weights(self, filepath):
        from .saving import load_weights
        load_weights(self, filepath)

    def __repr__(self):
        return f"<Sequential name={self.name!r}, layers={len(self.layers)}, built={self.built}>"


def load_model(filepath):
    """A model saved with ``model.save``, ready to predict or to continue training."""
    from .saving import load_model as _load
    return _load(filepath)


def _verbosity(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


class _EpochLogs:
    """Keras' epoch logs: the means of the batches' loss and metric (which the core
    writes into ``losses`` and ``metrics``) weighted by batch size, over the first
    ``done`` batches, keys sorted by name as Keras sorts them.  A function of
    ``done`` alone, so chunked and per-batch runs log the same; called after every
    batch when a callback has batch hooks, so nothing is recomputed that is fixed."""

    def __init__(self, n, batch_size, metric):
        n_batches = -(-n // batch_size)
        self.rows = np.full(n_batches, batch_size, np.float64)
        self.rows[-1] = n - batch_size * (n_batches - 1)
        self.seen = np.cumsum(self.rows).tolist()  # whole numbers: exact
        self.losses = np.empty(n_batches)
        self.metrics = np.empty(n_batches)
        self.name = metric.name if metric is not None else None
        self.name_first = self.name is not None and self.name < "loss"

    def __call__(self, done):
        rows, seen = self.rows[:done], self.seen[done - 1]
        loss = float(self.losses[:done].dot(rows)) / seen
        if self.name is None:
            return {"loss": loss}
        value = float(self.metrics[:done].dot(rows)) / seen
        if self.name_first:
            return {self.name: value, "loss": loss}
        return {"loss": loss, self.name: value}


def _bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
