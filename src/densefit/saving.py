"""One-file model saving: a zip holding ``config.json`` (architecture, compile
settings, optimizer hyper-parameters and step count, the shuffle generator's
state) and ``weights.npz`` (parameters and the optimizer's variables).  It is
written and read through the model's public hooks only (``get_config``/
``from_config``, ``get_weights``/``set_weights``, ``get_compile_config``/
``compile_from_config``, the optimizer's ``save_own_variables``/
``load_own_variables``), as Keras' saving is.

Loading parses JSON and reads arrays with ``allow_pickle=False``: a model file
can never run code.  Saving behaves as ``open(path, "w")`` would (through a
symlink, keeping an existing file's mode, refusing a read-only file or a
directory) but writes an unnamed file (Linux's ``O_TMPFILE``; a named
temporary file elsewhere) and renames it over the target, so a failure midway,
even SIGTERM, leaves any previous file intact and nothing else behind.

Loading treats the file as untrusted and takes time and memory proportional to
the model its config describes: only a regular file is opened (a pipe is
refused, not waited on); members are read by name, never extracted (a member
named ``../x`` writes nothing); config.json is read first, its size and layer
count bounded before any layer is built; every other size the file declares is
checked against the config before it is read: weights.npz against the
parameter count, the arrays inside it must be stored (as ``np.savez`` writes
them: no deflate nested in deflate); a member's declared size must be one its
compressed bytes can hold (stored or deflated only, deflate's limit being
1032:1); each ``.npy`` header's shape and dtype must account for exactly the
member's bytes before any array is allocated; object arrays are refused.
Anything unreadable is a ValueError naming the file and saying what it is
(FileNotFoundError for a missing one, MemoryError naming the file when the
machine runs out).
"""
import contextlib
import errno
import io
import json
import math
import os
import re
import secrets
import shutil
import stat
import tempfile
import zipfile

import numpy as np

from . import _core, nesting, optimizers, validation

FORMAT = "densefit.model"
VERSION = 2
_READABLE = (1, 2)  # version 1: densefit 1.0's layout, read through _from_version_1
_OPTIMIZER_PREFIX = "optimizer_"  # weights.npz members holding the optimizer's variables
_MODEL_CLASSES = {}  # class name -> class, filled by register_model
MAX_LAYERS = 2048  # layers in a model file: checked by save and before a file builds any
_LAYER_CONFIG_BYTES = 1024  # what one layer's config may take in config.json
_MAX_CONFIG_BYTES = MAX_LAYERS * _LAYER_CONFIG_BYTES + 2**16  # config.json's largest size
_MAX_MEMBER_BYTES = 2**34  # no real model is near 16 GiB; a larger claim is a corrupt file
_NPY_SLACK = 2**12  # an .npy header and its zip entry, beyond the array's bytes
_MAX_ARRAYS = 4  # in weights.npz: the parameters and at most three optimizer slots
_WHAT = {"model": "model file", "weights": "weights file", "keras": "Keras .keras file"}
_CANNOT_READ = {"model": "cannot read the model file", "weights": "cannot read weights",
                "keras": "cannot read the .keras file"}
_EXAMPLE_NAME = {"model": "model.densefit", "weights": "model.weights.npz",
                 "keras": "model.keras"}


class _Refused(ValueError):
    """A refusal whose message already names the file (passed on as it is)."""


# ------------------------------------------------------------------ writing

