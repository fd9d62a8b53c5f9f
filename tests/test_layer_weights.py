"""A layer's own weights and freezing, with Keras 3's semantics.

``layer.weights`` / ``get_weights`` / ``set_weights`` / ``trainable_weights`` /
``non_trainable_weights`` / ``count_params``, and ``layer.trainable = False``:
the frozen layer's weights leave the optimizer (they do not change in fit, the
others do), move from the model's ``trainable_weights`` to its
``non_trainable_weights`` (``weights`` and ``get_weights`` keep their order),
and summary's counts follow.  Unlike Keras on TensorFlow, where the change
takes effect only at the next ``compile()``, densefit applies it at once; the
optimizer's state restarts (as after Keras' recompile with a new optimizer).
"""
import threading

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import densefit
from densefit import Sequential, callbacks, losses, optimizers
from densefit.layers import Dense, Dropout, Input
from densefit.utils import set_random_seed


@pytest.fixture(autouse=True)
def _seeded():
    set_random_seed(11)


def named(model):
    """The model's layers by name."""
    return {layer.name: layer for layer in model.layers}


def data(n=40):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, (x[:, 0] > x[:, 1]).astype(np.int64)


def make(frozen=(), dropout=False):
    layers = [Input((3,)), Dense(4, activation="relu", name="d0")]
    layers += [Dropout(0.3, seed=1, name="drop")] if dropout else []
    layers += [Dense(2, name="d1")]
    model = Sequential(layers)
    for name in frozen:
        named(model)[name].trainable = False
    model.compile(optimizers.Adam(0.05), losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def fit(model, epochs=1, **kwargs):
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, **kwargs)


# ------------------------------------------------------------------ a layer's weights

def test_layer_weights_in_keras_order_and_views():
    model = make()
    d0 = named(model)["d0"]
    assert [w.shape for w in d0.weights] == [(3, 4), (4,)]
    assert d0.weights[0] is d0.kernel or np.shares_memory(d0.weights[0], d0.kernel)
    assert len(d0.trainable_weights) == 2 and d0.non_trainable_weights == []
    copies = d0.get_weights()
    assert not np.shares_memory(copies[0], d0.kernel)
    assert_array_equal(copies[0], d0.kernel)
    assert d0.count_params() == 16 and named(model)["d1"].count_params() == 10


def test_layer_set_weights_writes_the_model():
    model = make()
    d1 = named(model)["d1"]
    d1.set_weights([np.full((4, 2), 0.5), np.array([1.0, -1.0])])
    assert_array_equal(model.get_weights()[2], np.full((4, 2), 0.5, np.float32))
    assert_array_equal(model.get_weights()[3], [1.0, -1.0])
    out = model.predict(np.zeros((1, 3), np.float32), verbose=0)
    assert_array_equal(out, [[1.0, -1.0]])  # relu(bias 0) = 0: the output is d1's bias


def test_layer_set_weights_checks_everything_first():
    model = make()
    d1 = named(model)["d1"]
    before = d1.get_weights()
    with pytest.raises(ValueError, match="expects a list of 2 arrays"):
        d1.set_weights([np.ones((4, 2))])
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape \(2,\)"):
        d1.set_weights([np.zeros((4, 2)), np.ones(3)])
    with pytest.raises(ValueError, match="finite"):
        d1.set_weights([np.zeros((4, 2)), np.array([np.nan, 0])])
    for a, b in zip(before, d1.get_weights()):  # the first array was not written
        assert_array_equal(a, b)


def test_unbuilt_layer():
    layer = Dense(3)
    assert layer.weights == layer.get_weights() == [] and layer.count_params() == 0
    with pytest.raises(ValueError, match="not built"):
        layer.set_weights([np.ones((2, 3)), np.ones(3)])
    model = Sequential([layer])
    with pytest.raises(ValueError, match="not built"):
        layer.set_weights([np.ones((2, 3)), np.ones(3)])
    model.build((None, 2))
    layer.set_weights([np.ones((2, 3)), np.ones(3)])
    assert_array_equal(layer.kernel, np.ones((2, 3)))


# ------------------------------------------------------------------ freezing

def test_frozen_layer_moves_between_the_model_lists():
    model = make(frozen=["d0"])
    d0, d1 = named(model)["d0"], named(model)["d1"]
    assert d0.trainable_weights == [] and len(d0.non_trainable_weights) == 2
    assert [w.shape for w in model.trainable_weights] == [(4, 2), (2,)]
    assert [w.shape for w in model.non_trainable_weights] == [(3, 4), (4,)]
    # weights and get_weights keep the layer order
    assert [w.shape for w in model.weights] == [(3, 4), (4,), (4, 2), (2,)]
    assert [w.shape for w in model.get_weights()] == [(3, 4), (4,), (4, 2), (2,)]
    assert d1.trainable


def test_frozen_layer_does_not_train_the_others_do():
    model = make(frozen=["d0"], dropout=True)
    before = model.get_weights()
    fit(model, epochs=2)
    after = model.get_weights()
    assert_array_equal(before[0], after[0])
    assert_array_equal(before[1], after[1])
    assert not np.array_equal(before[2], after[2])


def test_freezing_and_unfreezing_a_trained_model():
    model = make()
    fit(model)
    d0 = named(model)["d0"]
    d0.trainable = False  # at once, no compile needed (Keras on TF needs compile())
    kernel = d0.get_weights()[0]
    fit(model)
    assert_array_equal(d0.kernel, kernel)
    d0.trainable = True
    fit(model)
    assert not np.array_equal(d0.kernel, kernel)


