# cython: language_level=3
"""The thin layer over csrc/: it checks every argument, then calls the C kernels
with the GIL released.  Nothing here converts silently: a wrong dtype, shape,
order or label is a TypeError or ValueError that names the argument.

Kernel functions (``dense_forward`` ...) serve tests, benchmarks and the
Python-level activations; ``Network``, ``Workspace``, ``Objective``,
``OptimizerState`` and ``Dataset`` hold the C structs that ``train_batches``,
``predict`` and ``evaluate`` run a whole network with.

Each entry point is written once for float32 and float64: it checks its
arguments, then runs a body over the fused type ``floating``, whose float or
double instance it picks from the arrays' dtype.  The kernels and the training
parts take every argument: defaults (Keras') live in the public Python
signatures alone.
"""
cimport numpy as cnp
import operator

import numpy as np
from cpython.float cimport PyFloat_AsDouble
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport calloc, malloc, free
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
SLOTS = _names(df_slot_name, DF_N_SLOTS)  # optimizer state arrays, by Keras' names
SCHEDULES = _names(df_schedule_name, DF_N_SCHEDULES)


def rule_slots(rule, momentum=0.0, bint amsgrad=False):
    """The names of the state arrays (of SLOTS) a rule keeps with these settings."""
    cdef unsigned mask = df_optimizer_slots(_code(rule, DF_N_OPTIMIZERS, "rule"),
                                            _real(momentum, "momentum"), amsgrad)
    return tuple(name for name, code in SLOTS.items() if mask & (1u << code))

# The activations whose derivative reads their input z, not only their output
NEEDS_INPUT = frozenset(name for name, code in ACTIVATIONS.items()
                        if df_activation_needs_input(code))

MAX_ROWS = DF_MAX_ROWS  # 2**31 - 1: the kernels and BLAS take a batch's rows as a C int


# ---------------------------------------------------------------- one body, two precisions

ctypedef fused floating:
    float
    double

# Tags that pick a body's instance: body(F32, ...) runs the float32 kernels,
# body(F64, ...) the float64 ones (inside, ``floating is float`` tells them apart).
cdef float *F32 = NULL
cdef double *F64 = NULL


cdef inline bint _is_f64(object a):
    """Whether ``a``, an array already checked to be float32 or float64, is float64."""
    return cnp.PyArray_TYPE(<cnp.ndarray>a) == cnp.NPY_DOUBLE


cdef inline void *_data(object a):
    return cnp.PyArray_DATA(<cnp.ndarray>a)


def set_narrow_kernels(enabled):
    """Use (True) or bypass (False) the AVX-512 kernels for float32 layers of at
    most 32 outputs; BLAS does every product when bypassed.  Returns whether they
    are in use: False on a CPU without AVX-512.  Not thread-safe: for tests and
    benchmarks that compare the two paths."""
    return bool(df_set_narrow(1 if enabled else 0))


def loss_uses_labels(loss):
    """Whether loss code ``loss`` (a value of LOSSES) takes int32 labels rather
    than a dense target."""
    return bool(df_loss_uses_labels(_code(loss, DF_N_LOSSES, "loss")))


# ---------------------------------------------------------------- checks

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


cdef object _label_or_none(object value, str name):
    """None, or an integer that fits an int32 label."""
    if value is None:
        return None
    v = _index(value, name)
    if not -2**31 <= v < 2**31:
        raise ValueError(f"{name} must fit in 32 bits, got {_show_int(v)}")
    return v


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


cdef double _slope(object value, str name) except? -1.0:
    """leaky_relu's negative slope or elu's alpha: finite and >= 0, since its derivative is read
    from its output, which needs sign(a) == sign(z)."""
    cdef double slope = _real(value, name)
    if not slope >= 0:
        raise ValueError(f"{name} must be >= 0 (leaky_relu's negative slope), got {slope}")
    return slope


cdef _check_native(object a, str name):
    """Refuse an array whose bytes are not in this machine's order (``>f4`` from a
    big-endian file): C would read them as other values.  Every array C reads or
    writes passes here; the Python layer converts such arrays to their values."""
    if not a.dtype.isnative:
        raise TypeError(f"{name} has dtype {a.dtype.str}, whose byte order is not this "
                        f"machine's: its bytes would be read as other values; convert it "
                        f"first, e.g. {name}.astype({name}.dtype.newbyteorder('='))")


cdef object _float_array(object a, str name, int ndim, object dtype, bint writeable):
    """``a`` itself if it is a C-contiguous float32/float64 ndarray of rank ``ndim``,
    in native byte order."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    _check_native(a, name)
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


cdef _check_shape(object a, str name, tuple shape):
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")


cdef object _labels(object labels, str name, int64_t rows, int64_t classes,
                    object ignored=None):
    """int32 labels of length rows, every one in [0, classes) or equal to
    ``ignored`` (an ignore_class, which C never indexes with): checked, since C
    indexes with them."""
    if isinstance(labels, np.ndarray):
        _check_native(labels, name)
    if not isinstance(labels, np.ndarray) or labels.dtype != np.int32:
        raise TypeError(f"{name} must be an int32 numpy.ndarray of labels, got "
                        f"{getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.ndim != 1 or labels.shape[0] != rows or not labels.flags.c_contiguous:
        raise ValueError(f"{name} must be a contiguous 1-d array of {rows} labels, "
                         f"got shape {labels.shape}")
    if rows > 0:
        kept = labels if ignored is None else labels[labels != ignored]
        low, high = (kept.min(), kept.max()) if kept.size else (0, 0)
        if low < 0 or high >= classes:
            bad = int(low) if low < 0 else int(high)
            raise ValueError(f"{name} must be class indices in [0, {classes}), got {bad}")
    return labels


cdef object _target(int loss, object target, str name, object out, object ignored=None):
    """The target for ``out`` under ``loss``: labels or a dense matrix like ``out``."""
    if df_loss_uses_labels(loss):
        return _labels(target, name, out.shape[0], out.shape[1], ignored)
    t = _float_array(target, name, 2, out.dtype, False)
    _check_shape(t, name, out.shape)
    return t


cdef bint _overlap(object a, object b):
    """Whether two C-contiguous arrays' bytes overlap: an interval test, cheap per call."""
    cdef char *pa = <char *>_data(a)
    cdef char *pb = <char *>_data(b)
    cdef Py_ssize_t na = cnp.PyArray_NBYTES(<cnp.ndarray>a)
    cdef Py_ssize_t nb = cnp.PyArray_NBYTES(<cnp.ndarray>b)
    return na > 0 and nb > 0 and pa < pb + nb and pb < pa + na


# ---------------------------------------------------------------- kernels

cdef object _activation_forward(floating *tag, object z, int act, double slope):
    cdef floating *pz = <floating *>_data(z)
    cdef int64_t rows = z.shape[0], cols = z.shape[1]
    with nogil:
        if floating is float:
            df_activation_forward_f32(act, slope, pz, rows, cols)
        else:
            df_activation_forward_f64(act, slope, pz, rows, cols)
    return z


def activation_forward(z, activation, slope):
    """``activation`` applied to the rows of ``z``, as a new array.

    z: 2-d C-contiguous float32 or float64 array.  activation: a code of
    ACTIVATIONS.  slope: leaky_relu's negative slope (finite, >= 0; the other
    activations ignore it)."""
    cdef int act = _code(activation, DF_N_ACTIVATIONS, "activation")
    cdef double slp = _slope(slope, "slope")
    a = _float_array(z, "z", 2, None, False).copy()
    if a.shape[1] == 0 and act == DF_SOFTMAX:
        return a
    return _activation_forward(F64, a, act, slp) if _is_f64(a) else \
        _activation_forward(F32, a, act, slp)


cdef object _activation_backward(floating *tag, object z, object a, object g, int act,
                                 double slope):
    cdef const floating *pz = <const floating *>_data(z) if z is not None else NULL
    cdef const floating *pa = <const floating *>_data(a)
    cdef floating *pg = <floating *>_data(g)
    cdef int64_t rows = a.shape[0], cols = a.shape[1]
    with nogil:
        if floating is float:
            df_activation_backward_f32(act, slope, pz, pa, pg, rows, cols)
        else:
            df_activation_backward_f64(act, slope, pz, pa, pg, rows, cols)
    return g


cdef object _input_of(object z, object like, int act):
    """The pre-activation z for an activation in NEEDS_INPUT (required, of a's
    shape and dtype), else None (the kernel reads no z)."""
    if not df_activation_needs_input(act):
        return None
    if z is None:
        raise ValueError(f"z (the pre-activation) is required by "
                         f"{df_activation_name(act).decode()}")
    z = _float_array(z, "z", 2, like.dtype, False)
    _check_shape(z, "z", like.shape)
    return z


def activation_backward(a, grad, activation, slope, z=None):
    """dL/dz from the activation's output ``a`` and dL/da ``grad``, as a new array.

    a, grad: 2-d C-contiguous arrays of one shape and dtype (float32 or float64).
    activation, slope: as for activation_forward.  z: the activation's input,
    required by those in NEEDS_INPUT, ignored by the others."""
    cdef int act = _code(activation, DF_N_ACTIVATIONS, "activation")
    cdef double slp = _slope(slope, "slope")
    a = _float_array(a, "a", 2, None, False)
    g = _float_array(grad, "grad", 2, a.dtype, False).copy()
    _check_shape(g, "grad", a.shape)
    z = _input_of(z, a, act)
    return _activation_backward(F64, z, a, g, act, slp) if _is_f64(a) else \
        _activation_backward(F32, z, a, g, act, slp)


