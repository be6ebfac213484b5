"""The teaching linter: warnings a learner needs, each with a one-click fix.

:func:`cnnstudio.analysis.analyze.infer` calls :func:`lint` once the shapes are known. Every
warning here is about a network that runs but learns less than it could; the fix is data
(an edit :func:`cnnstudio.network.edits.apply_edit` applies), so the GUI can offer it as a button.
Pure Python, like inference.
"""

from __future__ import annotations

import layers.arithmetic as arithmetic
from cnnstudio.analysis.shapes import NOTE, WARNING, Fix, LayerInfo, Summary, infer_shapes
from cnnstudio.network.edits import apply_edit
from cnnstudio.network.spec import NetworkSpec

CONVOLUTIONS = ("Conv1D", "Conv2D")
WINDOWED = CONVOLUTIONS + ("MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D")
DROPOUTS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D")
RF_TOO_SMALL = 0.1
"""The last convolution should see at least this fraction of the input on each axis."""
RF_TOO_LARGE = 2.0
"""Beyond this multiple of the input, more depth only widens windows onto padding."""


def lint(spec: NetworkSpec, summary: Summary, num_classes: int | None = None,
         loss_from_logits: bool | None = None) -> None:
    """Add the teaching warnings to ``summary``'s layers, each with the fixes that keep it valid."""
    known = {info.name: info for info in summary.layers}
    readers: dict[str, list[LayerInfo]] = {}
    for info in summary.layers:
        for src in info.inputs:
            readers.setdefault(src, []).append(info)
    before = {id(issue) for info in summary.layers for issue in info.warnings}
    for info in summary.layers:
        if info.output_shape is None:
            continue
        if info.type == "Dense":
            _dense_on_spatial(info, known)
        elif info.type in WINDOWED:
            _stride_beyond_kernel(info, _is_projection_shortcut(info, readers))
    _receptive_field(summary)
    out = summary.output
    if out is not None and out.output_shape is not None:
        _output_layer(out, known, num_classes, loss_from_logits)
    errors = len(summary.errors())
    for info in summary.layers:
        for issue in info.warnings:
            if id(issue) not in before:
                issue.fixes = [fix for fix in issue.fixes if _keeps_it_valid(spec, fix, errors)]


def _keeps_it_valid(spec: NetworkSpec, fix: Fix, errors: int) -> bool:
    """Whether ``fix`` adds no error: "stride 1" on a ResNet shortcut would break its Add."""
    return len(infer_shapes(apply_edit(spec, fix)).errors()) <= errors


def _dense_on_spatial(info: LayerInfo, known: dict[str, LayerInfo]) -> None:
    src = known.get(info.inputs[0])
    rank = None if src is None else src.spatial_rank
    if not rank:
        return
    axes = " x ".join(arithmetic.AXIS_NAMES[rank]) if rank in arithmetic.AXIS_NAMES else "position"
    fixes = [Fix(f'Insert Flatten before "{info.name}"',
                 {"op": "insert_before", "layer": info.name, "type": "Flatten", "params": {}})]
    if rank in (1, 2):
        pool = f"GlobalAvgPool{rank}D"
        fixes.append(Fix(f'Insert {pool} before "{info.name}"',
                         {"op": "insert_before", "layer": info.name, "type": pool, "params": {}}))
    info.add(WARNING, f'Dense reads "{src.name}", which is {src.output_shape} with spatial axes; it '
                      f"applies the same weights at every {axes} position instead of looking at the "
                      "whole map. Flatten or global pooling first turns the maps into one vector.",
             fixes)


SAME_SHAPE = ("BatchNormalization", "Activation")
"""Layers a residual shortcut may pass through between its projection and the Add."""


def _is_projection_shortcut(info: LayerInfo, readers: dict[str, list[LayerInfo]]) -> bool:
    """A 1x1 convolution whose output goes (through normalisation only) into an Add: the
    published ResNet shortcut, whose skipped pixels the Add's main path reads."""
    if info.type not in CONVOLUTIONS or any(k != 1 for k in _axes(info.config["kernel_size"], 1)):
        return False
    node = info
    while True:
        after = readers.get(node.name, [])
        if len(after) != 1:
            return False
        node = after[0]
        if node.type == "Add":
            return True
        if node.type not in SAME_SHAPE:
            return False


