"""Install the Train tab and Help > Environment… into the studio window."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel

from ui.training.environment_dialog import QtEnvironmentDialog
from ui.training.panel import QtTrainingPanel


def install_training(window) -> QtTrainingPanel:
    """Add the Train tab (``window.training_panel``) and Help > Environment… to ``window``."""
    panel = QtTrainingPanel(window.document, window.workspace, window.tensorflow_loader)
    window.training_panel = panel
    window.add_view("Train", panel)
    # once a close is confirmed, stop the run after its batch and wait: no QThread outlives the window
    window.sig_closing.connect(panel.shutdown)
    panel.sig_message.connect(window.show_message)
    window.autosaver.pending_runs = panel.unsaved_run_records
    train = QAction("&Train", window)
    train.setShortcut(QKeySequence("Ctrl+Return"))
    train.setStatusTip("Train the network with the Train tab's settings")
    train.triggered.connect(lambda: (window.tabs.setCurrentWidget(panel), panel.start_training()))
    window.addAction(train)
    panel.train_button.setToolTip("Train the network (Ctrl+Return)")
    window.action_train = train
    _show_progress_in_status_bar(window, panel)
    window.menu_help.addSeparator()
    action = window.menu_help.addAction("&Environment…")
    action.setStatusTip("Python, TensorFlow, the devices it sees and why a GPU is or is not used")
    action.triggered.connect(lambda: show_environment(window))
    window.action_environment = action
    return panel


def _show_progress_in_status_bar(window, panel: QtTrainingPanel) -> None:
    """While a run trains, the status bar says how far it is, whichever tab is shown."""
    label = QLabel()
    label.setObjectName("training_status")
    window.statusBar().addPermanentWidget(label)

    def update(_value=None) -> None:
        label.setText(f"Training: {panel.epoch_label.text()} ({panel.progress.value()}%)" if panel.is_training else "")

    panel.progress.valueChanged.connect(update)
    panel.sig_finished.connect(lambda _outcome: label.setText(""))
    window.training_status = label


def show_environment(window) -> QtEnvironmentDialog:
    dialog = QtEnvironmentDialog(window, window.tensorflow_loader)
    dialog.show()
    return dialog
