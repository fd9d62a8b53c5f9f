"""Side by side with Keras 3: the same network, the same initial weights, the same data.

Each case builds one network in densefit and in Keras, copies densefit's
initial weights into Keras (both order them kernel ``(in, units)`` then bias
per Dense layer), trains both in float32 with ``shuffle=False`` (so both see
the same batches, the last one partial: 100 samples, batch_size 32) and
compares History's per-epoch losses, the trained weights, ``evaluate`` and
``predict``.  Skipped unless Keras is installed (with any backend; the facts
in ../../shared/KERAS-FACTS.md were read from Keras 3.15.1 on TensorFlow).

Tolerances: both sides run the same formulas in float32 but sum in a
different order (OpenBLAS vs oneDNN/Eigen).  Observed with seed 0: History
and evaluate losses within 5e-6 relative, predict within 6e-6, weights
within 1e-5 of each array's largest value.  Most of the weight difference
is not round-off but Keras' Adam computing ``1 - beta_2**t`` in float32 from
float32(0.999) = 0.99900001287: its step size is about 6e-6 (relative)
smaller than the exact formula densefit evaluates in double; with a
representable beta_2 (1 - 2**-10) the Adam weights agree to 1e-6.  The
bounds leave a margin of about ten, and sit far below what a formula
difference produces (epsilon outside the root, a missing bias correction:
1e-3 relative or more after the first step).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

import densefit  # noqa: E402
from densefit import Sequential  # noqa: E402
from densefit.layers import Input  # noqa: E402
from densefit.utils import set_random_seed  # noqa: E402

N, FEATURES, BATCH, EPOCHS = 100, 8, 32, 3
LOSS_RTOL = 1e-4      # History / evaluate losses
WEIGHT_TOL = 1e-4     # max |difference| / max |value|, per weight array
PREDICT_TOL = 1e-4    # same measure, on predict's outputs


# ------------------------------------------------------------------ data

def _x(seed=0):
    return np.random.default_rng(seed).normal(size=(N, FEATURES)).astype(np.float32)


def _labels(seed=0, classes=10):
    """Integer labels a small network can partly learn: argmax of a random projection."""
    x = _x(seed)
    w = np.random.default_rng(seed + 100).normal(size=(FEATURES, classes))
    return x, np.argmax(x @ w, axis=1).astype(np.int64)


def _binary(seed=0):
    x = _x(seed)
    return x, (x[:, 0] + 0.5 * x[:, 1] - 0.3 * x[:, 2] > 0).astype(np.float32).reshape(-1, 1)


def _one_hot(seed=0):
    x, y = _labels(seed)
    return x, np.eye(10, dtype=np.float32)[y]


def _regression(seed=0):
    x = _x(seed)
    w = np.random.default_rng(seed + 200).normal(size=(FEATURES, 3)) / np.sqrt(FEATURES)
    return x, np.sin(x @ w).astype(np.float32)


def _positive(seed=0):
    """Regression targets above 0 (for the percentage and logarithmic losses)."""
    x, y = _regression(seed)
    return x, np.exp(y).astype(np.float32)


def _soft(seed=0):
    """Targets that are distributions over 10 classes (KL divergence)."""
    x = _x(seed)
    z = x @ np.random.default_rng(seed + 300).normal(size=(FEATURES, 10))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return x, (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _labels_some_ignored(seed=0):
    """Class labels with every fifth one -1, the ignore_class of those cases."""
    x, y = _labels(seed)
    y[::5] = -1
    return x, y


# ------------------------------------------------------------------ the cases

def _images(seed=0):
    """Samples of shape (4, 5) (a Flatten starts the model) with labels of 3 classes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 4, 5)).astype(np.float32)
    w = np.random.default_rng(seed + 100).normal(size=(20, 3))
    return x, np.argmax(x.reshape(N, -1) @ w, axis=1).astype(np.int64)


def _optimizer(module, spec):
    """``spec``: a name (compile's string form) or ``(class name, kwargs)``; a
    ``learning_rate`` of ``(schedule class name, kwargs)`` is that schedule of
    ``module.schedules``."""
    if isinstance(spec, str):
        return spec
    name, kwargs = spec
    lr = kwargs.get("learning_rate")
    if isinstance(lr, tuple):
        kwargs = dict(kwargs, learning_rate=getattr(module.schedules, lr[0])(**lr[1]))
    return getattr(module, name)(**kwargs)


def _sparse_case(optimizer):
    return dict(layers=CLASSIFIER, data=_labels,
                loss=("SparseCategoricalCrossentropy", {"from_logits": True}),
                optimizer=optimizer, metrics=["accuracy"])


# each optimizer and option, trained in lockstep (rates above the defaults where the
# default would barely move the weights in 12 steps)
OPTIMIZER_CASES = {
    "adamw_default": ("AdamW", {}),
    "adamw_strong_decay": ("AdamW", {"learning_rate": 1e-2, "weight_decay": 0.1}),
    "adam_amsgrad": ("Adam", {"learning_rate": 1e-2, "amsgrad": True}),
    "adagrad": ("Adagrad", {"learning_rate": 0.05}),
    "adamax_by_name": "adamax",
    "adamax": ("Adamax", {"learning_rate": 1e-2}),
    "nadam": ("Nadam", {"learning_rate": 1e-2}),
    "nadam_by_name": "nadam",
    "adam_clipnorm": ("Adam", {"learning_rate": 1e-2, "clipnorm": 0.1}),
    "sgd_clipvalue": ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "clipvalue": 0.01}),
    "rmsprop_global_clipnorm": ("RMSprop", {"learning_rate": 1e-2, "global_clipnorm": 0.2}),
    "sgd_weight_decay": ("SGD", {"learning_rate": 0.1, "weight_decay": 0.05}),
}
# each schedule, per step in the compiled loop (12 steps: 3 epochs of 4 batches)
SCHEDULE_CASES = {
    "ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 4, "decay_rate": 0.5},
    "InverseTimeDecay": {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5,
                         "staircase": True},
    "PiecewiseConstantDecay": {"boundaries": [3, 7], "values": [0.1, 0.05, 0.02]},
    "PolynomialDecay": {"initial_learning_rate": 0.1, "decay_steps": 8,
                        "end_learning_rate": 0.01, "power": 2.0},
    "CosineDecay": {"initial_learning_rate": 0.01, "decay_steps": 8, "warmup_target": 0.1,
                    "warmup_steps": 3, "alpha": 0.1},
    "CosineDecayRestarts": {"initial_learning_rate": 0.1, "first_decay_steps": 3,
                            "m_mul": 0.8},
}


def _loss(module, spec):
    name, kwargs = spec
    return getattr(module, name)(**kwargs)


CLASSIFIER = [(25, "relu"), (15, "relu"), (10, "linear")]


def _sample_weights(x, y):
    """fit's extra arguments: a weight per sample, zeros among them."""
    w = np.random.default_rng(7).choice([0.0, 0.3, 1.0, 2.5], len(x)).astype(np.float32)
    return {"sample_weight": w}


def _class_weights(weights):
    return lambda x, y: {"class_weight": weights}


def _weighted_validation(x, y):
    """validation_data as (x_val, y_val, sample_weight_val), trained on the rest."""
    w = _sample_weights(x, y)["sample_weight"]
    return {"validation_data": (x[80:], y[80:], w[80:])}


# sample_weight and class_weight (issue 10): fit's extra arguments from the data
# ("weights"); evaluate gets the same sample_weight; Adam(1e-2) to move far
_WEIGHTED = dict(layers=CLASSIFIER, data=_labels, metrics=["accuracy"],
                 loss=("SparseCategoricalCrossentropy", {"from_logits": True}),
                 optimizer=("Adam", {"learning_rate": 1e-2}))
WEIGHTED_CASES = {
    "sample_weight_sparse_ce": dict(_WEIGHTED, weights=_sample_weights),
    "class_weight_sparse_ce": dict(_WEIGHTED, weights=_class_weights(
        {c: 0.25 + 0.5 * c for c in range(9)})),  # class 9 absent: weight 1
    "class_weight_one_hot": dict(
        _WEIGHTED, layers=CLASSIFIER[:-1] + [(10, "softmax")], data=_one_hot,
        loss=("CategoricalCrossentropy", {}), weights=_class_weights({0: 3.0, 4: 0.0, 7: 0.5})),
    "class_weight_binary": dict(
        _WEIGHTED, layers=[(25, "relu"), (1, "sigmoid")], data=_binary,
        loss=("BinaryCrossentropy", {}), weights=_class_weights({0: 0.5, 1: 4.0})),
    "sample_weight_mse": dict(
        layers=[(25, "tanh"), (3, "linear")], data=_regression, loss=("MeanSquaredError", {}),
        optimizer=("SGD", {"learning_rate": 0.01, "momentum": 0.9}), weights=_sample_weights),
    "sample_weight_validation_split": dict(_WEIGHTED, weights=_sample_weights,
                                           fit={"validation_split": 0.2}),
    "sample_weight_validation_data": dict(_WEIGHTED, weights=_weighted_validation),
}

# regularizers (issue 10): the penalties in the loss History and evaluate report
# and their gradients in the step; Adam(1e-2) and strong factors so they matter
_REGULARIZED = dict(data=_labels, metrics=["accuracy"],
                    loss=("SparseCategoricalCrossentropy", {"from_logits": True}),
                    optimizer=("Adam", {"learning_rate": 1e-2}))
REGULARIZER_CASES = {
    "l2_kernel": dict(_REGULARIZED, layers=[
        (64, "relu", {"kernel_regularizer": ("l2", {"l2": 0.01})}), (10, "linear")]),
    "l1_kernel_sgd": dict(_REGULARIZED, optimizer=("SGD", {"learning_rate": 0.05}), layers=[
        (64, "relu", {"kernel_regularizer": ("L1", {"l1": 0.01})}), (10, "linear")]),
    "l1_l2_kernel_and_bias": dict(_REGULARIZED, layers=[
        (25, "tanh", {"kernel_regularizer": ("L1L2", {"l1": 0.005, "l2": 0.02}),
                      "bias_regularizer": ("l2", {"l2": 0.5})}),
        (10, "linear", {"kernel_regularizer": ("l1", {})})]),
    "activity_after_activation": dict(_REGULARIZED, layers=[
        (25, "relu", {"activity_regularizer": ("l1", {"l1": 0.05})}),
        (15, "tanh", {"activity_regularizer": ("L1L2", {"l1": 0.01, "l2": 0.1})}),
        (10, "linear", {"activity_regularizer": ("l2", {"l2": 0.01})})]),
    "activity_softmax_hidden_mse": dict(
        layers=[(25, "sigmoid", {"activity_regularizer": ("l2", {"l2": 0.1})}), (3, "linear")],
        data=_regression, loss=("MeanSquaredError", {}),
        optimizer=("Adam", {"learning_rate": 1e-2})),
}