def _atomic_write(filepath, write, kind):
    """``write(f)`` into a new file put in place of ``filepath`` only once complete."""
    target = _save_target(filepath, kind)
    directory = os.path.dirname(target)
    with _naming(filepath, kind, f"cannot create a file in {directory}: "):
        fd, tmp = _create(directory)
    try:
        with _naming(filepath, kind), os.fdopen(fd, "w+b") as f:
            write(f)
            f.flush()
            _keep_mode(f.fileno(), target)
            os.fsync(f.fileno())
            tmp = tmp or _name(f, directory)
            os.replace(tmp, target)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def _save_target(path, kind):
    """The file a save writes: ``path``, or the file a symlink there points to (as
    ``open(path, "w")`` writes it), refused when ``open`` would refuse it: a
    directory, a missing directory, a read-only file (read-only even for root)."""
    what = _WHAT[kind]
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        cause = ("it is a directory" if os.path.isdir(path)
                 else "it ends in a separator, naming a directory")
        raise IsADirectoryError(errno.EISDIR, f"cannot save the {what}: {cause}; give a "
                                f"file path such as "
                                f"{os.path.join(path, _EXAMPLE_NAME[kind])!r}", path)
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        cause = "is not a directory" if os.path.exists(directory) else "does not exist"
        raise FileNotFoundError(errno.ENOENT, f"cannot save the {what}: the directory "
                                f"{directory} {cause}; create it first (os.makedirs)", path)
    if os.path.exists(target) and not (os.access(target, os.W_OK)
                                       and os.stat(target).st_mode & 0o222):
        raise PermissionError(errno.EACCES, f"cannot save the {what}: the file is read-only; "
                              f"make it writable (chmod u+w) or remove it first", path)
    return target


@contextlib.contextmanager
def _naming(path, kind, doing=""):
    """OS errors of the writing name the user's path, not a temporary file."""
    try:
        yield
    except OSError as e:
        if e.errno is None:
            raise
        raise OSError(e.errno, f"cannot save the {_WHAT[kind]}: {doing}{e.strerror}",
                      path) from e


def _create(directory):
    """``(fd, None)`` for an unnamed file in ``directory`` (Linux's O_TMPFILE: nothing
    is left if the process is killed), else ``(fd, name)`` of a named temporary file."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is not None:
        try:
            return os.open(directory, flag | os.O_RDWR | os.O_CLOEXEC, 0o666), None
        except OSError as e:  # a file system without O_TMPFILE
            if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
    return tempfile.mkstemp(prefix=".densefit-", suffix=".tmp", dir=directory)


def _name(f, directory):
    """A name for the complete unnamed file ``f``, for the rename that puts it in
    place: a hard link, or where /proc cannot link it (some sandboxes) a named copy.
    Either exists only between here and the rename."""
    name = os.path.join(directory, f".densefit-{secrets.token_hex(8)}.tmp")
    try:
        os.link(f"/proc/self/fd/{f.fileno()}", name)
        return name
    except OSError:
        pass
    fd, name = tempfile.mkstemp(prefix=".densefit-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as copy:
            os.fchmod(fd, stat.S_IMODE(os.fstat(f.fileno()).st_mode))
            f.seek(0)
            shutil.copyfileobj(f, copy)
            copy.flush()
            os.fsync(fd)
    except BaseException:
        os.unlink(name)
        raise
    return name


def _keep_mode(fd, target):
    """An existing file's permissions carry over, as ``open(path, "w")`` keeps them."""
    if os.path.exists(target) and hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(os.stat(target).st_mode))


