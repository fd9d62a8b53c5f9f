"""Data preparation for fit, evaluate and predict: user data in, checked arrays
in the model's dtype out (Keras keeps this in ``trainers/data_adapters``).

Nothing here knows a model: callers pass the sizes and dtype to check against.
Conversions are made once, and only when needed (a C-contiguous array of the
right dtype is used in place); labels are copied once, since C indexes with them.

Besides what ``np.asarray`` takes, a scipy.sparse matrix is densified (in the
model's dtype when the caller gives it) and a pandas DataFrame or Series of
numeric columns (nullable ``Int64``/``Float64`` included) goes through
``to_numpy``; neither library is imported unless such an object arrives.  A
generator or iterator of batches is refused here: fit, evaluate and predict
stream it (streaming.py) before reaching this module.
"""
import collections.abc
import math

import numpy as np

from . import _core, validation


def as_array(value, name, dtype=None):
    """``value`` as an ndarray, with what cannot become one reported under ``name``
    (a ragged nested list, a generator, a dict ...).  ``dtype``: the dtype a
    sparse matrix is densified in (None: its own)."""
    if _module(value).startswith("scipy.sparse"):
        return _from_sparse(value, name, dtype)
    if _module(value).startswith("pandas") and hasattr(value, "to_numpy"):
        return _from_pandas(value, name)
    refuse_stream(value, name)
    try:
        array = np.asarray(value)
    except ValueError as e:  # "setting an array element with a sequence ..."
        raise ValueError(f"{name} must be a rectangular array (rows of equal length), "
                         f"got a ragged sequence: {e}") from None
    if array.ndim == 0 and array.dtype.kind not in "biuf":
        if hasattr(value, "__iter__") and not isinstance(value, (str, bytes, dict)):
            raise TypeError(_stream_message(name, f"a {type(value).__name__}"))  # a dataset
        raise TypeError(f"{name} must be an array of real numbers, got a "
                        f"{type(value).__name__}: pass a NumPy array (or a list of rows)")
    return array


def refuse_stream(value, name):
    """A TypeError for a generator or iterator where arrays are needed (fit, evaluate
    and predict stream one as ``x``: streaming.py), with the line that makes arrays."""
    if isinstance(value, collections.abc.Iterator):
        raise TypeError(_stream_message(
            name, "a generator" if type(value).__name__ == "generator" else
            f"an iterator ({type(value).__name__})"))


def _stream_message(name, what):
    return (f"{name} is {what}: arrays are needed here (fit, evaluate and predict take "
            f"a generator or PyDataset of (x, y) batches as x, with y left out). Gather "
            f"the batches first: "
            f"x, y = map(np.concatenate, zip(*batches)) for (x, y) batches, or "
            f"x = np.concatenate(list(batches)) for inputs alone")


def _module(value):
    return type(value).__module__ or ""


def _from_sparse(matrix, name, dtype):
    """A scipy.sparse matrix as a dense C-contiguous array, in ``dtype`` when that
    converts without overflow (else in its own: the caller's conversion names the row)."""
    import scipy.sparse

    if not scipy.sparse.issparse(matrix):
        return np.asarray(matrix)
    if matrix.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (float, int or bool), got a "
                        f"scipy.sparse matrix of dtype {matrix.dtype}")
    if dtype is not None and matrix.dtype != dtype:
        try:
            with np.errstate(over="raise"):
                matrix = matrix.astype(dtype)
        except FloatingPointError:
            pass
    return matrix.toarray(order="C")


def _from_pandas(value, name):
    """A DataFrame's or Series' values through ``to_numpy`` in the NumPy type of its
    columns; a non-numeric column or a missing value is named."""
    columns = list(value.items()) if value.ndim == 2 else [(None, value)]
    types = []
    for column, series in columns:
        where = name if column is None else f"{name} column {column!r}"
        kind = getattr(series.dtype, "numpy_dtype", series.dtype)  # Int64 -> int64
        if not isinstance(kind, np.dtype) or kind.kind not in "biuf":
            raise TypeError(f"{where} has dtype {series.dtype}, not numbers: encode it as "
                            f"numbers (pd.get_dummies, .cat.codes) or drop it")
        missing = np.flatnonzero(series.isna().to_numpy())
        if len(missing):
            row, label = missing[0], series.index[missing[0]]
            label = label.item() if isinstance(label, np.generic) else label
            at = f"row {row}" if label == row else f"row {row} (index {label!r})"
            raise ValueError(f"{where} holds missing values (NA or NaN), first at {at}: "
                             f"drop those rows ({name}.dropna(), and the "
                             f"matching rows of the other arrays) or fill them "
                             f"({name}.fillna(value))")
        types.append(kind)
    return value.to_numpy(dtype=np.result_type(*types) if types else np.float64)


