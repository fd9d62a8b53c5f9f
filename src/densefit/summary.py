"""``model.summary()``: the layer table in Keras' layout."""
import math

import numpy as np

_WIDTHS = (26, 12)  # the Output Shape and Param # columns


def layer_shapes(model):
    """``(layer, output shape or None until known, parameter count or None when
    unbuilt)`` per layer: what ``summary()`` and ``plot.model`` show."""
    rows = []
    shape = model.input_shape  # what the next layer receives (None until known)
    for layer in model.layers:
        if type(layer).__name__ == "Flatten":
            shape = None if shape is None else (None, math.prod(shape[1:]))
        elif getattr(layer, "units", None) is not None:
            shape = (None, layer.units)
        count = layer.count_params() if layer.built or not layer.weight_names else None
        rows.append((layer, shape, count))
    return rows


def layer_rows(model):
    """``(name (Type), output shape, parameter count or None when unbuilt)`` per layer."""
    return [(f"{layer.name} ({type(layer).__name__})", "?" if shape is None else str(shape),
             count) for layer, shape, count in layer_shapes(model)]


def format_summary(model):
    rows = layer_rows(model)
    width = [max([len("Layer (type)")] + [len(r[0]) for r in rows]) + 2, *_WIDTHS]
    line = "-" * sum(width)
    out = [f'Model: "{model.name}"', line,
           "Layer (type)".ljust(width[0]) + "Output Shape".ljust(width[1])
           + "Param #".rjust(width[2]), "=" * sum(width)]
    for name, shape, count in rows:
        out.append(name.ljust(width[0]) + shape.ljust(width[1])
                   + ("(unbuilt)" if count is None else f"{count:,}").rjust(width[2]))
    out.append("=" * sum(width))
    itemsize = np.dtype(model.dtype).itemsize
    total = model.count_params()
    trainable = sum(w.size for w in model.trainable_weights)
    out += [f"Total params: {total:,} ({format_bytes(total * itemsize)})",
            f"Trainable params: {trainable:,} ({format_bytes(trainable * itemsize)})",
            f"Non-trainable params: {total - trainable:,} "
            f"({format_bytes((total - trainable) * itemsize)})", line]
    return "\n".join(out)


def format_bytes(n):
    """A size in Keras' summary units (B, KB, MB, GB; 1024 apart)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
