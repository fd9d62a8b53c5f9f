"""A model's weights: reading them, writing them, freezing layers.

Every weight is a view into the model's buffers (network.py), so the
compiled core trains them in place; reads take one consistent snapshot
between training steps (step_lock.py) and writes are checked whole first.
``ModelWeights`` is mixed into ``Sequential`` (models.py), which provides
``_stack`` (the plan), ``_network``, ``_generator`` and the locks.
"""
import threading

import numpy as np

from . import _core, data_adapter, inference, nesting, network, validation


class ModelWeights:
    """Weights of the model's layers, in Keras' order (layer by layer, each
    layer's own order: Dense kernel, bias; BatchNormalization gamma, beta,
    moving_mean, moving_variance; ...)."""

    @property
    def weights(self):
        """Every layer's weights in order (views into the model's buffers), Keras' order."""
        return [w for layer, _ in self._stack.plan for w in layer.weights]

    @property
    def trainable(self):
        """Keras' model-level switch: False freezes every layer, True unfreezes
        every layer (setting it sets each layer's ``trainable``)."""
        return getattr(self, "_trainable", True)

    @trainable.setter
    def trainable(self, value):
        value = validation.boolean(value, "trainable")
        for layer in self.layers:
            if layer.trainable != value:
                layer.trainable = value  # relays the buffers once the model is built
        self._trainable = value

    @property
    def trainable_weights(self):
        return [w for layer, _ in self._stack.plan for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for layer, _ in self._stack.plan for w in layer.non_trainable_weights]

    @property
    def losses(self):
        """Keras' ``model.losses``: the activity penalties the last ``model(x)``
        recorded (one per layer with an ``activity_regularizer``), then one per
        regularized trainable weight (kernel, then bias), computed from the
        current weights.  Training adds the same penalties to its loss."""
        with self._step_lock.reading():
            penalties = [regularizer(w) for layer, _ in self._stack.plan
                         for regularizer, w in layer.regularized_weights()]
        return list(getattr(self, "_activity_losses", [])) + penalties

    def _training_outputs(self, x):
        """``model(x, training=True)``: ``x`` as one batch in training mode
        (``inference.training_outputs``); it writes moving statistics."""
        with self._changing("model(x, training=True)"):
            x = self._model_inputs(x, "x")
            validation.integer(len(x), "len(x) with training=True", 0, _core.MAX_ROWS)
            with self._step_lock.stepping():
                self._training_calls += 1
                return inference.training_outputs(self._network, x, self._training_calls - 1)

    def _activity_penalties(self, x):
        """Each activity regularizer's penalty of its layer's output for ``x``
        (over its rows), in layer order: a pass keeping every layer's output."""
        plan = self._stack.plan
        if all(layer.activity_regularizer is None for layer, _ in plan):
            return []
        x = self._model_inputs(x, "x", check_finite=False)
        if not len(x):
            return []
        work = _core.Workspace(self._network, len(x))
        with self._step_lock.reading():
            outputs = _core.forward(self._network, work, x, False, 0)
        return [layer.activity_regularizer(a) / len(a) for (layer, _), a in zip(plan, outputs)
                if layer.activity_regularizer is not None]

    def weight_shapes(self, n_in):
        """The shapes ``get_weights()`` has once built for ``n_in`` input features,
        computed without allocating (a loader checks a file against them)."""
        return network.weight_shapes(self._stack.plan, n_in)

    def get_weights(self):
        """Copies of kernel, bias for each Dense layer in order (Keras' order and shapes),
        all from one training step when another thread trains the model."""
        with self._step_lock.reading():
            return [w.copy() for w in self.weights]

    def get_state_tree(self):
        """One consistent snapshot of the model's state, as Keras'
        ``get_state_tree(value_format="numpy_array")``: copies, taken between two
        training steps when another thread trains the model::

            {"trainable_variables": {layer name: {"kernel": ..., "bias": ...}, ...},
             "optimizer_variables": {"iterations": ..., "momentums": ..., ...},
             "seed_generator_state": the shuffle generator's bit_generator state}

        ``optimizer_variables`` is empty until compile; the others until built."""
        with self._step_lock.reading():
            tree = {"trainable_variables": _variables(self._stack.plan, True),
                    "non_trainable_variables": _variables(self._stack.plan, False),
                    "optimizer_variables": {}, "seed_generator_state": None}
            tree["optimizer_variables"] = self._optimizer_variables()
            if self._generator is not None:
                tree["seed_generator_state"] = self._generator.bit_generator.state
        return tree

    def _optimizer_variables(self):
        """Copies of the optimizer's variables; once the model was rebuilt (``add``
        after fit) its state belongs to weights gone: the state the next fit starts
        from (step 0, no slots)."""
        store = {}
        if self.optimizer is None:
            return store
        self.optimizer.save_own_variables(store)
        if self.built and not self.optimizer.fits(self._network.params):
            return {"iterations": np.array(0, np.int64)}
        return {name: np.array(value) for name, value in store.items()}

    def set_weights(self, weights):
        """Copy ``weights`` (as from get_weights) in; all are checked before any is written.

        Refused while another thread trains the model: the compiled loop bounds
        each step by the weights it last wrote itself.  Callbacks of the fit
        (EarlyStopping's restore) may set them between its compiled calls."""
        if not self.built:
            raise ValueError("the model is not built yet: call it on data, fit it, or start it "
                             "with Input(shape=...) before set_weights")
        self._set_weights_of(self.weights, weights, "the model")

    def _set_weights_of(self, current, weights, owner):
        """Copy ``weights`` into ``current`` (views of this model's), all checked first."""
        if self._fit_lock.locked() and self._fit_thread != threading.get_ident():
            raise RuntimeError("set_weights: this model is being trained in another thread; "
                               "wait for fit to return")
        arrays = _checked_weights(weights, current, owner)
        with self._step_lock.stepping():  # readers in other threads see all or none of it
            for new, old in zip(arrays, current):
                old[...] = new

    def _retrain(self, layer, trainable):
        """``layer.trainable = trainable`` on a layer of this model: the buffers are
        laid out anew (weights kept), and fit starts the optimizer's state afresh;
        for a nested model, the outermost model's buffers (nesting.py), and every
        optimizer of the models sharing them."""
        top = nesting.lineage(self)[-1]
        with top._changing("trainable"), top._build_lock:  # the fit lock of all (nesting.py)
            layer._trainable = trainable
            if top.built:
                try:
                    top._lay_out(top._network.units[0], top._network.dtype)
                except BaseException:
                    layer._trainable = not trainable
                    raise
                for model in nesting.family(top):  # their state was for the old layout
                    if model.optimizer is not None:
                        with model._step_lock.stepping():
                            model.optimizer.reset()

    def count_params(self):
        return sum(w.size for w in self.weights)