def _stride_beyond_kernel(info: LayerInfo, projection_shortcut: bool = False) -> None:
    rank = len(info.output_shape) - 1
    cfg = info.config
    is_pool = "pool_size" in cfg
    size_key = "pool_size" if is_pool else "kernel_size"
    kernel = _axes(cfg[size_key], rank)
    strides = kernel if is_pool and cfg["strides"] is None else _axes(cfg["strides"], rank)
    dilation = (1,) * rank if is_pool else _axes(cfg["dilation_rate"], rank)
    gaps: dict[tuple[int, int], list[str]] = {}
    for ax, name in enumerate(arithmetic.AXIS_NAMES[rank]):
        extent = arithmetic.effective_kernel_size(kernel[ax], dilation[ax])
        if strides[ax] > extent:
            gaps.setdefault((strides[ax], extent), []).append(name)
    for (stride, extent), axes in gaps.items():
        unit = " and ".join({"height": "rows", "width": "columns", "length": "steps"}[a] for a in axes)
        if projection_shortcut:
            info.add(NOTE, f"A projection shortcut: this 1x1 convolution with stride {stride} reads 1 of "
                           f"every {stride} {unit} to match the main path's shape at the Add. The main "
                           "path reads every pixel, so nothing is lost; elsewhere a stride larger than "
                           "the kernel skips input.")
            continue
        info.add(WARNING, f"Stride {stride} is larger than the {'pool' if is_pool else 'kernel'} "
                          f"{extent} on {' and '.join(axes)}: {stride - extent} of every {stride} "
                          f"{unit} are never read.",
                 [Fix(f"Set strides to {extent}", {"op": "set_params", "layer": info.name,
                                                   "params": {"strides": extent}}),
                  Fix(f"Set {size_key} to {stride}", {"op": "set_params", "layer": info.name,
                                                      "params": {size_key: stride}})])


def _axes(value, rank: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank


def _receptive_field(summary: Summary) -> None:
    convs = [i for i in summary.layers if i.type in CONVOLUTIONS and i.output_shape is not None]
    if not convs:
        return
    last = convs[-1]
    rank = len(last.output_shape) - 1
    spatial = summary.input_shape[:rank]
    for ax, name in enumerate(arithmetic.AXIS_NAMES[rank]):
        rf, length = last.receptive_field[ax], spatial[ax]
        if rf < RF_TOO_SMALL * length:
            pool = f"MaxPool{rank}D"
            last.add(WARNING, f"The receptive field at the last convolution is {rf} on {name}, under a "
                              f"tenth of the input's {length}: each output sees only a small patch. "
                              "Add pooling, strides or more convolutions.",
                     [Fix(f'Insert {pool} after "{last.name}"',
                          {"op": "insert_after", "layer": last.name, "type": pool,
                           "params": {"pool_size": 2}})])
            return
        if rf > RF_TOO_LARGE * length:
            last.add(WARNING, f"The receptive field at the last convolution is {rf} on {name}, more "
                              f"than twice the input's {length}: the last layers mostly look at "
                              "zero padding. Fewer layers would see as much.",
                     [Fix(f'Remove layer "{last.name}"', {"op": "remove_layer", "layer": last.name})])
            return


def _output_layer(out: LayerInfo, known: dict[str, LayerInfo], num_classes: int | None,
                  loss_from_logits: bool | None) -> None:
    if out.type in DROPOUTS:
        out.add(WARNING, "Dropout is the output layer: while training it zeroes some predictions "
                         "at random, which only adds noise to the loss. Put it before the last Dense.",
                 [Fix(f'Remove layer "{out.name}"', {"op": "remove_layer", "layer": out.name})])
    activation = out.config.get("activation")
    if loss_from_logits is True and activation == "softmax":
        out.add(WARNING, "The output applies softmax but the loss expects logits (from_logits=True), "
                         "so softmax is applied twice and training stalls.",
                 [Fix("Set activation to linear", {"op": "set_params", "layer": out.name,
                                                   "params": {"activation": "linear"}})])
    elif loss_from_logits is False and activation == "linear" and out.type in ("Dense", "Activation"):
        out.add(WARNING, "The output is linear but the loss expects probabilities "
                         "(from_logits=False); add softmax to the output.",
                 [Fix("Set activation to softmax", {"op": "set_params", "layer": out.name,
                                                    "params": {"activation": "softmax"}})])
    if num_classes is None or out.output_shape == (num_classes,):
        return
    if out.type == "Dense" and len(out.output_shape) == 1:
        out.add(WARNING, f"The output has {out.output_shape[0]} units but the data set has "
                         f"{num_classes} classes.",
                [Fix(f"Set units to {num_classes}", {"op": "set_params", "layer": out.name,
                                                     "params": {"units": num_classes}})])
        return
    fixes = []
    if len(out.output_shape) > 1:
        rank = len(out.output_shape) - 1
        fixes.append(Fix(f"Insert GlobalAvgPool{rank}D after \"{out.name}\"",
                         {"op": "insert_after", "layer": out.name, "type": f"GlobalAvgPool{rank}D",
                          "params": {}}))
    else:
        fixes.append(Fix(f"Insert Dense({num_classes}, softmax) after \"{out.name}\"",
                         {"op": "insert_after", "layer": out.name, "type": "Dense",
                          "params": {"units": num_classes, "activation": "softmax"}}))
    out.add(WARNING, f"The output is {out.output_shape} but a classifier of {num_classes} classes "
                     f"needs ({num_classes},): end with a vector of one score per class.", fixes)
