"""The compiled boundary: every public function and class of ``densefit._core``
driven with random, mostly broken arguments.

Each call starts from a valid argument list (random shapes, sizes 0 and 1
included, float32 or float64) and then has zero, one or two arguments
replaced: another dtype (float16, ints, bool, object, complex), another memory
layout (stepped slices, transposes, negative strides, Fortran order,
read-only), another shape or rank, a non-array (list, None, scalars, strings),
a wrong or enormous code, out-of-range labels or sample orders, or another
argument of the same call (aliasing an array that the call writes).

The property: a call either succeeds with a result of the right shape, finite
and (where an oracle exists) correct, or raises TypeError, ValueError or
MemoryError with a message; nothing else, never a crash, and a failed call
changes none of its arguments.  The regression cases at the end are the
crashes and wrong exception types this test found.
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from densefit import _core, activations, optimizers, reference

SANITIZE = bool(os.environ.get("DENSEFIT_SANITIZE_RUN"))
EXAMPLES = 40 if SANITIZE else 150
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ACT_NAMES = {code: name for name, code in _core.ACTIVATIONS.items()}
LOSS_NAMES = {code: name for name, code in _core.LOSSES.items()}
ACT_CODE = f"code:{len(ACT_NAMES)}"  # an activation code argument: [0, count) is valid
FLOATS = [np.float32, np.float64]
OTHER_DTYPES = [np.float16, np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_,
                object, np.complex128, "U3"]
ALLOWED = (TypeError, ValueError, MemoryError)
KERAS_SLOPE = activations.LEAKY_RELU_SLOPE  # Keras' defaults, where the value is not the point
KERAS_ADAM = {k: v for k, v in optimizers.Adam().get_config().items()
              if k in ("learning_rate", "beta_1", "beta_2", "epsilon")}
KERAS_RMSPROP = {k: v for k, v in optimizers.RMSprop().get_config().items()
                 if k in ("learning_rate", "rho", "epsilon")}

JUNK = [None, 0, 1, -1, 1.5, float("nan"), 2**70, -(2**70), 10**400, "abc", b"x", [],
        [[1.0, 2.0]], (), {}, np.float32(1.0), np.int64(3), np.array(2.0)]
BAD_CODES = [-1, -(2**31) - 1, 2**31, 2**32 + 1, 2**63, 2**64, -(2**64), 10**30, 1.0, 0.5,
             float("nan"), None, "1", np.float64(1.0), np.uint64(2**64 - 1), [1],
             np.array([1, 2])]
BAD_REALS = [float("nan"), float("inf"), -float("inf"), 10**400, -(10**400), "0.1", None,
             [0.1], np.array([0.1, 0.2]), object()]
BAD_INTS = [-1, 0, 2**31, 2**63, 2**64, -(2**63) - 1, 10**400, 1.5, None, "2", [2]]


# ------------------------------------------------------------------ argument makers

def _values(rng, shape, dtype, low=-2.0, high=2.0):
    return rng.uniform(low, high, size=shape).astype(dtype)


def _ref_activation(z, code, slope):
    """The oracle's activation; empty arrays stay empty (its softmax needs a column)."""
    z = np.asarray(z)
    return z.copy() if z.size == 0 else reference.activation(z, ACT_NAMES[code], slope)


def _ref_activation_backward(a, grad, code, slope):
    a = np.asarray(a)
    return np.asarray(grad).copy() if a.size == 0 else \
        reference.activation_backward(a, grad, ACT_NAMES[code], slope)


def _relayout(arr, kind):
    """``arr``'s values in another memory layout (or shape, for a transpose)."""
    if not isinstance(arr, np.ndarray) or arr.ndim == 0:
        return arr
    if kind == "step":
        return np.repeat(arr, 2, axis=-1)[..., ::2]
    if kind == "reversed":
        return arr[::-1]
    if kind == "fortran":
        return np.asfortranarray(arr)
    if kind == "transpose":
        return arr.T
    if kind == "readonly":
        out = arr.copy()
        out.flags.writeable = False
        return out
    if kind == "list":
        return arr.tolist()
    raise AssertionError(kind)


