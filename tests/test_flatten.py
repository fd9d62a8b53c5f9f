"""Image-shaped input: ``Input(shape=(28, 28))``, ``Flatten``, as in Keras."""
import numpy as np
import pytest

import densefit
from densefit import Sequential, load_model
from densefit.layers import Dense, Flatten, Input, ReLU


def _image_model(shape=(4, 5), **kwargs):
    return Sequential([Input(shape), Flatten(), Dense(8, activation="relu"), Dense(3)], **kwargs)


def _data(shape=(4, 5), n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n,) + shape).astype(np.float32), rng.integers(0, 3, n)


def _compiled(model):
    model.compile(optimizer="adam", metrics=["accuracy"],
                  loss=densefit.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 1), (2, 3, 2, 2)])
def test_image_input_is_flattened_like_rows(shape):
    """Every entry point gives what the same model gives the reshaped rows."""
    x, y = _data(shape)
    model = _compiled(_image_model(shape))
    assert model.input_shape == (None,) + shape
    flat = _compiled(Sequential([Input((int(np.prod(shape)),)), Dense(8, activation="relu"),
                                 Dense(3)]))
    flat.set_weights(model.get_weights())
    rows = x.reshape(len(x), -1)
    np.testing.assert_array_equal(model.predict(x, verbose=0), flat.predict(rows, verbose=0))
    np.testing.assert_array_equal(model(x), flat(rows))
    assert model.evaluate(x, y, verbose=0) == flat.evaluate(rows, y, verbose=0)
    h1 = model.fit(x, y, epochs=2, shuffle=False, verbose=0, validation_data=(x, y)).history
    h2 = flat.fit(rows, y, epochs=2, shuffle=False, verbose=0, validation_data=(rows, y)).history
    assert h1 == h2
    for a, b in zip(model.get_weights(), flat.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_flatten_is_a_view_of_c_contiguous_x():
    x, _ = _data()
    model = _image_model()
    seen = model._model_inputs(x, "x")
    assert seen.shape == (12, 20) and np.shares_memory(seen, x)
    strided = np.asfortranarray(x)
    np.testing.assert_array_equal(model._model_inputs(strided, "x"), seen)


def test_flatten_input_shape_builds_at_once():
    model = Sequential([Flatten(input_shape=(28, 28)), Dense(4)])
    assert model.built and model.input_shape == (None, 28, 28)
    assert model.get_weights()[0].shape == (784, 4)


def test_flatten_first_builds_on_data():
    model = Sequential([Flatten(), Dense(4)])
    x = np.ones((3, 2, 5), np.float32)
    assert model.predict(x, verbose=0).shape == (3, 4)
    assert model.input_shape == (None, 2, 5)


@pytest.mark.parametrize("bad", [(12, 20), (12, 5, 4), (12, 4, 5, 1)])
def test_wrong_sample_shape_names_both(bad):
    model = _compiled(_image_model())
    x = np.ones(bad, np.float32)
    expected = rf"samples of shape \(4, 5\).*\(None, 4, 5\).*got shape \({bad[0]}, "
    for call in (lambda: model.predict(x, verbose=0), lambda: model(x),
                 lambda: model.evaluate(x, np.zeros(12), verbose=0),
                 lambda: model.fit(x, np.zeros(12), verbose=0)):
        with pytest.raises(ValueError, match=expected):
            call()
    good, y = _data()
    with pytest.raises(ValueError, match="x_val must have samples of shape"):
        model.fit(good, y, verbose=0, validation_data=(x, np.zeros(12)))


def test_image_input_without_flatten_is_refused():
    with pytest.raises(ValueError, match=r"add Flatten\(\)"):
        Sequential([Input((28, 28)), Dense(4)])
    model = Sequential([Dense(4)])
    with pytest.raises(ValueError, match=r"Flatten\(\)"):
        model.predict(np.ones((2, 28, 28)), verbose=0)


def test_flatten_after_dense_is_the_identity():
    model = Sequential([Input((3,)), Dense(5), Flatten(), ReLU(), Dense(2)])
    plain = Sequential([Input((3,)), Dense(5, activation="relu"), Dense(2)])
    plain.set_weights(model.get_weights())
    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), plain.predict(x, verbose=0))


def test_summary_shows_flatten_row():
    lines = []
    _image_model().summary(print_fn=lines.append)
    row = next(line for line in lines[0].splitlines() if "(Flatten)" in line)
    assert "(None, 20)" in row and row.endswith(" 0 │")  # Keras 3's boxed cells


def test_flatten_config_and_data_format():
    layer = Flatten(input_shape=(2, 3), name="f")
    assert layer.get_config() == {"name": "f", "data_format": "channels_last",
                                  "input_shape": [2, 3]}
    assert Flatten.from_config(layer.get_config()).input_shape == (2, 3)
    assert Flatten(data_format="channels_last").data_format == "channels_last"
    with pytest.raises(ValueError, match="data_format"):
        Flatten(data_format="channels_first")


def test_config_and_files_keep_the_image_shape(tmp_path):
    x, y = _data()
    model = _compiled(_image_model())
    model.fit(x, y, epochs=1, verbose=0)
    again = Sequential.from_config(model.get_config())
    assert again.input_shape == (None, 4, 5)
    assert [type(layer).__name__ for layer in again.layers] == ["Flatten", "Dense", "Dense"]
    path = tmp_path / "m.densefit"
    model.save(path)
    loaded = load_model(path)
    assert loaded.input_shape == (None, 4, 5)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    loaded.fit(x, y, epochs=1, verbose=0)


def test_build_takes_image_shapes():
    model = Sequential([Flatten(), Dense(2)])
    model.build((None, 3, 4))
    assert model.input_shape == (None, 3, 4) and model.count_params() == 26


def test_course_lab_spelling():
    """``import densefit as keras``: ``keras.Input(shape=(28, 28))``, then ``Flatten()``."""
    keras = densefit
    model = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    assert model.input_shape == (None, 28, 28)
    assert model.predict(np.zeros((2, 28, 28), np.float32), verbose=0).shape == (2, 10)
