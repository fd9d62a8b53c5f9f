"""Shared state: one model used from several threads, and changed during its own fit.

* Consistent snapshots: ``save``, ``get_weights``, ``get_state_tree``,
  ``predict`` and ``evaluate`` from another thread while a fit runs see the
  state between two training steps, never a step half applied: a saved file
  equals the model after some step k exactly (weights, optimizer slots, step
  count), and the loaded model continues exactly as the original did.  fit's
  own callbacks read and save between its compiled calls without deadlock.
* Lazy build: threads that predict, build, fit or add on an unbuilt model at
  once end with one set of weights, the one every output came from.
* The model's structure during fit: ``add`` and ``compile`` from fit's
  callbacks (or another thread) are refused with a RuntimeError and change
  nothing; ``model.layers`` is a copy; ``add`` is O(1) per layer.

Guards that already pass on 3f8fb80 (kept so the new locks cannot break
them): callbacks reading and saving mid-fit, count_params/summary during fit,
concurrent predicts building an unbuilt model (``_build_lock`` was already
there), fit racing predict on an unbuilt model, readers going in between
compiled calls (it fails on a lock that lets fit starve them).  Every other test fails there.

Reference states come from a run with a batch hook (one compiled call per
batch), which updates bit for bit as the chunked runs do.  Sizes keep the file
to seconds; under the sanitizer stage (DENSEFIT_SANITIZE_RUN=1) they shrink.
"""
import hashlib
import os
import re
import sys
import threading
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from densefit import Sequential, _core, load_model
from densefit.callbacks import Callback, LambdaCallback
from densefit.layers import Dense, Input
from densefit.utils import set_random_seed

SANITIZE = bool(os.environ.get("DENSEFIT_SANITIZE_RUN"))
TIMEOUT = 60  # seconds: no join or wait below should ever come near it
# steps long enough and many enough (512) for reads to land inside compiled calls
FEATURES, HIDDEN, BATCH = 24, 128 if not SANITIZE else 32, 8
N = 512 if not SANITIZE else 128
EPOCHS = 8 if not SANITIZE else 3


