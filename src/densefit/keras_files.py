"""Keras 3's files: ``.keras`` models and ``.weights.h5`` weights, both ways.

A ``.keras`` file is a zip of ``metadata.json``, ``config.json`` (the model's
config with Keras' class and argument names, its ``build_config`` and
``compile_config``; a nested model as a model's config in its place) and
``model.weights.h5`` (HDF5: ``layers/<layer group>/vars/0, 1, ...`` in
``get_weights`` order, a nested model's layers under
``layers/sequential/layers/``; ``optimizer/vars/0`` the step count, ``1`` the
learning rate, then each trainable variable's slots in turn: Adam's m, v, m, v,
...).  A ``.weights.h5`` file is that HDF5 file alone.

This module dispatches on the path (``.keras``, ``.weights.h5``: here; any other:
saving.py) and translates: densefit's configs to Keras' and back (refusing
what densefit lacks, naming it), and the state tree to Keras' HDF5 groups.
Files are written and read through saving.py (its atomic writes, its bounded
zip reads) and the model's public hooks.  Loading never runs code: the config
is JSON, only densefit's own classes are built from it, and from the HDF5 file
only the datasets the config implies are read, each checked for its path (hard
links only), shape, dtype and bytes actually stored in the file before it is
read.  h5py is an optional dependency (``pip install densefit[keras-files]``).
"""
import datetime
import inspect
import io
import json
import math
import zipfile

import numpy as np

from . import (backend, layers as layers_module, losses, metrics as metrics_module, nesting,
               optimizers, saving, validation)

SUFFIX, WEIGHTS_SUFFIX = ".keras", ".weights.h5"  # the paths Keras' formats are chosen by
KERAS_VERSION = "3.15.1"  # what metadata.json says wrote the file (the Keras we match)
WEIGHTS_MEMBER = "model.weights.h5"
_MEMBERS = ("metadata.json", "config.json", WEIGHTS_MEMBER)
_METADATA_BYTES = 4096
_SEED_KEY = "densefit_seed_generator_state"  # fit's shuffle generator (Keras ignores it)
_H5_SLACK = 2**20  # HDF5's own structures: a superblock, heaps, B-trees
_H5_PER_VARIABLE = 2**13  # one group or dataset's headers
_FLOATS = ("float32", "float64")


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("Keras' .keras and .weights.h5 files need h5py: "
                          "pip install densefit[keras-files]") from None
    return h5py


# ------------------------------------------------------------ configs, densefit -> Keras

def _policy(dtype):
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype},
            "registered_name": None}


def _object(module, value):
    """densefit's ``{"class_name", "config"}`` (an initializer, regularizer,
    schedule, loss) as Keras' serialized object; a name stays a name."""
    if not isinstance(value, dict):
        return value
    return {"module": module, "class_name": value["class_name"],
            "config": value.get("config", {}), "registered_name": None}


def _activation_name(activation, where):
    """densefit's ``{"name", "slope"}`` as Keras' activation string."""
    from . import activations
    default = activations.PARAMETER_DEFAULTS.get(activation["name"], 0.0)
    if activation.get("slope", 0.0) not in (0.0, default):
        raise ValueError(f"{where}: activation {activation['name']!r} with parameter "
                         f"{activation['slope']} has no Keras name; use a LeakyReLU or ELU "
                         f"layer after a linear Dense instead")
    return activation["name"]


_KERAS_ONLY = {  # arguments Keras lists that densefit lacks, at the value densefit has
    "Dense": {"kernel_constraint": None, "bias_constraint": None, "quantization_config": None,
              "lora_rank": None, "lora_alpha": None},
    "ReLU": {"max_value": None, "negative_slope": 0.0, "threshold": 0.0},
    "Softmax": {"axis": -1},
    "InputLayer": {"sparse": False, "ragged": False, "optional": False},
}
_KERAS_ONLY_OPTIMIZER = {"RMSprop": {"momentum": 0.0, "centered": False}}
_UNSET_INITIALIZER = ("input_axes", "output_axes")  # Keras 3.15's, None: densefit's behaviour
_DENSEFIT_ONLY = ("input_shape",)  # densefit's shortcut; Keras keeps it in build_config