cdef object _dense_forward(floating *tag, object x, object w, object b, int act, double slope,
                           bint keep_z):
    cdef int rows = x.shape[0], n_in = w.shape[0], n_out = w.shape[1]
    out = np.empty((rows, n_out), x.dtype)
    z = np.empty((rows, n_out), x.dtype) if keep_z else None
    cdef floating *pz = <floating *>_data(z) if keep_z else NULL
    cdef const floating *px = <const floating *>_data(x)
    cdef const floating *pw = <const floating *>_data(w)
    cdef const floating *pb = <const floating *>_data(b)
    cdef floating *po = <floating *>_data(out)
    with nogil:
        if floating is float:
            df_dense_forward_f32(px, pw, pb, po, pz, rows, n_in, n_out, act, slope)
        else:
            df_dense_forward_f64(px, pw, pb, po, pz, rows, n_in, n_out, act, slope)
    return (out, z) if keep_z else out


def dense_forward(x, kernel, bias, activation, slope, bint return_z=False):
    """``activation(x @ kernel + bias)``, as a new array; with ``return_z`` the
    pair ``(output, x @ kernel + bias)``, the pre-activation as the core keeps it.

    x (rows, n_in), kernel (n_in, n_out), bias (n_out,): C-contiguous, all float32
    or all float64.  activation, slope: as for activation_forward."""
    cdef int act = _code(activation, DF_N_ACTIVATIONS, "activation")
    cdef double slp = _slope(slope, "slope")
    x = _float_array(x, "x", 2, None, False)
    w = _float_array(kernel, "kernel", 2, x.dtype, False)
    b = _float_array(bias, "bias", 1, x.dtype, False)
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x must have {w.shape[0]} columns to match kernel {w.shape}, "
                         f"got shape {x.shape}")
    _check_shape(b, "bias", (w.shape[1],))
    if w.shape[1] == 0 and act == DF_SOFTMAX:
        empty = np.empty((x.shape[0], 0), x.dtype)
        return (empty, empty.copy()) if return_z else empty
    return _dense_forward(F64, x, w, b, act, slp, return_z) if _is_f64(x) else \
        _dense_forward(F32, x, w, b, act, slp, return_z)


cdef tuple _dense_backward(floating *tag, object x, object w, object z, object a, object g,
                           int act, double slope, bint need_dx):
    cdef int rows = x.shape[0], n_in = w.shape[0], n_out = w.shape[1]
    dw, db = np.empty((n_in, n_out), x.dtype), np.empty(n_out, x.dtype)
    dx = np.empty((rows, n_in), x.dtype) if need_dx else None
    cdef const floating *px = <const floating *>_data(x)
    cdef const floating *pw = <const floating *>_data(w)
    cdef const floating *pz = <const floating *>_data(z) if z is not None else NULL
    cdef const floating *pa = <const floating *>_data(a)
    cdef floating *pg = <floating *>_data(g)
    cdef floating *pdw = <floating *>_data(dw)
    cdef floating *pdb = <floating *>_data(db)
    cdef floating *pdx = <floating *>_data(dx) if need_dx else NULL
    with nogil:
        if floating is float:
            df_dense_backward_f32(px, pw, pz, pa, pg, pdw, pdb, pdx, rows, n_in, n_out, act,
                                  slope)
        else:
            df_dense_backward_f64(px, pw, pz, pa, pg, pdw, pdb, pdx, rows, n_in, n_out, act,
                                  slope)
    return dw, db, dx


def dense_backward(x, kernel, a, grad, activation, slope, bint need_dx, z=None):
    """Gradients ``(d_kernel, d_bias, d_x)`` of a Dense layer, new arrays.

    x (rows, n_in): its input; kernel (n_in, n_out); a (rows, n_out): its output;
    grad (rows, n_out): dL/da; all C-contiguous of one dtype.  activation, slope:
    as for activation_forward.  need_dx: whether to compute d_x (else None).
    z (rows, n_out): the pre-activation, as for activation_backward."""
    cdef int act = _code(activation, DF_N_ACTIVATIONS, "activation")
    cdef double slp = _slope(slope, "slope")
    x = _float_array(x, "x", 2, None, False)
    w = _float_array(kernel, "kernel", 2, x.dtype, False)
    a = _float_array(a, "a", 2, x.dtype, False)
    g = _float_array(grad, "grad", 2, x.dtype, False).copy()
    rows, n_in, n_out = x.shape[0], w.shape[0], w.shape[1]
    _check_shape(x, "x", (rows, n_in))
    _check_shape(a, "a", (rows, n_out))
    _check_shape(g, "grad", (rows, n_out))
    z = _input_of(z, a, act)
    return _dense_backward(F64, x, w, z, a, g, act, slp, need_dx) if _is_f64(x) else \
        _dense_backward(F32, x, w, z, a, g, act, slp, need_dx)


cdef double _loss(floating *tag, df_objective *code, object out, object t, object grad,
                  object weight):
    cdef const floating *pw = <const floating *>_data(weight) if weight is not None else NULL
    cdef const floating *po = <const floating *>_data(out)
    cdef const void *pt = _data(t)
    cdef floating *pg = <floating *>_data(grad)
    cdef int64_t rows = out.shape[0], cols = out.shape[1]
    cdef double total
    with nogil:
        if floating is float:
            total = df_loss_f32(code, po, pt, pg, rows, cols, pw)
        else:
            total = df_loss_f64(code, po, pt, pg, rows, cols, pw)
    return total


def loss(code, out, target, sample_weight=None, **options):
    """``(mean loss, gradient)``: the mean over rows of each row's loss, and its
    gradient with respect to ``out``.  sample_weight: None, or one weight per row
    scaling its loss and gradient (the mean stays over the rows, as Keras'
    sum_over_batch_size), in out's dtype.

    code: a value of LOSSES.  out: (rows, cols) float32 or float64, cols >= 1.
    target: int32 labels in [0, cols) (or equal to ignore_class) of length rows
    if the loss reads labels (loss_uses_labels), else an array like ``out``.
    options: the loss' hyper-parameters, as for Objective."""
    cdef Objective objective = Objective(code, False, DF_METRIC_NONE, 0.5, **options)
    out = _float_array(out, "out", 2, None, False)
    t = _target(objective.objective.loss, target, "target", out, objective.ignore_class)
    if out.shape[1] == 0:
        raise ValueError(f"out must have at least one column, got shape {out.shape}")
    grad = np.empty_like(out)
    w = _sample_weight(sample_weight, out.shape[0], out.dtype)
    total = _loss(F64, &objective.objective, out, t, grad, w) if _is_f64(out) else \
        _loss(F32, &objective.objective, out, t, grad, w)
    rows = out.shape[0]
    return (total / rows if rows else 0.0), grad


cdef double _metric(floating *tag, int code, double threshold, object out, object t):
    cdef const floating *po = <const floating *>_data(out)
    cdef const void *pt = _data(t)
    cdef int64_t rows = out.shape[0], cols = out.shape[1]
    cdef double hits
    with nogil:
        if floating is float:
            hits = df_metric_f32(code, threshold, po, pt, rows, cols)
        else:
            hits = df_metric_f64(code, threshold, po, pt, rows, cols)
    return hits


def metric(code, out, target, threshold):
    """The mean over rows of metric ``code`` (an accuracy) for ``out`` against ``target``.

    code: a value of METRICS.  out, target: as for loss (sparse accuracy reads
    labels, the others a dense target).  threshold: binary accuracy's (an output
    above it counts as 1; the other metrics ignore it)."""
    cdef int c_code = _code(code, DF_N_METRICS, "metric")
    cdef double c_threshold = _real(threshold, "threshold")
    if c_code > DF_METRIC_BINARY_ACCURACY:
        raise ValueError(f"metric: code {c_code} is not an accuracy (codes 0 to "
                         f"{DF_METRIC_BINARY_ACCURACY}); the others go through update_metrics")
    out = _float_array(out, "out", 2, None, False)
    loss_code = DF_LOSS_SPARSE_CE_LOGITS if c_code == DF_METRIC_SPARSE_ACCURACY else DF_LOSS_MSE
    t = _target(loss_code, target, "target", out)
    if out.shape[1] == 0:
        raise ValueError(f"out must have at least one column, got shape {out.shape}")
    hits = _metric(F64, c_code, c_threshold, out, t) if _is_f64(out) else \
        _metric(F32, c_code, c_threshold, out, t)
    rows = out.shape[0]
    return hits / rows if rows else 0.0


cdef int64_t _first_nonfinite(floating *tag, object x):
    cdef const floating *px = <const floating *>_data(x)
    cdef int64_t rows = x.shape[0], cols = x.shape[1], bad
    with nogil:
        if floating is float:
            bad = df_first_nonfinite_f32(px, rows, cols)
        else:
            bad = df_first_nonfinite_f64(px, rows, cols)
    return bad


def first_nonfinite_row(x):
    """Index of the first row of ``x`` (2-d, C-contiguous, float32 or float64)
    holding NaN or inf, or -1: one pass, no temporary."""
    x = _float_array(x, "x", 2, None, False)
    return _first_nonfinite(F64, x) if _is_f64(x) else _first_nonfinite(F32, x)


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


