"""Where Keras keeps the dataset files it downloaded, and reading its ``.npz``
files as data alone.

densefit never downloads: ``keras.datasets.X.load_data()`` ports read the
file Keras would have fetched, from ``path``, or from Keras' own cache
(``$KERAS_HOME/datasets``, else ``~/.keras/datasets``), so a machine where
Keras ran once has them.  An ``.npz`` member is read only after its header
says it has the shape and type the dataset has (never pickled objects, never
more bytes than the dataset holds).
"""
import os
import zipfile
from pathlib import Path

import numpy as np

_DOWNLOADS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def keras_cache(*parts):
    """``$KERAS_HOME/datasets/...`` (``~/.keras`` when KERAS_HOME is unset)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home, "datasets", *parts)


def find(path, default, what, download):
    """``path`` (expanded) when given, else Keras' cached ``default``; a
    FileNotFoundError saying where to put the file(s) when neither exists."""
    candidate = Path(path).expanduser() if path is not None else keras_cache(default)
    if candidate.exists():
        return candidate
    raise FileNotFoundError(
        f"{what} not found at {candidate}: densefit does not download datasets. Download "
        f"{download} (the file Keras' load_data fetches) and pass its path as "
        f"load_data(path=...), or put it at {keras_cache(default)}, where Keras keeps it")


def download_url(name):
    return _DOWNLOADS + name


def read_npz(path, members):
    """``{name: array}`` for ``members`` (name -> (shape check, dtype kinds)) of
    the ``.npz`` at ``path``; each header is checked before its data is read."""
    out = {}
    with zipfile.ZipFile(path) as archive:
        for name, (check_shape, kinds) in members.items():
            member = f"{name}.npy"
            if member not in archive.NameToInfo:
                raise ValueError(f"{path}: no array {name!r} (has "
                                 f"{', '.join(sorted(archive.NameToInfo))})")
            with archive.open(member) as f:
                out[name] = _read_array(f, f"{path}:{name}", check_shape, kinds)
    return out


def _read_array(f, where, check_shape, kinds):
    version = np.lib.format.read_magic(f)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"{where}: unsupported .npy version {version}")
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    shape, fortran, dtype = read_header(f)
    if dtype.hasobject or dtype.kind not in kinds or not check_shape(shape):
        raise ValueError(f"{where}: an array of shape {shape} and dtype {dtype} is not what "
                         f"this dataset holds; the file is damaged or another file")
    count = int(np.prod(shape))
    data = f.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise ValueError(f"{where}: truncated ({len(data)} of {count * dtype.itemsize} bytes)")
    array = np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C")
    return array.astype(dtype.newbyteorder("="))  # a writeable copy in native byte order
