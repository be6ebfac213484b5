"""The Activations tab: what every layer makes of one input, and where each unit looks.

Pick a validation example, an image file of one's own, or the training timeline's fixed
input; every layer's feature maps are shown below each other with the network's top
guesses. Clicking a unit outlines its receptive field, the input pixels it can see.
The model runs on a task's thread (``ui.tasks.LatestRunner``): turning the spin box quickly
asks for many inputs, and only the latest one is computed and drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.inspection import pictures
from cnnstudio.workspace.session import Workspace
from ui.inspection.shift_panel import QtShiftPanel
from ui.inspection.tile_grid import QtTileGrid
from ui.inspection.timeline_slider import QtTimelineSlider
from ui.resource_files import samples_folder
from ui.tasks import LatestRunner
from ui.widgets import refill_combo
from ui.workspace_signals import QtWorkspaceSignals

NO_MODEL = ("No trained network yet. Train the network (Train tab) to see what each layer makes "
            "of an input: its feature maps, its prediction and where each unit looks.")
SOURCE_VALIDATION = "Validation example"
SOURCE_FILE = "Image file"
SOURCE_TIMELINE = "Timeline input"
MAP_TARGET_PX = 56
INPUT_TARGET_PX = 240
MAPS_MARGIN = 8


@dataclass
class LayerSection:
    """One layer's feature maps: a title and a grid, one tile per channel."""

    name: str
    shape: tuple[int, ...]
    title: QLabel
    grid: QtTileGrid


@dataclass
class Look:
    """What the view draws for one input: every layer's output and its tiles, and the class probabilities."""

    sample: np.ndarray
    acts: dict[str, np.ndarray]
    tiles: dict[str, list[np.ndarray]]
    probs: np.ndarray
    truth_text: str
    truth: int | None = None


def look_inside(state, model, sample, truth_text: str, truth: int | None = None, acts=None) -> Look:
    """Run ``sample`` through ``model`` (unless a timeline snapshot gives ``acts``) and make the tiles."""
    from cnnstudio.inspection import probes

    if acts is None:
        acts = probes.activations(model, sample)
        probs = probes.probabilities(model, sample)
    else:
        probs = probes.as_probabilities(list(acts.values())[-1])
    state.check()
    tiles = {name: pictures.activation_tiles(a) for name, a in acts.items()}
    return Look(np.asarray(sample), acts, tiles, probs, truth_text, truth)


