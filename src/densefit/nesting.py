"""A Sequential as a layer of another: Keras' ``Sequential([base, Softmax()])``.

The inner model is one entry of the outer's ``layers``; in the outer's *plan*
its plan entries stand in place (layer_stack.py), so the compiled core runs one
flat sequence of layers (an activation layer after it folds into its last
layer in the outer's plan only).  ``_core.Layers`` lays the weights out in plan
order, so the inner's layers occupy one contiguous block of the outer's
trainable parameters (and gradients) and one of its other weights.  After
each build of the outer, ``share`` rebuilds the inner's network over those
blocks: both models read and write the same memory, so training the outer
trains the inner's weights and the inner predicts with them afterwards, as
Keras' shared variables.  The inner takes the outer's step lock (a reader of
one waits for a step of the other) and its fit lock (``Outermost``: neither
trains or changes while the other does).

A model is nested in one model at most, once, and not in itself; while nested
its layers are fixed (``add`` is refused), and freezing a layer of either
lays the outermost model out anew (every optimizer involved restarts, as
freezing does).
"""
import contextlib
import math

from . import network
from .utils import new_generator

MAX_DEPTH = 8  # models nested in models in a file read (a deeper config is refused)


def is_model(layer):
    """Whether ``layer`` is a model (a Sequential) rather than a layer."""
    return hasattr(layer, "_stack")


def check_nestable(outer, inner):
    """Errors for an ``inner`` model that cannot be a layer of ``outer``."""
    if outer in family(inner):
        raise ValueError(f"model {inner.name!r} cannot be a layer of itself, nor of a model "
                         f"nested in it")
    parent = parent_of(inner)
    if parent is outer:
        raise ValueError(f"model {inner.name!r} is already a layer of this model: a model "
                         f"can be nested once (both places would share its weights); nest "
                         f"a copy, densefit.models.clone_model({inner.name})")
    if parent is not None:
        raise ValueError(f"model {inner.name!r} is already a layer of model {parent.name!r}: "
                         f"a model can be nested in one model at a time (its weights live in "
                         f"that model's buffers); nest a copy, "
                         f"densefit.models.clone_model({inner.name}), with set_weights")
    if not inner._stack.plan:
        raise ValueError(f"model {inner.name!r} has no Dense layer: add one before nesting it")
    for layer, _ in inner._stack.plan:
        check_name(outer, layer.name)
    if inner.built and outer._stack.plan and inner.dtype != outer.dtype:
        raise ValueError(f"model {inner.name!r} computes in {inner.dtype} but model "
                         f"{outer.name!r} in {outer.dtype}: a model and the models nested in it "
                         f"share one dtype; build both with the same Input(dtype=...) or "
                         f"densefit.backend.set_floatx")


def check_name(model, name):
    """A ValueError when a layer called ``name`` would join a layer of the same
    name among the layers ``model`` runs (its nested models' included): a model's
    state (``get_state_tree``, saved files) names each layer's weights by it."""
    if any(layer.name == name for layer, _ in model._stack.plan):
        raise ValueError(f"model {model.name!r} already runs a layer named {name!r} (its own "
                         f"or a nested model's): the layers a model runs need unique names, "
                         f"as its state names their weights by them; pass another name=")


def check_rename(model, layer, name):
    """``check_name`` for renaming a layer ``model`` runs, in every model that runs
    it (a nested model's outers too); the model's own rule (Keras' message) is
    layer_stack.py's."""
    if name == layer.name or is_model(layer):
        return
    for outer in lineage(model):
        if outer is not model or outer._stack.nested:
            check_name(outer, name)


def check_depth(depth):
    """A ValueError for a model config nested ``depth`` models deep, beyond ``MAX_DEPTH``
    (a file's config is read recursively)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"the config nests models more than {MAX_DEPTH} deep; densefit "
                         f"reads at most {MAX_DEPTH} levels")


def check_not_nested(model, what):
    """A RuntimeError when ``model`` is a layer of another and ``what`` would
    change its layers."""
    parent = parent_of(model)
    if parent is not None:
        raise RuntimeError(f"{what}: model {model.name!r} is a layer of model "
                           f"{parent.name!r}, whose buffers hold its weights, so its layers are "
                           f"fixed; add layers before nesting it, or build a new Sequential "
                           f"around it")


def parent_of(model):
    """The model ``model`` is a layer of, or None."""
    parent = getattr(model, "_parent", None)
    return None if parent is None else parent()


def lineage(model):
    """``model``, the model it is a layer of, and so on out to the model that
    holds their buffers (last)."""
    models = [model]
    while parent_of(models[-1]) is not None:
        models.append(parent_of(models[-1]))
    return models


def family(model):
    """``model`` and every model nested in it, at any depth."""
    models = [model]
    for inner, _ in model._stack.nested:
        models += family(inner)
    return models


def check_widths(model, n_in):
    """The Keras error when a built nested model would receive inputs of another width."""
    units = network.layer_units(model._stack.plan, n_in)
    for inner, start in model._stack.nested:
        if inner.built and inner._network.units[0] != units[start]:
            raise ValueError(f"Sequential model {inner.name!r} has already been configured to "
                             f"use input shape {inner.input_shape}. You cannot build it with "
                             f"input_shape {(None, units[start])}")


def share(model):
    """Rebuild each model nested in the (just built) ``model`` over its block of
    ``model``'s buffers, at any depth: from now on they share the weights, and
    the step lock."""
    outer = model._network
    for inner, start in model._stack.nested:
        params = state = 0  # where the inner's block begins in each buffer
        for layer in outer.layers.slices[:start]:
            for in_params, _, shape in layer:
                if in_params:
                    params += math.prod(shape)
                else:
                    state += math.prod(shape)
        n_in = outer.units[start]
        inner._network = network.over(inner._stack.plan, n_in, outer.params[params:],
                                      outer.grads[params:], outer.state[state:])
        if inner._input_shape is None:
            inner._input_shape, inner._rows_in = (n_in,), True
        if inner._generator is None:
            inner._generator = new_generator()
        inner._step_lock = model._step_lock
        share(inner)


def holding(outer, layer, what):
    """``layer._changing(what)`` for a model about to be nested in ``outer`` (it
    must not be training meanwhile), once checked; nothing for a layer."""
    if not is_model(layer):
        return contextlib.nullcontext()
    check_nestable(outer, layer)
    return layer._changing(what)


class Outermost:
    """A model attribute that is its outermost model's (stored there as
    ``_own`` + its name): a nested model's fit lock and fit thread are those of
    the model holding its buffers."""

    def __set_name__(self, owner, name):
        self.own = "_own" + name

    def __get__(self, model, owner=None):
        return self if model is None else getattr(lineage(model)[-1], self.own)

    def __set__(self, model, value):
        setattr(lineage(model)[-1], self.own, value)
