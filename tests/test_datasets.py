import gzip
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from densefit import datasets

MNIST_FILES = list(datasets.MNIST_SHA256)


def idx_bytes(magic, dims, payload):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + bytes(payload)


def write_gz(path, data):
    with gzip.open(path, "wb") as f:
        f.write(data)
    return path


def write_tiny_mnist(d, n=3):
    """Structurally valid MNIST-style files with n images and n labels."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for split in ("train", "t10k"):
        pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        write_gz(d / f"{split}-images-idx3-ubyte.gz", idx_bytes(2051, (n, 28, 28), pixels.tobytes()))
        write_gz(d / f"{split}-labels-idx1-ubyte.gz", idx_bytes(2049, (n,), range(n)))
    return d


# ---- load_digits ------------------------------------------------------------

def test_digits_shapes_dtypes_ranges():
    (x_train, y_train), (x_test, y_test) = datasets.load_digits()
    assert x_train.shape == (1437, 8, 8) and y_train.shape == (1437,)
    assert x_test.shape == (360, 8, 8) and y_test.shape == (360,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8
    assert x_train.max() == 16 and x_test.max() <= 16
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    y = np.concatenate([y_train, y_test])
    assert_array_equal(np.bincount(y, minlength=10),
                       [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])


def test_digits_split_fixed_and_disjoint():
    (a_tr, b_tr), (a_te, b_te) = datasets.load_digits()
    (c_tr, d_tr), (c_te, d_te) = datasets.load_digits()
    for u, v in ((a_tr, c_tr), (b_tr, d_tr), (a_te, c_te), (b_te, d_te)):
        assert_array_equal(u, v)
    # The documented split: permutation(1797) with seed 0, first 1437 = train.
    perm = np.random.default_rng(0).permutation(1797)
    assert len(set(perm[:1437]) & set(perm[1437:])) == 0
    assert sorted(np.concatenate([perm[:1437], perm[1437:]])) == list(range(1797))
    # Pinned, so that a change in NumPy's generator stream fails here instead of
    # silently moving the held-out accuracy that `python -m densefit` reports.
    assert_array_equal(perm[:8], [360, 1773, 1482, 600, 850, 196, 968, 1742])
    assert_array_equal(b_tr[:10], [6, 6, 6, 2, 5, 6, 6, 2, 2, 1])
    assert_array_equal(b_te[:10], [0, 8, 8, 9, 8, 3, 7, 5, 0, 6])


# ---- load_mnist on the real files ---------------------------------------------

@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return datasets.load_mnist(mnist_dir)


def test_mnist_real(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8
    assert_array_equal(y_train[:5], [5, 0, 4, 1, 9])
    assert y_train.max() == 9 and x_train.max() == 255


def test_mnist_env_var(mnist_dir, mnist, monkeypatch):
    # DENSEFIT_DATA may name the mnist directory itself or its parent (data root).
    for root in (mnist_dir, mnist_dir.parent):
        monkeypatch.setenv("DENSEFIT_DATA", str(root))
        (x_train, y_train), (x_test, y_test) = datasets.load_mnist(verify=False)
        assert_array_equal(y_train, mnist[0][1])
        assert_array_equal(x_test[:10], mnist[1][0][:10])


# ---- error cases on small synthetic files --------------------------------------

def test_missing_dir(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as e:
        datasets.load_mnist(missing)
    msg = str(e.value)
    assert str(missing) in msg and "DENSEFIT_DATA" in msg and "path=" in msg
    for f in MNIST_FILES:
        assert f in msg
    monkeypatch.delenv("DENSEFIT_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="DENSEFIT_DATA is not set"):
        datasets.load_mnist()
    monkeypatch.setenv("DENSEFIT_DATA", str(missing))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        datasets.load_mnist()


def test_verify_false_accepts_tiny_valid_set(tmp_path, monkeypatch):
    write_tiny_mnist(tmp_path / "mnist")
    monkeypatch.setenv("DENSEFIT_DATA", str(tmp_path))  # found via the mnist/ subdir
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(verify=False)
    assert x_train.shape == (3, 28, 28) and x_train.dtype == np.uint8
    assert_array_equal(y_train, [0, 1, 2])
    assert y_test.dtype == np.uint8 and x_test.shape == (3, 28, 28)
    x_train[0, 0, 0] = 7  # arrays are writable, like Keras'


def test_checksum_mismatch(tmp_path):
    d = write_tiny_mnist(tmp_path)
    with pytest.raises(ValueError, match="checksum mismatch") as e:
        datasets.load_mnist(d)
    assert "train-images-idx3-ubyte.gz" in str(e.value)


def test_truncated_gz_stream(tmp_path):
    d = write_tiny_mnist(tmp_path)
    p = d / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-30])  # cut the compressed stream short
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        datasets.load_mnist(d, verify=False)


def test_truncated_idx_payload(tmp_path):
    d = write_tiny_mnist(tmp_path)
    write_gz(d / "train-images-idx3-ubyte.gz", idx_bytes(2051, (3, 28, 28), bytes(3 * 784 - 1)))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*truncated"):
        datasets.load_mnist(d, verify=False)


def test_wrong_magic(tmp_path):
    d = write_tiny_mnist(tmp_path)
    # A valid label file where an image file belongs.
    write_gz(d / "train-images-idx3-ubyte.gz", idx_bytes(2049, (3,), range(3)))
    with pytest.raises(ValueError, match=r"train-images.*magic 2051.*got magic 2049"):
        datasets.load_mnist(d, verify=False)
    # Not an IDX header at all.
    write_gz(d / "train-images-idx3-ubyte.gz", b"\x12\x34\x56\x78" + bytes(100))
    with pytest.raises(ValueError, match="not an IDX file"):
        datasets.load_mnist(d, verify=False)


def test_huge_declared_shape_fails_fast(tmp_path):
    # Declares 2**32-1 images of 28x28 (~3.4 TB) but holds only 784 bytes.
    p = write_gz(tmp_path / "huge.gz", idx_bytes(2051, (2**32 - 1, 28, 28), bytes(784)))
    t = time.perf_counter()
    with pytest.raises(ValueError, match="truncated or corrupt"):
        datasets.read_idx(p)
    assert time.perf_counter() - t < 1.0


def test_label_counts_and_values(tmp_path):
    d = write_tiny_mnist(tmp_path)
    write_gz(d / "train-labels-idx1-ubyte.gz", idx_bytes(2049, (2,), [0, 1]))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        datasets.load_mnist(d, verify=False)
    write_gz(d / "train-labels-idx1-ubyte.gz", idx_bytes(2049, (3,), [0, 1, 10]))
    with pytest.raises(ValueError, match="0-9"):
        datasets.load_mnist(d, verify=False)


def test_read_idx_plain_and_gz(tmp_path):
    data = idx_bytes(0x0802, (2, 3), range(6))  # uint8, 2 dims
    plain = tmp_path / "a.idx"
    plain.write_bytes(data)
    gz = write_gz(tmp_path / "a.idx.gz", data)
    for p in (plain, gz):
        assert_array_equal(datasets.read_idx(p), np.arange(6, dtype=np.uint8).reshape(2, 3))
    # Multi-byte types are big-endian on disk and native in memory.
    i32 = tmp_path / "b.idx"
    i32.write_bytes(idx_bytes(0x0C01, (2,), np.array([1, -2], ">i4").tobytes()))
    assert_array_equal(datasets.read_idx(i32), [1, -2])
    (tmp_path / "long.idx").write_bytes(data + b"\0")
    with pytest.raises(ValueError, match="more than that"):
        datasets.read_idx(tmp_path / "long.idx")


# ---- keras.datasets modules: the files Keras downloads, read from disk ----------

def _keras_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_mnist_load_data_reads_keras_npz(tmp_path, monkeypatch):
    monkeypatch.delenv("DENSEFIT_DATA", raising=False)
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              "y_train": np.arange(5, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
              "y_test": np.arange(2, dtype=np.uint8)}
    path = _keras_npz(tmp_path / "mnist.npz", **arrays)
    (x, y), (xt, yt) = datasets.mnist.load_data(path)
    for got, key in ((x, "x_train"), (y, "y_train"), (xt, "x_test"), (yt, "y_test")):
        assert_array_equal(got, arrays[key])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))  # Keras' own cache
    (tmp_path / "home" / "datasets").mkdir(parents=True)
    path.rename(tmp_path / "home" / "datasets" / "mnist.npz")
    assert_array_equal(datasets.mnist.load_data()[0][0], arrays["x_train"])


def test_mnist_load_data_reads_the_idx_directory(tmp_path, mnist_dir):
    """A directory of the original files is read as load_mnist reads it: checksums
    verified (tiny look-alike files are refused)."""
    (x, y), (xt, yt) = datasets.mnist.load_data(mnist_dir)
    assert x.shape == (60000, 28, 28) and yt.shape == (10000,)
    with pytest.raises(ValueError, match="checksum mismatch"):
        datasets.mnist.load_data(write_tiny_mnist(tmp_path / "m"))


def test_mnist_load_data_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv("DENSEFIT_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"does not download.*mnist\.npz.*path="):
        datasets.mnist.load_data()


@pytest.mark.parametrize("arrays, message", [
    ({"x_train": np.zeros((2, 27, 28), np.uint8)}, "is not what this dataset holds"),
    ({"x_train": np.array([{"a": 1}], dtype=object)}, "is not what this dataset holds"),
    ({"y_train": np.zeros(2, np.uint8)}, "no array 'x_train'"),
])
def test_a_foreign_npz_is_refused_before_its_data_is_read(tmp_path, arrays, message):
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)  # an object array is pickled: never unpickled here
    with pytest.raises(ValueError, match=message):
        datasets.mnist.load_data(path)


def test_a_truncated_npz_member_is_refused(tmp_path):
    import zipfile
    good = tmp_path / "good.npz"
    np.savez(good, x_train=np.zeros((4, 28, 28), np.uint8))
    with zipfile.ZipFile(good) as z:
        member = z.read("x_train.npy")
    bad = tmp_path / "mnist.npz"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("x_train.npy", member[:-100])
    with pytest.raises(ValueError, match="truncated"):
        datasets.mnist.load_data(bad)


def test_fashion_mnist_reads_keras_files(tmp_path, monkeypatch):
    d = tmp_path / "datasets" / "fashion-mnist"
    write_tiny_mnist(d)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (x, y), (xt, yt) = datasets.fashion_mnist.load_data()
    assert x.shape == (3, 28, 28) and yt.tolist() == [0, 1, 2]
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="missing t10k-labels"):
        datasets.fashion_mnist.load_data(d)


def test_boston_housing_shuffles_and_splits_as_keras(tmp_path):
    x = np.arange(20 * 13, dtype=np.float64).reshape(20, 13)
    y = np.arange(20, dtype=np.float64)
    path = _keras_npz(tmp_path / "boston_housing.npz", x=x, y=y)
    (xtr, ytr), (xte, yte) = datasets.boston_housing.load_data(str(path), test_split=0.25)
    order = np.arange(20)
    np.random.RandomState(113).shuffle(order)  # Keras' draw
    assert_array_equal(ytr, order[:15]) and assert_array_equal(yte, order[15:])
    assert_array_equal(xtr, x[order[:15]])
    with pytest.raises(ValueError, match="test_split"):
        datasets.boston_housing.load_data(str(path), test_split=1.0)
