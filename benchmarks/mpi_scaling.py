"""Data-parallel fit over MPI: samples/s on 1 and 2 ranks, the allreduce's share,
and a ring-allreduce cost model for 8-64 ranks (README, "Data-parallel training").

    python benchmarks/mpi_scaling.py                  # measure (~2 min), print both tables
    python benchmarks/mpi_scaling.py --save out.json  # ... and keep the measurements
    python benchmarks/mpi_scaling.py --model out.json # the cost model from saved ones

Models A (784-25-15-10), B (784-256-256-10), C (784-2048-2048-10), Adam, sparse
categorical cross-entropy, MNIST from ../shared/data/mnist (else it says so
and stops); each rank runs one BLAS thread, launched by the ``mpiexec`` beside
this Python (pip install "densefit[mpi]").  Not a pytest file: timing needs
the machine to itself.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
UNITS = {"A": (25, 15), "B": (256, 256), "C": (2048, 2048)}
ROWS = {"A": 60000, "B": 30000, "C": 8192}  # timed per run: seconds each on one core
WARMUP_ROWS = 2048
RUNS = [("A", 32, 1), ("A", 32, 2), ("A", 128, 1), ("A", 128, 2), ("B", 32, 1),
        ("B", 128, 1), ("B", 128, 2), ("C", 32, 1), ("C", 128, 1), ("C", 128, 2)]
# the cost model: ring allreduce of P float32 gradients, assumed per-message latency
BYTES, LATENCY, GLOBAL_BATCH = 4, 20e-6, 128
RANKS, LINKS = (8, 16, 32, 64), {"10 Gb/s": 10e9 / 8, "100 Gb/s": 100e9 / 8}


def n_params(units):
    sizes = (784, *units, 10)
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def worker(size):
    """One rank of ``mpiexec -n size``: every run of RUNS for this size; rank 0
    prints one JSON line a run."""
    import numpy as np
    import densefit as df
    from densefit.distributed import MPIStrategy
    df.set_num_threads(1)
    strategy = MPIStrategy()
    (x, y), _ = df.datasets.load_mnist(MNIST_DIR)
    x = x.reshape(len(x), -1).astype(np.float32) / 255
    for name, batch, ranks in RUNS:
        if ranks != size:
            continue
        df.utils.set_random_seed(0)
        model = df.Sequential([df.Input((784,))] + [df.layers.Dense(u, activation="relu")
                                                    for u in UNITS[name]]
                              + [df.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x[:WARMUP_ROWS], y[:WARMUP_ROWS], batch_size=batch, verbose=0,
                  distribute=strategy)
        rows = ROWS[name]
        strategy.reduce_seconds, strategy.reduce_calls = 0.0, 0
        strategy.comm.Barrier()
        start = time.perf_counter()
        model.fit(x[:rows], y[:rows], batch_size=batch, verbose=0, distribute=strategy)
        seconds = strategy.comm.allreduce(time.perf_counter() - start, op=strategy.MPI.MAX)
        share = strategy.comm.allreduce(strategy.reduce_seconds, op=strategy.MPI.SUM) / size
        if strategy.rank == 0:
            print(json.dumps({"model": name, "batch": batch, "ranks": size, "rows": rows,
                              "samples_per_s": rows / seconds,
                              "step_s": seconds / -(-rows // batch),
                              "allreduce_share": share / seconds}), flush=True)


def measure():
    mpiexec = Path(sys.executable).with_name("mpiexec")
    results = []
    for size in (1, 2):
        run = subprocess.run([str(mpiexec), "-n", str(size), sys.executable, __file__,
                              "--worker", str(size)], capture_output=True, text=True,
                             check=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
        results += [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return results


def print_measured(results):
    print("| model | batch | ranks | samples/s | step (ms) | allreduce share of step |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['model']} | {r['batch']} | {r['ranks']} | {r['samples_per_s']:,.0f} | "
              f"{1e3 * r['step_s']:.3f} | {100 * r['allreduce_share']:.1f}% |")


def step_model(results, name):
    """One rank's step time t(b) = fixed + per_row b, fitted through batches 32 and 128."""
    t = {r["batch"]: r["step_s"] for r in results if r["model"] == name and r["ranks"] == 1}
    per_row = (t[128] - t[32]) / 96
    return t[128] - 128 * per_row, per_row


def predicted_step(fixed, per_row, params, ranks, bandwidth):
    """compute(B/N) + 2 (N-1)/N P bytes / bandwidth + 2 (N-1) latency."""
    return (fixed + per_row * GLOBAL_BATCH / ranks
            + 2 * (ranks - 1) / ranks * params * BYTES / bandwidth + 2 * (ranks - 1) * LATENCY)


def print_model(results):
    print(f"\nRing allreduce, global batch {GLOBAL_BATCH}, float32 gradients, latency "
          f"{LATENCY * 1e6:.0f} us (assumed): speedup over one rank at N ranks; "
          f"'best N' is where the step time is lowest (more ranks slow it down).")
    print("| model | params | link | " + " | ".join(f"N={n}" for n in RANKS) + " | best N |")
    print("| --- | ---: | --- |" + " ---: |" * (len(RANKS) + 1))
    for name, units in UNITS.items():
        fixed, per_row = step_model(results, name)
        params, one = n_params(units), fixed + per_row * GLOBAL_BATCH
        for link, bandwidth in LINKS.items():
            steps = {n: predicted_step(fixed, per_row, params, n, bandwidth)
                     for n in range(1, 1025)}
            best = min(steps, key=steps.get)
            cells = " | ".join(f"{one / steps[n]:.2f}x" for n in RANKS)
            print(f"| {name} | {params:,} | {link} | {cells} | {best} ({one / steps[best]:.1f}x) |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--save", help="write the measurements to this JSON file")
    parser.add_argument("--model", help="print the cost model from this JSON file only")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    if args.model:
        return print_model(json.loads(Path(args.model).read_text()))
    if not MNIST_DIR.is_dir():
        return print(f"no MNIST at {MNIST_DIR}: nothing measured")
    results = measure()
    if args.save:
        Path(args.save).write_text(json.dumps(results, indent=1))
    print_measured(results)
    print_model(results)


if __name__ == "__main__":
    main()
