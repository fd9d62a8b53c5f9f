"""``python -m densefit``: train the course notes' network and report accuracy and speed.

The network is 25 relu -> 15 relu -> linear output, trained with
SparseCategoricalCrossentropy(from_logits=True) and Adam(1e-3), batch 32, on
the 8x8 digits bundled with the package (fixed held-out test split), or on
MNIST with ``--mnist PATH``.  ``--plot FILE`` also draws the loss and accuracy
per epoch, training against the held-out test set, into FILE (matplotlib).
"""
import argparse
import sys
import time

import numpy as np

from . import datasets, plot
from .layers import Dense
from .losses import SparseCategoricalCrossentropy
from .models import Sequential
from .optimizers import Adam
from .utils import set_random_seed


def _parser():
    parser = argparse.ArgumentParser(prog="python -m densefit", description=__doc__.split("\n")[0])
    parser.add_argument("--mnist", metavar="PATH",
                        help="train on MNIST from the four IDX .gz files in PATH")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs (default: 60 for digits, 5 for MNIST)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2, choices=(0, 1, 2))
    parser.add_argument("--plot", metavar="FILE",
                        help="also write the training history (loss and accuracy per epoch, "
                             "training vs the held-out test set) to FILE, e.g. out.png; needs "
                             "matplotlib")
    return parser


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    try:  # a bad --plot path or a missing matplotlib fails now, not after training
        plot.checked_path(args.plot, "history.png")
    except (ImportError, OSError, ValueError) as e:
        print(f"{parser.prog}: error: --plot: {e}", file=sys.stderr)
        return 1

    if args.mnist:
        try:
            (x_train, y_train), (x_test, y_test) = datasets.load_mnist(args.mnist)
        except (OSError, ValueError) as e:  # missing, unreadable or corrupt files
            print(f"{parser.prog}: error: {e}", file=sys.stderr)
            return 1
        scale, name, epochs = 255.0, "MNIST", args.epochs or 5
    else:
        (x_train, y_train), (x_test, y_test) = datasets.load_digits()
        scale, name, epochs = 16.0, "digits (bundled 8x8)", args.epochs or 60
    x_train = x_train.reshape(len(x_train), -1).astype("float32") / scale
    x_test = x_test.reshape(len(x_test), -1).astype("float32") / scale

    set_random_seed(args.seed)
    model = Sequential([Dense(25, activation="relu"), Dense(15, activation="relu"),
                        Dense(10, activation="linear")])
    model.compile(optimizer=Adam(learning_rate=1e-3),
                  loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    print(f"densefit: {name}, {len(x_train)} training / {len(x_test)} test samples, "
          f"network {x_train.shape[1]}-25-15-10, {epochs} epochs of batch {args.batch_size}")
    start = time.perf_counter()
    watched = (x_test, y_test) if args.plot else None  # curves to draw; no effect on training
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=args.batch_size,
                        verbose=args.verbose, validation_data=watched)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy: {accuracy:.4f} (loss {loss:.4f}) on {len(x_test)} held-out samples; "
          f"{seconds / max(epochs, 1):.4f} s per epoch, {seconds:.2f} s in all")
    if args.plot:
        plot.history(history, args.plot)
        print(f"training history plotted to {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
