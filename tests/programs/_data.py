"""Small data of the originals' shapes, never downloaded: MNIST from
/work/shared/data (or $DENSEFIT_DATA) standing in for MNIST and Fashion MNIST,
synthetic tables for the rest.  Plain NumPy, so a program runs the same under
Keras."""
import os
from pathlib import Path

import numpy as np

MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


def mnist(n_train=2000, n_test=500):
    """((x_train, y_train), (x_test, y_test)) as keras.datasets.mnist.load_data
    gives them (uint8 28x28, uint8 labels), the first n of each."""
    from densefit.datasets import load_mnist
    path = os.environ.get("DENSEFIT_DATA", MNIST_DIR)
    (x, y), (xt, yt) = load_mnist(path)
    return (x[:n_train], y[:n_train]), (xt[:n_test], yt[:n_test])


def auto_mpg(n=398, seed=0):
    """Auto MPG's shape: 9 features (cylinders, displacement, horsepower,
    weight, acceleration, model year, Europe, Japan, USA) and MPG."""
    rng = np.random.default_rng(seed)
    cyl = rng.choice([4, 6, 8], n).astype(float)
    disp = cyl * 40 + rng.normal(0, 20, n)
    hp = disp * 0.45 + rng.normal(0, 10, n)
    weight = disp * 8 + 1500 + rng.normal(0, 200, n)
    acc = 20 - hp / 30 + rng.normal(0, 1.5, n)
    year = rng.integers(70, 83, n).astype(float)
    origin = np.eye(3)[rng.integers(0, 3, n)]
    mpg = 50 - 0.007 * weight - 0.04 * hp + 0.6 * (year - 70) + rng.normal(0, 2, n)
    x = np.column_stack([cyl, disp, hp, weight, acc, year, origin])
    return x, mpg


def higgs(n=2000, features=28, seed=0):
    """The HIGGS subset's shape: 28 features, a 0/1 label (logits model)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    w = rng.normal(size=features)
    y = (x @ w + rng.normal(0, 2.0, n) > 0).astype("float32")
    return x, y


def credit_card(n=4000, features=29, positive=0.05, seed=0):
    """The credit-card fraud set's shape: 29 features, rare positives."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < positive).astype("float32")
    x = rng.normal(size=(n, features)).astype("float32")
    x[y == 1, :5] += 1.5
    return x, y


def coffee(n=200, seed=2):
    """The lab's load_coffee_data: temperature 150-285, duration 11.5-15.5,
    good roast (1) inside a band."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    x[:, 1] = x[:, 1] * 4 + 11.5
    x[:, 0] = x[:, 0] * (285 - 150) + 150
    y = np.zeros(n)
    for i, (t, d) in enumerate(x):
        line = -3 / (260 - 175) * t + 21
        y[i] = 1 if (175 < t < 260 and 12 < d < 15 and d <= line) else 0
    return x, y.reshape(-1, 1)


def blobs(n=2000, centers=((-5, 2), (-2, -2), (1, 2), (5, -2)), std=1.0, seed=30):
    """sklearn's make_blobs as the softmax lab calls it: 4 classes in 2-D."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(centers), n)
    x = np.asarray(centers, float)[y] + rng.normal(0, std, (n, 2))
    return x, y
