"""The summary table: every layer's output shape, parameters, receptive field and cost, with totals.

A view on a table model whose rows are read from the analysis only when the view shows them,
so a network of 100,000 layers opens as fast as one of ten (a widget item per cell took minutes).
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QItemSelectionModel, QModelIndex, QSignalBlocker, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from cnnstudio.analysis.dense_equivalent import compare_with_dense
from cnnstudio.analysis.triage import waiting_on
from cnnstudio.network.spec import INPUT
from cnnstudio.workspace.document import NetworkDocument
from ui.formatting import (
    exact_count,
    format_count,
    format_receptive_field,
    format_shape,
    issues_for,
)

COLUMNS = ("Layer", "Type", "Output shape", "Params", "As fully connected", "Receptive field", "MACs", "Status")
NUMERIC = ("Params", "As fully connected", "MACs")
_ERROR_BG = QColor("#fde2e2")
_WARNING_BG = QColor("#fff3d6")
_CACHED_ROWS = 4096
"""Rows whose text is kept once read (those around the view); the rest are read again when shown."""


class SummaryModel(QAbstractTableModel):
    """The rows of the summary table: the input, one per layer, then the totals."""

    def __init__(self, document: NetworkDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.names: list[str] = [INPUT]
        self.rows_of: dict[str, int] = {INPUT: 0}
        self._dense: dict = {}
        self._cache: dict[int, tuple[tuple[str, ...], dict[int, str], str | None]] = {}
        self._bold = QFont()
        self._bold.setBold(True)

    def reload(self) -> None:
        """Read the document's network again (after an edit): only the layer names now, the rest when shown."""
        self.beginResetModel()
        self.names = [INPUT, *(layer.name for layer in self.document.current.layers)]
        self.rows_of = {name: row for row, name in enumerate(self.names)}
        self._dense = compare_with_dense(self.document.summary)
        self._cache.clear()
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.names) + 1

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        texts, tips, severity = self.row(index.row())
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return texts[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return texts[column] if column == len(COLUMNS) - 1 else tips.get(column)
        if role == Qt.ItemDataRole.TextAlignmentRole and COLUMNS[column] in NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.BackgroundRole and severity:
            return _ERROR_BG if severity == "error" else _WARNING_BG
        if role == Qt.ItemDataRole.FontRole and index.row() == len(self.names):
            return self._bold
        return None

    def row(self, r: int) -> tuple[tuple[str, ...], dict[int, str], str | None]:
        """The texts, tooltips (by column) and severity of row ``r``."""
        if r not in self._cache:
            if len(self._cache) >= _CACHED_ROWS:
                self._cache.clear()
            self._cache[r] = self._read_row(r)
        return self._cache[r]

    def _read_row(self, r: int):
        spec, summary = self.document.current, self.document.summary
        if r == 0:
            return (INPUT, "Input", format_shape(spec.input_shape), "", "", "1", "", ""), {}, None
        if r == len(self.names):
            network_issues = [i for i in summary.issues if i.layer is None]
            tips = {COLUMNS.index("Params"): f"{exact_count(summary.total_params)} parameters",
                    COLUMNS.index("MACs"): f"{exact_count(summary.macs)} multiply-accumulates per example"}
            texts = ("Total", "", format_shape(summary.output.output_shape) if summary.output else "",
                     format_count(summary.total_params), "", "", format_count(summary.macs),
                     "; ".join(i.message for i in network_issues) or
                     f"{format_count(summary.trainable_params)} trainable / "
                     f"{format_count(summary.frozen_params)} frozen")
            return texts, tips, network_issues[0].severity if network_issues else None
        layer = spec.layers[r - 1]
        info = summary.layer(layer.name)
        issues = issues_for(summary, layer.name)
        waiting = waiting_on(summary, layer.name)
        status = (f"waiting on {waiting}" if waiting else "; ".join(i.message for i in issues)
                  or ("ok" if layer.trainable else "ok, frozen"))
        comparison = self._dense.get(layer.name)
        tips = {COLUMNS.index("Params"): f"{exact_count(info.params)} parameters",
                COLUMNS.index("MACs"): f"{exact_count(info.macs)} multiply-accumulates per example"}
        if comparison is not None:
            tips[COLUMNS.index("As fully connected")] = (
                f"A fully connected layer from the same input to the same output would need "
                f"{comparison.formula} parameters: {comparison.ratio:,.0f} times this layer's "
                f"{comparison.params:,}. Weight sharing and locality make the difference.")
        texts = (layer.name, layer.type, format_shape(info.output_shape), format_count(info.params),
                 format_count(comparison.dense_params) if comparison else "",
                 format_receptive_field(info.receptive_field, spec.input_shape),
                 format_count(info.macs), status)
        return texts, tips, None if waiting else issues[0].severity if issues else None


class QtSummaryTable(QTableView):
    """One row per layer, then a totals row; refreshed on every edit, clicking selects the layer."""

    def __init__(self, document: NetworkDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.summary_model = SummaryModel(document, self)
        self.setModel(self.summary_model)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        for col in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        document.events.changed.connect(self._on_changed)
        document.events.selected.connect(self._on_selected)
        self.selectionModel().selectionChanged.connect(self._on_row_selected)
        self.refresh()

    def _on_changed(self, label: str) -> None:
        self.refresh()
        if label == "Open":  # another network: start at its top, not where the last one was scrolled
            self.scrollToTop()

    def refresh(self) -> None:
        with QSignalBlocker(self.selectionModel()):
            self.summary_model.reload()
        self._on_selected(self.document.selected)

    def rowCount(self) -> int:
        return self.summary_model.rowCount()

    def row_of(self, name: str) -> int:
        return self.summary_model.rows_of[name]

    def cell(self, name: str, column: str, role=Qt.ItemDataRole.DisplayRole):
        """What the table shows for layer ``name`` (or "Total") in ``column``, in ``role``."""
        row = self.rowCount() - 1 if name == "Total" else self.row_of(name)
        return self.summary_model.data(self.summary_model.index(row, COLUMNS.index(column)), role)

    def cell_text(self, name: str, column: str) -> str:
        return self.cell(name, column)

    def _on_selected(self, name: str | None) -> None:
        selection = self.selectionModel()
        with QSignalBlocker(selection):
            self.clearSelection()
            row = self.summary_model.rows_of.get(name) if name is not None else None
            if row is not None:
                index = self.summary_model.index(row, 0)
                selection.select(index, QItemSelectionModel.SelectionFlag.ClearAndSelect
                                 | QItemSelectionModel.SelectionFlag.Rows)
                selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)
        self.viewport().update()

    def _on_row_selected(self, *_args) -> None:
        rows = {index.row() for index in self.selectionModel().selectedIndexes()}
        if len(rows) == 1:
            row = rows.pop()
            if row < len(self.summary_model.names):
                self.document.select(self.summary_model.names[row])
