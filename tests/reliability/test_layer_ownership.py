"""Layer ownership and attribute writes: a model never reaches a state that it
cannot save and load back, and predict, get_weights and save always agree.

* A layer belongs to one model: a Dense placed in a second model is refused
  (it used to end as a view of the other model's buffer: ``a.set_weights``
  changed ``b``).
* What a layer was made with (units, activation, use_bias, initialisers,
  input_shape, dtype; LeakyReLU's negative_slope) is fixed afterwards: an
  AttributeError saying what to do, at the assignment.  ``kernel`` and
  ``bias`` are not assignable (Keras' are read-only properties); writing into
  them in place is the supported way and reaches the model.
* Names are unique in a model, as Keras requires; renaming a layer of a model
  to another's name is refused; model.name must stay a str.
* model.optimizer and model.loss come from compile: assigning them is refused
  (fit ran compile's kernels while save wrote the assigned ones).
"""
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from densefit import Sequential, load_model
from densefit.layers import Activation, Dense, Input, LeakyReLU


def built(*layers, features=3):
    model = Sequential([Input((features,)), *layers])
    model.compile("adam", "mse")
    return model


def assert_round_trip(model, tmp_path):
    """save -> load_model gives the same predictions and weights."""
    x = np.random.default_rng(0).normal(size=(5, model.input_shape[1])).astype(np.float32)
    path = tmp_path / "m.densefit"
    model.save(path)
    loaded = load_model(path)
    assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for got, want in zip(loaded.get_weights(), model.get_weights()):
        assert_array_equal(got, want)


# ------------------------------------------------------------ one model per layer


def test_a_dense_in_two_unbuilt_models_is_refused():
    shared = Dense(4, name="shared")
    a = Sequential([shared])
    with pytest.raises(ValueError, match="layer 'shared' already belongs to model") as info:
        Sequential([Dense(2), shared])
    assert "one model only" in str(info.value) and "from_config" in str(info.value)
    a.build((None, 3))
    b = Sequential([Dense.from_config(shared.get_config() | {"name": "copy"})])
    b.build((None, 3))
    before = b.get_weights()
    a.set_weights([np.ones_like(w) for w in a.get_weights()])
    for got, want in zip(b.get_weights(), before):  # b keeps its own weights
        assert_array_equal(got, want)


def test_an_activation_layer_in_two_models_is_refused():
    relu = Activation("relu")
    first = Sequential([Dense(2), relu])
    with pytest.raises(ValueError, match="already belongs to model"):
        Sequential([Dense(2), relu])
    assert relu.model is first


def test_a_layer_of_a_dropped_model_may_join_another():
    layer = Dense(2)
    Sequential([layer])  # dropped at once: never built
    model = Sequential([layer])
    assert model.layers[0] is layer and layer.model is model


def test_a_failed_add_leaves_the_layer_free():
    model = built(Dense(2, dtype="float64"))
    layer = Dense(3, dtype="float32")
    with pytest.raises(ValueError, match="share one dtype"):
        model.add(layer)
    assert layer.model is None and len(model.layers) == 1
    Sequential([layer])


# ------------------------------------------------------------ fixed attributes


@pytest.mark.parametrize("attr, value", [
    ("units", 5), ("activation", "relu"), ("use_bias", False), ("dtype", "float64"),
    ("kernel_initializer", "zeros"), ("bias_initializer", "ones"), ("input_shape", (4,)),
])
def test_changing_what_a_dense_was_made_with_is_refused(attr, value, tmp_path):
    layer = Dense(3, input_shape=(3,))
    model = Sequential([layer, Dense(2)])
    model.compile("adam", "mse")
    config = layer.get_config()
    with pytest.raises(AttributeError) as info:
        setattr(layer, attr, value)
    message = str(info.value)
    assert f"Dense.{attr} cannot be changed" in message and "make a new layer" in message
    assert layer.get_config() == config
    assert_round_trip(model, tmp_path)


def test_an_unbuilt_dense_is_fixed_too():
    layer = Dense(3)
    with pytest.raises(AttributeError, match="Dense.units cannot be changed"):
        layer.units = 5
    assert layer.units == 3


