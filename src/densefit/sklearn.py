"""scikit-learn estimators: ``DenseClassifier`` and ``DenseRegressor``.

They take ``MLPClassifier``'s and ``MLPRegressor``'s parameter names and
defaults (``hidden_layer_sizes=(100,)``, ``activation="relu"``,
``solver="adam"``, ``alpha=1e-4``, ``batch_size="auto"``, ``max_iter=200``, ...)
and train a densefit ``Sequential`` (``model_``) in the compiled core, so they
work wherever a scikit-learn estimator does: ``Pipeline``, ``GridSearchCV``,
``cross_val_score`` with ``n_jobs=-1`` (they pickle through densefit's own file
format, never arbitrary code), and joblib's Dask or Ray backends.

scikit-learn is an optional dependency (``pip install "densefit[sklearn]"``):
``import densefit`` does not import it; this module does.

>>> DenseClassifier((32,), random_state=0).fit(X, y).score(X, y)  # doctest: +SKIP
"""
import inspect
import os
import tempfile
import warnings

import numpy as np

INSTALL = 'pip install "densefit[sklearn]"'  # the one way to get scikit-learn, said in errors
try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
except ImportError as e:
    raise ImportError(f"densefit.sklearn needs scikit-learn >= 1.6, which is not installed: "
                      f"{INSTALL} (or pip install scikit-learn)") from e

from . import callbacks, initializers, layers, models, optimizers, regularizers, validation

# MLP's activation names -> densefit's (densefit's own names are accepted as they are)
ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
SOLVERS = ("adam", "sgd")  # MLP's stochastic solvers; "lbfgs" is full-batch, not densefit's
LEARNING_RATES = ("constant", "invscaling", "adaptive")  # MLP's schedules of solver="sgd"
ADAPTIVE_FACTOR, ADAPTIVE_MIN = 5.0, 1e-6  # adaptive divides by 5; stops once at or below 1e-6
# densefit's output activation -> MLP's out_activation_
OUT_ACTIVATIONS = {"softmax": "softmax", "sigmoid": "logistic", "linear": "identity",
                   "exponential": "exp"}
SPARSE = ("csr", "csc")  # MLP's sparse formats; densefit's data adapter densifies them
AUTO_BATCH = 200  # batch_size="auto" is min(200, n_samples), as MLP's
_SEED_HIGH = 2**31 - 1  # seeds drawn from random_state: initialisers' and the shuffle's
_OPTIMIZER_KEYWORDS = ("beta_1", "beta_2", "epsilon")  # passed to an optimizer that takes them


def _hidden_sizes(value):
    """``hidden_layer_sizes`` (an int or a sequence of them, possibly empty) as a tuple."""
    sizes = (value,) if np.ndim(value) == 0 else value
    return tuple(validation.integer(s, "each of hidden_layer_sizes") for s in sizes)


def _activation(value):
    """MLP's name translated, or densefit's own name (``"gelu"``, ``"elu"``, ...)."""
    validation.string(value, "activation", allow_none=False)
    return ACTIVATIONS.get(value, value)


def _batch_size(value, n_samples):
    """``"auto"`` is min(200, n_samples); a number larger than the data is all of it
    (with MLP's warning)."""
    if isinstance(value, str) and value == "auto":
        return min(AUTO_BATCH, n_samples)
    size = validation.integer(value, "batch_size")
    if size > n_samples:
        warnings.warn(f"Got batch_size={size} larger than the {n_samples} samples: it is "
                      f"clipped to {n_samples}", UserWarning, stacklevel=4)
    return min(size, n_samples)


def _optimizer(est):
    """The densefit optimizer for ``est``'s solver (or its ``optimizer`` name, which
    wins) with ``learning_rate_init``; MLP's beta_1, beta_2, epsilon go to those of
    its class that take them, momentum and nesterovs_momentum to SGD."""
    rate = validation.real(est.learning_rate_init, "learning_rate_init", low=0, low_open=True)
    if est.optimizer is None:
        cls = optimizers.get(validation.one_of(est.solver, "solver", SOLVERS)).__class__
    else:
        cls = type(optimizers.get(validation.string(est.optimizer, "optimizer")))
    accepted = inspect.signature(cls).parameters
    kwargs = {name: getattr(est, name) for name in _OPTIMIZER_KEYWORDS if name in accepted}
    if cls is optimizers.SGD:
        kwargs = {"momentum": validation.real(est.momentum, "momentum", low=0, high=1),
                  "nesterov": validation.boolean(est.nesterovs_momentum, "nesterovs_momentum")
                  and est.momentum > 0}
    return cls(learning_rate=rate, **kwargs)


