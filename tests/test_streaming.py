"""fit, evaluate and predict on batches from generators, iterators and PyDatasets
(streaming.py, batches.py), and on memmaps larger than the process may allocate.

The reference for streamed training is the same batches as arrays: a generator
of the batches fit would cut from arrays (shuffle=False) must give the same
weights and History as the arrays, since both run the same compiled steps."""
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import densefit
from densefit import Sequential, utils
from densefit.callbacks import Callback
from densefit.layers import Dense, Input

N, FEATURES, CLASSES, BATCH = 100, 5, 3, 32


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, FEATURES)).astype("float32")
    return x, rng.integers(0, CLASSES, N)


def model(seed=1, metrics=("accuracy",)):
    utils.set_random_seed(seed)
    m = Sequential([Input((FEATURES,)), Dense(8, activation="relu"),
                    Dense(CLASSES, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=list(metrics))
    return m


def batches(x, y, size=BATCH, *extra):
    for i in range(0, len(x), size):
        yield (x[i:i + size], y[i:i + size]) + tuple(e[i:i + size] for e in extra)


class Rows(utils.PyDataset):
    """A PyDataset over arrays, recording the order it is read in and its hooks."""

    def __init__(self, x, y, size=BATCH, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.size, self.calls = x, y, size, []

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, index):
        self.calls.append(index)
        rows = slice(index * self.size, (index + 1) * self.size)
        return self.x[rows], self.y[rows]

    def on_epoch_begin(self):
        self.calls.append("begin")

    def on_epoch_end(self):
        self.calls.append("end")


def assert_same_training(a, b, history_a, history_b, rtol=1e-6):
    assert sorted(history_a) == sorted(history_b)
    for key in history_b:
        assert_allclose(history_a[key], history_b[key], rtol=rtol, err_msg=key)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert_allclose(wa, wb, rtol=rtol, atol=1e-7)


# ---------------------------------------------------------------- fit


def test_a_generator_trains_as_the_same_batches_from_arrays():
    x, y = data()
    streamed, arrays = model(), model()
    h_stream = streamed.fit(batches(x, y), epochs=1, shuffle=False, verbose=0).history
    h_arrays = arrays.fit(x, y, epochs=1, shuffle=False, verbose=0).history
    assert_same_training(streamed, arrays, h_stream, h_arrays)
    assert streamed.optimizer.iterations == 4


def test_a_pydataset_trains_as_arrays_epoch_after_epoch_with_its_hooks():
    x, y = data()
    streamed, arrays = model(), model()
    rows = Rows(x, y)
    h_stream = streamed.fit(rows, epochs=3, shuffle=False, verbose=0).history
    h_arrays = arrays.fit(x, y, epochs=3, shuffle=False, verbose=0).history
    assert_same_training(streamed, arrays, h_stream, h_arrays)
    # batch 0 is read first to build the model (Keras reads two to learn their shapes)
    assert rows.calls == [0, "begin", 1, 2, 3, "end"] + ["begin", 0, 1, 2, 3, "end"] * 2


def test_shuffle_draws_a_pydatasets_batch_order_each_epoch_from_the_models_seed():
    x, y = data()
    orders = []
    for _ in range(2):
        rows = Rows(x, y, size=10)
        model(seed=5).fit(rows, epochs=2, verbose=0)
        orders.append([c for c in rows.calls if isinstance(c, int)])
    assert orders[0] == orders[1]  # set_random_seed makes it reproducible
    first, second = orders[0][:10], orders[0][10:]
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second and first != list(range(10))


def test_batches_of_several_sizes_train_one_step_each_and_log_a_size_weighted_mean():
    x, y = data()
    sizes = [32, 32, 10, 16, 10]
    cuts = np.cumsum([0] + sizes)
    streamed, stepped = model(), model()
    h = streamed.fit(((x[a:b], y[a:b]) for a, b in zip(cuts, cuts[1:])), shuffle=False,
                     verbose=0).history
    losses = [stepped.train_on_batch(x[a:b], y[a:b], return_dict=True)
              for a, b in zip(cuts, cuts[1:])]
    for wa, wb in zip(streamed.get_weights(), stepped.get_weights()):
        assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)
    assert streamed.optimizer.iterations == len(sizes)
    # train_on_batch returns each batch's loss on its pre-update weights (Keras 3
    # resets the metrics per call): the epoch's loss is their size-weighted mean
    expected = sum(logs["loss"] * size for logs, size in zip(losses, sizes)) / N
    assert h["loss"][0] == pytest.approx(expected, rel=1e-6)


def test_batches_that_need_converting_train_as_those_that_do_not():
    """Ready batches (float32, int labels) skip to a quick screen; others (float64,
    lists, float labels) go through the arrays' conversions: the same training."""
    x, y = data()
    mixed = [(xb.astype("float64"), yb) if i % 2 else (xb.tolist(), yb.astype("float32"))
             if i == 2 else (xb, yb) for i, (xb, yb) in enumerate(batches(x, y))]
    a, b = model(), model()
    ha = a.fit(iter(mixed), shuffle=False, verbose=0).history
    hb = b.fit(x, y, shuffle=False, verbose=0).history
    assert_same_training(a, b, ha, hb)


def test_sample_weights_and_class_weights_from_a_stream_match_arrays():
    x, y = data()
    w = np.linspace(0.1, 2, N).astype("float32")
    a, b = model(), model()
    ha = a.fit(batches(x, y, BATCH, w), shuffle=False, verbose=0).history
    hb = b.fit(x, y, sample_weight=w, shuffle=False, verbose=0).history
    assert_same_training(a, b, ha, hb)
    a, b = model(), model()
    ha = a.fit(Rows(x, y), class_weight={0: 2.0, 2: 0.5}, shuffle=False, verbose=0).history
    hb = b.fit(x, y, class_weight={0: 2.0, 2: 0.5}, shuffle=False, verbose=0).history
    assert_same_training(a, b, ha, hb)


def test_steps_per_epoch_goes_on_where_the_last_epoch_stopped():
    x, y = data()
    a, b = model(), model()
    ha = a.fit(batches(x, y), epochs=2, steps_per_epoch=2, shuffle=False, verbose=0).history
    b.fit(x[:64], y[:64], epochs=1, shuffle=False, verbose=0)
    hb = b.fit(x[64:], y[64:], epochs=1, shuffle=False, verbose=0).history
    assert len(ha["loss"]) == 2
    assert_allclose(ha["loss"][1], hb["loss"][0], rtol=1e-6)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)


