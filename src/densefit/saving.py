"""One-file model saving: a zip holding ``config.json`` (architecture, compile
settings, optimizer hyper-parameters and step count, the shuffle generator's
state) and ``weights.npz`` (parameters and the optimizer's variables).  It is
written and read through the model's public hooks only (``get_config``/
``from_config``, ``get_weights``/``set_weights``, ``get_compile_config``/
``compile_from_config``, the optimizer's ``save_own_variables``/
``load_own_variables``), as Keras' saving is.

Loading parses JSON and reads arrays with ``allow_pickle=False``: a model file
can never run code.  Saving writes a temporary file and renames it over the
target, so a failure midway leaves any previous file intact.

Loading treats the file as untrusted: members are read by name, never
extracted (a member named ``../x`` writes nothing); a member's declared size
must be one its compressed bytes can hold (stored or deflated only, so no zip
bomb beyond deflate's 1032:1); each ``.npy`` header's shape and dtype must
account for exactly the member's bytes before any array is allocated; object
arrays are refused.  Anything unreadable is a ValueError naming the file
(FileNotFoundError for a missing one).
"""
import io
import json
import math
import os
import tempfile
import zipfile

import numpy as np

from . import optimizers, validation

FORMAT = "densefit.model"
VERSION = 2
_READABLE = (1, 2)  # version 1: densefit 1.0's layout, read through _from_version_1
_OPTIMIZER_PREFIX = "optimizer_"  # weights.npz members holding the optimizer's variables
_MODEL_CLASSES = {}  # class name -> class, filled by register_model
_MAX_MEMBER_BYTES = 2**34  # no real model is near 16 GiB; a larger claim is a corrupt file


def _atomic_write(filepath, write):
    filepath = os.fspath(filepath)
    directory = os.path.dirname(os.path.abspath(filepath))
    fd, tmp = tempfile.mkstemp(prefix=".densefit-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        os.unlink(tmp)
        raise


def _npz_bytes(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def register_model(cls):
    """Class decorator: ``load_model`` rebuilds models of this class by its name
    (the file names the class; nothing from a file is ever imported or run)."""
    _MODEL_CLASSES[cls.__name__] = cls
    return cls


def save_model(model, filepath):
    """Write ``model`` to one file through its public hooks: ``get_config``,
    ``get_compile_config`` and ``get_state_tree`` (weights, the optimizer's
    variables and the seed generator's state, all of one training step)."""
    if not model.built:
        raise ValueError("the model is not built yet: there are no weights to save")
    state = model.get_state_tree()  # weights, optimizer and generator of one training step
    config = {"format": FORMAT, "version": VERSION,
              "model": {"class_name": type(model).__name__, "config": model.get_config()},
              "seed_state": state["seed_generator_state"]}
    arrays = {"params": np.concatenate([w.ravel() for layer in state["trainable_variables"]
                                        .values() for w in (layer["kernel"], layer["bias"])])}
    compile_config = model.get_compile_config()
    if compile_config is not None:
        config["compile"] = compile_config
        store = dict(state["optimizer_variables"])
        config["optimizer_iterations"] = int(store.pop("iterations"))
        arrays.update({_OPTIMIZER_PREFIX + name: value for name, value in store.items()})

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("config.json", json.dumps(config, indent=1))
            archive.writestr("weights.npz", _npz_bytes(arrays))

    _atomic_write(filepath, write)


# the most each accepted compression method can expand its data (deflate's limit is 1032:1)
_EXPANSION = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: 1032}


def _read_member(archive, name, archive_bytes, info=None):
    """A member's bytes, read by name once its header is plausible for an archive
    of ``archive_bytes`` bytes: nothing is allocated for a size the data cannot hold."""
    if info is None:
        try:
            info = archive.getinfo(name)
        except KeyError:
            raise ValueError(f"not a densefit model file (no {name})") from None
    if info.flag_bits & 0x1:
        raise ValueError(f"{name} is encrypted")
    expansion = _EXPANSION.get(info.compress_type)
    if expansion is None:
        raise ValueError(f"{name} uses compression method {info.compress_type}; densefit "
                         f"files are stored or deflated")
    if (info.file_size > _MAX_MEMBER_BYTES or info.compress_size > archive_bytes
            or info.file_size > info.compress_size * expansion + 64):
        raise ValueError(f"{name} declares {info.file_size} bytes from {info.compress_size} "
                         f"compressed in a {archive_bytes}-byte archive; the file is corrupt")
    return archive.read(info)


def _parse_npy(data, name):
    """The array in ``.npy`` bytes, its header checked against the bytes that follow it
    before anything is allocated; object (pickled) arrays are refused."""
    buffer = io.BytesIO(data)
    version = np.lib.format.read_magic(buffer)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(buffer)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(buffer)
    else:
        raise ValueError(f"{name}: .npy format version {version} is not supported")
    if dtype.hasobject:
        raise ValueError(f"Object arrays cannot be loaded when allow_pickle=False ({name})")
    count = math.prod(shape)
    declared, held = count * dtype.itemsize, len(data) - buffer.tell()
    if declared != held:
        raise ValueError(f"{name} declares shape {shape} of {dtype} ({declared} bytes) but "
                         f"holds {held} bytes")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=buffer.tell())
    array = array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
    return array.copy()  # owned and writeable, not a view of the file's bytes


