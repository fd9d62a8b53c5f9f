"""The layers of a Sequential model, and the plan the compiled core runs.

A layer belongs to one model (each model keeps its weights in one buffer) and
names are unique within a model, as Keras requires.  The *plan* holds one
``(layer, activation)`` pair per layer the core runs (see network.py): an
activation layer folds into the layer before it when that one has none of its
own (nor an activity regularizer), and Flatten is in no plan (it flattens the
input before the first layer, and is the identity after one).  A Sequential
added as a layer (nesting.py) is one of ``layers``; its plan entries stand in
the plan in its place, an activation layer after it folding into its last
entry here only.  Every check is O(1) per layer (a nested model's: per entry).
"""
from . import activations, layers as layers_module, nesting


class LayerStack:
    """``layers`` as added (Input excluded) and the ``plan`` built from them."""

    def __init__(self, owner):
        self.layers = []
        self.plan = []
        self._names = set()
        self.flattens = False  # a Flatten comes before the first Dense: the input is flattened
        self._owner = owner  # a weak reference to the model
        self.nested = []  # (model, index of its first entry in the plan) per nested model

    def placement(self, layer):
        """``(index, entry)``: where ``layer`` goes in the plan, all checks passed
        (nothing changes until ``place``)."""
        if isinstance(layer, layers_module.Flatten):
            self._check_newcomer(layer)
            return None, None  # never in the plan: flattens the input, or the identity
        if nesting.is_model(layer):  # Keras' Sequential([base, Softmax()])
            nesting.check_nestable(self._owner(), layer)
            self._check_name(layer.name)
            return len(self.plan), _Nested(layer, list(layer._stack.plan))
        if not isinstance(layer, layers_module.Layer) or layer.core_kind is None:
            raise TypeError(f"layer must be a densefit.layers layer (Dense, Dropout, "
                            f"BatchNormalization, an activation layer, ...), got {layer!r}")
        self._check_newcomer(layer)
        if self.nested:
            nesting.check_name(self._owner(), layer.name)
        if layer.built:
            raise ValueError(f"layer {layer.name!r} already belongs to a built model")
        folds = hasattr(layer, "as_activation")
        if folds and self.plan and self._takes_activation(self.plan[-1]):
            return len(self.plan) - 1, (self.plan[-1][0], layer.as_activation())
        activation = layer.as_activation() if folds else getattr(
            layer, "activation", activations.get(None))
        return len(self.plan), (layer, activation)

    @staticmethod
    def _takes_activation(entry):
        """Whether an activation layer folds into the plan's ``entry``: one without
        an activation, whose output no activity regularizer reads (Keras'
        penalizes the output before the next layer's activation)."""
        layer, activation = entry
        return activation.name == "linear" and getattr(layer, "activity_regularizer", None) is None

    def place(self, index, entry):
        """Put ``entry`` at ``index`` of the plan (a nested model's entries from
        there on); returns what ``unplace`` needs."""
        if entry is None:  # a Flatten
            return None
        if isinstance(entry, _Nested):
            self.plan[index:index] = entry.entries
            self.nested.append((entry.model, index))
            entry.flattened, self.flattens = self.flattens, self.flattens or (
                not index and entry.model._stack.flattens)  # its Flatten comes first
            return entry
        replaced = self.plan[index] if index < len(self.plan) else None
        self.plan[index:index + 1] = [entry]
        return replaced

    def unplace(self, index, replaced):
        if index is None:  # a Flatten
            return
        if isinstance(replaced, _Nested):
            del self.plan[index:index + len(replaced.entries)]
            self.nested.pop()
            self.flattens = replaced.flattened
            return
        self.plan[index:index + 1] = [replaced] if replaced else []

    def adopt(self, layer):
        """``layer`` is now one of the model's layers."""
        if isinstance(layer, layers_module.Flatten) and not self.plan:
            self.flattens = True  # after a Dense, Flatten is the identity (2-d data)
        if nesting.is_model(layer):
            layer._parent = self._owner
        else:
            layer._model = self._owner
        self.layers.append(layer)
        self._names.add(layer.name)

    def check_rename(self, layer, name):
        """Called by ``layer.name = name`` on a layer of this model, before the change."""
        if name != layer.name:
            self._check_name(name)
            self._names.discard(layer.name)
            self._names.add(name)

    def _check_newcomer(self, layer):
        owner = layer.model
        if owner is not None and owner is self._owner():
            raise ValueError(f"layer {layer.name!r} is already in this model")
        if owner is not None:
            raise ValueError(f"layer {layer.name!r} already belongs to model {owner.name!r}: a "
                             f"layer can be in one model only (each model keeps its weights in "
                             f"one buffer); make a new one, e.g. "
                             f"{type(layer).__name__}.from_config(layer.get_config())")
        self._check_name(layer.name)

    def _check_name(self, name):
        if name in self._names:
            raise ValueError(f"All layers added to a Sequential model should have unique names. "
                             f"Name {name!r} is already the name of a layer in this model. "
                             f"Update the `name` argument to pass a unique name.")


class _Nested:
    """A nested model's plan entries, as ``placement`` hands them to ``place``."""

    def __init__(self, model, entries):
        self.model, self.entries = model, entries
        self.flattened = False  # whether the model flattened its input before (for unplace)