def converted(array, dtype, name):
    """``array`` as a C-contiguous array of ``dtype`` (itself when it already is); a
    finite value beyond ``dtype``'s range is a ValueError naming its row, not NaN."""
    try:
        with np.errstate(over="raise"):
            return np.ascontiguousarray(array, dtype=dtype)
    except FloatingPointError:
        with np.errstate(over="ignore"):
            lost = np.isfinite(array) & ~np.isfinite(array.astype(dtype))
        row = np.unravel_index(np.flatnonzero(lost)[0], array.shape)
        dtype = np.dtype(dtype)
        raise ValueError(f"{name} holds {validation.shown(array[row])} at row {row[0]}, beyond "
                         f"{dtype}'s range (±{np.finfo(dtype).max:.4g}): scale the data (e.g. "
                         f"standardise it), or use a float64 model (Input(shape=..., "
                         f"dtype='float64'))") from None


def features(x, name="x", n_features=None, dtype=None, flattens=False):
    """``x`` as a real 2-d array with at least one feature (not yet converted, but
    densified in ``dtype`` if sparse); with ``flattens`` (a Flatten before the
    model's first Dense) of 2 or more dimensions.  ``n_features``: the model's input
    width when known: a 1-d ``x`` is one value per sample for a model of one
    input (Keras 3 adds that axis), else a hint says how to reshape it."""
    if x is None:
        raise ValueError(f"{name} is required")
    x = as_array(x, name, dtype)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (float, int or bool), got dtype {x.dtype}")
    if x.ndim == 1 and n_features == 1:  # one sample per value, as Keras 3 expands it
        x = x.reshape(-1, 1)
    if x.ndim != 2 and not (flattens and x.ndim > 2):
        raise ValueError(f"{name} must be 2-d (samples, features), got shape {x.shape}"
                         f"{_shape_hint(x, name, n_features)}")
    if math.prod(x.shape[1:]) < 1:
        raise ValueError(f"{name} must have at least one feature, got shape {x.shape}")
    return x


def _shape_hint(x, name, n_features):
    """How to make a 1-d, 3-d or 4-d ``x`` 2-d, for a model of ``n_features`` inputs."""
    if x.ndim in (3, 4):
        return (f": for images start the model with Flatten() (after Input(shape="
                f"{x.shape[1:]})), or flatten them, e.g. {name}.reshape(len({name}), -1)")
    if x.ndim != 1:
        return ""
    if n_features is None:
        return (f": {name}.reshape(-1, 1) if it holds one feature of many samples, "
                f"{name}[None] if it is one sample")
    if n_features == 1:
        return f": the model takes one feature, use {name}.reshape(-1, 1)"
    if len(x) == n_features:
        return (f": for one sample of the model's {n_features} features use {name}[None] "
                f"(or {name}.reshape(1, -1))")
    return (f"; the model takes {n_features} features: pass an array of shape "
            f"(samples, {n_features})")


def flattened(x, name, sample_shape):
    """``x`` (from ``features``) with each sample of ``sample_shape`` flattened to a
    row: a view of ``x``, no copy, when ``x`` is C-contiguous.  Samples of another
    shape are a ValueError naming both shapes."""
    if len(sample_shape) == 1 and x.ndim == 2:
        return x  # its width checked by model_inputs
    if x.shape[1:] == tuple(sample_shape):
        return x.reshape(len(x), math.prod(sample_shape))
    raise ValueError(f"{name} must have samples of shape {tuple(sample_shape)} to match the "
                     f"model's input shape {(None,) + tuple(sample_shape)}, got shape {x.shape} "
                     f"(samples of shape {x.shape[1:]})")


def model_inputs(x, name, n_features, dtype, check_finite=True):
    """2-d real ``x`` (from ``features``) as a C-contiguous array of ``dtype`` with
    ``n_features`` columns; NaN or inf refused unless the caller screens it."""
    if x.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features to match the model's input "
                         f"shape {(None, n_features)}, got shape {x.shape}")
    x = converted(x, dtype, name)
    row = _core.first_nonfinite_row(x) if check_finite else -1
    if row >= 0:
        raise ValueError(f"{name} holds NaN or inf (first at row {row})")
    return x


