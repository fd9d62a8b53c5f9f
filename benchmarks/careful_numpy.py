"""A careful hand-written NumPy trainer: the fair baseline of issue 3's speed target.

Same math as ``densefit.reference.MLP`` for a stack of relu Dense layers with a
linear output, sparse categorical cross-entropy from logits and Keras' Adam,
but written the way one would write it to go fast in NumPy rather than to be
read.  The cost of a small network (model A: 784-25-15-10, batch 32) is mostly
NumPy's per-call overhead and allocation, not arithmetic, so:

- every array a step touches is allocated once per batch size and reused
  (``out=`` everywhere; in-place ufuncs);
- all parameters live in one flat float32 buffer, the kernels and biases being
  views of it, and likewise their gradients and Adam's moments: Adam is then
  a handful of ufunc calls over the whole model rather than that many per
  parameter;
- every scalar is an ``np.float32``: a Python float is "weak" and keeps
  float32, but a float64 NumPy scalar (what ``np.sqrt`` of a Python float
  returns) would silently upcast a whole update to float64 (as it does in
  ``reference.adam_update``, whose results this matches to float32 rounding).
"""
import math

import numpy as np


class CarefulMLP:
    """``kernels``/``biases``: float32 arrays (Keras layout, kernel ``(n_in, n_out)``).

    Hidden layers are relu, the output linear (logits).  ``fit_epoch`` and
    ``predict`` have ``reference.MLP``'s signatures.
    """

    def __init__(self, kernels, biases, learning_rate=1e-3, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7):
        shapes = [s for k, b in zip(kernels, biases) for s in (k.shape, b.shape)]
        sizes = [int(np.prod(s)) for s in shapes]
        self.flat = np.empty(sum(sizes), np.float32)
        self.grad = np.empty_like(self.flat)
        self.m = np.zeros_like(self.flat)
        self.v = np.zeros_like(self.flat)
        self.tmp = np.empty_like(self.flat)  # Adam's scratch
        params, grads = self._views(self.flat, shapes, sizes), self._views(self.grad, shapes, sizes)
        for p, src in zip(params, [a for kb in zip(kernels, biases) for a in kb]):
            p[...] = src
        self.kernels, self.biases = params[0::2], params[1::2]
        self.kernels_t = [k.T for k in self.kernels]  # made once: views are objects too
        self.d_kernels, self.d_biases = grads[0::2], grads[1::2]
        self.widths = [kernels[0].shape[0]] + [k.shape[1] for k in kernels]
        self.lr, self.beta_1, self.beta_2 = learning_rate, beta_1, beta_2
        self.c1 = np.float32(1 - beta_1)
        self.c2 = np.float32(1 - beta_2)
        self.eps = np.float32(epsilon)
        self.iterations = 0
        self._work = {}  # rows -> buffers for a batch (or predict call) of that many rows

    @staticmethod
    def _views(flat, shapes, sizes):
        offsets = np.cumsum([0] + sizes)
        return [flat[o:o + n].reshape(s) for o, n, s in zip(offsets, sizes, shapes)]

    def parameters(self):
        """Kernel then bias for each layer: reference.MLP's order."""
        return [p for kb in zip(self.kernels, self.biases) for p in kb]

    def _workspace(self, n):
        """Buffers for ``n`` rows, made on first use: typically the batch size,
        the last partial batch, and the predict sizes."""
        w = self._work.get(n)
        if w is None:
            w = dict(acts=[np.empty((n, k), np.float32) for k in self.widths],  # [x, h1, .., logits]
                     deltas=[np.empty((n, k), np.float32) for k in self.widths[1:-1]],
                     masks=[np.empty((n, k), np.float32) for k in self.widths[1:-1]],
                     labels=np.empty(n, np.intp),
                     flat_labels=np.empty(n, np.intp),
                     row_starts=np.arange(n, dtype=np.intp) * self.widths[-1],
                     row_max=np.empty((n, 1), np.float32),
                     row_sum=np.empty((n, 1), np.float32),
                     picked=np.empty(n, np.float32),
                     inv_n=np.float32(1 / n),
                     n=np.float32(n))
            w["acts_t"] = [a.T for a in w["acts"]]
            w["logits_flat"] = w["acts"][-1].reshape(-1)  # a view: labels index into it
            self._work[n] = w
        return w

    def _forward(self, x, acts):
        """Fills acts[1:] from the input ``x``, the last with the logits."""
        last = len(self.kernels) - 1
        for i, (k, b) in enumerate(zip(self.kernels, self.biases)):
            z = acts[i + 1]
            np.matmul(x if i == 0 else acts[i], k, out=z)
            np.add(z, b, out=z)
            if i < last:
                np.maximum(z, 0, out=z)

    def _train_step(self, w):
        acts, deltas = w["acts"], w["deltas"]
        self._forward(acts[0], acts)

        # Softmax cross-entropy and its gradient, in the logits' buffer (the
        # logits are not needed afterwards): shift by the row max for stability,
        # pick each row's label logit, exponentiate, normalise.
        z = acts[-1]
        np.maximum.reduce(z, axis=1, keepdims=True, out=w["row_max"])
        np.subtract(z, w["row_max"], out=z)
        w["logits_flat"].take(w["flat_labels"], out=w["picked"], mode="clip")
        np.exp(z, out=z)
        np.add.reduce(z, axis=1, keepdims=True, out=w["row_sum"])
        per_sample = w["row_max"].reshape(-1)  # free now: reuse it for -log p(label)
        np.log(w["row_sum"].reshape(-1), out=per_sample)
        np.subtract(per_sample, w["picked"], out=per_sample)
        loss = np.add.reduce(per_sample) * w["inv_n"]
        # d(mean loss)/dz = (softmax - onehot) / n; the 1/n folded into the row sums
        np.multiply(w["row_sum"], w["n"], out=w["row_sum"])
        np.divide(z, w["row_sum"], out=z)
        w["logits_flat"][w["flat_labels"]] -= w["inv_n"]  # labels are distinct flat indices

        # Backward: all gradients first (they need the old kernels), into self.grad
        delta = z
        for i in reversed(range(len(self.kernels))):
            np.matmul(w["acts_t"][i], delta, out=self.d_kernels[i])
            np.add.reduce(delta, axis=0, out=self.d_biases[i])
            if i > 0:
                prev = deltas[i - 1]
                np.matmul(delta, self.kernels_t[i], out=prev)
                # relu'(z) = (a > 0), and a = relu(z) >= 0, so it is sign(a): a
                # float32 0/1 mask, cheaper than a bool one (multiplying by that
                # casts through a buffer) or than copyto(where=)
                np.sign(acts[i], out=w["masks"][i - 1])
                np.multiply(prev, w["masks"][i - 1], out=prev)
                delta = prev

        # Keras' Adam over the whole flat parameter vector at once
        self.iterations += 1
        t = self.iterations
        alpha = np.float32(self.lr * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t))
        g, m, v, tmp = self.grad, self.m, self.v, self.tmp
        np.subtract(g, m, out=tmp)      # m += (g - m)(1 - b1)
        np.multiply(tmp, self.c1, out=tmp)
        np.add(m, tmp, out=m)
        np.multiply(g, g, out=tmp)      # v += (g*g - v)(1 - b2)
        np.subtract(tmp, v, out=tmp)
        np.multiply(tmp, self.c2, out=tmp)
        np.add(v, tmp, out=v)
        np.sqrt(v, out=tmp)             # w -= alpha m / (sqrt(v) + eps)
        np.add(tmp, self.eps, out=tmp)
        np.divide(m, tmp, out=tmp)
        np.multiply(tmp, alpha, out=tmp)
        np.subtract(self.flat, tmp, out=self.flat)
        return loss

    def fit_epoch(self, x, y, batch_size, order):
        """One epoch over the samples in ``order``; returns the per-batch losses."""
        y = np.asarray(y, np.intp)  # no copy for int64 labels; the gather needs one dtype
        starts = range(0, len(order), batch_size)
        losses = np.empty(len(starts), np.float32)
        for b, start in enumerate(starts):
            idx = order[start:start + batch_size]
            w = self._workspace(len(idx))
            # mode="clip": with the default "raise", take buffers its output
            x.take(idx, axis=0, out=w["acts"][0], mode="clip")
            y.take(idx, out=w["labels"], mode="clip")
            np.add(w["row_starts"], w["labels"], out=w["flat_labels"])
            losses[b] = self._train_step(w)
        return losses

    def predict(self, x):
        """The logits.  The returned array is a buffer reused by the next call
        with as many rows: copy it to keep it."""
        w = self._workspace(len(x))
        self._forward(x, w["acts"])
        return w["acts"][-1]
