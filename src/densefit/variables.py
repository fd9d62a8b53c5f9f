"""Keras 3's variable API on a layer's weights: ``layer.kernel.assign(value)``.

A ``Variable`` is the NumPy view into the model's buffer that the layer
always had (network.py), marked with its layer and its place there, so every
in-place write still reaches the compiled network and the core never sees
anything but the buffer.  What it adds is Keras' variable surface: ``assign``
(checked whole, written under the model's step lock as ``set_weights``),
``assign_add``/``assign_sub``, ``numpy()``, ``value``, ``name``, ``path``,
``trainable``.  Anything computed from it (``w * 2``, ``w[0]``, ``w.copy()``)
is a plain ndarray, so NumPy code sees no new type.

>>> import numpy as np
>>> from densefit import Sequential
>>> from densefit.layers import Dense, Input
>>> model = Sequential([Input((3,)), Dense(1, name="out")])
>>> _ = model.layers[-1].bias.assign([np.log(1 / 9)])
>>> model.layers[-1].bias.path, round(float(model.get_weights()[1][0]), 4)
('sequential/out/bias', -2.1972)
"""
import copy

import numpy as np


class Variable(np.ndarray):
    """One weight of a layer: a view into its model's buffer with Keras'
    variable methods.  ``assign`` writes to the layer's current weight, even
    after the model laid its buffers out anew (``trainable`` changed, a layer
    added)."""

    def __new__(cls, view, layer, index):
        variable = view.view(cls)
        variable._layer, variable._index = layer, index
        return variable

    def __array_finalize__(self, obj):
        self._layer = getattr(obj, "_layer", None)
        self._index = getattr(obj, "_index", None)

    # anything derived is a plain ndarray: only the weight itself is a Variable
    def __array_wrap__(self, array, context=None, return_scalar=False):
        array = array.view(np.ndarray)
        return array[()] if return_scalar else array

    def __getitem__(self, key):
        return self.view(np.ndarray)[key]

    def copy(self, order="C"):
        return self.view(np.ndarray).copy(order)

    def astype(self, *args, **kwargs):
        return self.view(np.ndarray).astype(*args, **kwargs)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):  # pickles as the plain array it holds
        return copy.copy(self).__reduce__()

    # ------------------------------------------------------------ Keras' variable API

    @property
    def name(self):
        """The weight's name in its layer (``"kernel"``, ``"bias"``, ``"gamma"``, ...)."""
        return self._layer.weight_names[self._index]

    @property
    def path(self):
        """``"<model>/<layer>/<name>"``, as Keras 3's ``variable.path``."""
        model = self._layer.model
        prefix = f"{model.name}/" if model is not None else ""
        return f"{prefix}{self._layer.name}/{self.name}"

    @property
    def trainable(self):
        """Whether training updates it (False for moving statistics and frozen layers)."""
        return bool(self._layer._trained[self._index])

    @property
    def value(self):
        """The current value: a plain ndarray view of the same memory."""
        return self._current().view(np.ndarray)

    def numpy(self):
        """A copy of the current value, between two training steps."""
        model = self._layer.model
        if model is None:
            return self._current().copy()
        with model._step_lock.reading():
            return self._current().copy()

    def assign(self, value):
        """Write ``value`` (of this shape, finite) into the weight; the compiled
        network trains from it.  Refused while another thread trains the model."""
        current = self._current()
        shape = np.shape(value)
        if shape != current.shape:
            raise ValueError(f"The shape of the target variable and the shape of the target "
                             f"value in `variable.assign(value)` must match. "
                             f"variable.shape={current.shape}, Received: value.shape={shape}. "
                             f"Target variable: {self.path}")
        self._layer.model._set_weights_of([current], [value], f"variable {self.path!r}")
        return self

    def assign_add(self, value):
        return self.assign(self.numpy() + np.asarray(value, self.dtype))

    def assign_sub(self, value):
        return self.assign(self.numpy() - np.asarray(value, self.dtype))

    def _current(self):
        """The layer's weight now (self, unless the model laid its buffers out anew)."""
        weights = self._layer._weights
        if weights is None or self._layer.model is None:
            raise ValueError(f"variable {self._layer.name}/{self.name} no longer belongs to a "
                             f"built model")
        return weights[self._index]

    def __repr__(self):
        return (f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, "
                f"value={self.view(np.ndarray)}>")