CASES = {
    **{f"regularizer_{name}": case for name, case in REGULARIZER_CASES.items()},
    "sparse_ce_logits_adam": dict(
        layers=CLASSIFIER, data=_labels,
        loss=("SparseCategoricalCrossentropy", {"from_logits": True}),
        optimizer=("Adam", {"learning_rate": 1e-3}), metrics=["accuracy"]),
    # from_logits=False on a softmax output: Keras' TensorFlow backend recovers the logits
    # from the softmax, densefit trains through its fused kernel; both never clip
    "sparse_ce_softmax_adam": dict(
        layers=CLASSIFIER[:-1] + [(10, "softmax")], data=_labels,
        loss=("SparseCategoricalCrossentropy", {}),
        optimizer=("Adam", {"learning_rate": 1e-3}), metrics=["accuracy"]),
    # Adam(1e-2): sigmoid layers barely move in 12 steps at the default 1e-3
    "bce_sigmoid_adam": dict(
        layers=[(25, "sigmoid"), (15, "sigmoid"), (1, "sigmoid")], data=_binary,
        loss=("BinaryCrossentropy", {}),
        optimizer=("Adam", {"learning_rate": 1e-2}), metrics=["accuracy"]),
    "bce_logits_adam": dict(  # accuracy deliberately differs: see test_binary_logits_accuracy
        layers=[(25, "relu"), (15, "relu"), (1, "linear")], data=_binary,
        loss=("BinaryCrossentropy", {"from_logits": True}),
        optimizer=("Adam", {"learning_rate": 1e-2}), metrics=["accuracy"],
        compare_accuracy=False),
    "mse_tanh_leaky_nesterov": dict(
        layers=[(25, "tanh"), (15, "leaky_relu"), (3, "linear")], data=_regression,
        loss=("MeanSquaredError", {}),
        optimizer=("SGD", {"learning_rate": 0.01, "momentum": 0.9, "nesterov": True})),
    "sparse_ce_rmsprop_default": dict(
        layers=CLASSIFIER, data=_labels,
        loss=("SparseCategoricalCrossentropy", {"from_logits": True}),
        optimizer=("RMSprop", {}), metrics=["accuracy"]),
    "sparse_ce_rmsprop_by_name": dict(
        layers=CLASSIFIER, data=_labels,
        loss=("SparseCategoricalCrossentropy", {"from_logits": True}),
        optimizer="rmsprop", metrics=["accuracy"]),
    "ce_one_hot_softmax_adam": dict(
        layers=CLASSIFIER[:-1] + [(10, "softmax")], data=_one_hot,
        loss=("CategoricalCrossentropy", {}),
        optimizer=("Adam", {"learning_rate": 1e-3}), metrics=["accuracy"]),
    # the losses of issue 10: each trained through the whole-epoch loop, Adam(1e-2)
    "mae": dict(layers=[(25, "relu"), (3, "linear")], data=_regression,
                loss=("MeanAbsoluteError", {}), optimizer=("Adam", {"learning_rate": 1e-2})),
    "mape": dict(layers=[(25, "relu"), (3, "linear")], data=_positive,
                 loss=("MeanAbsolutePercentageError", {}),
                 optimizer=("Adam", {"learning_rate": 1e-2})),
    "msle": dict(layers=[(25, "relu"), (3, "linear")], data=_positive,
                 loss=("MeanSquaredLogarithmicError", {}),
                 optimizer=("Adam", {"learning_rate": 1e-2})),
    "huber_delta": dict(layers=[(25, "tanh"), (3, "linear")], data=_regression,
                        loss=("Huber", {"delta": 0.5}),
                        optimizer=("Adam", {"learning_rate": 1e-2})),
    "log_cosh": dict(layers=[(25, "relu"), (3, "linear")], data=_regression,
                     loss=("LogCosh", {}), optimizer=("Adam", {"learning_rate": 1e-2})),
    "kld_softmax": dict(layers=[(25, "relu"), (10, "softmax")], data=_soft,
                        loss=("KLDivergence", {}), optimizer=("Adam", {"learning_rate": 1e-2})),
    "poisson_sigmoid": dict(layers=[(25, "relu"), (1, "sigmoid")], data=_binary,
                            loss=("Poisson", {}), optimizer=("Adam", {"learning_rate": 1e-2})),
    "hinge_zero_one": dict(layers=[(25, "relu"), (1, "tanh")], data=_binary,
                           loss=("Hinge", {}), optimizer=("Adam", {"learning_rate": 1e-2})),
    "squared_hinge": dict(layers=[(25, "relu"), (1, "linear")], data=_binary,
                          loss=("SquaredHinge", {}), optimizer=("Adam", {"learning_rate": 1e-2})),
    "categorical_hinge": dict(layers=CLASSIFIER, data=_one_hot, loss=("CategoricalHinge", {}),
                              optimizer=("Adam", {"learning_rate": 1e-2})),
    "bce_label_smoothing": dict(
        layers=[(25, "relu"), (1, "sigmoid")], data=_binary,
        loss=("BinaryCrossentropy", {"label_smoothing": 0.1}),
        optimizer=("Adam", {"learning_rate": 1e-2}), metrics=["accuracy"]),
    "ce_label_smoothing": dict(
        layers=CLASSIFIER[:-1] + [(10, "softmax")], data=_one_hot,
        loss=("CategoricalCrossentropy", {"label_smoothing": 0.2}),
        optimizer=("Adam", {"learning_rate": 1e-2}), metrics=["accuracy"]),
    "sparse_ce_ignore_class": dict(
        layers=CLASSIFIER, data=_labels_some_ignored,
        loss=("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": -1}),
        optimizer=("Adam", {"learning_rate": 1e-2}), metrics=["accuracy"]),
    **{name: _sparse_case(spec) for name, spec in OPTIMIZER_CASES.items()},
    **{f"sgd_{name}": _sparse_case(("SGD", {"learning_rate": (name, kwargs)}))
       for name, kwargs in SCHEDULE_CASES.items()},
    "adam_cosine_decay": _sparse_case(("Adam", {"learning_rate": ("CosineDecay", {
        "initial_learning_rate": 1e-2, "decay_steps": 12})})),
    # image-shaped input: Input((4, 5)), Flatten(), then the Dense layers
    "flatten_image_input": dict(
        layers=[(8, "relu"), (3, "linear")], data=_images,
        loss=("SparseCategoricalCrossentropy", {"from_logits": True}),
        optimizer=("Adam", {"learning_rate": 1e-2}), metrics=["accuracy"],
        fit={"validation_split": 0.2}),
    "validation_split": dict(
        layers=CLASSIFIER, data=_labels,
        loss=("SparseCategoricalCrossentropy", {"from_logits": True}),
        optimizer=("Adam", {"learning_rate": 1e-3}), metrics=["accuracy"],
        fit={"validation_split": 0.2}),
    **WEIGHTED_CASES,
}

# BatchNormalization (issue 10): batch statistics in fit, moving ones in evaluate and
# predict; the moving statistics are among the weights compared
_BN = (None, ("BatchNormalization", {}))
_BN_CASE = dict(data=_labels, loss=("SparseCategoricalCrossentropy", {"from_logits": True}),
                optimizer=("Adam", {"learning_rate": 1e-2}), metrics=["accuracy"])
CASES.update({
    # the activation folds into BN.  The bias of the linear Dense before BN has a zero
    # gradient in exact arithmetic (BN subtracts the batch mean): it moves by round-off
    # only, which Adam would scale up to steps of its learning rate, so SGD here, and
    # that bias (weights[1]) is measured against its kernel's scale ("cancelled")
    "batch_norm_then_activation": dict(
        _BN_CASE, layers=[(25, "linear"), _BN, (None, ("Activation", {"activation": "relu"})),
                          (10, "linear")],
        optimizer=("SGD", {"learning_rate": 0.1, "momentum": 0.9}), cancelled=[1]),
    "batch_norm_after_relu_options": dict(
        _BN_CASE, layers=[(25, "relu"), (None, ("BatchNormalization", {
            "momentum": 0.9, "epsilon": 1e-2})), (15, "relu"), _BN, (10, "linear")]),
    "batch_norm_frozen": dict(
        _BN_CASE, layers=[(25, "relu"), (None, ("BatchNormalization", {
            "trainable": False, "moving_mean_initializer": "random_normal"})), (10, "linear")]),
    "batch_norm_no_center_no_scale_sgd": dict(
        _BN_CASE, layers=[(25, "tanh"), (None, ("BatchNormalization", {
            "center": False, "scale": False, "momentum": 0.5})), (10, "linear")],
        optimizer=("SGD", {"learning_rate": 0.1, "momentum": 0.9})),
    "batch_norm_on_the_input_mse": dict(
        layers=[_BN, (25, "relu"), (3, "linear")], data=_regression,
        loss=("MeanSquaredError", {}), optimizer=("Adam", {"learning_rate": 1e-2}),
        fit={"validation_split": 0.2}),
})

# Each activation of issue 10 in two hidden layers of a regression network (its
# derivative reaches both kernels), by its Keras string; "gelu_approximate" is
# densefit's name for Keras' gelu(approximate=True), and ("ELU", kwargs) a Dense
# followed by that activation layer.
NEW_ACTIVATIONS = ["elu", "selu", "gelu", "gelu_approximate", "silu", "swish", "softplus",
                   "softsign", "hard_sigmoid", "hard_silu", "hard_swish", "relu6", "exponential",
                   "mish", ("ELU", {"alpha": 0.5})]
for _act in NEW_ACTIVATIONS:
    _name = _act if isinstance(_act, str) else f"{_act[0]}_{_act[1]['alpha']}"
    CASES[f"mse_{_name}_adam"] = dict(
        layers=[(25, _act), (15, _act), (3, "linear")], data=_regression,
        loss=("MeanSquaredError", {}), optimizer=("Adam", {"learning_rate": 1e-2}))