def _npz_bytes(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def register_model(cls):
    """Class decorator: ``load_model`` rebuilds models of this class by its name
    (the file names the class; nothing from a file is ever imported or run)."""
    _MODEL_CLASSES[cls.__name__] = cls
    return cls


def _weights_in_order(state, layer_configs):
    """Every weight of the state tree, flat, in get_weights order: layer by layer,
    each layer's trainable ones, then its others (Keras' order for every kind)."""
    flat = []
    for layer_config in layer_configs:
        if layer_config["class_name"] in _MODEL_CLASSES:  # a nested model: its layers in place
            flat.append(_weights_in_order(state, layer_config["config"]["layers"]))
            continue
        name = layer_config["config"]["name"]
        for group in ("trainable_variables", "non_trainable_variables"):
            flat += [w.ravel() for w in state[group].get(name, {}).values()]
    return np.concatenate(flat)


def save_model(model, filepath):
    """Write ``model`` to one file through its public hooks: ``get_config``,
    ``get_compile_config`` and ``get_state_tree`` (weights, the optimizer's
    variables and the seed generator's state, all of one training step)."""
    path = validation.filepath(filepath)
    if not model.built:
        raise ValueError("the model is not built yet: there are no weights to save")
    state = model.get_state_tree()  # weights, optimizer and generator of one training step
    config = {"format": FORMAT, "version": VERSION,
              "model": {"class_name": type(model).__name__, "config": model.get_config()},
              "seed_state": state["seed_generator_state"]}
    _check_layer_count(_layer_count(config["model"]["config"]))
    arrays = {"params": _weights_in_order(state, config["model"]["config"]["layers"])}
    compile_config = model.get_compile_config()
    if compile_config is not None:
        config["compile"] = compile_config
        store = dict(state["optimizer_variables"])
        config["optimizer_iterations"] = int(store.pop("iterations"))
        # other scalar state (Nadam's u_product) goes in the config beside iterations
        config.update({_OPTIMIZER_PREFIX + name: float(store.pop(name)) for name in list(store)
                       if np.ndim(store[name]) == 0})
        arrays.update({_OPTIMIZER_PREFIX + name: value for name, value in store.items()})
    text = json.dumps(config, indent=1)
    if len(text) > _MAX_CONFIG_BYTES:
        raise ValueError(f"the model's config takes {len(text)} bytes, more than the "
                         f"{_MAX_CONFIG_BYTES} a densefit file holds: shorten the layers' names")

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("config.json", text)
            archive.writestr("weights.npz", _npz_bytes(arrays))

    _atomic_write(path, write, "model")


def _check_layer_count(count):
    if count > MAX_LAYERS:
        raise ValueError(f"the model has {count} layers; densefit files hold at most "
                         f"{MAX_LAYERS} layers")


# ------------------------------------------------------------------ reading

# the most each accepted compression method can expand its data (deflate's limit is 1032:1)
_EXPANSION = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: 1032}
_STORED = {zipfile.ZIP_STORED: 1}  # the arrays inside weights.npz: nothing nests in deflate


def _read_member(archive, name, archive_bytes, info=None, limit=None, methods=_EXPANSION):
    """A member's bytes, read by name once its header is plausible for an archive
    of ``archive_bytes`` bytes and within ``limit`` (bytes, and what sets it):
    nothing is allocated for a size the data cannot hold or the model cannot use."""
    if info is None:
        try:
            info = archive.getinfo(name)
        except KeyError:
            raise ValueError(f"not a densefit model file (no {name})") from None
    if info.flag_bits & 0x1:
        raise ValueError(f"{name} is encrypted")
    expansion = methods.get(info.compress_type)
    if expansion is None:
        raise ValueError(f"{name} uses compression method {info.compress_type}; densefit "
                         f"files are {' or '.join(_METHOD_NAMES[m] for m in methods)}")
    if (info.file_size > _MAX_MEMBER_BYTES or info.compress_size > archive_bytes
            or info.file_size > info.compress_size * expansion + 64):
        raise ValueError(f"{name} declares {info.file_size} bytes from {info.compress_size} "
                         f"compressed in a {archive_bytes}-byte archive; the file is corrupt")
    if limit is not None and info.file_size > limit[0]:
        raise ValueError(f"{name} declares {info.file_size} bytes, more than {limit[1]}: "
                         f"the file is corrupt or made to exhaust memory")
    return archive.read(info)


_METHOD_NAMES = {zipfile.ZIP_STORED: "stored (uncompressed, as np.savez writes arrays)",
                 zipfile.ZIP_DEFLATED: "deflated"}


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
    # owned and writeable, not a view of the file's bytes; a big-endian file's
    # arrays (">f4") in this machine's byte order, as the values they hold
    return array.astype(validation.native(dtype), order="C")


def _unreadable(e):
    """Whether ``e``, raised while reading a file's bytes, means the file is unreadable
    (a ValueError for the caller) rather than missing or the machine out of memory.
    Damaged zips raise many types (BadZipFile, zlib.error, EOFError, struct.error,
    NotImplementedError, RuntimeError, RecursionError from deep JSON ...)."""
    return not isinstance(e, (FileNotFoundError, MemoryError, _Refused))