def test_freezing_keeps_weights_and_restarts_the_optimizer():
    model = make()
    fit(model)
    assert model.optimizer.iterations == 5
    weights = model.get_weights()
    named(model)["d0"].trainable = False
    for a, b in zip(weights, model.get_weights()):
        assert_array_equal(a, b)
    assert model.get_state_tree()["optimizer_variables"] == {"iterations": 0}
    fit(model)
    assert model.optimizer.iterations == 5  # a fresh state: 5 steps, not 10
    slots = model.get_state_tree()["optimizer_variables"]
    assert slots["momentums"].shape == (10,)  # flat: d1's kernel and bias only


def test_setting_trainable_to_its_value_changes_nothing():
    model = make()
    fit(model)
    named(model)["d0"].trainable = True
    assert model.optimizer.iterations == 5
    assert model.get_state_tree()["optimizer_variables"]["iterations"] == 5


def test_trainable_must_be_a_bool():
    with pytest.raises(TypeError, match="trainable"):
        named(make())["d0"].trainable = "no"


def test_summary_counts_move():
    model = make(frozen=["d0"])
    text = densefit.summary.format_summary(model)
    assert "Total params: 26 " in text
    assert "Trainable params: 10 " in text and "Non-trainable params: 16 " in text
    named(model)["d0"].trainable = True
    text = densefit.summary.format_summary(model)
    assert "Trainable params: 26 " in text and "Non-trainable params: 0 " in text


def test_state_tree_splits_trainable_and_not():
    model = make(frozen=["d0"], dropout=True)
    fit(model)
    tree = model.get_state_tree()
    assert list(tree["trainable_variables"]) == ["d1"]
    assert list(tree["non_trainable_variables"]) == ["d0"]
    assert set(tree["non_trainable_variables"]["d0"]) == {"kernel", "bias"}
    assert_array_equal(tree["non_trainable_variables"]["d0"]["kernel"],
                       named(model)["d0"].kernel)


def test_config_keeps_trainable():
    model = make(frozen=["d0"])
    config = named(model)["d0"].get_config()
    assert config["trainable"] is False
    assert Dense.from_config(config).trainable is False
    assert "trainable" not in named(model)["d1"].get_config()  # True: the default


def test_constructor_trainable_false():
    model = Sequential([Input((3,)), Dense(4, trainable=False), Dense(2)])
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2


def test_save_and_load_a_frozen_model_continues_exactly(tmp_path):
    model = make(frozen=["d0"], dropout=True)
    fit(model, shuffle=True)
    model.save(tmp_path / "m.keras")
    loaded = densefit.load_model(tmp_path / "m.keras")
    assert not named(loaded)["d0"].trainable
    assert [w.shape for w in loaded.trainable_weights] == [(4, 2), (2,)]
    for m in (model, loaded):
        fit(m, epochs=2, shuffle=True)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert_array_equal(a, b)
    assert_array_equal(model.get_weights()[0], loaded.get_weights()[0])


# ------------------------------------------------------------------ while fit runs

class _Freeze(callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        named(self.model)["d0"].trainable = False


def test_freezing_from_a_callback_of_fit_is_refused():
    model = make()
    with pytest.raises(RuntimeError, match="callback"):
        fit(model, callbacks=[_Freeze()])
    assert named(model)["d0"].trainable


class _Pause(callbacks.Callback):
    """Holds fit inside its first epoch until released."""

    def __init__(self):
        super().__init__()
        self.inside, self.release = threading.Event(), threading.Event()

    def on_epoch_begin(self, epoch, logs=None):
        self.inside.set()
        self.release.wait(10)


def test_changes_refused_while_fit_runs_in_another_thread():
    model = make()
    pause = _Pause()
    thread = threading.Thread(target=fit, args=(model,), kwargs={"callbacks": [pause]})
    thread.start()
    try:
        assert pause.inside.wait(10)
        d0 = named(model)["d0"]
        with pytest.raises(RuntimeError, match="another thread"):
            d0.trainable = False
        with pytest.raises(RuntimeError, match="another thread"):
            d0.set_weights(d0.get_weights())
        with pytest.raises(RuntimeError, match="another thread"):
            model(np.ones((2, 3), np.float32), training=True)
        assert d0.trainable
        model(np.ones((2, 3), np.float32))  # inference is allowed
    finally:
        pause.release.set()
        thread.join()


def test_model_trainable_false_freezes_every_layer_and_true_unfreezes_them():
    """Keras' ``model.trainable = False``: fit and train_on_batch then change
    nothing (before, it was an attribute with no effect: a silent wrong answer)."""
    set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    y = np.arange(16) % 3
    model = Sequential([Input((4,)), Dense(5, activation="relu"), Dropout(0.1), Dense(3)])
    model.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True))
    model.trainable = False
    assert model.trainable is False and model.trainable_weights == []
    assert all(not layer.trainable for layer in model.layers)
    before = model.get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    model.train_on_batch(x, y)
    for a, b in zip(before, model.get_weights()):
        assert_array_equal(a, b)
    model.trainable = True
    assert len(model.trainable_weights) == 4
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(before[0], model.get_weights()[0])
    with pytest.raises(TypeError, match="trainable must be True or False"):
        model.trainable = "no"

