"""densefit.initializers: each Keras name draws from the distribution Keras'
formula gives (ranges exactly, means and standard deviations statistically),
fans come from the kernel's (in, out) shape, and ``get`` checks its argument.

The statistical checks use 200,000 draws: the standard error of a sample
standard deviation is then about 0.16% of it, so 2% bounds never fail by
chance yet catch a wrong formula (the nearest wrong ones differ by >= 10%).
"""
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from densefit import Sequential, initializers
from densefit.layers import Dense

FAN_IN, FAN_OUT = 500, 400
SHAPE = (FAN_IN, FAN_OUT)
TRUNCATED_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def _uniform(limit):
    return {"limit": limit, "std": limit / math.sqrt(3)}


def _truncated(stddev):  # Keras' stddev is divided by TRUNCATED_STD before truncating
    return {"limit": 2 * stddev / TRUNCATED_STD, "std": stddev}


EXPECTED = {
    "glorot_uniform": _uniform(math.sqrt(6 / (FAN_IN + FAN_OUT))),
    "glorot_normal": _truncated(math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "he_uniform": _uniform(math.sqrt(6 / FAN_IN)),
    "he_normal": _truncated(math.sqrt(2 / FAN_IN)),
    "lecun_uniform": _uniform(math.sqrt(3 / FAN_IN)),
    "lecun_normal": _truncated(math.sqrt(1 / FAN_IN)),
    "random_uniform": _uniform(0.05),
    "random_normal": {"limit": None, "std": 0.05},
}


@pytest.mark.parametrize("name", EXPECTED)
def test_distribution(name):
    w = initializers.get(name)(SHAPE, np.random.default_rng(0))
    expected = EXPECTED[name]
    assert w.shape == SHAPE
    assert abs(w.mean()) < 5 * expected["std"] / math.sqrt(w.size)  # 5 standard errors
    assert_allclose(w.std(), expected["std"], rtol=0.02)
    if expected["limit"] is not None:
        assert np.abs(w).max() <= expected["limit"]
        assert np.abs(w).max() > 0.99 * expected["limit"]  # the range is used to its end


@pytest.mark.parametrize("name", ["glorot_normal", "he_normal", "lecun_normal"])
def test_truncated_normals_are_not_plain_normals(name):
    # Same std, other shape: a normal truncated to [-2, 2] and rescaled to std sigma
    # puts P(|u| > 0.8796 | |u| < 2) = 0.349 of its mass beyond sigma, a plain
    # normal 0.317 (the standard error with 200,000 draws is 0.001)
    w = initializers.get(name)(SHAPE, np.random.default_rng(1))
    sigma = EXPECTED[name]["std"]
    tail = lambda t: 1 - math.erf(t / math.sqrt(2))  # P(|u| > t), u standard normal  # noqa: E731
    expected = (tail(TRUNCATED_STD) - tail(2)) / (1 - tail(2))
    assert_allclose(expected, 0.349, atol=1e-3)
    assert_allclose(np.mean(np.abs(w) > sigma), expected, atol=0.006)


def test_zeros_and_ones():
    rng = np.random.default_rng(0)
    assert_array_equal(initializers.get("zeros")((3, 2), rng), np.zeros((3, 2)))
    assert_array_equal(initializers.get("ones")((4,), rng), np.ones(4))


def test_bias_shapes_use_their_length_as_both_fans():
    # Keras' compute_fans for a 1-d shape: fan_in = fan_out = shape[0]
    w = initializers.glorot_uniform((20000,), np.random.default_rng(0))
    limit = math.sqrt(6 / 40000)
    assert w.shape == (20000,) and np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit


def test_draws_come_from_the_generator():
    a = initializers.he_normal((30, 20), np.random.default_rng(9))
    b = initializers.he_normal((30, 20), np.random.default_rng(9))
    c = initializers.he_normal((30, 20), np.random.default_rng(10))
    assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", list(EXPECTED) + ["zeros", "ones"])
def test_dense_uses_its_initializers(name):
    model = Sequential([Dense(FAN_OUT, kernel_initializer=name, bias_initializer="ones")])
    model.build((None, FAN_IN))
    kernel, bias = model.get_weights()
    assert kernel.dtype == np.float32
    assert_array_equal(bias, np.ones(FAN_OUT, np.float32))
    if name in EXPECTED:
        assert_allclose(kernel.std(), EXPECTED[name]["std"], rtol=0.03)


def test_dense_default_is_glorot_uniform_and_zero_bias():
    model = Sequential([Dense(FAN_OUT)])
    model.build((None, FAN_IN))
    kernel, bias = model.get_weights()
    limit = EXPECTED["glorot_uniform"]["limit"]
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.99 * limit
    assert_array_equal(bias, 0)


def test_get_functions_and_names():
    assert initializers.get("he_uniform") is initializers.he_uniform
    assert initializers.get(initializers.lecun_normal) is initializers.lecun_normal


def test_get_unknown_names():
    with pytest.raises(ValueError, match="Unknown initializer 'glorot'. Did you mean "
                                         "'glorot_normal', 'glorot_uniform'"):
        initializers.get("glorot")
    with pytest.raises(ValueError, match="Did you mean 'he_normal'"):
        initializers.get("he_normall")
    with pytest.raises(ValueError, match="Known: glorot_normal, glorot_uniform, he_normal"):
        initializers.get("orthogonal")
    with pytest.raises(ValueError, match="Unknown initializer"):
        Dense(3, kernel_initializer="GlorotUniform")


def _glorot_uniform(shape, rng):  # a look-alike with the name of one of ours
    return np.zeros(shape)


_glorot_uniform.__name__ = "glorot_uniform"


@pytest.mark.parametrize("bad", [None, 3, lambda shape, rng: np.zeros(shape), _glorot_uniform],
                         ids=["None", "int", "lambda", "look-alike"])
def test_get_rejects_non_names(bad):
    with pytest.raises(TypeError, match="initializer must be a name such as 'glorot_uniform'"):
        initializers.get(bad)


# ---------------------------------------------------------------- the classes

CLASS_OF = {"glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal",
            "he_uniform": "HeUniform", "he_normal": "HeNormal", "lecun_uniform": "LecunUniform",
            "lecun_normal": "LecunNormal"}


@pytest.mark.parametrize("name", CLASS_OF)
def test_classes_draw_as_their_functions(name):
    cls = getattr(initializers, CLASS_OF[name])
    assert_array_equal(cls().sample(SHAPE, np.random.default_rng(0)),
                       initializers.get(name)(SHAPE, np.random.default_rng(0)))
    assert cls(seed=3).get_config() == {"seed": 3}


def test_keras_defaults_and_arguments():
    assert initializers.RandomNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert initializers.RandomUniform().get_config() == {"minval": -0.05, "maxval": 0.05,
                                                         "seed": None}
    assert initializers.TruncatedNormal().get_config() == {"mean": 0.0, "stddev": 0.05,
                                                           "seed": None}
    assert initializers.Constant().get_config() == {"value": 0.0}
    w = initializers.TruncatedNormal(mean=1.0, stddev=0.5, seed=0)((200000,))
    assert w.dtype == np.float32  # Keras' default dtype
    assert np.abs(w - 1).max() <= 1.0 and abs(w.mean() - 1) < 0.01  # within 2 stddevs, no rescale
    assert_allclose(w.std(), 0.5 * TRUNCATED_STD, rtol=0.02)
    w = initializers.RandomUniform(2.0, 3.0, seed=1)((1000,))
    assert w.min() >= 2 and w.max() < 3
    assert_array_equal(initializers.Constant(0.25)((2, 2)), np.full((2, 2), 0.25))
    assert_array_equal(initializers.Ones()((3,)), np.ones(3))
    assert_array_equal(initializers.Zeros()((3,)), np.zeros(3))
    assert_array_equal(initializers.Identity(gain=2.0)((3, 2)), 2 * np.eye(3, 2))
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        initializers.HeNormal(seed=-1)


def test_a_seed_gives_the_same_draw():
    a = initializers.GlorotNormal(seed=7)((5, 4))
    assert_array_equal(a, initializers.GlorotNormal(seed=7)((5, 4)))
    assert not np.array_equal(a, initializers.GlorotNormal(seed=8)((5, 4)))
    first = Sequential([Dense(4, kernel_initializer=initializers.HeUniform(seed=1))])
    second = Sequential([Dense(4, kernel_initializer=initializers.HeUniform(seed=1))])
    first.build((None, 3))
    second.build((None, 3))
    assert_array_equal(first.get_weights()[0], second.get_weights()[0])


def test_a_dense_with_an_initializer_saves_and_loads(tmp_path):
    from densefit import load_model

    init = initializers.RandomNormal(mean=0.1, stddev=0.2, seed=4)
    model = Sequential([Dense(3, kernel_initializer=init,
                              bias_initializer=initializers.Constant(0.5))])
    model.build((None, 2))
    assert_array_equal(model.get_weights()[1], np.full(3, 0.5))
    config = model.layers[0].get_config()
    assert config["kernel_initializer"] == {"class_name": "RandomNormal",
                                            "config": {"mean": 0.1, "stddev": 0.2, "seed": 4}}
    again = Dense.from_config(config)
    assert initializers.get(again.kernel_initializer) == init
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.layers[0].get_config() == config
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert_array_equal(a, b)


def test_constant_takes_an_array_broadcast_to_the_weight():
    """Keras' Constant multiplies its value by ones: the imbalanced-data
    tutorial's Constant(np.log([pos / neg])) as a one-unit bias."""
    from densefit import Sequential
    from densefit.layers import Dense, Input
    bias = np.log([0.05 / 0.95])
    model = Sequential([Input(shape=(3,)),
                        Dense(1, activation="sigmoid",
                              bias_initializer=initializers.Constant(bias))])
    np.testing.assert_allclose(model.layers[-1].bias.numpy(), bias.astype(np.float32))
    assert initializers.Constant(bias).get_config() == {"value": bias.tolist()}
    np.testing.assert_array_equal(initializers.Constant([1.0, 2.0])((3, 2)), [[1, 2]] * 3)
    with pytest.raises(ValueError, match="does not broadcast to the weight's shape"):
        initializers.Constant([1.0, 2.0])((3,))
    with pytest.raises(ValueError, match="finite"):
        initializers.Constant([np.nan])


def test_none_initializer_draws_glorot_uniform_as_keras_add_weight():
    """Dense(bias_initializer=None), what make_model(output_bias=None) passes in
    the imbalanced-data tutorial: Keras' add_weight draws glorot_uniform
    (fans (n, n) for a bias), the config keeps None."""
    from densefit import Sequential
    from densefit.layers import Dense, Input
    layer = Dense(400, bias_initializer=None)
    model = Sequential([Input(shape=(3,)), layer])
    bias = model.layers[0].bias.numpy()
    limit = np.sqrt(6 / 800)
    assert np.abs(bias).max() <= limit and np.abs(bias).max() > 0.9 * limit
    assert layer.get_config()["bias_initializer"] is None
    assert Dense.from_config(layer.get_config()).bias_initializer is None
