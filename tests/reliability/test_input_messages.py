"""Inputs of other types, and messages that could mislead (issue #9, round 2).

Every refusal names the argument, the cause and the fix, and leaves the model
as it was; what Keras accepts and densefit can take at no risk is accepted:

- scipy.sparse matrices (densified once), pandas DataFrames and Series of
  numeric columns, nullable ``Int64``/``Float64`` included (a column holding
  missing values is named); a generator of batches is refused with the
  one-line alternative, as streaming is issue #12.  For x, y, validation_data,
  evaluate, predict, ``model(x)`` and ``Loss.__call__``.
- a 1-d x: the hint follows the model's input width (one sample: ``x[None]``;
  one feature: ``x.reshape(-1, 1)``).
- float64 values beyond float32's range: said so, with the row and the fix,
  not "NaN or inf".
- labels printed exactly, never rounded by ``:g``.
- ``Dense(units)`` beyond the core's limit, and a model that cannot fit in
  memory, refused before anything is allocated, naming the layer.
- output layers that train a constant model or a mismatched loss: a warning at
  the user's line, or an error that names the loss to use.
"""
import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd  # the test extra's: densefit itself never imports it
import pytest
import scipy.sparse
from numpy.testing import assert_array_equal

from densefit import Sequential, _core, activations, losses, network
from densefit.layers import Dense, Input, Softmax
from densefit.optimizers import SGD
from densefit.utils import set_random_seed

N, FEATURES, CLASSES = 24, 5, 3


@pytest.fixture(autouse=True)
def _seeded():
    set_random_seed(3)


def data(n=N, features=FEATURES, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    labels = (np.abs(x[:, 0] * 1.7 + x[:, -1])).astype(np.int64) % CLASSES
    return x, labels


def model(features=FEATURES, outputs=CLASSES, output="linear", loss="sparse", dtype=None):
    loss = {"sparse": losses.SparseCategoricalCrossentropy(from_logits=True),
            "mse": "mse", "binary": "binary_crossentropy",
            "categorical": losses.CategoricalCrossentropy(from_logits=True)}.get(loss, loss)
    m = Sequential([Input(shape=(features,), dtype=dtype), Dense(4, activation="relu"),
                    Dense(outputs, activation=output)])
    m.compile(optimizer=SGD(0.1), loss=loss)
    return m


def refused(m, exc, patterns, fn, absent=()):
    """``fn`` raises ``exc`` whose message matches every regex of ``patterns`` and
    none of ``absent``; the weights and step count are unchanged."""
    before = [w.copy() for w in m.get_weights()]
    iterations = m.optimizer.iterations if m.optimizer else None
    with pytest.raises(exc) as info:
        fn()
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    for pattern in absent:
        assert not re.search(pattern, message), f"{pattern!r} in {message!r}"
    for a, b in zip(m.get_weights(), before):
        assert_array_equal(a, b)
    assert (m.optimizer.iterations if m.optimizer else None) == iterations
    return message


def fitted(x, y, loss="sparse", outputs=CLASSES, **kwargs):
    """Weights after one epoch on ``(x, y)`` from the same seed."""
    set_random_seed(3)
    m = model(outputs=outputs, loss=loss)
    m.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, **kwargs)
    return m.get_weights()


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert_array_equal(u, v)


# ------------------------------------------------------------------ scipy.sparse

SPARSE = {"csr": scipy.sparse.csr_matrix, "csc": scipy.sparse.csc_matrix,
          "coo": scipy.sparse.coo_matrix, "csr_array": scipy.sparse.csr_array}


@pytest.mark.parametrize("kind", sorted(SPARSE))
def test_sparse_x_trains_as_its_dense_array(kind):
    x, y = data()
    x[np.abs(x) < 0.8] = 0
    sparse = SPARSE[kind](x)
    assert_same_weights(fitted(sparse, y), fitted(x, y))
    m = model()
    assert_array_equal(m.predict(sparse, verbose=0), m.predict(x, verbose=0))
    assert_array_equal(m(sparse), m(x))
    assert m.evaluate(sparse, y, verbose=0) == m.evaluate(x, y, verbose=0)


