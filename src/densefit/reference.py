"""The same math as the compiled core, in plain NumPy, written to be read.

This module is the oracle the tests compare the C kernels against and the
baseline the benchmarks measure them against.  It shares no code with the
core on purpose: two independent implementations that agree are evidence.

Conventions (Keras'): a Dense kernel has shape ``(n_in, n_out)``; a loss is
the mean over the batch of each sample's loss (for binary cross-entropy and
MSE a sample's loss is the mean over its outputs); gradients are of that mean.
"""
import math

import numpy as np

EPSILON = 1e-7  # Keras' backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON]


# ------------------------------------------------------------------ activations

def sigmoid(z):
    # exp of a non-positive number only, so no overflow warning for any z
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


SELU_SCALE = 1.0507009873554804934193349852946  # Klambauer et al.'s constants, as Keras'
SELU_ALPHA = 1.6732632423543772848170429916717
GELU_TANH_C = math.sqrt(2 / math.pi)  # Keras' approximate gelu: 0.5 z (1 + tanh(c (z + k z^3)))
GELU_TANH_K = 0.044715
# the activations whose derivative needs their input z (their output does not determine it)
NEEDS_INPUT = {"gelu", "gelu_approximate", "silu", "hard_silu", "mish"}


def normal_cdf(z):
    """Phi(z), elementwise in z's dtype (NumPy has no erf; math.erfc is exact)."""
    return (0.5 * np.vectorize(math.erfc, otypes=[np.float64])(-z / np.sqrt(2))).astype(z.dtype)


def softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def gelu_tanh_gate(z):
    """(1 + tanh(u)) / 2 = sigmoid(2u), u = c (z + k z^3): no cancellation for z < 0."""
    return sigmoid(2 * GELU_TANH_C * (z + GELU_TANH_K * z**3))


def relu6(z):
    return np.minimum(np.maximum(z, 0), 6)


def activation(z, name, slope):
    """``name`` applied to ``z`` (leaky_relu uses ``slope`` for negative inputs,
    elu as its alpha)."""
    if name == "linear":
        return z.copy()
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "leaky_relu":
        return np.where(z > 0, z, slope * z)
    if name == "softmax":
        return softmax(z)
    return _NEW_ACTIVATIONS[name](z, z.dtype.type(slope))


_NEW_ACTIVATIONS = {
    "elu": lambda z, alpha: np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0))),
    "selu": lambda z, _: SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0))),
    "gelu": lambda z, _: z * normal_cdf(z),
    "gelu_approximate": lambda z, _: z * gelu_tanh_gate(z),
    "silu": lambda z, _: z * sigmoid(z),
    "softplus": lambda z, _: softplus(z),
    "softsign": lambda z, _: z / (1 + np.abs(z)),
    "hard_sigmoid": lambda z, _: relu6(z + 3) / 6,
    "hard_silu": lambda z, _: z * (relu6(z + 3) / 6),
    "relu6": lambda z, _: relu6(z),
    "exponential": lambda z, _: np.exp(z),
    "mish": lambda z, _: z * np.tanh(softplus(z)),
}


def derivative(z, a, name, slope):
    """d activation / dz of the new activations, from the output ``a`` where it
    determines it (as the core computes it), else from the input ``z``."""
    one = a.dtype.type(1)
    if name == "elu":  # alpha exp(z) = a + alpha for z <= 0
        return np.where(a > 0, one, a + a.dtype.type(slope))
    if name == "selu":
        return np.where(a > 0, SELU_SCALE, a + SELU_SCALE * SELU_ALPHA).astype(a.dtype)
    if name == "softplus":  # sigmoid(z) = 1 - exp(-a)
        return -np.expm1(-a)
    if name == "softsign":  # 1 / (1 + |z|)^2
        return (1 - np.abs(a)) ** 2
    if name == "hard_sigmoid":
        return np.where((a > 0) & (a < 1), one / 6, 0).astype(a.dtype)
    if name == "relu6":
        return np.where((a > 0) & (a < 6), one, 0).astype(a.dtype)
    if name == "exponential":
        return a
    if name == "gelu":  # Phi(z) + z phi(z)
        return normal_cdf(z) + z * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    if name == "gelu_approximate":
        s = gelu_tanh_gate(z)
        return s + 2 * z * s * (1 - s) * GELU_TANH_C * (1 + 3 * GELU_TANH_K * z * z)
    if name == "silu":
        s = sigmoid(z)
        return s * (1 + z * (1 - s))
    if name == "hard_silu":  # relu6's derivative is 0 at both ends, as TensorFlow's
        return relu6(z + 3) / 6 + np.where((z + 3 > 0) & (z + 3 < 6), z / 6, 0)
    if name == "mish":
        t = np.tanh(softplus(z))
        return t + z * (1 - t * t) * sigmoid(z)
    raise ValueError(f"unknown activation {name!r}")


