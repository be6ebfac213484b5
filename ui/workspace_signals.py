"""The workspace's events as Qt signals, so views update on the GUI thread.

Training may report epochs from a worker thread; a Qt signal emitted there reaches a
widget's slot through the event loop (a queued connection), never from the worker itself.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from cnnstudio.workspace.session import Workspace


class QtWorkspaceSignals(QObject):
    """``sig_model(model_or_None)``, ``sig_dataset(dataset_or_None)``, ``sig_epoch(epoch, logs)``."""

    sig_model = Signal(object)
    sig_dataset = Signal(object)
    sig_epoch = Signal(int, object)

    def __init__(self, workspace: Workspace, parent: QObject | None = None):
        super().__init__(parent)
        self.workspace = workspace
        workspace.events.model.connect(self._on_model)
        workspace.events.dataset.connect(self._on_dataset)
        workspace.events.epoch.connect(self._on_epoch)

    def _on_model(self, model) -> None:
        self.sig_model.emit(model)

    def _on_dataset(self, dataset) -> None:
        self.sig_dataset.emit(dataset)

    def _on_epoch(self, epoch, logs) -> None:
        self.sig_epoch.emit(int(epoch), dict(logs or {}))

    def disconnect_workspace(self) -> None:
        """Stop listening: a closed view must not be called by the workspace again."""
        events = self.workspace.events
        events.model.disconnect(self._on_model)
        events.dataset.disconnect(self._on_dataset)
        events.epoch.disconnect(self._on_epoch)