cdef void _adam(floating *tag, object w, object g, object m, object v, double lr, double b1,
                double b2, double eps, int64_t step):
    cdef floating *pw = <floating *>_data(w)
    cdef const floating *pg = <const floating *>_data(g)
    cdef floating *pm = <floating *>_data(m)
    cdef floating *pv = <floating *>_data(v)
    cdef int64_t n = w.size
    with nogil:
        if floating is float:
            df_adam_f32(pw, pg, pm, pv, n, lr, b1, b2, eps, step)
        else:
            df_adam_f64(pw, pg, pm, pv, n, lr, b1, b2, eps, step)


def adam_update(variable, grad, m, v, step, learning_rate, beta_1, beta_2, epsilon):
    """One Keras 3 Adam step, in place on ``variable``, ``m`` and ``v``.

    variable, grad, m, v: C-contiguous arrays of one shape and dtype, distinct
    (variable, m, v writeable).  step: the 1-based step number.  learning_rate,
    beta_1, beta_2, epsilon: Adam's hyper-parameters (finite)."""
    cdef int64_t c_step = _int64(step, "step")
    cdef double lr = _real(learning_rate, "learning_rate"), b1 = _real(beta_1, "beta_1")
    cdef double b2 = _real(beta_2, "beta_2"), eps = _real(epsilon, "epsilon")
    w = _float_array(variable, "variable", -1, None, True)
    _check_update(w, [grad, m, v], ["grad", "m", "v"])
    if c_step < 1:
        raise ValueError(f"step must be >= 1 (it is 1-based), got {c_step}")
    if _is_f64(w):
        _adam(F64, w, grad, m, v, lr, b1, b2, eps, c_step)
    else:
        _adam(F32, w, grad, m, v, lr, b1, b2, eps, c_step)


cdef void _sgd(floating *tag, object w, object g, object velocity, double lr, double mu,
               bint nesterov):
    cdef floating *pw = <floating *>_data(w)
    cdef const floating *pg = <const floating *>_data(g)
    cdef floating *pvel = <floating *>_data(velocity) if velocity is not None else NULL
    cdef int64_t n = w.size
    with nogil:
        if floating is float:
            df_sgd_f32(pw, pg, pvel, n, lr, mu, nesterov)
        else:
            df_sgd_f64(pw, pg, pvel, n, lr, mu, nesterov)


def sgd_update(variable, grad, velocity, learning_rate, momentum, bint nesterov):
    """One Keras SGD step, in place on ``variable`` (and ``velocity``).

    variable, grad: C-contiguous arrays of one shape and dtype.  velocity: such an
    array (writeable, distinct), or None when momentum is 0.  learning_rate,
    momentum: finite.  nesterov: Nesterov momentum."""
    cdef double lr = _real(learning_rate, "learning_rate"), mu = _real(momentum, "momentum")
    w = _float_array(variable, "variable", -1, None, True)
    if mu != 0 and velocity is None:
        raise ValueError("velocity is required when momentum is not 0")
    _check_update(w, [grad] + ([velocity] if velocity is not None else []),
                  ["grad", "velocity"][:1 + (velocity is not None)])
    if _is_f64(w):
        _sgd(F64, w, grad, velocity, lr, mu, nesterov)
    else:
        _sgd(F32, w, grad, velocity, lr, mu, nesterov)


cdef void _rmsprop(floating *tag, object w, object g, object mean_square, double lr, double rho,
                   double eps):
    cdef floating *pw = <floating *>_data(w)
    cdef const floating *pg = <const floating *>_data(g)
    cdef floating *pms = <floating *>_data(mean_square)
    cdef int64_t n = w.size
    with nogil:
        if floating is float:
            df_rmsprop_f32(pw, pg, pms, n, lr, rho, eps)
        else:
            df_rmsprop_f64(pw, pg, pms, n, lr, rho, eps)


def rmsprop_update(variable, grad, mean_square, learning_rate, rho, epsilon):
    """One Keras RMSprop step (no momentum, not centered), in place on ``variable``
    and ``mean_square``.

    variable, grad, mean_square: C-contiguous arrays of one shape and dtype,
    distinct.  learning_rate, rho, epsilon: finite."""
    cdef double lr = _real(learning_rate, "learning_rate"), c_rho = _real(rho, "rho")
    cdef double eps = _real(epsilon, "epsilon")
    w = _float_array(variable, "variable", -1, None, True)
    _check_update(w, [grad, mean_square], ["grad", "mean_square"])
    if _is_f64(w):
        _rmsprop(F64, w, grad, mean_square, lr, c_rho, eps)
    else:
        _rmsprop(F32, w, grad, mean_square, lr, c_rho, eps)


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


LAYER_KINDS = _names(df_layer_kind_name, DF_N_LAYER_KINDS)

# The options each kind reads (see df_layer), beyond those every layer takes.
_KIND_OPTIONS = {"dropout": ("rate", "seed"), "batch_normalization": ("momentum", "epsilon"),
                 "normalization": ("invert",)}
_LAYER_OPTIONS = ("trainable", "weights", "l1", "l2", "activity_l1", "activity_l2")


cdef object _per_weight(object values, str name):
    """Up to DF_MAX_WEIGHTS finite reals, one per weight index (0 for the rest)."""
    values = list(values)
    if len(values) > DF_MAX_WEIGHTS:
        raise ValueError(f"{name} has {len(values)} entries, more than a layer's "
                         f"{DF_MAX_WEIGHTS} weights")
    return [_real(v, name) for v in values] + [0.0] * (DF_MAX_WEIGHTS - len(values))


cdef class Layers:
    """The C description of a network's layers (df_layer) and the layout of
    its two flat buffers, computed once from the layers' sizes, kinds and options.

    units: the sizes, input first (each in [1, MAX_ROWS]); a layer other than
    dense keeps its input's size.  activations, slopes: a code of ACTIVATIONS
    and its slope per layer.  kinds: a code of LAYER_KINDS per layer (None: all
    dense).  options: per layer None or a dict: ``trainable`` (False keeps its
    weights in state, frozen), ``weights`` (which of the kind's weights it has:
    booleans in Keras' order), ``l1``, ``l2`` (regularization per weight),
    ``activity_l1``, ``activity_l2``, and the kind's own: dropout ``rate`` in
    [0, 1) and ``seed`` in [0, 2**64); batch normalization ``momentum`` and
    ``epsilon`` > 0; normalization ``invert``.

    Weights go, layer after layer in Keras' order, to params when the layer is
    trainable and the weight a trainable one (df_layer_weight_trainable), else
    to state: ``slices`` gives each layer's ``[(in_params, offset, shape), ...]``."""
    cdef df_layer *layers
    cdef readonly int n_layers
    cdef readonly int64_t n_params, n_state
    cdef readonly tuple units, kinds, activation_codes, slices

    def __cinit__(self, units, activations, slopes, kinds=None, options=None):
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
        _check_shape(slope, "slopes", (n_layers,))
        kind = np.zeros(n_layers, np.int64) if kinds is None else _int_list(kinds, "kinds")
        _check_shape(kind, "kinds", (n_layers,))
        if (kind < 0).any() or (kind >= DF_N_LAYER_KINDS).any():
            raise ValueError(f"kinds must be codes in [0, {DF_N_LAYER_KINDS}), got {kind}")
        options = [None] * n_layers if options is None else list(options)
        if len(options) != n_layers:
            raise ValueError(f"options must have one entry per layer ({n_layers})")
        self.layers = <df_layer *>calloc(n_layers, sizeof(df_layer))
        if self.layers == NULL:
            raise MemoryError()
        self.n_layers = n_layers
        self.units = tuple(int(u) for u in units_arr)
        self.kinds = tuple(int(k) for k in kind)
        self.activation_codes = tuple(int(a) for a in act)
        slices = []
        for l in range(n_layers):
            slices.append(self._describe(l, int(kind[l]), int(units_arr[l]),
                                         int(units_arr[l + 1]), int(act[l]),
                                         _slope(slope[l], "slopes"), options[l] or {}))
        self.slices = tuple(slices)

    cdef list _describe(self, int l, int kind, int n_in, int n_out, int act, double slope,
                        dict opts):
        """Fill layers[l]; returns its weights' slices."""
        cdef df_layer *layer = &self.layers[l]
        name = df_layer_kind_name(kind).decode()
        allowed = _LAYER_OPTIONS + _KIND_OPTIONS.get(name, ())
        for key in opts:
            if key not in allowed:
                raise ValueError(f"layer {l} ({name}) takes no option {key!r}")
        if kind != DF_LAYER_DENSE and n_out != n_in:
            raise ValueError(f"layer {l} ({name}) must keep its input's size {n_in}, got {n_out}")
        layer.kind, layer.n_in, layer.n_out = kind, n_in, n_out
        layer.activation, layer.slope = act, slope
        layer.trainable = bool(opts.get("trainable", True))
        if name == "dropout":
            layer.rate = _real(opts["rate"], "rate")
            if not 0 <= layer.rate < 1:
                raise ValueError(f"rate must be in [0, 1), got {layer.rate}")
            seed = _index(opts["seed"], "seed")
            if not 0 <= seed < 2 ** 64:
                raise ValueError(f"seed must be in [0, 2**64), got {seed}")
            layer.seed = seed
        if name == "batch_normalization":
            layer.momentum = _real(opts["momentum"], "momentum")
            layer.epsilon = _real(opts["epsilon"], "epsilon")
            if not layer.epsilon > 0:
                raise ValueError(f"epsilon must be > 0, got {layer.epsilon}")
        if name == "normalization":
            layer.invert = bool(opts["invert"])
        l1 = _per_weight(opts.get("l1", ()), "l1")
        l2 = _per_weight(opts.get("l2", ()), "l2")
        for i in range(DF_MAX_WEIGHTS):
            layer.l1[i], layer.l2[i] = l1[i], l2[i]
        layer.activity_l1 = _real(opts.get("activity_l1", 0.0), "activity_l1")
        layer.activity_l2 = _real(opts.get("activity_l2", 0.0), "activity_l2")
        present = list(opts.get("weights", [True] * DF_MAX_WEIGHTS))
        present += [False] * (DF_MAX_WEIGHTS - len(present))
        out = []
        for i in range(DF_MAX_WEIGHTS):
            size = df_layer_weight_size(kind, i, n_in, n_out)
            layer.weight[i] = -1
            if size == 0 or not present[i]:
                continue
            in_params = layer.trainable and df_layer_weight_trainable(kind, i)
            layer.in_params[i] = in_params
            if in_params:
                layer.weight[i], self.n_params = self.n_params, self.n_params + size
            else:
                layer.weight[i], self.n_state = self.n_state, self.n_state + size
            if kind == DF_LAYER_DENSE and i == 0:
                shape = (n_in, n_out)  # the kernel
            elif kind == DF_LAYER_NORMALIZATION and i == 2:
                shape = ()  # count, Keras' scalar
            else:
                shape = (n_out,)
            out.append((bool(in_params), int(layer.weight[i]), shape))
        return out

    def __dealloc__(self):
        free(self.layers)