def test_leaky_relu_slope_and_activation_layer_are_fixed(tmp_path):
    leaky, act = LeakyReLU(0.1), Activation("tanh")
    model = built(Dense(4), leaky, Dense(2), act)
    with pytest.raises(AttributeError, match="LeakyReLU.negative_slope cannot be changed"):
        leaky.negative_slope = 0.5
    with pytest.raises(AttributeError, match="Activation.activation cannot be changed"):
        act.activation = "relu"
    assert_round_trip(model, tmp_path)


@pytest.mark.parametrize("attr", ["kernel", "bias"])
def test_assigning_kernel_or_bias_is_refused_and_in_place_writes_reach_the_model(
        attr, tmp_path):
    layer = Dense(2)
    model = built(layer)
    with pytest.raises(AttributeError, match=rf"Dense.{attr} cannot be assigned") as info:
        setattr(layer, attr, np.zeros_like(getattr(layer, attr)))
    assert "in place" in str(info.value) and "set_weights" in str(info.value)
    getattr(layer, attr)[...] = 0.5  # a view into the model's buffer
    x = np.ones((1, 3), np.float32)
    kernel, bias = model.get_weights()
    assert_array_equal(model.predict(x, verbose=0), x @ kernel + bias)
    assert (model.get_weights()[0 if attr == "kernel" else 1] == 0.5).all()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    other = built(Dense(2))
    other.load_weights(path)
    assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    assert_round_trip(model, tmp_path)


def test_unbuilt_layer_kernel_assignment_is_refused():
    """It used to make the layer look built: the model then refused it."""
    layer = Dense(2)
    with pytest.raises(AttributeError, match="Dense.kernel cannot be assigned"):
        layer.kernel = np.zeros((3, 2), np.float32)
    assert not layer.built
    Sequential([Input((3,)), layer])


# ------------------------------------------------------------ names


def test_two_layers_with_one_name_are_refused_as_keras_does():
    model = Sequential([Dense(3, name="same")])
    with pytest.raises(ValueError, match="should have unique names. Name 'same' is already"):
        model.add(Dense(2, name="same"))
    assert len(model.layers) == 1


def test_renaming_a_layer_keeps_names_unique_and_saves(tmp_path):
    first, second = Dense(3, name="first"), Dense(2, name="second")
    model = built(first, second)
    with pytest.raises(ValueError, match="Name 'first' is already"):
        second.name = "first"
    assert second.name == "second"
    second.name = "renamed"
    first.name = "second"  # free again
    assert [layer.name for layer in model.layers] == ["second", "renamed"]
    with pytest.raises(ValueError, match="name must be a string"):
        first.name = None
    assert_round_trip(model, tmp_path)
    assert [layer.name for layer in load_model(tmp_path / "m.densefit").layers] == \
        ["second", "renamed"]


def test_model_name_must_stay_a_string(tmp_path):
    model = built(Dense(2))
    with pytest.raises(ValueError, match="name must be a string, got 5"):
        model.name = 5
    model.name = "mine"
    assert_round_trip(model, tmp_path)
    assert load_model(tmp_path / "m.densefit").name == "mine"


# ------------------------------------------------------------ compile's choices


@pytest.mark.parametrize("attr, value", [("optimizer", "sgd"), ("loss", "mae")])
def test_assigning_optimizer_or_loss_is_refused(attr, value, tmp_path):
    model = built(Dense(2))
    with pytest.raises(AttributeError, match=rf"{attr} cannot be assigned.*model.compile"):
        setattr(model, attr, value)
    assert model.get_compile_config()["loss"] == "mse" or \
        model.get_compile_config()["loss"]["class_name"] == "MeanSquaredError"
    assert_round_trip(model, tmp_path)


def test_add_after_fit_saves_a_loadable_file(tmp_path):
    """The optimizer's slots belonged to the weights before the add: the file now
    holds the state the next fit starts from, not slots of the old size."""
    x, y = np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32)
    model = built(Dense(4))
    model.fit(x, np.zeros((8, 4), np.float32), verbose=0)
    model.add(Dense(2))
    assert_round_trip(model, tmp_path)
    loaded = load_model(tmp_path / "m.densefit")
    assert loaded.optimizer.iterations == 0
    model.fit(x, y, verbose=0)
    loaded.fit(x, y, verbose=0)
    for got, want in zip(loaded.get_weights(), model.get_weights()):
        assert_array_equal(got, want)
