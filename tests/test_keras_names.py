"""``import densefit as keras``: Keras' names where densefit has them, and a
message naming the alternative where it does not (issue 11's names)."""
import json

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import densefit as keras
from densefit import missing
from densefit.utils import normalize, split_dataset, to_categorical


# ------------------------------------------------------------------ what densefit lacks

@pytest.mark.parametrize("module, name, alternative", [
    (keras, "Model", "Sequential"),
    (keras.models, "Model", "Sequential"),
    (keras.layers, "Conv2D", "Flatten"),
    (keras.layers, "MaxPooling2D", "Flatten"),
    (keras.layers, "LSTM", "multi-hot"),
    (keras.layers, "Embedding", "multi-hot"),
    (keras.layers, "Concatenate", "Sequential"),
    (keras.layers, "Rescaling", "x / 255.0"),
    (keras.layers, "LayerNormalization", "BatchNormalization"),
    (keras.optimizers, "Lion", "Adam"),
    (keras.callbacks, "TensorBoard", "CSVLogger"),
    (keras.losses, "CosineSimilarity", "densefit.losses"),
    (keras.utils, "model_to_dot", "plot_model"),
    (keras.datasets, "imdb", "np.savez"),
    (keras, "ops", "NumPy"),
])
def test_a_keras_name_densefit_lacks_says_so_and_names_the_alternative(module, name,
                                                                        alternative):
    with pytest.raises(missing.MissingFeatureError, match="densefit trains dense") as info:
        getattr(module, name)
    assert alternative in str(info.value) and f".{name} is not available" in str(info.value)
    assert isinstance(info.value, AttributeError)  # hasattr and getattr(default) still work
    assert not hasattr(module, name) and getattr(module, name, 7) == 7


def test_a_typo_suggests_only_near_identical_names():
    with pytest.raises(AttributeError, match="Did you mean 'Dense'"):
        keras.layers.Dence  # noqa: B018
    with pytest.raises(AttributeError) as info:
        keras.layers.Nothing  # noqa: B018
    assert "Did you mean" not in str(info.value)
    with pytest.raises(AttributeError, match="Did you mean 'SGD'"):
        keras.optimizers.Sgd  # noqa: B018


def test_dunder_probes_stay_plain_attribute_errors():
    """Tools (doctest, inspect, copy) probe dunders: no suggestion machinery there."""
    for module in (keras, keras.layers, keras.utils, keras.datasets):
        assert not hasattr(module, "__wrapped__")


def test_the_names_keras_programs_use_exist():
    for name in ("Input", "Sequential", "layers", "losses", "metrics", "optimizers",
                 "callbacks", "initializers", "activations", "utils", "backend", "datasets",
                 "models"):
        assert hasattr(keras, name), name
    for name in ("to_categorical", "set_random_seed", "normalize", "split_dataset",
                 "clear_session"):
        assert callable(getattr(keras.utils, name)), name
    for name in ("set_floatx", "floatx", "clear_session"):
        assert callable(getattr(keras.backend, name)), name
    for name in ("load_model", "save_model", "clone_model", "model_from_json", "Sequential"):
        assert callable(getattr(keras.models, name)), name
    assert callable(keras.datasets.mnist.load_data)
    from densefit.datasets import boston_housing, fashion_mnist, mnist  # noqa: F401


# ------------------------------------------------------------------ keras.utils

def test_to_categorical_as_keras():
    assert_array_equal(to_categorical([0, 2, 1], 3), np.eye(3)[[0, 2, 1]])
    assert to_categorical([0, 2, 1]).dtype == np.float64  # Keras' NumPy result
    assert to_categorical([[1], [0]]).shape == (2, 2)  # a column of labels
    assert to_categorical(np.array([[0, 1], [2, 3]])).shape == (2, 2, 4)
    assert_array_equal(to_categorical(np.array([1.0, 0.0])), [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"label 3, outside \[0, 3\).*num_classes"):
        to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="label -1"):
        to_categorical([0, -1])
    with pytest.raises(ValueError, match="integer class labels"):
        to_categorical([0.5, 1.0])


