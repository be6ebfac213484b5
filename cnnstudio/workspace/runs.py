"""Runs kept with the project: each run's settings, history, status and final weights.

The run list lives in the project JSON's ``"runs"`` key (one :class:`RunRecord` dict per run);
the weights live beside the project file, in ``<project>.runs/run-003.weights.h5``, written
atomically. A later run resumes from a run's weights (:func:`weights_path`), and the
project's ``"training"`` key holds the last settings and data set (:func:`project_settings`).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cnnstudio.archives import check_npz_member, check_zip
from cnnstudio.files import replacing, temp_prefix, written_in_memory
from cnnstudio.network.spec import NetworkSpec
from cnnstudio.training.loop import TrainingResult, TrainingSettings
from cnnstudio.workspace.project import (
    Project,
    ProjectError,
    load_project,
    merge_runs,
    project_lock,
    save_project,
)


@dataclass
class RunRecord:
    """One run as stored in the project. ``weights_file`` is relative to the project's folder."""

    id: str
    dataset: str
    settings: dict[str, Any]
    history: dict[str, list[float | None]]
    status: str
    error: str | None
    weights_file: str | None
    started: str
    finished: str
    epochs_completed: int = 0
    seconds: float = 0.0
    images_per_second: float = 0.0
    device: str = ""
    resumed_from: str | None = None
    timeline_file: str | None = None
    """Beside the weights: the per-epoch conv kernels and activations of one input (a .npz)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(out.pop("extra"))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """A stored run; keys this version does not know are kept in ``extra``, not lost."""
        known = {f.name for f in fields(cls)} - {"extra"}
        missing = {"id", "status"} - set(data)
        if missing:
            raise ProjectError("runs", f"a run lacks {sorted(missing)}; expected id and status in every run")
        defaults = {"dataset": "", "settings": {}, "history": {}, "error": None, "weights_file": None,
                    "started": "", "finished": ""}
        values = {**defaults, **{k: v for k, v in data.items() if k in known}}
        return cls(**values, extra={k: v for k, v in data.items() if k not in known})

    def training_settings(self) -> TrainingSettings:
        return TrainingSettings.from_dict(self.settings)


def now() -> str:
    """A timestamp for ``started``/``finished``: UTC, ISO 8601, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def runs_folder(project_path: str | os.PathLike) -> Path:
    """``my.cnnproj`` keeps its weights in ``my.runs/`` beside it."""
    path = Path(project_path)
    return path.parent / f"{path.stem}.runs"


def list_runs(project: Project) -> list[RunRecord]:
    return [RunRecord.from_dict(r) for r in project.runs]


def next_run_id(project: Project) -> str:
    """One more than any run id in the project or any weights file in its runs folder (another
    process may have written weights its project file does not list yet)."""
    ids = [str(r.get("id", "")) for r in project.runs if isinstance(r, dict)]
    if project.path is not None:
        with contextlib.suppress(OSError):
            ids += [p.name.removesuffix(".weights.h5") for p in runs_folder(project.path).iterdir()]
    numbers = [int(i.split("-")[-1]) for i in ids if i.startswith("run-") and i.split("-")[-1].isdigit()]
    return f"run-{max(numbers, default=0) + 1:03d}"


def weights_path(project: Project, record: RunRecord) -> Path | None:
    """Where a run's weights are, or None if the run kept none or the file is gone."""
    if project.path is None or not record.weights_file:
        return None
    path = Path(project.path).parent / record.weights_file
    return path if path.exists() else None


def latest_weights(project: Project) -> tuple[RunRecord, Path] | None:
    """The newest run whose weights file exists, to resume from; None if there is none."""
    for record in reversed(list_runs(project)):
        path = weights_path(project, record)
        if path is not None:
            return record, path
    return None


