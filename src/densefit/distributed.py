"""Synchronous data-parallel training over MPI (mpi4py), in Horovod's style.

``model.fit(x, y, batch_size=B, distribute=MPIStrategy())`` launched with
``mpiexec -n N python train.py``, every rank calling fit on the same arrays:
rank r trains on a contiguous part of every global batch of B rows (sizes
differing by at most one), and one in-place ``Allreduce`` a step, from inside
the compiled loop (``_core.GradientReducer``), sums the ranks' scaled gradients
with the not-finite flag and the loss in the same fused buffer, so each step
applies the global batch's mean gradient on every rank.  Before training,
rank 0's weights, optimizer state and shuffle generator are broadcast; at
each epoch's end the metrics' state is summed, so History is the same on
every rank and equals one process' fit with batch B on the same order.
With ``MPIStrategy(data="shard")`` each rank passes its own rows instead and
trains B / N of them a step (``_Shards``).  The start of fit and every step
wait at most ``timeout`` for the other ranks; a launcher's SIGTERM during fit
prints why (``_LauncherStop``).

mpi4py is imported when an ``MPIStrategy`` is made, never by ``import densefit``.
"""
import atexit
import os
import pickle
import signal
import sys
import threading
import time

import numpy as np

from . import _core, callbacks as callbacks_module, training_loop, validation

# seconds a rank waits for the others at a step before it stops with an error
DEFAULT_TIMEOUT = 300.0
# a step's wait polls without sleeping for this long, then sleeps this long between polls
_SPIN_SECONDS, _POLL_SLEEP = 2e-3, 1e-4
# seconds between showing the timeout's error and aborting the job (see _abort)
_ABORT_GRACE = 0.5
# the callbacks that write files: only rank 0 runs them
_FILE_WRITERS = ("ModelCheckpoint", "CSVLogger")
# MPIStrategy(data=...): every rank passes the same arrays, or each its own rows
DATA_MODES = ("same", "shard")


