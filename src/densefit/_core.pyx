# cython: language_level=3
"""The thin layer over csrc/: it checks every argument, then calls the C kernels
with the GIL released.  Nothing here converts silently: a wrong dtype, shape,
order or label is a TypeError or ValueError that names the argument.

Kernel functions (``dense_forward`` ...) serve tests, benchmarks and the
Python-level activations; ``Network``, ``Workspace``, ``Trainer`` and
``Dataset`` hold the C structs that ``train_batches``, ``predict`` and
``evaluate`` run a whole network with.
"""
cimport numpy as cnp
import operator

import numpy as np
from cpython.float cimport PyFloat_AsDouble
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport malloc, free
from libc.math cimport isfinite
from scipy.linalg.cython_blas cimport sgemm, dgemm

cnp.import_array()
df_set_blas(<df_sgemm_fn>sgemm, <df_dgemm_fn>dgemm)

ctypedef const char *(*_name_fn)(int) noexcept nogil


cdef dict _names(_name_fn name, int count):
    """``{name: code}`` for codes [0, count), named by csrc/ (common.c)."""
    table = {}
    for code in range(count):
        if name(code) == NULL:  # a code added to densefit.h but not named in common.c
            raise ImportError(f"csrc/ names no code {code} of {count}")
        table[name(code).decode()] = code
    return table


# The codes and their names are defined in csrc/ alone; these tables only look them up.
ACTIVATIONS = _names(df_activation_name, DF_N_ACTIVATIONS)
LOSSES = _names(df_loss_name, DF_N_LOSSES)
METRICS = _names(df_metric_name, DF_N_METRICS)
OPTIMIZERS = _names(df_optimizer_rule_name, DF_N_OPTIMIZERS)

MAX_ROWS = DF_MAX_ROWS  # 2**31 - 1: the kernels and BLAS take a batch's rows as a C int


def set_narrow_kernels(enabled):
    """Use (True, the default) or bypass the AVX-512 kernels for float32 layers of
    at most 32 outputs; BLAS does every product when bypassed.  Returns whether
    they are in use: False on a CPU without AVX-512.  Not thread-safe: for tests
    and benchmarks that compare the two paths."""
    return bool(df_set_narrow(1 if enabled else 0))


def loss_uses_labels(loss):
    """Whether loss code ``loss`` takes int32 labels rather than a dense target."""
    return bool(df_loss_uses_labels(_code(loss, DF_N_LOSSES, "loss")))


# Scalars are converted here, not by Cython's argument conversion: that raises
# OverflowError for an integer too large for the C type and truncates floats
# passed for ints.  These raise TypeError (not a number of that kind) or
# ValueError (out of range) naming the argument.
_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1


cdef str _show_int(object value):
    # str() of an integer over 4300 digits is itself a ValueError in Python >= 3.11
    return str(value) if -10**30 < value < 10**30 else f"an integer of {value.bit_length()} bits"


cdef object _index(object value, str name):
    """``value`` as a Python int (int, NumPy integer or bool); a float, None or a
    string is a TypeError."""
    if type(value) is int:
        return value
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None


cdef int _code(object code, int count, str name) except -1:
    """An activation, loss, metric or optimizer code: an integer in [0, count)."""
    value = _index(code, name)
    if not 0 <= value < count:
        raise ValueError(f"{name} must be a code in [0, {count}), got {_show_int(value)}")
    return value


cdef int64_t _int64(object value, str name) except? -1:
    v = _index(value, name)
    if not _INT64_MIN <= v <= _INT64_MAX:
        raise ValueError(f"{name} must fit in 64 bits, got {_show_int(v)}")
    return v


cdef double _real(object value, str name) except? -1.0:
    """``value`` as a finite C double (a hyper-parameter): NaN, inf or an integer
    beyond float64's range is a ValueError."""
    cdef double v
    try:
        v = PyFloat_AsDouble(value)
    except OverflowError:
        raise ValueError(f"{name} must be a finite real number, got an integer beyond "
                         f"float64's range") from None
    except TypeError:
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}") from None
    if not isfinite(v):
        raise ValueError(f"{name} must be a finite real number, got {v}")
    return v


