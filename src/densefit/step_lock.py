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
import threading


class StepLock:
    """Shared for readers, exclusive for a step (or a write such as ``set_weights``).

    Fair both ways: readers that wait for a step go in when it ends, before the
    next step (fit re-takes the lock within microseconds, which would starve
    them); a step waits for the readers already in, not for newcomers."""

    def __init__(self):
        self._changed = threading.Condition(threading.Lock())
        self._readers = 0    # reading now
        self._waiting = 0    # readers waiting for a step to end
        self._admitted = 0   # of those, the ones the last step let in ahead of the next
        self._stepping = False  # a step runs, or waits for the readers to leave
        # a sequence count, as a seqlock's: odd while a step may be writing (set before
        # the step begins, under the GIL), so a reader can run without the lock and
        # know afterwards whether a step overlapped it (read-only outside this class)
        self.generation = 0
        self._reading = _Held(self._enter_reading, self._leave_reading)
        self._step = _Held(self._enter_stepping, self._leave_stepping)

    def reading(self):
        """A context manager: shared with other readers, after the running step."""
        return self._reading

    def stepping(self):
        """A context manager: alone, once the readers in already have left."""
        return self._step

    def read(self, function, *args):
        """``function(*args)``, a pure read of the weights, for the weights of one step:
        run at once without the lock (the common case, and predict's microsecond
        path), and again inside ``reading()`` when a step ran or began meanwhile."""
        generation = self.generation
        if not generation & 1:
            result = function(*args)
            if self.generation == generation:
                return result
        with self._reading:
            return function(*args)

    def _enter_reading(self):
        with self._changed:
            if self._stepping:
                self._waiting += 1
                try:
                    while self._stepping:
                        self._changed.wait()
                finally:  # admitted, or interrupted (Ctrl-C): no longer waiting either way
                    self._waiting -= 1
                    self._admitted = min(max(self._admitted - 1, 0), self._waiting)
                    if not self._admitted:
                        self._changed.notify_all()
            self._readers += 1

    def _leave_reading(self):
        with self._changed:
            self._readers -= 1
            if not self._readers:
                self._changed.notify_all()

    def _enter_stepping(self):
        with self._changed:
            while self._stepping or self._admitted:  # another step, or readers let in
                self._changed.wait()
            self._stepping = True
            try:
                while self._readers:
                    self._changed.wait()
            except BaseException:  # Ctrl-C while waiting: the readers may go on
                self._stepping = False
                self._changed.notify_all()
                raise
            self.generation += 1  # odd: the step may write from now on

    def _leave_stepping(self):
        with self._changed:
            self.generation += 1  # even: the step has written all it will
            self._stepping = False
            self._admitted = self._waiting
            self._changed.notify_all()


class _Held:
    """A reusable context manager calling ``enter`` and ``leave`` (no generator per use:
    predict's per-call cost stays about a microsecond)."""

    __slots__ = ("_enter", "_leave")

    def __init__(self, enter, leave):
        self._enter, self._leave = enter, leave

    def __enter__(self):
        self._enter()

    def __exit__(self, *exc_info):
        self._leave()
