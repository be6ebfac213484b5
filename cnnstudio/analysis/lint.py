"""The teaching linter: warnings a learner needs, each with a one-click fix.

:func:`cnnstudio.analysis.analyze.infer` calls :func:`lint` once the shapes are known. Every
warning here is about a network that runs but learns less than it could; the fix is data
(an edit :func:`cnnstudio.network.edits.apply_edit` applies), so the GUI can offer it as a button.
Pure Python, like inference.
"""

from __future__ import annotations

import layers.arithmetic as arithmetic
from cnnstudio.analysis import fields
from cnnstudio.analysis.shapes import NOTE, WARNING, Fix, LayerInfo, Summary, infer_shapes
from cnnstudio.analysis.triage import FIX_CHECK_BUDGET
from cnnstudio.network import catalog, tasks
from cnnstudio.network.catalog import LintRule
from cnnstudio.network.edits import apply_edit
from cnnstudio.network.spec import NetworkSpec

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
        rules = _rules(info)
        if LintRule.VECTOR_INPUT in rules:
            _dense_on_spatial(info, known)
        if LintRule.STRIDE_WITHIN_WINDOW in rules:
            _stride_beyond_kernel(info, _projection_shortcut_join(info, readers))
    _receptive_field(summary)
    out = summary.output
    if out is not None and out.output_shape is not None:
        _output_layer(out, known, num_classes, loss_from_logits, tuple(spec.input_shape))
    errors = len(summary.errors())
    checks_left = FIX_CHECK_BUDGET // max(1, len(spec.layers))
    for info in summary.layers:
        for issue in info.warnings:
            if id(issue) not in before:
                checks_left -= len(issue.fixes)
                # past the budget a fix is not offered: unchecked, it might break the network
                issue.fixes = [fix for fix in issue.fixes if checks_left >= 0 and _keeps_it_valid(spec, fix, errors)]


def _rules(info: LayerInfo) -> tuple[str, ...]:
    """The lint rules the catalog gives the layer's type (none for an unknown type)."""
    layer_type = catalog.CATALOG.get(info.type)
    return layer_type.lint_rules if layer_type else ()


def _insert(purpose: str, rank: int | None, op: str, layer: str, params: dict | None = None,
            label: str = "") -> Fix | None:
    """A fix inserting the catalog's type for ``purpose`` next to ``layer``, if it has one."""
    layer_type = catalog.for_purpose(purpose, rank)
    if layer_type is None:
        return None
    where = "after" if op == "insert_after" else "before"
    return Fix(f'Insert {label or layer_type.name} {where} "{layer}"',
               {"op": op, "layer": layer, "type": layer_type.name, "params": dict(params or {})})


def _keeps_it_valid(spec: NetworkSpec, fix: Fix, errors: int) -> bool:
    """Whether ``fix`` adds no error: "stride 1" on a ResNet shortcut would break its Add."""
    return len(infer_shapes(apply_edit(spec, fix)).errors()) <= errors


def _dense_on_spatial(info: LayerInfo, known: dict[str, LayerInfo]) -> None:
    src = known.get(info.inputs[0])
    rank = None if src is None else src.spatial_rank
    if not rank:
        return
    axes = " x ".join(arithmetic.AXIS_NAMES[rank]) if rank in arithmetic.AXIS_NAMES else "position"
    fixes = [_insert(catalog.Purpose.FLATTEN, rank, "insert_before", info.name),
             _insert(catalog.Purpose.GLOBAL_AVERAGE, rank, "insert_before", info.name)]
    flatten = catalog.for_purpose(catalog.Purpose.FLATTEN, rank)
    info.add(WARNING, f'{info.type} reads "{src.name}", which is {src.output_shape} with spatial axes; it '
                      f"applies the same weights at every {axes} position instead of looking at the "
                      f"whole map. {flatten.name if flatten else 'Flattening'} or global pooling first "
                      "turns the maps into one vector.",
             [fix for fix in fixes if fix])


_PASSES_SHAPE = (catalog.ShapeRule.SAME_SHAPE, catalog.ShapeRule.BATCH_NORM)
"""Shape rules of the layers a residual shortcut may pass through between its projection and the sum."""


def _projection_shortcut_join(info: LayerInfo, readers: dict[str, list[LayerInfo]]) -> str:
    """The type of the sum a 1x1 convolution feeds (through normalisation only), the published
    ResNet shortcut whose skipped pixels the sum's main path reads; empty for any other layer."""
    layer_type = catalog.get(info.type)
    if layer_type.shape_rule != catalog.ShapeRule.CONVOLUTION:
        return ""
    if any(w.size != 1 for w in fields.windows(layer_type, info.config, len(info.output_shape) - 1)):
        return ""
    node = info
    while True:
        after = readers.get(node.name, [])
        if len(after) != 1:
            return ""
        node = after[0]
        rule = catalog.get(node.type).shape_rule if node.type in catalog.CATALOG else None
        if rule == catalog.ShapeRule.SUM:
            return node.type
        if rule not in _PASSES_SHAPE:
            return ""