class QtActivationsView(QWidget):
    """Feature maps of every layer for one input, with the top-k prediction and receptive fields."""

    sig_updated = Signal()
    """The maps and the prediction show the input chosen last (or the view says what is missing)."""

    def __init__(self, workspace: Workspace, parent: QWidget | None = None, top_k: int = 3):
        super().__init__(parent)
        self.workspace = workspace
        self.top_k = top_k
        self.signals = QtWorkspaceSignals(workspace, self)
        self.runner = LatestRunner(self)
        self.sample: np.ndarray | None = None
        """The input drawn now."""
        self.image_sample: np.ndarray | None = None
        """The image file's pixels, converted to the network's input."""
        self.acts: dict[str, np.ndarray] = {}
        self.sections: dict[str, LayerSection] = {}
        self.image_path: str | None = None
        self.selected: tuple[str, int, int, int] | None = None
        self.box = None

        self.message = QLabel(NO_MODEL)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("font-size: 15px; padding: 24px;")
        self.source_combo = QComboBox()
        self.source_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.example_spin = QSpinBox()
        self.example_spin.setMinimumWidth(self.example_spin.fontMetrics().horizontalAdvance("00000") + 40)
        self.example_spin.setToolTip("Which validation example to feed the network")
        self.open_button = QPushButton("Open image…")
        self.open_button.setToolTip("Feed a picture of your own, resized to the network's input")
        self.timeline = QtTimelineSlider()
        self.input_grid = QtTileGrid()
        self.truth_label = QLabel()
        self.prediction_label = QLabel()
        self.prediction_label.setTextFormat(Qt.TextFormat.RichText)
        self.receptive_label = QLabel("Click a unit in a feature map to outline the input pixels it sees.")
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #b00020;")
        for label in (self.truth_label, self.prediction_label, self.receptive_label, self.error_label):
            label.setWordWrap(True)
        self.value_label = QLabel("Point at a feature map to read its values.")
        self.value_label.setStyleSheet("font-family: monospace;")

        source_row = QHBoxLayout()
        source_row.addWidget(QLabel("Input:"))
        source_row.addWidget(self.source_combo)
        source_row.addWidget(self.example_spin)
        source_row.addWidget(self.open_button)
        source_row.addStretch(1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addLayout(source_row)
        left_layout.addWidget(self.timeline)
        left_layout.addWidget(self.input_grid, 0, Qt.AlignmentFlag.AlignHCenter)
        for w in (self.truth_label, self.prediction_label, self.receptive_label, self.error_label):
            left_layout.addWidget(w)
        self.shift_panel = QtShiftPanel()
        left_layout.addWidget(self.shift_panel)
        left_layout.addStretch(1)
        left_scroll = QScrollArea()
        left_scroll.setWidgetResizable(True)
        left_scroll.setWidget(left)
        self.maps = QWidget()
        self.maps_layout = QVBoxLayout(self.maps)
        self.maps_layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.maps_layout.setContentsMargins(MAPS_MARGIN, MAPS_MARGIN, MAPS_MARGIN, MAPS_MARGIN)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.maps)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.scroll, 1)
        right_layout.addWidget(self.value_label)
        self.content = QSplitter(Qt.Orientation.Horizontal)
        self.content.addWidget(left_scroll)
        self.content.addWidget(right)
        self.content.setStretchFactor(1, 1)
        self.content.setSizes([380, 800])
        layout = QVBoxLayout(self)
        layout.addWidget(self.message)
        layout.addWidget(self.content, 1)

        self.source_combo.currentTextChanged.connect(lambda _text: self._on_source())
        self.example_spin.valueChanged.connect(lambda _value: self.show_input())
        self.open_button.clicked.connect(self.open_image_dialog)
        self.timeline.sig_index_changed.connect(lambda _i: self.show_input())
        self.signals.sig_model.connect(lambda _model: self.reload())
        self.signals.sig_dataset.connect(lambda _dataset: self.reload())
        self.signals.sig_epoch.connect(lambda _epoch, _logs: self._on_epoch())
        self.shift_panel.sig_shift_changed.connect(self.show_input)
        self.reload()

    # -- what to show --------------------------------------------------------------------------

    def show_validation_example(self, index: int) -> None:
        """Feed validation example ``index`` to the network (a click in the Results gallery)."""
        if self.workspace.validation_data(inputs_only=True) is None:
            return
        self.source_combo.setCurrentText(SOURCE_VALIDATION)
        if self.example_spin.value() == index:
            self.show_input()
        else:
            self.example_spin.setValue(index)  # which asks for its activations

    def reload(self) -> None:
        """A new model or data set: rebuild the input choices and the layer sections."""
        model = self.workspace.model
        self.message.setVisible(model is None)
        self.content.setVisible(model is not None)
        self._clear_sections()
        self.shift_panel.forget()
        if model is None:
            self.runner.cancel()
            self.sample, self.acts = None, {}
            self.sig_updated.emit()
            return
        dataset = self.workspace.validation_data(inputs_only=True)
        timeline = self.workspace.timeline
        sources = ([SOURCE_VALIDATION] if dataset is not None else []) + [SOURCE_FILE]
        if timeline is not None and len(timeline):
            sources.append(SOURCE_TIMELINE)
        refill_combo(self.source_combo, sources)
        if dataset is not None:
            self.example_spin.blockSignals(True)
            self.example_spin.setRange(0, len(dataset.x_val) - 1)
            self.example_spin.blockSignals(False)
        self.open_button.setEnabled(len(model.input_shape) == 4)
        self.shift_panel.set_rank(len(model.input_shape) - 2)
        self._on_source()

    def _on_source(self) -> None:
        source = self.source_combo.currentText()
        self.example_spin.setVisible(source == SOURCE_VALIDATION)
        self.open_button.setVisible(source == SOURCE_FILE)
        timeline = self.workspace.timeline
        if source == SOURCE_TIMELINE and timeline is not None:
            self.timeline.set_epochs(list(timeline.epochs))
        else:
            self.timeline.set_epochs([])
        self.show_input()

    def _on_epoch(self) -> None:
        if self.workspace.model is None:
            return
        timeline = self.workspace.timeline
        if self.source_combo.currentText() == SOURCE_TIMELINE and timeline is not None:
            self.timeline.set_epochs(list(timeline.epochs))
        self.show_input()

    def show_input(self) -> None:
        """Ask for the chosen input's activations (or a timeline snapshot's); drawn when they arrive."""
        model = self.workspace.model
        if model is None:
            return
        self.error_label.setText("")
        source = self.source_combo.currentText()
        dataset = self.workspace.validation_data(inputs_only=True)
        if source == SOURCE_TIMELINE and self.workspace.timeline is not None:
            timeline = self.workspace.timeline
            epoch, _, acts = timeline.at(self.timeline.index)
            text = "The input the timeline follows, " + (
                "before training." if epoch == 0 else f"as the network saw it after epoch {epoch}.")
            request = (timeline.fixed_input, text, None, acts)
        elif source == SOURCE_VALIDATION and dataset is not None:
            index = self.example_spin.value()
            truth = int(dataset.y_val[index])
            text = (f"Validation example {index} of {len(dataset.x_val)}; "
                    f"true class: <b>{self._class_name(truth)}</b>")
            request = (dataset.x_val[index], text, truth, None)
        elif source == SOURCE_FILE and self.image_sample is not None:
            request = (self.image_sample, f"Image file: {self.image_path}", None, None)
        else:
            self.runner.cancel()
            self._clear_sections()
            self.input_grid.set_tiles([])
            self.prediction_label.setText("")
            self.truth_label.setText("Open an image file (PNG, JPEG, GIF or BMP); it is resized to the "
                                     f"network's input of {_shape_text(model.input_shape[1:])}.")
            self.sig_updated.emit()
            return
        sample, text, truth, acts = request
        self.shift_panel.setEnabled(acts is None)
        if acts is None:  # a live input, not a recorded snapshot: it can be shifted
            key = (id(model), source, self.example_spin.value() if source == SOURCE_VALIDATION else self.image_path,
                   self.shift_panel.mode)
            self.shift_panel.measure(model, self.workspace.document.summary, sample, key)
            dx, dy = self.shift_panel.shift
            sample = self.shift_panel.apply(sample)
            if dx or dy:
                text += f", shifted by ({dx:+d}, {dy:+d}) pixels"
        self.runner.submit(look_inside, model, sample, text, truth, acts, on_done=self._show_look,
                           on_error=self._show_failure)

    def _show_look(self, look: Look) -> None:
        self.sample, self.acts = look.sample, look.acts
        self.truth_label.setText(look.truth_text)
        self._draw_input()
        self._draw_prediction(look.probs, look.truth)
        self._draw_sections(look.tiles)
        if self.selected is not None and self.selected[0] in self.sections:
            self.click_unit(*self.selected)
        else:
            self.selected, self.box = None, None
            self.receptive_label.setText("Click a unit in a feature map to outline the input pixels it sees.")
        self.sig_updated.emit()

    def _show_failure(self, exc: BaseException) -> None:
        self.error_label.setText(f"The network could not be run on this input: {type(exc).__name__}: {exc}")
        self.sig_updated.emit()

    def set_image_file(self, path: str) -> bool:
        """Feed the image at ``path``, resized and converted to the network's input."""
        model = self.workspace.model
        if model is None:
            return False
        height, width, channels = model.input_shape[1:]
        try:
            sample = pictures.load_image(path, size=(height, width), channels=channels)
        except (pictures.ImageError, ValueError) as exc:
            self.error_label.setText(str(exc))
            return False
        self.image_path, self.image_sample = str(path), sample
        if self.source_combo.currentText() != SOURCE_FILE:
            self.source_combo.setCurrentText(SOURCE_FILE)
        else:
            self.show_input()
        return True

    def open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", samples_folder(),
                                              "Images (*.png *.jpg *.jpeg *.gif *.bmp);;All files (*)")
        if path:
            self.set_image_file(path)

    # -- drawing ---------------------------------------------------------------------------

    def _class_name(self, index: int) -> str:
        dataset = self.workspace.validation_data(inputs_only=True)
        names = dataset.class_names if dataset is not None else None
        return names[index] if names is not None and index < len(names) else str(index)

    def _draw_input(self) -> None:
        picture = pictures.input_picture(self.sample)
        cell = max(1, INPUT_TARGET_PX // max(picture.shape[:2]))
        if picture.shape[0] < 8:  # a 1D strip: make its rows visible too
            cell = max(1, INPUT_TARGET_PX // picture.shape[1])
        self.input_grid.set_tiles([picture], cell=cell)

    def _draw_prediction(self, probs: np.ndarray, truth: int | None) -> None:
        order = np.argsort(-probs, kind="stable")[: self.top_k]
        rows = []
        for rank, i in enumerate(order):
            mark = ""
            if truth is not None and rank == 0:
                mark = " ✓ right" if i == truth else " ✗ wrong"
            bar = "█" * max(1, round(20 * probs[i]))
            rows.append(f"<tr><td><b>{self._class_name(int(i))}</b></td><td>{100 * probs[i]:5.1f}%</td>"
                        f"<td style='color:#2f6fb0'>{bar}</td><td>{mark}</td></tr>")
        self.prediction_label.setText(f"Top {len(order)} predictions:<table cellspacing='4'>{''.join(rows)}</table>")

    def _clear_sections(self) -> None:
        for section in self.sections.values():
            section.title.deleteLater()
            section.grid.deleteLater()
        self.sections = {}

    def _draw_sections(self, tiles_by_layer: dict[str, list[np.ndarray]]) -> None:
        shapes = {name: tuple(a.shape) for name, a in self.acts.items()}
        if {n: s.shape for n, s in self.sections.items()} != shapes:
            self._clear_sections()
            for name, shape in shapes.items():
                title = QLabel(f"<b>{name}</b> — {self._layer_type(name)}, output {_shape_text(shape)}")
                grid = QtTileGrid()
                grid.follow_width(self.scroll.viewport(), slack=2 * MAPS_MARGIN)
                grid.sig_clicked.connect(lambda t, r, c, n=name: self.click_unit(n, t, r, c))
                grid.sig_hovered.connect(lambda t, r, c, n=name: self._on_hovered(n, t, r, c))
                self.maps_layout.addWidget(title)
                self.maps_layout.addWidget(grid)
                self.sections[name] = LayerSection(name, shape, title, grid)
        for name, activation in self.acts.items():
            tiles = tiles_by_layer[name]
            height, tile_width = tiles[0].shape[:2]
            cell = int(np.clip(MAP_TARGET_PX // max(height, tile_width), 2, 12))
            if activation.ndim == 1:
                cell = 12
            grid = self.sections[name].grid
            grid.set_tiles(tiles, cell=cell)

    def _layer_type(self, name: str) -> str:
        try:
            return type(self.workspace.model.get_layer(name)).__name__
        except ValueError:
            return "layer"

    # -- pointing and clicking ---------------------------------------------------------------

    def unit_position(self, layer: str, tile: int, row: int, col: int) -> tuple[int, int | None, str]:
        """(row, col, description) of the unit under pixel (row, col) of ``tile`` in ``layer``'s grid."""
        a = self.acts[layer]
        if a.ndim == 3:
            return row, col, f"channel {tile}, row {row}, col {col}"
        if a.ndim == 2:
            return col, None, f"channel {row}, position {col}"
        unit = row * min(pictures.VECTOR_ROW, len(a)) + col
        return 0, (None if self.sample.ndim == 2 else 0), f"unit {unit}"

    def unit_value(self, layer: str, tile: int, row: int, col: int) -> float | None:
        a = self.acts[layer]
        if a.ndim == 3:
            return float(a[row, col, tile])
        if a.ndim == 2:
            return float(a[col, row])
        unit = row * min(pictures.VECTOR_ROW, len(a)) + col
        return float(a[unit]) if unit < len(a) else None

    def _on_hovered(self, layer: str, tile: int, row: int, col: int) -> None:
        value = self.unit_value(layer, tile, row, col) if tile >= 0 else None
        if value is None:
            self.value_label.setText("Point at a feature map to read its values.")
            return
        self.value_label.setText(f"{layer} {self.unit_position(layer, tile, row, col)[2]}: {value:+.4f}")

    def click_unit(self, layer: str, tile: int, row: int, col: int) -> None:
        """Outline ``layer``'s unit and, on the input, the receptive box it sees."""
        from cnnstudio.inspection import probes

        if self.unit_value(layer, tile, row, col) is None:
            return
        position_row, position_col, description = self.unit_position(layer, tile, row, col)
        try:
            box = probes.receptive_box(self.workspace.document.summary, layer, position_row, position_col)
        except ValueError as exc:
            self.error_label.setText(str(exc))
            return
        self.selected, self.box = (layer, tile, row, col), box
        for section in self.sections.values():
            section.grid.set_highlight(None)
        self.sections[layer].grid.set_highlight(tile, (row, col, row + 1, col + 1))
        rect = box.rect()
        if len(rect) == 4:
            self.input_grid.set_highlight(0, rect)
            top, left, bottom, right = rect
            where = f"rows {top}–{bottom - 1}, columns {left}–{right - 1}"
        else:
            start, stop = rect
            self.input_grid.set_highlight(0, (0, start, self.sample.shape[-1], stop))
            where = f"positions {start}–{stop - 1}"
        size = "×".join(str(s) for s in box.size)
        self.receptive_label.setText(f"<b>{layer}</b> {description} sees input {where} "
                                     f"(a {size} receptive field, outlined in orange).")


def _shape_text(shape) -> str:
    return "×".join(str(d) for d in shape)
