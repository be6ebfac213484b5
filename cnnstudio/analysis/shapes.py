"""Shape inference: every layer's output shape, parameters, receptive field and cost.

Pure Python (no TensorFlow, no Keras, no Qt), fast enough to run on every edit in the GUI.
It never raises on a bad spec: each problem becomes an :class:`Issue` on the layer it
concerns, with the fixes the GUI can apply in one click (data that :func:`cnnstudio.network.edits.apply_edit` applies). Layers that
read a layer in error report that their input is unknown instead of failing.

Conventions: shapes exclude the batch axis; receptive field and jump are per spatial axis
of the network's input, in input pixels; MACs count the multiply-accumulates of
convolutions and Dense layers (pooling, normalisation and activations multiply nothing
that matters next to them); activation memory is float32 per example.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import layers.arithmetic as arithmetic
from cnnstudio.analysis import fields
from cnnstudio.network import catalog
from cnnstudio.network.spec import INPUT, LayerSpec, NetworkSpec, suggest

FLOAT_BYTES = 4
ANY_SIZE_SYMBOLS = {1: ("L",), 2: ("H", "W")}
"""The names of an "any size" input's lengths in the formulas."""
ERROR = "error"
WARNING = "warning"
NOTE = "note"
"""A teaching remark on a layer that is right as it is (a ResNet's 1x1 stride-2 shortcut)."""


@dataclass
class Fix:
    """A one-click repair: a label for the button and the edit, as data (see apply_fix)."""

    label: str
    edit: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "edit": copy.deepcopy(self.edit)}


@dataclass
class Issue:
    """An error (the spec cannot be built) or a warning (it works but loses something).

    ``caused_by`` names the layer in error upstream when this issue only reports its
    consequence (an unknown input), so the GUI can point at the root cause.
    """

    severity: str
    layer: str | None
    message: str
    fixes: list[Fix] = field(default_factory=list)
    caused_by: str | None = None

    def __str__(self) -> str:
        return f"{self.layer}: {self.message}" if self.layer else self.message

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "layer": self.layer,
            "message": self.message,
            "fixes": [f.to_json() for f in self.fixes],
            "caused_by": self.caused_by,
        }


@dataclass
class LayerInfo:
    """What inference knows about one layer; ``output_shape`` is None when unknown."""

    name: str
    type: str
    inputs: list[str]
    output_shape: tuple[int, ...] | None = None
    params: int = 0
    trainable_params: int = 0
    non_trainable_params: int = 0
    frozen_params: int = 0
    """Weights the layer would train but for its ``trainable`` flag (counted as non-trainable)."""
    receptive_field: tuple[int, ...] = ()
    jump: tuple[int, ...] = ()
    padded_extent: tuple[int, ...] = ()
    """Per input axis, the input's length plus every zero added up to here, in input pixels."""
    macs: int = 0
    activation_elements: int = 0
    activation_bytes: int = 0
    formulas: list[str] = field(default_factory=list)
    symbols: tuple[str | None, ...] = ()
    """Per spatial axis of the output, its length as a formula in the input's H, W (or L) where
    the input is "any size" (None where the length is a number)."""
    config: dict[str, Any] = field(default_factory=dict)
    """Every hyperparameter's effective value (the user's over the catalog's defaults)."""
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    notes: list[Issue] = field(default_factory=list)

    def add(self, severity: str, message: str, fixes: list[Fix] | None = None, caused_by=None) -> Issue:
        issue = Issue(severity, self.name, message, fixes or [], caused_by)
        {ERROR: self.errors, NOTE: self.notes}.get(severity, self.warnings).append(issue)
        return issue

    @property
    def spatial_rank(self) -> int | None:
        """1 for sequences, 2 for images, 0 for vectors, None when the shape is unknown."""
        return None if self.output_shape is None else len(self.output_shape) - 1


