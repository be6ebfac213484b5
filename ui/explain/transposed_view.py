"""The transposed-convolution explainer: step through the input cells and watch each one
scatter its scaled copy of the kernel into the output, where the copies add up.

The numbers come from the engine (``cnnstudio.inspection.transposed_explainer``), which runs
our own Conv1DTranspose/Conv2DTranspose and checks them against the scatter in numpy. For
1D settings, the Matrix tab shows the transposed convolution as a matrix whose columns are
shifted copies of the kernel: the transpose of the ordinary convolution's matrix.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.inspection import explainer as engine
from cnnstudio.inspection import transposed_explainer as transposed
from ui.explain.view import (
    _CURRENT_BG,
    _INPUT_BG,
    _KERNEL_BG,
    _OUTPUT_BG,
    _TAP_BG,
    QtConvMatrixCanvas,
    QtStepCanvas,
    _cell_font,
    _draw_cell,
    _fit_cell,
    chosen_padding,
    first_value,
    show_padding,
)

_EXAMPLE_1D = ("1, 2, -1", "1, -1, 2")
_EXAMPLE_2D = ("1, 2; 3, 0", "1, 0, 1; 0, 1, 0; 1, 0, 1")


class QtScatterCanvas(QtStepCanvas):
    """Paints the input (the scattering cell marked), the scaled kernel copy and the output so far."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, minimum=(480, 260))

    def _paint(self, painter: QPainter, e) -> None:
        grids = [np.atleast_2d(a) for a in (e.input, e.kernel, e.output)]
        scatter = e.scatters[self.step]
        copy = np.atleast_2d(e.kernel * scatter.value)
        sums = np.atleast_2d(transposed.partial_output(e, self.step + 1))
        margin, label = 12.0, 22.0
        columns = sum(g.shape[1] for g in grids) + 4
        cell = _fit_cell(self.width() - 2 * margin, self.height() - 2 * margin - label, columns,
                         max(g.shape[0] for g in grids))
        painter.setFont(_cell_font(cell))
        top, x = margin + label, margin
        origins = []
        for grid in grids:
            origins.append(x)
            x += (grid.shape[1] + 2) * cell
        current = scatter.input_index if e.rank == 2 else (0, scatter.input_index[0])
        reached = {p.output_index if e.rank == 2 else (0, p.output_index[0])
                   for p in scatter.placements if p.output_index is not None}
        for (r, c), value in np.ndenumerate(grids[0]):
            background = _CURRENT_BG if (r, c) == current else _INPUT_BG
            _draw_cell(painter, QRectF(origins[0] + c * cell, top + r * cell, cell, cell),
                       engine.format_number(value), background)
        for (r, c), value in np.ndenumerate(copy):
            _draw_cell(painter, QRectF(origins[1] + c * cell, top + r * cell, cell, cell),
                       engine.format_number(value), _KERNEL_BG)
        for (r, c), value in np.ndenumerate(sums):
            background = _TAP_BG if (r, c) in reached else _OUTPUT_BG
            _draw_cell(painter, QRectF(origins[2] + c * cell, top + r * cell, cell, cell),
                       engine.format_number(value), background)
        title = QFont()
        title.setPixelSize(13)
        title.setBold(True)
        painter.setFont(title)
        painter.setPen(QColor("#263238"))
        names = ("Input", f"Copy: {engine.format_number(scatter.value)}*kernel", "Output so far")
        for origin, text in zip(origins, names, strict=True):
            painter.drawText(QRectF(origin, top - label, 400, label - 4),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, text)


