"""Bad input to the public API: every error is a ValueError or TypeError whose
message names the argument, says what was expected and shows what was given,
and a refused call leaves the weights, ``optimizer.iterations`` and the
optimizer's slots exactly as they were.

Builds on tests/test_models.py (``BAD_FIT``, ``test_bad_x_for_predict``, the
batch_size/epochs/validation_split tables, ``test_set_weights_is_all_or_nothing``,
dtype and layout conversions for ``fit``) and the per-module constructor tests;
only what those do not cover is here: ``__call__``, ``compile``, the
constructors' remaining arguments, dense-target and validation-data errors
with their row, ragged lists, callbacks, ``set_weights`` values beyond the
model's dtype, dtype and layout conversions for predict/evaluate/__call__, the
categorical cross-entropy's soft labels, and predict building an unbuilt model.
"""
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from densefit import Sequential, callbacks, losses, reference
from densefit.activations import LEAKY_RELU_SLOPE as KERAS_SLOPE  # leaky_relu's default
from densefit.layers import Activation, Dense, Input, LeakyReLU
from densefit.optimizers import SGD, Adam, RMSprop
from densefit.utils import set_random_seed

N, FEATURES, CLASSES = 40, 4, 3


@pytest.fixture(autouse=True)
def _seeded():
    set_random_seed(7)


def data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    labels = (np.abs(x[:, 0] * 1.7 + x[:, -1])).astype(np.int64) % CLASSES
    return x, labels


def model_for(loss, outputs=CLASSES, output="linear", metrics=None):
    model = Sequential([Input(shape=(FEATURES,)), Dense(6, activation="relu"),
                        Dense(outputs, activation=output)])
    model.compile(optimizer=Adam(0.01), loss=loss, metrics=metrics)
    return model


def trained(kind="sparse"):
    """A model trained one epoch (so its optimizer has a step count and slots)."""
    x, labels = data()
    if kind == "sparse":
        model, y = model_for(losses.SparseCategoricalCrossentropy(from_logits=True),
                             metrics=["accuracy"]), labels
    elif kind == "mse":
        model, y = model_for("mse"), np.eye(CLASSES, dtype=np.float32)[labels]
    elif kind == "categorical":
        model, y = (model_for(losses.CategoricalCrossentropy(from_logits=True)),
                    np.eye(CLASSES, dtype=np.float32)[labels])
    else:  # binary
        model, y = (model_for("binary_crossentropy", outputs=1, output="sigmoid"),
                    (labels == 1).astype(np.float32))
    model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    assert model.optimizer.iterations == 4
    return model, x, y


def expect_error(model, exc, patterns, fn):
    """``fn`` raises ``exc`` whose message matches every regex in ``patterns`` (the
    argument, what was expected, what was given), and changes no weight, step
    count or optimizer slot."""
    weights = [w.copy() for w in model.get_weights()] if model is not None else []
    optimizer = getattr(model, "optimizer", None)
    iterations = optimizer.iterations if optimizer else None
    slots = _state(optimizer) if optimizer else None
    with pytest.raises(exc) as info:
        fn()
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    if model is not None:
        after = model.get_weights()
        assert len(after) == len(weights)
        for a, b in zip(after, weights):
            assert_array_equal(a, b)
    if optimizer is not None:
        assert model.optimizer is optimizer and optimizer.iterations == iterations
        if slots is not None:
            now = _state(optimizer)
            assert now.keys() == slots.keys()
            for name in slots:
                assert_array_equal(slots[name], now[name])
    return message


def _state(optimizer):
    """Copies of the optimizer's step count and state arrays."""
    store = {}
    optimizer.save_own_variables(store)
    return {name: np.copy(value) for name, value in store.items()}


def with_row(a, row, value):
    a = np.array(a, dtype=np.float64 if np.asarray(a).dtype.kind != "f" else None, copy=True)
    a[row] = value
    return a


# ------------------------------------------------------------------ constructors

