"""densefit.activations: each function against the NumPy oracle in float32 and
float64 and for any shape, softmax's axis, extreme inputs, dtype rules, and
``get`` (names, functions, layers, None; unsupported callables)."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

from densefit import _core, activations, reference
from densefit.layers import Activation as ActivationLayer
from densefit.layers import Dense, LeakyReLU, ReLU, Softmax

KERAS_SLOPE = activations.LEAKY_RELU_SLOPE  # leaky_relu's default

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-6, np.float64: 1e-14}
ATOL = {np.float32: 1e-7, np.float64: 1e-16}
NAMES = ["linear", "relu", "sigmoid", "tanh", "leaky_relu", "softmax"]
EXTREME = np.array([1e4, -1e4, 88.0, -88.0, 750.0, -750.0, 0.0, 1e-30])


def _no_warnings():
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("error")
    return context


# ------------------------------------------------------------------ against the oracle

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_matches_reference_for_any_shape(name, dtype, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6))
    x = data.draw(hnp.arrays(dtype, shape, elements=st.floats(-30, 30, width=32)))
    got = getattr(activations, name)(x)
    assert got.shape == x.shape and got.dtype == dtype
    assert_allclose(got, reference.activation(x, name, KERAS_SLOPE), rtol=RTOL[dtype],
                    atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_leaky_relu_slopes(dtype):
    x = np.array([[-2.0, -0.5, 0.0, 3.0]], dtype=dtype)
    assert_array_equal(activations.leaky_relu(x), np.array([[-0.4, -0.1, 0, 3]], dtype=dtype))
    assert_array_equal(activations.leaky_relu(x, negative_slope=0.3),
                       np.array([[-0.6, -0.15, 0, 3]], dtype=dtype))
    assert_array_equal(activations.leaky_relu(x, 0), activations.relu(x))
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="negative_slope"):
            activations.leaky_relu(x, bad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
def test_softmax_along_any_axis(dtype, axis):
    x = np.random.default_rng(0).normal(scale=4, size=(3, 4, 5)).astype(dtype)
    got = activations.softmax(x, axis=axis)
    e = np.exp(x.astype(np.float64) - x.max(axis=axis, keepdims=True))
    assert got.shape == x.shape and got.dtype == dtype
    assert_allclose(got, e / e.sum(axis=axis, keepdims=True), rtol=RTOL[dtype] * 4,
                    atol=ATOL[dtype])
    assert_allclose(got.sum(axis=axis), 1, rtol=RTOL[dtype] * 4)


def test_softmax_1d_and_bad_axes():
    assert_allclose(activations.softmax([0.0, np.log(3.0)]), [0.25, 0.75], rtol=1e-6)
    assert_allclose(activations.softmax([[1.0, 1.0]]), [[0.5, 0.5]])
    assert_allclose(activations.softmax([[1.0, 5.0]], axis=0), [[1.0, 1.0]])
    with pytest.raises(np.exceptions.AxisError):
        activations.softmax([[1.0, 2.0]], axis=2)
    with pytest.raises(ValueError, match="at least one axis"):
        activations.softmax(3.0)


# ------------------------------------------------------------------ extreme values

@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_inputs_stay_finite_without_warnings(dtype):
    x = EXTREME.astype(dtype)
    context = _no_warnings()
    try:
        results = {name: getattr(activations, name)(x) for name in NAMES}
        pair = activations.softmax(np.array([1e4, -1e4], dtype=dtype))
        same = activations.softmax(np.array([[1e4, 1e4], [-1e4, -1e4]], dtype=dtype))
        sig = activations.sigmoid(np.array([1e4, -1e4], dtype=dtype))
    finally:
        context.__exit__(None, None, None)
    for name, out in results.items():
        assert np.isfinite(out).all(), name
    assert_array_equal(pair, [1.0, 0.0])
    assert_array_equal(same, [[0.5, 0.5], [0.5, 0.5]])
    assert_array_equal(sig, [1.0, 0.0])
    assert_array_equal(activations.tanh(np.array([1e4, -1e4], dtype=dtype)), [1.0, -1.0])
    assert_allclose(results["sigmoid"], reference.sigmoid(x), rtol=RTOL[dtype], atol=1e-30)
    assert_allclose(results["softmax"], reference.softmax(x), rtol=RTOL[dtype], atol=1e-30)


# ------------------------------------------------------------------ dtypes, shapes and copies

@pytest.mark.parametrize("x, dtype", [
    (np.array([1, -2, 3]), np.float32),
    (np.array([True, False]), np.float32),
    (np.array([1, 2], dtype=np.uint8), np.float32),
    (np.array([0.5], dtype=np.float16), np.float32),
    (np.array([0.5], dtype=np.float32), np.float32),
    (np.array([0.5], dtype=np.float64), np.float64),
    ([0.5, -1.0], np.float64),  # Python floats are float64 to NumPy, and stay so
    ([1, -1], np.float32),
])
@pytest.mark.parametrize("name", NAMES)
def test_output_dtype(name, x, dtype):
    out = getattr(activations, name)(x)
    assert out.dtype == dtype
    assert_allclose(out, reference.activation(np.asarray(x, dtype=np.float64), name, KERAS_SLOPE),
                    rtol=1e-6, atol=1e-7)


def test_integers_are_converted_to_float32():
    assert_array_equal(activations.relu(np.array([[-3, 0, 2]])),
                       np.array([[0, 0, 2]], dtype=np.float32))
    assert_allclose(activations.sigmoid(np.array([0])), [0.5])


@pytest.mark.parametrize("bad", [np.array([1 + 2j]), np.array(["1.0"]), np.array([None]),
                                 "relu", [1.0, "a"]], ids=repr)
@pytest.mark.parametrize("name", NAMES)
def test_complex_strings_and_objects_are_rejected(name, bad):
    with pytest.raises(TypeError, match="real numeric"):
        getattr(activations, name)(bad)


@pytest.mark.parametrize("name", ["linear", "relu", "sigmoid", "tanh", "leaky_relu"])
def test_scalars_keep_their_shape(name):
    out = getattr(activations, name)(np.float64(-2.0))
    assert out.shape == () and out.dtype == np.float64
    assert_allclose(out, reference.activation(np.array(-2.0), name, KERAS_SLOPE), rtol=1e-14)
    assert getattr(activations, name)(0.0).shape == ()


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0), (2, 0, 4)])
@pytest.mark.parametrize("name", NAMES)
def test_empty_arrays(name, shape):
    out = getattr(activations, name)(np.zeros(shape))
    assert out.shape == shape and out.dtype == np.float64


@pytest.mark.parametrize("name", NAMES)
def test_returns_a_new_array_from_non_contiguous_input(name):
    base = np.arange(-6.0, 6.0).reshape(3, 4)
    x = base[:, ::2]  # not contiguous
    saved = base.copy()
    out = getattr(activations, name)(x)
    assert_allclose(out, reference.activation(np.ascontiguousarray(x), name, KERAS_SLOPE),
                    rtol=1e-14)
    out[...] = 99.0
    assert_array_equal(base, saved)  # the input is never written


# ------------------------------------------------------------------ get

@pytest.mark.parametrize("name", NAMES)
def test_get_by_name_and_function(name):
    by_name = activations.get(name)
    assert by_name == activations.get(getattr(activations, name))
    assert by_name.name == name
    assert by_name.code == _core.ACTIVATIONS[name]
    x = np.array([[-1.5, 0.5, 2.0]])
    assert_allclose(by_name(x), reference.activation(x, name, KERAS_SLOPE), rtol=1e-14)


def test_get_none_and_leaky_relu_slopes():
    assert activations.get(None) == activations.Activation("linear")
    assert activations.get("leaky_relu").slope == 0.2  # the function's default
    assert activations.get(activations.leaky_relu).slope == 0.2
    assert activations.get(LeakyReLU()) == activations.Activation("leaky_relu", 0.3)  # layer's
    assert activations.get(LeakyReLU(negative_slope=0.1)).slope == 0.1
    assert activations.get(LeakyReLU(alpha=0.05)).slope == 0.05  # Keras 2's name
    assert_allclose(activations.get(LeakyReLU())(np.array([-1.0])), [-0.3])


def test_get_layers_and_activation_objects():
    assert activations.get(ActivationLayer("tanh")) == activations.Activation("tanh")
    assert activations.get(ReLU()) == activations.Activation("relu")
    assert activations.get(Softmax()) == activations.Activation("softmax")
    act = activations.Activation("sigmoid")
    assert activations.get(act) is act
    assert activations.deserialize(activations.serialize(activations.get(LeakyReLU(0.1)))) == \
        activations.Activation("leaky_relu", 0.1)


def test_get_unknown_names():
    with pytest.raises(ValueError, match="Unknown activation 'rellu'. Did you mean 'relu'"):
        activations.get("rellu")
    with pytest.raises(ValueError, match="Did you mean 'softmax'"):
        activations.get("softmx")
    for unsupported in ("celu", "glu", "sparsemax", "Relu"):  # Keras has them, densefit not
        with pytest.raises(ValueError, match="Known: elu, exponential, gelu, .*, leaky_relu, "
                                             "linear, mish, relu, relu6, selu, sigmoid, silu, "
                                             "softmax, softplus, softsign, swish, tanh"):
            activations.get(unsupported)


def _relu(x):  # a look-alike with the name of one of ours
    return np.maximum(x, 0)


_relu.__name__ = "relu"


@pytest.mark.parametrize("bad", [lambda x: x, np.tanh, _relu, 3], ids=["lambda", "np.tanh",
                                                                          "look-alike", "int"])
def test_arbitrary_callables_are_a_clear_type_error(bad):
    with pytest.raises(TypeError, match="arbitrary Python callables are not supported"):
        activations.get(bad)
    with pytest.raises(TypeError, match="activation must be a name such as 'relu'"):
        Dense(3, activation=bad)


@pytest.mark.parametrize("bad", [-0.1, float("inf"), float("nan"), True, "0.2", None])
def test_one_negative_slope_check_for_the_function_and_the_layer(bad):
    from densefit.layers import LeakyReLU

    messages = []
    for make in (lambda: activations.leaky_relu([1.0], bad), lambda: LeakyReLU(bad),
                 lambda: activations.Activation("leaky_relu", bad)):
        with pytest.raises(ValueError) as info:
            make()
        messages.append(str(info.value))
    assert messages[0].startswith("negative_slope must be a finite number >= 0, got ")
    assert len(set(messages)) == 1


def test_the_names_are_the_cores():
    from densefit import _core

    assert list(activations._FUNCTIONS) == list(_core.ACTIVATIONS)
    for name, function in activations._FUNCTIONS.items():
        assert function.__name__ == name
        assert activations.get(name).code == _core.ACTIVATIONS[name]
    with pytest.raises(ValueError, match="activation must be one of 'linear'"):
        activations.Activation("celu")


# ---------------------------------------------------------------- issue 10's activations

NEW = ["elu", "selu", "gelu", "silu", "softplus", "softsign", "hard_sigmoid", "hard_silu",
       "relu6", "exponential", "mish"]


@pytest.mark.parametrize("name", NEW)
def test_new_activations_three_ways(name):
    """As a function, as Dense(activation=name) and as layers.Activation(name)."""
    from densefit import Sequential, layers, reference

    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    expected = reference.activation(x, name, activations.PARAMETER_DEFAULTS.get(name, 0.0))
    np.testing.assert_allclose(getattr(activations, name)(x), expected, rtol=1e-5, atol=1e-7)
    kernel = [np.eye(3, dtype=np.float32), np.zeros(3, np.float32)]
    for model in (Sequential([layers.Input((3,)), Dense(3, activation=name)]),
                  Sequential([layers.Input((3,)), Dense(3), layers.Activation(name)])):
        model.set_weights(kernel)
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-7)


def test_aliases_gelu_approximate_and_elu_alpha():
    x = np.linspace(-4, 4, 9)
    assert activations.swish is activations.silu and activations.hard_swish is activations.hard_silu
    assert activations.get("swish") == activations.get("silu") == activations.Activation("silu")
    assert activations.get("hard_swish").name == "hard_silu"
    assert activations.get(activations.swish).name == "silu"
    exact, approx = activations.gelu(x), activations.gelu(x, approximate=True)
    assert 1e-5 < np.abs(exact - approx).max() < 1e-2  # two different formulas, close
    np.testing.assert_allclose(approx, 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi)
                                                              * (x + 0.044715 * x**3))),
                               rtol=1e-12, atol=1e-15)
    assert activations.get("elu").slope == 1.0  # Keras' alpha default
    np.testing.assert_allclose(activations.elu(x, alpha=0.5), np.where(x > 0, x, 0.5 * np.expm1(x)))
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        activations.elu(x, alpha=-1.0)


def test_elu_layer():
    from densefit import Sequential, layers

    layer = layers.ELU(alpha=0.5)
    assert layers.ELU().alpha == 1.0
    assert layer.as_activation() == activations.Activation("elu", 0.5)
    again = layers.deserialize(layers.serialize(layer))
    assert type(again) is layers.ELU and again.alpha == 0.5
    model = Sequential([layers.Input((2,)), Dense(2), layer])
    model.set_weights([np.eye(2, dtype=np.float32), np.zeros(2, np.float32)])
    np.testing.assert_allclose(model.predict(np.array([[-1.0, 2.0]]), verbose=0),
                               [[0.5 * np.expm1(-1.0), 2.0]], rtol=1e-6)
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        layers.ELU(alpha=-0.1)