def layout(units, activations=None, slopes=None, kinds=None, options=None):
    """``Layers`` for these layers (activations and slopes: linear and 0 if None)."""
    n_layers = len(units) - 1
    return Layers(units, activations if activations is not None else [0] * n_layers,
                  slopes if slopes is not None else [0.0] * n_layers, kinds, options)


cdef class Network:
    """A network of layers (see Layers) over a flat buffer of trainable
    parameters, a gradient buffer of the same layout, and a buffer of the other
    weights (state: moving statistics, frozen layers' weights).

    units, activations, slopes, kinds, options: as Layers'.  params, grads:
    distinct writeable 1-d float32 or float64 arrays of layout(...).n_params
    entries, used in place; state: one of n_state entries (None when there
    are none).  A Dense-only network is Network(units, activations, slopes,
    params, grads)."""
    cdef df_net net
    cdef readonly Layers layers
    cdef readonly object params, grads, state
    cdef readonly object dtype
    cdef int typenum
    cdef int n_in, n_out

    def __cinit__(self, units, activations, slopes, params, grads, kinds=None, options=None,
                  state=None):
        self.layers = Layers(units, activations, slopes, kinds, options)
        self.params = _float_array(params, "params", 1, None, True)
        self.grads = _float_array(grads, "grads", 1, self.params.dtype, True)
        _check_shape(self.params, "params", (self.layers.n_params,))
        _check_shape(self.grads, "grads", (self.layers.n_params,))
        if state is None and self.layers.n_state:
            raise ValueError(f"state is required: the layers keep {self.layers.n_state} "
                             f"weights outside params")
        if state is not None:
            self.state = _float_array(state, "state", 1, self.params.dtype, True)
            _check_shape(self.state, "state", (self.layers.n_state,))
        buffers = [(self.params, "params"), (self.grads, "grads"), (self.state, "state")]
        for i in range(3):
            for j in range(i):
                if buffers[i][0] is not None and np.shares_memory(buffers[i][0], buffers[j][0]):
                    raise ValueError(f"{buffers[j][1]} and {buffers[i][1]} must not share memory")
        self.dtype = self.params.dtype
        self.typenum = cnp.NPY_DOUBLE if self.dtype == np.float64 else cnp.NPY_FLOAT
        self.n_in, self.n_out = self.layers.units[0], self.layers.units[-1]
        self.net.n_layers = self.layers.n_layers
        self.net.layers = self.layers.layers
        self.net.params = _data(self.params)
        self.net.grads = _data(self.grads)
        self.net.n_params = self.layers.n_params
        self.net.state = _data(self.state) if self.state is not None else NULL
        self.net.n_state = self.layers.n_state

    @property
    def units(self):
        return self.layers.units

    @property
    def activation_codes(self):
        return self.layers.activation_codes

    def weight_views(self):
        """Per layer, its weights as views into params or state (Keras' order)."""
        return [[(self.params if in_params else self.state)[off:off + int(np.prod(shape))]
                 .reshape(shape) for in_params, off, shape in layer]
                for layer in self.layers.slices]


cdef class Workspace:
    """Buffers for batches of up to ``capacity`` rows, allocated once and reused.

    A training workspace (the default) holds what ``train_batches`` needs: the
    gathered batch, its targets (int32 labels or dense), two gradient buffers
    and an activation buffer per layer.  ``training=False`` makes one for
    ``evaluate`` alone, with only the activation buffers (evaluate reads x and
    the targets in place and computes no gradient); ``train_batches`` refuses it."""
    cdef df_work work
    cdef list _buffers
    cdef object _grad_a
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
        self.work.pre = NULL
        self.work.weight = NULL
        self.work.stats = NULL
        if not training:
            return
        # the pre-activations the backward pass reads, for the layers whose
        # activation needs them (NULL for the others)
        self.work.pre = <void **>calloc(len(units) - 1, sizeof(void *))
        if self.work.pre == NULL:
            raise MemoryError()
        for i, code in enumerate(network.activation_codes):
            if df_activation_needs_input(code):
                self._buffers.append(np.empty((capacity, units[i + 1]), dtype))
                self.work.pre[i] = _data(self._buffers[-1])
        # batch normalization's batch statistics, per such layer (NULL for others)
        if DF_LAYER_BATCH_NORM in network.layers.kinds:
            self.work.stats = <void **>calloc(len(units) - 1, sizeof(void *))
            if self.work.stats == NULL:
                raise MemoryError()
            for i, kind in enumerate(network.layers.kinds):
                if kind == DF_LAYER_BATCH_NORM:
                    self._buffers.append(np.empty(2 * units[i + 1], dtype))
                    self.work.stats[i] = _data(self._buffers[-1])
        # the gradient buffers hold dL/d(a layer's output), then dL/d(its input) for
        # every layer but the first (whose input gradient is never computed):
        # units[1:] bound both
        widest = max(units[1:])
        buffers = [np.empty((capacity, units[0]), dtype),
                   np.empty(capacity, np.int32) if labels
                   else np.empty((capacity, units[-1]), dtype),
                   np.empty((capacity, widest), dtype),
                   np.empty((capacity, widest), dtype),
                   np.empty(capacity, dtype)]
        self._buffers += buffers
        self.work.x = _data(buffers[0])
        self.work.y = _data(buffers[1])
        self.work.grad_a = _data(buffers[2])
        self._grad_a = buffers[2]
        self.work.grad_b = _data(buffers[3])
        self.work.weight = _data(buffers[4])  # the batch's gathered sample weights

    def __dealloc__(self):
        free(self.work.act)
        free(self.work.pre)
        free(self.work.stats)