cdef object _float_array(object a, str name, int ndim, object dtype, bint writeable):
    """``a`` itself if it is a C-contiguous float32/float64 ndarray of rank ``ndim``."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != np.float32 and a.dtype != np.float64:
        raise TypeError(f"{name} must have dtype float32 or float64, got {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)} like the other arrays, "
                        f"got {a.dtype}")
    if ndim >= 0 and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if writeable and not a.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    for size in a.shape:
        if size > MAX_ROWS:
            raise ValueError(f"{name} has a dimension over 2**31 - 1: {a.shape}")
    return a


cdef double _slope(object value) except? -1.0:
    # leaky_relu's derivative is read from its output: that needs sign(a) == sign(z)
    cdef double slope = _real(value, "slope")
    if not slope >= 0:
        raise ValueError(f"slope must be >= 0 (leaky_relu's negative slope), got {slope}")
    return slope


cdef _check_shape(object a, str name, tuple shape):
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")


cdef object _labels(object labels, str name, int64_t rows, int64_t classes):
    """int32 labels of length rows, every one in [0, classes): checked, since C indexes with them."""
    if not isinstance(labels, np.ndarray) or labels.dtype != np.int32:
        raise TypeError(f"{name} must be an int32 numpy.ndarray of labels, got "
                        f"{getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.ndim != 1 or labels.shape[0] != rows or not labels.flags.c_contiguous:
        raise ValueError(f"{name} must be a contiguous 1-d array of {rows} labels, "
                         f"got shape {labels.shape}")
    if rows > 0:
        low, high = labels.min(), labels.max()
        if low < 0 or high >= classes:
            bad = int(low) if low < 0 else int(high)
            raise ValueError(f"{name} must be class indices in [0, {classes}), got {bad}")
    return labels


cdef object _target(int loss, object target, str name, object out):
    """The target for ``out`` under ``loss``: labels or a dense matrix like ``out``."""
    if df_loss_uses_labels(loss):
        return _labels(target, name, out.shape[0], out.shape[1])
    t = _float_array(target, name, 2, out.dtype, False)
    _check_shape(t, name, out.shape)
    return t


cdef inline void *_data(object a):
    return cnp.PyArray_DATA(<cnp.ndarray>a)


# ---------------------------------------------------------------- kernels

def activation_forward(z, activation, slope=0.2):
    """``activation`` applied to the rows of 2-d ``z``; a new array."""
    cdef int act = _code(activation, DF_N_ACTIVATIONS, "activation")
    cdef double slp = _slope(slope)
    a = _float_array(z, "z", 2, None, False).copy()
    cdef int64_t rows = a.shape[0], cols = a.shape[1]
    if cols == 0 and act == DF_SOFTMAX:
        return a
    cdef void *p_a = _data(a)
    if a.dtype == np.float64:
        with nogil:
            df_activation_forward_f64(act, slp, <double *>p_a, rows, cols)
    else:
        with nogil:
            df_activation_forward_f32(act, slp, <float *>p_a, rows, cols)
    return a


def activation_backward(a, grad, activation, slope=0.2):
    """dL/dz from the activation's output ``a`` and dL/da ``grad``; a new array."""
    cdef int act = _code(activation, DF_N_ACTIVATIONS, "activation")
    cdef double slp = _slope(slope)
    a = _float_array(a, "a", 2, None, False)
    g = _float_array(grad, "grad", 2, a.dtype, False).copy()
    _check_shape(g, "grad", a.shape)
    cdef int64_t rows = a.shape[0], cols = a.shape[1]
    cdef void *p_a = _data(a)
    cdef void *p_g = _data(g)
    if a.dtype == np.float64:
        with nogil:
            df_activation_backward_f64(act, slp, <double *>p_a,
                                       <double *>p_g, rows, cols)
    else:
        with nogil:
            df_activation_backward_f32(act, slp, <float *>p_a,
                                       <float *>p_g, rows, cols)
    return g


def dense_forward(x, kernel, bias, activation=DF_LINEAR, slope=0.2):
    """``activation(x @ kernel + bias)`` for x (rows, n_in), kernel (n_in, n_out)."""
    cdef int act = _code(activation, DF_N_ACTIVATIONS, "activation")
    cdef double slp = _slope(slope)
    x = _float_array(x, "x", 2, None, False)
    w = _float_array(kernel, "kernel", 2, x.dtype, False)
    b = _float_array(bias, "bias", 1, x.dtype, False)
    cdef int rows = x.shape[0], n_in = w.shape[0], n_out = w.shape[1]
    if x.shape[1] != n_in:
        raise ValueError(f"x must have {n_in} columns to match kernel {w.shape}, "
                         f"got shape {x.shape}")
    _check_shape(b, "bias", (n_out,))
    if n_out == 0 and act == DF_SOFTMAX:
        return np.empty((rows, 0), x.dtype)
    out = np.empty((rows, n_out), x.dtype)
    cdef void *p_x = _data(x)
    cdef void *p_w = _data(w)
    cdef void *p_b = _data(b)
    cdef void *p_out = _data(out)
    if x.dtype == np.float64:
        with nogil:
            df_dense_forward_f64(<double *>p_x, <double *>p_w, <double *>p_b,
                                 <double *>p_out, rows, n_in, n_out, act, slp)
    else:
        with nogil:
            df_dense_forward_f32(<float *>p_x, <float *>p_w, <float *>p_b,
                                 <float *>p_out, rows, n_in, n_out, act, slp)
    return out