CONSTRUCTORS = {
    # Dense
    "Dense units 1.5": (lambda: Dense(1.5), ValueError, ["units", "positive integer", "1.5"]),
    "Dense units None": (lambda: Dense(None), ValueError, ["units", "positive integer", "None"]),
    "Dense units True": (lambda: Dense(True), ValueError, ["units", "positive integer", "True"]),
    "Dense activation typo": (lambda: Dense(3, activation="sigmoidd"), ValueError,
                              ["Unknown activation 'sigmoidd'", "Did you mean 'sigmoid'"]),
    "Dense activation int": (lambda: Dense(3, activation=3), TypeError,
                             ["activation must be a name such as 'relu'", "got 3"]),
    "Dense bias_initializer int": (lambda: Dense(3, bias_initializer=3), TypeError,
                                   ["initializer must be a name", "got 3"]),
    "Dense bias_initializer typo": (lambda: Dense(3, bias_initializer="zeroes"), ValueError,
                                    ["Unknown initializer 'zeroes'", "Did you mean 'zeros'"]),
    "Dense input_shape 2-d": (lambda: Dense(3, input_shape=(2, 3)), ValueError,
                              ["input_shape must be a 1-tuple", r"got \(2, 3\)"]),
    "Dense input_shape 0": (lambda: Dense(3, input_shape=(0,)), ValueError,
                            [r"input_shape\[0\] must be a positive integer", "got 0"]),
    "Dense dtype float16": (lambda: Dense(3, dtype="float16"), ValueError,
                            ["dtype must be one of 'float32', 'float64'", "got 'float16'"]),
    "Dense name int": (lambda: Dense(3, name=3), ValueError, ["name must be a string", "got 3"]),
    # Input
    "Input shape 0": (lambda: Input(shape=(0,)), ValueError,
                      [r"shape\[0\] must be a positive integer", "got 0"]),
    "Input shape empty": (lambda: Input(shape=()), ValueError,
                          ["shape must be a tuple such as", r"got \(\)"]),
    "Input shape None": (lambda: Input(shape=None), ValueError,
                         ["shape must be a tuple such as", "got None"]),
    "Input shape float": (lambda: Input(shape=(2.5,)), ValueError,
                          [r"shape\[0\] must be a positive integer", "got 2.5"]),
    "Input dtype int32": (lambda: Input(shape=(3,), dtype="int32"), ValueError,
                          ["dtype must be one of 'float32', 'float64'", "got 'int32'"]),
    # LeakyReLU
    "LeakyReLU inf": (lambda: LeakyReLU(float("inf")), ValueError,
                      ["negative_slope must be a finite number >= 0", "got inf"]),
    "LeakyReLU bool": (lambda: LeakyReLU(True), ValueError,
                       ["negative_slope must be a finite number >= 0", "got True"]),
    "LeakyReLU alpha": (lambda: LeakyReLU(alpha=-0.5), ValueError,
                        ["negative_slope must be a finite number >= 0", "got -0.5"]),
    # Activation
    "Activation typo": (lambda: Activation("tanhh"), ValueError,
                        ["Unknown activation 'tanhh'", "Did you mean 'tanh'"]),
    "Activation int": (lambda: Activation(3), TypeError,
                       ["activation must be a name such as 'relu'", "got 3"]),
    # losses
    "loss name int": (lambda: losses.BinaryCrossentropy(name=5), ValueError,
                      ["name must be a string", "got 5"]),
    "loss unknown keyword": (lambda: losses.CategoricalCrossentropy(label_smothing=0.1),
                             TypeError, ["label_smothing"]),
    "loss label_smoothing above 1": (lambda: losses.BinaryCrossentropy(label_smoothing=1.5),
                                     ValueError, ["label_smoothing", "[0, 1]", "1.5"]),
    "loss huber delta negative": (lambda: losses.Huber(delta=-1), ValueError, ["delta", "-1"]),
    "loss ignore_class float": (lambda: losses.SparseCategoricalCrossentropy(ignore_class=1.5),
                                ValueError, ["ignore_class", "1.5"]),
    "loss get typo": (lambda: losses.get("categorical_crossentropyy"), ValueError,
                      ["Unknown loss 'categorical_crossentropyy'",
                       "Did you mean 'categorical_crossentropy'"]),
    # optimizers
    "Adam learning_rate inf": (lambda: Adam(learning_rate=float("inf")), ValueError,
                               ["learning_rate must be a finite number > 0", "got inf"]),
    "Adam beta_2 1": (lambda: Adam(beta_2=1.0), ValueError,
                      [r"beta_2 must be a number in \[0, 1\)", "got 1.0"]),
    "SGD nesterov string": (lambda: SGD(momentum=0.9, nesterov="yes"), TypeError,
                            ["nesterov must be True or False", "got 'yes'"]),
    "RMSprop epsilon nan": (lambda: RMSprop(epsilon=float("nan")), ValueError,
                            ["epsilon must be a finite number > 0", "got nan"]),
    # EarlyStopping
    "EarlyStopping monitor int": (lambda: callbacks.EarlyStopping(monitor=3), TypeError,
                                  ["monitor must be the name of a logged value", "got 3"]),
    "EarlyStopping patience -1": (lambda: callbacks.EarlyStopping(patience=-1), ValueError,
                                  ["patience must be an integer >= 0", "got -1"]),
    "EarlyStopping patience 1.5": (lambda: callbacks.EarlyStopping(patience=1.5), ValueError,
                                   ["patience must be an integer >= 0", "got 1.5"]),
    "EarlyStopping patience str": (lambda: callbacks.EarlyStopping(patience="2"), ValueError,
                                   ["patience must be an integer >= 0", "got '2'"]),
    "EarlyStopping min_delta str": (lambda: callbacks.EarlyStopping(min_delta="x"), ValueError,
                                    ["min_delta must be a finite number", "got 'x'"]),
    "EarlyStopping min_delta nan": (lambda: callbacks.EarlyStopping(min_delta=float("nan")),
                                    ValueError, ["min_delta must be a finite number", "got nan"]),
    "EarlyStopping baseline str": (lambda: callbacks.EarlyStopping(baseline="0.5"), ValueError,
                                   ["baseline must be a finite number", "got '0.5'"]),
    "EarlyStopping restore string": (lambda: callbacks.EarlyStopping(restore_best_weights="no"),
                                     TypeError, ["restore_best_weights must be True or False",
                                                 "got 'no'"]),
    "EarlyStopping verbose": (lambda: callbacks.EarlyStopping(verbose=5), ValueError,
                              ["verbose must be an integer in \\[0, 1\\]", "got 5"]),
    "EarlyStopping start_from_epoch": (lambda: callbacks.EarlyStopping(start_from_epoch=-2),
                                       ValueError, ["start_from_epoch must be an integer >= 0",
                                                    "got -2"]),
    # Sequential
    "Sequential layers int": (lambda: Sequential(3), TypeError,
                              ["layers must be a list of layers", "got 3"]),
    "Sequential layers string": (lambda: Sequential("dense"), TypeError,
                                 ["layers must be a list of layers", "got 'dense'"]),
    "Sequential name int": (lambda: Sequential(name=7), ValueError,
                            ["name must be a string", "got 7"]),
    "Sequential second Input": (lambda: Sequential([Input((3,)), Dense(2), Input((3,))]),
                                ValueError, ["Input must be the first layer"]),
}


