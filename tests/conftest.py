"""Shared fixtures.  ``mnist``: the original MNIST files from ../shared/data/mnist
(relative to the repository root), or $DENSEFIT_DATA; tests that use it skip
when neither holds them."""
import os
from pathlib import Path

import numpy as np
import pytest

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


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
