"""densefit.callbacks and the hooks fit calls: History, EarlyStopping, batch hooks,
LambdaCallback, TerminateOnNaN and the core's stop on a non-finite loss.

EarlyStopping is driven by a model whose loss trajectory is known in closed
form: one Dense(1) unit with zero initial weights, x = 1, y = 1, full-batch SGD.
The prediction is p = w + b, and each step moves the error e = p - 1 to
e (1 - 4 lr), so the epoch losses (each computed before that epoch's update) are
(1 - 4 lr) ** (2 k): lr = 0.1 decays by 0.36 an epoch, lr = 0.6 grows by 1.96.
"""
import json
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from densefit import Sequential, callbacks, reference
from densefit import layers as layers_module
from densefit.activations import LEAKY_RELU_SLOPE as KERAS_SLOPE  # leaky_relu's default
from densefit.callbacks import Callback, EarlyStopping, History, LambdaCallback, TerminateOnNaN
from densefit.layers import Dense, Input
from densefit.losses import SparseCategoricalCrossentropy
from densefit.optimizers import SGD, Adam
from densefit.utils import set_random_seed

@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same global seed, so initial weights are reproducible."""
    set_random_seed(1234)


DECAY, GROWTH = 0.1, 0.6  # learning rates: loss x0.36 / x1.96 per epoch


def line_model(lr):
    model = Sequential([Input(shape=(1,), dtype="float64"),
                        Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=SGD(learning_rate=lr), loss="mse")
    return model


def train_line(lr, epochs, callbacks=(), **fit_args):
    model = line_model(lr)
    history = model.fit(np.ones((4, 1)), np.ones(4), batch_size=4, epochs=epochs, shuffle=False,
                        verbose=0, callbacks=list(callbacks), **fit_args)
    return model, history


def weights_after(lr, epochs):
    """w = b after ``epochs`` full-batch steps: p = 2 w = 1 - (1 - 4 lr) ** epochs."""
    w = (1 - (1 - 4 * lr) ** epochs) / 2
    return [np.array([[w]]), np.array([w])]


def assert_weights(model, expected):
    for got, want in zip(model.get_weights(), expected):
        assert_allclose(got, want, rtol=1e-12)


def test_the_trajectories_are_as_computed():
    _, history = train_line(DECAY, 5)
    assert_allclose(history.history["loss"], 0.36 ** np.arange(5), rtol=1e-12)
    model, history = train_line(GROWTH, 5)
    assert_allclose(history.history["loss"], 1.96 ** np.arange(5), rtol=1e-12)
    assert_weights(model, weights_after(GROWTH, 5))


# ------------------------------------------------------------------ History

def test_history_is_returned_and_kept_on_the_model():
    model, history = train_line(DECAY, 3)
    assert isinstance(history, History)
    assert model.history is history
    assert history.epoch == [0, 1, 2]
    assert list(history.history) == ["loss"]
    assert history.model is model


def test_each_fit_returns_a_new_history():
    model = line_model(DECAY)
    h1 = model.fit(np.ones((4, 1)), np.ones(4), epochs=2, verbose=0)
    h2 = model.fit(np.ones((4, 1)), np.ones(4), epochs=1, verbose=0)
    assert h1 is not h2 and len(h1.history["loss"]) == 2 and len(h2.history["loss"]) == 1


# ------------------------------------------------------------------ EarlyStopping

@pytest.mark.parametrize("patience", [0, 1, 2, 4])
def test_early_stopping_stops_patience_epochs_after_the_best(patience):
    """A diverging loss is best at epoch 0: training stops at epoch `patience` (at least 1)."""
    stopper = EarlyStopping(monitor="loss", patience=patience)
    model, history = train_line(GROWTH, 20, [stopper])
    stop = max(patience, 1)
    assert len(history.history["loss"]) == stop + 1
    assert stopper.stopped_epoch == stop and stopper.best_epoch == 0
    assert model.optimizer.iterations == stop + 1
    assert_weights(model, weights_after(GROWTH, stop + 1))  # not restored


def test_early_stopping_never_stops_an_improving_loss():
    stopper = EarlyStopping(monitor="loss", patience=0)
    _, history = train_line(DECAY, 8, [stopper])
    assert len(history.history["loss"]) == 8 and stopper.stopped_epoch == 0


def test_early_stopping_restores_the_best_weights_when_it_stops():
    seen = []
    recorder = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(model.get_weights()))
    stopper = EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)
    model = line_model(GROWTH)
    history = model.fit(np.ones((4, 1)), np.ones(4), batch_size=4, epochs=20, shuffle=False,
                        verbose=0, callbacks=[recorder, stopper])
    assert len(history.history["loss"]) == 3 and len(seen) == 3
    # the best epoch is the first: its end-of-epoch weights (after one step) come back
    assert_weights(model, weights_after(GROWTH, 1))
    for got, want in zip(model.get_weights(), seen[0]):
        assert_array_equal(got, want)


def test_early_stopping_restores_the_best_weights_without_stopping():
    """Keras 3 restores the best epoch's weights at the end of training either way."""
    stopper = EarlyStopping(monitor="loss", patience=10, restore_best_weights=True)
    model, history = train_line(GROWTH, 4, [stopper])
    assert len(history.history["loss"]) == 4 and stopper.stopped_epoch == 0
    assert_weights(model, weights_after(GROWTH, 1))