def _mpi():
    """mpi4py's MPI module, or an ImportError naming the extra."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(
            'densefit.distributed needs mpi4py and an MPI library: pip install "densefit[mpi]" '
            f"(mpi4py with the mpich wheel); importing mpi4py failed: {error}") from error
    return MPI


class MPIStrategy:
    """Data parallelism over an MPI communicator (default ``MPI.COMM_WORLD``):
    pass as ``fit(distribute=...)`` on every rank.  ``timeout``: seconds a rank
    waits at the start of fit or at a step for the others before raising a
    RuntimeError (a rank that died or never called fit), or None to wait for
    ever.  ``data``: ``"same"``, every rank passes the same arrays; or
    ``"shard"``, each rank passes its own rows (Horovod's convention, e.g.
    ``x[rank::size]``): a global batch of ``batch_size`` rows is every rank's
    next ``batch_size / size`` rows of its own shuffled shard, and an epoch is
    as many batches as the smallest shard holds (a larger shard's extra rows
    sit out each epoch, different ones each epoch when shuffled).

    Example (``mpiexec -n 2 python train.py``)::

        strategy = densefit.distributed.MPIStrategy()
        model.fit(x, y, batch_size=128, epochs=5, distribute=strategy)
    """

    def __init__(self, comm=None, timeout=DEFAULT_TIMEOUT, data="same"):
        self.MPI = _mpi()
        self.comm = self.MPI.COMM_WORLD if comm is None else comm
        self.timeout = None if timeout is None else validation.real(timeout, "timeout", low=0,
                                                                    low_open=True)
        self.data = validation.one_of(data, "data", DATA_MODES)
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.reduce_seconds, self.reduce_calls = 0.0, 0  # the step reductions' wait, so far
        self._waiting_for = "the step reductions"  # what _wait's error names

    def __repr__(self):
        return (f"MPIStrategy(rank={self.rank}, size={self.size}, timeout={self.timeout}, "
                f"data={self.data!r})")

    def most_rows(self, n):
        """The most rows a global batch can hold when this rank passes ``n``
        (fit's batch_size is cut to it)."""
        return n * self.size if self.data == "shard" else n

    def fit_options(self, callbacks, verbose):
        """fit's callbacks and verbosity on this rank: the progress bar and the
        callbacks that write files on rank 0 only."""
        if self.rank == 0:
            return callbacks, verbose
        if not isinstance(callbacks, (list, tuple)):
            return callbacks, 0  # None, or what CallbackList refuses
        return [c for c in callbacks if type(c).__name__ not in _FILE_WRITERS], 0

    def attach(self, model, runner, callbacks):
        """Makes fit's ``runner`` data-parallel: checks the ranks agree, broadcasts
        rank 0's weights, optimizer state and shuffle generator, and gives the
        runner this rank's gradient reducer and epoch-end metric reduction.
        With one rank nothing changes: fit is the ordinary one."""
        _check_supported(model, callbacks)
        if self.size == 1:
            return
        stop = _LauncherStop(self)
        callbacks.append(stop)  # restores SIGTERM's handler when training ends
        try:
            self._start(model, runner)
        except BaseException:
            stop.on_train_end()
            raise
        network = runner.network
        buffer = np.zeros(len(network.params) + _core.HOOK_EXTRA, network.params.dtype)
        runner.reducer = _core.GradientReducer(self._reduce_step, buffer, self.rank, self.size,
                                               shard=self.data == "shard")
        runner.logs.combine = self._sum

    def _start(self, model, runner):
        """The ranks agree on the pass and take rank 0's state.  Every collective
        here is timed too: a rank that died or never called fit ends the others'
        wait with the error instead of a hang."""
        self._waiting_for = "the start of fit"
        if self.data == "shard":
            _Shards(self, runner).attach()
        else:
            self._check_same_call(runner)
        self._broadcast_state(model, runner)
        self._waiting_for = "the step reductions"

    def _check_same_call(self, runner):
        """A ValueError on every rank unless all ranks train the same number of
        samples with the same batch size (else their steps would not pair up)."""
        mine = (runner.data.n, runner.batch_size, runner.steps)
        low, high = self._range(mine)
        if low != high:
            raise ValueError(f"distribute: every rank must call fit on the same arrays with the "
                             f"same batch_size, got (samples, batch_size, steps) from "
                             f"{tuple(low)} to {tuple(high)} over the ranks (each rank passes "
                             f"its own rows with MPIStrategy(data=\"shard\"))")

    def _range(self, values):
        """The least and the greatest over the ranks of each of ``values`` (integers)."""
        low = np.array(values, np.int64)
        high = low.copy()
        self._sum(low, self.MPI.MIN)
        self._sum(high, self.MPI.MAX)
        return low.tolist(), high.tolist()

    def _broadcast_state(self, model, runner):
        network, state = runner.network, runner.state
        for array in (network.params, network.state):
            if array is not None and array.size:
                self._broadcast(array)
        for slot in state.slots.values():
            if slot is not None:
                self._broadcast(slot)
        runner.optimizer.iterations = self._broadcast_object(runner.optimizer.iterations)
        generator = model.seed_generator.bit_generator
        generator.state = self._broadcast_object(generator.state)

    def _broadcast(self, array):
        """Rank 0's ``array`` into every rank's, in place (timed as ``_sum``)."""
        if self.timeout is None:
            self.comm.Bcast(array, root=0)
        else:
            self._wait(self.comm.Ibcast(array, root=0), time.perf_counter())

    def _broadcast_object(self, value):
        """Rank 0's ``value`` (pickled: its length, then its bytes, each timed)."""
        data = np.frombuffer(pickle.dumps(value), np.uint8).copy() if self.rank == 0 else None
        length = np.array([0 if data is None else data.size], np.int64)
        self._broadcast(length)
        if data is None:
            data = np.empty(int(length[0]), np.uint8)
        self._broadcast(data)
        return pickle.loads(data.tobytes())

    def _sum(self, array, op=None):
        """Sums ``array`` over the ranks in place (or reduces it by ``op``): a
        nonblocking Allreduce polled until done or ``timeout``."""
        op = self.MPI.SUM if op is None else op
        if self.timeout is None:
            self.comm.Allreduce(self.MPI.IN_PLACE, array, op=op)
        else:
            self._wait(self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=op),
                       time.perf_counter())

    def _reduce_step(self, buffer):
        """The step's reduction, called by the compiled loop (timed)."""
        started = time.perf_counter()
        try:
            self._sum(buffer)
        finally:
            self.reduce_seconds += time.perf_counter() - started
            self.reduce_calls += 1

    def _wait(self, request, started):
        deadline = started + self.timeout
        while not request.Test():
            now = time.perf_counter()
            if now > deadline:
                # MPI cannot finalize with a collective left pending: the job is
                # aborted when this process exits, after the error is shown
                atexit.register(_abort, self.comm)
                raise RuntimeError(
                    f"distribute: rank {self.rank} of {self.size} waited {self.timeout:g} s for "
                    f"the other ranks at {self._waiting_for} (after {self.reduce_calls} step "
                    f"reductions by this MPIStrategy): a rank has probably died or stopped "
                    f"calling fit (or never called it); raise "
                    f"MPIStrategy(timeout=...) if steps are really that slow (the MPI job is "
                    f"aborted when this process exits)")
            if now - started > _SPIN_SECONDS:
                time.sleep(_POLL_SLEEP)


