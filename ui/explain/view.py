"""The Explain view: a convolution or pooling drawn window by window, with editable numbers.

It shows the course's pictures live: the input (padded cells hatched, unused cells marked),
the kernel's footprint sliding with the stride (dilation as gaps), the output filling in,
the dot product of the current window, and the output size formula. For 1D convolutions it
draws the equivalent sparse, weight-shared matrix; a third tab shows the receptive field
growing through a stack. Every number comes from ``cnnstudio.inspection.explainer``, which runs our layers.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.inspection import explainer as engine
from cnnstudio.network import catalog

_INPUT_1D = "0, 1, 0, 1, 1, 0, 1"
_INPUT_2D = "1, 1, 1, 0, 0; 0, 1, 1, 1, 0; 0, 0, 1, 1, 1; 0, 0, 1, 1, 0; 0, 1, 1, 0, 0"
_KERNEL_1D = "-1, 1"
_KERNEL_2D = "1, 0, 1; 0, 1, 0; 1, 0, 1"

_INPUT_BG = QColor("#ffffff")
_PADDING_BG = QColor("#d9d9d9")
_UNUSED_BG = QColor("#f8d7da")
_TAP_BG = QColor("#ffb74d")
_KERNEL_BG = QColor("#bbdefb")
_OUTPUT_BG = QColor("#c8e6c9")
_CURRENT_BG = QColor("#43a047")
_FOOTPRINT = QColor("#e65100")
_GRID_PEN = QColor("#607d8b")
_WEIGHT_COLORS = [QColor(c) for c in (
    "#90caf9", "#ffcc80", "#a5d6a7", "#ce93d8", "#fff59d", "#80deea", "#f48fb1", "#bcaaa4",
)]


def _fit_cell(width: float, height: float, columns: int, rows: int) -> float:
    """Cell size that fits ``columns`` x ``rows`` cells in the area, legible but bounded."""
    return max(12.0, min(48.0, width / max(columns, 1), height / max(rows, 1)))


def _draw_cell(painter: QPainter, rect: QRectF, text: str, background: QColor,
               hatched: bool = False, text_color: QColor | None = None) -> None:
    painter.fillRect(rect, background)
    if hatched:
        painter.fillRect(rect, QBrush(QColor("#9e9e9e"), Qt.BrushStyle.BDiagPattern))
    painter.setPen(QPen(_GRID_PEN, 1))
    painter.drawRect(rect)
    if text:
        painter.setPen(text_color or QColor("#000000"))
        font = QFont(painter.font())
        room = rect.width() - 4
        while font.pixelSize() > 6 and QFontMetrics(font).horizontalAdvance(text) > room:
            font.setPixelSize(font.pixelSize() - 1)  # "-0.0625" shrinks to fit, never clipped to ".0625"
        painter.save()
        painter.setFont(font)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()


def _cell_font(cell: float) -> QFont:
    font = QFont()
    font.setPixelSize(max(8, int(cell * 0.36)))
    return font


def first_value(value):
    """A per-axis setting's first value (the views' spin boxes are square); a single value as it is."""
    return value[0] if isinstance(value, (list, tuple)) else value


def chosen_padding(combo: QComboBox, spin: QSpinBox, explicit: str):
    """"valid", "same" or the spin box's P when ``combo`` shows ``explicit``, which alone enables the box."""
    text = combo.currentText()
    spin.setEnabled(text == explicit)
    return spin.value() if text == explicit else text


def show_padding(combo: QComboBox, spin: QSpinBox, padding, explicit: str) -> None:
    """Show a layer's padding: its word, or ``explicit`` with P (its first value) in the spin box."""
    if isinstance(padding, str):
        combo.setCurrentText(padding)
    else:
        combo.setCurrentText(explicit)
        spin.setValue(first_value(padding))


class QtStepCanvas(QWidget):
    """Paints one step of an explanation on a light background, crisp cell edges: a subclass's
    ``_paint(painter, explanation)`` draws it."""

    def __init__(self, parent: QWidget | None = None, minimum: tuple[int, int] = (420, 260)):
        super().__init__(parent)
        self.explanation = None
        self.step = 0
        self.setMinimumSize(*minimum)

    def show_step(self, explanation, step: int) -> None:
        self.explanation, self.step = explanation, step
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.fillRect(self.rect(), QColor("#fafafa"))
        if self.explanation is not None:
            self._paint(painter, self.explanation)
        painter.end()


