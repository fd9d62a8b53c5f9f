"""ONNX export: a built model as a standard ONNX graph for onnxruntime and any ONNX runtime.

``export(model, "model.onnx")`` writes the inference graph and returns the
``onnx.ModelProto`` (``path=None``: only returns it).  Each layer the core runs
becomes standard operators (``LAYERS``, keyed by the layer's ``core_kind``),
followed by its activation's (``ACTIVATIONS``, keyed by the names of
``_core.ACTIVATIONS``): those two tables are the one place to extend.  Dropout
is removed (inference is the identity); BatchNormalization uses the moving
statistics.  Nothing of training is exported: no optimizer, no loss, no
regularizers, no Dropout rates.

A float32 model uses ONNX's operator for each activation (Elu, HardSigmoid,
Mish, ...).  A float64 model writes those in elementary operators (Where,
Exp, Clip, ...) with its constants in float64 tensors, for two reasons:
ONNX keeps float attributes (LeakyRelu's alpha, HardSigmoid's 1/6,
BatchNormalization's epsilon) in float32, which would cost a float64 model
its digits, and onnxruntime runs those operators in float64 at opset 18 only.
So float64 exports agree with ``predict`` to ~1e-12 at every opset.

The ``onnx`` package is an optional dependency (``pip install "densefit[onnx]"``),
imported on first use.

>>> from densefit import onnx as densefit_onnx
>>> proto = densefit_onnx.export(model, "model.onnx")
>>> import onnxruntime as ort
>>> session = ort.InferenceSession("model.onnx")
>>> probabilities = session.run(None, {"input": x.astype("float32")})[0]
"""
import importlib.metadata
import math

import numpy as np

from . import nesting, validation

INSTALL = 'pip install "densefit[onnx]"'  # the one way to get onnx, said in errors
DEFAULT_OPSET = 18  # the oldest with every operator used (Mish); onnxruntime >= 1.14 runs it
MIN_OPSET = 18      # Mish (18) is the newest operator used
BATCH = "batch"     # the symbolic name of the batch dimension (batch_size=None)

# Keras 3's constants, as csrc/kernels_impl.h holds them
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_TANH_C = 0.7978845608028654  # sqrt(2 / pi)
GELU_TANH_K = 0.044715
NORMALIZATION_SD_FLOOR = 1e-7  # Normalization's sd = max(sqrt(variance), 1e-7), Keras'


def _onnx():
    """The onnx package, or an ImportError saying how to install it."""
    try:
        import onnx
    except ImportError as e:
        raise ImportError(f"densefit.onnx needs the onnx package, which is not installed: "
                          f"{INSTALL} (or pip install onnx onnxruntime)") from e
    return onnx


class Graph:
    """The nodes and constants of the graph being written, in one dtype."""

    def __init__(self, onnx, dtype):
        self.onnx = onnx
        self.dtype = np.dtype(dtype)
        self.nodes = []
        self.initializers = []
        self._used = set()

    def fresh(self, name):
        """``name``, or ``name_1``, ``name_2``...: unique in the graph."""
        unique, i = name, 0
        while unique in self._used:
            i += 1
            unique = f"{name}_{i}"
        self._used.add(unique)
        return unique

    def constant(self, value, name):
        """An initializer holding ``value`` in the graph's dtype; its name."""
        name = self.fresh(name)
        array = np.asarray(value, dtype=self.dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, name, **attributes):
        """One node of ``op`` on ``inputs``; the name of its output."""
        output = self.fresh(f"{name}/{op}")
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [output], name=output,
                                                     **attributes))
        return output

    @property
    def float32(self):
        """Whether ONNX's dedicated operators serve: a float32 graph.  A float64
        graph uses elementary operators in their place (see the module's doc)."""
        return self.dtype == np.float32


