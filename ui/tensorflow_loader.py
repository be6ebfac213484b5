"""Imports TensorFlow and Keras in a background task, so the window never waits for them.

The window shows before TensorFlow is imported; the first view that needs it (training,
building a model) calls :func:`after_tensorflow`, which runs its callback once
``sig_ready`` says the import is done.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys

from PySide6.QtCore import QObject, Qt, Signal

from ui.tasks import SHUTDOWN_TIMEOUT_S, Task


def import_tensorflow(state) -> None:
    """TensorFlow and Keras, then the rest of what a training run's window side imports; the
    training children's fork server loads its own meanwhile, so that the first run starts at once."""
    from cnnstudio.workspace.training_process import import_parent_side, start_fork_server

    start_fork_server()
    tf = importlib.import_module("tensorflow")
    importlib.import_module("keras")
    share_gpus(tf)
    import_parent_side()


def share_gpus(tf) -> None:
    """Let the window's TensorFlow take GPU memory as it needs it, not all of it at once:
    training runs in child processes, which need the GPU memory free."""
    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):  # the GPU was initialised already: its mode is fixed
            tf.config.experimental.set_memory_growth(gpu, True)


class TensorFlowLoader(QObject):
    """``ensure()`` starts the import once; ``sig_ready`` or ``sig_failed(message)`` tells the result."""

    sig_ready = Signal()
    sig_failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._task: Task | None = None

    @property
    def is_ready(self) -> bool:
        imported = "keras" in sys.modules and "tensorflow" in sys.modules
        return imported and (not self.is_loading or self._task.outcome == "done")

    @property
    def is_loading(self) -> bool:
        return self._task is not None and self._task.is_running

    def ensure(self) -> None:
        """Start loading TensorFlow unless it is loaded or loading; ``sig_ready`` follows either way."""
        if self.is_loading:
            return
        self._task = Task(import_tensorflow)
        self._task.sig_done.connect(self._on_done)
        self._task.sig_error.connect(self._on_error)
        self._task.start()

    def _on_done(self, _result) -> None:
        keep_out_of_collections()
        self.sig_ready.emit()

    def _on_error(self, exc: BaseException) -> None:
        self.sig_failed.emit(f"{type(exc).__name__}: {exc}")

    def wait(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> bool:
        """Wait (at most ``timeout`` seconds) for a running import to end; True if none is left."""
        return self._task is None or self._task.wait(timeout)


def keep_out_of_collections() -> None:
    """Take every object alive now (TensorFlow's and Keras' modules above all) out of the garbage
    collector's sight. A full collection walks them all while holding the GIL, 100-500 ms in
    which no other thread (the window's) runs; they live as long as the process anyway."""
    gc.freeze()


def after_tensorflow(loader: TensorFlowLoader | None, callback, on_failed=None) -> bool:
    """Call ``callback`` now if TensorFlow is loaded, else once the window's background loader
    is done: two threads importing TensorFlow at once can see half-initialised modules.
    Returns True if it ran at once."""
    if loader is None or loader.is_ready:
        callback()
        return True
    single = Qt.ConnectionType.SingleShotConnection
    loader.sig_ready.connect(callback, single)
    if on_failed is not None:
        loader.sig_failed.connect(on_failed, single)
    loader.ensure()
    return False