def test_early_stopping_on_val_loss():
    """Training toward y = 1 while validating against y = -1: the training loss falls,
    the validation loss (1 + p) ** 2 rises from the first epoch on."""
    val = (np.ones((2, 1)), -np.ones(2))
    by_val = EarlyStopping(patience=1, restore_best_weights=True)  # monitor="val_loss"
    model, history = train_line(DECAY, 10, [by_val], validation_data=val)
    p = 1 - 0.6 ** np.arange(1, 3)  # the prediction after epochs 0 and 1
    assert_allclose(history.history["val_loss"], (1 + p) ** 2, rtol=1e-12)
    assert len(history.history["loss"]) == 2 and by_val.stopped_epoch == 1
    assert_weights(model, weights_after(DECAY, 1))
    # the same run watching the training loss goes on to the end
    _, history = train_line(DECAY, 10, [EarlyStopping(monitor="loss", patience=1)],
                            validation_data=val)
    assert len(history.history["loss"]) == 10


def test_early_stopping_min_delta():
    """Losses 1, 0.36, 0.13, 0.047: the third drop (0.083) is below min_delta 0.1."""
    stopper = EarlyStopping(monitor="loss", min_delta=0.1, patience=0)
    _, history = train_line(DECAY, 10, [stopper])
    assert len(history.history["loss"]) == 4 and stopper.stopped_epoch == 3
    assert stopper.best_epoch == 2


def test_early_stopping_mode_max():
    stopper = EarlyStopping(monitor="loss", mode="max", patience=0)
    _, history = train_line(GROWTH, 5, [stopper])  # a growing loss is improving in max mode
    assert len(history.history["loss"]) == 5
    stopper = EarlyStopping(monitor="loss", mode="max", patience=0)
    _, history = train_line(DECAY, 5, [stopper])
    assert len(history.history["loss"]) == 2


def test_early_stopping_auto_mode_maximises_accuracy():
    assert EarlyStopping(monitor="val_accuracy").sign == 1.0
    assert EarlyStopping(monitor="val_loss").sign == -1.0
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")


def test_early_stopping_baseline():
    """Keras 3: an epoch that does not beat the baseline does not reset the wait, so a
    diverging run stops one epoch sooner; an improving run is never stopped."""
    plain = EarlyStopping(monitor="loss", patience=3)
    _, history = train_line(GROWTH, 10, [plain])
    assert len(history.history["loss"]) == 4
    with_baseline = EarlyStopping(monitor="loss", patience=3, baseline=0.5)
    _, history = train_line(GROWTH, 10, [with_baseline])
    assert len(history.history["loss"]) == 3
    unreachable = EarlyStopping(monitor="loss", patience=1, baseline=1e-9)
    _, history = train_line(DECAY, 6, [unreachable])
    assert len(history.history["loss"]) == 6


def test_early_stopping_start_from_epoch():
    stopper = EarlyStopping(monitor="loss", patience=0, start_from_epoch=2)
    _, history = train_line(GROWTH, 10, [stopper])
    assert len(history.history["loss"]) == 4  # epoch 2 is the first watched, 3 is worse
    assert stopper.best_epoch == 2


def test_early_stopping_is_reusable():
    stopper = EarlyStopping(monitor="loss", patience=1)
    for _ in range(2):
        _, history = train_line(GROWTH, 10, [stopper])
        assert len(history.history["loss"]) == 2


def test_early_stopping_on_a_missing_monitor_warns_and_goes_on():
    with pytest.warns(UserWarning, match="'val_loss' is not in the logs"):
        _, history = train_line(GROWTH, 3, [EarlyStopping(patience=0)])
    assert len(history.history["loss"]) == 3


