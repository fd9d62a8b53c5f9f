"""Fixtures shared by the reliability tests."""
import time

import pytest

from densefit import _core


@pytest.fixture
def compiled_calls(monkeypatch):
    """A list that receives ``(start, end)`` of every ``_core.train_batches`` call
    (the compiled chunks of fit), timed with ``time.perf_counter``."""
    calls = []
    train_batches = _core.train_batches

    def recording(*args):
        start = time.perf_counter()
        try:
            return train_batches(*args)
        finally:
            calls.append((start, time.perf_counter()))

    monkeypatch.setattr(_core, "train_batches", recording)
    return calls