def activation_backward(a, grad, name, slope, z=None):
    """dL/dz from the activation's output ``a`` and dL/da ``grad`` (and its input
    ``z``, for those in NEEDS_INPUT)."""
    if name == "linear":
        return grad.copy()
    if name == "relu":
        return np.where(a > 0, grad, 0)
    if name == "sigmoid":
        return grad * a * (1 - a)
    if name == "tanh":
        return grad * (1 - a * a)
    if name == "leaky_relu":
        return np.where(a > 0, grad, slope * grad)
    if name == "softmax":  # the Jacobian of softmax times grad, row by row
        return a * (grad - (grad * a).sum(axis=-1, keepdims=True))
    return grad * derivative(z, a, name, slope).astype(a.dtype)


# ------------------------------------------------------------------ a Dense layer

def dense_forward(x, kernel, bias, name, slope):
    return activation(x @ kernel + bias, name, slope)


def dense_backward(x, kernel, a, grad, name, slope, need_dx, z=None):
    """``(d_kernel, d_bias, d_x)`` from the layer's input, output and dL/d(output)
    (and its pre-activation ``z``, for the activations in NEEDS_INPUT)."""
    dz = activation_backward(a, grad, name, slope, z)
    return x.T @ dz, dz.sum(axis=0), (dz @ kernel.T if need_dx else None)


# ------------------------------------------------------------------ a BatchNormalization layer (Keras')

def batch_moments(x):
    """Each column's mean and biased (population, /N) variance, as Keras' ``ops.moments``."""
    mean = x.mean(axis=0)
    return mean, ((x - mean) ** 2).mean(axis=0)


def batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, epsilon, training):
    """``(y, (mean, variance))``: in training normalised by the batch's own moments
    (returned for the backward pass and the moving update), else by the moving ones.
    gamma, beta: None when the layer has none (scale / center False)."""
    mean, variance = batch_moments(x) if training else (moving_mean, moving_variance)
    y = (x - mean) / np.sqrt(variance + epsilon)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y, (mean, variance)


def batch_norm_backward(x, grad, gamma, epsilon):
    """``(d_gamma, d_beta, d_x)`` of the training forward pass (through the batch
    moments: ``dx = gamma / s (g - mean(g) - xhat mean(g xhat))``)."""
    mean, variance = batch_moments(x)
    s = np.sqrt(variance + epsilon)
    xhat = (x - mean) / s
    scale = 1.0 if gamma is None else gamma
    dx = scale / s * (grad - grad.mean(axis=0) - xhat * (grad * xhat).mean(axis=0))
    return (grad * xhat).sum(axis=0), grad.sum(axis=0), dx


def moving_update(moving, batch_value, momentum):
    """Keras' moving statistic after a training step: momentum weighs the old value."""
    return moving * momentum + batch_value * (1 - momentum)
# ------------------------------------------------------------------ Normalization and PReLU

def normalization_sd(variance):
    """Keras' Normalization divides by the standard deviation floored at 1e-7
    (not by sqrt(variance + epsilon))."""
    return np.maximum(np.sqrt(variance), EPSILON).astype(variance.dtype)


