"""A model's step lock: fit's compiled calls change the weights, readers wait for
a step boundary.

fit's compiled calls run without the GIL and update the parameters and the
optimizer's state in place; a reader in another thread (``get_weights``,
``get_state_tree``, ``save``, ``predict``, ``evaluate``) would otherwise see
them mid-update.  Each compiled call of a fit holds the lock exclusively
(``stepping``), readers share it (``reading``), so a reader waits at most one
compiled call (``training_loop.CHUNK_SECONDS``) and readers run side by side.
A waiting step goes before new readers: a stream of predictions cannot starve
a fit.  fit's callbacks run between its compiled calls, so they may read (and
``set_weights``) freely.  Not re-entrant: a reader must not read again inside.

>>> lock = StepLock()
>>> with lock.reading():
...     pass
"""
import contextlib
import threading


class StepLock:
    """Shared for readers, exclusive for a step (or a write such as ``set_weights``)."""

    def __init__(self):
        self._changed = threading.Condition(threading.Lock())
        self._readers = 0
        self._stepping = False  # a step runs, or waits for the readers to leave

    @contextlib.contextmanager
    def reading(self):
        with self._changed:
            while self._stepping:
                self._changed.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._changed:
                self._readers -= 1
                if not self._readers:
                    self._changed.notify_all()

    @contextlib.contextmanager
    def stepping(self):
        with self._changed:
            while self._stepping:  # another writer (set_weights from another thread)
                self._changed.wait()
            self._stepping = True
            while self._readers:
                self._changed.wait()
        try:
            yield
        finally:
            with self._changed:
                self._stepping = False
                self._changed.notify_all()
