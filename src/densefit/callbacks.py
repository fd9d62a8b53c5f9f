"""Callbacks with Keras' hooks.  ``fit`` hands control to Python only where a
callback needs it: between epochs always, between batches only for callbacks
that override a batch hook (the compiled loop otherwise runs batches in chunks
of about 0.1 s)."""
import csv
import json
import os
import shutil
import sys
import warnings

import numpy as np

from . import missing, saving, validation

# the hooks that make fit return to Python after every batch when overridden
_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")


class Callback:
    """Override any hook; ``self.model`` is the model being trained.

    ``fit`` calls the train, epoch and train-batch hooks.  As in Keras 3
    (``keras/src/callbacks/callback.py``), the default ``on_train_batch_begin`` and
    ``on_train_batch_end`` call the older names ``on_batch_begin`` and
    ``on_batch_end``, so overriding either name works."""

    def __init__(self):
        self.model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        """Keras' backwards-compatible alias of ``on_train_batch_begin``."""

    def on_batch_end(self, batch, logs=None):
        """Keras' backwards-compatible alias of ``on_train_batch_end``."""

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def needs_batches(self):
        """Whether any batch hook is overridden, in the class or assigned on the
        instance (and so costs a return to Python per batch)."""
        return any(getattr(getattr(self, name), "__func__", None) is not getattr(Callback, name)
                   for name in _BATCH_HOOKS)


class CallbackList:
    """The callbacks of one ``fit``, called in order (Keras 3's
    ``keras/src/callbacks/callback_list.py``).

    Args:
        callbacks: None or a list (or tuple) of ``Callback`` instances.
        model: the model they watch; each callback's ``set_model`` is called with it.

    ``needs_batches``: whether any callback overrides a batch hook, so that ``fit``
    must return to Python after every batch.
    """

    def __init__(self, callbacks=None, model=None):
        if callbacks is not None and (not isinstance(callbacks, (list, tuple)) or not all(
                isinstance(callback, Callback) for callback in callbacks)):
            raise TypeError(f"callbacks must be a list of densefit.callbacks.Callback "
                            f"instances, got {callbacks!r}")
        self.callbacks = []
        self.model = model
        self.needs_batches = False
        for callback in callbacks or ():
            self.append(callback)

    def append(self, callback):
        """Add ``callback`` (``fit`` adds its History last)."""
        callback.set_model(self.model)
        self.callbacks.append(callback)
        self.needs_batches = self.needs_batches or callback.needs_batches()

    def _call(self, hook, *args):
        for callback in self.callbacks:
            getattr(callback, hook)(*args)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)


_INFERENCE_BATCH_HOOKS = {"test": ("on_test_batch_begin", "on_test_batch_end"),
                          "predict": ("on_predict_batch_begin", "on_predict_batch_end")}


