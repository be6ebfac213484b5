"""Install the Train tab and Help > Environment… into the studio window."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject

from ui.qt_environment_dialog import QtEnvironmentDialog
from ui.qt_training_panel import QtTrainingPanel


class _StopOnClose(QObject):
    """Stops a run and waits for the threads when the window gets a close request, so no
    QThread outlives the window (the run stops after its current batch)."""

    def __init__(self, window, panel: QtTrainingPanel):
        super().__init__(window)
        self.panel = panel

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Close:
            self.panel.shutdown()
        return False


def install_training(window) -> QtTrainingPanel:
    """Add the Train tab (``window.training_panel``) and Help > Environment… to ``window``."""
    panel = QtTrainingPanel(window.document, window.workspace, window.tensorflow_loader)
    window.training_panel = panel
    window.add_view("Train", panel)
    window.installEventFilter(_StopOnClose(window, panel))
    panel.sig_message.connect(window.show_message)
    window.menu_help.addSeparator()
    action = window.menu_help.addAction("&Environment…")
    action.setStatusTip("Python, TensorFlow, the devices it sees and why a GPU is or is not used")
    action.triggered.connect(lambda: show_environment(window))
    window.action_environment = action
    return panel


def show_environment(window) -> QtEnvironmentDialog:
    dialog = QtEnvironmentDialog(window, window.tensorflow_loader)
    dialog.show()
    return dialog