@dataclass
class Summary:
    """The result of :func:`infer`: one LayerInfo per layer in spec order, and totals."""

    layers: list[LayerInfo]
    input_shape: tuple[int, ...]
    issues: list[Issue] = field(default_factory=list)
    """Problems of the network as a whole (layer None)."""
    total_params: int = 0
    trainable_params: int = 0
    non_trainable_params: int = 0
    frozen_params: int = 0
    macs: int = 0
    activation_bytes: int = 0

    def __post_init__(self):
        self._by_name = {info.name: info for info in self.layers}

    def layer(self, name: str) -> LayerInfo:
        return self._by_name[name]

    def errors(self) -> list[Issue]:
        out = [i for i in self.issues if i.severity == ERROR]
        for info in self.layers:
            out.extend(info.errors)
        return out

    def warnings(self) -> list[Issue]:
        out = [i for i in self.issues if i.severity == WARNING]
        for info in self.layers:
            out.extend(info.warnings)
        return out

    @property
    def ok(self) -> bool:
        return not self.errors()

    @property
    def output(self) -> LayerInfo | None:
        """The main output: the last layer."""
        return self.layers[-1] if self.layers else None

    def budget(self, batch_size: int) -> dict[str, int]:
        """Memory and compute of one training step with Adam at ``batch_size``.

        Weights, their gradients and Adam's two moments take 4 floats per trainable
        parameter; the forward activations are kept for the backward pass, which makes
        as many gradients again. The backward pass costs about twice the forward MACs.
        """
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"The batch size must be a positive integer. Received: batch_size={batch_size!r}")
        params_bytes = self.total_params * FLOAT_BYTES
        optimizer_bytes = 3 * self.trainable_params * FLOAT_BYTES
        activation_bytes = 2 * self.activation_bytes * batch_size
        return {
            "batch_size": batch_size,
            "params_bytes": params_bytes,
            "optimizer_bytes": optimizer_bytes,
            "activation_bytes": activation_bytes,
            "forward_macs": self.macs * batch_size,
            "training_step_macs": 3 * self.macs * batch_size,
            "total_bytes": params_bytes + optimizer_bytes + activation_bytes,
        }

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-ready data (what ``cnnstudio summary --json`` prints)."""
        return {
            "input_shape": list(self.input_shape),
            "layers": [
                {
                    "name": info.name,
                    "type": info.type,
                    "inputs": list(info.inputs),
                    "output_shape": None if info.output_shape is None else list(info.output_shape),
                    "params": info.params,
                    "trainable_params": info.trainable_params,
                    "frozen_params": info.frozen_params,
                    "receptive_field": list(info.receptive_field),
                    "jump": list(info.jump),
                    "macs": info.macs,
                    "activation_bytes": info.activation_bytes,
                    "formulas": list(info.formulas),
                    "errors": [i.to_json() for i in info.errors],
                    "warnings": [i.to_json() for i in info.warnings],
                    "notes": [i.to_json() for i in info.notes],
                }
                for info in self.layers
            ],
            "issues": [i.to_json() for i in self.issues],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "frozen_params": self.frozen_params,
            "macs": self.macs,
            "activation_bytes": self.activation_bytes,
            "ok": self.ok,
        }


# --------------------------------------------------------------------------- helpers

def _shape_text(shape: tuple[int, ...] | None) -> str:
    return "unknown" if shape is None else str(tuple(shape))


def _rank_words(rank: int) -> str:
    return {0: "a vector", 1: "a sequence (length, channels)", 2: "an image (height, width, channels)"}.get(
        rank, f"a tensor of rank {rank}"
    )


def _compact(values: list[int]) -> int | list[int]:
    """An int when every axis agrees, else the list (how the catalog stores sizes)."""
    return values[0] if len(set(values)) == 1 else list(values)


def _unit(axis_name: str, count: int) -> str:
    word = {"height": "row", "width": "column", "length": "step"}.get(axis_name, "position")
    return f"{count} {word}{'' if count == 1 else 's'}"


def _remove_fix(name: str) -> Fix:
    return Fix(f'Remove layer "{name}"', {"op": "remove_layer", "layer": name})


def _adapt_params(params: dict[str, Any], rank: int) -> dict[str, Any]:
    """Per-axis hyperparameters carried over to a layer of another rank."""
    out = {}
    for key, value in params.items():
        if isinstance(value, list):
            value = value[0] if len(set(value)) == 1 or rank == 1 else [value[0]] * rank
        out[key] = value
    return out


# --------------------------------------------------------------------------- per-type rules

def _check_rank(info: LayerInfo, lt: catalog.LayerType, spec_layer: LayerSpec, src: LayerInfo) -> bool:
    rank = src.spatial_rank
    if lt.rank is None or rank == lt.rank:
        return True
    fixes = []
    same = catalog.same_family(lt.name, rank) if rank in (1, 2) else None
    other = same.name if same else None
    if other:
        fixes.append(Fix(f"Use {other} instead", {
            "op": "change_type", "layer": info.name, "type": other,
            "params": _adapt_params(spec_layer.params, rank),
        }))
    fixes.append(_remove_fix(info.name))
    flatten = catalog.for_purpose(catalog.Purpose.FLATTEN)
    hint = f" Use {other} instead, or remove it." if other else (
        f" Move it before the {flatten.name if flatten else 'flattening'} or global pooling, or remove it."
        if rank == 0 else " Remove it."
    )
    info.add(ERROR, f"{lt.name} expects {_rank_words(lt.rank)}; its input \"{src.name}\" is "
                    f"{_shape_text(src.output_shape)}, {_rank_words(rank)}.{hint}", fixes)
    return False


def _window(info: LayerInfo, src: LayerInfo, lt: catalog.LayerType, axes: tuple[fields.AxisWindow, ...]):
    """Output lengths of a convolution or pooling window, with errors, warnings and formulas."""
    shape = src.output_shape
    rank = len(shape) - 1
    names = arithmetic.AXIS_NAMES[rank]
    padding = info.config[lt.window.padding]
    size_param = lt.window.size
    is_pool = lt.window.pooling
    out, extent = [], []
    too_big: list[tuple[int, int]] = []  # (axis, largest size that fits)
    messages = []
    symbols = []
    for ax, window in enumerate(axes):
        length, k, s, d, pad = shape[ax], window.size, window.stride, window.dilation, window.padding
        if length is None and not (is_pool and not isinstance(pad, str) and pad >= k):
            symbol = arithmetic.axis_symbol(src.symbols[ax], k, s, d, pad)
            info.formulas.append(f"{names[ax]}: {symbol}")
            symbols.append(symbol)
            out.append(None)
            extent.append(src.padded_extent[ax])
            continue
        symbols.append(None)
        if is_pool and not isinstance(pad, str) and pad >= k:
            messages.append((f"padding {pad} is not smaller than the pool window {k} (windows of "
                             "padding only)", names[ax]))
            too_big.append((ax, k))
            out.append(None)
            continue
        n = arithmetic.axis_output_length(length, k, s, d, pad)
        before, after = arithmetic.axis_padding(length, k, s, d, pad)
        k_eff = window.extent
        info.formulas.append(f"{names[ax]}: {arithmetic.axis_formula(length, k, s, d, pad)}")
        padded = length + before + after
        if n <= 0:
            what = (f"dilated kernel of extent {k_eff}" if d > 1 else
                    f"pool window of {k}" if is_pool else f"kernel of size {k}")
            messages.append((f"the {what} exceeds the padded input of {padded}", names[ax]))
            too_big.append((ax, (padded - 1) // d + 1))
            out.append(None)
            continue
        unused = padded - ((n - 1) * s + k_eff) - after  # trailing zeros lose nothing
        if unused > 0 and s <= k_eff:  # stride beyond the kernel is the linter's warning
            info.add(WARNING, f"{'Pool' if is_pool else 'Kernel'} {k_eff} with stride {s} on {names[ax]} "
                              f"{padded} leaves {_unit(names[ax], unused)} unused.",
                     [Fix('Set padding to "same"', {"op": "set_params", "layer": info.name,
                                                    "params": {"padding": "same"}})])
        out.append(n)
        extent.append(src.padded_extent[ax] + (before + after) * src.jump[ax])
    if messages:
        sizes = [window.size for window in axes]
        for ax, fits in too_big:
            sizes[ax] = fits
        fixes = []
        if padding != "same" and not (is_pool and not isinstance(padding, str)):
            fixes.append(Fix('Set padding to "same"', {"op": "set_params", "layer": info.name,
                                                       "params": {"padding": "same"}}))
        if is_pool and not isinstance(padding, str):
            fixes.append(Fix("Set padding to 0", {"op": "set_params", "layer": info.name,
                                                  "params": {"padding": "valid"}}))
        elif all(v >= 1 for v in sizes):
            fixes.append(Fix(f"Set {size_param} to {_compact(sizes)}", {
                "op": "set_params", "layer": info.name, "params": {size_param: _compact(sizes)}}))
        fixes.append(_remove_fix(info.name))
        text = "; ".join(_on_axes(messages))
        advice = [f.label[0].lower() + f.label[1:] for f in fixes[:-1]] + ["remove the layer"]
        advice = ", ".join(advice[:-1]) + " or " + advice[-1] if len(advice) > 1 else advice[0]
        info.add(ERROR, f"{text[0].upper()}{text[1:]}. {advice[0].upper()}{advice[1:]}.", fixes)
        return None
    info.receptive_field, info.jump = fields.grow(src.receptive_field, src.jump, axes)
    info.padded_extent = tuple(extent)
    info.symbols = tuple(symbols)
    return tuple(out)


def _count(lengths) -> int:
    """How many positions ``lengths`` hold; 0 when the input is any size (unknown lengths)."""
    return 0 if None in tuple(lengths) else math.prod(lengths)


def _on_axes(messages: list[tuple[str, str]]) -> list[str]:
    """Sentences that name their axes, one per distinct problem ("on axes height and width")."""
    axes: dict[str, list[str]] = {}
    for text, axis in messages:
        axes.setdefault(text, []).append(axis)
    return [f"{text} on axis {names[0]}" if len(names) == 1 else f"{text} on axes {' and '.join(names)}"
            for text, names in axes.items()]


def _conv(info, lt, layer, srcs, cfg):
    src = srcs[0]
    if not _check_rank(info, lt, layer, src):
        return None
    axes = fields.windows(lt, cfg, lt.rank)
    c_in, filters, groups = src.output_shape[-1], cfg[lt.channels_param], cfg["groups"]
    if c_in % groups or filters % groups:
        divisors = [g for g in range(1, min(c_in, filters) + 1) if c_in % g == 0 and filters % g == 0]
        fixes = [Fix(f"Set groups to {divisors[-1]}", {"op": "set_params", "layer": info.name,
                                                      "params": {"groups": divisors[-1]}})]
        info.add(ERROR, f"groups {groups} must divide both the {c_in} input channels and the {filters} "
                        f"filters. Use a common divisor such as {divisors[-1]}.", fixes + [_remove_fix(info.name)])
        return None
    fan_in = math.prod(w.size for w in axes) * (c_in // groups)
    return _weighted_window(info, src, lt, axes, fan_in, filters, cfg["use_bias"])


def _weighted_window(info, src, lt, axes, fan_in: int, channels: int, use_bias: bool):
    """A window layer with weights: each of ``channels`` outputs sums ``fan_in`` weighted inputs.

    The weights do not depend on the spatial size, so a kernel that does not fit still shows them.
    """
    info.trainable_params = fan_in * channels + (channels if use_bias else 0)
    spatial = _window(info, src, lt, axes)
    if spatial is None:
        return None
    info.macs = _count(spatial) * channels * fan_in
    return (*spatial, channels)


def _conv_transpose(info, lt, layer, srcs, cfg):
    """Each input cell scatters a kernel copy S cells apart: lengths grow, formulas as the course's."""
    src = srcs[0]
    if not _check_rank(info, lt, layer, src):
        return None
    names = arithmetic.AXIS_NAMES[lt.rank]
    axes = fields.windows(lt, cfg, lt.rank)
    c_in, filters = src.output_shape[-1], cfg[lt.channels_param]
    info.trainable_params = math.prod(w.size for w in axes) * c_in * filters + (filters if cfg["use_bias"] else 0)
    out, symbols = [], []
    for ax, w in enumerate(axes):
        length = src.output_shape[ax]
        if w.output_padding is not None and w.output_padding >= w.stride:
            info.add(ERROR, f"output_padding {w.output_padding} on {names[ax]} is not smaller than the stride "
                            f"{w.stride}. Use an output_padding below the stride, or leave it empty.",
                     [Fix("Clear output_padding", {"op": "unset_params", "layer": info.name,
                                                   "names": ["output_padding"]}), _remove_fix(info.name)])
            return None
        args = (length, w.size, w.stride, w.dilation, w.padding, w.output_padding)
        if length is None:
            symbol = arithmetic.axis_transpose_symbol(src.symbols[ax], *args[1:])
            info.formulas.append(f"{names[ax]}: {symbol}")
            symbols.append(symbol)
            out.append(None)
            continue
        symbols.append(None)
        n = arithmetic.axis_transpose_output_length(*args)
        info.formulas.append(f"{names[ax]}: {arithmetic.axis_transpose_formula(*args)}")
        if n < 1:
            info.add(ERROR, f"cropping {w.padding} cells from each side of {names[ax]} leaves no output. "
                            'Use less padding or padding "same".',
                     [Fix('Set padding to "same"', {"op": "set_params", "layer": info.name,
                                                    "params": {"padding": "same"}}), _remove_fix(info.name)])
            return None
        out.append(n)
    info.receptive_field, info.jump = fields.grow(src.receptive_field, src.jump, axes)
    info.symbols = tuple(symbols)
    info.macs = _count(src.output_shape[:-1]) * math.prod(w.size for w in axes) * c_in * filters
    return (*out, filters)


