"""Look inside a trained model: its filters and every layer's activations for one example, as PNGs.

Prints the example's label and the model's top-3 prediction. --filters writes the kernels
of the first convolution (or --layer) as a grid, a row per filter; --activations writes the
feature maps of every layer (or only --layer) for validation example --sample of --dataset,
or for the picture given with --image.

What the course teaches, measured on the model:
  --shift-test              shift the example by -R..R pixels (--shift-range, --shift-axis,
                            --shift-mode) and print, as JSON, each layer's equivariance error
                            and how much the prediction changes
  --patches OUT.png         the validation images' patches that excite --channel of --layer most
  --synthesize OUT.png      an input made by gradient ascent to excite --channel of --layer
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a .keras model or a .cnnproj project")
    parser.add_argument("--dataset", help="data set name or path whose validation set gives the example")
    parser.add_argument("--sample", type=int, default=0, metavar="K", help="index of the validation example")
    parser.add_argument("--image", metavar="PATH", help="a picture (PNG, JPEG, ...) to use instead of --sample")
    parser.add_argument("--filters", metavar="OUT.png", help="write the kernels here")
    parser.add_argument("--activations", metavar="OUT.png", help="write the activations here")
    parser.add_argument("--layer", metavar="NAME", help="only this layer")
    parser.add_argument("--scale", type=int, default=None,
                        help="pixels per kernel or activation cell (default: small kernels and maps "
                             "are enlarged to about 48 pixels a side, for slides)")
    parser.add_argument("--top", type=int, default=3, metavar="K", help="how many predictions to print")
    parser.add_argument("--shift-test", action="store_true", help="measure equivariance and invariance (JSON)")
    parser.add_argument("--shift-range", type=int, default=4, metavar="R", help="shifts from -R to R pixels")
    parser.add_argument("--shift-axis", choices=("x", "y"), default="x", help="shift across (x) or down (y)")
    parser.add_argument("--shift-mode", choices=("zeros", "wrap"), default="zeros",
                        help="fill the pixels shifted in with zeros, or wrap those shifted out")
    parser.add_argument("--channel", type=int, metavar="K", help="the channel of --layer for --patches/--synthesize")
    parser.add_argument("--patches", metavar="OUT.png", help="write the top validation patches of --channel here")
    parser.add_argument("--synthesize", metavar="OUT.png", help="write a gradient-ascent image for --channel here")

def run(args) -> int:

    from cnnstudio.inspection import pictures, probes
    from cnnstudio.models.importer import ImportRefused
    from cnnstudio.network.spec import SpecError
    from cnnstudio.training.data import DataError, load_dataset
    from cnnstudio.workspace.model_files import open_model

    if args.scale is not None and args.scale < 1:
        return _fail(f"The scale is a number of pixels. Expected --scale >= 1. Received: --scale {args.scale}")
    try:
        opened = open_model(args.model)
    except (ImportRefused, SpecError, OSError) as exc:
        return _fail(str(exc))
    model = opened.model
    names = [layer.name for layer in model.layers[1:]] if hasattr(model, "inputs") else []
    if args.layer is not None and args.layer not in names:
        return _fail(f"The model has no layer {args.layer!r}. Expected one of: {', '.join(names)}.")
    class_names = None
    dataset = None
    if args.image is not None:
        try:
            height_width, channels = model.input_shape[1:-1], model.input_shape[-1]
            x = pictures.load_image(args.image, size=height_width, channels=channels)
        except (pictures.ImageError, ValueError) as exc:
            return _fail(str(exc))
        print(f"Example: {args.image}")
    elif args.dataset is not None:
        try:
            dataset = load_dataset(args.dataset, input_shape=model.input_shape[1:])
        except DataError as exc:
            return _fail(str(exc))
        if not 0 <= args.sample < len(dataset.x_val):
            return _fail(f"The validation set of {dataset.name} has {len(dataset.x_val)} examples. "
                         f"Expected 0 <= --sample < {len(dataset.x_val)}. Received: --sample {args.sample}")
        x, label = dataset.x_val[args.sample], int(dataset.y_val[args.sample])
        class_names = dataset.class_names
        print(f"Example: validation sample {args.sample} of {dataset.name}, label {class_names[label]}")
    elif args.activations is not None or args.shift_test:
        return _fail("The activations and the shift test need an example. "
                     "Expected --dataset NAME (with --sample K) or --image PATH.")
    else:
        x = None
    try:
        if x is not None:
            if tuple(x.shape) != tuple(model.input_shape[1:]):
                return _fail(f"The example is shaped {tuple(x.shape)} but the model reads "
                             f"{tuple(model.input_shape[1:])}. Expected a data set matching the model.")
            top = probes.predict_topk(model, x, k=args.top, class_names=class_names)
            print("Prediction: " + ", ".join(f"{c} {p:.1%}" for c, p in top))
        if args.filters is not None:
            conv = probes.conv_layers(model)
            layer = args.layer or (conv[0] if conv else None)
            if layer is None:
                return _fail("The model has no convolution layer, so it has no filters to draw.")
            kernel = probes.kernels(model, layer)
            picture = probes.kernel_images(model, layer).picture(scale=_scale(args, kernel.shape[1:-1]))
            print(f"Filters of {layer}: {pictures.write_png(args.filters, picture)}")
        if args.activations is not None:
            acts = probes.activations(model, x)
            chosen = [args.layer] if args.layer else list(acts)
            maps = [probes.activation_picture(acts[n], scale=_scale(args, acts[n].shape[:-1], 2))
                    for n in chosen]
            path = pictures.write_png(args.activations, pictures.stack(maps, gap=6))
            print(f"Activations of {', '.join(chosen)}: {path}")
        if args.shift_test or args.patches or args.synthesize:
            failure = _course(args, model, opened.spec, x, dataset)
            if failure:
                return failure
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    return 0

def _course(args, model, spec, x, dataset) -> int:
    """--shift-test, --patches and --synthesize: 0, or the status of a refusal."""
    import json

    import numpy as np

    from cnnstudio.analysis.analyze import infer
    from cnnstudio.inspection import detectors, equivariance, pictures

    if spec is None:
        return _fail("These measurements need the network's receptive fields, and this model is not one "
                     "CNN Studio can analyse. Expected a project or a .keras model of supported layers.")
    summary = infer(spec)
    if args.shift_test:
        if args.shift_range < 0:
            return _fail(f"Expected --shift-range >= 0. Received: --shift-range {args.shift_range}")
        steps = range(-args.shift_range, args.shift_range + 1)
        shifts = [(s, 0) if args.shift_axis == "x" else (0, s) for s in steps]
        if args.shift_axis == "y" and len(model.input_shape) != 4:
            return _fail("A sequence shifts along its length only. Expected --shift-axis x.")
        test = equivariance.shift_test(model, summary, x, shifts, mode=args.shift_mode)
        print(json.dumps(test.to_json()))
    if args.patches or args.synthesize:
        if args.layer is None or args.channel is None:
            return _fail("Which channel? Expected --layer NAME and --channel K.")
        if args.patches:
            if dataset is None:
                return _fail("The patches come from a validation set. Expected --dataset NAME.")
            patches = detectors.top_patches(model, summary, args.layer, args.channel, dataset.x_val)
            value_range = (float(np.min(dataset.x_val)), float(np.max(dataset.x_val)))
            picture = detectors.patches_picture(patches, value_range, scale=_scale(args, patches[0].pixels.shape[:-1]))
            path = pictures.write_png(args.patches, picture)
            listed = ", ".join(f"#{p.image_index} ({p.activation:.3g})" for p in patches)
            print(f"Top patches of {args.layer} channel {args.channel}: {path} (validation {listed})")
        if args.synthesize:
            value_range = (0.0, 1.0)
            if dataset is not None:
                value_range = (float(np.min(dataset.x_val)), float(np.max(dataset.x_val)))
            made = detectors.synthesize(model, args.layer, args.channel, value_range=value_range)
            picture = pictures.upscale(pictures.input_picture(made.image, *value_range),
                                       _scale(args, made.image.shape[:-1]))
            path = pictures.write_png(args.synthesize, picture)
            print(f"Gradient ascent on {args.layer} channel {args.channel}: {path} "
                  f"(mean activation {made.activations[0]:.3g} -> {made.activations[-1]:.3g})")
    return 0


def _scale(args, cell_shape, divisor: int = 1) -> int:
    """``--scale`` if given, else enough pixels per cell for a tile about 48 pixels a side."""
    if args.scale is not None:
        return max(1, args.scale // divisor)
    side = max(cell_shape) if len(cell_shape) else 1
    return max(2, min(16, -(-48 // side)))


def _fail(message: str) -> int:
    print(f"cnnstudio inspect: {message}", file=sys.stderr)
    return 2
