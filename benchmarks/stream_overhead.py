"""What streaming costs per batch: one epoch of model A (784-25-15-10, Adam,
batch 32) on MNIST from arrays, from a generator of the same slices, and from
a PyDataset of them (streaming.py), each from the same initial weights and in
the same order, so the three losses agree.

    python benchmarks/stream_overhead.py [MNIST_DIR] [--repeats 5]

Prints each repeat's seconds and the extra microseconds per batch of the two
streamed epochs over the arrays' one.
"""
import argparse
import time
from pathlib import Path

import numpy as np

import densefit
from densefit import Sequential, utils
from densefit.layers import Dense, Input

BATCH = 32
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def model_a():
    utils.set_random_seed(0)
    model = Sequential([Input((784,)), Dense(25, activation="relu"),
                        Dense(15, activation="relu"), Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Slices(utils.PyDataset):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def __len__(self):
        return -(-len(self.x) // BATCH)

    def __getitem__(self, index):
        rows = slice(index * BATCH, (index + 1) * BATCH)
        return self.x[rows], self.y[rows]


def epoch_seconds(x, y):
    """``{source: (seconds, loss)}`` of one epoch from each source."""
    sources = {"arrays": lambda: (x, y),
               "generator": lambda: ((x[i:i + BATCH], y[i:i + BATCH])
                                     for i in range(0, len(x), BATCH)),
               "pydataset": lambda: Slices(x, y)}
    out = {}
    for name, source in sources.items():
        model, data = model_a(), source()
        start = time.perf_counter()
        history = (model.fit(*data, epochs=1, shuffle=False, verbose=0) if name == "arrays"
                   else model.fit(data, epochs=1, shuffle=False, verbose=0))
        out[name] = time.perf_counter() - start, history.history["loss"][0]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mnist", nargs="?", default=str(DEFAULT_DIR))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    (x, y), _ = densefit.datasets.load_mnist(args.mnist)
    x = x.reshape(len(x), -1).astype(np.float32) / 255
    batches = -(-len(x) // BATCH)
    for _ in range(args.repeats):
        out = epoch_seconds(x, y)
        base = out["arrays"][0]
        print("  ".join(f"{k} {s:.3f} s (loss {loss:.4f})" for k, (s, loss) in out.items()),
              " | per batch over arrays: "
              + ", ".join(f"{k} {(out[k][0] - base) / batches * 1e6:+.1f} us"
                          for k in ("generator", "pydataset")))


if __name__ == "__main__":
    main()
