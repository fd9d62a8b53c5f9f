"""One-file model saving: a zip holding ``config.json`` (architecture, compile
settings, optimizer hyper-parameters and step count, the shuffle generator's
state) and ``weights.npz`` (parameters and optimizer slots).

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

FORMAT = "densefit.model"
VERSION = 1
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


def save_model(model, filepath):
    from . import losses, optimizers

    if not model.built:
        raise ValueError("the model is not built yet: there are no weights to save")
    config = {"format": FORMAT, "version": VERSION, "model": model.get_config(),
              "rng_state": model._rng.bit_generator.state}
    arrays = {"params": model._network.params}
    if model._compiled is not None:
        store = {}
        model.optimizer.save_own_variables(store)
        config["compile"] = {"loss": losses.serialize(model.loss),
                             "optimizer": dict(optimizers.serialize(model.optimizer),
                                               iterations=int(store.pop("iterations"))),
                             "metrics": model._compiled["metric_names"]}
        if store:  # slot_names order; slot_2 zeros when the rule keeps one array
            slots = [store[name] for name in model.optimizer.slot_names]
            arrays["slot_1"], arrays["slot_2"] = (slots + [np.zeros_like(slots[0])])[:2]

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
    from . import _core, losses, optimizers
    from .layers import Dense, Input
    from .models import Sequential

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
    if config.get("version") != VERSION:
        raise ValueError(f"{filepath}: format version {config.get('version')} is not supported "
                         f"(this densefit reads version {VERSION})")
    try:
        spec = config["model"]
        dense_layers = [Dense.from_config(c) for c in spec["layers"]]
        n_in = spec["input_shape"][0]
        if isinstance(n_in, bool) or not isinstance(n_in, int) or n_in < 1:
            raise ValueError(f"input_shape must be a positive integer, got {n_in!r}")
        if dense_layers and dense_layers[0].input_shape not in (None, (n_in,)):
            raise ValueError(f"the first layer's input_shape {dense_layers[0].input_shape} is "
                             f"not the model's ({n_in},)")
        # sizes from the config are checked against the array read from the file before
        # anything is allocated for them (a layer's input_shape builds the model)
        count = _core.parameter_count([n_in] + [dense.units for dense in dense_layers])
        params = arrays.get("params")
        if params is None or params.shape != (count,):
            got = None if params is None else (params.shape, str(params.dtype))
            raise ValueError(f"params must be ({count},) {np.dtype(spec['dtype'])}, got {got}")
        model = Sequential(dense_layers, name=spec["name"])
        model._build(n_in, Input((n_in,), dtype=spec["dtype"]).dtype)  # dtype checked as Input's
        _copy_into(model._network.params, arrays.get("params"), "params")
        model._rng.bit_generator.state = config["rng_state"]
        if "compile" in config:
            c = config["compile"]
            optimizer = optimizers.deserialize(c["optimizer"])
            model.compile(optimizer, losses.deserialize(c["loss"]), c["metrics"] or None)
            store = {"iterations": c["optimizer"].get("iterations", 0)}
            if "slot_1" in arrays:
                slots = (np.empty_like(model._network.params), np.empty_like(model._network.params))
                _copy_into(slots[0], arrays["slot_1"], "slot_1")
                _copy_into(slots[1], arrays.get("slot_2"), "slot_2")
                store.update(zip(optimizer.slot_names, slots))
            if "slot_1" in arrays or not optimizer.slot_names:
                optimizer.build(model._network.params)
                optimizer.load_own_variables(store)
    except (KeyError, TypeError, IndexError, AttributeError, OverflowError) as e:
        raise ValueError(f"{filepath}: the model file's config is invalid ({e!r})") from None
    except ValueError as e:  # a value the layers, optimizer or generator reject, or bad arrays
        raise ValueError(f"{filepath}: {e}") from None
    return model


def _copy_into(target, source, name):
    if source is None or source.shape != target.shape or source.dtype != target.dtype:
        got = None if source is None else (source.shape, str(source.dtype))
        raise ValueError(f"{name} must be {target.shape} {target.dtype}, got {got}")
    target[...] = source


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