def _abort(comm):
    """Aborts the MPI job at this process' exit, once the error is shown: stdout
    and stderr flushed, then ``_ABORT_GRACE`` seconds for the launcher to
    forward them (hydra stops reading a rank's pipes when the job aborts: the
    error's traceback was seen cut short)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a broken pipe: nothing to keep
            pass
    time.sleep(_ABORT_GRACE)
    comm.Abort(1)


class _LauncherStop(callbacks_module.Callback):
    """While a distributed fit runs (in the main thread), a SIGTERM (how Open
    MPI's mpirun and Slurm stop the job's other ranks when one ends) prints
    one line saying so to stderr, then acts as before (by default, ends the
    process).  Hydra's mpiexec (MPICH) sends SIGKILL right behind its
    SIGTERM: nothing can print there."""

    def __init__(self, strategy):
        super().__init__()
        self.strategy, self.epoch, self.first_step = strategy, 0, 0
        self.installed = threading.current_thread() is threading.main_thread()
        if self.installed:  # None: a handler not set from Python, restored as the default
            self.previous = signal.signal(signal.SIGTERM, self._stopped) or signal.SIG_DFL

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.first_step = epoch, self.strategy.reduce_calls

    def on_train_end(self, logs=None):
        if self.installed:
            signal.signal(signal.SIGTERM, self.previous)
            self.installed = False

    def _stopped(self, signum, frame):
        strategy, previous = self.strategy, self.previous
        if not self.installed:  # already restored: act as the handler restored would
            return
        sys.stderr.write(f"densefit.distributed: rank {strategy.rank} of {strategy.size} stopped "
                         f"by the launcher (SIGTERM) during fit, in epoch {self.epoch + 1} after "
                         f"{strategy.reduce_calls - self.first_step} steps: another rank "
                         f"probably ended; see its output above\n")
        sys.stderr.flush()
        self.on_train_end()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:  # the default action: ended by the signal
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)


def fit_options(distribute, callbacks, verbose, data):
    """fit's callbacks and verbosity for ``distribute`` (a TypeError unless it is
    an MPIStrategy, or if ``data``, fit's ``(x, validation_data)``, streams):
    see ``MPIStrategy.fit_options``."""
    if not isinstance(distribute, MPIStrategy):
        raise TypeError(f"distribute must be None or a densefit.distributed.MPIStrategy, got "
                        f"{distribute!r}")
    _check_arrays(*data)
    return distribute.fit_options(callbacks, verbose)


def _check_arrays(x, validation_data):
    """A TypeError when ``x`` or ``validation_data`` streams batches (a generator
    or a PyDataset): ranks split each global batch of arrays by rows, and a
    stream's batches cannot be split the same way on every rank."""
    from .batches import is_stream
    for value, name in ((x, "x"), (validation_data, "validation_data")):
        if is_stream(value):
            raise TypeError(f"distribute: {name} is a generator or PyDataset, but data-parallel "
                            f"training splits arrays: pass arrays (np.memmap for data larger "
                            f"than memory), or train from the stream without distribute")


