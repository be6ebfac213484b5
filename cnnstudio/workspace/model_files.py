"""Opening what a user points a command at: a ``.keras`` file or a project with its runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras

from cnnstudio.models.importer import (
    ImportRefused,
    load_keras_file,
    rebuild_from_file,
    spec_from_model,
)
from cnnstudio.network.spec import NetworkSpec
from cnnstudio.workspace.project import SUFFIXES, is_project_path, load_project
from cnnstudio.workspace.runs import latest_weights


@dataclass
class OpenedModel:
    """A model opened from a file, with what the exports and warnings need to know about it.

    ``spec`` is None for a ``.keras`` model the catalog cannot express (it still exports as a
    SavedModel or ``.keras``); ``runs`` is None unless the file was a project.
    """

    model: keras.Model
    spec: NetworkSpec | None
    runs: list | None
    refusal: str | None = None
    """Why ``spec`` is None."""


def open_model(path) -> OpenedModel:
    """A ``.keras`` file as it is, or a project (``.cnnproj``) built with its latest run's weights."""
    path = Path(path)
    if is_project_path(path):
        project = load_project(path)
        found = latest_weights(project)
        return OpenedModel(rebuild_from_file(project.network, found[1] if found else None), project.network,
                           project.runs if found else [])
    if path.suffix != ".keras":
        raise ImportRefused(f"Cannot open {str(path)!r}. Expected a .keras model or a {SUFFIXES[0]} project "
                            f"(or {SUFFIXES[1]}). "
                            f"Received: suffix {path.suffix!r}")
    model = load_keras_file(path)
    try:
        return OpenedModel(model, spec_from_model(model), None)
    except ImportRefused as exc:
        return OpenedModel(model, None, None, str(exc))
