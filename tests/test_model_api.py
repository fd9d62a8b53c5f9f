"""The model's Keras surface: variables (assign, numpy), get_layer, the
on-batch calls, fit's validation_freq and validation_batch_size."""
import copy
import pickle
import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from densefit import Sequential
from densefit.layers import BatchNormalization, Dense, Dropout, Input
from densefit.losses import SparseCategoricalCrossentropy
from densefit.optimizers import SGD
from densefit.variables import Variable


def small_model(metrics=None, optimizer="adam"):
    model = Sequential([Input((3,)), Dense(4, activation="relu", name="d0"),
                        Dense(2, name="d1")])
    model.compile(optimizer=optimizer, loss=SparseCategoricalCrossentropy(from_logits=True),
                  metrics=metrics)
    return model


def data(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)).astype("float32"), rng.integers(0, 2, n)


# ------------------------------------------------------------ variables

def test_weights_are_variables_viewing_the_buffer():
    model = small_model()
    d0 = model.get_layer("d0")
    assert isinstance(d0.kernel, Variable) and isinstance(d0.kernel, np.ndarray)
    assert all(isinstance(w, Variable) for w in model.weights)
    assert d0.kernel.name == "kernel" and d0.bias.name == "bias"
    assert d0.kernel.path == "sequential/d0/kernel".replace("sequential", model.name)
    assert d0.kernel.trainable and d0.kernel.shape == (3, 4)
    # what get_weights returns, and anything computed from a variable, is a plain array
    assert all(type(w) is np.ndarray for w in model.get_weights())
    for derived in (d0.kernel * 2, d0.kernel[0], d0.kernel.copy(), d0.kernel.sum(),
                    np.asarray(d0.kernel), d0.kernel.numpy(), d0.kernel.value,
                    d0.kernel.astype("float64"), copy.deepcopy(d0.kernel),
                    pickle.loads(pickle.dumps(d0.kernel))):
        assert not isinstance(derived, Variable), type(derived)


def test_assign_writes_through_to_training_and_predict():
    model = small_model()
    x, _ = data()
    d1 = model.layers[-1]
    returned = d1.bias.assign([5.0, -5.0])
    assert returned is d1.bias
    assert_array_equal(model.get_weights()[3], [5.0, -5.0])
    d1.kernel.assign(np.zeros((4, 2)))
    assert_allclose(model.predict(x, verbose=0), np.tile([5.0, -5.0], (len(x), 1)))
    d1.bias.assign_add([1.0, 1.0])
    d1.bias.assign_sub(np.array([0.5, 0.5]))
    assert_allclose(d1.bias.numpy(), [5.5, -4.5])
    np.asarray(d1.bias)[...] = 0  # NumPy's in-place writes reach the network, as before
    assert_array_equal(model(x[:1]), [[0.0, 0.0]])