@pytest.mark.parametrize("make, exc, patterns", CONSTRUCTORS.values(), ids=CONSTRUCTORS.keys())
def test_constructors_refuse_bad_arguments(make, exc, patterns):
    expect_error(None, exc, patterns, make)


def test_constructors_accept_what_they_document():
    """The checks above do not refuse the valid neighbours of the bad values."""
    assert Dense(np.int64(3)).units == 3
    assert LeakyReLU(0).negative_slope == 0.0 and LeakyReLU(np.float32(0.5)).negative_slope == 0.5
    assert SGD(momentum=0.9, nesterov=np.True_).nesterov is True
    stopper = callbacks.EarlyStopping(monitor="loss", patience=np.int64(2),
                                      min_delta=np.float32(0.1), baseline=1, start_from_epoch=1,
                                      verbose=True)
    assert (stopper.patience, stopper.start_from_epoch) == (2, 1)
    assert Sequential((Dense(2),), name="tuple_of_layers").name == "tuple_of_layers"
    assert Activation(None).as_activation().name == "linear"


# ------------------------------------------------------------------ compile

@pytest.mark.parametrize("kwargs, exc, patterns", [
    (dict(loss="mse", metrics=3), TypeError, ["metrics must be a list of names", "got 3"]),
    (dict(loss="mse", optimizer=None), TypeError, ["optimizer must be", "got None"]),
    (dict(loss="mse", optimizer="rmsprp"), ValueError,
     ["Unknown optimizer 'rmsprp'", "Did you mean 'rmsprop'"]),
    (dict(loss="categorical_accuracy"), ValueError, ["Unknown loss 'categorical_accuracy'",
                                                     "Known: bce, binary_crossentropy"]),
    (dict(loss="mse", metrics=["binary_acuracy"]), ValueError,
     ["Unknown metric 'binary_acuracy'", "Did you mean 'binary_accuracy'"]),
    (dict(loss=losses.MeanSquaredError, metrics=[None]), TypeError,
     ["metrics must be names", "got None"]),
], ids=["metrics-int", "optimizer-none", "optimizer-typo", "loss-is-a-metric", "metric-typo",
        "metric-none"])