def _open_regular(path, kind):
    """The regular file at ``path``, opened for reading without blocking: a pipe is
    refused at once (a zip is read by seeking), never waited on."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        return os.fdopen(fd, "rb")
    os.close(fd)
    what = _WHAT[kind]
    if stat.S_ISDIR(mode):
        cause = (f"it is a directory: give the path of the {what} inside it (one file, "
                 f"such as {_EXAMPLE_NAME[kind]!r})")
    else:
        thing = "a pipe" if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) else "a device"
        cause = (f"it is {thing}, not a regular file, and a {what} is a zip read by seeking "
                 f"in it: save the stream to a file first and load that")
    raise ValueError(f"{path}: {_CANNOT_READ[kind]}: {cause}")


@contextlib.contextmanager
def _reading(path, kind):
    """``(archive, size)`` of the zip at ``path``; every failure to read it is reported
    once, as ``"<file>: cannot read the <kind> file: ..."``, saying what the file is."""
    with _open_regular(path, kind) as f:
        size = os.fstat(f.fileno()).st_size
        try:
            try:
                archive = zipfile.ZipFile(f)
            except zipfile.BadZipFile as e:
                raise ValueError(_not_a_zip(f, size, e)) from None
            with archive:
                _check_kind(archive, kind)
                yield archive, size
        except MemoryError:
            raise MemoryError(f"{path}: out of memory while loading the {_WHAT[kind]} "
                              f"({size} bytes on disk): free memory or load it on a machine "
                              f"with more") from None
        except Exception as e:  # noqa: BLE001 (see _unreadable)
            if not _unreadable(e):
                raise
            detail = repr(e) if isinstance(e, KeyError) else str(e)
            raise ValueError(f"{path}: {_CANNOT_READ[kind]}: {detail}") from None


# files mistaken for densefit's, by their first bytes: what they are, and what to do
_SIGNATURES = (
    (b"\x93NUMPY", "a single NumPy array (.npy), not an .npz archive: load it with numpy.load "
                  "and pass the arrays to set_weights"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (such as Keras' .h5 or .weights.h5): densefit reads "
                          "Keras' weights from a path ending in .weights.h5 (Keras 2's .h5 "
                          "models not at all: load it in Keras and save it as .keras)"),
    (b"\x1f\x8b", "gzip-compressed: decompress it first (gunzip)"),
    (b"\x80", "a Python pickle: densefit never unpickles (a pickle can run code); save with "
             "model.save or save_weights instead"),
)


def _not_a_zip(f, size, error):
    """What a file that is not a zip is, and what to do with it."""
    if size == 0:
        return "the file is empty (0 bytes): was its save or copy interrupted? save it again"
    f.seek(0)
    head = f.read(64)
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            return f"not a zip archive but {what}"
    try:
        head.decode("utf-8")
        kind = "text"
    except UnicodeDecodeError:
        kind = "unrecognised bytes"
    return (f"{error} (it holds {kind}): densefit files are the zip archives model.save "
            f"and save_weights write")


_WEIGHTS_MEMBER = re.compile(r"arr_(\d+)\.npy")


def _check_kind(archive, kind):
    """Refuse a zip that is another kind of file, saying which kind and what to do."""
    names = set(archive.namelist())
    keras_members = {"config.json", "metadata.json", "model.weights.h5"}
    if kind == "keras":
        if not keras_members <= names:
            raise ValueError(f"not a Keras .keras file (it holds config.json, metadata.json "
                             f"and model.weights.h5): the zip holds {_listing(names)}")
        return
    if "model.weights.h5" in names or "metadata.json" in names:
        raise ValueError("it is a Keras .keras file: give it a name ending in .keras and "
                         "densefit.models.load_model reads it")
    is_weights = bool(names) and all(_WEIGHTS_MEMBER.fullmatch(n) for n in names)
    if kind == "model" and "config.json" not in names:
        if is_weights:
            raise ValueError("it is a weights file (written by save_weights), not a model "
                             "file: build the same model, then call model.load_weights(path)")
        raise ValueError(f"not a densefit model file (no config.json): the zip holds "
                         f"{_listing(names)}")
    if kind == "weights" and not is_weights:
        if {"config.json", "weights.npz"} <= names:
            raise ValueError("it is a model file (written by model.save), not a weights file: "
                             "load it with densefit.models.load_model(path)")
        raise ValueError(f"not a densefit weights file: save_weights writes arr_0.npy, "
                         f"arr_1.npy, ...; the zip holds {_listing(names)}")


def _listing(names, shown=5):
    listed = ", ".join(sorted(names)[:shown]) or "nothing"
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")


@contextlib.contextmanager
def _config_errors(path, params=None):
    """Errors of a config's values, named for the file (and MemoryError too)."""
    try:
        yield
    except (KeyError, TypeError, IndexError, AttributeError, OverflowError) as e:
        raise _Refused(f"{path}: the model file's config is invalid ({e!r})") from None
    except _Refused:
        raise
    except ValueError as e:  # a value the layers, optimizer or generator reject, or bad arrays
        raise _Refused(f"{path}: {e}") from None
    except MemoryError:
        described = "" if params is None else f" ({params} parameters)"
        raise MemoryError(f"{path}: out of memory while building the model it describes"
                          f"{described}: free memory or load it on a machine with more") from None