cdef class Objective:
    """What training minimises and reports (the C df_objective).

    loss: a code of LOSSES.  fused_output: leave the output layer's activation
    out of training and evaluation, the loss (a *_logits one) reading its
    pre-activation.  metric: a code of METRICS (0, "none", for no metric); it
    must read the targets the loss reads (labels for sparse accuracy).
    threshold: binary accuracy's (0 for logits, 0.5 for probabilities).
    The loss' hyper-parameters (each loss reads only its own): delta (Huber),
    label_smoothing (binary and categorical cross-entropy on dense targets),
    ignore_class (sparse cross-entropy: an int32 label, or None)."""
    cdef df_objective objective
    cdef df_metric_spec *specs
    cdef readonly int64_t metric_state_size  # doubles of state its metrics keep
    cdef readonly int64_t metric_outputs  # the outputs its metrics were sized for (-1: any)
    cdef readonly tuple metric_offsets  # each metric's first double of state
    cdef list _keep  # the thresholds and loss Objectives the specs point into

    def __cinit__(self, loss, bint fused_output, metric, threshold, *, delta=0.0,
                  label_smoothing=0.0, ignore_class=None, metrics=(), outputs=-1):
        cdef int c_loss = _code(loss, DF_N_LOSSES, "loss")
        cdef int c_metric = _code(metric, DF_N_METRICS, "metric")
        self.objective.threshold = _real(threshold, "threshold")
        self.objective.delta = _real(delta, "delta")
        self.objective.label_smoothing = _real(label_smoothing, "label_smoothing")
        ignore_class = _label_or_none(ignore_class, "ignore_class")
        self.objective.ignore_class_set = ignore_class is not None
        self.objective.ignore_class = 0 if ignore_class is None else ignore_class
        if c_metric != DF_METRIC_NONE and (c_metric == DF_METRIC_SPARSE_ACCURACY) != bool(
                df_loss_uses_labels(c_loss)):
            raise ValueError("metric and loss must read the same kind of target "
                             "(labels for sparse accuracy, dense otherwise)")
        self.objective.loss = c_loss
        self.objective.fused_output = fused_output
        self.objective.metric = c_metric
        self._set_metrics(list(metrics), _int64(outputs, "outputs"))

    cdef _set_metrics(self, list metrics, int64_t outputs):
        """metrics: dicts with "kind" (a code of METRICS) and the df_metric_spec
        fields its kind reads: reads_probabilities, weighted, k, class_id, per_output,
        threshold, thresholds (a sequence of reals), loss (an Objective whose loss
        reads the targets this one's does).  outputs: the model's, needed by a
        class_counts metric."""
        self._keep, offsets, total = [], [], 0
        self.metric_outputs = outputs
        self.specs = <df_metric_spec *>calloc(max(1, len(metrics)), sizeof(df_metric_spec))
        if self.specs == NULL:
            raise MemoryError()
        for i, m in enumerate(metrics):
            self._spec(&self.specs[i], m)
            if self.specs[i].kind == DF_METRIC_CLASS_COUNTS and outputs < 1:
                raise ValueError("a class_counts metric needs outputs >= 1")
            self.specs[i].offset = total
            offsets.append(total)
            total += df_metric_state_size(&self.specs[i], max(outputs, 1))
        self.objective.n_metrics = len(metrics)
        self.objective.metrics = self.specs
        self.metric_state_size, self.metric_offsets = total, tuple(offsets)

    cdef _spec(self, df_metric_spec *spec, dict m):
        cdef Objective loss_objective
        spec.kind = _code(m["kind"], DF_N_METRICS, "kind")
        spec.reads_probabilities = bool(m.get("reads_probabilities", False))
        spec.weighted = bool(m.get("weighted", False))
        spec.k = _int64(m.get("k", 0 if spec.kind == DF_METRIC_CONFUSION else 5), "k")
        spec.class_id = _int64(-1 if m.get("class_id") is None else m["class_id"], "class_id")
        spec.per_output = bool(m.get("per_output", False))
        spec.threshold = m.get("threshold", 0.5)  # NaN allowed: class counts' argmax
        if spec.kind == DF_METRIC_CONFUSION:
            t = np.ascontiguousarray(m["thresholds"], dtype=np.float64)
            if t.ndim != 1 or t.shape[0] < 1 or t.shape[0] > 1 << 20:
                raise ValueError("thresholds must be a 1-d sequence of 1 to 2**20 reals")
            self._keep.append(t)
            spec.thresholds, spec.n_thresholds = <const double *>_data(t), t.shape[0]
        if spec.kind == DF_METRIC_LOSS:
            loss_objective = m["loss"]
            if loss_objective.labels != self.labels:
                raise ValueError("a loss metric must read the targets the loss reads")
            self._keep.append(loss_objective)
            spec.loss = &loss_objective.objective
        sparse = spec.kind in (DF_METRIC_SPARSE_ACCURACY, DF_METRIC_SPARSE_TOP_K)
        if spec.kind not in (DF_METRIC_NONE, DF_METRIC_LOSS) and sparse != self.labels:
            raise ValueError(f"metric {df_metric_name(spec.kind).decode()} does not read the "
                             f"targets the loss reads")

    def __dealloc__(self):
        free(self.specs)

    cdef _check_metric_state(self, object state, int64_t cols):
        """state: None, or a writeable contiguous float64 array of at least
        metric_state_size entries, for outputs of ``cols`` columns."""
        if state is None:
            return
        if isinstance(state, np.ndarray):
            _check_native(state, "metric_state")
        if not isinstance(state, np.ndarray) or state.dtype != np.float64 or state.ndim != 1 \
                or state.shape[0] < self.metric_state_size or not state.flags.c_contiguous \
                or not state.flags.writeable:
            raise ValueError(f"metric_state must be a writeable float64 array of at least "
                             f"{self.metric_state_size} entries")
        if self.metric_outputs >= 0 and cols != self.metric_outputs:
            raise ValueError(f"the metrics were made for {self.metric_outputs} outputs, "
                             f"got {cols}")

    @property
    def labels(self):
        """Whether its loss (and metric) read int32 labels rather than dense targets."""
        return bool(df_loss_uses_labels(self.objective.loss))

    @property
    def ignore_class(self):
        """The label whose rows the loss ignores, or None."""
        return self.objective.ignore_class if self.objective.ignore_class_set else None


cdef object _slot(object value, str name, bint used, int rule, Network network):
    """An optimizer state array for ``network``, or None for one ``rule`` does not keep."""
    if not used:
        if value is not None:
            raise ValueError(f"{name} must be None: {df_optimizer_rule_name(rule).decode()} "
                             f"with these hyper-parameters keeps no {name}")
        return None
    if value is None:
        raise ValueError(f"{name} is required by {df_optimizer_rule_name(rule).decode()}")
    s = _float_array(value, name, 1, network.dtype, True)
    _check_shape(s, name, (network.net.n_params,))
    if np.shares_memory(s, network.params) or np.shares_memory(s, network.grads):
        raise ValueError(f"optimizer slots must not share memory with the network ({name} does)")
    return s


_SCHEDULE_REALS = ("initial_learning_rate", "decay_steps", "decay_rate", "end_learning_rate",
                   "power", "alpha", "warmup_steps", "t_mul", "m_mul")


cdef class Schedule:
    """A learning-rate schedule as the core evaluates it (the C df_schedule).

    kind: a code of SCHEDULES; then its arguments by Keras' names (a kind reads
    only its own; CosineDecayRestarts' first_decay_steps is decay_steps;
    warmup_target None is no warmup), boundaries and values for
    PiecewiseConstantDecay (n and n + 1 numbers)."""
    cdef df_schedule schedule
    cdef readonly object boundaries, values

    def __cinit__(self, kind=0, boundaries=(), values=(0.0,), bint staircase=False,
                  bint cycle=False, warmup_target=None, **reals):
        self.schedule.kind = _code(kind, DF_N_SCHEDULES, "kind")
        for name in reals:
            if name not in _SCHEDULE_REALS:
                raise TypeError(f"unknown schedule argument {name!r}")
        s = &self.schedule
        s.initial_learning_rate = _real(reals.get("initial_learning_rate", 0.0),
                                        "initial_learning_rate")
        s.decay_steps = _real(reals.get("decay_steps", 1.0), "decay_steps")
        s.decay_rate = _real(reals.get("decay_rate", 0.0), "decay_rate")
        s.end_learning_rate = _real(reals.get("end_learning_rate", 0.0), "end_learning_rate")
        s.power = _real(reals.get("power", 1.0), "power")
        s.alpha = _real(reals.get("alpha", 0.0), "alpha")
        s.warmup_steps = _real(reals.get("warmup_steps", 0.0), "warmup_steps")
        s.t_mul = _real(reals.get("t_mul", 2.0), "t_mul")
        s.m_mul = _real(reals.get("m_mul", 1.0), "m_mul")
        s.warmup_target = (float("nan") if warmup_target is None
                           else _real(warmup_target, "warmup_target"))
        s.staircase, s.cycle = staircase, cycle
        # C reads n_boundaries boundaries and n_boundaries + 1 values
        self.boundaries = np.ascontiguousarray(boundaries, np.float64).reshape(-1)
        self.values = np.ascontiguousarray(values, np.float64).reshape(-1)
        if self.values.shape[0] != self.boundaries.shape[0] + 1:
            raise ValueError("values must have one entry more than boundaries")
        s.n_boundaries = self.boundaries.shape[0]
        s.boundaries = <const double *>_data(self.boundaries)
        s.values = <const double *>_data(self.values)

    def __call__(self, step, constant=0.0):
        """The learning rate at ``step`` (Keras' ``schedule(step)``); ``constant`` for
        the constant kind."""
        return df_learning_rate(&self.schedule, _real(constant, "constant"),
                                _int64(step, "step"))