def dataset(network, loss, x, y, xname="x", yname="y", sample_weight=None, class_weight=None):
    """A ``_core.Dataset`` of inputs ``x`` (already through ``model_inputs``) and the
    targets ``y`` in the form ``loss`` reads (int32 labels or a dense matrix), with
    per-sample weights from ``sample_weight`` or ``class_weight`` (at most one)."""
    if y is None:
        raise ValueError(f"{yname} is required for training and evaluation")
    y_arr = as_array(y, yname)
    y_len = len(y_arr) if y_arr.ndim else "a scalar"
    if y_len != len(x):
        raise ValueError(f"{xname} and {yname} must have the same number of samples, got "
                         f"{len(x)} and {y_len}")
    weights = weights_of(y_arr, sample_weight, class_weight, len(x), network.dtype)
    targets = loss.prepare_targets(y_arr, (len(x), network.units[-1]), network.dtype, yname)
    # labels are copied once: the core keeps a private copy (C indexes with them)
    # unless converting them to int32 already made a new array
    return _core.Dataset(network, x, targets, loss.labels,
                         copy=np.may_share_memory(targets, y_arr), ignore_class=loss.ignored_label,
                         sample_weight=weights)


def weights_of(y, sample_weight, class_weight, n, dtype):
    """The per-sample weights (in ``dtype``) of ``sample_weight`` or ``class_weight``,
    or None: Keras' ``class_weight_to_sample_weights`` for the latter."""
    if sample_weight is not None and class_weight is not None:
        raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
    if class_weight is not None:
        weights = class_weight_to_sample_weights(y, validation.class_weights(class_weight))
    elif sample_weight is not None:
        weights = as_array(sample_weight, "sample_weight")
    else:
        return None
    return converted(validation.sample_weights(weights, n), dtype, "sample_weight")


def class_weight_to_sample_weights(y, class_weight):
    """Each sample's weight is its class's (1 for a class not in the dict): the
    label, the argmax of a one-hot row, or the rounded value of a 1-column target."""
    classes = np.asarray(y)
    if classes.ndim > 1:
        classes = classes.argmax(axis=-1) if classes.shape[-1] != 1 else classes[..., 0]
    classes = np.round(classes).astype(np.int64)
    return np.array([class_weight.get(int(c), 1.0) for c in classes], np.float64)


def split_validation(x, y, validation_split, sample_weight=None):
    """``(x, y, sample_weight, (x_val, y_val, sample_weight_val))``: Keras' split, the
    last fraction of the samples taken before shuffling."""
    validation_split = validation.real(validation_split, "validation_split", low=0, high=1,
                                       high_open=True)
    if not validation_split:
        return x, y, sample_weight, None
    if x is None or y is None or x.ndim == 0 or y.ndim == 0:
        raise ValueError("validation_split needs array x and y")
    split = int(np.floor(len(x) * (1 - validation_split)))
    if split == 0 or split == len(x):
        raise ValueError(f"validation_split={validation_split} of {len(x)} samples leaves an "
                         f"empty {'training' if split == 0 else 'validation'} set")
    if len(y) != len(x):
        raise ValueError(f"x and y must have the same number of samples, got {len(x)} and "
                         f"{len(y)}")
    if sample_weight is None:
        return x[:split], y[:split], None, (x[split:], y[split:], None)
    sample_weight = validation.sample_weights(as_array(sample_weight, "sample_weight"), len(x))
    return (x[:split], y[:split], sample_weight[:split],
            (x[split:], y[split:], sample_weight[split:]))


def validation_triple(validation_data):
    """``(x_val, y_val, sample_weight_val)`` from fit's ``validation_data``: a tuple
    ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``."""
    refuse_stream(validation_data, "validation_data")
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        got = (f"{len(validation_data)} items" if isinstance(validation_data, (tuple, list))
               else f"a {type(validation_data).__name__}")
        raise ValueError(f"validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                         f"sample_weight_val), got {got}")
    return tuple(validation_data) + (None,) * (3 - len(validation_data))


class ModelData:
    """Data prepared for one model (a mix-in of ``Sequential``, which provides
    ``input_shape``, ``dtype``, ``loss``, ``_network``, ``_ensure_built`` and
    ``_flattens_input``): what fit, evaluate, predict and the on-batch calls
    hand to the compiled core."""

    def _model_inputs(self, x, name, check_finite=True):
        """``x`` checked and converted for the network, which is built on first data."""
        shape = self.input_shape  # one sample's, after None (for a 1-d x's hint)
        width = math.prod(shape[1:]) if shape else None
        x = features(x, name, width, self.dtype, self._flattens_input)
        self._ensure_built(x.shape[1:])
        x = flattened(x, name, self.input_shape[1:])
        return model_inputs(x, name, self._network.units[0], self._network.dtype,
                                         check_finite)

    def _dataset(self, x, y, xname="x", yname="y", sample_weight=None, class_weight=None):
        x = self._model_inputs(x, xname)
        return dataset(self._network, self.loss, x, y, xname, yname,
                                    sample_weight, class_weight)