def dense_backward(x, kernel, a, grad, activation=DF_LINEAR, slope=0.2,
                   bint need_dx=True):
    """Gradients ``(d_kernel, d_bias, d_x)`` of a Dense layer from its input ``x``,
    its output ``a`` and dL/da ``grad``; ``d_x`` is None unless ``need_dx``."""
    cdef int act = _code(activation, DF_N_ACTIVATIONS, "activation")
    cdef double slp = _slope(slope)
    x = _float_array(x, "x", 2, None, False)
    w = _float_array(kernel, "kernel", 2, x.dtype, False)
    a = _float_array(a, "a", 2, x.dtype, False)
    g = _float_array(grad, "grad", 2, x.dtype, False).copy()
    cdef int rows = x.shape[0], n_in = w.shape[0], n_out = w.shape[1]
    _check_shape(x, "x", (rows, n_in))
    _check_shape(a, "a", (rows, n_out))
    _check_shape(g, "grad", (rows, n_out))
    dw, db = np.empty((n_in, n_out), x.dtype), np.empty(n_out, x.dtype)
    dx = np.empty((rows, n_in), x.dtype) if need_dx else None
    cdef void *dx_ptr = _data(dx) if need_dx else NULL
    cdef void *p_x = _data(x)
    cdef void *p_w = _data(w)
    cdef void *p_a = _data(a)
    cdef void *p_g = _data(g)
    cdef void *p_dw = _data(dw)
    cdef void *p_db = _data(db)
    if x.dtype == np.float64:
        with nogil:
            df_dense_backward_f64(<double *>p_x, <double *>p_w, <double *>p_a,
                                  <double *>p_g, <double *>p_dw, <double *>p_db,
                                  <double *>dx_ptr, rows, n_in, n_out, act, slp)
    else:
        with nogil:
            df_dense_backward_f32(<float *>p_x, <float *>p_w, <float *>p_a,
                                  <float *>p_g, <float *>p_dw, <float *>p_db,
                                  <float *>dx_ptr, rows, n_in, n_out, act, slp)
    return dw, db, dx


def loss(code, out, target):
    """``(mean loss, gradient)`` of loss ``code`` for ``out`` (rows, cols): the
    mean over rows of each row's loss, and its gradient with respect to ``out``."""
    cdef int c_code = _code(code, DF_N_LOSSES, "loss")
    out = _float_array(out, "out", 2, None, False)
    t = _target(c_code, target, "target", out)
    cdef int64_t rows = out.shape[0], cols = out.shape[1]
    if cols == 0:
        raise ValueError(f"out must have at least one column, got shape {out.shape}")
    grad = np.empty_like(out)
    cdef double total
    cdef void *p_out = _data(out)
    cdef void *p_t = _data(t)
    cdef void *p_grad = _data(grad)
    if out.dtype == np.float64:
        with nogil:
            total = df_loss_f64(c_code, <double *>p_out, p_t, <double *>p_grad,
                                rows, cols)
    else:
        with nogil:
            total = df_loss_f32(c_code, <float *>p_out, p_t, <float *>p_grad,
                                rows, cols)
    return (total / rows if rows else 0.0), grad


def metric(code, out, target, threshold=0.5):
    """The mean over rows of metric ``code`` (an accuracy) for ``out`` against ``target``."""
    cdef int c_code = _code(code, DF_N_METRICS, "metric")
    cdef double c_threshold = _real(threshold, "threshold")
    out = _float_array(out, "out", 2, None, False)
    loss_code = DF_LOSS_SPARSE_CE_LOGITS if c_code == DF_METRIC_SPARSE_ACCURACY else DF_LOSS_MSE
    t = _target(loss_code, target, "target", out)
    cdef int64_t rows = out.shape[0], cols = out.shape[1]
    if cols == 0:
        raise ValueError(f"out must have at least one column, got shape {out.shape}")
    cdef double hits
    cdef void *p_out = _data(out)
    cdef void *p_t = _data(t)
    if out.dtype == np.float64:
        with nogil:
            hits = df_metric_f64(c_code, c_threshold, <double *>p_out, p_t, rows, cols)
    else:
        with nogil:
            hits = df_metric_f32(c_code, c_threshold, <float *>p_out, p_t, rows, cols)
    return hits / rows if rows else 0.0