cdef class OptimizerState:
    """An optimizer's rule, hyper-parameters and state for one network (the C
    df_optimizer_state), updated in place by train_batches.

    network: the Network it updates.  rule: a code of OPTIMIZERS.  learning_rate,
    beta_1, beta_2, epsilon, momentum, rho: finite; a rule reads only its own
    (Adam: beta_1, beta_2, epsilon; SGD: momentum, nesterov; RMSprop: rho,
    epsilon).  iterations: the steps taken so far (>= 0).  momentums,
    velocities and the keyword-only velocity_hats, accumulators, norms: the
    state arrays (SLOTS), with Keras' names, each a writeable 1-d array of the
    network's dtype and n_params entries, distinct from each other and the
    network's buffers, for each slot the rule keeps (rule_slots) and None for
    the others.  amsgrad, weight_decay, clipnorm, global_clipnorm, clipvalue
    (0: off), u_product (Nadam's), schedule (a Schedule, or None for the
    constant learning_rate): see df_optimizer_state."""
    cdef df_optimizer_state state
    cdef readonly object slots, owner, schedule

    def __cinit__(self, Network network not None, rule, learning_rate, beta_1, beta_2, epsilon,
                  momentum, bint nesterov, rho, iterations, momentums, velocities, *,
                  velocity_hats=None, accumulators=None, norms=None, bint amsgrad=False,
                  weight_decay=0.0, clipnorm=0.0, global_clipnorm=0.0, clipvalue=0.0,
                  u_product=1.0, Schedule schedule=None):
        cdef int c_rule = _code(rule, DF_N_OPTIMIZERS, "rule")
        cdef int64_t c_iterations = _int64(iterations, "iterations")
        self.state.learning_rate = _real(learning_rate, "learning_rate")
        self.state.beta_1 = _real(beta_1, "beta_1")
        self.state.beta_2 = _real(beta_2, "beta_2")
        self.state.epsilon = _real(epsilon, "epsilon")
        self.state.momentum = _real(momentum, "momentum")
        self.state.rho = _real(rho, "rho")
        self.state.weight_decay = _real(weight_decay, "weight_decay")
        self.state.clipnorm = _real(clipnorm, "clipnorm")
        self.state.global_clipnorm = _real(global_clipnorm, "global_clipnorm")
        self.state.clipvalue = _real(clipvalue, "clipvalue")
        self.state.u_product = _real(u_product, "u_product")
        if c_iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {c_iterations}")
        used = rule_slots(c_rule, self.state.momentum, amsgrad)
        given = dict(momentums=momentums, velocities=velocities, velocity_hats=velocity_hats,
                     accumulators=accumulators, norms=norms)
        self.slots = {name: _slot(given[name], name, name in used, c_rule, network)
                      for name in SLOTS}
        kept = [(n, a) for n, a in self.slots.items() if a is not None]
        for i in range(len(kept)):
            for j in range(i):
                if np.shares_memory(kept[i][1], kept[j][1]):  # one array twice too
                    raise ValueError(f"{kept[j][0]} and {kept[i][0]} must not share memory")
        self.owner = network
        self.schedule = schedule if schedule is not None else Schedule()
        self.state.schedule = (<Schedule>self.schedule).schedule
        self.state.rule = c_rule
        self.state.nesterov = nesterov
        self.state.amsgrad = amsgrad
        self.state.iterations = c_iterations
        for name, code in SLOTS.items():
            a = self.slots[name]
            self.state.slots[code] = _data(a) if a is not None else NULL

    @property
    def momentums(self):
        return self.slots["momentums"]

    @property
    def velocities(self):
        return self.slots["velocities"]

    @property
    def rule(self):
        """Its rule's code (a value of OPTIMIZERS)."""
        return self.state.rule

    @property
    def iterations(self):
        """The optimizer steps taken so far, advanced by train_batches; settable
        between calls (a restored backup's step count)."""
        return self.state.iterations

    @iterations.setter
    def iterations(self, value):
        cdef int64_t c_iterations = _int64(value, "iterations")
        if c_iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {c_iterations}")
        self.state.iterations = c_iterations

    @property
    def u_product(self):
        """Nadam's product of its momentum schedule, advanced by each step;
        settable between calls."""
        return self.state.u_product

    @u_product.setter
    def u_product(self, value):
        self.state.u_product = _real(value, "u_product")

    @property
    def learning_rate(self):
        """The constant learning rate (used when there is no schedule); settable
        between calls."""
        return self.state.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.state.learning_rate = _real(value, "learning_rate")


cdef void _optimizer_step(floating *tag, Network network, OptimizerState state):
    with nogil:
        if floating is float:
            df_optimizer_step_f32(&network.net, &state.state)
        else:
            df_optimizer_step_f64(&network.net, &state.state)


def optimizer_step(Network network not None, OptimizerState state not None):
    """One step of ``state``'s rule from the gradients in ``network.grads`` (clipped
    in place first, as in training), in place on the parameters and the state."""
    if state.owner is not network:
        raise ValueError("optimizer state must belong to the network")
    if _is_f64(network.params):
        _optimizer_step(F64, network, state)
    else:
        _optimizer_step(F32, network, state)


cdef class Dataset:
    """Inputs and targets checked once against a network: x (n, units[0]) and int32
    labels in range, or dense targets (n, units[-1]), all C-contiguous."""
    cdef readonly object x, y
    cdef readonly int64_t n
    cdef readonly bint labels
    cdef readonly object ignore_class
    cdef readonly object sample_weight

    def __cinit__(self, Network network not None, x, y, bint labels, bint copy=True,
                  ignore_class=None, sample_weight=None):
        units = network.units
        self.x = _float_array(x, "x", 2, network.dtype, False)
        _check_shape(self.x, "x", (self.x.shape[0], units[0]))
        self.n = self.x.shape[0]
        self.labels = labels
        # labels are checked on a private copy, since C indexes with them; copy=False
        # when the caller made y for this Dataset alone (fit's conversion to int32)
        if labels:
            self.ignore_class = _label_or_none(ignore_class, "ignore_class")
            self.y = _labels(y.copy() if copy and isinstance(y, np.ndarray) else y, "y", self.n,
                             units[-1], self.ignore_class)
        else:
            self.y = _float_array(y, "y", 2, network.dtype, False)
            _check_shape(self.y, "y", (self.n, units[-1]))
        # C gathers from it by the epoch's order: one weight per row, private (the
        # values are the caller's to check: validation.sample_weights)
        self.sample_weight = _sample_weight(sample_weight, self.n, network.dtype, copy=True)


cdef object _sample_weight(object weight, int64_t n, object dtype, bint copy=False):
    """None, or ``weight`` as a contiguous 1-d array of ``n`` entries of ``dtype``."""
    if weight is None:
        return None
    w = _float_array(weight, "sample_weight", 1, dtype, False)
    _check_shape(w, "sample_weight", (n,))
    return w.copy() if copy and w is weight else w


cdef _check_parts(Network network, Workspace work, Objective objective,
                  OptimizerState state, Dataset data):
    if work.owner is not network or (state is not None and state.owner is not network):
        raise ValueError("workspace and optimizer state must belong to the network")
    if data.x.dtype != network.dtype:
        raise TypeError("data must have the network's dtype")
    if data.x.shape[1] != network.units[0]:
        raise ValueError("data does not match the network's input size")
    if data.labels != objective.labels:
        raise ValueError("data targets are not the kind the objective's loss reads")
    if data.labels and data.ignore_class is not None and \
            data.ignore_class != objective.ignore_class:
        raise ValueError("data labels may hold an ignore_class the objective does not ignore")


HOOK_EXTRA = DF_HOOK_EXTRA  # a GradientReducer's buffer: the gradients, then these


cdef class GradientReducer:
    """The step hook of data-parallel training (df_step_hook): train_batches
    given one runs this rank's part of every global batch and calls
    ``reduce(buffer)`` once a batch to sum ``buffer`` over the ranks in place.
    ``buffer``: a writeable contiguous float32 or float64 array of the network's
    n_params + HOOK_EXTRA entries, the network's gradients during the call,
    then a not-finite flag and the rank's share of the batch's loss.  An
    exception ``reduce`` raises stops training before that batch's update and
    is raised again by train_batches.  ``shard``: every rank trains on its own
    rows (train_batches' order then holds this rank's rows of the pass), each
    global batch made of every rank's next batch_size rows."""
    cdef df_step_hook hook
    cdef readonly object buffer, reduce
    cdef readonly bint shard
    cdef object error

    def __cinit__(self, reduce, buffer, rank, size, shard=False):
        if not callable(reduce):
            raise TypeError("reduce must be callable")
        self.buffer = _float_array(buffer, "buffer", 1, None, True)
        cdef int64_t c_rank = _int64(rank, "rank"), c_size = _int64(size, "size")
        if not 0 <= c_rank < c_size:
            raise ValueError(f"rank must be in [0, size), got rank {c_rank} of {c_size}")
        self.reduce = reduce
        self.error = None
        self.hook.reduce = _reduce_step
        self.hook.context = <void *>self
        self.hook.rank, self.hook.size = c_rank, c_size
        self.shard = bool(shard)
        self.hook.shard = self.shard


cdef int _reduce_step(void *context) noexcept nogil:
    with gil:
        reducer = <GradientReducer>context
        try:
            reducer.reduce(reducer.buffer)
        except BaseException as error:  # KeyboardInterrupt too: raised after the call
            reducer.error = error
            return 1
    return 0


cdef int64_t _train_batches(floating *tag, Network network, Workspace work, Objective objective,
                            OptimizerState state, Dataset data, object order, int64_t batch_size,
                            int64_t first, int64_t end, object losses, object metrics,
                            object metric_state, GradientReducer reducer):
    cdef double *sp = <double *>_data(metric_state) if metric_state is not None else NULL
    cdef const floating *x = <const floating *>_data(data.x)
    cdef const void *y = _data(data.y)
    cdef const int64_t *idx = <const int64_t *>_data(order)
    cdef double *lp = <double *>_data(losses)
    cdef double *mp = <double *>_data(metrics)
    cdef const floating *sw = <const floating *>_data(data.sample_weight) \
        if data.sample_weight is not None else NULL
    cdef int64_t n = order.shape[0], done  # data.n, or a shard's rows of the pass
    cdef df_net net = network.net
    if reducer is not None:  # the gradients in its fused buffer, the hook in work
        net.grads = _data(reducer.buffer)
        work.work.hook = &reducer.hook
    with nogil:
        if floating is float:
            done = df_train_batches_f32(&net, &work.work, &objective.objective,
                                        &state.state, x, y, idx, n, batch_size, first, end,
                                        lp, mp, sw, sp)
        else:
            done = df_train_batches_f64(&net, &work.work, &objective.objective,
                                        &state.state, x, y, idx, n, batch_size, first, end,
                                        lp, mp, sw, sp)
    work.work.hook = NULL
    if reducer is not None and reducer.error is not None:
        error, reducer.error = reducer.error, None
        raise error
    return done