def test_compile_errors_keep_state_and_compile(kwargs, exc, patterns):
    model, x, y = trained()
    optimizer, loss = model.optimizer, model.loss
    expect_error(model, exc, patterns, lambda: model.compile(**kwargs))
    assert model.optimizer is optimizer and model.loss is loss
    model.fit(x, y, batch_size=10, epochs=1, verbose=0)  # still trains as compiled
    assert model.optimizer.iterations == 8


# ------------------------------------------------------------------ fit, evaluate, predict, call

BAD_X = {
    "features": (lambda x: x[:, :3], ValueError,
                 ["x must have 4 features", r"got shape \(40, 3\)"]),
    "nan": (lambda x: with_row(x, 9, np.nan), ValueError,
            [r"x holds NaN or inf \(first at row 9\)"]),
    "inf": (lambda x: with_row(x, 0, -np.inf), ValueError, [r"first at row 0"]),
    "1-d": (lambda x: x[:, 0], ValueError, ["x must be 2-d", r"got shape \(40,\)",
                                              r"\(samples, 4\)"]),
    "scalar": (lambda x: 3.0, ValueError, ["x must be 2-d", r"got shape \(\)"]),
    "complex": (lambda x: x * 1j, TypeError, ["x must hold real numbers", "complex"]),
    "strings": (lambda x: x.astype(str), TypeError, ["x must hold real numbers", "dtype <U"]),
    "objects": (lambda x: x.astype(object), TypeError, ["x must hold real numbers", "object"]),
    "ragged": (lambda x: x.tolist()[:-1] + [[1.0]], ValueError,
               ["x must be a rectangular array", "ragged"]),
    "none": (lambda x: None, ValueError, ["x is required"]),
}


@pytest.mark.parametrize("case", list(BAD_X))
def test_call_refuses_bad_x(case):
    """``model(x)`` checks as predict does (test_models covers predict's own cases)."""
    model, x, _ = trained()
    make, exc, patterns = BAD_X[case]
    expect_error(model, exc, patterns, lambda: model(make(x)))


def test_ragged_lists_name_the_argument_everywhere():
    model, x, y = trained()
    ragged_x = x.tolist()[:-1] + [[1.0, 2.0]]
    ragged_y = [[0.0]] * (N - 1) + [[0.0, 1.0]]
    for fn in (lambda: model.fit(ragged_x, y, verbose=0),
               lambda: model.evaluate(ragged_x, y, verbose=0),
               lambda: model.predict(ragged_x)):
        expect_error(model, ValueError, ["x must be a rectangular array"], fn)
    for fn in (lambda: model.fit(x, ragged_y, verbose=0),
               lambda: model.evaluate(x, ragged_y, verbose=0)):
        expect_error(model, ValueError, ["y must be a rectangular array"], fn)
    expect_error(model, ValueError, ["x_val must be a rectangular array"],
                 lambda: model.fit(x, y, validation_data=(ragged_x, y), verbose=0))