def first_nonfinite_row(x):
    """Index of the first row of 2-d ``x`` holding NaN or inf, or -1: one pass, no temporary."""
    x = _float_array(x, "x", 2, None, False)
    cdef int64_t rows = x.shape[0], cols = x.shape[1], bad
    cdef void *p_x = _data(x)
    if x.dtype == np.float64:
        with nogil:
            bad = df_first_nonfinite_f64(<double *>p_x, rows, cols)
    else:
        with nogil:
            bad = df_first_nonfinite_f32(<float *>p_x, rows, cols)
    return bad


cdef _check_update(object w, list others, list names):
    for arr, name in zip(others, names):
        _float_array(arr, name, -1, w.dtype, name != "grad")
        if arr.shape != w.shape:
            raise ValueError(f"{name} must have the variable's shape {w.shape}, got {arr.shape}")
    # every pair, the same object passed twice included (adam_update(w, g, m, m))
    arrays, all_names = [w] + others, ["variable"] + names
    for i in range(1, len(arrays)):
        for j in range(i):
            if np.shares_memory(arrays[i], arrays[j]):
                raise ValueError(f"{all_names[i]} must not share memory with the other arrays "
                                 f"(it overlaps {all_names[j]})")


def adam_update(variable, grad, m, v, step, learning_rate=1e-3, beta_1=0.9, beta_2=0.999,
                epsilon=1e-7):
    """One Keras-3 Adam step, in place on ``variable``, ``m`` and ``v``; ``step`` is 1-based."""
    cdef int64_t c_step = _int64(step, "step")
    cdef double lr = _real(learning_rate, "learning_rate"), b1 = _real(beta_1, "beta_1")
    cdef double b2 = _real(beta_2, "beta_2"), eps = _real(epsilon, "epsilon")
    w = _float_array(variable, "variable", -1, None, True)
    _check_update(w, [grad, m, v], ["grad", "m", "v"])
    if c_step < 1:
        raise ValueError(f"step must be >= 1 (it is 1-based), got {c_step}")
    cdef int64_t n = w.size
    cdef void *p_w = _data(w)
    cdef void *p_grad = _data(grad)
    cdef void *p_m = _data(m)
    cdef void *p_v = _data(v)
    if w.dtype == np.float64:
        with nogil:
            df_adam_f64(<double *>p_w, <double *>p_grad, <double *>p_m,
                        <double *>p_v, n, lr, b1, b2, eps, c_step)
    else:
        with nogil:
            df_adam_f32(<float *>p_w, <float *>p_grad, <float *>p_m,
                        <float *>p_v, n, lr, b1, b2, eps, c_step)


def sgd_update(variable, grad, velocity=None, learning_rate=0.01, momentum=0.0,
               bint nesterov=False):
    """One Keras SGD step in place (``velocity`` is needed when ``momentum`` is not 0)."""
    cdef double lr = _real(learning_rate, "learning_rate"), mu = _real(momentum, "momentum")
    w = _float_array(variable, "variable", -1, None, True)
    if mu != 0 and velocity is None:
        raise ValueError("velocity is required when momentum is not 0")
    _check_update(w, [grad] + ([velocity] if velocity is not None else []),
                  ["grad", "velocity"][:1 + (velocity is not None)])
    cdef int64_t n = w.size
    cdef void *vel = _data(velocity) if velocity is not None else NULL
    cdef void *p_w = _data(w)
    cdef void *p_grad = _data(grad)
    if w.dtype == np.float64:
        with nogil:
            df_sgd_f64(<double *>p_w, <double *>p_grad, <double *>vel, n, lr, mu, nesterov)
    else:
        with nogil:
            df_sgd_f32(<float *>p_w, <float *>p_grad, <float *>vel, n, lr, mu, nesterov)


def rmsprop_update(variable, grad, mean_square, learning_rate=1e-3, rho=0.9, epsilon=1e-7):
    """One Keras RMSprop step (no momentum, not centered) in place."""
    cdef double lr = _real(learning_rate, "learning_rate"), c_rho = _real(rho, "rho")
    cdef double eps = _real(epsilon, "epsilon")
    w = _float_array(variable, "variable", -1, None, True)
    _check_update(w, [grad, mean_square], ["grad", "mean_square"])
    cdef int64_t n = w.size
    cdef void *p_w = _data(w)
    cdef void *p_grad = _data(grad)
    cdef void *p_ms = _data(mean_square)
    if w.dtype == np.float64:
        with nogil:
            df_rmsprop_f64(<double *>p_w, <double *>p_grad, <double *>p_ms, n, lr, c_rho, eps)
    else:
        with nogil:
            df_rmsprop_f32(<float *>p_w, <float *>p_grad, <float *>p_ms, n, lr, c_rho, eps)


