"""Installs the looking-inside views and File > Export… / Import .keras… in the main window.

``install_inspection(window)`` adds the Filters, Activations and Results tabs, all reading
``window.workspace``, and the two file actions. Nothing here imports TensorFlow: the views
import the engine's inspection code only once a model exists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from ui.export.dialog import QtExportDialog
from ui.inspection.activations_view import QtActivationsView
from ui.inspection.filters_view import QtFiltersView
from ui.inspection.restore import install_restore
from ui.inspection.results_view import QtResultsView
from ui.tasks import Task
from ui.tensorflow_loader import after_tensorflow

KERAS_FILTER = "Keras models (*.keras);;All files (*)"


@dataclass
class InspectionViews:
    """What ``install_inspection`` added to the window."""

    filters: QtFiltersView
    activations: QtActivationsView
    results: QtResultsView
    action_export: QAction
    action_import: QAction


def install_inspection(window: QMainWindow) -> InspectionViews:
    """Add the inspection tabs and the export/import actions to ``window`` (a ``QtMainWindow``)."""
    workspace = window.workspace
    filters = QtFiltersView(workspace)
    activations = QtActivationsView(workspace)
    results = QtResultsView(workspace)
    window.add_view("Filters", filters)
    window.add_view("Activations", activations)
    window.add_view("Results", results)

    action_import = QAction("&Import .keras…", window)
    action_import.setStatusTip("Open a .keras model as a new network, with its trained weights")
    action_import.triggered.connect(lambda: import_dialog(window))
    action_export = QAction("&Export…", window)
    action_export.setShortcut("Ctrl+E")
    action_export.setStatusTip("Export the network as a SavedModel, a .keras archive or a Python script")
    action_export.triggered.connect(lambda: open_export_dialog(window))
    before = getattr(window, "action_quit", None)
    window.menu_file.insertAction(before, action_import)
    window.menu_file.insertAction(before, action_export)
    window.menu_file.insertSeparator(before)
    install_restore(window)
    results.sig_open_example.connect(lambda index: (activations.show_validation_example(index),
                                                    window.tabs.setCurrentWidget(activations)))
    views = InspectionViews(filters, activations, results, action_export, action_import)
    window.inspection = views
    return views


def open_export_dialog(window: QMainWindow) -> QtExportDialog:
    """Show the export dialog for the window's network (modeless; it closes itself)."""
    last_dir = str(window.settings.value("last_dir", os.path.expanduser("~")))
    dialog = QtExportDialog(window.workspace, window, start_dir=last_dir)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog


def import_dialog(window: QMainWindow) -> Task | None:
    if not window.confirm_discard():
        return None
    last_dir = str(window.settings.value("last_dir", os.path.expanduser("~")))
    path, _ = QFileDialog.getOpenFileName(window, "Import a Keras model", last_dir, KERAS_FILTER)
    return import_keras_file(window, path, confirm=False) if path else None


def open_keras_network(state, path) -> tuple:
    """(spec, model of our layers with the file's weights) of a ``.keras`` file, on a task's thread."""
    from cnnstudio.models.importer import import_keras, rebuild

    spec, weights = import_keras(path)
    state.check()
    return spec, rebuild(spec, weights)


def import_keras_file(window: QMainWindow, path: str | os.PathLike, confirm: bool = True) -> Task | None:
    """Open a ``.keras`` model as the window's network, with its weights as the trained model.

    Reading the file and rebuilding the model run as a task; the returned :class:`Task` says
    when it is done (None if the user kept the current network). A model the catalog cannot
    express is refused with a message naming the layer; the document and workspace are left
    as they were.
    """
    if confirm and not window.confirm_discard():
        return None
    before = window.document.spec.to_dict()
    task = Task(open_keras_network, path)
    QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    task.sig_finished.connect(QGuiApplication.restoreOverrideCursor)
    task.sig_done.connect(lambda opened: _adopt_import(window, path, before, *opened))
    task.sig_error.connect(lambda exc: _refuse_import(window, path, exc))
    window.show_message(f"Importing {path}…")
    after_tensorflow(window.tensorflow_loader, task.start, lambda error: (task.cancel(), window.show_message(error)))
    return task


def _adopt_import(window: QMainWindow, path, before: dict, spec, model) -> None:
    if window.document.spec.to_dict() != before and not window.confirm_discard():
        window.show_message(f"Kept the network edited while {Path(path).name} was read; nothing was imported.")
        return
    window.document.reset(spec)
    window.workspace.set_model(model)
    window.autosaver.discard()
    window.show_message(f"Imported {path}: {len(spec.layers)} layers with their trained weights")


def _refuse_import(window: QMainWindow, path, exc: BaseException) -> None:
    from cnnstudio.models.importer import ImportRefused

    reason = str(exc) if isinstance(exc, ImportRefused) else f"{type(exc).__name__}: {exc}"
    QMessageBox.warning(window, "Cannot import model",
                        f"{Path(path).name} cannot be opened as a CNN Studio network.\n\n{reason}")