def test_early_stopping_verbose(capsys):
    train_line(GROWTH, 10, [EarlyStopping(monitor="loss", patience=1, verbose=1,
                                          restore_best_weights=True)])
    out = capsys.readouterr().out
    assert "Epoch 2: early stopping" in out
    assert "Restoring model weights from the end of the best epoch: 1." in out


# ------------------------------------------------------------------ batch hooks

class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin", None, dict(logs or {})))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch, dict(logs or {})))

    def on_train_batch_begin(self, batch, logs=None):
        self.events.append(("batch_begin", batch, dict(logs or {})))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("batch_end", batch, dict(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, dict(logs)))

    def on_train_end(self, logs=None):
        self.events.append(("train_end", None, dict(logs or {})))

    def of(self, kind):
        return [(i, logs) for k, i, logs in self.events if k == kind]


def classifier_and_data(n=50):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int)
    set_random_seed(0)
    model = Sequential([Input(shape=(4,), dtype="float64"), Dense(5, activation="tanh"),
                        Dense(3)])
    model.compile(optimizer=Adam(0.01), loss=SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model, x, y


def test_batch_hooks_get_one_call_per_batch_with_running_logs():
    model, x, y = classifier_and_data()
    w = model.get_weights()
    mlp = reference.MLP(list(zip(w[::2], w[1::2], ["tanh", "linear"])), "sparse_ce_logits",
                        False, KERAS_SLOPE, **model.optimizer.get_config())
    recorder = Recorder()
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                        callbacks=[recorder])
    ends = recorder.of("batch_end")
    assert [i for i, _ in recorder.of("batch_begin")] == [0, 1, 2, 3] * 2
    assert [i for i, _ in ends] == [0, 1, 2, 3] * 2
    sizes = np.array([16, 16, 16, 2])
    for epoch in range(2):
        losses, hits = [], []
        for start in range(0, 50, 16):
            xb, yb = x[start:start + 16], y[start:start + 16]
            hits.append(reference.sparse_accuracy(mlp.predict(xb), yb))
            losses.append(mlp.train_step(xb, yb))
        running = np.cumsum(np.array(losses) * sizes) / np.cumsum(sizes)
        running_acc = np.cumsum(np.array(hits) * sizes) / np.cumsum(sizes)
        logs = [logs for _, logs in ends[4 * epoch:4 * epoch + 4]]
        assert all(set(entry) == {"loss", "accuracy"} for entry in logs)
        assert_allclose([entry["loss"] for entry in logs], running, rtol=1e-10)
        assert_allclose([entry["accuracy"] for entry in logs], running_acc, rtol=1e-12)
        # the last batch's running logs are the epoch's
        assert logs[-1]["loss"] == history.history["loss"][epoch]


def test_batch_hooks_do_not_change_the_training():
    model, x, y = classifier_and_data()
    plain = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    plain_weights = model.get_weights()
    model, x, y = classifier_and_data()
    hooked = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[Recorder()])
    assert hooked.history == plain.history
    for a, b in zip(model.get_weights(), plain_weights):
        assert_array_equal(a, b)


def test_hook_order_and_arguments():
    model, x, y = classifier_and_data(n=20)
    recorder = Recorder()
    history = model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[recorder])
    kinds = [(k, i) for k, i, _ in recorder.events]
    epoch = [("batch_begin", 0), ("batch_end", 0), ("batch_begin", 1), ("batch_end", 1)]
    assert kinds == ([("train_begin", None), ("epoch_begin", 0)] + epoch + [("epoch_end", 0),
                     ("epoch_begin", 1)] + epoch + [("epoch_end", 1), ("train_end", None)])
    epoch_ends = recorder.of("epoch_end")
    assert epoch_ends[1][1] == {k: v[1] for k, v in history.history.items()}
    assert recorder.events[-1][2] == epoch_ends[1][1]  # on_train_end gets the last logs
    assert recorder.model is model


