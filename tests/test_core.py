"""The compiled core (densefit._core) against the NumPy oracle (densefit.reference).

Modelled on scikit-learn's ``test_cython_blas`` (every dtype x case against a
NumPy expression in the same dtype) and ``test_mlp::test_gradient`` (central
finite differences against the analytic gradient).

Tolerances.  ``RTOL`` allows a few dozen ulps of the dtype: the kernel and the
reference do the same operations in the same precision, but not in the same
order (BLAS blocks its sums, NumPy sums pairwise, libm and NumPy's SIMD
``exp``/``tanh`` differ in the last bits).  Where a result is a long sum of
terms (a matrix product, a bias gradient over rows) it can be much smaller than
its terms (cancellation), and an rtol alone would ask for digits the sum does
not have; ``atol`` then adds the round-off bound of such a sum,
``terms * eps * magnitude of a term`` (with a factor 2 of margin).
"""
import math
import platform
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from densefit import _core, activations, optimizers, reference

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
# A whole network trained for several epochs compounds round-off through every
# layer and Adam step: float64 stays tight, float32 gets a looser bound.
TRAIN_TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
# A forward pass of a few layers with O(1) inputs, weights and outputs.
NET_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}

ACT = _core.ACTIVATIONS
LOSS = _core.LOSSES
METRIC = _core.METRICS
OPT = _core.OPTIMIZERS
LINEAR = ACT["linear"]
# Keras' defaults, from the public API: the kernels and the reference have none
KERAS_SLOPE = activations.LEAKY_RELU_SLOPE  # where a kernel's slope is not the point
def _rule_args(opt):
    """An optimizer's own hyper-parameters, as the single-rule kernels take them (not
    Keras' base options, weight decay and clipping, nor Adam's amsgrad)."""
    skip = ("amsgrad", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm")
    return {k: v for k, v in opt.get_config().items() if k not in skip}


KERAS_ADAM = _rule_args(optimizers.Adam())  # learning_rate, beta_1, beta_2, epsilon
KERAS_SGD = _rule_args(optimizers.SGD())  # learning_rate, momentum, nesterov
KERAS_RMSPROP = _rule_args(optimizers.RMSprop())  # learning_rate, rho, epsilon

ACTIVATION_CASES = [("linear", 0.2), ("relu", 0.2), ("sigmoid", 0.2), ("tanh", 0.2),
                    ("leaky_relu", 0.2), ("leaky_relu", 0.3), ("leaky_relu", 0.0),
                    ("softmax", 0.2),
                    ("elu", 1.0), ("elu", 0.5), ("selu", 0.2), ("gelu", 0.2),
                    ("gelu_approximate", 0.2), ("silu", 0.2), ("softplus", 0.2),
                    ("softsign", 0.2), ("hard_sigmoid", 0.2), ("hard_silu", 0.2), ("relu6", 0.2),
                    ("exponential", 0.2), ("mish", 0.2)]
ACTIVATION_IDS = [f"{name}-{slope}" if name in ("leaky_relu", "elu") else name
                  for name, slope in ACTIVATION_CASES]
SHAPES = [(1, 1), (1, 6), (3, 7), (5, 13), (33, 17)]
DENSE_SHAPES = [(1, 1, 1), (1, 4, 3), (3, 7, 5), (5, 13, 2), (33, 17, 9), (2, 1, 6)]
HIDDEN = ["linear", "relu", "sigmoid", "tanh", "leaky_relu", "softmax", "elu", "selu", "gelu",
          "gelu_approximate", "silu", "softplus", "softsign", "hard_sigmoid", "hard_silu",
          "relu6", "exponential", "mish"]
SLOPE = 0.3  # leaky_relu slope of the networks: not the default 0.2, so it must be passed on
EXTREME = [[1e4, -1e4, 80.0, -80.0, 0.0],
           [-1e4, -1e4, -1e4, -1e4, -1e4],
           [80.0, 80.0, 80.0, 80.0, 80.0],
           [1e4, 1e4, 1e4, 1e4, 1e4],
           [0.5, 0.5, 0.5, 0.5, 0.5],
           [-80.0, 80.0, -1e4, 1e4, 0.5]]


def atol(dtype, terms, magnitude):
    """Round-off bound of a sum of ``terms`` terms each at most ``magnitude``."""
    return float(2 * terms * np.finfo(dtype).eps * magnitude)


def rand(rng, shape, dtype, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def uses_labels(loss):
    return loss.startswith("sparse")


# The hyper-parameters a loss is tested with (a non-default Huber delta)
LOSS_OPTIONS = {"huber": {"delta": 1.3}}
# Losses of positive predictions and targets, and of probabilities (KLD)
POSITIVE = ("msle", "poisson")


def make_output(loss, rng, rows, cols, dtype):
    """What the loss reads: logits, (unnormalised) probabilities or predictions."""
    if loss in POSITIVE:
        return rng.uniform(0.05, 3.0, (rows, cols)).astype(dtype)
    if loss in ("bce_probs", "kld"):
        return rng.uniform(0.02, 0.98, (rows, cols)).astype(dtype)
    if loss.endswith("logits") or not (loss.startswith("ce") or loss.startswith("sparse")):
        return rand(rng, (rows, cols), dtype, 3.0)
    # categorical losses renormalise each row: feed rows that do not sum to one
    return rng.uniform(0.05, 1.0, (rows, cols)).astype(dtype)


def make_target(loss, rng, rows, cols, dtype):
    if uses_labels(loss):
        return rng.integers(0, cols, rows).astype(np.int32)
    if loss.startswith("ce") or loss == "kld":  # soft targets: rows on the simplex
        return rng.dirichlet(np.ones(cols), rows).astype(dtype)
    if loss.startswith("bce"):
        return (rng.random((rows, cols)) < 0.5).astype(dtype)
    if loss in ("hinge", "squared_hinge"):
        return rng.choice([-1.0, 1.0], (rows, cols)).astype(dtype)
    if loss == "categorical_hinge":
        return np.eye(cols, dtype=dtype)[rng.integers(0, cols, rows)]
    if loss in POSITIVE:
        return rng.uniform(0.0, 3.0, (rows, cols)).astype(dtype)
    if loss == "mape":  # away from 0, where the percentage is of 1e-7
        return (rng.choice([-1.0, 1.0], (rows, cols)) * rng.uniform(0.5, 3.0, (rows, cols))
                ).astype(dtype)
    return rand(rng, (rows, cols), dtype)


def numerical_gradient(f, x, h=1e-5):
    """Central differences of the scalar f() with respect to x, perturbed in place."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = f()
        x[i] = old - h
        down = f()
        x[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


def metric_for(loss):
    """(metric name, threshold) the loss's targets support; logits threshold at 0."""
    if uses_labels(loss):
        return "sparse_accuracy", 0.5
    if loss.startswith("ce"):
        return "categorical_accuracy", 0.5
    if loss.startswith("bce"):
        return "binary_accuracy", 0.0 if loss == "bce_logits" else 0.5
    return "none", 0.5


def reference_metric(name, out, target, threshold):
    if name == "sparse_accuracy":
        return reference.sparse_accuracy(out, target)
    if name == "categorical_accuracy":
        return reference.categorical_accuracy(out, target)
    if name == "binary_accuracy":
        return reference.binary_accuracy(out, target, threshold)
    return 0.0


@pytest.fixture(params=["narrow", "blas"])
def kernels(request):
    """Both paths of a float32 layer of at most 32 outputs: the AVX-512 kernels
    (csrc/narrow_f32.c) where the CPU has them, and BLAS.  Float64 always uses BLAS."""
    narrow = request.param == "narrow"
    if _core.set_narrow_kernels(narrow) != narrow:
        pytest.skip("this CPU has no AVX-512: BLAS is the only path")
    yield request.param
    _core.set_narrow_kernels(True)


# ---------------------------------------------------------------- networks

def workspace_bytes(net, capacity, labels, training=True):
    """``(Workspace, bytes allocated making it)``, as NumPy reports its buffers to
    tracemalloc (the Python objects holding them add under 1.5 KB)."""
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        work = _core.Workspace(net, capacity, labels, training)
        return work, tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()


def split(flat, units):
    """Views ``[(kernel, bias), ...]`` into a flat parameter (or gradient) buffer."""
    views, offset = [], 0
    for n_in, n_out in zip(units[:-1], units[1:]):
        kernel = flat[offset:offset + n_in * n_out].reshape(n_in, n_out)
        offset += n_in * n_out
        views.append((kernel, flat[offset:offset + n_out]))
        offset += n_out
    assert offset == flat.size == _core.parameter_count(units)
    return views


def flatten(arrays):
    return np.concatenate([a.ravel() for a in arrays])


def init_params(units, dtype, rng):
    flat = np.empty(_core.parameter_count(units), dtype)
    for kernel, bias in split(flat, units):
        kernel[...] = reference.glorot_uniform(*kernel.shape, rng, dtype)
        bias[...] = rng.normal(0, 0.1, bias.shape)  # not zero: the bias must be read too
    return flat


def reference_mlp(params, units, acts, loss, fused=False, **adam):
    """The reference trainer (Adam: Keras' defaults but for ``adam``)."""
    layers = [(k, b, a) for (k, b), a in zip(split(params, units), acts)]
    return reference.MLP(layers, loss, fused, SLOPE, **dict(KERAS_ADAM, **adam))


OPTIMIZER_CLASSES = {"adam": optimizers.Adam, "sgd": optimizers.SGD,
                     "rmsprop": optimizers.RMSprop}


def optimizer_state(net, rule, learning_rate, iterations=0, momentums=None, velocities=None,
                    **hyper):
    """A core OptimizerState: the hyper-parameters given, else the public optimizer's
    defaults (Keras'), else 0 for one the rule does not read; zeros for each state
    array the rule keeps that is not given."""
    values = dict(beta_1=0.0, beta_2=0.0, epsilon=0.0, momentum=0.0, nesterov=False, rho=0.0)
    values.update(OPTIMIZER_CLASSES[rule]().get_config(), learning_rate=learning_rate, **hyper)
    keeps_momentums = rule == "adam" or (rule == "sgd" and values["momentum"] != 0)
    keeps_velocities = rule in ("adam", "rmsprop")
    if keeps_momentums and momentums is None:
        momentums = np.zeros_like(net.params)
    if keeps_velocities and velocities is None:
        velocities = np.zeros_like(net.params)
    return _core.OptimizerState(net, OPT[rule], values["learning_rate"], values["beta_1"],
                                values["beta_2"], values["epsilon"], values["momentum"],
                                values["nesterov"], values["rho"], iterations, momentums,
                                velocities)


class Setup:
    """A core Network with its Workspace, Objective, OptimizerState and Dataset, and
    the data."""

    def __init__(self, units, acts, loss, fused, dtype, n, capacity, seed=0, optimizer="sgd",
                 learning_rate=0.0, slopes=None, **opt):
        rng = np.random.default_rng(seed)
        self.units, self.acts, self.loss, self.fused = units, acts, loss, fused
        self.params = init_params(units, dtype, rng)
        self.x = rand(rng, (n, units[0]), dtype)
        self.y = make_target(loss, rng, n, units[-1], dtype)
        self.metric, self.threshold = metric_for(loss)
        slopes = [SLOPE] * len(acts) if slopes is None else slopes
        self.net = _core.Network(units, [ACT[a] for a in acts], slopes,
                                 self.params.copy(), np.zeros_like(self.params))
        labels = uses_labels(loss)
        self.work = _core.Workspace(self.net, capacity, labels)
        self.objective = _core.Objective(LOSS[loss], fused, METRIC[self.metric], self.threshold)
        self.state = optimizer_state(self.net, optimizer, learning_rate, **opt)
        self.data = _core.Dataset(self.net, self.x, self.y, labels)

    def train(self, order, batch_size, first, end):
        losses, metrics = np.full(end - first, np.nan), np.full(end - first, np.nan)
        done = _core.train_batches(self.net, self.work, self.objective, self.state, self.data,
                                   order, batch_size, first, end, losses, metrics)
        return done, losses, metrics


def reference_forward(params, units, acts, x, slopes=None, skip_last=False):
    """The reference's forward pass from a flat parameter buffer, a slope per layer."""
    slopes = [SLOPE] * len(acts) if slopes is None else slopes
    out = x
    for i, ((kernel, bias), name) in enumerate(zip(split(params, units), acts)):
        if skip_last and i == len(acts) - 1:
            name = "linear"
        out = reference.dense_forward(out, kernel, bias, name, slopes[i])
    return out


def reference_network_loss(params, units, acts, loss, fused, x, y, slopes=None):
    """The training loss as the reference computes it, from a flat parameter buffer."""
    return reference.LOSSES[loss](reference_forward(params, units, acts, x, slopes, fused), y)[0]


# ---------------------------------------------------------------- code tables

def test_code_tables():
    assert set(ACT) == set(HIDDEN)
    assert _core.NEEDS_INPUT == reference.NEEDS_INPUT
    assert set(LOSS) == set(reference.LOSSES)
    assert set(METRIC) == {"none", "sparse_accuracy", "categorical_accuracy", "binary_accuracy",
                           "sparse_top_k", "top_k", "abs_error", "squared_error",
                           "percent_error", "squared_log_error", "loss", "confusion",
                           "class_counts"}
    assert set(OPT) == {"sgd", "adam", "rmsprop", "adagrad", "adamax", "nadam"}
    assert set(_core.SLOTS) == {"momentums", "velocities", "velocity_hats", "accumulators",
                                "norms"}
    for table in (ACT, LOSS, METRIC, OPT, _core.SLOTS, _core.SCHEDULES):
        assert sorted(table.values()) == list(range(len(table)))
    for name, code in LOSS.items():
        assert _core.loss_uses_labels(code) == uses_labels(name)
    assert _core.MAX_ROWS == 2**31 - 1  # the kernels take a batch's rows as a C int


@pytest.mark.parametrize("units", [(1, 1), (3, 4), (4, 5, 3), (3, 4, 4, 2)])
def test_parameter_count(units):
    expected = sum(a * b + b for a, b in zip(units[:-1], units[1:]))
    assert _core.parameter_count(units) == expected


# ---------------------------------------------------------------- activations

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name, slope", ACTIVATION_CASES, ids=ACTIVATION_IDS)
def test_activation_forward(dtype, shape, name, slope):
    rng = np.random.default_rng(0)
    z = rand(rng, shape, dtype, 3.0)
    z_before = z.copy()
    got = _core.activation_forward(z, ACT[name], slope)
    assert got.dtype == dtype and got.shape == shape
    assert_allclose(got, reference.activation(z, name, slope), rtol=RTOL[dtype])
    assert_array_equal(z, z_before)  # a new array: the input is left alone


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name, slope", ACTIVATION_CASES, ids=ACTIVATION_IDS)
def test_activation_backward(dtype, shape, name, slope):
    rng = np.random.default_rng(1)
    z = rand(rng, shape, dtype, 3.0)
    a = reference.activation(z, name, slope)
    grad = rand(rng, shape, dtype)
    grad_before = grad.copy()
    got = _core.activation_backward(a, grad, ACT[name], slope, z=z)
    expected = reference.activation_backward(a, grad, name, slope, z)
    assert got.dtype == dtype
    # softmax's Jacobian-vector product is a dot over the row minus each entry
    assert_allclose(got, expected, rtol=RTOL[dtype],
                    atol=atol(dtype, shape[1], np.abs(a).max() * np.abs(grad).max()))
    assert_array_equal(grad, grad_before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, slope", ACTIVATION_CASES, ids=ACTIVATION_IDS)
def test_activation_extreme_inputs(dtype, name, slope):
    """±1e4 and ±80 (where a naive exp overflows float32 and float64), and
    all-equal rows (softmax must give 1/cols, not 0/0)."""
    z = np.array(EXTREME, dtype)
    a = _core.activation_forward(z, ACT[name], slope)
    if name == "exponential":  # exp(1e4) is inf, in Keras too
        z = np.minimum(z, 80 if dtype == np.float64 else 50)
        a = _core.activation_forward(z, ACT[name], slope)
    assert np.isfinite(a).all()
    assert_allclose(a, reference.activation(z, name, slope), rtol=RTOL[dtype])
    if name == "softmax":
        assert_allclose(a.sum(axis=1), 1, rtol=RTOL[dtype])
        assert_allclose(a[1:5], 1 / 5, rtol=RTOL[dtype])
        assert_array_equal(a[0], [1, 0, 0, 0, 0])
    if name == "sigmoid":
        assert_array_equal(a[0, :2], [1, 0])
    grad = np.random.default_rng(2).standard_normal(z.shape).astype(dtype)
    dz = _core.activation_backward(a, grad, ACT[name], slope, z=z)
    assert np.isfinite(dz).all()
    assert_allclose(dz, reference.activation_backward(a, grad, name, slope, z),
                    rtol=RTOL[dtype], atol=atol(dtype, z.shape[1], np.abs(grad * a).max() + 
                                                np.abs(grad).max()))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("slope", [0.0, 0.2, 0.3])
def test_leaky_relu_values(dtype, slope):
    z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]], dtype)
    expected = np.array([[-2 * slope, -0.5 * slope, 0, 0.5, 2]], dtype)
    a = _core.activation_forward(z, ACT["leaky_relu"], slope)
    assert_allclose(a, expected, rtol=RTOL[dtype])
    dz = _core.activation_backward(a, np.ones_like(z), ACT["leaky_relu"], slope)
    # derivative from the output: at z = 0 (a = 0) the negative side's slope, as TF
    assert_allclose(dz, np.array([[slope, slope, slope, 1, 1]], dtype), rtol=RTOL[dtype])


ELEMENTWISE = [name for name in HIDDEN if name != "softmax"]


@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("slope", [0.3, 1.0])
def test_activation_derivative_finite_differences(name, slope):
    """Each derivative against central differences of the core's own forward, in
    float64, at points away from the kinks (0, +-3, 6)."""
    z = np.array([[-5.1, -2.9, -1.3, -0.4, -0.05, 0.05, 0.7, 1.9, 2.9, 4.2, 6.4]])
    h = 1e-6
    f = lambda v: _core.activation_forward(v, ACT[name], slope)  # noqa: E731
    numeric = (f(z + h) - f(z - h)) / (2 * h)
    got = _core.activation_backward(f(z), np.ones_like(z), ACT[name], slope, z=z)
    assert_allclose(got, numeric, rtol=1e-7, atol=1e-9)


