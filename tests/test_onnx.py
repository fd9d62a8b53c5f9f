"""densefit.onnx.export: onnxruntime runs the exported graph and gets model.predict's
outputs, for every activation and every layer kind densefit has."""
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

from densefit import Sequential, _core
from densefit import onnx as densefit_onnx
from densefit.layers import (ELU, Activation, BatchNormalization, Dense, Dropout, Flatten, Input,
                             LeakyReLU, Normalization, PReLU, ReLU, Softmax)
from densefit.utils import set_random_seed

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

DTYPES = ("float32", "float64")
# (rtol, atol relative to the outputs' largest magnitude): BLAS and onnxruntime sum
# in different orders, so a small output of large terms differs by the terms' rounding
TOLERANCE = {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-13)}
GELU_FLOAT64 = (1e-6, 1e-7)  # onnxruntime has no float64 Erf: a float64 gelu's is float32


def assert_close(got, want, tolerance):
    rtol, atol = tolerance
    scale = max(1.0, float(np.abs(want[np.isfinite(want)]).max(initial=0)))
    assert_allclose(got, want, rtol=rtol, atol=atol * scale)


@pytest.fixture(autouse=True)
def _seeded():
    set_random_seed(5)


def session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def run(model, x, **kwargs):
    """onnxruntime's output for ``x`` from ``model`` exported with ``kwargs``."""
    proto = densefit_onnx.export(model, **kwargs)
    return session(proto).run(None, {kwargs.get("input_name", "input"): x})[0]