def test_sparse_validation_data_and_targets_are_accepted():
    x, y = data()
    onehot = np.eye(CLASSES)[y]
    expected = fitted(x, onehot, loss="mse", validation_data=(x[:6], onehot[:6]))
    got = fitted(scipy.sparse.csr_matrix(x), scipy.sparse.csr_matrix(onehot), loss="mse",
                 validation_data=(scipy.sparse.csr_matrix(x[:6]),
                                  scipy.sparse.csr_matrix(onehot[:6])))
    assert_same_weights(got, expected)
    loss = losses.MeanSquaredError()
    p = np.full((N, CLASSES), 0.25, np.float32)
    assert loss(scipy.sparse.csr_matrix(onehot), scipy.sparse.csr_matrix(p)) == loss(onehot, p)


def test_sparse_x_in_a_float64_model_keeps_float64():
    x, _ = data()
    m = model(dtype="float64")
    out = m.predict(scipy.sparse.csr_matrix(x.astype(np.float32)), verbose=0)
    assert out.dtype == np.float64
    assert_array_equal(out, m.predict(x.astype(np.float32), verbose=0))


def test_sparse_x_of_complex_numbers_is_refused_naming_the_type():
    x, _ = data()
    m = model()
    refused(m, TypeError, ["x must hold real numbers", "sparse", "complex"],
            lambda: m.predict(scipy.sparse.csr_matrix(x * 1j), verbose=0))


# ------------------------------------------------------------------ pandas

def frame(x, nullable=False):
    columns = {f"f{i}": x[:, i] for i in range(x.shape[1])}
    if nullable:
        columns = {k: pd.array(v, dtype="Float64") for k, v in columns.items()}
    return pd.DataFrame(columns)


@pytest.mark.parametrize("nullable", [False, True])
def test_dataframe_x_and_series_y_train_as_their_arrays(nullable):
    x, y = data()
    labels = pd.Series(pd.array(y, dtype="Int64") if nullable else y)
    assert_same_weights(fitted(frame(x, nullable), labels), fitted(x, y))
    m = model()
    assert_array_equal(m.predict(frame(x, nullable), verbose=0), m.predict(x, verbose=0))
    assert m.evaluate(frame(x, nullable), labels, verbose=0) == m.evaluate(x, y, verbose=0)
    assert_same_weights(fitted(frame(x, nullable), labels,
                               validation_data=(frame(x[:5], nullable), labels[:5])),
                        fitted(x, y, validation_data=(x[:5], y[:5])))


def test_dataframe_of_mixed_numeric_columns_is_accepted():
    x, _ = data()
    df = frame(x)
    df["f1"] = pd.array((x[:, 1] > 0).astype(np.int64), dtype="Int64")
    df["f2"] = x[:, 2] > 0
    expected = x.copy()
    expected[:, 1], expected[:, 2] = x[:, 1] > 0, x[:, 2] > 0
    m = model()
    assert_array_equal(m.predict(df, verbose=0), m.predict(expected, verbose=0))


def test_dataframe_with_missing_values_names_the_column_and_the_fix():
    x, y = data()
    df = frame(x, nullable=True)
    df.loc[7, "f3"] = pd.NA
    m = model()
    for fn in (lambda: m.fit(df, y, verbose=0), lambda: m.predict(df, verbose=0),
               lambda: m.evaluate(df, y, verbose=0),
               lambda: m.fit(x, y, validation_data=(df, y), verbose=0)):
        refused(m, ValueError, ["column 'f3'", "missing", "row 7", "fillna", "dropna"], fn)
    message = refused(m, ValueError, [], lambda: m.fit(x, y, validation_data=(df, y),
                                                        verbose=0))
    assert message.startswith("x_val")


def test_series_of_labels_with_missing_values_names_y():
    x, y = data()
    labels = pd.Series(pd.array(y, dtype="Int64"))
    labels[4] = pd.NA
    m = model()
    refused(m, ValueError, ["^y ", "missing", "row 4", "dropna"],
            lambda: m.fit(x, labels, verbose=0))
    refused(m, ValueError, ["^y_val ", "missing", "row 4"],
            lambda: m.fit(x, y, validation_data=(x, labels), verbose=0))
    labels.index = [f"id{i}" for i in range(N)]  # positions and labels both said
    refused(m, ValueError, [r"row 4 \(index 'id4'\)"], lambda: m.fit(x, labels, verbose=0))


