"""The studio window: palette, canvas, summary table and property panel around one document.

Other views join with :meth:`QtMainWindow.add_view` (a tab beside "Network") or
:meth:`QtMainWindow.add_dock`; menu actions go into ``menu_file``, ``menu_edit``,
``menu_presets``, ``menu_view`` and ``menu_help``.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QWidget,
)

from cnnstudio import __version__
from cnnstudio.analysis.triage import root_errors, waiting_on
from cnnstudio.network import presets
from cnnstudio.network.spec import NetworkSpec
from cnnstudio.workspace.document import ChangedOnDisk, DocumentError, NetworkDocument
from cnnstudio.workspace.project import Project, ProjectError, load_project
from cnnstudio.workspace.session import Workspace
from ui import recovery, tasks
from ui.editor.canvas import QtCanvas
from ui.editor.palette import QtPalette
from ui.editor.property_panel import QtPropertyPanel
from ui.editor.summary_table import QtSummaryTable
from ui.recovery import Autosaver
from ui.tensorflow_loader import TensorFlowLoader

DEFAULT_PRESET = "lenet5"
FILE_FILTER = "CNN Studio projects (*.cnnproj.json *.json);;All files (*)"
MAX_RECENT = 8


class QtMainWindow(QMainWindow):
    """The main window. ``settings`` and ``recovery_dir`` default to the user's; tests pass their own."""

    sig_shown = Signal()
    """Emitted once, just after the window is first shown."""
    sig_closing = Signal()
    """Emitted when a close is confirmed, before the window goes: views stop their work."""

    def __init__(self, document: NetworkDocument | None = None, settings: QSettings | None = None,
                 recovery_dir: str | os.PathLike | None = None):
        super().__init__()
        self.document = document or NetworkDocument(presets.get(DEFAULT_PRESET))
        self.workspace = Workspace(self.document)
        """The trained model, data set and timeline: written by training, read by the views."""
        self.settings = settings or QSettings("CNN Studio", "cnnstudio")
        if recovery_dir is None:
            recovery_dir = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        self.tensorflow_loader = TensorFlowLoader(self)
        self.autosaver = Autosaver(self.document, recovery_dir, self)
        self._shown = False

        self.palette_view = QtPalette()
        self.canvas = QtCanvas(self.document)
        self.summary_table = QtSummaryTable(self.document)
        self.property_panel = QtPropertyPanel(self.document)
        self.palette_view.sig_activated.connect(self._append_from_palette)
        self.canvas.sig_message.connect(self.show_message)
        self.property_panel.sig_message.connect(self.show_message)
        self.autosaver.sig_failed.connect(self.show_message)

        self.center_split = QSplitter(Qt.Orientation.Vertical)
        self.center_split.addWidget(self.canvas)
        self.center_split.addWidget(self.summary_table)
        self.center_split.setStretchFactor(0, 3)
        self.center_split.setStretchFactor(1, 1)
        self.network_split = QSplitter(Qt.Orientation.Horizontal)
        for w in (self.palette_view, self.center_split, self.property_panel):
            self.network_split.addWidget(w)
        self.network_split.setStretchFactor(1, 1)
        self.network_split.setSizes([190, 860, 350])
        self.center_split.setSizes([560, 240])
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.network_split, "Network")
        self.setCentralWidget(self.tabs)

        self._build_menus()
        self.document.events.changed.connect(self._on_changed)
        self.document.events.dirty.connect(lambda _dirty: self._update_title())
        self.document.events.path.connect(lambda _path: self._update_title())
        self._on_changed("")
        self.resize(1400, 900)

    # -- extension points for other views -------------------------------------------------

    def add_view(self, name: str, widget: QWidget) -> int:
        """Add ``widget`` as a tab of the central area; returns its index."""
        index = self.tabs.addTab(widget, name)
        self.menu_view.addAction(self._show_tab_action(name, widget, index))
        return index

    def _show_tab_action(self, name: str, widget: QWidget, index: int) -> QAction:
        """View > Show NAME, on Alt+1 for the first tab, Alt+2 for the second and so on."""
        action = QAction(f"Show {name}", self)
        if index < 9:
            action.setShortcut(QKeySequence(f"Alt+{index + 1}"))
        action.triggered.connect(lambda: self.tabs.setCurrentWidget(widget))
        return action

    def add_dock(self, name: str, widget: QWidget,
                 area: Qt.DockWidgetArea = Qt.DockWidgetArea.BottomDockWidgetArea) -> QDockWidget:
        """Add ``widget`` as a dock; its show/hide toggle goes into the View menu."""
        dock = QDockWidget(name, self)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.menu_view.addAction(dock.toggleViewAction())
        return dock

    # -- menus -------------------------------------------------------------------------------

    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.menu_file = bar.addMenu("&File")
        self.menu_edit = bar.addMenu("&Edit")
        self.menu_presets = bar.addMenu("&Presets")
        self.menu_view = bar.addMenu("&View")
        self.menu_help = bar.addMenu("&Help")

        f = self.menu_file
        self.action_new = self._action(f, "&New", self.new_document, QKeySequence.StandardKey.New)
        self.action_open = self._action(f, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.menu_recent = f.addMenu("Open &Recent")
        self.action_save = self._action(f, "&Save", self.save, QKeySequence.StandardKey.Save)
        self.action_save_as = self._action(f, "Save &As…", self.save_as, QKeySequence.StandardKey.SaveAs)
        f.addSeparator()
        self.action_quit = self._action(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        e = self.menu_edit
        self.action_undo = self._action(e, "&Undo", self.document.undo, QKeySequence.StandardKey.Undo)
        self.action_redo = self._action(e, "&Redo", self.document.redo)
        self.action_redo.setShortcuts(unique_key_sequences(QKeySequence.StandardKey.Redo, "Ctrl+Shift+Z", "Ctrl+Y"))
        e.addSeparator()
        self.action_delete = self._action(e, "&Delete Layer", self.canvas.delete_selected, None,
                                          "Remove the selected layer and reconnect its neighbours")
        self.action_find_layer = self._action(e, "&Find Layer Type…", self._find_layer_type,
                                              QKeySequence.StandardKey.Find, "Search the palette's layer types")

        for name in presets.names():
            description = presets.PRESETS[name][0]
            action = self._action(self.menu_presets, name, lambda _=False, n=name: self.open_preset(n),
                                  tip=description)
            action.setToolTip(description)
        self.menu_presets.setToolTipsVisible(True)

        v = self.menu_view
        self.action_zoom_in = self._action(v, "Zoom &In", self.canvas.zoom_in, None, "Enlarge the network (Ctrl+wheel)")
        self.action_zoom_in.setShortcuts(unique_key_sequences(QKeySequence.StandardKey.ZoomIn, "Ctrl+="))
        self.action_zoom_out = self._action(v, "Zoom &Out", self.canvas.zoom_out, None, "Shrink the network (Ctrl+wheel)")
        self.action_zoom_out.setShortcuts(unique_key_sequences(QKeySequence.StandardKey.ZoomOut))
        self.action_actual_size = self._action(v, "&Actual Size (100%)", self.canvas.actual_size, "Ctrl+1")
        self.action_fit = self._action(v, "&Fit Network", self.canvas.fit_network, "Ctrl+0",
                                       "Show the whole network, at most at 100%")
        self.menu_view.addSeparator()
        self.menu_view.addAction(self._show_tab_action("Network", self.network_split, 0))

        self._action(self.menu_help, "&About CNN Studio", self._about)
        self._update_recent_menu()

    # -- file operations -------------------------------------------------------------------

    def new_document(self) -> None:
        if self.confirm_discard():
            self.document.reset(NetworkSpec(input_shape=(28, 28, 1), name="untitled"))
            self.autosaver.discard()

    def open_dialog(self) -> None:
        if not self.confirm_discard():
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open project", self._last_dir(), FILE_FILTER)
        if path:
            self.open_file(path, confirm=False)

    def open_file(self, path: str | os.PathLike, confirm: bool = True, loaded: Project | None = None) -> bool:
        """Open a project file; a broken one is refused with a message and nothing changes.
        ``loaded``: the file as just read from ``path``, not to read it twice."""
        if confirm and not self.confirm_discard():
            return False
        try:
            self.document.open(path, loaded)
        except (ProjectError, OSError) as exc:
            QMessageBox.warning(self, "Cannot open project", f"{Path(path).name} cannot be opened.\n\n{exc}")
            self._forget_recent(os.fspath(path))
            return False
        return self._matches_file(path, "Opened")

    def open_default_project(self) -> None:
        """Start an untitled document on resources/default.cnnproj.json (LeNet-5 on mnist-5k, with
        its training settings), or on the default preset where that file is missing."""
        from cnnstudio.workspace.project import load_project
        from ui.resource_files import DEFAULT_PROJECT

        try:
            project = load_project(DEFAULT_PROJECT)
        except (ProjectError, OSError):
            self.open_preset(DEFAULT_PRESET, confirm=False)
            return
        project.path = None
        self.document.reset(project.network, project=project)
        self.autosaver.discard()
        self.show_message("LeNet-5 on mnist-5k: press Train (about 15 s to 95% validation accuracy)")

    def open_preset(self, name: str, confirm: bool = True) -> bool:
        """Start a new, unsaved document on a preset."""
        if confirm and not self.confirm_discard():
            return False
        self.document.reset(presets.get(name))
        self.autosaver.discard()
        self.show_message(f"Opened preset {name}: {presets.PRESETS[name][0]}")
        return True

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        suggested = os.path.join(self._last_dir(), f"{self.document.spec.name}.cnnproj.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save project", suggested, FILE_FILTER)
        return self._save_to(path) if path else False

    def _save_to(self, path: str) -> bool:
        try:
            try:
                self.document.save(path)
            except ChangedOnDisk as exc:
                answer = QMessageBox.question(
                    self, "Project changed on disk",
                    f"{exc}\n\nReplace the file with this window's version? The runs recorded in it are kept "
                    "either way.",
                    QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel,
                    QMessageBox.StandardButton.Cancel,
                )
                if answer != QMessageBox.StandardButton.Save:
                    self.show_message(f"Not saved: {Path(path).name} changed on disk")
                    return False
                self.document.save(path, overwrite=True)
        except (DocumentError, ProjectError, OSError) as exc:
            QMessageBox.warning(self, "Cannot save project", f"Saving to {path} failed.\n\n{exc}")
            return False
        return self._matches_file(path, "Saved")

    def _matches_file(self, path, done: str) -> bool:
        """The document now is the file at ``path``: no recovery file is needed and the path is recent."""
        self.autosaver.discard()
        self._remember_recent(os.fspath(path))
        self.show_message(f"{done} {path}")
        return True

    def confirm_discard(self) -> bool:
        """True when there is nothing unsaved or the user chose to save or discard it."""
        if not self.document.dirty:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", "The network has unsaved changes. Save them first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def offer_recovery(self, pending: recovery.Recovered | None = None) -> bool:
        """If a previous session left unsaved work (``pending``, or the newest recovery file),
        offer to restore it; True if restored."""
        pending = pending or self.autosaver.pending()
        if pending is None:
            return False
        where = pending.original_path or "an unsaved network"
        answer = QMessageBox.question(
            self, "Recover unsaved work",
            f"CNN Studio closed without saving changes to {where}. Recover them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes,
        )
        if answer != QMessageBox.StandardButton.Yes:
            recovery.remove(pending.path)
            return False
        original = pending.original_path
        project = None
        if original and os.path.exists(original):
            try:
                project = load_project(original)
            except ProjectError:
                project = None
        base = project or Project(network=_empty_like(pending.spec))
        base.training = pending.training or base.training
        known = {run.get("id") for run in base.runs if isinstance(run, dict)}
        base.runs.extend(run for run in pending.runs if run["id"] not in known)
        # the Train tab reads the recovered settings and runs from the project the document opens on
        self.document.reset(base.network, path=original if project else None, project=base)
        self.document.replace_spec(pending.spec, "Recover unsaved work")
        self.document.set_training(base.training)  # recovered work stays unsaved until saved
        self.autosaver.save_now()  # this window's own recovery file holds it before the old one goes
        recovery.remove(pending.path)
        self.show_message(f"Recovered unsaved work on {where}")
        return True

    # -- recent files ---------------------------------------------------------------------

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember_recent(self, path: str) -> None:
        path = os.path.abspath(path)
        files = [path, *(p for p in self.recent_files() if p != path)][:MAX_RECENT]
        self.settings.setValue("recent_files", files)
        self.settings.setValue("last_dir", os.path.dirname(path))
        self._update_recent_menu()

    def _forget_recent(self, path: str) -> None:
        path = os.path.abspath(path)
        self.settings.setValue("recent_files", [p for p in self.recent_files() if p != path])
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.menu_recent.clear()
        for path in self.recent_files():
            self._action(self.menu_recent, path, lambda _=False, p=path: self.open_file(p))
        self.menu_recent.setEnabled(bool(self.recent_files()))

    def _last_dir(self) -> str:
        return str(self.settings.value("last_dir", os.path.expanduser("~")))

    # -- reactions ---------------------------------------------------------------------------

    def _on_changed(self, label: str) -> None:
        doc = self.document
        self.action_undo.setEnabled(doc.can_undo)
        self.action_undo.setText(f"&Undo {doc.undo_label}" if doc.can_undo else "&Undo")
        self.action_redo.setEnabled(doc.can_redo)
        self.action_redo.setText(f"&Redo {doc.redo_label}" if doc.can_redo else "&Redo")
        summary = doc.summary
        state = network_state(summary)
        self.statusBar().showMessage(
            f"{label + ' — ' if label else ''}{len(doc.current.layers)} layers, "
            f"{summary.total_params:,} parameters, {state}"
        )
        self._update_title()

    def _update_title(self) -> None:
        name = Path(self.document.path).name if self.document.path else f"{self.document.current.name} (unsaved)"
        self.setWindowTitle(f"{name}{' *' if self.document.dirty else ''} — CNN Studio")

    def _find_layer_type(self) -> None:
        self.tabs.setCurrentWidget(self.network_split)
        self.palette_view.search.setFocus()
        self.palette_view.search.selectAll()

    def _append_from_palette(self, type_name: str) -> None:
        try:
            self.document.append_layer(type_name)
        except DocumentError as exc:
            self.show_message(str(exc))

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 10_000)

    def _about(self) -> None:
        QMessageBox.about(self, "About CNN Studio",
                          f"CNN Studio {__version__}\nBuild, train and look inside convolutional networks.")

    # -- Qt events ------------------------------------------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown:
            self._shown = True
            QTimer.singleShot(0, self.sig_shown.emit)

    def closeEvent(self, event) -> None:
        if not self.confirm_discard():
            event.ignore()
            return
        self.sig_closing.emit()
        self.autosaver.discard()
        tasks.shutdown()
        event.accept()


def network_state(summary) -> str:
    """"ready to build", or the root errors (one bad layer is one error) and what waits on them."""
    errors, warnings = len(root_errors(summary)), len(summary.warnings())
    if summary.ok:
        state = "ready to build"
    else:
        state = f"{errors} error{'s' * (errors != 1)}"
        waiting = [info.name for info in summary.layers if waiting_on(summary, info.name)]
        if waiting:
            causes = sorted({waiting_on(summary, name) for name in waiting})
            state += (f" ({len(waiting)} layer{'s' * (len(waiting) != 1)} below waiting on "
                      f"{', '.join(causes)})")
    if warnings:
        state += f", {warnings} warning{'s' * (warnings != 1)}"
    return state


def unique_key_sequences(*keys) -> list[QKeySequence]:
    """The platform's bindings of each key (a StandardKey or text), each sequence once.

    An action given the same sequence twice makes Qt report an "ambiguous shortcut overload"
    and trigger nothing, so Ctrl+Shift+Z is added only where the platform's Redo lacks it.
    """
    out: list[QKeySequence] = []
    for key in keys:
        sequences = QKeySequence.keyBindings(key) if isinstance(key, QKeySequence.StandardKey) else [QKeySequence(key)]
        out.extend(s for s in sequences if not s.isEmpty() and s not in out)
    return out


def _empty_like(spec: NetworkSpec) -> NetworkSpec:
    return NetworkSpec(input_shape=spec.input_shape, name=spec.name)
