"""One-file model saving: a zip holding ``config.json`` (architecture, compile
settings, optimizer hyper-parameters and step count, the shuffle generator's
state) and ``weights.npz`` (parameters and optimizer slots).

Loading parses JSON and reads arrays with ``allow_pickle=False``: a model file
can never run code.  Saving writes a temporary file and renames it over the
target, so a failure midway leaves any previous file intact.
"""
import io
import json
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
    if not model.built:
        raise ValueError("the model is not built yet: there are no weights to save")
    config = {"format": FORMAT, "version": VERSION, "model": model.get_config(),
              "rng_state": model._rng.bit_generator.state}
    arrays = {"params": model._network.params}
    if model._compiled is not None:
        config["compile"] = {"loss": model.loss.get_config(),
                             "optimizer": model.optimizer.serialize(),
                             "metrics": model._compiled["metric_names"]}
        if model.optimizer.slots is not None:
            arrays["slot_1"], arrays["slot_2"] = model.optimizer.slots

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("config.json", json.dumps(config, indent=1))
            archive.writestr("weights.npz", _npz_bytes(arrays))

    _atomic_write(filepath, write)


def _read_member(archive, name):
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ValueError(f"not a densefit model file (no {name})") from None
    if info.file_size > _MAX_MEMBER_BYTES:
        raise ValueError(f"{name} declares {info.file_size} bytes; the file is corrupt")
    return archive.read(info)


def _load_arrays(data):
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def load_model(filepath):
    from . import losses, optimizers
    from .layers import Dense
    from .models import Sequential

    try:  # every failure to read is reported once, as "<file>: cannot read the model file: ..."
        with zipfile.ZipFile(filepath) as archive:
            config = json.loads(_read_member(archive, "config.json"))
            arrays = _load_arrays(_read_member(archive, "weights.npz"))
    except (zipfile.BadZipFile, json.JSONDecodeError, EOFError, OSError, ValueError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{filepath}: cannot read the model file: {e}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{filepath}: not a densefit model file")
    if config.get("version") != VERSION:
        raise ValueError(f"{filepath}: format version {config.get('version')} is not supported "
                         f"(this densefit reads version {VERSION})")
    try:
        spec = config["model"]
        model = Sequential([Dense.from_config(c) for c in spec["layers"]], name=spec["name"])
        for dense, _ in model._plan:
            dense.dtype = np.dtype(spec["dtype"])
        model._build(int(spec["input_shape"][0]))
        _copy_into(model._network.params, arrays.get("params"), "params")
        model._rng.bit_generator.state = config["rng_state"]
        if "compile" in config:
            c = config["compile"]
            model.compile(optimizers.deserialize(c["optimizer"]), losses.deserialize(c["loss"]),
                          c["metrics"] or None)
            if "slot_1" in arrays:
                slots = (np.empty_like(model._network.params), np.empty_like(model._network.params))
                _copy_into(slots[0], arrays["slot_1"], "slot_1")
                _copy_into(slots[1], arrays.get("slot_2"), "slot_2")
                model.optimizer.slots = slots
    except (KeyError, TypeError, IndexError) as e:
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
        with np.load(filepath, allow_pickle=False) as npz:
            weights = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{filepath}: cannot read weights: {e}") from None
    model.set_weights(weights)
