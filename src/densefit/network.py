"""The compiled network behind a Sequential model.

A model's Dense layers share one flat parameter buffer (kernel then bias per
layer, Keras' shapes and order); each layer's ``kernel`` and ``bias`` are views
into it, so the compiled core updates them in place.  A *plan* is what the core
runs: one ``(Dense, Activation)`` pair per Dense layer, activation layers folded
into the Dense before them.
"""
import numpy as np

from . import _core


def weight_shapes(n_in, units):
    """The shapes of ``get_weights()`` for Dense layers of ``units`` on ``n_in``
    inputs, computed without allocating anything."""
    shapes = []
    for n_out in units:
        shapes += [(n_in, n_out), (n_out,)]
        n_in = n_out
    return shapes


def build(plan, n_in, dtype, rng):
    """A ``_core.Network`` for ``plan`` on ``n_in`` input features.  Layers that
    have weights keep their values, the others draw them from their initialisers
    with ``rng``; afterwards every layer's kernel and bias view the new buffer."""
    units = [dense.units for dense, _ in plan]
    params = np.empty(_core.parameter_count([n_in] + units), dtype)
    views, offset = [], 0
    for (dense, _), shape in zip(plan, _pairs(weight_shapes(n_in, units))):
        kernel, bias = (dense.kernel, dense.bias) if dense.built else \
            dense.initial_weights(shape[0][0], rng)
        k, offset = _view(params, offset, kernel.shape), offset + kernel.size
        b, offset = _view(params, offset, bias.shape), offset + bias.size
        k[...], b[...] = kernel, bias
        views.append((k, b))
    network = _core.Network([n_in] + units, [act.code for _, act in plan],
                            [act.slope for _, act in plan], params, np.zeros_like(params))
    for (dense, _), (k, b) in zip(plan, views):  # only once the core accepted the network
        dense._attach(k, b)
    return network


def _pairs(shapes):
    return list(zip(shapes[0::2], shapes[1::2]))


def _view(params, offset, shape):
    return params[offset:offset + int(np.prod(shape))].reshape(shape)
