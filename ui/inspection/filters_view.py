"""The Filters tab: a convolution layer's kernels as pictures, and how they formed in training.

Every filter is one tile; a filter reading several channels shows one small square per
input channel inside its tile (blue below zero, white at zero, red above), a first layer
reading RGB shows its filter in colour. Pointing at a square tells the weight.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.inspection import pictures
from cnnstudio.network import catalog
from cnnstudio.workspace.session import Workspace
from ui.inspection.detector_panel import QtDetectorPanel
from ui.inspection.tile_grid import QtTileGrid
from ui.inspection.timeline_slider import QtTimelineSlider
from ui.widgets import refill_combo
from ui.workspace_signals import QtWorkspaceSignals

NO_MODEL = ("No trained network yet. Train the network (Train tab) to see its filters: "
            "each tile will show one filter of the chosen convolution layer.")
NO_CONV = ("This network has no convolution layer, so it has no filters to show. "
           f"Add a {' or '.join(t.name for t in catalog.CATALOG.values() if t.shape_rule == catalog.ShapeRule.CONVOLUTION)} "
           "layer in the Network tab and train again.")
UNTRAINED = ("These are the random initial weights: the network has not been trained yet. "
             "Train it (Train tab) and watch the filters take shape.")
TILE_TARGET_PX = 84
"""About how wide a filter's tile is drawn, whatever its kernel size and channel count."""
GAP_COLOR = (120, 120, 120)