def _depthwise(info, lt, layer, srcs, cfg):
    src = srcs[0]
    if not _check_rank(info, lt, layer, src):
        return None
    axes = fields.windows(lt, cfg, lt.rank)
    channels = src.output_shape[-1] * cfg["depth_multiplier"]
    # each output channel filters one input channel: its fan-in is the kernel alone
    return _weighted_window(info, src, lt, axes, math.prod(w.size for w in axes), channels, cfg["use_bias"])


def _pool(info, lt, layer, srcs, cfg):
    src = srcs[0]
    if not _check_rank(info, lt, layer, src):
        return None
    spatial = _window(info, src, lt, fields.windows(lt, cfg, lt.rank))
    return None if spatial is None else (*spatial, src.output_shape[-1])


def _collapse(info: LayerInfo, src: LayerInfo) -> None:
    """Receptive field of a layer that sees every position of its input at once."""
    shape = src.output_shape
    rank = len(shape) - 1
    if any(n is None for n in shape[:rank]):  # any size: it sees all of it, however large
        info.receptive_field, info.jump, info.padded_extent = (), (), ()
        return
    info.receptive_field = tuple(
        src.receptive_field[a] + (shape[a] - 1) * src.jump[a] if a < rank else src.receptive_field[a]
        for a in range(len(src.receptive_field))
    )
    info.jump = tuple(src.jump[a] * shape[a] if a < rank else src.jump[a] for a in range(len(src.jump)))
    info.padded_extent = src.padded_extent


