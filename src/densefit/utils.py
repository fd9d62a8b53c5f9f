"""Random seeding and small helpers shared by the Python layer."""
import os
import random
import sys
import warnings

import numpy as np

from . import validation

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


def unknown_name_error(kind, name, known):
    """A ValueError for an unknown ``kind`` name, with near-identical names and the full list.

    Only a likely typo gets a suggestion (see ``_near``): a user who follows one for
    a different real name (``"elu"`` -> ``"relu"``) would silently change the model."""
    close = sorted((d, k) for k in known if (d := _near(str(name), k)) is not None)[:3]
    hint = f" Did you mean {', '.join(repr(k) for _, k in close)}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} Known: {', '.join(sorted(known))}.")


def _near(name, known):
    """The edit distance from ``name`` to ``known`` when ``name`` looks like a typo of
    it, else None.  Case, ``_`` and ``-`` are ignored; beyond that the first letter
    must match (``"gelu"``, ``"selu"`` and ``"elu"`` are other functions than
    ``"relu"``, not typos of it) and one edit is allowed from 4 letters, two from 10
    (``"mae"`` is not ``"mse"``; ``"mean_absolute_error"`` is not
    ``"mean_squared_error"``).  A name cut short (``"glorot"``, 3 letters or more)
    suggests the names it begins."""
    a, b = (s.lower().replace("_", "").replace("-", "") for s in (name, known))
    if len(a) >= 3 and b.startswith(a):
        return len(b) - len(a)
    budget = 2 if len(a) >= 10 else 1 if len(a) >= 4 else 0
    if not budget or a[:1] != b[:1] or abs(len(a) - len(b)) > budget:
        return None
    distance = _edit_distance(a, b)
    return distance if distance <= budget else None


def _edit_distance(a, b):
    """Insertions, deletions, substitutions and swaps of neighbours (a typed ``"reul"``
    is one swap from ``"relu"``) turning ``a`` into ``b``."""
    before, row = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            cost = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (ca != cb))
            if before is not None and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, row = row, current
    return row[-1]


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