class KernelTiles:
    """One tile per filter, with the weights behind every pixel (for the value under the cursor).

    Each tile holds the filter's views (one per input channel, or one colour view) in a
    near-square grid with one pixel of grey between them.
    """

    def __init__(self, pictures, kernel: np.ndarray):
        self.pictures = pictures
        filters, views, height, width = pictures.tiles.shape[:4]
        self.views, self.view_shape = views, (height, width)
        self.columns = 1 if views == 1 else math.ceil(math.sqrt(views))
        self.gap = 0 if views == 1 else 1
        self.one_d = kernel.ndim == 3
        if kernel.ndim == 3:  # 1D (filters, k, cin), drawn as (cin, k)
            self.values = np.transpose(kernel, (0, 2, 1))[:, None]
        elif pictures.color:  # (filters, kh, kw, 3): one view, an RGB triple per pixel
            self.values = kernel[:, None]
        else:  # (filters, kh, kw, cin) -> (filters, cin, kh, kw)
            self.values = np.moveaxis(kernel, -1, 1)
        self.tiles = [self._tile(f) for f in range(filters)]

    def _tile(self, f: int) -> np.ndarray:
        views = [pictures.to_uint8(v) for v in self.pictures.tiles[f]]
        if len(views) == 1:
            return views[0]
        return pictures.grid(views, columns=self.columns, gap=self.gap, background=GAP_COLOR)

    def locate(self, row: int, col: int) -> tuple[int, int, int] | None:
        """(view, row, col) of the kernel under pixel (row, col) of a tile, None on a gap."""
        height, width = self.view_shape
        step_r, step_c = height + self.gap, width + self.gap
        r, c = row - self.gap, col - self.gap
        if r < 0 or c < 0 or r % step_r >= height or c % step_c >= width:
            return None
        view = (r // step_r) * self.columns + c // step_c
        if view >= self.views:
            return None
        return view, r % step_r, c % step_c

    def value(self, f: int, view: int, row: int, col: int):
        return self.values[f, view, row, col]

    def cell(self) -> int:
        height, width = self.tiles[0].shape[:2]
        return int(np.clip(TILE_TARGET_PX // max(height, width), 4, 28))


class QtFiltersView(QWidget):
    """The kernels of the workspace model's convolution layers, refreshed as training goes."""

    def __init__(self, workspace: Workspace, parent: QWidget | None = None):
        super().__init__(parent)
        self.workspace = workspace
        self.signals = QtWorkspaceSignals(workspace, self)
        self.kernel_tiles: KernelTiles | None = None

        self.message = QLabel(NO_MODEL)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("font-size: 15px; padding: 24px; color: palette(window-text);")
        self.layer_combo = QComboBox()
        self.layer_combo.setMinimumWidth(220)
        self.layer_combo.setToolTip("The convolution layer whose filters are shown")
        self.shared_check = QCheckBox("Same colour scale for every filter")
        self.shared_check.setChecked(True)
        self.shared_check.setToolTip("On: compare filters with each other. Off: stretch each filter to "
                                     "its own range, to see its pattern however small its weights.")
        self.timeline = QtTimelineSlider()
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.grid = QtTileGrid()
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.grid)
        self.scroll.setWidgetResizable(False)
        self.grid.follow_width(self.scroll.viewport())
        self.value_label = QLabel("Point at a filter to read its weights.")
        self.value_label.setStyleSheet("font-family: monospace;")

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Layer:"))
        controls.addWidget(self.layer_combo)
        controls.addSpacing(16)
        controls.addWidget(self.shared_check)
        controls.addStretch(1)
        self.content = QWidget()
        body = QVBoxLayout(self.content)
        body.setContentsMargins(0, 0, 0, 0)
        for w in (self.note, self.legend):
            body.addWidget(w)
        body.addLayout(controls)
        body.addWidget(self.timeline)
        self.detector = QtDetectorPanel()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.scroll)
        split.addWidget(self.detector)
        split.setStretchFactor(0, 1)
        body.addWidget(split, 1)
        body.addWidget(self.value_label)
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.content, 1)

        self.layer_combo.currentTextChanged.connect(lambda _name: self._on_layer_changed())
        self.shared_check.toggled.connect(lambda _on: self.refresh())
        self.timeline.sig_index_changed.connect(lambda _i: self.refresh())
        self.grid.sig_hovered.connect(self._on_hovered)
        self.grid.sig_clicked.connect(lambda tile, _row, _col: self.explain_filter(tile))
        self.signals.sig_model.connect(lambda _model: self.reload())
        self.signals.sig_epoch.connect(lambda _epoch, _logs: self._on_epoch())
        self.reload()

    # -- state -------------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read the model's convolution layers (a new or discarded model)."""
        self.detector.clear()
        model = self._model()
        live = self._live_timeline()
        names = []
        if live is not None:
            names = list(live.at(-1)[1])
        elif model is not None:
            from cnnstudio.inspection import probes

            names = probes.conv_layers(model)
        refill_combo(self.layer_combo, names)
        self.refresh()

    def _model(self):
        """While a run is in progress the model it is training (None when it trains in a child
        process), else the trained model."""
        if self.workspace.is_training:
            return self.workspace.training_model
        return self.workspace.model

    def _live_timeline(self):
        """The timeline of the run in progress when it has snapshots and no model here: the
        run trains in a child process, which sends its kernels after each epoch."""
        timeline = self.workspace.training_timeline
        if self.workspace.training_model is None and timeline is not None and len(timeline):
            return timeline
        return None

    def _on_epoch(self) -> None:
        if self._model() is None and self._live_timeline() is None:
            return
        live = self._live_timeline()
        names = list(live.at(-1)[1]) if live is not None else None
        current = [self.layer_combo.itemText(i) for i in range(self.layer_combo.count())]
        if self.layer_combo.count() == 0 or (names is not None and names != current):
            self.reload()  # the first epoch of a run: the view has not seen this network's layers yet
        else:
            self.refresh()

    def _timeline_epochs(self, layer: str) -> list[int]:
        timeline = self.workspace.timeline
        if timeline is None or len(timeline) == 0 or layer not in timeline.at(0)[1]:
            return []
        return [timeline.at(i)[0] for i in range(len(timeline))]

    def _on_layer_changed(self) -> None:
        self.detector.clear()
        self.refresh()

    def explain_filter(self, index: int) -> None:
        """Show what filter ``index`` of the chosen layer detects (once training has ended)."""
        model, layer = self.workspace.model, self.layer_combo.currentText()
        if model is None or not layer:
            self.detector.title.setText("What a filter detects is shown once training has ended.")
            return
        self.detector.show_channel(model, self.workspace.document.summary, layer, index,
                                   self.workspace.validation_images())

    def refresh(self) -> None:
        """Redraw the chosen layer's filters at the chosen snapshot and scaling."""
        model = self._model()
        live = self._live_timeline()
        layer = self.layer_combo.currentText()
        if (model is None and live is None) or not layer:
            self.kernel_tiles = None
            self.grid.set_tiles([])
            self.message.setText(NO_MODEL if model is None and live is None else NO_CONV)
            self.message.show()
            self.content.hide()
            return
        from cnnstudio.inspection import probes
        from cnnstudio.models import export

        self.message.hide()
        self.content.show()
        self.timeline.set_epochs(self._timeline_epochs(layer))
        scaling = "shared" if self.shared_check.isChecked() else "per_filter"
        color = None
        if live is not None:
            index = self.timeline.index if not self.timeline.isHidden() else -1
            epoch, kernels_by_layer, _ = live.at(index)
            kernel = kernels_by_layer[layer]
            color = layer in live.color_layers
            self.note.setText("Training: the filters after epoch "
                              f"{epoch} of this run, refreshed after each epoch." if epoch else
                              "Training: the initial random weights of this run, before its first epoch.")
        elif not self.timeline.isHidden() and not self.timeline.is_latest:
            epoch, kernels_by_layer, _ = self.workspace.timeline.at(self.timeline.index)
            kernel = kernels_by_layer[layer]
            self.note.setText("Initial random weights, before training." if epoch == 0
                              else f"The filters as they were after epoch {epoch}.")
        else:
            kernel = probes.kernels(model, layer)
            scrub = " Drag the timeline to see them form." if not self.timeline.isHidden() else ""
            if self.workspace.model is None:
                self.note.setText("Training: the filters as they are now, refreshed after each epoch.")
            else:
                self.note.setText(UNTRAINED if export.untrained_warning(model) else f"The trained filters.{scrub}")
        pictures = probes.kernel_images(model, layer, scaling=scaling, kernel=kernel, color=color)
        self.kernel_tiles = tiles = KernelTiles(pictures, kernel)
        captions = [f"#{f}" for f in range(len(tiles.tiles))]
        self.grid.set_tiles(tiles.tiles, captions, cell=tiles.cell())
        self.legend.setText(self._legend(pictures, kernel))

    def _legend(self, pictures, kernel: np.ndarray) -> str:
        shape = "×".join(str(d) for d in kernel.shape[1:])
        filters = f"{len(kernel)} filters of {shape} weights"
        if pictures.color:
            how = "each drawn in colour: its red, green and blue weights tint the pixel"
        else:
            views = "" if kernel.ndim == 3 or kernel.shape[-1] == 1 else \
                f", one small square per input channel ({kernel.shape[-1]})"
            how = f"blue below zero, white at zero, red above{views}"
        if pictures.scaling == "shared":
            bound = float(np.max(np.abs(pictures.limits)))
            scale = f"one colour scale for all, ±{bound:.3g}"
        else:
            scale = "each filter stretched to its own largest weight"
        return f"{filters}; {how}; {scale}."

    # -- pointing ------------------------------------------------------------------------------

    def value_at(self, tile: int, row: int, col: int):
        """(view, kernel row, kernel col, weight) under pixel (row, col) of ``tile``, or None."""
        if self.kernel_tiles is None:
            return None
        found = self.kernel_tiles.locate(row, col)
        if found is None:
            return None
        view, r, c = found
        return view, r, c, self.kernel_tiles.value(tile, view, r, c)

    def _on_hovered(self, tile: int, row: int, col: int) -> None:
        found = self.value_at(tile, row, col) if tile >= 0 else None
        if found is None:
            self.value_label.setText("Point at a filter to read its weights.")
            return
        view, r, c, value = found
        layer = self.layer_combo.currentText()
        if self.kernel_tiles.pictures.color:
            rgb = ", ".join(f"{v:+.4f}" for v in np.ravel(value))
            self.value_label.setText(f"{layer} filter #{tile}, row {r}, col {c}: weights (R, G, B) = ({rgb})")
        elif self.kernel_tiles.one_d:
            self.value_label.setText(f"{layer} filter #{tile}, input channel {r}, position {c}: "
                                     f"weight = {float(value):+.4f}")
        else:
            self.value_label.setText(f"{layer} filter #{tile}, input channel {view}, row {r}, col {c}: "
                                     f"weight = {float(value):+.4f}")