def test_normalize_as_keras():
    out = normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert_array_equal(out, [[0.6, 0.8], [0.0, 0.0]])  # a zero norm leaves zeros
    assert_array_equal(normalize(np.array([[1.0, 1.0]]), order=1), [[0.5, 0.5]])
    assert_array_equal(normalize(np.array([[3.0], [4.0]]), axis=0), [[0.6], [0.8]])


def test_split_dataset_returns_arrays():
    x, y = np.arange(10), np.arange(10) * 2
    (xl, yl), (xr, yr) = split_dataset((x, y), left_size=0.8)
    assert_array_equal(xl, x[:8]) and assert_array_equal(xr, x[8:])
    assert_array_equal(yl, 2 * xl) and assert_array_equal(yr, 2 * xr)
    left, right = split_dataset(x, right_size=3, shuffle=True, seed=0)
    assert len(left) == 7 and len(right) == 3
    assert sorted(np.concatenate([left, right]).tolist()) == list(range(10))
    again = split_dataset(x, right_size=3, shuffle=True, seed=0)
    assert_array_equal(again[0], left)


@pytest.mark.parametrize("left, right, message", [
    (None, None, "At least one"), (0.0, None, "left_size must be"),
    (10, None, "left_size must be"), (0.6, 0.6, "more than the 10 samples"),
    (0.01, None, "left side empty"),
])
def test_split_dataset_sizes_are_checked(left, right, message):
    with pytest.raises(ValueError, match=message):
        split_dataset(np.arange(10), left_size=left, right_size=right)


def test_split_dataset_refuses_unequal_lengths():
    with pytest.raises(ValueError, match="same length"):
        split_dataset((np.arange(3), np.arange(4)), left_size=1)


# ------------------------------------------------------------------ keras.models

def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"),
                             keras.layers.Dense(1)])


def test_to_json_and_model_from_json_round_trip():
    model = _model()
    text = model.to_json()
    assert json.loads(text)["class_name"] == "Sequential"
    again = keras.models.model_from_json(text)
    assert again.get_config() == model.get_config() and again.built
    assert json.loads(model.to_json(indent=2)) == json.loads(text)


@pytest.mark.parametrize("text, message", [
    ("[1, 2", "not a model's to_json"), ('{"class_name": "Evil", "config": {"layers": []}}',
                                         "unknown model class"),
    ('{"config": {}}', "not a model's to_json"),
])
def test_model_from_json_refuses_what_is_not_a_model(text, message):
    with pytest.raises(ValueError, match=message):
        keras.models.model_from_json(text)


def test_model_from_json_refuses_custom_objects():
    with pytest.raises(ValueError, match="custom_objects is not supported"):
        keras.models.model_from_json(_model().to_json(), custom_objects={"a": 1})


def test_clone_model_has_the_architecture_and_fresh_weights():
    model = _model()
    clone = keras.models.clone_model(model)
    assert clone.get_config() == model.get_config() and clone.built
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])
    assert clone.optimizer is None
    with pytest.raises(ValueError, match="clone_function is not supported"):
        keras.models.clone_model(model, clone_function=lambda layer: layer)
    with pytest.raises(TypeError, match="densefit model"):
        keras.models.clone_model(object())


def test_save_model_is_model_save(tmp_path):
    model = _model()
    keras.models.save_model(model, tmp_path / "m.densefit")
    loaded = keras.models.load_model(tmp_path / "m.densefit")
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert_array_equal(a, b)


def test_ops_names_the_softmax_substitute():
    """The quickstart's tf.nn.softmax(predictions) / keras.ops.softmax: the
    message names densefit.activations.softmax."""
    import densefit
    from densefit.missing import MissingFeatureError
    with pytest.raises(MissingFeatureError, match=r"densefit\.activations\.softmax\(logits\)"):
        densefit.ops.softmax