def _build(est, n_features, units, output, loss, l2, dtype, rng):
    """A compiled Sequential: the hidden Dense layers, then ``units`` ``output`` units;
    kernels L2-penalised by ``l2``, each initialiser seeded from ``rng``."""
    sizes = _hidden_sizes(est.hidden_layer_sizes) + (units,)
    activation = _activation(est.activation)
    stack = [layers.Input((n_features,), dtype=dtype)]
    for i, size in enumerate(sizes):
        stack.append(layers.Dense(
            size, activation=output if i == len(sizes) - 1 else activation,
            kernel_initializer=initializers.GlorotUniform(seed=int(rng.integers(_SEED_HIGH))),
            kernel_regularizer=regularizers.L2(l2) if l2 > 0 else None, dtype=dtype))
    model = models.Sequential(stack)
    model.seed_generator.bit_generator.state = np.random.default_rng(
        int(rng.integers(_SEED_HIGH))).bit_generator.state
    model.compile(optimizer=_optimizer(est), loss=loss)
    return model


class _MLPRate:
    """MLP's ``learning_rate`` schedules of solver="sgd" (its SGDOptimizer's
    ``iteration_ends`` and ``trigger_stopping``), written to the densefit
    optimizer's ``learning_rate`` between epochs as densefit's LR callbacks do:
    "invscaling" sets ``learning_rate_init / (t_ + 1) ** power_t`` at each epoch's
    end (t_ the samples seen); "adaptive" divides the rate by 5 where the stopping
    rule would stop, and stops only once the rate is at most 1e-6."""

    def __init__(self, est):
        kind = validation.one_of(est.learning_rate, "learning_rate", LEARNING_RATES)
        self.power_t = validation.real(est.power_t, "power_t", low=0)
        sgd = est.optimizer is None and est.solver == "sgd"  # MLP's rule: solver="sgd" only
        self.kind = kind if sgd else "constant"
        self.init = est.learning_rate_init

    def epoch_ends(self, optimizer, samples_seen):
        if self.kind == "invscaling":
            optimizer.learning_rate = self.init / (samples_seen + 1) ** self.power_t

    def continues(self, optimizer):
        """Whether training goes on where the stopping rule would stop (at a lower rate)."""
        if self.kind != "adaptive" or float(optimizer.learning_rate) <= ADAPTIVE_MIN:
            return False
        optimizer.learning_rate = float(optimizer.learning_rate) / ADAPTIVE_FACTOR
        return True


class _MLPStopping(callbacks.Callback):
    """MLP's stopping rule, epoch by epoch: without early stopping, the training loss
    (in MLP's scale) must fall by ``tol`` below the best so far; with it, the
    validation score must rise by ``tol`` above the best (whose weights are kept).
    When neither happened for more than ``n_iter_no_change`` epochs, training stops
    (or with learning_rate="adaptive" goes on at a fifth of the rate).  Counts the
    samples seen (``t_``) and sets the schedule's rate as MLP's epoch ends do."""

    def __init__(self, est, scale, validation_data, n_samples):
        super().__init__()
        self.est, self.scale, self.validation_data = est, scale, validation_data
        self.n_samples, self.rate = n_samples, _MLPRate(est)
        self.tol = validation.real(est.tol, "tol", low=0)
        self.patience = est.n_iter_no_change
        if self.patience != np.inf:
            self.patience = validation.integer(est.n_iter_no_change, "n_iter_no_change")
        self.best_weights, self.stopped = None, False

    def on_epoch_end(self, epoch, logs=None):
        est = self.est
        est.loss_ = float(logs["loss"]) * self.scale
        est.loss_curve_.append(est.loss_)
        est.n_iter_ += 1
        est.t_ += self.n_samples
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        improved = self._improved()
        est._no_improvement_count = 0 if improved else est._no_improvement_count + 1
        self.rate.epoch_ends(self.model.optimizer, est.t_)
        if est._no_improvement_count > self.patience:
            if self.rate.continues(self.model.optimizer):
                est._no_improvement_count = 0
            else:
                self.model.stop_training = self.stopped = True

    def _improved(self):
        """Whether this epoch improved on the best by ``tol`` (recording the best)."""
        est = self.est
        if self.validation_data is None:
            improved = est.loss_ <= est.best_loss_ - self.tol
            est.best_loss_ = min(est.best_loss_, est.loss_)
            return improved
        score = est.score(*self.validation_data)  # est.model_ is the model training
        est.validation_scores_.append(score)
        improved = score >= est.best_validation_score_ + self.tol
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            self.best_weights = self.model.get_weights()
        return improved


