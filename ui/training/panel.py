"""The Train tab: pick data and settings, train in a child process, watch live curves, compare runs.

Each run trains in a child process (``cnnstudio.workspace.training_process``) relayed by a
:class:`ui.training.worker.TrainingWorker` on a QThread; pressing Train during a run offers to
queue the next one. The window only draws: a QTimer polls the relayed
``TrainingState.snapshot()`` at 25 Hz and moves the new points into preallocated arrays
behind curves created once, so the window stays responsive however fast batches come.
Runs are kept with the project (``cnnstudio.workspace.runs``): saved at once when the project has a
file, otherwise held here and recorded on the next save.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QThread, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGraphicsItem,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

import pyqtgraph as pg  # isort: skip  (after PySide6, so pyqtgraph binds to it)

from cnnstudio.network.spec import NetworkSpec
from cnnstudio.workspace.document import DocumentError, NetworkDocument
from cnnstudio.workspace.project import ProjectError
from cnnstudio.workspace.session import Workspace
from ui.tasks import SHUTDOWN_TIMEOUT_S, Task
from ui.tensorflow_loader import after_tensorflow
from ui.training.settings_form import QtSettingsForm
from ui.training.worker import TrainingJob, TrainingOutcome, TrainingWorker, start_in_thread
from ui.widgets import MARKED_LINE, legend_html, legend_label, pen_entry

POLL_MS = 40
"""Curve refresh period: 25 Hz is smooth to the eye and cheap for the event loop."""
OPEN_FILE = "Open file…"
OPEN_FOLDER = "Open image folder…"
TRAIN_COLOR = (31, 119, 180)
VAL_COLOR = (255, 127, 14)
BATCH_COLOR = (90, 90, 90)
OVERLAY_COLORS = [(44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194)]


MESSAGE_LINES = 6
"""The most lines a run's message takes above the curves; a longer one scrolls."""
MIN_RUN_ROWS = 4
"""The runs list shows at least this many runs without scrolling the window."""
MAX_LISTED_RUNS = 500
"""The newest runs the list shows; older ones stay in the project file."""

class _GrowingSeries:
    """x/y points in preallocated arrays that double when full, so appends never reallocate per tick."""

    def __init__(self, capacity: int = 1024):
        self.x = np.empty(capacity)
        self.y = np.empty(capacity)
        self.size = 0

    def extend(self, points) -> None:
        if not points:
            return
        need = self.size + len(points)
        if need > len(self.x):
            capacity = max(need, 2 * len(self.x))
            self.x = np.resize(self.x, capacity)
            self.y = np.resize(self.y, capacity)
        block = np.asarray(points, dtype=float)
        self.x[self.size:need] = block[:, 0]
        self.y[self.size:need] = block[:, 1]
        self.size = need

    def clear(self) -> None:
        self.size = 0


@dataclass
class QueuedRun:
    """A run as asked for when Train was pressed: the network, data and settings then.
    ``resume`` continues from the latest weights when it starts (a queued run continues
    from the run before it)."""

    spec: Any
    data: str
    settings: Any
    resume: bool = False
    init_from: str | None = None
    """A .keras file to fine-tune from (when not resuming)."""