def _keras_layer(layer_config, dtype, input_shape):
    """One densefit layer config as Keras' (with its build_config)."""
    cls, config = layer_config["class_name"], dict(layer_config["config"])
    for key in _DENSEFIT_ONLY:
        config.pop(key, None)
    config.update(dtype=_policy(config.get("dtype") or dtype),
                  trainable=config.get("trainable", True), **_KERAS_ONLY.get(cls, {}))
    for key, value in config.items():
        if key.endswith("_initializer"):
            config[key] = _object("keras.initializers", value)
        elif key.endswith("_regularizer"):
            config[key] = _object("keras.regularizers", value)
    if "activation" in config:
        config["activation"] = _activation_name(config["activation"], config["name"])
    return {"module": "keras.layers", "class_name": cls, "config": config,
            "registered_name": None, "build_config": {"input_shape": [None, *input_shape]}}


def _input_shapes(model):
    """Each layer's input shape (one sample's), as Keras' build_config records it."""
    shapes, shape = [], tuple(model.input_shape[1:])
    for layer in model.layers:
        shapes.append(shape)
        shape = ((math.prod(shape),) if isinstance(layer, layers_module.Flatten)
                 else tuple(layer.output_shape[1:]) if nesting.is_model(layer)
                 else (layer.output_units(math.prod(shape)),))
    return shapes


def keras_config(model, input_layer_name="input_layer"):
    """``config.json`` of the ``.keras`` file for ``model`` (a nested model's entry
    in its outer's layers is the same, with its own InputLayer, as Keras writes)."""
    config, dtype = model.get_config(), str(model.dtype)
    input_layer = {"module": "keras.layers", "class_name": "InputLayer",
                   "config": {"batch_shape": [None, *model.input_shape[1:]], "dtype": dtype,
                              "name": input_layer_name, **_KERAS_ONLY["InputLayer"]},
                   "registered_name": None}
    layers, nested = [], 0
    for layer_config, layer, shape in zip(config["layers"], model.layers, _input_shapes(model)):
        if nesting.is_model(layer):
            nested += 1
            layers.append(keras_config(layer, f"{input_layer_name}_{nested}"))
        else:
            layers.append(_keras_layer(layer_config, dtype, shape))
    build = {"input_shape": list(model.input_shape)}
    keras = {"module": "keras", "class_name": "Sequential",
             "config": {"name": config["name"], "trainable": model.trainable,
                        "dtype": _policy(dtype), "layers": [input_layer, *layers],
                        "build_input_shape": build["input_shape"]},
             "registered_name": None, "build_config": build}
    compile_config = model.get_compile_config()
    if compile_config is not None:
        keras["compile_config"] = _keras_compile(compile_config)
    return keras


