"""The Train tab's settings form, made from the engine's description of each training setting.

Every field of ``cnnstudio.training.loop.TrainingSettings`` carries a ``Setting`` (label, help,
range or choices); this form shows one row per field, the way the property panel shows a
layer from the catalog, so a new setting appears here without editing the form, and every
value the engine accepts is shown as it is and read back unchanged.
"""

from __future__ import annotations

import math

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QSpinBox,
    QWidget,
)

UNBOUNDED = 1e6
"""The top of a number box whose setting has no upper bound."""
SIGNIFICANT_DIGITS = 6


class QtNumberBox(QDoubleSpinBox):
    """A number box that shows a value as short as it reads (0.001, 1e-05, 0.5), yet keeps its digits."""

    def textFromValue(self, value: float) -> str:
        return f"{value:.{SIGNIFICANT_DIGITS}g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        try:
            value = float(text)
        except ValueError:
            return QValidator.State.Intermediate, text, pos
        inside = math.isfinite(value) and self.minimum() <= value <= self.maximum()
        return (QValidator.State.Acceptable if inside else QValidator.State.Intermediate), text, pos


class QtSettingsForm(QGroupBox):
    """One row per training setting; :meth:`settings` reads them, :meth:`show_settings` shows them.

    ``widgets`` maps each setting's name to its widget, and :meth:`named_widgets` names them
    ``<setting>_spin``, ``<setting>_combo`` or ``<setting>_check`` for the panel and tests.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Settings", parent)
        from cnnstudio.training.loop import setting_fields

        self.widgets: dict[str, QWidget] = {}
        self._kinds: dict[str, type] = {}
        form = QFormLayout(self)
        for f, setting in setting_fields():
            kind = type(f.default)
            widget = _make_widget(setting, kind)
            widget.setToolTip(setting.help)
            widget.setObjectName(f.name)
            self.widgets[f.name], self._kinds[f.name] = widget, kind
            form.addRow("" if kind is bool else setting.label, widget)
        self.show_settings(None)

    def named_widgets(self) -> dict[str, QWidget]:
        suffix = {bool: "check", str: "combo", int: "spin", float: "spin"}
        return {f"{name}_{suffix[self._kinds[name]]}": w for name, w in self.widgets.items()}

    def values(self) -> dict:
        """What the widgets show, by setting name (not checked yet)."""
        values = {}
        for name, widget in self.widgets.items():
            if isinstance(widget, QCheckBox):
                values[name] = widget.isChecked()
            elif isinstance(widget, QComboBox):
                values[name] = widget.currentText()
            else:
                values[name] = widget.value()
        return values

    def settings(self):
        """The TrainingSettings shown; SettingsError names a setting the engine refuses."""
        from cnnstudio.training.loop import TrainingSettings

        return TrainingSettings(**self.values())

    def show_settings(self, settings) -> None:
        """Show ``settings`` (the defaults for None), every field as it is."""
        from cnnstudio.training.loop import TrainingSettings

        shown = (settings if settings is not None else TrainingSettings()).to_dict()
        for name, widget in self.widgets.items():
            value = shown[name]
            if isinstance(widget, QCheckBox):
                widget.setChecked(value)
            elif isinstance(widget, QComboBox):
                self.offer(name, value)
                widget.setCurrentText(value)
            else:
                widget.setValue(value)

    def offer(self, name: str, choice: str) -> None:
        """Add ``choice`` to a setting's list (a GPU found once TensorFlow has loaded) unless it is there."""
        combo = self.widgets[name]
        if combo.findText(choice) < 0:
            combo.addItem(choice)


def _make_widget(setting, kind: type) -> QWidget:
    from cnnstudio.training.loop import INT_LIMIT

    if kind is bool:
        return QCheckBox(setting.label)
    if kind is str:
        combo = QComboBox()
        combo.addItems(list(setting.choices))
        return combo
    low = setting.low if setting.low is not None else -UNBOUNDED
    if kind is int:
        spin = QSpinBox()
        spin.setRange(int(low), int(min(setting.high if setting.high is not None else INT_LIMIT, INT_LIMIT)))
        spin.setSingleStep(int(setting.step))
        return spin
    number = QtNumberBox()
    number.setDecimals(setting.decimals)
    number.setRange(low, setting.high if setting.high is not None else UNBOUNDED)
    number.setSingleStep(setting.step)
    return number
