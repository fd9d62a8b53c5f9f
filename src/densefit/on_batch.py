"""``train_on_batch``, ``test_on_batch``, ``predict_on_batch``, ``reset_metrics``: Keras'
one-batch calls.

A mix-in of ``Sequential`` beside ``Trainer`` (trainer.py), whose compiled
objective, optimizer state, work buffers and locks each call uses: one
compiled call per batch, the optimizer's state and step count (hence dropout's
masks) carrying on from fit and earlier calls.
"""
import threading

import numpy as np

from . import _core
from .trainer import returned
from .training_loop import BatchRunner, warn_not_applied


class BatchCalls:
    """Keras' on-batch calls over the compiled core."""

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One optimizer step on ``(x, y)`` as a single batch, in one compiled call
        (the optimizer's state and step count carry on from fit and earlier
        calls).  Returns the batch's loss (from the weights before the step), or
        ``[loss, metric]`` when a metric is compiled, or a dict with
        ``return_dict=True``, as Keras'."""
        with self._changing("train_on_batch"):
            self._fit_thread = threading.get_ident()
            try:
                logs = self._train_on_batch(x, y, sample_weight, class_weight)
            finally:
                self._fit_thread = None
        return returned(logs, self.metrics_names, return_dict)

    def _train_on_batch(self, x, y, sample_weight, class_weight):
        self._require_compiled("train_on_batch")
        data = self._dataset(x, y, sample_weight=sample_weight, class_weight=class_weight)
        if data.n == 0:
            raise ValueError("x is empty: train_on_batch needs at least one sample")
        work = self._workspaces.take(self._network, data.n, data.labels, training=True)
        try:
            runner = BatchRunner((self._network, work, self._compiled.objective,
                                  self._optimizer_state(), data), self.optimizer, data.n,
                                 self._compiled, self._step_lock)
            if runner.run(np.arange(data.n, dtype=np.int64), 0, 1) < 1:
                warn_not_applied(runner.logs.losses[0], 0, 1, stacklevel=4)
        finally:
            self._workspaces.give(work)
        return runner.logs(1)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss (and metric) over ``(x, y)`` as one batch, returned as evaluate's."""
        self._require_compiled("test_on_batch")
        data = self._dataset(x, y, sample_weight=sample_weight)
        if data.n == 0:
            raise ValueError("x is empty: test_on_batch needs at least one sample")
        return returned(self._evaluate(data, data.n, "test_on_batch"), self.metrics_names,
                        return_dict)

    def predict_on_batch(self, x):
        """The outputs for ``x`` as one batch: one compiled call, on this thread."""
        return self._outputs(x, _core.MAX_ROWS, "predict_on_batch")

    def reset_metrics(self):
        """Keras' ``reset_metrics()``: every compiled metric's state back to zero.
        fit, evaluate and the on-batch calls each start from zero anyway, as
        Keras' (they reset first), so this clears what a compiled metric
        object was given through its own ``update_state``."""
        for metric in self.metrics:
            metric.reset_state()