def _keras_compile(config):
    optimizer = config["optimizer"]
    options = dict(optimizer["config"], name=optimizer["class_name"].lower())
    options["learning_rate"] = _object("keras.optimizers.schedules", options["learning_rate"])
    loss = _object("keras.losses", config["loss"])
    loss["config"] = dict(loss["config"], reduction="sum_over_batch_size", dtype=None)
    return {"optimizer": {"module": "keras.optimizers", "class_name": optimizer["class_name"],
                          "config": options, "registered_name": None},
            "loss": loss, "loss_weights": None,
            "metrics": [_keras_metric(m) for m in config["metrics"]] or None,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": False}


def _keras_metric(metric):
    """compile's metric entry as Keras writes it: a name, a keras.metrics
    object, or a loss object (Keras' own form of a loss used as a metric)."""
    if isinstance(metric, dict) and metric["class_name"] == "LossMetric":
        return _object("keras.losses", metric["config"]["loss"])
    return _object("keras.metrics", metric)


# ------------------------------------------------------------ configs, Keras -> densefit

def _plain(value, where):
    """A Keras serialized object as densefit's ``{"class_name", "config"}`` (only
    Keras' own modules: a registered or custom class is refused)."""
    if not isinstance(value, dict):
        return value
    if value.get("registered_name") not in (None, value.get("class_name")) or not str(
            value.get("module", "keras")).startswith("keras"):
        raise ValueError(f"{where}: custom object {value.get('class_name')!r} "
                         f"({value.get('module')}): densefit builds only Keras' built-in classes")
    return {"class_name": value["class_name"], "config": value.get("config") or {}}


def _dtype_name(value):
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name")
    if value not in _FLOATS:
        raise ValueError(f"dtype {value!r} is not supported: densefit computes in float32 or "
                         f"float64")
    return value


def _densefit_layer(keras_layer):
    """One Keras layer config as densefit's ``{"class_name", "config"}``."""
    cls_name = keras_layer.get("class_name")
    cls = layers_module._CLASSES.get(cls_name)
    if cls is None or cls is layers_module.Input or keras_layer.get("module") != "keras.layers":
        known = ", ".join(sorted(set(layers_module._CLASSES) - {"Input"}))
        raise ValueError(f"layer class {cls_name!r} ({keras_layer.get('module')}) is not one "
                         f"densefit has; it reads {known}")
    config = dict(keras_layer["config"])
    name = config.get("name")
    config["dtype"] = _dtype_name(config.get("dtype", "float32"))
    accepted = inspect.signature(cls.__init__).parameters
    for key, neutral in _KERAS_ONLY.get(cls_name, {}).items():
        if key in config and key not in accepted:
            value = config.pop(key)
            if value != neutral:
                raise ValueError(f"layer {name!r}: Keras' {cls_name}({key}={value!r}) is not "
                                 f"supported: densefit has only {key}={neutral!r}")
    for key in list(config):
        if key.endswith(("_initializer", "_regularizer")):
            config[key] = _plain(config[key], f"layer {name!r}")
            if isinstance(config[key], dict):  # Keras' newer arguments, unset
                config[key]["config"] = {k: v for k, v in config[key]["config"].items()
                                         if v is not None or k not in _UNSET_INITIALIZER}
        elif key not in accepted:
            if key in ("dtype", "trainable") or config[key] is None:
                config.pop(key)
                continue
            raise ValueError(f"layer {name!r}: Keras' {cls_name} argument {key}="
                             f"{config[key]!r} is not supported by densefit")
    if "activation" in config:
        config["activation"] = {"name": _activation_string(config["activation"], name)}
    return {"class_name": cls_name, "config": config}


def _activation_string(value, name):
    if not isinstance(value, str):
        raise ValueError(f"layer {name!r}: activation {value!r} is not a Keras activation "
                         f"name; densefit reads built-in activations by name only")
    return value


def densefit_config(keras, depth=0):
    """The densefit model config (``Sequential.from_config``'s) of a ``.keras``
    file's ``config.json`` (or of a nested model's entry in it, ``depth`` deep)."""
    if not isinstance(keras, dict) or keras.get("class_name") != "Sequential" or \
            keras.get("module") != "keras":
        raise ValueError(f"the model is a {keras.get('class_name')!r}: densefit reads Keras' "
                         f"Sequential models")
    nesting.check_depth(depth)
    config = keras["config"]
    layers = list(config["layers"])
    saving._check_layer_count(len(layers))
    input_shape, dtype = None, _dtype_name(config.get("dtype", "float32"))
    if layers and layers[0].get("class_name") == "InputLayer":
        input_shape = layers.pop(0)["config"]["batch_shape"][1:]
    elif config.get("build_input_shape"):
        input_shape = config["build_input_shape"][1:]
    layers = [{"class_name": "Sequential", "config": densefit_config(layer, depth + 1)}
              if layer.get("class_name") == "Sequential" else _densefit_layer(layer)
              for layer in layers]
    for layer in layers:  # densefit's None: the model's
        if layer["config"].get("dtype") == dtype and layer["class_name"] != "Sequential":
            layer["config"]["dtype"] = None
    result = {"name": config["name"], "dtype": dtype, "input_shape": input_shape,
              "layers": layers}
    saving._check_layer_count(saving._layer_count(result))
    if config.get("trainable") is False:  # Keras' model-level switch, set after building
        result["trainable"] = False
    return result


def densefit_compile(keras):
    """densefit's compile config of Keras' ``compile_config``."""
    optimizer = _plain(keras["optimizer"], "the optimizer")
    options = dict(optimizer["config"])
    neutral = {"name": None, "use_ema": False, "ema_momentum": None, "loss_scale_factor": None,
               "ema_overwrite_frequency": None, "gradient_accumulation_steps": None}
    for key in neutral:
        value = options.pop(key, None)
        if key not in ("name", "ema_momentum") and value not in (None, False):
            raise ValueError(f"the optimizer's {key}={value!r} is not supported by densefit")
    for key, neutral in _KERAS_ONLY_OPTIMIZER.get(optimizer["class_name"], {}).items():
        value = options.pop(key, neutral)
        if value != neutral:
            raise ValueError(f"Keras' {optimizer['class_name']}({key}={value!r}) is not "
                             f"supported: densefit has only {key}={neutral!r}")
    options["learning_rate"] = _plain(options.get("learning_rate", 0.001), "the learning rate")
    loss = keras["loss"]
    if isinstance(loss, dict):
        loss = _densefit_loss(loss, "the loss")
    elif isinstance(loss, str):
        loss = losses.serialize(losses.get(loss))
    else:
        raise ValueError(f"the loss {loss!r} is not one densefit reads (one loss, by name or "
                         f"Keras' serialized built-in)")
    metrics = [_densefit_metric(m) for m in keras.get("metrics") or []]
    return {"optimizer": {"class_name": optimizer["class_name"], "config": options},
            "loss": loss, "metrics": metrics}


def _densefit_loss(loss, where):
    """A Keras serialized loss object as densefit's (its reduction Keras' default)."""
    loss = _plain(loss, where)
    loss_config = dict(loss["config"])
    reduction = loss_config.pop("reduction", "sum_over_batch_size")
    loss_config.pop("dtype", None)
    if reduction != "sum_over_batch_size":
        raise ValueError(f"{where}'s reduction {reduction!r} is not supported: densefit's "
                         f"is 'sum_over_batch_size'")
    return dict(loss, config=loss_config)


def _densefit_metric(metric):
    """A Keras compile metric entry as densefit's: a name, or a built-in metric
    or loss object (``metrics.serialize``'s form), checked by building it."""
    if isinstance(metric, str):
        return metric
    if not isinstance(metric, dict):
        raise ValueError(f"the metric {metric!r} is not one densefit reads (a name or Keras' "
                         f"serialized built-in)")
    if metric.get("module") == "keras.losses":
        plain = {"class_name": "LossMetric", "config": {"loss": _densefit_loss(metric,
                                                                               "a metric")}}
    else:
        plain = _plain(metric, "a metric")
    try:
        metrics_module.deserialize(plain)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the metric {metric.get('class_name')!r} is not one densefit "
                         f"reads: {e}") from None
    return plain


