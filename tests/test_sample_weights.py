"""fit's sample_weight and class_weight, evaluate's sample_weight: Keras 3's
semantics (a batch's loss sum(w l) / batch_size; metrics not weighted)."""
import numpy as np
import pytest

import densefit as keras
from densefit import reference


def model_and_data(seed=0, n=40):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = rng.integers(0, 3, n)
    model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model, x, y


def test_evaluate_weighted_loss_is_sum_over_batch_size():
    model, x, y = model_and_data()
    w = np.random.default_rng(1).uniform(0, 3, len(x))
    out = model.predict(x, verbose=0)
    expected, _ = reference.weighted(reference.sparse_softmax_cross_entropy, out, y, w)
    loss, accuracy = model.evaluate(x, y, sample_weight=w, verbose=0)
    assert loss == pytest.approx(expected, rel=1e-6)
    assert accuracy == model.evaluate(x, y, verbose=0)[1]  # metrics are not weighted
    assert model.evaluate(x, y, sample_weight=np.ones(len(x)), verbose=0)[0] == \
        pytest.approx(model.evaluate(x, y, verbose=0)[0], rel=1e-7)


def test_class_weight_equals_its_sample_weights():
    """class_weight is sample_weight from each label's class (1 for a class not given)."""
    class_weight = {0: 0.5, 2: 4.0}
    model, x, y = model_and_data()
    start = model.get_weights()
    histories, params = [], []
    for kwargs in ({"class_weight": class_weight},
                   {"sample_weight": np.array([class_weight.get(c, 1.0) for c in y])}):
        model.set_weights(start)
        histories.append(model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                                   **kwargs).history)
        params.append(model.get_weights())
    assert histories[0] == histories[1]
    for a, b in zip(*params):
        np.testing.assert_array_equal(a, b)


def test_weights_change_training_and_zero_weights_ignore_samples():
    """Zero weights: as if those samples were not in their batch (but batch_size
    still divides); all weights 2: twice the SGD step of unweighted training."""
    model, x, y = model_and_data()
    start = model.get_weights()
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False,
              sample_weight=np.full(len(x), 2.0))
    doubled = [w - s for w, s in zip(model.get_weights(), start)]
    model.set_weights(start)
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
    single = [w - s for w, s in zip(model.get_weights(), start)]
    for d, s in zip(doubled, single):
        np.testing.assert_allclose(d, 2 * s, rtol=1e-5, atol=1e-7)
    model.set_weights(start)
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, sample_weight=np.zeros(len(x)))
    for w, s in zip(model.get_weights(), start):
        np.testing.assert_array_equal(w, s)


def test_history_loss_is_weighted():
    model, x, y = model_and_data()
    w = np.random.default_rng(2).uniform(0, 3, len(x))
    start = model.get_weights()
    loss = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, sample_weight=w
                     ).history["loss"][0]
    model.set_weights(start)
    assert loss == pytest.approx(model.evaluate(x, y, sample_weight=w, verbose=0)[0], rel=1e-6)


def test_class_weight_reads_one_hot_and_binary_targets():
    from densefit.data_adapter import class_weight_to_sample_weights as to_weights
    cw = {0: 2.0, 1: 3.0}
    np.testing.assert_array_equal(to_weights(np.array([1, 0, 2]), cw), [3, 2, 1])
    np.testing.assert_array_equal(to_weights(np.eye(3)[[2, 1, 0]], cw), [1, 3, 2])
    np.testing.assert_array_equal(to_weights(np.array([[0.2], [0.9]]), cw), [2, 3])


def test_validation_data_with_sample_weights_and_split():
    model, x, y = model_and_data()
    w = np.random.default_rng(3).uniform(0, 3, len(x))
    start = model.get_weights()
    val = model.fit(x[:30], y[:30], epochs=1, verbose=0, shuffle=False, sample_weight=w[:30],
                    validation_data=(x[30:], y[30:], w[30:])).history["val_loss"][0]
    after = model.get_weights()
    assert val == pytest.approx(model.evaluate(x[30:], y[30:], sample_weight=w[30:],
                                               verbose=0)[0], rel=1e-6)
    model.set_weights(start)
    h = model.fit(x, y, epochs=1, verbose=0, shuffle=False, sample_weight=w,
                  validation_split=0.25).history
    assert h["val_loss"][0] == pytest.approx(val, rel=1e-6)
    for a, b in zip(model.get_weights(), after):  # trained on the first 30 weights alone
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(sample_weight=np.ones(3)), ValueError, r"one weight per sample, shape \(40,\)"),
    (dict(sample_weight=-np.ones(40)), ValueError, "finite numbers >= 0, got -1 at sample 0"),
    (dict(sample_weight=np.r_[np.ones(39), np.nan]), ValueError, "nan at sample 39"),
    (dict(sample_weight=np.array(["a"] * 40)), TypeError, "real numbers"),
    (dict(class_weight=[1.0, 2.0]), TypeError, "must be a dict"),
    (dict(class_weight={"a": 1.0}), ValueError, "integer class indices"),
    (dict(class_weight={0: -1.0}), ValueError, r"class_weight\[0\] must be a finite number >= 0"),
    (dict(class_weight={0: 1.0}, sample_weight=np.ones(40)), ValueError,
     "cannot `class_weight` and `sample_weight`"),
])
def test_weight_errors(kwargs, error, match):
    model, x, y = model_and_data()
    with pytest.raises(error, match=match):
        model.fit(x, y, verbose=0, **kwargs)


def test_validation_data_of_four_items_is_refused():
    model, x, y = model_and_data()
    with pytest.raises(ValueError, match=r"\(x_val, y_val, sample_weight_val\)"):
        model.fit(x, y, verbose=0, validation_data=(x, y, None, None))


def test_loss_object_takes_sample_weight():
    y, p = np.array([0, 1, 1]), np.array([[0.2], [0.7], [0.4]])
    w = np.array([1.0, 0.0, 2.0])
    value = keras.losses.BinaryCrossentropy()(y, p, sample_weight=w)
    expected = (-np.log(0.8) + 2 * -np.log(0.4)) / 3
    assert value == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="sample_weight must hold finite numbers >= 0"):
        keras.losses.BinaryCrossentropy()(y, p, sample_weight=-w)


def test_weight_beyond_float32_is_refused():
    model, x, y = model_and_data()
    with pytest.raises(ValueError, match="sample_weight holds 1e\\+39 at row 2, beyond float32"):
        model.fit(x, y, verbose=0, sample_weight=np.r_[1.0, 1.0, 1e39, np.ones(37)])