def _variables(plan, trainable):
    """``{layer name: {weight name: copy}}`` of the plan's trainable (or other) weights."""
    tree = {}
    for layer, _ in plan:
        chosen = layer.trainable_weights if trainable else layer.non_trainable_weights
        named = {name: w.copy() for name, w in zip(layer.weight_names, layer.weights)
                 if any(w is c for c in chosen)}
        if named:
            tree[layer.name] = named
    return tree


def _checked_weights(weights, current, owner="the model"):
    """``weights`` as arrays of the current weights' shapes and dtypes, all checked."""
    if isinstance(weights, (str, bytes, np.ndarray)) or not hasattr(weights, "__iter__"):
        raise TypeError(f"weights must be a list of arrays (as get_weights() returns), got "
                        f"{type(weights).__name__}")
    weights = list(weights)
    if len(weights) != len(current):
        raise ValueError(f"set_weights of {owner} expects a list of {len(current)} arrays "
                         f"(its weights in get_weights() order), got {len(weights)}")
    arrays = []
    for i, (new, old) in enumerate(zip(weights, current)):
        new = data_adapter.as_array(new, f"weights[{i}]")
        if new.shape != old.shape:
            raise ValueError(f"weights[{i}] must have shape {old.shape}, got {new.shape}")
        if new.dtype.kind not in "biuf":
            raise ValueError(f"weights[{i}] must hold finite real numbers, got dtype {new.dtype}")
        with np.errstate(over="ignore"):  # checked in the model's dtype (1e39: inf in float32)
            new = new.astype(old.dtype)
        if not np.isfinite(new).all():
            raise ValueError(f"weights[{i}] must hold finite real numbers (in {old.dtype}), "
                             f"got NaN or inf, or values beyond {old.dtype}'s range")
        arrays.append(new)
    return arrays