# ------------------------------------------------------------ weights, densefit -> Keras

def h5_names(layers):
    """Each layer's group in Keras' HDF5 file: not its name but its class' in snake
    case, numbered from the second of a class on (saving_lib's ``_get_unique_name``)."""
    names, used = [], {}
    for layer in layers:
        base = backend.snake_case(type(layer).__name__)
        names.append(base if base not in used else f"{base}_{used[base] + 1}")
        used[base] = used[base] + 1 if base in used else 0
    return names


def h5_groups(model, prefix="layers"):
    """``(group, layer)`` for each layer of ``model`` in Keras' HDF5 file, a nested
    model's layers after its own group (``layers/sequential/layers/dense``)."""
    groups = []
    for h5_name, layer in zip(h5_names(model.layers), model.layers):
        groups.append((f"{prefix}/{h5_name}", layer))
        if nesting.is_model(layer):
            groups += h5_groups(layer, f"{prefix}/{h5_name}/layers")
    return groups


def _layer_arrays(state, model):
    """Each layer's weights in ``get_weights`` order (Keras' ``vars/0, 1, ...``; a
    nested model's own: none), by its HDF5 group."""
    arrays = {}
    for group, layer in h5_groups(model):
        values = [] if nesting.is_model(layer) else [
            *state["trainable_variables"].get(layer.name, {}).items(),
            *state["non_trainable_variables"].get(layer.name, {}).items()]
        arrays[group] = (layer, [np.asarray(v, np.int64) if name == "count" else v
                                 for name, v in values])
    return arrays


