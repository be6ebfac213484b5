"""Help > Environment…: the same report as ``cnnstudio doctor``, computed off the GUI thread.

Collecting it imports TensorFlow (seconds the first time), so a :class:`ui.tasks.Task` does it
and the dialog shows "Checking…" meanwhile; the text is selectable to paste into a bug report.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout

from ui.tasks import SHUTDOWN_TIMEOUT_S, Task
from ui.tensorflow_loader import after_tensorflow


def environment_text(state) -> str:
    from cnnstudio.training.environment import environment_report

    return environment_report().format()


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
        self._task = Task(environment_text)
        self._task.sig_done.connect(self._show_report)
        self._task.sig_error.connect(self._show_failure)
        after_tensorflow(tensorflow_loader, self._task.start, self._show_report)

    def _show_failure(self, exc: BaseException) -> None:
        self._show_report(f"The environment report failed: {type(exc).__name__}: {exc}")

    def _show_report(self, text: str) -> None:
        self.text.setPlainText(text)
        self.sig_ready.emit(text)

    def wait(self) -> bool:
        """Wait (a bounded time) until the report's task has ended (closing, tests)."""
        return self._task.wait(SHUTDOWN_TIMEOUT_S)

    def done(self, result: int) -> None:
        self.wait()
        super().done(result)
