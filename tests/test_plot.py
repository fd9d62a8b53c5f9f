"""densefit.plot: the history and model figures (their axes, lines and texts, not
pixels), the files written, the errors for bad inputs and a missing matplotlib,
``utils.plot_model`` with Keras' arguments, and ``python -m densefit --plot``."""
import os
import subprocess
import sys

import numpy as np
import pytest

_preloaded = os.environ.get("LD_PRELOAD", "")
if "libasan" in _preloaded and "libstdc++" not in _preloaded:
    # matplotlib's C++ extensions throw exceptions, and ASan's __cxa_throw interceptor,
    # preloaded into an uninstrumented Python, aborts the process when libstdc++ is
    # loaded after it; densefit.plot is pure Python, so nothing is lost by skipping
    pytest.skip("matplotlib aborts under a preloaded ASan runtime unless libstdc++ is "
                "preloaded too: LD_PRELOAD=\"$(gcc -print-file-name=libasan.so) "
                "$(gcc -print-file-name=libstdc++.so)\"", allow_module_level=True)
pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

import densefit as keras  # noqa: E402
from densefit import __main__ as cli  # noqa: E402
from densefit import layers, plot  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def _lines(ax):
    return {line.get_label(): line for line in ax.get_lines()}


def _trained(epochs=4, **fit):
    keras.backend.clear_session()  # names from dense, dense_1, ...
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((5,)), layers.Dense(8, activation="relu"),
                              layers.Dropout(0.1), layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model, model.fit(x, y, epochs=epochs, verbose=0, **fit)


def _texts(fig):
    return [t.get_text() for t in fig.axes[0].texts if not isinstance(t, Annotation)]


# ------------------------------------------------------------------ history

def test_history_has_a_panel_per_metric_with_training_and_validation_lines():
    _, history = _trained(epochs=4, validation_split=0.25)
    fig = plot.history(history)
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]  # loss first
    for ax in fig.axes:
        name = ax.get_title()
        lines = _lines(ax)
        assert set(lines) == {"training", "validation"}
        np.testing.assert_array_equal(lines["training"].get_xdata(), [1, 2, 3, 4])
        np.testing.assert_allclose(lines["training"].get_ydata(), history.history[name])
        np.testing.assert_allclose(lines["validation"].get_ydata(),
                                   history.history["val_" + name])
        assert ax.get_xlabel() == "epoch"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training",
                                                                       "validation"]


def test_history_takes_the_dict_and_plots_only_what_was_logged():
    logs = {"loss": [1.0, 0.5, 0.25], "mae": [3, 2, 1], "val_auc": [0.6, 0.7, 0.8],
            "learning_rate": [1e-3, 1e-3, 1e-4]}
    fig = plot.history(logs)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "mae", "auc", "learning_rate"]
    assert [set(_lines(ax)) for ax in fig.axes] == [{"training"}, {"training"},
                                                     {"validation"}, {"training"}]
    # one colour per kind of line in every panel
    assert _lines(fig.axes[2])["validation"].get_color() == "C1"


def test_many_metrics_wrap_three_panels_to_a_row():
    logs = {f"m{i}": [1.0, 2.0] for i in range(5)}
    fig = plot.history(logs)
    assert len(fig.axes) == 5
    spec = [ax.get_subplotspec().get_geometry()[:2] for ax in fig.axes]
    assert set(spec) == {(2, 3)}
    width, height = fig.get_size_inches()
    assert width > height


def test_history_counts_epochs_from_fits_initial_epoch():
    model, _ = _trained(epochs=2)
    history = model.fit(np.zeros((8, 5), "float32"), np.zeros(8, "int64"), epochs=5,
                        initial_epoch=2, verbose=0)
    fig = plot.history(history)
    np.testing.assert_array_equal(_lines(fig.axes[0])["training"].get_xdata(), [3, 4, 5])


