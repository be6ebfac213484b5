"""Beside the Filters tab's filters: what the clicked filter detects.

Shows the validation patches that excite the filter's channel most (its receptive field
cropped from the input, strongest first) and an image made by gradient ascent to excite it.
The engine computes both (:func:`cnnstudio.inspection.detectors.channel_report`) on a task
thread; the panel only draws them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cnnstudio.inspection import pictures
from ui.inspection.tile_grid import QtTileGrid
from ui.tasks import LatestRunner

HINT = "Click a filter to see the validation patches that excite it most and an image made for it."
PATCH_CELL = 6


class QtDetectorPanel(QWidget):
    """The top patches and the synthetic image of one channel, computed off the GUI thread."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = LatestRunner(self)
        self.report = None
        self.title = QLabel(HINT)
        self.title.setWordWrap(True)
        self.title.setStyleSheet("font-weight: bold;")
        self.patches_label = QLabel()
        self.patches_label.setWordWrap(True)
        self.patches = QtTileGrid()
        self.synthesis_label = QLabel()
        self.synthesis_label.setWordWrap(True)
        self.synthesis = QtTileGrid()
        layout = QVBoxLayout(self)
        for label, grid in ((self.patches_label, self.patches), (self.synthesis_label, self.synthesis)):
            layout.addWidget(label)
            layout.addWidget(grid, 0, Qt.AlignmentFlag.AlignLeft)
        layout.insertWidget(0, self.title)
        layout.addStretch(1)
        self.setMinimumWidth(300)

    def clear(self) -> None:
        self.runner.cancel()
        self.report = None
        self.title.setText(HINT)
        for label in (self.patches_label, self.synthesis_label):
            label.setText("")
        self.patches.set_tiles([])
        self.synthesis.set_tiles([])

    def show_channel(self, model, summary, layer: str, channel: int, images) -> None:
        """Start computing ``channel`` of ``layer``; ``images`` (the validation set) may be None."""
        from cnnstudio.inspection import detectors

        self.title.setText(f"What filter #{channel} of {layer} detects")
        self.patches_label.setText("Searching the validation set…" if images is not None else
                                   "No data set: train the network or open one to see the patches that excite it.")
        self.synthesis_label.setText("Making an image by gradient ascent…")
        self.patches.set_tiles([])
        self.synthesis.set_tiles([])
        self.runner.submit(detectors.channel_report, model, summary, layer, channel, images,
                           on_done=self._show, on_error=self._fail)

    def _show(self, report) -> None:
        self.report = report
        if report.patches:
            tiles = [pictures.input_picture(p.pixels, *report.value_range) for p in report.patches]
            captions = [f"#{p.image_index}: {p.activation:.2g}" for p in report.patches]
            side = max(report.patches[0].pixels.shape[:2])
            self.patches.set_tiles(tiles, captions, cell=max(2, 48 // side), columns=3)
            self.patches_label.setText(
                f"The {len(tiles)} validation images whose strongest unit fires most, cropped to its "
                f"receptive field of {'x'.join(str(s) for s in report.patches[0].box.size)} pixels "
                "(zeros where it reaches into the padding).")
        made = report.synthesis
        side = max(made.image.shape[:2])
        self.synthesis.set_tiles([pictures.input_picture(made.image, *report.value_range)],
                                 [f"{made.activations[0]:.2g} → {made.activations[-1]:.2g}"],
                                 cell=max(2, 96 // side))
        self.synthesis_label.setText(
            f"An input made for it: {len(made.activations) - 1} steps of gradient ascent from noise raise "
            f"the channel's mean activation from {made.activations[0]:.3g} to {made.activations[-1]:.3g}.")

    def _fail(self, error: BaseException) -> None:
        self.patches_label.setText(f"Could not look at this filter: {error}")
        self.synthesis_label.setText("")