# Layers (issue 10): a layer other than Dense is ``(None, (class name, kwargs))``;
# ``frozen`` lists model.layers indices set ``trainable = False`` before compile
# (both sides: Keras then honours it; densefit would even after compile).
_FROZEN = dict(layers=CLASSIFIER, data=_labels, metrics=["accuracy"],
               loss=("SparseCategoricalCrossentropy", {"from_logits": True}),
               optimizer=("Adam", {"learning_rate": 1e-2}))
LAYER_CASES = {
    "frozen_first_dense": dict(_FROZEN, frozen=[0]),
    "frozen_middle_dense_sgd": dict(_FROZEN, frozen=[1],
                                    optimizer=("SGD", {"learning_rate": 0.1, "momentum": 0.9})),
    "dropout_rate_zero": dict(_FROZEN, layers=[(25, "relu"), (None, ("Dropout", {"rate": 0.0})),
                                               (15, "relu"), (10, "linear")]),
    "dropout_zero_frozen_first": dict(_FROZEN, frozen=[0], layers=[
        (25, "relu"), (None, ("Dropout", {"rate": 0.0})), (10, "linear")]),
}
CASES.update(LAYER_CASES)


# PReLU after a Dense (``(units, (class name, kwargs))``: Dense(units), then the layer)
CASES["mse_prelu_adam"] = dict(layers=[(25, ("PReLU", {})), (15, ("PReLU", {})), (3, "linear")],
                               data=_regression, loss=("MeanSquaredError", {}),
                               optimizer=("Adam", {"learning_rate": 1e-2}))
CASES["sparse_ce_prelu_alpha_sgd"] = dict(
    layers=[(25, ("PReLU", {"alpha_initializer": "ones"})), (10, "linear")], data=_labels,
    loss=("SparseCategoricalCrossentropy", {"from_logits": True}),
    optimizer=("SGD", {"learning_rate": 0.1, "momentum": 0.9}), metrics=["accuracy"])


def _layers(module, units, act, regularizers=None):
    """``Dense(units, act)`` in ``module`` (densefit or keras), or a linear Dense and
    the activation layer ``act = (class name, kwargs)``; with ``units`` None, the
    layer ``act`` alone (``(None, ("BatchNormalization", {}))``); ``regularizers``:
    the Dense's regularizer arguments as ``{argument: (class name, kwargs)}``."""
    if units is None:
        return [getattr(module.layers, act[0])(**act[1])]
    given = {argument: getattr(module.regularizers, name)(**kwargs)
             for argument, (name, kwargs) in (regularizers or {}).items()}
    dense = lambda units, **kw: module.layers.Dense(units, **given, **kw)  # noqa: E731
    if isinstance(act, tuple):
        return [dense(units), getattr(module.layers, act[0])(**act[1])]
    if module is keras and act == "gelu_approximate":
        return [dense(units, activation=lambda x: keras.activations.gelu(x, approximate=True))]
    return [dense(units, activation=act)]


def _rel(a, b):
    """max |a - b| / max |b| (absolute when b is all zeros)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def run_case(case, seed=0):
    """Train ``case`` in both libraries; return both sides' results."""
    set_random_seed(seed)
    keras.utils.set_random_seed(seed)
    x, y = case["data"](seed)
    shape = x.shape[1:]  # image-shaped samples start with a Flatten
    df = Sequential([Input(shape=shape)] + ([densefit.layers.Flatten()] if len(shape) > 1 else [])
                    + [layer for spec in case["layers"] for layer in _layers(densefit, *spec)])
    km = keras.Sequential([keras.Input(shape=shape)]
                          + ([keras.layers.Flatten()] if len(shape) > 1 else [])
                          + [layer for spec in case["layers"] for layer in _layers(keras, *spec)])
    initial = df.get_weights()
    assert [w.shape for w in initial] == [tuple(w.shape) for w in km.get_weights()]
    km.set_weights(initial)
    for i in case.get("frozen", ()):
        df.layers[i].trainable = km.layers[i].trainable = False

    metrics = case.get("metrics")
    df.compile(optimizer=_optimizer(densefit.optimizers, case["optimizer"]),
               loss=_loss(densefit.losses, case["loss"]), metrics=metrics)
    km.compile(optimizer=_optimizer(keras.optimizers, case["optimizer"]),
               loss=_loss(keras.losses, case["loss"]), metrics=metrics)
    weights = case.get("weights", lambda x, y: {})(x, y)
    fit = dict(batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0, **case.get("fit", {}),
               **weights)
    x_fit, y_fit = (x[:80], y[:80]) if "validation_data" in weights else (x, y)
    out = {"x": x, "y": y, "initial": initial}
    for side, model in (("densefit", df), ("keras", km)):
        history = model.fit(x_fit, y_fit, **fit).history
        evaluated = model.evaluate(x, y, batch_size=BATCH, verbose=0,
                                   sample_weight=weights.get("sample_weight"))
        out[side] = {"history": {k: np.asarray(v, np.float64) for k, v in history.items()},
                     "weights": [np.asarray(w) for w in model.get_weights()],
                     "evaluate": np.atleast_1d(np.asarray(evaluated, np.float64)),
                     "predict": np.asarray(model.predict(x, batch_size=BATCH, verbose=0)),
                     # the next step's rate (a schedule's value after training)
                     "learning_rate": float(np.asarray(model.optimizer.learning_rate))}
    return out


def differences(out, case):
    """The relative differences the test bounds, by name (for the assertions and reports)."""
    d, k = out["densefit"], out["keras"]
    diffs = {"loss": _rel(d["history"]["loss"], k["history"]["loss"]),
             "evaluate_loss": _rel(d["evaluate"][0], k["evaluate"][0]),
             "weights": max(_rel(a, b) for a, b in zip(d["weights"], k["weights"])),
             "predict": _rel(d["predict"], k["predict"])}
    if "val_loss" in k["history"]:
        diffs["val_loss"] = _rel(d["history"]["val_loss"], k["history"]["val_loss"])
    return diffs


# ------------------------------------------------------------------ tests