def test_stop_training_from_a_batch_hook_ends_the_epoch_there():
    model, x, y = classifier_and_data()

    class StopAfterTwo(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    recorder = Recorder()
    history = model.fit(x, y, batch_size=10, epochs=3, verbose=0,
                        callbacks=[StopAfterTwo(), recorder])
    assert model.optimizer.iterations == 2
    assert len(history.history["loss"]) == 1
    assert history.history["loss"][0] == recorder.of("batch_end")[-1][1]["loss"]


def test_stop_training_from_an_epoch_hook():
    model, x, y = classifier_and_data()
    stop = LambdaCallback(on_epoch_end=lambda epoch, logs: setattr(model, "stop_training",
                                                                   epoch == 1))
    history = model.fit(x, y, batch_size=10, epochs=5, verbose=0, callbacks=[stop])
    assert len(history.history["loss"]) == 2 and model.optimizer.iterations == 10


# ------------------------------------------------------------------ LambdaCallback

def test_lambda_callback_with_keras_signatures():
    model, x, y = classifier_and_data(n=20)
    events = []
    callback = LambdaCallback(
        on_train_begin=lambda logs: events.append(("train_begin", logs)),
        on_epoch_begin=lambda epoch, logs: events.append(("epoch_begin", epoch)),
        on_epoch_end=lambda epoch, logs: events.append(("epoch_end", epoch, logs["loss"])),
        on_train_batch_begin=lambda batch, logs: events.append(("batch_begin", batch)),
        on_train_batch_end=lambda batch, logs: events.append(("batch_end", batch)),
        on_train_end=lambda logs: events.append(("train_end", logs["loss"])))
    assert callback.needs_batches()
    history = model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[callback])
    losses = history.history["loss"]
    assert events == [("train_begin", {}),
                      ("epoch_begin", 0), ("batch_begin", 0), ("batch_end", 0),
                      ("batch_begin", 1), ("batch_end", 1), ("epoch_end", 0, losses[0]),
                      ("epoch_begin", 1), ("batch_begin", 0), ("batch_end", 0),
                      ("batch_begin", 1), ("batch_end", 1), ("epoch_end", 1, losses[1]),
                      ("train_end", losses[1])]


def test_lambda_callback_without_batch_hooks_runs_whole_epochs():
    callback = LambdaCallback(on_epoch_end=lambda epoch, logs: None)
    assert not callback.needs_batches()
    assert not History().needs_batches()
    assert Recorder().needs_batches()


# ------------------------------------------------------------------ non-finite losses

def exploding():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    model = Sequential([Input(shape=(3,)), Dense(1)])
    model.compile(optimizer=SGD(learning_rate=1e30), loss="mse")
    return model, x, x.sum(axis=1)


def test_a_non_finite_loss_stops_training_with_finite_weights():
    model, x, y = exploding()
    with pytest.warns(RuntimeWarning, match=r"the loss became inf at epoch 1, batch 2"):
        history = model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0,
                            validation_data=(x, y))
    assert len(history.history["loss"]) == 1
    assert not np.isfinite(history.history["loss"][0])
    assert "val_loss" not in history.history  # no validation of a diverged epoch
    assert model.optimizer.iterations == 1  # the first step applied, the second refused
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert np.isfinite(model.predict(x)).all()


def test_a_non_finite_first_batch_changes_nothing():
    model, x, y = exploding()
    huge = [np.full((3, 1), 1e30, np.float32), np.zeros(1, np.float32)]
    model.set_weights(huge)  # (3e30)^2 overflows float32 in the first loss
    with pytest.warns(RuntimeWarning, match="batch 1"):
        model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert model.optimizer.iterations == 0
    for got, want in zip(model.get_weights(), huge):
        assert_array_equal(got, want)


def test_terminate_on_nan(capsys):
    model, x, y = exploding()
    epochs_seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(x, y, batch_size=8, epochs=5, verbose=0,
                  callbacks=[TerminateOnNaN(),
                             LambdaCallback(on_epoch_end=lambda e, logs: epochs_seen.append(e))])
    assert epochs_seen == [0]
    assert "Epoch 1: invalid loss, terminating training" in capsys.readouterr().out
    assert model.stop_training


def test_terminate_on_nan_leaves_finite_training_alone(capsys):
    model, history = train_line(DECAY, 3, [TerminateOnNaN()])
    assert len(history.history["loss"]) == 3 and capsys.readouterr().out == ""


# ------------------------------------------------------------------ Keras' batch-hook aliases

def running_logs(model, x, y, batch_size, epochs):
    """The logs a Recorder's on_train_batch_end gets from the same run (fresh model)."""
    recorder = Recorder()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0,
              callbacks=[recorder])
    return recorder.of("batch_end")


