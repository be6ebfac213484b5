"""File > Export…: the network as a SavedModel, a .keras archive, a Python script, LiteRT or ONNX.

LiteRT and ONNX exports are verified by the engine in their own runtimes before they are
written; the dialog shows the figures (or why the verification failed).

The export itself runs as a :class:`ui.tasks.Task`, so writing a large model never freezes
the window; ``sig_finished`` reports the result. The engine writes atomically,
so a failed export leaves nothing half-written; the dialog shows why it failed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.workspace.session import Workspace
from ui.tasks import SHUTDOWN_TIMEOUT_S, Task

FORMATS = {
    "savedmodel": ("TensorFlow SavedModel (folder)", "", "Runs with TensorFlow alone, e.g. TF Serving."),
    "keras": ("Keras archive (.keras)", ".keras", "Reloads in Keras with CNN Studio's layers installed."),
    "python": ("Python script (.py)", ".py", "A readable script that rebuilds the network; its weights "
               "are saved beside it as NAME.weights.h5."),
    "tflite": ("LiteRT model (.tflite)", ".tflite", "For phones and boards (the LiteRT interpreter), builtin ops "
               "only. Verified in LiteRT on validation data before it is written."),
    "onnx": ("ONNX model (.onnx)", ".onnx", "For ONNX Runtime and the tools that read ONNX. Verified in "
             "ONNX Runtime on validation data before it is written."),
}
NEEDS_MODEL = ("Train the network first (Train tab): a SavedModel, a .keras archive, a LiteRT or an ONNX "
               "model holds trained weights. A Python script can still be exported; it builds the untrained "
               "network.")
QUANTIZATIONS = {
    None: "float32 (exact: within 1e-5 of the model)",
    "dynamic": "dynamic: int8 weights (within 1 point of accuracy)",
    "int8": "int8 weights and activations, calibrated on the training data (within 1 point)",
}


def export_model(state, fmt: str, model, spec, out: Path, force: bool, quantize=None, data=None):
    """Write the export (on the task's thread): ``fmt`` is a key of FORMATS.

    ``data`` (the workspace's data set, or None) verifies LiteRT and ONNX exports and
    calibrates int8.
    """
    from cnnstudio.inspection.probes import MODEL_LOCK

    with MODEL_LOCK:  # saving reads the model's variables, which another view's task may be running
        return _export(fmt, model, spec, out, force, quantize, data)


def _export(fmt: str, model, spec, out: Path, force: bool, quantize, data):
    from cnnstudio.models import deploy, export

    if fmt == "tflite":
        return deploy.export_tflite(model, out, force=force, quantize=quantize, data=data)
    if fmt == "onnx":
        return deploy.export_onnx(model, out, force=force, data=data)
    if fmt == "savedmodel":
        return export.export_savedmodel(model, out, force=force)
    if fmt == "keras":
        return export.export_keras(model, out, force=force)
    return export.export_python(spec, out, force=force, model=model)


def for_people(message: str) -> str:
    """An engine message as the dialog shows it: without the command line's advice and the
    "Received: out='…'" tail (the path is in the field above it)."""
    message = re.sub(r"\s*Received: out=.*$", "", message, flags=re.DOTALL)
    return message.replace(" (--force on the command line)", "").strip()


class QtExportDialog(QDialog):
    """Choose a format and a path, then export the workspace's model (or the document's spec)."""

    sig_finished = Signal(object, object)
    """(ExportResult, None) after a successful export, (None, message) after a failed one."""

    def __init__(self, workspace: Workspace, parent: QWidget | None = None, start_dir: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export network")
        self.workspace = workspace
        self._task: Task | None = None
        self.start_dir = start_dir or os.path.expanduser("~")

        self.format_combo = QComboBox()
        for key, (label, _suffix, tip) in FORMATS.items():
            self.format_combo.addItem(label, key)
            self.format_combo.setItemData(self.format_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.format_help = QLabel()
        self.format_help.setWordWrap(True)
        self.quantize_combo = QComboBox()
        for key, label in QUANTIZATIONS.items():
            self.quantize_combo.addItem(label, key)
        self.quantize_label = QLabel("Numbers:")
        self.path_edit = QLineEdit()
        self.path_edit.setMinimumWidth(420)
        self.browse_button = QPushButton("Browse…")
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #9a6700;")
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b00020;")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)

        form = QFormLayout()
        form.addRow("Format:", self.format_combo)
        form.addRow("", self.format_help)
        form.addRow(self.quantize_label, self.quantize_combo)
        form.addRow("Save to:", path_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for w in (self.warning_label, self.error_label, self.status_label):
            layout.addWidget(w)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

        self.format_combo.currentIndexChanged.connect(lambda _i: self._on_format())
        self.browse_button.clicked.connect(self.browse)
        self.export_button.clicked.connect(self.export)
        self.buttons.rejected.connect(self.reject)
        self._on_format()

    @property
    def format(self) -> str:
        return self.format_combo.currentData()

    def set_format(self, key: str) -> None:
        self.format_combo.setCurrentIndex(self.format_combo.findData(key))

    @property
    def quantize(self) -> str | None:
        """None (float32), "dynamic" or "int8"; LiteRT only."""
        return self.quantize_combo.currentData() if self.format == "tflite" else None

    def set_quantize(self, key: str | None) -> None:
        self.quantize_combo.setCurrentIndex(self.quantize_combo.findData(key))

    def _default_path(self) -> str:
        name = self.workspace.document.spec.name or "network"
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        return os.path.join(self.start_dir, stem + FORMATS[self.format][1])

    def _on_format(self) -> None:
        self.status_label.setText("")  # "Exported to …" was about the other format
        self.error_label.setText("")
        self.format_help.setText(FORMATS[self.format][2])
        self.quantize_label.setVisible(self.format == "tflite")
        self.quantize_combo.setVisible(self.format == "tflite")
        current = self.path_edit.text().strip()
        if not current:
            self.path_edit.setText(self._default_path())
        else:
            path = Path(current)
            stem = path.name
            for suffix in (s for _label, s, _tip in FORMATS.values() if s):
                stem = stem.removesuffix(suffix)
            self.path_edit.setText(str(path.with_name(stem + FORMATS[self.format][1])))
        self._update_warning()
        self._fit_text()

    def _update_warning(self) -> None:
        model = self.workspace.model
        needs_model = self.format != "python"
        self.export_button.setEnabled(not (needs_model and model is None) and self._task is None)
        if model is None:
            self.warning_label.setText(NEEDS_MODEL)
            return
        from cnnstudio.models.export import untrained_warning

        self.warning_label.setText(untrained_warning(model) or "")

    def browse(self) -> None:
        if self.format == "savedmodel":
            path, _ = QFileDialog.getSaveFileName(self, "Export as SavedModel folder", self.path_edit.text())
        else:
            suffix = FORMATS[self.format][1]
            path, _ = QFileDialog.getSaveFileName(self, "Export", self.path_edit.text(), f"*{suffix}")
        if path:
            self.path_edit.setText(path)

    # -- exporting -----------------------------------------------------------------------------

    def export(self) -> bool:
        """Start the export on the worker thread; False if it did not start (nothing chosen, refused)."""
        self.error_label.setText("")
        self.status_label.setText("")
        text = self.path_edit.text().strip()
        if not text:
            self.error_label.setText("Choose where to save the export. Expected a path. Received: an empty path.")
            return False
        out = Path(text).expanduser()
        force = False
        if out.exists():
            answer = QMessageBox.question(
                self, "Replace existing export?", f"{out} already exists. Replace it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                self.status_label.setText("Nothing was exported: the existing file was kept.")
                return False
            force = True
        model, spec = self.workspace.model, self.workspace.document.spec
        if self.format != "python" and model is None:
            self.error_label.setText(NEEDS_MODEL)
            return False
        self._task = Task(export_model, self.format, model, spec, out, force, self.quantize,
                          self.workspace.dataset)
        self._task.sig_done.connect(self._on_exported)
        self._task.sig_error.connect(self._on_failed)
        self.export_button.setEnabled(False)
        self.status_label.setText(f"Exporting to {out}…")
        self._task.start()
        return True

    def _on_exported(self, result) -> None:
        self._task = None
        self._update_warning()
        if result.verification:
            size = result.path.stat().st_size
            self.status_label.setText(f"Exported to {result.path} ({size:,} bytes), {result.verification}.")
        else:
            self.status_label.setText(f"Exported to {result.path}.")
        self.warning_label.setText("\n".join(result.warnings))
        self._fit_text()
        self.sig_finished.emit(result, None)

    def _on_failed(self, exc: BaseException) -> None:
        from cnnstudio.models.export import ExportError

        self._task = None
        self._update_warning()
        error = str(exc) if isinstance(exc, ExportError) else f"The export failed: {type(exc).__name__}: {exc}"
        error = for_people(error)
        self.error_label.setText(error)
        self.status_label.setText("")
        self._fit_text()
        self.sig_finished.emit(None, error)

    def _fit_text(self) -> None:
        """Grow the dialog to show the whole of a long message (verification figures, errors)."""
        layout = self.layout()
        needed = (layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth()
                  else self.sizeHint().height())
        self.resize(self.width(), max(self.height(), needed))

    @property
    def is_exporting(self) -> bool:
        return self._task is not None

    def wait(self) -> bool:
        """Wait (a bounded time) for a running export to end, so no worker outlives the dialog."""
        return self._task is None or self._task.wait(SHUTDOWN_TIMEOUT_S)

    def done(self, code: int) -> None:
        self.wait()
        super().done(code)