@pytest.fixture(scope="module")
def results():
    """Each case trained once per module, in both libraries."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = run_case(CASES[name])
        return cache[name]
    return get


@pytest.mark.parametrize("name", list(CASES))
def test_training_matches_keras(results, name):
    case = CASES[name]
    out = results(name)
    d, k = out["densefit"], out["keras"]
    assert d["history"]["loss"].shape == k["history"]["loss"].shape == (EPOCHS,)
    np.testing.assert_allclose(d["history"]["loss"], k["history"]["loss"], rtol=LOSS_RTOL)
    for i, (a, b) in enumerate(zip(d["weights"], k["weights"])):
        assert a.dtype == np.float32 and a.shape == b.shape
        if i in case.get("cancelled", ()):  # round-off only: against its kernel's scale
            assert np.max(np.abs(a - b)) < WEIGHT_TOL * np.max(np.abs(k["weights"][i - 1]))
            continue
        assert _rel(a, b) < WEIGHT_TOL, f"weights[{i}]: {_rel(a, b):.2e}"
    np.testing.assert_allclose(d["evaluate"][0], k["evaluate"][0], rtol=LOSS_RTOL)
    assert d["predict"].shape == k["predict"].shape
    assert _rel(d["predict"], k["predict"]) < PREDICT_TOL
    assert d["learning_rate"] == pytest.approx(k["learning_rate"], rel=1e-6)
    if case.get("metrics") and case.get("compare_accuracy", True):
        assert len(d["evaluate"]) == len(k["evaluate"]) == 2
        # accuracies count samples: equal unless round-off moves one across the boundary
        np.testing.assert_allclose(d["evaluate"][1], k["evaluate"][1], atol=1e-6)
        np.testing.assert_allclose(d["history"]["accuracy"], k["history"]["accuracy"],
                                   atol=1e-6)
    assert set(d["history"]) == set(k["history"])
    if "val_loss" in k["history"]:
        np.testing.assert_allclose(d["history"]["val_loss"], k["history"]["val_loss"],
                                   rtol=LOSS_RTOL)
    if "val_accuracy" in k["history"]:
        np.testing.assert_allclose(d["history"]["val_accuracy"], k["history"]["val_accuracy"],
                                   atol=1e-6)


@pytest.mark.parametrize("name", list(CASES))
def test_weights_actually_trained(results, name):
    """Guard against a vacuous comparison: training moved every kernel far beyond the
    tolerance (the biases start at zero, so any value they reach is a move)."""
    out = results(name)
    pairs = [(i, trained, start) for i, (trained, start) in
             enumerate(zip(out["densefit"]["weights"], out["initial"])) if trained.ndim == 2]
    frozen = set(CASES[name].get("frozen", ()))  # model.layers[k] is the k-th Dense here
    for k, (i, _, _) in enumerate(pairs):
        if k in frozen:
            for side in ("densefit", "keras"):
                np.testing.assert_array_equal(out[side]["weights"][i], out["initial"][i])
                np.testing.assert_array_equal(out[side]["weights"][i + 1], out["initial"][i + 1])
    assert min(_rel(trained, start) for k, (_, trained, start) in enumerate(pairs)
               if k not in frozen) > 100 * WEIGHT_TOL


def test_validation_split_takes_the_last_fraction(results):
    """val_loss after the last epoch is the loss on the last 20 samples, in both."""
    out = results("validation_split")
    y = out["y"][80:]
    logits = out["keras"]["predict"][80:]  # the weights after the last epoch, as val_loss
    assert len(y) == 20
    shifted = logits - logits.max(axis=1, keepdims=True)
    nll = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(y)), y]
    np.testing.assert_allclose(out["keras"]["history"]["val_loss"][-1], nll.mean(), rtol=1e-4)
    np.testing.assert_allclose(out["densefit"]["history"]["val_loss"][-1], nll.mean(), rtol=1e-4)


def test_binary_logits_accuracy(results):
    """BinaryCrossentropy(from_logits=True) with metrics=["accuracy"]: the losses agree,
    but densefit thresholds the logits at 0 while Keras compares them with 0.5
    (tensorflow/tensorflow#41413, documented in densefit/metrics.py)."""
    out = results("bce_logits_adam")
    y = out["y"][:, 0]
    logits = out["keras"]["predict"][:, 0]
    densefit_loss, densefit_acc = out["densefit"]["evaluate"]
    keras_loss, keras_acc = out["keras"]["evaluate"]
    np.testing.assert_allclose(densefit_loss, keras_loss, rtol=LOSS_RTOL)
    assert densefit_acc == pytest.approx(np.mean((logits > 0) == y), abs=1e-6)
    assert keras_acc == pytest.approx(np.mean((logits > 0.5) == y), abs=1e-6)
    # the data set has logits in (0, 0.5], so the two really differ here
    assert np.any((logits > 0) & (logits <= 0.5))
    assert densefit_acc != pytest.approx(keras_acc, abs=1e-6)


STANDALONE = [("MeanAbsoluteError", {}, _regression), ("MeanAbsolutePercentageError", {}, _positive),
              ("MeanSquaredLogarithmicError", {}, _positive), ("Huber", {}, _regression),
              ("Huber", {"delta": 0.3}, _regression), ("LogCosh", {}, _regression),
              ("KLDivergence", {}, _soft), ("Poisson", {}, _positive),
              ("Hinge", {}, _binary), ("SquaredHinge", {}, _binary),
              ("CategoricalHinge", {}, _one_hot),
              ("BinaryCrossentropy", {"label_smoothing": 0.3}, _binary),
              ("CategoricalCrossentropy", {"label_smoothing": 0.3}, _soft),
              ("SparseCategoricalCrossentropy", {"ignore_class": -1}, _labels_some_ignored)]


@pytest.mark.parametrize("name, kwargs, data", STANDALONE,
                         ids=[f"{n}{k or ''}" for n, k, _ in STANDALONE])
def test_standalone_loss_values(name, kwargs, data):
    """``densefit.losses.X(**kwargs)(y, p)`` equals ``keras.losses.X(**kwargs)(y, p)``, and
    the string names reach the same class."""
    x, y = data(1)
    rng = np.random.default_rng(5)
    cols = 10 if name.startswith(("Sparse", "Categorical", "KL")) else y.reshape(len(y), -1).shape[1]
    p = rng.uniform(0.05, 0.95, (len(x), cols)).astype(np.float32)
    if name.startswith("Categorical") and "Hinge" not in name or name == "KLDivergence":
        p /= p.sum(axis=1, keepdims=True)
    if name in ("MeanAbsoluteError", "Huber", "LogCosh", "Hinge", "SquaredHinge",
                "CategoricalHinge"):
        p = (p - 0.5) * 4  # both signs, errors beyond delta
    ours = getattr(densefit.losses, name)(**kwargs)(y, p)
    theirs = float(getattr(keras.losses, name)(**kwargs)(y, p))
    assert float(ours) == pytest.approx(theirs, rel=2e-6, abs=1e-7)
    assert ours.dtype == np.float32
    assert densefit.losses.get(getattr(densefit.losses, name)().name if name != "Huber"
                               else "huber").__class__.__name__ == name
    w = np.random.default_rng(6).choice([0.0, 0.4, 1.0, 3.0], len(x)).astype(np.float32)
    ours = getattr(densefit.losses, name)(**kwargs)(y, p, sample_weight=w)
    theirs = float(getattr(keras.losses, name)(**kwargs)(y, p, sample_weight=w))
    assert float(ours) == pytest.approx(theirs, rel=2e-6, abs=1e-7), "with sample_weight"

@pytest.mark.parametrize("name", list(SCHEDULE_CASES))
def test_schedule_values_match_keras(name):
    """Each schedule's learning rate at steps 0..40 is Keras' ``schedule(step)``
    (Keras evaluates it in float32: 1e-6 relative)."""
    kwargs = SCHEDULE_CASES[name]
    mine = getattr(densefit.optimizers.schedules, name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    for step in range(41):
        assert mine(step) == pytest.approx(float(theirs(step)), rel=1e-6, abs=1e-9), step
    again = type(mine).from_config(mine.get_config())
    assert again.get_config() == mine.get_config()


def test_learning_rate_set_between_epochs_matches_keras():
    """A callback that sets ``model.optimizer.learning_rate`` at each epoch's start:
    the next compiled call uses it, as Keras' next step does."""
    rates = [0.1, 0.01, 0.05]

    def setter(module):
        class SetRate(module.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.model.optimizer.learning_rate = rates[epoch]
        return SetRate()

    out = {}
    for side, module in (("densefit", densefit), ("keras", keras)):
        set_random_seed(0)
        keras.utils.set_random_seed(0)
        x, y = _labels(0)
        model = module.Sequential([module.layers.Input(shape=(FEATURES,))]
                                  + [module.layers.Dense(u, activation=a) for u, a in CLASSIFIER])
        out[side] = model
    out["keras"].set_weights(out["densefit"].get_weights())
    for side, module in (("densefit", densefit), ("keras", keras)):
        out[side].compile(optimizer=module.optimizers.SGD(0.5, momentum=0.9),
                          loss=module.losses.SparseCategoricalCrossentropy(from_logits=True))
        out[side].fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                      callbacks=[setter(module)])
    for a, b in zip(out["densefit"].get_weights(), out["keras"].get_weights()):
        assert _rel(a, b) < WEIGHT_TOL
    assert float(out["densefit"].optimizer.learning_rate) == pytest.approx(rates[-1])


# ------------------------------------------------------------------ Normalization

def _unscaled(seed=0):
    """Features far from mean 0, variance 1 (what Normalization is for), and a
    constant one (variance 0: the 1e-7 floor on the deviation)."""
    x, y = _regression(seed)
    x = x * np.linspace(0.1, 50, FEATURES, dtype=np.float32) + np.arange(FEATURES) * 10
    x[:, 3] = 4.0
    return x.astype(np.float32), y


def test_normalization_adapt_matches_keras():
    x, _ = _unscaled()
    mine, theirs = densefit.layers.Normalization(), keras.layers.Normalization()
    mine.adapt(x)
    theirs.adapt(x)
    np.testing.assert_allclose(mine.mean, np.asarray(theirs.mean), rtol=1e-6)
    np.testing.assert_allclose(mine.variance, np.asarray(theirs.variance), rtol=1e-5, atol=1e-6)
    model = Sequential([mine])
    assert [w.shape for w in model.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert model.get_weights()[2] == theirs.get_weights()[2] == 0  # count
    for invert in (False, True):
        km = keras.layers.Normalization(invert=invert)
        km.adapt(x)
        df = Sequential([Input((FEATURES,)), densefit.layers.Normalization(invert=invert)])
        df.set_weights(km.get_weights())
        assert _rel(df.predict(x, verbose=0), km(x)) < 1e-6


@pytest.mark.parametrize("invert", [False, True])
def test_normalization_model_trains_in_lockstep_with_keras(invert):
    """Keras' weights (mean, variance, count, kernels, biases) copied into
    densefit, then both trained on the same batches: the same weights."""
    set_random_seed(0)
    keras.utils.set_random_seed(0)
    x, y = _unscaled()
    models = {}
    for side, module in (("densefit", densefit), ("keras", keras)):
        norm = module.layers.Normalization(invert=invert)
        norm.adapt(x if not invert else x / 100)
        models[side] = module.Sequential([module.layers.Input((FEATURES,)), norm,
                                          module.layers.Dense(16, activation="relu"),
                                          module.layers.Dense(3)])
        models[side].compile(optimizer=module.optimizers.Adam(1e-2), loss="mse")
    df, km = models["densefit"], models["keras"]
    df.set_weights(km.get_weights())
    histories = [m.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0).history
                 for m in (df, km)]
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=LOSS_RTOL)
    for i, (a, b) in enumerate(zip(df.get_weights(), km.get_weights())):
        assert _rel(a, b) < WEIGHT_TOL, f"weights[{i}]: {_rel(a, b):.2e}"
    assert _rel(df.get_weights()[3], km.get_weights()[3]) < WEIGHT_TOL
    assert _rel(df.predict(x, verbose=0), km.predict(x, verbose=0)) < PREDICT_TOL
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_is_identity_in_predict_and_evaluate(rate):
    """Dropout(rate) models with the same weights: predict, evaluate and
    ``model(x)`` / ``model(x, training=False)`` agree with Keras (no dropout);
    ``model(x, training=True)`` drops about ``rate`` of a Dropout output's values
    and scales the kept ones by 1 / (1 - rate) in both."""
    set_random_seed(0)
    x, y = _labels(0)
    models = []
    for module in (densefit, keras):
        layers = module.layers
        models.append(module.Sequential([layers.Input(shape=(FEATURES,)),
                                         layers.Dense(25, activation="relu"),
                                         layers.Dropout(rate, seed=3), layers.Dense(10)]))
    df, km = models
    km.set_weights(df.get_weights())
    for model, module in ((df, densefit), (km, keras)):
        model.compile("adam", module.losses.SparseCategoricalCrossentropy(from_logits=True))
    np.testing.assert_allclose(df.predict(x, verbose=0), km.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(df(x, training=False), np.asarray(km(x, training=False)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(df(x), np.asarray(km(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(df.evaluate(x, y, verbose=0), km.evaluate(x, y, verbose=0),
                               rtol=LOSS_RTOL)
    ones = np.ones((400, 50), np.float32)
    for module in (densefit, keras):
        only = module.Sequential([module.layers.Input(shape=(50,)),
                                  module.layers.Dropout(rate, seed=4)])
        out = np.asarray(only(ones, training=True))
        assert set(np.unique(out)) == {0.0, np.float32(1 / (1 - rate))}
        assert abs((out == 0).mean() - rate) < 0.02
# ------------------------------------------------------------------ keras.utils helpers

@pytest.mark.parametrize("labels, classes", [([0, 2, 1], None), ([[1], [0]], 3),
                                             (np.array([[0, 1], [2, 3]]), None)])
def test_to_categorical_matches_keras(labels, classes):
    ours = densefit.utils.to_categorical(labels, classes)
    theirs = keras.utils.to_categorical(labels, classes)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("axis, order", [(-1, 2), (0, 2), (-1, 1)])
def test_normalize_matches_keras(axis, order):
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])
    np.testing.assert_allclose(densefit.utils.normalize(x, axis, order),
                               keras.utils.normalize(x, axis, order), rtol=1e-12)


@pytest.mark.parametrize("left, right", [(0.8, None), (None, 3), (7, 2), (0.5, 0.25)])
def test_split_dataset_sizes_match_keras(left, right):
    x = np.arange(10, dtype=np.float32)
    ours = densefit.utils.split_dataset(x, left_size=left, right_size=right)
    theirs = keras.utils.split_dataset(x, left_size=left, right_size=right)
    for part, keras_part in zip(ours, theirs):
        np.testing.assert_array_equal(part, np.array(list(keras_part.as_numpy_iterator())))


# ------------------------------------------------------------------ Normalization(axis=None)

def test_normalization_axis_none_matches_keras():
    """One mean and variance over all values (TensorFlow's regression tutorial's
    ``Normalization(input_shape=[1,], axis=None)``): the same statistics and outputs
    (on 2-d input: Keras 3.15 fails on the 1-d input densefit also takes)."""
    rng = np.random.default_rng(0)
    feature = rng.uniform(50, 200, 300).astype(np.float32)
    ours = densefit.layers.Normalization(axis=None)
    ours.adapt(feature)
    theirs = keras.layers.Normalization(axis=None)
    theirs.adapt(feature)
    np.testing.assert_allclose(ours.mean, np.ravel(theirs.mean)[0], rtol=1e-6)
    np.testing.assert_allclose(ours.variance, np.ravel(theirs.variance)[0], rtol=1e-6)
    x = np.stack([feature, feature[::-1]], axis=1)
    model = densefit.Sequential([densefit.Input((2,)), ours])
    np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(theirs(x)), rtol=1e-5,
                               atol=1e-6)
# ------------------------------------------------------------------ the model's API (issue 11)

def _twins(metrics=("accuracy",), output="linear"):
    """The same small network in densefit and Keras, Keras holding densefit's weights."""
    made = []
    for module in (densefit, keras):
        model = module.Sequential([module.layers.Input(shape=(FEATURES,)),
                                   module.layers.Dense(16, activation="relu"),
                                   module.layers.Dense(10, activation=output)])
        model.compile(module.optimizers.Adam(0.01),
                      module.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=list(metrics))
        made.append(model)
    made[1].set_weights(made[0].get_weights())
    return made


def test_train_on_batch_sequence_matches_keras():
    x, y = _labels()
    df, km = _twins()
    for step in range(4):
        batch = slice(step * 25, (step + 1) * 25)
        ours = df.train_on_batch(x[batch], y[batch])
        theirs = km.train_on_batch(x[batch], y[batch])
        np.testing.assert_allclose(ours, theirs, rtol=LOSS_RTOL)
    for a, b in zip(df.get_weights(), km.get_weights()):
        assert np.abs(a - b).max() <= WEIGHT_TOL * np.abs(b).max()
    ours = df.train_on_batch(x, y, return_dict=True)
    theirs = km.train_on_batch(x, y, return_dict=True)
    assert set(ours) == set(theirs)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=LOSS_RTOL)
    np.testing.assert_allclose(df.test_on_batch(x, y), km.test_on_batch(x, y), rtol=LOSS_RTOL)
    np.testing.assert_allclose(df.predict_on_batch(x), np.asarray(km.predict_on_batch(x)),
                               rtol=PREDICT_TOL, atol=1e-5)


def test_bias_assign_then_fit_matches_keras():
    """TensorFlow's imbalanced-data tutorial: output bias set to log(pos/neg)."""
    x, y = _binary()
    made = []
    for module in (densefit, keras):
        model = module.Sequential([module.layers.Input(shape=(FEATURES,)),
                                   module.layers.Dense(8, activation="relu"),
                                   module.layers.Dense(1, activation="sigmoid")])
        model.compile(module.optimizers.Adam(0.01), "binary_crossentropy")
        made.append(model)
    df, km = made
    km.set_weights(df.get_weights())
    pos, half = float(y.sum()), df.layers[0].kernel.numpy() * 0.5
    for model in made:
        model.layers[-1].bias.assign([np.log(pos / (len(y) - pos))])
        model.layers[0].kernel.assign(half)
    assert df.layers[-1].bias.path.endswith(km.layers[-1].bias.path.split("/", 1)[1])
    np.testing.assert_allclose(df.layers[-1].bias.numpy(), km.layers[-1].bias.numpy())
    h_df = df.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    h_km = km.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    np.testing.assert_allclose(h_df.history["loss"], h_km.history["loss"], rtol=LOSS_RTOL)


@pytest.mark.parametrize("freq", [2, [1, 3]])
def test_validation_freq_matches_keras(freq):
    x, y = _labels()
    df, km = _twins()
    args = dict(batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                validation_split=0.2, validation_freq=freq, validation_batch_size=7)
    h_df, h_km = df.fit(x, y, **args), km.fit(x, y, **args)
    assert sorted(h_df.history) == sorted(h_km.history)
    np.testing.assert_allclose(h_df.history["val_loss"], h_km.history["val_loss"],
                               rtol=LOSS_RTOL)


def test_get_layer_matches_keras():
    df, km = _twins()
    for model in (df, km):
        assert model.get_layer(index=-1) is model.layers[-1]
        assert model.get_layer(model.layers[0].name) is model.layers[0]
        with pytest.raises(ValueError, match="No such layer"):
            model.get_layer("nope")
# ------------------------------------------------------------------ callbacks (issue 11)

MONITORED = [1.0, 1.0, 0.99995, 0.5, 0.5, 0.5, 0.7, 0.4, 0.4, 0.4, 0.4, 0.4]


def _fit_line(module, callbacks, epochs, lr=0.1):
    """One Dense(1) from zero weights, full-batch SGD on x = 1, y = 1: the same
    trajectory in both (loss (1 - 4 lr)^(2k) for a constant lr)."""
    model = module.Sequential([module.layers.Input(shape=(1,)),
                               module.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=module.optimizers.SGD(learning_rate=lr), loss="mse")
    return model.fit(np.ones((4, 1), np.float32), np.ones((4, 1), np.float32), batch_size=4,
                     epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)


def _feed(module, values):
    """A callback putting ``values[epoch]`` into the logs as ``val_loss``."""
    class Feed(module.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = values[epoch]
    return Feed()


@pytest.mark.parametrize("args", [dict(factor=0.5, patience=1), dict(patience=0, cooldown=2),
                                  dict(factor=0.2, patience=1, min_lr=0.005, min_delta=0.1),
                                  dict(patience=2, mode="max")])
def test_reduce_lr_on_plateau_sequence_matches_keras(args):
    lrs = [_fit_line(module, [_feed(module, MONITORED),
                              module.callbacks.ReduceLROnPlateau(**args)],
                     len(MONITORED)).history["learning_rate"] for module in (densefit, keras)]
    np.testing.assert_allclose(lrs[0], lrs[1], rtol=1e-6)  # Keras' rate is a float32


def test_learning_rate_scheduler_matches_keras_in_lockstep():
    def schedule(epoch, lr):
        return float(lr * 0.5) if epoch % 2 else float(lr)
    ours, theirs = (_fit_line(module, [module.callbacks.LearningRateScheduler(schedule)], 6)
                    for module in (densefit, keras))
    np.testing.assert_allclose(ours.history["learning_rate"], theirs.history["learning_rate"],
                               rtol=1e-6)
    np.testing.assert_allclose(ours.history["loss"], theirs.history["loss"], rtol=1e-5)
    assert sorted(ours.history) == sorted(theirs.history)


def test_model_checkpoint_best_only_saves_the_same_epochs_as_keras(tmp_path):
    names = []
    for module in (densefit, keras):
        folder = tmp_path / module.__name__
        folder.mkdir()
        _fit_line(module, [_feed(module, MONITORED), module.callbacks.ModelCheckpoint(
            str(folder / "ckpt-{epoch:02d}-{val_loss:.2f}.keras"), save_best_only=True)],
            len(MONITORED))
        names.append(sorted(p.name for p in folder.iterdir()))
    assert names[0] == names[1]


def test_csv_logger_columns_match_keras(tmp_path):
    texts = []
    for module in (densefit, keras):
        path = tmp_path / f"{module.__name__}.csv"
        _fit_line(module, [_feed(module, MONITORED),
                           module.callbacks.ReduceLROnPlateau(patience=1),
                           module.callbacks.CSVLogger(str(path), separator=";")], 3)
        texts.append(path.read_text().splitlines())
    assert texts[0][0] == texts[1][0]
    assert [row.split(";")[0] for row in texts[0]] == [row.split(";")[0] for row in texts[1]]
# ------------------------------------------------------------------ plots (densefit.plot)

def test_plot_model_takes_keras_arguments_and_defaults():
    import inspect
    ours = inspect.signature(densefit.utils.plot_model).parameters
    theirs = inspect.signature(keras.utils.plot_model).parameters
    assert list(ours) == list(theirs)
    assert {k: p.default for k, p in ours.items()} == {k: p.default for k, p in theirs.items()}


def test_plot_history_draws_a_keras_history():
    pytest.importorskip("matplotlib")
    x, y = _labels()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input(shape=(FEATURES,)),
                              keras.layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=EPOCHS, validation_split=0.2, verbose=0)
    fig = densefit.plot.history(history)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    for ax in fig.axes:
        lines = {line.get_label(): line for line in ax.get_lines()}
        name = ax.get_title()
        np.testing.assert_array_equal(lines["training"].get_xdata(), [1, 2, 3])
        np.testing.assert_allclose(lines["training"].get_ydata(), history.history[name])
        np.testing.assert_allclose(lines["validation"].get_ydata(),
                                   history.history["val_" + name])
# ------------------------------------------------------------------ .keras and .weights.h5 files

def _file_models(module, optimizer):
    """The same stack in densefit or Keras: every layer kind both have."""
    L = module.layers
    rng = np.random.default_rng(3)
    x = rng.random((96, 5)).astype(np.float32)
    y = rng.random((96, 2)).astype(np.float32)
    norm = L.Normalization()
    norm.adapt(x)
    model = module.Sequential([
        L.Input(shape=(5,)), norm, L.Dense(8, activation="relu"), L.BatchNormalization(),
        L.PReLU(), L.Dense(6), L.LeakyReLU(), L.ELU(), L.ReLU(), L.Activation("tanh"),
        L.Dense(4), L.Dropout(0.25), L.Dense(2), L.Softmax()])
    model.compile(optimizer=optimizer, loss="mse")
    return model, x, y


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop", "adamw"])
def test_densefit_keras_file_opens_in_keras_and_trains_in_lockstep(tmp_path, optimizer):
    set_random_seed(0)
    df, x, y = _file_models(densefit, optimizer)
    df.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    df.save(tmp_path / "m.keras")
    km = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(km.predict(x, verbose=0), df.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert int(km.optimizer.iterations) == df.optimizer.iterations
    for a, b in zip(km.get_weights(), df.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_lockstep_after_a_densefit_keras_file(tmp_path):
    """Optimizer state carried over: one more epoch in each gives the same weights.
    (No BatchNormalization after a Dense here: the Dense bias' gradient is then
    rounding noise, which Adam's normalised step turns into steps of either sign.)"""
    set_random_seed(0)
    L = densefit.layers
    df = densefit.Sequential([L.Input(shape=(5,)), L.Dense(8, activation="relu"),
                              L.Dense(6, activation="tanh"), L.Dense(2)])
    df.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(4)
    x, y = rng.random((64, 5)).astype(np.float32), rng.random((64, 2)).astype(np.float32)
    df.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    df.save(tmp_path / "m.keras")
    km = keras.models.load_model(tmp_path / "m.keras")
    df.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    km.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(km.get_weights(), df.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_keras_file_opens_in_densefit(tmp_path, optimizer):
    keras.utils.set_random_seed(0)
    km, x, y = _file_models(keras, optimizer)
    km.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    km.save(tmp_path / "k.keras")
    df = densefit.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(df.predict(x, verbose=0), km.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert df.optimizer.iterations == int(km.optimizer.iterations)
    assert [layer.name for layer in df.layers] == [layer.name for layer in km.layers]


def test_weights_h5_both_ways(tmp_path):
    keras.utils.set_random_seed(0)
    km, x, _ = _file_models(keras, "adam")
    set_random_seed(1)
    df, _, _ = _file_models(densefit, "adam")
    km.save_weights(tmp_path / "k.weights.h5")
    df.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(df.predict(x, verbose=0), km.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    set_random_seed(2)
    df2, _, _ = _file_models(densefit, "adam")
    df2.save_weights(tmp_path / "d.weights.h5")
    km.load_weights(tmp_path / "d.weights.h5")
    np.testing.assert_allclose(km.predict(x, verbose=0), df2.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
# ------------------------------------------------------------------ metrics (issue 11)

_METRIC_RNG = np.random.default_rng(7)
_P_BIN = _METRIC_RNG.random((97, 3)).astype(np.float32)           # probabilities
_T_BIN = (_METRIC_RNG.random((97, 3)) > 0.6).astype(np.float32)
_P_CAT = _METRIC_RNG.dirichlet(np.ones(5), 97).astype(np.float32)
_LABELS = _METRIC_RNG.integers(0, 5, 97)
_T_CAT = np.eye(5, dtype=np.float32)[_LABELS]
_T_REG = (_METRIC_RNG.random((97, 3)) * 2).astype(np.float32)

# (class name, kwargs, (y_true, y_pred)): every metric of the issue, default thresholds
METRIC_PARITY = [
    ("BinaryAccuracy", {}, (_T_BIN, _P_BIN)),
    ("CategoricalAccuracy", {}, (_T_CAT, _P_CAT)),
    ("SparseCategoricalAccuracy", {}, (_LABELS, _P_CAT)),
    ("TopKCategoricalAccuracy", {}, (_T_CAT, _P_CAT)),
    ("TopKCategoricalAccuracy", {"k": 2}, (_T_CAT, _P_CAT)),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, (_LABELS, _P_CAT)),
    ("MeanAbsoluteError", {}, (_T_REG, _P_BIN)),
    ("MeanSquaredError", {}, (_T_REG, _P_BIN)),
    ("RootMeanSquaredError", {}, (_T_REG, _P_BIN)),
    ("MeanAbsolutePercentageError", {}, (_T_REG, _P_BIN)),
    ("MeanSquaredLogarithmicError", {}, (_T_REG, _P_BIN)),
    ("Precision", {}, (_T_BIN, _P_BIN)),
    ("Recall", {}, (_T_BIN, _P_BIN)),
    ("Precision", {"thresholds": [0.3, 0.7]}, (_T_BIN, _P_BIN)),
    ("Recall", {"class_id": 1}, (_T_BIN, _P_BIN)),
    ("Precision", {"top_k": 2}, (_T_BIN, _P_BIN)),
    ("Recall", {"top_k": 2}, (_T_CAT, _P_CAT)),
    ("Precision", {"top_k": 1, "class_id": 2}, (_T_CAT, _P_CAT)),
    ("Recall", {"top_k": 2, "class_id": 0, "thresholds": [0.1, 0.3]}, (_T_BIN, _P_BIN)),
    ("Precision", {"class_id": 4, "thresholds": 0.2}, (_T_CAT, _P_CAT)),
    ("AUC", {}, (_T_BIN, _P_BIN)),
    ("AUC", {"curve": "PR"}, (_T_BIN, _P_BIN)),
    ("AUC", {"multi_label": True}, (_T_BIN, _P_BIN)),
    ("AUC", {"multi_label": True, "curve": "PR", "num_labels": 3}, (_T_BIN, _P_BIN)),
    ("AUC", {"multi_label": True, "label_weights": [0.2, 1.0, 3.0], "num_thresholds": 17},
     (_T_BIN, _P_BIN)),
    ("AUC", {"multi_label": True, "summation_method": "majoring"}, (_T_CAT, _P_CAT)),
    ("AUC", {"num_thresholds": 13, "summation_method": "minoring"}, (_T_BIN, _P_BIN)),
    ("TruePositives", {}, (_T_BIN, _P_BIN)),
    ("FalsePositives", {}, (_T_BIN, _P_BIN)),
    ("TrueNegatives", {}, (_T_BIN, _P_BIN)),
    ("FalseNegatives", {"thresholds": [0.2, 0.9]}, (_T_BIN, _P_BIN)),
    ("SensitivityAtSpecificity", {"specificity": 0.7}, (_T_BIN, _P_BIN)),
    ("SpecificityAtSensitivity", {"sensitivity": 0.4, "num_thresholds": 31}, (_T_BIN, _P_BIN)),
    ("PrecisionAtRecall", {"recall": 0.5, "class_id": 2}, (_T_CAT, _P_CAT)),
    ("RecallAtPrecision", {"precision": 0.45}, (_T_BIN, _P_BIN)),
    ("RecallAtPrecision", {"precision": 0.3, "num_thresholds": 1}, (_T_BIN, _P_BIN)),
    ("F1Score", {}, (_T_CAT, _P_CAT)),
    ("F1Score", {"average": "macro", "threshold": 0.3}, (_T_BIN, _P_BIN)),
    ("F1Score", {"average": "weighted"}, (_T_CAT, _P_CAT)),
    ("F1Score", {"average": "micro", "threshold": 0.5}, (_T_BIN, _P_BIN)),
]


@pytest.mark.parametrize("name, kwargs, data", METRIC_PARITY,
                         ids=[f"{n}-{k}" for n, k, _ in METRIC_PARITY])
def test_metric_values_match_keras(name, kwargs, data):
    """Same predictions, in two batches, the second weighted: the same value."""
    y_true, y_pred = data
    weight = np.linspace(0.5, 1.5, 37).astype(np.float32)
    values = []
    for module in (densefit, keras):
        metric = getattr(module.metrics, name)(**kwargs)
        metric.update_state(y_true[:60], y_pred[:60])
        metric.update_state(y_true[60:], y_pred[60:], sample_weight=weight)
        values.append(np.asarray(metric.result(), np.float64))
        metric.reset_state()
        metric.update_state(y_true[:5], y_pred[:5])
        values.append(np.asarray(metric.result(), np.float64))
    np.testing.assert_allclose(values[0], values[2], rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(values[1], values[3], rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("loss, keras_metric, data", [
    ("BinaryCrossentropy", "BinaryCrossentropy", (_T_BIN, _P_BIN)),
    ("CategoricalCrossentropy", "CategoricalCrossentropy", (_T_CAT, _P_CAT)),
    ("Huber", "MeanSquaredError", None),  # Huber has no metric class: checked by formula
])
def test_loss_as_metric_matches_keras(loss, keras_metric, data):
    """A loss object as a metric: the mean of its per-sample values, as Keras'
    metric of the same name (or the loss' own value)."""
    y_true, y_pred = data or (_T_REG, _P_BIN)
    ours = densefit.metrics.LossMetric(getattr(densefit.losses, loss)())
    ours.update_state(y_true, y_pred)
    if data is None:
        expected = float(keras.losses.Huber()(y_true, y_pred))
    else:
        theirs = getattr(keras.metrics, keras_metric)()
        theirs.update_state(y_true, y_pred)
        expected = float(theirs.result())
    np.testing.assert_allclose(ours.result(), expected, rtol=1e-5)


_METRICS_FIT = dict(layers=[(6, "relu"), (1, "sigmoid")], data=_binary, loss=("BinaryCrossentropy",
                    {}), optimizer=("Adam", {"learning_rate": 0.01}))


def test_fit_with_several_metrics_matches_keras():
    """A fit in lockstep with several metrics: History's values (val_ too) within
    2e-3, and evaluate's list in compile order."""
    seed = 0
    set_random_seed(seed)
    keras.utils.set_random_seed(seed)
    x, y = _binary(seed)
    names = ["accuracy", "mae", "mse"]
    out = {}
    for module in (densefit, keras):
        model = module.Sequential([module.Input(shape=(FEATURES,))] +
                                  [layer for spec in _METRICS_FIT["layers"]
                                   for layer in _layers(module, *spec)])
        if module is densefit:
            initial = model.get_weights()
        else:
            model.set_weights(initial)
        model.compile(optimizer=module.optimizers.Adam(learning_rate=0.01),
                      loss="binary_crossentropy",
                      metrics=names + [module.metrics.AUC(name="auc"),
                                       module.metrics.AUC(curve="PR", name="pr"),
                                       module.metrics.Precision(name="precision"),
                                       module.metrics.Recall(name="recall")])
        history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
                            validation_split=0.2).history
        out[module.__name__] = history, model.evaluate(x, y, batch_size=BATCH, verbose=0,
                                                       return_dict=True)
    (dh, de), (kh, ke) = out["densefit"], out["keras"]
    assert set(dh) == set(kh)
    for key in kh:
        np.testing.assert_allclose(dh[key], kh[key], atol=2e-3, err_msg=key)
    for key in ke:
        np.testing.assert_allclose(de[key], ke[key], atol=2e-3, err_msg=key)


# ------------------------------------------------------------------ summary()

def _summary_model(module, kind):
    layers = module.layers
    if kind == "dense":
        return module.Sequential([module.Input((784,)), layers.Dense(25, activation="relu",
                                                                     name="d1"),
                                  layers.Dense(15, activation="relu", name="d2"),
                                  layers.Dense(10, activation="softmax", name="d3")],
                                 name="model_a")
    if kind == "unbuilt":
        return module.Sequential([layers.Dense(4, name="dense"), layers.Dropout(0.1, name="drop"),
                                  layers.Dense(2, name="a_very_long_layer_name_that_goes_on")],
                                 name="lazy")
    if kind.startswith("nested"):
        base = module.Sequential([module.Input((FEATURES,)), layers.Dense(4, activation="relu",
                                                                          name="inner_d1"),
                                  layers.Dense(3, name="inner_d2")], name="base")
        base.trainable = kind != "nested_frozen"
        return module.Sequential([base, layers.Dense(1, name="head")], name="outer")
    return module.Sequential([module.Input((FEATURES,)), layers.Normalization(name="norm"),
                              layers.Dense(16, name="dense"),
                              layers.BatchNormalization(name="batch_normalization"),
                              layers.PReLU(name="p_re_lu"), layers.Dropout(0.5, name="drop"),
                              layers.Dense(1, name="out")], name="mix")


def _summary_text(module, kind, fitted, kwargs):
    model = _summary_model(module, kind)
    if fitted:
        model.compile(optimizer=module.optimizers.Adam(), loss="mse")
        model.fit(np.zeros((8, FEATURES), "float32"), np.zeros((8, 1), "float32"), verbose=0)
    calls = []
    model.summary(print_fn=calls.append, **kwargs)
    assert len(calls) == 1
    return calls[0]


@pytest.mark.parametrize("columns", [80, 200])
@pytest.mark.parametrize("kind, fitted, kwargs", [
    ("dense", False, {}), ("mix", False, {}), ("mix", True, {}),
    ("mix", True, {"show_trainable": True}), ("unbuilt", False, {}),
    ("dense", False, {"line_length": 50}), ("mix", False, {"line_length": 120}),
    ("dense", False, {"positions": [0.3, 0.6, 1.0], "layer_range": ["d2", "d3"]}),
    ("nested", False, {}), ("nested", True, {"expand_nested": True, "show_trainable": True}),
    ("nested_frozen", True, {"show_trainable": True})])
def test_summary_text_matches_keras(monkeypatch, columns, kind, fitted, kwargs):
    """The same characters as Keras' rich table, at a fixed terminal width (COLUMNS
    is what both shutil and rich read)."""
    monkeypatch.setenv("COLUMNS", str(columns))
    assert _summary_text(densefit, kind, fitted, kwargs) == \
        _summary_text(keras, kind, fitted, kwargs)
# ------------------------------------------------------------------ steps_per_epoch, on-batch metrics

def _steps_case(module, steps, epochs, validation_steps):
    """The model and its fit with steps_per_epoch and validation_steps (the
    validation data reversed, read 7 samples a batch)."""
    x, y = _x(1), (_x(2)[:, :1] > 0).astype("float32")
    model = module.Sequential([module.Input(shape=(FEATURES,)),
                               module.layers.Dense(4, activation="tanh"),
                               module.layers.Dense(1, activation="sigmoid")])
    return model, x, y, lambda: model.fit(
        x, y, batch_size=BATCH, epochs=epochs, steps_per_epoch=steps, shuffle=False, verbose=0,
        validation_data=(x[::-1], y[::-1]), validation_steps=validation_steps,
        validation_batch_size=7).history


@pytest.mark.parametrize("steps, epochs", [(3, 4), (2, 5), (6, 2)])
def test_steps_per_epoch_and_validation_steps_match_keras(steps, epochs):
    import warnings
    out = {}
    for module in (densefit, keras):
        model, x, y, fit = _steps_case(module, steps, epochs, validation_steps=2)
        if module is densefit:
            initial = model.get_weights()
        else:
            model.set_weights(initial)
        model.compile(optimizer=module.optimizers.SGD(learning_rate=0.1),
                      loss="binary_crossentropy", metrics=["mae"])
        with warnings.catch_warnings():  # both say the data ran out (steps 3 and 6)
            warnings.simplefilter("ignore")
            out[module.__name__] = fit(), model.get_weights()
    (dh, dw), (kh, kw) = out["densefit"], out["keras"]
    assert sorted(dh) == sorted(kh)
    for key in kh:
        np.testing.assert_allclose(dh[key], kh[key], rtol=LOSS_RTOL, err_msg=key)
    for a, b in zip(dw, kw):
        np.testing.assert_allclose(a, b, atol=WEIGHT_TOL * np.abs(b).max())


def test_on_batch_metrics_and_reset_metrics_match_keras():
    # Keras 3.15 resets the metrics at the start of each on-batch call
    x = np.eye(4, dtype="float32")
    col = lambda *v: np.array(v, "float32")[:, None]  # noqa: E731
    out = {}
    for module in (densefit, keras):
        model = module.Sequential([module.Input(shape=(4,)), module.layers.Dense(1)])
        model.set_weights([np.full((4, 1), 0.5, "float32"), np.zeros(1, "float32")])
        model.compile(optimizer=module.optimizers.SGD(learning_rate=0.1), loss="mse",
                      metrics=["mae"])
        logs = [model.train_on_batch(x[:1], col(0), return_dict=True),
                model.train_on_batch(x[:2], col(2, 2), return_dict=True),
                model.test_on_batch(x[:1], col(4), return_dict=True)]
        model.reset_metrics()
        logs += [model.train_on_batch(x[1:3], col(1, 3), return_dict=True),
                 model.test_on_batch(x[:3], col(1, 0, 2), return_dict=True)]
        out[module.__name__] = logs
    for d, k in zip(out["densefit"], out["keras"]):
        assert sorted(d) == sorted(k)
        for key in k:
            np.testing.assert_allclose(d[key], k[key], rtol=1e-5, err_msg=key)


# ------------------------------------------------------------------ nested Sequential

def _nested_pair(module, head, frozen=False, initial=None):
    """``Sequential([base, head])`` in densefit or Keras, densefit's initial
    weights copied into Keras' (both list the base's weights first)."""
    L = module.layers
    base = module.Sequential([module.Input((FEATURES,)), L.Dense(16, activation="relu"),
                              L.Dense(10)], name="base")
    outer = module.Sequential([base, head(L)])
    if initial is not None:
        outer.set_weights(initial)
    base.trainable = not frozen
    return base, outer


def test_nested_probability_model_matches_keras():
    """The notes' pattern: train the logits model, then wrap it with a Softmax."""
    x, y = _labels()
    out = {}
    initial = None
    for module in (densefit, keras):
        L = module.layers
        model = module.Sequential([module.Input((FEATURES,)), L.Dense(16, activation="relu"),
                                   L.Dense(10)])
        if initial is None:
            initial = model.get_weights()
        model.set_weights(initial)
        model.compile(optimizer="adam",
                      loss=module.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0)
        probability_model = module.Sequential([model, L.Softmax()])
        out[module.__name__] = (probability_model.predict(x, verbose=0),
                                np.asarray(probability_model(x)), model.predict(x, verbose=0))
    for d, k in zip(out["densefit"], out["keras"]):
        np.testing.assert_allclose(d, k, atol=PREDICT_TOL * np.abs(k).max())
    np.testing.assert_allclose(out["densefit"][0].sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("frozen", [False, True])
def test_nested_base_trains_through_the_outer_as_in_keras(frozen):
    """``Sequential([base, Dense(1)])`` trained 3 epochs from the same weights:
    History and the base's own weights (and predictions) agree; a frozen base
    stays as it was in both."""
    x = _x()
    y = x[:, :1] * 0.5 - x[:, 1:2]
    out, initial = {}, None
    for module in (densefit, keras):
        base, outer = _nested_pair(module, lambda L: L.Dense(1), frozen, initial)
        if initial is None:
            initial = outer.get_weights()
        before = base.get_weights()
        outer.compile(optimizer="adam", loss="mse")
        history = outer.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False,
                            verbose=0).history
        out[module.__name__] = (history, base.get_weights(), before,
                                base.predict(x, verbose=0),
                                [len(outer.trainable_weights), len(outer.non_trainable_weights),
                                 outer.count_params()])
    (dh, dw, d0, dp, dn), (kh, kw, k0, kp, kn) = out["densefit"], out["keras"]
    assert dn == kn
    np.testing.assert_allclose(dh["loss"], kh["loss"], atol=2e-3)
    for a, b in zip(dw, kw):
        np.testing.assert_allclose(a, b, atol=2e-3)
    np.testing.assert_allclose(dp, kp, atol=2e-3 * np.abs(kp).max())
    for a, b, c in zip(dw, d0, k0):
        assert np.array_equal(a, b) == frozen
        np.testing.assert_array_equal(b, c)


def test_a_nested_densefit_keras_file_opens_in_keras(tmp_path):
    set_random_seed(0)
    x = _x()
    base, outer = _nested_pair(densefit, lambda L: L.Softmax())
    outer.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    outer.fit(x, _labels()[1], epochs=1, batch_size=BATCH, verbose=0)
    outer.save(tmp_path / "nested.keras")
    km = keras.models.load_model(tmp_path / "nested.keras")
    assert isinstance(km.layers[0], keras.Sequential) and km.layers[0].name == "base"
    np.testing.assert_allclose(km.predict(x, verbose=0), outer.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(km.layers[0].predict(x, verbose=0), base.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert int(km.optimizer.iterations) == outer.optimizer.iterations


@pytest.mark.parametrize("frozen", [False, True])
def test_a_nested_keras_file_opens_in_densefit(tmp_path, frozen):
    keras.utils.set_random_seed(0)
    x, y = _labels()
    kbase, kouter = _nested_pair(keras, lambda L: L.Softmax(), frozen)
    kouter.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    kouter.fit(x, y, epochs=1, batch_size=BATCH, verbose=0)
    kouter.save(tmp_path / "k.keras")
    df = densefit.models.load_model(tmp_path / "k.keras")
    base = df.layers[0]
    assert isinstance(base, densefit.Sequential) and base.name == "base"
    assert [layer.name for layer in base.layers] == [layer.name for layer in kbase.layers]
    np.testing.assert_allclose(df.predict(x, verbose=0), kouter.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(base.predict(x, verbose=0), kbase.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert df.optimizer.iterations == int(kouter.optimizer.iterations)
    assert len(df.trainable_weights) == len(kouter.trainable_weights)
    df.fit(x, y, epochs=1, batch_size=BATCH, verbose=0)  # continues from Keras' state
    kbase.save_weights(tmp_path / "base.weights.h5")  # and a nested model's weights alone
    base.load_weights(tmp_path / "base.weights.h5")
    np.testing.assert_allclose(base.predict(x, verbose=0), kbase.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
# ------------------------------------------------------------------ streamed batches
# (streaming.py) Keras and densefit read the same generator's or PyDataset's batches
# in the same order (shuffle=False); sizes 32, 32, 20, 16 (uneven on purpose).

STREAM_CUTS = (0, 32, 64, 84, 100)


def _stream_batches(x, y, w=None):
    for a, b in zip(STREAM_CUTS, STREAM_CUTS[1:]):
        yield (x[a:b], y[a:b]) if w is None else (x[a:b], y[a:b], w[a:b])


def _stream_dataset(module, x, y):
    class Batches(module.utils.PyDataset):
        def __len__(self):
            return len(STREAM_CUTS) - 1

        def __getitem__(self, index):
            a, b = STREAM_CUTS[index], STREAM_CUTS[index + 1]
            return x[a:b], y[a:b]
    return Batches()


def _stream_model(module):
    seq = Sequential if module is densefit else keras.Sequential
    return seq([module.Input(shape=(FEATURES,)), module.layers.Dense(6, activation="relu"),
                module.layers.Dense(3, activation="softmax")])


def _streamed_fit(module, source, initial):
    """A 3-class model from ``initial`` weights trained 3 epochs on ``source``'s
    batches, validated on the first 2 batches of a PyDataset; returns its
    weights, History, and evaluate and predict over a generator."""
    import warnings
    x, y = _labels(4, classes=3)
    model = _stream_model(module)
    model.set_weights(initial)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    with warnings.catch_warnings():  # Keras warns when a generator's pass ends
        warnings.simplefilter("ignore")
        history = model.fit(source(x, y), epochs=3, shuffle=False, verbose=0,
                            steps_per_epoch=4 if source is _endless else None,
                            validation_data=_stream_dataset(module, x[::-1], y[::-1]),
                            validation_steps=2).history
        evaluated = model.evaluate(_stream_batches(x, y), verbose=0)
        predicted = model.predict(_stream_batches(x, y), verbose=0)
    return model.get_weights(), history, evaluated, predicted


def _endless(x, y):
    while True:
        yield from _stream_batches(x, y)


@pytest.mark.parametrize("source", ["generator", "pydataset"])
def test_streamed_batches_train_as_in_keras(source):
    set_random_seed(7)
    initial = _stream_model(densefit).get_weights()
    out = {}
    for module in (densefit, keras):
        batches = (_endless if source == "generator" else
                   lambda x, y: _stream_dataset(module, x, y))
        out[module.__name__] = _streamed_fit(module, batches, initial)
    (dw, dh, de, dp), (kw, kh, ke, kp) = out["densefit"], out["keras"]
    assert sorted(dh) == sorted(kh)
    for key in kh:
        assert len(dh[key]) == len(kh[key]) == 3, key
        np.testing.assert_allclose(dh[key], kh[key], rtol=LOSS_RTOL, err_msg=key)
    # observed: History within 3e-7 relative, weights 7e-6 of their largest value
    for a, b in zip(dw, kw):
        np.testing.assert_allclose(a, b, atol=WEIGHT_TOL * np.abs(b).max())
    np.testing.assert_allclose(de, ke, rtol=LOSS_RTOL)
    np.testing.assert_allclose(dp, kp, atol=PREDICT_TOL * np.abs(kp).max())


def test_evaluate_and_predict_steps_on_arrays_match_keras():
    # with batch_size: the first steps batches; steps alone: batches sized to cover x
    x, y = _labels(5, classes=3)
    out = {}
    for module in (densefit, keras):
        model = _stream_model(module)
        if module is densefit:
            initial = model.get_weights()
        else:
            model.set_weights(initial)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        out[module.__name__] = (
            [model.evaluate(x, y, steps=2, verbose=0),
             model.evaluate(x, y, steps=2, batch_size=10, verbose=0)],
            [model.predict(x, steps=2, verbose=0),
             model.predict(x, steps=3, batch_size=7, verbose=0)])
    (de, dp), (ke, kp) = out["densefit"], out["keras"]
    np.testing.assert_allclose(de, ke, rtol=LOSS_RTOL)
    for a, b in zip(dp, kp):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=PREDICT_TOL * np.abs(b).max())


# ------------------------------------------------------------ steps without batch sizes

@pytest.mark.parametrize("steps, validation_steps", [(3, 2), (5, None), (1, 1)])
def test_steps_without_batch_sizes_match_keras(steps, validation_steps):
    """No batch_size with steps_per_epoch: batches of ceil(n / steps) rows (Keras'
    array adapter); no validation batch size with validation_steps: batches
    covering the validation data."""
    out = {}
    for module in (densefit, keras):
        x, y = _x(1), (_x(2)[:, :1] > 0).astype("float32")
        model = module.Sequential([module.Input(shape=(FEATURES,)),
                                   module.layers.Dense(4, activation="tanh"),
                                   module.layers.Dense(1, activation="sigmoid")])
        if module is densefit:
            initial = model.get_weights()
        else:
            model.set_weights(initial)
        model.compile(optimizer=module.optimizers.SGD(learning_rate=0.1),
                      loss="binary_crossentropy", metrics=["mae"])
        history = model.fit(x, y, epochs=2, steps_per_epoch=steps, shuffle=False, verbose=0,
                            validation_data=(x[::-1], y[::-1]),
                            validation_steps=validation_steps).history
        out[module.__name__] = history, model.get_weights(), int(model.optimizer.iterations)
    (dh, dw, di), (kh, kw, ki) = out["densefit"], out["keras"]
    assert di == ki == 2 * steps
    assert sorted(dh) == sorted(kh)
    for key in kh:
        np.testing.assert_allclose(dh[key], kh[key], rtol=LOSS_RTOL, err_msg=key)
    for a, b in zip(dw, kw):
        np.testing.assert_allclose(a, b, atol=WEIGHT_TOL * np.abs(b).max())


@pytest.mark.parametrize("axis, columns", [(-1, slice(None)), (None, 0)])
def test_normalization_called_on_data_matches_keras(axis, columns):
    """norm(x) outside a model (the course's coffee lab, the regression
    tutorial's normalizer(first)): Keras' values, as float32."""
    x = np.random.default_rng(0).normal(3, 2, (50, 3))[:, columns]
    out = {}
    for module in (densefit, keras):
        norm = module.layers.Normalization(axis=axis)
        before = np.asarray(norm(x[:4]))  # identity until adapted
        norm.adapt(x)
        out[module.__name__] = before, np.asarray(norm(x[:4]))
    np.testing.assert_allclose(out["densefit"][0], out["keras"][0], rtol=1e-6)
    np.testing.assert_allclose(out["densefit"][1], out["keras"][1], rtol=1e-6)
    assert out["densefit"][1].dtype == np.float32


def test_crossentropy_metrics_match_keras():
    """The imbalanced-data tutorial's keras.metrics.BinaryCrossentropy(name=...)
    on a sigmoid output, and from_logits=True on logits: Keras' values."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = (rng.random((64, 1)) < 0.3).astype("float32")
    out = {}
    for module in (densefit, keras):
        model = module.Sequential([module.Input(shape=(5,)),
                                   module.layers.Dense(1, activation="sigmoid")])
        if module is densefit:
            initial = model.get_weights()
        else:
            model.set_weights(initial)
        model.compile(loss="binary_crossentropy",
                      metrics=[module.metrics.BinaryCrossentropy(name="cross entropy"),
                               module.metrics.BinaryCrossentropy(name="on_logits",
                                                                 from_logits=True)])
        out[module.__name__] = model.evaluate(x, y, verbose=0, return_dict=True)
    for key in out["keras"]:
        np.testing.assert_allclose(out["densefit"][key], out["keras"][key], rtol=1e-5,
                                   err_msg=key)


@pytest.mark.parametrize("metric", ["SparseCategoricalAccuracy", "SparseCategoricalCrossentropy",
                                    "loss"])
def test_keras_files_with_metric_objects_load_both_ways(tmp_path, metric):
    """save_and_load's create_model compiles metrics=[SparseCategoricalAccuracy()]:
    its .keras file loads in both libraries, each from the other's file."""
    x = np.random.default_rng(0).normal(size=(20, 4)).astype("float32")
    y = np.arange(20) % 3
    results = {}
    for writer, reader in ((densefit, keras), (keras, densefit)):
        entry = (writer.losses.SparseCategoricalCrossentropy() if metric == "loss"
                 else getattr(writer.metrics, metric)())
        model = writer.Sequential([writer.Input(shape=(4,)), writer.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", metrics=[entry],
                      loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, verbose=0)  # Keras writes no optimizer slots before
        path = tmp_path / f"{writer.__name__}.keras"
        model.save(path)
        loaded = reader.models.load_model(path)
        results[writer.__name__] = (model.evaluate(x, y, verbose=0),
                                    loaded.evaluate(x, y, verbose=0))
    for written, read in results.values():
        np.testing.assert_allclose(read, written, rtol=1e-5)


def test_keras_file_of_a_model_compiled_but_never_trained_loads(tmp_path):
    """model.compile(...); model.save("x.keras") before fit: Keras saves its
    optimizer unbuilt (step count and learning rate only); densefit loads the
    file and its optimizer starts afresh, as Keras does when it loads it."""
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "u.keras")
    loaded = densefit.models.load_model(tmp_path / "u.keras")
    assert int(loaded.optimizer.iterations) == 0
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    loaded.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    assert int(loaded.optimizer.iterations) == 1


@pytest.mark.parametrize("method", ["evaluate", "predict"])
def test_evaluate_and_predict_keywords_in_keras_order(method):
    """Keras' evaluate/predict parameters, callbacks included, in its order
    (a program passing them positionally runs the same)."""
    import inspect
    ours = [p for p in inspect.signature(getattr(densefit.Sequential, method)).parameters
            if p != "self"]
    theirs = [p for p, v in inspect.signature(getattr(keras.Sequential, method)).parameters.items()
              if p != "self" and v.kind is not v.VAR_KEYWORD]
    assert ours == theirs