def test_assign_checks_shape_and_values():
    model = small_model()
    bias = model.layers[-1].bias
    with pytest.raises(ValueError, match=r"must match. variable.shape=\(2,\), "
                                         r"Received: value.shape=\(3,\)"):
        bias.assign([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        bias.assign([np.nan, 0.0])
    assert_array_equal(bias, [0.0, 0.0])


def test_imbalanced_data_initial_bias_then_fit():
    """TensorFlow's imbalanced-data tutorial: the output bias set to log(pos/neg)."""
    pos, neg = 10, 90
    model = Sequential([Input((3,)), Dense(8, activation="relu"),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.layers[-1].bias.assign([np.log(pos / neg)])
    x = np.zeros((4, 3), np.float32)
    assert_allclose(model.predict(x, verbose=0), pos / (pos + neg), rtol=1e-5)
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(100, 3)), (rng.random(100) < 0.1).astype("float32"),
              epochs=1, verbose=0)
    assert model.layers[-1].bias.numpy()[0] != pytest.approx(np.log(pos / neg))


def test_assign_reaches_the_weight_after_the_buffers_are_laid_out_anew():
    model = small_model()
    old_kernel = model.layers[0].kernel
    model.layers[0].trainable = False  # new buffers, weights kept
    old_kernel.assign(np.full((3, 4), 0.5))
    assert_array_equal(model.layers[0].kernel, np.full((3, 4), 0.5))
    assert not model.layers[0].kernel.trainable


def test_moving_statistics_are_non_trainable_variables():
    model = Sequential([Input((3,)), BatchNormalization(name="bn"), Dense(1)])
    names = [(w.name, w.trainable) for w in model.get_layer("bn").weights]
    assert names == [("gamma", True), ("beta", True), ("moving_mean", False),
                     ("moving_variance", False)]


def test_assign_is_refused_while_another_thread_trains():
    model = small_model()
    x, y = data(2000)
    started, errors = threading.Event(), []

    def assign_during_fit():
        started.wait(10)
        try:
            model.layers[0].bias.assign(np.ones(4))
        except RuntimeError as e:
            errors.append(str(e))

    thread = threading.Thread(target=assign_during_fit)
    thread.start()
    from densefit.callbacks import LambdaCallback
    model.fit(x, y, epochs=3, verbose=0, callbacks=[LambdaCallback(
        on_train_batch_begin=lambda b, logs: (started.set(), threading.Event().wait(0.001)))])
    thread.join()
    assert errors and "another thread" in errors[0]


# ------------------------------------------------------------ get_layer

def test_get_layer_by_name_and_index():
    model = small_model()
    assert model.get_layer("d1") is model.layers[1]
    assert model.get_layer(index=0) is model.layers[0]
    assert model.get_layer(index=-1) is model.layers[-1]
    with pytest.raises(ValueError, match=r"No such layer: nope. Existing layers are: "
                                         r"\['d0', 'd1'\]"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="only has 2 layers"):
        model.get_layer(index=2)
    with pytest.raises(ValueError, match="Provide only a layer name or a layer index"):
        model.get_layer("d0", 0)
    with pytest.raises(ValueError, match="Provide either a layer name or layer index"):
        model.get_layer()


# ------------------------------------------------------------ on-batch calls

def test_train_on_batch_is_fit_of_one_batch():
    x, y = data(16)
    a, b = small_model(["accuracy"]), small_model(["accuracy"])
    b.set_weights(a.get_weights())
    out = [a.train_on_batch(x, y) for _ in range(3)]
    history = b.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    assert_allclose([o[0] for o in out], history.history["loss"], rtol=1e-6)
    assert_allclose([o[1] for o in out], history.history["accuracy"], rtol=1e-6)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert_allclose(wa, wb, rtol=1e-6)
    assert a.optimizer.iterations == 3
    logs = a.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}


def test_train_on_batch_loss_alone_and_weights():
    x, y = data(8)
    model = small_model()
    loss = model.train_on_batch(x, y, sample_weight=np.zeros(8))
    assert loss == 0.0
    assert isinstance(model.train_on_batch(x, y, class_weight={0: 1.0, 1: 2.0}), float)


def test_train_on_batch_dropout_masks_change_with_the_step():
    model = Sequential([Input((3,)), Dense(64, activation="relu"), Dropout(0.5), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((4, 3), np.float32), np.zeros(4)
    losses = [model.train_on_batch(x, y) for _ in range(3)]
    assert len(set(losses)) == 3


def test_test_on_batch_and_predict_on_batch():
    x, y = data(10)
    model = small_model(["accuracy"])
    assert_allclose(model.test_on_batch(x, y), model.evaluate(x, y, verbose=0), rtol=1e-6)
    assert model.test_on_batch(x, y, return_dict=True) == model.evaluate(
        x, y, verbose=0, return_dict=True)
    assert_allclose(model.predict_on_batch(x), model.predict(x, verbose=0))
    with pytest.raises(RuntimeError, match="compile"):
        Sequential([Input((3,)), Dense(1)]).train_on_batch(x, y)


# ------------------------------------------------------------ fit's validation options

@pytest.mark.parametrize("freq, expected", [(1, [1, 2, 3, 4]), (2, [2, 4]), ([1, 3], [1, 3])])
def test_validation_freq(freq, expected):
    x, y = data(40)
    model = small_model()
    seen = []
    from densefit.callbacks import LambdaCallback
    callback = LambdaCallback(on_epoch_end=lambda e, logs: "val_loss" in logs and seen.append(e + 1))
    history = model.fit(x, y, epochs=4, validation_split=0.25, validation_freq=freq,
                        verbose=0, callbacks=[callback])
    assert seen == expected
    assert len(history.history["val_loss"]) == len(expected)


def test_validation_batch_size_and_refused_arguments():
    x, y = data(40)
    a, b = small_model(), small_model()
    b.set_weights(a.get_weights())
    ha = a.fit(x, y, epochs=2, validation_split=0.25, validation_batch_size=3, verbose=0,
               shuffle=False)
    hb = b.fit(x, y, epochs=2, validation_split=0.25, verbose=0, shuffle=False)
    assert_allclose(ha.history["val_loss"], hb.history["val_loss"], rtol=1e-5)
    for bad in (0, 1.5, [0], "2"):
        with pytest.raises(ValueError, match="validation_freq"):
            a.fit(x, y, validation_data=(x, y), validation_freq=bad, verbose=0)
    with pytest.raises(ValueError, match="validation_batch_size"):
        a.fit(x, y, validation_data=(x, y), validation_batch_size=0, verbose=0)
    for name in ("steps_per_epoch", "validation_steps"):
        for bad in (0, 1.5, "2"):
            with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
                a.fit(x, y, validation_data=(x, y), verbose=0, **{name: bad})


# ------------------------------------------------------------ steps_per_epoch, reset_metrics

def visits_model(n):
    """Dense(1) on one-hot rows with SGD on mse: kernel[i] changes only in the
    batches that hold sample i."""
    model = Sequential([Input((n,)), Dense(1, kernel_initializer="ones")])
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse", metrics=["mae"])
    return model


def fit_visits(n, **fit_args):
    """The samples each epoch visited, and the History."""
    from densefit.callbacks import LambdaCallback
    model = visits_model(n)
    seen, kernel = [], [model.get_weights()[0][:, 0]]

    def visited(epoch, logs):
        now = model.get_weights()[0][:, 0]
        seen.append(np.flatnonzero(now != kernel[0]).tolist())
        kernel[0] = now
    history = model.fit(np.eye(n, dtype="float32"), np.zeros((n, 1), "float32"), batch_size=2,
                        shuffle=False, verbose=0, callbacks=[LambdaCallback(on_epoch_end=visited)],
                        **fit_args)
    return seen, history.history, model


def test_steps_per_epoch_goes_on_through_a_pass_as_keras():
    # Keras 3.15 (TF) on arrays: an epoch takes up to steps_per_epoch batches, the
    # next goes on from there; a pass ended short starts a new one
    with pytest.warns(UserWarning, match="steps_per_epoch=3 but a pass over x has only 2"):
        seen, history, model = fit_visits(10, epochs=3, steps_per_epoch=3)
    assert seen == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9], [0, 1, 2, 3, 4, 5]]
    # the same as fitting the slices one after the other (SGD keeps no state)
    other, x, y = visits_model(10), np.eye(10, dtype="float32"), np.zeros((10, 1), "float32")
    logs = [other.fit(x[rows], y[rows], batch_size=2, shuffle=False, verbose=0).history
            for rows in (slice(0, 6), slice(6, 10), slice(0, 6))]
    for key in ("loss", "mae"):
        assert_allclose(history[key], [log[key][0] for log in logs], rtol=1e-6)
    assert_allclose(model.get_weights()[0], other.get_weights()[0], rtol=1e-6)
    assert model.optimizer.iterations == 8


def test_steps_per_epoch_dividing_a_pass_or_beyond_it():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        seen, _, _ = fit_visits(12, epochs=3, steps_per_epoch=3)
    assert seen == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11], [0, 1, 2, 3, 4, 5]]
    with pytest.warns(UserWarning, match="ran out of data"):
        seen, _, model = fit_visits(6, epochs=2, steps_per_epoch=5)
    assert seen == [list(range(6))] * 2 and model.optimizer.iterations == 6