def _optimizer_arrays(state, model):
    """Keras' optimizer variables: iterations, the learning rate, then each
    trainable variable's slots in turn, then scalar state (Nadam's u_product);
    [] when the optimizer has not trained (Keras then starts it afresh too)."""
    store = dict(state["optimizer_variables"])
    optimizer = model.optimizer
    if optimizer is None or any(name not in store for name in optimizer.slot_names):
        return []
    iterations = np.asarray(store.pop("iterations"), np.int64)
    dtype = model.dtype
    arrays = [iterations]
    if not isinstance(optimizer.get_config()["learning_rate"], dict):
        arrays.append(np.asarray(optimizer.learning_rate, dtype))
    shapes = [w.shape for group in state["trainable_variables"].values() for w in group.values()]
    flats = [np.asarray(store.pop(name)) for name in optimizer.slot_names]
    offset = 0
    for shape in shapes:
        size = math.prod(shape)
        arrays += [flat[offset:offset + size].reshape(shape) for flat in flats]
        offset += size
    arrays += [np.asarray(value, dtype) for value in store.values()]  # scalars
    return arrays


def _write_vars(h5, group, name, arrays):
    vars_group = h5.require_group(group).create_group("vars")
    vars_group.attrs["name"] = name
    for i, array in enumerate(arrays):
        vars_group.create_dataset(str(i), data=array)


def weights_h5(model, state, with_optimizer):
    """The bytes of Keras' weights file for ``model`` (state from get_state_tree)."""
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.create_group("layers")
        for group, (layer, arrays) in _layer_arrays(state, model).items():
            _write_vars(h5, group, layer.name, arrays)
        _write_vars(h5, "/", model.name, [])
        optimizer_arrays = _optimizer_arrays(state, model) if with_optimizer else []
        if optimizer_arrays:
            _write_vars(h5, "optimizer", type(model.optimizer).__name__.lower(),
                        optimizer_arrays)
    return buffer.getvalue()


def save_model(model, path):
    """``model`` as a ``.keras`` file that ``keras.models.load_model`` opens."""
    _h5py()
    if not model.built:
        raise ValueError("the model is not built yet: there are no weights to save")
    state = model.get_state_tree()
    config = json.dumps(keras_config(model))
    metadata = json.dumps({"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now(
        ).strftime("%Y-%m-%d@%H:%M:%S"), _SEED_KEY: state["seed_generator_state"]})
    weights = weights_h5(model, state, with_optimizer=True)

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("metadata.json", metadata)
            archive.writestr("config.json", config)
            archive.writestr(WEIGHTS_MEMBER, weights)

    saving._atomic_write(path, write, "model")


def save_weights(model, path):
    """The weights alone, as Keras' ``.weights.h5`` (no optimizer state)."""
    _h5py()
    if not model.built:
        raise ValueError("the model is not built yet: there are no weights to save")
    data = weights_h5(model, model.get_state_tree(), with_optimizer=False)
    saving._atomic_write(path, lambda f: f.write(data), "weights")


# ------------------------------------------------------------ weights, Keras -> densefit

class _Expected:
    """What a config implies of the weights file, known before any array is read:
    each layer's weight shapes, the dtype, and the file's largest plausible size."""

    def __init__(self, model_config, slots):
        input_shape = validation.shape(model_config["input_shape"], "input_shape",
                                       high=_max_rows())
        cls = saving._MODEL_CLASSES["Sequential"]
        unbuilt = cls.from_config(saving._unbuilt(model_config))
        shapes = unbuilt.weight_shapes(math.prod(input_shape))
        self.dtype = np.dtype(unbuilt.dtype)
        self.layers, offset = {}, 0  # HDF5 group -> its weights' shapes
        for group, layer in h5_groups(unbuilt):
            n = len(getattr(layer, "weight_names", ()))  # a nested model's own: none
            self.layers[group] = shapes[offset:offset + n]
            offset += n
        if offset != len(shapes):
            raise ValueError("the layers' weights do not match the model's")
        self.count = sum(math.prod(s) for s in shapes)
        variables = len(shapes) * (1 + slots) + len(self.layers) + 4
        need = (self.count * (1 + slots) * self.dtype.itemsize + _H5_SLACK
                + _H5_PER_VARIABLE * variables)
        self.limit = (need, f"the {need} bytes a weights file of the config's model of "
                            f"{self.count} parameters ({self.dtype}) takes")


