"""densefit.backend: floatx/set_floatx, automatic names and clear_session, as Keras'."""
import numpy as np
import pytest

from densefit import Sequential, activations, backend, losses
from densefit.layers import Dense, Input


@pytest.fixture
def float64_default():
    backend.set_floatx("float64")
    try:
        yield
    finally:
        backend.set_floatx("float32")


def test_floatx_defaults_to_float32():
    assert backend.floatx() == "float32"
    model = Sequential([Input(shape=(3,)), Dense(2)])
    assert model.dtype == np.float32 and model.get_weights()[0].dtype == np.float32


def test_set_floatx_makes_new_models_float64(float64_default):
    assert backend.floatx() == "float64"
    model = Sequential([Dense(4, activation="relu"), Dense(2)])
    model.compile("adam", "mse")
    model.fit(np.ones((8, 3), np.float32), np.zeros((8, 2)), epochs=1, verbose=0)
    assert model.dtype == np.float64
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.predict(np.ones((2, 3), np.float32)).dtype == np.float64


def test_a_dtype_given_wins_over_floatx(float64_default):
    model = Sequential([Input(shape=(3,), dtype="float32"), Dense(2)])
    assert model.dtype == np.float32


def test_standalone_functions_convert_non_floats_to_floatx(float64_default):
    assert activations.relu([[1, -2]]).dtype == np.float64          # ints: floatx
    assert activations.relu(np.ones((1, 2), np.float32)).dtype == np.float32  # floats keep theirs
    assert losses.MeanSquaredError()([[1.0]], [[0]]).dtype == np.float64


@pytest.mark.parametrize("value", ["float16", "int32", None, 64])
def test_set_floatx_refuses_other_types(value):
    with pytest.raises(ValueError, match="must be one of 'float32', 'float64'"):
        backend.set_floatx(value)
    assert backend.floatx() == "float32"


def test_clear_session_starts_automatic_names_again():
    backend.clear_session()
    assert [Dense(1).name, Dense(1).name, Dense(1).name] == ["dense", "dense_1", "dense_2"]
    assert [Sequential().name, Sequential().name] == ["sequential", "sequential_1"]
    backend.clear_session()
    assert Dense(1).name == "dense" and Sequential().name == "sequential"
