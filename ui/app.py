"""Starting the studio: the QApplication, the window on a preset or file, or a screenshot.

Nothing here imports TensorFlow or Keras, so the window shows in about a second.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

from cnnstudio.network import presets
from cnnstudio.workspace.document import DocumentError
from cnnstudio.workspace.project import ProjectError, load_project
from ui import tasks
from ui.editor.pretrained import install_pretrained
from ui.explain.tab import install_explainer
from ui.garbage import GuiThreadCollector
from ui.inspection.tab import install_inspection
from ui.main_window import QtMainWindow
from ui.resource_files import APP_ICON
from ui.teaching.exercise_dialog import install_teaching
from ui.training.tab import install_training

SCREENSHOT_SIZE = (1400, 900)
SETTLE_LIMIT_S = 60.0
"""How long a screenshot waits for background work at the most."""


def new_window() -> QtMainWindow:
    """A studio window with every tab installed."""
    window = QtMainWindow()
    install_training(window)
    install_inspection(window)
    install_explainer(window)
    install_pretrained(window)
    install_teaching(window)
    return window


def run(target: str | None = None, screenshot: str | None = None, select: str | None = None,
        size: tuple[int, int] | None = None, tab: str | None = None, settle: bool = False) -> int:
    """Open the window on ``target`` (a preset name or a project file); 2 if it cannot be opened.

    ``size`` is the window's (width, height); ``tab`` the name of the tab to show first;
    ``settle`` lets the screenshot wait for the background work (see :func:`wait_for_background_work`).
    With ``screenshot``, render the window at ``size`` (1400x900 by default), save it as PNG and return. Without a
    screen to answer a dialog (``--screenshot``, the offscreen platform), a file that cannot be
    opened is reported on stderr, not in a modal dialog that would wait forever.
    """
    if target is not None and target not in presets.PRESETS and not os.path.exists(target):
        # Refused before a window (and its background TensorFlow import) starts: a typo fails at once.
        print(f"cnnstudio gui: {target!r} is neither a preset ({', '.join(presets.names())}) nor an existing "
              "project file.", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    collector = GuiThreadCollector(app)
    try:
        return _run(app, target, screenshot, select, size, tab, settle)
    finally:
        collector.stop()  # collection back to automatic for whatever the process does next
        collector.deleteLater()


def _run(app, target, screenshot, select, size, tab, settle) -> int:
    """:func:`run` once the QApplication exists and collects its garbage on the GUI thread."""
    app.setApplicationName("cnnstudio")
    app.setOrganizationName("CNN Studio")
    if APP_ICON.is_file():
        app.setWindowIcon(QIcon(str(APP_ICON)))
    headless = bool(screenshot) or QGuiApplication.platformName() in ("offscreen", "minimal")
    checked = None
    """The project as read to refuse it before a window exists (headless), opened from memory."""
    if target is not None and target not in presets.PRESETS and os.path.exists(target) and headless:
        try:
            checked = load_project(target)
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
    elif not window.open_file(target, confirm=False, loaded=checked):
        return 2
    if select:
        try:
            window.document.select(select)
        except DocumentError as exc:
            print(f"cnnstudio gui: {exc}", file=sys.stderr)
            return 2
    if tab is not None and not show_tab(window, tab):
        return 2
    if size is not None:
        window.resize(*size)
    if screenshot:
        window.resize(*(size or SCREENSHOT_SIZE))
        window.show()
        app.processEvents()
        if settle and not wait_for_background_work():
            print(f"cnnstudio gui: background work still running after {SETTLE_LIMIT_S:.0f} s; "
                  "the screenshot shows it unfinished", file=sys.stderr)
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


def wait_for_background_work(limit_s: float = SETTLE_LIMIT_S, quiet_s: float = 0.5) -> bool:
    """Run the event loop until no task has run for ``quiet_s`` (one task's end often starts the
    next: TensorFlow, then a reopened run's weights, then the views); False after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    quiet_since = None
    while time.monotonic() < deadline:
        loop = QEventLoop()
        QTimer.singleShot(20, loop.quit)
        loop.exec()
        if tasks.running():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return True
    return False


def show_tab(window: QtMainWindow, name: str) -> bool:
    """Show the tab called ``name`` (case and the mnemonic's & ignored); False, said on stderr, if none is."""
    names = [window.tabs.tabText(index).replace("&", "") for index in range(window.tabs.count())]
    for index, text in enumerate(names):
        if text.lower() == name.lower():
            window.tabs.setCurrentIndex(index)
            return True
    print(f"cnnstudio gui: there is no tab {name!r}. Expected one of: {', '.join(names)}.", file=sys.stderr)
    return False


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
