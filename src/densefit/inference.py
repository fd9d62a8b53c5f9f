"""Prediction through the compiled core, split across threads when that pays.

A network of narrow float32 layers runs without BLAS, wholly on the calling
thread; a large input to such a network is cut into one part per thread
densefit uses (``get_num_threads``), each part its own compiled call on a
shared pool.  The cuts fall on batch boundaries, so every row meets the same
batches, and gets the same bits, as in one call.
"""
import concurrent.futures
import threading

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
    """The network's outputs for every row of ``x`` (checked by ``_core.accepts``),
    in batches of ``capacity`` rows; NaN or inf in ``x`` is a ValueError naming
    its first row."""
    ranges = parts(network, len(x), capacity)
    if ranges:
        try:
            outs = list(_pool(len(ranges)).map(
                lambda part: _core.predict(network, x[part[0]:part[1]], capacity), ranges))
            return np.concatenate(outs)
        except ValueError:  # NaN or inf: the single call below names its row in x
            pass
    return _core.predict(network, x, capacity)
