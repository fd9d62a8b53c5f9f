"""Real Keras programs (tests/programs/) run with ``import densefit as keras``:
each runs on small data and reaches the stated accuracy or loss.  MNIST from
tests/conftest.py's directory (skipped without it, as the other MNIST tests)."""
import warnings

import numpy as np
import pytest

from densefit.missing import MissingFeatureError
from densefit.utils import set_random_seed

from programs import (classification, coffee, custom_callback, digits_lab, imbalanced,
                       lr_schedules, onehot_mnist, overfit, quickstart, regression, save_load,
                       softmax_lab)

needs_mnist = pytest.mark.usefixtures("mnist_dir")


@pytest.fixture(autouse=True)
def _seeded():
    set_random_seed(0)  # each program's numbers the same on every run


@needs_mnist
def test_quickstart():
    r = quickstart.main(epochs=3)
    assert 1.5 < r["first_loss"] < 3.5  # about -log(1/10) before training
    assert r["probs_sum"] == pytest.approx(1, abs=1e-5)
    assert r["accuracy"] > 0.85
    np.testing.assert_allclose(r["p_rows"], 1, atol=1e-5)


@needs_mnist
def test_classification():
    r = classification.main(epochs=3)
    assert r["accuracy"] > 0.85 and r["single"] == r["label1"]


def test_regression():
    r = regression.main(epochs=30)
    assert r["normalized_first"].shape == (1, 9) and r["mean"].shape == (1, 9)
    assert r["hp_mae"] < 4.5 and r["dnn_mae"] < 3.0
    assert r["history_keys"] == ["loss", "val_loss"]
    assert r["y_line"] == (251, 1) and r["test_predictions"] == (80,)


def test_overfit_and_underfit():
    histories = overfit.main(max_epochs=10)
    for history in histories.values():
        assert sorted(history) == ["accuracy", "binary_crossentropy", "loss", "val_accuracy",
                                   "val_binary_crossentropy", "val_loss"]
        assert history["val_accuracy"][-1] > 0.7
    assert histories["l2"]["loss"][-1] > histories["l2"]["binary_crossentropy"][-1]  # penalty
    np.testing.assert_allclose(histories["Tiny"]["loss"], histories["Tiny"]["binary_crossentropy"])


def test_imbalanced_data():
    r = imbalanced.main(epochs=5)
    assert r["biased_loss"] < r["initial_loss"] or r["initial_loss"] < 0.7
    assert r["biased_loss"] < 1.6 * r["expected_biased_loss"]  # near the labels' entropy
    assert "val_prc" in r["zero_bias_keys"] and "Brier score" in r["zero_bias_keys"]
    weighted = r["weighted"]
    assert weighted["tp"] + weighted["fp"] + weighted["tn"] + weighted["fn"] == 1000
    assert weighted["loss"] == pytest.approx(weighted["cross entropy"], rel=1e-6)
    assert r["bias_after_assign"] != 0.0  # assigned 0, then trained


@needs_mnist
def test_save_and_load():
    r = save_load.main(epochs=5)
    assert r["untrained_acc"] < 0.2 and r["restored_acc"] > 0.8
    assert r["saved"] == ["cp-0000.weights.h5", "cp-0005.weights.h5"]
    assert r["latest_acc"] > 0.8 and r["new_acc"] > 0.75 and r["same_predictions"]


def test_coffee_roasting_lab():
    r = coffee.main(epochs=10, tile=200)
    assert r["params"] == (9, 4, 13)
    assert r["shapes"] == ((2, 3), (3,), (3, 1), (1,))
    assert r["yhat"] == [1, 0] and r["accuracy"] > 0.9


def test_softmax_and_multiclass_labs():
    r = softmax_lab.main(epochs=5)
    np.testing.assert_allclose(r["softmax_rows"], 1, atol=1e-5)
    assert r["shapes"] == ((2, 2), (2,), (2, 4), (4,))
    assert r["preferred_accuracy"] > 0.9 and r["accuracy"] > 0.9


def test_digit_recognition_lab():
    r = digits_lab.main(epochs=20)
    assert r["last_loss"] < r["first_loss"] and r["accuracy"] > 0.9
    assert r["p_sum"] == pytest.approx(1, abs=1e-5) and r["yhat"] == r["label"]


@needs_mnist
def test_to_categorical_mnist():
    r = onehot_mnist.main(epochs=2)
    assert r["accuracy"] > 0.8
    assert r["keys"] == ["accuracy", "loss", "val_accuracy", "val_loss"]


def test_learning_rate_schedules():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = lr_schedules.main()
    # the docstring's data diverges (in Keras too: inf from the 9th epoch on, where Keras
    # runs on to 15 epochs and lr 0.00607); densefit stops at the first inf loss
    assert 8 <= r["epochs_run"] < 15 and r["after"] <= 0.01
    assert any("loss became inf" in str(w.message) for w in caught)
    np.testing.assert_allclose(r["decayed"], [0.01, 0.009, 0.0081])
    assert r["custom_loss"][-1] < r["custom_loss"][0]
    assert r["custom_step_lr"] == pytest.approx(0.1 / 13)  # 4 steps an epoch, 3 epochs


@needs_mnist
def test_callback_subclasses():
    r = custom_callback.main()
    seen = dict(r["seen"])
    assert seen["train_begin"] == []
    assert seen["train_batch_end"] == ["loss", "mean_absolute_error"]
    assert seen["epoch_end"] == ["loss", "mean_absolute_error", "val_loss",
                                 "val_mean_absolute_error"]
    assert seen["predict_end"] == [] and r["predictions"] == (1000, 1)
    assert r["epochs_run"] == r["stopped_epoch"] + 1
    assert r["rates"][:4] == [0.1, 0.1, 0.1, 0.05] and r["rates"][-1] == 0.001


def test_convolutional_layers_say_what_to_use_instead():
    """keras.io's simple MNIST convnet stops at Conv2D: the message names Flatten
    + Dense (onehot_mnist.py is that program's dense-only part)."""
    import densefit as keras
    with pytest.raises(MissingFeatureError, match="Flatten"):
        keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu")