def test_an_endless_generator_needs_steps_per_epoch_and_trains_that_many_a_epoch():
    x, y = data()

    def endless():
        while True:
            yield from batches(x, y)
    m = model()
    history = m.fit(endless(), epochs=3, steps_per_epoch=5, verbose=0, shuffle=False).history
    assert len(history["loss"]) == 3 and m.optimizer.iterations == 15


def test_a_generator_that_runs_out_warns_as_keras_and_stops_training():
    x, y = data()
    m = model()
    with pytest.warns(UserWarning, match="Your input ran out of data; interrupting training"):
        history = m.fit(batches(x, y), epochs=3, steps_per_epoch=3, shuffle=False,
                        verbose=0).history
    assert len(history["loss"]) == 2 and m.optimizer.iterations == 4  # 3, then the last 1
    m = model()
    with pytest.warns(UserWarning, match="ran out of data") as caught:
        history = m.fit(batches(x, y), epochs=3, shuffle=False, verbose=0).history
    assert len(history["loss"]) == 1 and m.optimizer.iterations == 4
    assert caught[0].filename == __file__  # at the user's line


def test_steps_beyond_a_pydatasets_length_end_the_epoch_at_the_pass_end():
    x, y = data()
    rows = Rows(x, y)
    m = model()
    with pytest.warns(UserWarning, match="steps_per_epoch=3 but a pass over x has only 1"):
        history = m.fit(rows, epochs=3, steps_per_epoch=3, shuffle=False, verbose=0).history
    assert len(history["loss"]) == 3 and m.optimizer.iterations == 3 + 1 + 3


