"""The palette: every layer type of the catalog, grouped, searchable and draggable."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from cnnstudio.network import catalog

LAYER_MIME = "application/x-cnnstudio-layer-type"
"""Mime type of a palette drag; the payload is the layer type's name in UTF-8."""

_TYPE_ROLE = Qt.ItemDataRole.UserRole


def layer_mime_data(type_name: str) -> QMimeData:
    """The mime data a palette drag carries (also used by tests to simulate a drop)."""
    mime = QMimeData()
    mime.setData(LAYER_MIME, type_name.encode("utf-8"))
    mime.setText(type_name)
    return mime


def type_from_mime(mime: QMimeData) -> str | None:
    """The layer type a drop carries, or None when it is not a palette drag of a known type."""
    if not mime.hasFormat(LAYER_MIME):
        return None
    name = bytes(mime.data(LAYER_MIME)).decode("utf-8", errors="replace")
    return name if name in catalog.CATALOG else None


class _LayerTree(QTreeWidget):
    def mimeTypes(self):
        return [LAYER_MIME]

    def mimeData(self, items):
        names = [item.data(0, _TYPE_ROLE) for item in items if item.data(0, _TYPE_ROLE)]
        return layer_mime_data(names[0]) if names else QMimeData()

    def startDrag(self, actions) -> None:
        """Drag the type; once dropped, the palette lets go of it (no item stays highlighted)."""
        super().startDrag(actions)
        self.clearSelection()
        self.setCurrentItem(None)


class QtPalette(QWidget):
    """Layer types to drag onto the canvas; double-click appends one to the chain."""

    sig_activated = Signal(str)
    """A layer type the user double-clicked (or pressed Enter on)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search layers…")
        self.search.setClearButtonEnabled(True)
        self.tree = _LayerTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QTreeWidget.DragDropMode.DragOnly)
        self.tree.setRootIsDecorated(False)
        self.tree.setIndentation(10)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._groups: list[QTreeWidgetItem] = []
        for group, types in catalog.by_group().items():
            group_item = QTreeWidgetItem([group])
            group_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group_item.font(0)
            font.setBold(True)
            group_item.setFont(0, font)
            self.tree.addTopLevelItem(group_item)
            self._groups.append(group_item)
            for layer_type in types:
                item = QTreeWidgetItem([layer_type.name])
                item.setData(0, _TYPE_ROLE, layer_type.name)
                item.setToolTip(0, f"<b>{layer_type.name}</b><br>{layer_type.description}")
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
                group_item.addChild(item)
                self._items[layer_type.name] = item
        self.tree.expandAll()
        self.search.textChanged.connect(self.filter)
        self.tree.itemActivated.connect(self._on_activated)

    def item(self, type_name: str) -> QTreeWidgetItem:
        return self._items[type_name]

    def visible_types(self) -> list[str]:
        return [name for name, item in self._items.items() if not item.isHidden()]

    def filter(self, text: str) -> None:
        """Show the types whose name, group or description contains every word of ``text``."""
        words = text.lower().split()
        for group_item in self._groups:
            shown = 0
            for i in range(group_item.childCount()):
                item = group_item.child(i)
                layer_type = catalog.get(item.data(0, _TYPE_ROLE))
                haystack = f"{layer_type.name} {layer_type.group} {layer_type.description}".lower()
                hide = not all(w in haystack for w in words)
                item.setHidden(hide)
                shown += not hide
            group_item.setHidden(shown == 0)

    def _on_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        name = item.data(0, _TYPE_ROLE)
        if name:
            self.sig_activated.emit(name)