def _global_pool(info, lt, layer, srcs, cfg):
    src = srcs[0]
    if not _check_rank(info, lt, layer, src):
        return None
    _collapse(info, src)
    info.formulas.append(f"{_shape_text(src.output_shape)} -> ({src.output_shape[-1]},)")
    return (src.output_shape[-1],)


def _zero_padding(info, lt, layer, srcs, cfg):
    src = srcs[0]
    if not _check_rank(info, lt, layer, src):
        return None
    pads = [window.padding for window in fields.windows(lt, cfg, lt.rank)]
    spatial = src.output_shape[:-1]
    names = arithmetic.AXIS_NAMES[lt.rank]
    symbols = [None if n is not None else f"{src.symbols[a]} + {2 * p}" for a, (n, p) in
               enumerate(zip(spatial, pads, strict=True))]
    info.formulas = [f"{axis}: {n} + 2*{p} = {n + 2 * p}" if n is not None else f"{axis}: {symbol}"
                     for axis, n, p, symbol in zip(names, spatial, pads, symbols, strict=True)]
    info.symbols = tuple(symbols)
    info.padded_extent = tuple(e + 2 * p * j for e, p, j in zip(src.padded_extent, pads, src.jump, strict=True))
    return (*(None if n is None else n + 2 * p for n, p in zip(spatial, pads, strict=True)), src.output_shape[-1])


