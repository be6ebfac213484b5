"""Export a trained model or a project as a SavedModel, .keras, a Python script, LiteRT or ONNX.

SOURCE is a .keras model or a .cnnproj project (built with its latest run's weights).
  savedmodel  a folder TensorFlow loads without CNN Studio: signature "serving_default",
              input "image", output "probabilities"
  keras       a .keras archive; keras.saving.load_model reads it once `import layers` ran
  python      a readable script rebuilding the network with CNN Studio's layers, with the
              weights saved beside it as NAME.weights.h5
  tflite      a LiteRT model (.tflite; float32, or --quantize dynamic|int8), with the
              SavedModel's signature; verified in the LiteRT interpreter before it is written
  onnx        an ONNX model (.onnx), input "image", output "probabilities"; verified in
              ONNX Runtime before it is written
tflite and onnx need the deploy extra (pip install 'cnnstudio[deploy]'). They are compared with
the Keras model on validation inputs of --data (a project's own data set by default; random
inputs without one): float32 within 1e-5, quantized within 1 point of accuracy (needs data).
An existing OUT is replaced only with --force, and only when it is an earlier export of the
same format by CNN Studio (marked when written); a user's own file or folder is never replaced.
Warnings (an untrained network) go to stderr.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SOURCE", help="a .keras model or a .cnnproj project")
    parser.add_argument("--format", required=True, choices=("savedmodel", "keras", "python", "tflite", "onnx"),
                        help="what to write")
    parser.add_argument("--quantize", choices=("dynamic", "int8"),
                        help="tflite only: int8 weights (dynamic) or int8 weights and activations (int8)")
    parser.add_argument("--data", metavar="DATASET",
                        help="tflite/onnx: data set that calibrates int8 and verifies the export "
                             "(a built-in name or a file; default: the one the project's latest run trained on)")
    parser.add_argument("out", metavar="OUT", help="the folder (savedmodel) or file to write")
    parser.add_argument("--force", action="store_true", help="replace OUT if it is an earlier export of this format")


def run(args) -> int:
    from cnnstudio.models import export
    from cnnstudio.models.importer import ImportRefused
    from cnnstudio.network.spec import SpecError
    from cnnstudio.training.data import DataError
    from cnnstudio.workspace.model_files import open_model

    try:
        opened = open_model(args.source)
    except (ImportRefused, SpecError, OSError) as exc:
        return _fail(str(exc))
    if args.quantize and args.format != "tflite":
        return _fail(f"--quantize applies to LiteRT exports only. Expected --format tflite. "
                     f"Received: --format {args.format} --quantize {args.quantize}")
    try:
        if args.format in ("tflite", "onnx"):
            result = _deploy(args, opened)
        elif args.format == "savedmodel":
            result = export.export_savedmodel(opened.model, args.out, force=args.force)
        elif args.format == "keras":
            result = export.export_keras(opened.model, args.out, force=args.force)
        elif opened.spec is None:
            return _fail(f"Cannot write a script for {args.source}: {opened.refusal}")
        else:
            result = export.export_python(opened.spec, args.out, force=args.force, model=opened.model)
    except (export.ExportError, DataError) as exc:
        return _fail(str(exc))
    warnings = list(result.warnings)
    if opened.runs is not None:
        project_warning = export.untrained_warning(runs=opened.runs)
        if project_warning:
            warnings = [project_warning] + [w for w in warnings if "looks untrained" not in w]
    for warning in warnings:
        print(f"cnnstudio export: warning: {warning}", file=sys.stderr)
    print(f"Exported {args.format} to {result.path}")
    if result.verification:
        size = result.path.stat().st_size
        print(f"{result.path.name}: {size:,} bytes, {result.verification}")
    return 0


def _deploy(args, opened):
    """A verified tflite or onnx export, with --data (or the project's data set) when there is one."""
    from cnnstudio.models import deploy
    from cnnstudio.training.data import load_dataset

    name = args.data or _project_dataset(args.source)
    data = load_dataset(name, input_shape=opened.model.input_shape[1:]) if name else None
    if args.format == "onnx":
        return deploy.export_onnx(opened.model, args.out, force=args.force, data=data)
    return deploy.export_tflite(opened.model, args.out, force=args.force, quantize=args.quantize, data=data)


def _project_dataset(source) -> str | None:
    """The data set the exported weights were trained on: that of the project's latest run."""
    from cnnstudio.workspace.project import is_project_path, load_project
    from cnnstudio.workspace.runs import latest_weights, project_settings

    if not is_project_path(source):
        return None
    project = load_project(source)
    found = latest_weights(project)
    return (found[0].dataset if found else None) or project_settings(project)[1]


def _fail(message: str) -> int:
    print(f"cnnstudio export: {message}", file=sys.stderr)
    return 2