def test_activations_that_need_their_input_refuse_none():
    z = np.ones((2, 3))
    for name in _core.NEEDS_INPUT:
        with pytest.raises(ValueError, match="z .the pre-activation. is required"):
            _core.activation_backward(z, z, ACT[name], 0.0)
        with pytest.raises(ValueError, match="z .the pre-activation. is required"):
            _core.dense_backward(z, np.ones((3, 3)), z, z, ACT[name], 0.0, True)
    with pytest.raises(ValueError, match="z must have shape"):
        _core.activation_backward(z, z, ACT["gelu"], 0.0, z=np.ones((2, 2)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_new_activation_values(dtype):
    """Keras 3's values by hand at a few points (its constants and edges)."""
    z = np.array([[-4.0, -3.0, -1.0, 0.0, 1.0, 3.0, 7.0]], dtype)
    cases = {
        "elu": np.where(z > 0, z, np.expm1(z)),
        "selu": 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(z)),
        "gelu": [[-4 * 0.5 * math.erfc(4 / math.sqrt(2)), -3 * 0.5 * math.erfc(3 / math.sqrt(2)),
                  -0.15865525393145707, 0, 0.8413447460685429, 3 * (1 - 0.5 * math.erfc(3 / math.sqrt(2))),
                  7 * (1 - 0.5 * math.erfc(7 / math.sqrt(2)))]],
        "hard_sigmoid": [[0, 0, 1 / 3, 0.5, 2 / 3, 1, 1]],
        "hard_silu": [[0, 0, -1 / 3, 0, 2 / 3, 3, 7]],
        "relu6": [[0, 0, 0, 0, 1, 3, 6]],
        "softsign": z / (1 + np.abs(z)),
        "softplus": np.log1p(np.exp(z.astype(np.float64))),
        "exponential": np.exp(z.astype(np.float64)),
    }
    for name, expected in cases.items():
        assert_allclose(_core.activation_forward(z, ACT[name], 1.0), np.asarray(expected, dtype),
                        rtol=RTOL[dtype], atol=1e-7, err_msg=name)


# ---------------------------------------------------------------- a Dense layer

def check_dense(dtype, rows, n_in, n_out, name, slope, need_dx, seed):
    rng = np.random.default_rng(seed)
    x = rand(rng, (rows, n_in), dtype)
    kernel = rand(rng, (n_in, n_out), dtype)
    bias = rand(rng, n_out, dtype)
    out, z = _core.dense_forward(x, kernel, bias, ACT[name], slope, return_z=True)
    assert_array_equal(out, _core.dense_forward(x, kernel, bias, ACT[name], slope))
    expected = reference.dense_forward(x, kernel, bias, name, slope)
    assert out.dtype == dtype and out.shape == (rows, n_out)
    # the product's round-off bounds the output's, times the activation's largest
    # derivative (1 for most, selu's 1.76, exponential's its output)
    magnitude = np.abs(x).max() * np.abs(kernel).max() + np.abs(bias).max()
    lipschitz = 1.8 * max(1, np.abs(expected).max() if name == "exponential" else 1)
    assert_allclose(z, x @ kernel + bias, rtol=RTOL[dtype], atol=atol(dtype, n_in + 1, magnitude))
    assert_allclose(out, expected, rtol=RTOL[dtype],
                    atol=lipschitz * atol(dtype, n_in + 1, magnitude))

    a = expected
    z = (x @ kernel + bias).astype(dtype)
    grad = rand(rng, (rows, n_out), dtype)
    dw, db, dx = _core.dense_backward(x, kernel, a, grad, ACT[name], slope, need_dx, z=z)
    rdw, rdb, rdx = reference.dense_backward(x, kernel, a, grad, name, slope, need_dx, z)
    # dz's round-off scales with the incoming gradient, not with dz itself: softmax's
    # a * (g - <g, a>) cancels where one probability is near 1
    dz = lipschitz * max(np.abs(reference.activation_backward(a, grad, name, slope, z)).max(),
                         np.abs(grad).max())
    assert dw.shape == (n_in, n_out) and db.shape == (n_out,)
    assert_allclose(dw, rdw, rtol=RTOL[dtype],
                    atol=atol(dtype, rows + n_out, dz * np.abs(x).max()))
    assert_allclose(db, rdb, rtol=RTOL[dtype], atol=atol(dtype, rows + n_out, dz))
    if need_dx:
        assert dx.shape == (rows, n_in)
        assert_allclose(dx, rdx, rtol=RTOL[dtype],
                        atol=atol(dtype, n_out, dz * np.abs(kernel).max()))
    else:
        assert dx is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, n_in, n_out", DENSE_SHAPES)
@pytest.mark.parametrize("name, slope", ACTIVATION_CASES, ids=ACTIVATION_IDS)
@pytest.mark.parametrize("need_dx", [True, False])
def test_dense(dtype, rows, n_in, n_out, name, slope, need_dx, kernels):
    check_dense(dtype, rows, n_in, n_out, name, slope, need_dx, seed=rows * 100 + n_in)


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 40), n_in=st.integers(1, 40), n_out=st.integers(1, 40),
       case=st.sampled_from(ACTIVATION_CASES), dtype=st.sampled_from(DTYPES),
       need_dx=st.booleans(), seed=st.integers(0, 2**32 - 1), narrow=st.booleans())
def test_dense_hypothesis(rows, n_in, n_out, case, dtype, need_dx, seed, narrow):
    try:
        _core.set_narrow_kernels(narrow)
        check_dense(dtype, rows, n_in, n_out, *case, need_dx, seed)
    finally:
        _core.set_narrow_kernels(True)


# The narrow kernels' register blocks: 8 rows for 17-32 outputs, 16 then 4 rows for
# 1-16, one row for the rest; dw in blocks of 8 or 16 inputs.  Every count below,
# at and around those edges (and the notes' 784 -> 25), meets a full block, a
# remainder or both; 16 and 32 outputs fill the masked registers exactly.
@pytest.mark.parametrize("rows", [1, 3, 4, 8, 9, 16, 17, 21, 32, 33])
@pytest.mark.parametrize("n_in, n_out", [(1, 1), (8, 15), (9, 16), (16, 17), (17, 25), (31, 32),
                                         (784, 25), (5, 33)])
def test_dense_block_edges(rows, n_in, n_out, kernels):
    check_dense(np.float32, rows, n_in, n_out, "relu", 0.2, True, seed=rows * 1000 + n_in)


def test_dense_extreme_inputs(kernels):
    """Huge products, products that overflow to inf, subnormal products and exact
    zeros, in sums without cancellation (whose rounding would depend on the order)."""
    x = np.array([[1e18, 2e18, 3e18], [1e21, 1.0, 0.0], [1e-20, 3e-20, 1e-21],
                  [0.0, 0.0, 0.0], [-1e18, -1e18, -1e18]], np.float32)
    kernel = np.array([[1e18, 2.0, 1e-20], [1e18, 3.0, 1e-20], [1e18, 4.0, 2e-20]],
                      np.float32)
    bias = np.array([0.0, 1e38, 0.0], np.float32)
    out = _core.dense_forward(x, kernel, bias, ACT["linear"], KERAS_SLOPE)
    with np.errstate(over="ignore"):
        expected = reference.dense_forward(x, kernel, bias, "linear", 0.2)
    assert np.isinf(expected).any() and (expected[np.isfinite(expected)] != 0).any()
    assert_array_equal(np.isfinite(out), np.isfinite(expected))
    assert_array_equal(out[~np.isfinite(out)], expected[~np.isfinite(expected)])
    finite = np.isfinite(expected)
    assert_allclose(out[finite], expected[finite], rtol=1e-5, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_empty_sizes(dtype, kernels):
    """No rows, or no inputs (the product is zero: BLAS is not called with k = 0)."""
    out = _core.dense_forward(np.empty((0, 3), dtype), np.ones((3, 2), dtype),
                              np.ones(2, dtype), ACT["relu"], KERAS_SLOPE)
    assert out.shape == (0, 2)
    dw, db, dx = _core.dense_backward(np.empty((0, 3), dtype), np.ones((3, 2), dtype),
                                      np.empty((0, 2), dtype), np.empty((0, 2), dtype),
                                      LINEAR, KERAS_SLOPE, True)
    assert_array_equal(dw, np.zeros((3, 2)))
    assert_array_equal(db, np.zeros(2))
    assert dx.shape == (0, 3)
    bias = np.array([0.5, -1.0], dtype)
    out = _core.dense_forward(np.empty((4, 0), dtype), np.empty((0, 2), dtype), bias, LINEAR,
                              KERAS_SLOPE)
    assert_array_equal(out, np.tile(bias, (4, 1)))


# ---------------------------------------------------------------- losses

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, cols", [(1, 1), (1, 3), (3, 7), (5, 13), (33, 17), (4, 1)])
@pytest.mark.parametrize("loss", list(LOSS))
def test_loss(dtype, rows, cols, loss):
    check_loss(dtype, rows, cols, loss, seed=rows * 100 + cols)


def check_loss(dtype, rows, cols, loss, seed):
    rng = np.random.default_rng(seed)
    out = make_output(loss, rng, rows, cols, dtype)
    target = make_target(loss, rng, rows, cols, dtype)
    options = LOSS_OPTIONS.get(loss, {})
    value, grad = _core.loss(LOSS[loss], out, target, **options)
    expected, expected_grad = reference.LOSSES[loss](out, target, **options)
    assert isinstance(value, float) and grad.dtype == dtype and grad.shape == out.shape
    # a row's loss is a sum of cols terms; so is each gradient entry of the categorical ones
    assert value == pytest.approx(expected, rel=RTOL[dtype],
                                  abs=atol(dtype, cols, abs(expected) + 1))
    assert_allclose(grad, expected_grad, rtol=RTOL[dtype],
                    atol=atol(dtype, cols, np.abs(expected_grad).max()))


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 30), cols=st.integers(1, 12), loss=st.sampled_from(list(LOSS)),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_loss_hypothesis(rows, cols, loss, dtype, seed):
    check_loss(dtype, rows, cols, loss, seed)


@pytest.mark.parametrize("loss", list(LOSS))
@pytest.mark.parametrize("rows, cols", [(1, 1), (1, 4), (3, 5), (6, 2)])
def test_loss_gradient_finite_differences(loss, rows, cols):
    """The gradient is that of the returned mean loss (float64)."""
    rng = np.random.default_rng(rows * 10 + cols)
    out = make_output(loss, rng, rows, cols, np.float64)
    target = make_target(loss, rng, rows, cols, np.float64)
    options = LOSS_OPTIONS.get(loss, {})
    _, grad = _core.loss(LOSS[loss], out, target, **options)
    numeric = numerical_gradient(lambda: _core.loss(LOSS[loss], out, target, **options)[0], out)
    assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["ce_logits", "ce_probs"])
