"""Random seeding and small helpers shared by the Python layer."""
import os
import random
import sys
import warnings

import numpy as np

from . import missing, validation
from .backend import clear_session  # noqa: F401  (keras.utils.clear_session)
from .array_utils import normalize, split_dataset, to_categorical  # noqa: F401  (keras.utils')
from .batches import PyDataset, Sequence  # noqa: F401  (keras.utils', streaming.py)
from .plot import plot_model  # noqa: F401  (keras.utils.plot_model, drawn with matplotlib)
from .suggestions import unknown_name_error  # noqa: F401  (used across the package)

_generator = np.random.default_rng()


def set_random_seed(seed):
    """Seed everything densefit draws from, as ``keras.utils.set_random_seed`` does.

    Models built after this call draw their initial weights and their
    per-epoch shuffles from it, so two runs with the same seed are
    bit-identical.  Python's and NumPy's global generators are seeded too.

    >>> set_random_seed(0)
    """
    global _generator
    seed = validation.integer(seed, "seed", low=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    _generator = np.random.default_rng(seed)


def new_generator():
    """An independent generator drawn from the global one (for one model)."""
    return np.random.default_rng(_generator.integers(2**63))


def new_seed():
    """A seed drawn from the global generator (a layer's own, such as Dropout's)."""
    return int(_generator.integers(2**63))


def warn_at_user(message, category=UserWarning):
    """``warnings.warn`` attributed to the first caller outside densefit: the user's
    line, however deep in densefit the warning arises."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 2
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) \
            == package:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


_blas = None  # the BLAS libraries' controllers, found once (finding them scans the process)


def _blas_controller(refresh=False):
    global _blas
    if _blas is None or refresh:
        from threadpoolctl import ThreadpoolController
        _blas = ThreadpoolController().select(user_api="blas")
    return _blas


def set_num_threads(threads):
    """Limit the BLAS libraries in this process (SciPy's, which densefit's GEMMs
    use, and NumPy's) to ``threads`` threads.  Everything else in the compiled
    core runs on the calling thread, except that ``predict`` on a network of
    narrow layers (no BLAS) splits a large input across this many threads.

    >>> set_num_threads(1)
    """
    threads = validation.integer(threads, "threads")
    _blas_controller(refresh=True).limit(limits=threads)


def get_num_threads():
    """The largest thread count of the BLAS libraries in this process: the
    threads densefit uses (a network of narrow layers splits a large predict
    across them)."""
    return max((lib.num_threads for lib in _blas_controller().lib_controllers), default=1)


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
