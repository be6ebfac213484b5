"""Small Qt helpers that several views share."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QComboBox, QLabel


def refill_combo(combo: QComboBox, choices: list[str]) -> None:
    """Replace ``combo``'s items with ``choices``, keeping the current one where it is still offered,
    without emitting a change signal for the refill itself."""
    current = combo.currentText()
    combo.blockSignals(True)
    combo.clear()
    combo.addItems(choices)
    if current in choices:
        combo.setCurrentText(current)
    combo.blockSignals(False)


LINE_SAMPLES = {Qt.PenStyle.SolidLine: "━━", Qt.PenStyle.DotLine: "┈┈┈", Qt.PenStyle.DashLine: "╌╌╌"}
"""How a legend draws each pen style."""
MARKED_LINE = "━●━"
"""A solid line with the curve's point marker."""


def legend_label() -> QLabel:
    """A word-wrapped legend line to place beside a plot, never over its curves."""
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


def legend_html(entries: list[tuple[QColor, str, str]]) -> str:
    """(colour, sample, name) entries as one line of coloured samples; an entry never breaks inside."""
    return "&nbsp;&nbsp; ".join(
        f'<span style="white-space:nowrap"><span style="color:{QColor(color).name()}"><b>{sample}</b></span>'
        f"&nbsp;{html.escape(name)}</span>" for color, sample, name in entries)


def pen_entry(pen: QPen, name: str) -> tuple[QColor, str, str]:
    """The legend entry of a curve drawn with ``pen``."""
    return pen.color(), LINE_SAMPLES.get(pen.style(), LINE_SAMPLES[Qt.PenStyle.SolidLine]), name
