"""densefit.distributed: data-parallel fit over MPI equals one process' fit.

The two-rank runs spawn ``mpiexec -n 2`` (the one beside this Python, from the
``mpich`` wheel) on tests/mpi_cases.py and compare each rank's weights and
History with the same cases trained here in one process."""
import os
import re
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

import densefit as df
from densefit import _core, distributed

import mpi_cases

HERE = os.path.dirname(os.path.abspath(__file__))
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")
TOLERANCE = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-10}


def _mpiexec(out, *options, timeout=120, env=None):
    pytest.importorskip("mpi4py")
    if not os.path.exists(MPIEXEC):
        pytest.skip(f"no mpiexec beside {sys.executable} (pip install mpich)")
    return subprocess.run([MPIEXEC, *options, "-n", "2", sys.executable,
                           os.path.join(HERE, "mpi_cases.py"), str(out)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("mpi")
    run = _mpiexec(out)
    assert run.returncode == 0, run.stdout + run.stderr
    return [dict(np.load(out / f"rank{rank}.npz")) for rank in (0, 1)]


def assert_ranks_match(ranks, name, weights, history):
    """Every rank's saved weights and History for case ``name`` equal one
    process' (``weights``, ``history``) within float tolerance, and each other
    bit for bit."""
    for i, expected in enumerate(weights):
        tolerance = TOLERANCE[expected.dtype]
        for rank in ranks:
            np.testing.assert_allclose(rank[f"{name}/w{i}"], expected, rtol=tolerance,
                                       atol=tolerance)
        np.testing.assert_array_equal(ranks[0][f"{name}/w{i}"], ranks[1][f"{name}/w{i}"])
    for key, values in history.items():
        for rank in ranks:
            np.testing.assert_allclose(rank[f"{name}/h/{key}"], values, rtol=1e-6)
        np.testing.assert_array_equal(ranks[0][f"{name}/h/{key}"], ranks[1][f"{name}/h/{key}"])


@pytest.mark.parametrize("name", sorted(mpi_cases.CASES))
def test_two_ranks_equal_one_process(two_ranks, name):
    weights, history = mpi_cases.train(name)
    assert_ranks_match(two_ranks, name, weights, history)
    assert {key.split("/h/")[1] for key in two_ranks[0] if key.startswith(f"{name}/h/")} \
        == set(history)


def test_a_dead_rank_ends_the_job(tmp_path):
    """mpiexec (hydra) ends the job at once when a rank exits, with its code."""
    run = _mpiexec(tmp_path / "crash", timeout=60)
    assert run.returncode == 3, run.stdout + run.stderr


def test_without_launcher_cleanup_the_timeout_raises(tmp_path):
    """Where the launcher leaves the others waiting, MPIStrategy's timeout ends
    them with a clear error (and aborts the job) instead of a hang."""
    run = _mpiexec(tmp_path / "crash", "-disable-auto-cleanup", timeout=60,
                   env={"DENSEFIT_TEST_TIMEOUT": "2"})
    assert run.returncode != 0
    assert "RuntimeError: distribute: rank 0 of 2 waited 2 s for the other ranks at the step " \
        "reductions (after 2 step" in run.stderr
    assert "MPIStrategy(timeout=...)" in run.stderr


def test_a_rank_gone_before_fit_raises_at_the_start(tmp_path):
    """The agreement check and broadcasts at the start of fit are timed too: a
    rank that exits before fit leaves the other a clear error, not a hang."""
    run = _mpiexec(tmp_path / "early", "-disable-auto-cleanup", timeout=60,
                   env={"DENSEFIT_TEST_TIMEOUT": "2"})
    assert run.returncode != 0
    assert "RuntimeError: distribute: rank 0 of 2 waited 2 s for the other ranks at the start " \
        "of fit (after 0 step reductions" in run.stderr, run.stderr


def test_a_launcher_sigterm_says_why_the_rank_stopped(tmp_path):
    """Open MPI's mpirun and Slurm stop the other ranks with SIGTERM when one
    ends: the rank says so on stderr, then ends by the signal.  (MPICH's hydra
    sends SIGKILL right behind: nothing can print; test_a_dead_rank_ends_the_job.)
    Rank 1 signals after its second step; rank 0 may still be finishing its
    second reduction (and cannot end the third without rank 1)."""
    run = _mpiexec(tmp_path / "sigterm", timeout=60)
    assert run.returncode != 0
    assert re.search(r"densefit.distributed: rank 0 of 2 stopped by the launcher \(SIGTERM\) "
                     r"during fit, in epoch 1 after [12] steps: another rank probably ended; "
                     r"see its output above\n", run.stderr), run.stderr


def test_sigterm_handler_is_restored_after_fit(strategy):
    """The handler is set only while a distributed fit runs (emulated: size 2
    for the callback alone)."""
    before = signal.getsignal(signal.SIGTERM)
    stop = distributed._LauncherStop(strategy)
    assert signal.getsignal(signal.SIGTERM) == stop._stopped
    stop.on_train_end()
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.fixture(scope="module")
def two_shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("mpi") / "shard"
    out.mkdir()
    run = _mpiexec(out)
    assert run.returncode == 0, run.stdout + run.stderr
    return [dict(np.load(out / f"rank{rank}.npz")) for rank in (0, 1)]


@pytest.mark.parametrize("name", mpi_cases.SHARD_CASES)
def test_two_shards_equal_one_process_on_the_interleaved_order(two_shards, name):
    """Ranks passing rows 0::2 and 1::2 (adam_sparse: 102 and 101 rows, the
    epoch the smaller's) train as one process on each epoch's interleaving."""
    weights, history = mpi_cases.train_interleaved(name, 2)
    assert_ranks_match(two_shards, name, weights, history)


def test_shard_batch_size_must_split_evenly(two_shards):
    for rank in two_shards:
        assert str(rank["refused"]) == (
            'batch_size must be a multiple of the number of ranks (2) with '
            'MPIStrategy(data="shard"): each rank trains batch_size / 2 rows of its shard a '
            'step; got 7')


def test_import_densefit_does_not_import_mpi4py():
    code = "import sys, densefit, densefit.distributed; print('mpi4py' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_missing_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r'pip install "densefit\[mpi\]"'):
        distributed.MPIStrategy()


@pytest.fixture
def strategy():
    pytest.importorskip("mpi4py")
    return distributed.MPIStrategy()


@pytest.mark.parametrize("name", sorted(mpi_cases.CASES))
def test_one_rank_is_plain_fit(strategy, name):
    assert strategy.size == 1
    weights, history = mpi_cases.train(name)
    got, got_history = mpi_cases.train(name, strategy)
    for a, b in zip(got, weights):
        np.testing.assert_array_equal(a, b)
    assert got_history == history


def test_strategy_arguments(strategy):
    with pytest.raises(ValueError, match="timeout"):
        distributed.MPIStrategy(timeout=0)
    assert distributed.MPIStrategy(timeout=None).timeout is None
    assert repr(strategy) == "MPIStrategy(rank=0, size=1, timeout=300.0, data='same')"
    with pytest.raises(ValueError, match="data must be one of 'same', 'shard', got 'shards'"):
        distributed.MPIStrategy(data="shards")
    model, x, y, fit = mpi_cases.start("sgd_momentum")
    with pytest.raises(TypeError, match="distribute must be None or a densefit.distributed"):
        model.fit(x, y, distribute="mpi", verbose=0)


def _refused(model, x, y, match, **fit):
    with pytest.raises(ValueError, match=match):
        model.fit(x, y, verbose=0, distribute=distributed.MPIStrategy(), **fit)


def test_refuses_what_would_differ_from_one_process(strategy, tmp_path):
    x, y = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32), np.arange(8) % 2
    model = df.Sequential([df.Input((3,)), df.layers.Dense(4), df.layers.BatchNormalization(),
                           df.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    _refused(model, x, y, r"BatchNormalization.*what works: freeze it \(layer.trainable = False.*"
             r"train this model in one process")
    model.layers[1].trainable = False
    model.compile(loss="sparse_categorical_crossentropy")
    model.fit(x, y, verbose=0, distribute=strategy)  # frozen: inference mode, accepted
    model.compile(loss=df.losses.SparseCategoricalCrossentropy(ignore_class=1))
    _refused(model, x, y, "ignore_class")
    model.compile(loss="sparse_categorical_crossentropy")
    _refused(model, x, y, "BackupAndRestore",
             callbacks=[df.callbacks.BackupAndRestore(str(tmp_path))])


def test_file_writers_and_progress_on_rank_zero_only(strategy):
    logger = df.callbacks.CSVLogger(os.devnull)
    stop = df.callbacks.EarlyStopping()
    assert strategy.fit_options([logger, stop], 1) == ([logger, stop], 1)
    strategy.rank = 1
    assert strategy.fit_options([logger, stop], 1) == ([stop], 0)
    assert strategy.fit_options(None, "auto") == (None, 0)


# ---------------------------------------------------------------- the core's hook, without MPI

def _core_parts(model, x, y, batch_size, capacity):
    """What fit hands the core, for ``model`` on (x, y)."""
    data = model._dataset(x, y)
    work = _core.Workspace(model._network, capacity, data.labels, training=True)
    model.optimizer.build(model._network.params)
    state = _core.OptimizerState(model._network, **model.optimizer.core_arguments())
    return model._network, work, model._compiled.objective, state, data


def _threaded_ranks(size, name):
    """Case ``name``'s first epoch on ``size`` ranks emulated by threads whose
    reducers sum their buffers through a barrier: per rank (params, losses)."""
    barrier, buffers = threading.Barrier(size), [None] * size

    def reduce_on(rank):
        def reduce(buffer):
            buffers[rank] = buffer.copy()
            barrier.wait()
            total = np.sum(buffers, axis=0)
            barrier.wait()
            buffer[:] = total
        return reduce

    results = [None] * size

    def run(rank):
        model, x, y, fit = mpi_cases.start(name)
        network, work, objective, state, data = _core_parts(model, x, y, fit["batch_size"],
                                                            fit["batch_size"])
        buffer = np.zeros(network.params.size + _core.HOOK_EXTRA, network.params.dtype)
        reducer = _core.GradientReducer(reduce_on(rank), buffer, rank, size)
        n_batches = -(-data.n // fit["batch_size"])
        losses = np.zeros(n_batches)
        order = np.arange(data.n, dtype=np.int64)
        done = _core.train_batches(network, work, objective, state, data, order,
                                   fit["batch_size"], 0, n_batches, losses, np.zeros(n_batches),
                                   reducer=reducer)
        results[rank] = (done, network.params.copy(), losses)

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("size", [1, 3, 8])
def test_core_hook_splits_batches_as_one_process(size):
    """sgd_momentum on `size` emulated ranks (8 > some batches' rows: ranks with
    none) equals the same batches without the hook."""
    results = _threaded_ranks(size, "sgd_momentum")
    model, x, y, fit = mpi_cases.start("sgd_momentum")
    network, work, objective, state, data = _core_parts(model, x, y, 7, 7)
    n_batches = -(-data.n // 7)
    losses = np.zeros(n_batches)
    assert _core.train_batches(network, work, objective, state, data,
                               np.arange(data.n, dtype=np.int64), 7, 0, n_batches, losses,
                               np.zeros(n_batches)) == n_batches
    for done, params, rank_losses in results:
        assert done == n_batches
        np.testing.assert_allclose(params, network.params, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(rank_losses, losses, rtol=1e-12)


def test_core_shard_hook_trains_each_ranks_rows_as_one_process():
    """Three emulated ranks with shard=True, each given its own order of 16
    rows (local batches of 5: the last of 1), equal the batches of 15 made of
    their local batches in rank order, without the hook."""
    size, local, n = 3, 5, 16
    model, x, y, fit = mpi_cases.start("sgd_momentum")
    orders = [np.arange(rank, 3 * n, 3, dtype=np.int64)[::-1].copy() for rank in range(size)]
    n_batches = -(-n // local)
    barrier, buffers, results = threading.Barrier(size), [None] * size, [None] * size

    def run(rank):
        model, x, y, fit = mpi_cases.start("sgd_momentum")
        network, work, objective, state, data = _core_parts(model, x, y, local, local)

        def reduce(buffer):
            buffers[rank] = buffer.copy()
            barrier.wait()
            total = np.sum(buffers, axis=0)
            barrier.wait()
            buffer[:] = total

        buffer = np.zeros(network.params.size + _core.HOOK_EXTRA, network.params.dtype)
        reducer = _core.GradientReducer(reduce, buffer, rank, size, shard=True)
        losses = np.zeros(n_batches)
        done = _core.train_batches(network, work, objective, state, data, orders[rank], local,
                                   0, n_batches, losses, np.zeros(n_batches), reducer=reducer)
        results[rank] = (done, network.params.copy(), losses)

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    order = np.concatenate([o[start:start + local] for start in range(0, n, local)
                            for o in orders])
    network, work, objective, state, data = _core_parts(model, x[order], y[order], size * local,
                                                        size * local)
    one_losses = np.zeros(n_batches)
    one = _core.train_batches(network, work, objective, state, data,
                              np.arange(data.n, dtype=np.int64), size * local, 0, n_batches,
                              one_losses, np.zeros(n_batches))
    assert one == n_batches
    for done, params, losses in results:
        assert done == n_batches
        np.testing.assert_allclose(params, network.params, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(losses, one_losses, rtol=1e-12)


def test_core_shard_order_checks():
    """A shard's order may hold fewer than data.n rows, not more, and only
    indices of data."""
    model, x, y, fit = mpi_cases.start("sgd_momentum")
    network, work, objective, state, data = _core_parts(model, x, y, 7, 7)
    buffer = np.zeros(network.params.size + _core.HOOK_EXTRA, network.params.dtype)
    reducer = _core.GradientReducer(lambda b: None, buffer, 0, 2, shard=True)
    assert reducer.shard
    with pytest.raises(ValueError, match="order must be a contiguous int64 array of 50"):
        _core.train_batches(network, work, objective, state, data, np.arange(51), 7, 0, 1,
                            np.zeros(1), np.zeros(1), reducer=reducer)
    with pytest.raises(ValueError, match=r"order must hold indices in \[0, 50\)"):
        _core.train_batches(network, work, objective, state, data, np.array([3, 50, 1]), 7, 0,
                            1, np.zeros(1), np.zeros(1), reducer=reducer)
    with pytest.raises(ValueError, match=r"batches \[0, 2\) are not within \[0, 1\)"):
        _core.train_batches(network, work, objective, state, data, np.arange(7), 7, 0, 2,
                            np.zeros(2), np.zeros(2), reducer=reducer)


def test_core_hook_error_stops_before_the_update():
    model, x, y, fit = mpi_cases.start("sgd_momentum")
    network, work, objective, state, data = _core_parts(model, x, y, 7, 7)
    before = network.params.copy()

    def reduce(buffer):
        raise KeyError("peer gone")

    buffer = np.zeros(network.params.size + _core.HOOK_EXTRA, network.params.dtype)
    reducer = _core.GradientReducer(reduce, buffer, 0, 2)
    with pytest.raises(KeyError, match="peer gone"):
        _core.train_batches(network, work, objective, state, data,
                            np.arange(data.n, dtype=np.int64), 7, 0, 2, np.zeros(2),
                            np.zeros(2), reducer=reducer)
    np.testing.assert_array_equal(network.params, before)
    bad = _core.GradientReducer(reduce, buffer[:-1], 0, 2)
    with pytest.raises(ValueError, match="reducer.buffer must be a float64 array of n_params"):
        _core.train_batches(network, work, objective, state, data,
                            np.arange(data.n, dtype=np.int64), 7, 0, 2, np.zeros(2),
                            np.zeros(2), reducer=bad)
    with pytest.raises(ValueError, match="rank must be in"):
        _core.GradientReducer(reduce, buffer, 2, 2)


def test_core_hook_not_finite_on_one_rank_stops_every_rank():
    """A rank whose loss is NaN flags it in the summed buffer: no rank updates."""
    model, x, y, fit = mpi_cases.start("sgd_momentum")
    y = y.copy()
    y[1] = 1e200  # row 1 of batch 0, rank 0's part of it (rows 0-2 of 7): an inf loss
    network, work, objective, state, data = _core_parts(model, x, y, 7, 7)
    before = network.params.copy()

    def reduce(buffer):  # as rank 1 would add: its share of the loss, finite
        buffer[-1] += 0.5

    buffer = np.zeros(network.params.size + _core.HOOK_EXTRA, network.params.dtype)
    losses = np.zeros(2)
    done = _core.train_batches(network, work, objective, state, data,
                               np.arange(data.n, dtype=np.int64), 7, 0, 2, losses, np.zeros(2),
                               reducer=_core.GradientReducer(reduce, buffer, 0, 2))
    assert done == 0 and not np.isfinite(losses[0])
    np.testing.assert_array_equal(network.params, before)


@pytest.mark.parametrize("where", ["x", "validation_data"])
def test_a_stream_is_refused_naming_arrays(where):
    """Ranks split each global batch of arrays by rows; a generator's batches
    cannot be split alike on every rank."""
    pytest.importorskip("mpi4py.MPI")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3)).astype("float32"), rng.integers(0, 2, 20)
    model = df.Sequential([df.Input((3,)), df.layers.Dense(2)])
    model.compile("sgd", "sparse_categorical_crossentropy")
    stream = iter([(x[:10], y[:10]), (x[10:], y[10:])])
    before = model.get_weights()
    kwargs = ({"x": stream} if where == "x" else
              {"x": x, "y": y, "validation_data": stream})
    with pytest.raises(TypeError, match=f"distribute: {where} is a generator or PyDataset.*"
                                        f"pass arrays"):
        model.fit(**kwargs, verbose=0, distribute=distributed.MPIStrategy())
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