def most_rows(distribute, n):
    """The most rows fit's global batch can hold when this rank passes ``n``."""
    return n if distribute is None else distribute.most_rows(n)


def _check_supported(model, callbacks):
    """A ValueError for what data-parallel training would compute differently
    from one process."""
    for layer in model.layers:
        if getattr(layer, "core_kind", None) == "batch_normalization" and layer.trainable:
            raise ValueError(
                f"distribute: layer {layer.name!r} (BatchNormalization) would normalize by each "
                f"rank's part of the batch, not the batch (no synchronized batch statistics); "
                f"what works: freeze it (layer.trainable = False: it normalizes by its moving "
                f"statistics and the rest trains distributed), or train this model in one "
                f"process (without distribute)")
    if getattr(model.loss, "ignored_label", None) is not None:
        raise ValueError("distribute: a loss with ignore_class averages over the batch's "
                         "non-ignored rows, which ranks do not know; drop ignore_class or train "
                         "without distribute")
    for callback in callbacks.callbacks:
        if type(callback).__name__ == "BackupAndRestore":
            raise ValueError("distribute: BackupAndRestore is not supported (its files would be "
                             "written by every rank); use ModelCheckpoint, which rank 0 runs")


class _Shards:
    """Shard mode (``MPIStrategy(data="shard")``) for one fit's runner: every
    rank's local batch is ``batch_size / size`` rows of its own shard, an epoch
    the smallest shard's batches, logs counted over the global batches."""

    def __init__(self, strategy, runner):
        self.strategy, self.runner = strategy, runner

    def attach(self):
        """Agrees the pass with the other ranks and gives the runner local
        batches, global logs and this rank's epoch order."""
        strategy, runner = self.strategy, self.runner
        size = strategy.size
        self.rows = strategy._range((runner.data.n,))[0][0]  # the smallest shard's, a pass
        # fit cut batch_size to this rank's rows times size: cut to the smallest's
        batch_size = min(runner.batch_size, self.rows * size)
        low, high = strategy._range((batch_size, runner.steps_per_epoch or 0))
        if low != high:
            raise ValueError(f"distribute: every rank must call fit with the same batch_size "
                             f"and steps_per_epoch, got (batch_size, steps_per_epoch) from "
                             f"{tuple(low)} to {tuple(high)} over the ranks")
        if batch_size % size:  # (all the rows, rows * size, is a multiple)
            raise ValueError(f"batch_size must be a multiple of the number of ranks ({size}) "
                             f"with MPIStrategy(data=\"shard\"): each rank trains batch_size / "
                             f"{size} rows of its shard a step; got {batch_size}")
        runner.batch_size = batch_size // size
        runner.logs = training_loop.EpochLogs(self.rows * size, batch_size, runner.logs.compiled)
        runner.n_batches = len(runner.logs.losses)
        runner.steps = min(runner.steps_per_epoch or runner.n_batches, runner.n_batches)
        runner.epoch_order = self.epoch_order

    def epoch_order(self, generator, shuffle):
        """This rank's rows of the epoch: the first of a permutation of its shard
        drawn from a generator seeded by (a draw from ``generator``, which
        every rank has from rank 0, this rank), or its first rows in order."""
        if not shuffle:
            return np.arange(self.rows, dtype=np.int64)
        with self.runner.lock.stepping():
            seed = int(generator.integers(2 ** 63))
        rows = shard_order(seed, self.strategy.rank, self.runner.data.n)[:self.rows]
        return np.ascontiguousarray(rows, np.int64)


def shard_order(seed, rank, n):
    """Rank ``rank``'s permutation of its ``n`` rows for an epoch whose draw was
    ``seed`` (shard mode): written once here, for fit and for tests."""
    return np.random.default_rng([seed, rank]).permutation(n)