def record_run(
    project: Project,
    result: TrainingResult,
    dataset: str,
    started: str,
    resumed_from: str | None = None,
    save: bool = True,
    timeline: Any = None,
    network: NetworkSpec | None = None,
) -> RunRecord:
    """Store ``result`` as the project's next run: weights to the runs folder, record to the list.

    The project must have a file (``project.path``). With ``save`` the project file is written
    too (atomically), so the run and its weights are on disk together. A ``timeline``
    (:class:`cnnstudio.inspection.probes.Timeline`) is kept beside them when it is not too
    large, so a reopened project can scrub its epochs again. ``network`` (the spec trained, when
    it may differ from the project's, e.g. with layers frozen) is kept with the run.

    Under the project's lock, the runs another process recorded meanwhile are merged in first
    and the id is chosen past every run and weights file: two ``cnnstudio train`` at once get
    different ids and both runs are kept. With ``save``, the file keeps its network and settings
    as they are on disk (the window may have saved edits) and gains the run.
    """
    if project.path is None:
        raise ProjectError("path", "the project has no file yet; save it before recording a run")
    with project_lock(project.path):
        on_disk = load_project(project.path) if Path(project.path).exists() else None
        if on_disk is not None:
            project.runs = merge_runs(on_disk.runs, project.runs)
        run_id = next_run_id(project)
        weights_file = None
        if result.model is not None:
            folder = runs_folder(project.path)
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{run_id}.weights.h5"
            save_weights_atomic(result.model, target)
            weights_file = os.path.relpath(target, Path(project.path).parent)
        record = describe_run(result, dataset, started, run_id, resumed_from, weights_file)
        if network is not None:
            record.extra["network"] = network.to_dict()
        if timeline is not None and len(timeline) and weights_file is not None:
            target = runs_folder(project.path) / f"{run_id}.timeline.npz"
            if save_timeline(timeline, target):
                record.timeline_file = os.path.relpath(target, Path(project.path).parent)
        project.runs.append(record.to_dict())
        if save:
            base = on_disk or project
            save_project(Project(network=base.network, training=base.training, runs=project.runs),
                         project.path)
    return record


def describe_run(result: TrainingResult, dataset: str, started: str, run_id: str,
                 resumed_from: str | None = None, weights_file: str | None = None) -> RunRecord:
    """The record of ``result`` as the project stores it; writes nothing (the recovery file
    keeps runs of an unsaved project this way, their weights not yet on disk)."""
    return RunRecord(
        id=run_id,
        dataset=str(dataset),
        settings=result.settings.to_dict(),
        history={k: [_json_number(v) for v in vals] for k, vals in result.history.items()},
        status=result.status,
        error=result.error,
        weights_file=weights_file,
        started=started,
        finished=now(),
        epochs_completed=result.epochs_completed,
        seconds=round(result.seconds, 3),
        images_per_second=round(result.images_per_second, 1),
        device=result.device,
        resumed_from=resumed_from,
    )


TIMELINE_LIMIT_BYTES = 64 * 2**20
"""A timeline larger than this (a big network's activations for many epochs) is not kept."""


def save_timeline(timeline, path: str | os.PathLike) -> bool:
    """Write ``timeline`` as a compressed .npz, atomically; False (nothing written) when it is too large."""
    import numpy as np

    epochs, kernels, acts = timeline.epochs, timeline.kernels, timeline.activations
    arrays = {"fixed_input": np.asarray(timeline.fixed_input), "epochs": np.asarray(epochs, dtype=np.int64)}
    for index in range(len(epochs)):
        arrays.update({f"kernel/{index}/{name}": np.asarray(v) for name, v in kernels[index].items()})
        arrays.update({f"act/{index}/{name}": np.asarray(v) for name, v in acts[index].items()})
    if sum(a.nbytes for a in arrays.values()) > TIMELINE_LIMIT_BYTES:
        return False
    with replacing(path, ".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return True


def load_timeline(path: str | os.PathLike):
    """The :class:`cnnstudio.inspection.probes.Timeline` that :func:`save_timeline` wrote.

    Raises ProjectError naming the file when it cannot be read."""
    import numpy as np

    from cnnstudio.inspection.probes import Timeline

    try:
        members = check_zip(path, str(path))
        with zipfile.ZipFile(path) as archive:
            for member in members:
                check_npz_member(archive, member, str(path))
        with np.load(path, allow_pickle=False) as data:
            timeline = Timeline(fixed_input=data["fixed_input"])
            epochs = [int(e) for e in data["epochs"]]
            kernels: list[dict] = [{} for _ in epochs]
            acts: list[dict] = [{} for _ in epochs]
            for key in data.files:
                kind, _, rest = key.partition("/")
                if kind in ("kernel", "act"):
                    index, _, name = rest.partition("/")
                    (kernels if kind == "kernel" else acts)[int(index)][name] = data[key]
    except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile, EOFError, MemoryError) as exc:
        raise ProjectError("runs", f"the timeline file {path} cannot be read ({exc}); train again to "
                                   "record a new one") from None
    for epoch, by_layer, by_layer_acts in zip(epochs, kernels, acts, strict=True):
        timeline.record(epoch, by_layer, by_layer_acts)
    return timeline