def around(kind, callbacks, model, run):
    """``run()`` (evaluate's logs or predict's outputs) between the callbacks'
    ``on_test_begin``/``on_test_end`` (``kind="test"``) or ``on_predict_begin``/
    ``on_predict_end``, as Keras' evaluate(callbacks=...) and predict(callbacks=...):
    ``on_test_end`` gets evaluate's logs, the others ``{}``.  densefit evaluates
    and predicts in one compiled pass: a callback overriding a test or predict
    batch hook is refused, before anything runs."""
    if callbacks is None:
        return run()
    callbacks = CallbackList(callbacks, model=model)
    for callback in callbacks.callbacks:
        for hook in _INFERENCE_BATCH_HOOKS[kind]:
            if getattr(getattr(callback, hook), "__func__", None) is not getattr(Callback, hook):
                raise ValueError(f"{type(callback).__name__} overrides {hook}: densefit's "
                                 f"evaluate and predict run in one compiled pass and call "
                                 f"on_{kind}_begin and on_{kind}_end only; move the work "
                                 f"there, or compute per-batch values with "
                                 f"model.{kind}_on_batch")
    callbacks._call(f"on_{kind}_begin", {})
    out = run()
    callbacks._call(f"on_{kind}_end", dict(out) if kind == "test" else {})
    return out


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]`` and friends."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class EarlyStopping(Callback):
    """Stops training when ``monitor`` has not improved by ``min_delta`` for
    ``patience`` epochs; with ``restore_best_weights`` the model ends with the best
    epoch's weights (Keras 3's rules, ``keras/src/callbacks/early_stopping.py``).

    Args:
        monitor: the logged value to watch, such as ``"val_loss"``.
        min_delta: a finite number: a smaller change is no improvement.
        patience: an integer >= 0: the epochs without improvement before stopping.
        verbose: 0 or 1 (or a bool): 1 prints when it stops and restores.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for names holding "acc").
        baseline: None or a finite number the value must beat to reset the wait.
        restore_best_weights: True or False: end with the best epoch's weights.
        start_from_epoch: an integer >= 0: the epochs to wait before watching.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be the name of a logged value such as 'val_loss', "
                            f"got {monitor!r}")
        mode = validation.one_of(mode, "mode", ("auto", "min", "max"))
        self.patience = validation.integer(patience, "patience", low=0)
        self.start_from_epoch = validation.integer(start_from_epoch, "start_from_epoch", low=0)
        self.min_delta = abs(validation.real(min_delta, "min_delta"))
        self.baseline = None if baseline is None else validation.real(baseline, "baseline")
        self.restore_best_weights = validation.boolean(restore_best_weights,
                                                       "restore_best_weights")
        self.verbose = validation.integer(int(verbose) if isinstance(verbose, (bool, np.bool_))
                                          else verbose, "verbose", low=0, high=1)
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor = monitor
        self.sign = 1.0 if mode == "max" else -1.0
        self.stopped_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = None
        self.best_weights = None

    def _improves(self, value, reference):
        return reference is None or self.sign * (value - reference) > self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"EarlyStopping: {self.monitor!r} is not in the logs "
                          f"({', '.join(logs or {})}); nothing to monitor", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        # as Keras 3: an improvement on the best so far records it, but only one that
        # also beats the baseline resets the wait; the stop check follows a non-improvement
        self.wait += 1
        if self._improves(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        """Keras 3 restores the best weights when training ends, stopped early or not."""
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class TerminateOnNaN(Callback):
    """Stops training when the loss is NaN or inf.  (The compiled loop already
    stops before applying a non-finite batch; this ends the whole ``fit``.)"""

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Epoch {epoch + 1}: invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=f)``.

    As in Keras 3, other keyword arguments become attributes, so any hook can be
    given by name (``on_batch_end=f``); ``fit`` calls the train, epoch and
    train-batch hooks (``on_batch_*`` included).  A hook given as None keeps the
    default.  Functions take ``(logs)``, ``(epoch, logs)`` or ``(batch, logs)``;
    ``on_batch_*`` get ``logs`` by keyword, as Keras passes it."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, value in kwargs.items():
            if value is not None or not callable(getattr(Callback, name, None)):
                setattr(self, name, value)
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)


def _verbosity(verbose):
    """A callback's ``verbose``: 0 or 1 (a bool counts as either)."""
    return validation.integer(int(verbose) if isinstance(verbose, (bool, np.bool_)) else verbose,
                              "verbose", low=0, high=1)