def test_lambda_callback_on_batch_end_is_called_per_batch_with_keras_logs():
    """Keras' LambdaCallback sets any keyword argument as an attribute, and its
    Callback's on_train_batch_end calls on_batch_end(batch, logs=logs)."""
    model, x, y = classifier_and_data()
    expected = running_logs(model, x, y, 16, 2)
    model, x, y = classifier_and_data()
    seen = []
    callback = LambdaCallback(on_batch_end=lambda batch, logs: seen.append((batch, dict(logs))))
    assert callback.needs_batches()
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                        callbacks=[callback])
    assert len(seen) == 8 and [i for i, _ in seen] == [0, 1, 2, 3] * 2
    assert seen == expected
    assert set(seen[0][1]) == {"loss", "accuracy"}
    assert [seen[3][1]["loss"], seen[7][1]["loss"]] == history.history["loss"]


def test_lambda_callback_on_batch_begin_is_called_before_each_batch():
    model, x, y = classifier_and_data()
    seen = []
    callback = LambdaCallback(on_batch_begin=lambda batch, logs: seen.append(
        (batch, dict(logs), model.optimizer.iterations)))
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[callback])
    assert seen == [(i % 4, {}, i) for i in range(8)]  # before the step: iterations == i


def test_on_batch_hooks_get_logs_by_keyword():
    model, x, y = classifier_and_data(n=20)
    seen = []
    model.fit(x, y, batch_size=10, epochs=1, verbose=0, callbacks=[
        LambdaCallback(on_batch_end=lambda batch, **kwargs: seen.append(sorted(kwargs)))])
    assert seen == [["logs"], ["logs"]]


def test_a_train_batch_hook_replaces_the_on_batch_alias():
    """As in Keras: on_train_batch_end given directly replaces the default that
    would have called on_batch_end."""
    model, x, y = classifier_and_data(n=20)
    train_calls, alias_calls = [], []
    callback = LambdaCallback(on_train_batch_end=lambda batch, logs: train_calls.append(batch),
                              on_batch_end=lambda batch, logs: alias_calls.append(batch))
    model.fit(x, y, batch_size=10, epochs=1, verbose=0, callbacks=[callback])
    assert train_calls == [0, 1] and alias_calls == []


def test_a_subclass_overriding_on_batch_end_is_called():
    class Counter(Callback):
        def __init__(self):
            super().__init__()
            self.batches = []

        def on_batch_end(self, batch, logs=None):
            self.batches.append((batch, logs["loss"]))

    model, x, y = classifier_and_data()
    expected = [(i, logs["loss"]) for i, logs in running_logs(model, x, y, 16, 1)]
    model, x, y = classifier_and_data()
    counter = Counter()
    assert counter.needs_batches()
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[counter])
    assert counter.batches == expected


class Plain(Callback):
    pass


@pytest.mark.parametrize("cls", [Callback, Plain])
@pytest.mark.parametrize("name", ["on_train_batch_end", "on_batch_end",
                                  "on_train_batch_begin", "on_batch_begin"])
def test_a_batch_hook_assigned_on_the_instance_is_called(cls, name):
    """A hook set as an instance attribute (not in the class) still makes fit
    return to Python after every batch."""
    model, x, y = classifier_and_data()
    calls = []
    callback = cls()
    assert not callback.needs_batches()
    setattr(callback, name, lambda batch, logs=None: calls.append(batch))
    assert callback.needs_batches()
    model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[callback])
    assert calls == [0, 1, 2, 3, 4] * 2


def test_lambda_callback_keeps_other_keyword_arguments_as_attributes():
    """Keras sets them all; hooks fit does not call do not make it go per batch."""
    def on_test_batch_end(batch, logs):
        pass

    callback = LambdaCallback(on_test_batch_end=on_test_batch_end, custom_method=len,
                              on_batch_end=None)
    assert callback.on_test_batch_end is on_test_batch_end and callback.custom_method is len
    assert not callback.needs_batches()  # on_batch_end=None keeps the default
    assert not LambdaCallback().needs_batches()


# ------------------------------------------------------------------ CallbackList

class HookRecorder(callbacks.Callback):
    """Appends (its tag, the hook, its arguments) to a shared list."""

    def __init__(self, tag, events):
        super().__init__()
        self.tag, self.events = tag, events

    def on_train_begin(self, logs=None):
        self.events.append((self.tag, "on_train_begin", logs))

    def on_train_end(self, logs=None):
        self.events.append((self.tag, "on_train_end", logs))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append((self.tag, "on_epoch_begin", epoch, logs))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append((self.tag, "on_epoch_end", epoch, logs))


class BatchHookRecorder(HookRecorder):
    def on_train_batch_begin(self, batch, logs=None):
        self.events.append((self.tag, "on_train_batch_begin", batch, logs))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append((self.tag, "on_train_batch_end", batch, logs))