class QtTransposeExplainView(QWidget):
    """Input, kernel, stride, padding and output padding; a slider over the scattering cells."""

    def __init__(self, parent: QWidget | None = None, rank: int = 1):
        super().__init__(parent)
        self.setWindowTitle("Explain a transposed convolution")
        self.explanation: transposed.TransposeExplanation | None = None
        self.operation_combo = QComboBox()
        self.operation_combo.addItems(list(transposed.OPERATIONS))
        self.input_edit, self.kernel_edit = QLineEdit(), QLineEdit()
        self.stride_spin = QSpinBox()
        self.stride_spin.setRange(1, 8)
        self.stride_spin.setValue(2)
        self.padding_combo = QComboBox()
        self.padding_combo.addItems(["valid", "same", "P cropped"])
        self.padding_spin = QSpinBox()
        self.padding_spin.setRange(0, 8)
        self.output_padding_edit = QLineEdit()
        self.output_padding_edit.setPlaceholderText("from padding")
        self.step_slider = QSlider(Qt.Orientation.Horizontal)
        self.legend = QLabel("Green: the input cell that scatters now. Orange: the output cells its copy "
                             "adds to; the output shows the sum of the copies so far.")
        self.legend.setWordWrap(True)
        self.equation = QLabel()
        self.equation.setWordWrap(True)
        self.equation.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.formula = QLabel()
        self.error = QLabel()
        self.error.setStyleSheet("color: #c62828;")
        self.error.setWordWrap(True)
        self.canvas = QtScatterCanvas()
        self.matrix = QtConvMatrixCanvas()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.canvas, "Step by step")
        self.tabs.addTab(self.matrix, "Matrix (1D)")

        padding_row = QHBoxLayout()
        padding_row.addWidget(self.padding_combo)
        padding_row.addWidget(self.padding_spin)
        form = QFormLayout()
        form.addRow("Operation", self.operation_combo)
        form.addRow("Input", self.input_edit)
        form.addRow("Kernel", self.kernel_edit)
        form.addRow("Stride", self.stride_spin)
        form.addRow("Padding", padding_row)
        form.addRow("Output padding", self.output_padding_edit)
        form.addRow("Input cell", self.step_slider)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.legend)
        layout.addWidget(self.equation)
        layout.addWidget(self.formula)
        layout.addWidget(self.error)
        layout.addWidget(self.tabs, 1)

        self.operation_combo.currentTextChanged.connect(self._load_example)
        for edit in (self.input_edit, self.kernel_edit, self.output_padding_edit):
            edit.editingFinished.connect(self.recompute)
        self.stride_spin.valueChanged.connect(self.recompute)
        self.padding_combo.currentTextChanged.connect(self.recompute)
        self.padding_spin.valueChanged.connect(self.recompute)
        self.step_slider.valueChanged.connect(self.set_step)
        self._load_example(f"conv{rank}dtranspose")

    @classmethod
    def for_layer(cls, layer_type: str, params: dict, parent: QWidget | None = None) -> QtTransposeExplainView:
        """Prefilled with a Conv1DTranspose/Conv2DTranspose layer's stride, padding and output padding."""
        from cnnstudio.network import catalog

        values = catalog.get(layer_type).resolved(params)
        view = cls(parent, rank=catalog.get(layer_type).rank)

        view.stride_spin.setValue(first_value(values["strides"]))
        show_padding(view.padding_combo, view.padding_spin, values["padding"], "P cropped")
        if values["output_padding"] is not None:
            view.output_padding_edit.setText(str(first_value(values["output_padding"])))
        view.recompute()
        return view

    @property
    def rank(self) -> int:
        return transposed.OPERATIONS[self.operation_combo.currentText()]

    def _load_example(self, operation: str) -> None:
        if self.operation_combo.currentText() != operation:
            self.operation_combo.setCurrentText(operation)
            return
        example = _EXAMPLE_1D if transposed.OPERATIONS[operation] == 1 else _EXAMPLE_2D
        self.input_edit.setText(example[0])
        self.kernel_edit.setText(example[1])
        self.recompute()

    def _padding(self):
        return chosen_padding(self.padding_combo, self.padding_spin, "P cropped")

    def recompute(self) -> None:
        """Explain the current settings; a setting the engine refuses shows its message instead."""
        try:
            extra = self.output_padding_edit.text().strip()
            self.explanation = transposed.explain_conv_transpose(
                engine.parse_values(self.input_edit.text(), self.rank, "input"),
                engine.parse_values(self.kernel_edit.text(), self.rank, "kernel"),
                strides=self.stride_spin.value(), padding=self._padding(),
                output_padding=int(extra) if extra else None,
            )
        except ValueError as exc:
            self.explanation = None
            self.error.setText(str(exc))
            self.canvas.show_step(None, 0)
            self.matrix.show_matrix(None, None)
            return
        self.error.setText("")
        e = self.explanation
        axes = ("length",) if e.rank == 1 else ("height", "width")
        self.formula.setText("Output " + "; ".join(f"{a}: {f}" for a, f in zip(axes, e.formulas, strict=True)))
        self.step_slider.setRange(0, len(e.scatters) - 1)
        if e.rank == 1:
            self.matrix.show_matrix(e.kernel, transposed.conv1d_transpose_weight_indices(
                e.kernel.size, e.input.size, e.strides[0], self._padding(),
                int(extra) if extra else None, e.dilation[0]))
        else:
            self.matrix.show_matrix(None, None)
        self.set_step(min(self.step_slider.value(), len(e.scatters) - 1))

    def set_step(self, step: int) -> None:
        if self.explanation is None:
            return
        if self.step_slider.value() != step:
            self.step_slider.setValue(step)
            return
        self.equation.setText(self.explanation.scatters[step].equation)
        self.canvas.show_step(self.explanation, step)