def model_from_json(json_string, custom_objects=None):
    """The model ``model.to_json()`` described (fresh weights, not compiled), as
    Keras' ``keras.models.model_from_json``.  The text is data: only densefit's
    own model and layer classes are built from it, within the loader's bounds."""
    if custom_objects:
        raise ValueError("custom_objects is not supported: densefit builds only its own "
                         "layers from a config")
    text = validation.string(json_string, "json_string", allow_none=False)
    if len(text) > _MAX_CONFIG_BYTES:
        raise ValueError(f"json_string takes {len(text)} bytes, more than the "
                         f"{_MAX_CONFIG_BYTES} a model's config may")
    try:
        config = json.loads(text)
        cls = _MODEL_CLASSES.get(config["class_name"])
        layers = config["config"]["layers"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"json_string is not a model's to_json(): {e}") from None
    if cls is None:
        raise ValueError(f"unknown model class {config['class_name']!r}")
    _check_layer_count(_layer_count(config["config"]))
    return cls.from_config(config["config"])


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive=False):
    """A new model of the same architecture with freshly initialised weights
    (drawn from the global seed), not compiled, as Keras' ``clone_model``."""
    unsupported = [name for name, value in (("input_tensors", input_tensors),
                                           ("clone_function", clone_function),
                                           ("call_function", call_function)) if value is not None]
    if unsupported or recursive:
        raise ValueError(f"{', '.join(unsupported) or 'recursive'} is not supported: densefit "
                         f"clones a Sequential model from its config; change layers with "
                         f"Sequential([...]) built from model.layers' get_config()")
    if type(model).__name__ not in _MODEL_CLASSES:
        raise TypeError(f"model must be a densefit model such as Sequential, got {model!r}")
    return type(model).from_config(model.get_config())


def load_model(filepath):
    """A model saved with ``model.save``, ready to predict or to continue training."""
    path = validation.filepath(filepath)
    try:
        with _reading(path, "model") as (archive, size):
            config = _read_config(archive, size)
            with _config_errors(path):
                spec = _Spec(config)
            arrays = _read_weights(archive, size, spec)
        with _config_errors(path, spec.count):
            return _model_from(spec, arrays)
    except _Refused as e:
        raise ValueError(str(e)) from None