# ------------------------------------------------------------ activations
# One function per name of _core.ACTIVATIONS: (graph, x, slope, name) -> output.
# A float32 graph uses ONNX's operator for each; a float64 graph writes the
# ones onnxruntime lacks in float64 in elementary operators (g.float32 False).

def _unary(op, **attributes):
    return lambda g, x, slope, name: g.node(op, [x], name, **attributes)


def _linear(g, x, slope, name):
    return x


def _leaky_relu(g, x, slope, name):
    if g.float32:
        return g.node("LeakyRelu", [x], name, alpha=float(slope))
    return _negative_scaled(g, x, g.constant(slope, f"{name}/negative_slope"), name)


def _negative_scaled(g, x, slope, name):
    """``x`` at and above 0, ``slope * x`` below (the tensor ``slope``): PRelu."""
    if g.float32:
        return g.node("PRelu", [x, slope], name)
    negative = g.node("Less", [x, g.constant(0.0, f"{name}/zero")], name)
    return g.node("Where", [negative, g.node("Mul", [x, slope], name), x], name)


def _elu(g, x, alpha, name):
    """``x`` above 0, else ``alpha * (exp(x) - 1)``."""
    if g.float32:
        return g.node("Elu", [x], name, alpha=float(alpha))
    positive = g.node("Greater", [x, g.constant(0.0, f"{name}/zero")], name)
    below = g.node("Sub", [g.node("Exp", [x], name), g.constant(1.0, f"{name}/one")], name)
    scaled = g.node("Mul", [below, g.constant(alpha, f"{name}/alpha")], name)
    return g.node("Where", [positive, x, scaled], name)


def _selu(g, x, slope, name):
    if g.float32:
        return g.node("Selu", [x], name, alpha=SELU_ALPHA, gamma=SELU_SCALE)
    return g.node("Mul", [_elu(g, x, SELU_ALPHA, name), g.constant(SELU_SCALE, f"{name}/scale")],
                  name)


def _gelu(g, x, slope, name):
    """``0.5 x (1 + erf(x / sqrt 2))``, Keras' exact form.  onnxruntime has no
    float64 Erf: a float64 graph computes erf in float32 (relative error ~1e-7)."""
    u = g.node("Mul", [x, g.constant(math.sqrt(0.5), f"{name}/sqrt_half")], name)
    if not g.float32:
        u = g.node("Cast", [u], name, to=g.onnx.TensorProto.FLOAT)
    erf = g.node("Erf", [u], name)
    if not g.float32:
        erf = g.node("Cast", [erf], name, to=g.onnx.TensorProto.DOUBLE)
    gate = g.node("Add", [erf, g.constant(1.0, f"{name}/one")], name)
    half = g.node("Mul", [x, g.constant(0.5, f"{name}/half")], name)
    return g.node("Mul", [half, gate], name)


def _gelu_approximate(g, x, slope, name):
    """Keras' tanh form ``0.5 x (1 + tanh(c (x + k x^3)))`` as ``x sigmoid(2 c (x + k x^3))``
    (the same function), as the core computes it."""
    cube = g.node("Mul", [g.node("Mul", [x, x], name), x], name)
    inner = g.node("Add", [x, g.node("Mul", [cube, g.constant(GELU_TANH_K, f"{name}/k")], name)],
                   name)
    scaled = g.node("Mul", [inner, g.constant(2 * GELU_TANH_C, f"{name}/two_c")], name)
    return g.node("Mul", [x, g.node("Sigmoid", [scaled], name)], name)


def _silu(g, x, slope, name):
    return g.node("Mul", [x, g.node("Sigmoid", [x], name)], name)


def _softplus(g, x, slope, name):
    """``log(1 + exp(x))``; float64 as the core writes it, ``relu(x) + log(1 + exp(-|x|))``."""
    if g.float32:
        return g.node("Softplus", [x], name)
    tail = g.node("Exp", [g.node("Neg", [g.node("Abs", [x], name)], name)], name)
    log = g.node("Log", [g.node("Add", [tail, g.constant(1.0, f"{name}/one")], name)], name)
    return g.node("Add", [g.node("Relu", [x], name), log], name)


