"""Export a trained model or a project as a TensorFlow SavedModel, a .keras archive or a Python script.

SOURCE is a .keras model or a .cnnproj project (built with its latest run's weights).
  savedmodel  a folder TensorFlow loads without CNN Studio: signature "serving_default",
              input "image", output "probabilities"
  keras       a .keras archive; keras.saving.load_model reads it once `import layers` ran
  python      a readable script rebuilding the network with CNN Studio's layers, with the
              weights saved beside it as NAME.weights.h5
An existing OUT is replaced only with --force. Warnings (an untrained network) go to stderr.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SOURCE", help="a .keras model or a .cnnproj project")
    parser.add_argument("--format", required=True, choices=("savedmodel", "keras", "python"),
                        help="what to write")
    parser.add_argument("out", metavar="OUT", help="the folder (savedmodel) or file to write")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")


def run(args) -> int:
    from cnnstudio.models import export
    from cnnstudio.models.importer import ImportRefused
    from cnnstudio.network.spec import SpecError
    from cnnstudio.workspace.model_files import open_model

    try:
        opened = open_model(args.source)
    except (ImportRefused, SpecError, OSError) as exc:
        return _fail(str(exc))
    try:
        if args.format == "savedmodel":
            result = export.export_savedmodel(opened.model, args.out, force=args.force)
        elif args.format == "keras":
            result = export.export_keras(opened.model, args.out, force=args.force)
        elif opened.spec is None:
            return _fail(f"Cannot write a script for {args.source}: {opened.refusal}")
        else:
            result = export.export_python(opened.spec, args.out, force=args.force, model=opened.model)
    except export.ExportError as exc:
        return _fail(str(exc))
    warnings = list(result.warnings)
    if opened.runs is not None:
        project_warning = export.untrained_warning(runs=opened.runs)
        if project_warning:
            warnings = [project_warning] + [w for w in warnings if "looks untrained" not in w]
    for warning in warnings:
        print(f"cnnstudio export: warning: {warning}", file=sys.stderr)
    print(f"Exported {args.format} to {result.path}")
    return 0


def _fail(message: str) -> int:
    print(f"cnnstudio export: {message}", file=sys.stderr)
    return 2
