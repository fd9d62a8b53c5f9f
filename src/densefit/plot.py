"""Seeing results: training curves and a model's layer stack, drawn with matplotlib.

``history(history, path=None)`` draws loss and every metric per epoch, training
against validation, one panel each; ``model(model, path=None)`` draws the layer
stack as boxes (name, class, output shape, parameters) joined by arrows, the
input on top.  Both return a ``matplotlib.figure.Figure`` and, given ``path``,
write it there (the format from the extension: ``.png``, ``.pdf``, ``.svg``,
...; PNG without one).  ``densefit.utils.plot_model`` is Keras' name for
``model`` with Keras' arguments.

The figures are made without pyplot, on the non-interactive Agg canvas: no
display is needed and nothing accumulates in pyplot's list of open figures.
In a notebook the returned figure shows as the cell's value (after
``%matplotlib inline``); ``fig.savefig(...)`` writes it again in any format.

matplotlib is an optional dependency (``pip install "densefit[plot]"``),
imported on first use.

>>> fig = history(model.fit(x, y, validation_split=0.1, epochs=10), "history.png")  # doctest: +SKIP
"""
import math
import os

import numpy as np

from . import missing, summary, validation

INSTALL = 'pip install "densefit[plot]"'  # the one way to get matplotlib, said in errors
_PANEL_INCHES = (4.2, 3.0)  # one history panel
_COLUMNS = 3  # history panels per row, at most
_MARKERS_UP_TO = 30  # epochs: fewer get a marker per epoch (one epoch is a point, not a line)
_BOX_HEIGHT, _GAP, _MARGIN = 0.62, 0.34, 0.15  # the model plot's layout, in inches
_CHAR_INCHES = 0.078  # the width of an average character at the boxes' font sizes
_COLOURS = {"input": "#f6e7c8", "weights": "#d6e6f5", "none": "#ececec"}
_LINES = {"training": dict(color="C0", linestyle="-"),  # the same look in every panel
          "validation": dict(color="C1", linestyle="--")}


def _matplotlib():
    """``(Figure, FigureCanvasAgg)``, or an ImportError saying how to install them."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(f"densefit.plot needs matplotlib, which is not installed: "
                          f"{INSTALL} (or pip install matplotlib)") from e
    return Figure, FigureCanvasAgg


def _new_figure(width, height, dpi=100, layout=None):
    Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=(width, height), dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)  # Agg renders without a display
    return fig


def checked_path(path, example="plot.png"):
    """``(path, format)`` a figure will be written to, or ``(None, None)`` for None:
    checked before anything is drawn (or trained: ``python -m densefit --plot``)."""
    if path is None:
        return None, None
    _matplotlib()
    path = validation.output_file(path, "path", example)
    fmt = os.path.splitext(path)[1][1:].lower() or "png"
    supported = _new_figure(1, 1).canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(f"path {path!r}: matplotlib cannot write .{fmt} files; use one of "
                         f"{', '.join('.' + f for f in sorted(supported))}")
    return path, fmt


def _save(fig, path, fmt):
    if path is not None:
        fig.savefig(path, format=fmt)
    return fig


# ------------------------------------------------------------------ history

def history(history, path=None):
    """Loss and every metric per epoch, training against validation, one panel each.

    Args:
        history: what ``fit`` returns (a ``History``; Keras' works too) or its
            ``.history`` dict: ``{"loss": [...], "val_loss": [...], ...}``.
        path: where to write the figure (PNG, or the format its extension
            names), or None to return it without writing.

    Returns:
        The matplotlib Figure: a panel (Axes) per logged name without its
        ``val_`` prefix, in the order logged, titled with that name, with a
        ``training`` line and, when validation was logged, a ``validation``
        line; epochs (from 1) on the x axis.
    """
    _matplotlib()
    logs, epochs = _history_logs(history)
    path, fmt = checked_path(path, "history.png")
    panels = _history_panels(logs)
    columns = min(len(panels), _COLUMNS)
    rows = math.ceil(len(panels) / columns)
    fig = _new_figure(_PANEL_INCHES[0] * columns, _PANEL_INCHES[1] * rows,
                      layout="constrained")
    for i, (name, series) in enumerate(panels):
        _history_panel(fig.add_subplot(rows, columns, i + 1), name, series, epochs)
    return _save(fig, path, fmt)


def _history_logs(history):
    """``({name: 1-d float array}, epoch numbers from 1)``, checked."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError(f"history must be the History that fit returns or its .history dict, "
                        f"got {type(history).__name__}")
    checked = {}
    for key, values in logs.items():
        try:
            series = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            series = None
        if not isinstance(key, str) or series is None or series.ndim != 1:
            raise ValueError(f"history[{key!r}] must be a list of numbers, one per epoch, got "
                             f"{values!r:.80}")
        if len(series):
            checked[key] = series
    if not checked:
        raise ValueError("history has no epochs to plot: it is empty (did fit run for 0 "
                         "epochs?)")
    n = max(len(s) for s in checked.values())
    recorded = getattr(history, "epoch", None)  # fit's epoch indices (initial_epoch counts)
    if isinstance(recorded, list) and len(recorded) == n:
        return checked, np.asarray(recorded, dtype=np.float64) + 1
    return checked, np.arange(1, n + 1, dtype=np.float64)