def test_categorical_targets_not_summing_to_one(dtype, loss):
    """Soft targets with any row sum: the gradient is that of -sum t log q exactly
    (d/dz = softmax * sum(t) - t), checked by finite differences in float64."""
    rng = np.random.default_rng(14)
    out = make_output(loss, rng, 4, 5, dtype)
    target = (rng.random((4, 5)) * [[0.2], [1.0], [1.7], [3.0]]).astype(dtype)
    value, grad = _core.loss(LOSS[loss], out, target)
    expected, expected_grad = reference.LOSSES[loss](out, target)
    assert value == pytest.approx(expected, rel=RTOL[dtype])
    assert_allclose(grad, expected_grad, rtol=RTOL[dtype],
                    atol=atol(dtype, 5, np.abs(expected_grad).max()))
    if dtype == np.float64:
        numeric = numerical_gradient(lambda: _core.loss(LOSS[loss], out, target)[0], out)
        assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_no_rows(dtype):
    value, grad = _core.loss(LOSS["sparse_ce_logits"], np.empty((0, 3), dtype),
                             np.empty(0, np.int32))
    assert value == 0.0 and grad.shape == (0, 3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_from_huge_logits(dtype):
    """Fused log-softmax: finite and exact where a softmax would round to 0 and 1."""
    logits = np.array([[1e4, -1e4], [1e4, -1e4], [-1e4, 1e4], [0.0, 0.0]], dtype)
    labels = np.array([1, 0, 0, 1], np.int32)
    row_loss = np.array([2e4, 0, 2e4, math.log(2)])
    row_grad = np.array([[1, -1], [0, 0], [-1, 1], [0.5, -0.5]])
    for code, target in [("sparse_ce_logits", labels),
                         ("ce_logits", reference.one_hot(labels, 2, dtype))]:
        value, grad = _core.loss(LOSS[code], logits, target)
        assert np.isfinite(value) and np.isfinite(grad).all()
        assert value == pytest.approx(row_loss.mean(), rel=RTOL[dtype])
        assert_allclose(grad, row_grad / 4, rtol=RTOL[dtype], atol=1e-30)
        expected, expected_grad = reference.LOSSES[code](logits, target)
        assert value == pytest.approx(expected, rel=RTOL[dtype])
        assert_allclose(grad, expected_grad, rtol=RTOL[dtype], atol=1e-30)
    # one row: exactly 2e4
    value, _ = _core.loss(LOSS["sparse_ce_logits"], logits[:1], labels[:1])
    assert value == 2e4


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_from_huge_logits(dtype):
    logits = np.array([[1e4, -1e4, 1e4, -1e4], [0.0, 80.0, -80.0, 2e4]], dtype)
    target = np.array([[0, 1, 1, 0], [1, 1, 0, 0]], dtype)
    row_loss = np.array([2e4 / 4, (math.log(2) + math.log1p(math.exp(-80)) * 2 + 2e4) / 4])
    value, grad = _core.loss(LOSS["bce_logits"], logits, target)
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert value == pytest.approx(row_loss.mean(), rel=RTOL[dtype])
    expected_grad = np.array([[1, -1, 0, 0], [-0.5, -math.exp(-80), math.exp(-80), 1]]) / 8
    assert_allclose(grad, expected_grad, rtol=RTOL[dtype], atol=1e-30)
    expected, reference_grad = reference.binary_cross_entropy_from_logits(logits, target)
    assert value == pytest.approx(expected, rel=RTOL[dtype])
    assert_allclose(grad, reference_grad, rtol=RTOL[dtype], atol=1e-30)
    value, _ = _core.loss(LOSS["bce_logits"], np.array([[2e4]], dtype), np.zeros((1, 1), dtype))
    assert value == 2e4


@pytest.mark.parametrize("dtype", DTYPES)
def test_probability_losses_clip_at_0_and_1(dtype):
    """Probabilities of exactly 0 and 1 are clipped to [1e-7, 1 - 1e-7]: finite loss,
    and no gradient through the clip where it bites (as tf.clip_by_value)."""
    probs = np.array([[0, 1, 0], [1, 0, 0], [0.5, 0.5, 0], [0.2, 0.3, 0.5]], dtype)
    labels = np.array([1, 1, 2, 0], np.int32)
    one_hot = reference.one_hot(labels, 3, dtype)
    with np.errstate(divide="ignore", invalid="ignore"):  # the reference's where() divides by 0
        cases = [(code, target, reference.LOSSES[code](probs, target))
                 for code, target in [("sparse_ce_probs", labels), ("ce_probs", one_hot)]]
    for code, target, (expected, expected_grad) in cases:
        value, grad = _core.loss(LOSS[code], probs, target)
        assert np.isfinite(value) and np.isfinite(grad).all()
        assert value == pytest.approx(expected, rel=RTOL[dtype])
        assert_allclose(grad, expected_grad, rtol=RTOL[dtype], atol=1e-30)
        assert_array_equal(grad[0], 0)  # q = 1 at the label: clipped, no gradient
    # -log(1e-7) for the rows whose label has probability 0
    assert (-np.log(np.float64(np.float32(1e-7) if dtype == np.float32 else 1e-7))
            == pytest.approx(_core.loss(LOSS["ce_probs"], probs[1:2], one_hot[1:2])[0],
                             rel=RTOL[dtype]))

    probs = np.array([[0, 1, 0, 1, 0.5], [1, 0, 1e-9, 1e-8, 0.25]], dtype)
    target = np.array([[0, 1, 1, 0, 1], [1, 1, 0, 1, 0]], dtype)
    value, grad = _core.loss(LOSS["bce_probs"], probs, target)
    expected, expected_grad = reference.binary_cross_entropy(probs, target)
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert value == pytest.approx(expected, rel=RTOL[dtype])
    assert_allclose(grad, expected_grad, rtol=RTOL[dtype], atol=1e-30)
    assert_array_equal(grad[:, :4], 0)  # every clipped entry
    assert grad[0, 4] != 0 and grad[1, 4] != 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_multi_output_binary_cross_entropy(dtype):
    """(n, k) targets: each row's loss is the mean over its k outputs."""
    rng = np.random.default_rng(3)
    logits = rand(rng, (6, 4), dtype, 2.0)
    target = (rng.random((6, 4)) < 0.5).astype(dtype)
    p = reference.sigmoid(logits.astype(np.float64))
    per_output = -(target * np.log(p) + (1 - target) * np.log(1 - p))
    for code, out in [("bce_logits", logits), ("bce_probs", reference.sigmoid(logits))]:
        value, grad = _core.loss(LOSS[code], out, target)
        assert value == pytest.approx(per_output.mean(axis=1).mean(), rel=10 * RTOL[dtype])
        expected, expected_grad = reference.LOSSES[code](out, target)
        assert value == pytest.approx(expected, rel=RTOL[dtype])
        assert_allclose(grad, expected_grad, rtol=RTOL[dtype])


# ---------------------------------------------------------------- metrics

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, cols", [(1, 1), (1, 3), (3, 7), (5, 13), (33, 17)])
def test_accuracy_metrics(dtype, rows, cols):
    rng = np.random.default_rng(rows + cols)
    out = rand(rng, (rows, cols), dtype)
    labels = rng.integers(0, cols, rows).astype(np.int32)
    one_hot = reference.one_hot(labels, cols, dtype)
    got = _core.metric(METRIC["sparse_accuracy"], out, labels, 0.5)
    assert got == pytest.approx(reference.sparse_accuracy(out, labels), rel=1e-12)
    got = _core.metric(METRIC["categorical_accuracy"], out, one_hot, 0.5)
    assert got == pytest.approx(reference.categorical_accuracy(out, one_hot), rel=1e-12)
    target = (rng.random((rows, cols)) < 0.5).astype(dtype)
    for threshold, scores in [(0.0, out), (0.5, reference.sigmoid(out))]:
        got = _core.metric(METRIC["binary_accuracy"], scores, target, threshold)
        expected = reference.binary_accuracy(scores, target, threshold)
        assert got == pytest.approx(expected, rel=1e-12)
    assert _core.metric(METRIC["none"], out, target, 0.5) == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_accuracy_ties_and_thresholds(dtype):
    """argmax takes the first of equal maxima; binary accuracy is strict (out > threshold)."""
    out = np.array([[1, 1, 0], [0, 2, 2], [3, 3, 3]], dtype)
    labels = np.array([0, 2, 0], np.int32)
    assert _core.metric(METRIC["sparse_accuracy"], out, labels, 0.5) == pytest.approx(2 / 3)
    assert _core.metric(METRIC["sparse_accuracy"], out, labels, 0.5) == pytest.approx(
        reference.sparse_accuracy(out, labels))
    target = reference.one_hot(np.array([0, 1, 1]), 3, dtype)
    assert _core.metric(METRIC["categorical_accuracy"], out, target, 0.5) == pytest.approx(2 / 3)
    scores = np.array([[0.0, 0.5, 0.7, -0.1], [0.5, 0.0, 0.49, 1.0]], dtype)
    target = np.array([[0, 0, 1, 0], [0, 1, 1, 1]], dtype)
    for threshold in (0.0, 0.5):
        got = _core.metric(METRIC["binary_accuracy"], scores, target, threshold)
        assert got == pytest.approx(reference.binary_accuracy(scores, target, threshold))
    assert _core.metric(METRIC["binary_accuracy"], scores, target, 0.5) == pytest.approx(
        (1.0 + 0.5) / 2)


# ---------------------------------------------------------------- optimizers

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5)])
def test_adam_many_steps(dtype, shape):
    rng = np.random.default_rng(4)
    w = rand(rng, shape, dtype)
    m, v = np.zeros(shape, dtype), np.zeros(shape, dtype)
    rw, rm, rv = w.copy(), m.copy(), v.copy()
    options = dict(learning_rate=1e-2, beta_1=0.8, beta_2=0.99, epsilon=1e-6)
    for step in range(1, 51):
        g = rand(rng, shape, dtype, 0.1)
        _core.adam_update(w, g, m, v, step, **options)
        reference.adam_update(rw, g, rm, rv, step, **options)
    # float32: the reference's step size is a float64 scalar, so its update is
    # rounded once where the kernel's is rounded per operation
    assert_allclose(m, rm, rtol=RTOL[dtype], atol=atol(dtype, 50, 0.1))
    assert_allclose(v, rv, rtol=RTOL[dtype])
    assert_allclose(w, rw, rtol=RTOL[dtype], atol=atol(dtype, 50, 1e-2))
    # Keras' defaults (1e-3, 0.9, 0.999, 1e-7)
    w, m, v = np.ones(3, dtype), np.zeros(3, dtype), np.zeros(3, dtype)
    rw, rm, rv = w.copy(), m.copy(), v.copy()
    g = np.array([0.5, -2.0, 0.0], dtype)
    _core.adam_update(w, g, m, v, 1, **KERAS_ADAM)
    reference.adam_update(rw, g, rm, rv, 1, **KERAS_ADAM)
    assert_allclose(w, rw, rtol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_keras_value(dtype):
    """Keras 3 Adam, one step by hand: w = 1, g = 0.5, m = v = 0, defaults."""
    w, g = np.array([1.0], dtype), np.array([0.5], dtype)
    m, v = np.zeros(1, dtype), np.zeros(1, dtype)
    _core.adam_update(w, g, m, v, 1, **KERAS_ADAM)
    expected = 1 - 1e-3 * math.sqrt(1 - 0.999) / (1 - 0.9) * 0.05 / (math.sqrt(0.00025) + 1e-7)
    assert w[0] == pytest.approx(expected, rel=RTOL[dtype])
    assert m[0] == pytest.approx(0.05, rel=RTOL[dtype])
    assert v[0] == pytest.approx(0.00025, rel=RTOL[dtype])


SGD_CASES = [dict(KERAS_SGD, momentum=0.0), dict(KERAS_SGD, momentum=0.9),
             dict(KERAS_SGD, momentum=0.9, nesterov=True),
             dict(KERAS_SGD, momentum=0.5, nesterov=True, learning_rate=0.1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", SGD_CASES,
                         ids=["plain", "momentum", "nesterov", "nesterov-0.5"])
def test_sgd_many_steps(dtype, options):
    rng = np.random.default_rng(5)
    w = rand(rng, (3, 4), dtype)
    velocity = np.zeros_like(w)
    rw, rvel = w.copy(), velocity.copy()
    for _ in range(20):
        g = rand(rng, w.shape, dtype)
        _core.sgd_update(w, g, velocity, **options)
        reference.sgd_update(rw, g, rvel, **options)
    assert_allclose(w, rw, rtol=RTOL[dtype], atol=atol(dtype, 20, 0.1))
    assert_allclose(velocity, rvel, rtol=RTOL[dtype], atol=atol(dtype, 20, 0.1))
    if options["momentum"] == 0:  # the velocity is neither needed nor touched
        assert_array_equal(velocity, 0)
        w, rw, g = np.ones(5, dtype), np.ones(5, dtype), rand(rng, 5, dtype)
        _core.sgd_update(w, g, None, **options)
        reference.sgd_update(rw, g, None, **options)
        assert_allclose(w, rw, rtol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_keras_values(dtype):
    """Keras' momentum form by hand: m = mu m - lr g; w += m (Nesterov: w += mu m - lr g)."""
    w, g, vel = np.array([1.0], dtype), np.array([0.5], dtype), np.zeros(1, dtype)
    _core.sgd_update(w, g, vel, learning_rate=0.1, momentum=0.9, nesterov=False)
    _core.sgd_update(w, g, vel, learning_rate=0.1, momentum=0.9, nesterov=False)
    assert vel[0] == pytest.approx(-0.05 * 1.9, rel=RTOL[dtype])
    assert w[0] == pytest.approx(1 - 0.05 - 0.095, rel=RTOL[dtype])
    w, vel = np.array([1.0], dtype), np.zeros(1, dtype)
    _core.sgd_update(w, g, vel, learning_rate=0.1, momentum=0.9, nesterov=True)
    assert w[0] == pytest.approx(1 + 0.9 * -0.05 - 0.05, rel=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_rmsprop_many_steps(dtype):
    rng = np.random.default_rng(6)
    w = rand(rng, (4, 3), dtype)
    ms = np.zeros_like(w)
    rw, rms = w.copy(), ms.copy()
    for _ in range(50):
        g = rand(rng, w.shape, dtype, 0.1)
        _core.rmsprop_update(w, g, ms, learning_rate=1e-2, rho=0.8, epsilon=1e-6)
        reference.rmsprop_update(rw, g, rms, learning_rate=1e-2, rho=0.8, epsilon=1e-6)
    assert_allclose(ms, rms, rtol=RTOL[dtype])
    assert_allclose(w, rw, rtol=RTOL[dtype], atol=atol(dtype, 50, 1e-2))
    # Keras by hand: epsilon inside the root
    w, g, ms = np.array([1.0], dtype), np.array([0.5], dtype), np.zeros(1, dtype)
    _core.rmsprop_update(w, g, ms, **KERAS_RMSPROP)
    assert w[0] == pytest.approx(1 - 1e-3 * 0.5 / math.sqrt(0.1 * 0.25 + 1e-7), rel=RTOL[dtype])


# ---------------------------------------------------------------- whole networks: gradients

# (output activation, loss, fused_output): each loss with the output it belongs to,
# and the fused softmax/sigmoid outputs whose loss reads the pre-activation.
GRADIENT_CASES = [("linear", "sparse_ce_logits", False), ("linear", "ce_logits", False),
                  ("linear", "bce_logits", False), ("softmax", "sparse_ce_probs", False),
                  ("softmax", "ce_probs", False), ("sigmoid", "bce_probs", False),
                  ("linear", "mse", False), ("tanh", "mse", False),
                  ("softmax", "sparse_ce_logits", True), ("softmax", "ce_logits", True),
                  ("sigmoid", "bce_logits", True)]
GRADIENT_IDS = [f"{out}-{loss}" + ("-fused" if fused else "")
                for out, loss, fused in GRADIENT_CASES]


@pytest.mark.parametrize("units", [(4, 5, 3), (3, 4, 4, 2)], ids=["4-5-3", "3-4-4-2"])
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("output, loss, fused", GRADIENT_CASES, ids=GRADIENT_IDS)
def test_network_gradient(units, hidden, output, loss, fused):
    """Network.grads after one full batch (SGD with learning_rate 0 leaves the
    params alone) against central differences of the reference's loss."""
    n = 7
    acts = [hidden] * (len(units) - 2) + [output]
    s = Setup(units, acts, loss, fused, np.float64, n, capacity=n, seed=len(units))
    done, losses, metrics = s.train(np.arange(n, dtype=np.int64), n, 0, 1)
    assert done == 1
    assert_array_equal(s.net.params, s.params)
    assert s.state.iterations == 1

    params = s.params.copy()
    numeric = numerical_gradient(
        lambda: reference_network_loss(params, units, acts, loss, fused, s.x, s.y), params)
    assert_allclose(s.net.grads, numeric, rtol=1e-5, atol=1e-8)

    mlp = reference_mlp(s.params, units, acts, loss, fused)
    expected_loss, expected_grads = mlp.gradients(s.x, s.y)
    assert_allclose(s.net.grads, flatten(expected_grads), rtol=1e-10, atol=1e-14)
    assert losses[0] == pytest.approx(expected_loss, rel=1e-12)
    out = mlp.forward(s.x, training=True)[-1]
    assert metrics[0] == pytest.approx(reference_metric(s.metric, out, s.y, s.threshold))


# ---------------------------------------------------------------- whole networks: training

def train_like_the_reference(s, mlp, n, batch, epochs, rng):
    """Epochs of fresh permutations through the core and the reference trainer;
    per-batch losses and the parameters after each epoch must agree."""
    n_batches = -(-n // batch)
    tol = TRAIN_TOL[s.params.dtype.type]
    for _ in range(epochs):
        order = rng.permutation(n).astype(np.int64)
        done, losses, _ = s.train(order, batch, 0, n_batches)
        assert done == n_batches
        assert_allclose(losses, mlp.fit_epoch(s.x, s.y, batch, order), **tol)
        assert_allclose(s.net.params, flatten(mlp.parameters()), **tol)
    return n_batches



# (hidden activation, output activation, loss, fused_output)
TRAIN_CASES = [("relu", "softmax", "sparse_ce_logits", True),
               ("tanh", "linear", "ce_logits", False),
               ("sigmoid", "sigmoid", "bce_logits", True),
               ("leaky_relu", "softmax", "ce_probs", False),
               ("relu", "sigmoid", "bce_probs", False),
               ("tanh", "linear", "mse", False),
               ("linear", "softmax", "sparse_ce_probs", False),
               ("softmax", "linear", "bce_logits", False)]
TRAIN_IDS = ["-".join(str(p) for p in case[:3]) + ("-fused" if case[3] else "")
             for case in TRAIN_CASES]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden, output, loss, fused", TRAIN_CASES, ids=TRAIN_IDS)
@pytest.mark.parametrize("batch", [1, 5, 23])
def test_train_batches_matches_reference_fit_epoch(dtype, hidden, output, loss, fused, batch,
                                                   kernels):
    """Three Adam epochs of 23 samples in batches of 1, 5 (the last one partial) or
    all, a fresh permutation each epoch, against reference.MLP.fit_epoch."""
    units, n = (4, 6, 5, 3), 23
    acts = [hidden, hidden, output]
    s = Setup(units, acts, loss, fused, dtype, n, capacity=batch, seed=7,
              optimizer="adam", learning_rate=1e-2)
    mlp = reference_mlp(s.params, units, acts, loss, fused, learning_rate=1e-2)
    n_batches = train_like_the_reference(s, mlp, n, batch, 3, np.random.default_rng(8))
    assert s.state.iterations == 3 * n_batches == mlp.iterations
    assert_allclose(s.state.momentums, flatten(mlp.m), **TRAIN_TOL[dtype])
    assert_allclose(s.state.velocities, flatten(mlp.v), **TRAIN_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("units", [(40, 3, 2), (40, 2), (40, 5, 30, 4), (3, 40, 2), (40, 25, 3),
                                   (20, 32, 17, 2)])
def test_train_batches_with_an_input_wider_than_every_layer(dtype, units, kernels):
    """The gradient buffers are as wide as the widest layer, not the input: the
    first layer's input gradient is never computed.  Two Adam epochs in batches
    of 11 (a full 8-row block and a remainder for 17-32 outputs) against the
    reference; the first layer reads its rows through the order."""
    n, batch = 23, 11
    acts = ["tanh"] * (len(units) - 2) + ["softmax"]
    s = Setup(units, acts, "sparse_ce_logits", True, dtype, n, capacity=batch, seed=9,
              optimizer="adam", learning_rate=1e-2)
    itemsize = np.dtype(dtype).itemsize
    buffers = batch * (itemsize * (units[0] + 2 * max(units[1:]) + sum(units[1:]))
                       + np.dtype(np.int32).itemsize)
    assert buffers <= workspace_bytes(s.net, batch, True)[1] < buffers + 1536
    mlp = reference_mlp(s.params, units, acts, "sparse_ce_logits", True, learning_rate=1e-2)
    train_like_the_reference(s, mlp, n, batch, 2, np.random.default_rng(10))


def sparse_rows(rng, shape, dtype, density):
    """Values where a uniform draw falls below density, else zeros of both signs:
    whole inputs, and runs of inputs, are 0 in every row of a block or a batch."""
    values = rand(rng, shape, dtype)
    zeros = np.where(rng.random(shape) < 0.5, dtype(0.0), dtype(-0.0))
    return np.where(rng.random(shape) < density, values, zeros).astype(dtype)


@pytest.mark.parametrize("density", [0.0, 0.03, 0.15, 0.5])
@pytest.mark.parametrize("units", [(40, 25, 3), (37, 10, 4), (20, 32, 17, 2)])
@pytest.mark.parametrize("batch", [11, 23, 64])
def test_train_batches_on_sparse_inputs(units, batch, density, kernels):
    """Inputs that are 0 in every row of a block are skipped by the narrow
    forward, and their rows of dw written as 0 without arithmetic.  An input
    live only in a remainder row (past the last full block) must still get its
    gradient: batches of 11 and 23 leave such rows; 0.03 makes such inputs
    common.  Float32 against the reference, three epochs, Adam."""
    dtype, n = np.float32, 64
    acts = ["relu"] * (len(units) - 2) + ["linear"]
    s = Setup(units, acts, "sparse_ce_logits", False, dtype, n, capacity=batch, seed=11,
              optimizer="adam", learning_rate=1e-2)
    rng = np.random.default_rng(12)
    s.x[...] = sparse_rows(rng, s.x.shape, dtype, density)
    s.data = _core.Dataset(s.net, s.x, s.y, True)
    mlp = reference_mlp(s.params, units, acts, "sparse_ce_logits", False, learning_rate=1e-2)
    train_like_the_reference(s, mlp, n, batch, 3, rng)


@pytest.mark.parametrize("rows", [1, 5, 8, 16, 19, 33])
@pytest.mark.parametrize("n_out", [7, 25])
def test_dense_forward_on_sparse_inputs(rows, n_out, kernels):
    rng = np.random.default_rng(rows * 100 + n_out)
    x = sparse_rows(rng, (rows, 50), np.float32, 0.1)
    x[:, 16:32] = 0  # a whole chunk of 16 inputs dead
    kernel = rand(rng, (50, n_out), np.float32)
    bias = rand(rng, n_out, np.float32)
    out = _core.dense_forward(x, kernel, bias, ACT["relu"], KERAS_SLOPE)
    assert_allclose(out, reference.dense_forward(x, kernel, bias, "relu", 0.2),
                    rtol=RTOL[np.float32], atol=1e-6)


@pytest.mark.parametrize("n_out, block", [(25, 8), (10, 16)])
def test_skipping_zero_inputs_changes_no_bit(n_out, block, kernels):
    """Row 0's output, alone with sparse block-mates (most inputs 0 in the whole
    block: skipped) and with dense ones (none skipped), is the same to the bit."""
    rng = np.random.default_rng(n_out)
    sparse = sparse_rows(rng, (block, 300), np.float32, 0.05)
    dense = sparse.copy()
    dense[1:] = rand(rng, (block - 1, 300), np.float32)
    kernel, bias = rand(rng, (300, n_out), np.float32), rand(rng, n_out, np.float32)
    alone = _core.dense_forward(sparse, kernel, bias, ACT["linear"], KERAS_SLOPE)
    mates = _core.dense_forward(dense, kernel, bias, ACT["linear"], KERAS_SLOPE)
    assert_array_equal(alone[0], mates[0])


OPTIMIZER_CASES = [("sgd", dict(learning_rate=0.1, momentum=0.0, nesterov=False)),
                   ("sgd", dict(learning_rate=0.1, momentum=0.9, nesterov=False)),
                   ("sgd", dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
                   ("adam", dict(learning_rate=1e-2, beta_1=0.8, beta_2=0.99, epsilon=1e-6)),
                   ("rmsprop", dict(learning_rate=1e-2, rho=0.8, epsilon=1e-6))]
OPTIMIZER_IDS = ["sgd", "momentum", "nesterov", "adam", "rmsprop"]


def reference_update(name, options, w, g, slots, step):
    if name == "adam":
        reference.adam_update(w, g, slots[0], slots[1], step, **options)
    elif name == "rmsprop":
        reference.rmsprop_update(w, g, slots[0], **options)
    else:
        reference.sgd_update(w, g, slots[0], **options)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer, options", OPTIMIZER_CASES, ids=OPTIMIZER_IDS)
def test_train_batches_optimizers(dtype, optimizer, options):
    """Each optimizer inside the compiled loop, the epoch run in two calls
    (batches [0, 2) then [2, 5)), batch metrics on the pre-update weights."""
    units, n, batch = (5, 7, 4), 22, 5
    acts, loss = ["tanh", "softmax"], "sparse_ce_logits"
    s = Setup(units, acts, loss, True, dtype, n, capacity=8, seed=9, optimizer=optimizer,
              **options)
    options = dict(options)
    lr = options.pop("learning_rate")
    ref = s.params.copy()
    slots = [np.zeros_like(ref), np.zeros_like(ref)]
    rng = np.random.default_rng(10)
    step = 0
    for epoch in range(2):
        order = rng.permutation(n).astype(np.int64)
        done_1, losses_1, metrics_1 = s.train(order, batch, 0, 2)
        done_2, losses_2, metrics_2 = s.train(order, batch, 2, 5)
        assert (done_1, done_2) == (2, 3)
        losses, metrics = np.r_[losses_1, losses_2], np.r_[metrics_1, metrics_2]
        for b, start in enumerate(range(0, n, batch)):
            idx = order[start:start + batch]
            mlp = reference_mlp(ref, units, acts, loss, True)
            out = mlp.forward(s.x[idx], training=True)[-1]
            expected_loss, grads = mlp.gradients(s.x[idx], s.y[idx])
            assert_allclose(losses[b], expected_loss, **TRAIN_TOL[dtype])
            assert metrics[b] == pytest.approx(reference.sparse_accuracy(out, s.y[idx]))
            step += 1
            reference_update(optimizer, dict(options, learning_rate=lr), ref, flatten(grads),
                             slots, step)
        assert_allclose(s.net.params, ref, **TRAIN_TOL[dtype])
    assert s.state.iterations == step == 10


@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_state_resumes_adam(dtype):
    """An OptimizerState built with iterations, momentums and velocities continues
    that Adam run (step 6), updating the arrays it was given in place."""
    units, n = (3, 4, 2), 6
    count = _core.parameter_count(units)
    rng = np.random.default_rng(13)
    m = rand(rng, count, dtype, 0.01)
    v = (rand(rng, count, dtype, 0.03) ** 2).astype(dtype)
    s = Setup(units, ["tanh", "linear"], "mse", False, dtype, n, capacity=n, optimizer="adam",
              learning_rate=1e-2, iterations=5, momentums=m.copy(), velocities=v.copy())
    momentums, velocities = s.state.momentums, s.state.velocities
    assert s.train(np.arange(n, dtype=np.int64), n, 0, 1)[0] == 1
    assert s.state.iterations == 6
    assert s.state.momentums is momentums and s.state.velocities is velocities
    _, grads = reference_mlp(s.params, units, ["tanh", "linear"], "mse").gradients(s.x, s.y)
    w = s.params.copy()
    reference.adam_update(w, flatten(grads), m, v, 6, **dict(KERAS_ADAM, learning_rate=1e-2))
    assert_allclose(s.net.params, w, **NET_TOL[dtype])
    assert_allclose(momentums, m, **NET_TOL[dtype])
    assert_allclose(velocities, v, **NET_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_rmsprop_keeps_its_mean_square_in_velocities(dtype):
    """Keras names RMSprop's mean square ``velocities``: the compiled loop reads and
    updates that array (and keeps no momentums), as rmsprop_update does its mean_square."""
    units, n = (3, 4, 2), 6
    count = _core.parameter_count(units)
    ms = (rand(np.random.default_rng(14), count, dtype, 0.1) ** 2).astype(dtype)
    s = Setup(units, ["tanh", "linear"], "mse", False, dtype, n, capacity=n,
              optimizer="rmsprop", learning_rate=1e-2, velocities=ms.copy())
    assert s.state.momentums is None
    assert s.train(np.arange(n, dtype=np.int64), n, 0, 1)[0] == 1
    _, grads = reference_mlp(s.params, units, ["tanh", "linear"], "mse").gradients(s.x, s.y)
    w = s.params.copy()
    keras = optimizers.RMSprop()
    reference.rmsprop_update(w, flatten(grads), ms, 1e-2, keras.rho, keras.epsilon)
    assert_allclose(s.net.params, w, **NET_TOL[dtype])
    assert_allclose(s.state.velocities, ms, **NET_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_per_layer_slopes(dtype):
    """Each layer's leaky_relu reads its own slope, in predict and in the gradients."""
    units, n, slopes = (3, 5, 4, 2), 9, [0.0, 0.1, 0.5]
    acts = ["leaky_relu"] * 3
    s = Setup(units, acts, "mse", False, dtype, n, capacity=4, slopes=slopes)
    assert_allclose(_core.predict(s.net, s.x, s.work.capacity),
                    reference_forward(s.params, units, acts, s.x, slopes), **NET_TOL[dtype])
    if dtype == np.float64:
        work = _core.Workspace(s.net, n)
        losses, metrics = np.empty(1), np.empty(1)
        _core.train_batches(s.net, work, s.objective, s.state, s.data,
                            np.arange(n, dtype=np.int64), n, 0, 1, losses, metrics)
        params = s.params.copy()
        numeric = numerical_gradient(lambda: reference_network_loss(
            params, units, acts, "mse", False, s.x, s.y, slopes), params)
        assert_allclose(s.net.grads, numeric, rtol=1e-5, atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_network_hypothesis(data):
    """Random depths, sizes, batch sizes and capacities: the gradients of one batch
    against the reference's, and predict against its forward pass."""
    n_layers = data.draw(st.integers(1, 3), label="n_layers")
    units = tuple(data.draw(st.lists(st.integers(1, 9), min_size=n_layers + 1,
                                     max_size=n_layers + 1), label="units"))
    hidden = data.draw(st.sampled_from(HIDDEN), label="hidden")
    output, loss, fused = data.draw(st.sampled_from(GRADIENT_CASES), label="output")
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    n = data.draw(st.integers(1, 20), label="n")
    capacity = data.draw(st.integers(1, n), label="capacity")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    acts = [hidden] * (n_layers - 1) + [output]
    s = Setup(units, acts, loss, fused, dtype, n, capacity=n, seed=seed)
    done, losses, _ = s.train(np.arange(n, dtype=np.int64), n, 0, 1)
    assert done == 1
    expected_loss, grads = reference_mlp(s.params, units, acts, loss, fused).gradients(s.x, s.y)
    expected = flatten(grads)
    scale = np.abs(expected).max()
    assert_allclose(s.net.grads, expected, rtol=10 * RTOL[dtype],
                    atol=10 * RTOL[dtype] * scale + 1e-30)
    assert losses[0] == pytest.approx(expected_loss, rel=10 * RTOL[dtype],
                                      abs=10 * RTOL[dtype])
    work = _core.Workspace(s.net, capacity)
    # an output near 0 can be the difference of terms as large as the largest
    # output: the absolute tolerance scales with that (a float32 draw's ~1e-5)
    expected = reference_forward(s.params, units, acts, s.x)
    tol = NET_TOL[dtype]
    assert_allclose(_core.predict(s.net, s.x, work.capacity), expected, rtol=tol["rtol"],
                    atol=tol["atol"] * max(1.0, float(np.abs(expected).max())))


@pytest.mark.parametrize("dtype", DTYPES)
def test_train_batches_stops_before_a_non_finite_update(dtype):
    """A batch whose loss overflows is reported but not applied; training stops."""
    units, n = (2, 3), 6
    huge = 1e30 if dtype == np.float32 else 1e200  # squared: inf in the dtype
    s = Setup(units, ["linear"], "mse", False, dtype, n, capacity=2, optimizer="sgd",
              learning_rate=0.1)
    x = s.x.copy()
    x[2:] = huge
    data = _core.Dataset(s.net, x, s.y, False)
    order = np.arange(n, dtype=np.int64)
    losses, metrics = np.full(3, np.nan), np.full(3, np.nan)
    done = _core.train_batches(s.net, s.work, s.objective, s.state, data, order, 2, 0, 3,
                               losses, metrics)
    assert done == 1
    assert np.isfinite(losses[0]) and not np.isfinite(losses[1]) and np.isnan(losses[2])
    assert s.state.iterations == 1
    after_one = Setup(units, ["linear"], "mse", False, dtype, n, capacity=2, optimizer="sgd",
                      learning_rate=0.1)
    assert after_one.train(order, 2, 0, 1)[0] == 1
    assert_array_equal(s.net.params, after_one.net.params)


@pytest.mark.parametrize("dtype", DTYPES)
def test_step_check_sees_weights_grow_within_one_call(dtype):
    """The check before each step bounds it with the largest weight and slot the
    previous update wrote, not those at the start of the call.  The kernel's
    velocity (momentum 1, zero gradient: x is 0) adds itself to the kernel each
    step; small enough that the cheap bound vouches for a step from weights
    near 0, so a check still using the start of the call's weights would let
    them run to inf.  The guard is half the type's range: 8 steps, then stop."""
    limit = 1.7e38 if dtype == np.float32 else 8.9e307  # csrc: step_is_finite
    velocity = dtype(limit / 8.5)
    s = Setup((1, 1), ["linear"], "mse", False, dtype, n=30, capacity=1, optimizer="sgd",
              learning_rate=1e-30, momentum=1.0)
    s.x[:] = 0
    s.y[:] = 0
    s.data = _core.Dataset(s.net, s.x, s.y, False)
    s.net.params[:] = 0
    s.state.momentums[:] = [velocity, 0]  # kernel, bias
    done, _, _ = s.train(np.arange(30, dtype=np.int64), 1, 0, 30)
    assert done == 8 and s.state.iterations == 8
    assert np.isfinite(s.net.params).all()
    assert_allclose(s.net.params, [8 * velocity, 0], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_step_check_reads_the_weights_as_the_call_finds_them(dtype):
    """A kernel entry near the guard (its input is always 0, so the loss stays
    finite) and a velocity that would carry it past: the first step is refused,
    nothing is written."""
    limit = 1.7e38 if dtype == np.float32 else 8.9e307  # csrc: step_is_finite
    s = Setup((2, 1), ["linear"], "mse", False, dtype, n=4, capacity=2, optimizer="sgd",
              learning_rate=1e-3, momentum=0.5)
    s.x[:, 0] = 0
    s.data = _core.Dataset(s.net, s.x, s.y, False)
    s.net.params[0] = dtype(0.9 * limit)
    s.state.momentums[0] = dtype(0.4 * limit)
    before = [s.net.params.copy(), s.state.momentums.copy()]
    done, losses, _ = s.train(np.arange(4, dtype=np.int64), 2, 0, 2)
    assert np.isfinite(losses[0])
    assert done == 0 and s.state.iterations == 0
    for now, then in zip([s.net.params, s.state.momentums], before):
        assert_array_equal(now, then)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="subnormals are flushed on x86-64 only")
@pytest.mark.parametrize("dtype", DTYPES)
def test_train_batches_flushes_subnormals_and_restores_the_mode(dtype):
    """Adam's m for a weight whose gradient is exactly 0 (an input that is always 0,
    a dead ReLU) decays into the subnormal range and sticks there, making every
    later step slow; training flushes it to 0.  The caller's floating-point mode
    is left as it was: NumPy still computes a subnormal afterwards."""
    tiny = np.finfo(dtype).tiny
    s = Setup((3, 2), ["linear"], "mse", False, dtype, n=4, capacity=4, optimizer="adam",
              learning_rate=1e-3)
    s.x[:, 0] = 0  # input 0's kernel row gets a zero gradient
    s.data = _core.Dataset(s.net, s.x, s.y, False)
    s.state.momentums[:] = tiny / 4  # subnormal m everywhere
    s.state.velocities[:] = 1.0
    assert s.train(np.arange(4, dtype=np.int64), 4, 0, 1)[0] == 1
    m = s.state.momentums
    kernel_row_0 = m[:2]
    assert_array_equal(kernel_row_0, 0)  # IEEE arithmetic would leave 0.9 * tiny / 4
    assert np.all(np.abs(m[2:]) >= tiny)
    assert dtype(tiny) * dtype(0.25) != 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "probs"])
def test_train_batches_huge_logits(dtype, fused):
    """A softmax output whose logits reach ±1e4: fused sparse CE from logits is
    finite and exact; on probabilities the clip keeps it finite (-log 1e-7)."""
    units, n = (3, 2), 4
    loss = "sparse_ce_logits" if fused else "sparse_ce_probs"
    s = Setup(units, ["softmax"], loss, fused, dtype, n, capacity=n)
    kernel, bias = split(s.net.params, units)[0]
    kernel[...] = 0
    bias[...] = [1e4, -1e4]
    y = np.array([1, 1, 0, 1], np.int32)
    data = _core.Dataset(s.net, s.x, y, True)
    losses, metrics = np.empty(1), np.empty(1)
    params = s.net.params.copy()
    done = _core.train_batches(s.net, s.work, s.objective, s.state, data,
                               np.arange(n, dtype=np.int64), n, 0, 1, losses, metrics)
    assert done == 1 and np.isfinite(s.net.grads).all()
    mlp = reference_mlp(params, units, ["softmax"], loss, fused)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected_loss, expected_grads = mlp.gradients(s.x, y)
    if fused:
        assert losses[0] == 3 * 2e4 / 4
    else:
        eps = float(dtype(1e-7))
        assert losses[0] == pytest.approx((-3 * math.log(eps) - math.log1p(-eps)) / 4,
                                          rel=RTOL[dtype])
    assert losses[0] == pytest.approx(expected_loss, rel=RTOL[dtype])
    assert_allclose(s.net.grads, flatten(expected_grads), rtol=RTOL[dtype], atol=1e-30)


# ---------------------------------------------------------------- whole networks: predict, evaluate

PREDICT_NETS = [((3, 2), ("softmax",)), ((5, 7, 4), ("relu", "sigmoid")),
                ((4, 6, 5, 3), ("tanh", "leaky_relu", "linear")),
                ((6, 9, 8, 1), ("sigmoid", "softmax", "tanh"))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("units, acts", PREDICT_NETS, ids=["3-2", "5-7-4", "4-6-5-3", "6-9-8-1"])
@pytest.mark.parametrize("capacity", [1, 4, 23, 64])
def test_predict(dtype, units, acts, capacity, kernels):
    """In batches of the workspace's capacity (4: five full batches and a partial one)."""
    n = 23
    rng = np.random.default_rng(11)
    params = init_params(units, dtype, rng)
    net = _core.Network(units, [ACT[a] for a in acts], [SLOPE] * len(acts), params,
                        np.zeros_like(params))
    work = _core.Workspace(net, capacity)
    x = rand(rng, (n, units[0]), dtype)
    out = _core.predict(net, x, work.capacity)
    assert out.dtype == dtype and out.shape == (n, units[-1])
    expected = reference_mlp(params, units, acts, "mse").predict(x)
    assert_allclose(out, expected, **NET_TOL[dtype])
    assert_array_equal(_core.predict(net, x[:0], work.capacity), np.empty((0, units[-1])))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, loss, fused", GRADIENT_CASES, ids=GRADIENT_IDS)
def test_evaluate(dtype, output, loss, fused):
    """Loss and metric sums over 23 rows in batches of 4 (fused: on the logits)."""
    units, n = (4, 6, 3), 23
    acts = ["relu", output]
    s = Setup(units, acts, loss, fused, dtype, n, capacity=4, seed=12)
    loss_sum, metric_sum = _core.evaluate(s.net, s.work, s.objective, s.data)
    mlp = reference_mlp(s.params, units, acts, loss, fused)
    out = mlp.forward(s.x, training=True)[-1]
    expected, _ = reference.LOSSES[loss](out, s.y)
    assert loss_sum / n == pytest.approx(expected, rel=10 * RTOL[dtype])
    expected_metric = reference_metric(s.metric, out, s.y, s.threshold)
    assert metric_sum / n == pytest.approx(expected_metric, rel=1e-12)
    if fused:  # predict applies the output activation that training leaves to the loss
        assert_allclose(_core.predict(s.net, s.x, s.work.capacity), mlp.predict(s.x),
                        **NET_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, loss, fused", GRADIENT_CASES, ids=GRADIENT_IDS)
@pytest.mark.parametrize("capacity", [1, 4, 23, 64])
def test_evaluate_with_an_inference_workspace(dtype, output, loss, fused, capacity):
    """A Workspace made with training=False holds the activation buffers alone, and
    evaluate gives exactly what it gives with a training workspace."""
    units, n = (9, 6, 3), 23
    s = Setup(units, ["relu", output], loss, fused, dtype, n, capacity=capacity, seed=13)
    labels = uses_labels(loss)
    small, traced = workspace_bytes(s.net, capacity, labels, training=False)
    assert s.work.training and not small.training
    assert small.capacity == capacity and small.labels == labels
    buffers = capacity * sum(units[1:]) * np.dtype(dtype).itemsize
    assert buffers <= traced < buffers + 1536
    assert _core.evaluate(s.net, small, s.objective, s.data) == \
        _core.evaluate(s.net, s.work, s.objective, s.data)


# ---------------------------------------------------------------- the thin layer's checks

def arrays(dtype=np.float32):
    return (np.ones((3, 4), dtype), np.ones((4, 2), dtype), np.ones(2, dtype))


X, W, B = arrays()
X64, W64, B64 = arrays(np.float64)
A = np.full((3, 2), 0.5, np.float32)
LABELS = np.array([0, 1, 1], np.int32)
F_ORDER = np.asfortranarray(np.ones((3, 4), np.float32))
STRIDED = np.ones((3, 8), np.float32)[:, ::2]
READ_ONLY = np.ones(4, np.float32)
READ_ONLY.flags.writeable = False
SHARED = np.zeros(8, np.float32)
READ_ONLY_SLOT = np.zeros(_core.parameter_count((4, 3, 2)), np.float32)
READ_ONLY_SLOT.flags.writeable = False


def small_network(dtype=np.float32, units=(4, 3, 2)):
    count = _core.parameter_count(units)
    return _core.Network(units, [ACT["relu"], ACT["linear"]], [0.2, 0.2],
                         np.zeros(count, dtype), np.zeros(count, dtype))


NET = small_network()
NET_COUNT = _core.parameter_count((4, 3, 2))
WORK = _core.Workspace(NET, 4, True)
WORK_DENSE = _core.Workspace(NET, 4, False)
WORK_EVAL = _core.Workspace(NET, 4, True, training=False)
OBJECTIVE = _core.Objective(LOSS["sparse_ce_logits"], False, METRIC["sparse_accuracy"], 0.5)
DENSE_OBJECTIVE = _core.Objective(LOSS["mse"], False, METRIC["none"], 0.5)
STATE = _core.OptimizerState(NET, OPT["sgd"], 0.1, 0.0, 0.0, 0.0, 0.0, False, 0.0, 0, None, None)
ADAM = (OPT["adam"], 0.1, 0.9, 0.999, 1e-7, 0.0, False, 0.0, 0)  # rule to iterations
DATA = _core.Dataset(NET, X, LABELS, True)
ORDER = np.arange(3, dtype=np.int64)
OTHER = small_network()
OTHER_WORK = _core.Workspace(OTHER, 4, True)
NET64 = small_network(np.float64)
WORK64 = _core.Workspace(NET64, 4, True)
STATE64 = _core.OptimizerState(NET64, OPT["sgd"], 0.1, 0.0, 0.0, 0.0, 0.0, False, 0.0, 0,
                               None, None)
SLOT = np.zeros(NET_COUNT, np.float32)


def train(**changes):
    args = dict(network=NET, work=WORK, objective=OBJECTIVE, optimizer_state=STATE, data=DATA,
                order=ORDER, batch_size=2, first_batch=0, end_batch=2, batch_loss=np.empty(2),
                batch_metric=np.empty(2))
    args.update(changes)
    return lambda: _core.train_batches(*args.values())


# the calls below with Keras' values for the arguments a check is not about
def dense(x, kernel, bias, activation=LINEAR, slope=KERAS_SLOPE):
    return _core.dense_forward(x, kernel, bias, activation, slope)


def backward(x, kernel, a, grad, activation=LINEAR, slope=KERAS_SLOPE):
    return _core.dense_backward(x, kernel, a, grad, activation, slope, True)


def activation(z, code, slope=KERAS_SLOPE):
    return _core.activation_forward(z, code, slope)


def activation_grad(a, grad, code, slope=KERAS_SLOPE):
    return _core.activation_backward(a, grad, code, slope)


def metric(code, out, target):
    return _core.metric(code, out, target, 0.5)


def adam(variable, grad, m, v, step):
    return _core.adam_update(variable, grad, m, v, step, **KERAS_ADAM)


def sgd(variable, grad, velocity=None, **options):
    options = dict(KERAS_SGD, **options)
    return _core.sgd_update(variable, grad, velocity, options["learning_rate"],
                            options["momentum"], options["nesterov"])


BAD_CALLS = {
    # kernels: dtype mixes, non-arrays, layout, shapes, codes
    "dense x int": (lambda: dense(X.astype(np.int64), W, B), TypeError, "x"),
    "dense x list": (lambda: dense(X.tolist(), W, B), TypeError, "x"),
    "dense kernel f64": (lambda: dense(X, W64, B), TypeError, "kernel"),
    "dense bias f64": (lambda: dense(X, W, B64), TypeError, "bias"),
    "dense x f16": (lambda: dense(X.astype(np.float16), W, B), TypeError, "x"),
    "dense x fortran": (lambda: dense(F_ORDER, W, B), ValueError, "x"),
    "dense x strided": (lambda: dense(STRIDED, W, B), ValueError, "x"),
    "dense kernel fortran": (lambda: dense(X, np.asfortranarray(W), B),
                             ValueError, "kernel"),
    "dense x columns": (lambda: dense(np.ones((3, 5), np.float32), W, B),
                        ValueError, "x"),
    "dense x 1-d": (lambda: dense(np.ones(4, np.float32), W, B), ValueError, "x"),
    "dense bias shape": (lambda: dense(X, W, np.ones(3, np.float32)),
                         ValueError, "bias"),
    "dense activation code": (lambda: dense(X, W, B, len(ACT)), ValueError, "activation"),
    "dense activation -1": (lambda: dense(X, W, B, -1), ValueError, "activation"),
    "dense negative slope": (lambda: dense(X, W, B, 4, -0.2), ValueError, "slope"),
    "dense nan slope": (lambda: dense(X, W, B, 4, math.nan), ValueError, "slope"),
    "backward negative slope": (lambda: backward(X, W, A, A, 4, -0.2),
                                ValueError, "slope"),
    "activation negative slope": (lambda: activation(A, 4, -0.2),
                                  ValueError, "slope"),
    "activation_backward negative slope": (lambda: activation_grad(A, A, 4, -0.2),
                                           ValueError, "slope"),
    "backward a shape": (lambda: backward(X, W, np.ones((3, 3), np.float32), A),
                         ValueError, "a"),
    "backward grad shape": (lambda: backward(X, W, A, np.ones((2, 2), np.float32)),
                            ValueError, "grad"),
    "backward grad f64": (lambda: backward(X, W, A, A.astype(np.float64)),
                          TypeError, "grad"),
    "backward a fortran": (lambda: backward(X, W, np.asfortranarray(A), A),
                           ValueError, "a"),
    "backward code": (lambda: backward(X, W, A, A, 99), ValueError, "activation"),
    "activation z f16": (lambda: activation(X.astype(np.float16), 0),
                         TypeError, "z"),
    "activation z 3-d": (lambda: activation(np.ones((2, 2, 2)), 0),
                         ValueError, "z"),
    "activation code": (lambda: activation(X, len(ACT)), ValueError, "activation"),
    "activation_backward grad shape": (lambda: activation_grad(A, X, 1),
                                       ValueError, "grad"),
    "activation_backward grad f64": (lambda: activation_grad(A, A.astype(float), 1),
                                     TypeError, "grad"),
    # losses and metrics: labels and targets
    "loss code": (lambda: _core.loss(len(LOSS), A, LABELS), ValueError, "loss"),
    "loss code -1": (lambda: _core.loss(-1, A, LABELS), ValueError, "loss"),
    "labels int64": (lambda: _core.loss(0, A, LABELS.astype(np.int64)), TypeError, "target"),
    "labels float": (lambda: _core.loss(0, A, LABELS.astype(np.float32)), TypeError, "target"),
    "labels list": (lambda: _core.loss(0, A, [0, 1, 1]), TypeError, "target"),
    "label too big": (lambda: _core.loss(0, A, np.array([0, 2, 1], np.int32)),
                      ValueError, "target"),
    "label negative": (lambda: _core.loss(3, A, np.array([0, -1, 1], np.int32)),
                       ValueError, "target"),
    "labels length": (lambda: _core.loss(0, A, LABELS[:2]), ValueError, "target"),
    "labels 2-d": (lambda: _core.loss(0, A, LABELS[:, None]), ValueError, "target"),
    "labels strided": (lambda: _core.loss(0, A, np.zeros(6, np.int32)[::2]),
                       ValueError, "target"),
    "target shape": (lambda: _core.loss(6, A, np.ones((3, 3), np.float32)),
                     ValueError, "target"),
    "target f64": (lambda: _core.loss(1, A, A.astype(np.float64)), TypeError, "target"),
    "target fortran": (lambda: _core.loss(6, A, np.asfortranarray(A)), ValueError, "target"),
    "out fortran": (lambda: _core.loss(6, np.asfortranarray(A), A), ValueError, "out"),
    "out int": (lambda: _core.loss(6, np.ones((3, 2), int), A), TypeError, "out"),
    "out no columns": (lambda: _core.loss(6, np.ones((3, 0), np.float32),
                                          np.ones((3, 0), np.float32)), ValueError, "out"),
    "metric code": (lambda: metric(4, A, LABELS), ValueError, "metric"),
    "metric labels range": (lambda: metric(1, A, np.array([0, 5, 1], np.int32)),
                            ValueError, "target"),
    "metric target shape": (lambda: metric(3, A, np.ones((3, 3), np.float32)),
                            ValueError, "target"),
    # optimizers: every state array like the variable, writeable, distinct
    "adam step 0": (lambda: adam(np.ones(4), np.ones(4), np.zeros(4), np.zeros(4),
                                              0), ValueError, "step"),
    "adam m f32": (lambda: adam(np.ones(4), np.ones(4), np.zeros(4, np.float32),
                                             np.zeros(4), 1), TypeError, "m"),
    "adam v shape": (lambda: adam(np.ones(4), np.ones(4), np.zeros(4),
                                               np.zeros(5), 1), ValueError, "v"),
    "adam grad strided": (lambda: adam(np.ones(4), np.ones(8)[::2], np.zeros(4),
                                                    np.zeros(4), 1), ValueError, "grad"),
    "adam variable read-only": (lambda: adam(READ_ONLY, np.ones(4, np.float32),
                                                          np.zeros(4, np.float32),
                                                          np.zeros(4, np.float32), 1),
                                ValueError, "variable"),
    "adam m aliases v": (lambda: adam(SHARED[:4], SHARED[4:] + 1, SHARED[4:],
                                                   SHARED[4:], 1), ValueError, "m"),
    "adam m aliases variable": (lambda: adam(SHARED[:4], np.ones(4, np.float32),
                                                          SHARED[:4], np.zeros(4, np.float32),
                                                          1), ValueError, "m"),
    "sgd momentum without velocity": (lambda: sgd(np.ones(3), np.ones(3),
                                                               momentum=0.9),
                                      ValueError, "velocity"),
    "sgd velocity f32": (lambda: sgd(np.ones(3), np.ones(3),
                                                  np.zeros(3, np.float32), momentum=0.9),
                         TypeError, "velocity"),
    "sgd grad shape": (lambda: sgd(np.ones(3), np.ones(4)), ValueError, "grad"),
    "sgd variable list": (lambda: sgd([1.0, 2.0], np.ones(2)),
                          TypeError, "variable"),
    # networks
    "network one size": (lambda: _core.Network([4], [], [], np.zeros(0), np.zeros(0)),
                         ValueError, "units"),
    "network zero units": (lambda: _core.Network([4, 0], [0], [0.2], np.zeros(0), np.zeros(0)),
                           ValueError, "units"),
    "network activations length": (lambda: _core.Network([4, 2], [0, 0], [0.2], np.zeros(10),
                                                         np.zeros(10)),
                                   ValueError, "activations"),
    "network activation code": (lambda: _core.Network([4, 2], [len(ACT)], [0.2], np.zeros(10),
                                                      np.zeros(10)),
                                ValueError, "activations"),
    "network slopes length": (lambda: _core.Network([4, 2], [0], [], np.zeros(10),
                                                    np.zeros(10)), ValueError, "slopes"),
    "network negative slope": (lambda: _core.Network([4, 2], [4], [-0.1], np.zeros(10),
                                                     np.zeros(10)), ValueError, "slopes"),
    "network nan slope": (lambda: _core.Network([4, 2], [4], [math.nan], np.zeros(10),
                                                np.zeros(10)), ValueError, "slopes"),
    "network params size": (lambda: _core.Network([4, 2], [0], [0.2], np.zeros(9),
                                                  np.zeros(10)), ValueError, "params"),
    "network grads dtype": (lambda: _core.Network([4, 2], [0], [0.2], np.zeros(10),
                                                  np.zeros(10, np.float32)),
                            TypeError, "grads"),
    "network params int": (lambda: _core.Network([4, 2], [0], [0.2], np.zeros(10, int),
                                                 np.zeros(10)), TypeError, "params"),
    "network params read-only": (lambda: _core.Network([2, 1], [0], [0.2], READ_ONLY[:3],
                                                       np.zeros(3, np.float32)),
                                 ValueError, "params"),
    "network grads alias params": (lambda: _core.Network([2, 1], [0], [0.2], SHARED[:3],
                                                         SHARED[2:5]), ValueError, "grads"),
    "workspace capacity": (lambda: _core.Workspace(NET, 0), ValueError, "capacity"),
    "objective loss code": (lambda: _core.Objective(len(LOSS), False, 0, 0.5), ValueError, "loss"),
    "objective metric code": (lambda: _core.Objective(0, False, 4, 0.5), ValueError, "metric"),
    "objective metric reads labels": (lambda: _core.Objective(LOSS["mse"], False,
                                                              METRIC["sparse_accuracy"], 0.5),
                                      ValueError, "metric"),
    "objective metric reads dense": (lambda: _core.Objective(LOSS["sparse_ce_logits"], False,
                                                             METRIC["binary_accuracy"], 0.5),
                                     ValueError, "metric"),
    "objective threshold nan": (lambda: _core.Objective(0, False, 1, math.nan), ValueError,
                                "threshold"),
    "objective without a threshold": (lambda: _core.Objective(0, False, 1), TypeError,
                                      "takes exactly 4"),
    "state rule code": (lambda: _core.OptimizerState(NET, 99, *ADAM[1:], SLOT, SLOT.copy()),
                        ValueError, "rule"),
    "state iterations": (lambda: _core.OptimizerState(NET, *ADAM[:-1], -1, SLOT, SLOT.copy()),
                         ValueError, "iterations"),
    "state momentums shape": (lambda: _core.OptimizerState(NET, *ADAM, np.zeros(3, np.float32),
                                                           SLOT),
                              ValueError, "momentums"),
    "state velocities dtype": (lambda: _core.OptimizerState(NET, *ADAM, SLOT,
                                                            np.zeros(NET_COUNT)),
                               TypeError, "velocities"),
    "state velocities read-only": (lambda: _core.OptimizerState(NET, *ADAM, SLOT, READ_ONLY_SLOT),
                                   ValueError, "velocities"),
    "state momentums is params": (lambda: _core.OptimizerState(NET, *ADAM, NET.params, SLOT),
                                  ValueError, "slots"),
    "adam without velocities": (lambda: _core.OptimizerState(NET, *ADAM, SLOT, None),
                                ValueError, "velocities is required by adam"),
    "adam without momentums": (lambda: _core.OptimizerState(NET, *ADAM, None, SLOT),
                               ValueError, "momentums is required by adam"),
    "rmsprop without velocities": (
        lambda: _core.OptimizerState(NET, OPT["rmsprop"], 0.1, 0.0, 0.0, 1e-7, 0.0, False, 0.9,
                                     0, None, None), ValueError, "velocities is required"),
    "rmsprop with momentums": (
        lambda: _core.OptimizerState(NET, OPT["rmsprop"], 0.1, 0.0, 0.0, 1e-7, 0.0, False, 0.9,
                                     0, SLOT, SLOT.copy()), ValueError, "momentums must be None"),
    "sgd momentum without momentums": (
        lambda: _core.OptimizerState(NET, OPT["sgd"], 0.1, 0.0, 0.0, 0.0, 0.9, False, 0.0, 0,
                                     None, None), ValueError, "momentums is required by sgd"),
    "sgd with velocities": (
        lambda: _core.OptimizerState(NET, OPT["sgd"], 0.1, 0.0, 0.0, 0.0, 0.9, False, 0.0, 0,
                                     SLOT, SLOT.copy()), ValueError, "velocities must be None"),
    "plain sgd with momentums": (
        lambda: _core.OptimizerState(NET, OPT["sgd"], 0.1, 0.0, 0.0, 0.0, 0.0, False, 0.0, 0,
                                     SLOT, None), ValueError, "momentums must be None"),
    "state without its arrays": (lambda: _core.OptimizerState(NET, *ADAM), TypeError,
                                 "takes exactly 12"),
    "dataset x f64": (lambda: _core.Dataset(NET, X64, LABELS, True), TypeError, "x"),
    "dataset x features": (lambda: _core.Dataset(NET, np.ones((3, 5), np.float32), LABELS,
                                                 True), ValueError, "x"),
    "dataset x fortran": (lambda: _core.Dataset(NET, F_ORDER, LABELS, True), ValueError, "x"),
    "dataset label range": (lambda: _core.Dataset(NET, X, np.array([0, 2, 1], np.int32), True),
                            ValueError, "y"),
    "dataset labels int64": (lambda: _core.Dataset(NET, X, LABELS.astype(np.int64), True),
                             TypeError, "y"),
    "dataset labels length": (lambda: _core.Dataset(NET, X, LABELS[:2], True), ValueError, "y"),
    "dataset y shape": (lambda: _core.Dataset(NET, X, np.ones((3, 3), np.float32), False),
                        ValueError, "y"),
    "dataset y f64": (lambda: _core.Dataset(NET, X, np.ones((3, 2)), False), TypeError, "y"),
    # the compiled loop
    "train batch_size 0": (train(batch_size=0), ValueError, "batch_size"),
    "train batch_size over capacity": (train(batch_size=5, end_batch=1), ValueError,
                                       "batch_size"),
    "train batches past the end": (train(end_batch=3), ValueError, "batches"),
    "train batches reversed": (train(first_batch=2, end_batch=1), ValueError, "batches"),
    "train order int32": (train(order=ORDER.astype(np.int32)), ValueError, "order"),
    "train order list": (train(order=[0, 1, 2]), ValueError, "order"),
    "train order length": (train(order=ORDER[:2]), ValueError, "order"),
    "train order range": (train(order=np.array([0, 3, 1], np.int64)), ValueError, "order"),
    "train order negative": (train(order=np.array([0, -1, 1], np.int64)), ValueError, "order"),
    "train batch_loss f32": (train(batch_loss=np.empty(2, np.float32)), ValueError,
                             "batch_loss"),
    "train batch_metric short": (train(batch_metric=np.empty(1)), ValueError, "batch_metric"),
    "train dense workspace": (train(work=WORK_DENSE), ValueError, "workspace"),
    "train inference workspace": (train(work=WORK_EVAL), ValueError,
                                  "work must be a training Workspace.*training=False"),
    "train workspace of another network": (train(work=OTHER_WORK), ValueError, "workspace"),
    "train optimizer state of another network": (
        train(optimizer_state=_core.OptimizerState(OTHER, OPT["sgd"], 0.1, 0.0, 0.0, 0.0, 0.0,
                                                   False, 0.0, 0, None, None)),
        ValueError, "optimizer state"),
    "train objective reads dense": (train(objective=DENSE_OBJECTIVE), ValueError, "data"),
    "train dataset kind": (train(data=_core.Dataset(NET, X, np.ones((3, 2), np.float32), False)),
                           ValueError, "data"),
    "predict x features": (lambda: _core.predict(NET, np.ones((3, 5), np.float32), 4),
                           ValueError, "x"),
    "predict x f64": (lambda: _core.predict(NET, X64, WORK.capacity), TypeError, "x"),
    "predict x fortran": (lambda: _core.predict(NET, F_ORDER, WORK.capacity), ValueError, "x"),
    "predict capacity": (lambda: _core.predict(NET, X, 0), ValueError, "capacity"),
    "predict out list": (lambda: _core.predict(NET, X, 4, out=[[0.0] * 2] * 3), TypeError,
                         "out must be a numpy.ndarray"),
    "predict out f64": (lambda: _core.predict(NET, X, 4, out=np.empty((3, 2))), TypeError,
                        "out must have dtype float32"),
    "predict out swapped": (lambda: _core.predict(NET, X, 4, out=np.empty((3, 2), ">f4")),
                            TypeError, "out has dtype >f4.*byte order"),
    "predict out rows": (lambda: _core.predict(NET, X, 4, out=np.empty((4, 2), np.float32)),
                         ValueError, r"out must have shape \(3, 2\)"),
    "predict out columns": (lambda: _core.predict(NET, X, 4, out=np.empty((3, 3), np.float32)),
                            ValueError, r"out must have shape \(3, 2\)"),
    "predict out 1-d": (lambda: _core.predict(NET, X, 4, out=np.empty(6, np.float32)),
                        ValueError, "out must be 2-dimensional"),
    "predict out strided": (lambda: _core.predict(NET, X, 4,
                                                  out=np.empty((3, 4), np.float32)[:, :2]),
                            ValueError, "out must be C-contiguous"),
    "predict out read-only": (lambda: _core.predict(NET, X, 4, out=_read_only((3, 2))),
                              ValueError, "out must be writeable"),
    "predict out is x": (lambda: _overlapping_out("x"), ValueError,
                         "out must not share memory with x"),
    "predict out in params": (lambda: _overlapping_out("params"), ValueError,
                              "out must not share memory with the network's params"),
    "evaluate dataset dtype": (lambda: _core.evaluate(NET64, WORK64, OBJECTIVE, DATA),
                               TypeError, "data"),
    "evaluate workspace of another network": (lambda: _core.evaluate(NET, WORK64, OBJECTIVE,
                                                                     DATA),
                                              ValueError, "workspace"),
    "evaluate objective reads dense": (lambda: _core.evaluate(NET, WORK, DENSE_OBJECTIVE, DATA),
                                       ValueError, "data"),
}


def _read_only(shape):
    a = np.empty(shape, np.float32)
    a.flags.writeable = False
    return a


def _overlapping_out(where):
    """predict into memory it reads: the input rows, or the network's parameters."""
    net = _core.Network([2, 2], [LINEAR], [0.0], np.ones(6, np.float32),
                        np.zeros(6, np.float32))
    if where == "x":
        buffer = np.ones((3, 2), np.float32)
        return _core.predict(net, buffer, 4, out=buffer)
    return _core.predict(net, np.ones((1, 2), np.float32), 4, out=net.params[:2].reshape(1, 2))


@pytest.mark.parametrize("call, error, match", BAD_CALLS.values(), ids=BAD_CALLS.keys())
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_good_arguments_pass():
    """The fixtures of the checks above are themselves valid."""
    assert _core.dense_forward(X, W, B, LINEAR, KERAS_SLOPE).shape == (3, 2)
    assert _core.train_batches(NET, WORK, OBJECTIVE, STATE, DATA, ORDER, 2, 0, 2, np.empty(2),
                               np.empty(2)) == 2
    assert _core.predict(NET, X, WORK.capacity).shape == (3, 2)
    assert len(_core.evaluate(NET, WORK, OBJECTIVE, DATA)) == 2
    assert _core.evaluate(NET, WORK_EVAL, OBJECTIVE, DATA) == _core.evaluate(NET, WORK,
                                                                             OBJECTIVE, DATA)
    assert _core.OptimizerState(NET, *ADAM, SLOT, SLOT.copy()).iterations == 0
    assert STATE.momentums is None and STATE.velocities is None and STATE.rule == OPT["sgd"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_first_nonfinite_row(dtype, bad):
    """The first row holding NaN or inf, found in one pass; -1 when all are finite."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 37)).astype(dtype) * 1e30
    assert _core.first_nonfinite_row(x) == -1
    assert _core.first_nonfinite_row(x[:0]) == -1
    x[17, 36] = bad
    x[30, 0] = bad
    assert _core.first_nonfinite_row(x) == 17
    assert _core.first_nonfinite_row(x[18:]) == 12
    big = np.full((2, 3), np.finfo(dtype).max, dtype)
    assert _core.first_nonfinite_row(big) == -1


@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_writes_into_out(dtype):
    """out: the outputs written in place (a row slice of a larger array), returned;
    its other rows untouched; the same values as a new array."""
    units = (5, 7, 3)
    rng = np.random.default_rng(8)
    params = init_params(units, dtype, rng)
    net = _core.Network(units, [ACT["relu"], ACT["linear"]], [SLOPE] * 2, params,
                        np.zeros_like(params))
    x = rand(rng, (20, units[0]), dtype)
    whole = np.full((30, 3), -7, dtype)
    got = _core.predict(net, x, 4, out=whole[5:25])
    assert got is not None and np.shares_memory(got, whole)
    assert_array_equal(whole[5:25], _core.predict(net, x, 4))
    assert (whole[:5] == -7).all() and (whole[25:] == -7).all()
    out, row = _core.predict(net, x, 4, out=whole[5:25], return_nonfinite=True)
    assert row == -1 and np.shares_memory(out, whole)
    assert _core.predict(net, x[:0], 4, out=np.empty((0, 3), dtype)).shape == (0, 3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_reports_the_first_nonfinite_output_row(dtype):
    """return_nonfinite: ``(outputs, first row whose outputs hold NaN or inf, or -1)``,
    from finite inputs that overflow."""
    big = np.finfo(dtype).max
    params = np.array([2, 2, 0], dtype)  # kernel (2, 1) of twos, bias 0: 2*(a+b)
    net = _core.Network([2, 1], [LINEAR], [0.0], params, np.zeros(3, dtype))
    x = np.array([[1, 1], [big, 0], [1, 2], [big, big]], dtype)
    out, row = _core.predict(net, x, 2, return_nonfinite=True)
    assert row == 1 and np.isinf(out[[1, 3]]).all() and np.isfinite(out[[0, 2]]).all()
    assert _core.predict(net, x[[0, 2]], 2, return_nonfinite=True)[1] == -1


@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_large_capacity_uses_heap_buffers(dtype):
    """Hidden buffers too large for the stack come from the heap; results agree."""
    units, acts = (6, 300, 200, 3), ["relu", "tanh", "softmax"]
    rng = np.random.default_rng(5)
    params = init_params(units, dtype, rng)
    net = _core.Network(units, [ACT[a] for a in acts], [SLOPE] * 3, params,
                        np.zeros_like(params))
    x = rand(rng, (50, units[0]), dtype)
    expected = reference_mlp(params, units, acts, "mse").predict(x)
    for capacity in (1, 3, 50, 1000):
        assert_allclose(_core.predict(net, x, capacity), expected, **NET_TOL[dtype])


# ---------------------------------------------------------------- loss hyper-parameters

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["bce_logits", "bce_probs", "ce_logits", "ce_probs"])
def test_label_smoothing(dtype, loss):
    """Targets become y (1 - s) + s / classes (2 for binary) before the loss."""
    rng = np.random.default_rng(21)
    out, target = make_output(loss, rng, 5, 3, dtype), make_target(loss, rng, 5, 3, dtype)
    classes = 2 if loss.startswith("bce") else 3
    value, grad = _core.loss(LOSS[loss], out, target, label_smoothing=0.2)
    expected, expected_grad = reference.LOSSES[loss](
        out, reference.smoothed(target, 0.2, classes).astype(dtype))
    assert value == pytest.approx(expected, rel=10 * RTOL[dtype])
    assert_allclose(grad, expected_grad, rtol=10 * RTOL[dtype],
                    atol=atol(dtype, 3, np.abs(expected_grad).max()))
    assert value != pytest.approx(_core.loss(LOSS[loss], out, target)[0], rel=1e-3)
    if dtype == np.float64:
        f = lambda: _core.loss(LOSS[loss], out, target, label_smoothing=0.2)[0]  # noqa: E731
        assert_allclose(grad, numerical_gradient(f, out), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["sparse_ce_logits", "sparse_ce_probs"])
@pytest.mark.parametrize("ignore", [1, -1, 255])
def test_ignore_class(dtype, loss, ignore):
    """Rows labelled ignore_class (in range or not) add no loss or gradient; the
    mean is over the other rows, and a batch of only ignored rows is 0."""
    rng = np.random.default_rng(22)
    out = make_output(loss, rng, 7, 4, dtype)
    labels = np.array([0, ignore, 2, 3, ignore, 1, 0], np.int32)
    value, grad = _core.loss(LOSS[loss], out, labels, ignore_class=ignore)
    expected, expected_grad = reference.sparse_cross_entropy_ignoring(
        reference.LOSSES[loss], out, labels, ignore)
    assert value == pytest.approx(expected, rel=10 * RTOL[dtype])
    assert_allclose(grad, expected_grad, rtol=10 * RTOL[dtype], atol=1e-7)
    assert_array_equal(grad[labels == ignore], 0)
    if dtype == np.float64:
        f = lambda: _core.loss(LOSS[loss], out, labels, ignore_class=ignore)[0]  # noqa: E731
        assert_allclose(grad, numerical_gradient(f, out), rtol=1e-6, atol=1e-9)
    value, grad = _core.loss(LOSS[loss], out[:2], np.full(2, ignore, np.int32),
                             ignore_class=ignore)
    assert value == 0 and not grad.any()


def test_ignore_class_protects_memory():
    """A label out of range is refused unless it is the objective's ignore_class."""
    out = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        _core.loss(LOSS["sparse_ce_logits"], out, np.array([0, 255], np.int32))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        _core.loss(LOSS["sparse_ce_logits"], out, np.array([-1, 255], np.int32), ignore_class=-1)
    with pytest.raises(ValueError, match="32 bits"):
        _core.Objective(LOSS["sparse_ce_logits"], False, 0, 0.5, ignore_class=2**31)
    s = Setup((3, 4, 3), ["relu", "linear"], "sparse_ce_logits", False, np.float64, 4, 4)
    y = np.array([0, 255, 1, 2], np.int32)
    data = _core.Dataset(s.net, s.x, y, True, ignore_class=255)
    with pytest.raises(ValueError, match="ignore_class"):  # the objective ignores nothing
        _core.evaluate(s.net, s.work, s.objective, data)
    objective = _core.Objective(LOSS["sparse_ce_logits"], False, METRIC["sparse_accuracy"], 0.5,
                                ignore_class=255)
    loss_sum, _ = _core.evaluate(s.net, s.work, objective, data)
    expected, _ = reference.sparse_cross_entropy_ignoring(
        reference.LOSSES["sparse_ce_logits"], reference_forward(s.params, s.units, s.acts, s.x),
        y, 255)
    assert loss_sum / 4 == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_hinge_reads_zero_one_batches_as_minus_one_one(dtype, loss):
    rng = np.random.default_rng(23)
    out = rand(rng, (6, 2), dtype, 2.0)
    zero_one = (rng.random((6, 2)) < 0.5).astype(dtype)
    assert _core.loss(LOSS[loss], out, zero_one)[0] == pytest.approx(
        _core.loss(LOSS[loss], out, 2 * zero_one - 1)[0], rel=RTOL[dtype])
    mixed = zero_one.copy()
    mixed[0, 0] = -1  # not all 0/1: read as given
    expected, _ = reference.LOSSES[loss](out, mixed)
    assert _core.loss(LOSS[loss], out, mixed)[0] == pytest.approx(expected, rel=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_regression_losses_extreme_values(dtype):
    """Huge errors stay finite where the formula allows (log_cosh ~ |e| - log 2)."""
    out = np.array([[1e4, -1e4, 0.0]], dtype)
    target = np.zeros((1, 3), dtype)
    for loss in ("mae", "huber", "log_cosh", "hinge", "categorical_hinge"):
        value, grad = _core.loss(LOSS[loss], out, target, **LOSS_OPTIONS.get(loss, {}))
        expected, expected_grad = reference.LOSSES[loss](out.astype(np.float64), target,
                                                         **LOSS_OPTIONS.get(loss, {}))
        assert np.isfinite(value) and np.isfinite(grad).all()
        assert value == pytest.approx(expected, rel=RTOL[dtype])
        assert_allclose(grad, expected_grad, rtol=RTOL[dtype], atol=1e-30)
    value, grad = _core.loss(LOSS["log_cosh"], out, target)
    assert value == pytest.approx((2e4 - 2 * math.log(2)) / 3, rel=RTOL[dtype])
    # predictions at or below 0 for the logarithmic losses: clipped, finite
    for loss in ("msle", "kld"):
        value, grad = _core.loss(LOSS[loss], np.array([[0.0, -2.0]], dtype),
                                 np.array([[0.5, 0.5]], dtype))
        assert np.isfinite(value) and not grad.any()


# ------------------------------------------------------------------ optimizer rules, options, schedules
# Each rule and option through the core's one step (optimizer_step: clipping, weight
# decay, the update, as train_batches takes them) against the reference, on a
# network of two Dense layers (two kernels, two biases: four variables for clipnorm).

RULE_UNITS = (3, 5, 1)
RULE_CASES = {
    "adamw": (optimizers.AdamW, dict(learning_rate=0.01)),
    "adamw-strong": (optimizers.AdamW, dict(learning_rate=0.05, weight_decay=0.5)),
    "adam-amsgrad": (optimizers.Adam, dict(learning_rate=0.01, amsgrad=True)),
    "adagrad": (optimizers.Adagrad, dict(learning_rate=0.05)),
    "adagrad-zero-start": (optimizers.Adagrad, dict(initial_accumulator_value=0.0)),
    "adamax": (optimizers.Adamax, dict(learning_rate=0.01)),
    "nadam": (optimizers.Nadam, dict(learning_rate=0.01)),
    "sgd-decay": (optimizers.SGD, dict(momentum=0.9, weight_decay=0.1)),
    "rmsprop-clipnorm": (optimizers.RMSprop, dict(clipnorm=0.5)),
    "adam-clipvalue": (optimizers.Adam, dict(clipvalue=0.3)),
    "nadam-global-clipnorm": (optimizers.Nadam, dict(global_clipnorm=0.7)),
    "adamw-clipnorm-amsgrad": (optimizers.AdamW, dict(clipnorm=1.0, amsgrad=True)),
}


def _reference_step(opt, variables, grads, slots, t):
    """One step of ``opt`` (a public optimizer, for its settings) on lists of float64
    arrays, with the reference's functions; ``slots``: name -> list of arrays."""
    lr = opt.learning_rate
    if opt.clipnorm:
        for g in grads:
            reference.clip_by_norm(g, opt.clipnorm)
    elif opt.global_clipnorm:
        flat = np.concatenate([g.ravel() for g in grads])
        scale = opt.global_clipnorm / max(np.sqrt(np.sum(flat ** 2)), opt.global_clipnorm)
        for g in grads:
            g *= scale
    elif opt.clipvalue:
        for g in grads:
            np.clip(g, -opt.clipvalue, opt.clipvalue, out=g)
    if opt.weight_decay:
        for w in variables:
            reference.weight_decay(w, lr, opt.weight_decay)
    if isinstance(opt, optimizers.Nadam):
        opt.u_product = reference.nadam_u_product(opt.u_product, t, opt.beta_1)
    for i, (w, g) in enumerate(zip(variables, grads)):
        s = {name: arrays[i] for name, arrays in slots.items()}
        if isinstance(opt, optimizers.Adam):
            ab = dict(learning_rate=lr, beta_1=opt.beta_1, beta_2=opt.beta_2,
                      epsilon=opt.epsilon)
            if opt.amsgrad:
                reference.amsgrad_update(w, g, s["momentums"], s["velocities"],
                                         s["velocity_hats"], t, **ab)
            else:
                reference.adam_update(w, g, s["momentums"], s["velocities"], t, **ab)
        elif isinstance(opt, optimizers.Adagrad):
            reference.adagrad_update(w, g, s["accumulators"], lr, opt.epsilon)
        elif isinstance(opt, optimizers.Adamax):
            reference.adamax_update(w, g, s["momentums"], s["norms"], t, lr, opt.beta_1,
                                    opt.beta_2, opt.epsilon)
        elif isinstance(opt, optimizers.Nadam):
            reference.nadam_update(w, g, s["momentums"], s["velocities"], t, opt.u_product, lr,
                                   opt.beta_1, opt.beta_2, opt.epsilon)
        elif isinstance(opt, optimizers.SGD):
            reference.sgd_update(w, g, s.get("momentums"), lr, opt.momentum, opt.nesterov)
        else:
            reference.rmsprop_update(w, g, s["velocities"], lr, opt.rho, opt.epsilon)


def _split(flat, units):
    """Views of a flat parameter array: kernel, bias, kernel, bias, ..."""
    out, at = [], 0
    for n_in, n_out in zip(units[:-1], units[1:]):
        out += [flat[at:at + n_in * n_out], flat[at + n_in * n_out:at + n_in * n_out + n_out]]
        at += n_in * n_out + n_out
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", list(RULE_CASES))
def test_optimizer_rules_match_the_reference(case, dtype):
    cls, kwargs = RULE_CASES[case]
    rng = np.random.default_rng(7)
    n = _core.parameter_count(RULE_UNITS)
    params = rng.normal(size=n).astype(dtype)
    net = _core.Network(list(RULE_UNITS), [ACT["relu"], ACT["linear"]], [0.2, 0.2],
                        params.copy(), np.zeros(n, dtype))
    opt, ref = cls(**kwargs), cls(**kwargs)
    opt.build(net.params)
    state = _core.OptimizerState(net, **opt.core_arguments())
    variables = [v.astype(np.float64) for v in _split(params, RULE_UNITS)]
    slots = {name: [np.full_like(v, getattr(opt, name)[0]) for v in variables]
             for name in opt.slot_names}
    for t in range(1, 7):
        grads = rng.normal(scale=2.0, size=n).astype(dtype)
        net.grads[...] = grads
        _core.optimizer_step(net, state)
        _reference_step(ref, variables, _split(grads.astype(np.float64), RULE_UNITS), slots, t)
        tol = 2e-5 if dtype == np.float32 else 1e-12
        assert_allclose(np.concatenate(variables), net.params, rtol=tol, atol=tol)
        for name in opt.slot_names:
            assert_allclose(np.concatenate(slots[name]), getattr(opt, name), rtol=tol,
                            atol=tol)
    assert state.iterations == 6
    if isinstance(opt, optimizers.Nadam):
        assert state.u_product == pytest.approx(ref.u_product, rel=1e-12)


SCHEDULE_CASES = [
    (optimizers.schedules.ExponentialDecay(0.1, 3, 0.5), reference.exponential_decay,
     dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5)),
    (optimizers.schedules.ExponentialDecay(0.1, 3, 0.5, staircase=True),
     reference.exponential_decay,
     dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5, staircase=True)),
    (optimizers.schedules.InverseTimeDecay(0.1, 2, 0.7), reference.inverse_time_decay,
     dict(initial_learning_rate=0.1, decay_steps=2, decay_rate=0.7)),
    (optimizers.schedules.InverseTimeDecay(0.1, 2, 0.7, staircase=True),
     reference.inverse_time_decay,
     dict(initial_learning_rate=0.1, decay_steps=2, decay_rate=0.7, staircase=True)),
    (optimizers.schedules.PiecewiseConstantDecay([3, 7], [0.1, 0.05, 0.01]),
     reference.piecewise_constant_decay, dict(boundaries=[3, 7], values=[0.1, 0.05, 0.01])),
    (optimizers.schedules.PolynomialDecay(0.1, 6, 0.01, power=2.0), reference.polynomial_decay,
     dict(initial_learning_rate=0.1, decay_steps=6, end_learning_rate=0.01, power=2.0)),
    (optimizers.schedules.PolynomialDecay(0.1, 4, cycle=True), reference.polynomial_decay,
     dict(initial_learning_rate=0.1, decay_steps=4, cycle=True)),
    (optimizers.schedules.CosineDecay(0.1, 8, alpha=0.1), reference.cosine_decay,
     dict(initial_learning_rate=0.1, decay_steps=8, alpha=0.1)),
    (optimizers.schedules.CosineDecay(0.0, 8, warmup_target=0.1, warmup_steps=4),
     reference.cosine_decay,
     dict(initial_learning_rate=0.0, decay_steps=8, warmup_target=0.1, warmup_steps=4)),
    (optimizers.schedules.CosineDecayRestarts(0.1, 3), reference.cosine_decay_restarts,
     dict(initial_learning_rate=0.1, first_decay_steps=3)),
    (optimizers.schedules.CosineDecayRestarts(0.1, 3, t_mul=1.0, m_mul=0.5, alpha=0.2),
     reference.cosine_decay_restarts,
     dict(initial_learning_rate=0.1, first_decay_steps=3, t_mul=1.0, m_mul=0.5, alpha=0.2)),
]


@pytest.mark.parametrize("schedule, oracle, kwargs", SCHEDULE_CASES,
                         ids=[repr(s) for s, _, _ in SCHEDULE_CASES])
def test_schedules_match_the_reference(schedule, oracle, kwargs):
    for step in range(25):
        assert schedule(step) == pytest.approx(oracle(step, **kwargs), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_schedule_sets_each_steps_learning_rate_in_the_core(dtype):
    """SGD's step is lr * g: each step of the compiled loop reads its own rate."""
    schedule = optimizers.schedules.PiecewiseConstantDecay([1, 2], [0.5, 0.25, 0.125])
    n = _core.parameter_count(RULE_UNITS)
    net = _core.Network(list(RULE_UNITS), [ACT["relu"], ACT["linear"]], [0.2, 0.2],
                        np.zeros(n, dtype), np.ones(n, dtype))
    opt = optimizers.SGD(learning_rate=schedule)
    opt.build(net.params)
    state = _core.OptimizerState(net, **opt.core_arguments())
    moved = []
    for _ in range(4):
        before = net.params[0]
        _core.optimizer_step(net, state)
        moved.append(float(before - net.params[0]))
    assert moved == [0.5, 0.5, 0.25, 0.125]


# ---------------------------------------------------------------- sample weights

def sample_weights(rng, rows, dtype):
    """Weights of every kind fit makes: zeros, fractions, ones and large ones."""
    return rng.choice([0.0, 0.25, 1.0, 1.7, 5.0], rows).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, cols", [(1, 1), (1, 3), (3, 7), (5, 13), (4, 1)])
@pytest.mark.parametrize("loss", list(LOSS))
def test_weighted_loss(dtype, rows, cols, loss):
    """Each row's loss and gradient scaled by its weight, the mean over the rows
    (Keras' sum_over_batch_size), against the reference."""
    rng = np.random.default_rng(rows * 100 + cols + 7)
    out = make_output(loss, rng, rows, cols, dtype)
    target = make_target(loss, rng, rows, cols, dtype)
    weight = sample_weights(rng, rows, dtype)
    options = LOSS_OPTIONS.get(loss, {})
    value, grad = _core.loss(LOSS[loss], out, target, sample_weight=weight, **options)
    expected, expected_grad = reference.weighted(reference.LOSSES[loss], out, target,
                                                 weight.astype(np.float64), **options)
    assert value == pytest.approx(expected, rel=RTOL[dtype],
                                  abs=5 * atol(dtype, cols, abs(expected) + 1))
    assert_allclose(grad, expected_grad, rtol=RTOL[dtype],
                    atol=5 * atol(dtype, cols, np.abs(expected_grad).max()))


@pytest.mark.parametrize("loss", list(LOSS))
@pytest.mark.parametrize("rows, cols", [(1, 1), (3, 5), (6, 2)])
def test_weighted_loss_gradient_finite_differences(loss, rows, cols):
    rng = np.random.default_rng(rows * 10 + cols + 3)
    out = make_output(loss, rng, rows, cols, np.float64)
    target = make_target(loss, rng, rows, cols, np.float64)
    weight = sample_weights(rng, rows, np.float64)
    options = dict(LOSS_OPTIONS.get(loss, {}), sample_weight=weight)
    _, grad = _core.loss(LOSS[loss], out, target, **options)
    numeric = numerical_gradient(lambda: _core.loss(LOSS[loss], out, target, **options)[0], out)
    assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_weighted_sparse_ce_with_ignore_class(dtype):
    """Keras merges the mask into the weights: sum(w l) over kept rows / kept rows."""
    rng = np.random.default_rng(5)
    out = rand(rng, (6, 4), dtype, 3.0)
    labels = np.array([0, 3, 1, 3, 2, 0], np.int32)
    weight = sample_weights(rng, 6, dtype)
    value, grad = _core.loss(LOSS["sparse_ce_logits"], out, labels, sample_weight=weight,
                             ignore_class=3)
    keep = labels != 3
    expected, expected_grad = reference.weighted(
        reference.sparse_softmax_cross_entropy, out[keep], labels[keep],
        weight[keep].astype(np.float64))
    assert value == pytest.approx(expected, rel=10 * RTOL[dtype])
    assert_allclose(grad[keep], expected_grad, rtol=10 * RTOL[dtype], atol=RTOL[dtype])
    assert not grad[~keep].any()


def test_sample_weight_checked_for_memory():
    out, labels = np.zeros((3, 2)), np.zeros(3, np.int32)
    with pytest.raises(ValueError, match="shape"):
        _core.loss(LOSS["sparse_ce_logits"], out, labels, sample_weight=np.ones(2))
    with pytest.raises(TypeError, match="dtype"):
        _core.loss(LOSS["sparse_ce_logits"], out, labels, sample_weight=np.ones(3, np.float32))
    net = _core.Network((2, 2), [ACT["linear"]], [0.0], np.zeros(6), np.zeros(6))
    with pytest.raises(ValueError, match="shape"):
        _core.Dataset(net, np.zeros((3, 2)), labels, True, sample_weight=np.ones(4))


def weighted_setup(dtype, loss, weight_seed=3, **options):
    s = Setup((5, 7, 3), ["tanh", "linear"], loss, False, dtype, 21, capacity=4, seed=9,
              **options)
    s.weight = sample_weights(np.random.default_rng(weight_seed), 21, dtype)
    s.data = _core.Dataset(s.net, s.x, s.y, uses_labels(loss), sample_weight=s.weight)
    return s


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["sparse_ce_logits", "ce_logits", "mse"])
def test_train_batches_with_sample_weights(dtype, loss):
    """The weights travel with the rows through a shuffled order: each batch's loss
    and SGD step are the reference's weighted ones on the gathered rows."""
    s = weighted_setup(dtype, loss, optimizer="sgd", learning_rate=0.1)
    units, acts, batch = s.units, s.acts, 4
    ref = s.params.astype(np.float64)
    order = np.random.default_rng(1).permutation(21).astype(np.int64)
    done, losses, _ = s.train(order, batch, 0, 6)
    assert done == 6
    for b, start in enumerate(range(0, 21, batch)):
        idx = order[start:start + batch]
        w = s.weight[idx].astype(np.float64)

        def batch_loss(params):
            out = reference_forward(params, units, acts, s.x[idx].astype(np.float64))
            return reference.weighted(reference.LOSSES[loss], out, s.y[idx], w)[0]

        assert_allclose(losses[b], batch_loss(ref), **TRAIN_TOL[dtype])
        ref = ref - 0.1 * numerical_gradient(lambda: batch_loss(ref), ref)
    assert_allclose(s.net.params, ref, rtol=1e-4 if dtype == np.float32 else 1e-7, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_evaluate_with_sample_weights(dtype):
    s = weighted_setup(dtype, "ce_logits")
    loss_sum, metric_sum = _core.evaluate(s.net, s.work, s.objective, s.data)
    out = reference_forward(s.params, s.units, s.acts, s.x.astype(np.float64))
    expected, _ = reference.weighted(reference.LOSSES["ce_logits"], out, s.y,
                                     s.weight.astype(np.float64))
    assert loss_sum / 21 == pytest.approx(expected, rel=10 * RTOL[dtype])
    unweighted = _core.evaluate(s.net, s.work, s.objective,
                                _core.Dataset(s.net, s.x, s.y, False))
    assert metric_sum == unweighted[1]  # metrics are not weighted (Keras' metrics=[...])


# ------------------------------------------------------------------ batch normalization

BN = _core.LAYER_KINDS["batch_normalization"]
DENSE = _core.LAYER_KINDS["dense"]
BN_EPSILON = 1e-3  # Keras' default
# (rows, features); one row: variance 0; 300 features: the kernels' blocks of
# 256 columns (BN_BLOCK in csrc/kernels_impl.h) and a ragged second block
BN_SHAPES = [(1, 1), (1, 5), (2, 3), (7, 13), (33, 4), (5, 300)]
BN_TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-11, atol=1e-11)}


def bn_net(units, kinds, dtype, rng, acts=None, trainable=True, scale=True, center=True,
           momentum=0.9):
    """A core Network of dense and batch normalization layers (momentum 0.9, not Keras'
    0.99, so an update shows), with random weights (moving variance > 0)."""
    bn_options = dict(momentum=momentum, epsilon=BN_EPSILON, trainable=trainable,
                      weights=[scale, center, True, True])
    options = [bn_options if k == BN else None for k in kinds]
    acts = acts or ["linear"] * len(kinds)
    layers = _core.layout(units, [ACT[a] for a in acts], [0.0] * len(kinds), kinds, options)
    net = _core.Network(units, [ACT[a] for a in acts], [0.0] * len(kinds),
                        np.zeros(layers.n_params, dtype), np.zeros(layers.n_params, dtype),
                        kinds, options, np.zeros(layers.n_state, dtype))
    for layer, kind in zip(net.weight_views(), kinds):
        for i, view in enumerate(layer):
            view[...] = rng.uniform(0.5, 1.5, view.shape) if (kind == BN and i == len(layer) - 1) \
                else rng.normal(size=view.shape)
    return net


def bn_weights(net, l, scale=True, center=True):
    """gamma, beta (None when absent), moving_mean, moving_variance of layer l, copied."""
    views = [v.copy() for v in net.weight_views()[l]]
    gamma = views.pop(0) if scale else None
    beta = views.pop(0) if center else None
    return gamma, beta, views[0], views[1]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, n", BN_SHAPES)
@pytest.mark.parametrize("scale, center", [(True, True), (False, True), (True, False),
                                           (False, False)])
def test_batch_norm_against_the_reference(dtype, rows, n, scale, center):
    """Training forward (batch moments), its backward (gamma, beta and x), the moving
    update, and the inference forward (moving moments), each against reference.py."""
    rng = np.random.default_rng(rows * 100 + n)
    net = bn_net((n, n), [BN], dtype, rng, scale=scale, center=center)
    gamma, beta, mm, mv = bn_weights(net, 0, scale, center)
    x = (rng.normal(size=(rows, n)) * 3 + 1).astype(dtype)
    work = _core.Workspace(net, rows)
    y = _core.forward(net, work, x, True, 0)[-1]
    want, (mean, var) = reference.batch_norm_forward(x, gamma, beta, mm, mv, BN_EPSILON, True)
    assert_allclose(y, want, **BN_TOL[dtype])
    grad = rng.normal(size=(rows, n)).astype(dtype)
    dx = _core.backward(net, work, x, grad, 0, need_dx=True)
    dgamma, dbeta, want_dx = reference.batch_norm_backward(x, grad, gamma, BN_EPSILON)
    grads = [g for g, present in zip((dgamma, dbeta), (scale, center)) if present]
    assert_allclose(net.grads, np.concatenate(grads) if grads else [], **BN_TOL[dtype])
    assert_allclose(dx, want_dx, **BN_TOL[dtype])
    _core.update_moving_statistics(net, work)
    _, _, new_mm, new_mv = bn_weights(net, 0, scale, center)
    assert_allclose(new_mm, reference.moving_update(mm, mean, 0.9), **BN_TOL[dtype])
    assert_allclose(new_mv, reference.moving_update(mv, var, 0.9), **BN_TOL[dtype])
    y = _core.forward(net, work, x, False, 0)[-1]
    want, _ = reference.batch_norm_forward(x, gamma, beta, new_mm, new_mv, BN_EPSILON, False)
    assert_allclose(y, want, **BN_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_of_one_row_is_beta(dtype):
    """One row: variance 0, x - mean = 0: the output is beta exactly and no gradient
    reaches x (Keras raises nothing either)."""
    rng = np.random.default_rng(1)
    net = bn_net((4, 4), [BN], dtype, rng)
    _, beta, _, _ = bn_weights(net, 0)
    work = _core.Workspace(net, 1)
    x = rng.normal(size=(1, 4)).astype(dtype) * 1e3
    assert_array_equal(_core.forward(net, work, x, True, 0)[-1][0], beta)
    assert_array_equal(_core.backward(net, work, x, np.ones((1, 4), dtype), 0, True), 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset, spread", [(1e4, 1.0), (0.0, 1e4), (0.0, 1e-4), (-80.0, 1e-2)])
def test_batch_norm_extreme_inputs(dtype, offset, spread):
    """Large offsets and tiny or huge spreads: finite and as the reference (the moments
    are two-pass, so a large mean costs no precision of the variance)."""
    rng = np.random.default_rng(2)
    net = bn_net((5, 5), [BN], dtype, rng)
    gamma, beta, mm, mv = bn_weights(net, 0)
    x = (offset + spread * rng.normal(size=(9, 5))).astype(dtype)
    work = _core.Workspace(net, 9)
    y = _core.forward(net, work, x, True, 0)[-1]
    want, _ = reference.batch_norm_forward(x.astype(np.float64), gamma, beta, mm, mv,
                                           BN_EPSILON, True)
    tol = dict(rtol=1e-3, atol=1e-3) if dtype == np.float32 else BN_TOL[dtype]
    assert np.isfinite(y).all()
    assert_allclose(y, want, **tol)
    dx = _core.backward(net, work, x, np.ones((9, 5), dtype), 0, True)
    assert np.isfinite(dx).all()


BN_NET_CASES = [((3, 5, 5, 2), [DENSE, BN, DENSE], ["linear", "tanh", "linear"], True, True),
                ((3, 5, 5, 2), [DENSE, BN, DENSE], ["linear", "sigmoid", "linear"], False, True),
                ((3, 5, 5, 2), [DENSE, BN, DENSE], ["linear", "linear", "linear"], True, False),
                ((4, 4, 3, 3), [BN, DENSE, BN], ["linear", "tanh", "linear"], True, True)]


@pytest.mark.parametrize("units, kinds, acts, scale, center", BN_NET_CASES)
def test_batch_norm_network_gradient(units, kinds, acts, scale, center):
    """Central finite differences of a network with batch normalization in training
    mode (batch moments), for every parameter and for the input: BN's dx goes
    through the batch's mean and variance."""
    rng = np.random.default_rng(3)
    net = bn_net(units, kinds, np.float64, rng, acts, scale=scale, center=center)
    x = rng.normal(size=(6, units[0]))
    g = rng.normal(size=(6, units[-1]))
    work = _core.Workspace(net, 6)

    def loss():
        return float((_core.forward(net, work, x, True, 0)[-1] * g).sum())

    loss()
    dx = _core.backward(net, work, x, g, 0, need_dx=True)
    analytic = net.grads.copy()
    assert_allclose(analytic, numerical_gradient(loss, net.params), rtol=1e-6, atol=1e-8)
    assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- Normalization and PReLU

KIND = _core.LAYER_KINDS


def layer_network(dtype, units, kinds, options, acts=None, rng=None):
    """A network of these kinds with random trainable weights; state from the
    layers' defaults (0 means, 1 variances) for the caller to overwrite."""
    n = len(units) - 1
    acts = acts or ["linear"] * n
    layers = _core.layout(units, [ACT[a] for a in acts], [0.0] * n,
                          [KIND[k] for k in kinds], options)
    rng = rng or np.random.default_rng(0)
    params = rand(rng, (layers.n_params,), dtype, 0.5)
    net = _core.Network(units, [ACT[a] for a in acts], [0.0] * n, params,
                        np.zeros_like(params), [KIND[k] for k in kinds], options,
                        np.zeros(layers.n_state, dtype))
    return net, net.weight_views()


def normalization_inputs(dtype, rows, n, rng):
    """Inputs, means and variances with the edges: a zero variance (the 1e-7
    floor), a tiny one, huge values."""
    x = rand(rng, (rows, n), dtype, 3.0)
    mean = rand(rng, (n,), dtype, 2.0)
    variance = (rng.random(n) * 4).astype(dtype)
    variance[0] = 0
    if n > 2:
        variance[1], x[:, 2], mean[2], variance[2] = 1e-20, 1e30, 1e30, 1e36
    return x, mean, variance


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, n", [(1, 1), (1, 5), (7, 3), (33, 13)])
@pytest.mark.parametrize("invert", [False, True])
def test_normalization_layer(dtype, rows, n, invert):
    rng = np.random.default_rng(rows * n)
    net, views = layer_network(dtype, [n, n], ["normalization"], [{"invert": invert}])
    x, mean, variance = normalization_inputs(dtype, rows, n, rng)
    (m, v, count), = views
    m[...], v[...] = mean, variance
    assert count.shape == () and net.params.size == 0  # no trainable weights
    work = _core.Workspace(net, rows, False)
    out, = _core.forward(net, work, x, True, 0)
    with np.errstate(over="ignore"):  # 1e30 * 1e18 is inf in float32, in both
        expected = reference.normalization_forward(x, mean, variance, invert)
    assert_allclose(out, expected, rtol=RTOL[dtype])
    if not invert:  # divided by the floored deviation, as Keras: the same bits
        assert_array_equal(out[:, 0], (x[:, 0] - mean[0]) / dtype(1e-7))
    grad = rand(rng, (rows, n), dtype)
    dx = _core.backward(net, work, x, grad, 0, need_dx=True)
    assert_allclose(dx, reference.normalization_backward(grad, variance, invert),
                    rtol=RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, n", [(1, 1), (1, 4), (9, 3), (40, 17)])
def test_prelu_layer(dtype, rows, n):
    rng = np.random.default_rng(rows + n)
    net, ((alpha,),) = layer_network(dtype, [n, n], ["prelu"], [None])
    alpha[...] = rand(rng, (n,), dtype)
    x = rand(rng, (rows, n), dtype, 2.0)
    x.flat[::3] = 0  # the kink: value and gradients 0 there, as Keras (TensorFlow)
    x.flat[1::5] = -np.finfo(dtype).max / 4
    work = _core.Workspace(net, rows, False)
    out, = _core.forward(net, work, x, True, 0)
    assert_allclose(out, reference.prelu_forward(x, alpha), rtol=RTOL[dtype])
    grad = rand(rng, (rows, n), dtype)
    grad.flat[1::5] = 1e-30
    dx = _core.backward(net, work, x, grad, 0, need_dx=True)
    d_alpha, d_x = reference.prelu_backward(x.astype(np.float64), alpha.astype(np.float64), grad)
    assert_allclose(dx, d_x, rtol=RTOL[dtype])
    assert_allclose(net.grads, d_alpha, rtol=RTOL[dtype], atol=atol(dtype, rows, 2.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_prelu_keeps_nan_and_frozen_prelu_takes_no_gradient(dtype):
    net, ((alpha,),) = layer_network(dtype, [2, 2], ["prelu"], [{"trainable": False}])
    alpha[...] = 0.5
    x = np.array([[np.nan, -2.0]], dtype)
    work = _core.Workspace(net, 1, False)
    out, = _core.forward(net, work, x, True, 0)
    assert np.isnan(out[0, 0]) and out[0, 1] == -1
    assert net.params.size == 0  # alpha in state
    assert_array_equal(_core.backward(net, work, x, np.ones((1, 2), dtype), 0, True)[0, 1], 0.5)


def network_loss_gradients(kinds, units, options, acts, rng, invert=False):
    """The float64 network's analytic gradients (params, input) of sum(out * g),
    and the same by central finite differences."""
    net, views = layer_network(np.float64, units, kinds, options, acts, rng)
    for kind, layer_views in zip(kinds, views):
        if kind == "normalization":
            layer_views[0][...] = rng.normal(size=layer_views[0].shape)
            layer_views[1][...] = rng.random(layer_views[1].shape) + 0.1
    x = rng.normal(size=(5, units[0]))
    g = rng.normal(size=(5, units[-1]))
    work = _core.Workspace(net, 5, False)

    def loss():
        return float((_core.forward(net, work, x, True, 0)[-1] * g).sum())

    loss()
    dx = _core.backward(net, work, x, g, 0, need_dx=True)
    analytic = (net.grads.copy(), dx)
    return analytic, (numerical_gradient(loss, net.params, 1e-6),
                      numerical_gradient(loss, x, 1e-6))


def bn_setup(dtype, trainable=True, n=8, batch=4):
    """Dense(3 -> 4), BatchNormalization, Dense(4 -> 2) with an SGD step, MSE."""
    rng = np.random.default_rng(4)
    units, kinds = (3, 4, 4, 2), [DENSE, BN, DENSE]
    net = bn_net(units, kinds, dtype, rng, trainable=trainable)
    work = _core.Workspace(net, batch)
    objective = _core.Objective(LOSS["mse"], False, METRIC["binary_accuracy"], 0.5)
    state = optimizer_state(net, "sgd", 0.1)
    x, y = rng.normal(size=(n, 3)).astype(dtype), rng.normal(size=(n, 2)).astype(dtype)
    return net, work, objective, state, x, y


@pytest.mark.parametrize("dtype", DTYPES)
def test_moving_statistics_change_only_on_an_accepted_step(dtype):
    """The moving statistics take the batch moments of the pre-step forward pass
    after the step is applied; a batch whose loss is not finite leaves them as they were."""
    net, work, objective, state, x, y = bn_setup(dtype)
    y[4:] = 1e30 if dtype == np.float32 else 1e200  # the second batch: the loss overflows
    kernel, bias = [v.copy() for v in net.weight_views()[0]]
    _, _, mm, mv = bn_weights(net, 1)
    mean, var = reference.batch_moments((x[:4] @ kernel + bias).astype(np.float64))
    data = _core.Dataset(net, x, y, False)
    losses, metrics = np.full(2, np.nan), np.full(2, np.nan)
    done = _core.train_batches(net, work, objective, state, data, np.arange(8, dtype=np.int64),
                               4, 0, 2, losses, metrics)
    assert done == 1 and not np.isfinite(losses[1])
    _, _, new_mm, new_mv = bn_weights(net, 1)
    assert_allclose(new_mm, reference.moving_update(mm, mean, 0.9), **BN_TOL[dtype])
    assert_allclose(new_mv, reference.moving_update(mv, var, 0.9), **BN_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_frozen_batch_norm_runs_in_inference_mode(dtype):
    """trainable=False (Keras): gamma and beta are in state, the training forward
    uses the moving statistics, training changes none of the four, and dx is the
    affine map's gamma / sqrt(moving_variance + epsilon)."""
    net, work, objective, state, x, y = bn_setup(dtype, trainable=False)
    frozen = bn_weights(net, 1)
    assert (net.params.size, net.state.size) == ((3 * 4 + 4) + (4 * 2 + 2), 4 * 4)
    assert_array_equal(_core.forward(net, work, x[:4], True, 0)[-1],
                       _core.forward(net, work, x[:4], False, 0)[-1])
    data = _core.Dataset(net, x, y, False)
    losses, metrics = np.full(2, np.nan), np.full(2, np.nan)
    assert _core.train_batches(net, work, objective, state, data, np.arange(8, dtype=np.int64),
                               4, 0, 2, losses, metrics) == 2
    for before, after in zip(frozen, bn_weights(net, 1)):
        assert_array_equal(before, after)
    single = bn_net((4, 4), [BN], dtype, np.random.default_rng(5), trainable=False)
    gamma, _, _, mv = bn_weights(single, 0)
    w1 = _core.Workspace(single, 3)
    h = np.random.default_rng(6).normal(size=(3, 4)).astype(dtype)
    _core.forward(single, w1, h, True, 0)
    g = np.ones((3, 4), dtype)
    assert_allclose(_core.backward(single, w1, h, g, 0, True),
                    g * gamma / np.sqrt(mv + BN_EPSILON), **BN_TOL[dtype])


@pytest.mark.parametrize("acts", [["linear", "linear", "linear"], ["tanh", "linear", "sigmoid"]])
def test_prelu_finite_differences(acts):
    rng = np.random.default_rng(5)
    (dparams, dx), (num_params, num_x) = network_loss_gradients(
        ["dense", "prelu", "dense"], [4, 6, 6, 3], [None, None, None], acts, rng)
    assert_allclose(dparams, num_params, rtol=1e-6, atol=1e-8)
    assert_allclose(dx, num_x, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("invert", [False, True])
def test_normalization_finite_differences(invert):
    rng = np.random.default_rng(6)
    (dparams, dx), (num_params, num_x) = network_loss_gradients(
        ["normalization", "dense", "prelu", "dense"], [3, 3, 5, 5, 2],
        [{"invert": invert}, None, None, None], ["linear", "tanh", "linear", "linear"], rng)
    assert_allclose(dparams, num_params, rtol=1e-6, atol=1e-8)
    assert_allclose(dx, num_x, rtol=1e-6, atol=1e-8)
# ------------------------------------------------------------------ regularizers (issue 10)

# per layer: (activation, kernel l1, l2, bias l1, l2, activity l1, l2)
REG_LAYERS = [("tanh", 0.01, 0.02, 0.0, 0.3, 0.05, 0.0),
              ("relu", 0.0, 0.0, 0.1, 0.0, 0.02, 0.04),
              ("linear", 0.03, 0.0, 0.0, 0.0, 0.0, 0.1)]


def _regularized_net(dtype, rows, frozen=()):
    units = [5, 7, 4, 3]
    options = [{"l1": [k1, b1], "l2": [k2, b2], "activity_l1": a1, "activity_l2": a2,
                "trainable": l not in frozen}
               for l, (_, k1, k2, b1, b2, a1, a2) in enumerate(REG_LAYERS)]
    acts = [ACT[spec[0]] for spec in REG_LAYERS]
    layers = _core.layout(units, acts, [0.0] * 3, None, options)
    rng = np.random.default_rng(3)
    params = rng.normal(size=layers.n_params).astype(dtype)
    state = rng.normal(size=layers.n_state).astype(dtype)
    params[0] = 0.0  # l1's gradient at 0 is 0, as TensorFlow's sign
    net = _core.Network(units, acts, [0.0] * 3, params, np.zeros_like(params), None, options,
                        state if layers.n_state else None)
    return net, _core.Workspace(net, rows)


def _reference_penalty(net, outputs, frozen=()):
    """(penalty of the pass, per-layer weight gradients) from reference.py."""
    total, grads = 0.0, []
    for l, (views, spec) in enumerate(zip(net.weight_views(), REG_LAYERS)):
        _, k1, k2, b1, b2, a1, a2 = spec
        trained = l not in frozen
        for w, f1, f2 in zip(views, (k1, b1), (k2, b2)):
            total += reference.regularization(w, f1, f2) if trained else 0.0
            grads.append(reference.regularization_gradient(w, f1, f2))
        penalty, _ = reference.activity_regularization(outputs[l], a1, a2)
        total += penalty
    return total, grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 6])
def test_regularizers_match_reference(dtype, rows):
    """The core's penalty of a pass equals reference.py's, and with a zero loss
    gradient backward leaves exactly the penalties' gradients (activity
    gradients back-propagated through the layers)."""
    net, work = _regularized_net(dtype, rows)
    x = np.random.default_rng(4).normal(size=(rows, 5)).astype(dtype)
    outputs = _core.forward(net, work, x, True, 0)
    expected, weight_grads = _reference_penalty(net, outputs)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert _core.penalty(net, work, rows) == pytest.approx(expected, rel=tol)
    _core.backward(net, work, x, np.zeros((rows, 3), dtype), 0)
    # the last layer's kernel gradient holds its own penalty's plus its activity's through x
    a_prev, (_, _, _, _, _, a1, a2) = outputs[1], REG_LAYERS[2]
    _, d_out = reference.activity_regularization(outputs[2], a1, a2)
    views = net.weight_views()
    k_grad = net.grads[-(views[2][0].size + views[2][1].size):-views[2][1].size]
    np.testing.assert_allclose(k_grad.reshape(views[2][0].shape),
                               weight_grads[4] + a_prev.T @ d_out, rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("frozen", [(), (0,)])
def test_regularized_gradients_match_finite_differences(frozen):
    """The loss plus every penalty, differentiated numerically in float64: backward's
    gradients (a frozen layer's weights take no penalty, its output still does)."""
    rows = 4
    net, work = _regularized_net(np.float64, rows, frozen)
    rng = np.random.default_rng(5)
    x, target = rng.normal(size=(rows, 5)), rng.normal(size=(rows, 3))

    def total():
        out = _core.forward(net, work, x, True, 0)[-1]
        return 0.5 * np.sum((out - target) ** 2) / rows + _core.penalty(net, work, rows)

    out = _core.forward(net, work, x, True, 0)[-1]
    _core.backward(net, work, x, (out - target) / rows, 0)
    analytic, h = net.grads.copy(), 1e-6
    numeric = np.empty_like(analytic)
    for i in range(net.params.size):
        saved = net.params[i]
        net.params[i] = saved + h
        up = total()
        net.params[i] = saved - h
        numeric[i] = (up - total()) / (2 * h)
        net.params[i] = saved
    kink = np.abs(net.params) < 1e-4  # |w| is not differentiable at 0
    np.testing.assert_allclose(analytic[~kink], numeric[~kink], rtol=1e-5, atol=1e-7)
    expected, _ = _reference_penalty(net, _core.forward(net, work, x, True, 0), frozen)
    assert _core.penalty(net, work, rows) == pytest.approx(expected, rel=1e-12)
    assert net.layers.n_state == (net.weight_views()[0][0].size + 7 if frozen else 0)


def test_penalty_off_costs_nothing_and_changes_nothing():
    """Without factors the options are absent and the penalty is exactly 0."""
    net = _core.Network([3, 2], [ACT["relu"]], [0.0], np.ones(8), np.zeros(8))
    work = _core.Workspace(net, 2)
    _core.forward(net, work, np.ones((2, 3)), True, 0)
    assert _core.penalty(net, work, 2) == 0.0
    with pytest.raises(ValueError, match="rows"):
        _core.penalty(net, work, 3)


# ---------------------------------------------------------------- metric state (issue 11)

STATE_CASES = [  # (kind, reads labels, params)
    ("sparse_accuracy", True, {}), ("sparse_top_k", True, {"k": 2}),
    ("categorical_accuracy", False, {}), ("top_k", False, {"k": 2}),
    ("binary_accuracy", False, {"threshold": 0.5}), ("abs_error", False, {}),
    ("squared_error", False, {}), ("percent_error", False, {}),
    ("squared_log_error", False, {}),
    ("confusion", False, {"thresholds": [-1e-7, 0.25, 0.5, 0.75, 1 + 1e-7]}),
    ("confusion", False, {"thresholds": [0.5], "class_id": 1}),
    ("confusion", False, {"thresholds": [-1e10, 0.25, 0.5], "k": 2}),  # Keras' top_k
    ("confusion", False, {"thresholds": [-1e10, 0.5], "k": 1, "class_id": 2}),
    ("confusion", False, {"thresholds": [-1e-7, 0.5, 1 + 1e-7], "per_output": True}),
    ("class_counts", False, {"threshold": 0.5}), ("class_counts", False, {"threshold": math.nan}),
]


def _metric_objective(kind, labels, params, cols):
    spec = dict(params, kind=METRIC[kind], weighted=True)
    loss = LOSS["sparse_ce_logits"] if labels else LOSS["mse"]
    return _core.Objective(loss, False, 0, 0.5, metrics=[spec], outputs=cols)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, cols", [(1, 3), (7, 3), (33, 5)])
@pytest.mark.parametrize("kind, labels, params", STATE_CASES, ids=lambda v: str(v)[:20])
@pytest.mark.parametrize("weighted", [False, True])
def test_metric_state_matches_reference(kind, labels, params, dtype, rows, cols, weighted):
    rng = np.random.default_rng(rows * cols)
    out = rng.random((rows, cols)).astype(dtype)
    out[0, -1] = out[0, 0]  # a tie
    target = (rng.integers(0, cols, rows).astype(np.int32) if labels else
              (rng.random((rows, cols)) > 0.5).astype(dtype))
    weight = rng.random(rows).astype(dtype) if weighted else None
    objective = _metric_objective(kind, labels, params, cols)
    state = np.zeros(objective.metric_state_size)
    _core.update_metrics(objective, out, target, weight, state)
    _core.update_metrics(objective, out, target, weight, state)  # state accumulates
    expected = 2 * reference.metric_state(kind, out, target,
                                          None if weight is None else weight.astype(np.float64),
                                          **params)
    assert_allclose(state, expected, rtol=RTOL[dtype], atol=1e-12)


def test_metric_state_layout_and_checks():
    objective = _core.Objective(LOSS["mse"], False, 0, 0.5, outputs=4, metrics=[
        {"kind": METRIC["squared_error"]}, {"kind": METRIC["confusion"], "thresholds": [0.5] * 3},
        {"kind": METRIC["class_counts"]}])
    assert objective.metric_offsets == (0, 2, 14)
    assert objective.metric_state_size == 30
    out = np.zeros((2, 4))
    with pytest.raises(ValueError, match="at least 30 entries"):
        _core.update_metrics(objective, out, out, None, np.zeros(29))
    with pytest.raises(ValueError, match="made for 4 outputs, got 3"):
        _core.update_metrics(objective, np.zeros((2, 3)), np.zeros((2, 3)), None, np.zeros(30))
    with pytest.raises(ValueError, match="does not read the targets"):
        _core.Objective(LOSS["mse"], False, 0, 0.5, metrics=[{"kind": METRIC["sparse_top_k"]}])
    with pytest.raises(ValueError, match="class_counts metric needs outputs"):
        _core.Objective(LOSS["mse"], False, 0, 0.5, metrics=[{"kind": METRIC["class_counts"]}])
    state = np.zeros(30)
    with pytest.raises(ValueError, match="share memory"):
        _core.update_metrics(objective, state[:8].reshape(2, 4), out, None, state)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss, out_act", [("ce_logits", "softmax"), ("bce_logits", "sigmoid")])
def test_training_metric_state_is_the_batches_sum(dtype, loss, out_act):
    """train_batches adds each batch (odd sizes, the last partial) on the weights
    before its update, the fused output's probabilities for the metrics that read
    them, logits for those that do not; evaluate the same over all rows."""
    units, acts, n, batch = [4, 5, 3], ["relu", out_act], 11, 4
    s = Setup(units, acts, loss, True, dtype, n, capacity=batch, seed=5, learning_rate=0.1)
    specs = [("categorical_accuracy", False, {}), ("abs_error", True, {}),
             ("confusion", True, {"thresholds": [0.2, 0.5]})]
    s.objective = _core.Objective(LOSS[loss], True, 0, 0.5, outputs=3, metrics=[
        dict(p, kind=METRIC[k], reads_probabilities=r) for k, r, p in specs])
    order = np.arange(n, dtype=np.int64)
    expected = []
    for b in range(3):  # the reference on each batch's pre-update weights
        idx = order[b * batch:(b + 1) * batch]
        z = reference_forward(s.net.params.astype(np.float64), units, acts, s.x[idx],
                              skip_last=True)
        probs = reference.activation(z, out_act, SLOPE)
        expected.append(np.concatenate(
            [reference.metric_state(k, probs if r else z, s.y[idx], **p) for k, r, p in specs]))
        state = np.zeros(s.objective.metric_state_size)
        _core.train_batches(s.net, s.work, s.objective, s.state, s.data, order, batch, b,
                            b + 1, np.empty(1), np.empty(1), state)
        assert_allclose(state, expected[-1], **TRAIN_TOL[dtype])
    state = np.zeros(s.objective.metric_state_size)
    work = _core.Workspace(s.net, n, False, False)
    _core.evaluate(s.net, work, s.objective, s.data, state)
    z = reference_forward(s.net.params.astype(np.float64), units, acts, s.x, skip_last=True)
    probs = reference.activation(z, out_act, SLOPE)
    assert_allclose(state, np.concatenate([reference.metric_state(k, probs if r else z, s.y, **p)
                                           for k, r, p in specs]), **TRAIN_TOL[dtype])