@pytest.mark.parametrize("kind, make, exc, patterns", [
    ("mse", lambda y: with_row(y, 5, np.nan), ValueError,
     [r"y holds NaN or inf \(first at row 5\)"]),
    ("mse", lambda y: with_row(y, 38, np.inf), ValueError,
     [r"y holds NaN or inf \(first at row 38\)"]),
    ("categorical", lambda y: with_row(y, 2, -np.inf), ValueError, [r"y holds NaN .*row 2\)"]),
    ("binary", lambda y: with_row(y, 11, np.nan), ValueError, [r"y holds NaN .*row 11\)"]),
    ("binary", lambda y: with_row(y, 13, 1.5), ValueError,
     [r"y must hold binary targets in \[0, 1\]", r"\[0, 1.5\]", "first outside at row 13"]),
    ("sparse", lambda y: with_row(y, 3, np.nan), ValueError,
     ["y must hold integer class labels", r"got nan \(first at row 3\)"]),
    ("sparse", lambda y: with_row(y, 4, 1.25), ValueError,
     ["y must hold integer class labels", r"got 1.25 \(first at row 4\)"]),
    ("sparse", lambda y: with_row(y, 6, CLASSES), ValueError,
     [r"y must hold class labels in \[0, 3\)", r"got 3 \(first at row 6\)"]),
    ("sparse", lambda y: with_row(y, 7, -2), ValueError,
     [r"class labels in \[0, 3\)", r"got -2 \(first at row 7\)"]),
    ("mse", lambda y: y + 1j, TypeError, ["y must be numeric", "complex"]),
    ("mse", lambda y: y.astype(object), TypeError, ["y must be numeric", "object"]),
    ("mse", lambda y: y.astype(str), TypeError, ["y must be numeric", "<U"]),
    ("mse", lambda y: y[:, :2], ValueError, [r"y must have shape \(40, 3\)", r"got \(40, 2\)"]),
    ("categorical", lambda y: y[:-1], ValueError,
     ["x and y must have the same number of samples", "got 40 and 39"]),
    ("binary", lambda y: y.astype(np.complex64), TypeError, ["y must be numeric"]),
], ids=["mse-nan", "mse-inf", "cce-inf", "bce-nan", "bce-range", "sparse-nan", "sparse-fraction",
        "sparse-too-big", "sparse-negative", "mse-complex", "mse-object", "mse-strings",
        "mse-columns", "cce-length", "bce-complex"])
def test_bad_targets_are_refused_before_training(kind, make, exc, patterns):
    model, x, y = trained(kind)
    bad = make(y)
    expect_error(model, exc, patterns, lambda: model.fit(x, bad, epochs=1, verbose=0))
    expect_error(model, exc, patterns, lambda: model.evaluate(x, bad, verbose=0))


def test_bad_validation_data_names_x_val_and_y_val_with_the_row():
    model, x, y = trained("mse")
    x_val, y_val = x[:10], y[:10]
    expect_error(model, ValueError, [r"x_val holds NaN or inf \(first at row 4\)"],
                 lambda: model.fit(x, y, validation_data=(with_row(x_val, 4, np.nan), y_val),
                                   verbose=0))
    expect_error(model, ValueError, [r"y_val holds NaN or inf \(first at row 8\)"],
                 lambda: model.fit(x, y, validation_data=(x_val, with_row(y_val, 8, np.inf)),
                                   verbose=0))
    # the split's validation part is checked before any batch trains, and named by its row
    expect_error(model, ValueError, [r"x_val holds NaN or inf \(first at row 2\)"],
                 lambda: model.fit(with_row(x, 32 + 2, np.nan), y, validation_split=0.2,
                                   verbose=0))


@pytest.mark.parametrize("cbs, patterns", [
    (3, ["callbacks must be a list of densefit.callbacks.Callback instances", "got 3"]),
    ([3], ["callbacks must be a list", r"got \[3\]"]),
    ([callbacks.History(), "early_stopping"], ["callbacks must be a list", "'early_stopping'"]),
    (callbacks.EarlyStopping(), ["callbacks must be a list", "EarlyStopping"]),
], ids=["int", "list-of-int", "list-with-string", "bare-callback"])
def test_callbacks_must_be_callbacks(cbs, patterns):
    model, x, y = trained()
    expect_error(model, TypeError, patterns,
                 lambda: model.fit(x, y, callbacks=cbs, verbose=0))


@pytest.mark.parametrize("batch_size", [-1, 1.5, True, "8", 2**0.5])
def test_predict_batch_size_must_be_a_positive_integer(batch_size):
    model, x, _ = trained()
    expect_error(model, ValueError, ["batch_size must be a positive integer",
                                     re.escape(repr(batch_size))],
                 lambda: model.predict(x, batch_size=batch_size))