class QtTrainingPanel(QWidget):
    """Data, settings, Train/Stop, progress, live curves and the project's runs."""

    sig_started = Signal()
    sig_finished = Signal(object)
    """A run ended, its process and thread are gone and it is in the runs list: the
    :class:`TrainingOutcome` (emitted once per run, queued runs included)."""
    sig_message = Signal(str)
    sig_weights_loaded = Signal()
    """The latest run's weights of an opened project are in the workspace."""

    def __init__(self, document: NetworkDocument, workspace: Workspace, tensorflow_loader=None, parent=None):
        super().__init__(parent)
        self.document = document
        self.workspace = workspace
        self.tensorflow_loader = tensorflow_loader
        self.worker: TrainingWorker | None = None
        self.thread: QThread | None = None
        self._outcome: TrainingOutcome | None = None
        self._loader: Task | None = None
        """Building the network with an opened project's latest weights."""
        self._unsaved: list[TrainingOutcome] = []
        self.queue: list[QueuedRun] = []
        """Runs to start one after another when the current one ends."""
        self._dataset_cache: tuple | None = None
        """(what was loaded, the Dataset): the next run on the same data skips loading it."""
        self._overlays: dict[str, list] = {}
        self._batches = _GrowingSeries()
        self._epochs_drawn = -1
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._refresh)

        self._build_controls()
        self._build_plots()
        self._build_runs()
        # The form on the left; the curves and the runs beside it, where they have the width.
        # The form scrolls only in a window smaller than 1000x700 (never sideways).
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.controls)
        scroll.setMinimumWidth(self.controls.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
        self.form_scroll = scroll
        self.right_split = QSplitter(Qt.Orientation.Vertical)
        self.right_split.addWidget(self.plots)
        self.right_split.addWidget(self.runs_box)
        self.right_split.setStretchFactor(0, 3)
        self.right_split.setStretchFactor(1, 1)
        self.right_split.setSizes([480, 160])
        self.right_split.setChildrenCollapsible(False)
        right = QWidget()
        right_column = QVBoxLayout(right)
        right_column.setContentsMargins(0, 0, 0, 0)
        right_column.setSpacing(0)
        right_column.addWidget(self.run_status)
        right_column.addWidget(self.right_split, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(scroll)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([scroll.minimumWidth(), 1000])
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)

        document.events.changed.connect(self._on_document_changed)
        document.events.path.connect(self._on_path_changed)
        workspace.events.model.connect(lambda _model: self._update_buttons())
        if tensorflow_loader is not None:
            tensorflow_loader.sig_ready.connect(self._list_devices)
            if tensorflow_loader.is_ready:
                self._list_devices()
        self._load_project_settings()
        self._refresh_runs()
        self._update_buttons()

    # -- building ----------------------------------------------------------------------------

    def _build_controls(self) -> None:
        from cnnstudio.training.data import DATASETS

        self.controls = QWidget()
        column = QVBoxLayout(self.controls)
        column.setContentsMargins(4, 2, 4, 2)
        column.setSpacing(4)

        data_box = QGroupBox("Data")
        data_layout = QVBoxLayout(data_box)
        data_layout.setContentsMargins(6, 2, 6, 4)
        data_layout.setSpacing(2)
        self.data_combo = QComboBox()
        for name, description in DATASETS.items():
            self.data_combo.addItem(name, name)
            self.data_combo.setItemData(self.data_combo.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
        self.data_combo.insertSeparator(self.data_combo.count())
        self.data_combo.addItem(OPEN_FILE, OPEN_FILE)
        self.data_combo.addItem(OPEN_FOLDER, OPEN_FOLDER)
        self.data_combo.activated.connect(self._on_data_activated)
        self._data_index = 0
        self._data_shape: tuple | None = None
        self.data_label = QLabel("Loaded when training starts.")
        self.data_label.setWordWrap(True)
        self.fit_label = QLabel("")
        self.fit_label.setWordWrap(True)
        self.fit_label.setStyleSheet("color: #555;")
        self.set_input_button = QPushButton("")
        self.set_input_button.setToolTip("Change the network's input to the data's image size instead of padding")
        self.set_input_button.clicked.connect(self._set_input_to_data)
        data_layout.addWidget(self.data_combo)
        data_layout.addWidget(self.data_label)
        data_layout.addWidget(self.fit_label)
        data_layout.addWidget(self.set_input_button)
        column.addWidget(data_box)

        self.settings_form = QtSettingsForm()
        self.settings_form.widgets["device"].setToolTip(
            self.settings_form.widgets["device"].toolTip() + ". GPUs appear here once TensorFlow has loaded.")
        for attribute, widget in self.settings_form.named_widgets().items():
            setattr(self, attribute, widget)  # epochs_spin, optimizer_combo, momentum_spin, ...
        column.addWidget(self.settings_form)

        self.continue_check = QCheckBox("Continue from last weights")
        self.continue_check.setToolTip("Start from the trained weights of this network instead of fresh ones")
        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(self.start_training)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current batch and keep the weights")
        self.stop_button.clicked.connect(self.stop_training)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)
        self.init_from: str | None = None
        """A .keras file to start from (fine-tuning), or None."""
        self.init_button = QPushButton("Start from a model…")
        self.init_button.setToolTip("Start from a .keras model's weights: layers with the same names and weight "
                                    "shapes take them, the others start fresh (a new head for other classes)")
        self.init_button.clicked.connect(self._choose_init_from)
        self.init_clear = QPushButton("Fresh weights")
        self.init_clear.setToolTip("Start from fresh weights again")
        self.init_clear.clicked.connect(lambda: self.set_init_from(None))
        self.init_clear.hide()
        start_row = QHBoxLayout()
        start_row.addWidget(self.continue_check)
        start_row.addWidget(self.init_button, 1)
        start_row.addWidget(self.init_clear)
        column.addLayout(start_row)
        column.addLayout(buttons)

        self.progress = QProgressBar()
        self.progress.setFormat("Ready")
        self.progress.setValue(0)
        self.epoch_label = QLabel("Epoch –, batch –")
        self.speed_label = QLabel("– images/s")
        self.eta_label = QLabel("Time left –")
        self.device_label = QLabel("Device –")
        column.addStretch(1)
        # How the run goes, above its curves: the form's column keeps only what starts a run.
        self.run_status = QWidget()
        status_column = QVBoxLayout(self.run_status)
        status_column.setContentsMargins(0, 0, 0, 2)
        status_column.setSpacing(2)
        status_column.addWidget(self.progress)
        status = QHBoxLayout()
        for label in (self.epoch_label, self.speed_label, self.eta_label, self.device_label):
            status.addWidget(label)
            status.addSpacing(12)
        status.addStretch(1)
        status_column.addLayout(status)
        self.queue_label = QLabel("")
        self.queue_label.setWordWrap(True)
        self.queue_label.hide()
        status_column.addWidget(self.queue_label)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # a long error scrolls in its own few lines instead of squeezing the curves off the window
        message_area = QScrollArea()
        message_area.setWidgetResizable(True)
        message_area.setFrameShape(QFrame.Shape.NoFrame)
        message_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        message_area.setWidget(self.message)
        message_area.setMaximumHeight(MESSAGE_LINES * self.message.fontMetrics().lineSpacing() + 4)
        message_area.setSizeAdjustPolicy(QScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.message_area = message_area
        status_column.addWidget(message_area)

    def _build_runs(self) -> None:
        self.runs_box = QGroupBox("Runs (tick to overlay)")
        runs_layout = QVBoxLayout(self.runs_box)
        runs_layout.setContentsMargins(4, 2, 4, 4)
        self.runs_list = QListWidget()
        self.runs_list.setMinimumHeight(MIN_RUN_ROWS * self.runs_list.fontMetrics().lineSpacing() + 8)
        self.runs_list.itemChanged.connect(self._on_run_checked)
        runs_layout.addWidget(self.runs_list)

    def _build_plots(self) -> None:
        # One view per plot: a new batch repaints only its own plot, not the epoch plots.
        self.plot_widgets = [pg.PlotWidget(background="w", title=title) for title in (
            "Loss per batch", "Loss per epoch", "Accuracy per epoch")]
        self.batch_plot, self.loss_plot, self.acc_plot = (w.getPlotItem() for w in self.plot_widgets)
        for widget in self.plot_widgets:
            widget.setMinimumHeight(120)
        self.plots = QSplitter(Qt.Orientation.Vertical)
        epoch_row = QSplitter(Qt.Orientation.Horizontal)
        epoch_row.addWidget(self.plot_widgets[1])
        epoch_row.addWidget(self.plot_widgets[2])
        # One legend for both epoch plots, above them: inside a plot it would hide the curves.
        self.legend = legend_label()
        self.legend.setObjectName("curves_legend")
        epochs = QWidget()
        epochs_layout = QVBoxLayout(epochs)
        epochs_layout.setContentsMargins(0, 0, 0, 0)
        epochs_layout.setSpacing(0)
        epochs_layout.addWidget(self.legend)
        epochs_layout.addWidget(epoch_row, 1)
        self.plots.addWidget(self.plot_widgets[0])
        self.plots.addWidget(epochs)
        self.plots.setStretchFactor(0, 2)
        self.plots.setStretchFactor(1, 3)
        self.plots.setChildrenCollapsible(False)
        for plot, x_label in ((self.batch_plot, "batch"), (self.loss_plot, "epoch"), (self.acc_plot, "epoch")):
            plot.showGrid(x=True, y=True, alpha=0.3)
            for side in ("left", "bottom"):  # grid lines at the labelled ticks only: a line per
                plot.getAxis(side).setStyle(maxTickLevel=0)  # minor tick took most of each repaint
            plot.setLabel("bottom", x_label)
        self.batch_curve = self.batch_plot.plot(pen=pg.mkPen(BATCH_COLOR, width=1.5))
        symbol = {"symbol": "o", "symbolSize": 6}
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen(TRAIN_COLOR, width=2),
                                              symbolBrush=TRAIN_COLOR, **symbol)
        self.val_loss_curve = self.loss_plot.plot(pen=pg.mkPen(VAL_COLOR, width=2),
                                                  symbolBrush=VAL_COLOR, **symbol)
        self.acc_curve = self.acc_plot.plot(pen=pg.mkPen(TRAIN_COLOR, width=2),
                                            symbolBrush=TRAIN_COLOR, **symbol)
        self.val_acc_curve = self.acc_plot.plot(pen=pg.mkPen(VAL_COLOR, width=2),
                                                symbolBrush=VAL_COLOR, **symbol)
        for plot in (self.batch_plot, self.loss_plot, self.acc_plot):
            plot.disableAutoRange()
            # the panel sizes the axes to the run: a stray wheel or drag must not zoom them away
            plot.setMouseEnabled(x=False, y=False)
            # Axes (with their grid) and legends rarely change: Qt repaints them from a pixmap
            # instead of calling their Python paint, which waits for the GIL the training holds.
            for item in (plot.getAxis("left"), plot.getAxis("bottom")):
                item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._extents: dict = {}
        self._tick_spacing: dict = {}
        self._reset_ranges()
        self._show_legend()

    def _show_legend(self) -> None:
        """The legend line: this run's training and validation, then each ticked run's, in their pens' colours."""
        entries = [(QColor(*TRAIN_COLOR), MARKED_LINE, "training"), (QColor(*VAL_COLOR), MARKED_LINE, "validation")]
        for curves in self._overlays.values():
            seen = set()
            for _plot, curve in curves:
                if curve.name() not in seen:  # the loss and accuracy plots draw each run's curve alike
                    seen.add(curve.name())
                    entries.append(pen_entry(curve.opts["pen"], curve.name()))
        self.legend.setText(legend_html(entries))

    # -- state -------------------------------------------------------------------------------

    @property
    def is_training(self) -> bool:
        return self.worker is not None

    def data_source(self) -> str:
        """The built-in data set name or the file chosen."""
        return str(self.data_combo.itemData(self._data_index))

    def set_data_source(self, source: str) -> None:
        """Select a built-in data set or a file/folder path (added to the list once)."""
        index = self.data_combo.findData(source)
        if index < 0:
            index = self.data_combo.count() - 2
            self.data_combo.insertItem(index, Path(source).name, source)
            self.data_combo.setItemData(index, source, Qt.ItemDataRole.ToolTipRole)
        self._data_index = index
        self.data_combo.setCurrentIndex(index)
        self.update_fit()

    def update_fit(self) -> None:
        """Say how a built-in data set's images will meet the network's input: padded to it
        (LeNet-5's 32x32 from MNIST's 28x28), or the input set to theirs where the network
        stays valid; larger ones need "Resize". Files and folders are checked when training starts."""
        from cnnstudio.analysis.shapes import infer_shapes
        from cnnstudio.training.data import BUILTIN_SHAPES, format_shape

        data_shape = BUILTIN_SHAPES.get(self.data_source())
        net_shape = tuple(self.document.current.input_shape)
        self._data_shape = None
        self.fit_label.setText("")
        self.set_input_button.hide()
        if data_shape is None or data_shape == net_shape or len(data_shape) != 3 or len(net_shape) != 3:
            return
        data, net = format_shape(data_shape), format_shape(net_shape)
        if data_shape[2] == net_shape[2] and all(d <= n for d, n in zip(data_shape[:2], net_shape[:2], strict=True)):
            self.fit_label.setText(f"The {data} images will be padded with zeros to {net} (centred).")
        elif data_shape[2] == net_shape[2]:
            self.fit_label.setText(f"The {data} images are larger than the {net} input: tick Resize, "
                                   "or set the input to their size.")
        current = self.document.current  # analysed, not changed: its layers need no copy
        spec = NetworkSpec(input_shape=data_shape, layers=current.layers, name=current.name)
        if infer_shapes(spec).ok:  # the shapes decide it: the teaching warnings add no error
            self._data_shape = data_shape
            self.set_input_button.setText(f"Set the network's input to {data}")
            self.set_input_button.show()

    def _show_loaded_data(self, description: str) -> None:
        """The data set as loaded, how it met the input included: the forecast of update_fit is done."""
        self.data_label.setText(description)
        self.fit_label.setText("")

    def _set_input_to_data(self) -> None:
        if self._data_shape is not None:
            self.document.set_input_shape(self._data_shape)

    def settings(self):
        """The settings the widgets show; SettingsError names a setting the engine refuses."""
        return self.settings_form.settings()

    def show_settings(self, settings) -> None:
        self.settings_form.show_settings(settings)

    # -- training ----------------------------------------------------------------------------

    def start_training(self) -> bool:
        """Start a run in a child process; False (with the reason shown) if it cannot start.

        During a run, asks whether to queue this one; a queued run starts when the one
        before it ends (True when queued).
        """
        from cnnstudio.training.loop import SettingsError

        summary = self.document.summary
        if not summary.ok:
            from cnnstudio.analysis.triage import root_errors

            roots = root_errors(summary)
            self._show_error(f"The network has {len(roots)} error(s). Fix them in the Network "
                             f"tab before training: {roots[0].message}")
            return False
        try:
            settings = self.settings()
        except SettingsError as exc:
            self._show_error(str(exc))
            return False
        queued = QueuedRun(spec=self.document.spec, data=self.data_source(), settings=settings,
                           resume=self.continue_check.isChecked(), init_from=self.init_from)
        if self.is_training:
            return self._ask_to_queue(queued)
        self._start(queued)
        return True

    def _ask_to_queue(self, queued: QueuedRun) -> bool:
        answer = QMessageBox.question(
            self, "A run is in progress",
            f"A run is training now. Queue this one ({queued.settings.epochs} epoch(s) on "
            f"{Path(queued.data).name}) to start when it ends?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.queue.append(queued)
        self._show_queue()
        return True

    def _show_queue(self) -> None:
        count = len(self.queue)
        self.queue_label.setText(f"{count} run(s) queued: each starts when the one before it ends." if count else "")
        self.queue_label.setVisible(bool(count))

    def _start(self, queued: QueuedRun) -> None:
        settings = queued.settings
        initial, resumed_from = self._initial_weights() if queued.resume else (None, None)
        job = TrainingJob(spec=queued.spec, data=queued.data, settings=settings,
                          initial_weights=initial, resumed_from=resumed_from,
                          init_from=None if initial is not None else queued.init_from)
        key = _data_key(job)
        same_data = self._dataset_cache is not None and self._dataset_cache[0] == key
        batches = 1
        if same_data:
            job.dataset = self._dataset_cache[1]
            batches = math.ceil(len(job.dataset.x_train) / settings.batch_size)
        self._clear_curves(settings.epochs, batches, keep_loss_scale=same_data)
        self.progress.setRange(0, 0)
        self.worker = TrainingWorker(job)
        self.worker.sig_dataset.connect(self._show_loaded_data)
        self.worker.sig_epoch.connect(self._on_epoch)
        self.worker.sig_model_built.connect(self.workspace.training_started)
        self.worker.sig_finished.connect(self._on_worker_finished)
        self._update_buttons()
        self._show_info("Starting the training process…")
        self.thread = start_in_thread(self.worker, self)
        self.thread.finished.connect(self._on_thread_finished)
        self._poll.start()
        self.sig_started.emit()
        # The child trains without the window's TensorFlow; the window needs it only to show
        # the trained model afterwards, so the worker waits for the loader only then.
        after_tensorflow(self.tensorflow_loader, self.worker.tensorflow_ready.set, self._on_tensorflow_failed)

    def _on_tensorflow_failed(self, error: str) -> None:
        if self.worker is not None:
            self.worker.tensorflow_error = error
            self.worker.tensorflow_ready.set()

    def stop_training(self) -> None:
        """Stop after the current batch, without a validation pass; the weights trained so far are kept."""
        if self.worker is not None:
            self.worker.request_stop()
            self.stop_button.setEnabled(False)
            self._show_info("Stopping after the current batch…")

    def shutdown(self) -> None:
        """Drop the queue, stop any run and wait for the threads (the window is closing).

        Runs held for an unsaved project are written first when the close prompt's Save just gave
        it a file (the deferred recording would come after the window is gone)."""
        self._record_unsaved()
        self.queue.clear()
        self._show_queue()
        self.stop_training()
        if self.worker is not None:
            self.worker.skip_model()  # nothing will show it, and the loader's signal cannot arrive now
        if self.thread is not None:
            self.thread.wait()
        if self._loader is not None:
            self._loader.wait(SHUTDOWN_TIMEOUT_S)
        self._poll.stop()

    def set_init_from(self, path: str | None) -> None:
        """Start the next runs from the weights of the .keras file ``path`` (None: fresh weights)."""
        self.init_from = path
        self.init_button.setText(f"Start from {Path(path).name}" if path else "Start from a model…")
        self.init_clear.setVisible(path is not None)

    def _choose_init_from(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Start from a model", os.path.expanduser("~"),
                                              "Keras models (*.keras);;All files (*)")
        if path:
            self.set_init_from(path)

    def _initial_weights(self):
        if not self.continue_check.isChecked():
            return None, None
        if self.workspace.model is not None:
            runs = self._all_runs()
            return self.workspace.model.get_weights(), (runs[-1][0] if runs else None)
        from cnnstudio.workspace.runs import latest_weights

        found = latest_weights(self.document.project)
        if found is None:
            return None, None
        record, path = found
        return str(path), record.id

    def _on_epoch(self, epoch: int, logs: dict) -> None:
        self.workspace.epoch_ended(epoch, logs)

    def _on_worker_finished(self, outcome: TrainingOutcome) -> None:
        self._outcome = outcome

    def _on_thread_finished(self) -> None:
        """The run's thread ended (its child is gone): show the outcome, emit ``sig_finished``
        (a run finished: the project has a new run), then start the next queued run."""
        self.thread.wait()
        self._poll.stop()
        self._refresh()
        outcome, self._outcome = self._outcome, None
        self.thread.deleteLater()
        self.worker.deleteLater()
        self.thread = self.worker = None
        self.progress.setRange(0, 100)
        self.workspace.training_ended()
        self._apply_outcome(outcome)
        self._update_buttons()
        self.sig_finished.emit(outcome)
        if self.queue and not self.is_training:
            self._start(self.queue.pop(0))
            self._show_queue()

    def _apply_outcome(self, outcome: TrainingOutcome) -> None:
        result = outcome.result
        if outcome.dataset is not None:
            self._dataset_cache = (_data_key(outcome.job), outcome.dataset)
            self.workspace.set_dataset(outcome.dataset)
        if result is None:
            self.progress.setFormat("Not started")
            self._show_error(outcome.message or "Training did not start.")
            return
        if result.model is not None and result.epochs_completed + len(result.history.get("loss", [])) > 0:
            if self.document.current.to_dict() == outcome.job.spec.to_dict():
                self.workspace.set_model(result.model, outcome.timeline)
            else:
                outcome.notes.append("The network was edited during training, so the trained weights are "
                                     "kept with the run but not shown in the inspection views.")
        saved = self._keep_run(outcome)
        metrics = result.metrics()
        summary = ", ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in metrics.items() if v is not None)
        lines = []
        if result.status == "failed":
            self.progress.setFormat("Failed")
            lines.append(result.error)
        elif result.status == "stopped":
            self.progress.setFormat("Stopped — weights kept")
            lines.append(f"Stopped after {result.epochs_completed} full epoch(s); the weights trained so far are kept.")
        else:
            self.progress.setFormat("Done")
            self.progress.setValue(100)
            epochs = result.epochs_completed
            lines.append(f"Trained {epochs} epoch{'' if epochs == 1 else 's'} in {result.seconds:.1f} s on {result.device}.")
        if summary:
            lines.append(summary)
        lines += result.notes + outcome.notes
        lines.append(saved)
        if result.status == "failed":
            self._show_error("\n".join(lines))
        else:
            self._show_info("\n".join(lines))

    # -- runs ----------------------------------------------------------------------------------

    def _keep_run(self, outcome: TrainingOutcome) -> str:
        """Record the run with the project now if it has a file, else at its next save."""
        if outcome.result is None or outcome.result.model is None:
            return ""
        if self.document.path is None:
            self._unsaved.append(outcome)
            # a run is an unsaved change: the title gets its "*" and closing asks first
            self.document.set_training({**outcome.job.settings.to_dict(), "dataset": outcome.job.data})
            self._refresh_runs()
            return "Save the project to keep this run and its weights."
        try:
            record = self._record(outcome)
            self.document.save()
        except (DocumentError, ProjectError, OSError) as exc:
            return f"The run could not be saved with the project: {exc}"
        finally:
            self._refresh_runs()
        return f"Saved as {record.id} with {Path(self.document.path).name}."

    def _record(self, outcome: TrainingOutcome):
        from cnnstudio.workspace.runs import record_run

        project = self.document.project
        record = record_run(project, outcome.result, outcome.job.data, outcome.started,
                            resumed_from=outcome.job.resumed_from, save=False, timeline=outcome.timeline)
        self.document.add_run(record.to_dict())
        self.document.set_training({**outcome.job.settings.to_dict(), "dataset": outcome.job.data})
        return record

    def _on_path_changed(self, path) -> None:
        if path and self._unsaved:
            QTimer.singleShot(0, self._record_unsaved)

    def _record_unsaved(self) -> None:
        """The project just got a file: write the runs trained before, with their weights."""
        if self.document.path is None or not self._unsaved:
            return
        pending, self._unsaved = self._unsaved, []
        try:
            for outcome in pending:
                self._record(outcome)
            self.document.save()
            self._show_info(f"Saved {len(pending)} run(s) and their weights with {Path(self.document.path).name}.")
        except (DocumentError, ProjectError, OSError) as exc:
            self._show_error(f"The runs could not be saved with the project: {exc}")
        self._refresh_runs()

    def unsaved_run_records(self) -> list[dict]:
        """The runs not yet saved with the project, as run records without weights (for recovery)."""
        from cnnstudio.workspace.runs import describe_run, next_run_id

        project = self.document.project
        records = []
        for outcome in self._unsaved:
            record = describe_run(outcome.result, outcome.job.data, outcome.started, next_run_id(project),
                                  resumed_from=outcome.job.resumed_from)
            project.runs.append(record.to_dict())
            records.append(record.to_dict())
        return records

    def _all_runs(self) -> list[tuple[str, str, dict, dict]]:
        """(id, label, settings, history) of the project's runs and those not saved yet."""
        from cnnstudio.workspace.runs import list_runs

        rows = []
        for record in list_runs(self.document.project)[-MAX_LISTED_RUNS:]:
            rows.append((record.id, _run_label(record.id, record.dataset, record.settings, record.history,
                                               record.status), record.settings, record.history))
        for k, outcome in enumerate(self._unsaved, start=1):
            result = outcome.result
            run_id = f"unsaved-{k}"
            rows.append((run_id, _run_label(run_id, outcome.job.data, result.settings.to_dict(), result.history,
                                            result.status), result.settings.to_dict(), result.history))
        return rows

    def _refresh_runs(self) -> None:
        checked = {self.runs_list.item(i).data(Qt.ItemDataRole.UserRole)
                   for i in range(self.runs_list.count())
                   if self.runs_list.item(i).checkState() == Qt.CheckState.Checked}
        self.runs_list.blockSignals(True)
        self.runs_list.clear()
        self._histories = {}
        older = len(self.document.project.runs) - MAX_LISTED_RUNS
        if older > 0:  # a project with 190,000 runs: list the newest, say how many more there are
            note = QListWidgetItem(f"{older:,} older runs are kept in the project file, not listed here")
            note.setFlags(Qt.ItemFlag.NoItemFlags)
            self.runs_list.addItem(note)
        for run_id, label, _settings, history in self._all_runs():
            item = QListWidgetItem(label)
            item.setToolTip(label)
            item.setData(Qt.ItemDataRole.UserRole, run_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if run_id in checked else Qt.CheckState.Unchecked)
            self.runs_list.addItem(item)
            self._histories[run_id] = history
        self.runs_list.blockSignals(False)
        for run_id in list(self._overlays):
            if run_id not in checked or run_id not in self._histories:
                self._remove_overlay(run_id)
        self._update_buttons()

    def _on_run_checked(self, item: QListWidgetItem) -> None:
        run_id = item.data(Qt.ItemDataRole.UserRole)
        if item.checkState() == Qt.CheckState.Checked:
            self.overlay_run(run_id)
        else:
            self._remove_overlay(run_id)

    def overlay_run(self, run_id: str) -> None:
        """Draw a run's epoch curves dashed and faded behind the current ones."""
        if run_id in self._overlays or run_id not in self._histories:
            return
        history = self._histories[run_id]
        color = OVERLAY_COLORS[len(self._overlays) % len(OVERLAY_COLORS)]
        curves = []
        for plot, keys in ((self.loss_plot, ("loss", "val_loss")), (self.acc_plot, ("accuracy", "val_accuracy"))):
            for key in keys:
                values = np.array([np.nan if v is None else v for v in history.get(key, [])], dtype=float)
                if not len(values):
                    continue
                validation = key.startswith("val")
                style = Qt.PenStyle.DashLine if validation else Qt.PenStyle.DotLine
                # the live curves' colour for training or validation, tinted by the run's own
                base = VAL_COLOR if validation else TRAIN_COLOR
                tint = tuple((a + b) // 2 for a, b in zip(base, color, strict=True))
                pen = pg.mkPen((*tint, 170), width=1.5, style=style)
                curve = plot.plot(np.arange(1, len(values) + 1), values, pen=pen,
                                  name=f"{run_id} {'validation' if key.startswith('val') else 'training'}",
                                  connect="finite")
                curve.setZValue(-1)
                curves.append((plot, curve))
                self._grow_range(plot, len(values), np.nanmax(values) if np.isfinite(values).any() else 0)
        self._overlays[run_id] = curves
        self._show_legend()

    def _remove_overlay(self, run_id: str) -> None:
        for plot, curve in self._overlays.pop(run_id, []):
            plot.removeItem(curve)
        self._show_legend()

    # -- refresh -------------------------------------------------------------------------------

    def _reset_ranges(self, epochs: int = 1, batches: int = 1, keep_loss_scale: bool = False) -> None:
        """Axes from zero, sized for the run about to start and grown only when data leaves them.

        A moved axis redraws its ticks, the costliest repaint here, so a run like the last one
        (same length, same data: ``keep_loss_scale``) starts with the axes it already has.
        """
        old = dict(self._extents)
        self._extents.clear()
        loss_high = {plot: old.get(plot, (0, 1.0))[1] if keep_loss_scale else 1.0
                     for plot in (self.batch_plot, self.loss_plot)}
        self._set_range(self.batch_plot, epochs * batches, loss_high[self.batch_plot])
        self._set_range(self.loss_plot, epochs, loss_high[self.loss_plot])
        self._set_range(self.acc_plot, epochs, 1.0)
        for curves in self._overlays.values():
            for plot, curve in curves:
                x, y = curve.getData()
                self._grow_range(plot, len(x), np.nanmax(y) if np.isfinite(y).any() else 0)

    def _grow_range(self, plot, x_high: float, y_high: float) -> None:
        """Widen ``plot`` to show x up to ``x_high`` and y from 0 to ``y_high`` (accuracy stays 0..1)."""
        old_x, old_y = self._extents.get(plot, (0, 0))
        if plot is self.acc_plot:
            y_high = 1.0
        elif y_high > old_y:
            y_high *= 1.15
        x_high, y_high = max(old_x, x_high), max(old_y, float(y_high) if np.isfinite(y_high) else 0)
        if (x_high, y_high) != (old_x, old_y):
            self._set_range(plot, x_high, y_high)

    def _set_range(self, plot, x_high: float, y_high: float) -> None:
        """Show x up to ``x_high`` and y from 0 to ``y_high``; an unchanged axis is not redrawn."""
        self._extents[plot] = (x_high, y_high)
        if plot is not self.batch_plot:  # whole epochs: a tick per epoch while they fit
            spacing = (1, 1) if x_high <= 20 else ()
            if self._tick_spacing.get(plot) != spacing:
                self._tick_spacing[plot] = spacing
                plot.getAxis("bottom").setTickSpacing(*spacing)
        x_range = (0, x_high) if plot is self.batch_plot else (0.5, x_high + 0.5)
        plot.setRange(xRange=x_range, yRange=(0, y_high), padding=0.02)

    def _clear_curves(self, epochs: int = 1, batches: int = 1, keep_loss_scale: bool = False) -> None:
        self._batches.clear()
        self._epochs_drawn = -1
        for curve in (self.batch_curve, self.loss_curve, self.val_loss_curve, self.acc_curve, self.val_acc_curve):
            curve.setData([], [])
        self._reset_ranges(epochs, batches, keep_loss_scale)
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        for label, text in ((self.epoch_label, "Epoch –, batch –"), (self.speed_label, "– images/s"),
                            (self.eta_label, "Time left –"), (self.device_label, "Device –")):
            label.setText(text)

    def _refresh(self) -> None:
        """Poll the training state: progress labels, new batch losses and the epoch curves."""
        if self.worker is None:
            return
        latest, batch_losses, history = self.worker.state.snapshot()
        if latest is None:
            return
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 100)
            self._show_info("Training…")
        total = latest.epochs * latest.batches
        done = (latest.epoch - 1) * latest.batches + latest.batch
        self.progress.setValue(int(100 * done / total) if total else 0)
        self.progress.setFormat(f"Epoch {latest.epoch}/{latest.epochs} — %p%")
        self.epoch_label.setText(f"Epoch {latest.epoch} of {latest.epochs}, batch {latest.batch} of {latest.batches}")
        if latest.compiling:
            self.speed_label.setText("compiling…")
            self.eta_label.setText("Time left: after compilation")
        else:
            self.speed_label.setText(f"{latest.images_per_second:,.0f} images/s")
            self.eta_label.setText(f"Time left {_duration(latest.eta_seconds)}")
        self.device_label.setText(f"Device {latest.device}")
        self._grow_range(self.loss_plot, latest.epochs, 0)
        self._grow_range(self.acc_plot, latest.epochs, 1)
        if len(batch_losses) > self._batches.size:
            new = batch_losses[self._batches.size:]
            self._batches.extend(new)
            n = self._batches.size
            finite = [loss for _, loss in new if math.isfinite(loss)]
            self._grow_range(self.batch_plot, total, max(finite, default=0))
            self.batch_curve.setData(self._batches.x[:n], self._batches.y[:n])
        epochs = len(history.get("loss", []))
        if epochs != self._epochs_drawn:
            self._epochs_drawn = epochs
            x = np.arange(1, epochs + 1)
            for curve, key in ((self.loss_curve, "loss"), (self.val_loss_curve, "val_loss"),
                               (self.acc_curve, "accuracy"), (self.val_acc_curve, "val_accuracy")):
                values = np.asarray(history.get(key, []), dtype=float)
                curve.setData(x[:len(values)], values)
                if key.endswith("loss") and np.isfinite(values).any():
                    self._grow_range(self.loss_plot, epochs, np.nanmax(np.where(np.isfinite(values), values, np.nan)))

    def _update_buttons(self) -> None:
        """Train stays on during a run (it offers to queue the next one, with the settings the
        form shows then); Stop is on only during a run."""
        training = self.is_training
        self.train_button.setEnabled(True)
        self.train_button.setToolTip("Queue another run to start when this one ends" if training
                                     else "Train the network with these settings")
        self.stop_button.setEnabled(training and not self.worker.state.stop_requested)
        has_weights = self.workspace.model is not None or self._has_saved_weights()
        self.continue_check.setEnabled(has_weights or training)
        if not has_weights and not training:
            self.continue_check.setChecked(False)

    def _has_saved_weights(self) -> bool:
        from cnnstudio.workspace.runs import latest_weights

        return latest_weights(self.document.project) is not None

    def _show_error(self, text: str) -> None:
        self.message.setStyleSheet("color: #b00020;")
        self.message.setText(text)
        self.sig_message.emit(text.splitlines()[0] if text else "")

    def _show_info(self, text: str) -> None:
        self.message.setStyleSheet("")
        self.message.setText(text)

    # -- data and devices ------------------------------------------------------------------------

    def _on_data_activated(self, index: int) -> None:
        choice = self.data_combo.itemData(index)
        if choice == OPEN_FILE:
            path, _ = QFileDialog.getOpenFileName(self, "Open data", os.path.expanduser("~"),
                                                  "Data files (*.csv *.npz);;All files (*)")
        elif choice == OPEN_FOLDER:
            path = QFileDialog.getExistingDirectory(self, "Open a folder of class subfolders",
                                                    os.path.expanduser("~"))
        else:
            self._data_index = index
            self.data_label.setText(self.data_combo.itemData(index, Qt.ItemDataRole.ToolTipRole) or choice)
            self.update_fit()
            return
        if path:
            self.set_data_source(path)
            self.data_label.setText(f"{path} (checked when training starts)")
        else:
            self.data_combo.setCurrentIndex(self._data_index)

    def _list_devices(self) -> None:
        """Offer gpu:K for each GPU TensorFlow sees (called once TensorFlow has loaded)."""
        import tensorflow as tf

        for k, _gpu in enumerate(tf.config.list_physical_devices("GPU")):
            self.settings_form.offer("device", f"gpu:{k}")

    # -- the document -------------------------------------------------------------------------------

    def _on_document_changed(self, label: str) -> None:
        self.update_fit()
        if label != "Open":
            self._update_buttons()
            return
        self._unsaved.clear()
        for run_id in list(self._overlays):
            self._remove_overlay(run_id)
        if not self.is_training:
            self._clear_curves()
            self.progress.setFormat("Ready")
        self._load_project_settings()
        self._refresh_runs()
        if self.runs_list.count():  # a reopened project shows its latest run's curves
            self.runs_list.item(self.runs_list.count() - 1).setCheckState(Qt.CheckState.Checked)
        self._load_latest_weights()

    def _load_project_settings(self) -> None:
        from cnnstudio.training.loop import SettingsError, TrainingSettings
        from cnnstudio.workspace.runs import project_settings

        try:
            settings, dataset = project_settings(self.document.project)
        except SettingsError as exc:
            settings, dataset = TrainingSettings(), None
            self._show_error(f"The project's training settings were not used: {exc}")
        self.show_settings(settings)
        if dataset:
            self.set_data_source(dataset)
        else:
            self.set_data_source(_default_data(self.document.spec.input_shape))

    def _load_latest_weights(self) -> None:
        """Put the latest run's weights of the opened project in the workspace, built off the GUI thread."""
        from cnnstudio.workspace.runs import latest_weights

        found = latest_weights(self.document.project)
        if found is None or self._loader is not None:
            return
        record, path = found
        self._show_info(f"Loading the weights of {record.id}…")
        self._loader = Task(load_trained_model, self.document.spec, str(path))
        self._loader.sig_done.connect(self._on_weights_loaded)
        self._loader.sig_error.connect(self._on_weights_refused)
        self._loader.sig_finished.connect(self._on_loader_finished)
        self._loaded_spec = self.document.current.to_dict()
        self._loaded_run = record.id
        after_tensorflow(self.tensorflow_loader, self._loader.start, self._on_tensorflow_refused_weights)

    def _on_weights_loaded(self, model) -> None:
        if self.document.current.to_dict() == self._loaded_spec:
            self.workspace.set_model(model)
            self._show_info(f"Loaded the weights of {self._loaded_run}.")

    def _on_weights_refused(self, exc: BaseException) -> None:
        self._show_error(f"The weights of {self._loaded_run} do not fit this network: {exc}")

    def _on_tensorflow_refused_weights(self, error: str) -> None:
        self._loader.cancel()
        self._show_error(error)

    def _on_loader_finished(self) -> None:
        self._loader = None
        self._update_buttons()
        self.sig_weights_loaded.emit()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.tensorflow_loader is not None and not self.tensorflow_loader.is_ready:
            self.tensorflow_loader.ensure()


def load_trained_model(state, spec, weights_path: str):
    """The network built with a run's saved weights (on a task's thread)."""
    from cnnstudio.models.importer import rebuild_from_file

    return rebuild_from_file(spec, weights_path)


def _default_data(input_shape) -> str:
    """The built-in data set that fits an input shape: digits for 8x8x1, MNIST-1D for 40x1, the offline
    mnist-5k for 28x28x1 and for LeNet-5's 32x32x1 (padded), cifar10 for 32x32x3, else digits."""
    shape = tuple(input_shape)
    return {(8, 8, 1): "digits", (40, 1): "mnist1d", (28, 28, 1): "mnist-5k", (32, 32, 1): "mnist-5k",
            (32, 32, 3): "cifar10"}.get(shape, "digits")


def _data_key(job: TrainingJob) -> tuple:
    """What a loaded data set depends on; a file's modification time catches edits on disk."""
    path = Path(job.data)
    stamp = path.stat().st_mtime_ns if path.exists() else None
    return (job.data, stamp, job.validation_split, job.settings.seed, tuple(job.spec.input_shape))


def _run_label(run_id, dataset, settings, history, status) -> str:
    val = [v for v in history.get("val_accuracy", []) if v is not None]
    acc = f", val acc {val[-1]:.3f}" if val else ""
    epochs = len(history.get("loss", []))
    return (f"{run_id} · {Path(str(dataset)).name} · {settings.get('optimizer', '?')} "
            f"lr {settings.get('learning_rate', 0):g} · {epochs} ep{acc} · {status}")


def _duration(seconds) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"
