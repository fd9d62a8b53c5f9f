"""``model.summary()``: the layer table as Keras 3 prints it.

Keras 3 (``keras/src/utils/summary_utils.py``) renders with ``rich``; this module
writes the same characters without it: a table of box-drawing characters with a
heavy header (rich's ``box.HEAVY_HEAD``, ``show_lines=True``), column widths from
``line_length`` split at ``positions`` and shrunk as rich shrinks them, cells
word-wrapped and cut with "…" as rich does, then the parameter counts and sizes.
"""
import math
import re
import shutil

import numpy as np

from . import validation

LINE_LENGTH = 88              # Keras' widest default line (clipped to the terminal - 4)
TRAINABLE_EXTRA = 12          # show_trainable widens the default line by this much
TRAINABLE_SHARE = 0.90        # ... and scales the other columns' positions by this
POSITIONS = (0.45, 0.80, 1.0)  # where Layer (type) | Output Shape | Param # end
HEADER = ("Layer (type)", "Output Shape", "Param #")
JUSTIFY = ("left", "left", "right")
UNITS = ("B", "KB", "MB", "GB", "TB", "PB")
# rich's box.HEAVY_HEAD: (left, line, divider, right) per rule, then the two walls
TOP, HEAD_RULE, ROW_RULE, BOTTOM = "┏━┳┓", "┡━╇┩", "├─┼┤", "└─┴┘"
HEAD_WALL, BODY_WALL = "┃", "│"
# weights Keras keeps as int64 whatever the model's dtype: their bytes count 8 each
INT64_WEIGHTS = {("Normalization", "count")}


def layer_shapes(model):
    """``(layer, output shape or None until known, parameter count or None when
    unbuilt)`` per layer: what ``summary()`` and ``plot.model`` show (a nested
    model is one row, as in Keras)."""
    rows = []
    shape = model.input_shape  # what the next layer receives (None until known)
    for layer in model.layers:
        if type(layer).__name__ == "Flatten":
            shape = None if shape is None else (None, math.prod(shape[1:]))
        elif _is_model(layer):
            shape = layer.output_shape if layer.built else shape
        elif getattr(layer, "units", None) is not None:
            shape = (None, layer.units)
        count = layer.count_params() if layer.built or not weight_names(layer) else None
        rows.append((layer, shape, count))
    return rows


# ------------------------------------------------------------ the text

def format_summary(model, line_length=None, positions=None, expand_nested=False,
                   show_trainable=False, layer_range=None):
    """The text ``model.summary()`` prints, ending in a newline (Keras hands
    ``print_fn`` the whole of it in one call)."""
    expand_nested = validation.boolean(expand_nested, "expand_nested")
    show_trainable = validation.boolean(show_trainable, "show_trainable")
    header, justify = list(HEADER), list(JUSTIFY)
    default = LINE_LENGTH
    positions = list(positions or POSITIONS)
    if show_trainable:
        default += TRAINABLE_EXTRA
        positions = [p * TRAINABLE_SHARE for p in positions] + [1.0]
        header.append("Trainable")
        justify.append("center")
    default = min(default, shutil.get_terminal_size().columns - 4)
    line_length = validation.integer(line_length or default, "line_length")
    widths = _fit_widths(_column_widths(line_length, positions), line_length)
    start, stop = _layer_bounds(model.layers, layer_range)
    # output shapes are known once the model is built (Keras: "?" until then)
    shapes = _shapes(model) if model.built else {}
    rows = [row for layer in model.layers[start:stop]
            for row in _layer_rows(layer, shapes, show_trainable, expand_nested)]
    columns = shutil.get_terminal_size().columns  # rich crops what is wider
    lines = [f'Model: "{model.name}"', *(line[:columns] for line in
                                         _table(header, justify, widths, rows)),
             *_totals(model)]
    return "\n".join(lines) + "\n"


def _is_model(layer):
    return hasattr(layer, "layers")  # a nested Sequential


def weight_names(layer):
    """The weights a layer has once built (a nested model: its layers')."""
    if _is_model(layer):
        return [name for inner in layer.layers for name in weight_names(inner)]
    return layer.weight_names


def _shapes(model):
    """Output shapes by ``id(layer)``, the layers of nested models included."""
    shapes = {}
    for layer, shape, _ in layer_shapes(model):
        shapes[id(layer)] = shape
        if _is_model(layer) and layer.built:
            shapes.update(_shapes(layer))
    return shapes


def _column_widths(line_length, positions):
    """Keras' widths: each column ends at ``int(position * line_length)``."""
    widths, current = [], 0
    for position in positions:
        width = int(position * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width)
        current += width
    return widths


def _fit_widths(widths, line_length):
    """What rich draws: each column its width plus a space each side, the excess
    over ``line_length`` less the walls taken evenly (rich's ``ratio_reduce``)."""
    widths = [w + 2 for w in widths]
    excess = sum(widths) + len(widths) + 1 - line_length
    if excess <= 0:
        return widths
    fitted, left = [], len(widths)
    for width in widths:
        cut = min(width, round(excess / left))  # round half to even, as rich
        fitted.append(width - cut)
        excess -= cut
        left -= 1
    return fitted