def _max_rows():
    from . import _core
    return _core.MAX_ROWS


def _open_h5(data, what):
    h5py = _h5py()
    try:
        return h5py.File(io.BytesIO(data), "r")
    except Exception as e:  # noqa: BLE001: h5py raises OSError, ValueError, ... for bad bytes
        raise ValueError(f"{what} is not a readable HDF5 file ({e})") from None


def _dataset(h5, path, shape, what):
    """The array at ``path``, read once it is a plain dataset (hard links only, no
    external or virtual storage, no filters) of ``shape`` whose bytes are in the file."""
    h5py = _h5py()
    node = h5
    for part in path.split("/"):
        link = node.get(part, getlink=True) if isinstance(node, h5py.Group) else None
        if not isinstance(link, h5py.HardLink):
            raise ValueError(f"{what}: no {path} (or it is a link; only plain datasets are read)")
        node = node[part]
    if not isinstance(node, h5py.Dataset) or node.is_virtual:
        raise ValueError(f"{what}: {path} is not a plain dataset")
    plist = node.id.get_create_plist()
    if plist.get_external_count() or plist.get_nfilters():
        raise ValueError(f"{what}: {path} uses external storage or filters; Keras writes "
                         f"neither")
    kind = node.dtype.kind if node.dtype.fields is None and node.dtype.shape == () else "?"
    if tuple(node.shape) != tuple(shape) or kind not in "fiu" or node.dtype.itemsize > 8:
        raise ValueError(f"{what}: {path} is {node.shape} of {node.dtype}, expected {shape} "
                         f"of numbers")
    nbytes = math.prod(shape) * node.dtype.itemsize
    if node.id.get_storage_size() != nbytes:
        raise ValueError(f"{what}: {path} declares {nbytes} bytes but stores "
                         f"{node.id.get_storage_size()}")
    return np.asarray(node[()]).astype(validation.native(node.dtype))


def read_layer_weights(h5, expected, what):
    """Every layer's arrays, in get_weights order."""
    weights = []
    for group, shapes in expected.layers.items():
        weights += [_dataset(h5, f"{group}/vars/{i}", shape, what)
                    for i, shape in enumerate(shapes)]
    return weights


def _restore_optimizer(model, h5, what):
    """Keras' optimizer variables into the compiled model's optimizer (if the
    file has them; else it starts afresh, as in Keras)."""
    if "optimizer" not in h5:
        return
    optimizer = model.optimizer
    trainable = [w.shape for w in model.trainable_weights]
    schedule = isinstance(optimizer.get_config()["learning_rate"], dict)
    scalars = [name for name in _scalar_state(optimizer)]
    head = [()] if schedule else [(), ()]
    shapes = head + [s for s in trainable for _ in optimizer.slot_names] + [()] * len(scalars)
    if len(shapes) > len(head) and f"optimizer/vars/{len(head)}" not in h5:
        return  # Keras compiled but never trained it: no slots saved; afresh, as Keras warns
    arrays = [_dataset(h5, f"optimizer/vars/{i}", s, what) for i, s in enumerate(shapes)]
    if f"optimizer/vars/{len(shapes)}" in h5:
        raise ValueError(f"{what}: the optimizer has more variables than "
                         f"{type(optimizer).__name__} keeps")
    n_slots, start = len(optimizer.slot_names), len(head)
    body = arrays[start:start + n_slots * len(trainable)]
    store = {"iterations": arrays[0]}
    for k, name in enumerate(optimizer.slot_names):
        store[name] = np.concatenate([a.ravel() for a in body[k::n_slots]] or [np.empty(0)])
        store[name] = store[name].astype(model.dtype)
    store.update(zip(scalars, (float(a) for a in arrays[start + len(body):])))
    optimizer.build(np.empty(sum(math.prod(s) for s in trainable), model.dtype))
    optimizer.load_own_variables(store)