def train_batches(Network network not None, Workspace work not None,
                  Objective objective not None, OptimizerState optimizer_state not None,
                  Dataset data not None, order, batch_size, first_batch, end_batch,
                  batch_loss, batch_metric, metric_state=None, GradientReducer reducer=None):
    """Trains batches [first_batch, end_batch) of an epoch; returns how many were
    applied (fewer when a loss is not finite, or when the optimizer's step would
    make a parameter or its state NaN or inf: that batch's update is not applied).

    work: a training Workspace of the network, for batches of up to its capacity
    rows.  objective: what to minimise.  optimizer_state: the network's optimizer,
    updated in place.  data: a Dataset of the network.  order: the epoch's sample
    order, a contiguous int64 array of data.n indices.  batch_size: in [1,
    work.capacity].  batch_loss, batch_metric: writeable float64 arrays of at
    least end_batch - first_batch entries, given each batch's mean loss and
    metric (on the weights before its update).  metric_state: None, or a float64
    array of objective.metric_state_size entries to which each batch adds its
    rows to the objective's metrics' state (the batch that stopped training
    included).  reducer: None, or a GradientReducer: data-parallel training, this
    rank's part of each batch (its metric state and batch_metric of its rows
    only; batch_loss the global batch's); with a shard reducer, order holds
    this rank's rows of the pass: at most data.n indices."""
    _check_parts(network, work, objective, optimizer_state, data)
    objective._check_metric_state(metric_state, network.n_out)
    if not work.training:
        raise ValueError("work must be a training Workspace: this one was made with "
                         "training=False, for evaluate only (it has no gradient buffers)")
    if work.labels != objective.labels:
        raise ValueError("workspace targets are not the kind the objective's loss reads")
    # the pass's rows: a shard reducer's order may leave some of this rank's out
    cdef int64_t n = data.n
    if reducer is not None and reducer.shard and isinstance(order, np.ndarray) \
            and order.ndim == 1 and order.shape[0] <= data.n:
        n = order.shape[0]
    cdef int64_t c_batch = _int64(batch_size, "batch_size")
    cdef int64_t c_first = _int64(first_batch, "first_batch")
    cdef int64_t c_end = _int64(end_batch, "end_batch")
    if c_batch < 1 or c_batch > work.capacity:
        raise ValueError(f"batch_size must be in [1, {work.capacity}], got {c_batch}")
    cdef int64_t n_batches = (n + c_batch - 1) // c_batch
    if not 0 <= c_first <= c_end <= n_batches:
        raise ValueError(f"batches [{c_first}, {c_end}) are not within "
                         f"[0, {n_batches})")
    if isinstance(order, np.ndarray):
        _check_native(order, "order")
    if not isinstance(order, np.ndarray) or order.dtype != np.int64 or order.ndim != 1 \
            or order.shape[0] != n or not order.flags.c_contiguous:
        raise ValueError(f"order must be a contiguous int64 array of {n} indices")
    cdef int64_t lo = c_first * c_batch, hi = min(n, c_end * c_batch)
    if hi > lo:
        used = order[lo:hi]
        if used.min() < 0 or used.max() >= data.n:
            raise ValueError(f"order must hold indices in [0, {data.n})")
    count = c_end - c_first
    losses = np.asarray(batch_loss)
    metrics = np.asarray(batch_metric)
    for arr, name in ((losses, "batch_loss"), (metrics, "batch_metric")):
        _check_native(arr, name)
        if arr.dtype != np.float64 or arr.ndim != 1 or arr.shape[0] < count \
                or not arr.flags.c_contiguous or not arr.flags.writeable:
            raise ValueError(f"{name} must be a writeable float64 array of at least "
                             f"{count} entries")
    # what C writes (parameters, gradients, optimizer state, the two outputs) must
    # overlap nothing else it reads or writes: a write into order or labels would
    # send later batches' indices out of bounds
    state = optimizer_state
    written = [(network.params, "the network's params"), (network.grads, "the network's grads")]
    if network.state is not None:  # moving statistics
        written.append((network.state, "the network's state"))
    written += [(s, name) for name, s in state.slots.items() if s is not None]
    written += [(losses, "batch_loss"), (metrics, "batch_metric")]
    if metric_state is not None:
        written.append((metric_state, "metric_state"))
    if reducer is not None:
        if reducer.buffer.dtype != network.dtype \
                or reducer.buffer.shape[0] != network.layers.n_params + DF_HOOK_EXTRA:
            raise ValueError(f"reducer.buffer must be a {network.dtype} array of n_params + "
                             f"{DF_HOOK_EXTRA} = {network.layers.n_params + DF_HOOK_EXTRA} "
                             f"entries, got {reducer.buffer.dtype} {reducer.buffer.shape}")
        written.append((reducer.buffer, "reducer.buffer"))
    others = written + [(order, "order"), (data.x, "x"), (data.y, "y")]
    for i in range(len(written)):
        for j in range(len(others)):
            if i != j and _overlap(written[i][0], others[j][0]):
                raise ValueError(f"{written[i][1]} must not share memory with {others[j][1]}")
    if _is_f64(data.x):
        return _train_batches(F64, network, work, objective, state, data, order, c_batch,
                              c_first, c_end, losses, metrics, metric_state, reducer)
    return _train_batches(F32, network, work, objective, state, data, order, c_batch,
                          c_first, c_end, losses, metrics, metric_state, reducer)


cdef object _rows_for(Network network, Workspace work, object x):
    """x checked for one pass of the network through ``work``: a C-contiguous 2-d
    array of the network's dtype and input width, of at most work.capacity rows."""
    if work.owner is not network:
        raise ValueError("workspace must belong to the network")
    if not work.training:
        raise ValueError("work must be a training Workspace (made with training=True)")
    x = _float_array(x, "x", 2, network.dtype, False)
    if not 1 <= x.shape[0] <= work.capacity or x.shape[1] != network.n_in:
        raise ValueError(f"x must have 1 to {work.capacity} rows of {network.n_in} features, "
                         f"got shape {x.shape}")
    return x


cdef void _forward(floating *tag, Network network, Workspace work, object x, bint training,
                   int64_t step):
    cdef const floating *px = <const floating *>_data(x)
    cdef int rows = x.shape[0]
    with nogil:
        if floating is float:
            df_forward_f32(&network.net, &work.work, px, rows, training, step)
        else:
            df_forward_f64(&network.net, &work.work, px, rows, training, step)


def forward(Network network not None, Workspace work not None, x, bint training, step):
    """The outputs of every layer for the rows of ``x``: a list of copies, the
    last the network's output.  training: dropout active and batch
    normalization on the batch's statistics (kept in ``work`` for backward and
    update_moving_statistics); step: the training step dropout's masks are
    drawn for (the optimizer's iterations)."""
    x = _rows_for(network, work, x)
    cdef int64_t c_step = _int64(step, "step")
    if _is_f64(x):
        _forward(F64, network, work, x, training, c_step)
    else:
        _forward(F32, network, work, x, training, c_step)
    rows = x.shape[0]
    return [a[:rows].copy() for a in work._buffers[:network.layers.n_layers]]


cdef void _backward(floating *tag, Network network, Workspace work, object x, int64_t step,
                    object dx):
    cdef const floating *px = <const floating *>_data(x)
    cdef floating *pdx = <floating *>_data(dx) if dx is not None else NULL
    cdef int rows = x.shape[0]
    with nogil:
        if floating is float:
            df_backward_f32(&network.net, &work.work, px, rows, step, pdx)
        else:
            df_backward_f64(&network.net, &work.work, px, rows, step, pdx)


def backward(Network network not None, Workspace work not None, x, grad, step,
             bint need_dx=False):
    """Back-propagates ``grad`` (dL/d output, rows x units[-1]) through the pass
    ``forward(network, work, x, True, step)`` just made: the gradients land in
    network.grads; returns dL/dx (a new array) with need_dx, else None."""
    x = _rows_for(network, work, x)
    g = _float_array(grad, "grad", 2, network.dtype, False)
    _check_shape(g, "grad", (x.shape[0], network.n_out))
    cdef int64_t c_step = _int64(step, "step")
    work._grad_a.reshape(-1)[:g.size] = g.reshape(-1)  # C reads it as rows x units[-1]
    dx = np.empty_like(x) if need_dx else None
    if _is_f64(x):
        _backward(F64, network, work, x, c_step, dx)
    else:
        _backward(F32, network, work, x, c_step, dx)
    return dx


def update_moving_statistics(Network network not None, Workspace work not None):
    """Batch normalization's moving statistics updated from the batch of the last
    training ``forward`` through ``work``, as training does after each step."""
    if work.owner is not network or not work.training:
        raise ValueError("work must be a training Workspace of the network")
    with nogil:
        if network.typenum == cnp.NPY_DOUBLE:
            df_update_moving_statistics_f64(&network.net, &work.work)
        else:
            df_update_moving_statistics_f32(&network.net, &work.work)


