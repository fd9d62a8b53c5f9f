"""Side-by-side timings of densefit and its peers on this machine.

    python benchmarks/compare.py                 # models A and B, 1 and 2 threads
    python benchmarks/compare.py --models A,B,C  # C takes minutes per peer
    python benchmarks/compare.py --models D      # B with BatchNormalization, Dropout

Prints a Markdown table: the median seconds per training epoch over 60,000
MNIST-shaped samples (sparse categorical cross-entropy from logits, Adam
1e-3), single-sample and test-set predict, for densefit, two NumPy trainers,
and scikit-learn, PyTorch and Keras when they are installed
(`pip install torch==2.13.0`, `pip install tensorflow-cpu scikit-learn`:
keep them out of densefit's own environment's defaults).  Each cell also gives
the peer's time divided by densefit's.  Every measurement runs in a fresh
subprocess with its thread count fixed through the environment, so no library
sees another's thread pools.

The two NumPy peers run the same math from the same initial weights:
"numpy" is densefit.reference.MLP, the readable oracle (it allocates at every
step), and "numpy-careful" is careful_numpy.CarefulMLP, as fast as a
hand-written NumPy loop gets (preallocated buffers, in-place updates).  Speed
claims against "NumPy" should quote the careful one.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

SHORT_NAMES = {"BatchNormalization": "BN"}  # layer names in Net.shape()


class Net(NamedTuple):
    """A benchmark network: relu Dense layers of the `hidden` widths, each
    followed by the `after_hidden` layers (Keras class name, keyword arguments),
    then Dense(10) logits; trained in batches of `batch`."""
    hidden: tuple
    batch: int
    after_hidden: tuple = ()

    def shape(self, n_in=784):
        """'784-256-BN-Dropout-256-BN-Dropout-10'."""
        extra = [SHORT_NAMES.get(name, name) for name, _ in self.after_hidden]
        return "-".join([str(n_in), *(s for h in self.hidden for s in (str(h), *extra)), "10"])

    def describe(self, name):
        return f"{name}: {self.shape()}, batch {self.batch}"


# The three reference networks, and D: B with batch normalization and
# dropout.  MODELS and MNIST_DIR are defined here only; benchmarks/conftest.py
# imports them.
MODELS = {"A": Net((25, 15), 32), "B": Net((256, 256), 128), "C": Net((2048, 2048), 256),
          "D": Net((256, 256), 128, (("BatchNormalization", {}), ("Dropout", {"rate": 0.2})))}
# the peers that build layers besides Dense (Net.after_hidden); the NumPy
# trainers and scikit-learn run plain Dense stacks only
LAYER_PEERS = ("densefit", "torch", "keras")
PEERS = ["densefit", "numpy", "numpy-careful", "sklearn", "torch", "keras"]
# the modules build() imports for the peers that are optional installs
PEER_MODULES = {"sklearn": ("sklearn",), "torch": ("torch",), "keras": ("tensorflow", "keras")}
WARMUP_ROWS = 2048  # every peer fits these rows once before it is timed
MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def load_data():
    if MNIST_DIR.is_dir():
        from densefit import datasets
        (x, y), (xt, yt) = datasets.load_mnist(MNIST_DIR)
        source = "MNIST"
    else:
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 256, (60000, 28, 28), np.uint8), rng.integers(0, 10, 60000)
        xt, yt = rng.integers(0, 256, (10000, 28, 28), np.uint8), rng.integers(0, 10, 10000)
        source = "synthetic MNIST-shaped"
    prep = lambda a: a.reshape(len(a), -1).astype(np.float32) / 255  # noqa: E731
    return prep(x), y.astype(np.int64), prep(xt), yt.astype(np.int64), source


def _timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _per_call(fn, seconds=1.0):
    """Median seconds per call of a fast function, over batches of calls."""
    fn()
    calls = 1
    while True:  # calibrate a batch of calls to ~50 ms
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start > 0.05:
            break
        calls *= 2
    rounds = max(3, int(seconds / 0.05))
    return statistics.median(_timed(lambda: [fn() for _ in range(calls)], 1) / calls
                             for _ in range(rounds))


# ------------------------------------------------------------ one peer's measurements

def unbuilt(peer, net):
    """Why `peer` does not build `net`, or None when it does: any peer builds a
    plain Dense stack; the layers after the hidden ones only the LAYER_PEERS,
    densefit once its layers module has them all (until then its cell is
    skipped, not failed)."""
    names = [name for name, _ in net.after_hidden]
    if not names or (peer in LAYER_PEERS and peer != "densefit"):
        return None
    if peer != "densefit":
        return f"{peer} builds Dense stacks only"
    import densefit.layers
    missing = [name for name in names if not hasattr(densefit.layers, name)]
    return f"densefit.layers has no {', '.join(missing)} yet" if missing else None


def supports(peer, net):
    return unbuilt(peer, net) is None


def _stack(net, n_in, dense, extra):
    """`net`'s hidden layers from one peer's constructors: dense(n_in, width)
    gives a list (the layer, and its activation where that is a layer), then
    extra(name, kwargs, width) each of net.after_hidden."""
    layers = []
    for a, b in zip([n_in, *net.hidden], net.hidden):
        layers += [*dense(a, b), *(extra(name, kwargs, b) for name, kwargs in net.after_hidden)]
    return layers


# Keras' BatchNormalization defaults, for its torch twin in _torch_layer
KERAS_BN_MOMENTUM, KERAS_BN_EPSILON = 0.99, 1e-3


def _torch_layer(torch, name, kwargs, width):
    """The torch twin of a Keras layer.  BatchNorm1d's momentum weighs the new
    batch, Keras' the old average: Keras' 0.99 is torch's 0.01."""
    if name == "BatchNormalization":
        momentum = round(1 - kwargs.get("momentum", KERAS_BN_MOMENTUM), 12)
        return torch.nn.BatchNorm1d(width, momentum=momentum,
                                    eps=kwargs.get("epsilon", KERAS_BN_EPSILON))
    if name == "Dropout":
        return torch.nn.Dropout(kwargs["rate"])
    raise ValueError(f"no torch twin for {name}")