def test_an_endless_pydataset_without_steps_is_refused():
    class Endless(utils.PyDataset):
        def __getitem__(self, index):
            return data()[0][:4], data()[1][:4]
    with pytest.raises(ValueError, match="without a length.*steps_per_epoch"):
        model().fit(Endless(), verbose=0, shuffle=False)
    m = model()
    m.fit(Endless(), steps_per_epoch=3, epochs=2, verbose=0, shuffle=False)
    assert m.optimizer.iterations == 6


def test_many_batches_train_in_few_compiled_calls(monkeypatch):
    x, y = data()
    x, y = np.tile(x, (20, 1)), np.tile(y, 20)
    calls = []
    real = densefit._core.train_batches
    monkeypatch.setattr(densefit._core, "train_batches",
                        lambda *a: calls.append(a[8] - a[7]) or real(*a))
    model().fit(batches(x, y, 10), shuffle=False, verbose=0)
    assert sum(calls) == 200 and len(calls) <= 20, calls


def test_batch_hooks_see_every_streamed_batch():
    seen = []

    class Hooks(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((batch, logs["loss"]))
    x, y = data()
    model().fit(batches(x, y), callbacks=[Hooks()], shuffle=False, verbose=0)
    assert [b for b, _ in seen] == [0, 1, 2, 3]


def test_validation_data_may_stream_with_validation_steps():
    x, y = data()
    a, b = model(), model()

    def endless():
        while True:
            yield from batches(x[::-1], y[::-1], 20)
    ha = a.fit(Rows(x, y), epochs=2, validation_data=endless(), validation_steps=2,
               shuffle=False, verbose=0).history
    hb = b.fit(x, y, epochs=2, validation_data=endless(), validation_steps=2, shuffle=False,
               verbose=0).history
    assert_same_training(a, b, ha, hb)
    # each validation reads the next 2 batches, as Keras' cached iterator: rows 40..79
    c = model()
    c.set_weights(a.get_weights())
    xv, yv = x[::-1], y[::-1]
    assert_allclose(ha["val_loss"][1], c.evaluate(xv[40:80], yv[40:80], verbose=0)[0],
                    rtol=1e-6)


def test_a_used_up_validation_generator_warns_once_and_validation_stops():
    x, y = data()
    with pytest.warns(UserWarning, match="validation is skipped from here on"):
        history = model().fit(Rows(x, y), epochs=3, validation_data=batches(x, y),
                              shuffle=False, verbose=0).history
    assert len(history["loss"]) == 3 and len(history["val_loss"]) == 1


def test_array_validation_data_with_a_streamed_x():
    x, y = data()
    a, b = model(), model()
    ha = a.fit(Rows(x, y), epochs=2, validation_data=(x, y), shuffle=False, verbose=0).history
    hb = b.fit(x, y, epochs=2, validation_data=(x, y), shuffle=False, verbose=0).history
    assert_same_training(a, b, ha, hb)


def test_arguments_a_stream_carries_itself_are_refused_as_keras():
    x, y = data()
    m = model()
    with pytest.raises(ValueError, match="as a generator, `y` should not be passed"):
        m.fit(batches(x, y), y, verbose=0)
    with pytest.raises(ValueError, match="as a PyDataset, `sample_weight` should not"):
        m.fit(Rows(x, y), sample_weight=np.ones(N), verbose=0)
    with pytest.raises(ValueError, match="validation_split is only supported for arrays"):
        m.fit(Rows(x, y), validation_split=0.2, verbose=0)
    with pytest.warns(UserWarning, match="batch_size=10 is ignored"):
        m.fit(Rows(x, y), batch_size=10, verbose=0)
    with pytest.warns(UserWarning, match="`shuffle=True` was passed, but will be ignored"):
        m.fit(batches(x, y), verbose=0)  # fit's default shuffle=True, as Keras
    assert m.optimizer.iterations == 8


def test_progress_of_an_epoch_of_unknown_length(capsys):
    x, y = data()
    model().fit(batches(x, y), shuffle=False, verbose=2)
    assert "4/Unknown - " in capsys.readouterr().out
    model().fit(Rows(x, y), shuffle=False, verbose=2)
    assert "4/4 - " in capsys.readouterr().out


# ---------------------------------------------------------------- reliability


def test_an_empty_source_is_a_clear_error():
    with pytest.raises(ValueError, match="x yielded no batch: it is empty"):
        model().fit(iter([]), shuffle=False, verbose=0)
    with pytest.raises(ValueError, match=r"x yielded no batch: it is empty \(len 0\)"):
        model().evaluate(Rows(np.zeros((0, FEATURES)), np.zeros(0)), verbose=0)
    with pytest.raises(ValueError, match="yielded no batch"):
        model().predict(iter([]))


def test_a_generator_that_raises_leaves_the_batches_before_applied_and_reraises():
    x, y = data()
    events = []

    class Ends(Callback):
        def on_train_end(self, logs=None):
            events.append("train_end")

    def failing():
        yield from list(batches(x, y))[:3]
        raise OSError("disk went away")
    m, reference = model(), model()
    with pytest.raises(OSError, match="disk went away"):
        m.fit(failing(), callbacks=[Ends()], shuffle=False, verbose=0)
    reference.fit(x[:96], y[:96], shuffle=False, verbose=0)
    assert events == ["train_end"] and m.optimizer.iterations == 3
    for a, b in zip(m.get_weights(), reference.get_weights()):
        assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad, message", [
    (lambda x, y: (np.where(np.arange(len(x))[:, None] == 3, np.nan, x), y),
     r"x of batch 2 holds NaN or inf \(first at row 3\)"),
    (lambda x, y: (x[:, :4], y), r"x of batch 2 must have 5 features"),
    (lambda x, y: (x, y + 7), r"y of batch 2"),
    (lambda x, y: (x, y[:-1]), r"x of batch 2 and y of batch 2 must have the same number"),
    (lambda x, y: (x,), r"y of batch 2 is required"),
    (lambda x, y: {"x": x}, r"batch 2 must be a tuple \(x,\), \(x, y\)"),
])
def test_a_bad_batch_gets_the_arrays_message_naming_it(bad, message):
    x, y = data()
    good = list(batches(x, y))

    def source():
        yield from good[:2]
        yield bad(*good[2])
        yield good[3]
    m, reference = model(), model()
    with pytest.raises((ValueError, TypeError), match=message):
        m.fit(source(), shuffle=False, verbose=0)
    reference.fit(x[:64], y[:64], shuffle=False, verbose=0)
    for a, b in zip(m.get_weights(), reference.get_weights()):
        assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_nonfinite_loss_stops_a_streamed_fit_before_that_batch():
    x, y = data()
    m = model()
    m.compile(densefit.optimizers.SGD(learning_rate=1e30), "sparse_categorical_crossentropy")
    with pytest.warns(RuntimeWarning, match="training stopped before applying"):
        m.fit(batches(x, y), epochs=1, shuffle=False, verbose=0)
    assert all(np.isfinite(w).all() for w in m.get_weights())


