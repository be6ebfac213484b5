"""Help > Environment…: the same report as ``cnnstudio doctor``, computed off the GUI thread.

Collecting it imports TensorFlow (seconds the first time), so a QThread does it and the
dialog shows "Checking…" meanwhile; the text is selectable to paste into a bug report.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout

from ui.training.worker import after_tensorflow, start_in_thread


class _ReportWorker(QObject):
    sig_finished = Signal(str)

    def run(self) -> None:
        try:
            from cnnstudio.training.environment import environment_report

            text = environment_report().format()
        except Exception as exc:  # the dialog shows what went wrong instead of the report
            text = f"The environment report failed: {type(exc).__name__}: {exc}"
        finally:
            self.sig_finished.emit(text)


class QtEnvironmentDialog(QDialog):
    """Python, TensorFlow, Keras, devices, CUDA libraries and why a GPU is or is not used."""

    sig_ready = Signal(str)
    """The report is shown: its text."""

    def __init__(self, parent=None, tensorflow_loader=None):
        super().__init__(parent)
        self.setWindowTitle("Environment")
        self.resize(720, 420)
        self.intro = QLabel("What CNN Studio runs on (the same as `cnnstudio doctor`):")
        self.text = QPlainTextEdit("Loading TensorFlow and checking the devices it sees…")
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self._worker = _ReportWorker()
        self._worker.sig_finished.connect(self._show_report)
        self._thread = None
        after_tensorflow(tensorflow_loader, self._start, self._show_report)

    def _start(self) -> None:
        self._thread = start_in_thread(self._worker, self)

    def _show_report(self, text: str) -> None:
        self.text.setPlainText(text)
        self.sig_ready.emit(text)

    def wait(self) -> None:
        """Block until the report thread has ended (closing, tests)."""
        if self._thread is not None:
            self._thread.wait()

    def done(self, result: int) -> None:
        self.wait()
        super().done(result)
