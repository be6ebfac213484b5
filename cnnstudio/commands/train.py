"""Train a preset or a project's network on a data set, with a progress bar on stderr.

TARGET is a preset name (see `cnnstudio presets`) or a project file; with a project the run
(settings, history, weights) is recorded in it, and --resume starts from its latest weights.
--dataset takes a built-in name (digits, mnist-5k, mnist1d, mnist, fashion_mnist, cifar10) or
a .csv, .npz or image folder (one subfolder per class, or Kaggle's seg_train/ and seg_test/).
Images smaller than the input are padded with zeros; --resize resizes larger ones. Fine-tune
with --init-from MODEL.keras (or a project's run id): layers whose names and weight shapes
match take its weights, the others start fresh; --freeze NAME,... keeps layers' weights fixed.
With TF_CONFIG set, training runs across machines (MultiWorkerMirroredStrategy) unless
--device says otherwise. Ctrl-C stops after the current batch and keeps the weights. With --json the last line of stdout is one JSON object: epochs,
loss, accuracy, val_loss, val_accuracy, seconds, images_per_second (and status, device,
replicas, and weights_sha256: one hash of the final weights, equal on workers in step).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

_DEFAULT_DATASETS = {(8, 8, 1): "digits", (28, 28, 1): "mnist-5k", (32, 32, 1): "mnist-5k", (40, 1): "mnist1d"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="PRESET|FILE", help="a preset name or a project file")
    parser.add_argument("--dataset", metavar="NAME|PATH", help="data set name or file (default: by the input shape)")
    from cnnstudio.training.loop import setting_fields

    for f, setting in setting_fields():  # one option per training setting, from its description
        kind = type(f.default)
        extra = ({"action": argparse.BooleanOptionalAction} if kind is bool else
                 {"choices": setting.choices} if setting.choices and not setting.open_choices else
                 {"type": kind})
        parser.add_argument(setting.option(f.name), dest=f.name, default=None,
                            help=f"{setting.help} (default: {f.default})", **extra)
    parser.add_argument("--validation-split", type=float, default=0.2, help="fraction kept for validation")
    parser.add_argument("--resume", action="store_true", help="start from the project's latest run weights")
    parser.add_argument("--init-from", metavar="MODEL.keras|RUN",
                        help="start from a .keras model's (or a project run's) weights, matched by layer name")
    parser.add_argument("--freeze", metavar="NAME[,NAME...]", help="layers whose weights stay fixed")
    parser.add_argument("--aspect", choices=("pad", "crop"), default="pad",
                        help="image folders: keep the aspect ratio by padding (default) or by cropping")
    parser.add_argument("--save", metavar="OUT.keras", help="save the trained model here (atomically)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary as the last line")


def run(args) -> int:
    from cnnstudio.network import presets
    from cnnstudio.training.data import DataError, load_dataset
    from cnnstudio.training.loop import (
        SettingsError,
        TrainingSettings,
        TrainingState,
        setting_fields,
        train,
    )
    from cnnstudio.training.transfer import TransferError, freeze
    from cnnstudio.workspace.project import ProjectError, load_project
    from cnnstudio.workspace.runs import (
        check_model_destination,
        latest_weights,
        now,
        project_settings,
        record_run,
        save_model_atomic,
    )

    project = None
    settings_data: dict = {}
    dataset_name = args.dataset
    try:
        if Path(args.target).is_file():
            project = load_project(args.target)
            stored, stored_dataset = project_settings(project)
            settings_data = stored.to_dict()
            dataset_name = dataset_name or stored_dataset
            spec = project.network
        else:
            spec = presets.get(args.target)
    except (ProjectError, SettingsError) as exc:
        return _fail(f"Cannot use {args.target}: {exc}")
    except KeyError as exc:
        return _fail(f"{exc.args[0] if exc.args else exc} (or give the path of a project file)")
    if args.save:
        try:
            check_model_destination(args.save)
        except ValueError as exc:
            return _fail(f"Cannot save the model there, so nothing was trained: {exc}")
    overrides = {f.name: getattr(args, f.name) for f, _ in setting_fields()}
    settings_data.update({k: v for k, v in overrides.items() if v is not None})
    if args.device is None and os.environ.get("TF_CONFIG"):
        settings_data["device"] = "workers"
    try:
        settings = TrainingSettings.from_dict(settings_data)
    except SettingsError as exc:
        return _fail(str(exc))
    dataset_name = dataset_name or _DEFAULT_DATASETS.get(tuple(spec.input_shape))
    if dataset_name is None:
        return _fail(f"No default data set for {'x'.join(map(str, spec.input_shape))} inputs. Pass --dataset.")
    if args.freeze:
        try:
            spec = freeze(spec, [n.strip() for n in args.freeze.split(",") if n.strip()])
        except TransferError as exc:
            return _fail(str(exc))
    try:
        dataset = load_dataset(dataset_name, validation_split=args.validation_split, seed=settings.seed,
                               input_shape=spec.input_shape, aspect=args.aspect, progress=_scan_progress)
    except DataError as exc:
        return _fail(str(exc))
    init_from = None
    if args.init_from:
        try:
            init_from = _init_source(args.init_from, project)
        except TransferError as exc:
            return _fail(str(exc))
    initial, resumed_from = None, None
    if args.resume:
        found = latest_weights(project) if project is not None else None
        if found is None:
            return _fail("Nothing to resume from. Expected a project file with a run that kept its weights.")
        resumed_from, initial = found[0].id, found[1]
    print(f"Training {spec.name} on {dataset.describe()}", file=sys.stderr)
    bar = _ProgressBar(sys.stderr)
    state = TrainingState(listener=bar.update, min_interval=0.2)
    started = now()
    previous = signal.signal(signal.SIGINT, lambda *_: state.request_stop())
    try:
        result = train(spec, dataset, settings, state, initial_weights=initial, init_from=init_from)
    finally:
        signal.signal(signal.SIGINT, previous)
    bar.finish()
    for note in result.notes:
        print(note, file=sys.stderr)
    if result.error:
        print(f"cnnstudio train: {result.error}", file=sys.stderr)
    elif result.status == "stopped":
        print(f"Stopped after {result.epochs_completed} whole epoch(s); the weights were kept.", file=sys.stderr)
    if _is_chief():
        if project is not None:
            try:
                record = record_run(project, result, dataset_name, started, resumed_from=resumed_from,
                                    network=spec)
                print(f"Recorded {record.id} in {project.path}", file=sys.stderr)
            except (ProjectError, OSError) as exc:
                print(f"cnnstudio train: the run could not be recorded in {project.path}: {exc}", file=sys.stderr)
                result.status = "failed" if result.status != "failed" else result.status
        if args.save and result.status == "failed":
            kept = "the existing file was kept" if os.path.exists(args.save) else "nothing was written"
            print(f"The run failed, so the model was not saved to {args.save}: {kept}.", file=sys.stderr)
        elif args.save and result.model is not None:
            try:
                print(f"Saved the model to {save_model_atomic(result.model, args.save)}", file=sys.stderr)
            except OSError as exc:
                print(f"cnnstudio train: cannot save the model to {args.save} ({exc.strerror or exc}); "
                      f"{'the existing file was kept' if os.path.exists(args.save) else 'nothing was written'}.",
                      file=sys.stderr)
                return 1
    if args.json:
        total = len(dataset.x_train) * result.epochs_completed
        summary = {
            "status": result.status,
            "epochs": result.epochs_completed,
            **result.metrics(),
            "seconds": round(result.seconds, 3),
            "images_per_second": round(result.images_per_second, 1),
            "images": total,
            "device": result.device,
            "replicas": result.replicas,
            "weights_sha256": _weights_digest(result.weights),
        }
        print(json.dumps(summary))
    return 1 if result.status == "failed" else 0


def _weights_digest(weights) -> str:
    """One hash of every final weight: workers that trained one model in step print the same."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for array in weights:
        digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _init_source(source: str, project):
    """A .keras path as given, or the weights of the project's run of that id (read into the
    network that run trained)."""
    from cnnstudio.training.transfer import TransferError, read_weights
    from cnnstudio.workspace.runs import list_runs, run_network, weights_path

    if project is not None:
        for record in list_runs(project):
            if record.id == source:
                path = weights_path(project, record)
                if path is None:
                    raise TransferError(f"The run {source} kept no weights. Expected a run with a weights file.")
                return read_weights(path, run_network(project, record))
    if not Path(source).is_file():
        runs = [r.id for r in list_runs(project)] if project is not None else []
        raise TransferError(f"No model file or run {source!r}. Expected a .keras file"
                            + (f" or one of the project's runs {runs}." if runs else "."))
    return source


