"""``Sequential``: the model's structure (layers, building, weights, config).

Training (compile/fit/evaluate/predict) comes from ``Trainer`` in trainer.py,
as Keras' ``Model`` mixes in its ``Trainer``; saving is a hand-off to
saving.py, which uses only the public hooks below.

>>> import numpy as np
>>> from densefit import Sequential
>>> from densefit.layers import Dense
>>> model = Sequential([Dense(4, activation="relu"), Dense(2)])
>>> model.compile(optimizer="adam", loss="mse")
>>> history = model.fit(np.ones((8, 3)), np.zeros((8, 2)), epochs=2, verbose=0)
>>> len(history.history["loss"])
2
"""
import math
import threading
import weakref

import numpy as np

from . import _core, backend, data_adapter, layers as layers_module, network, saving, summary, validation
from .layer_stack import LayerStack
from .trainer import Trainer
from .utils import new_generator

@saving.register_model
class Sequential(Trainer):
    """A linear stack of Dense layers (activation layers fold into the Dense before them).

    Args:
        layers: layers to ``add`` in order (``Input``, ``Flatten``, ``Dense``,
            activation layers).
        name: the model's name (default ``"sequential"``, ``"sequential_1"``, ...).
    """

    def __init__(self, layers=None, name=None):
        if layers is not None and (isinstance(layers, (str, bytes))
                                   or not hasattr(layers, "__iter__")):
            raise TypeError(f"layers must be a list of layers such as [Dense(10)], got "
                            f"{layers!r}")
        validation.string(name, "name")
        if name is None:
            name = backend.unique_name("sequential")
        self.name = name
        self._stack = LayerStack(weakref.ref(self))  # the layers and the plan the core runs
        self._input_shape = None  # one sample's shape once known: (features,) or (28, 28) ...
        self._rows_in = True  # samples are rows, (features,): predict's fast path may take x
        self._input_dtype = None  # from Input(dtype=...)
        self._defer_build = False  # from_config builds once, after the last layer
        self._generator = None  # drawn from the global seed when the weights are first built
        self._network = None
        self._build_lock = threading.Lock()  # building, and changing the plan
        self._init_trainer()
        for layer in layers or []:
            self.add(layer)

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, name):  # saved, and load_model rebuilds the model with it: a str
        self._name = validation.string(name, "name", allow_none=False)

    @property
    def layers(self):
        """The layers added, Input excluded: a new list each call (as Keras 3's
        Sequential), so changing it changes nothing; use ``add``."""
        return list(self._stack.layers)

    # ------------------------------------------------------------ structure

    def add(self, layer):
        """Append a layer: ``Input``, ``Flatten``, ``Dense`` or an activation layer.  Once
        the input shape is known (``Input(shape=...)``, a first layer's ``input_shape``,
        or data)
        the model is built, and rebuilt on each add: the layers already there keep
        their weights.  Refused while the model trains (from fit's callbacks too)."""
        with self._changing("add"), self._build_lock:
            if isinstance(layer, layers_module.Input):
                if self._stack.layers or self._input_shape is not None:
                    raise ValueError("Input must be the first layer of a Sequential model")
                self._input_shape, self._input_dtype = layer.shape, layer.dtype
                return
            self._add(layer)
            if self.compiled:  # the output layer may have changed: re-pick the kernels
                self._recompile()

    def _add(self, layer):
        """Put ``layer`` in the plan and build if the input shape is known; on any
        failure the model is as it was."""
        index, entry = self._stack.placement(layer)
        input_shape = self._input_shape
        if input_shape is None and not self._stack.layers:
            input_shape = getattr(layer, "input_shape", None)  # Dense's or Flatten's
        replaced = self._stack.place(index, entry)
        if input_shape is not None:
            try:
                self._build(input_shape)
            except BaseException:
                self._stack.unplace(index, replaced)
                raise
        self._stack.adopt(layer)

    def _check_rename(self, layer, name):
        """Called by ``layer.name = name`` on a layer of this model, before the change."""
        self._stack.check_rename(layer, name)

    @property
    def built(self):
        return self._network is not None

    def build(self, input_shape):
        """Create the weights for inputs of shape ``(None, features)`` (or image-shaped,
        ``(None, 28, 28)``, after a Flatten) once, whichever thread gets there first."""
        if self.built:
            return
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 2:
            raise ValueError(f"input_shape must be (batch, features), got {input_shape!r}")
        self._ensure_built(validation.shape(tuple(input_shape)[1:], "input_shape[1:]",
                                            high=_core.MAX_ROWS))

    def _build(self, sample_shape):
        """(Re)create the parameter buffer and the core network for samples of
        ``sample_shape``: layers that have weights keep them, the others are initialised."""
        dtype_of_plan = self._dtype(self._input_dtype) if self._stack.plan else None
        sample_shape = tuple(sample_shape)
        if len(sample_shape) > 1 and self._stack.plan and not self._stack.flattens:
            raise ValueError(f"the model's input shape {(None,) + sample_shape} is image-shaped "
                             f"but no Flatten comes before the first Dense layer (Keras' Dense "
                             f"would act on the last axis alone): add Flatten() after the "
                             f"Input, e.g. Sequential([Input({sample_shape}), Flatten(), ...])")
        self._input_shape, self._rows_in = sample_shape, len(sample_shape) == 1
        if not self._stack.plan or self._defer_build:
            return  # built when the first Dense arrives, or after from_config's last layer
        if self._generator is None:  # as Keras, weights come from the seed in force at build
            self._generator = new_generator()
        self._network = network.build(self._stack.plan, math.prod(sample_shape), dtype_of_plan,
                                      self._generator)

    def _after_fork_in_child(self):
        """In a fork's child, a build another thread was running never finishes:
        its lock is made anew (the fit lock too, by Trainer)."""
        super()._after_fork_in_child()
        self._build_lock = threading.Lock()

    def _ensure_built(self, sample_shape):
        """Build on the first data (samples of ``sample_shape``), once, whichever
        thread gets there first."""
        if not self._stack.plan:
            raise ValueError("the model has no Dense layer: add one before using it")
        with self._build_lock:
            if not self.built:
                self._build(sample_shape)

    def _dtype(self, requested=None):
        dtypes = {d.dtype for d, _ in self._stack.plan if d.dtype is not None}
        if requested is not None:
            dtypes.add(requested)
        if len(dtypes) > 1:
            raise ValueError(f"all layers must share one dtype, got {sorted(map(str, dtypes))}")
        return dtypes.pop() if dtypes else np.dtype(backend.floatx())

    def _output(self):
        """The output layer's units and activation name (for compile)."""
        if not self._stack.plan:
            raise ValueError("the model has no Dense layer: add layers before compile")
        dense, activation = self._stack.plan[-1]
        return dense.units, activation.name

    @property
    def _flattens_input(self):
        """Whether a Flatten comes before the first Dense layer (for data_adapter)."""
        return self._stack.flattens

    @property
    def dtype(self):
        return self._network.dtype if self.built else self._dtype(self._input_dtype)

    @property
    def input_shape(self):
        return None if self._input_shape is None else (None,) + self._input_shape

    @property
    def output_shape(self):
        return (None, self._stack.plan[-1][0].units) if self._stack.plan else None

    @property
    def seed_generator(self):
        """The generator this model drew its initial weights from and draws each
        epoch's shuffle from (None until built); saved with the model, so a loaded
        model continues training exactly."""
        return self._generator

    # ------------------------------------------------------------ weights

    @property
    def weights(self):
        return [w for d, _ in self._stack.plan if d.built for w in (d.kernel, d.bias)]

    def weight_shapes(self, n_in):
        """The shapes ``get_weights()`` has once built for ``n_in`` input features,
        computed without allocating (a loader checks a file against them)."""
        return network.weight_shapes(n_in, [d.units for d, _ in self._stack.plan])

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
            tree = {"trainable_variables": {d.name: {"kernel": d.kernel.copy(),
                                                     "bias": d.bias.copy()}
                                            for d, _ in self._stack.plan if d.built},
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
        if self._fit_lock.locked() and self._fit_thread != threading.get_ident():
            raise RuntimeError("set_weights: this model is being trained in another thread; "
                               "wait for fit to return")
        if not self.built:
            raise ValueError("the model is not built yet: call it on data, fit it, or start it "
                             "with Input(shape=...) before set_weights")
        current = self.weights
        arrays = _checked_weights(weights, current)
        with self._step_lock.stepping():  # readers in other threads see all or none of it
            for new, old in zip(arrays, current):
                old[...] = new

    def count_params(self):
        return sum(w.size for w in self.weights)

    # ------------------------------------------------------------ config, summary, files

    def get_config(self):
        """The architecture as plain data: ``Sequential.from_config`` rebuilds it."""
        return {"name": self.name, "dtype": str(self.dtype),
                "input_shape": list(self._input_shape) if self._input_shape else None,
                "layers": [layers_module.serialize(layer) for layer in self.layers]}

    @classmethod
    def from_config(cls, config):
        """A model with the architecture ``get_config`` described, built when the
        config gives an input shape (weights freshly initialised)."""
        model = cls(name=config["name"])
        model._input_dtype = validation.float_dtype(config["dtype"])  # whatever the layers say
        if config.get("input_shape") is not None:
            model.add(layers_module.Input(shape=tuple(config["input_shape"]),
                                          dtype=model._input_dtype))
        model._defer_build = True  # one build at the end, not one per layer
        try:
            for layer_config in config["layers"]:
                model.add(layers_module.deserialize(layer_config))
        finally:
            model._defer_build = False
        if model._input_shape is not None:
            model._build(model._input_shape)
        return model

    def summary(self, print_fn=print):
        """Print the layer table in Keras' layout (through ``print_fn``)."""
        print_fn(summary.format_summary(self))

    def save(self, filepath):
        """Save architecture, weights, compile settings and optimizer state in one file."""
        saving.save_model(self, filepath)

    def save_weights(self, filepath):
        """Save the weights alone, as ``.npz`` arrays in ``get_weights`` order."""
        saving.save_weights(self, filepath)

    def load_weights(self, filepath):
        """Load weights saved by ``save_weights`` into this (built) model."""
        saving.load_weights(self, filepath)

    def __repr__(self):
        return f"<Sequential name={self.name!r}, layers={len(self._stack.layers)}, built={self.built}>"


def _checked_weights(weights, current):
    """``weights`` as arrays of the current weights' shapes and dtypes, all checked."""
    if isinstance(weights, (str, bytes, np.ndarray)) or not hasattr(weights, "__iter__"):
        raise TypeError(f"weights must be a list of arrays (kernel and bias per Dense "
                        f"layer, as get_weights() returns), got {type(weights).__name__}")
    weights = list(weights)
    if len(weights) != len(current):
        raise ValueError(f"set_weights expects a list of {len(current)} arrays (kernel and "
                         f"bias per Dense layer), got {len(weights)}")
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


load_model = saving.load_model