def test_steps_per_epoch_batch_hooks_count_from_zero_each_epoch():
    from densefit.callbacks import LambdaCallback
    model, batches = visits_model(10), []
    hook = LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    with pytest.warns(UserWarning, match="ran out of data"):
        model.fit(np.eye(10, dtype="float32"), np.zeros((10, 1), "float32"), batch_size=2,
                  epochs=2, steps_per_epoch=3, shuffle=False, verbose=0, callbacks=[hook])
    assert batches == [0, 1, 2, 0, 1]


def test_validation_steps_reads_the_first_batches_every_time():
    n = 10
    x, y = np.eye(n, dtype="float32"), np.zeros((n, 1), "float32")
    y_val = np.arange(n, dtype="float32")[:, None]
    model = visits_model(n)
    for steps, batch, rows in ((2, None, 4), (1, 3, 3), (9, None, 10)):
        for epochs in (1, 2):
            history = model.fit(x, y, batch_size=2, epochs=epochs, verbose=0,
                                validation_data=(x, y_val), validation_steps=steps,
                                validation_batch_size=batch).history
            assert_allclose(history["val_loss"][-1],
                            model.evaluate(x[:rows], y_val[:rows], verbose=0)[0], rtol=1e-6)


def test_on_batch_calls_report_their_batch_alone_and_reset_metrics():
    # Keras 3.15 resets the metrics at the start of every on-batch call (checked
    # by running it; the same sequence is in test_keras_parity.py)
    x, model = np.eye(4, dtype="float32"), visits_model(4)
    zero = [np.zeros((4, 1), "float32"), np.zeros(1, "float32")]
    col = lambda *v: np.array(v, "float32")[:, None]  # noqa: E731
    for call, rows, y, want in ((model.train_on_batch, 1, col(0), {"loss": 0, "mae": 0}),
                                (model.train_on_batch, 2, col(2, 2), {"loss": 4, "mae": 2}),
                                (model.test_on_batch, 1, col(4), {"loss": 16, "mae": 4})):
        model.set_weights(zero)
        assert call(x[:rows], y, return_dict=True) == want
    mae = model.metrics[0]
    mae.update_state(col(3), col(0))
    assert mae.result() == 3
    assert model.reset_metrics() is None
    assert mae.result() == 0
    model.set_weights(zero)
    assert model.train_on_batch(x[:1], col(2)) == [4, 2]


