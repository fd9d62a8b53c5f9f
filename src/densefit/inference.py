"""Prediction through the compiled core, split across threads when that pays.

A network of narrow float32 layers runs without BLAS, wholly on the calling
thread; a large input to such a network is cut into one part per thread
densefit uses (``get_num_threads``), each part its own compiled call on a
shared pool, writing its rows of the one output array in place.  The cuts fall
on batch boundaries, so every row meets the same batches, and gets the same
bits, as in one call.

A fork's child (multiprocessing's default start on Linux) gets no threads but
the one that forked: the pools are dropped there, and made again when needed.
"""
import concurrent.futures
import os
import threading
import warnings

import numpy as np

from . import _core
from .utils import get_num_threads

# rows per compiled forward call when predict's batch_size is None
DEFAULT_BATCH = 1024

_pools = {}  # thread count -> the executor large inputs are split over
_pools_lock = threading.Lock()


def _pool(workers):
    with _pools_lock:
        if workers not in _pools:
            _pools[workers] = concurrent.futures.ThreadPoolExecutor(
                workers, thread_name_prefix="densefit-predict")
        return _pools[workers]


def _forget_pools_in_child():
    """After a fork, in the child: the pools' workers did not survive it (a pool
    would queue work for them for ever) and the lock may have been held by a
    thread that is gone."""
    global _pools, _pools_lock
    _pools, _pools_lock = {}, threading.Lock()


os.register_at_fork(after_in_child=_forget_pools_in_child)


def parts(network, n, capacity):
    """Row ranges to predict on separate threads, or None for one call: one range
    per thread when the network runs without BLAS (whose own threads would
    otherwise compete) and each range holds at least two batches."""
    if n < 2 * capacity or _core.forward_uses_blas(network):
        return None
    batches = -(-n // capacity)
    count = min(get_num_threads(), batches // 2)
    if count <= 1:
        return None
    cuts = [min(n, capacity * (batches * i // count)) for i in range(count + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def predict(network, x, capacity):
    """``(outputs, row)``: the network's outputs for every row of ``x`` (checked by
    ``_core.accepts``), in batches of ``capacity`` rows, and the first row whose
    outputs are NaN or inf (-1 if none).  NaN or inf in ``x`` is a ValueError
    naming its first row."""
    ranges = parts(network, len(x), capacity)
    if not ranges:
        return _core.predict(network, x, capacity, return_nonfinite=True)
    out = np.empty((len(x), network.units[-1]), network.dtype)
    try:
        bad = list(_pool(len(ranges)).map(
            lambda part: _predict_part(network, x, capacity, out, *part), ranges))
    except ValueError:  # NaN or inf: the single call below names its row in x (not
        # into out, which parts still running may be writing)
        return _core.predict(network, x, capacity, return_nonfinite=True)
    return out, min((row for row in bad if row >= 0), default=-1)


def _predict_part(network, x, capacity, out, start, end):
    """Rows [start, end) of ``x`` into the same rows of ``out``; the first of them
    whose outputs are NaN or inf, or -1."""
    _, row = _core.predict(network, x[start:end], capacity, out=out[start:end],
                           return_nonfinite=True)
    return start + row if row >= 0 else -1


def training_step(call):
    """The dropout step of the ``call``-th (from 0) ``model(x, training=True)``:
    -1 - call, never one of fit's steps (the optimizer's iterations, >= 0), so
    each call draws fresh masks, reproducibly from a freshly built model."""
    return -1 - call


def training_outputs(network, x, call):
    """The network's outputs for ``x`` (checked by ``model_inputs``) as one batch in
    training mode: dropout active (``training_step(call)``'s masks), batch
    normalization on the batch's statistics, which then update its moving
    statistics, as a Keras training call does.  The caller holds the model's
    step lock."""
    if len(x) == 0:
        return np.empty((0, network.units[-1]), network.dtype)
    # buffers of its own, not a pool's: x may be far larger than a batch
    work = _core.Workspace(network, len(x), False, True)
    outputs = _core.forward(network, work, x, True, training_step(call))[-1]
    _core.update_moving_statistics(network, work)
    return outputs


# ---------------------------------------------------------------- non-finite results

_SHOWN_ROWS = 5  # rows a warning names before "..."


def _too_large(dtype):
    """The cause and the fix of NaN or inf from finite inputs, for a ``dtype`` model."""
    if np.dtype(dtype) == np.float32:
        return ("the inputs or weights are too large for float32; scale the inputs or use "
                "a float64 model")
    return f"the inputs or weights are too large for {np.dtype(dtype)}; scale the inputs"


def warn_nonfinite_outputs(caller, out, first, stacklevel):
    """A RuntimeWarning naming the rows of ``out`` from ``first`` on whose outputs
    are NaN or inf (the inputs were screened: they are finite)."""
    rows = first + np.flatnonzero(~np.isfinite(out[first:]).all(axis=1))
    shown = ", ".join(map(str, rows[:_SHOWN_ROWS])) + (", ..." if len(rows) > _SHOWN_ROWS
                                                      else "")
    which = f"row {shown}" if len(rows) == 1 else f"rows {shown} ({len(rows)} rows in all)"
    warnings.warn(f"{caller}: the outputs of {which} are NaN or inf although the inputs "
                  f"are finite: {_too_large(out.dtype)}", RuntimeWarning,
                  stacklevel=stacklevel + 1)


def warn_nonfinite_loss(caller, what, value, dtype, stacklevel):
    """A RuntimeWarning for ``what`` (a loss) being ``value``, NaN or inf, over finite
    inputs and targets."""
    warnings.warn(f"{caller}: the {what} is {value} although the inputs and targets are "
                  f"finite: {_too_large(dtype)}", RuntimeWarning, stacklevel=stacklevel + 1)