def test_one_epoch_is_a_visible_point_on_whole_epochs():
    ax = plot.history({"loss": [0.7]}).axes[0]
    assert _lines(ax)["training"].get_marker() == "o"
    assert ax.get_xlim() == (0.0, 2.0)


def test_validation_logged_every_kth_epoch_sits_at_those_epochs():
    ax = plot.history({"loss": [4, 3, 2, 1, 0.5, 0.25], "val_loss": [3.5, 1.5, 0.3]}).axes[0]
    np.testing.assert_array_equal(_lines(ax)["validation"].get_xdata(), [2, 4, 6])


@pytest.mark.parametrize("bad, error, message", [
    ([0.5, 0.4], TypeError, "history must be the History that fit returns or its .history "
                            "dict, got list"),
    ("loss", TypeError, "got str"),
    ({}, ValueError, "history has no epochs to plot"),
    ({"loss": []}, ValueError, "history has no epochs to plot"),
    ({"loss": ["low", "high"]}, ValueError, r"history\['loss'\] must be a list of numbers"),
    ({"loss": [[1, 2]]}, ValueError, r"history\['loss'\] must be a list of numbers"),
])
def test_history_refuses_what_is_not_a_history(bad, error, message):
    with pytest.raises(error, match=message):
        plot.history(bad)


def test_an_unfitted_history_is_empty():
    with pytest.raises(ValueError, match="no epochs to plot"):
        plot.history(keras.callbacks.History())


# ------------------------------------------------------------------ files

def test_path_writes_a_png_and_returns_the_figure(tmp_path):
    path = tmp_path / "history.png"
    fig = plot.history({"loss": [1, 0.5]}, path)
    assert isinstance(fig, Figure)
    assert path.read_bytes().startswith(PNG)


def test_the_extension_chooses_the_format_and_none_is_png(tmp_path):
    plot.history({"loss": [1, 0.5]}, str(tmp_path / "h.svg"))
    assert b"<svg" in (tmp_path / "h.svg").read_bytes()[:400]
    plot.model(_trained(epochs=1)[0], tmp_path / "model")
    assert (tmp_path / "model").read_bytes().startswith(PNG)  # the name as given, PNG inside


def test_bad_paths_are_refused_before_drawing(tmp_path):
    missing_dir = tmp_path / "nowhere" / "h.png"
    with pytest.raises(FileNotFoundError, match=r"the directory .*nowhere does not exist; "
                                                r"create it first"):
        plot.history({"loss": [1.0]}, missing_dir)
    with pytest.raises(IsADirectoryError, match="names a directory; give a file path such as"):
        plot.history({"loss": [1.0]}, tmp_path)
    with pytest.raises(ValueError, match=r"matplotlib cannot write \.xyz files; use one of "
                                         r".*\.png"):
        plot.history({"loss": [1.0]}, tmp_path / "h.xyz")
    with pytest.raises(TypeError, match="path must be a path"):
        plot.history({"loss": [1.0]}, 3)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ model

def test_model_plot_is_a_box_per_layer_below_the_input_joined_by_arrows():
    model, _ = _trained(epochs=1)
    fig = plot.model(model)
    ax = fig.axes[0]
    assert len(ax.patches) == 4  # input + 3 layers
    arrows = [t for t in ax.texts if isinstance(t, Annotation)]
    assert len(arrows) == 3
    texts = _texts(fig)
    assert texts[:2] == ["input (InputLayer)", "shape (None, 5)"]
    assert texts[2:8] == ["dense (Dense)", "output (None, 8)  ·  48 params",
                          "dropout (Dropout)", "output (None, 8)  ·  0 params",
                          "dense_1 (Dense)", "output (None, 2)  ·  18 params"]
    assert texts[-1] == "Total params: 66  (trainable 66, non-trainable 0)"
    tops = [p.get_y() for p in ax.patches]
    assert tops == sorted(tops, reverse=True)  # the input on top, the output at the bottom
    for arrow in arrows:  # each arrow points down
        assert arrow.xy[1] < arrow.xyann[1]


