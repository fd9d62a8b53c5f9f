"""A Sequential as a layer of another (Keras' ``Sequential([base, Softmax()])``):
the inner model is one of the outer's layers and its weights are shared, so
training the outer trains them and the inner predicts with them afterwards."""
import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from densefit import Sequential
from densefit.activations import softmax
from densefit.layers import Dense, Input, Softmax
from densefit.models import clone_model, load_model


def trained_model():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 5)).astype("float32"), rng.integers(0, 3, 40)
    model = Sequential([Input((5,)), Dense(8, activation="relu"), Dense(3)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    return model, x


def regression(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, 5)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def base_and_head():
    base = Sequential([Input((5,)), Dense(8, activation="relu"), Dense(4)])
    outer = Sequential([base, Dense(1)])
    outer.compile(optimizer="adam", loss="mse")
    return base, outer


def mirror(model):
    """A plain model of ``model``'s layers and weights (sharing nothing)."""
    copy = Sequential([Input((5,)), *[type(layer).from_config(layer.get_config())
                                      for layer in model.layers]])
    copy.set_weights(model.get_weights())
    return copy


def shares(inner, outer):
    network, top = inner._network, outer._network
    trained = network.params.size == 0 or (np.shares_memory(network.params, top.params)
                                           and np.shares_memory(network.grads, top.grads))
    return trained and all(any(np.shares_memory(w, v) for v in outer.weights)
                           for w in inner.weights)


def test_the_notes_probability_model_is_softmax_of_the_trained_model():
    model, x = trained_model()
    probability_model = Sequential([model, Softmax()])
    assert probability_model.layers[0] is model and len(probability_model.layers) == 2
    assert probability_model.layers[0].layers == model.layers
    logits = model.predict(x, verbose=0)
    assert_allclose(probability_model.predict(x, verbose=0), softmax(logits), rtol=1e-6)
    assert_allclose(probability_model(x), softmax(logits), rtol=1e-6)
    assert_array_equal(model.predict(x, verbose=0), logits)  # the inner is unchanged
    assert probability_model.output_shape == (None, 3)
    assert probability_model.input_shape == (None, 5)


def test_training_the_outer_trains_the_inner_weights_which_the_inner_then_uses():
    base, outer = base_and_head()
    x, y = regression()
    before = base.get_weights()
    outer.fit(x, y, epochs=3, verbose=0)
    after = base.get_weights()
    assert all(not np.array_equal(a, b) for a, b in zip(after, before))
    assert shares(base, outer)
    for a, b in zip(outer.get_weights()[:4], after):  # Keras' order: the inner's in place
        assert_array_equal(a, b)
    assert_array_equal(base.predict(x, verbose=0), mirror(base).predict(x, verbose=0))
    assert len(outer.weights) == 6 and len(outer.trainable_weights) == 6
    assert outer.count_params() == base.count_params() + 5 == 89


def test_the_inner_trained_on_its_own_changes_the_outer():
    base, outer = base_and_head()
    x, y = regression()
    base.compile(optimizer="sgd", loss="mse")
    base.fit(x, np.zeros((64, 4)), epochs=1, verbose=0)
    for a, b in zip(outer.get_weights()[:4], base.get_weights()):
        assert_array_equal(a, b)
    assert_allclose(outer.predict(x, verbose=0), mirror(outer).predict(x, verbose=0), rtol=1e-6)


def test_a_frozen_base_is_kept_while_the_head_trains_then_unfreezes():
    base, outer = base_and_head()
    x, y = regression()
    outer.fit(x, y, epochs=1, verbose=0)
    base.trainable = False
    assert not base.trainable and all(not layer.trainable for layer in base.layers)
    assert len(outer.trainable_weights) == 2 and len(outer.non_trainable_weights) == 4
    assert outer.count_params() == 89
    assert outer.optimizer.iterations == 0  # relaid out: its state starts afresh
    frozen, head = base.get_weights(), outer.get_weights()[4:]
    outer.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(base.get_weights(), frozen):
        assert_array_equal(a, b)
    assert all(not np.array_equal(a, b) for a, b in zip(outer.get_weights()[4:], head))
    assert shares(base, outer)
    base.trainable = True
    outer.fit(x, y, epochs=1, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(base.get_weights(), frozen))
    assert shares(base, outer)


def test_an_unbuilt_inner_is_built_by_the_outer_and_sharing_survives_outer_changes():
    x, y = regression()
    inner = Sequential([Dense(3), Dense(2)])
    outer = Sequential([Input((5,)), inner, Softmax()])
    assert inner.built and inner.input_shape == (None, 5)
    assert_allclose(outer.predict(x, verbose=0), softmax(inner.predict(x, verbose=0)), rtol=1e-6)
    outer.add(Dense(1))  # the outer's buffers laid out anew: shared again
    outer.compile(optimizer="adam", loss="mse")
    outer.fit(x, y, epochs=1, verbose=0)
    assert shares(inner, outer)
    top = Sequential([outer, Dense(2)])  # two levels
    top.compile(optimizer="adam", loss="mse")
    top.fit(x, np.zeros((64, 2)), epochs=1, verbose=0)
    assert shares(inner, top) and shares(outer, top)
    inner.layers[0].trainable = False  # relays the outermost model
    assert shares(inner, top) and len(top.trainable_weights) == 6
    assert_allclose(top.predict(x, verbose=0), mirror(top).predict(x, verbose=0), rtol=1e-6)


def test_a_trained_outer_saves_and_loads_with_its_nested_model():
    base, outer = base_and_head()
    x, y = regression()
    outer.fit(x, y, epochs=2, verbose=0)
    config = outer.get_config()
    assert config["layers"][0]["class_name"] == "Sequential"
    assert config["layers"][0]["config"]["name"] == base.name
    rebuilt = Sequential.from_config(config)
    assert [type(layer).__name__ for layer in rebuilt.layers] == ["Sequential", "Dense"]
    assert rebuilt.count_params() == 89 and shares(rebuilt.layers[0], rebuilt)
    copy = clone_model(outer)
    assert copy.layers[0].name == base.name and copy.layers[0] is not base
    assert outer.get_layer(base.name) is base and outer.get_layer(index=0) is base


@pytest.mark.parametrize("suffix", [".densefit", ".keras"])
def test_a_nested_model_round_trips_through_files(tmp_path, suffix):
    if suffix == ".keras":
        pytest.importorskip("h5py")
    base, outer = base_and_head()
    x, y = regression()
    outer.fit(x, y, epochs=2, verbose=0)
    outer.save(tmp_path / f"m{suffix}")
    loaded = load_model(tmp_path / f"m{suffix}")
    assert_array_equal(loaded.predict(x, verbose=0), outer.predict(x, verbose=0))
    assert_array_equal(loaded.layers[0].predict(x, verbose=0), base.predict(x, verbose=0))
    loaded.fit(x, y, epochs=1, verbose=0)  # continues, still shared
    assert shares(loaded.layers[0], loaded)
    weights = tmp_path / ("w.weights.h5" if suffix == ".keras" else "w.npz")
    outer.save_weights(weights)
    fresh = clone_model(outer)
    fresh.load_weights(weights)
    assert_array_equal(fresh.predict(x, verbose=0), outer.predict(x, verbose=0))
    assert_array_equal(fresh.layers[0].predict(x, verbose=0), base.predict(x, verbose=0))


def test_nesting_that_cannot_share_is_refused_clearly():
    base, outer = base_and_head()
    with pytest.raises(ValueError, match="cannot be a layer of itself"):
        outer.add(outer)
    with pytest.raises(ValueError, match="cannot be a layer of itself"):
        base.add(outer)
    with pytest.raises(ValueError, match="already a layer of model"):
        Sequential([base, Softmax()])
    other = Sequential([Input((5,)), Dense(2)])
    with pytest.raises(ValueError, match="already a layer of this model"):
        Sequential([other, Dense(2), other])
    with pytest.raises(RuntimeError, match="its layers are fixed"):
        base.add(Dense(2))
    narrow = Sequential([Input((7,)), Dense(2)])
    with pytest.raises(ValueError, match=r"Sequential model '\w+' has already been configured "
                                         r"to use input shape \(None, 7\). You cannot build it "
                                         r"with input_shape \(None, 5\)"):
        Sequential([Input((5,)), narrow])
    assert narrow.predict(np.zeros((1, 7)), verbose=0).shape == (1, 2)  # left as it was
    Sequential([Input((7,)), narrow])  # and free to be nested elsewhere
    wide = Sequential([Input((5,), dtype="float64"), Dense(2)])
    with pytest.raises(ValueError, match="share one dtype"):
        Sequential([Input((5,)), Dense(5), wide])
    with pytest.raises(ValueError, match="has no Dense layer"):
        Sequential([Sequential()])
    named = Sequential([Input((5,)), Dense(2, name="head")])
    with pytest.raises(ValueError, match="already runs a layer named 'head'"):
        Sequential([named, Dense(2, name="head")])


def test_the_inner_waits_for_a_step_of_the_outer_and_neither_trains_while_the_other_does():
    base, outer = base_and_head()
    x, y = regression()
    assert base._step_lock is outer._step_lock
    entered, release, seen = threading.Event(), threading.Event(), []

    def step():  # what each compiled call of the outer's fit holds
        with outer._step_lock.stepping():
            entered.set()
            release.wait()

    stepper = threading.Thread(target=step)
    stepper.start()
    entered.wait()
    reader = threading.Thread(target=lambda: seen.append(base.predict(x, verbose=0)))
    reader.start()
    reader.join(0.3)
    assert reader.is_alive() and not seen  # the inner's predict waits for the step
    release.set()
    stepper.join()
    reader.join()
    assert len(seen) == 1
    refused = []

    def train_inner(epoch, logs):
        for call in (lambda: base.fit(x, np.zeros((64, 4)), verbose=0),
                     lambda: base.set_weights(base.get_weights())):
            try:
                call()
            except RuntimeError as e:
                refused.append(str(e))

    from densefit import callbacks
    base.compile(optimizer="sgd", loss="mse")
    outer.fit(x, y, epochs=1, verbose=0,
              callbacks=[callbacks.LambdaCallback(on_epoch_end=train_inner)])
    assert len(refused) == 1 and "cannot be called from a callback" in refused[0]


def test_the_inner_predicts_whole_steps_while_the_outer_trains_in_another_thread():
    from densefit import callbacks
    base, outer = base_and_head()
    x, y = regression()
    big_x, big_y = np.tile(x, (20, 1)), np.tile(y, (20, 1))
    started, seen = threading.Event(), []

    def enough(epoch, logs):  # trains until the inner has seen 20 predictions, two steps
        started.set()
        outer.stop_training = len(seen) >= 20 and any(not np.array_equal(a, seen[0])
                                                      for a in seen)

    trainer = threading.Thread(target=lambda: outer.fit(
        big_x, big_y, epochs=2_000, batch_size=8, verbose=0,
        callbacks=[callbacks.LambdaCallback(on_epoch_end=enough)]))
    trainer.start()
    started.wait()
    while trainer.is_alive():
        seen.append(base.predict(x, verbose=0))
        assert np.isfinite(seen[-1]).all()
    trainer.join()
    assert len(seen) >= 20 and any(not np.array_equal(a, seen[0]) for a in seen)
    assert_array_equal(base.predict(x, verbose=0), mirror(base).predict(x, verbose=0))


def test_the_alternatives_the_message_names_give_keras_probabilities():
    model, x = trained_model()
    logits = model.predict(x, verbose=0)
    probabilities = softmax(logits)
    assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-6)
    assert_allclose(probabilities, np.exp(logits) / np.exp(logits).sum(1, keepdims=True),
                    rtol=1e-5)
    copy = Sequential([Input((5,)), *[type(layer).from_config(layer.get_config())
                                      for layer in model.layers], Softmax()])
    copy.set_weights(model.get_weights())
    assert_allclose(copy.predict(x, verbose=0), probabilities, rtol=1e-5, atol=1e-7)
    assert_allclose(copy(x), probabilities, rtol=1e-5, atol=1e-7)


def test_summary_and_plot_show_the_nested_model_as_one_row(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    base = Sequential([Input((5,)), Dense(4, activation="relu"), Dense(3)], name="base")
    outer = Sequential([base, Softmax(name="probabilities")])
    lines = []
    outer.summary(print_fn=lines.append)
    rows = [line for line in lines[0].splitlines() if "(Sequential)" in line]
    assert len(rows) == 1 and "(None, 3)" in rows[0] and rows[0].rstrip("│ ").endswith("39")
    assert " Total params: 39 " in lines[0]
    lines.clear()
    outer.summary(print_fn=lines.append, expand_nested=True)
    assert f"└ {base.layers[0].name} (Dense)" in lines[0]
    pytest.importorskip("matplotlib")
    from densefit import plot
    plot.model(outer, tmp_path / "nested.png")
    assert (tmp_path / "nested.png").stat().st_size > 0


def test_renames_keep_the_names_a_model_runs_unique():
    base = Sequential([Input((5,)), Dense(4, name="hidden"), Dense(3, name="logits")])
    outer = Sequential([base, Dense(2, name="head")])
    with pytest.raises(ValueError, match="already runs a layer named 'head'"):
        base.layers[0].name = "head"
    with pytest.raises(ValueError, match="already runs a layer named 'logits'"):
        outer.layers[1].name = "logits"
    with pytest.raises(ValueError, match="Name 'head' is already the name of a layer"):
        base.name = "head"
    base.layers[0].name = "first"
    base.name = "trunk"
    assert outer.get_layer("trunk") is base and base.get_layer("first") is base.layers[0]
    assert list(outer.get_state_tree()["trainable_variables"]) == ["first", "logits", "head"]