# ---------------------------------------------------------------- whole networks

def parameter_count(units):
    """Entries of the flat parameter buffer for Dense layers of these sizes."""
    return sum(units[i] * units[i + 1] + units[i + 1] for i in range(len(units) - 1))


cdef object _int_list(object values, str name):
    """A 1-d int64 copy of a list of integers (never narrowed, never a float truncated)."""
    try:
        arr = np.asarray(values)
    except (OverflowError, TypeError, ValueError):  # ragged lists, ints beyond 64 bits
        raise ValueError(f"{name} must be a list of integers") from None
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise TypeError(f"{name} must be a 1-d list of integers, got dtype {arr.dtype} "
                        f"and shape {arr.shape}")
    if arr.dtype.kind == "u" and arr.size and arr.max() > _INT64_MAX:
        raise ValueError(f"{name} holds an integer beyond 64 bits")
    return np.array(arr, dtype=np.int64, order="C")


cdef class Network:
    """A stack of Dense layers over one flat parameter buffer (kernel then bias per
    layer, Keras' shapes) and a gradient buffer of the same layout."""
    cdef df_net net
    cdef object _units, _activation, _slope
    cdef readonly object params, grads
    cdef readonly object dtype
    cdef int typenum

    def __cinit__(self, units, activations, slopes, params, grads):
        units_arr = _int_list(units, "units")
        n_layers = len(units_arr) - 1
        if n_layers < 1 or (units_arr < 1).any() or (units_arr > MAX_ROWS).any():
            raise ValueError(f"units must list at least two sizes in [1, 2**31 - 1], "
                             f"got {units_arr.tolist()}")
        act = _int_list(activations, "activations")
        _check_shape(act, "activations", (n_layers,))
        if (act < 0).any() or (act >= DF_N_ACTIVATIONS).any():
            raise ValueError(f"activations must be codes in [0, {DF_N_ACTIVATIONS}), got {act}")
        slope = np.asarray(slopes)
        if slope.dtype.kind not in "iuf":
            raise TypeError(f"slopes must be real numbers, got dtype {slope.dtype}")
        slope = np.array(slope, dtype=np.float64, order="C")  # a private copy
        _check_shape(slope, "slopes", (n_layers,))
        if not ((slope >= 0) & (slope < np.inf)).all():  # NaN too
            raise ValueError(f"slopes must be finite and >= 0, got {slope}")
        units_arr, act = units_arr.astype(np.int32), act.astype(np.int32)
        for a in (units_arr, act, slope):
            a.flags.writeable = False
        count = parameter_count([int(u) for u in units_arr])
        self.params = _float_array(params, "params", 1, None, True)
        self.grads = _float_array(grads, "grads", 1, self.params.dtype, True)
        _check_shape(self.params, "params", (count,))
        _check_shape(self.grads, "grads", (count,))
        if np.shares_memory(self.params, self.grads):
            raise ValueError("params and grads must not share memory")
        self._units, self._activation, self._slope = units_arr, act, slope
        self.dtype = self.params.dtype
        self.typenum = cnp.NPY_DOUBLE if self.dtype == np.float64 else cnp.NPY_FLOAT
        self.net.n_layers = n_layers
        self.net.units = <const int *>_data(units_arr)
        self.net.activation = <const int *>_data(act)
        self.net.slope = <const double *>_data(slope)
        self.net.params = _data(self.params)
        self.net.grads = _data(self.grads)
        self.net.n_params = count

    @property
    def units(self):
        return tuple(int(u) for u in self._units)


