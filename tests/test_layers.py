"""densefit.layers: Dense, Input and the activation layers that fold into a Dense.

Outputs are checked against ``densefit.reference`` (plain NumPy) with the
model's own weights; a folded activation layer must give exactly what the
equivalent ``Dense(activation=...)`` gives, since both run the same kernel.
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from densefit import Sequential, reference
from densefit.layers import Activation, Dense, Input, LeakyReLU, ReLU, Softmax
from densefit.utils import set_random_seed

# a forward pass of a few small layers with O(1) inputs and weights
FWD_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def reference_forward(model, x, activations=None):
    """The model's output from its weights, by densefit.reference (float64).
    ``activations``: (name, slope) per Dense layer; default: each Dense's own."""
    if activations is None:
        activations = [(layer.activation.name, layer.activation.slope)
                       for layer in model.layers if isinstance(layer, Dense)]
    w = model.get_weights()
    out = np.asarray(x, np.float64)
    for kernel, bias, (name, slope) in zip(w[::2], w[1::2], activations):
        out = reference.dense_forward(out, kernel.astype(np.float64), bias.astype(np.float64),
                                      name, slope)
    return out


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same global seed, so initial weights are reproducible."""
    set_random_seed(1234)


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(9, 5)).astype(np.float32) * 2


# ------------------------------------------------------------------ Dense

def test_dense_defaults_match_keras():
    layer = Dense(7)
    assert layer.units == 7
    assert layer.activation.name == "linear"
    assert layer.kernel_initializer == "glorot_uniform"
    assert layer.bias_initializer == "zeros"
    assert not layer.built and layer.get_weights() == []


@pytest.mark.parametrize("units", [0, -3, 2.5, True, "4", None])
def test_dense_units_must_be_a_positive_int(units):
    with pytest.raises(ValueError, match="units"):
        Dense(units)


def test_dense_units_accepts_numpy_int():
    assert Dense(np.int64(3)).units == 3


def test_dense_use_bias_false_is_refused_clearly():
    with pytest.raises(ValueError, match="use_bias"):
        Dense(3, use_bias=False)


def test_dense_unknown_activation_suggests_the_near_miss():
    with pytest.raises(ValueError, match=r"Unknown activation 'relux'.*Did you mean 'relu'"):
        Dense(3, activation="relux")


def test_dense_python_callable_activation_is_refused():
    with pytest.raises(TypeError, match="activation"):
        Dense(3, activation=lambda z: z)


def test_dense_unknown_initializer_suggests_the_near_miss():
    with pytest.raises(ValueError, match=r"initializer.*Did you mean 'glorot_uniform'"):
        Dense(3, kernel_initializer="glorot_unifrom")


@pytest.mark.parametrize("dtype", ["float16", "int32", np.complex64])
def test_dense_dtype_must_be_float32_or_float64(dtype):
    with pytest.raises(ValueError, match="dtype"):
        Dense(3, dtype=dtype)


def test_dense_activation_is_callable_on_arrays():
    z = np.array([[-2.0, 0.5]], np.float32)
    assert_array_equal(Dense(2, activation="relu").activation(z), [[0.0, 0.5]])


def test_dense_function_activation_is_accepted():
    from densefit import activations
    assert Dense(2, activation=activations.tanh).activation.name == "tanh"


def test_layer_names_are_unique_unless_given():
    a, b = Dense(2), Dense(2)
    assert a.name != b.name
    assert Dense(2, name="head").name == "head"


def test_a_layer_cannot_join_two_models():
    layer = Dense(2)
    Sequential([Input(shape=(3,)), layer])
    with pytest.raises(ValueError, match="already belongs"):
        Sequential([Input(shape=(3,)), layer])


def test_a_layer_cannot_appear_twice():
    layer = Dense(2)
    with pytest.raises(ValueError, match="already in this model"):
        Sequential([layer, layer])


def test_dense_forward_is_x_kernel_plus_bias_then_activation(x):
    model = Sequential([Input(shape=(5,)), Dense(4, activation="tanh")])
    kernel, bias = model.get_weights()
    assert kernel.shape == (5, 4) and bias.shape == (4,)
    bias_new = np.linspace(-1, 1, 4).astype(np.float32)
    model.set_weights([kernel, bias_new])
    assert_allclose(model.predict(x), np.tanh(x.astype(np.float64) @ kernel + bias_new),
                    **FWD_TOL[np.float32])


def test_kernel_and_bias_are_views_the_model_updates():
    model = Sequential([Input(shape=(3,)), Dense(2)])
    layer = model.layers[0]
    model.compile(optimizer="sgd", loss="mse")
    before = layer.kernel.copy()
    model.fit(np.ones((4, 3)), np.full((4, 2), 5.0), epochs=1, verbose=0)
    assert not np.array_equal(layer.kernel, before)
    assert_array_equal(layer.get_weights()[0], model.get_weights()[0])


# ------------------------------------------------------------------ initialisers

@pytest.mark.parametrize("name, limit", [("glorot_uniform", lambda i, o: np.sqrt(6 / (i + o))),
                                         ("he_uniform", lambda i, o: np.sqrt(6 / i)),
                                         ("lecun_uniform", lambda i, o: np.sqrt(3 / i))])
def test_uniform_initializers_stay_in_their_keras_range(name, limit):
    n_in, n_out = 300, 200
    model = Sequential([Input(shape=(n_in,)), Dense(n_out, kernel_initializer=name)])
    kernel, bias = model.get_weights()
    bound = limit(n_in, n_out)
    assert np.abs(kernel).max() <= bound
    assert np.abs(kernel).max() > 0.99 * bound  # fills the range, not a narrower one
    assert abs(kernel.mean()) < 0.01 * bound
    assert_allclose(kernel.std(), bound / np.sqrt(3), rtol=0.02)  # uniform's std
    assert_array_equal(bias, 0)


def test_he_normal_is_truncated_with_keras_stddev():
    n_in, n_out = 400, 300
    model = Sequential([Input(shape=(n_in,)), Dense(n_out, kernel_initializer="he_normal")])
    kernel = model.get_weights()[0]
    stddev = np.sqrt(2 / n_in) / 0.87962566103423978
    assert np.abs(kernel).max() <= 2 * stddev
    assert_allclose(kernel.std(), np.sqrt(2 / n_in), rtol=0.02)  # the truncation's target


def test_bias_initializer_is_used():
    model = Sequential([Input(shape=(2,)), Dense(3, bias_initializer="ones")])
    assert_array_equal(model.get_weights()[1], 1)


# ------------------------------------------------------------------ Input

@pytest.mark.parametrize("shape", [(4,), [4], 4, np.int64(4)])
def test_input_shape_forms(shape):
    assert Input(shape=shape).shape == (4,)


@pytest.mark.parametrize("shape", [(), (0,), (-1,), (2.5,), (28, 0)])
def test_input_shape_must_be_positive_ints(shape):
    with pytest.raises(ValueError, match="shape"):
        Input(shape=shape)


@pytest.mark.parametrize("shape", [(28, 28), [28, 28, 1]])
def test_input_takes_image_shapes(shape):
    assert Input(shape=shape).shape == tuple(shape)


def test_input_must_come_first():
    with pytest.raises(ValueError, match="Input must be the first layer"):
        Sequential([Dense(2), Input(shape=(3,))])


# ------------------------------------------------------------------ activation layers

def test_leaky_relu_layer_defaults_to_keras_0_3():
    assert LeakyReLU().negative_slope == 0.3


def test_leaky_relu_accepts_keras_2_alpha():
    assert LeakyReLU(alpha=0.05).negative_slope == 0.05


@pytest.mark.parametrize("bad", [-0.1, "0.1", None, float("nan")])
def test_leaky_relu_slope_must_be_a_number_at_least_0(bad):
    with pytest.raises(ValueError, match="negative_slope"):
        LeakyReLU(negative_slope=bad)


def test_leaky_relu_rejects_unknown_arguments():
    with pytest.raises(TypeError, match="slope"):
        LeakyReLU(slope=0.1)


def test_activation_layer_unknown_name_suggests():
    with pytest.raises(ValueError, match="Did you mean 'sigmoid'"):
        Activation("sigmoidd")


def folded_and_plain(folded_layers, plain_layers, dtype=None):
    folded = Sequential([Input(shape=(5,), dtype=dtype), *folded_layers])
    plain = Sequential([Input(shape=(5,), dtype=dtype), *plain_layers])
    plain.set_weights(folded.get_weights())
    return folded, plain


@pytest.mark.parametrize("make_layer, activation", [
    (lambda: Activation("tanh"), "tanh"),
    (lambda: Activation("sigmoid"), "sigmoid"),
    (ReLU, "relu"),
    (Softmax, "softmax"),
    (lambda: Activation("leaky_relu"), "leaky_relu"),
])
def test_activation_layer_folds_into_the_dense_before_it(x, make_layer, activation):
    folded, plain = folded_and_plain([Dense(4), make_layer(), Dense(3)],
                                     [Dense(4, activation=activation), Dense(3)])
    assert len(folded.layers) == 3 and len(plain.layers) == 2
    assert folded.count_params() == plain.count_params()
    assert_array_equal(folded.predict(x), plain.predict(x))
    assert_allclose(folded.predict(x), reference_forward(plain, x), **FWD_TOL[np.float32])


@pytest.mark.parametrize("layer", [LeakyReLU(negative_slope=0.1), LeakyReLU(alpha=0.1)],
                         ids=["negative_slope", "alpha"])
def test_leaky_relu_layer_uses_its_own_slope(x, layer):
    folded, plain = folded_and_plain([Dense(4), layer, Dense(2)],
                                     [Dense(4, activation=LeakyReLU(negative_slope=0.1)),
                                      Dense(2)])
    assert_array_equal(folded.predict(x), plain.predict(x))
    expected = reference_forward(plain, x, [("leaky_relu", 0.1), ("linear", 0)])
    assert_allclose(folded.predict(x), expected, **FWD_TOL[np.float32])


def test_leaky_relu_layer_default_differs_from_the_function_default(x):
    """The layer's 0.3 and the "leaky_relu" name's 0.2 give different outputs."""
    layer_model, name_model = folded_and_plain([Dense(6), LeakyReLU(), Dense(2)],
                                               [Dense(6, activation="leaky_relu"), Dense(2)])
    for model, slope in ((layer_model, 0.3), (name_model, 0.2)):
        expected = reference_forward(model, x, [("leaky_relu", slope), ("linear", 0)])
        assert_allclose(model.predict(x), expected, **FWD_TOL[np.float32])
    assert not np.allclose(layer_model.predict(x), name_model.predict(x))


def test_folded_model_trains_identically(x):
    y = np.arange(len(x)) % 3
    folded, plain = folded_and_plain([Dense(4), ReLU(), Dense(3), Softmax()],
                                     [Dense(4, activation="relu"), Dense(3, activation="softmax")])
    histories = []
    for model in (folded, plain):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        histories.append(model.fit(x, y, epochs=3, batch_size=4, shuffle=False,
                                   verbose=0).history["loss"])
    assert histories[0] == histories[1]
    for a, b in zip(folded.get_weights(), plain.get_weights()):
        assert_array_equal(a, b)


def test_an_activation_layer_that_cannot_fold_runs_as_its_own_layer():
    """After a layer with an activation of its own (or first), an activation layer
    is a layer of its own: softmax(tanh(.)) here, as in Keras."""
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(4, 3)
    model = Sequential([Input((3,)), Dense(3, activation="tanh"), Softmax()])
    kernel, bias = model.get_weights()
    expected = activations.softmax(np.tanh(x @ kernel + bias))
    assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6)
    first = Sequential([Input((3,)), ReLU(), Dense(2)])
    kernel, bias = first.get_weights()
    assert_allclose(first.predict(x, verbose=0), np.maximum(x, 0) @ kernel + bias, rtol=1e-6)
    assert [len(layer.weights) for layer in first.layers] == [0, 2]


def test_unknown_layer_type_is_refused():
    with pytest.raises(TypeError, match="must be a densefit.layers layer"):
        Sequential(["dense"])


# ------------------------------------------------------------------ dtypes

@pytest.mark.parametrize("where", ["dense", "input"])
def test_float64_layers(x, where):
    layers = ([Input(shape=(5,)), Dense(4, activation="sigmoid", dtype="float64"),
               Dense(2, dtype="float64")] if where == "dense"
              else [Input(shape=(5,), dtype="float64"), Dense(4, activation="sigmoid"), Dense(2)])
    model = Sequential(layers)
    assert model.dtype == np.float64
    assert all(w.dtype == np.float64 for w in model.get_weights())
    out = model.predict(x)  # float32 data is converted to the model's dtype
    assert out.dtype == np.float64
    assert_allclose(out, reference_forward(model, x), **FWD_TOL[np.float64])


def test_float32_is_the_default(x):
    model = Sequential([Dense(3)])
    out = model.predict(x.astype(np.float64))
    assert model.dtype == np.float32 and out.dtype == np.float32
    assert all(w.dtype == np.float32 for w in model.get_weights())


def test_mixed_layer_dtypes_are_refused_and_leave_the_model_as_it_was():
    model = Sequential([Input(shape=(3,)), Dense(2, dtype="float64")])
    weights = model.get_weights()
    with pytest.raises(ValueError, match="one dtype"):
        model.add(Dense(2, dtype="float32"))
    assert len(model.layers) == 1 and model.output_shape == (None, 2)
    for a, b in zip(weights, model.get_weights()):
        assert_array_equal(a, b)
    assert model.predict(np.ones((1, 3))).shape == (1, 2)


def test_mixed_dtypes_of_a_lazy_model_are_refused_at_build():
    model = Sequential([Dense(2, dtype="float64"), Dense(2, dtype="float32")])
    with pytest.raises(ValueError, match="one dtype"):
        model.predict(np.ones((1, 3)))
    assert not model.built


# ------------------------------------------------------------------ configs

from densefit import activations, initializers, layers  # noqa: E402


def _same_layer(a, b):
    """Equivalent: same class, config and (for the layers that have them) the
    activation, initialisers, dtype and input shape."""
    assert type(a) is type(b)
    assert a.get_config() == b.get_config()
    for attribute in ("name", "units", "activation", "dtype", "input_shape", "shape",
                      "negative_slope", "kernel_initializer", "bias_initializer"):
        assert getattr(a, attribute, None) == getattr(b, attribute, None), attribute
    if hasattr(a, "as_activation"):
        assert a.as_activation() == b.as_activation()


LAYERS = [
    lambda: Input(shape=(7,), dtype="float64", name="pixels"),
    lambda: Input(3),
    lambda: Dense(5),
    lambda: Dense(4, activation="leaky_relu", kernel_initializer="he_normal",
                  bias_initializer="ones", input_shape=(9,), name="first", dtype="float64"),
    lambda: Dense(2, activation=LeakyReLU(0.1), kernel_initializer=initializers.lecun_uniform),
    lambda: Activation("softmax", name="probabilities"),
    lambda: Activation(activations.leaky_relu),
    lambda: LeakyReLU(0.05),
    lambda: LeakyReLU(alpha=0.2, name="leaky"),
    lambda: ReLU(),
    lambda: Softmax(name="out"),
]
LAYER_IDS = ["input", "input-int", "dense", "dense-full", "dense-leaky-layer", "activation",
             "activation-leaky", "leaky", "leaky-alpha", "relu", "softmax"]


@pytest.mark.parametrize("make", LAYERS, ids=LAYER_IDS)
def test_from_config_makes_an_equivalent_layer(make):
    import json

    layer = make()
    config = json.loads(json.dumps(layer.get_config()))  # survives a JSON file
    _same_layer(type(layer).from_config(config), layer)


@pytest.mark.parametrize("make", LAYERS, ids=LAYER_IDS)
def test_serialize_round_trip(make):
    layer = make()
    config = layers.serialize(layer)
    assert config == {"class_name": type(layer).__name__, "config": layer.get_config()}
    _same_layer(layers.deserialize(config), layer)


def test_dense_config_keeps_what_it_was_given():
    dense = Dense(4, activation="leaky_relu", kernel_initializer="he_normal",
                  input_shape=(9,), name="first", dtype="float64")
    assert dense.get_config() == {
        "name": "first", "units": 4, "activation": {"name": "leaky_relu", "slope": 0.2},
        "kernel_initializer": "he_normal", "bias_initializer": "zeros", "input_shape": [9],
        "dtype": "float64", "kernel_regularizer": None, "bias_regularizer": None,
        "activity_regularizer": None}  # Keras' Dense lists its regularizers, None or not


def test_deserialize_reads_a_bare_dense_config_of_densefit_1_0():
    saved = {"name": "dense_7", "units": 3, "activation": {"name": "relu", "slope": 0.0},
             "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros"}
    dense = layers.deserialize(saved)
    assert type(dense) is Dense and (dense.name, dense.units) == ("dense_7", 3)
    assert dense.activation == activations.Activation("relu")
    assert dense.dtype is None and dense.input_shape is None


def test_deserialize_rejects_unknown_layers():
    with pytest.raises(ValueError, match="unknown layer"):
        layers.deserialize({"class_name": "Conv2D", "config": {}})


def test_a_deserialized_model_trains_as_the_original():
    set_random_seed(5)
    original = Sequential([Dense(4, input_shape=(3,)), ReLU(), Dense(2), Softmax()])
    set_random_seed(5)
    again = Sequential([layers.deserialize(layers.serialize(layer))
                        for layer in [Dense(4, input_shape=(3,)), ReLU(), Dense(2), Softmax()]])
    for a, b in zip(original.get_weights(), again.get_weights()):
        assert_array_equal(a, b)