def data(n=N, features=FEATURES, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = (np.abs(x[:, 0] * 1.3 + x[:, 1]) * 2).astype(np.int64) % 4
    return x, y


def make(seed=3):
    set_random_seed(seed)
    model = Sequential([Input((FEATURES,)), Dense(HIDDEN, activation="relu"),
                        Dense(HIDDEN, activation="tanh"), Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def flat(weights):
    return np.concatenate([w.ravel() for w in weights])


def digest(*arrays):
    """One hash of the arrays' bytes (None: zeros, the state before it is built)."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        h.update(np.zeros_like(arrays[0]).data if a is None else np.ascontiguousarray(a).data)
    return h.hexdigest()


PROBE = data(16, seed=5)[0]
EVAL = data(64, seed=6)


class Record(Callback):
    """Each step's state (weights, and weights with slots) as hashes, and the model's
    predict on PROBE and evaluate on EVAL then, by the step count."""

    def __init__(self):
        super().__init__()
        self.params, self.states, self.outputs = {}, {}, {}

    def on_train_begin(self, logs=None):
        self.on_train_batch_end(None)

    def on_train_batch_end(self, batch, logs=None):
        model, opt = self.model, self.model.optimizer
        params = flat(model.get_weights())
        self.params[digest(params)] = opt.iterations
        self.states[opt.iterations] = digest(params, opt.momentums, opt.velocities)
        self.outputs[opt.iterations] = (model.predict(PROBE, verbose=0),
                                        model.evaluate(*EVAL, verbose=0))


@pytest.fixture(scope="module")
def reference():
    """The data and the Record of an unshuffled fit."""
    x, y = data()
    model, record = make(), Record()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=[record])
    return x, y, record


def fit_in_thread(model, x, y, epochs=EPOCHS, **kwargs):
    """Starts ``model.fit`` in a thread; returns (thread, done event, errors)."""
    done, errors = threading.Event(), []

    def run():
        try:
            model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0, **kwargs)
        except BaseException as e:  # noqa: B902 - reported by the test
            errors.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, done, errors


def join(thread, errors):
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "fit did not finish"
    if errors:
        raise errors[0]


def read_during_fit(read, most):
    """Calls ``read(model)`` from this thread while another thread fits; returns the
    results (at most ``most``, taken while fit ran) and the fitted model.  The fit
    waits at its first epoch's end until a read has finished, so at least one
    read overlaps it however the threads are scheduled (a loaded machine may run
    a small fit to its end before this thread wakes)."""
    x, y = data()
    model = make()
    results, first_read = [], threading.Event()
    gate = LambdaCallback(on_epoch_end=lambda epoch, logs: epoch or first_read.wait(TIMEOUT))
    thread, done, errors = fit_in_thread(model, x, y, callbacks=[gate])
    while not done.is_set() and len(results) < most:
        results.append(read(model))
        first_read.set()
    join(thread, errors)
    return results, model


def state_of(model):
    opt = model.optimizer
    return flat(model.get_weights()), opt.iterations, opt.momentums, opt.velocities


def assert_is_step(record, params, iterations, momentums, velocities):
    assert iterations in record.states, f"no step {iterations}"
    assert digest(params, momentums, velocities) == record.states[iterations], \
        f"weights and optimizer slots are not those of step {iterations}"


# ------------------------------------------------------------ consistent snapshots


def test_save_during_fit_writes_one_step_and_the_loaded_model_continues_exactly(
        reference, tmp_path):
    x, y, record = reference
    paths = []

    def save(model):
        path = tmp_path / f"m{len(paths)}.densefit"
        model.save(path)
        paths.append(path)

    _, model = read_during_fit(save, 20 if not SANITIZE else 4)
    assert paths
    steps = N // BATCH
    for path in paths:
        loaded = load_model(path)
        k = loaded.optimizer.iterations
        assert_is_step(record, *state_of(loaded))
        if k < max(record.states):  # one more step, on the batch the original took next
            rows = slice((k % steps) * BATCH, (k % steps + 1) * BATCH)
            loaded.fit(x[rows], y[rows], batch_size=BATCH, shuffle=False, verbose=0)
            assert_is_step(record, *state_of(loaded))
    assert_is_step(record, *state_of(model))


def test_get_weights_and_get_state_tree_during_fit_are_one_step(reference):
    _, _, record = reference

    def read(model):
        tree = model.get_state_tree()
        variables = tree["optimizer_variables"]
        params = flat(w for layer in tree["trainable_variables"].values()
                      for w in (layer["kernel"], layer["bias"]))
        return model.get_weights(), (params, int(variables["iterations"]),
                                     variables.get("momentums"), variables.get("velocities"))

    results, _ = read_during_fit(read, 200 if not SANITIZE else 20)
    assert results
    for weights, tree in results:
        assert digest(flat(weights)) in record.params, "get_weights: no step's weights"
        assert_is_step(record, *tree)


def test_get_state_tree_layout():
    model = make()
    tree = model.get_state_tree()
    assert list(tree["trainable_variables"]) == [layer.name for layer in model.layers]
    assert list(tree["optimizer_variables"]) == ["iterations"]  # not trained: no slots yet
    model.fit(*data(32), batch_size=BATCH, verbose=0)
    tree = model.get_state_tree()
    assert sorted(tree["optimizer_variables"]) == ["iterations", "momentums", "velocities"]
    assert int(tree["optimizer_variables"]["iterations"]) == 4
    tree["optimizer_variables"]["momentums"][:] = 7  # copies: the model is untouched
    tree["trainable_variables"][model.layers[0].name]["kernel"][:] = 7
    assert not (model.optimizer.momentums == 7).any()
    assert not (model.layers[0].kernel == 7).any()
    assert tree["seed_generator_state"] == model.seed_generator.bit_generator.state
    assert Sequential([Dense(2)]).get_state_tree()["trainable_variables"] == {}


def test_predict_and_evaluate_during_fit_see_one_step(reference):
    """Decided: they wait for the step running (at most one compiled call) and
    answer for the weights between two steps."""
    _, _, record = reference
    outputs = {out.tobytes() for out, _ in record.outputs.values()}
    losses = {loss for _, loss in record.outputs.values()}
    results, _ = read_during_fit(lambda m: (m.predict(PROBE, verbose=0),
                                            m.evaluate(*EVAL, verbose=0)),
                                 200 if not SANITIZE else 20)
    assert results
    for out, loss in results:
        assert out.tobytes() in outputs, "predict answered for weights of no step"
        assert loss in losses, "evaluate answered for weights of no step"


def test_readers_go_in_between_compiled_calls_not_after_fit(compiled_calls):
    """fit takes the lock again microseconds after each compiled call: readers
    waiting for one must still go in before the next (they were starved until
    fit returned), and wait at most about one call."""
    calls = compiled_calls  # (start, end) of each compiled chunk
    x, y = data()
    model, reads = make(), []
    thread, done, errors = fit_in_thread(model, x, y, epochs=EPOCHS * 3)  # >= 24 calls
    while not done.is_set():
        start = time.perf_counter()
        model.predict(PROBE, verbose=0)
        reads.append((start, time.perf_counter()))
    join(thread, errors)
    first, last = calls[0][0], calls[-1][1]
    inside = [(a, b) for a, b in reads if first < a and b < last]
    assert len(inside) >= min(5, len(calls) // 4), \
        f"{len(inside)} of {len(reads)} reads went in during {len(calls)} compiled calls"
    longest_call = max(b - a for a, b in calls)
    assert max(b - a for a, b in inside) < 2 * longest_call + 0.05


def test_callbacks_of_the_fit_read_and_save_without_deadlock(reference, tmp_path):
    x, y, record = reference
    seen = []

    def read(batch=None, logs=None):
        model.save(tmp_path / "cb.densefit")
        seen.append((digest(*state_of(model)[:1], *state_of(model)[2:]),
                     model.optimizer.iterations))
        model.predict(x[:2], verbose=0)
        model.evaluate(x[:8], y[:8], verbose=0)
        model.set_weights(model.get_weights())  # EarlyStopping's restore does this

    model = make()
    thread, done, errors = fit_in_thread(model, x, y, callbacks=[LambdaCallback(
        on_epoch_end=read, on_train_batch_end=lambda b, logs: b % 37 or read())])
    join(thread, errors)
    assert seen
    for state, k in seen:
        assert state == record.states[k]
    assert_is_step(record, *state_of(model))
    assert_is_step(record, *state_of(load_model(tmp_path / "cb.densefit")))


def test_count_params_and_summary_during_fit():
    """They read shapes only, which fit never changes (add is refused): no waiting."""
    lines = []
    results, model = read_during_fit(
        lambda m: (m.count_params(), m.summary(print_fn=lines.append)), 10)
    assert {count for count, _ in results} == {model.count_params()}
    for text in lines:  # Total also counts the optimizer's state once it has stepped (Keras)
        counts = dict(re.findall(r"^ (\w[\w-]*) params: ([\d,]+)", text, re.M))
        counts = {kind: int(n.replace(",", "")) for kind, n in counts.items()}
        assert counts["Trainable"] + counts["Non-trainable"] == model.count_params()
        assert counts["Total"] == model.count_params() + counts.get("Optimizer", 0)


# ------------------------------------------------------------ lazy build


def barrier_threads(targets):
    """Runs the callables in threads started together; re-raises the first error."""
    barrier, errors = threading.Barrier(len(targets)), []

    def run(fn):
        try:
            barrier.wait(TIMEOUT)
            fn()
        except BaseException as e:  # noqa: B902 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive()
    if errors:
        raise errors[0]


@pytest.fixture
def fast_switching():
    """Hand the GIL over every microsecond: races show up in a few rounds."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


ROUNDS = 30 if not SANITIZE else 8


def test_concurrent_predicts_on_an_unbuilt_model_build_once(fast_switching):
    x = data(5)[0]
    for _ in range(ROUNDS):
        model = Sequential([Dense(16), Dense(3)])
        outputs = []
        barrier_threads([lambda: outputs.append(model.predict(x, verbose=0))] * 4)
        final = model.predict(x, verbose=0)
        assert all(np.array_equal(out, final) for out in outputs)


def test_build_racing_predict_builds_once(fast_switching):
    x = data(5)[0]
    for _ in range(ROUNDS):
        model = Sequential([Dense(16), Dense(3)])
        outputs = []
        barrier_threads([lambda: model.build((None, FEATURES)),
                         lambda: outputs.append(model.predict(x, verbose=0))] * 2)
        final = model.predict(x, verbose=0)
        assert all(np.array_equal(out, final) for out in outputs)


def test_add_racing_predict_leaves_one_consistent_model(fast_switching):
    """predict answers for the model before the add or after it; afterwards the
    network runs every layer listed, with the weights get_weights shows."""
    x = data(5)[0]
    for _ in range(ROUNDS):
        model = Sequential([Dense(16)])
        first = []
        barrier_threads([lambda: model.add(Dense(3)),
                         lambda: first.append(model.predict(x, verbose=0))])
        assert model.output_shape == (None, 3) and len(model.layers) == 2
        final = model.predict(x, verbose=0)
        assert final.shape == (5, 3)
        kernel, bias, kernel_2, bias_2 = model.get_weights()
        assert np.allclose(final, (x @ kernel + bias) @ kernel_2 + bias_2, atol=1e-5)
        assert first[0].shape == (5, 16) and np.allclose(first[0], x @ kernel + bias, atol=1e-5) \
            or np.array_equal(first[0], final)


def test_fit_racing_predict_on_an_unbuilt_model_trains_the_weights_predict_built(
        fast_switching):
    x, y = data(32)
    rounds = ROUNDS // 3
    for _ in range(rounds):
        set_random_seed(1)
        alone = Sequential([Dense(8, activation="relu"), Dense(4)])
        alone.compile("adam", "sparse_categorical_crossentropy")
        alone.fit(x, y, batch_size=BATCH, shuffle=False, verbose=0)

        set_random_seed(1)
        model = Sequential([Dense(8, activation="relu"), Dense(4)])
        model.compile("adam", "sparse_categorical_crossentropy")
        barrier_threads([lambda: model.fit(x, y, batch_size=BATCH, shuffle=False, verbose=0),
                         lambda: model.predict(x, verbose=0)])
        for got, want in zip(model.get_weights(), alone.get_weights()):
            assert_array_equal(got, want)


# ------------------------------------------------------------ structure during fit


def fitted_with(hook):
    x, y = data(64)
    model = make()
    errors = []

    def call(epoch, logs):
        try:
            hook(model)
        except RuntimeError as e:
            errors.append(str(e))

    history = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0,
                        callbacks=[LambdaCallback(on_epoch_end=call)])
    return model, history, errors


def test_add_from_a_callback_is_refused_and_changes_nothing():
    model, history, errors = fitted_with(lambda m: m.add(Dense(7)))
    assert len(errors) == 2
    assert errors[0].startswith("add cannot be called from a callback of this model's fit")
    assert "call add after fit returns" in errors[0]
    assert "workspace" not in errors[0]
    assert len(model.layers) == 3 and model.output_shape == (None, 4)
    assert model.optimizer.iterations == 16 and len(history.history["loss"]) == 2
    model.add(Dense(7))  # after fit: fine
    assert model.output_shape == (None, 7)


def test_compile_from_a_callback_is_refused_and_changes_nothing():
    model, _, errors = fitted_with(lambda m: m.compile("sgd", "mse"))
    assert len(errors) == 2 and "call compile after fit returns" in errors[0]
    assert type(model.optimizer).__name__ == "Adam" and model.optimizer.iterations == 16
    assert model.get_compile_config()["optimizer"]["class_name"] == "Adam"
    assert type(model.loss).__name__ == "SparseCategoricalCrossentropy"


def test_fit_from_a_callback_of_its_own_fit_says_so():
    x, y = data(64)
    _, _, errors = fitted_with(lambda m: m.fit(x, y, verbose=0))
    assert len(errors) == 2 and "from a callback of this model's fit" in errors[0]


def test_add_and_compile_from_another_thread_during_fit_are_refused():
    x, y = data()
    model = make()
    started, release = threading.Event(), threading.Event()
    hold = LambdaCallback(on_train_begin=lambda logs: (started.set(), release.wait(TIMEOUT)))
    thread, _, errors = fit_in_thread(model, x, y, callbacks=[hold])
    try:
        assert started.wait(TIMEOUT)
        with pytest.raises(RuntimeError, match="add: this model is being trained"):
            model.add(Dense(7))
        with pytest.raises(RuntimeError, match="compile: this model is being trained"):
            model.compile("sgd", "mse")
    finally:
        release.set()
        join(thread, errors)
    assert len(model.layers) == 3 and type(model.optimizer).__name__ == "Adam"
    assert model.optimizer.iterations == EPOCHS * N // BATCH


def test_layers_is_a_copy():
    model = Sequential([Input((3,)), Dense(4), Dense(2)])
    listed = model.layers
    listed.append(Dense(7))
    listed.pop(0)
    assert [layer.units for layer in model.layers] == [4, 2]
    lines = []
    model.summary(print_fn=lines.append)
    assert "(None, 7)" not in lines[0]
    assert model.layers is not model.layers


def test_add_is_constant_time_per_layer():
    """A 40,000-layer config took 22 s (each add copied and scanned the plan)."""
    n = 40000 if not SANITIZE else 8000
    dense = Dense(1).get_config()
    config = {"name": "deep", "dtype": "float32", "input_shape": None,
              "layers": [{"class_name": "Dense", "config": dict(dense, name=f"d{i}")}
                         for i in range(n)]}
    start = time.perf_counter()
    model = Sequential.from_config(config)
    assert len(model.layers) == n
    assert time.perf_counter() - start < (5 if not SANITIZE else 20)