def _load_arrays(source, size):
    """{name: array} of an ``.npz`` (a path or bytes), every member checked."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    arrays = {}
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            name = info.filename
            key = name[:-4] if name.endswith(".npy") else name
            arrays[key] = _parse_npy(_read_member(archive, name, size, info), name)
    return arrays


def _unreadable(e):
    """Whether ``e``, raised while reading a file's bytes, means the file is unreadable
    (a ValueError for the caller) rather than missing or the machine out of memory.
    Damaged zips raise many types (BadZipFile, zlib.error, EOFError, struct.error,
    NotImplementedError, RuntimeError, RecursionError from deep JSON ...)."""
    return not isinstance(e, (FileNotFoundError, MemoryError))


def load_model(filepath):
    """A model saved with ``model.save``, ready to predict or to continue training."""
    config, arrays = _read_model_file(filepath)
    try:
        if config["version"] == 1:
            config, arrays = _from_version_1(config, arrays)
        return _model_from(config, arrays)
    except (KeyError, TypeError, IndexError, AttributeError, OverflowError) as e:
        raise ValueError(f"{filepath}: the model file's config is invalid ({e!r})") from None
    except ValueError as e:  # a value the layers, optimizer or generator reject, or bad arrays
        raise ValueError(f"{filepath}: {e}") from None


def _read_model_file(filepath):
    """``(config, arrays)`` of a model file, every member checked (see the module doc)."""
    try:  # every failure to read is reported once, as "<file>: cannot read the model file: ..."
        size = os.stat(filepath).st_size
        with zipfile.ZipFile(filepath) as archive:
            config = json.loads(_read_member(archive, "config.json", size))
            weights = _read_member(archive, "weights.npz", size)
            arrays = _load_arrays(weights, len(weights))
    except Exception as e:  # noqa: BLE001 (see _unreadable)
        if not _unreadable(e):
            raise
        raise ValueError(f"{filepath}: cannot read the model file: {e}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{filepath}: not a densefit model file")
    if config.get("version") not in _READABLE:
        raise ValueError(f"{filepath}: format version {config.get('version')} is not supported "
                         f"(this densefit reads versions {', '.join(map(str, _READABLE))})")
    return config, arrays


def _model_from(config, arrays):
    """The model a file's ``config`` and ``arrays`` describe.  The weights' sizes
    implied by the config are checked against the arrays read before anything is
    allocated for them."""
    spec = config["model"]
    cls = _MODEL_CLASSES.get(spec["class_name"])
    if cls is None:
        raise ValueError(f"unknown model class {spec['class_name']!r}")
    n_in = validation.integer(spec["config"]["input_shape"][0], "input_shape")
    unbuilt = cls.from_config(_unbuilt(spec["config"]))
    shapes = unbuilt.weight_shapes(n_in)
    count, dtype = sum(math.prod(shape) for shape in shapes), np.dtype(unbuilt.dtype)
    params = arrays.get("params")
    if params is None or params.shape != (count,) or params.dtype != dtype:
        got = None if params is None else (params.shape, str(params.dtype))
        raise ValueError(f"params must be ({count},) {dtype}, got {got}")
    model = cls.from_config(spec["config"])  # the sizes are known good: now it may build
    model.build((None, n_in))
    if model.input_shape != (None, n_in):
        raise ValueError(f"the first layer's input_shape {model.input_shape} is not the "
                         f"model's {(None, n_in)}")
    model.set_weights(_split(params, shapes))
    model.seed_generator.bit_generator.state = config["seed_state"]
    if "compile" in config:
        model.compile_from_config(config["compile"])
        _restore_optimizer(model, config, arrays)
    return model


def _restore_optimizer(model, config, arrays):
    """The optimizer's step count and, once it has trained, its state arrays."""
    optimizer = model.optimizer
    iterations = config.get("optimizer_iterations", 0)
    store = {name[len(_OPTIMIZER_PREFIX):]: value for name, value in arrays.items()
             if name.startswith(_OPTIMIZER_PREFIX)}
    if store:  # trained: the state belongs to the weights just loaded
        # build takes the flat parameter array or any of its shape and dtype
        optimizer.build(np.empty(model.count_params(), model.dtype))
        optimizer.load_own_variables(dict(store, iterations=iterations))
    else:
        optimizer.iterations = validation.integer(iterations, "iterations", low=0,
                                                  high=optimizers.MAX_ITERATIONS)


