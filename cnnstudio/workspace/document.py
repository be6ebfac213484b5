"""The editable network document behind the studio window, with undo/redo and events.

Qt-free, so that every edit the GUI offers can be tested without a window. Each edit
validates first, then replaces the spec, records an undo snapshot and emits
``events.changed``; widgets only listen to these events and call these methods.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnstudio.analysis.analyze import infer
from cnnstudio.network import catalog, edits
from cnnstudio.network.spec import INPUT, LayerSpec, NetworkSpec, suggest
from cnnstudio.workspace.project import (
    Project,
    ProjectError,
    disk_stamp,
    load_project,
    merge_runs,
    project_lock,
    save_project,
)

UNDO_LIMIT = 200


class DocumentError(ValueError):
    """An edit the document refuses; the message says what is wrong and how to fix it."""


class ChangedOnDisk(DocumentError):
    """The project file's network was saved by someone else since this document read it:
    saving would overwrite their edit. Save with ``overwrite=True`` to replace it anyway."""


class Signal:
    """A tiny Qt-free signal: ``connect(callback)``, ``disconnect(callback)``, ``emit(*args)``."""

    def __init__(self, name: str):
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)


class DocumentEvents:
    """The document's signals.

    ``changed(label)``: the spec changed (an edit, undo, redo, open, new).
    ``selected(name_or_None)``: the selected layer changed.
    ``dirty(bool)``: unsaved changes appeared or were saved.
    ``path(str_or_None)``: the file the document is saved to changed.
    """

    def __init__(self):
        self.changed = Signal("changed")
        self.selected = Signal("selected")
        self.dirty = Signal("dirty")
        self.path = Signal("path")


@dataclass(frozen=True)
class _Snapshot:
    label: str
    spec: NetworkSpec


class NetworkDocument:
    """The network being edited, its file path, selection and undo history."""

    def __init__(self, spec: NetworkSpec | None = None, path: str | None = None):
        self.events = DocumentEvents()
        self._spec = (spec or NetworkSpec(input_shape=(28, 28, 1), name="untitled")).copy()
        self._path = path
        self._selected: str | None = None
        self._undo: list[_Snapshot] = []
        self._redo: list[_Snapshot] = []
        self._clean = self._spec.to_dict()
        self._dirty_of: tuple[NetworkSpec | None, bool] = (None, False)
        self._training_dirty = False
        self._summary = None
        self._project = Project(network=self._spec.copy())
        """The project's other fields (training settings, runs), kept for saving."""
        self._disk: tuple = (disk_stamp(path), None)
        """The file as last read or written here: its stamp and network, to notice others' saves."""

    # -- state ---------------------------------------------------------------------------

    @property
    def spec(self) -> NetworkSpec:
        """A copy of the current spec: edit it only through the document's methods."""
        return self._spec.copy()

    @property
    def current(self) -> NetworkSpec:
        """The current spec itself, not a copy, for views that only read it: never change it (edit
        through the document's methods). A copy of a 100,000-layer network costs about a second."""
        return self._spec

    @property
    def summary(self):
        """Shape inference of the current spec, computed once per change."""
        if self._summary is None:
            self._summary = infer(self._spec)
        return self._summary

    @property
    def path(self) -> str | None:
        return self._path

    @property
    def selected(self) -> str | None:
        return self._selected

    @property
    def dirty(self) -> bool:
        if self._training_dirty:
            return True
        if self._dirty_of[0] is not self._spec:  # compared once per change, not on every ask
            self._dirty_of = (self._spec, self._spec.to_dict() != self._clean)
        return self._dirty_of[1]

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str:
        return self._undo[-1].label if self._undo else ""

    @property
    def redo_label(self) -> str:
        return self._redo[-1].label if self._redo else ""

    def select(self, name: str | None) -> None:
        if name is not None and name != INPUT and name not in self._names():
            raise DocumentError(f'Cannot select layer "{name}": no such layer. Expected one of {self._names()}.')
        if name != self._selected:
            self._selected = name
            self.events.selected.emit(name)

    # -- edits ---------------------------------------------------------------------------

    def append_layer(self, type_name: str, params: dict | None = None) -> str:
        """Add a layer at the end of the chain, reading the last layer; returns its name."""
        layer = self._new_layer(self._spec, type_name, params)
        self._edit({"op": "append_layer", "type": type_name, "name": layer.name, "params": layer.params},
                   f"Add {type_name}")
        self.select(layer.name)
        return layer.name

    def insert_layer(self, type_name: str, src: str, dst: str, params: dict | None = None) -> str:
        """Insert a layer on the connection ``src -> dst``; returns its name."""
        self._require_edge(self._spec, src, dst)
        layer = self._new_layer(self._spec, type_name, params)
        self._edit({"op": "insert_before", "layer": dst, "source": src, "type": type_name,
                    "name": layer.name, "params": layer.params}, f"Insert {type_name}")
        self.select(layer.name)
        return layer.name

    def remove_layer(self, name: str) -> None:
        """Remove a layer; the layers that read it read its first input instead, in its slot.

        The same edit as the analysis' "Remove layer" fix (see :mod:`cnnstudio.network.edits`
        for why a merge keeps its number of inputs).
        """
        self._require_layer(self._spec, name)
        self._edit({"op": "remove_layer", "layer": name}, f"Delete {name}")

    def move_layer(self, name: str, index: int) -> None:
        """Move a single-input layer to position ``index`` of the chain.

        It is unhooked (its readers read its input instead) and hooked in again between
        the layer now before ``index`` and the one that read it.
        """
        spec = self._spec  # read here; the edit makes the new spec
        layer = self._require_layer(spec, name)
        if catalog.get(layer.type).is_merge:
            raise DocumentError(
                f'Cannot move merge layer "{name}": its inputs fix its place. '
                "Expected a single-input layer; reconnect the merge's inputs instead."
            )
        old = spec.index(name)
        if not 0 <= index < len(spec.layers):
            raise DocumentError(
                f"Cannot move \"{name}\" to position {index}. Expected 0 to {len(spec.layers) - 1}. "
                f"Received: index={index}"
            )
        if index == old:
            return
        self._edit({"op": "move_layer", "layer": name, "index": index}, f"Move {name}")

    def set_param(self, name: str, key: str, value: Any) -> None:
        """Set one hyperparameter; a value the catalog refuses raises DocumentError unchanged."""
        self.set_params(name, {key: value})

    def set_params(self, name: str, values: dict[str, Any]) -> None:
        spec = self._spec  # read here; the edit makes the new spec
        layer = self._require_layer(spec, name)
        layer_type = catalog.get(layer.type)
        try:
            checked = layer_type.check_params(values)
        except catalog.ParamError as exc:
            raise DocumentError(f"Invalid {exc.param} for {name} ({layer.type}): {exc.reason}") from None
        defaults = layer_type.defaults()
        changed = {key: value for key, value in checked.items() if value != defaults[key]}
        reset = [key for key, value in checked.items() if value == defaults[key]]
        spec = edits.apply_edit(edits.apply_edit(spec, {"op": "set_params", "layer": name, "params": changed}),
                                {"op": "unset_params", "layer": name, "names": reset})
        if spec.to_dict() == self._spec.to_dict():
            return
        self._commit(spec, f"Change {', '.join(checked)} of {name}")

    def set_trainable(self, name: str, trainable: bool) -> None:
        """Freeze (False) or unfreeze a layer's weights for fine-tuning, undoably."""
        spec = self._spec  # read here; the edit makes the new spec
        layer = self._require_layer(spec, name)
        if layer.trainable == bool(trainable):
            return
        spec = edits.apply_edit(spec, {"op": "set_trainable", "layer": name, "trainable": bool(trainable)})
        self._commit(spec, f"{'Unfreeze' if trainable else 'Freeze'} {name}")

    def rename_layer(self, name: str, new_name: str) -> None:
        spec = self._spec  # read here; the edit makes the new spec
        layer = self._require_layer(spec, name)
        new_name = new_name.strip()
        if not new_name or new_name == INPUT or new_name in self._names():
            raise DocumentError(
                f'Cannot rename "{name}". Expected a new, unique, non-empty name other than "{INPUT}". '
                f"Received: new_name={new_name!r}"
            )
        self._edit({"op": "rename_layer", "layer": layer.name, "name": new_name}, f"Rename {name}")
        if self._selected == name:
            self.select(new_name)

    def connect(self, src: str, dst: str) -> None:
        """Feed ``src``'s output into the merge layer ``dst`` (Add, Concatenate): a skip connection."""
        spec = self._spec  # read here; the edit makes the new spec
        if src != INPUT:
            self._require_layer(spec, src)
        target = self._require_layer(spec, dst)
        layer_type = catalog.get(target.type)
        if not layer_type.is_merge:
            raise DocumentError(
                f'Cannot connect "{src}" to "{dst}": {target.type} takes one input. '
                f"Expected a merge layer ({' or '.join(t.name for t in catalog.merges())}). Received: dst={dst!r}"
            )
        inputs = _explicit_inputs(spec)
        if src in inputs[dst]:
            raise DocumentError(f'"{src}" already feeds "{dst}". Expected a new connection. Received: src={src!r}')
        if len(inputs[dst]) >= layer_type.max_inputs:
            raise DocumentError(
                f'Cannot connect "{src}" to "{dst}": it already has {len(inputs[dst])} inputs. '
                f"Expected at most {layer_type.max_inputs}."
            )
        if src != INPUT and spec.index(src) > spec.index(dst):
            raise DocumentError(
                f'Cannot connect "{src}" to "{dst}": "{src}" comes after "{dst}", which would make a cycle. '
                f'Expected a layer above "{dst}". Received: src={src!r}'
            )
        self._edit({"op": "set_inputs", "layer": dst, "inputs": [*inputs[dst], src]}, f"Connect {src} to {dst}")

    def disconnect(self, src: str, dst: str) -> None:
        """Remove the connection ``src -> dst`` from a merge layer that keeps another input."""
        spec = self._spec  # read here; the edit makes the new spec
        self._require_edge(spec, src, dst)
        inputs = _explicit_inputs(spec)
        if len(inputs[dst]) < 2:
            raise DocumentError(
                f'Cannot disconnect "{src}" from "{dst}": it is its only input. '
                "Expected a merge layer with several inputs; delete the layer instead."
            )
        remaining = list(inputs[dst])
        remaining.remove(src)
        self._edit({"op": "set_inputs", "layer": dst, "inputs": remaining}, f"Disconnect {src} from {dst}")

    def set_input_shape(self, shape) -> None:
        shape = tuple(shape)
        def positive(v):
            return isinstance(v, int) and not isinstance(v, bool) and v >= 1

        if len(shape) not in (2, 3) or not positive(shape[-1]) or not all(v is None or positive(v) for v in shape[:-1]):
            raise DocumentError(
                "Invalid input shape. Expected (height, width, channels) or (length, channels) "
                f"of positive integers; height, width or length may be None (any size). Received: shape={shape!r}"
            )
        if shape != tuple(self._spec.input_shape):
            self._edit({"op": "set_input_shape", "shape": shape}, "Change input shape")

    def apply_fix(self, fix) -> None:
        """Apply one of the analysis' suggested fixes, undoably, like any other edit."""
        self._edit(fix, getattr(fix, "label", "Apply fix"))

    def _edit(self, edit, label: str) -> None:
        """Apply one edit of the edit algebra and record it on the undo stack under ``label``."""
        try:
            spec = edits.apply_edit(self._spec, edit)
        except edits.FixError as exc:
            raise DocumentError(str(exc)) from None
        self._commit(spec, label)
        if self._selected not in (INPUT, *self._names()):
            self.select(None)

    def replace_spec(self, spec: NetworkSpec, label: str = "Replace network") -> None:
        """Swap in a whole network (a preset), undoably."""
        self._commit(spec.copy(), label)
        if self._selected not in (INPUT, *self._names()):
            self.select(None)

    # -- files and history -----------------------------------------------------------------

    @property
    def project(self) -> Project:
        """The whole project (network, training settings, runs) as it would be saved now. Its network
        is the current spec itself, like :attr:`current` (edits replace it, never change it): read it only."""
        return Project(network=self._spec, training=copy.deepcopy(self._project.training),
                       runs=copy.deepcopy(self._project.runs),
                       path=Path(self._path) if self._path else None)

    def set_training(self, training: dict) -> None:
        """Replace the project's training settings (not an undoable network edit)."""
        was_dirty = self.dirty
        self._project.training = copy.deepcopy(training)
        self._training_dirty = True
        if self.dirty != was_dirty:
            self.events.dirty.emit(self.dirty)

    def add_run(self, run: dict) -> None:
        """Append a recorded run (``RunRecord.to_dict()``) to the project, saved with it."""
        was_dirty = self.dirty
        self._project.runs.append(copy.deepcopy(run))
        self._training_dirty = True
        if self.dirty != was_dirty:
            self.events.dirty.emit(self.dirty)

    def open(self, path: str | os.PathLike, loaded: Project | None = None) -> None:
        """Load a project file; a broken file raises ProjectError and leaves the document as it was.
        ``loaded``: the file as the caller just read it (a 100,000-layer project takes seconds to read)."""
        stamp = disk_stamp(path)
        loaded = loaded if loaded is not None else load_project(path)
        self.reset(loaded.network, path=os.fspath(path), project=loaded)
        self._disk = (stamp, loaded.network.to_dict())

    def save(self, path: str | os.PathLike | None = None, overwrite: bool = False) -> None:
        """Write the project atomically to ``path`` (or its own file) and mark it saved.

        When the file changed on disk since it was opened or saved here (``cnnstudio train``
        recorded a run, another window saved), its runs are merged in, never wiped; if its
        network changed too, ChangedOnDisk is raised unless ``overwrite``.
        """
        target = path if path is not None else self._path
        if target is None:
            raise DocumentError("The network has no file yet. Expected a path to save it to (use Save As).")
        with project_lock(target):
            stamp, network_read = self._disk if self._path is not None else (None, None)
            same_file = self._path is not None and os.path.abspath(target) == os.path.abspath(self._path)
            now = disk_stamp(target)
            if same_file and now is not None and now != stamp:
                try:
                    on_disk = load_project(target)
                except ProjectError:
                    on_disk = None  # a broken file is no one's work to keep: ours replaces it
                if on_disk is not None:
                    if not overwrite and network_read is not None and on_disk.network.to_dict() != network_read:
                        raise ChangedOnDisk(f"{Path(target).name} was changed on disk since it was opened here "
                                            "(its network was edited elsewhere). Expected to be the only one "
                                            "editing it: save again to overwrite, or reopen the file to see "
                                            "the other version.")
                    self._project.runs = merge_runs(on_disk.runs, self._project.runs)
            save_project(self.project, target)
            self._disk = (disk_stamp(target), self._spec.to_dict())
        self.mark_saved(target)

    def reset(self, spec: NetworkSpec, path: str | None = None, project: Project | None = None) -> None:
        """Start over on ``spec`` (New, Open): clears the history and marks it saved."""
        self._summary = None
        self._spec = spec.copy()
        self._undo.clear()
        self._redo.clear()
        self._project = project or Project(network=self._spec.copy())
        self._disk = (disk_stamp(path), None)
        self._training_dirty = False
        self._clean = self._spec.to_dict()
        self._dirty_of = (None, False)
        self._set_path(path)
        self._selected = None
        self.events.selected.emit(None)
        self.events.changed.emit("Open")
        self.events.dirty.emit(False)

    def mark_saved(self, path: str) -> None:
        self._clean = self._spec.to_dict()
        self._dirty_of = (None, False)
        self._training_dirty = False
        self._set_path(os.fspath(path))
        self.events.dirty.emit(False)

    def undo(self) -> None:
        if not self._undo:
            return
        snap = self._undo.pop()
        self._redo.append(_Snapshot(snap.label, self._spec))
        self._restore(snap.spec, f"Undo {snap.label}")

    def redo(self) -> None:
        if not self._redo:
            return
        snap = self._redo.pop()
        self._undo.append(_Snapshot(snap.label, self._spec))
        self._restore(snap.spec, f"Redo {snap.label}")

    # -- internals -------------------------------------------------------------------------

    def _names(self) -> list[str]:
        return [layer.name for layer in self._spec.layers]

    def _restore(self, spec: NetworkSpec, label: str) -> None:
        was_dirty = self.dirty
        self._summary = None
        self._spec = spec
        if self._selected not in (INPUT, *self._names()):
            self._selected = None
            self.events.selected.emit(None)
        self.events.changed.emit(label)
        if self.dirty != was_dirty:
            self.events.dirty.emit(self.dirty)

    def _commit(self, spec: NetworkSpec, label: str) -> None:
        was_dirty = self.dirty
        self._undo.append(_Snapshot(label, self._spec))
        del self._undo[:-UNDO_LIMIT]
        self._redo.clear()
        self._summary = None
        self._spec = spec
        self.events.changed.emit(label)
        if self.dirty != was_dirty:
            self.events.dirty.emit(self.dirty)

    def _set_path(self, path: str | None) -> None:
        if path != self._path:
            self._path = path
            self.events.path.emit(path)

    def _new_layer(self, spec: NetworkSpec, type_name: str, params: dict | None) -> LayerSpec:
        if type_name not in catalog.CATALOG:
            raise DocumentError(
                f"Unknown layer type.{suggest(type_name, catalog.CATALOG)} Expected one of the palette's types. "
                f"Received: type_name={type_name!r}"
            )
        try:
            checked = catalog.get(type_name).check_params(params or {})
        except catalog.ParamError as exc:
            raise DocumentError(f"Invalid {exc.param} for a new {type_name}: {exc.reason}") from None
        return LayerSpec(name=spec.unique_name(type_name), type=type_name, params=checked)

    def _require_layer(self, spec: NetworkSpec, name: str) -> LayerSpec:
        try:
            return spec.layer(name)
        except KeyError:
            raise DocumentError(
                f"No layer named {name!r}. Expected one of {[la.name for la in spec.layers]}."
            ) from None

    def _require_edge(self, spec: NetworkSpec, src: str, dst: str) -> None:
        self._require_layer(spec, dst)
        if src not in spec.inputs_of(spec.index(dst)):
            raise DocumentError(f'There is no connection "{src}" -> "{dst}". Expected an existing connection.')


def _explicit_inputs(spec: NetworkSpec) -> dict[str, list[str]]:
    """Every layer's inputs with the implicit chain spelt out."""
    return {layer.name: spec.inputs_of(i) for i, layer in enumerate(spec.layers)}
