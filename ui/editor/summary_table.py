"""The summary table: every layer's output shape, parameters, receptive field and cost, with totals."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

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


class QtSummaryTable(QTableWidget):
    """One row per layer, then a totals row; refreshed on every edit, clicking selects the layer."""

    def __init__(self, document: NetworkDocument, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.document = document
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        for col in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self._names: list[str] = []
        document.events.changed.connect(self._on_changed)
        document.events.selected.connect(self._on_selected)
        self.itemSelectionChanged.connect(self._on_row_selected)
        self.refresh()

    def _on_changed(self, label: str) -> None:
        self.refresh()
        if label == "Open":  # another network: start at its top, not where the last one was scrolled
            self.scrollToTop()

    def refresh(self) -> None:
        spec = self.document.spec
        summary = self.document.summary
        rows = [(INPUT, "Input", format_shape(spec.input_shape), "", "", "1", "", "")]
        dense = compare_with_dense(summary)
        tips = {}
        self._names = [INPUT]
        severities = [None]
        for layer in spec.layers:
            info = summary.layer(layer.name)
            issues = issues_for(summary, layer.name)
            waiting = waiting_on(summary, layer.name)
            status = (f"waiting on {waiting}" if waiting else "; ".join(i.message for i in issues)
                      or ("ok" if layer.trainable else "ok, frozen"))
            comparison = dense.get(layer.name)
            if comparison is not None:
                tips[(len(rows), COLUMNS.index("As fully connected"))] = (
                    f"A fully connected layer from the same input to the same output would need "
                    f"{comparison.formula} parameters: {comparison.ratio:,.0f} times this layer's "
                    f"{comparison.params:,}. Weight sharing and locality make the difference.")
            tips.setdefault((len(rows), COLUMNS.index("Params")), f"{exact_count(info.params)} parameters")
            tips[(len(rows), COLUMNS.index("MACs"))] = f"{exact_count(info.macs)} multiply-accumulates per example"
            rows.append((layer.name, layer.type, format_shape(info.output_shape), format_count(info.params),
                         format_count(comparison.dense_params) if comparison else "",
                         format_receptive_field(info.receptive_field, spec.input_shape),
                         format_count(info.macs), status))
            self._names.append(layer.name)
            severities.append(None if waiting else issues[0].severity if issues else None)
        network_issues = [i for i in summary.issues if i.layer is None]
        tips[(len(rows), COLUMNS.index("Params"))] = f"{exact_count(summary.total_params)} parameters"
        tips[(len(rows), COLUMNS.index("MACs"))] = f"{exact_count(summary.macs)} multiply-accumulates per example"
        rows.append(("Total", "", format_shape(summary.output.output_shape) if summary.output else "",
                     format_count(summary.total_params), "", "", format_count(summary.macs),
                     "; ".join(i.message for i in network_issues) or
                     f"{format_count(summary.trainable_params)} trainable / "
                     f"{format_count(summary.frozen_params)} frozen"))
        severities.append(network_issues[0].severity if network_issues else None)
        with QSignalBlocker(self):
            self.setRowCount(len(rows))
            bold = QFont(self.font())
            bold.setBold(True)
            for r, (row, severity) in enumerate(zip(rows, severities, strict=True)):
                for c, text in enumerate(row):
                    item = QTableWidgetItem(text)
                    if COLUMNS[c] in NUMERIC:
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    if severity:
                        item.setBackground(_ERROR_BG if severity == "error" else _WARNING_BG)
                    if c == len(row) - 1:
                        item.setToolTip(text)
                    elif (r, c) in tips:
                        item.setToolTip(tips[(r, c)])
                    if r == len(rows) - 1:
                        item.setFont(bold)
                    self.setItem(r, c, item)
        self._on_selected(self.document.selected)

    def row_of(self, name: str) -> int:
        return self._names.index(name)

    def cell_text(self, name: str, column: str) -> str:
        return self.item(self.row_of(name) if name != "Total" else self.rowCount() - 1,
                         COLUMNS.index(column)).text()

    def _on_selected(self, name: str | None) -> None:
        with QSignalBlocker(self):
            self.clearSelection()
            if name in self._names:
                self.selectRow(self._names.index(name))

    def _on_row_selected(self) -> None:
        rows = {index.row() for index in self.selectedIndexes()}
        if len(rows) == 1:
            row = rows.pop()
            if row < len(self._names):
                self.document.select(self._names[row])
