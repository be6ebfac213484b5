"""How shapes, counts, hyperparameters and issues read in the window (pure text, no Qt)."""

from __future__ import annotations

from cnnstudio.network import catalog
from cnnstudio.network.spec import LayerSpec


def format_shape(shape) -> str:
    """``(28, 28, 32)`` reads ``28×28×32``; an unknown shape reads ``?``."""
    if shape is None:
        return "?"
    return "×".join("?" if v is None else str(v) for v in shape)


def format_receptive_field(field, input_shape) -> str:
    """``5×5``; a field that spans the whole input says so, since it can exceed the image:
    a unit after a "same"-padded stack also sees padding, e.g. ``10×10 (whole 8×8 input)``."""
    if not field:
        return ""
    text = format_shape(field)
    spatial = tuple(input_shape[:-1])
    if len(field) == len(spatial) and all(n is not None and f >= n for f, n in zip(field, spatial, strict=True)):
        text += f" (whole {format_shape(spatial)} input)"
    return text


def format_count(n: int | None) -> str:
    """One style for every count: exact below a million (``36,928``), three significant digits
    with a unit above (``4.10 M``, ``138 M``, ``1.85 G``); :func:`exact_count` gives the tooltip."""
    if n is None:
        return "?"
    if abs(n) < 1_000_000:
        return f"{n:,}"
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if abs(n) >= scale:
            value = n / scale
            digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
            return f"{value:.{digits}f} {unit}"
    return f"{n:,}"


def exact_count(n: int | None) -> str:
    """The exact value behind a rounded count, for its tooltip: ``1,849,688,064``."""
    return "?" if n is None else f"{n:,}"


def format_value(value) -> str:
    """A hyperparameter as typed in the property panel: ``3``, ``3,3``, ``same`` or empty."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def key_params(layer: LayerSpec) -> list[str]:
    """The few hyperparameters worth reading on a node, e.g. ``32 filters``, ``3×3``, ``stride 2``."""
    layer_type = catalog.get(layer.type)
    rank = layer_type.rank or 1
    window_size = layer_type.window.size if layer_type.window else None
    out = []
    for param in layer_type.params:
        if not param.node_label:
            continue
        value = layer.param(param.name)
        if any(value in (hidden, [hidden] * rank) for hidden in param.node_hidden):
            continue
        if param.name == window_size:
            value = "×".join(str(v) for v in (value if isinstance(value, list) else [value] * rank))
        elif param.kind in ("padding", "int_or_pair") and isinstance(value, int | list):
            value = f"pad {format_value(value)}"
        out.append(param.node_label.format(format_value(value)))
    return out


def issues_for(summary, name: str) -> list:
    """The errors, then the warnings, the engine reports on layer ``name``."""
    try:
        info = summary.layer(name)
    except KeyError:
        return [i for i in summary.issues if i.layer == name]
    return [*info.errors, *info.warnings]


_SHORT_WORDS = (("Normalization", "Norm"), ("Spatial", "Sp"), ("Padding", "Pad"), ("Global", "G"))


def compact_label(layer: LayerSpec) -> str:
    """One short line for a node seen from afar: ``Conv 3×3, 64 /2``, ``Dense 10``, ``ReLU``.

    Read from the catalog's hyperparameters, so a new layer type gets a label without a rule here.
    """
    layer_type = catalog.get(layer.type)
    rank = layer_type.rank or 1
    names = {p.name for p in layer_type.params}

    def size(key):
        value = layer.param(key)
        return "×".join(str(v) for v in (value if isinstance(value, list) else [value] * rank))

    def stride():
        value = layer.param("strides") if "strides" in names else None
        values = value if isinstance(value, list) else [value] * rank
        scale = "×" if layer_type.window is not None and layer_type.window.transposed else "/"
        return f" {scale}{values[0]}" if value not in (None, 1) and len(set(values)) == 1 else ""

    short = layer_type.short_name or layer.type
    for word, abbreviation in _SHORT_WORDS:
        short = short.replace(word, abbreviation)
    if layer_type.rank and short[-2:] in ("1D", "2D"):
        short = short[:-2]
    if {"filters", "kernel_size"} <= names:
        return f"{short} {size('kernel_size')}, {layer.param('filters')}{stride()}"
    if "kernel_size" in names:
        return f"{short} {size('kernel_size')}{stride()}"
    if "pool_size" in names:
        return f"{short} {size('pool_size')}{stride()}"
    if "units" in names:
        return f"{short} {layer.param('units')}"
    if names == {"activation"}:
        return {"relu": "ReLU"}.get(str(layer.param("activation")), str(layer.param("activation")).capitalize())
    return short
