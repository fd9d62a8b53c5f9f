"""The GEMM-only floor of one training epoch: the time NumPy's sgemm takes for
exactly the products an epoch of a Dense network needs (forward X·W, backward
Xᵀ·dZ for every layer, dZ·Wᵀ for all but the first), with no other work.

    python benchmarks/gemm_floor.py B      # 784-256-256-10, batch 128
    python benchmarks/gemm_floor.py C --threads 1

Compare with the epoch time from compare.py or the benchmark suite: the gap is
everything that is not a GEMM (gathering rows, activations, loss, Adam).
"""
import argparse
import time

import numpy as np

MODELS = {"A": ((784, 25, 15, 10), 32), "B": ((784, 256, 256, 10), 128),
          "C": ((784, 2048, 2048, 10), 256)}


def epoch_gemms(units, batch, samples=60000, repeats=3):
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((a, b), np.float32) for a, b in zip(units, units[1:])]
    acts = [rng.standard_normal((batch, u), np.float32) for u in units]
    outs = [np.empty((batch, u), np.float32) for u in units]
    grads = [np.empty_like(w) for w in ws]
    steps = -(-samples // batch)

    def one_step():
        for i, w in enumerate(ws):
            np.matmul(acts[i], w, out=outs[i + 1])
        for i in reversed(range(len(ws))):
            np.matmul(acts[i].T, acts[i + 1], out=grads[i])
            if i > 0:
                np.matmul(acts[i + 1], ws[i].T, out=outs[i])

    one_step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            one_step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    units, batch = MODELS[args.model]
    seconds = epoch_gemms(units, batch, repeats=1 if args.model == "C" else 3)
    print(f"model {args.model} {'-'.join(map(str, units))}, batch {batch}: "
          f"GEMMs alone {seconds:.3f} s per epoch")


if __name__ == "__main__":
    main()
