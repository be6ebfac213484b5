"""Show what a convolution or pooling computes, window by window, with our own layers.

Examples:
  cnnstudio explain conv1d --input 0,1,0,1,1 --kernel -1,1
  cnnstudio explain conv2d --input "1,1,1,0,0;0,1,1,1,0;0,0,1,1,1;0,0,1,1,0;0,1,1,0,0" \\
      --kernel "1,0,1;0,1,0;1,0,1"
  cnnstudio explain maxpool2d --input "1,3,2,4;5,6,1,2;7,2,3,0;1,2,9,4" --pool-size 2
  cnnstudio explain conv1dtranspose --input 1,2 --kernel 1,-1,3 --stride 2

Rows are separated by semicolons. "Convolution" here is cross-correlation, as in Keras: the
kernel is not flipped. Exit status 2 means the input or a setting could not be used.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

OPERATION_NAMES = ("conv1d", "conv2d", "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d",
                   "conv1dtranspose", "conv2dtranspose")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Kernels start with negative numbers ("--kernel -1,1"); argparse would take "-1,1" for an
    # option. This parser has no option that looks like a number, so read them as values.
    parser._negative_number_matcher = re.compile(r"^-\.?\d")
    parser.add_argument("operation", choices=OPERATION_NAMES, help="the layer to explain")
    parser.add_argument("--input", required=True,
                        help='input values: "0,1,0" (1D) or rows "1,0;0,1" (2D)')
    parser.add_argument("--kernel", help='convolution weights, same syntax as --input')
    parser.add_argument("--pool-size", help="pooling window: N, or H,W for 2D (default 2)")
    parser.add_argument("--stride", help="step between windows: N, or H,W for 2D "
                                         "(default 1 for convolutions, the pool size for pooling)")
    parser.add_argument("--padding", default="valid",
                        help='"valid" (default), "same", or P zeros on each side (P or H,W)')
    parser.add_argument("--dilation", help="gap between kernel taps: N, or H,W for 2D (default 1)")
    parser.add_argument("--output-padding", help="transposed convolutions: extra output cells (< stride), "
                                                 "N or H,W for 2D (default: from the padding)")
    parser.add_argument("--json", action="store_true",
                        help='print {"output": ..., "output_shape": ...} and the windows as JSON')


def _ints(text: str | None, option: str) -> int | tuple[int, ...] | None:
    if text is None:
        return None
    parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if not values or len(values) > 2:
        raise ValueError(
            f"{option} must be an integer, or two integers separated by a comma. "
            f"Expected e.g. {option} 2 or {option} 2,1. Received: {option}={text!r}"
        )
    return values[0] if len(values) == 1 else values


def _padding(text: str) -> str | int | tuple[int, ...]:
    if text.strip().lower() in ("valid", "same"):
        return text.strip().lower()
    try:
        return _ints(text, "--padding")
    except ValueError:
        raise ValueError(
            f'--padding must be "valid", "same" or a number of zeros P. '
            f"Expected e.g. --padding same or --padding 1. Received: --padding={text!r}"
        ) from None


def run(args: argparse.Namespace) -> int:
    from cnnstudio.inspection import explainer as engine
    from cnnstudio.inspection import transposed_explainer

    if args.operation in transposed_explainer.OPERATIONS:
        return _run_transposed(args)
    if args.output_padding is not None:
        print(f"cnnstudio explain: --output-padding is for transposed convolutions. Expected no "
              f"--output-padding for {args.operation}. Received: --output-padding={args.output_padding!r}",
              file=sys.stderr)
        return 2
    kind, rank = engine.OPERATIONS[args.operation]
    try:
        if kind == "conv":
            if args.pool_size is not None:
                raise ValueError(
                    f"--pool-size is for pooling; {args.operation} takes its window from --kernel. "
                    f"Expected --kernel only. Received: --pool-size={args.pool_size!r}"
                )
            if args.kernel is None:
                raise ValueError(
                    f"{args.operation} needs the kernel's weights. Expected --kernel, e.g. "
                    f"{'-1,1' if rank == 1 else '1,0;0,1'}. Received: no --kernel"
                )
        else:
            if args.kernel is not None:
                raise ValueError(
                    f"Pooling has no weights, so --kernel does not apply to {args.operation}. "
                    f"Expected --pool-size instead. Received: --kernel={args.kernel!r}"
                )
            if args.dilation is not None:
                raise ValueError(
                    f"Pooling windows are not dilated here. Expected no --dilation for "
                    f"{args.operation}. Received: --dilation={args.dilation!r}"
                )
        x = engine.parse_values(args.input, rank, "input")
        explanation = engine.explain(
            args.operation,
            x,
            engine.parse_values(args.kernel, rank, "kernel") if kind == "conv" else None,
            pool_size=2 if args.pool_size is None else _ints(args.pool_size, "--pool-size"),
            strides=_ints(args.stride, "--stride"),
            padding=_padding(args.padding),
            dilation_rate=1 if args.dilation is None else _ints(args.dilation, "--dilation"),
        )
    except ValueError as exc:
        print(f"cnnstudio explain: {exc}", file=sys.stderr)
        return 2

    if args.json:
        print(json.dumps(explanation.to_dict(), indent=2))
        return 0
    _print_text(explanation)
    return 0


def _run_transposed(args: argparse.Namespace) -> int:
    """Each input value's scaled kernel copy, then the sums per output cell."""
    from cnnstudio.inspection import explainer as engine
    from cnnstudio.inspection import transposed_explainer as transposed

    rank = transposed.OPERATIONS[args.operation]
    try:
        if args.pool_size is not None:
            raise ValueError(f"--pool-size is for pooling; {args.operation} takes its kernel from --kernel. "
                             f"Expected --kernel only. Received: --pool-size={args.pool_size!r}")
        if args.kernel is None:
            raise ValueError(f"{args.operation} needs the kernel's weights. Expected --kernel, e.g. "
                             f"{'1,-1' if rank == 1 else '1,0;0,1'}. Received: no --kernel")
        e = transposed.explain_conv_transpose(
            engine.parse_values(args.input, rank, "input"),
            engine.parse_values(args.kernel, rank, "kernel"),
            strides=1 if args.stride is None else _ints(args.stride, "--stride"),
            padding=_padding(args.padding),
            output_padding=_ints(args.output_padding, "--output-padding"),
            dilation_rate=1 if args.dilation is None else _ints(args.dilation, "--dilation"),
        )
    except ValueError as exc:
        print(f"cnnstudio explain: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(e.to_dict(), indent=2))
        return 0
    print(f"{e.operation} with layers.Conv{rank}DTranspose: {transposed.explained_sizes(e)}")
    print("each input value scatters a scaled copy of the kernel:")
    for scatter in e.scatters:
        print(f"  {scatter.equation}")
    print("the copies add up:")
    for line in e.sums:
        print(f"  {line}")
    print(f"output: {engine.format_values(e.output)}")
    print(f"output shape: {list(e.output.shape)}")
    axis_names = ("length",) if rank == 1 else ("height", "width")
    for name, formula in zip(axis_names, e.formulas, strict=True):
        print(f"output {name}: {formula}")
    return 0


def _print_text(e) -> None:
    from cnnstudio.inspection.explainer import format_values

    what = "kernel" if e.kind == "conv" else "pool"
    settings = [
        f"input {'x'.join(map(str, e.input.shape))}",
        f"{what} {'x'.join(map(str, e.window_shape))}",
        f"stride {'x'.join(map(str, e.strides))}",
        f"padding {', '.join(f'{b}+{a}' for b, a in e.padding)}",
    ]
    if e.kind == "conv":
        settings.append(f"dilation {'x'.join(map(str, e.dilation))}")
    print(f"{e.operation} with layers.{e.layer_class}: {', '.join(settings)}")
    for window in e.windows:
        print(f"  {window.equation}")
    print(f"output: {format_values(e.output)}")
    print(f"output shape: {list(e.output.shape)}")
    axis_names = ("length",) if e.rank == 1 else ("height", "width")
    for name, formula in zip(axis_names, e.formulas, strict=True):
        print(f"output {name}: {formula}")
    for warning in e.warnings:
        print(f"warning: {warning}")
    if e.unused.any():
        cells = [",".join(map(str, index)) for index in zip(*e.unused.nonzero(), strict=True)]
        print(f"unused input cells (read by no window): {' '.join(f'[{c}]' for c in cells)}")
