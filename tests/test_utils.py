"""densefit.utils: ``set_random_seed`` makes runs bit-identical and checks its
argument; ``unknown_name_error`` suggests close names."""
import random

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from densefit import Sequential, utils
from densefit.utils import set_random_seed
from densefit.layers import Dense


def _run(seed, shuffle=True):
    """Build, train with shuffling, and return (initial weights, final weights, history)."""
    utils.set_random_seed(seed)
    rng = np.random.default_rng(0)  # the data is fixed; only the seed varies
    x, y = rng.normal(size=(60, 4)), rng.integers(0, 3, 60)
    model = Sequential([Dense(7, activation="relu"), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.build((None, 4))
    initial = model.get_weights()
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=shuffle, validation_split=0.25,
                        verbose=0)
    return initial, model.get_weights(), history.history


def test_same_seed_gives_bit_identical_runs():
    first, second = _run(42), _run(42)
    for a, b in zip(first[0] + first[1], second[0] + second[1]):
        assert_array_equal(a, b)
    assert first[2] == second[2]


def test_different_seeds_give_different_runs():
    a, b = _run(1), _run(2)
    assert not np.array_equal(a[0][0], b[0][0])


def test_the_seed_decides_the_shuffles_too():
    # same initial weights, different shuffles: a model's shuffle generator is
    # drawn from the seed as well, so only with the same seed do runs agree
    utils.set_random_seed(5)
    models = [Sequential([Dense(3, activation="softmax")]) for _ in range(2)]
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 2)), rng.integers(0, 3, 40)
    for m in models:
        m.build((None, 2))
    models[1].set_weights(models[0].get_weights())
    for m in models:
        m.compile("sgd", "sparse_categorical_crossentropy")
        m.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert not np.array_equal(models[0].get_weights()[0], models[1].get_weights()[0])


def test_models_built_one_after_another_differ():
    utils.set_random_seed(0)
    a = Sequential([Dense(5)])
    b = Sequential([Dense(5)])
    a.build((None, 3))
    b.build((None, 3))
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])


def test_python_and_numpy_global_generators_are_seeded():
    utils.set_random_seed(123)
    first = (random.random(), np.random.rand())
    utils.set_random_seed(123)
    assert (random.random(), np.random.rand()) == first


@pytest.mark.parametrize("seed", [0, 2**32 + 5, np.int64(7), np.uint32(3)])
def test_accepts_non_negative_integers(seed):
    utils.set_random_seed(seed)


@pytest.mark.parametrize("bad", [-1, 1.0, 1.5, "0", True, None, np.float64(3)])
def test_rejects_negative_and_non_integer_seeds(bad):
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        utils.set_random_seed(bad)


def test_unknown_name_error():
    error = utils.unknown_name_error("widget", "spanner", ["spanners", "hammer", "span"])
    assert isinstance(error, ValueError)
    assert str(error).startswith("Unknown widget 'spanner'. Did you mean 'spanners'")
    assert str(error).endswith("Known: hammer, span, spanners.")
    far = utils.unknown_name_error("widget", "zzz", ["hammer"])
    assert "Did you mean" not in str(far)


@pytest.mark.parametrize("name, known, suggested", [
    ("reul", "relu", True),        # two neighbours swapped
    ("adma", "adam", True),
    ("rmsprp", "rmsprop", True),   # a letter dropped
    ("sgdd", "sgd", True),         # a letter doubled
    ("Mean-Squared-Error", "mean_squared_error", True),  # case, '-' and '_' ignored
    ("glorot", "glorot_uniform", True),  # cut short
    ("elu", "relu", False),        # other functions Keras has: following the hint
    ("gelu", "relu", False),       # would silently change the model
    ("selu", "relu", False),
    ("mae", "mse", False),
    ("mean_absolute_error", "mean_squared_error", False),
    ("binary_focal_crossentropy", "binary_crossentropy", False),
])
def test_did_you_mean_only_for_near_identical_names(name, known, suggested):
    message = str(utils.unknown_name_error("thing", name, [known, "unrelated"]))
    assert (f"Did you mean '{known}'" in message) is suggested, message


@pytest.mark.parametrize("module, name, suggestion", [
    ("activations", "reul", "relu"), ("optimizers", "adma", "adam"),
    ("activations", "celu", None), ("losses", "binary_focal_crossentropy", None),
])
def test_get_suggests_typos_but_not_other_functions(module, name, suggestion):
    import importlib

    with pytest.raises(ValueError) as info:
        importlib.import_module(f"densefit.{module}").get(name)
    if suggestion is None:
        assert "Did you mean" not in str(info.value)
    else:
        assert f"Did you mean '{suggestion}'?" in str(info.value)


def test_seed_set_between_construction_and_build_decides_the_weights():
    """As in Keras, weights come from the seed in force when the model is built, not
    when it is constructed: construct, seed, then fit is reproducible."""
    from densefit import Sequential
    from densefit.layers import Dense

    x = np.random.default_rng(1).random((20, 3))
    y = np.arange(20) % 2
    runs = []
    for _ in range(2):
        model = Sequential([Dense(4, activation="relu"), Dense(2)])
        set_random_seed(123)
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, verbose=0)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