cdef class Workspace:
    """Buffers for batches of up to ``capacity`` rows, allocated once and reused.

    A training workspace (the default) holds what ``train_batches`` needs: the
    gathered batch, its targets (int32 labels or dense), two gradient buffers
    and an activation buffer per layer.  ``training=False`` makes one for
    ``evaluate`` alone, with only the activation buffers (evaluate reads x and
    the targets in place and computes no gradient); ``train_batches`` refuses it."""
    cdef df_work work
    cdef list _buffers
    cdef readonly int64_t capacity
    cdef readonly bint labels
    cdef readonly bint training
    cdef readonly object owner

    def __cinit__(self, Network network not None, capacity, bint labels=False,
                  bint training=True):
        capacity = _int64(capacity, "capacity")
        if not 1 <= capacity <= MAX_ROWS:  # the kernels take a batch's rows as a C int
            raise ValueError(f"capacity must be in [1, 2**31 - 1], got {capacity}")
        units = network.units
        dtype = network.dtype
        self.owner = network
        self.capacity = capacity
        self.labels = labels
        self.training = training
        self.work.act = <void **>malloc(sizeof(void *) * len(units))
        if self.work.act == NULL:
            raise MemoryError()
        self._buffers = [np.empty((capacity, u), dtype) for u in units[1:]]
        for i in range(len(units) - 1):
            self.work.act[i] = _data(self._buffers[i])
        self.work.capacity = capacity
        self.work.x = self.work.y = self.work.grad_a = self.work.grad_b = NULL
        if not training:
            return
        # the gradient buffers hold dL/d(a layer's output), then dL/d(its input) for
        # every layer but the first (whose input gradient is never computed):
        # units[1:] bound both
        widest = max(units[1:])
        buffers = [np.empty((capacity, units[0]), dtype),
                   np.empty(capacity, np.int32) if labels
                   else np.empty((capacity, units[-1]), dtype),
                   np.empty((capacity, widest), dtype),
                   np.empty((capacity, widest), dtype)]
        self._buffers += buffers
        self.work.x = _data(buffers[0])
        self.work.y = _data(buffers[1])
        self.work.grad_a = _data(buffers[2])
        self.work.grad_b = _data(buffers[3])

    @property
    def nbytes(self):
        """The bytes of all its buffers."""
        return sum(b.nbytes for b in self._buffers)

    def __dealloc__(self):
        free(self.work.act)


cdef class Trainer:
    """What the compiled loop needs to know to train: loss, metric, optimizer and
    the optimizer's state (``slot_1``: Adam's m or SGD's velocity; ``slot_2``: Adam's v)."""
    cdef df_train train
    cdef readonly object slot_1, slot_2
    cdef readonly object owner

    def __cinit__(self, Network network not None, loss, bint fused_output, metric,
                  threshold, optimizer, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                  momentum=0.0, bint nesterov=False, iterations=0, slot_1=None, slot_2=None,
                  rho=0.9):
        loss = _code(loss, DF_N_LOSSES, "loss")
        metric = _code(metric, DF_N_METRICS, "metric")
        optimizer = _code(optimizer, DF_N_OPTIMIZERS, "optimizer")
        iterations = _int64(iterations, "iterations")
        self.train.threshold = _real(threshold, "threshold")
        self.train.learning_rate = _real(learning_rate, "learning_rate")
        self.train.beta_1 = _real(beta_1, "beta_1")
        self.train.beta_2 = _real(beta_2, "beta_2")
        self.train.epsilon = _real(epsilon, "epsilon")
        self.train.momentum = _real(momentum, "momentum")
        self.train.rho = _real(rho, "rho")
        if metric != DF_METRIC_NONE and (metric == DF_METRIC_SPARSE_ACCURACY) != bool(
                df_loss_uses_labels(loss)):
            raise ValueError("metric and loss must read the same kind of target "
                             "(labels for sparse accuracy, dense otherwise)")
        if iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations}")
        shape = (network.net.n_params,)
        self.slot_1 = (_float_array(slot_1, "slot_1", 1, network.dtype, True)
                       if slot_1 is not None else np.zeros(shape, network.dtype))
        self.slot_2 = (_float_array(slot_2, "slot_2", 1, network.dtype, True)
                       if slot_2 is not None else np.zeros(shape, network.dtype))
        _check_shape(self.slot_1, "slot_1", shape)
        _check_shape(self.slot_2, "slot_2", shape)
        for s in (self.slot_1, self.slot_2):
            if np.shares_memory(s, network.params) or np.shares_memory(s, network.grads):
                raise ValueError("optimizer slots must not share memory with the network")
        if np.shares_memory(self.slot_1, self.slot_2):  # the same array twice included
            raise ValueError("slot_1 and slot_2 must not share memory")
        self.owner = network
        self.train.loss = loss
        self.train.fused_output = fused_output
        self.train.metric = metric
        self.train.optimizer = optimizer
        self.train.nesterov = nesterov
        self.train.iterations = iterations
        self.train.slot_1 = _data(self.slot_1)
        self.train.slot_2 = _data(self.slot_2)

    @property
    def iterations(self):
        return self.train.iterations

    @property
    def labels(self):
        return bool(df_loss_uses_labels(self.train.loss))