def test_callback_list_forwards_every_hook_to_every_callback_in_order():
    events, model = [], object()
    first, second = BatchHookRecorder("a", events), BatchHookRecorder("b", events)
    hooks = callbacks.CallbackList([first, second], model)
    assert first.model is model and second.model is model
    logs = {"loss": 1.0}
    hooks.on_train_begin(logs)
    hooks.on_epoch_begin(3, logs)
    hooks.on_train_batch_begin(4, logs)
    hooks.on_train_batch_end(4, logs)
    hooks.on_epoch_end(3, logs)
    hooks.on_train_end(logs)
    expected = []
    for hook, args in [("on_train_begin", ()), ("on_epoch_begin", (3,)),
                       ("on_train_batch_begin", (4,)), ("on_train_batch_end", (4,)),
                       ("on_epoch_end", (3,)), ("on_train_end", ())]:
        expected += [(tag, hook, *args, logs) for tag in ("a", "b")]
    assert events == expected


def test_callback_list_append_sets_the_model_and_runs_last():
    events, model = [], object()
    hooks = callbacks.CallbackList((HookRecorder("user", events),), model)
    history = callbacks.History()
    hooks.append(history)
    hooks.append(HookRecorder("late", events))
    assert history.model is model
    hooks.on_epoch_end(0, {"loss": 2.0})
    assert [e[0] for e in events] == ["user", "late"]
    assert history.history == {"loss": [2.0]}


@pytest.mark.parametrize("members, needs", [
    ([], False), ([callbacks.History(), callbacks.EarlyStopping()], False),
    ([callbacks.History(), BatchHookRecorder("b", [])], True),
    ([callbacks.LambdaCallback(on_batch_end=lambda batch, logs: None)], True),
    ([callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: None)], False),
])
def test_callback_list_needs_batches(members, needs):
    hooks = callbacks.CallbackList(members, None)
    assert hooks.needs_batches is needs
    hooks.append(BatchHookRecorder("late", []))
    assert hooks.needs_batches is True


@pytest.mark.parametrize("bad", [callbacks.History(), [callbacks.History(), "history"],
                                 {"a": callbacks.History()}, "history"],
                         ids=["single", "string-member", "dict", "string"])
def test_callback_list_refuses_what_is_not_a_list_of_callbacks(bad):
    with pytest.raises(TypeError, match="callbacks must be a list of "
                                        "densefit.callbacks.Callback instances, got "):
        callbacks.CallbackList(bad, None)


def test_callback_list_of_none_is_empty():
    hooks = callbacks.CallbackList(None, None)
    assert hooks.callbacks == [] and hooks.needs_batches is False
    hooks.on_epoch_end(0, {})  # nothing to call


# ---------------------------------------------------------------- issue 11: Keras' other callbacks

from densefit import models  # noqa: E402
from densefit.callbacks import (BackupAndRestore, CSVLogger, LearningRateScheduler,  # noqa: E402
                                ModelCheckpoint, ProgbarLogger, ReduceLROnPlateau)


class Feed(Callback):
    """Puts the next of ``values`` into the logs as ``val_loss`` before the callbacks
    after it see them (a monitored sequence chosen by the test)."""

    def __init__(self, values):
        super().__init__()
        self.values = list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]


def lr_sequence(callback, values, lr=0.1):
    _, history = train_line(lr, len(values), [Feed(values), callback])
    return history.history["learning_rate"]


def test_reduce_lr_on_plateau_patience_factor_cooldown_min_lr():
    values = [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    lrs = lr_sequence(ReduceLROnPlateau(factor=0.5, patience=1, cooldown=1, min_lr=0.02), values)
    # logged: the epoch's rate, before this epoch's reduction; as in Keras, the
    # cooldown counts down before the check, so cooldown=1 delays nothing
    assert_allclose(lrs, [0.1, 0.1, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02])


def test_reduce_lr_on_plateau_min_delta_and_mode():
    values = [1.0, 0.99995, 0.5, 0.49]
    lrs = lr_sequence(ReduceLROnPlateau(patience=1), values)  # min_delta=1e-4
    assert_allclose(lrs, [0.1, 0.1, 0.01, 0.01])
    lrs = lr_sequence(ReduceLROnPlateau(patience=0, mode="max"), [1.0, 2.0, 2.0])
    assert_allclose(lrs, [0.1, 0.1, 0.1])  # patience 0: every non-improvement reduces
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_on_plateau_warns_on_a_missing_monitor():
    with pytest.warns(UserWarning, match="'val_loss' is not in the logs"):
        _, history = train_line(DECAY, 2, [ReduceLROnPlateau()])
    assert history.history["learning_rate"] == [DECAY, DECAY]


def test_learning_rate_scheduler_sets_each_epoch_and_history_records_it():
    model, history = train_line(DECAY, 3, [LearningRateScheduler(lambda epoch, lr: lr / 2)])
    assert_allclose(history.history["learning_rate"], [0.05, 0.025, 0.0125])
    # the rates were used: w follows each epoch's (1 - 4 lr) factor
    e = np.prod([1 - 4 * lr for lr in (0.05, 0.025, 0.0125)])
    assert_weights(model, [np.array([[(1 - e) / 2]]), np.array([(1 - e) / 2])])
    _, history = train_line(DECAY, 2, [LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))])
    assert_allclose(history.history["learning_rate"], [0.01, 0.02])  # Keras' older form
    with pytest.raises(ValueError, match="must return a float"):
        train_line(DECAY, 1, [LearningRateScheduler(lambda epoch, lr: 1)])