def _history_panels(logs):
    """``[(name, {"training": series, "validation": series})]``: loss first, then the
    others in logged order."""
    panels = {"loss": {}} if "loss" in logs or "val_loss" in logs else {}
    for key, series in logs.items():
        validation_log = key.startswith("val_")
        name = key[4:] if validation_log else key
        panels.setdefault(name, {})["validation" if validation_log else "training"] = series
    return [(name, dict(sorted(lines.items()))) for name, lines in panels.items()]


def _history_panel(ax, name, lines, epochs):
    from matplotlib.ticker import MaxNLocator

    n = len(epochs)
    for label, series in lines.items():
        # a series logged on fewer epochs (validation_freq=k): at every k-th epoch
        step = max(n // len(series), 1)
        x = epochs[step - 1::step][:len(series)]
        ax.plot(x, series[:len(x)], label=label, marker="o" if n <= _MARKERS_UP_TO else None,
                markersize=3.5, **_LINES[label])
    ax.set_title(name)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if n == 1:  # one point: whole epochs around it, not a zoom into fractions of one
        ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
    ax.grid(alpha=0.3)
    ax.legend()


# ------------------------------------------------------------------ model

def model(model, path=None, *, show_shapes=True, show_layer_names=True, show_params=True,
          show_dtype=False, show_layer_activations=False, show_trainable=False, dpi=100):
    """The layer stack: a box per layer, the input on top, arrows down to the output.

    Args:
        model: a ``Sequential`` (built or not: unknown shapes show as ``?``).
        path: where to write the figure (PNG, or the format its extension
            names), or None to return it without writing.
        show_shapes: each box gives the layer's output shape, as ``summary()``.
        show_layer_names: boxes are titled ``name (Class)``; False: ``Class``.
        show_params: each box gives the layer's parameter count, and the
            figure the model's totals.
        show_dtype, show_layer_activations, show_trainable: each box also gives
            the model's dtype, the layer's activation (layers that have one),
            whether its weights are trainable (layers that have weights).
        dpi: the figure's resolution in dots per inch.

    Returns:
        The matplotlib Figure: one Axes holding a box (a patch, its title and
        detail line as texts) per layer plus one for the input, and an arrow
        (an annotation) between each two.
    """
    _matplotlib()
    flags = {k: validation.boolean(v, k) for k, v in dict(
        show_shapes=show_shapes, show_layer_names=show_layer_names, show_params=show_params,
        show_dtype=show_dtype, show_layer_activations=show_layer_activations,
        show_trainable=show_trainable).items()}
    dpi = validation.integer(dpi, "dpi", high=1200)
    if not hasattr(model, "layers") or not hasattr(model, "input_shape"):
        raise TypeError(f"model must be a densefit Sequential, got {type(model).__name__}")
    path, fmt = checked_path(path, "model.png")
    boxes = _model_boxes(model, flags)
    footer = _model_totals(model) if flags["show_params"] else ""
    return _save(_draw_stack(boxes, footer, dpi), path, fmt)


_model_plot = model  # plot_model's argument ``model`` (Keras' name) hides the function


def _model_boxes(model, flags):
    """``[(title, detail line, colour key)]``: the input, then each layer."""
    dtype = f"dtype {model.dtype}" if flags["show_dtype"] else None
    shape = model.input_shape
    title = "input (InputLayer)" if flags["show_layer_names"] else "InputLayer"
    details = [f"shape {'?' if shape is None else shape}" if flags["show_shapes"] else None,
               dtype]
    boxes = [(title, _joined(details), "input")]
    for layer, shape, count in summary.layer_shapes(model):
        kind = type(layer).__name__
        activation = getattr(layer, "activation", None)
        details = [
            f"output {'?' if shape is None else shape}" if flags["show_shapes"] else None,
            (f"{count:,} params" if count is not None else "params unbuilt")
            if flags["show_params"] else None,
            f"activation {activation.name}"
            if flags["show_layer_activations"] and activation is not None else None,
            dtype,
            ("trainable" if layer.trainable else "frozen")
            if flags["show_trainable"] and summary.weight_names(layer) else None]
        boxes.append((f"{layer.name} ({kind})" if flags["show_layer_names"] else kind,
                      _joined(details), "weights" if summary.weight_names(layer) else "none"))
    return boxes


def _joined(details):
    return "  ·  ".join(d for d in details if d)


def _model_totals(model):
    if not model.built:
        return "params: unbuilt (build the model or fit it to count them)"
    total = model.count_params()
    trainable = sum(w.size for w in model.trainable_weights)
    return f"Total params: {total:,}  (trainable {trainable:,}, non-trainable {total - trainable:,})"


def _draw_stack(boxes, footer, dpi):
    """A figure in inch coordinates: the boxes top to bottom, arrows between them."""
    from matplotlib.patches import FancyBboxPatch

    chars = max([len(footer)] + [max(len(t) * 1.1, len(d)) for t, d, _ in boxes])
    box_width = max(2.6, chars * _CHAR_INCHES + 0.4)
    width = box_width + 2 * _MARGIN
    height = len(boxes) * (_BOX_HEIGHT + _GAP) - _GAP + 2 * _MARGIN + (0.35 if footer else 0)
    fig = _new_figure(width, height, dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    centre = width / 2
    for i, (title, detail, colour) in enumerate(boxes):
        top = height - _MARGIN - i * (_BOX_HEIGHT + _GAP)
        ax.add_patch(FancyBboxPatch((_MARGIN, top - _BOX_HEIGHT), box_width, _BOX_HEIGHT,
                                    boxstyle="round,pad=0,rounding_size=0.06",
                                    facecolor=_COLOURS[colour], edgecolor="#404040"))
        ax.text(centre, top - (0.21 if detail else _BOX_HEIGHT / 2), title, ha="center",
                va="center", fontsize=10, fontweight="bold")
        if detail:
            ax.text(centre, top - 0.45, detail, ha="center", va="center", fontsize=9)
        if i:
            ax.annotate("", xy=(centre, top), xytext=(centre, top + _GAP),
                        arrowprops=dict(arrowstyle="-|>", color="#404040", lw=1.2))
    if footer:
        ax.text(centre, _MARGIN + 0.1, footer, ha="center", va="center", fontsize=9)
    return fig


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=False, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False, splines="ortho", **kwargs):
    """Keras' ``keras.utils.plot_model``: ``model(...)`` with Keras' arguments and
    defaults, written to ``to_file``; returns the Figure (Keras returns an IPython
    image).  Drawn with matplotlib rather than graphviz: top to bottom only
    (``rankdir="TB"``), straight arrows whatever ``splines`` says (a stack has
    no bends), nothing nested to expand.  Parameter counts, which Keras' plot
    lacks, are left out; ``densefit.plot.model`` shows them."""
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
    validation.one_of(rankdir, "rankdir", ("TB",))
    validation.boolean(expand_nested, "expand_nested")
    validation.one_of(splines, "splines", ("ortho", "curved", "polyline", "spline", "line"))
    return _model_plot(model, to_file, show_shapes=show_shapes,
                       show_layer_names=show_layer_names, show_params=False,
                       show_dtype=show_dtype, show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable, dpi=dpi)


__getattr__ = missing.module_getattr(__name__, globals())  # what densefit lacks, said as such