def _learning_rate(model):
    """The optimizer's learning rate as the epoch logs record it (a float)."""
    return float(model.optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by ``factor`` when ``monitor`` has not improved
    by ``min_delta`` for ``patience`` epochs, then waits ``cooldown`` epochs before
    counting again; never below ``min_lr`` (Keras 3's rules,
    ``keras/src/callbacks/reduce_lr_on_plateau.py``).  Logs the epoch's learning
    rate as ``learning_rate``, so History records it.

    Args:
        monitor: the logged value to watch, such as ``"val_loss"``.
        factor: a number in (0, 1): ``new_lr = lr * factor``.
        patience: an integer >= 0: epochs without improvement before reducing.
        verbose: 0 or 1: 1 prints each reduction.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for names holding "acc").
        min_delta: a number >= 0: a smaller change is no improvement.
        cooldown: an integer >= 0: epochs after a reduction before counting again.
        min_lr: a number >= 0: the lowest learning rate it sets.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        self.monitor = validation.string(monitor, "monitor", allow_none=False)
        self.factor = validation.real(factor, "factor", low=0, high=1, low_open=True,
                                      high_open=True)
        self.patience = validation.integer(patience, "patience", low=0)
        self.verbose = _verbosity(verbose)
        self.mode = validation.one_of(mode, "mode", ("auto", "min", "max"))
        self.min_delta = validation.real(min_delta, "min_delta", low=0)
        self.cooldown = validation.integer(cooldown, "cooldown", low=0)
        self.min_lr = validation.real(min_lr, "min_lr", low=0)
        self._reset()

    def _reset(self):
        self.sign = 1.0 if self.mode == "max" or (
            self.mode == "auto" and "acc" in self.monitor) else -1.0
        self.best = -self.sign * np.inf
        self.cooldown_counter = self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        logs["learning_rate"] = _learning_rate(self.model)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"ReduceLROnPlateau: {self.monitor!r} is not in the logs "
                          f"({', '.join(logs)}); the learning rate is left as it is",
                          stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.sign * (current - self.best) > self.min_delta:
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)

    def _reduce(self, epoch):
        old = _learning_rate(self.model)
        if old > self.min_lr:
            new = max(old * self.factor, self.min_lr)
            self.model.optimizer.learning_rate = new
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
            self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch's start to ``schedule(epoch, lr)`` (epoch
    counted from 0, ``lr`` the current rate; a function of ``epoch`` alone is
    called as ``schedule(epoch)``, as Keras does when the two-argument call raises
    TypeError).  Logs the epoch's rate as ``learning_rate``, so History records it.

    Args:
        schedule: a function returning a float (Python's or NumPy's) > 0.
        verbose: 0 or 1: 1 prints each epoch's rate.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be a function (epoch, lr) -> lr, got {schedule!r}")
        self.schedule = schedule
        self.verbose = _verbosity(verbose)

    def on_epoch_begin(self, epoch, logs=None):
        try:
            lr = self.schedule(epoch, _learning_rate(self.model))
        except TypeError:  # Keras' older form: schedule(epoch)
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.floating)):
            raise ValueError(f"the schedule must return a float, got {lr!r} at epoch {epoch}")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _learning_rate(self.model)


class CSVLogger(Callback):
    """Writes each epoch's logs to a CSV file: an ``epoch`` column (from 0), then
    the logged names sorted, as Keras' (``keras/src/callbacks/csv_logger.py``).

    Args:
        filename: the file's path.
        separator: the column separator, one character.
        append: True: add to an existing file (its header kept, written only if
            the file is empty); False: overwrite it.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = validation.filepath(filename, "filename")
        self.sep = validation.string(separator, "separator", allow_none=False)
        self.append = validation.boolean(append, "append")
        self.csv_file = self.writer = self.keys = None

    def on_train_begin(self, logs=None):
        header = not (self.append and os.path.exists(self.filename)
                      and os.path.getsize(self.filename) > 0)
        self.on_train_end()
        self.csv_file = open(self.filename, "a" if self.append else "w")
        self.append_header, self.writer, self.keys = header, None, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.writer is None:
            self.keys = sorted(logs)
            dialect = type("Dialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, ["epoch", *self.keys], dialect=dialect)
            if self.append_header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{k: _csv_value(logs.get(k, "NA"))
                                                 for k in self.keys}})
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value):
    """A logged value as Keras' CSVLogger writes it (a sequence as ``"[a, b]"``)."""
    if isinstance(value, str) or np.ndim(value) == 0:
        return value
    return f'"[{", ".join(map(str, value))}]"'