def test_steps_per_epoch_without_batch_size_sizes_batches_to_cover_the_data():
    # Keras 3's array adapter: no batch_size with steps_per_epoch gives batches
    # of ceil(n / steps_per_epoch) rows, so an epoch is one pass (checked by running
    # Keras 3.15: 100 samples, steps_per_epoch=3 trains as batch_size=34)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 4)).astype("float32"), rng.normal(size=(100, 1)).astype("float32")

    def fitted(**kwargs):
        model = Sequential([Input((4,)), Dense(1, kernel_initializer="ones")])
        model.compile(optimizer=SGD(learning_rate=0.01), loss="mse")
        history = model.fit(x, y, epochs=2, shuffle=False, verbose=0, **kwargs).history
        return model, history

    model, history = fitted(steps_per_epoch=3)
    same, same_history = fitted(batch_size=34, steps_per_epoch=3)
    assert model.optimizer.iterations == 6
    assert_allclose(history["loss"], same_history["loss"], rtol=1e-6)
    assert_allclose(model.get_weights()[0], same.get_weights()[0], rtol=1e-6)
    assert fitted()[0].optimizer.iterations == 8  # neither: 32 a batch, 4 a pass


def test_validation_steps_without_batch_sizes_reads_all_the_validation_data():
    # Keras sizes validation_steps batches to cover the validation data when
    # neither batch_size nor validation_batch_size is given
    n = 10
    x, y = np.eye(n, dtype="float32"), np.zeros((n, 1), "float32")
    y_val = np.arange(n, dtype="float32")[:, None]
    model = visits_model(n)
    history = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y_val),
                        validation_steps=2).history
    assert_allclose(history["val_loss"][-1], model.evaluate(x, y_val, verbose=0)[0], rtol=1e-6)
