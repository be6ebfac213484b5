"""The Qt binding keeps Python's reference counts: PySide6 6.12.0 on Python 3.11 dropped one reference
to None on every call returning nothing (setText, update, processEvents, ...), so a window died with
"deallocating None" after a few hundred thousand calls: minutes of use."""

import sys

from PySide6.QtWidgets import QLabel


def test_void_qt_calls_keep_the_reference_count_of_none(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("x")
        label.update()
    assert sys.getrefcount(None) - before > -100
