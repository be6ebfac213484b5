"""Starting the studio: the QApplication, the window on a preset or file, or a screenshot.

Nothing here imports TensorFlow or Keras, so the window shows in about a second.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from cnnstudio.network import presets
from cnnstudio.workspace.document import DocumentError
from cnnstudio.workspace.project import ProjectError, load_project
from ui.editor.pretrained import install_pretrained
from ui.explain.tab import install_explainer
from ui.inspection.tab import install_inspection
from ui.main_window import QtMainWindow
from ui.resource_files import APP_ICON
from ui.teaching.exercise_dialog import install_teaching
from ui.training.tab import install_training

SCREENSHOT_SIZE = (1400, 900)


def new_window() -> QtMainWindow:
    """A studio window with every tab installed."""
    window = QtMainWindow()
    install_training(window)
    install_inspection(window)
    install_explainer(window)
    install_pretrained(window)
    install_teaching(window)
    return window


def run(target: str | None = None, screenshot: str | None = None, select: str | None = None) -> int:
    """Open the window on ``target`` (a preset name or a project file); 2 if it cannot be opened.

    With ``screenshot``, render the window at 1400x900, save it as PNG and return. Without a
    screen to answer a dialog (``--screenshot``, the offscreen platform), a file that cannot be
    opened is reported on stderr, not in a modal dialog that would wait forever.
    """
    if target is not None and target not in presets.PRESETS and not os.path.exists(target):
        # Refused before a window (and its background TensorFlow import) starts: a typo fails at once.
        print(f"cnnstudio gui: {target!r} is neither a preset ({', '.join(presets.names())}) nor an existing "
              "project file.", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("cnnstudio")
    app.setOrganizationName("CNN Studio")
    if APP_ICON.is_file():
        app.setWindowIcon(QIcon(str(APP_ICON)))
    headless = bool(screenshot) or QGuiApplication.platformName() in ("offscreen", "minimal")
    if target is not None and target not in presets.PRESETS and os.path.exists(target) and headless:
        try:
            load_project(target)
        except ProjectError as exc:
            print(f"cnnstudio gui: cannot open {target}: {exc}", file=sys.stderr)
            return 2
    window = new_window()
    windows = [window]
    if target is None:
        pending = [] if screenshot else window.autosaver.pending_all()
        if not pending or not window.offer_recovery(pending[0]):
            window.open_default_project()
        for recovered in pending[1:]:  # every window that crashed gets its own window back
            extra = new_window()
            if extra.offer_recovery(recovered):
                windows.append(extra)
            else:
                extra.deleteLater()
    elif target in presets.PRESETS:
        window.open_preset(target, confirm=False)
    elif not window.open_file(target, confirm=False):
        return 2
    if select:
        try:
            window.document.select(select)
        except DocumentError as exc:
            print(f"cnnstudio gui: {exc}", file=sys.stderr)
            return 2
    if screenshot:
        window.resize(*SCREENSHOT_SIZE)
        window.show()
        app.processEvents()
        image = window.grab()
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(screenshot)):
            print(f"cnnstudio gui: cannot write {screenshot}", file=sys.stderr)
            return 1
        window.hide()  # not close(): that would discard a recovery file left by a crashed session
        return 0
    for shown in windows:
        shown.show()
    stop_on_ctrl_c(app, windows)
    code = app.exec()
    for shown in windows:
        shown.settings.sync()
    return code


def stop_on_ctrl_c(app: QApplication, windows: list[QtMainWindow]) -> QTimer:
    """Ctrl-C in the terminal quits the event loop (status 130) after writing each window's
    recovery file, so unsaved work is offered on the next start. Qt's loop runs in C++, where
    Python sees a signal only when it next runs code: a short timer gives it that moment."""

    def interrupted(*_):
        for window in windows:
            window.autosaver.save_now()
        print("cnnstudio gui: interrupted (Ctrl-C); unsaved work is kept for recovery.", file=sys.stderr)
        app.exit(130)

    signal.signal(signal.SIGINT, interrupted)
    wake = QTimer(app, interval=200)
    wake.timeout.connect(lambda: None)
    wake.start()
    return wake