def test_dataframe_with_a_text_column_names_it():
    x, y = data()
    df = frame(x)
    df["city"] = ["a", "b"] * (N // 2)
    df["kind"] = pd.Categorical(["u", "v"] * (N // 2))
    m = model(features=FEATURES + 2)
    refused(m, TypeError, ["x column 'city'", "not numbers", "dtype"],
            lambda: m.predict(df, verbose=0))
    refused(m, TypeError, ["x column 'kind'", "category"],
            lambda: m.predict(df.drop(columns="city"), verbose=0))


def test_densefit_imports_neither_pandas_nor_scipy_sparse():
    code = ("import sys, densefit, densefit.models; "
            "print(sorted(m for m in ('pandas', 'scipy.sparse') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_loss_call_accepts_pandas_and_names_missing_values():
    x, y = data()
    p = np.random.default_rng(1).random((N, CLASSES)).astype(np.float32)
    loss = losses.SparseCategoricalCrossentropy()
    assert loss(pd.Series(y), pd.DataFrame(p)) == loss(y, p)
    labels = pd.Series(pd.array(y, dtype="Int64"))
    labels[2] = pd.NA
    with pytest.raises(ValueError, match=r"y_true .*missing.*row 2"):
        loss(labels, p)


# ------------------------------------------------------------------ generators

def batches(x, y=None, size=8):
    for i in range(0, len(x), size):
        yield x[i:i + size] if y is None else (x[i:i + size], y[i:i + size])


GENERATOR_MESSAGE = ["generator", "arrays are needed here", r"np\.concatenate"]


class Batches:
    """An iterable of batches that is not an iterator, as a data loader is."""

    def __iter__(self):
        return batches(np.ones((N, FEATURES)))


def test_a_generator_where_arrays_are_needed_is_refused_with_the_alternative_unconsumed():
    # fit, evaluate and predict stream a generator given as x (or validation_data):
    # tests/test_streaming.py; elsewhere it is refused
    x, y = data()
    m = model()
    calls = {
        "fit y": lambda g: m.fit(x, g, verbose=0),
        "call": lambda g: m(g),
        "x_val": lambda g: m.fit(x, y, validation_data=(g, y), verbose=0),
    }
    for name, call in calls.items():
        gen = batches(x, y)
        refused(m, TypeError, GENERATOR_MESSAGE, lambda: call(gen))
        assert len(list(gen)) == 3, f"{name} consumed the generator"
    refused(m, TypeError, GENERATOR_MESSAGE + [r"^x "], lambda: m(iter([x])))
    refused(m, TypeError, ["^x is a Batches", "arrays are needed here", r"np\.concatenate"],
            lambda: m.predict(Batches(), verbose=0))  # an iterable such as a data loader
    loss = losses.SparseCategoricalCrossentropy()
    with pytest.raises(TypeError, match="y_pred is a generator"):
        loss(y, (row for row in np.ones((N, CLASSES))))


def test_other_non_array_objects_say_what_they_are():
    m = model()
    refused(m, TypeError, ["x must be an array", "got a dict"],
            lambda: m.predict({"a": np.ones(3)}, verbose=0))
    refused(m, TypeError, ["x must be an array", "got a str"],
            lambda: m.predict("data.csv", verbose=0))


# ------------------------------------------------------------------ 1-d x

def test_one_sample_of_a_wide_model_suggests_x_none():
    x, y = data(features=30)
    m = model(features=30)
    for call in (lambda: m.predict(x[0], verbose=0), lambda: m(x[0]),
                 lambda: m.evaluate(x[0], y[:1], verbose=0),
                 lambda: m.fit(x[0], y[:1], verbose=0)):
        refused(m, ValueError, [r"x\[None\]", r"reshape\(1, -1\)", "one sample"], call,
                absent=[r"reshape\(-1, 1\)"])
    assert m.predict(x[0][None], verbose=0).shape == (1, CLASSES)  # the hint works


def test_a_1d_x_is_one_value_per_sample_for_a_model_of_one_input():
    """Unambiguous, and what tutorials write (TensorFlow's regression tutorial
    feeds one feature as a 1-d array); Keras 3.15 on TensorFlow fails on it
    ("Cannot take the length of shape with unknown rank")."""
    x, y = data(features=1)
    m = model(features=1)
    assert_array_equal(m.predict(x[:, 0], verbose=0), m.predict(x, verbose=0))
    assert_array_equal(m(x[:, 0]), m(x))
    history = m.fit(x[:, 0], y, verbose=0, validation_data=(x[:, 0], y))
    assert np.isfinite(history.history["val_loss"]).all()


def test_a_1d_x_of_another_length_states_the_width():
    m = model(features=30)
    refused(m, ValueError, ["30 features", r"\(samples, 30\)"],
            lambda: m.predict(np.ones(7), verbose=0),
            absent=[r"reshape\(-1, 1\)", r"x\[None\]"])


def test_an_unbuilt_model_offers_both_readings_of_a_1d_x():
    m = Sequential([Dense(2)])
    refused(m, ValueError, [r"reshape\(-1, 1\)", r"x\[None\]"],
            lambda: m.predict(np.ones(7), verbose=0))
    assert not m.built


def test_a_1d_x_val_is_named():
    x, y = data()
    m = model()
    refused(m, ValueError, [r"^x_val ", r"x_val\[None\]"],
            lambda: m.fit(x, y, validation_data=(x[0], y[:1]), verbose=0))


# ------------------------------------------------------------------ float32's range

BEYOND = ["beyond float32's range", r"float64 model|dtype='float64'", "scale"]


def test_float64_x_beyond_float32_is_not_reported_as_nan():
    x, y = data()
    x[5, 2] = 1e39
    m = model()
    for call in (lambda: m.predict(x, verbose=0), lambda: m(x),
                 lambda: m.evaluate(x, y, verbose=0), lambda: m.fit(x, y, verbose=0)):
        refused(m, ValueError, BEYOND + [r"^x ", "row 5", "1e\\+39"], call,
                absent=["NaN or inf"])
    refused(m, ValueError, BEYOND + [r"^x_val ", "row 5"],
            lambda: m.fit(x[:4], y[:4], validation_data=(x, y), verbose=0))
    big = np.tile(x, (40, 1))  # the threaded predict path too
    refused(m, ValueError, BEYOND + ["row 5"], lambda: m.predict(big, batch_size=16, verbose=0))


def test_a_float64_model_takes_those_values():
    x, _ = data()
    x[5, 2] = 1e39
    assert np.isfinite(model(dtype="float64").predict(x, verbose=0)).all()


def test_real_nan_is_still_nan():
    x, y = data()
    x[3, 1] = np.nan
    m = model()
    refused(m, ValueError, [r"x holds NaN or inf \(first at row 3\)"],
            lambda: m.fit(x, y, verbose=0), absent=["range"])


def test_targets_beyond_float32_are_named():
    x, y = data()
    onehot = np.eye(CLASSES)[y]
    onehot[6, 1] = -2e40
    m = model(loss="mse")
    refused(m, ValueError, BEYOND + [r"^y ", "row 6"], lambda: m.fit(x, onehot, verbose=0),
            absent=["NaN or inf"])
    refused(m, ValueError, BEYOND + [r"^y_val ", "row 6"],
            lambda: m.fit(x, np.eye(CLASSES)[y], validation_data=(x, onehot), verbose=0))
    refused(m, ValueError, BEYOND + ["row 6"], lambda: m.evaluate(x, onehot, verbose=0))
    with pytest.raises(ValueError, match="y_true .*beyond float32's range"):
        losses.MeanSquaredError()(onehot, np.zeros((N, CLASSES), np.float32))


# ------------------------------------------------------------------ labels printed exactly

def test_class_labels_are_printed_exactly():
    x, y = data()
    m = model()
    bad = y.copy()
    bad[9] = 1234567
    refused(m, ValueError, ["1234567", "row 9"], lambda: m.fit(x, bad, verbose=0),
            absent=["e\\+06"])
    floats = y.astype(np.float64)
    floats[2] = 1234567.5
    refused(m, ValueError, [r"1234567\.5", "row 2"], lambda: m.fit(x, floats, verbose=0))
    floats[2] = 0.1
    refused(m, ValueError, [r"got 0\.1 ", "row 2"], lambda: m.fit(x, floats, verbose=0))


def test_binary_targets_are_printed_exactly():
    x, y = data()
    m = model(outputs=1, output="sigmoid", loss="binary")
    bad = (y == 1).astype(np.int64)
    bad[3] = 16777217  # not a float32: printed as given
    refused(m, ValueError, ["16777217", "row 3"], lambda: m.fit(x, bad, verbose=0),
            absent=["e\\+07", "16777216"])


# ------------------------------------------------------------------ sizes

def test_units_beyond_the_core_limit_are_refused_at_once():
    with pytest.raises(ValueError, match=r"units must be a positive integer in "
                                         r"\[1, 2147483647\], got 2147483648"):
        Dense(2**31)
    assert Dense(_core.MAX_ROWS).units == _core.MAX_ROWS  # nothing allocated yet
    # the input width is a size of the core too
    for make in (lambda: Input(shape=(2**40,)), lambda: Dense(1, input_shape=(2**40,)),
                 lambda: Sequential([Dense(1)]).build((None, 2**40))):
        with pytest.raises(ValueError, match=r"\[1, 2147483647\], got 1099511627776"):
            make()


def test_a_model_too_large_for_memory_names_the_layer_before_allocating():
    # 784 x (2**31 - 1) parameters: terabytes on any machine
    m = Sequential([Input(shape=(784,)), Dense(8, name="small")])
    with pytest.raises(MemoryError, match=r"'huge'.*\(8, 2147483647\).*memory.*fewer units"):
        m.add(Dense(_core.MAX_ROWS, name="huge"))
    assert [layer.name for layer in m.layers] == ["small"]  # the add was undone
    assert m.predict(np.ones((2, 784)), verbose=0).shape == (2, 8)
    lazy = Sequential([Dense(_core.MAX_ROWS, name="lazy")])
    with pytest.raises(MemoryError, match=r"'lazy'.*\(784, 2147483647\)"):
        lazy.predict(np.ones((1, 784)), verbose=0)
    assert not lazy.built


def test_the_memory_check_counts_what_a_build_allocates():
    linear = activations.get(None)
    plan = [(Dense(10, name="a"), linear), (Dense(1000, name="b"), linear)]
    # parameters and gradients in float32, the largest layer's float64 draw and its copy
    need = 2 * (5 * 10 + 10 + 10 * 1000 + 1000) * 4 + 16 * (10 * 1000 + 1000)
    network.check_fits(plan, 5, np.float32, memory=need)  # fits exactly
    with pytest.raises(MemoryError,
                       match=r"'b' of 1000 units.*\(10, 1000\).*258\.28 KB in float32"):
        network.check_fits(plan, 5, np.float32, memory=need - 1)


# ------------------------------------------------------------------ output layers and losses

def compile_warnings(m, loss):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m.compile(optimizer="sgd", loss=loss)  # the user's line
    return [w for w in caught if issubclass(w.category, UserWarning)]


def test_softmax_over_one_unit_warns_at_the_users_line():
    for layers in ([Dense(1, activation="softmax")], [Dense(1), Softmax()]):
        m = Sequential([Input(shape=(3,)), Dense(4)] + layers)
        caught = compile_warnings(m, "mse")
        assert len(caught) == 1, [str(w.message) for w in caught]
        assert "softmax over 1 unit is always 1.0" in str(caught[0].message)
        assert "activation='sigmoid'" in str(caught[0].message)
        assert caught[0].filename == __file__


def test_adding_such_an_output_after_compile_warns_at_the_add():
    m = Sequential([Input(shape=(3,)), Dense(4)])
    m.compile(optimizer="sgd", loss="mse")
    with pytest.warns(UserWarning, match="softmax over 1 unit") as caught:
        m.add(Dense(1, activation="softmax"))
    assert caught[0].filename == __file__


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_a_categorical_loss_on_one_output_warns(loss):
    m = Sequential([Input(shape=(3,)), Dense(1)])
    caught = compile_warnings(m, loss)
    assert len(caught) == 1
    assert "1-unit output" in str(caught[0].message)
    assert "BinaryCrossentropy" in str(caught[0].message)
    assert caught[0].filename == __file__


def test_sound_outputs_do_not_warn():
    for units, activation, loss in ((1, "sigmoid", "binary_crossentropy"),
                                    (3, "softmax", "sparse_categorical_crossentropy"),
                                    (1, "linear", "mse")):
        m = Sequential([Input(shape=(3,)), Dense(units, activation=activation)])
        assert compile_warnings(m, loss) == []


def test_binary_crossentropy_on_class_labels_names_the_sparse_loss():
    x, y = data()
    m = model(outputs=1, output="sigmoid", loss="binary")
    refused(m, ValueError, [r"\[0, 1\]", "class labels",
                            "SparseCategoricalCrossentropy", r"Dense\(3, activation='softmax'\)"],
            lambda: m.fit(x, y, verbose=0))


def test_categorical_crossentropy_on_class_labels_suggests_the_sparse_loss():
    x, y = data()
    m = model(loss="categorical")
    for labels in (y, y.reshape(-1, 1)):
        refused(m, ValueError, [r"y must have shape \(24, 3\)", "SparseCategoricalCrossentropy",
                                r"np\.eye\(3\)\[y(\.ravel\(\)\.astype\(int\))?\]"],
                lambda: m.fit(x, labels, verbose=0))


def test_sparse_labels_on_one_output_say_why():
    x, y = data()
    m = Sequential([Input(shape=(FEATURES,)), Dense(1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    refused(m, ValueError, [r"\[0, 1\)", "1-unit output", "BinaryCrossentropy"],
            lambda: m.fit(x, y, verbose=0))
