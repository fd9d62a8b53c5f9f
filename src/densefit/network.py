"""The compiled network behind a Sequential model.

A model's layers share two flat buffers: the trainable parameters (the
optimizer's, with a gradient buffer of the same layout) and the other weights
(moving statistics, frozen layers' weights), each layer's weights in Keras'
shapes and order; ``_core.Layers`` lays them out.  Each layer's weights are
views into them, so the compiled core updates them in place.  A *plan* is what
the core runs: one ``(layer, Activation)`` pair per layer (see layer_stack.py).
"""
import os

import numpy as np

from . import _core
from .summary import format_bytes


def layer_units(plan, n_in):
    """The sizes the plan's layers map between, input first."""
    units = [n_in]
    for layer, _ in plan:
        units.append(layer.output_units(units[-1]))
    return units


def layout(plan, n_in):
    """The core's ``Layers`` for ``plan`` on ``n_in`` input features (sizes and
    buffer layout; nothing allocated)."""
    return _core.layout(layer_units(plan, n_in), [act.code for _, act in plan],
                        [act.slope for _, act in plan],
                        [_core.LAYER_KINDS[layer.core_kind] for layer, _ in plan],
                        [layer.core_options() for layer, _ in plan])


def weight_shapes(plan, n_in):
    """The shapes of ``get_weights()`` for ``plan`` on ``n_in`` inputs, computed
    without allocating anything."""
    if not plan:
        return []
    return [shape for layer in layout(plan, n_in).slices for _, _, shape in layer]


def build(plan, n_in, dtype, rng):
    """A ``_core.Network`` for ``plan`` on ``n_in`` input features.  Layers that
    have weights keep their values, the others draw them from their initialisers
    with ``rng`` (in layer order); afterwards every layer's weights view the new
    buffers."""
    layers = layout(plan, n_in)
    check_fits(plan, n_in, dtype, layers=layers)
    params, state = np.empty(layers.n_params, dtype), np.empty(layers.n_state, dtype)
    network = _network(plan, layers, params, np.zeros_like(params), state)
    views = network.weight_views()
    for (layer, _), n_in_l, layer_views in zip(plan, layers.units, views):
        values = layer.weights if layer.built else layer.initial_weights(n_in_l, rng)
        for view, value in zip(layer_views, values):
            view[...] = value
    _attach(plan, layers, views)
    return network


def over(plan, n_in, params, grads, state):
    """A ``_core.Network`` for ``plan`` on ``n_in`` input features over the first
    entries of ``params``, ``grads`` and ``state``: contiguous views into another
    network's buffers (a nested model's block, nesting.py), used in place, so
    both networks read and write the same weights; the layers' weights view them."""
    layers = layout(plan, n_in)
    network = _network(plan, layers, params[:layers.n_params], grads[:layers.n_params],
                       state[:layers.n_state])
    _attach(plan, layers, network.weight_views())
    return network


def _network(plan, layers, params, grads, state):
    return _core.Network(layers.units, layers.activation_codes, [act.slope for _, act in plan],
                         params, grads, layers.kinds,
                         [layer.core_options() for layer, _ in plan], state)


def _attach(plan, layers, views):
    for (layer, _), layer_views, slices in zip(plan, views, layers.slices):
        layer._attach(layer_views, [in_params for in_params, _, _ in slices])  # all accepted


def check_fits(plan, n_in, dtype, memory=None, layers=None):
    """A MemoryError naming the largest layer when what a build allocates would
    not fit in ``memory`` bytes (default: this machine's physical memory), raised
    before anything is allocated.  A build holds the parameters, their
    gradients and the other weights, and at its peak an initialiser's float64
    draw and its scaled copy for one weight (16 bytes an entry)."""
    memory = memory or physical_memory()
    layers = layers or layout(plan, n_in)
    sizes = [sum(int(np.prod(shape)) for _, _, shape in layer) for layer in layers.slices]
    need = (2 * layers.n_params + layers.n_state) * np.dtype(dtype).itemsize + 16 * max(sizes)
    if memory is None or need <= memory:
        return
    largest = int(np.argmax(sizes))
    layer, fan_in = plan[largest][0], layers.units[largest]
    what = (f"Dense layer {layer.name!r} of {layer.units} units would need a kernel of shape "
            f"({fan_in}, {layer.units})" if layer.core_kind == "dense"
            else f"layer {layer.name!r} would need {sizes[largest]} weights")
    raise MemoryError(f"{what}: building the model takes "
                      f"{format_bytes(need)} in {np.dtype(dtype)} (parameters, gradients and "
                      f"the initial draw), more than this machine's {format_bytes(memory)} of "
                      f"memory; use fewer units")


def physical_memory():
    """This machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
