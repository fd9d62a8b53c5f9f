"""Callbacks with Keras' hooks.  ``fit`` hands control to Python only where a
callback needs it: between epochs always, between batches only for callbacks
that override a batch hook (the compiled loop otherwise runs batches in chunks
of about 0.1 s)."""
import warnings

import numpy as np

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
    epoch's weights (Keras 3's rules, ``keras/src/callbacks/early_stopping.py``)."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be the name of a logged value such as 'val_loss', "
                            f"got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        for value, name in ((patience, "patience"), (start_from_epoch, "start_from_epoch")):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        for value, name in ((min_delta, "min_delta"), (baseline, "baseline")):
            if value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, float, np.integer, np.floating)) or not np.isfinite(value)):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if min_delta is None:
            raise ValueError("min_delta must be a finite number, got None")
        if not isinstance(restore_best_weights, (bool, np.bool_)):
            raise TypeError(f"restore_best_weights must be True or False, got "
                            f"{restore_best_weights!r}")
        if verbose not in (0, 1):
            raise ValueError(f"verbose must be 0 or 1, got {verbose!r}")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.min_delta = abs(float(min_delta))
        self.sign = 1.0 if mode == "max" else -1.0
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
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
