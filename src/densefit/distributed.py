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

mpi4py is imported when an ``MPIStrategy`` is made, never by ``import densefit``.
"""
import atexit
import time

import numpy as np

from . import _core, validation

# seconds a rank waits for the others at a step before it stops with an error
DEFAULT_TIMEOUT = 300.0
# a step's wait polls without sleeping for this long, then sleeps this long between polls
_SPIN_SECONDS, _POLL_SLEEP = 2e-3, 1e-4
# the callbacks that write files: only rank 0 runs them
_FILE_WRITERS = ("ModelCheckpoint", "CSVLogger")


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
    waits at a step for the others before raising a RuntimeError (a rank that
    died or stopped calling fit), or None to wait for ever.

    Example (``mpiexec -n 2 python train.py``)::

        strategy = densefit.distributed.MPIStrategy()
        model.fit(x, y, batch_size=128, epochs=5, distribute=strategy)
    """

    def __init__(self, comm=None, timeout=DEFAULT_TIMEOUT):
        self.MPI = _mpi()
        self.comm = self.MPI.COMM_WORLD if comm is None else comm
        self.timeout = None if timeout is None else validation.real(timeout, "timeout", low=0,
                                                                    low_open=True)
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.reduce_seconds, self.reduce_calls = 0.0, 0  # the step reductions' wait, so far

    def __repr__(self):
        return f"MPIStrategy(rank={self.rank}, size={self.size}, timeout={self.timeout})"

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
        self._check_same_call(runner)
        self._broadcast_state(model, runner)
        network = runner.network
        buffer = np.zeros(len(network.params) + _core.HOOK_EXTRA, network.params.dtype)
        runner.reducer = _core.GradientReducer(self._reduce_step, buffer, self.rank, self.size)
        runner.logs.combine = self._sum

    def _check_same_call(self, runner):
        """A ValueError on every rank unless all ranks train the same number of
        samples with the same batch size (else their steps would not pair up)."""
        mine = (runner.data.n, runner.batch_size, runner.steps)
        calls = self.comm.allgather(mine)
        if any(call != calls[0] for call in calls):
            raise ValueError(f"distribute: every rank must call fit on the same arrays with the "
                             f"same batch_size; (samples, batch_size, steps) by rank: {calls}")

    def _broadcast_state(self, model, runner):
        network, state = runner.network, runner.state
        for array in (network.params, network.state):
            if array is not None and array.size:
                self.comm.Bcast(array, root=0)
        for slot in state.slots.values():
            if slot is not None:
                self.comm.Bcast(slot, root=0)
        runner.optimizer.iterations = self.comm.bcast(runner.optimizer.iterations, root=0)
        generator = model.seed_generator.bit_generator
        generator.state = self.comm.bcast(generator.state, root=0)

    def _sum(self, array):
        """Sums ``array`` over the ranks in place: a nonblocking Allreduce polled
        until done or ``timeout``."""
        if self.timeout is None:
            self.comm.Allreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)
        else:
            self._wait(self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM),
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
                atexit.register(self.comm.Abort, 1)
                raise RuntimeError(
                    f"distribute: rank {self.rank} of {self.size} waited {self.timeout:g} s for "
                    f"the other ranks (after {self.reduce_calls} step reductions by this "
                    f"MPIStrategy): a rank has probably died or stopped calling fit; raise "
                    f"MPIStrategy(timeout=...) if steps are really that slow (the MPI job is "
                    f"aborted when this process exits)")
            if now - started > _SPIN_SECONDS:
                time.sleep(_POLL_SLEEP)


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


def _check_supported(model, callbacks):
    """A ValueError for what data-parallel training would compute differently
    from one process."""
    for layer in model.layers:
        if getattr(layer, "core_kind", None) == "batch_normalization" and layer.trainable:
            raise ValueError(
                f"distribute: layer {layer.name!r} (BatchNormalization) would normalize by each "
                f"rank's part of the batch, not the batch (no synchronized batch statistics); "
                f"freeze it (layer.trainable = False) or train without distribute")
    if getattr(model.loss, "ignored_label", None) is not None:
        raise ValueError("distribute: a loss with ignore_class averages over the batch's "
                         "non-ignored rows, which ranks do not know; drop ignore_class or train "
                         "without distribute")
    for callback in callbacks.callbacks:
        if type(callback).__name__ == "BackupAndRestore":
            raise ValueError("distribute: BackupAndRestore is not supported (its files would be "
                             "written by every rank); use ModelCheckpoint, which rank 0 runs")