def _softsign(g, x, slope, name):
    """``x / (1 + |x|)``."""
    if g.float32:
        return g.node("Softsign", [x], name)
    denominator = g.node("Add", [g.node("Abs", [x], name), g.constant(1.0, f"{name}/one")], name)
    return g.node("Div", [x, denominator], name)


def _relu6(g, x, slope, name):
    return g.node("Clip", [x, g.constant(0.0, f"{name}/zero"), g.constant(6.0, f"{name}/six")],
                  name)


def _hard_sigmoid(g, x, slope, name):
    """Keras 3's ``relu6(x + 3) / 6``: ONNX's HardSigmoid with alpha=1/6, beta=0.5
    (its defaults, 0.2 and 0.5, are Keras 2's)."""
    if g.float32:
        return g.node("HardSigmoid", [x], name, alpha=1 / 6, beta=0.5)
    shifted = g.node("Add", [x, g.constant(3.0, f"{name}/three")], name)
    return g.node("Div", [_relu6(g, shifted, slope, name), g.constant(6.0, f"{name}/six")], name)


def _hard_silu(g, x, slope, name):
    """``x * hard_sigmoid(x)``: ONNX's HardSwish (alpha 1/6, beta 0.5)."""
    if g.float32:
        return g.node("HardSwish", [x], name)
    return g.node("Mul", [x, _hard_sigmoid(g, x, slope, name)], name)


def _mish(g, x, slope, name):
    """``x * tanh(softplus(x))``."""
    if g.float32:
        return g.node("Mish", [x], name)
    return g.node("Mul", [x, g.node("Tanh", [_softplus(g, x, slope, name)], name)], name)


ACTIVATIONS = {
    "linear": _linear,
    "relu": _unary("Relu"),
    "sigmoid": _unary("Sigmoid"),
    "tanh": _unary("Tanh"),
    "leaky_relu": _leaky_relu,
    "softmax": _unary("Softmax", axis=-1),
    "elu": _elu,
    "selu": _selu,
    "gelu": _gelu,
    "gelu_approximate": _gelu_approximate,
    "silu": _silu,
    "softplus": _softplus,
    "softsign": _softsign,
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": _hard_silu,
    "relu6": _relu6,
    "exponential": _unary("Exp"),
    "mish": _mish,
}


# ------------------------------------------------------------ layers
# One function per core_kind of _core.LAYER_KINDS: (graph, layer, x) -> output,
# before the layer's activation.

def _dense(g, layer, x):
    kernel, bias = layer.get_weights()
    return g.node("Gemm", [x, g.constant(kernel, f"{layer.name}/kernel"),
                           g.constant(bias, f"{layer.name}/bias")], layer.name)


def _identity(g, layer, x):
    """Dropout in inference, and an activation layer before its activation."""
    return x


def _batch_normalization(g, layer, x):
    """``gamma (x - moving_mean) / sqrt(moving_variance + epsilon) + beta``, with
    gamma 1 and beta 0 when scale / center are off."""
    weights = dict(zip(layer.weight_names, layer.get_weights()))
    mean, variance = weights["moving_mean"], weights["moving_variance"]
    gamma = weights.get("gamma", np.ones_like(mean))
    beta = weights.get("beta", np.zeros_like(mean))
    name = layer.name
    if g.float32:
        return g.node("BatchNormalization", [x] + [
            g.constant(w, f"{name}/{n}") for n, w in (("gamma", gamma), ("beta", beta),
                                                     ("moving_mean", mean),
                                                     ("moving_variance", variance))],
            name, epsilon=layer.epsilon)
    # float64: the core's arithmetic, (x - mean) * a + beta, a = gamma / sqrt(variance + epsilon)
    rstd = (1 / np.sqrt(variance.astype(np.float64) + layer.epsilon)).astype(g.dtype)
    centred = g.node("Sub", [x, g.constant(mean, f"{name}/moving_mean")], name)
    scaled = g.node("Mul", [centred, g.constant(rstd * gamma, f"{name}/scale")], name)
    return g.node("Add", [scaled, g.constant(beta, f"{name}/beta")], name)