def _scalar_state(optimizer):
    """The names of the optimizer's scalar state beyond iterations (Nadam's u_product)."""
    store = {}
    optimizer.save_own_variables(store)
    return [n for n, v in store.items() if n != "iterations" and n not in optimizer.slot_names
            and np.ndim(v) == 0]


def _read_json(archive, name, size, limit):
    try:
        return json.loads(saving._read_member(archive, name, size, limit=limit))
    except RecursionError:
        raise ValueError(f"{name} nests too deeply") from None


def save(model, filepath, weights_only=False):
    """``model.save``/``save_weights``: Keras' format for a path ending in ``.keras``
    (``.weights.h5``), densefit's for any other."""
    path = validation.filepath(filepath)
    if path.endswith(WEIGHTS_SUFFIX if weights_only else SUFFIX):
        return (save_weights if weights_only else save_model)(model, path)
    return (saving.save_weights if weights_only else saving.save_model)(model, path)


def load(filepath, model=None):
    """``load_model`` (``model`` None) or ``model.load_weights``, by the path's suffix."""
    path = validation.filepath(filepath)
    keras = path.endswith(SUFFIX if model is None else WEIGHTS_SUFFIX)
    if not keras:
        return saving.load_model(path) if model is None else saving.load_weights(model, path)
    try:
        return load_model(path) if model is None else load_weights(model, path)
    except saving._Refused as e:
        raise ValueError(str(e)) from None


def load_model(path):
    """A ``.keras`` file (Keras' or densefit's) as a densefit model."""
    _h5py()
    with saving._reading(path, "keras") as (archive, size):
        metadata = _read_json(archive, "metadata.json", size,
                              (_METADATA_BYTES, "a metadata file's"))
        keras = _read_json(archive, "config.json", size, (
            saving._MAX_CONFIG_BYTES, f"the {saving._MAX_CONFIG_BYTES} bytes of a model of "
                                      f"at most {saving.MAX_LAYERS} layers"))
        with saving._config_errors(path):
            config = densefit_config(keras)
            compile_config = (densefit_compile(keras["compile_config"])
                              if keras.get("compile_config") else None)
            slots = (len(optimizers.deserialize(compile_config["optimizer"]).slot_names)
                     if compile_config else 0)
            expected = _Expected(config, slots)
        data = saving._read_member(archive, WEIGHTS_MEMBER, size, limit=expected.limit)
    with saving._config_errors(path, expected.count), _open_h5(data, WEIGHTS_MEMBER) as h5:
        weights = read_layer_weights(h5, expected, WEIGHTS_MEMBER)
        model = saving._MODEL_CLASSES["Sequential"].from_config(config)
        model.set_weights(weights)
        if isinstance(metadata, dict) and metadata.get(_SEED_KEY):  # densefit wrote it
            model.seed_generator.bit_generator.state = metadata[_SEED_KEY]
        if compile_config is not None:
            model.compile_from_config(compile_config)
            _restore_optimizer(model, h5, WEIGHTS_MEMBER)
    return model


def load_weights(model, path):
    """Keras' ``.weights.h5`` weights into the built ``model``."""
    _h5py()
    if not model.built:
        raise ValueError(f"{path}: the model is not built yet: call it on data, or start it "
                         f"with Input(shape=...), before load_weights")
    config = model.get_config()
    expected = _Expected(dict(config, input_shape=list(model.input_shape[1:])), 0)
    with saving._open_regular(path, "weights") as f:
        size = f.seek(0, 2)
        if size > expected.limit[0]:
            raise ValueError(f"{path}: the file has {size} bytes, more than "
                             f"{expected.limit[1]}: it was saved from another model")
        f.seek(0)
        data = f.read(size)
    with saving._config_errors(path), _open_h5(data, "the file") as h5:
        model.set_weights(read_layer_weights(h5, expected, "the file"))