def build(peer, net, n_in=784, threads=1):
    """(train_epoch(x, y, batch_size), predict(x)) for one peer."""
    if not supports(peer, net):
        raise ValueError(f"{net.shape(n_in)}: {unbuilt(peer, net)}")
    hidden = net.hidden
    if peer == "densefit":
        model = densefit_model(net, n_in)
        return (lambda x, y, bs: model.fit(x, y, batch_size=bs, epochs=1, verbose=0),
                model.predict)
    if peer in ("numpy", "numpy-careful"):
        from densefit import reference
        rng = np.random.default_rng(0)  # the same weights and orders for both
        sizes = [n_in, *hidden, 10]
        kernels = [reference.glorot_uniform(a, b, rng) for a, b in zip(sizes, sizes[1:])]
        biases = [np.zeros(b, np.float32) for b in sizes[1:]]
        if peer == "numpy":
            names = ["relu"] * len(hidden) + ["linear"]
            from densefit.activations import LEAKY_RELU_SLOPE
            from densefit.optimizers import Adam
            mlp = reference.MLP(list(zip(kernels, biases, names)), "sparse_ce_logits", False,
                                LEAKY_RELU_SLOPE, **Adam(1e-3).get_config())
        else:
            from careful_numpy import CarefulMLP  # beside this file, on sys.path
            mlp = CarefulMLP(kernels, biases)
        return (lambda x, y, bs: mlp.fit_epoch(x, y, bs, rng.permutation(len(x))), mlp.predict)
    if peer == "sklearn":
        from sklearn.neural_network import MLPClassifier
        clf = MLPClassifier(hidden_layer_sizes=hidden, solver="adam", learning_rate_init=1e-3,
                            epsilon=1e-7, random_state=0)
        classes = np.arange(10)

        def epoch(x, y, bs):
            clf.set_params(batch_size=bs)
            clf.partial_fit(x, y, classes=classes)
        return epoch, clf.predict_proba
    if peer == "torch":
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        layers = _stack(net, n_in, lambda a, b: [torch.nn.Linear(a, b), torch.nn.ReLU()],
                        lambda name, kwargs, b: _torch_layer(torch, name, kwargs, b))
        module = torch.nn.Sequential(*layers, torch.nn.Linear(hidden[-1], 10))
        opt = torch.optim.Adam(module.parameters(), lr=1e-3, eps=1e-7)
        loss_fn = torch.nn.CrossEntropyLoss()

        def epoch(x, y, bs):
            # CrossEntropyLoss wants int64 targets: .long() is free for int64
            # labels (compare.py's) and one copy for int32 ones (the pytest suite's)
            xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
            perm = torch.randperm(len(xt))
            module.train()  # batch statistics and dropout while fitting
            for i in range(0, len(xt), bs):
                idx = perm[i:i + bs]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(module(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
            module.eval()  # and predict in inference mode, as Keras' does

        def predict(x):
            with torch.no_grad():
                return module(torch.from_numpy(x)).numpy()
        return epoch, predict
    if peer == "keras":
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        import keras
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((n_in,))]
            + _stack(net, n_in, lambda a, b: [keras.layers.Dense(b, activation="relu")],
                     lambda name, kwargs, b: getattr(keras.layers, name)(**kwargs))
            + [keras.layers.Dense(10)])
        model.compile(keras.optimizers.Adam(1e-3),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return (lambda x, y, bs: model.fit(x, y, batch_size=bs, epochs=1, verbose=0),
                lambda x: model(x, training=False))
    raise ValueError(peer)


def densefit_model(net, n_in=784):
    """densefit's `net`, built and compiled (seed 0); the pytest suite's too."""
    from densefit import Sequential, layers
    from densefit.losses import SparseCategoricalCrossentropy
    from densefit.optimizers import Adam
    from densefit.utils import set_random_seed
    set_random_seed(0)
    model = Sequential(_stack(net, n_in, lambda a, b: [layers.Dense(b, activation="relu")],
                              lambda name, kwargs, b: getattr(layers, name)(**kwargs))
                       + [layers.Dense(10)])
    model.compile(Adam(1e-3), SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    model.build((None, n_in))
    return model


def worker(peer, task, threads, repeats):
    """Runs in a subprocess: one peer, one task; prints JSON seconds."""
    x, y, xt, _, _ = load_data()
    model = task[0]
    net = MODELS[model]
    epoch, predict = build(peer, net, threads=threads)
    # warm-up (tracing, lazy init); sklearn must fit to predict
    epoch(x[:WARMUP_ROWS], y[:WARMUP_ROWS], net.batch)
    if task.endswith("epoch"):
        seconds = _timed(lambda: epoch(x, y, net.batch), 1 if model == "C" else repeats)
    elif task.endswith("predict1"):
        seconds = _per_call(lambda: predict(xt[:1]))
    else:
        seconds = _per_call(lambda: predict(xt), seconds=2.0)
    print(json.dumps({"seconds": seconds}))


def available(peer):
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in PEER_MODULES.get(peer, ()))


def run(peer, task, threads, repeats):
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARS}, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, __file__, "--worker", peer, task, str(threads),
                           str(repeats)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, proc.stderr.strip().splitlines()[-1:] or ["failed"]
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"], None