def _mutate(draw, kind, value, call_args, rng):
    """A broken (or harmless) replacement for one argument of kind ``kind``."""
    if kind.startswith("code"):
        count = int(kind.split(":")[1])
        return draw(st.sampled_from(BAD_CODES + [count, count + 1]))
    if kind == "real":
        return draw(st.sampled_from(BAD_REALS))
    if kind == "int":
        return draw(st.sampled_from(BAD_INTS))
    if kind == "object":  # a Network, Workspace, ... argument
        return draw(st.sampled_from([None, 1, "network", np.zeros(3)] +
                                    [a for a in call_args if a is not value][:3]))
    # arrays
    how = draw(st.sampled_from(["dtype", "step", "reversed", "fortran", "transpose",
                                "readonly", "list", "shape", "rank", "junk", "alias",
                                "empty", "labels"]))
    if how == "junk":
        return draw(st.sampled_from(JUNK))
    if how == "alias":
        arrays = [a for a in call_args if isinstance(a, np.ndarray)]
        return draw(st.sampled_from(arrays)) if arrays else value
    if not isinstance(value, np.ndarray):
        return value
    if how == "dtype":
        dtype = draw(st.sampled_from(OTHER_DTYPES))
        if dtype == "U3":
            return value.astype(str)
        with np.errstate(invalid="ignore", over="ignore"):  # NaN or inf cast to int
            return value.astype(dtype)
    if how in ("step", "reversed", "fortran", "transpose", "readonly", "list"):
        return _relayout(value, how)
    if how == "shape":
        shape = tuple(max(0, s + draw(st.integers(-1, 1))) for s in value.shape)
        # values >= 0: still a valid second moment should the shape not change
        return _values(rng, shape, value.dtype, 0, 2) if value.dtype.kind == "f" else \
            rng.integers(0, 3, size=shape).astype(value.dtype)
    if how == "rank":
        return value[None] if draw(st.booleans()) else value.ravel()
    if how == "empty":
        return value[:0]
    if how == "labels":  # out-of-range entries in integer arrays (labels, orders)
        out = np.array(value, copy=True)
        if out.size and out.dtype.kind in "iu":
            bad = draw(st.sampled_from([-1, 2**31 - 1, -(2**31), 10**6]))
            try:
                out.flat[draw(st.integers(0, out.size - 1))] = bad
            except (OverflowError, ValueError):
                pass
        return out
    raise AssertionError(how)


def _snapshot(args):
    return [(a, a.copy()) for a in args if isinstance(a, np.ndarray) and a.dtype != object]


def _unchanged(snapshot, skip=()):
    for arr, before in snapshot:
        if any(arr is s for s in skip):
            continue
        assert_array_equal(arr, before, err_msg="a failed call changed an argument")


def _call(fn, args):
    """``("ok", result)`` or ``("error", exception)``; any other exception propagates."""
    try:
        return "ok", fn(*args)
    except ALLOWED as e:
        assert str(e), f"{type(e).__name__} without a message"
        return "error", e


def _finite(*arrays):
    for a in arrays:
        assert np.isfinite(a).all(), "a successful call returned NaN or inf"


def _break(draw, rng, args, kinds):
    """Replace zero, one or two of ``args`` (by their kinds) with broken values."""
    args = list(args)
    n_bad = min(draw(st.sampled_from([0, 1, 1, 1, 2])), len(args))
    if n_bad:
        where = draw(st.lists(st.integers(0, len(args) - 1), min_size=n_bad, max_size=n_bad,
                              unique=True))
        for i in where:
            args[i] = _mutate(draw, kinds[i], args[i], args, rng)
    return args


def _rng(draw):
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


dims = st.integers(0, 4)
positive = st.integers(1, 4)


# ------------------------------------------------------------------ kernels

@SETTINGS
@given(st.data())
def test_activations(data):
    draw = data.draw
    rng = _rng(draw)
    dtype = draw(st.sampled_from(FLOATS))
    shape = (draw(dims), draw(dims))
    code = draw(st.integers(0, _core.ACTIVATIONS["softmax"]))
    slope = draw(st.sampled_from([0.0, 0.2, 0.3, 1]))
    z = _values(rng, shape, dtype)
    forward = draw(st.booleans())
    if forward:
        args = _break(draw, rng, [z, code, slope], ["array", ACT_CODE, "real"])
    else:
        a = _ref_activation(z, code, slope).astype(dtype)
        g = _values(rng, shape, dtype)
        args = _break(draw, rng, [a, g, code, slope], ["array", "array", ACT_CODE, "real"])
    snapshot = _snapshot(args)
    status, result = _call(_core.activation_forward if forward else _core.activation_backward,
                           args)
    _unchanged(snapshot)  # inputs are only read, whether or not the call succeeds
    if status == "ok":
        assert result.shape == args[0].shape and result.dtype == args[0].dtype
        _finite(result)
        if forward:
            want = _ref_activation(args[0], args[1], args[2])
        else:
            want = _ref_activation_backward(args[0], args[1], args[2], args[3])
        assert_allclose(result, want, rtol=1e-4, atol=1e-5)


