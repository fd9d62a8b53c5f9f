"""Random seeding and small helpers shared by the Python layer."""
import difflib
import random

import numpy as np

_generator = np.random.default_rng()


def set_random_seed(seed):
    """Seed everything densefit draws from, as ``keras.utils.set_random_seed`` does.

    Models built after this call draw their initial weights and their
    per-epoch shuffles from it, so two runs with the same seed are
    bit-identical.  Python's and NumPy's global generators are seeded too.

    >>> set_random_seed(0)
    """
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    _generator = np.random.default_rng(int(seed))


def new_generator():
    """An independent generator drawn from the global one (for one model)."""
    return np.random.default_rng(_generator.integers(2**63))


def unknown_name_error(kind, name, known):
    """A ValueError for an unknown ``kind`` name, with close matches and the full list."""
    close = difflib.get_close_matches(str(name), list(known), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} Known: {', '.join(sorted(known))}.")


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
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    _blas_controller(refresh=True).limit(limits=int(threads))


def get_num_threads():
    """The largest thread count of the BLAS libraries in this process: the
    threads densefit uses (a network of narrow layers splits a large predict
    across them)."""
    return max((lib.num_threads for lib in _blas_controller().lib_controllers), default=1)