def _normalization(g, layer, x):
    """``(x - mean) / sd``, or ``mean + x * sd`` (invert), ``sd = max(sqrt(variance), 1e-7)``."""
    mean, variance = layer.get_weights()[:2]
    sd = np.sqrt(variance.astype(np.float64)).astype(g.dtype)
    floor = g.dtype.type(NORMALIZATION_SD_FLOOR)
    sd = np.where(sd > floor, sd, floor)  # NaN (a negative variance) too, as the core
    mean, sd = g.constant(mean, f"{layer.name}/mean"), g.constant(sd, f"{layer.name}/sd")
    if layer.invert:
        return g.node("Add", [mean, g.node("Mul", [x, sd], layer.name)], layer.name)
    return g.node("Div", [g.node("Sub", [x, mean], layer.name), sd], layer.name)


def _prelu(g, layer, x):
    (alpha,) = layer.get_weights()
    return _negative_scaled(g, x, g.constant(alpha, f"{layer.name}/alpha"), layer.name)


LAYERS = {
    "dense": _dense,
    "dropout": _identity,
    "batch_normalization": _batch_normalization,
    "normalization": _normalization,
    "activation": _identity,
    "prelu": _prelu,
}


def _activation_of(layer):
    """The activation the core applies after ``layer``, or None (linear)."""
    as_activation = getattr(layer, "as_activation", None)
    return as_activation() if as_activation is not None else getattr(layer, "activation", None)


def _layer(g, layer, x):
    """``layer`` and its activation as nodes on ``x``; the output's name."""
    kind = layer.core_kind
    if kind not in LAYERS:
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}, kind {kind!r}) has no "
                         f"ONNX mapping: add a function for {kind!r} to densefit.onnx.LAYERS")
    x = LAYERS[kind](g, layer, x)
    activation = _activation_of(layer)
    if activation is None:
        return x
    if activation.name not in ACTIVATIONS:
        raise ValueError(f"layer {layer.name!r}'s activation {activation.name!r} has no ONNX "
                         f"mapping: add a function for it to densefit.onnx.ACTIVATIONS")
    return ACTIVATIONS[activation.name](g, x, activation.slope, f"{layer.name}/{activation.name}")


def _layers(g, model, x):
    """Every layer of ``model`` as nodes from the input ``x``; the output's name.
    A Flatten before the first layer flattens image-shaped input (ONNX's
    Flatten); elsewhere it is the identity, as in the model."""
    flat = len(model.input_shape) == 2
    for layer in model.layers:
        if nesting.is_model(layer):  # a nested Sequential: its layers in place
            x = _layers(g, layer, x)
            continue
        if layer.core_kind is None:  # Flatten
            if not flat:
                x, flat = g.node("Flatten", [x], layer.name, axis=1), True
            continue
        x = _layer(g, layer, x)
    return x


# ------------------------------------------------------------ the model

def _checked_opset(onnx, opset):
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        return DEFAULT_OPSET
    return validation.integer(opset, "opset", low=MIN_OPSET, high=newest)


def _check_exportable(model):
    if not getattr(model, "built", False) or model.input_shape is None:
        raise ValueError(f"model {getattr(model, 'name', model)!r} is not built: ONNX export "
                         f"needs its input size. Build it with Input(shape=...) as its first "
                         f"layer, model.build((None, features)), or by fitting or predicting "
                         f"once")


def _checked_names(input_name, output_name):
    names = [validation.string(n, arg, allow_none=False)
             for n, arg in ((input_name, "input_name"), (output_name, "output_name"))]
    if not all(names) or names[0] == names[1]:
        raise ValueError(f"input_name and output_name must be two different non-empty "
                         f"strings, got {input_name!r} and {output_name!r}")
    return names