@SETTINGS
@given(st.data())
def test_dense_forward_and_backward(data):
    draw = data.draw
    rng = _rng(draw)
    dtype = draw(st.sampled_from(FLOATS))
    rows, n_in, n_out = draw(dims), draw(dims), draw(dims)
    code = draw(st.integers(0, 5))
    slope = draw(st.sampled_from([0.0, 0.2]))
    x = _values(rng, (rows, n_in), dtype)
    kernel = _values(rng, (n_in, n_out), dtype)
    bias = _values(rng, (n_out,), dtype)
    forward = draw(st.booleans())
    if forward:
        args = _break(draw, rng, [x, kernel, bias, code, slope],
                      ["array", "array", "array", ACT_CODE, "real"])
        snapshot = _snapshot(args)
        status, out = _call(_core.dense_forward, args)
        _unchanged(snapshot)
        if status == "ok":
            assert out.shape == (args[0].shape[0], args[1].shape[1])
            _finite(out)
            want = _ref_activation(args[0] @ args[1] + args[2], args[3], args[4])
            assert_allclose(out, want, rtol=1e-4, atol=1e-5)
        return
    a = _ref_activation(x @ kernel + bias, code, slope).astype(dtype)
    grad = _values(rng, (rows, n_out), dtype)
    need_dx = draw(st.booleans())
    args = _break(draw, rng, [x, kernel, a, grad, code, slope, need_dx],
                  ["array", "array", "array", "array", ACT_CODE, "real", "bool"])
    snapshot = _snapshot(args)
    status, result = _call(_core.dense_backward, args)
    _unchanged(snapshot)
    if status == "ok":
        dw, db, dx = result
        r, i, o = args[0].shape[0], args[1].shape[0], args[1].shape[1]
        assert dw.shape == (i, o) and db.shape == (o,)
        assert (dx is None) == (not args[6])
        _finite(dw, db)
        if dx is not None:
            assert dx.shape == (r, i)
            _finite(dx)


def _target(rng, code, rows, cols, dtype):
    """A valid target for loss ``code``: labels, one-hot/soft rows, [0, 1] or any."""
    name = LOSS_NAMES[code]
    if name.startswith("sparse"):
        return rng.integers(0, max(cols, 1), rows).astype(np.int32)
    if name.startswith("ce"):
        return _ref_activation(_values(rng, (rows, cols), np.float64),
                               _core.ACTIVATIONS["softmax"], 0).astype(dtype)
    if name.startswith("bce"):
        return rng.uniform(0, 1, (rows, cols)).astype(dtype)
    return _values(rng, (rows, cols), dtype)


@SETTINGS
@given(st.data())
def test_loss_and_metric(data):
    draw = data.draw
    rng = _rng(draw)
    dtype = draw(st.sampled_from(FLOATS))
    rows, cols = draw(dims), draw(dims)
    if draw(st.booleans()):
        code = draw(st.integers(0, len(_core.LOSSES) - 1))
        name = LOSS_NAMES[code]
        out = (rng.uniform(0.01, 1, (rows, cols)).astype(dtype) if "probs" in name
               else rng.uniform(0, 20, (rows, cols)).astype(dtype) if name == "poisson"
               else _values(rng, (rows, cols), dtype, -20, 20))  # poisson: log(p), as Keras
        target = _target(rng, code, rows, cols, dtype)
        args = _break(draw, rng, [code, out, target], ["code:7", "array", "array"])
        snapshot = _snapshot(args)
        status, result = _call(_core.loss, args)
        _unchanged(snapshot)
        if status == "ok":
            value, grad = result
            if name == "poisson" and not (np.asarray(args[1]) > -1e-7).all():
                return  # log of a negative rate: NaN, as Keras' (the domain is p >= 0)
            assert np.isfinite(value)  # the core leaves target ranges to the Python layer:
            # only valid targets promise a loss >= 0; not KL divergence, whose outputs
            # here are not distributions (Keras' KLD of y=[.5, .5], p=[1, 1] is -0.69)
            if args[2] is target and name != "kld":
                assert value >= -1e-5
            assert grad.shape == args[1].shape
            _finite(grad)
        return
    code = draw(st.integers(0, len(_core.METRICS) - 1))
    sparse = code == _core.METRICS["sparse_accuracy"]
    target = _target(rng, 0 if sparse else _core.LOSSES["bce_logits"], rows, cols, dtype)
    args = _break(draw, rng, [code, _values(rng, (rows, cols), dtype), target,
                              draw(st.sampled_from([0.0, 0.5]))],
                  ["code:4", "array", "array", "real"])
    snapshot = _snapshot(args)
    status, value = _call(_core.metric, args)
    _unchanged(snapshot)
    if status == "ok":
        assert 0 <= value <= 1


@SETTINGS
@given(st.data())
def test_first_nonfinite_row_and_loss_uses_labels(data):
    draw = data.draw
    rng = _rng(draw)
    x = _values(rng, (draw(dims), draw(dims)), draw(st.sampled_from(FLOATS)))
    if x.size and draw(st.booleans()):
        x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from([np.nan, np.inf,
                                                                         -np.inf]))
    (arg,) = _break(draw, rng, [x], ["array"])
    status, row = _call(_core.first_nonfinite_row, [arg])
    if status == "ok":
        bad = np.flatnonzero(~np.isfinite(arg).all(axis=1))
        assert row == (bad[0] if len(bad) else -1)
    (code,) = _break(draw, rng, [draw(st.integers(0, 6))], ["code:7"])
    status, labels = _call(_core.loss_uses_labels, [code])
    if status == "ok":
        assert labels == LOSS_NAMES[code].startswith("sparse")