# the words of logged names that are better when larger (ModelCheckpoint's mode="auto")
_MAXIMIZED = ("acc", "auc", "precision", "recall", "f1", "iou")
_MODEL_SUFFIXES = (".keras", ".h5", ".densefit")  # ModelCheckpoint: the whole model
_WEIGHTS_SUFFIXES = (".weights.h5", ".weights.npz")  # with save_weights_only=True


class _SavesOnSchedule(Callback):
    """A callback that saves at each epoch's end or, with an integer
    ``save_freq``, every that many batches (ModelCheckpoint, BackupAndRestore):
    the counting is here, what a save writes in ``_save_after_batch``."""

    def __init__(self, save_freq):
        super().__init__()
        self.save_freq = validation.save_freq(save_freq)
        self._epoch, self._batches_since_save = 0, 0

    def needs_batches(self):
        return self.save_freq != "epoch"

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save_after_batch(batch, logs or {})


class ModelCheckpoint(_SavesOnSchedule):
    """Saves the model (``model.save``) or its weights (``model.save_weights``) at each
    epoch's end, or every ``save_freq`` batches; with ``save_best_only`` only when
    ``monitor`` improved (Keras 3's rules, ``keras/src/callbacks/model_checkpoint.py``).

    Args:
        filepath: the file; Python format fields take ``epoch`` (from 1), ``batch``
            (from 1, when saving every ``save_freq`` batches) and the logged
            values: ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"``.  It ends in
            ``.keras``, ``.h5`` or ``.densefit`` (``.weights.h5`` or ``.weights.npz``
            with ``save_weights_only``); the file is what ``model.save`` writes.
        monitor: the logged value ``save_best_only`` watches.
        verbose: 0 or 1: 1 prints each save.
        save_best_only: True: save only when ``monitor`` improves on the best so far.
        save_weights_only: True: the weights alone.
        mode: ``"min"``, ``"max"`` or ``"auto"``: max for ``acc``, ``auc``,
            ``precision``, ``recall``, ``f1`` and ``iou`` names, else min.
        save_freq: ``"epoch"`` or a number of batches (this one then returns to
            Python after each batch).
        initial_value_threshold: None, or the value ``monitor`` must beat first.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__(save_freq)
        self.save_weights_only = validation.boolean(save_weights_only, "save_weights_only")
        self.filepath = validation.suffix(
            validation.filepath(filepath),
            _WEIGHTS_SUFFIXES if self.save_weights_only else _MODEL_SUFFIXES, "filepath",
            "a weights file" if self.save_weights_only else "a model file")
        self.monitor = validation.string(monitor, "monitor", allow_none=False)
        self.verbose = _verbosity(verbose)
        self.save_best_only = validation.boolean(save_best_only, "save_best_only")
        mode = validation.one_of(mode, "mode", ("auto", "min", "max"))
        if mode == "auto":
            mode = "max" if any(word in monitor for word in _MAXIMIZED) else "min"
        self.sign = 1.0 if mode == "max" else -1.0
        self.best = (None if initial_value_threshold is None else
                     validation.real(initial_value_threshold, "initial_value_threshold"))

    def _save_after_batch(self, batch, logs):
        self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _path(self, epoch, batch, logs):
        fields = dict(logs, epoch=epoch + 1) if batch is None else \
            dict({"batch": batch + 1}, **logs, epoch=epoch + 1)
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint cannot fill in filepath {self.filepath!r}: "
                           f"{e} is not logged (logged: {', '.join(fields)})") from None

    def _improved(self, epoch, logs, path):
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"ModelCheckpoint: can save the best model only with "
                          f"{self.monitor!r} logged ({', '.join(logs)}); saving anyway",
                          stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self.best is None or self.sign * (current - self.best) > 0:
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                      f"{current:.5f}, saving model to {path}")
            self.best = current
            return True
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save(self, epoch, batch, logs):
        path = self._path(epoch, batch, logs)
        if self.save_best_only:
            if not self._improved(epoch, logs, path):
                return
        elif self.verbose:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        (self.model.save_weights if self.save_weights_only else self.model.save)(path)


class BackupAndRestore(_SavesOnSchedule):
    """Backs up the whole training state (weights, the optimizer's variables and
    learning rate, the shuffle generator) into ``backup_dir`` at each epoch's end
    (or every ``save_freq`` batches), so a fit that is killed or raises resumes
    where it stopped: the next ``fit`` with this callback restores the state and
    starts at the epoch after the last backup.  Resuming from an epoch's backup
    gives the weights an uninterrupted fit would have.  A fit that ends normally
    deletes the backup (``delete_checkpoint``); one ended by an exception keeps it.

    Each backup is one model file (``model.save``) named by its epoch and a
    ``training_metadata.json`` naming it, written after it: a kill at any moment
    leaves the last complete pair.

    Args:
        backup_dir: the directory (created when needed) holding the backup.
        save_freq: ``"epoch"``, or a number of batches: a backup within an epoch
            resumes at that epoch's start with those weights, as Keras does (not
            exact: the epoch's batches are drawn again).
        delete_checkpoint: True: delete ``backup_dir`` when fit ends normally.
    """

    METADATA = "training_metadata.json"

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__(save_freq)
        self.backup_dir = validation.filepath(backup_dir, "backup_dir")
        self.delete_checkpoint = validation.boolean(delete_checkpoint, "delete_checkpoint")

    def on_train_begin(self, logs=None):
        self._exception = sys.exc_info()[1]  # on_train_end tells fit's own end from it
        metadata = os.path.join(self.backup_dir, self.METADATA)
        if not os.path.exists(metadata):
            return
        with open(metadata) as f:
            saved = json.load(f)
        self._restore(saved)
        self.model._initial_epoch = self._epoch = saved["epoch"]

    def _restore(self, saved):
        """The backed-up state into the model, through its public hooks."""
        backup = saving.load_model(os.path.join(self.backup_dir, saved["model"]))
        state = backup.get_state_tree()
        self.model.set_weights(backup.get_weights())
        optimizer = self.model.optimizer
        if not callable(optimizer.get_config()["learning_rate"]):  # a number, not a schedule
            optimizer.learning_rate = backup.optimizer.learning_rate
        optimizer.load_own_variables(state["optimizer_variables"])
        self.model.seed_generator.bit_generator.state = state["seed_generator_state"]

    def _save_after_batch(self, batch, logs):
        self._save(self._epoch, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1, 0)

    def _save(self, epoch, batch):
        """Write the model file, then the metadata naming it, then drop the old file."""
        os.makedirs(self.backup_dir, exist_ok=True)
        metadata = os.path.join(self.backup_dir, self.METADATA)
        old = None
        if os.path.exists(metadata):
            with open(metadata) as f:
                old = json.load(f)["model"]
        name = f"backup-{epoch}-{batch}.densefit"
        self.model.save(os.path.join(self.backup_dir, name))
        text = json.dumps({"epoch": epoch, "batch": batch, "model": name})
        _replace_text(metadata, text)
        if old is not None and old != name:
            os.remove(os.path.join(self.backup_dir, old))

    def on_train_end(self, logs=None):
        if sys.exc_info()[1] is not self._exception:  # fit is ending by an exception
            return
        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            shutil.rmtree(self.backup_dir)


def _replace_text(path, text):
    """``path`` now holds ``text``, or (killed midway) still its old content."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class ProgbarLogger(Callback):
    """Keras' progress-line callback.  densefit's fit draws the line itself, as
    ``verbose`` says (Keras too draws one line whether or not this is given, and
    none with ``verbose=0``): this is accepted so Keras programs run unchanged."""


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