# ---------------------------------------------------------------- evaluate, predict


def test_evaluate_on_a_stream_matches_arrays_and_takes_steps():
    x, y = data()
    m = model()
    m.fit(x, y, verbose=0)
    assert_allclose(m.evaluate(batches(x, y, 7), verbose=0), m.evaluate(x, y, verbose=0),
                    rtol=1e-6)
    assert_allclose(m.evaluate(Rows(x, y), steps=2, verbose=0),
                    m.evaluate(x[:64], y[:64], verbose=0), rtol=1e-6)
    # arrays, as Keras: steps batches of batch_size, or (steps alone) batches that cover x
    assert_allclose(m.evaluate(x, y, steps=2, batch_size=10, verbose=0),
                    m.evaluate(x[:20], y[:20], verbose=0), rtol=1e-6)
    assert_allclose(m.evaluate(x, y, steps=2, verbose=0), m.evaluate(x, y, verbose=0),
                    rtol=1e-6)
    w = np.linspace(0, 1, N)
    assert_allclose(m.evaluate(batches(x, y, 10, w), return_dict=True, verbose=0)["loss"],
                    m.evaluate(x, y, sample_weight=w, verbose=0)[0], rtol=1e-6)


def test_predict_on_a_stream_of_inputs_or_tuples():
    x, y = data()
    m = model()
    expected = m.predict(x)
    assert_allclose(m.predict(batches(x, y)), expected, rtol=1e-6)
    assert_allclose(m.predict(x[i:i + 9] for i in range(0, N, 9)), expected, rtol=1e-6)
    assert_allclose(m.predict((x[i:i + 9],) for i in range(0, N, 9)), expected, rtol=1e-6)
    assert_allclose(m.predict(Rows(x, y), steps=2), expected[:64], rtol=1e-6)
    assert_allclose(m.predict(x, steps=2, batch_size=10), expected[:20], rtol=1e-6)
    assert_allclose(m.predict(x, steps=2), expected, rtol=1e-6)


