"""The Results tab: after training, which classes the network confuses and on which examples.

For a denoising (image-to-image) network it shows instead each validation image, its noisy
copy and the reconstruction side by side, with the errors of both against the clean image.

The confusion matrix counts the validation examples by true class (rows) and predicted
class (columns); the gallery shows the examples it got wrong, most confidently wrong first.
The engine (``probes.evaluate``) predicts them on a task's thread; the matrix fills in as
the batches come, so a large validation set never freezes the window.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.inspection import pictures
from cnnstudio.workspace.session import Workspace
from ui.inspection.tile_grid import QtTileGrid
from ui.tasks import LatestRunner
from ui.workspace_signals import QtWorkspaceSignals

NO_MODEL = ("No trained network yet. Train the network (Train tab) on a data set to see its "
            "confusion matrix and the validation examples it gets wrong.")
NO_DATA = ("The network has weights but no validation data to test them on. Train it (Train tab) "
           "on a data set to see its confusion matrix and its mistakes.")
PREDICTING = "Predicting the validation set…"
PREVIEW_ROWS = 10
"""Rows of a predicted file's submission shown before saving it."""
GALLERY_LIMIT = 48
THUMB_TARGET_PX = 72
LOW, HIGH = np.array([255, 255, 255]), np.array([31, 95, 168])


