"""The project file: a network spec, training settings and past runs, as versioned JSON.

``{"format": "cnnstudio-project", "version": 1, "network": {...}, "training": {...},
"runs": [...]}``. A broken, truncated or hand-edited file is refused with a
:class:`ProjectError` naming the field and what was expected; nothing is half-loaded.
Files are written atomically, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnstudio.files import write_atomic
from cnnstudio.network.spec import NetworkSpec, SpecError, suggest

FORMAT = "cnnstudio-project"
VERSION = 1
SUFFIX = ".cnnproj"


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


def load_project(path: str | os.PathLike) -> Project:
    """The project stored at ``path``; ProjectError if it is missing, not JSON or not valid."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectError("(file)", f"{path} does not exist; expected a CNN Studio project file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError("(file)", f"cannot read {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProjectError("(file)", f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                                     f"{exc.msg}); the file may be truncated") from None
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