def _flatten(info, lt, layer, srcs, cfg):
    src = srcs[0]
    if None in src.output_shape:
        average = catalog.for_purpose(catalog.Purpose.GLOBAL_AVERAGE, src.spatial_rank)
        fixes = [Fix(f"Use {average.name} instead", {"op": "change_type", "layer": info.name,
                                                    "type": average.name, "params": {}})] if average else []
        info.add(ERROR, f"{lt.name} needs every length known, but the input is any size "
                        f"({_shape_text(src.output_shape)}): the vector's length would change with the image. "
                        f"Use {average.name if average else 'global pooling'} instead, or give the input a size.",
                 fixes + [_remove_fix(info.name)])
        return None
    _collapse(info, src)
    size = math.prod(src.output_shape)
    info.formulas.append(" * ".join(str(v) for v in src.output_shape) + f" = {size}")
    return (size,)


def _dense(info, lt, layer, srcs, cfg):
    shape = srcs[0].output_shape
    units = cfg[lt.channels_param]
    info.trainable_params = shape[-1] * units + (units if cfg["use_bias"] else 0)
    info.macs = _count(shape[:-1]) * shape[-1] * units
    return (*shape[:-1], units)


def _same_shape(info, lt, layer, srcs, cfg):
    return srcs[0].output_shape