class QtConfusionMatrix(QWidget):
    """Counts in a coloured grid: rows are true classes, columns predicted ones.

    A cell's colour is its share of the row (white = none, dark blue = all of that class).
    Clicking a cell emits ``sig_cell_clicked(true, predicted)``.
    """

    sig_cell_clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.matrix = np.zeros((0, 0), np.int64)
        self.class_names: list[str] = []
        self._label_px = 12
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_matrix(self, matrix: np.ndarray, class_names: list[str]) -> None:
        """Show new counts; the layout changes only with the classes (counts arrive batch by batch)."""
        matrix = np.asarray(matrix, np.int64)
        names = [str(c) for c in class_names]
        resized = names != self.class_names or matrix.shape != self.matrix.shape
        self.matrix, self.class_names = matrix, names
        if resized:
            self._label_px = max((self.fontMetrics().horizontalAdvance(n) for n in names), default=0) + 12
            self.updateGeometry()
        self.update()

    def _label_width(self) -> int:
        return self._label_px

    def _layout(self) -> tuple[int, int, int]:
        """(cell size, left, top) of the grid."""
        n = max(1, len(self.matrix))
        title = self.fontMetrics().height() + 6
        left = title + self._label_width()
        top = title + self._label_width()
        cell = max(6, min(56, (self.width() - left - 8) // n, (self.height() - top - 8) // n))
        return cell, left, top

    def sizeHint(self) -> QSize:
        n = max(1, len(self.matrix))
        margin = self.fontMetrics().height() + 6 + self._label_width()
        return QSize(margin + 44 * n + 8, margin + 44 * n + 8)

    def cell_rect(self, true: int, predicted: int) -> QRect:
        cell, left, top = self._layout()
        return QRect(left + predicted * cell, top + true * cell, cell, cell)

    def cell_at(self, point) -> tuple[int, int] | None:
        """(true, predicted) of the cell under ``point``, or None."""
        cell, left, top = self._layout()
        n = len(self.matrix)
        col, row = (point.x() - left) // cell, (point.y() - top) // cell
        if 0 <= row < n and 0 <= col < n and point.x() >= left and point.y() >= top:
            return int(row), int(col)
        return None

    def mousePressEvent(self, event) -> None:
        found = self.cell_at(event.position().toPoint())
        if found is not None and event.button() == Qt.MouseButton.LeftButton:
            self.sig_cell_clicked.emit(*found)
        super().mousePressEvent(event)

    def paintEvent(self, event) -> None:
        if not len(self.matrix):
            return
        painter = QPainter(self)
        n = len(self.matrix)
        cell, left, top = self._layout()
        metrics = self.fontMetrics()
        title_h = metrics.height() + 6
        text = self.palette().windowText().color()
        rows = self.matrix.sum(axis=1, keepdims=True)
        share = np.divide(self.matrix, rows, out=np.zeros(self.matrix.shape), where=rows > 0)
        small = QFont(self.font())
        small.setPointSizeF(max(6.0, min(self.font().pointSizeF(), cell / 3.2)))
        for t in range(n):
            for p in range(n):
                rgb = (LOW + (HIGH - LOW) * share[t, p]).astype(int)
                rect = QRect(left + p * cell, top + t * cell, cell, cell)
                painter.fillRect(rect, QColor(*rgb))
                if t == p:
                    painter.setPen(QColor(40, 40, 40))
                    painter.drawRect(rect.adjusted(0, 0, -1, -1))
                if cell >= 18 and self.matrix[t, p]:
                    painter.setFont(small)
                    painter.setPen(QColor("white") if share[t, p] > 0.5 else QColor(30, 30, 30))
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(self.matrix[t, p]))
        painter.setFont(self.font())
        painter.setPen(text)
        label_w = self._label_width()
        for i, name in enumerate(self.class_names[:n]):
            painter.drawText(QRect(title_h, top + i * cell, label_w - 6, cell),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            painter.save()
            painter.translate(left + i * cell, top - 6)
            painter.rotate(-90)
            painter.drawText(QRect(0, 0, label_w - 6, cell), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             name)
            painter.restore()
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.drawText(QRect(left, 0, cell * n, title_h), Qt.AlignmentFlag.AlignCenter, "Predicted class")
        painter.save()
        painter.translate(0, top + cell * n)
        painter.rotate(-90)
        painter.drawText(QRect(0, 0, cell * n, title_h), Qt.AlignmentFlag.AlignCenter, "True class")
        painter.restore()
        painter.end()


def evaluate_validation(state, model, dataset, limit: int):
    """The model's Evaluation on the data set's validation part and the thumbnails of its mistakes."""
    from cnnstudio.inspection import probes

    evaluation = probes.evaluate(model, dataset.x_val, dataset.y_val, dataset.num_classes, limit=limit, state=state)
    return evaluation, [pictures.input_picture(dataset.x_val[m.index]) for m in evaluation.wrong]


def reconstruct_validation(state, model, dataset, limit: int):
    """A denoising model's Reconstruction of the validation images and one picture per example."""
    from cnnstudio.inspection import probes

    result = probes.reconstruct(model, dataset.x_val, limit=limit, state=state)
    return result, pictures.reconstruction_tiles(result.clean, result.noisy, result.rebuilt)


def predict_file_task(state, model, path: str):
    """The model's predictions for every image of a .csv or .npz file (Kaggle's test.csv)."""
    from cnnstudio.workspace.predictions import predict_file

    def progress(done: int, total: int) -> None:
        state.check()
        state.set_progress(done / max(total, 1), f"{done} of {total} images")

    return predict_file(model, path, progress=progress)


class QtPredictPanel(QWidget):
    """"Predict a file…": the model's predictions for a file of images, as Kaggle's submission.

    The prediction runs on a task's thread; the first rows are previewed, the accuracy shown
    when the file has labels, and "Save submission…" writes the ``ImageId,Label`` CSV.
    """

    sig_predicted = Signal()
    """A file was predicted (or failed): the preview and the message are up to date."""

    def __init__(self, workspace: Workspace, parent: QWidget | None = None):
        super().__init__(parent)
        self.workspace = workspace
        self.runner = LatestRunner(self)
        self.predictions = None
        self.predict_button = QPushButton("Predict a file…")
        self.predict_button.setToolTip("Predict every image of a .csv (Kaggle's test.csv) or .npz file with "
                                       "the trained network, then save Kaggle's ImageId,Label submission")
        self.predict_button.clicked.connect(self.choose_file)
        self.save_button = QPushButton("Save submission…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.choose_submission)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.preview = QTableWidget(0, 2)
        self.preview.setHorizontalHeaderLabels(["ImageId", "Label"])
        self.preview.verticalHeader().setVisible(False)
        self.preview.setMaximumHeight(220)
        self.preview.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.predict_button)
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.preview)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Predict a file of images", "",
                                              "Images to predict (*.csv *.npz);;All files (*)")
        if path:
            self.predict(path)

    def predict(self, path: str) -> None:
        model = self.workspace.model
        if model is None:
            self.status.setText("Train the network first (Train tab): there is no trained model to predict with.")
            return
        self.predictions = None
        self.save_button.setEnabled(False)
        self.status.setText(f"Predicting {path}…")
        self.runner.submit(predict_file_task, model, path, on_done=self._show,
                           on_error=self._show_failure,
                           on_progress=lambda fraction, message: self.status.setText(f"Predicting: {message}"))

    def _show(self, predictions) -> None:
        self.predictions = predictions
        rows = predictions.rows(PREVIEW_ROWS)
        self.preview.setRowCount(len(rows))
        for r, (image_id, label) in enumerate(rows):
            self.preview.setItem(r, 0, QTableWidgetItem(str(image_id)))
            self.preview.setItem(r, 1, QTableWidgetItem(str(label)))
        self.preview.show()
        text = f"{len(predictions.labels)} images predicted; the first {len(rows)} rows of the submission below."
        if predictions.accuracy is not None:
            right = int(round(predictions.accuracy * len(predictions.labels)))
            text += f" The file has labels: {right} of {len(predictions.labels)} right ({100 * predictions.accuracy:.2f}%)."
        text += "".join(f" {note}" for note in predictions.notes)
        self.status.setText(text)
        self.save_button.setEnabled(True)
        self.sig_predicted.emit()

    def _show_failure(self, exc: BaseException) -> None:
        self.status.setText(f"Cannot predict this file: {exc}")
        self.preview.hide()
        self.sig_predicted.emit()

    def choose_submission(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the submission", "submission.csv", "CSV (*.csv)")
        if path:
            self.save_submission(path)

    def save_submission(self, path: str) -> None:
        from cnnstudio.workspace.predictions import PredictionError, write_submission

        try:
            written = write_submission(self.predictions, path)
        except (PredictionError, OSError) as exc:
            self.status.setText(f"Cannot save the submission: {exc}")
            return
        self.status.setText(f"Saved {len(self.predictions.labels)} rows (ImageId,Label) to {written}.")


class QtResultsView(QWidget):
    """Confusion matrix and misclassified gallery of the workspace's model on its validation set."""

    sig_updated = Signal()
    """The matrix and the gallery show the current model's predictions (or why there are none)."""
    sig_open_example = Signal(int)
    """A gallery example was clicked: its index in the validation set, to open in Activations."""

    def __init__(self, workspace: Workspace, parent: QWidget | None = None):
        super().__init__(parent)
        self.workspace = workspace
        self.signals = QtWorkspaceSignals(workspace, self)
        self.runner = LatestRunner(self)
        self.matrix: np.ndarray | None = None
        self.wrong: list = []
        self.evaluation = None
        self.cell: tuple[int, int] | None = None
        """The matrix cell whose examples the gallery lists, or None for the mistakes."""
        self.shown: list[int] = []
        """The validation indices of the gallery's tiles, in order."""

        self.message = QLabel(NO_MODEL)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("font-size: 15px; padding: 24px;")
        self.accuracy_label = QLabel()
        self.accuracy_label.setWordWrap(True)
        self.matrix_view = QtConfusionMatrix()
        self.gallery_label = QLabel()
        self.gallery_label.setWordWrap(True)
        self.gallery = QtTileGrid()
        self.gallery_scroll = QScrollArea()
        self.gallery_scroll.setWidget(self.gallery)
        self.gallery.follow_width(self.gallery_scroll.viewport())
        gallery_box = QWidget()
        gallery_layout = QVBoxLayout(gallery_box)
        gallery_layout.setContentsMargins(0, 0, 0, 0)
        gallery_layout.addWidget(self.gallery_label)
        gallery_layout.addWidget(self.gallery_scroll, 1)
        matrix_box = QWidget()
        matrix_layout = QVBoxLayout(matrix_box)
        matrix_layout.setContentsMargins(0, 0, 0, 0)
        matrix_layout.addWidget(self.accuracy_label)
        matrix_layout.addWidget(self.matrix_view, 1)
        self.content = QSplitter(Qt.Orientation.Horizontal)
        self.content.addWidget(matrix_box)
        self.content.addWidget(gallery_box)
        self.content.setSizes([560, 600])
        self.predict_panel = QtPredictPanel(workspace)
        layout = QVBoxLayout(self)
        layout.addWidget(self.predict_panel)
        layout.addWidget(self.message)
        layout.addWidget(self.content, 1)

        self.matrix_view.setCursor(Qt.CursorShape.PointingHandCursor)
        self.matrix_view.setToolTip("Click a cell to list its examples; click it again for the mistakes")
        self.matrix_view.sig_cell_clicked.connect(self.show_cell)
        self.gallery.setToolTip("Click an example to open it in the Activations tab")
        self.gallery.sig_clicked.connect(self._on_tile_clicked)
        self.signals.sig_model.connect(lambda _model: self.refresh())
        self.signals.sig_dataset.connect(lambda _dataset: self.refresh())
        self.refresh()

    @staticmethod
    def _denoises(model) -> bool:
        from cnnstudio.network import tasks

        return tasks.model_task(model) == tasks.DENOISE

    def refresh(self) -> None:
        """Predict the validation set on a task's thread, then redraw the matrix and the gallery."""
        model, dataset = self.workspace.model, self.workspace.validation_data()
        if model is None or dataset is None:
            self.runner.cancel()
            self.matrix, self.wrong = None, []
            self.message.setText(NO_MODEL if model is None else NO_DATA)
            self.message.show()
            self.content.hide()
            self.sig_updated.emit()
            return
        self.message.hide()
        self.content.show()
        self.matrix, self.wrong, self.evaluation, self.cell, self.shown = None, [], None, None, []
        self.accuracy_label.setText(PREDICTING)
        self.gallery.set_tiles([])
        self.gallery_label.setText("")
        if self._denoises(model):
            self.matrix_view.hide()
            self.runner.submit(reconstruct_validation, model, dataset, GALLERY_LIMIT,
                               on_done=lambda result: self._show_reconstruction(dataset, *result),
                               on_error=self._show_failure)
            return
        self.matrix_view.show()
        self.runner.submit(evaluate_validation, model, dataset, GALLERY_LIMIT,
                           on_partial=lambda matrix: self._show_matrix(matrix, dataset, final=False),
                           on_done=lambda result: self._show_evaluation(dataset, *result),
                           on_error=self._show_failure)

    def _class_names(self, dataset, size: int) -> list[str]:
        names = [str(c) for c in dataset.class_names]
        return names + [str(i) for i in range(len(names), size)]

    def _show_matrix(self, matrix: np.ndarray, dataset, final: bool) -> None:
        total, right = int(matrix.sum()), int(np.trace(matrix))
        counted = (f"{right} of {total} right (<b>{100 * right / total:.1f}%</b> accuracy)" if total
                   else "no examples")
        if not final:
            counted += f", {len(dataset.x_val) - total} still to predict"
        self.accuracy_label.setText(
            f"<b>{dataset.name}</b> validation set: {counted}. Rows: the true class; columns: what the "
            "network predicted. The diagonal holds the right answers.")
        self.matrix_view.set_matrix(matrix, self._class_names(dataset, len(matrix)))

    def show_cell(self, true: int, predicted: int) -> None:
        """List the examples of one matrix cell in the gallery (the same cell again: the mistakes)."""
        evaluation, dataset = self.evaluation, self.workspace.validation_data()
        if evaluation is None or dataset is None:
            return
        if self.cell == (true, predicted):
            self.cell = None
            self._draw_gallery(dataset, evaluation.total - evaluation.right,
                               [pictures.input_picture(dataset.x_val[m.index]) for m in self.wrong])
            return
        self.cell = (true, predicted)
        found = evaluation.examples(true, predicted)
        shown = found[:GALLERY_LIMIT]
        names = self._class_names(dataset, len(self.matrix))
        what = "right" if true == predicted else "wrong"
        more = f" (the {len(shown)} most confident shown)" if len(found) > len(shown) else ""
        self.gallery_label.setText(f"<b>{len(found)} examples of {names[true]} predicted as {names[predicted]}</b> "
                                   f"({what}){more}. Click the cell again for all the mistakes.")
        captions = [f"{names[true]} → {names[predicted]}\n{100 * evaluation.confidence[i]:.0f}% sure" for i in shown]
        self._set_gallery([pictures.input_picture(dataset.x_val[i]) for i in shown], captions, shown)
        self.sig_updated.emit()

    def _set_gallery(self, tiles: list[np.ndarray], captions: list[str], indices: list[int]) -> None:
        self.shown = list(indices)
        if not tiles:
            self.gallery.set_tiles([])
            return
        height, width = tiles[0].shape[:2]
        self.gallery.set_tiles(tiles, captions, cell=max(1, THUMB_TARGET_PX // max(height, width)))

    def _on_tile_clicked(self, tile: int, _row: int, _col: int) -> None:
        if 0 <= tile < len(self.shown):
            self.sig_open_example.emit(self.shown[tile])

    def _show_evaluation(self, dataset, evaluation, thumbnails: list[np.ndarray]) -> None:
        self.evaluation, self.cell = evaluation, None
        self.matrix, self.wrong = evaluation.matrix, evaluation.wrong
        self._show_matrix(evaluation.matrix, dataset, final=True)
        self._draw_gallery(dataset, evaluation.total - evaluation.right, thumbnails)
        self.sig_updated.emit()

    def _show_reconstruction(self, dataset, result, tiles: list[np.ndarray]) -> None:
        better = "better than" if result.error < result.noisy_error else "no better than"
        self.accuracy_label.setText(
            f"<b>{dataset.name}</b> validation set, denoised: the reconstructions' mean squared error is "
            f"<b>{result.error:.4f}</b>, {better} the noisy inputs' {result.noisy_error:.4f}.")
        self.gallery_label.setText(f"<b>The first {len(tiles)} validation images</b>: input, noisy input "
                                   "and the network's reconstruction, side by side.")
        captions = [f"error {error:.4f}" for error in result.example_errors]
        cell = max(1, THUMB_TARGET_PX // tiles[0].shape[0]) if tiles else 1
        self.gallery.set_tiles(tiles, captions, cell=cell)
        self.sig_updated.emit()

    def _show_failure(self, exc: BaseException) -> None:
        self.accuracy_label.setText(f"The validation set could not be predicted: {type(exc).__name__}: {exc}")
        self.sig_updated.emit()

    def _draw_gallery(self, dataset, wrong_count: int, tiles: list[np.ndarray]) -> None:
        names = self._class_names(dataset, len(self.matrix))
        if not self.wrong:
            self._set_gallery([], [], [])
            self.gallery_label.setText("No mistakes on the validation set.")
            return
        shown = len(self.wrong)
        more = f" (the {shown} most confident shown)" if wrong_count > shown else ""
        self.gallery_label.setText(f"<b>{wrong_count} misclassified examples</b>{more}, most confidently "
                                   "wrong first: true class → predicted class (confidence).")
        captions = [f"{names[m.true]} → {names[m.predicted]}\n{100 * m.confidence:.0f}% sure" for m in self.wrong]
        self._set_gallery(tiles, captions, [m.index for m in self.wrong])