def test_predict_verbose_is_checked():
    model, x, _ = trained()
    expect_error(model, ValueError, ["verbose must be 'auto', 0, 1 or 2", "got 'loud'"],
                 lambda: model.predict(x, verbose="loud"))
    assert_array_equal(model.predict(x, verbose=0), model.predict(x))


def test_predict_with_a_huge_batch_size_is_one_batch():
    model, x, _ = trained()
    assert_array_equal(model.predict(x, batch_size=2**70), model.predict(x))


def test_predict_on_empty_x_returns_no_rows():
    """No rows in, no rows out (fit and evaluate refuse empty x: test_models)."""
    model, x, _ = trained()
    out = model.predict(x[:0])
    assert out.shape == (0, CLASSES) and out.dtype == np.float32
    assert model(x[:0]).shape == (0, CLASSES)


def test_call_on_a_model_with_no_layers():
    expect_error(Sequential(), ValueError, ["no Dense layer"],
                 lambda: Sequential()(np.ones((2, 3))))


def test_predict_builds_an_unbuilt_model_from_the_data():
    """As in Keras: the first data a model sees sets its input size."""
    model = Sequential([Dense(4, activation="relu"), Dense(2)])
    assert not model.built
    x = np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32)
    out = model.predict(x)
    assert model.built and model.input_shape == (None, 5)
    assert [w.shape for w in model.get_weights()] == [(5, 4), (4,), (4, 2), (2,)]
    w = model.get_weights()
    hidden = reference.dense_forward(x, w[0], w[1], "relu", KERAS_SLOPE)
    assert_allclose(out, reference.dense_forward(hidden, w[2], w[3], "linear", KERAS_SLOPE),
                    rtol=1e-5, atol=1e-6)
    expect_error(model, ValueError, ["x must have 5 features", r"got shape \(6, 3\)"],
                 lambda: model.predict(x[:, :3]))
    # a refused first call leaves the model unbuilt
    fresh = Sequential([Dense(2)])
    expect_error(fresh, ValueError, ["x must be 2-d"], lambda: fresh.predict(np.ones(5)))
    assert not fresh.built


# ------------------------------------------------------------------ set_weights

@pytest.mark.parametrize("make, exc, patterns", [
    (lambda w: None, TypeError, ["weights must be a list of arrays", "got NoneType"]),
    (lambda w: 3, TypeError, ["weights must be a list of arrays", "got int"]),
    (lambda w: w[0], TypeError, ["weights must be a list of arrays", "got ndarray"]),
    (lambda w: [w[0].tolist()[:-1] + [[1.0]]] + w[1:], ValueError,
     [r"weights\[0\] must be a rectangular array"]),
    (lambda w: w[:-1] + [np.full(w[-1].shape, 1e39)], ValueError,
     [r"weights\[3\] must hold finite real numbers \(in float32\)", "beyond float32's range"]),
    (lambda w: [w[0] * 1j] + w[1:], ValueError,
     [r"weights\[0\] must hold finite real numbers", "complex"]),
], ids=["none", "int", "bare-array", "ragged", "beyond-float32", "complex"])
def test_set_weights_refuses_and_writes_nothing(make, exc, patterns):
    model, _, _ = trained()
    new = [w + 1 for w in model.get_weights()]
    expect_error(model, exc, patterns, lambda: model.set_weights(make(new)))


def test_set_weights_accepts_other_dtypes_and_layouts():
    model, x, _ = trained()
    w = model.get_weights()
    model.set_weights([np.asfortranarray(w[0].astype(np.float64)),
                       np.ascontiguousarray(w[1][::-1])[::-1],
                       w[2].astype(np.float16).astype(np.float32), w[3].tolist()])
    for got, want in zip(model.get_weights(), w):
        assert got.dtype == np.float32
    assert_array_equal(model.get_weights()[0], w[0])
    assert_array_equal(model.get_weights()[3], w[3])


# ------------------------------------------------------------------ conversions for inference

@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.uint16, np.bool_, np.float16,
                                   np.float64])
def test_predict_evaluate_and_call_convert_other_dtypes(dtype):
    """ints, bools and float16 give exactly what their float32 values give."""
    model, x, y = trained()
    x = (x > 0) if dtype is np.bool_ else np.round(x * 3).astype(dtype)
    as_f32 = x.astype(np.float32)
    assert_array_equal(model.predict(x), model.predict(as_f32))
    assert_array_equal(model(x), model(as_f32))
    assert model.evaluate(x, y, verbose=0) == model.evaluate(as_f32, y, verbose=0)


