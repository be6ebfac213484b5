"""The Activations tab's shift controls: move the input and see what follows it.

Sliders shift the input by (dx, dy) pixels, so the feature maps above can be watched moving
with it; two plots show, for shifts of -4..4 pixels, each layer's equivariance error (how far
its maps differ from the unshifted maps moved by the same amount, away from the borders) and
how much the prediction changes. The numbers come from
:func:`cnnstudio.inspection.equivariance.shift_curves`, computed on a task thread.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QGroupBox, QLabel, QSlider, QVBoxLayout

import pyqtgraph as pg  # isort: skip  (after PySide6, so pyqtgraph binds to it)

from cnnstudio.inspection import equivariance
from ui.tasks import LatestRunner
from ui.widgets import legend_html, legend_label, pen_entry

RADIUS = 4
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
EXPLANATION = ("A stride-1 convolution follows a shift exactly away from the borders (error near 0). "
               "After a stride or pooling of step k, only shifts by multiples of k are followed; the "
               "prediction changing little under small shifts is the invariance pooling buys.")


class QtShiftPanel(QGroupBox):
    """Shift sliders and the equivariance and invariance plots for the current input."""

    sig_shift_changed = Signal()
    sig_measured = Signal()

    def __init__(self, parent=None):
        super().__init__("Shift the input", parent)
        self.runner = LatestRunner(self)
        self.curves: dict | None = None
        self._measured_key = None
        self.dx, self.dy = self._slider(), self._slider()
        self.dx_label, self.dy_label = QLabel(), QLabel()
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(equivariance.SHIFT_MODES)
        self.mode_combo.setToolTip("zeros: pixels shifted in are black; wrap: those shifted out come back in")
        self.error_plot = self._plot("Equivariance error", "relative error")
        self.change_plot = self._plot("Prediction change", "total variation")
        # the legends stand above their plots: inside, they hid the curves of the first shifts
        self.error_legend, self.change_legend = legend_label(), legend_label()
        self.status = QLabel(EXPLANATION)
        self.status.setWordWrap(True)
        grid = QGridLayout()
        for row, (name, slider, label) in enumerate((("dx", self.dx, self.dx_label), ("dy", self.dy, self.dy_label))):
            grid.addWidget(QLabel(name), row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(label, row, 2)
        grid.addWidget(QLabel("fill"), 2, 0)
        grid.addWidget(self.mode_combo, 2, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addWidget(self.error_legend)
        layout.addWidget(self.error_plot)
        layout.addWidget(self.change_legend)
        layout.addWidget(self.change_plot)
        layout.addWidget(self.status)
        self.dx.valueChanged.connect(self._on_shift)
        self.dy.valueChanged.connect(self._on_shift)
        self.mode_combo.currentTextChanged.connect(lambda _mode: self._on_mode())
        self.markers = [self._marker(self.error_plot), self._marker(self.change_plot)]
        self._on_shift()

    def _slider(self) -> QSlider:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(-RADIUS, RADIUS)
        slider.setPageStep(1)
        slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        return slider

    def _plot(self, title: str, unit: str) -> pg.PlotWidget:
        plot = pg.PlotWidget(background="w")
        plot.setTitle(title, size="9pt")
        plot.setLabel("bottom", "shift (pixels)")
        plot.setLabel("left", unit)
        # no "(x0.001)" scale in the axis label: the narrow column cuts it off; the ticks say 0.4
        plot.getAxis("left").enableAutoSIPrefix(False)
        plot.setFixedHeight(170)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        return plot

    def _marker(self, plot) -> pg.InfiniteLine:
        line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#999999", style=Qt.PenStyle.DashLine))
        plot.addItem(line)
        return line

    @property
    def shift(self) -> tuple[int, int]:
        return self.dx.value(), self.dy.value()

    @property
    def mode(self) -> str:
        return self.mode_combo.currentText()

    def set_rank(self, rank: int) -> None:
        """1 for sequences (only dx), 2 for images."""
        self.dy.setEnabled(rank == 2)
        if rank != 2:
            self.dy.setValue(0)

    def apply(self, sample):
        """``sample`` as the sliders shift it."""
        dx, dy = self.shift
        return equivariance.shift_input(sample, dx, dy, self.mode) if (dx or dy) else sample

    def measure(self, model, summary, sample, key) -> None:
        """Compute the curves for ``sample`` unless they are already those of ``key`` (the same input)."""
        if key == self._measured_key:
            return
        self._measured_key = key
        self.status.setText("Measuring shifts of -4..4 pixels…")
        self.runner.submit(equivariance.shift_curves, model, summary, sample, self.mode, RADIUS,
                           on_done=self._draw, on_error=self._fail)

    def forget(self) -> None:
        """The model or input source changed: the curves no longer apply."""
        self.runner.cancel()
        self._measured_key = None
        self.curves = None
        self.error_plot.clear()
        self.change_plot.clear()
        self.error_legend.clear()
        self.change_legend.clear()

    def _on_shift(self) -> None:
        dx, dy = self.shift
        self.dx_label.setText(f"{dx:+d}")
        self.dy_label.setText(f"{dy:+d}")
        for line in self.markers:
            line.setValue(dx if dx or not dy else dy)
        self.sig_shift_changed.emit()

    def _on_mode(self) -> None:
        self._measured_key = None
        self.sig_shift_changed.emit()

    def _draw(self, curves) -> None:
        self.curves = curves
        self.error_plot.clear()
        self.change_plot.clear()
        steps = list(range(-RADIUS, RADIUS + 1))
        spatial = [entry for entry in curves["x"].layers if entry.error[0] is not None]
        errors, changes = [], []
        for i, entry in enumerate(spatial):
            pen = pg.mkPen(PALETTE[i % len(PALETTE)], width=2)
            self.error_plot.plot(steps, entry.error, pen=pen, symbol="o", symbolSize=4,
                                 symbolBrush=PALETTE[i % len(PALETTE)])
            errors.append(pen_entry(pen, entry.name))
        for axis, style in (("x", Qt.PenStyle.SolidLine), ("y", Qt.PenStyle.DashLine)):
            if axis in curves:
                pen = pg.mkPen("#333333", width=2, style=style)
                self.change_plot.plot(steps, curves[axis].prediction_change, pen=pen)
                changes.append(pen_entry(pen, f"along {axis}"))
        self.error_legend.setText(legend_html(errors))
        self.change_legend.setText(legend_html(changes))
        for plot, line in zip((self.error_plot, self.change_plot), self.markers, strict=True):
            plot.addItem(line)
        unchanged = sum(curves["x"].same_class)
        self.status.setText(f"Across: the prediction keeps its class for {unchanged} of {len(steps)} shifts. "
                            + EXPLANATION)
        self.sig_measured.emit()

    def _fail(self, error: BaseException) -> None:
        self.status.setText(f"Could not measure the shifts: {error}")
        self.sig_measured.emit()
