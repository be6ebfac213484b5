"""The property panel: the selected layer's hyperparameters, shape formula and issues.

Each hyperparameter is bound to its editor by one small :class:`ParamBinding`, which blocks
the editor's signals while it shows the document's value, checks what the user types
against the catalog as they type, and only hands valid values to the document.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.network import catalog
from cnnstudio.network.spec import INPUT
from cnnstudio.workspace.document import DocumentError, NetworkDocument
from ui.formatting import (
    format_count,
    format_receptive_field,
    format_shape,
    format_value,
    issues_for,
)

ANY_SIZE_WORDS = ("any", "?", "none")
"""What the input field reads as an unknown length."""
_INVALID_STYLE = "background: #fde2e2; border: 1px solid #d32f2f;"


def parse_text(param: catalog.Param, text: str) -> Any:
    """What the user typed for a size/padding hyperparameter: ``3``, ``3,3``, ``same`` or empty.

    Raises catalog.ParamError with the fix when it cannot be read.
    """
    text = text.strip().strip("()[]").strip()
    if not text:
        if param.kind in ("optional_size", "optional_padding"):
            return None
        raise catalog.ParamError(param.name, 'expected a number such as "3" or one per axis such as "3,3"')
    if param.kind == "padding" and text.isalpha():
        return text.lower()
    parts = [p.strip() for p in text.replace("x", ",").replace("×", ",").split(",")]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        hint = ', "valid" or "same"' if param.kind == "padding" else ""
        raise catalog.ParamError(param.name, f'expected whole numbers such as "3" or "3,3"{hint}, '
                                             f"received {text!r}") from None
    return numbers[0] if len(numbers) == 1 else numbers


class ParamBinding:
    """Binds one hyperparameter of the selected layer to its editor widget."""

    def __init__(self, document: NetworkDocument, layer_name: str, param: catalog.Param, rank: int | None):
        self.document = document
        self.layer_name = layer_name
        self.param = param
        self.rank = rank
        self.widget = self._make_editor()
        self.widget.setToolTip(param.help)
        self.widget.setObjectName(f"param_{param.name}")

    def _make_editor(self) -> QWidget:
        p = self.param
        if p.kind == "int":
            w = QSpinBox()
            w.setRange(int(p.minimum if p.minimum is not None else -1_000_000),
                       int(p.maximum if p.maximum is not None else 1_000_000))
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self._apply)
        elif p.kind == "float":
            w = QDoubleSpinBox()
            w.setDecimals(4)
            w.setSingleStep(0.05 if (p.maximum or 0) <= 1 else 0.1)
            w.setRange(p.minimum if p.minimum is not None else -1e9, p.maximum if p.maximum is not None else 1e9)
            w.setKeyboardTracking(False)
            w.valueChanged.connect(self._apply)
        elif p.kind == "bool":
            w = QCheckBox()
            w.toggled.connect(self._apply)
        elif p.kind == "choice":
            w = QComboBox()
            w.addItems(list(p.choices))
            w.currentTextChanged.connect(self._apply)
        else:
            w = QLineEdit()
            w.setPlaceholderText({"optional_size": "as pool_size", "optional_padding": "from padding"}.get(p.kind, ""))
            w.textEdited.connect(self._check_text)
            w.editingFinished.connect(self._apply_text)
        return w

    def sync(self, value: Any) -> None:
        """Show the document's value without echoing it back as an edit."""
        w = self.widget
        with QSignalBlocker(w):
            if isinstance(w, QSpinBox | QDoubleSpinBox):
                w.setValue(value)
            elif isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QComboBox):
                w.setCurrentText(str(value))
            else:
                w.setText(format_value(value))
        self._set_invalid(None)

    def _apply(self, value: Any) -> None:
        self._set(value)

    def _check_text(self, text: str) -> Any:
        """Validate as the user types; returns the parsed value, or None with the editor marked."""
        try:
            value = self.param.check(parse_text(self.param, text), self.rank)
        except catalog.ParamError as exc:
            self._set_invalid(exc.reason)
            return _INVALID
        self._set_invalid(None)
        return value

    def _apply_text(self) -> None:
        value = self._check_text(self.widget.text())
        if value is not _INVALID:
            self._set(value)

    def _set(self, value: Any) -> None:
        try:
            self.document.set_param(self.layer_name, self.param.name, value)
        except DocumentError as exc:
            self._set_invalid(str(exc))

    def _set_invalid(self, reason: str | None) -> None:
        self.invalid_reason = reason
        self.widget.setStyleSheet(_INVALID_STYLE if reason else "")
        self.widget.setToolTip(f"{reason}\n\n{self.param.help}" if reason else self.param.help)