def _stride_beyond_kernel(info: LayerInfo, shortcut_join: str = "") -> None:
    rank = len(info.output_shape) - 1
    layer_type = catalog.get(info.type)
    window = layer_type.window
    size_key = window.size
    gaps: dict[tuple[int, int], list[str]] = {}
    for axis, name in zip(fields.windows(layer_type, info.config, rank), arithmetic.AXIS_NAMES[rank], strict=True):
        if axis.stride > axis.extent:
            gaps.setdefault((axis.stride, axis.extent), []).append(name)
    for (stride, extent), axes in gaps.items():
        unit = " and ".join({"height": "rows", "width": "columns", "length": "steps"}[a] for a in axes)
        if shortcut_join:
            info.add(NOTE, f"A projection shortcut: this 1x1 convolution with stride {stride} reads 1 of "
                           f"every {stride} {unit} to match the main path's shape at the {shortcut_join}. The main "
                           "path reads every pixel, so nothing is lost; elsewhere a stride larger than "
                           "the kernel skips input.")
            continue
        info.add(WARNING, f"Stride {stride} is larger than the {'pool' if window.pooling else 'kernel'} "
                          f"{extent} on {' and '.join(axes)}: {stride - extent} of every {stride} "
                          f"{unit} are never read.",
                 [Fix(f"Set {window.strides} to {extent}", {"op": "set_params", "layer": info.name,
                                                            "params": {window.strides: extent}}),
                  Fix(f"Set {size_key} to {stride}", {"op": "set_params", "layer": info.name,
                                                      "params": {size_key: stride}})])


def _receptive_field(summary: Summary) -> None:
    convs = [i for i in summary.layers if LintRule.RECEPTIVE_FIELD in _rules(i) and i.output_shape is not None]
    if not convs:
        return
    last = convs[-1]
    rank = len(last.output_shape) - 1
    spatial = summary.input_shape[:rank]
    for ax, name in enumerate(arithmetic.AXIS_NAMES[rank]):
        rf, length = last.receptive_field[ax], spatial[ax]
        if length is None:  # any size: no length to compare the field with
            continue
        if rf < RF_TOO_SMALL * length:
            pool = catalog.for_purpose(catalog.Purpose.DOWNSAMPLE, rank)
            fix = pool and _insert(catalog.Purpose.DOWNSAMPLE, rank, "insert_after", last.name,
                                   {pool.window.size: 2})
            last.add(WARNING, f"The receptive field at the last convolution is {rf} on {name}, under a "
                              f"tenth of the input's {length}: each output sees only a small patch. "
                              "Add pooling, strides or more convolutions.", [fix] if fix else [])
            return
        if rf > RF_TOO_LARGE * length:
            last.add(WARNING, f"The receptive field at the last convolution is {rf} on {name}, more "
                              f"than twice the input's {length}: the last layers mostly look at "
                              "zero padding. Fewer layers would see as much.",
                     [Fix(f'Remove layer "{last.name}"', {"op": "remove_layer", "layer": last.name})])
            return


def _output_layer(out: LayerInfo, known: dict[str, LayerInfo], num_classes: int | None,
                  loss_from_logits: bool | None, input_shape: tuple) -> None:
    rules = _rules(out)
    if LintRule.NOT_AN_OUTPUT in rules:
        out.add(WARNING, f"{out.type} is the output layer: while training it zeroes some predictions "
                         "at random, which only adds noise to the loss. Put it before the layer that "
                         "scores the classes.",
                 [Fix(f'Remove layer "{out.name}"', {"op": "remove_layer", "layer": out.name})])
    activation = out.config.get("activation")
    if loss_from_logits is True and activation == "softmax":
        out.add(WARNING, "The output applies softmax but the loss expects logits (from_logits=True), "
                         "so softmax is applied twice and training stalls.",
                 [Fix("Set activation to linear", {"op": "set_params", "layer": out.name,
                                                   "params": {"activation": "linear"}})])
    elif loss_from_logits is False and activation == "linear" and LintRule.OUTPUT_ACTIVATION in rules:
        out.add(WARNING, "The output is linear but the loss expects probabilities "
                         "(from_logits=False); add softmax to the output.",
                 [Fix("Set activation to softmax", {"op": "set_params", "layer": out.name,
                                                    "params": {"activation": "softmax"}})])
    if num_classes is None or out.output_shape == (num_classes,):
        return
    if tasks.task_of(input_shape, out.output_shape) == tasks.DENOISE:
        return  # an image-to-image network: its output is an image, not class scores
    if LintRule.CLASS_SCORES in rules and len(out.output_shape) == 1:
        units = catalog.get(out.type).channels_param
        out.add(WARNING, f"The output has {out.output_shape[0]} {units} but the data set has "
                         f"{num_classes} classes.",
                [Fix(f"Set {units} to {num_classes}", {"op": "set_params", "layer": out.name,
                                                       "params": {units: num_classes}})])
        return
    if len(out.output_shape) > 1:
        fix = _insert(catalog.Purpose.GLOBAL_AVERAGE, len(out.output_shape) - 1, "insert_after", out.name)
    else:
        classifier = catalog.for_purpose(catalog.Purpose.CLASSIFIER)
        fix = classifier and _insert(catalog.Purpose.CLASSIFIER, None, "insert_after", out.name,
                                     {classifier.channels_param: num_classes, "activation": "softmax"},
                                     label=f"{classifier.name}({num_classes}, softmax)")
    fixes = [fix] if fix else []
    out.add(WARNING, f"The output is {out.output_shape} but a classifier of {num_classes} classes "
                     f"needs ({num_classes},): end with a vector of one score per class.", fixes)
