"""The original files: MNIST's IDX files from disk, the digits bundled with densefit."""

import gzip
import hashlib
import importlib.resources
import io
import math
import os
import zlib
from pathlib import Path

import numpy as np


# SHA-256 of the original gzip files. These are the values TensorFlow Datasets
# publishes for MNIST.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

_DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"

# IDX type code -> element type. Every IDX integer is big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CHUNK = 1 << 20


def _read_idx(path):
    """Return (magic, array). The magic is the header's first 4 bytes as an int."""
    path = Path(path)
    with open(path, "rb") as raw:
        is_gz = raw.read(2) == b"\x1f\x8b"  # tell gzip from plain by content, not name
    try:
        with (gzip.open if is_gz else open)(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in _IDX_DTYPES:
                raise ValueError(f"{path}: not an IDX file (bad magic {head.hex() or 'empty'})")
            magic, ndim = int.from_bytes(head, "big"), head[3]
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise ValueError(f"{path}: IDX header truncated")
            shape = tuple(int.from_bytes(dims[i:i + 4], "big") for i in range(0, 4 * ndim, 4))
            dtype = np.dtype(_IDX_DTYPES[head[2]])
            expected = math.prod(shape) * dtype.itemsize  # Python int: cannot overflow
            # Read in chunks and stop one byte past the declared size, so a
            # corrupt header cannot make us allocate more than the file holds.
            buf = bytearray()
            while len(buf) <= expected:
                chunk = f.read(min(_CHUNK, expected + 1 - len(buf)))
                if not chunk:
                    break
                buf += chunk
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ValueError(f"{path}: cannot decompress ({e}); the file is damaged") from e
    if len(buf) != expected:
        what = "more than that" if len(buf) > expected else f"only {len(buf)} bytes"
        raise ValueError(f"{path}: header declares shape {shape} ({expected} bytes of data) "
                         f"but the file holds {what}; it is truncated or corrupt")
    # bytearray -> writable array without a copy; convert multi-byte types to native order.
    arr = np.frombuffer(buf, dtype).reshape(shape)
    return magic, arr if dtype.itemsize == 1 else arr.astype(dtype.newbyteorder("="))


def read_idx(path):
    """Read an IDX file (gzip-compressed or plain) into a NumPy array.

    The shape comes from the header. Raises ValueError if the header is not IDX
    or the data size does not match the declared shape.

    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.idx")
    >>> _ = open(p, "wb").write(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6)))
    >>> read_idx(p)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    return _read_idx(path)[1]


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _find_mnist_dir(path):
    if path is not None:
        candidates, how = [Path(path).expanduser()], "path="
    elif os.environ.get("DENSEFIT_DATA"):
        root = Path(os.environ["DENSEFIT_DATA"]).expanduser()
        candidates, how = [root, root / "mnist"], "DENSEFIT_DATA"
    else:
        candidates, how = [], None
    for d in candidates:
        if all((d / name).is_file() for name in MNIST_SHA256):
            return d
    where = (f"looked in {' and '.join(str(d) for d in candidates)} (from {how})" if how
             else "no path= was given and DENSEFIT_DATA is not set")
    raise FileNotFoundError(
        f"MNIST files not found: {where}. Put the four files {', '.join(MNIST_SHA256)} in one "
        "directory, then pass it as load_mnist(path=...) or set the environment variable "
        "DENSEFIT_DATA to it (or to a directory whose mnist/ subdirectory holds them).")


def load_mnist(path=None, verify=True):
    """Load MNIST from the four original ``*-ubyte.gz`` files.

    Files are looked for in ``path``, else in ``$DENSEFIT_DATA`` or
    ``$DENSEFIT_DATA/mnist``. Each file's SHA-256 is checked (skip with
    ``verify=False``; the structure is checked either way).

    Returns ``((x_train, y_train), (x_test, y_test))``: uint8 images of shape
    (60000, 28, 28) and (10000, 28, 28), uint8 labels 0-9.

    >>> (x_train, y_train), (x_test, y_test) = load_mnist("/data/mnist")  # doctest: +SKIP
    >>> x_train.shape, y_train[:5]                                          # doctest: +SKIP
    ((60000, 28, 28), array([5, 0, 4, 1, 9], dtype=uint8))
    """
    d = _find_mnist_dir(path)
    out = []
    for split in ("train", "t10k"):
        arrays = []
        for name, want_magic, want_rest, shape_txt in (
                (f"{split}-images-idx3-ubyte.gz", 2051, (28, 28), "(n, 28, 28)"),
                (f"{split}-labels-idx1-ubyte.gz", 2049, (), "(n,)")):
            p = d / name
            if verify:
                got, expected = _sha256(p), MNIST_SHA256[p.name]
                if got != expected:
                    raise ValueError(f"{p}: checksum mismatch: expected {expected}, got {got}; "
                                     "the file is corrupt or not the original MNIST file")
            magic, a = _read_idx(p)
            if magic != want_magic or a.shape[1:] != want_rest:
                raise ValueError(f"{p}: expected IDX magic {want_magic} with shape {shape_txt}, "
                                 f"got magic {magic} with shape {a.shape}")
            arrays.append(a)
        x, y = arrays
        if len(x) != len(y):
            raise ValueError(f"{d}: {split} has {len(x)} images but {len(y)} labels")
        if y.size and y.max() > 9:
            raise ValueError(f"{d}: {split} labels must be 0-9, found {y.max()}")
        out.append((x, y))
    return tuple(out)


def load_digits():
    """Load the bundled 8x8 digits (UCI optdigits test set, as in scikit-learn).

    Returns ``((x_train, y_train), (x_test, y_test))``: uint8 images of shape
    (n, 8, 8) with values 0-16 and uint8 labels 0-9. The 1797 samples are split
    by a fixed permutation, ``np.random.default_rng(0).permutation(1797)``: its
    first 1437 entries (in that order) are the train set and its last 360 the
    test set. ``python -m densefit`` reports held-out accuracy on this test set.

    >>> (x_train, y_train), (x_test, y_test) = load_digits()
    >>> x_train.shape, x_test.shape
    ((1437, 8, 8), (360, 8, 8))
    """
    raw = (importlib.resources.files("densefit") / "data" / "digits.csv.gz").read_bytes()
    got = hashlib.sha256(raw).hexdigest()
    if got != _DIGITS_SHA256:
        raise ValueError(f"bundled digits.csv.gz: checksum mismatch: expected {_DIGITS_SHA256}, "
                         f"got {got}; the densefit installation is damaged")
    a = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.uint8)
    x, y = a[:, :64].reshape(-1, 8, 8), a[:, 64]
    perm = np.random.default_rng(0).permutation(len(a))
    tr, te = perm[:1437], perm[1437:]
    return (x[tr], y[tr]), (x[te], y[te])