_INVALID = object()


class QtPropertyPanel(QScrollArea):
    """Edits the selected layer (or the input shape) and shows why its shape is what it is."""

    sig_message = Signal(str)

    def __init__(self, document: NetworkDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.setWidgetResizable(True)
        self.setMinimumWidth(280)
        self.bindings: dict[str, ParamBinding] = {}
        self.fix_buttons: list[QPushButton] = []
        self._layer: str | None = None
        self._body = QWidget()
        self._layout = QVBoxLayout(self._body)
        self._layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.setWidget(self._body)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.description = QLabel(wordWrap=True)
        self.description.setStyleSheet("color: #555;")
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.name_edit: QLineEdit | None = None
        self.input_edit: QLineEdit | None = None
        self.trainable_check: QCheckBox | None = None
        self.result = QLabel(wordWrap=True)
        self.result.setTextFormat(Qt.TextFormat.RichText)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.issues_box = QVBoxLayout()
        for w in (self.title, self.description):
            self._layout.addWidget(w)
        self._layout.addLayout(self.form)
        self._layout.addWidget(_rule())
        self._layout.addWidget(self.result)
        self._layout.addLayout(self.issues_box)
        document.events.selected.connect(self._on_selected)
        document.events.changed.connect(self._on_changed)
        self._show(document.selected)

    # -- document events -------------------------------------------------------------------

    def _on_selected(self, name: str | None) -> None:
        self._show(name)

    def _on_changed(self, _label: str) -> None:
        if self._layer is not None and self._layer != INPUT and self._layer not in _names(self.document):
            self._show(None)
        else:
            self._refresh()

    # -- building the form -------------------------------------------------------------------

    def _show(self, name: str | None) -> None:
        """Rebuild the editors for layer ``name`` (None: nothing selected)."""
        self._layer = name
        while self.form.rowCount():
            self.form.removeRow(0)
        self.bindings.clear()
        self.name_edit = self.input_edit = self.trainable_check = None
        spec = self.document.current
        if name is None:
            self.title.setText("<b>No layer selected</b>")
            self.description.setText("Click a layer on the canvas to edit it, or drag one from the palette.")
        elif name == INPUT:
            self.title.setText("<b>Input</b>")
            self.description.setText("The shape of one example: height, width, channels for images, "
                                     "or length, channels for sequences. Write \"any\" for a height, width "
                                     "or length to take inputs of any size (a fully convolutional network).")
            self.input_edit = QLineEdit(objectName="input_shape")
            self.input_edit.setToolTip("Input shape: height, width, channels (images) or length, channels; "
                                       "any, any, 1 takes images of any size")
            self.input_edit.textEdited.connect(self._check_input_shape)
            self.input_edit.editingFinished.connect(self._apply_input_shape)
            self.form.addRow("Shape", self.input_edit)
        else:
            layer = spec.layer(name)
            layer_type = catalog.get(layer.type)
            self.title.setText(f"<b>{layer.type}</b>")
            self.description.setText(layer_type.description)
            self.name_edit = QLineEdit(objectName="layer_name")
            self.name_edit.editingFinished.connect(self._rename)
            self.form.addRow("Name", self.name_edit)
            for param in layer_type.params:
                binding = ParamBinding(self.document, name, param, layer_type.rank)
                self.bindings[param.name] = binding
                label = QLabel(param.name)
                label.setToolTip(param.help)
                self.form.addRow(label, binding.widget)
            self.trainable_check = QCheckBox("Trainable", objectName="layer_trainable")
            self.trainable_check.setToolTip("Untick to freeze this layer's weights while training "
                                            "(fine-tuning); a frozen BatchNormalization keeps its statistics")
            self.trainable_check.toggled.connect(self._set_trainable)
            self.form.addRow("", self.trainable_check)
        self._refresh()

    def _refresh(self) -> None:
        """Show the document's current values, shape formula and issues for the shown layer."""
        name = self._layer
        spec = self.document.current
        summary = self.document.summary
        if name == INPUT:
            with QSignalBlocker(self.input_edit):
                self.input_edit.setText(",".join("any" if v is None else str(v) for v in spec.input_shape))
            self.input_edit.setStyleSheet("")
            self.result.setText(f"Output: <b>{format_shape(spec.input_shape)}</b>")
            self._show_issues([i for i in summary.issues if i.layer in (None, INPUT)])
            return
        if name is None:
            total = f"{format_count(summary.total_params)} parameters, {format_count(summary.macs)} MACs per example"
            self.result.setText(f"Network: {len(spec.layers)} layers, {total}")
            self._show_issues([i for i in summary.issues if i.layer is None])
            return
        layer = spec.layer(name)
        with QSignalBlocker(self.name_edit):
            self.name_edit.setText(name)
        with QSignalBlocker(self.trainable_check):
            self.trainable_check.setChecked(layer.trainable)
        for key, binding in self.bindings.items():
            binding.sync(layer.param(key))
        info = summary.layer(name)
        lines = [f"Output: <b>{format_shape(info.output_shape)}</b> &nbsp; "
                 f"Params: <b>{format_count(info.params)}</b>"
                 + (f" (frozen: {format_count(info.frozen_params)})" if not layer.trainable else "")]
        if info.receptive_field:
            field = format_receptive_field(info.receptive_field, self.document.current.input_shape)
            lines.append(f"Receptive field: {field} input pixels")
        lines.extend(f"<code>{_escape(f)}</code>" for f in info.formulas)
        self.result.setText("<br>".join(lines))
        self._show_issues([*issues_for(summary, name), *info.notes])

    def _show_issues(self, issues: list) -> None:
        while self.issues_box.count():
            item = self.issues_box.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        self.fix_buttons = []
        for issue in issues:
            colour = {"error": "#d32f2f", "warning": "#b07000"}.get(issue.severity, "#44607a")
            label = QLabel(f"<b style='color:{colour}'>{issue.severity.capitalize()}:</b> {_escape(issue.message)}")
            label.setWordWrap(True)
            label.setObjectName(f"issue_{issue.severity}")
            self.issues_box.addWidget(label)
            for fix in issue.fixes:
                button = QPushButton(f"Fix: {fix.label}")
                button.setToolTip(f"Apply this change to the network ({fix.label}); Ctrl+Z undoes it")
                button.clicked.connect(lambda _=False, f=fix: self._apply_fix(f))
                self.fix_buttons.append(button)
                row = QHBoxLayout()
                row.addWidget(button)
                row.addStretch()
                holder = QWidget()
                holder.setLayout(row)
                row.setContentsMargins(0, 0, 0, 0)
                self.issues_box.addWidget(holder)

    # -- edits -------------------------------------------------------------------------------

    def _apply_fix(self, fix) -> None:
        try:
            self.document.apply_fix(fix)
        except (DocumentError, ValueError) as exc:
            self.sig_message.emit(str(exc))

    def _set_trainable(self, trainable: bool) -> None:
        if self._layer not in (None, INPUT):
            self.document.set_trainable(self._layer, trainable)

    def _rename(self) -> None:
        new = self.name_edit.text().strip()
        if self._layer in (None, INPUT) or new == self._layer:
            return
        try:
            self.document.rename_layer(self._layer, new)
            self.name_edit.setStyleSheet("")
        except DocumentError as exc:
            self.name_edit.setStyleSheet(_INVALID_STYLE)
            self.name_edit.setToolTip(str(exc))
            self.sig_message.emit(str(exc))

    def _parse_input_shape(self, text: str):
        """``28,28,1``; a height, width or length of ``any`` (or ``?``) makes it any size."""
        parts = [p.strip().lower() for p in text.strip().strip("()[]").replace("×", ",").split(",")]
        try:
            shape = tuple(None if p in ANY_SIZE_WORDS else int(p) for p in parts)
        except ValueError:
            return None
        if len(shape) not in (2, 3) or shape[-1] is None:
            return None
        return shape if all(v is None or v >= 1 for v in shape) else None

    def _check_input_shape(self, text: str) -> None:
        self.input_edit.setStyleSheet("" if self._parse_input_shape(text) else _INVALID_STYLE)

    def _apply_input_shape(self) -> None:
        shape = self._parse_input_shape(self.input_edit.text())
        if shape is None:
            self.input_edit.setStyleSheet(_INVALID_STYLE)
            self.sig_message.emit("Invalid input shape. Expected height,width,channels or length,channels "
                                  "of positive integers (height, width or length may be \"any\"). "
                                  f"Received: {self.input_edit.text()!r}")
            return
        self.document.set_input_shape(shape)


def _names(document: NetworkDocument) -> list[str]:
    return [layer.name for layer in document.current.layers]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rule() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.HLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line
