"""Small Qt helpers that several views share."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox


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
