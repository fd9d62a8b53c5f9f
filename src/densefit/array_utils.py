"""Keras' array helpers in ``keras.utils``: ``to_categorical``, ``normalize``,
``split_dataset`` (re-exported by utils.py).  Plain NumPy in, NumPy out."""
import numbers

import numpy as np

from . import validation


def to_categorical(x, num_classes=None):
    """One-hot rows for integer class labels, as Keras': float64 (Keras' NumPy
    result), the class axis last; a trailing axis of 1 (labels as a column) is
    dropped first.

    Args:
        x: integer labels in [0, num_classes).
        num_classes: the number of classes (default: ``max(x) + 1``).

    >>> to_categorical([0, 2], 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    labels = np.asarray(x)
    if labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and \
            np.array_equal(labels, np.round(labels)):
        labels = labels.astype(np.int64)  # 3.0 is label 3, as Keras' int64 cast takes it
    if labels.dtype.kind not in "iub":
        raise ValueError(f"x must hold integer class labels, got dtype {labels.dtype}")
    shape = labels.shape[:-1] if labels.ndim > 1 and labels.shape[-1] == 1 else labels.shape
    flat = labels.reshape(-1).astype(np.int64)
    if num_classes is None:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    num_classes = validation.integer(num_classes, "num_classes", low=1 if flat.size else 0)
    if flat.size and (flat.min() < 0 or flat.max() >= num_classes):
        bad = flat[(flat < 0) | (flat >= num_classes)][0]
        raise ValueError(f"x holds label {bad}, outside [0, {num_classes}): pass "
                         f"num_classes=... large enough, or fix the labels")
    categorical = np.zeros((flat.size, num_classes))
    categorical[np.arange(flat.size), flat] = 1
    return categorical.reshape(shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (zero norms left as 1),
    as Keras' ``keras.utils.normalize``."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"x must be a real numeric array, got dtype {x.dtype}")
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis or -1)


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Split arrays of equal length in two, as Keras' ``keras.utils.split_dataset``
    does, but returning NumPy arrays (Keras returns ``tf.data`` datasets): an
    array gives ``(left, right)``, a tuple or list of arrays ``((x_left, y_left),
    (x_right, y_right))``.

    Args:
        dataset: an array, or a tuple/list of arrays with the same first dimension.
        left_size, right_size: a fraction in (0, 1) or a count of samples; one
            may be None (the complement of the other), not both.  The left side
            takes the first samples, the right the last (with both given, those
            between go to neither, as in Keras).
        shuffle: shuffle before splitting (with ``seed``).
        seed: an int seed for the shuffle (None: unseeded).
    """
    arrays, single = _as_arrays(dataset)
    total = len(arrays[0])
    left, right = _split_sizes(left_size, right_size, total)
    order = np.arange(total)
    if validation.boolean(shuffle, "shuffle"):
        np.random.default_rng(seed).shuffle(order)
    left_part = [a[order[:left]] for a in arrays]
    right_part = [a[order[total - right:]] for a in arrays]  # the last ones, as Keras
    if single:
        return left_part[0], right_part[0]
    return tuple(left_part), tuple(right_part)


def _as_arrays(dataset):
    single = not isinstance(dataset, (tuple, list))
    arrays = [np.asarray(dataset)] if single else [np.asarray(a) for a in dataset]
    if not arrays or any(a.ndim == 0 for a in arrays):
        raise TypeError("dataset must be an array or a tuple/list of arrays (tf.data datasets "
                        "are not supported: densefit works on NumPy arrays)")
    if len({len(a) for a in arrays}) != 1:
        raise ValueError(f"the arrays of dataset must have the same length, got "
                         f"{[len(a) for a in arrays]}")
    return arrays, single


def _split_sizes(left_size, right_size, total):
    """Keras' rules: a float is a fraction of ``total`` (rounded), an int a count."""
    if left_size is None and right_size is None:
        raise ValueError("At least one of left_size or right_size must be specified")
    left, right = (_size(v, name, total) for v, name in ((left_size, "left_size"),
                                                          (right_size, "right_size")))
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(f"left_size + right_size ({left} + {right}) is more than the "
                         f"{total} samples of dataset")
    if left == 0 or right == 0:
        raise ValueError(f"with {total} samples, left_size={left_size} and "
                         f"right_size={right_size} leave the {'left' if left == 0 else 'right'} "
                         f"side empty; adjust them")
    return left, right


def _size(value, name, total):
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return validation.integer(value, name, low=1, high=total - 1)
    fraction = validation.real(value, name, low=0, high=1, low_open=True, high_open=True)
    return round(fraction * total)