def _read_config(archive, size):
    """config.json, bounded in size, of a format and version this densefit reads;
    version 1 converted to version 2's layout."""
    config = json.loads(_read_member(archive, "config.json", size, limit=(
        _MAX_CONFIG_BYTES, f"the {_MAX_CONFIG_BYTES} bytes of a model of at most "
                           f"{MAX_LAYERS} layers")))
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError("not a densefit model file")
    if config.get("version") not in _READABLE:
        raise ValueError(f"format version {config.get('version')} is not supported "
                         f"(this densefit reads versions {', '.join(map(str, _READABLE))})")
    return config


class _Spec:
    """What a file's config implies, known before any of its arrays is read or any
    layer built: the model class, input width, weight shapes, dtype, and which
    weights.npz members hold the parameters and the optimizer's state."""

    def __init__(self, config):
        version_1 = config["version"] == 1
        if version_1:
            config = _from_version_1(config)
        self.config = config
        model = config["model"]
        _check_layer_count(_layer_count(model["config"]))
        self.cls = _MODEL_CLASSES.get(model["class_name"])
        if self.cls is None:
            raise ValueError(f"unknown model class {model['class_name']!r}")
        self.input_shape = validation.shape(model["config"]["input_shape"], "input_shape",
                                            high=_core.MAX_ROWS)  # one sample's
        self.n_in = math.prod(self.input_shape)
        unbuilt = self.cls.from_config(_unbuilt(model["config"]))
        self.shapes = unbuilt.weight_shapes(self.n_in)
        self.count = sum(math.prod(shape) for shape in self.shapes)
        self.dtype = np.dtype(unbuilt.dtype)
        self.members = {"params.npy": "params"}  # member -> array name (version 2's)
        if "compile" in config:
            slots = optimizers.deserialize(config["compile"]["optimizer"]).slot_names
            stored = ("slot_1", "slot_2") if version_1 else [_OPTIMIZER_PREFIX + s for s in slots]
            self.members.update({f"{member}.npy": _OPTIMIZER_PREFIX + slot
                                 for member, slot in zip(stored, slots)})

    def limit(self, arrays):
        """(bytes, why) for ``arrays`` arrays of the parameters' size."""
        need = arrays * (self.count * self.dtype.itemsize + _NPY_SLACK)
        return need, (f"the {need} bytes that {arrays} arrays of the config's model of "
                      f"{self.count} parameters ({self.dtype}) take")


def _read_weights(archive, size, spec):
    """weights.npz's arrays that ``spec`` names, its sizes checked against ``spec``."""
    weights = _read_member(archive, "weights.npz", size, limit=spec.limit(_MAX_ARRAYS))
    arrays = {}
    with zipfile.ZipFile(io.BytesIO(weights)) as inner:
        for member, key in spec.members.items():
            if member in inner.NameToInfo:
                data = _read_member(inner, member, len(weights), limit=spec.limit(1),
                                    methods=_STORED)
                arrays[key] = _parse_npy(data, member)
    return arrays


def _model_from(spec, arrays):
    """The model ``spec`` describes, with the weights ``arrays`` (checked against
    the sizes the config implies before anything is allocated for them)."""
    params = arrays.get("params")
    if params is None or params.shape != (spec.count,) or params.dtype != spec.dtype:
        got = None if params is None else (params.shape, str(params.dtype))
        raise ValueError(f"params must be ({spec.count},) {spec.dtype}, got {got}")
    config = spec.config
    model = spec.cls.from_config(config["model"]["config"])  # the sizes are known good
    model.build((None,) + spec.input_shape)
    if model.input_shape != (None,) + spec.input_shape:
        raise ValueError(f"the first layer's input_shape {model.input_shape} is not the "
                         f"model's {(None,) + spec.input_shape}")
    model.set_weights(_split(params, spec.shapes))
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
        # build takes the flat parameter array or any of its shape and dtype: the
        # trainable weights only (not moving statistics, not frozen layers')
        trainable = sum(w.size for w in model.trainable_weights)
        optimizer.build(np.empty(trainable, model.dtype))
        scalars = {name[len(_OPTIMIZER_PREFIX):]: value for name, value in config.items()
                   if name.startswith(_OPTIMIZER_PREFIX) and name != "optimizer_iterations"}
        optimizer.load_own_variables(dict(store, **scalars, iterations=iterations))
    else:
        optimizer.iterations = validation.integer(iterations, "iterations", low=0,
                                                  high=optimizers.MAX_ITERATIONS)