UPDATES = {
    "adam": (_core.adam_update, reference.adam_update, ["variable", "grad", "m", "v"],
             ["step", "learning_rate", "beta_1", "beta_2", "epsilon"]),
    "sgd": (_core.sgd_update, reference.sgd_update, ["variable", "grad", "velocity"],
            ["learning_rate", "momentum", "nesterov"]),
    "rmsprop": (_core.rmsprop_update, reference.rmsprop_update,
                ["variable", "grad", "mean_square"], ["learning_rate", "rho", "epsilon"]),
}
SCALARS = {"step": st.integers(1, 1000), "learning_rate": st.sampled_from([1e-3, 0.1, 1.0]),
           "beta_1": st.sampled_from([0.0, 0.9]), "beta_2": st.sampled_from([0.5, 0.999]),
           "epsilon": st.sampled_from([1e-7, 1e-3]), "momentum": st.sampled_from([0.0, 0.9]),
           "rho": st.sampled_from([0.0, 0.9]), "nesterov": st.booleans()}


@SETTINGS
@given(st.data())
def test_optimizer_updates(data):
    draw = data.draw
    rng = _rng(draw)
    name = draw(st.sampled_from(sorted(UPDATES)))
    core_fn, ref_fn, array_names, scalar_names = UPDATES[name]
    dtype = draw(st.sampled_from(FLOATS))
    shape = draw(st.sampled_from([(0,), (1,), (5,), (2, 3), (1, 1), (3, 0)]))
    arrays = [_values(rng, shape, dtype)]
    arrays += [_values(rng, shape, dtype) for _ in array_names[1:]]
    arrays[2:] = [np.abs(a) for a in arrays[2:]]  # second moments are >= 0
    scalars = [draw(SCALARS[s]) for s in scalar_names]
    kinds = ["array"] * len(arrays) + [{"step": "int", "nesterov": "bool"}.get(s, "real")
                                       for s in scalar_names]
    args = _break(draw, rng, arrays + scalars, kinds)
    if name == "sgd" and args[2] is None:
        args[2] = None  # velocity may be None when momentum is 0
    snapshot = _snapshot(args)
    before = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    status, result = _call(core_fn, args)
    if status == "error":
        _unchanged(snapshot)
        return
    assert result is None
    # success: the arrays were distinct, valid and updated exactly as the oracle does
    ref_args = [b.astype(np.float64) if isinstance(b, np.ndarray) else b for b in before]
    ref_fn(*ref_args)
    for got, want in zip(args[:len(array_names)], ref_args[:len(array_names)]):
        if isinstance(got, np.ndarray):
            _finite(got)
            assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ whole networks

def _network(draw, rng, dtype):
    units = [draw(positive) for _ in range(draw(st.integers(2, 4)))]
    acts = [draw(st.integers(0, 5)) for _ in units[1:]]
    count = _core.parameter_count(units)
    params = _values(rng, (count,), dtype, -0.5, 0.5)
    return units, acts, [0.2] * len(acts), params, np.zeros(count, dtype)


