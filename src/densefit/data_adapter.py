"""Data preparation for fit, evaluate and predict: user data in, checked arrays
in the model's dtype out (Keras keeps this in ``trainers/data_adapters``).

Nothing here knows a model: callers pass the sizes and dtype to check against.
Conversions are made once, and only when needed (a C-contiguous array of the
right dtype is used in place); labels are copied once, since C indexes with them.
"""
import numpy as np

from . import _core, validation


def as_array(value, name):
    """``np.asarray(value)``, with a ragged nested list reported under ``name``."""
    try:
        return np.asarray(value)
    except ValueError as e:  # "setting an array element with a sequence ..."
        raise ValueError(f"{name} must be a rectangular array (rows of equal length), "
                         f"got a ragged sequence: {e}") from None


def features(x, name="x"):
    """``x`` as a real 2-d array with at least one feature (not yet converted)."""
    if x is None:
        raise ValueError(f"{name} is required")
    x = as_array(x, name)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (float, int or bool), got dtype {x.dtype}")
    if x.ndim != 2:
        hint = (" (for one feature use x.reshape(-1, 1); for images flatten them, e.g. "
                "x.reshape(len(x), -1))" if x.ndim in (1, 3, 4) else "")
        raise ValueError(f"{name} must be 2-d (samples, features), got shape {x.shape}{hint}")
    if x.shape[1] < 1:
        raise ValueError(f"{name} must have at least one feature, got shape {x.shape}")
    return x


def model_inputs(x, name, n_features, dtype, check_finite=True):
    """2-d real ``x`` (from ``features``) as a C-contiguous array of ``dtype`` with
    ``n_features`` columns; NaN or inf refused unless the caller screens it."""
    if x.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features to match the model's input "
                         f"shape {(None, n_features)}, got shape {x.shape}")
    x = np.ascontiguousarray(x, dtype=dtype)
    row = _core.first_nonfinite_row(x) if check_finite else -1
    if row >= 0:
        raise ValueError(f"{name} holds NaN or inf (first at row {row})")
    return x


def dataset(network, loss, x, y, xname="x", yname="y"):
    """A ``_core.Dataset`` of inputs ``x`` (already through ``model_inputs``) and the
    targets ``y`` in the form ``loss`` reads (int32 labels or a dense matrix)."""
    if y is None:
        raise ValueError(f"{yname} is required for training and evaluation")
    y_arr = as_array(y, yname)
    y_len = len(y_arr) if y_arr.ndim else "a scalar"
    if y_len != len(x):
        raise ValueError(f"{xname} and {yname} must have the same number of samples, got "
                         f"{len(x)} and {y_len}")
    try:
        targets = loss.prepare_targets(y_arr, (len(x), network.units[-1]), network.dtype)
    except (ValueError, TypeError) as e:
        raise type(e)(str(e).replace("y ", f"{yname} ", 1)) from None
    # labels are copied once: the core keeps a private copy (C indexes with them)
    # unless converting them to int32 already made a new array
    return _core.Dataset(network, x, targets, loss.labels,
                         copy=np.may_share_memory(targets, y_arr))


def split_validation(x, y, validation_split):
    """``(x, y, (x_val, y_val))``: Keras' split, the last fraction of the samples
    taken before shuffling."""
    validation_split = validation.real(validation_split, "validation_split", low=0, high=1,
                                       high_open=True)
    if not validation_split:
        return x, y, None
    if x is None or y is None or x.ndim == 0 or y.ndim == 0:
        raise ValueError("validation_split needs array x and y")
    split = int(np.floor(len(x) * (1 - validation_split)))
    if split == 0 or split == len(x):
        raise ValueError(f"validation_split={validation_split} of {len(x)} samples leaves an "
                         f"empty {'training' if split == 0 else 'validation'} set")
    if len(y) != len(x):
        raise ValueError(f"x and y must have the same number of samples, got {len(x)} and "
                         f"{len(y)}")
    return x[:split], y[:split], (x[split:], y[split:])


def validation_pair(validation_data):
    """``(x_val, y_val)`` from fit's ``validation_data``."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise ValueError("validation_data must be a tuple (x_val, y_val)")
    return validation_data