def _fmt(seconds):
    if seconds is None:
        return "n/a"
    if seconds >= 0.1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-4:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="A,B")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        peer, task, threads, repeats = args.worker
        return worker(peer, task, int(threads), int(repeats))

    peers = [p for p in args.peers.split(",") if available(p)]
    missing = [p for p in args.peers.split(",") if p not in peers]
    tasks = [f"{m} epoch" for m in args.models.split(",")] + ["A predict1", "A predictall"]
    label = {"epoch": "epoch", "predict1": "predict 1 sample", "predictall": "predict 10,000"}
    _print_header(peers, missing, dict.fromkeys(task.split()[0] for task in tasks))
    for threads in [int(t) for t in args.threads.split(",")]:
        print(f"\n## {threads} thread{'s' if threads > 1 else ''}\n")
        print("| task | " + " | ".join(peers) + " |")
        print("|---" * (len(peers) + 1) + "|")
        for task in tasks:
            model, kind = task.split()
            net = MODELS[model]
            results = {p: run(p, task.replace(" ", "-"), threads, args.repeats)
                       if supports(p, net) else (None, None) for p in peers}
            base = results["densefit"][0] if "densefit" in results else None
            cells = []
            for p in peers:
                seconds, error = results[p]
                ratio = f" ({seconds / base:.1f}x)" if seconds and base and p != "densefit" else ""
                cells.append(_fmt(seconds) + ratio if error is None else "failed")
            print(f"| {net.describe(model)}, {label[kind]} | " + " | ".join(cells) + " |",
                  flush=True)


def _print_header(peers, missing, models):
    """The table's comment lines: the data, the peers skipped, why a cell is n/a."""
    source = load_data()[4]
    print(f"# densefit vs peers: {source} data, {os.cpu_count()} cores; median seconds, "
          f"(x) = peer time / densefit time")
    if missing:
        print(f"# not installed, skipped: {', '.join(missing)}")
    if "numpy" in peers or "numpy-careful" in peers:
        print("# numpy: densefit.reference.MLP, readable; numpy-careful: benchmarks/careful_numpy.py,"
              " preallocated and in place")
    for name in models:
        for peer in peers:
            if not supports(peer, MODELS[name]):
                print(f"# {MODELS[name].describe(name)}: n/a for {peer}: "
                      f"{unbuilt(peer, MODELS[name])}")


if __name__ == "__main__":
    sys.exit(main())