def _unbuilt(model_config):
    """A model config without the input shapes that would build the model (and
    allocate its weights) before the file's arrays are checked against it."""
    layer_configs = [dict(layer, config=dict(layer["config"], input_shape=None))
                     if "input_shape" in layer.get("config", {}) else layer
                     for layer in model_config["layers"]]
    return dict(model_config, input_shape=None, layers=layer_configs)


def _split(flat, shapes):
    arrays, offset = [], 0
    for shape in shapes:
        size = math.prod(shape)
        arrays.append(flat[offset:offset + size].reshape(shape))
        offset += size
    return arrays


def _from_version_1(config, arrays):
    """A version-1 file in version 2's layout: the model config was the Dense
    layers' configs without class names (layers.deserialize reads those), the
    step count lay in the optimizer's config and the slots were ``slot_1`` and
    ``slot_2``, in the order of the optimizer's ``slot_names``."""
    from_v1 = dict(config, model={"class_name": "Sequential", "config": config["model"]},
                   seed_state=config["rng_state"])
    converted = {k: v for k, v in arrays.items() if not k.startswith("slot_")}
    if "compile" in config:
        compiled = config["compile"]
        from_v1["optimizer_iterations"] = compiled["optimizer"].get("iterations", 0)
        names = optimizers.deserialize(compiled["optimizer"]).slot_names
        for name, key in zip(names, ("slot_1", "slot_2")):
            if key in arrays:
                converted[_OPTIMIZER_PREFIX + name] = arrays[key]
    return from_v1, converted


def save_weights(model, filepath):
    """The weights alone, as ``.npz`` arrays in get_weights order."""
    weights = model.get_weights()
    if not weights:
        raise ValueError("the model is not built yet: there are no weights to save")
    _atomic_write(filepath, lambda f: f.write(
        _npz_bytes({f"arr_{i}": w for i, w in enumerate(weights)})))


def load_weights(model, filepath):
    try:
        arrays = _load_arrays(os.fspath(filepath), os.stat(filepath).st_size)
        weights = [arrays[f"arr_{i}"] for i in range(len(arrays))]
    except Exception as e:  # noqa: BLE001 (see _unreadable)
        if not _unreadable(e):
            raise
        raise ValueError(f"{filepath}: cannot read weights: {e!r}" if isinstance(e, KeyError)
                         else f"{filepath}: cannot read weights: {e}") from None
    try:
        model.set_weights(weights)
    except ValueError as e:
        raise ValueError(f"{filepath}: {e}") from None
