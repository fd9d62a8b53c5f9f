"""densefit.layers.PReLU: a trained slope per feature, in the compiled loop."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from densefit import Sequential, backend, reference, regularizers
from densefit.initializers import Constant
from densefit.layers import Dense, Input, PReLU, deserialize, serialize
from densefit.models import load_model
from densefit.utils import set_random_seed


@pytest.fixture(autouse=True)
def _seeded():
    set_random_seed(3)


@pytest.fixture
def data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 5)).astype("float32")
    return x, (x[:, :2] * 2 - x[:, 2:4]).astype("float32")


def test_alpha_is_a_trained_weight_per_feature(data):
    x, y = data
    model = Sequential([Input((5,)), Dense(8), PReLU(), Dense(2)])
    prelu = model.layers[1]
    assert prelu.alpha.shape == (8,) and (prelu.alpha == 0).all()  # zeros: starts as relu
    assert [w.shape for w in model.get_weights()] == [(5, 8), (8,), (8,), (8, 2), (2,)]
    assert len(prelu.trainable_weights) == 1
    model.compile("adam", "mse")
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert not (prelu.alpha == 0).all()
    w = [a.astype(np.float64) for a in model.get_weights()]
    h = reference.prelu_forward(x @ w[0] + w[1], w[2])
    assert_allclose(model.predict(x, verbose=0), h @ w[3] + w[4], rtol=1e-5, atol=1e-5)


def test_frozen_prelu_keeps_alpha(data):
    x, y = data
    model = Sequential([Input((5,)), Dense(8), PReLU(alpha_initializer=Constant(0.25)),
                        Dense(2)])
    model.layers[1].trainable = False
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, verbose=0)
    assert_array_equal(model.layers[1].alpha, 0.25)
    assert model.layers[1].trainable_weights == []


def test_name_config_and_files(tmp_path, data):
    backend.clear_session()
    layer = PReLU(alpha_initializer="ones")
    assert layer.name == "p_re_lu" and PReLU().name == "p_re_lu_1"  # Keras' names
    config = layer.get_config()
    assert config == {"name": "p_re_lu", "alpha_initializer": "ones", "alpha_regularizer": None,
                      "alpha_constraint": None, "shared_axes": None, "dtype": None}
    assert deserialize(serialize(layer)).get_config() == config
    x, y = data
    model = Sequential([Input((5,)), Dense(4), layer, Dense(2)])
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.densefit")
    loaded = load_model(tmp_path / "m.densefit")
    assert_array_equal(loaded.layers[1].alpha, layer.alpha)
    assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("kwargs", [dict(shared_axes=[1]), dict(alpha_constraint="non_neg")])
def test_unsupported_arguments(kwargs):
    with pytest.raises(ValueError, match="not supported"):
        PReLU(**kwargs)
    with pytest.raises(AttributeError):
        PReLU().alpha = np.ones(3)


def test_regularizer_factors_reach_the_core():
    layer = PReLU(alpha_regularizer=regularizers.L2(0.5))
    assert layer.core_options()["l2"] == [0.5] and layer.core_options()["l1"] == [0.0]
    assert layer.get_config()["alpha_regularizer"] == {"class_name": "L2",
                                                        "config": {"l2": 0.5}}
