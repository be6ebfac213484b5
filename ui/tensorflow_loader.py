"""Imports TensorFlow and Keras in a background thread, so the window never waits for them.

The window shows before TensorFlow is imported; the first view that needs it (training,
building a model) calls :meth:`TensorFlowLoader.ensure` and waits for ``sig_ready``.
"""

from __future__ import annotations

import importlib
import sys

from PySide6.QtCore import QObject, QThread, Signal


class _ImportThread(QThread):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.error: str | None = None

    def run(self) -> None:
        try:
            importlib.import_module("tensorflow")
            importlib.import_module("keras")
        except Exception as exc:  # an import failure is shown to the user, not raised in a thread
            self.error = f"{type(exc).__name__}: {exc}"


class TensorFlowLoader(QObject):
    """``ensure()`` starts the import once; ``sig_ready`` or ``sig_failed(message)`` tells the result."""

    sig_ready = Signal()
    sig_failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._thread: _ImportThread | None = None

    @property
    def is_ready(self) -> bool:
        return "keras" in sys.modules and "tensorflow" in sys.modules and not self.is_loading

    @property
    def is_loading(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def ensure(self) -> None:
        """Start loading TensorFlow unless it is loaded or loading; ``sig_ready`` follows either way."""
        if self.is_loading:
            return
        self._thread = _ImportThread(self)
        self._thread.finished.connect(self._on_finished)
        self._thread.start()

    def wait(self) -> None:
        """Block until a running import ends (on close, so no thread outlives the window)."""
        if self._thread is not None:
            self._thread.wait()

    def _on_finished(self) -> None:
        error = self._thread.error
        if error:
            self.sig_failed.emit(error)
        else:
            self.sig_ready.emit()