def penalty(Network network not None, Workspace work not None, rows):
    """What the regularizers add to the mean loss of the last ``forward``
    through ``work`` over ``rows`` rows: the weights' penalties, and the layers'
    output (activity) penalties over rows."""
    if work.owner is not network:
        raise ValueError("workspace must belong to the network")
    cdef int64_t c_rows = _int64(rows, "rows")
    if not 1 <= c_rows <= work.capacity:
        raise ValueError(f"rows must be in [1, {work.capacity}], got {c_rows}")
    if network.typenum == cnp.NPY_DOUBLE:
        return df_penalty_f64(&network.net, &work.work, <int>c_rows)
    return df_penalty_f32(&network.net, &work.work, <int>c_rows)


def accepts(Network network, x):
    """Whether ``x`` can go to ``predict`` as it is: a C-contiguous 2-d ndarray of
    the network's dtype (in native byte order) and input width.  C-level checks
    only, for per-call speed."""
    if network is None or not cnp.PyArray_Check(x):
        return False
    cdef cnp.ndarray a = <cnp.ndarray>x
    return (cnp.PyArray_TYPE(a) == network.typenum and cnp.PyArray_ISNOTSWAPPED(a)
            and cnp.PyArray_NDIM(a) == 2 and cnp.PyArray_IS_C_CONTIGUOUS(a)
            and cnp.PyArray_DIM(a, 1) == network.n_in)


def forward_uses_blas(Network network not None):
    """Whether predicting with ``network`` calls BLAS (whose own threads then split
    the work), or runs wholly on the calling thread (narrow float32 layers)."""
    return bool(df_forward_uses_blas(&network.net, network.typenum == cnp.NPY_FLOAT))


cdef cnp.ndarray _predict(floating *tag, Network network, cnp.ndarray x, int64_t cap,
                          bint check_finite, cnp.ndarray out, int64_t *bad_out):
    """``out`` (allocated when None) filled; ``*bad_out``, when not NULL, set to the
    first row of out holding NaN or inf (or -1), found in the same GIL-free block."""
    cdef int64_t n = cnp.PyArray_DIM(x, 0)
    cdef cnp.npy_intp dims[2]
    dims[0] = n
    dims[1] = network.n_out
    if out is None:
        out = cnp.PyArray_EMPTY(2, dims, network.typenum, 0)
    cdef const floating *px = <const floating *>cnp.PyArray_DATA(x)
    cdef floating *po = <floating *>cnp.PyArray_DATA(out)
    cdef int n_in = network.n_in, n_out = dims[1], status = 0
    cdef int64_t bad = -1
    with nogil:  # the screen too: a large or memory-mapped x takes a while to read
        if floating is float:
            if check_finite:
                bad = df_first_nonfinite_f32(px, n, n_in)
            if bad < 0:
                status = df_predict_f32(&network.net, px, n, cap, po)
            if bad < 0 and status == 0 and bad_out != NULL:
                bad_out[0] = df_first_nonfinite_f32(po, n, n_out)
        else:
            if check_finite:
                bad = df_first_nonfinite_f64(px, n, n_in)
            if bad < 0:
                status = df_predict_f64(&network.net, px, n, cap, po)
            if bad < 0 and status == 0 and bad_out != NULL:
                bad_out[0] = df_first_nonfinite_f64(po, n, n_out)
    if bad >= 0:
        raise ValueError(f"x holds NaN or inf (first at row {bad})")
    if status != 0:
        raise MemoryError(f"predict could not allocate buffers for {cap} rows")
    return out


cdef object _predict_out(Network network, object x, object out):
    """``out`` checked as predict's destination for ``x`` (None: predict allocates)."""
    if out is None:
        return None
    o = _float_array(out, "out", 2, network.dtype, True)
    _check_shape(o, "out", (x.shape[0], network.units[-1]))
    for arr, name in ((x, "x"), (network.params, "the network's params"),
                      (network.grads, "the network's grads"), (network.state, "the network's state")):
        if arr is not None and _overlap(o, arr):  # C reads x and the weights while it writes out
            raise ValueError(f"out must not share memory with {name}")
    return o


def predict(Network network not None, x, capacity, bint check_finite=True, out=None,
            bint return_nonfinite=False):
    """The network's output for every row of ``x``: a new array, or ``out``.

    x: a C-contiguous 2-d array of the network's dtype and input width (see
    accepts).  capacity: the most rows per batch (>= 1; at most MAX_ROWS are
    used).  check_finite: screen x first, NaN or inf being a ValueError that
    names the first row holding one.  out: None, or the array to write the
    outputs into: writeable, C-contiguous, of the network's dtype and shape
    (len(x), units[-1]), overlapping neither x nor the network's buffers (a
    row slice of a larger output qualifies).  return_nonfinite: return
    ``(outputs, row)`` instead, row being the first whose outputs hold NaN or
    inf (-1 if none), found in C at a cost of nanoseconds."""
    if not accepts(network, x):
        x = _float_array(x, "x", 2, network.dtype, False)
        raise ValueError(f"x must have {network.units[0]} features, got shape {x.shape}")
    cdef int64_t cap = _int64(capacity, "capacity")
    if cap < 1:
        raise ValueError(f"capacity must be >= 1, got {cap}")
    cap = min(cap, MAX_ROWS)  # the kernels take a batch's rows as a C int
    o = _predict_out(network, x, out)
    cdef int64_t bad_out = -1
    cdef int64_t *report = &bad_out if return_nonfinite else NULL
    if network.typenum == cnp.NPY_DOUBLE:
        o = _predict(F64, network, <cnp.ndarray>x, cap, check_finite, <cnp.ndarray>o, report)
    else:
        o = _predict(F32, network, <cnp.ndarray>x, cap, check_finite, <cnp.ndarray>o, report)
    return (o, bad_out) if return_nonfinite else o


cdef tuple _evaluate(floating *tag, Network network, Workspace work, Objective objective,
                     Dataset data, object metric_state):
    cdef double *sp = <double *>_data(metric_state) if metric_state is not None else NULL
    cdef const floating *x = <const floating *>_data(data.x)
    cdef const void *y = _data(data.y)
    cdef const floating *sw = <const floating *>_data(data.sample_weight) \
        if data.sample_weight is not None else NULL
    cdef int64_t n = data.n
    cdef double loss_sum = 0, metric_sum = 0
    with nogil:
        if floating is float:
            df_evaluate_f32(&network.net, &work.work, &objective.objective, x, y, n,
                            &loss_sum, &metric_sum, sw, sp)
        else:
            df_evaluate_f64(&network.net, &work.work, &objective.objective, x, y, n,
                            &loss_sum, &metric_sum, sw, sp)
    return loss_sum, metric_sum


def evaluate(Network network not None, Workspace work not None, Objective objective not None,
             Dataset data not None, metric_state=None):
    """``(loss sum, metric sum)`` over all rows of ``data``, in batches of up to
    work.capacity rows.

    work: a Workspace of the network (training=False suffices).  objective: the
    loss and metric (a fused output's activation is left to the loss, as in
    training).  data: a Dataset of the network whose targets the loss reads.
    metric_state: None, or a float64 array of objective.metric_state_size entries
    to which the rows are added (as train_batches)."""
    _check_parts(network, work, objective, None, data)
    objective._check_metric_state(metric_state, network.n_out)
    if metric_state is not None:
        for arr, name in ((data.x, "x"), (data.y, "y"), (data.sample_weight, "sample_weight")):
            if arr is not None and _overlap(metric_state, arr):
                raise ValueError(f"metric_state must not share memory with {name}")
    if _is_f64(data.x):
        return _evaluate(F64, network, work, objective, data, metric_state)
    return _evaluate(F32, network, work, objective, data, metric_state)


cdef _update_metrics(floating *tag, Objective objective, object out, object t, object w,
                     object state):
    cdef const floating *po = <const floating *>_data(out)
    cdef const void *pt = _data(t)
    cdef const floating *pw = <const floating *>_data(w) if w is not None else NULL
    cdef double *sp = <double *>_data(state)
    cdef int64_t rows = out.shape[0], cols = out.shape[1]
    with nogil:
        if floating is float:
            df_metrics_update_f32(&objective.objective, po, po, pt, pw, rows, cols, sp)
        else:
            df_metrics_update_f64(&objective.objective, po, po, pt, pw, rows, cols, sp)


def update_metrics(Objective objective not None, out, target, sample_weight, state):
    """Adds the rows of ``out`` (outputs as the metrics read them: probabilities,
    not a fused output's logits) against ``target`` (labels when the objective's
    loss reads labels, else dense like out) to the objective's metrics' state,
    a float64 array of objective.metric_state_size entries.  sample_weight: None
    or one per row (weighted metrics only)."""
    out = _float_array(out, "out", 2, None, False)
    if out.shape[1] == 0:
        raise ValueError(f"out must have at least one column, got shape {out.shape}")
    objective._check_metric_state(state, out.shape[1])
    if state is None:
        raise ValueError("state must be a float64 array")
    t = _target(objective.objective.loss, target, "target", out)
    w = _sample_weight(sample_weight, out.shape[0], out.dtype)
    for arr, name in ((out, "out"), (t, "target"), (w, "sample_weight")):
        if arr is not None and _overlap(state, arr):
            raise ValueError(f"state must not share memory with {name}")
    if _is_f64(out):
        _update_metrics(F64, objective, out, t, w, state)
    else:
        _update_metrics(F32, objective, out, t, w, state)
