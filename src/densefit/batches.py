"""Sources of batches and their epochs, as Keras 3 reads them
(``trainers/data_adapters/py_dataset_adapter.py``, ``generator_data_adapter.py``
and ``trainers/epoch_iterator.py``): ``PyDataset`` (alias ``Sequence``), and
Python generators and iterators of ``(x, y[, sample_weight])`` tuples.

An epoch is ``steps`` batches (fit's ``steps_per_epoch``, evaluate's and
predict's ``steps``) or, without it, one pass: a PyDataset's ``len``, a
generator's batches up to its end.  With ``steps`` the next epoch goes on where
the last stopped; a PyDataset then starts a new pass when one ends (with a
warning when the pass ended short of ``steps``, as for arrays), a generator
that ends has run out of data: Keras' warning, and fit stops after that epoch.
"""
import collections.abc
import itertools
import sys
import warnings

import numpy as np

_END = object()  # a pass or a generator has no more batches


def user_stacklevel():
    """The ``stacklevel`` that makes a warning issued by the caller point at the first
    frame outside densefit: the user's line, however deep the call came from."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("densefit."):
        frame, level = frame.f_back, level + 1
    return level


class PyDataset:
    """Keras 3's base class for data served batch by batch: subclass it, call
    ``super().__init__(**kwargs)``, and define ``__len__`` (the number of batches;
    leave it out, or make ``num_batches`` None, for an endless dataset that
    fit then needs ``steps_per_epoch`` for) and ``__getitem__(index)`` returning
    batch ``index`` as ``(x, y)`` or ``(x, y, sample_weight)`` arrays (``x`` or
    ``(x,)`` for predict).  ``on_epoch_begin``/``on_epoch_end`` run around each
    epoch (e.g. to reshuffle); fit's ``shuffle=True`` (the default) visits the
    batches in a fresh order each epoch, as Keras.

    ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted and
    kept, as Keras', but densefit reads the batches in the training thread,
    one at a time: the compiled core trains while no batch is being read.

    >>> class Batches(PyDataset):
    ...     def __init__(self, x, y, batch_size, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.x, self.y, self.batch_size = x, y, batch_size
    ...     def __len__(self):
    ...         return -(-len(self.x) // self.batch_size)
    ...     def __getitem__(self, index):
    ...         rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
    ...         return self.x[rows], self.y[rows]
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers, self.use_multiprocessing = workers, use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index), "
                                  f"returning batch index as (x, y) or (x, y, sample_weight)")

    @property
    def num_batches(self):
        """The number of batches (``len(self)``), or None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        return None

    def on_epoch_begin(self):
        """Called before each epoch."""

    def on_epoch_end(self):
        """Called after each epoch."""

    def __iter__(self):
        count = self.num_batches
        for index in range(count) if count is not None else itertools.count():
            yield self[index]


Sequence = PyDataset  # keras.utils.Sequence: Keras 3 keeps the old name as an alias


def is_py_dataset(value):
    """A densefit PyDataset, or Keras' own (recognised by its class name)."""
    return any(cls.__name__ == "PyDataset" for cls in type(value).__mro__)


def is_stream(value):
    """Whether fit, evaluate or predict read ``value`` batch by batch.  An array
    is answered first, in tens of nanoseconds: predict's single-sample path asks
    on every call, and the class walk and the Iterator ABC check cost ~0.5 µs."""
    if type(value) is np.ndarray:
        return False
    return is_py_dataset(value) or isinstance(value, collections.abc.Iterator)


def unpack(batch, index):
    """``(x, y, sample_weight)`` of batch ``index``: a tuple (or list) of one to three
    items, or an array alone (inputs, for predict)."""
    if isinstance(batch, (tuple, list)):
        if 1 <= len(batch) <= 3:
            return tuple(batch) + (None,) * (3 - len(batch))
        got = f"a {type(batch).__name__} of {len(batch)} items"
    elif isinstance(batch, np.ndarray) or hasattr(batch, "__array__"):
        return batch, None, None
    else:
        got = f"a {type(batch).__name__}"
    raise ValueError(f"batch {index} must be a tuple (x,), (x, y) or (x, y, sample_weight) "
                     f"of arrays, got {got}")