cdef class Dataset:
    """Inputs and targets checked once against a network: x (n, units[0]) and int32
    labels in range, or dense targets (n, units[-1]), all C-contiguous."""
    cdef readonly object x, y
    cdef readonly int64_t n
    cdef readonly bint labels

    def __cinit__(self, Network network not None, x, y, bint labels, bint copy=True):
        units = network.units
        self.x = _float_array(x, "x", 2, network.dtype, False)
        _check_shape(self.x, "x", (self.x.shape[0], units[0]))
        self.n = self.x.shape[0]
        self.labels = labels
        # labels are checked on a private copy, since C indexes with them; copy=False
        # when the caller made y for this Dataset alone (fit's conversion to int32)
        if labels:
            self.y = _labels(y.copy() if copy and isinstance(y, np.ndarray) else y, "y", self.n,
                             units[-1])
        else:
            self.y = _float_array(y, "y", 2, network.dtype, False)
            _check_shape(self.y, "y", (self.n, units[-1]))


cdef bint _overlap(object a, object b):
    """Whether two C-contiguous arrays' bytes overlap: an interval test, cheap per call."""
    cdef char *pa = <char *>_data(a)
    cdef char *pb = <char *>_data(b)
    cdef Py_ssize_t na = cnp.PyArray_NBYTES(<cnp.ndarray>a)
    cdef Py_ssize_t nb = cnp.PyArray_NBYTES(<cnp.ndarray>b)
    return na > 0 and nb > 0 and pa < pb + nb and pb < pa + na


cdef _check_parts(Network network, Workspace work, Trainer trainer, Dataset data):
    if work.owner is not network or (trainer is not None and trainer.owner is not network):
        raise ValueError("workspace and trainer must belong to the network")
    if data.x.dtype != network.dtype:
        raise TypeError("data must have the network's dtype")
    if data.x.shape[1] != network.units[0]:
        raise ValueError("data does not match the network's input size")
    if trainer is not None and data.labels != trainer.labels:
        raise ValueError("data targets are not the kind the trainer's loss reads")


def train_batches(Network network not None, Workspace work not None, Trainer trainer not None,
                  Dataset data not None, order, batch_size, first_batch, end_batch,
                  batch_loss, batch_metric):
    """Trains batches [first_batch, end_batch) of an epoch with sample order ``order``.
    Writes each batch's mean loss and metric; returns how many batches were applied
    (fewer when a loss is not finite, or when the optimizer's step would make a
    parameter or slot NaN or inf: that batch's update is not applied)."""
    _check_parts(network, work, trainer, data)
    if not work.training:
        raise ValueError("work must be a training Workspace: this one was made with "
                         "training=False, for evaluate only (it has no gradient buffers)")
    if work.labels != trainer.labels:
        raise ValueError("workspace targets are not the kind the trainer's loss reads")
    cdef int64_t n = data.n
    cdef int64_t c_batch = _int64(batch_size, "batch_size")
    cdef int64_t c_first = _int64(first_batch, "first_batch")
    cdef int64_t c_end = _int64(end_batch, "end_batch")
    if c_batch < 1 or c_batch > work.capacity:
        raise ValueError(f"batch_size must be in [1, {work.capacity}], got {c_batch}")
    cdef int64_t n_batches = (n + c_batch - 1) // c_batch
    if not 0 <= c_first <= c_end <= n_batches:
        raise ValueError(f"batches [{c_first}, {c_end}) are not within "
                         f"[0, {n_batches})")
    if not isinstance(order, np.ndarray) or order.dtype != np.int64 or order.ndim != 1 \
            or order.shape[0] != n or not order.flags.c_contiguous:
        raise ValueError(f"order must be a contiguous int64 array of {n} indices")
    cdef int64_t lo = c_first * c_batch, hi = min(n, c_end * c_batch)
    if hi > lo:
        used = order[lo:hi]
        if used.min() < 0 or used.max() >= n:
            raise ValueError(f"order must hold indices in [0, {n})")
    count = c_end - c_first
    losses = np.asarray(batch_loss)
    metrics = np.asarray(batch_metric)
    for arr, name in ((losses, "batch_loss"), (metrics, "batch_metric")):
        if arr.dtype != np.float64 or arr.ndim != 1 or arr.shape[0] < count \
                or not arr.flags.c_contiguous or not arr.flags.writeable:
            raise ValueError(f"{name} must be a writeable float64 array of at least "
                             f"{count} entries")
    # what C writes (parameters, gradients, slots, the two outputs) must overlap
    # nothing else it reads or writes: a write into order or labels would send
    # later batches' indices out of bounds
    written = [(network.params, "the network's params"), (network.grads, "the network's grads"),
               (trainer.slot_1, "slot_1"), (trainer.slot_2, "slot_2"),
               (losses, "batch_loss"), (metrics, "batch_metric")]
    others = written + [(order, "order"), (data.x, "x"), (data.y, "y")]
    for i in range(len(written)):
        for j in range(len(others)):
            if i != j and _overlap(written[i][0], others[j][0]):
                raise ValueError(f"{written[i][1]} must not share memory with {others[j][1]}")
    cdef int64_t done
    cdef void *x = _data(data.x)
    cdef void *y = _data(data.y)
    cdef int64_t *idx = <int64_t *>_data(order)
    cdef double *lp = <double *>_data(losses)
    cdef double *mp = <double *>_data(metrics)
    if network.dtype == np.float64:
        with nogil:
            done = df_train_batches_f64(&network.net, &work.work, &trainer.train,
                                        <double *>x, y, idx, n, c_batch, c_first,
                                        c_end, lp, mp)
    else:
        with nogil:
            done = df_train_batches_f32(&network.net, &work.work, &trainer.train,
                                        <float *>x, y, idx, n, c_batch, c_first,
                                        c_end, lp, mp)
    return done


