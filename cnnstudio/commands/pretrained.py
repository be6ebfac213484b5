"""Open keras.applications VGG16 or ResNet50 as a CNN Studio project, weights copied.

Writes OUT (a project holding the network, built of CNN Studio's layers) and OUT's name with
.keras (that network with the weights) beside it, ready for
`cnnstudio train OUT --dataset FOLDER --init-from OUT.keras --freeze ...`. --weights imagenet
downloads ImageNet's weights (internet needed once); offline, give a .weights.h5 or .keras
file saved from keras.applications; without --weights the weights are random.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=("VGG16", "ResNet50"), help="the keras.applications architecture")
    parser.add_argument("--weights", metavar="imagenet|FILE", help="imagenet, or a .weights.h5/.keras file")
    parser.add_argument("--input-shape", default="224,224,3", metavar="H,W,C", help="input size (default 224,224,3)")
    parser.add_argument("--classes", type=int, default=1000, help="output classes (default 1000)")
    parser.add_argument("--no-top", action="store_true", help="leave out the dense head (any input size)")
    parser.add_argument("--out", required=True, metavar="PROJECT.cnnproj", help="the project to write")


def run(args) -> int:
    from cnnstudio.models.applications import import_application
    from cnnstudio.models.importer import ImportRefused, rebuild
    from cnnstudio.workspace.project import Project, save_project
    from cnnstudio.workspace.runs import save_model_atomic

    try:
        shape = tuple(int(v) for v in args.input_shape.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3:
        return _fail(f"Bad input shape. Expected height,width,channels such as 224,224,3. "
                     f"Received: --input-shape {args.input_shape}")
    try:
        spec, weights = import_application(args.name, weights=args.weights, input_shape=shape,
                                           classes=args.classes, include_top=not args.no_top)
        model = rebuild(spec, weights)
    except ImportRefused as exc:
        return _fail(str(exc))
    out = Path(args.out)
    save_project(Project(network=spec), out)
    model_file = save_model_atomic(model, out.with_suffix(".keras"))
    print(f"Wrote {out} ({len(spec.layers)} layers, {model.count_params():,} parameters) and {model_file}",
          file=sys.stderr)
    return 0


def _fail(message: str) -> int:
    print(f"cnnstudio pretrained: {message}", file=sys.stderr)
    return 2