class QtExplainCanvas(QtStepCanvas):
    """Paints the padded input, the kernel (or pool window), the output and the current window."""

    def _paint(self, painter: QPainter, e: engine.Explanation) -> None:
        padded = e.padded_shape if e.rank == 2 else (1, e.padded_shape[0])
        kernel = e.window_shape if e.rank == 2 else (1, e.window_shape[0])
        out = e.output.shape if e.rank == 2 else (1, e.output.shape[0])
        margin, label = 12.0, 22.0
        if e.rank == 2:  # side by side: input | kernel | output
            columns = padded[1] + kernel[1] + out[1] + 4
            cell = _fit_cell(self.width() - 2 * margin, self.height() - 2 * margin - label,
                             columns, max(padded[0], kernel[0], out[0]))
            x_input, top = margin, margin + label
            x_kernel = x_input + (padded[1] + 2) * cell
            x_output = x_kernel + (kernel[1] + 2) * cell
            origins = {"input": (x_input, top), "kernel": (x_kernel, top), "output": (x_output, top)}
        else:  # stacked: input row, the kernel under its window, output row
            cell = _fit_cell(self.width() - 2 * margin, (self.height() - 2 * margin - 3 * label) / 3,
                             padded[1], 1)
            row = cell + label + 8
            origins = {"input": (margin, margin + label), "kernel": (margin, margin + label + row),
                       "output": (margin, margin + label + 2 * row)}
        painter.setFont(_cell_font(cell))
        window = e.windows[self.step]
        self._paint_input(painter, e, window, origins["input"], cell)
        self._paint_kernel(painter, e, window, origins["kernel"], cell)
        self._paint_output(painter, e, origins["output"], cell)
        title = QFont()
        title.setPixelSize(13)
        title.setBold(True)
        painter.setFont(title)
        painter.setPen(QColor("#263238"))
        what = "Kernel" if e.kind == "conv" else f"{'Max' if e.kind == 'max' else 'Average'} pool window"
        for name, text in (("input", "Input (padding hatched)"), ("kernel", what), ("output", "Output")):
            x, y = origins[name]
            painter.drawText(QRectF(x, y - label, 400, label - 4),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, text)

    def _pad_text(self, e: engine.Explanation) -> str:
        if e.kind == "max":
            return "-∞"
        if e.kind == "avg" and all(b + a == 0 for b, a in e.padding):
            return ""
        return "0"

    def _paint_input(self, painter, e, window, origin, cell) -> None:
        x0, y0 = origin
        padded = e.padded_shape if e.rank == 2 else (1, e.padded_shape[0])
        before = [b for b, _ in e.padding] if e.rank == 2 else [0, e.padding[0][0]]
        taps = {t.padded_index if e.rank == 2 else (0, t.padded_index[0]) for t in window.taps}
        pad_text = self._pad_text(e)
        for r in range(padded[0]):
            for c in range(padded[1]):
                rect = QRectF(x0 + c * cell, y0 + r * cell, cell, cell)
                i, j = r - before[0], c - before[1]
                inside = 0 <= i < (e.input.shape[0] if e.rank == 2 else 1) and 0 <= j < e.input.shape[-1]
                if not inside:
                    background = _TAP_BG.lighter(120) if (r, c) in taps else _PADDING_BG
                    _draw_cell(painter, rect, pad_text, background, hatched=True, text_color=QColor("#616161"))
                    continue
                index = (i, j) if e.rank == 2 else (j,)
                background = _INPUT_BG
                if e.unused[index]:
                    background = _UNUSED_BG
                if (r, c) in taps:
                    background = _TAP_BG
                _draw_cell(painter, rect, engine.format_number(e.input[index]), background)
        # the footprint: the window's span, dilation gaps included
        first = window.taps[0].padded_index
        span = [(k - 1) * d + 1 for k, d in zip(e.window_shape, e.dilation, strict=True)]
        if e.rank == 1:
            first, span = (0, first[0]), [1, span[0]]
        painter.setPen(QPen(_FOOTPRINT, 3))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(x0 + first[1] * cell, y0 + first[0] * cell, span[1] * cell, span[0] * cell))

    def _paint_kernel(self, painter, e, window, origin, cell) -> None:
        x0, y0 = origin
        if e.rank == 1:  # under the window it reads, with the dilation's gaps
            x0 += window.taps[0].padded_index[0] * cell
        shape = e.window_shape if e.rank == 2 else (1, e.window_shape[0])
        dilation = e.dilation if e.rank == 2 else (1, e.dilation[0])
        for r in range(shape[0]):
            for c in range(shape[1]):
                rect = QRectF(x0 + c * dilation[1] * cell if e.rank == 1 else x0 + c * cell,
                              y0 + r * cell, cell, cell)
                if e.kernel is None:
                    text = e.kind
                else:
                    text = engine.format_number(e.kernel[(r, c) if e.rank == 2 else (c,)])
                _draw_cell(painter, rect, text, _KERNEL_BG)

    def _paint_output(self, painter, e, origin, cell) -> None:
        x0, y0 = origin
        shape = e.output.shape if e.rank == 2 else (1, e.output.shape[0])
        for r in range(shape[0]):
            for c in range(shape[1]):
                flat = r * shape[1] + c
                rect = QRectF(x0 + c * cell, y0 + r * cell, cell, cell)
                if e.rank == 1:  # under the first tap of its window, so the stride shows
                    rect.moveLeft(x0 + e.windows[flat].taps[0].padded_index[0] * cell)
                value = e.output[(r, c) if e.rank == 2 else (c,)]
                if flat == self.step:
                    _draw_cell(painter, rect, engine.format_number(value), _CURRENT_BG, text_color=QColor("#ffffff"))
                elif flat < self.step:
                    _draw_cell(painter, rect, engine.format_number(value), _OUTPUT_BG)
                else:
                    _draw_cell(painter, rect, "", QColor("#eeeeee"))