@SETTINGS
@given(st.data())
def test_network_workspace_objective_state_dataset(data):
    draw = data.draw
    rng = _rng(draw)
    dtype = draw(st.sampled_from(FLOATS))
    units, acts, slopes, params, grads = _network(draw, rng, dtype)
    which = draw(st.sampled_from(["network", "workspace", "objective", "state", "dataset"]))
    if which == "network":
        raw = [units, acts, slopes, params, grads]
        as_arrays = [np.array(units), np.array(acts), np.array(slopes), params, grads]
        args = _break(draw, rng, as_arrays, ["array"] * 5)
        args = [r if a is b else a for r, a, b in zip(raw, args, as_arrays)]
        snapshot = _snapshot(args)
        status, net = _call(_core.Network, args)
        _unchanged(snapshot)
        if status == "ok":
            assert net.units == tuple(int(u) for u in np.asarray(args[0]))
            assert net.params is args[3] and net.grads is args[4]
            assert len(net.units) >= 2 and min(net.units) >= 1
        return
    net = _core.Network(units, acts, slopes, params, grads)
    snapshot = _snapshot([params, grads])
    if which == "workspace":
        args = _break(draw, rng, [net, draw(positive), draw(st.booleans())],
                      ["object", "int", "bool"])
        status, work = _call(_core.Workspace, args)
        if status == "ok":
            assert work.capacity == args[1] and work.owner is args[0]
    elif which == "objective":
        loss = draw(st.integers(0, 6))
        sparse = LOSS_NAMES[loss].startswith("sparse")
        metric = draw(st.sampled_from([0, 1] if sparse else [0, 2, 3]))
        args = _break(draw, rng, [loss, draw(st.booleans()), metric, 0.5],
                      ["code:7", "bool", "code:4", "real"])
        status, objective = _call(_core.Objective, args)
        if status == "ok":
            assert objective.labels == LOSS_NAMES[args[0]].startswith("sparse")
    elif which == "state":
        rule = draw(st.integers(0, 2))
        momentum = draw(st.sampled_from([0.0, 0.9]))
        args = _break(draw, rng, [net, rule, 0.01, 0.9, 0.999, 1e-7, momentum, False, 0.9,
                                  draw(st.integers(0, 10**6)), *_state_arrays(rule, momentum,
                                                                              params)],
                      ["object", "code:3", "real", "real", "real", "real", "real", "bool",
                       "real", "int", "array", "array"])
        status, state = _call(_core.OptimizerState, args)
        if status == "ok":
            assert state.iterations == args[9] and state.rule == args[1]
            slots = [a for a in (state.momentums, state.velocities) if a is not None]
            assert all(a.shape == params.shape for a in slots)
            assert len(slots) < 2 or not np.shares_memory(*slots)
    else:
        labels = draw(st.booleans())
        n = draw(dims)
        x = _values(rng, (n, units[0]), dtype)
        y = (rng.integers(0, units[-1], n).astype(np.int32) if labels
             else _values(rng, (n, units[-1]), dtype))
        args = _break(draw, rng, [net, x, y, labels], ["object", "array", "array", "bool"])
        status, dataset = _call(_core.Dataset, args)
        if status == "ok":
            assert dataset.n == len(args[1])
            if dataset.labels:
                assert dataset.y.min(initial=0) >= 0
                assert dataset.y.max(initial=0) < units[-1]
    _unchanged(snapshot)  # building objects never writes the network's buffers


def _state_arrays(rule, momentum, params):
    """Zeroed (momentums, velocities) as the rule keeps them, else None."""
    sgd = _core.OPTIMIZERS["sgd"]
    return (np.zeros_like(params) if rule != _core.OPTIMIZERS["rmsprop"]
            and (rule != sgd or momentum != 0) else None,
            np.zeros_like(params) if rule != sgd else None)


def _state(net, rule, learning_rate, momentum=0.0):
    """An OptimizerState: every hyper-parameter given, Keras' defaults for the rest."""
    return _core.OptimizerState(net, rule, learning_rate, 0.9, 0.999, 1e-7, momentum, False,
                                0.9, 0, *_state_arrays(rule, momentum, net.params))


def _parts(draw, rng, dtype=None):
    """A valid Network, Workspace, Objective, OptimizerState and Dataset, configured
    as models configure them: probabilities come from a softmax or sigmoid output
    (a relu output of zeros is 0/0 under the renormalising probability losses, in
    Keras too), and only a logits loss reads a fused output's pre-activation."""
    dtype = dtype or draw(st.sampled_from(FLOATS))
    units, acts, slopes, params, grads = _network(draw, rng, dtype)
    loss = draw(st.integers(0, 6))
    name = LOSS_NAMES[loss]
    labels = name.startswith("sparse")
    output = "sigmoid" if name.startswith("bce") else "softmax"
    fused = "logits" in name and name != "mse" and draw(st.booleans())
    if "probs" in name or fused:
        acts[-1] = _core.ACTIVATIONS[output]
    net = _core.Network(units, acts, slopes, params, grads)
    metric = draw(st.sampled_from([0, 1] if labels else [0, 2, 3]))
    work = _core.Workspace(net, draw(positive), labels)
    objective = _core.Objective(loss, fused, metric, 0.5)
    state = _state(net, draw(st.integers(0, 2)), draw(st.sampled_from([1e-3, 0.05])),
                   draw(st.sampled_from([0.0, 0.9])))
    n = draw(dims)
    x = _values(rng, (n, units[0]), dtype)
    y = _target(rng, loss, n, units[-1], dtype)
    return net, work, objective, state, _core.Dataset(net, x, y, labels), x, y