def test_learning_rate_scheduler_keeps_the_compiled_loop_chunked():
    assert not LearningRateScheduler(lambda e, lr: lr).needs_batches()
    assert not ReduceLROnPlateau().needs_batches()
    assert not ModelCheckpoint("m.keras").needs_batches()
    assert ModelCheckpoint("m.keras", save_freq=2).needs_batches()


def test_csv_logger_columns_rows_and_append(tmp_path):
    path = tmp_path / "log.csv"
    train_line(DECAY, 2, [CSVLogger(path)], validation_data=(np.ones((2, 1)), np.ones(2)))
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch,loss,val_loss"
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1"]
    assert float(lines[1].split(",")[1]) == 1.0
    train_line(DECAY, 1, [CSVLogger(path, separator=";", append=True)])
    assert path.read_text().splitlines()[3] == "0;1.0"  # appended, no second header


def test_model_checkpoint_epoch_names_and_best_only(tmp_path):
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.keras")
    values = [3.0, 2.0, 2.5, 1.0]
    train_line(DECAY, 4, [Feed(values), ModelCheckpoint(pattern, save_best_only=True)])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-01-3.00.keras", "ckpt-02-2.00.keras", "ckpt-04-1.00.keras"]
    loaded = models.load_model(tmp_path / "ckpt-02-2.00.keras")
    assert_weights(loaded, weights_after(DECAY, 2))


def test_model_checkpoint_weights_only_threshold_and_batches(tmp_path):
    path = tmp_path / "sub" / "w.weights.npz"
    values = [3.0, 2.0, 2.5]
    model, _ = train_line(DECAY, 3, [Feed(values), ModelCheckpoint(
        path, save_best_only=True, save_weights_only=True, initial_value_threshold=2.5)])
    model.load_weights(path)  # only epoch 2's beat 2.5
    assert_weights(model, weights_after(DECAY, 2))
    saved = []
    model = line_model(DECAY)
    model.save = lambda p: saved.append(p)
    model.fit(np.ones((8, 1)), np.ones(8), batch_size=2, epochs=2, verbose=0, shuffle=False,
              callbacks=[ModelCheckpoint(str(tmp_path / "b{epoch}-{batch}.keras"), save_freq=3)])
    assert [os.path.basename(p) for p in saved] == ["b1-3.keras", "b2-2.keras"]
    with pytest.raises(ValueError, match="must end in"):
        ModelCheckpoint("model.npz")
    with pytest.raises(ValueError, match="must end in '.weights.h5'"):
        ModelCheckpoint("model.keras", save_weights_only=True)
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("model.keras", save_freq=0)


def test_model_checkpoint_auto_mode_maximizes_accuracy(tmp_path):
    assert ModelCheckpoint("m.keras", monitor="val_accuracy").sign == 1.0
    assert ModelCheckpoint("m.keras", monitor="val_loss").sign == -1.0