class QtConvMatrixCanvas(QWidget):
    """The 1D convolution as a matrix: one row per output, one column per input, colour = weight."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.kernel: np.ndarray | None = None
        self.indices: np.ndarray | None = None
        self.setMinimumSize(320, 200)

    def show_matrix(self, kernel: np.ndarray | None, indices: np.ndarray | None) -> None:
        self.kernel, self.indices = kernel, indices
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#fafafa"))
        if self.indices is None or self.kernel is None:
            painter.setPen(QColor("#455a64"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                             "The equivalent matrix is drawn for 1D convolutions.")
            painter.end()
            return
        rows, columns = self.indices.shape
        margin, legend = 56.0, 28.0
        cell = _fit_cell(self.width() - margin - 12, self.height() - margin - legend - 12, columns, rows)
        painter.setFont(_cell_font(cell))
        for j in range(columns):
            painter.setPen(QColor("#263238"))
            painter.drawText(QRectF(margin + j * cell, margin - cell, cell, cell),
                             Qt.AlignmentFlag.AlignCenter, f"x{j}")
        for i in range(rows):
            painter.setPen(QColor("#263238"))
            painter.drawText(QRectF(4, margin + i * cell, margin - 8, cell),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"out{i}")
            for j in range(columns):
                k = int(self.indices[i, j])
                rect = QRectF(margin + j * cell, margin + i * cell, cell, cell)
                if k < 0:
                    _draw_cell(painter, rect, "0", QColor("#ffffff"), text_color=QColor("#b0bec5"))
                else:
                    color = _WEIGHT_COLORS[k % len(_WEIGHT_COLORS)]
                    _draw_cell(painter, rect, engine.format_number(self.kernel[k]), color)
        y = margin + rows * cell + 10
        x = margin
        for k, weight in enumerate(self.kernel):
            rect = QRectF(x, y, cell, cell)
            _draw_cell(painter, rect, f"w{k}", _WEIGHT_COLORS[k % len(_WEIGHT_COLORS)])
            painter.setPen(QColor("#263238"))
            painter.drawText(QRectF(x + cell + 4, y, 3 * cell, cell), Qt.AlignmentFlag.AlignVCenter,
                             f"= {engine.format_number(weight)}")
            x += 4.5 * cell
        painter.end()


class QtExplainView(QWidget):
    """Edit an input, a kernel and the settings; step or play the window across the input."""

    sig_explanation_changed = Signal(object)
    sig_step_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None, operation: str = "conv2d"):
        super().__init__(parent)
        self.setWindowTitle("Explain: what a convolution computes")
        self.explanation: engine.Explanation | None = None
        self.step = 0
        self._timer = QTimer(self)
        self._timer.setInterval(700)
        self._timer.timeout.connect(self._advance)
        self._updating = False
        self._build()
        self._load_example(operation)

    @classmethod
    def for_layer(cls, layer_type: str, params: dict, parent: QWidget | None = None) -> QtExplainView:
        """A view prefilled with a conv or pool layer's settings on a small example input.

        Per-axis settings show their first value: the view's spin boxes are square.
        """
        operation = engine.operation_for_layer(layer_type)
        values = catalog.get(layer_type).resolved(params)
        view = cls(parent, operation)
        view._updating = True
        size = first_value(values.get("kernel_size", values.get("pool_size", 2)))
        stride = values.get("strides")
        view.size_spin.setValue(size)
        view.stride_spin.setValue(first_value(stride) if stride is not None else size)
        view.dilation_spin.setValue(first_value(values.get("dilation_rate", 1)))
        show_padding(view.padding_combo, view.padding_spin, values.get("padding", "valid"), "P zeros")
        if engine.OPERATIONS[operation][0] == "conv":
            view.kernel_edit.setPlainText(view._resized_kernel(size))
        view._fit_example_input()
        view._updating = False
        view.recompute()
        return view

    # --- building -------------------------------------------------------------------

    def _build(self) -> None:
        self.operation_combo = QComboBox()
        self.operation_combo.addItems(list(engine.OPERATIONS))
        self.input_edit = QPlainTextEdit()
        self.input_edit.setPlaceholderText("numbers separated by commas; one row per line (2D)")
        self.input_edit.setMaximumHeight(110)
        self.kernel_edit = QPlainTextEdit()
        self.kernel_edit.setMaximumHeight(80)
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, 15)
        self.stride_spin = QSpinBox()
        self.stride_spin.setRange(1, 10)
        self.padding_combo = QComboBox()
        self.padding_combo.addItems(["valid", "same", "P zeros"])
        self.padding_spin = QSpinBox()
        self.padding_spin.setRange(0, 10)
        self.dilation_spin = QSpinBox()
        self.dilation_spin.setRange(1, 8)
        padding_row = QHBoxLayout()
        padding_row.addWidget(self.padding_combo)
        padding_row.addWidget(self.padding_spin)

        form = QFormLayout()
        form.addRow("Operation", self.operation_combo)
        form.addRow("Input", self.input_edit)
        form.addRow("Kernel", self.kernel_edit)
        self.size_label = QLabel("Kernel size")
        form.addRow(self.size_label, self.size_spin)
        form.addRow("Stride", self.stride_spin)
        form.addRow("Padding", padding_row)
        form.addRow("Dilation", self.dilation_spin)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b71c1c;")
        self.formula_label = QLabel()
        self.formula_label.setWordWrap(True)
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #e65100;")
        controls = QVBoxLayout()
        controls.addLayout(form)
        controls.addWidget(self.formula_label)
        controls.addWidget(self.warning_label)
        controls.addWidget(self.error_label)
        controls.addStretch(1)
        side = QWidget()
        side.setLayout(controls)
        side.setMaximumWidth(340)

        self.canvas = QtExplainCanvas()
        self.equation_label = QLabel()
        self.equation_label.setWordWrap(True)
        self.equation_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        font.setPixelSize(14)
        self.equation_label.setFont(font)
        self.prev_button = QPushButton("◀ Previous")
        self.next_button = QPushButton("Next ▶")
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.step_slider = QSlider(Qt.Orientation.Horizontal)
        steps = QHBoxLayout()
        for widget in (self.prev_button, self.play_button, self.next_button):
            steps.addWidget(widget)
        steps.addWidget(self.step_slider, 1)
        window_tab = QWidget()
        window_layout = QVBoxLayout(window_tab)
        window_layout.addWidget(self.canvas, 1)
        window_layout.addWidget(self.equation_label)
        window_layout.addLayout(steps)

        self.matrix_canvas = QtConvMatrixCanvas()
        self.field_table = QTableWidget(0, 5)
        self.field_table.setHorizontalHeaderLabels(["Kernel", "Stride", "Dilation", "Receptive field", "Jump"])
        self.field_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.add_layer_button = QPushButton("Add layer")
        self.remove_layer_button = QPushButton("Remove layer")
        self.field_summary = QLabel()
        self.field_summary.setWordWrap(True)
        field_buttons = QHBoxLayout()
        field_buttons.addWidget(self.add_layer_button)
        field_buttons.addWidget(self.remove_layer_button)
        field_buttons.addStretch(1)
        field_tab = QWidget()
        field_layout = QVBoxLayout(field_tab)
        field_layout.addWidget(QLabel("Each row is a convolution (or a pooling: dilation 1) over the row above. "
                                      "Edit kernel, stride and dilation."))
        field_layout.addWidget(self.field_table, 1)
        field_layout.addLayout(field_buttons)
        field_layout.addWidget(self.field_summary)

        self.tabs = QTabWidget()
        self.tabs.addTab(window_tab, "Window by window")
        self.tabs.addTab(self.matrix_canvas, "Equivalent matrix (1D)")
        self.tabs.addTab(field_tab, "Receptive field")
        layout = QHBoxLayout(self)
        layout.addWidget(side)
        layout.addWidget(self.tabs, 1)
        self.resize(1100, 620)

        self.operation_combo.currentTextChanged.connect(self._load_example)
        self.input_edit.textChanged.connect(self.recompute)
        self.kernel_edit.textChanged.connect(self._kernel_edited)
        self.size_spin.valueChanged.connect(self._size_changed)
        for spin in (self.stride_spin, self.padding_spin, self.dilation_spin):
            spin.valueChanged.connect(self.recompute)
        self.padding_combo.currentTextChanged.connect(self.recompute)
        self.prev_button.clicked.connect(lambda: self.set_step(self.step - 1))
        self.next_button.clicked.connect(lambda: self.set_step(self.step + 1))
        self.play_button.toggled.connect(self._play_toggled)
        self.step_slider.valueChanged.connect(self.set_step)
        self.field_table.itemChanged.connect(self._field_edited)
        self.add_layer_button.clicked.connect(self._add_field_row)
        self.remove_layer_button.clicked.connect(self._remove_field_row)
        for _ in range(3):
            self._add_field_row()

    # --- public API -----------------------------------------------------------------

    @property
    def operation(self) -> str:
        return self.operation_combo.currentText()

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and self.isWindow():  # a dialog-like window: Escape closes it
            self.close()
            return
        super().keyPressEvent(event)

    def set_kernel(self, values) -> None:
        """Explain with a given kernel (a layer's trained one): a vector or a square grid of numbers."""
        array = np.asarray(values, dtype=np.float64)
        self._updating = True
        self.size_spin.setValue(int(array.shape[0]))
        self._updating = False
        self.kernel_edit.setPlainText(engine.format_values(array).replace("; ", "\n"))

    def set_input(self, values) -> None:
        """Explain on a real sample: a vector, a grid, or (H, W, C)/(L, C) whose first channel is used."""
        array = np.asarray(values, dtype=np.float64)
        kind, rank = engine.OPERATIONS[self.operation]
        if array.ndim == 3 or (array.ndim == 2 and rank == 1 and array.shape[-1] <= 4 < array.shape[0]):
            array = array[..., 0]
        if array.ndim not in (1, 2):
            self.error_label.setText(
                f"A sample must be a vector or a grid. Expected 1 or 2 axes (plus channels). "
                f"Received: shape={list(np.shape(values))}"
            )
            return
        if array.ndim != rank:
            prefix = {"conv": "conv", "max": "maxpool", "avg": "avgpool"}[kind]
            self.operation_combo.setCurrentText(f"{prefix}{array.ndim}d")
        self.input_edit.setPlainText(engine.format_values(array).replace("; ", "\n"))

    def set_step(self, step: int) -> None:
        """Show window ``step`` (row-major order over the output), clamped to the outputs."""
        if self.explanation is None:
            return
        step = max(0, min(int(step), len(self.explanation.windows) - 1))
        changed = step != self.step
        self.step = step
        self.step_slider.blockSignals(True)
        self.step_slider.setValue(step)
        self.step_slider.blockSignals(False)
        self.equation_label.setText(self.explanation.windows[step].equation)
        self.canvas.show_step(self.explanation, step)
        if changed:
            self.sig_step_changed.emit(step)

    def play(self, interval_ms: int | None = None) -> None:
        if interval_ms is not None:
            self._timer.setInterval(interval_ms)
        self.play_button.setChecked(True)

    def pause(self) -> None:
        self.play_button.setChecked(False)

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def recompute(self) -> None:
        """Re-run the layer on the current numbers and settings and redraw."""
        if self._updating:
            return
        kind, rank = engine.OPERATIONS[self.operation]
        try:
            x = engine.parse_values(self.input_edit.toPlainText(), rank, "input")
            kernel = engine.parse_values(self.kernel_edit.toPlainText(), rank, "kernel") if kind == "conv" else None
            self.explanation = engine.explain(
                self.operation, x, kernel,
                pool_size=self.size_spin.value(),
                strides=self.stride_spin.value(),
                padding=self._padding(),
                dilation_rate=self.dilation_spin.value(),
            )
        except engine.ExplainError as exc:
            self.explanation = None
            self.pause()
            self.error_label.setText(str(exc))
            self.formula_label.setText("")
            self.warning_label.setText("")
            self.equation_label.setText("")
            self.canvas.show_step(None, 0)
            self.matrix_canvas.show_matrix(None, None)
            self.sig_explanation_changed.emit(None)
            return
        e = self.explanation
        self.error_label.setText("")
        names = ("length",) if rank == 1 else ("height", "width")
        lines = [f"Output {n}: {f}" for n, f in zip(names, e.formulas, strict=True)]
        lines.append(f"Output size: {'×'.join(map(str, e.output.shape))}")
        self.formula_label.setText("\n".join(lines))
        self.warning_label.setText("\n".join(f"⚠ {w} (marked red)" for w in e.warnings))
        self.step_slider.setRange(0, len(e.windows) - 1)
        self._enable_matrix_tab(kind == "conv" and rank == 1)
        if kind == "conv" and rank == 1:
            self.matrix_canvas.show_matrix(e.kernel, engine.conv1d_weight_indices(
                e.window_shape[0], e.input.shape[0], e.strides[0], self._padding(), e.dilation[0]))
        else:
            self.matrix_canvas.show_matrix(None, None)
        self.step = min(self.step, len(e.windows) - 1)
        self.sig_explanation_changed.emit(e)
        self.set_step(self.step)

    # --- internals ------------------------------------------------------------------

    def _padding(self):
        return chosen_padding(self.padding_combo, self.padding_spin, "P zeros")

    def _load_example(self, operation: str) -> None:
        kind, rank = engine.OPERATIONS[operation]
        self._updating = True
        if self.operation_combo.currentText() != operation:
            self.operation_combo.setCurrentText(operation)
        is_conv = kind == "conv"
        self.kernel_edit.setEnabled(is_conv)
        self.dilation_spin.setEnabled(is_conv)
        self.size_label.setText("Kernel size" if is_conv else "Pool size")
        self.input_edit.setPlainText((_INPUT_1D if rank == 1 else _INPUT_2D).replace("; ", "\n"))
        self.kernel_edit.setPlainText((_KERNEL_1D if rank == 1 else _KERNEL_2D).replace("; ", "\n") if is_conv else "")
        self.size_spin.setValue(2 if rank == 1 or not is_conv else 3)
        self.stride_spin.setValue(1 if is_conv else 2)
        self.dilation_spin.setValue(1)
        self.padding_combo.setCurrentText("valid")
        self.padding_spin.setValue(1)
        self.step = 0
        self._updating = False
        self.recompute()

    def _enable_matrix_tab(self, on: bool) -> None:
        index = self.tabs.indexOf(self.matrix_canvas)
        self.tabs.setTabEnabled(index, on)
        self.tabs.setTabToolTip(index, "" if on else "The equivalent matrix is drawn for 1D convolutions: "
                                                     "choose conv1d to see it.")
        if not on and self.tabs.currentIndex() == index:
            self.tabs.setCurrentIndex(0)

    def _resized_kernel(self, size: int) -> str:
        """The kernel's text cropped or zero-extended to ``size`` (square in 2D), keeping its numbers."""
        rank = engine.OPERATIONS[self.operation][1]
        try:
            old = engine.parse_values(self.kernel_edit.toPlainText(), rank, "kernel")
        except engine.ExplainError:
            old = np.zeros((1,) * rank)
        new = np.zeros((size,) * rank)
        region = tuple(slice(0, min(a, size)) for a in old.shape)
        new[region] = old[region]
        return engine.format_values(new).replace("; ", "\n")

    def _fit_example_input(self) -> None:
        """Grow the example input when the layer's window would not fit on it."""
        kind, rank = engine.OPERATIONS[self.operation]
        span = (self.size_spin.value() - 1) * (self.dilation_spin.value() if kind == "conv" else 1) + 1
        needed = span + 2 * self.stride_spin.value()
        length = 7 if rank == 1 else 5
        if needed <= length:
            return
        shape = (needed,) * rank
        pattern = (np.indices(shape).sum(axis=0) % 3 == 0).astype(float)
        self.input_edit.setPlainText(engine.format_values(pattern).replace("; ", "\n"))

    def _size_changed(self, size: int) -> None:
        if self._updating:
            return
        if engine.OPERATIONS[self.operation][0] == "conv":
            self._updating = True
            self.kernel_edit.setPlainText(self._resized_kernel(size))
            self._updating = False
        self.recompute()

    def _kernel_edited(self) -> None:
        if self._updating:
            return
        rank = engine.OPERATIONS[self.operation][1]
        try:
            kernel = engine.parse_values(self.kernel_edit.toPlainText(), rank, "kernel")
        except engine.ExplainError:
            kernel = None
        if kernel is not None and kernel.shape[0] <= self.size_spin.maximum():
            self._updating = True
            self.size_spin.setValue(kernel.shape[-1] if rank == 1 else kernel.shape[0])
            self._updating = False
        self.recompute()

    def _advance(self) -> None:
        if self.explanation is None:
            self.pause()
            return
        self.set_step((self.step + 1) % len(self.explanation.windows))

    def _play_toggled(self, on: bool) -> None:
        self.play_button.setText("Pause" if on else "Play")
        if on and self.explanation is not None:
            self._timer.start()
        else:
            self._timer.stop()

    def _add_field_row(self) -> None:
        self.field_table.blockSignals(True)
        row = self.field_table.rowCount()
        self.field_table.insertRow(row)
        for column, value in enumerate((3, 1, 1)):
            self.field_table.setItem(row, column, QTableWidgetItem(str(value)))
        for column in (3, 4):
            item = QTableWidgetItem()
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.field_table.setItem(row, column, item)
        self.field_table.blockSignals(False)
        self._field_edited()

    def _remove_field_row(self) -> None:
        if self.field_table.rowCount() > 1:
            self.field_table.removeRow(self.field_table.rowCount() - 1)
            self._field_edited()

    def _field_edited(self, _item=None) -> None:
        stack = []
        conv = engine.layer_type_for(catalog.Explain.CONV, 1).name
        for row in range(self.field_table.rowCount()):
            cells = [self.field_table.item(row, c).text().strip() for c in range(3)]
            try:
                kernel, stride, dilation = (int(v) for v in cells)
            except ValueError:
                self.field_summary.setText(
                    f"Row {row + 1}: kernel, stride and dilation must be whole numbers. "
                    f"Received: {', '.join(cells)}")
                return
            stack.append({"name": f"layer {row + 1}", "type": conv,
                          "params": {"kernel_size": kernel, "strides": stride, "dilation_rate": dilation}})
        try:
            rows = engine.receptive_field_growth(stack, rank=1)
        except engine.ExplainError as exc:
            self.field_summary.setText(str(exc))
            return
        self.field_table.blockSignals(True)
        for row, growth in enumerate(rows):
            self.field_table.item(row, 3).setText(f"{growth.receptive_field[0]}×{growth.receptive_field[0]}")
            self.field_table.item(row, 4).setText(str(growth.jump[0]))
        self.field_table.blockSignals(False)
        last = rows[-1]
        self.field_summary.setText(
            f"After {len(rows)} layer{'s' if len(rows) > 1 else ''}, one output sees "
            f"{last.receptive_field[0]}×{last.receptive_field[0]} input cells; neighbouring outputs are "
            f"{last.jump[0]} cell{'s' if last.jump[0] > 1 else ''} apart.")