def _unbuilt(model_config):
    """A model config without the input shapes that would build the model (and
    allocate its weights) before the file's arrays are checked against it."""
    layer_configs = [dict(layer, config=_unbuilt(layer["config"]))
                     if layer.get("class_name") in _MODEL_CLASSES  # a nested model
                     else dict(layer, config=dict(layer["config"], input_shape=None))
                     if "input_shape" in layer.get("config", {}) else layer
                     for layer in model_config["layers"]]
    return dict(model_config, input_shape=None, layers=layer_configs)


def _layer_count(model_config, depth=0):
    """The layers of a model config, those of nested models included (at most
    ``nesting.MAX_DEPTH`` deep)."""
    nesting.check_depth(depth)
    return sum(_layer_count(layer["config"], depth + 1)
               if layer.get("class_name") in _MODEL_CLASSES else 1
               for layer in model_config["layers"])


def _split(flat, shapes):
    arrays, offset = [], 0
    for shape in shapes:
        size = math.prod(shape)
        arrays.append(flat[offset:offset + size].reshape(shape))
        offset += size
    return arrays


def _from_version_1(config):
    """A version-1 config in version 2's layout: the model config was the Dense
    layers' configs without class names (layers.deserialize reads those), the
    step count lay in the optimizer's config and the slots were the members
    ``slot_1`` and ``slot_2``, in the order of the optimizer's ``slot_names``."""
    from_v1 = dict(config, seed_state=config["rng_state"],
                   model={"class_name": "Sequential", "config": config["model"]})
    if "compile" in config:
        from_v1["optimizer_iterations"] = config["compile"]["optimizer"].get("iterations", 0)
    return from_v1


def save_weights(model, filepath):
    """The weights alone, as ``.npz`` arrays in get_weights order."""
    path = validation.filepath(filepath)
    weights = model.get_weights()
    if not weights:
        raise ValueError("the model is not built yet: there are no weights to save")
    _atomic_write(path, lambda f: f.write(
        _npz_bytes({f"arr_{i}": w for i, w in enumerate(weights)})), "weights")


def load_weights(model, filepath):
    """Weights saved by ``save_weights`` into the built ``model``: the file's arrays
    are counted and sized against the model's before any is read."""
    path = validation.filepath(filepath)
    if not model.built:
        raise ValueError(f"{path}: the model is not built yet: call it on data, or start it "
                         f"with Input(shape=...), before load_weights")
    with _reading(path, "weights") as (archive, size):
        weights = _read_weight_arrays(archive, size, model)
    try:
        model.set_weights(weights)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def _read_weight_arrays(archive, size, model):
    """The arrays ``arr_0``, ``arr_1``, ... of a weights file, for ``model``."""
    infos = archive.infolist()
    expected = len(model.weights)
    if len(infos) > expected:
        raise ValueError(f"the file holds {len(infos)} arrays but this model has {expected} "
                         f"arrays (kernel and bias per Dense layer): it was saved from "
                         f"another model")
    count = model.count_params()  # any dtype up to 8 bytes: set_weights casts
    limit = (count * 8 + _NPY_SLACK, f"the {count * 8 + _NPY_SLACK} bytes any array of "
                                     f"this model of {count} parameters takes")
    arrays = {}
    for info in infos:
        data = _read_member(archive, info.filename, size, info, limit=limit)
        arrays[int(_WEIGHTS_MEMBER.fullmatch(info.filename)[1])] = \
            _parse_npy(data, info.filename)
    missing = [f"arr_{i}.npy" for i in range(len(arrays)) if i not in arrays]
    if missing:
        raise ValueError(f"no {missing[0]} (save_weights writes arr_0.npy, arr_1.npy, ...)")
    return [arrays[i] for i in range(len(arrays))]
