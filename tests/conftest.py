"""Shared fixtures.  ``mnist_dir``: ../shared/data/mnist (relative to the
repository root), for tests that need the original files there; they skip when
any is missing.  ``mnist``: the data from that directory or $DENSEFIT_DATA;
tests that use it skip when neither holds it."""
import os
from pathlib import Path

import numpy as np
import pytest

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist_dir():
    """MNIST_DIR, when all four original files are in it."""
    from densefit import datasets

    if not all((MNIST_DIR / f).is_file() for f in datasets.MNIST_SHA256):
        pytest.skip(f"real MNIST files not found in {MNIST_DIR}")
    return MNIST_DIR


@pytest.fixture(scope="session")
def mnist():
    """``((x_train, y_train), (x_test, y_test))``: images flattened to 784 float32
    values in [0, 1], labels uint8."""
    from densefit import datasets

    path = MNIST_DIR if MNIST_DIR.is_dir() else None
    if path is None and not os.environ.get("DENSEFIT_DATA"):
        pytest.skip(f"MNIST not available: no files in {MNIST_DIR} and DENSEFIT_DATA is not set")
    try:
        (x_train, y_train), (x_test, y_test) = datasets.load_mnist(path)
    except FileNotFoundError as e:
        pytest.skip(f"MNIST not available: {e}")
    flat = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255  # noqa: E731
    return (flat(x_train), y_train), (flat(x_test), y_test)