def normalization_forward(x, mean, variance, invert=False):
    sd = normalization_sd(variance)
    return mean + x * sd if invert else (x - mean) / sd


def normalization_backward(grad, variance, invert=False):
    """dL/dx: the map is affine per feature."""
    sd = normalization_sd(variance)
    return grad * sd if invert else grad / sd


def adapt_statistics(x):
    """Keras' ``Normalization.adapt`` on 2-d data: each feature's mean and
    population variance (``np.var``, ddof=0)."""
    x = np.asarray(x, np.float64)
    return x.mean(axis=0), x.var(axis=0)


def prelu_forward(x, alpha):
    """``relu(x) - alpha relu(-x)``: x where x >= 0, alpha x below."""
    return np.maximum(x, 0) - alpha * np.maximum(-x, 0)


def prelu_backward(x, alpha, grad):
    """``(d_alpha, d_x)``.  At x = 0 both are 0, as TensorFlow differentiates
    relu there (relu'(0) = 0 on both terms)."""
    d_alpha = (grad * np.minimum(x, 0)).sum(axis=0)
    d_x = grad * ((x > 0) + alpha * (x < 0))
    return d_alpha, d_x.astype(x.dtype)
# ------------------------------------------------------------------ dropout

_GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, SplitMix64's increment
_U64 = 2**64