def _batch_norm(info, lt, layer, srcs, cfg):
    channels = srcs[0].output_shape[-1]
    info.trainable_params = channels * (int(cfg["center"]) + int(cfg["scale"]))
    info.non_trainable_params = 2 * channels
    return srcs[0].output_shape


def _merge_fields(info: LayerInfo, srcs: list[LayerInfo]) -> None:
    info.receptive_field = tuple(max(vals) for vals in zip(*(s.receptive_field for s in srcs), strict=True))
    info.jump = tuple(max(vals) for vals in zip(*(s.jump for s in srcs), strict=True))
    info.padded_extent = tuple(max(vals) for vals in zip(*(s.padded_extent for s in srcs), strict=True))


def _add(info, lt, layer, srcs, cfg):
    first = srcs[0]
    for other in srcs[1:]:
        if other.output_shape == first.output_shape:
            continue
        fixes = []
        same_rank = len(other.output_shape) == len(first.output_shape)
        if same_rank and other.output_shape[:-1] == first.output_shape[:-1]:
            key = catalog.CATALOG[other.type].channels_param
            if key:
                fixes.append(Fix(f"Set {key} of \"{other.name}\" to {first.output_shape[-1]}", {
                    "op": "set_params", "layer": other.name, "params": {key: first.output_shape[-1]}}))
            joiner = catalog.for_purpose(catalog.Purpose.JOIN_CHANNELS)
            if joiner is not None:
                fixes.append(Fix(f"Use {joiner.name} instead", {"op": "change_type", "layer": info.name,
                                                                "type": joiner.name, "params": {}}))
            hint = "Give both the same number of channels, or concatenate them instead."
        else:
            hint = "Make both branches shrink the same way (same strides and padding)."
        fixes.append(_remove_fix(info.name))
        info.add(ERROR, f"{lt.name} needs inputs of equal shape; \"{first.name}\" is "
                        f"{_shape_text(first.output_shape)} but \"{other.name}\" is "
                        f"{_shape_text(other.output_shape)}. {hint}", fixes)
        return None
    _merge_fields(info, srcs)
    return first.output_shape


def _concatenate(info, lt, layer, srcs, cfg):
    first = srcs[0]
    for other in srcs[1:]:
        if len(other.output_shape) != len(first.output_shape):
            info.add(ERROR, f"{lt.name} needs inputs of the same rank; \"{first.name}\" is "
                            f"{_rank_words(first.spatial_rank)} {_shape_text(first.output_shape)} but "
                            f"\"{other.name}\" is {_rank_words(other.spatial_rank)} "
                            f"{_shape_text(other.output_shape)}.", [_remove_fix(info.name)])
            return None
        rank = len(first.output_shape) - 1
        for ax in range(rank):
            if other.output_shape[ax] != first.output_shape[ax]:
                axis = arithmetic.AXIS_NAMES.get(rank, ())[ax] if rank in arithmetic.AXIS_NAMES else "axis"
                info.add(ERROR, f"{lt.name} needs equal {axis} on every input; \"{first.name}\" has "
                                f"{axis} {first.output_shape[ax]} but \"{other.name}\" has "
                                f"{other.output_shape[ax]}. Make both branches shrink the same way.",
                         [_remove_fix(info.name)])
                return None
    _merge_fields(info, srcs)
    return (*first.output_shape[:-1], sum(s.output_shape[-1] for s in srcs))


