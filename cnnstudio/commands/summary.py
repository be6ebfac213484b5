"""Print a network's layers, shapes, parameters, receptive fields and MACs.

Examples:
  cnnstudio summary vgg16
  cnnstudio summary my_project.cnnproj --json
  cnnstudio summary --input 32,32,3 "Conv2D(filters=10, kernel_size=5, padding=2)" \\
      "MaxPool2D(pool_size=2)" "Flatten()" "Dense(units=10)"

The network is a preset, a project file, or (with --input) a chain of layers written as
Keras-style calls. Exit status 1 means the network has errors; 2 means it could not be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", nargs="+", metavar="PRESET|FILE|LAYER",
                        help="a preset name, a project file, or with --input the layers as calls")
    parser.add_argument("--input", metavar="SHAPE",
                        help="input shape, e.g. 32,32,3 or 40,1: read the arguments as layer calls")
    parser.add_argument("--num-classes", type=int, metavar="N",
                        help="the data set's classes: checks the output layer against them")
    parser.add_argument("--batch-size", type=int, default=32, metavar="N",
                        help="batch size of the memory and compute budget (default 32)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def load_network(args: argparse.Namespace):
    """The NetworkSpec the arguments name; SpecError or KeyError says why not."""
    from cnnstudio.network import expressions, presets
    from cnnstudio.workspace.project import load_project

    if args.input is not None:
        return expressions.parse_chain(expressions.parse_shape(args.input), args.network)
    if len(args.network) != 1:
        raise ValueError(f"expected one preset or project file, received {len(args.network)} arguments; "
                         "to give layers as calls, add --input SHAPE")
    source = args.network[0]
    if source in presets.PRESETS:
        return presets.get(source)
    if Path(source).exists() or Path(source).suffix:
        return load_project(source).network
    return presets.get(source)


def run(args: argparse.Namespace) -> int:
    from cnnstudio.analysis.analyze import infer
    from cnnstudio.network.spec import SpecError

    try:
        spec = load_network(args)
    except (SpecError, KeyError, ValueError) as exc:
        print(f"cnnstudio summary: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    if args.batch_size < 1:
        print(f"cnnstudio summary: --batch-size must be >= 1. Received: {args.batch_size}", file=sys.stderr)
        return 2
    summary = infer(spec, num_classes=args.num_classes)
    if args.json:
        from cnnstudio.analysis.dense_equivalent import compare_with_dense

        data = summary.to_json()
        data["dense_equivalent"] = {name: c.to_json() for name, c in compare_with_dense(summary).items()}
        data["name"] = spec.name
        data["budget"] = summary.budget(args.batch_size)
        print(json.dumps(data, indent=2))
    else:
        print(format_table(spec, summary, args.batch_size))
    return 0 if summary.ok else 1


def _human(n: float, unit: str = "") -> str:
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {suffix}{unit}"
    return f"{n:g} {unit}".rstrip()


def format_table(spec, summary, batch_size: int) -> str:
    """A table like Keras' summary, with receptive field and MACs, then totals and issues."""
    chained = {info.name: info.inputs == ([spec.layers[i - 1].name] if i else ["input"])
               for i, info in enumerate(summary.layers)}
    rows = [("Layer (type)", "Output shape", "Param #", "RF", "MACs", "Reads")]
    for info in summary.layers:
        shape = "?" if info.output_shape is None else str((None, *info.output_shape))
        rf = "x".join(str(v) for v in info.receptive_field) or "-"
        reads = "" if chained[info.name] else ", ".join(info.inputs)
        rows.append((f"{info.name} ({info.type})", shape, f"{info.params:,}", rf, f"{info.macs:,}", reads))
    widths = [max(len(r[c]) for r in rows) for c in range(6)]
    if not any(r[5] for r in rows[1:]):
        widths[5] = 0
    def line(row):
        cells = [row[c].ljust(widths[c]) if c in (0, 1, 5) else row[c].rjust(widths[c])
                 for c in range(6) if widths[c]]
        return "  ".join(cells).rstrip()
    rule = "-" * len(line(rows[0]))
    out = [f'Network "{spec.name}", input {tuple(spec.input_shape)}', rule, line(rows[0]), rule]
    out += [line(r) for r in rows[1:]]
    budget = summary.budget(batch_size)
    out += [
        rule,
        f"Total params: {summary.total_params:,} ({_human(budget['params_bytes'], 'B')})",
        f"Trainable params: {summary.trainable_params:,}",
        f"Non-trainable params: {summary.non_trainable_params:,}",
        f"MACs per example: {summary.macs:,} ({_human(summary.macs)})",
        f"Activations per example: {_human(summary.activation_bytes, 'B')}",
        f"Training step at batch {batch_size}: {_human(budget['training_step_macs'])} MACs, "
        f"about {_human(budget['total_bytes'], 'B')} of memory",
    ]
    from cnnstudio.analysis.dense_equivalent import compare_with_dense

    comparisons = compare_with_dense(summary)
    if comparisons:
        out += ["", "Why convolution: a fully connected layer with the same input and output would need"]
        out += [f"  {c.layer}: {c.formula} parameters, {c.ratio:,.0f}x its {c.params:,}"
                for c in comparisons.values()]
    errors, warnings = summary.errors(), summary.warnings()
    for title, issues in (("Errors", errors), ("Warnings", warnings)):
        if issues:
            out += ["", f"{title}:"]
            for issue in issues:
                out.append(f"  {issue}")
                out += [f"      fix: {fix.label}" for fix in issue.fixes]
    return "\n".join(out)