def _layer_rows(layer, shapes, show_trainable, expand_nested, level=0):
    """One row of cells for ``layer`` (and its layers', with ``expand_nested``);
    ``shapes``: output shapes by ``id(layer)``, "?" for a layer not in it."""
    prefix = "   " * level + "└ " if level else ""
    shape = shapes.get(id(layer))
    # a layer without weights is built from the start in Keras (Dropout)
    params = f"{layer.count_params():,}" if layer.built or not weight_names(layer) \
        else "0 (unbuilt)"
    row = [f"{prefix}{layer.name} ({type(layer).__name__})",
           "?" if shape is None else _shape_text(shape), params]
    if show_trainable:
        row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
    rows = [row]
    for inner in getattr(layer, "layers", None) or [] if expand_nested else []:
        rows += _layer_rows(inner, shapes, show_trainable, expand_nested, level + 1)
    return rows


def _shape_text(shape):
    return f"({', '.join(str(d) for d in shape)})"


def _layer_bounds(layers, layer_range):
    """``[start, stop)`` of the layers ``layer_range`` (two regexes, inclusive) picks."""
    if layer_range is None:
        return 0, len(layers)
    first, last = validation.layer_range(layer_range)
    lower = [i for i, layer in enumerate(layers) if re.match(first, layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(last, layer.name)]
    if not lower or not upper:
        raise ValueError(f"Passed layer_names do not match the layer names in the model. "
                         f"Received: {layer_range}")
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1


# ------------------------------------------------------------ the table

def _table(header, justify, widths, rows):
    """The table's lines: a heavy header, every row ruled off, as rich's HEAVY_HEAD."""
    lines = [_rule(TOP, widths), *_row(header, justify, widths, HEAD_WALL),
             _rule(HEAD_RULE, widths)]
    for i, row in enumerate(rows):
        if i:
            lines.append(_rule(ROW_RULE, widths))
        lines += _row(row, justify, widths, BODY_WALL)
    return lines + [_rule(BOTTOM, widths)]


def _rule(box, widths):
    left, line, divider, right = box
    return left + divider.join(line * w for w in widths) + right


def _row(cells, justify, widths, wall):
    """A row's lines: each cell wrapped to its column, shorter cells padded below."""
    wrapped = [_wrap(cell, w - 2) for cell, w in zip(cells, widths)]
    height = max(len(lines) for lines in wrapped)
    out = []
    for k in range(height):
        parts = [" " + _justify(lines[k] if k < len(lines) else "", w - 2, how) + " "
                 for lines, w, how in zip(wrapped, widths, justify)]
        out.append(wall + wall.join(parts) + wall)
    return out


def _wrap(text, width):
    """rich's word wrap: break before a word that does not fit, never inside one,
    then cut a line still too long to ``width - 1`` characters and "…"."""
    lines, current = [], ""
    for word in re.findall(r"\s*\S+\s*", text):
        if current and len(current) + len(word.rstrip()) > width:
            lines.append(current)
            current = word
        else:
            current += word
    lines.append(current)
    return [line.rstrip() if len(line.rstrip()) <= width else line[:width - 1] + "…"
            for line in lines]


def _justify(text, width, how):
    if how == "right":
        return text.rjust(width)
    if how == "center":
        left = (width - len(text)) // 2
        return (" " * left + text).ljust(width)
    return text.ljust(width)


# ------------------------------------------------------------ the counts

def _totals(model):
    """Total (weights and optimizer state), Trainable, Non-trainable and, once the
    optimizer is built, Optimizer params: counts and sizes, as Keras."""
    trainable = _count(model, "trainable_weights")
    fixed = _count(model, "non_trainable_weights")
    optimizer = _optimizer_state(model)
    state = optimizer or (0, 0)
    lines = [_count_line("Total", *(a + b + c for a, b, c in zip(trainable, fixed, state))),
             _count_line("Trainable", *trainable),
             _count_line("Non-trainable", *fixed)]
    if optimizer is not None:
        lines.append(_count_line("Optimizer", *optimizer))
    return lines


def _count(model, kind):
    """``(count, bytes)`` of the layers' ``kind`` weights, each in Keras' dtype."""
    weights = [(type(layer).__name__, w) for layer in _leaves(model.layers)
               for w in getattr(layer, kind)]
    count = sum(w.size for _, w in weights)
    size = sum(w.size * (8 if (layer, w.name) in INT64_WEIGHTS else w.itemsize)
               for layer, w in weights)
    return count, size


def _leaves(layers):
    """``layers`` with each nested model replaced by its layers."""
    return [leaf for layer in layers
            for leaf in (_leaves(layer.layers) if _is_model(layer) else [layer])]


def _count_line(kind, count, size):
    return f" {kind} params: {count:,} ({format_bytes(size)})"


def _optimizer_state(model):
    """``(count, bytes)`` of the optimizer's variables as Keras counts them once
    built (at the first step): ``iterations`` (int64), the learning rate
    (float32, unless a schedule), its scalars (Nadam's ``u_product``) and its
    state arrays; None before that."""
    optimizer = getattr(model, "optimizer", None)
    if not model.compiled or optimizer is None:
        return None
    slots = [getattr(optimizer, name) for name in optimizer.slot_names]
    if any(slot is None for slot in slots) or not (slots or optimizer.iterations):
        return None
    count, size = 1, 8  # iterations
    if not isinstance(optimizer.get_config()["learning_rate"], dict):  # a schedule's config
        count, size = count + 1, size + 4
    if hasattr(optimizer, "u_product"):
        count, size = count + 1, size + np.dtype(model.dtype).itemsize
    return count + sum(s.size for s in slots), size + sum(s.nbytes for s in slots)


def format_bytes(n):
    """A size in Keras' summary units (B, KB, MB, ... PB; 1024 apart)."""
    for unit in UNITS:
        if n / 1024 < 1:
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} {UNITS[-1]}"