# ---------------------------------------------------------------- the class


def test_pydataset_keeps_keras_arguments_and_sequence_is_its_alias():
    ds = utils.PyDataset(workers=4, use_multiprocessing=True, max_queue_size=3)
    assert (ds.workers, ds.use_multiprocessing, ds.max_queue_size) == (4, True, 3)
    assert utils.Sequence is utils.PyDataset
    assert ds.num_batches is None
    with pytest.raises(NotImplementedError, match="must define __getitem__"):
        ds[0]
    x, y = data()
    assert len(list(Rows(x, y))) == 4


def test_where_arrays_are_needed_a_generator_still_gets_the_gathering_hint():
    x, y = data()
    with pytest.raises(TypeError, match=r"arrays are needed here.*np.concatenate"):
        model().fit(x, iter(y), verbose=0)


# ---------------------------------------------------------------- memory

MEMORY_SCRIPT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import densefit
    from densefit import Sequential
    from densefit.layers import Dense, Input

    path, rows, features, headroom = sys.argv[1], *map(int, sys.argv[2:])
    x = np.memmap(path, np.float32, "r", shape=(rows, features))
    y = (np.arange(rows) % 3).astype(np.int32)  # labels in memory: 4 bytes a row
    model = Sequential([Input((features,)), Dense(4, activation="relu"),
                        Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:256], y[:256], batch_size=64, verbose=0)  # warm up: buffers, BLAS

    def data_kb():
        for line in open("/proc/self/status"):
            if line.startswith("VmData:"):
                return int(line.split()[1])
    cap = data_kb() * 1024 + headroom
    resource.setrlimit(resource.RLIMIT_DATA, (cap, cap))
    assert x.nbytes > 2 * headroom
    try:  # the cap is real: a copy of x does not fit under it
        np.array(x)
        raise SystemExit("a copy of x fitted under the cap")
    except MemoryError:
        pass
    history = model.fit(x, y, batch_size=256, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert np.isfinite(model.evaluate(x, y, batch_size=1024, verbose=0)).all()
    assert model.predict(x, batch_size=1024).shape == (rows, 3)
    history = model.fit(x, y, batch_size=256, epochs=1, validation_split=0.1, verbose=0)
    assert "val_loss" in history.history

    def stream(size=512):
        for i in range(0, rows, size):
            yield x[i:i + size], y[i:i + size]
    model.fit(stream(), verbose=0, shuffle=False)
    assert np.isfinite(model.evaluate(stream(), verbose=0)).all()
    assert model.predict(stream()).shape == (rows, 3)
    print("ok", x.nbytes >> 20, headroom >> 20)
""")


WINDOWS_SCRIPT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import densefit
    from densefit import Sequential
    from densefit.layers import Dense, Input

    path, rows, features, headroom = sys.argv[1], *map(int, sys.argv[2:])
    y = (np.arange(rows) % 3).astype(np.int32)
    model = Sequential([Input((features,)), Dense(4, activation="relu"),
                        Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.zeros((256, features), np.float32), y[:256], batch_size=64, verbose=0)

    def vm_kb():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1])
    cap = vm_kb() * 1024 + headroom
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    assert rows * features * 4 > 2 * headroom
    try:  # the cap is real: the whole file cannot even be mapped
        np.memmap(path, np.float32, "r", shape=(rows, features))
        raise SystemExit("the whole file was mapped under the cap")
    except (OSError, MemoryError, ValueError):
        pass

    def windows(window=4096, size=512):  # maps the file a window at a time
        for start in range(0, rows, window):
            part = np.memmap(path, np.float32, "r", offset=start * features * 4,
                             shape=(min(window, rows - start), features))
            for i in range(0, len(part), size):
                yield part[i:i + size], y[start + i:start + i + size]
            del part
    history = model.fit(windows(), verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
    assert np.isfinite(model.evaluate(windows(), verbose=0)).all()
    assert model.predict(windows()).shape == (rows, 3)
    print("ok", (rows * features * 4) >> 20, headroom >> 20)
""")