RULES = {
    catalog.ShapeRule.CONVOLUTION: _conv,
    catalog.ShapeRule.CONVOLUTION_TRANSPOSE: _conv_transpose,
    catalog.ShapeRule.DEPTHWISE: _depthwise,
    catalog.ShapeRule.POOLING: _pool,
    catalog.ShapeRule.GLOBAL_POOLING: _global_pool,
    catalog.ShapeRule.ZERO_PADDING: _zero_padding,
    catalog.ShapeRule.FLATTEN: _flatten,
    catalog.ShapeRule.DENSE: _dense,
    catalog.ShapeRule.SAME_SHAPE: _same_shape,
    catalog.ShapeRule.BATCH_NORM: _batch_norm,
    catalog.ShapeRule.SUM: _add,
    catalog.ShapeRule.CONCATENATE: _concatenate,
}
"""One function per rule kind the catalog names; each type says its rule in ``shape_rule``."""


# --------------------------------------------------------------------------- infer

def _input_info(spec: NetworkSpec, summary_issues: list[Issue]) -> LayerInfo:
    shape = spec.input_shape
    info = LayerInfo(name=INPUT, type="Input", inputs=[])
    valid = (
        isinstance(shape, (tuple, list)) and len(shape) in (2, 3)
        and all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1) for v in shape[:-1])
        and isinstance(shape[-1], int) and not isinstance(shape[-1], bool) and shape[-1] >= 1
    )
    if not valid:
        summary_issues.append(Issue(ERROR, None, "The input shape must be (height, width, channels) or "
                                                 f"(length, channels) of positive integers (height and width "
                                                 f"may be None: any size). Received: input_shape={shape!r}"))
        return info
    shape = tuple(shape)
    spatial = shape[:-1]
    info.output_shape = shape
    info.receptive_field = (1,) * len(spatial)
    info.jump = (1,) * len(spatial)
    info.padded_extent = tuple(0 if n is None else n for n in spatial)
    info.symbols = tuple(None if n is not None else name for n, name in
                         zip(spatial, ANY_SIZE_SYMBOLS[len(spatial)], strict=True))
    return info


def _wire(info: LayerInfo, lt: catalog.LayerType, known: dict[str, LayerInfo], position: int,
          spec: NetworkSpec) -> list[LayerInfo] | None:
    """The infos of the layer's inputs, or None after reporting why they are not usable."""
    srcs = []
    for src in info.inputs:
        if src not in known:
            fixes = []
            if position > 0:
                prev = spec.layers[position - 1].name
                fixes.append(Fix(f'Read "{prev}" instead', {"op": "set_inputs", "layer": info.name,
                                                            "inputs": [prev]}))
            fixes.append(_remove_fix(info.name))
            info.add(ERROR, f'Reads "{src}", which is not the input or an earlier layer.'
                            f"{suggest(src, known)} Layers may only read layers listed before them.",
                     fixes)
            return None
        srcs.append(known[src])
    if not lt.min_inputs <= len(srcs) <= lt.max_inputs:
        names = ", ".join(f'"{s.name}"' for s in srcs)
        if lt.is_merge:
            info.add(ERROR, f"{lt.name} joins {lt.min_inputs} to {lt.max_inputs} branches; it reads "
                            f"{len(srcs)} ({names}). Connect another branch to it or remove it.",
                     [_remove_fix(info.name)])
        else:
            joiners = " or ".join(t.name for t in catalog.merges())
            info.add(ERROR, f"{lt.name} reads one input; it reads {len(srcs)} ({names}). Join them "
                            f"with {joiners} first.",
                     [Fix(f'Read only "{srcs[0].name}"', {"op": "set_inputs", "layer": info.name,
                                                          "inputs": [srcs[0].name]}),
                      _remove_fix(info.name)])
        return None
    unknown = [s for s in srcs if s.output_shape is None]
    if unknown:
        root = unknown[0]
        cause = root.name if root.errors and not root.errors[0].caused_by else (
            root.errors[0].caused_by if root.errors else None)
        info.add(ERROR, f'Its input "{root.name}" has an unknown shape'
                        + (f' because of the error at "{cause}"; fix that first.' if cause else "."),
                 caused_by=cause or root.name)
        return None
    return srcs