class Batches:
    """The batches of ``source`` epoch by epoch (see the module's docstring):
    ``epoch()`` yields ``(index in the epoch, batch)``; ``ran_out`` says that a
    generator has ended early.  ``shuffle``: a PyDataset's batch order drawn from
    ``generator`` each pass (Keras warns that a generator is not shuffled)."""

    def __init__(self, source, name, steps=None, shuffle=False, generator=None):
        self.source, self.name, self.steps = source, name, steps
        self.trains = name == "x"  # running out stops training (else: validation)
        self.indexed = is_py_dataset(source)
        self.length = source.num_batches if self.indexed else None
        self.shuffle = shuffle and self.length is not None
        self.generator = generator
        if shuffle and not self.shuffle:
            what = "a generator" if not self.indexed else "an endless PyDataset"
            warnings.warn(f"`shuffle=True` was passed, but will be ignored since the data "
                          f"`{name}` was provided as {what}: its batches are read in the "
                          f"order it gives them", UserWarning, stacklevel=user_stacklevel())
        if self.length is None and steps is None and self.indexed:
            raise ValueError(f"{name} is a PyDataset without a length (num_batches is None): "
                             f"pass steps_per_epoch (or steps) to say how many batches make "
                             f"an epoch")
        # the epoch's length for the progress bar (None: a generator's, unknown)
        self.steps_shown = (min(steps, self.length) if steps and self.length else
                            steps or self.length)
        self.ran_out = self._warned = False
        self._order, self._position, self._peeked = None, 0, _END

    @property
    def advice(self):
        return ("a generator is read once: give steps (steps_per_epoch, validation_steps) "
                "with a generator that does not end, or pass a PyDataset, which is read "
                "again each epoch")

    def first(self):
        """The first batch of the next epoch, kept for it; an empty source is an error."""
        if self._peeked is _END:
            self._peeked = self._next()
        if self._peeked is _END:
            raise ValueError(f"{self.name} yielded no batch: it is empty"
                             + (f" (len {self.length})" if self.indexed else "")
                             + (f" or already used up ({self.advice})" if not self.indexed
                                else ""))
        return self._peeked

    def exhausted(self):
        """Whether a generator has no batch for the next epoch (then Keras' warning)."""
        if self.indexed or self._peeked is not _END:
            return False
        self._peeked = self._next()
        if self._peeked is _END:
            self._run_out()
            return True
        return False

    def _next(self):
        """The next batch of the current pass, or _END."""
        if self._peeked is not _END:
            batch, self._peeked = self._peeked, _END
            return batch
        if not self.indexed:
            return next(self.source, _END)
        if self._order is None:
            self._order = self._pass_order()
            self._position = 0
        if self.length is not None and self._position >= self.length:
            self._order = None
            return _END
        index = self._position if self._order is True else int(self._order[self._position])
        self._position += 1
        return self.source[index]

    def restart(self):
        """The next epoch of a PyDataset starts a new pass (Keras resets its
        evaluation iterator before each validation; a generator goes on)."""
        if self.indexed:
            self._order, self._peeked = None, _END

    def _pass_order(self):
        if self.shuffle:
            return self.generator.permutation(self.length)
        return True  # the batches in order

    def epoch(self):
        """Yields the epoch's ``(index, batch)``; a PyDataset's epoch hooks around it."""
        if self.indexed:
            self.source.on_epoch_begin()
        try:
            yield from self._epoch_batches()
        finally:
            if self.indexed:
                self.source.on_epoch_end()

    def _epoch_batches(self):
        steps = self.steps or self.length
        for index in range(steps) if steps else itertools.count():
            batch = self._next()
            if batch is _END:
                self._ended(index)
                return
            yield index, batch
        if self.indexed and self.length is not None and self._position >= self.length:
            self._order = None  # the pass is over: the next epoch starts another

    def _ended(self, index):
        if self.indexed:  # steps beyond what was left of the pass
            if not self._warned:
                self._warned = True
                warnings.warn(f"steps_per_epoch={self.steps} but a pass over {self.name} has "
                              f"only {index} batch{'es' if index != 1 else ''} left: the epoch "
                              f"ends there and the next starts a new pass (as Keras' 'Your "
                              f"input ran out of data')", UserWarning,
                              stacklevel=user_stacklevel())
        elif self.steps is not None or index == 0:
            self._run_out()

    def _run_out(self):
        self.ran_out = True
        if self._warned:
            return
        self._warned = True
        then = ("interrupting training" if self.trains else
                "validation is skipped from here on")
        steps = "steps_per_epoch" if self.trains else "validation_steps"
        warnings.warn(f"Your input ran out of data; {then}. Make sure that {self.name} can "
                      f"generate at least `{steps} * epochs` batches ({self.advice})",
                      UserWarning, stacklevel=user_stacklevel())