@dataclass
class RestoredViews:
    """What a reopened project's latest run gives back to the inspection views."""

    run_id: str
    dataset: Any = None
    timeline: Any = None
    notes: list[str] = field(default_factory=list)


def restore_views(project: Project, validation_split: float = 0.2) -> RestoredViews | None:
    """The data set and timeline of the newest run with weights, loaded again; None without one.

    The data set is loaded by the name the run recorded, with the run's seed, so its
    validation split is the one the run was measured on. What cannot be loaded becomes a note.
    """
    from cnnstudio.training.data import DataError, fit_to_input, load_dataset

    found = latest_weights(project)
    if found is None:
        return None
    record, _weights = found
    restored = RestoredViews(run_id=record.id)
    if record.dataset:
        try:
            restored.dataset, _ = fit_to_input(
                load_dataset(record.dataset, validation_split=validation_split,
                             seed=int(record.settings.get("seed", 0)), input_shape=project.network.input_shape),
                project.network.input_shape, resize=bool(record.settings.get("resize_images", False)))
        except DataError as exc:
            restored.notes.append(f"The data set of {record.id} could not be loaded again: {exc}")
    if record.timeline_file and project.path is not None:
        path = Path(project.path).parent / record.timeline_file
        try:
            restored.timeline = load_timeline(path)
        except ProjectError as exc:
            restored.notes.append(str(exc))
    return restored


def run_network(project: Project, record: RunRecord) -> NetworkSpec:
    """The network a run trained: the one stored with it, else the project's."""
    stored = record.extra.get("network")
    return NetworkSpec.from_dict(stored, where=f"runs.{record.id}.network") if stored else project.network


def project_settings(project: Project) -> tuple[TrainingSettings, str | None]:
    """The settings and data set name stored in the project's ``"training"`` key."""
    training = dict(project.training)
    dataset = training.pop("dataset", None)
    return TrainingSettings.from_dict(training), dataset


def set_project_settings(project: Project, settings: TrainingSettings, dataset: str | None) -> None:
    project.training = {**settings.to_dict(), **({"dataset": dataset} if dataset else {})}


def _json_number(value: Any) -> float | None:
    """NaN and infinity become None: the project file is strict JSON."""
    value = float(value)
    return value if math.isfinite(value) else None


def save_weights_atomic(model, path: str | os.PathLike) -> Path:
    """``model.save_weights`` to a temporary file beside ``path``, then moved over it."""
    path = Path(path)
    with replacing(path, ".weights.h5") as tmp, written_in_memory(tmp) as h5:
        model.save_weights(str(h5))
    return path


def check_model_destination(path: str | os.PathLike) -> Path:
    """ValueError saying what is wrong with ``path`` as the place for a ``.keras`` file, checked
    before hours of training rather than after: the suffix, a folder in the way, a missing or
    non-folder parent, a place this process cannot write to (tried with a temporary file)."""
    path = Path(path)
    shown = repr(str(path))
    if path.suffix != ".keras":
        raise ValueError(f"A saved model is a .keras file. Expected a path ending in .keras. Received: {shown}")
    if path.is_dir():
        raise ValueError(f"{shown} is a folder. Expected the path of a .keras file to write.")
    parent = path.parent
    for ancestor in (parent, *parent.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise ValueError(f"{str(ancestor)!r} is a file, so {shown} cannot be written under it. Expected a "
                                 "path in a folder.")
            break
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=temp_prefix(path), suffix=".probe"):
            pass
    except OSError as exc:
        raise ValueError(f"Cannot write to {str(parent)!r} ({exc.strerror or exc}). Expected a folder this user "
                         f"can write to. Received: --save {shown}") from None
    return path


def save_model_atomic(model, path: str | os.PathLike) -> Path:
    """``model.save`` (.keras) to a temporary file beside ``path``, then moved over it."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"A saved model is a .keras file. Expected a path ending in .keras. Received: {path}")
    with replacing(path, ".keras") as tmp:
        model.save(str(tmp))
    return path