def _check_layer_params(info: LayerInfo, lt: catalog.LayerType, layer: LayerSpec) -> dict | None:
    try:
        params = lt.check_params(layer.params)
    except catalog.ParamError as exc:
        if exc.param in lt.param_names:
            fix = Fix(f"Reset {exc.param} to its default ({lt.param(exc.param).default!r})",
                      {"op": "unset_params", "layer": info.name, "names": [exc.param]})
        else:
            fix = Fix(f'Remove the unknown hyperparameter "{exc.param}"',
                      {"op": "unset_params", "layer": info.name, "names": [exc.param]})
        info.add(ERROR, f"{exc.param}: {exc.reason}", [fix])
        return None
    return lt.resolved(params)


def infer_shapes(spec: NetworkSpec) -> Summary:
    """Shapes, parameters, receptive fields, costs and errors of every layer of ``spec``.

    The teaching warnings come on top in :func:`cnnstudio.analysis.analyze.infer`.
    """
    issues: list[Issue] = []
    known: dict[str, LayerInfo] = {INPUT: _input_info(spec, issues)}
    infos: list[LayerInfo] = []
    seen_names: set[str] = set()
    for position, layer in enumerate(spec.layers):
        info = LayerInfo(name=layer.name, type=layer.type, inputs=spec.inputs_of(position))
        infos.append(info)
        if layer.name in seen_names or layer.name == INPUT:
            info.add(ERROR, f'The name "{layer.name}" is already taken; every layer needs its own name.')
            continue
        seen_names.add(layer.name)
        if not isinstance(layer.name, str) or not layer.name or "/" in layer.name:
            info.add(ERROR, f"Layer names must be non-empty and free of '/' (Keras uses it for scopes). "
                            f"Received: name={layer.name!r}")
            continue
        known[layer.name] = info
        lt = catalog.CATALOG.get(layer.type)
        if lt is None:
            fixes = []
            close = suggest(layer.type, catalog.CATALOG)
            if close:
                other = close.split('"')[1]
                fixes.append(Fix(f"Use {other} instead", {"op": "change_type", "layer": layer.name,
                                                          "type": other, "params": {}}))
            fixes.append(_remove_fix(layer.name))
            info.add(ERROR, f'Unknown layer type "{layer.type}".{close} Pick one from the palette.', fixes)
            continue
        cfg = _check_layer_params(info, lt, layer)
        if cfg is None:
            continue
        info.config = cfg
        srcs = _wire(info, lt, known, position, spec)
        if srcs is None:
            continue
        # every type of a fixed rank checks its input's, whatever its shape rule (SpatialDropout2D
        # after a Dense was let through and failed in Keras)
        if lt.rank is not None and not lt.is_merge and not _check_rank(info, lt, layer, srcs[0]):
            continue
        if not info.receptive_field:
            info.receptive_field = srcs[0].receptive_field
            info.jump = srcs[0].jump
            info.padded_extent = srcs[0].padded_extent
        info.symbols = srcs[0].symbols
        shape = RULES[lt.shape_rule](info, lt, layer, srcs, cfg)
        if not layer.trainable:
            info.frozen_params = info.trainable_params
            info.non_trainable_params += info.trainable_params
            info.trainable_params = 0
        info.params = info.trainable_params + info.non_trainable_params
        if shape is None:
            info.receptive_field = info.jump = info.padded_extent = ()
            info.formulas = []
            continue
        info.output_shape = shape
        info.activation_elements = _count(shape)
        info.activation_bytes = info.activation_elements * FLOAT_BYTES

    if not spec.layers:
        issues.append(Issue(ERROR, None, "The network has no layers yet; add some from the palette."))
    _check_dead_ends(spec, infos)
    summary = Summary(layers=infos, input_shape=tuple(spec.input_shape), issues=issues)
    for info in infos:
        summary.total_params += info.params
        summary.trainable_params += info.trainable_params
        summary.non_trainable_params += info.non_trainable_params
        summary.frozen_params += info.frozen_params
        summary.macs += info.macs
        summary.activation_bytes += info.activation_bytes
    return summary


def _check_dead_ends(spec: NetworkSpec, infos: list[LayerInfo]) -> None:
    read = set()
    for info in infos:
        read.update(info.inputs)
    for info in infos[:-1]:
        if info.name not in read:
            info.add(ERROR, "Its output goes nowhere: no later layer reads it and it is not the last "
                            "layer. Connect it to a later layer or remove it.", [_remove_fix(info.name)])
