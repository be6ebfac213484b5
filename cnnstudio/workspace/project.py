"""The project file: a network spec, training settings and past runs, as versioned JSON.

``{"format": "cnnstudio-project", "version": 1, "network": {...}, "training": {...},
"runs": [...]}``. A broken, truncated or hand-edited file is refused with a
:class:`ProjectError` naming the field and what was expected; nothing is half-loaded.
Files are written atomically, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnstudio import safe_json
from cnnstudio.files import write_atomic
from cnnstudio.network.spec import NetworkSpec, SpecError, suggest

FORMAT = "cnnstudio-project"
VERSION = 1
SUFFIX = ".cnnproj"
SUFFIXES = (SUFFIX, ".cnnproj.json")
"""The names a project file may end in (the README's examples use ``.cnnproj.json``)."""


def is_project_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like a project file (``net.cnnproj`` or ``net.cnnproj.json``)."""
    return Path(path).name.lower().endswith(SUFFIXES)


class ProjectError(SpecError):
    """A project file that cannot be read or written, with the field that is wrong."""


@dataclass
class Project:
    """A network, its training settings (owned by training) and its past runs."""

    network: NetworkSpec
    training: dict[str, Any] = field(default_factory=dict)
    runs: list[Any] = field(default_factory=list)
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        _check_json(self.training, "training", dict)
        _check_json(self.runs, "runs", list)
        return {
            "format": FORMAT,
            "version": VERSION,
            "network": self.network.to_dict(),
            "training": copy.deepcopy(self.training),
            "runs": copy.deepcopy(self.runs),
        }

    @classmethod
    def from_dict(cls, data: Any, path: Path | None = None) -> Project:
        """Read and check a project; raises ProjectError naming the field that is wrong."""
        if not isinstance(data, dict):
            raise ProjectError("(file)", f"expected a JSON object, received {type(data).__name__}")
        try:
            safe_json.check_depth(data, "the project")
        except safe_json.JSONReadError as exc:
            raise ProjectError("(file)", str(exc)) from None
        allowed = {"format", "version", "network", "training", "runs"}
        for key in data:
            if key not in allowed:
                raise ProjectError(key, f"unknown field; expected one of {sorted(allowed)}.{suggest(key, allowed)}")
        if data.get("format") != FORMAT:
            raise ProjectError("format", f'expected "{FORMAT}", received {data.get("format")!r}; '
                                         "this is not a CNN Studio project")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ProjectError("version", f"expected a format version (an integer >= 1), received {version!r}")
        if version > VERSION:
            raise ProjectError("version", f"this file is format version {version}, newer than the {VERSION} "
                                          "this CNN Studio reads; update CNN Studio to open it")
        if "network" not in data:
            raise ProjectError("network", "missing; expected the network spec")
        try:
            network = NetworkSpec.from_dict(data["network"], where="network")
        except SpecError as exc:
            raise ProjectError(exc.field, exc.reason) from None
        training = data.get("training", {})
        runs = data.get("runs", [])
        _check_json(training, "training", dict)
        _check_json(runs, "runs", list)
        check_runs(runs)
        return cls(network=network, training=copy.deepcopy(training), runs=copy.deepcopy(runs),
                   path=path)


def _check_json(value: Any, where: str, kind: type) -> None:
    if not isinstance(value, kind):
        expected = "an object" if kind is dict else "a list"
        raise ProjectError(where, f"expected {expected}, received {type(value).__name__}")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ProjectError(where, f"expected plain JSON values (numbers, strings, lists, objects); {exc}") from None


RUN_STATUSES = ("completed", "stopped", "failed")
_RUN_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "id": ((str,), "a run id such as \"run-003\""),
    "dataset": ((str,), "a data set name or path"),
    "settings": ((dict,), "an object of training settings"),
    "history": ((dict,), "an object of metric name -> list of numbers"),
    "status": ((str,), f"one of {', '.join(RUN_STATUSES)}"),
    "error": ((str, type(None)), "a message or null"),
    "weights_file": ((str, type(None)), "a path relative to the project's folder, or null"),
    "started": ((str,), "a timestamp"),
    "finished": ((str,), "a timestamp"),
    "epochs_completed": ((int,), "a whole number >= 0"),
    "seconds": ((int, float), "a number >= 0"),
    "images_per_second": ((int, float), "a number >= 0"),
    "device": ((str,), "a device name"),
    "resumed_from": ((str, type(None)), "a run id or null"),
    "timeline_file": ((str, type(None)), "a path relative to the project's folder, or null"),
}
"""The fields a run record may have, with their JSON types; other keys are kept as they are."""


def check_runs(runs: list) -> None:
    """ProjectError naming ``runs[i].field`` for any run entry that is not a well-formed record."""
    seen: set[str] = set()
    for i, run in enumerate(runs):
        where = f"runs[{i}]"
        if not isinstance(run, dict):
            raise ProjectError(where, f"expected a run object with id and status, received {_describe(run)}")
        if "id" not in run:
            raise ProjectError(where, "missing id; expected every run to have an id such as \"run-003\"")
        for key, (kinds, expected) in _RUN_FIELDS.items():
            if key not in run:
                continue
            value = run[key]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise ProjectError(f"{where}.{key}", f"expected {expected}, received {_describe(value)}")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                    not math.isfinite(value) or value < 0):
                raise ProjectError(f"{where}.{key}", f"expected {expected}, received {value!r}")
        if not run["id"].strip() or len(run["id"]) > 200:
            raise ProjectError(f"{where}.id", f"expected a non-empty run id, received {_describe(run['id'])}")
        if run["id"] in seen:
            raise ProjectError(f"{where}.id", f"{run['id']!r} is used by an earlier run; expected unique run ids")
        seen.add(run["id"])
        if "status" in run and run["status"] not in RUN_STATUSES:
            raise ProjectError(f"{where}.status", f"expected one of {', '.join(RUN_STATUSES)}, "
                                                  f"received {_describe(run['status'])}")
        for key in ("weights_file", "timeline_file"):
            file = run.get(key)
            if file is not None and (os.path.isabs(file) or ".." in Path(file).parts or "\0" in file):
                raise ProjectError(f"{where}.{key}", "expected a path inside the project's folder (relative, "
                                                     f"without ..), received {_describe(file)}")
        for metric, values in run.get("history", {}).items():
            if not isinstance(values, list) or not all(
                    v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
                raise ProjectError(f"{where}.history.{metric}",
                                   f"expected a list of numbers (null for a missing value), received "
                                   f"{_describe(values)}")


def _describe(value: Any) -> str:
    """A short, printable account of a value from a file (never its whole text)."""
    text = repr(value)
    return text if len(text) <= 80 else f"{type(value).__name__} {text[:60]}..."


def load_project(path: str | os.PathLike) -> Project:
    """The project stored at ``path``; ProjectError if it is missing, not JSON or not valid."""
    path = Path(path)
    if not path.exists():
        raise ProjectError("(file)", f"{path} does not exist; expected a CNN Studio project file")
    try:
        data = safe_json.read(path)
    except safe_json.JSONReadError as exc:
        raise ProjectError("(file)", str(exc)) from None
    return Project.from_dict(data, path=path)


def save_project(project: Project, path: str | os.PathLike | None = None) -> Path:
    """Write ``project`` atomically to ``path`` (or its own path) and remember the path."""
    target = Path(path) if path is not None else project.path
    if target is None:
        raise ProjectError("path", "the project has no file yet; expected a path to save it to")
    text = json.dumps(project.to_dict(), indent=2, allow_nan=False) + "\n"
    write_atomic(target, text)
    project.path = target
    return target


@contextlib.contextmanager
def project_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on the project at ``path`` (a hidden ``.NAME.lock`` beside it).

    Every writer of a project (``cnnstudio train`` recording a run, the window saving) takes
    it around read-merge-write, so two writers never overwrite each other's runs. The lock is
    the operating system's (flock): a killed process releases it. The lock file stays.
    """
    path = Path(path)
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks; writers still merge what they read
        yield
        return
    fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def disk_stamp(path: str | os.PathLike | None) -> tuple[int, int, int] | None:
    """(modification time, size, inode) of the file at ``path``, None if there is none: what a
    writer compares to learn that someone else saved the file since it read it."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def merge_runs(on_disk: list, ours: list) -> list:
    """The runs of the file on disk, then ours that it lacks (by id): nobody's run is lost."""
    known = {run.get("id") for run in on_disk if isinstance(run, dict)}
    return copy.deepcopy(on_disk) + [copy.deepcopy(run) for run in ours
                                     if not isinstance(run, dict) or run.get("id") not in known]