LAYOUTS = {
    "strided-columns": lambda x: np.repeat(x, 2, axis=1)[:, ::2],
    "strided-rows": lambda x: np.repeat(x, 3, axis=0)[::3],
    "fortran": np.asfortranarray,
    "reversed-twice": lambda x: np.ascontiguousarray(x[::-1])[::-1],
    "transposed": lambda x: np.ascontiguousarray(x.T).T,
    "read-only": lambda x: _read_only(x),
}


def _read_only(x):
    x = x.copy()
    x.flags.writeable = False
    return x


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_inference_ignores_memory_layout(layout):
    model, x, y = trained()
    view = LAYOUTS[layout](x)
    assert_array_equal(view, x)
    assert_array_equal(model.predict(view), model.predict(x))
    assert_array_equal(model(view), model(x))
    assert model.evaluate(view, y, verbose=0) == model.evaluate(x, y, verbose=0)
    labels = LAYOUTS[layout](np.stack([y, y], axis=1))[:, 0]  # non-contiguous labels too
    assert model.evaluate(x, labels, verbose=0) == model.evaluate(x, y, verbose=0)


@pytest.mark.parametrize("layout", ["fortran", "reversed-twice", "read-only", "strided-rows"])
def test_fit_with_dense_targets_ignores_memory_layout(layout):
    """fit's x layouts are in test_models; here dense targets in other layouts too."""
    def run(x, y):
        set_random_seed(11)
        model = model_for("mse")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        return model.get_weights()

    x, labels = data()
    y = np.eye(CLASSES, dtype=np.float32)[labels] + 0.25
    for got, want in zip(run(LAYOUTS[layout](x), LAYOUTS[layout](y)), run(x, y)):
        assert_array_equal(got, want)


# ------------------------------------------------------------------ soft labels

def test_categorical_crossentropy_accepts_any_finite_targets():
    """Keras does not check that categorical targets are one-hot: soft labels, rows
    not summing to 1, even negative entries are accepted, and the loss is
    ``-sum(y * log softmax(logits))`` per sample, trained with its exact gradient
    ``softmax * sum(y) - y``.  (Documented in the CategoricalCrossentropy docstring.)"""
    assert "soft labels" in losses.CategoricalCrossentropy.__doc__
    x, _ = data()
    x = x.astype(np.float64)
    soft = np.random.default_rng(3).dirichlet(np.ones(CLASSES), N)
    odd = soft.copy()
    odd[0] = [0, 0, 0]          # sums to 0
    odd[1] = [2, 0, 0]          # sums to 2
    odd[2] = [-0.5, 1, 0.5]     # a negative entry
    for loss, output, kernel in [(losses.CategoricalCrossentropy(from_logits=True), "linear",
                                  "ce_logits"),
                                 ("categorical_crossentropy", "softmax", "ce_logits")]:
        for targets in (soft, odd):
            set_random_seed(5)
            model = Sequential([Input(shape=(FEATURES,), dtype="float64"),
                                Dense(6, activation="tanh"), Dense(CLASSES, activation=output)])
            model.compile(optimizer=Adam(0.01), loss=loss)
            w = model.get_weights()
            mlp = reference.MLP([(w[0], w[1], "tanh"), (w[2], w[3], output)], kernel,
                                output == "softmax", KERAS_SLOPE, **model.optimizer.get_config())
            logits = mlp.forward(x, training=True)[-1]
            want = -(targets * reference.log_softmax(logits)).sum(axis=1).mean()
            assert_allclose(model.evaluate(x, targets, verbose=0), want, rtol=1e-12)
            history = model.fit(x, targets, batch_size=10, epochs=2, shuffle=False, verbose=0)
            want_losses = [np.mean(mlp.fit_epoch(x, targets, 10, np.arange(N)))
                           for _ in range(2)]
            assert_allclose(history.history["loss"], want_losses, rtol=1e-10)
            for got, want_w in zip(model.get_weights(), mlp.parameters()):
                assert_allclose(got, want_w, rtol=1e-10, atol=1e-12)