@SETTINGS
@given(st.data())
def test_train_batches(data):
    draw = data.draw
    rng = _rng(draw)
    net, work, objective, state, dataset, x, y = _parts(draw, rng)
    n = dataset.n
    batch_size = draw(st.integers(1, work.capacity))
    n_batches = -(-n // batch_size)
    first = draw(st.integers(0, n_batches))
    end = draw(st.integers(first, n_batches))
    order = rng.permutation(n).astype(np.int64)
    losses, metrics = np.zeros(max(end - first, 1)), np.zeros(max(end - first, 1))
    args = _break(draw, rng, [net, work, objective, state, dataset, order, batch_size, first,
                              end, losses, metrics],
                  ["object"] * 5 + ["array", "int", "int", "int", "array", "array"])
    written = [a for a in (net.params, net.grads, state.momentums, state.velocities)
               if a is not None]
    snapshot = _snapshot(written + [order, x, y])
    iterations = state.iterations
    status, done = _call(_core.train_batches, args)
    if status == "error":
        _unchanged(snapshot)
        assert state.iterations == iterations
        return
    count = args[8] - args[7]
    assert 0 <= done <= count
    assert state.iterations == iterations + done
    _finite(np.asarray(args[9])[:done], net.params)
    _unchanged(snapshot, skip=written)  # the data and the order are only read


@SETTINGS
@given(st.data())
def test_predict_evaluate_accepts(data):
    draw = data.draw
    rng = _rng(draw)
    net, work, objective, state, dataset, x, y = _parts(draw, rng)
    snapshot = _snapshot([a for a in (net.params, net.grads, state.momentums, state.velocities,
                                      x) if a is not None])
    which = draw(st.sampled_from(["predict", "evaluate", "accepts"]))
    if which == "predict":
        args = _break(draw, rng, [net, x, draw(st.sampled_from([1, 2, 1024])),
                                  draw(st.booleans())], ["object", "array", "int", "bool"])
        status, out = _call(_core.predict, args)
        if status == "ok":
            assert out.shape == (len(args[1]), net.units[-1]) and out.dtype == net.dtype
            _finite(out)
            # batching changes only rounding: BLAS and the narrow kernels order a
            # row's sums by where it falls in a block, as every BLAS-based
            # framework does (inputs and weights here are at most 2 in size)
            tol = dict(rtol=1e-5, atol=1e-5) if net.dtype == np.float32 else \
                dict(rtol=1e-12, atol=1e-12)
            assert_allclose(out, _core.predict(net, args[1], 1), **tol)
    elif which == "evaluate":
        args = _break(draw, rng, [net, work, objective, dataset], ["object"] * 4)
        status, sums = _call(_core.evaluate, args)
        if status == "ok":
            loss_sum, metric_sum = sums
            assert np.isfinite(loss_sum) and loss_sum >= -1e-4
            assert 0 <= metric_sum <= dataset.n
    else:
        args = _break(draw, rng, [net, x], ["object", "array"])
        status, ok = _call(_core.accepts, args)
        # a question: only a network argument of the wrong type is an error
        is_network = args[0] is None or isinstance(args[0], _core.Network)
        assert status == ("ok" if is_network else "error")
        if status == "ok" and ok:  # what accepts lets through, predict must take as it is
            assert _core.predict(net, args[1], 4).shape == (len(args[1]), net.units[-1])
    _unchanged(snapshot)  # inference writes nothing it was given


# ------------------------------------------------------------------ regressions

F32 = np.float32


def _net(dtype=F32, units=(2, 3)):
    count = _core.parameter_count(units)
    return _core.Network(list(units), [0] * (len(units) - 1), [0.2] * (len(units) - 1),
                         np.full(count, 0.1, dtype), np.zeros(count, dtype))


NET = _net()
WORK = _core.Workspace(NET, 4, True)
OBJECTIVE = _core.Objective(_core.LOSSES["sparse_ce_logits"], False, 1, 0.5)
STATE = _state(NET, _core.OPTIMIZERS["adam"], 0.01)
DATA = _core.Dataset(NET, np.ones((5, 2), F32), np.array([0, 1, 2, 0, 1], np.int32), True)


def _train(**changes):
    args = dict(network=NET, work=WORK, objective=OBJECTIVE, optimizer_state=STATE, data=DATA,
                order=np.arange(5),
                batch_size=2, first_batch=0, end_batch=3, batch_loss=np.zeros(3),
                batch_metric=np.zeros(3))
    args.update(changes)
    return lambda: _core.train_batches(**args)


W, G, M, V = (np.ones(4, F32) for _ in range(4))
SLOT = np.zeros(_core.parameter_count((2, 3)), F32)
NET64 = _net(np.float64)
WORK64 = _core.Workspace(NET64, 4, True)
STATE64 = _state(NET64, _core.OPTIMIZERS["adam"], 0.01)
ADAM = (_core.OPTIMIZERS["adam"], 0.01, 0.9, 0.999, 1e-7, 0.0, False, 0.9, 0)  # rule..iterations
DATA64 = _core.Dataset(NET64, np.ones((5, 2)), np.array([0, 1, 2, 0, 1], np.int32), True)
SAME = np.zeros(4, F32)
BUFFER = np.zeros(5)

REGRESSIONS = {
    # the same array passed twice where the call writes: was accepted (wrong results)
    "adam m is v": (lambda: _core.adam_update(W, G, SAME, SAME, 1, **KERAS_ADAM), ValueError,
                    "v must not share memory"),
    "adam grad is m": (lambda: _core.adam_update(W, SAME, SAME, V, 1, **KERAS_ADAM), ValueError,
                       "m must not share memory"),
    "adam variable is grad": (lambda: _core.adam_update(W, W, M, V, 1, **KERAS_ADAM), ValueError,
                              "grad must not share memory"),
    "sgd velocity is grad": (lambda: _core.sgd_update(W, SAME, SAME, 0.01, 0.9, False), ValueError,
                             "velocity must not share memory"),
    "rmsprop mean_square is grad": (lambda: _core.rmsprop_update(W, SAME, SAME, **KERAS_RMSPROP),
                                    ValueError,
                                    "mean_square must not share memory"),
    "momentums is velocities": (lambda: _core.OptimizerState(NET, *ADAM, SLOT, SLOT),
                                ValueError, "momentums and velocities must not share memory"),
    # outputs of train_batches overlapping what it reads: a loss written into the
    # order array sent the next batch's row indices out of bounds
    "batch_loss over order": (lambda: _train(order=BUFFER.view(np.int64),
                                             batch_loss=BUFFER)(),
                              ValueError, "batch_loss must not share memory with order"),
    "batch_loss is batch_metric": (lambda: _train(batch_loss=BUFFER, batch_metric=BUFFER)(),
                                   ValueError, "batch_loss must not share memory"),
    "batch_metric is the slots": (lambda: _train(optimizer_state=STATE64,
                                                 batch_metric=STATE64.momentums,
                                                 network=NET64, work=WORK64, data=DATA64)(),
                                  ValueError, "momentums must not share memory with batch_metric"),
    # None for a typed object argument: was a segmentation fault
    "predict on None": (lambda: _core.predict(None, np.ones((1, 2), F32), 4), TypeError,
                        "network"),
    "workspace of None": (lambda: _core.Workspace(None, 4), TypeError, "network"),
    "optimizer state of None": (lambda: _core.OptimizerState(None, *ADAM, None, None), TypeError,
                                "network"),
    "dataset of None": (lambda: _core.Dataset(None, np.ones((1, 2), F32),
                                              np.zeros(1, np.int32), True), TypeError, "network"),
    "train with no optimizer state": (_train(optimizer_state=None), TypeError, "optimizer_state"),
    "train with no objective": (_train(objective=None), TypeError, "objective"),
    "evaluate with no data": (lambda: _core.evaluate(NET, WORK, OBJECTIVE, None), TypeError,
                              "data"),
    # integers beyond the C type: were OverflowError
    "activation code 2**40": (lambda: _core.dense_forward(np.ones((1, 2), F32),
                                                          np.ones((2, 3), F32),
                                                          np.ones(3, F32), 2**40, KERAS_SLOPE),
                              ValueError, rf"activation must be a code in \[0, {len(ACT_NAMES)}\)"),
    "loss code 2**64": (lambda: _core.loss(2**64, np.ones((1, 2), F32), np.zeros(1, np.int32)),
                        ValueError, "loss must be a code"),
    "loss_uses_labels 10**5000": (lambda: _core.loss_uses_labels(10**5000), ValueError,
                                  "an integer of 16610 bits"),
    "adam step 2**70": (lambda: _core.adam_update(np.ones(2), np.ones(2), np.zeros(2),
                                                  np.zeros(2), 2**70, 0.001, 0.9, 0.999, 1e-7),
                        ValueError, "step must fit in 64 bits"),
    "slope 10**400": (lambda: _core.activation_forward(np.ones((1, 2)), 4, 10**400), ValueError,
                      "slope must be a finite real number"),
    "workspace capacity 2**70": (lambda: _core.Workspace(NET, 2**70), ValueError, "capacity"),
    "workspace capacity over a C int": (lambda: _core.Workspace(NET, 2**31), ValueError,
                                        r"capacity must be in \[1, 2\*\*31 - 1\]"),
    "state iterations 2**64": (lambda: _core.OptimizerState(NET, *ADAM[:-1], 2**64, SLOT,
                                                            SLOT.copy()),
                               ValueError, "iterations"),
    "predict capacity 2**64": (lambda: _core.predict(NET, np.ones((1, 2), F32), 2**64),
                               ValueError, "capacity"),
    "train first_batch 2**64": (_train(first_batch=2**64), ValueError, "first_batch"),
    "network units 2**40": (lambda: _core.Network([2**40, 3], [0], [0.2], np.zeros(3),
                                                  np.zeros(3)), ValueError, "units"),
    "network activation 2**40": (lambda: _core.Network([2, 3], [2**40], [0.2], np.zeros(9),
                                                       np.zeros(9)), ValueError, "activations"),
    "network slope 10**400": (lambda: _core.Network([2, 3], [4], [10**400], np.zeros(9),
                                                    np.zeros(9)), (ValueError, TypeError),
                              "slopes"),
    # floats where integers belong: were silently truncated
    "activation code 1.5": (lambda: _core.activation_forward(np.ones((1, 2)), 1.5, KERAS_SLOPE),
                            TypeError,
                            "activation must be an integer"),
    "network units 2.5": (lambda: _core.Network([2.5, 3], [0], [0.2], np.zeros(9),
                                                np.zeros(9)), TypeError, "units"),
    "train batch_size 2.0": (_train(batch_size=2.0), TypeError, "batch_size"),
    # non-finite hyper-parameters: were accepted (NaN weights)
    "adam learning_rate nan": (lambda: _core.adam_update(np.ones(2), np.ones(2), np.zeros(2),
                                                         np.zeros(2), 1, float("nan"), 0.9,
                                                         0.999, 1e-7),
                               ValueError, "learning_rate must be a finite"),
    "state epsilon inf": (lambda: _core.OptimizerState(NET, _core.OPTIMIZERS["adam"], 0.1, 0.9,
                                                       0.999, float("inf"), 0.0, False, 0.9, 0,
                                                       SLOT, SLOT.copy()),
                          ValueError, "epsilon"),
    "objective threshold inf": (lambda: _core.Objective(0, False, 0, float("inf")), ValueError,
                                "threshold"),
    "network slope inf": (lambda: _core.Network([2, 3], [4], [float("inf")], np.zeros(9),
                                                np.zeros(9)), ValueError, "slopes"),
}


@pytest.mark.parametrize("call, error, match", REGRESSIONS.values(), ids=REGRESSIONS.keys())
def test_regressions(call, error, match):
    params = NET.params.copy()
    with pytest.raises(error, match=match):
        call()
    assert_array_equal(NET.params, params)


def test_failed_update_leaves_the_arrays_alone():
    w, m = np.ones(4, F32), np.zeros(4, F32)
    with pytest.raises(ValueError):
        _core.adam_update(w, np.ones(4, F32), m, m, 1, **KERAS_ADAM)
    assert_array_equal(w, 1) and assert_array_equal(m, 0)


def test_network_keeps_its_own_copy_of_units_and_codes():
    """Changing the caller's units after the checks cannot make C index past a buffer."""
    units = np.array([2, 3], np.int32)
    acts = np.array([1], np.int32)
    net = _core.Network(units, acts, np.array([0.2]), np.full(9, 0.1, F32), np.zeros(9, F32))
    units[1], acts[0] = 10**6, 99
    assert net.units == (2, 3)
    out = _core.predict(net, np.ones((2, 2), F32), 4)
    assert out.shape == (2, 3)
    assert_allclose(out, np.full((2, 3), 0.3), rtol=1e-6)  # relu(1*0.1*2 + 0.1)


def test_dataset_keeps_its_own_copy_of_the_labels():
    """Labels changed after the Dataset checked them are not what C indexes with."""
    labels = np.array([0, 1, 2, 0, 1], np.int32)
    net = _net()
    data = _core.Dataset(net, np.ones((5, 2), F32), labels, True)
    labels[:] = 10**6
    work = _core.Workspace(net, 5, True)
    objective = _core.Objective(_core.LOSSES["sparse_ce_logits"], False, 1, 0.5)
    state = _state(net, _core.OPTIMIZERS["sgd"], 0.1)
    losses = np.zeros(1)
    assert _core.train_batches(net, work, objective, state, data, np.arange(5), 5, 0, 1, losses,
                               np.zeros(1)) == 1
    assert np.isfinite(losses[0]) and losses[0] == pytest.approx(np.log(3), rel=1e-5)
    assert data.y.tolist() == [0, 1, 2, 0, 1]


def test_keyword_names_are_unchanged():
    """The scalar checks kept the public argument names."""
    x, k, b = np.ones((1, 2)), np.ones((2, 3)), np.zeros(3)
    assert _core.dense_forward(x, k, b, activation=4, slope=0.3).shape == (1, 3)
    assert _core.metric(code=3, out=np.ones((1, 1)), target=np.ones((1, 1)), threshold=0.5) == 1
    w = np.ones(2)
    _core.adam_update(w, np.ones(2), np.zeros(2), np.zeros(2), step=1, learning_rate=0.1,
                      beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    _core.sgd_update(w, np.ones(2), np.zeros(2), learning_rate=0.1, momentum=0.5, nesterov=True)
    _core.rmsprop_update(w, np.ones(2), np.zeros(2), learning_rate=0.1, rho=0.9, epsilon=1e-7)
    assert np.isfinite(w).all()
    assert _core.predict(NET, np.ones((1, 2), F32), capacity=2, check_finite=True).shape == (1, 3)