def _version():
    try:
        return importlib.metadata.version("densefit")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _model_proto(onnx, g, model, names, opset, batch_size):
    """The ModelProto around ``g``'s nodes, ``names`` its input and output."""
    helper = onnx.helper
    elem = helper.np_dtype_to_tensor_dtype(g.dtype)
    batch = BATCH if batch_size is None else batch_size
    inputs = [helper.make_tensor_value_info(names[0], elem, [batch, *model.input_shape[1:]])]
    outputs = [helper.make_tensor_value_info(names[1], elem, [batch, model.output_shape[-1]])]
    graph = helper.make_graph(g.nodes, model.name, inputs, outputs, initializer=g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    return helper.make_model(graph, opset_imports=opsets, producer_name="densefit",
                             producer_version=_version(),
                             ir_version=helper.find_min_ir_version_for(opsets))


def export(model, path=None, *, opset=None, input_name="input", output_name="output",
           batch_size=None):
    """Write ``model`` (built) as an ONNX inference graph; returns the ``onnx.ModelProto``.

    Args:
        model: a built ``Sequential`` (its input size known).
        path: the ``.onnx`` file to write (a str or ``os.PathLike``); None: only
            return the ModelProto.
        opset: the ONNX opset (``DEFAULT_OPSET`` = 18 when None; 18 up to the
            installed onnx's newest).
        input_name, output_name: the graph's input and output names, the keys
            of onnxruntime's ``session.run(None, {input_name: x})``.
        batch_size: None: any batch (a symbolic dimension named ``"batch"``);
            an int fixes it, as Keras' ``Input(batch_size=...)``.

    The graph computes ``model.predict``: float32 or float64 as the model.

    >>> proto = export(model, "model.onnx")
    """
    onnx = _onnx()
    _check_exportable(model)
    opset = _checked_opset(onnx, opset)
    names = _checked_names(input_name, output_name)
    if batch_size is not None:
        batch_size = validation.integer(batch_size, "batch_size")
    if path is not None:
        path = validation.output_file(path, "path", example="model.onnx")
    g = Graph(onnx, model.dtype)
    for name in names:  # no node or constant takes either name
        g.fresh(name)
    _rename_output(g, _layers(g, model, names[0]), names)
    proto = _model_proto(onnx, g, model, names, opset, batch_size)
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        onnx.save_model(proto, path)
    return proto


def _rename_output(g, last, names):
    """Make ``names[1]`` the graph's output: the last node's output renamed, or an
    Identity when no node computes it (a model of Dropout alone)."""
    if g.nodes and g.nodes[-1].output[0] == last:
        g.nodes[-1].output[0] = names[1]
    else:
        g.nodes.append(g.onnx.helper.make_node("Identity", [last], [names[1]], name=names[1]))


def keras_export(model, filepath, format="onnx", verbose=None, input_signature=None, **kwargs):
    """``model.export(filepath, format="onnx")``, Keras 3's method: ``export`` with
    Keras' names (``opset_version`` is ``opset``).  densefit writes ONNX only,
    so that is the default format (Keras': ``"tf_saved_model"``)."""
    if format != "onnx":
        raise ValueError(f"format={format!r} is not supported: densefit exports ONNX only "
                         f"(format=\"onnx\"), which onnxruntime, TensorRT and OpenVINO read")
    if input_signature is not None:
        raise ValueError("input_signature must be None: densefit exports the model's own input "
                         "shape and dtype (set them with Input(shape=..., dtype=...)); "
                         "batch_size=None or an int sets the batch dimension")
    if "opset_version" in kwargs:
        kwargs["opset"] = kwargs.pop("opset_version")
    proto = export(model, filepath, **kwargs)
    if verbose:
        print(f"Saved artifact at '{filepath}'.")
    return proto