def randomize(model, seed=0):
    """Random weights everywhere (variances positive), so nothing is an identity."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        names = getattr(layer, "weight_names", ())
        if not layer.get_weights():
            continue
        weights = [rng.uniform(0.5, 2.0, w.shape) if "variance" in n else
                   rng.uniform(0, 5, w.shape) if n == "count" else rng.normal(0, 0.7, w.shape)
                   for n, w in zip(names, layer.get_weights())]
        layer.set_weights([w.astype(model.dtype) if np.ndim(w) else w for w in weights])
    return model


def data(shape, dtype, seed=1, scale=2.5):
    return (np.random.default_rng(seed).normal(0, scale, shape)).astype(dtype)


def assert_same(model, x, tolerance=None, **kwargs):
    got = run(model, x, **kwargs)
    assert got.dtype == model.dtype
    assert_close(got, model.predict(x, verbose=0), tolerance or TOLERANCE[model.dtype.name])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(_core.ACTIVATIONS))
def test_every_activation_exports(name, dtype):
    """Fails for an activation added to the core without an ONNX mapping."""
    assert name in densefit_onnx.ACTIVATIONS
    model = randomize(Sequential([Input((6,), dtype=dtype), Dense(5, activation=name),
                                  Dense(4, activation=name)]))
    tolerance = GELU_FLOAT64 if (name, dtype) == ("gelu", "float64") else None
    scale = 0.3 if name == "exponential" else 2.5  # exp of exp: keep it finite
    for rows in (1, 7, 64):
        assert_same(model, data((rows, 6), dtype, seed=rows, scale=scale), tolerance)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer", [LeakyReLU(), LeakyReLU(0.25), ELU(), ELU(0.7),
                                   Activation("leaky_relu"), ReLU(), Softmax()],
                         ids=lambda layer: str(layer.get_config()))
def test_activation_layers_and_their_parameters(layer, dtype):
    layer = type(layer).from_config(layer.get_config())  # a fresh one per dtype
    model = randomize(Sequential([Input((6,), dtype=dtype), Dense(5), layer, Dense(3),
                                  Activation(layer.as_activation())]))
    assert_same(model, data((9, 6), dtype))


ELEMENTARY = {"Gemm", "Flatten", "Relu", "Sigmoid", "Tanh", "Softmax", "Exp", "Log", "Abs", "Neg",
              "Add", "Sub", "Mul", "Div", "Less", "Greater", "Where", "Clip", "Cast", "Erf"}


def every_activation(dtype):
    """A model with every activation after a Dense, and every layer kind."""
    stack = [Input((28, 28), dtype=dtype), Flatten(), Normalization(), Dense(8), LeakyReLU(0.3),
             Dense(8), ELU(0.7), PReLU()]
    for name in _core.ACTIVATIONS:
        stack += [Dense(8, activation=name), BatchNormalization(epsilon=0.01), Dropout(0.1)]
    return randomize(Sequential(stack))


def test_float32_uses_onnx_operators_and_float64_elementary_ones():
    """A float64 model's 0.3 or 1/6 would lose digits in a float32 attribute, and
    onnxruntime runs Elu, HardSigmoid, PRelu, ... in float64 at opset 18 only."""
    def ops(dtype):
        return {n.op_type for n in densefit_onnx.export(every_activation(dtype)).graph.node}

    assert {"HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Selu", "Softplus", "Softsign",
            "Mish", "PRelu", "BatchNormalization"} <= ops("float32")
    assert ops("float64") <= ELEMENTARY


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_opset_runs(dtype):
    model = every_activation(dtype)
    x = data((5, 28, 28), dtype, scale=1.0)
    for opset in range(densefit_onnx.MIN_OPSET, onnx.defs.onnx_opset_version() + 1):
        tolerance = GELU_FLOAT64 if dtype == "float64" else None
        try:
            assert_same(model, x, tolerance, opset=opset)
        except ort.capi.onnxruntime_pybind11_state.Fail as e:  # onnx newer than onnxruntime
            assert opset > 21 and "opset" in str(e).lower(), e


LAYER_MODELS = {  # one model per core kind: a new kind fails test_every_layer_kind_exports
    "dense": lambda d: [Input((6,), dtype=d), Dense(4)],
    "dropout": lambda d: [Input((6,), dtype=d), Dense(5, activation="tanh"), Dropout(0.5),
                          Dense(3)],
    "batch_normalization": lambda d: [Input((6,), dtype=d), Dense(5), BatchNormalization(),
                                      Activation("relu"), Dense(3)],
    "normalization": lambda d: [Input((6,), dtype=d), Normalization(), Dense(3)],
    "activation": lambda d: [Input((6,), dtype=d), Dense(5, activation="relu"),
                             Activation("tanh"), Softmax()],
    "prelu": lambda d: [Input((6,), dtype=d), Dense(5), PReLU(), Dense(2)],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(_core.LAYER_KINDS))
def test_every_layer_kind_exports(kind, dtype):
    assert kind in densefit_onnx.LAYERS and kind in LAYER_MODELS
    model = randomize(Sequential(LAYER_MODELS[kind](dtype)))
    assert kind in {layer.core_kind for layer in model.layers}
    for rows in (1, 5, 33):
        assert_same(model, data((rows, 6), dtype, seed=rows))


def test_dropout_is_removed():
    model = Sequential([Input((4,)), Dropout(0.5), Dense(3), Dropout(0.2)])
    ops = [n.op_type for n in densefit_onnx.export(model).graph.node]
    assert ops == ["Gemm"]
    alone = Sequential([Input((4,)), Dropout(0.5)])  # no node computes the output
    x = data((3, 4), "float32")
    assert_allclose(run(alone, x), x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False),
                                           (False, False)])
def test_batch_normalization_uses_the_moving_statistics(center, scale, dtype):
    model = randomize(Sequential([Input((6,), dtype=dtype), Dense(5),
                                  BatchNormalization(center=center, scale=scale, epsilon=0.01),
                                  Dense(2)]))
    assert_same(model, data((11, 6), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_model_d_after_training(dtype):
    """784-256-BN-Dropout-256-BN-Dropout-10, trained so the moving statistics moved."""
    x = data((128, 784), dtype, scale=1.0)
    y = np.random.default_rng(2).integers(0, 10, 128)
    model = Sequential([Input((784,), dtype=dtype), Dense(256, activation="relu"),
                        BatchNormalization(), Dropout(0.3), Dense(256, activation="relu"),
                        BatchNormalization(), Dropout(0.3), Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert not np.allclose(model.layers[1].get_weights()[2], 0)  # moving mean moved
    assert_same(model, x[:37])


def test_the_notes_network_on_mnist_shaped_input():
    x = data((100, 784), "float32", scale=1.0)
    y = np.random.default_rng(2).integers(0, 10, 100)
    model = Sequential([Input((784,)), Dense(25, activation="relu"),
                        Dense(15, activation="relu"), Dense(10)])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert_same(model, x)
    assert_same(model, x[:1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis, invert", [(-1, False), (-1, True), (None, False), (None, True)])
def test_normalization_first(axis, invert, dtype):
    x = (data((50, 6), dtype) * np.arange(1, 7) + np.arange(6)).astype(dtype)
    norm = Normalization(axis=axis, invert=invert)
    norm.adapt(x)
    model = randomize(Sequential([Input((6,), dtype=dtype), norm, Dense(4, activation="relu"),
                                  Dense(2)]))
    norm.adapt(x)  # randomize replaced the statistics: adapt again
    assert_same(model, x[:13])


@pytest.mark.parametrize("dtype", DTYPES)
def test_normalization_floors_the_deviation(dtype):
    """A constant feature (variance 0) divides by 1e-7, as the core does."""
    model = Sequential([Input((3,), dtype=dtype), Normalization(mean=[1.0, 2.0, 3.0],
                                                                variance=[0.0, 4.0, 1e-20])])
    x = np.array([[1.0, 4.0, 3.0], [1.5, 0.0, 3.0 + 1e-9]], dtype)
    assert_same(model, x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten_first_takes_image_shaped_input(dtype):
    model = randomize(Sequential([Input((28, 28), dtype=dtype), Flatten(),
                                  Dense(16, activation="relu"), Flatten(), Dense(10)]))
    proto = densefit_onnx.export(model)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 28, 28]
    assert [n.op_type for n in proto.graph.node] == ["Flatten", "Gemm", "Relu", "Gemm"]
    for rows in (1, 3):
        assert_same(model, data((rows, 28, 28), dtype))


def test_dynamic_batch_and_a_fixed_one():
    model = randomize(Sequential([Input((5,)), Dense(3, activation="softmax")]))
    dynamic = session(densefit_onnx.export(model))
    for rows in (1, 2, 17, 1000):
        x = data((rows, 5), "float32", seed=rows)
        got = dynamic.run(None, {"input": x})[0]
        assert got.shape == (rows, 3)
        assert_close(got, model.predict(x, verbose=0), TOLERANCE["float32"])
    fixed = densefit_onnx.export(model, batch_size=4)
    assert fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    assert session(fixed).run(None, {"input": data((4, 5), "float32")})[0].shape == (4, 3)
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        session(fixed).run(None, {"input": data((5, 5), "float32")})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(_core.ACTIVATIONS))
@pytest.mark.filterwarnings("ignore:predict.*NaN or inf:RuntimeWarning")  # exp(1e4)
def test_extreme_inputs_agree(name, dtype):
    model = Sequential([Input((4,), dtype=dtype), Dense(4, activation=name)])
    model.set_weights([np.eye(4, dtype=dtype), np.zeros(4, dtype)])
    x = np.array([[1e4, -1e4, 80.0, -80.0], [700.0, -700.0, 1e-30, -1e-30],
                  [3e38, -3e38, 30.0, -30.0]], dtype)
    got, want = run(model, x), model.predict(x, verbose=0)
    assert (np.isfinite(got) == np.isfinite(want)).all()  # no overflow where densefit has none
    both = np.isfinite(got) & np.isfinite(want)
    assert both.sum() >= 4
    tolerance = GELU_FLOAT64 if (name, dtype) == ("gelu", "float64") else TOLERANCE[dtype]
    assert_close(got[both], want[both], tolerance)


def test_writes_the_file_and_returns_the_model(tmp_path):
    model = randomize(Sequential([Input((5,)), Dense(3, activation="relu"), Dense(2)]))
    path = tmp_path / "model.onnx"
    proto = densefit_onnx.export(model, path)
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    assert loaded == proto
    assert proto.producer_name == "densefit"
    assert proto.opset_import[0].version == densefit_onnx.DEFAULT_OPSET
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["output"]
    x = data((3, 5), "float32")
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    assert_close(got[0], model.predict(x, verbose=0), TOLERANCE["float32"])


def test_names_and_opset():
    model = randomize(Sequential([Input((5,)), Dense(3, activation="mish"), Dense(2)]))
    x = data((3, 5), "float32")
    proto = densefit_onnx.export(model, input_name="x", output_name="probabilities", opset=20)
    assert proto.opset_import[0].version == 20
    s = session(proto)
    assert [i.name for i in s.get_inputs()] == ["x"]
    assert [o.name for o in s.get_outputs()] == ["probabilities"]
    assert_close(s.run(None, {"x": x})[0], model.predict(x, verbose=0), TOLERANCE["float32"])


def test_a_layer_named_like_the_output_keeps_names_unique():
    model = randomize(Sequential([Input((5,)), Dense(3, name="output"), Dense(2, name="input")]))
    assert_same(model, data((3, 5), "float32"))


def test_a_model_that_is_not_built_is_refused():
    with pytest.raises(ValueError, match="not built.*Input\\(shape="):
        densefit_onnx.export(Sequential([Dense(3)]))


def test_a_layer_kind_without_a_mapping_is_named(monkeypatch):
    monkeypatch.delitem(densefit_onnx.LAYERS, "prelu")
    model = Sequential([Input((3,)), Dense(2), PReLU(name="slopes")])
    with pytest.raises(ValueError, match="'slopes' \\(PReLU, kind 'prelu'\\).*LAYERS"):
        densefit_onnx.export(model)


def test_an_activation_without_a_mapping_is_named(monkeypatch):
    monkeypatch.delitem(densefit_onnx.ACTIVATIONS, "mish")
    model = Sequential([Input((3,)), Dense(2, activation="mish", name="d")])
    with pytest.raises(ValueError, match="'d'.*'mish'.*ACTIVATIONS"):
        densefit_onnx.export(model)


@pytest.mark.parametrize("kwargs, match", [
    (dict(opset=17), "opset must be"), (dict(opset=10_000), "opset must be"),
    (dict(opset=18.0), "opset must be"), (dict(batch_size=0), "batch_size must be"),
    (dict(input_name=3), "input_name must be a string"),
    (dict(input_name="x", output_name="x"), "two different"),
    (dict(output_name=""), "two different")])
def test_arguments_are_checked(kwargs, match):
    model = Sequential([Input((3,)), Dense(2)])
    with pytest.raises(ValueError, match=match):
        densefit_onnx.export(model, **kwargs)


def test_a_path_in_a_missing_directory_is_refused(tmp_path):
    model = Sequential([Input((3,)), Dense(2)])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        densefit_onnx.export(model, tmp_path / "nowhere" / "m.onnx")
    with pytest.raises(IsADirectoryError):
        densefit_onnx.export(model, tmp_path)


def test_without_onnx_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match='pip install "densefit\\[onnx\\]"'):
        densefit_onnx.export(Sequential([Input((3,)), Dense(2)]))


def test_importing_densefit_does_not_import_onnx():
    code = "import sys, densefit; densefit.onnx.export; print('onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_model_export_is_keras_method(tmp_path, capsys):
    model = randomize(Sequential([Input((5,)), Dense(3, activation="relu"), Dense(2)]))
    path = tmp_path / "model.onnx"
    proto = model.export(path, format="onnx", verbose=True, opset_version=19, batch_size=None)
    assert capsys.readouterr().out == f"Saved artifact at '{path}'.\n"
    assert proto.opset_import[0].version == 19 and onnx.load(str(path)) == proto
    x = data((4, 5), "float32")
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})
    assert_close(got[0], model.predict(x, verbose=0), TOLERANCE["float32"])
    model.export(tmp_path / "quiet.onnx")  # ONNX is densefit's default format
    assert capsys.readouterr().out == "" and (tmp_path / "quiet.onnx").is_file()


@pytest.mark.parametrize("kwargs, match", [
    (dict(format="tf_saved_model"), "densefit exports ONNX only"),
    (dict(input_signature=[(None, 5)]), "input_signature must be None"),
    (dict(opset=3), "opset must be")])
def test_model_export_refuses_what_densefit_cannot_write(tmp_path, kwargs, match):
    model = Sequential([Input((5,)), Dense(2)])
    with pytest.raises(ValueError, match=match):
        model.export(tmp_path / "m.onnx", **kwargs)
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_nested_model_exports_its_layers_in_place(dtype):
    """The notes' ``Sequential([model, Softmax()])``: the inner model's layers,
    then the softmax (folded into the inner's last layer in the outer's plan)."""
    base = randomize(Sequential([Input((6,), dtype=dtype), Dense(8, activation="relu", dtype=dtype),
                                 BatchNormalization(dtype=dtype), Dense(3, dtype=dtype)]))
    probability_model = Sequential([base, Softmax()])
    x = data((33, 6), dtype)
    assert_same(probability_model, x)
    assert_close(run(probability_model, x).sum(axis=1), np.ones(33), TOLERANCE[dtype])
    assert_same(base, x)  # the inner on its own is unchanged
