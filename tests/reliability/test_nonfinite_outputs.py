"""Silent non-finite outputs: finite inputs can still overflow float32 (values
near its maximum, or huge weights).  predict, ``model(x)``, evaluate and fit's
validation pass say so with a RuntimeWarning naming the caller, the rows, the
cause and the fix, at the user's line; the outputs are still returned.

Threaded predict writes each part into its rows of one output array: its peak
memory is the output once, not twice.
"""
import os
import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from densefit import Sequential, _core, inference
from densefit.layers import Dense, Input
from densefit.utils import get_num_threads, set_num_threads, set_random_seed

SANITIZE = bool(os.environ.get("DENSEFIT_SANITIZE_RUN"))
BIG = np.finfo(np.float32).max / 2  # finite, but a sum of two overflows float32


def _model(dtype="float32", n_in=4, outputs=2):
    """A model whose first kernel is all ones: a row of BIG overflows its first layer."""
    set_random_seed(0)
    model = Sequential([Input((n_in,), dtype=dtype), Dense(25, activation="relu"),
                        Dense(outputs)])
    weights = model.get_weights()
    model.set_weights([np.ones_like(weights[0])] + weights[1:])
    model.compile("adam", "mse")
    return model


def _x(rows, n_in=4, bad=(), dtype=np.float32, value=BIG):
    x = np.random.default_rng(0).normal(size=(rows, n_in)).astype(dtype)
    x[list(bad)] = value
    return x


def _one_warning(record):
    messages = [w for w in record if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1, [str(w.message) for w in record]
    assert messages[0].filename == __file__  # at the user's line
    return str(messages[0].message)


def test_predict_warns_naming_the_rows_cause_and_fix():
    model = _model()
    x = _x(10, bad=(3, 7))
    with pytest.warns(RuntimeWarning) as record:
        out = model.predict(x, verbose=0)
    assert _one_warning(record) == (
        "predict: the outputs of rows 3, 7 (2 rows in all) are NaN or inf although the "
        "inputs are finite: the inputs or weights are too large for float32; scale the "
        "inputs or use a float64 model")
    assert not np.isfinite(out[[3, 7]]).all() and np.isfinite(np.delete(out, [3, 7], 0)).all()


def test_model_call_warns_as_model_x():
    model = _model()
    with pytest.warns(RuntimeWarning) as record:
        model(_x(4, bad=(2,)))
    assert _one_warning(record).startswith("model(x): the outputs of row 2 are NaN or inf")


def test_many_rows_are_counted_and_the_first_named():
    model = _model()
    with pytest.warns(RuntimeWarning) as record:
        model.predict(_x(50, bad=range(10, 50)), verbose=0)
    assert "rows 10, 11, 12, 13, 14, ... (40 rows in all)" in _one_warning(record)


def test_float64_model_warns_without_suggesting_float64():
    model = _model("float64")
    x = _x(3, bad=(1,), dtype=np.float64, value=np.finfo(np.float64).max / 2)
    with pytest.warns(RuntimeWarning) as record:
        model.predict(x, verbose=0)
    message = _one_warning(record)
    assert "row 1 " in message and "too large for float64; scale the inputs" in message
    assert "use a float64 model" not in message


def test_threaded_predict_warns_naming_rows_in_every_part():
    model = _model(n_in=40, outputs=10)
    before = get_num_threads()
    set_num_threads(2)
    try:
        x = _x(4000, 40, bad=(3000, 3999, 100))
        assert inference.parts(model._network, len(x), 256)  # split across threads
        with pytest.warns(RuntimeWarning) as record:
            model.predict(x, batch_size=256, verbose=0)
    finally:
        set_num_threads(before)
    assert "rows 100, 3000, 3999 (3 rows in all)" in _one_warning(record)


def test_evaluate_warns_of_a_nonfinite_loss():
    model = _model()
    with pytest.warns(RuntimeWarning) as record:
        loss = model.evaluate(_x(8, bad=(5,)), np.zeros((8, 2)), verbose=0)
    assert not np.isfinite(loss)
    assert _one_warning(record) == (
        f"evaluate: the loss is {loss} although the inputs and targets are finite: the inputs "
        f"or weights are too large for float32; scale the inputs or use a float64 model")


def test_fit_warns_of_a_nonfinite_validation_loss():
    model = _model()
    x, y = _x(16), np.zeros((16, 2))
    with pytest.warns(RuntimeWarning) as record:
        history = model.fit(x, y, epochs=1, verbose=0,
                            validation_data=(_x(4, bad=(1,)), np.zeros((4, 2))))
    assert not np.isfinite(history.history["val_loss"][0])
    message = _one_warning(record)
    assert message.startswith(f"fit: the validation loss is {history.history['val_loss'][0]} "
                              f"although the inputs and targets are finite"), message


def test_finite_outputs_warn_nothing():
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(_x(10), verbose=0)
        model(_x(3))
        model.evaluate(_x(10), np.zeros((10, 2)), verbose=0)
        model.fit(_x(10), np.zeros((10, 2)), validation_split=0.2, verbose=0)


def test_core_predict_reports_the_first_nonfinite_output_row():
    net = _model()._network
    out, row = _core.predict(net, _x(6, bad=(4, 2)), 4, return_nonfinite=True)
    assert row == 2 and out.shape == (6, 2)
    out, row = _core.predict(net, _x(6), 4, return_nonfinite=True)
    assert row == -1 and np.isfinite(out).all()


# ---------------------------------------------------------------- outputs in place

def test_threaded_predict_holds_one_output_array():
    """Peak traced memory of a threaded predict: the output once (the parts used to
    be concatenated, holding it twice), plus small change."""
    rows = 20_000 if SANITIZE else 200_000
    model = _model(n_in=40, outputs=10)
    x = _x(rows, 40)
    before = get_num_threads()
    set_num_threads(2)
    try:
        assert inference.parts(model._network, rows, inference.DEFAULT_BATCH)
        expected = np.concatenate([model.predict(x[:rows // 2], verbose=0),
                                   model.predict(x[rows // 2:], verbose=0)])
        tracemalloc.start()
        out = model.predict(x, verbose=0)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        set_num_threads(before)
    assert_array_equal(out, expected)
    assert out.nbytes <= peak < 1.25 * out.nbytes, (peak, out.nbytes)