def _scan_progress(done: int, total: int) -> None:
    end = "\n" if done == total else ""
    print(f"\rScanning images {done}/{total}", end=end, file=sys.stderr, flush=True)


def _fail(message: str) -> int:
    print(f"cnnstudio train: {message}", file=sys.stderr)
    return 2


def _is_chief() -> bool:
    """Across machines, only worker 0 writes files; alone, this process is the chief."""
    try:
        task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
    except json.JSONDecodeError:
        return True
    return task.get("type", "worker") in ("chief", "worker") and int(task.get("index", 0)) == 0


class _ProgressBar:
    """One line per epoch on stderr: a bar, batches, loss, images/s and the time left."""

    WIDTH = 24

    def __init__(self, stream):
        self.stream = stream
        self.open_line = False

    def update(self, u) -> None:
        filled = int(self.WIDTH * u.batch / max(u.batches, 1))
        bar = "#" * filled + "." * (self.WIDTH - filled)
        eta = f"ETA {u.eta_seconds:4.0f}s" if u.eta_seconds is not None else ""
        loss = f"loss {u.loss:.4f}" if u.loss is not None else ""
        line = f"\rEpoch {u.epoch}/{u.epochs} [{bar}] {u.batch}/{u.batches} {loss} {u.images_per_second:7.0f} img/s {eta}"
        if u.kind == "epoch":
            logs = u.epoch_logs or {}
            extra = "".join(f" {k} {logs[k]:.4f}" for k in ("accuracy", "val_loss", "val_accuracy") if k in logs)
            self.stream.write(line.rstrip() + extra + "\n")
            self.open_line = False
        else:
            self.stream.write(line)
            self.open_line = True
        self.stream.flush()

    def finish(self) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.open_line = False