def test_model_plot_of_an_unbuilt_model_and_of_image_input():
    keras.backend.clear_session()
    unbuilt = keras.Sequential([layers.Dense(4), layers.Dense(1)])
    texts = _texts(plot.model(unbuilt))
    assert texts[1] == "shape ?" and texts[3] == "output (None, 4)  ·  params unbuilt"
    assert texts[-1].startswith("params: unbuilt")
    images = keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(10)])
    texts = _texts(plot.model(images))
    assert texts[1] == "shape (None, 28, 28)"
    assert texts[3] == "output (None, 784)  ·  0 params"


def test_model_plot_options():
    model, _ = _trained(epochs=1)
    model.layers[0].trainable = False
    texts = _texts(plot.model(model, show_layer_names=False, show_shapes=False,
                              show_params=False, show_layer_activations=True,
                              show_trainable=True, show_dtype=True))
    assert texts == ["InputLayer", "dtype float32",
                     "Dense", "activation relu  ·  dtype float32  ·  frozen",
                     "Dropout", "dtype float32",
                     "Dense", "activation linear  ·  dtype float32  ·  trainable"]
    with pytest.raises(TypeError, match="show_shapes must be True or False"):
        plot.model(model, show_shapes="yes")
    with pytest.raises(TypeError, match="model must be a densefit Sequential, got dict"):
        plot.model({"layers": []})


def test_utils_plot_model_takes_keras_arguments_and_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, _ = _trained(epochs=1)
    fig = keras.utils.plot_model(model)  # to_file="model.png", Keras' defaults
    assert (tmp_path / "model.png").read_bytes().startswith(PNG)
    assert fig.dpi == 200
    assert _texts(fig) == ["InputLayer", "Dense", "Dropout", "Dense"]  # no names, no shapes
    fig = keras.utils.plot_model(model, to_file=str(tmp_path / "m.png"), show_shapes=True,
                                 show_layer_names=True, rankdir="TB", expand_nested=False,
                                 dpi=96, splines="ortho")
    assert _texts(fig)[2:4] == ["dense (Dense)", "output (None, 8)"]
    with pytest.raises(ValueError, match="rankdir must be one of 'TB'"):
        keras.utils.plot_model(model, rankdir="LR")
    with pytest.raises(ValueError, match="Unrecognized keyword arguments"):
        keras.utils.plot_model(model, layer_range=["dense", "dense_1"])
    assert "plot_model" not in keras.missing._FAMILIES["utils"][0][0]


# ------------------------------------------------------------------ matplotlib missing

def test_a_missing_matplotlib_says_how_to_install_it(monkeypatch):
    for name in [n for n in sys.modules if n == "matplotlib" or n.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    model, history = _trained(epochs=1)
    for call in (lambda: plot.history(history), lambda: plot.model(model),
                 lambda: keras.utils.plot_model(model)):
        with pytest.raises(ImportError, match=r'densefit.plot needs matplotlib, which is not '
                                              r'installed: pip install "densefit\[plot\]"'):
            call()


def test_importing_densefit_does_not_import_matplotlib():
    code = "import sys, densefit, densefit.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


# ------------------------------------------------------------------ python -m densefit --plot

def test_main_plot_writes_the_history(tmp_path, capsys):
    path = tmp_path / "out.png"
    assert cli.main(["--epochs", "3", "--verbose", "0", "--plot", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"training history plotted to {path}" in out
    assert path.read_bytes().startswith(PNG)


def test_main_plot_to_a_missing_directory_fails_before_training(tmp_path, capsys):
    assert cli.main(["--epochs", "3", "--plot", str(tmp_path / "no" / "out.png")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing trained
    assert captured.err.startswith("python -m densefit: error: --plot: path ")
    assert "does not exist" in captured.err