def _mix64(z):
    """SplitMix64's finaliser on a uint64 array (multiplies wrap around mod 2**64)."""
    with np.errstate(over="ignore"):
        z = z ^ (z >> np.uint64(30))
        z = z * np.uint64(0xBF58476D1CE4E5B9)
        z = z ^ (z >> np.uint64(27))
        z = z * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def dropout_mask(seed, step, rows, cols, rate):
    """Which values of a ``rows x cols`` batch dropout keeps at training ``step``
    (the optimizer's iterations before the step): value ``i = r * cols + c`` is
    kept when the top 53 bits of ``mix(key + golden * (i + 1))`` reach
    ``rate * 2**53``, with ``key = mix(seed + golden * (step + 1))``, all mod 2**64."""
    key = _mix64(np.array([(seed + _GOLDEN * (step + 1)) % _U64], np.uint64))
    index = np.arange(1, rows * cols + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        bits = _mix64(key + np.uint64(_GOLDEN) * index) >> np.uint64(11)
    return (bits >= np.uint64(int(rate * 2.0**53))).reshape(rows, cols)


def dropout(x, mask, rate):
    """Inverted dropout: kept values scaled by ``1 / (1 - rate)`` (in x's dtype),
    the others 0.  Its gradient is the same map on the upstream gradient."""
    scale = x.dtype.type(1 / (1 - rate))
    return np.where(mask, x * scale, x.dtype.type(0))


# ------------------------------------------------------------------ losses: (mean loss, gradient)

def sparse_softmax_cross_entropy(logits, labels):
    n = len(logits)
    rows = np.arange(n)
    loss = -log_softmax(logits)[rows, labels]
    grad = softmax(logits)
    grad[rows, labels] -= 1
    return loss.mean(), grad / n


def softmax_cross_entropy(logits, targets):
    n = len(logits)
    loss = -(targets * log_softmax(logits)).sum(axis=-1)
    grad = softmax(logits) * targets.sum(axis=-1, keepdims=True) - targets
    return loss.mean(), grad / n


def binary_cross_entropy_from_logits(logits, targets):
    loss = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    return loss.mean(axis=-1).mean(), (sigmoid(logits) - targets) / logits.size


def binary_cross_entropy(probs, targets):
    p = np.clip(probs, EPSILON, 1 - EPSILON)
    loss = -(targets * np.log(p) + (1 - targets) * np.log(1 - p))
    inside = (probs >= EPSILON) & (probs <= 1 - EPSILON)  # the clip passes no gradient
    grad = np.where(inside, (p - targets) / (p * (1 - p)), 0) / probs.size
    return loss.mean(axis=-1).mean(), grad


def categorical_cross_entropy(probs, targets):
    """Keras' form: renormalise rows to sum to one, clip, then -sum(t log q)."""
    n = len(probs)
    s = probs.sum(axis=-1, keepdims=True)
    q = probs / s
    c = np.clip(q, EPSILON, 1 - EPSILON)
    loss = -(targets * np.log(c)).sum(axis=-1)
    dq = np.where((q >= EPSILON) & (q <= 1 - EPSILON), -targets / q, 0)
    grad = (dq - (dq * q).sum(axis=-1, keepdims=True)) / s
    return loss.mean(), grad / n


def one_hot(labels, classes, dtype=np.float64):
    return np.eye(classes, dtype=dtype)[labels]


def sparse_categorical_cross_entropy(probs, labels):
    return categorical_cross_entropy(probs, one_hot(labels, probs.shape[1], probs.dtype))


def mean_squared_error(pred, targets):
    diff = pred - targets
    return (diff ** 2).mean(axis=-1).mean(), 2 * diff / pred.size


def _mean_of_outputs(loss, grad):
    """(mean over rows of each row's mean over outputs, gradient of that mean)."""
    return loss.mean(axis=-1).mean(), grad / loss.size


def mean_absolute_error(pred, targets):
    return _mean_of_outputs(np.abs(pred - targets), np.sign(pred - targets))


def mean_absolute_percentage_error(pred, targets):
    scale = np.maximum(np.abs(targets), EPSILON)
    return _mean_of_outputs(100 * np.abs(targets - pred) / scale,
                            100 * np.sign(pred - targets) / scale)


def mean_squared_logarithmic_error(pred, targets):
    diff = np.log(np.maximum(pred, EPSILON) + 1) - np.log(np.maximum(targets, EPSILON) + 1)
    return _mean_of_outputs(diff ** 2, np.where(pred >= EPSILON, 2 * diff / (pred + 1), 0))


def huber(pred, targets, delta=1.0):
    e = pred - targets
    small = np.abs(e) <= delta
    return _mean_of_outputs(np.where(small, 0.5 * e ** 2, delta * np.abs(e) - 0.5 * delta ** 2),
                            np.where(small, e, delta * np.sign(e)))


def log_cosh(pred, targets):
    e = pred - targets
    return _mean_of_outputs(e + np.logaddexp(0, -2 * e) - np.log(2), np.tanh(e))


def kl_divergence(pred, targets):
    """A row's loss is the sum (not the mean) over its outputs."""
    t, p = np.clip(targets, EPSILON, 1), np.clip(pred, EPSILON, 1)
    grad = np.where((pred >= EPSILON) & (pred <= 1), -t / p, 0)
    return (t * np.log(t / p)).sum(axis=-1).mean(), grad / len(pred)


def poisson(pred, targets):
    return _mean_of_outputs(pred - targets * np.log(pred + EPSILON),
                            1 - targets / (pred + EPSILON))


def hinge_targets(targets):
    """Keras reads a batch of 0/1 targets as -1/1."""
    return 2 * targets - 1 if np.isin(targets, (0, 1)).all() else targets


def hinge(pred, targets):
    t = hinge_targets(targets)
    margin = 1 - t * pred
    return _mean_of_outputs(np.maximum(margin, 0), np.where(margin >= 0, -t, 0))


def squared_hinge(pred, targets):
    t = hinge_targets(targets)
    margin = np.maximum(1 - t * pred, 0)
    return _mean_of_outputs(margin ** 2, -2 * t * margin)


def categorical_hinge(pred, targets):
    rows = np.arange(len(pred))
    others = (1 - targets) * pred
    top = others.argmax(axis=-1)
    value = others[rows, top] - (targets * pred).sum(axis=-1) + 1
    grad = -targets.copy()
    grad[rows, top] += 1 - targets[rows, top]
    grad *= (value >= 0)[:, None]
    return np.maximum(value, 0).mean(), grad / len(pred)


def smoothed(targets, label_smoothing, classes):
    """Keras' label smoothing: ``y (1 - s) + s / classes`` (2 for binary)."""
    return targets * (1 - label_smoothing) + label_smoothing / classes


def sparse_cross_entropy_ignoring(loss, out, labels, ignore_class):
    """``loss`` (a sparse cross-entropy) over the rows not labelled
    ``ignore_class``, averaged over those rows, as Keras' mask does."""
    keep = labels != ignore_class
    if not keep.any():
        return 0.0, np.zeros_like(out)
    value, grad_kept = loss(out[keep], labels[keep])
    grad = np.zeros_like(out)
    grad[keep] = grad_kept
    return value, grad


def weighted(loss, out, targets, weights, **options):
    """``loss`` (a function of LOSSES) with one weight per sample, Keras'
    ``sum_over_batch_size``: ``sum(w_i l_i) / rows`` (not divided by the weights'
    sum), each row's gradient scaled by its weight.  A row's loss is that of the
    row alone (hinge's 0/1 targets read as -1/1 over the whole batch first)."""
    if loss in (hinge, squared_hinge):
        targets = hinge_targets(targets)
    rows = [loss(out[r:r + 1], targets[r:r + 1], **options)[0] for r in range(len(out))]
    _, grad = loss(out, targets, **options)
    return float(np.dot(weights, rows)) / len(out), grad * weights[:, None]


# ------------------------------------------------------------------ regularizers: (penalty, gradient)

def regularization(v, l1, l2):
    """Keras' L1L2 penalty ``l1 sum|v| + l2 sum v^2`` (in float64)."""
    v = np.asarray(v, np.float64)
    return np.float64(l1 * np.abs(v).sum() + l2 * np.square(v).sum())


def regularization_gradient(v, l1, l2):
    """Its gradient ``l1 sign(v) + 2 l2 v`` (0 for l1 at v = 0, as TensorFlow's abs)."""
    return (l1 * np.sign(v) + 2 * l2 * v).astype(np.asarray(v).dtype)


def activity_regularization(a, l1, l2):
    """``(penalty, dpenalty/da)`` of a layer's output ``a`` (rows x units): Keras
    divides an activity penalty by the batch's rows."""
    rows = a.shape[0]
    return regularization(a, l1, l2) / rows, regularization_gradient(a, l1, l2) / rows


# ------------------------------------------------------------------ accuracies: the mean over rows

def sparse_accuracy(out, labels):
    return (out.argmax(axis=-1) == labels).mean()


def categorical_accuracy(out, targets):
    return (out.argmax(axis=-1) == targets.argmax(axis=-1)).mean()


def binary_accuracy(out, targets, threshold):
    return (targets == (out > threshold)).mean(axis=-1).mean()


def _in_top_k(out, labels, k):
    """Fewer than k outputs above the label's (ties inside the top k, as TF's)."""
    return (out > out[np.arange(len(out)), labels][:, None]).sum(axis=-1) < k


# each mean metric's per-row value (a metric state is (sum of w * value, sum of w))
METRIC_ROWS = {
    "sparse_accuracy": lambda o, t, p: (o.argmax(-1) == t).astype(float),
    "categorical_accuracy": lambda o, t, p: (o.argmax(-1) == t.argmax(-1)).astype(float),
    "binary_accuracy": lambda o, t, p: (t == (o > p["threshold"])).mean(-1),
    "sparse_top_k": lambda o, t, p: _in_top_k(o, t, p["k"]).astype(float),
    "top_k": lambda o, t, p: _in_top_k(o, t.argmax(-1), p["k"]).astype(float),
    "abs_error": lambda o, t, p: np.abs(t - o).mean(-1),
    "squared_error": lambda o, t, p: ((t - o) ** 2).mean(-1),
    "percent_error": lambda o, t, p: (100 * np.abs(t - o) / np.maximum(np.abs(t), 1e-7)).mean(-1),
    "squared_log_error": lambda o, t, p: ((np.log(np.maximum(o, 1e-7) + 1) -
                                          np.log(np.maximum(t, 1e-7) + 1)) ** 2).mean(-1),
}


def metric_state(kind, out, target, weight=None, **params):
    """The state df_metrics_update adds for ``out`` against ``target``: a mean
    kind's (weighted sum, weight); confusion's TP, FP, TN, FN per threshold
    (``thresholds``, ``class_id``); class_counts' TP, FP, FN, targets' sum per
    output (``threshold``, NaN for the row's maximum)."""
    out, w = np.asarray(out, np.float64), (np.ones(len(out)) if weight is None else weight)
    if kind == "confusion":
        cols = slice(None) if params.get("class_id") is None else [params["class_id"]]
        if params.get("k"):  # Keras' _filter_top_k: the rest read as NEG_INF, ties to the lower index
            rank = np.argsort(np.argsort(-out, axis=-1, kind="stable"), axis=-1)
            out = np.where(rank < params["k"], out, -1e10)
        p, pos = out[:, cols], np.asarray(target)[:, cols] != 0
        ww = np.broadcast_to(w[:, None], p.shape)
        state = []
        for th in params["thresholds"]:
            pred = p > th
            state.append([(ww * (pos & pred)).sum(0), (ww * (~pos & pred)).sum(0),
                          (ww * (~pos & ~pred)).sum(0), (ww * (pos & ~pred)).sum(0)])
        state = np.array(state)  # (thresholds, 4, outputs)
        return state.transpose(2, 0, 1).ravel() if params.get("per_output") else state.sum(-1).ravel()
    if kind == "class_counts":
        t, th = np.asarray(target, np.float64), params["threshold"]
        pred = ((out >= out.max(-1, keepdims=True)) & (np.abs(out) > 1e-9)) if np.isnan(th) \
            else out > th
        pred = pred.astype(float) * w[:, None]
        tw = t * w[:, None]
        return np.concatenate([(pred * t).sum(0), (pred * (1 - t)).sum(0),
                               (tw - pred * t).sum(0), tw.sum(0)])
    values = METRIC_ROWS[kind](out, np.asarray(target), params)
    return np.array([(w * values).sum(), w.sum()])


# ------------------------------------------------------------------ optimizers, in place

def adam_update(w, g, m, v, step, learning_rate, beta_1, beta_2, epsilon):
    """Keras 3's Adam; ``step`` counts from 1."""
    alpha = learning_rate * np.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
    m += (g - m) * (1 - beta_1)
    v += (g * g - v) * (1 - beta_2)
    w -= alpha * m / (np.sqrt(v) + epsilon)


def sgd_update(w, g, velocity, learning_rate, momentum, nesterov):
    """Keras' SGD; ``velocity`` may be None when ``momentum`` is 0."""
    if momentum == 0:
        w -= learning_rate * g
        return
    velocity *= momentum
    velocity -= learning_rate * g
    w += momentum * velocity - learning_rate * g if nesterov else velocity


def rmsprop_update(w, g, mean_square, learning_rate, rho, epsilon):
    """Keras' RMSprop without momentum: epsilon inside the square root."""
    mean_square *= rho
    mean_square += (1 - rho) * g * g
    w -= learning_rate * g / np.sqrt(mean_square + epsilon)


def amsgrad_update(w, g, m, v, v_hat, step, learning_rate, beta_1, beta_2, epsilon):
    """Keras 3's Adam with ``amsgrad=True``: the running maximum of v in its place."""
    alpha = learning_rate * np.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
    m += (g - m) * (1 - beta_1)
    v += (g * g - v) * (1 - beta_2)
    np.maximum(v_hat, v, out=v_hat)
    w -= alpha * m / (np.sqrt(v_hat) + epsilon)


def adagrad_update(w, g, accumulator, learning_rate, epsilon):
    """Keras' Adagrad."""
    accumulator += g * g
    w -= learning_rate * g / np.sqrt(accumulator + epsilon)


def adamax_update(w, g, m, u, step, learning_rate, beta_1, beta_2, epsilon):
    """Keras' Adamax; ``step`` counts from 1."""
    m += (g - m) * (1 - beta_1)
    np.maximum(beta_2 * u, np.abs(g), out=u)
    w -= learning_rate * m / ((1 - beta_1 ** step) * (u + epsilon))


def nadam_u_product(u_product, step, beta_1):
    """Nadam's running product of its momentum schedule after step ``step`` (from 1)."""
    return u_product * beta_1 * (1 - 0.5 * 0.96 ** step)


def nadam_update(w, g, m, v, step, u_product, learning_rate, beta_1, beta_2, epsilon):
    """Keras' Nadam; ``u_product`` is the product after this step (nadam_u_product)."""
    u_t = beta_1 * (1 - 0.5 * 0.96 ** step)
    u_t1 = beta_1 * (1 - 0.5 * 0.96 ** (step + 1))
    m += (g - m) * (1 - beta_1)
    v += (g * g - v) * (1 - beta_2)
    m_hat = u_t1 * m / (1 - u_product * u_t1) + (1 - u_t) * g / (1 - u_product)
    v_hat = v / (1 - beta_2 ** step)
    w -= m_hat * learning_rate / (np.sqrt(v_hat) + epsilon)


def weight_decay(w, learning_rate, weight_decay):
    """Keras' decoupled weight decay, before the update: w -= w * wd * lr."""
    w -= w * weight_decay * learning_rate


def clip_by_norm(g, clip):
    """``g * clip / max(norm(g), clip)``: Keras' clipnorm for one variable, and its
    global_clipnorm for all of them as one vector."""
    g *= clip / max(np.sqrt(np.sum(np.square(g, dtype=np.float64))), clip)


# ------------------------------------------------------------------ learning-rate schedules

def exponential_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    p = step / decay_steps
    return initial_learning_rate * decay_rate ** (np.floor(p) if staircase else p)


def inverse_time_decay(step, initial_learning_rate, decay_steps, decay_rate, staircase=False):
    p = step / decay_steps
    return initial_learning_rate / (1 + decay_rate * (np.floor(p) if staircase else p))


def piecewise_constant_decay(step, boundaries, values):
    return values[int(np.searchsorted(boundaries, step, side="left"))]


def polynomial_decay(step, initial_learning_rate, decay_steps, end_learning_rate=0.0001,
                     power=1.0, cycle=False):
    if cycle:
        decay_steps = decay_steps * (1 if step == 0 else np.ceil(step / decay_steps))
    else:
        step = min(step, decay_steps)
    return ((initial_learning_rate - end_learning_rate) * (1 - step / decay_steps) ** power
            + end_learning_rate)


def _cosine(fraction, alpha):
    return (1 - alpha) * 0.5 * (1 + np.cos(np.pi * fraction)) + alpha


def cosine_decay(step, initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None,
                 warmup_steps=0):
    if warmup_target is None:
        return initial_learning_rate * _cosine(min(step, decay_steps) / decay_steps, alpha)
    step = min(step, decay_steps + warmup_steps)
    if step < warmup_steps:
        return (warmup_target - initial_learning_rate) * step / warmup_steps \
            + initial_learning_rate
    return warmup_target * _cosine((step - warmup_steps) / decay_steps, alpha)


def cosine_decay_restarts(step, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                          alpha=0.0):
    fraction = step / first_decay_steps
    if t_mul == 1:
        restart = np.floor(fraction)
        fraction -= restart
    else:
        restart = np.floor(np.log(1 - fraction * (1 - t_mul)) / np.log(t_mul))
        fraction = (fraction - (1 - t_mul ** restart) / (1 - t_mul)) / t_mul ** restart
    cosine = 0.5 * m_mul ** restart * (1 + np.cos(np.pi * fraction))
    return initial_learning_rate * ((1 - alpha) * cosine + alpha)


# ------------------------------------------------------------------ initialisation

def glorot_uniform(fan_in, fan_out, rng, dtype=np.float32):
    limit = np.sqrt(6 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)


# ------------------------------------------------------------------ a whole network

LOSSES = {
    "sparse_ce_logits": sparse_softmax_cross_entropy,
    "ce_logits": softmax_cross_entropy,
    "bce_logits": binary_cross_entropy_from_logits,
    "sparse_ce_probs": sparse_categorical_cross_entropy,
    "ce_probs": categorical_cross_entropy,
    "bce_probs": binary_cross_entropy,
    "mse": mean_squared_error,
    "mae": mean_absolute_error,
    "mape": mean_absolute_percentage_error,
    "msle": mean_squared_logarithmic_error,
    "huber": huber,
    "log_cosh": log_cosh,
    "kld": kl_divergence,
    "poisson": poisson,
    "hinge": hinge,
    "squared_hinge": squared_hinge,
    "categorical_hinge": categorical_hinge,
}


class MLP:
    """A Sequential stack of Dense layers trained the way densefit trains one.

    ``layers`` is a list of ``(kernel, bias, activation_name)``; ``loss`` a key of
    ``LOSSES``.  With ``fused_output`` the last activation is skipped during
    training and the loss (a ``*_logits`` one) reads the pre-activation, as
    densefit does for a softmax or sigmoid output under a probability loss.
    ``slope`` is leaky_relu's negative slope; the rest are Adam's
    hyper-parameters (no defaults here: take Keras' from densefit's public API,
    e.g. ``densefit.optimizers.Adam().get_config()``).
    """

    def __init__(self, layers, loss, fused_output, slope, learning_rate, beta_1, beta_2,
                 epsilon, amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        if amsgrad or any(v is not None for v in (weight_decay, clipnorm, clipvalue,
                                                  global_clipnorm)):
            raise NotImplementedError("the reference trainer runs plain Adam")
        self.kernels = [k.copy() for k, _, _ in layers]
        self.biases = [b.copy() for _, b, _ in layers]
        self.activations = [a for _, _, a in layers]
        self.loss, self.fused_output, self.slope = LOSSES[loss], fused_output, slope
        self.adam = dict(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon)
        self.m = [np.zeros_like(p) for p in self.parameters()]
        self.v = [np.zeros_like(p) for p in self.parameters()]
        self.iterations = 0

    def parameters(self):
        """Kernel then bias for each layer: Keras' get_weights order."""
        return [p for kb in zip(self.kernels, self.biases) for p in kb]

    def forward(self, x, training=False):
        outputs = [x]
        for i, (k, b, name) in enumerate(zip(self.kernels, self.biases, self.activations)):
            last = i == len(self.kernels) - 1
            name = "linear" if (training and last and self.fused_output) else name
            outputs.append(dense_forward(outputs[-1], k, b, name, self.slope))
        return outputs

    def predict(self, x):
        return self.forward(x)[-1]

    def gradients(self, x, y):
        """``(loss, gradients)`` for one batch, gradients in parameters() order."""
        outputs = self.forward(x, training=True)
        loss, grad = self.loss(outputs[-1], y)
        grads = []
        for i in reversed(range(len(self.kernels))):
            last = i == len(self.kernels) - 1
            name = "linear" if (last and self.fused_output) else self.activations[i]
            z = outputs[i] @ self.kernels[i] + self.biases[i]  # the pre-activation
            dk, db, grad = dense_backward(outputs[i], self.kernels[i], outputs[i + 1], grad,
                                          name, self.slope, need_dx=i > 0, z=z)
            grads = [dk, db] + grads
        return loss, grads

    def train_step(self, x, y):
        loss, grads = self.gradients(x, y)
        self.iterations += 1
        for p, g, m, v in zip(self.parameters(), grads, self.m, self.v):
            adam_update(p, g, m, v, self.iterations, **self.adam)
        return loss

    def fit_epoch(self, x, y, batch_size, order):
        """One epoch over the samples in ``order``; returns the per-batch losses."""
        losses = []
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            losses.append(self.train_step(x[idx], y[idx]))
        return np.array(losses)
