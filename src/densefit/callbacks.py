"""Callbacks with Keras' hooks.  ``fit`` hands control to Python only where a
callback needs it: between epochs always, between batches only for callbacks
that override a batch hook (the compiled loop otherwise runs batches in chunks
of about 0.1 s)."""
import warnings

import numpy as np

from . import missing, validation

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


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