def accepts(Network network, x):
    """Whether ``x`` can go to ``predict`` as it is: a C-contiguous 2-d ndarray of
    the network's dtype and input width.  C-level checks only, for per-call speed."""
    if network is None or not cnp.PyArray_Check(x):
        return False
    cdef cnp.ndarray a = <cnp.ndarray>x
    return (cnp.PyArray_TYPE(a) == network.typenum and cnp.PyArray_NDIM(a) == 2
            and cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_DIM(a, 1) == network.net.units[0])


def forward_uses_blas(Network network not None):
    """Whether predicting with ``network`` calls BLAS (whose own threads then split
    the work), or runs wholly on the calling thread (narrow float32 layers)."""
    return bool(df_forward_uses_blas(network.net.units, network.net.n_layers,
                                     network.typenum == cnp.NPY_FLOAT))


def predict(Network network not None, x, capacity, bint check_finite=True):
    """The network's output for every row of ``x``, in batches of ``capacity`` rows;
    with ``check_finite``, x holding NaN or inf is a ValueError naming the first row."""
    if not accepts(network, x):
        x = _float_array(x, "x", 2, network.dtype, False)
        raise ValueError(f"x must have {network.units[0]} features, got shape {x.shape}")
    cdef int64_t cap = _int64(capacity, "capacity")
    if cap < 1:
        raise ValueError(f"capacity must be >= 1, got {cap}")
    cap = min(cap, MAX_ROWS)  # the kernels take a batch's rows as a C int
    cdef cnp.ndarray a = <cnp.ndarray>x
    cdef int64_t n = cnp.PyArray_DIM(a, 0)
    cdef cnp.npy_intp dims[2]
    dims[0] = n
    dims[1] = network.net.units[network.net.n_layers]
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(2, dims, network.typenum, 0)
    cdef void *p_x = cnp.PyArray_DATA(a)
    cdef void *p_out = cnp.PyArray_DATA(out)
    cdef int status = 0
    cdef int64_t bad = -1
    cdef int n_in = network.net.units[0]
    cdef bint f64 = network.typenum == cnp.NPY_DOUBLE
    with nogil:  # the screen too: a large or memory-mapped x takes a while to read
        if check_finite:
            bad = (df_first_nonfinite_f64(<double *>p_x, n, n_in) if f64
                   else df_first_nonfinite_f32(<float *>p_x, n, n_in))
        if bad < 0:
            status = (df_predict_f64(&network.net, <double *>p_x, n, cap, <double *>p_out) if f64
                      else df_predict_f32(&network.net, <float *>p_x, n, cap, <float *>p_out))
    if bad >= 0:
        raise ValueError(f"x holds NaN or inf (first at row {bad})")
    if status != 0:
        raise MemoryError(f"predict could not allocate buffers for {cap} rows")
    return out


def evaluate(Network network not None, Workspace work not None, Trainer trainer not None,
             Dataset data not None):
    """``(loss sum, metric sum)`` over all rows of ``data``, in batches."""
    _check_parts(network, work, trainer, data)
    cdef double loss_sum = 0, metric_sum = 0
    cdef int64_t n = data.n
    cdef void *x = _data(data.x)
    cdef void *y = _data(data.y)
    if network.dtype == np.float64:
        with nogil:
            df_evaluate_f64(&network.net, &work.work, &trainer.train, <double *>x, y, n,
                            &loss_sum, &metric_sum)
    else:
        with nogil:
            df_evaluate_f32(&network.net, &work.work, &trainer.train, <float *>x, y, n,
                            &loss_sum, &metric_sum)
    return loss_sum, metric_sum