def _mean_weight(weights):
    """The mean of the training sample weights (1 without them); a ValueError when
    they are all zero (nothing to learn from)."""
    if weights is None:
        return 1.0
    mean = float(np.mean(weights))
    if not mean > 0:
        raise ValueError("sample_weight is zero for every training sample: give some "
                         "samples a weight > 0")
    return mean


def _raveled_column(y):
    """``y`` of shape (n, 1) as (n,), with scikit-learn's warning, as MLP does."""
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected. Please "
                      "change the shape of y to (n_samples, ), for example using ravel().",
                      DataConversionWarning, stacklevel=5)
        return y.ravel()
    return y


def _model_bytes(model):
    """``model`` in densefit's file format, as bytes (for pickling)."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.densefit")
        models.save_model(model, path)
        with open(path, "rb") as f:
            return f.read()


def _model_from_bytes(data):
    """The model ``_model_bytes`` wrote: read by densefit's loader, which runs no code."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.densefit")
        with open(path, "wb") as f:
            f.write(data)
        return models.load_model(path)


class _DenseEstimator(BaseEstimator):
    """What both estimators share: parameters, the network, the epoch loop's rules,
    pickling.  Subclasses say how targets become outputs (``_targets``) and back."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 optimizer=None, alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.optimizer = optimizer
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change

    def fit(self, X, y, sample_weight=None):
        """Train for up to ``max_iter`` epochs (from the current weights when
        ``warm_start`` and already fitted) and return self.  ``sample_weight`` (one
        weight >= 0 per sample) weighs each sample's loss as MLP's does."""
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        first = not hasattr(self, "model_") or not (incremental or self.warm_start)
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32),
                             accept_sparse=SPARSE, reset=first)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        targets = self._targets(y, first, classes, incremental)
        early = validation.boolean(self.early_stopping, "early_stopping")
        if early and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        # drawn only when used: a continuing partial_fit leaves NumPy's generator alone
        rng = np.random.default_rng(check_random_state(self.random_state).randint(
            _SEED_HIGH)) if first or early else None
        X, targets, weights, val = self._split(X, y, targets, sample_weight, early, rng)
        batch_size = _batch_size(self.batch_size, X.shape[0])
        if first:
            self._weight_scale = _mean_weight(weights)
            self.model_ = _build(self, X.shape[1], targets.shape[1], self._output_activation,
                                 self._loss, self._l2(batch_size), X.dtype, rng)
            self._reset_progress(early)
        else:
            self._continue_progress(early, incremental)
            if not incremental:  # warm_start: a fresh optimizer, as MLP's fit takes
                self.model_.compile(optimizer=_optimizer(self), loss=self._loss)
        stopper = _MLPStopping(self, self._weight_scale / _mean_weight(weights), val, X.shape[0])
        epochs = 1 if incremental else validation.integer(self.max_iter, "max_iter")
        self.model_.fit(X.astype(self.model_.dtype, copy=False), targets,
                        sample_weight=self._core_weights(weights, targets.shape),
                        batch_size=batch_size, epochs=epochs, callbacks=[stopper],
                        shuffle=validation.boolean(self.shuffle, "shuffle"), verbose=0)
        if stopper.best_weights is not None:
            self.model_.set_weights(stopper.best_weights)
        if not incremental and not stopper.stopped:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({epochs}) reached and "
                          f"the optimization hasn't converged yet.", ConvergenceWarning,
                          stacklevel=3)
        return self

    def _split(self, X, y, targets, weights, early, rng):
        """``(X_train, targets_train, weights_train, (X_val, y_val, weights_val) or
        None)``: with early stopping, ``validation_fraction`` held out as MLP does
        (stratified for one-output classification; the weights split with the data)."""
        if not early:
            return X, targets, weights, None
        fraction = validation.real(self.validation_fraction, "validation_fraction", low=0,
                                   high=1, low_open=True, high_open=True)
        stratify = y if self._stratifies(y) else None
        arrays = (X, targets, y) if weights is None else (X, targets, y, weights)
        parts = train_test_split(*arrays, test_size=fraction, stratify=stratify,
                                 random_state=int(rng.integers(_SEED_HIGH)))
        X_train, X_val, t_train, _, _, y_val = parts[:6]
        w_train, w_val = parts[6:] if weights is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")
        return X_train, t_train, w_train, (X_val, y_val, w_val)

    def _core_weights(self, weights, shape):
        """The sample weights densefit trains with, for targets of ``shape``:
        ``weights`` (ones if None) times ``_loss_scale`` (so densefit's loss is
        MLP's, its gradient too) over the mean training weight of the fit that
        built the model; None when that is all ones (the unweighted loop)."""
        factor = self._loss_scale(shape[1]) / self._weight_scale
        if weights is None and factor == 1:
            return None
        return (np.ones(shape[0]) if weights is None else weights) * factor

    def _reset_progress(self, early):
        """MLP's progress attributes, as a fresh fit starts them."""
        self.n_iter_, self.t_, self.loss_curve_, self._no_improvement_count = 0, 0, [], 0
        self.n_layers_ = len(self.model_.layers) + 1  # MLP counts the input layer
        self.out_activation_ = OUT_ACTIVATIONS[self._output_activation]
        self.best_loss_ = None if early else np.inf
        if early:
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
        else:
            self.validation_scores_ = self.best_validation_score_ = None

    def _continue_progress(self, early, incremental):
        """The progress attributes a fit continuing the last one needs (it may have
        monitored the other way: with or without early stopping).  partial_fit
        keeps counting epochs without improvement across calls, as MLP's does
        (learning_rate="adaptive" acts on that count); a warm-start fit starts anew."""
        if not incremental:
            self._no_improvement_count = 0
        if early and self.validation_scores_ is None:
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
        if not early and self.best_loss_ is None:
            self.best_loss_ = min(self.loss_curve_, default=np.inf)

    def _l2(self, batch_size):
        """densefit's per-batch L2 factor for MLP's ``alpha``: MLP adds
        ``alpha / (2 * sum of the batch's weights) * ||W||^2`` to its loss, which
        densefit's is once weighted by ``_core_weights`` (weights over their mean)."""
        alpha = validation.real(self.alpha, "alpha", low=0)
        return alpha / (2 * batch_size * self._weight_scale)

    def _outputs(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=(np.float64, np.float32), accept_sparse=SPARSE,
                          reset=False)
        return self.model_.predict(X.astype(self.model_.dtype, copy=False), verbose=0)

    @property
    def coefs_(self):
        """MLP's weight matrices, one per layer, shaped (n_in, n_out): views into
        ``model_``'s weights (writing into them changes the model; training
        updates them in place, as MLP's optimizer updates its own arrays)."""
        return [np.asarray(layer.kernel) for layer in self.model_.layers]

    @property
    def intercepts_(self):
        """MLP's bias vectors, one per layer: views into ``model_``'s weights."""
        return [np.asarray(layer.bias) for layer in self.model_.layers]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR and CSC, densified by densefit's data adapter
        return tags

    def __getstate__(self):
        state = dict(super().__getstate__())
        if "model_" in state:
            state["model_"] = _model_bytes(state["model_"])
        return state

    def __setstate__(self, state):
        if isinstance(state.get("model_"), bytes):
            state = dict(state, model_=_model_from_bytes(state["model_"]))
        super().__setstate__(state)


class DenseClassifier(ClassifierMixin, _DenseEstimator):
    """``MLPClassifier``'s interface on a densefit network: softmax outputs and
    categorical cross-entropy for multiclass, one sigmoid output and binary
    cross-entropy for two classes, sigmoid outputs for a multilabel indicator."""

    _loss_names = {"softmax": "categorical_crossentropy", "sigmoid": "binary_crossentropy"}

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch on ``(X, y)`` from the current weights; ``classes`` (all the
        labels there will be) is required on the first call, as MLP's."""
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _targets(self, y, first, classes, incremental):
        y = _raveled_column(y)
        check_classification_targets(y)
        if first:
            self._set_classes(y, classes, incremental)
        else:
            self._check_known(y, classes)
        return self._label_binarizer.transform(y).astype(np.float64)

    def _check_known(self, y, classes):
        """A ValueError unless ``y`` (and ``classes``) fit the classes of the first fit."""
        kind, fitted = type_of_target(y), self._label_binarizer.y_type_
        if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes={np.asarray(classes).tolist()} differs from the first "
                             f"call's classes_ {self.classes_.tolist()}: pass the same "
                             f"classes, or fit anew")
        if "multilabel-indicator" in (kind, fitted) and kind != fitted:
            raise ValueError(f"y is {kind} but the estimator was fitted on {fitted} targets: "
                             f"fit anew (warm_start=False) for another kind of target")
        unseen = np.setdiff1d(y, self.classes_) if kind != "multilabel-indicator" else []
        if len(unseen):
            raise ValueError(f"y has labels {unseen.tolist()} not in classes_ "
                             f"{self.classes_.tolist()}: fit anew (warm_start=False) or pass "
                             f"every label as classes to the first partial_fit")

    def _set_classes(self, y, classes, incremental):
        """``classes_`` from ``classes`` (partial_fit's, required there) or from ``y``."""
        if incremental and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit "
                             "(every label there will be, e.g. classes=np.unique(y))")
        binarizer = LabelBinarizer().fit(y if classes is None else classes)
        if len(binarizer.classes_) < 2:
            raise ValueError(f"y has one class ({binarizer.classes_[0]!r}); a classifier "
                             f"needs at least 2 classes to train")
        self._label_binarizer, self.classes_ = binarizer, binarizer.classes_
        self.n_outputs_ = 1 if binarizer.y_type_ != "multilabel-indicator" else y.shape[1]

    @property
    def _output_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "sigmoid"

    @property
    def _loss(self):
        return self._loss_names[self._output_activation]

    def _loss_scale(self, outputs):
        """MLP's loss over densefit's: MLP sums binary log-loss over the labels of a
        multilabel target where Keras' mean takes their mean; else equal."""
        return outputs if self._label_binarizer.y_type_ == "multilabel-indicator" else 1

    def _stratifies(self, y):
        return self._label_binarizer.y_type_ != "multilabel-indicator"

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), rows summing to 1 (each
        label's probability for a multilabel target)."""
        p = np.asarray(self._outputs(X), dtype=np.float64)
        if self._label_binarizer.y_type_ == "binary":
            p = np.hstack([1 - p, p])
        if self._label_binarizer.y_type_ != "multilabel-indicator":
            p = p / p.sum(axis=1, keepdims=True)
        return p

    def predict_log_proba(self, X):
        """The logarithm of ``predict_proba``."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each sample (each label's p > 0.5 for multilabel)."""
        p = self.predict_proba(X)
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return self._label_binarizer.inverse_transform(p)
        return self.classes_[np.argmax(p, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class DenseRegressor(RegressorMixin, _DenseEstimator):
    """``MLPRegressor``'s interface on a densefit network: linear outputs (one per
    target) and mean squared error, or ``loss="poisson"`` with exponential outputs."""

    _losses = {"squared_error": ("linear", "mean_squared_error"),
               "poisson": ("exponential", "poisson")}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", optimizer=None, alpha=0.0001, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, optimizer=optimizer, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change)
        self.loss = loss

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch on ``(X, y)`` from the current weights."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _targets(self, y, first, classes, incremental):
        y = _raveled_column(np.asarray(y, dtype=np.float64))
        targets = y.reshape(len(y), -1)
        if first:
            self.n_outputs_ = targets.shape[1]
            validation.one_of(self.loss, "loss", tuple(self._losses))
        elif targets.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {targets.shape[1]} targets but the estimator was fitted "
                             f"on {self.n_outputs_}: fit anew (warm_start=False) for others")
        if self.loss == "poisson" and np.any(targets < 0):
            raise ValueError("loss='poisson' needs targets >= 0 (counts or rates): got "
                             "negative values; use loss='squared_error' for them")
        return targets

    @property
    def _output_activation(self):
        return self._losses[self.loss][0]

    @property
    def _loss(self):
        return self._losses[self.loss][1]

    def _loss_scale(self, outputs):
        """MLP's loss over densefit's: MLP's squared error is half the mean squared
        error; its Poisson deviance-like loss is Keras' Poisson loss."""
        return 0.5 if self.loss == "squared_error" else 1

    def _stratifies(self, y):
        return False

    def predict(self, X):
        """The predicted targets: shape (n_samples,) for one target, else
        (n_samples, n_targets)."""
        p = np.asarray(self._outputs(X), dtype=np.float64)
        return p.ravel() if p.shape[1] == 1 else p
