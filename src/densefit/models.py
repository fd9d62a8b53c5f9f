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
import json
import math
import sys
import threading
import weakref

import numpy as np

from . import (_core, backend, keras_files, layers as layers_module, missing, network, saving,
               nesting, summary, validation)
from . import onnx as onnx_export
from .data_adapter import ModelData
from .layer_stack import LayerStack
from .model_weights import ModelWeights
from .on_batch import BatchCalls
from .trainer import Trainer
from .utils import new_generator

@saving.register_model
class Sequential(Trainer, BatchCalls, ModelWeights, ModelData):
    """A linear stack of Dense layers (activation layers fold into the Dense before them).

    Args:
        layers: layers to ``add`` in order (``Input``, ``Flatten``, ``Dense``,
            activation layers, a Sequential as in Keras' ``Sequential([base, Softmax()])``).
        name: the model's name (default ``"sequential"``, ``"sequential_1"``, ...).
    """

    # a nested model trains and changes with the model holding its buffers (nesting.py)
    _fit_lock = nesting.Outermost()
    _fit_thread = nesting.Outermost()

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
        self._parent = None  # a weak reference to the model this one is a layer of (nesting.py)
        self._build_lock = threading.Lock()  # building, and changing the plan
        self._init_trainer()
        for layer in layers or []:
            self.add(layer)

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, name):  # saved, and load_model rebuilds the model with it: a str
        name = validation.string(name, "name", allow_none=False)
        parent = nesting.parent_of(self) if hasattr(self, "_parent") else None
        if parent is not None:  # unique among the layers of the model it is nested in
            parent._check_rename(self, name)
        self._name = name

    @property
    def layers(self):
        """The layers added, Input excluded: a new list each call (as Keras 3's
        Sequential), so changing it changes nothing; use ``add``."""
        return list(self._stack.layers)

    def get_layer(self, name=None, index=None):
        """The layer called ``name``, or at ``index`` of ``layers`` (negative
        counts from the end), as Keras' ``get_layer``."""
        if name is not None and index is not None:
            raise ValueError(f"Provide only a layer name or a layer index. Received: "
                             f"index={index}, name={name}.")
        layers = self.layers
        if index is not None:
            index = validation.integer(index, "index", low=-len(layers))
            if index >= len(layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only "
                                 f"has {len(layers)} layers.")
            return layers[index]
        if name is None:
            raise ValueError("Provide either a layer name or layer index at `get_layer`.")
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[layer.name for layer in layers]}.")

    # ------------------------------------------------------------ structure

    def add(self, layer):
        """Append a layer: ``Input``, ``Flatten``, ``Dense``, an activation layer, or a
        Sequential, whose weights this model then shares (nesting.py).  Once
        the input shape is known (``Input(shape=...)``, a first layer's ``input_shape``,
        or data)
        the model is built, and rebuilt on each add: the layers already there keep
        their weights.  Refused while the model trains (from fit's callbacks too)."""
        with self._changing("add"), self._build_lock, \
                nesting.holding(self, layer, "add to a model"):
            nesting.check_not_nested(self, "add")
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
            input_shape = layer._input_shape if nesting.is_model(layer) else getattr(
                layer, "input_shape", None)  # a nested model's, Dense's or Flatten's
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
        nesting.check_rename(self, layer, name)
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
        self._lay_out(math.prod(sample_shape), dtype_of_plan)

    def _lay_out(self, n_in, dtype):
        """New buffers for the plan on ``n_in`` features (the weights kept), shared
        with the models nested in this one (nesting.py)."""
        nesting.check_widths(self, n_in)
        self._network = network.build(self._stack.plan, n_in, dtype, self._generator)
        nesting.share(self)

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
        dtypes = {layer.dtype for layer, _ in self._stack.plan if layer.dtype is not None}
        dtypes |= {inner.dtype for inner, _ in self._stack.nested if inner.built}
        if requested is not None:
            dtypes.add(requested)
        if len(dtypes) > 1:
            raise ValueError(f"all layers must share one dtype, got {sorted(map(str, dtypes))}")
        return dtypes.pop() if dtypes else np.dtype(backend.floatx())

    def _output(self):
        """The output layer's units and activation name (for compile)."""
        if not self._stack.plan:
            raise ValueError("the model has no Dense layer: add layers before compile")
        return self._output_units(), self._stack.plan[-1][1].name

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

    def _output_units(self):
        """The features the model outputs (None until it is known)."""
        if self._network is not None:
            return self._network.units[-1]
        dense = [layer for layer, _ in self._stack.plan if layer.core_kind == "dense"]
        return dense[-1].units if dense else None

    @property
    def output_shape(self):
        units = self._output_units() if self._stack.plan else None
        return None if units is None else (None, units)

    @property
    def seed_generator(self):
        """The generator this model drew its initial weights from and draws each
        epoch's shuffle from (None until built); saved with the model, so a loaded
        model continues training exactly."""
        return self._generator

    # ------------------------------------------------------------ config, summary, files

    def get_config(self):
        """The architecture as plain data: ``Sequential.from_config`` rebuilds it."""
        return {"name": self.name, "dtype": str(self.dtype),
                "input_shape": list(self._input_shape) if self._input_shape else None,
                "layers": [layers_module.serialize(layer) for layer in self.layers]}

    def to_json(self, **kwargs):
        """The architecture as a JSON string: ``models.model_from_json`` rebuilds it
        (``json.dumps`` keyword arguments such as ``indent`` pass through)."""
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()},
                          **kwargs)

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
                model.add(_deserialize(layer_config))
        finally:
            model._defer_build = False
        if model._input_shape is not None:
            model._build(model._input_shape)
        # Keras' model-level switch as Keras' file says (the layers carry their own)
        model._trainable = validation.boolean(config.get("trainable", True), "trainable")
        return model

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print the layer table as Keras 3 does (summary.py): ``print_fn`` (default:
        write to stdout) gets the whole text, ending in a newline, in one call."""
        text = summary.format_summary(self, line_length, positions, expand_nested,
                                      show_trainable, layer_range)
        if print_fn is None:
            sys.stdout.write(text)
        else:
            print_fn(text)

    def save(self, filepath):
        """Save architecture, weights, compile settings and optimizer state in one file
        (Keras 3's format for a path ending in ``.keras``)."""
        keras_files.save(self, filepath)

    def save_weights(self, filepath):
        """Save the weights alone, as ``.npz`` arrays in ``get_weights`` order (Keras'
        HDF5 layout for a path ending in ``.weights.h5``)."""
        keras_files.save(self, filepath, weights_only=True)

    def load_weights(self, filepath):
        """Load weights saved by ``save_weights`` into this (built) model."""
        keras_files.load(filepath, self)

    def export(self, filepath, format="onnx", verbose=None, input_signature=None, **kwargs):
        """Write the model as an ONNX file for inference (Keras 3's method; densefit
        writes ONNX only): ``densefit.onnx.export``, whose keywords (``opset``,
        ``input_name``, ``output_name``, ``batch_size``) pass through."""
        return onnx_export.keras_export(self, filepath, format, verbose, input_signature,
                                        **kwargs)

    def __repr__(self):
        return f"<Sequential name={self.name!r}, layers={len(self._stack.layers)}, built={self.built}>"


def _deserialize(config):
    """A layer of a model config: a layer, or a nested model (its class registered
    with saving.register_model, its config read as a model's)."""
    model_class = saving._MODEL_CLASSES.get(config.get("class_name"))
    if model_class is not None:
        return model_class.from_config(config["config"])
    return layers_module.deserialize(config)


def load_model(filepath):
    """A model saved with ``model.save`` (``.keras``: Keras 3's format, also Keras'
    own files), ready to predict or to continue training."""
    return keras_files.load(filepath)


def save_model(model, filepath):
    """``model.save(filepath)``, as Keras' ``keras.models.save_model``."""
    keras_files.save(model, filepath)
model_from_json = saving.model_from_json
clone_model = saving.clone_model


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