SANITIZED = os.environ.get("DENSEFIT_SANITIZE_RUN") == "1"


def _memmap_file(path, rows, features):
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        for _ in range(rows // 4096):
            f.write(rng.random((4096, features), dtype=np.float32).tobytes())
    return path


def _run(script, *args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if SANITIZED:  # ASan aborts on a failed allocation unless told to return NULL
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":allocator_may_return_null=1"
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-500:]
    return done.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, RLIMIT_AS")
@pytest.mark.skipif(SANITIZED, reason="ASan reserves terabytes of address space for its "
                                      "shadow memory: no RLIMIT_AS cap can sit near the baseline")
def test_a_generator_streams_a_file_larger_than_the_address_space_cap(tmp_path):
    """RLIMIT_AS counts every mapping: under a cap 32 MiB above the baseline the
    96 MiB file cannot be mapped whole, but a generator mapping it a window at a
    time trains, evaluates and predicts on all of it."""
    rows, features, headroom = 96 * 1024, 256, 32 << 20
    path = _memmap_file(tmp_path / "x.f32", rows, features)
    assert _run(WINDOWS_SCRIPT, path, rows, features, headroom).startswith("ok 96 32")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc, RLIMIT_DATA")
def test_memmap_larger_than_the_memory_cap_trains_evaluates_and_predicts(tmp_path):
    """RLIMIT_DATA caps the process's private memory (malloc, anonymous maps) but
    not a read-only file mapping: fit, evaluate and predict on a memmap three
    times the headroom left, and the same streamed by a generator, must not copy
    it.  (RLIMIT_AS would count the file's mapping itself, so no memmap larger
    than the cap could even be opened.)"""
    rows, features, headroom = 96 * 1024, 256, 32 << 20
    path = _memmap_file(tmp_path / "x.f32", rows, features)
    assert _run(MEMORY_SCRIPT, path, rows, features, headroom).startswith("ok 96 32")


def test_a_validation_pydataset_is_read_from_its_first_batch_each_validation():
    x, y = data()
    m = model()
    history = m.fit(Rows(x, y), epochs=2, validation_data=Rows(x[::-1], y[::-1]),
                    validation_steps=2, shuffle=False, verbose=0).history
    assert_allclose(history["val_loss"][1], m.evaluate(x[::-1][:64], y[::-1][:64],
                                                       verbose=0)[0], rtol=1e-6)
