"""The compiled network behind a Sequential model.

A model's Dense layers share one flat parameter buffer (kernel then bias per
layer, Keras' shapes and order); each layer's ``kernel`` and ``bias`` are views
into it, so the compiled core updates them in place.  A *plan* is what the core
runs: one ``(Dense, Activation)`` pair per Dense layer, activation layers folded
into the Dense before them.
"""
import os

import numpy as np

from . import _core
from .summary import format_bytes


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
    check_fits(plan, n_in, dtype)
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


def check_fits(plan, n_in, dtype, memory=None):
    """A MemoryError naming the largest layer when what a build allocates would
    not fit in ``memory`` bytes (default: this machine's physical memory), raised
    before anything is allocated.  A build holds the parameters and their
    gradients, and at its peak an initialiser's float64 draw and its scaled copy
    for one kernel (16 bytes an entry)."""
    memory = memory or physical_memory()
    units = [dense.units for dense, _ in plan]
    sizes = [_core.parameter_count([a, b]) for a, b in zip([n_in] + units, units)]
    need = 2 * sum(sizes) * np.dtype(dtype).itemsize + 16 * max(sizes)
    if memory is None or need <= memory:
        return
    largest = int(np.argmax(sizes))
    dense, fan_in = plan[largest][0], ([n_in] + units)[largest]
    raise MemoryError(f"Dense layer {dense.name!r} of {dense.units} units would need a kernel "
                      f"of shape ({fan_in}, {dense.units}): building the model takes "
                      f"{format_bytes(need)} in {np.dtype(dtype)} (parameters, gradients and "
                      f"the initial draw), more than this machine's {format_bytes(memory)} of "
                      f"memory; use fewer units")


def physical_memory():
    """This machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _pairs(shapes):
    return list(zip(shapes[0::2], shapes[1::2]))


def _view(params, offset, shape):
    return params[offset:offset + int(np.prod(shape))].reshape(shape)