class Crash(Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def mnist_like_model(seed=7):
    set_random_seed(seed)
    model = Sequential([Input(shape=(6,)), Dense(8, activation="relu"),
                        layers_module.Dropout(0.25, seed=3), Dense(3, activation="softmax")])
    model.compile(optimizer=Adam(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


DATA_RNG = np.random.default_rng(5)
X6 = DATA_RNG.normal(size=(100, 6))
Y3 = DATA_RNG.integers(0, 3, 100)


def fit6(model, epochs, callbacks):
    return model.fit(X6, Y3, batch_size=16, epochs=epochs, verbose=0, callbacks=callbacks)


def halve(epoch, lr):
    return lr / 2  # stateless: the restored rate decides what it sets


@pytest.mark.parametrize("stop_at", [1, 3])
def test_backup_and_restore_resumes_exactly(tmp_path, stop_at):
    whole = mnist_like_model()
    fit6(whole, 5, [LearningRateScheduler(halve)])
    backup = tmp_path / "backup"
    interrupted = mnist_like_model()
    with pytest.raises(KeyboardInterrupt):
        fit6(interrupted, 5, [BackupAndRestore(backup), Crash(stop_at),
                              LearningRateScheduler(halve)])
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == stop_at
    resumed = mnist_like_model(seed=99)  # another start: the backup decides
    history = fit6(resumed, 5, [BackupAndRestore(backup),
                                LearningRateScheduler(halve)])
    assert history.epoch == list(range(stop_at, 5))
    for got, want in zip(resumed.get_weights(), whole.get_weights()):
        assert_array_equal(got, want)
    assert resumed.optimizer.iterations == whole.optimizer.iterations
    assert resumed.optimizer.learning_rate == whole.optimizer.learning_rate
    assert not backup.exists()  # ended normally: deleted


def test_backup_and_restore_survives_a_killed_process(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(f"""
import os, signal, sys
sys.path.insert(0, {os.path.dirname(__file__)!r})
from test_callbacks import *
class Kill(Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2 and sys.argv[1] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
model = mnist_like_model()
fit6(model, 4, [BackupAndRestore({str(tmp_path / 'b')!r}), Kill()])
np.save({str(tmp_path / 'w.npy')!r}, np.concatenate([w.ravel() for w in model.get_weights()]))
""")
    killed = subprocess.run([sys.executable, str(script), "kill"])
    assert killed.returncode == -signal.SIGKILL
    assert subprocess.run([sys.executable, str(script), "resume"]).returncode == 0
    whole = mnist_like_model()
    fit6(whole, 4, [])
    assert_array_equal(np.load(tmp_path / "w.npy"),
                       np.concatenate([w.ravel() for w in whole.get_weights()]))


def test_backup_and_restore_keeps_the_backup_when_asked(tmp_path):
    model = mnist_like_model()
    fit6(model, 2, [BackupAndRestore(tmp_path / "b", delete_checkpoint=False)])
    names = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert names == ["backup-2-0.densefit", "training_metadata.json"]
    history = fit6(model, 2, [BackupAndRestore(tmp_path / "b")])  # already at epoch 2
    assert history.epoch == []


def test_progbar_logger_is_accepted(capsys):
    train_line(DECAY, 1, [ProgbarLogger()])
    assert capsys.readouterr().out == ""  # verbose=0: no line, as Keras


def test_evaluate_and_predict_call_test_and_predict_hooks():
    """evaluate(callbacks=...) and predict(callbacks=...) (keras.io's "Writing
    your own callbacks"): on_test_begin/end (end with evaluate's logs) and
    on_predict_begin/end, each callback's model set; batch hooks refused."""
    import densefit
    from densefit.callbacks import Callback

    class Recorder(Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_test_begin(self, logs=None):
            self.calls.append(("test_begin", dict(logs)))

        def on_test_end(self, logs=None):
            self.calls.append(("test_end", sorted(logs)))

        def on_predict_begin(self, logs=None):
            self.calls.append(("predict_begin", dict(logs)))

        def on_predict_end(self, logs=None):
            self.calls.append(("predict_end", dict(logs), self.model is model))

    class BatchWatcher(Callback):
        def on_test_batch_end(self, batch, logs=None):
            pass

    x = np.random.default_rng(0).normal(size=(10, 3))
    y = x.sum(1, keepdims=True)
    model = densefit.Sequential([densefit.Input(shape=(3,)), densefit.layers.Dense(1)])
    model.compile(loss="mse", metrics=["mae"])
    recorder = Recorder()
    result = model.evaluate(x, y, verbose=0, callbacks=[recorder])
    assert result == model.evaluate(x, y, verbose=0)
    out = model.predict(x, batch_size=4, verbose=0, callbacks=[recorder])
    np.testing.assert_array_equal(out, model.predict(x, verbose=0))
    assert recorder.calls == [("test_begin", {}), ("test_end", ["loss", "mae"]),
                              ("predict_begin", {}), ("predict_end", {}, True)]
    with pytest.raises(ValueError, match="BatchWatcher overrides on_test_batch_end"):
        model.evaluate(x, y, callbacks=[BatchWatcher()])
    model.predict(x, verbose=0, callbacks=[BatchWatcher()])  # a test hook: predict runs
