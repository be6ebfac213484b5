"""Starting the studio: the QApplication, the window on a preset or file, or a screenshot.

Nothing here imports TensorFlow or Keras, so the window shows in about a second.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from cnnstudio.network import presets
from cnnstudio.workspace.document import DocumentError
from ui.explain.tab import install_explainer
from ui.inspection.tab import install_inspection
from ui.main_window import DEFAULT_PRESET, QtMainWindow
from ui.resource_files import APP_ICON
from ui.teaching.exercise_dialog import install_teaching
from ui.training.tab import install_training

SCREENSHOT_SIZE = (1400, 900)


def run(target: str | None = None, screenshot: str | None = None, select: str | None = None) -> int:
    """Open the window on ``target`` (a preset name or a project file); 2 if it cannot be opened.

    With ``screenshot``, render the window at 1400x900, save it as PNG and return.
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("cnnstudio")
    app.setOrganizationName("CNN Studio")
    if APP_ICON.is_file():
        app.setWindowIcon(QIcon(str(APP_ICON)))
    window = QtMainWindow()
    install_training(window)
    install_inspection(window)
    install_explainer(window)
    install_teaching(window)
    if target is None:
        if screenshot or not window.offer_recovery():
            window.open_preset(DEFAULT_PRESET, confirm=False)
    elif target in presets.PRESETS:
        window.open_preset(target, confirm=False)
    elif os.path.exists(target):
        if not window.open_file(target, confirm=False):
            return 2
    else:
        print(f"cnnstudio gui: {target!r} is neither a preset ({', '.join(presets.names())}) nor an existing "
              "project file.", file=sys.stderr)
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
    window.show()
    code = app.exec()
    window.settings.sync()
    return code
