"""The canvas: the network as a node graph, top to bottom, that takes drops from the palette.

Each node shows its type, key hyperparameters, output shape and parameter count, with a red
or amber border when the engine reports an error or warning. Dropping a palette item on a
connection inserts the layer there, elsewhere appends it; dragging a node up or down reorders
the chain; dragging from a node's output port onto an Add or Concatenate connects them.
"""

from __future__ import annotations

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsObject,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QMenu,
)

from cnnstudio.analysis.triage import waiting_on
from cnnstudio.network import catalog
from cnnstudio.network.spec import INPUT, NetworkSpec
from cnnstudio.workspace.document import DocumentError, NetworkDocument
from ui.editor.palette import type_from_mime
from ui.formatting import format_count, format_shape, issues_for, key_params

NODE_W = 250
NODE_H = 76
GAP = 40
PITCH = NODE_H + GAP

ERROR = QColor("#d32f2f")
WARNING = QColor("#f29d00")
SELECTED = QColor("#1e63c6")
WAITING = QColor("#7d8793")
INPUT_COLOUR = QColor("#5f6b7a")


class NodeItem(QGraphicsObject):
    """One layer (or the input) as a card; movable vertically to reorder the chain."""

    BADGE = QRectF(NODE_W - 13, -9, 20, 20)
    """The "!" disc on the top right corner, partly outside the card."""

    def __init__(self, canvas: QtCanvas, name: str, type_name: str, lines: list[str],
                 shape_text: str, params_text: str, issues: list, row: int, waiting: str | None = None):
        super().__init__()
        self.canvas = canvas
        self.name = name
        self.type_name = type_name
        self.lines = lines
        self.shape_text = shape_text
        self.params_text = params_text
        self.issues = issues
        self.row = row
        self.waiting_on = waiting
        """The layer in error above that this one waits on: shown grey, not as an error of its own."""
        self.severity = _worst([issue for issue in issues if not issue.caused_by])
        if waiting:
            self.shape_text = f"waiting on {waiting}"
        self.colour = INPUT_COLOUR if name == INPUT else QColor(
            catalog.GROUP_COLOURS.get(catalog.get(type_name).group, "#555"))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        if name != INPUT:
            self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        if waiting:
            self.setToolTip(f'Waiting on "{waiting}": its output shape is unknown until the error there is fixed.')
        elif issues:
            self.setToolTip("\n".join(f"{i.severity.capitalize()}: {i.message}" for i in issues))
        else:
            self.setToolTip(f"{name} ({type_name})" + ("" if name == INPUT else f"\n{catalog.get(type_name).description}"))
        self.output_port = OutputPort(self)

    def boundingRect(self) -> QRectF:
        """The card, its 3 px selection border and the badge with its antialiased edge."""
        return QRectF(-3, -3, NODE_W + 6, NODE_H + 6).united(self.BADGE.adjusted(-2, -2, 2, 2))

    def paint(self, painter: QPainter, _option, _widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(0, 0, NODE_W, NODE_H)
        border = {"error": ERROR, "warning": WARNING}.get(self.severity, QColor("#9aa3ad"))
        width = 3 if self.severity else 1.2
        style = Qt.PenStyle.DashLine if self.waiting_on and not self.severity else Qt.PenStyle.SolidLine
        if self.isSelected():
            border, width = SELECTED, 3
        painter.setPen(QPen(border, width, style))
        painter.setBrush(QBrush(QColor("#ffffff")))
        painter.drawRoundedRect(rect, 7, 7)
        header = QRectF(0, 0, NODE_W, 22)
        outline = QPainterPath()
        outline.addRoundedRect(rect.adjusted(1, 1, -1, -1), 6, 6)
        painter.save()
        painter.setClipPath(outline)
        painter.fillRect(header, self.colour)
        painter.restore()

        bold = QFont(self.canvas.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(QColor("white"))
        painter.drawText(header.adjusted(8, 0, -8, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         self.type_name)
        small = QFont(self.canvas.font())
        painter.setFont(small)
        metrics = QFontMetrics(small)
        painter.drawText(header.adjusted(8, 0, -8, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                         metrics.elidedText(self.name, Qt.TextElideMode.ElideMiddle, NODE_W // 2 - 10))

        painter.setPen(QColor("#333"))
        text = metrics.elidedText(" · ".join(self.lines) or "no hyperparameters", Qt.TextElideMode.ElideRight,
                                  NODE_W - 16)
        painter.drawText(QRectF(8, 25, NODE_W - 16, 22), Qt.AlignmentFlag.AlignVCenter, text)

        painter.setFont(bold)
        painter.setPen(ERROR if self.severity == "error" else WAITING if self.waiting_on else QColor("#111"))
        painter.drawText(QRectF(8, 48, NODE_W - 16, 22), Qt.AlignmentFlag.AlignVCenter, self.shape_text)
        painter.setFont(small)
        painter.setPen(QColor("#555"))
        painter.drawText(QRectF(8, 48, NODE_W - 16, 22), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                         self.params_text)
        if self.severity:
            badge = self.BADGE
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(ERROR if self.severity == "error" else WARNING)
            painter.drawEllipse(badge)
            painter.setPen(QColor("white"))
            painter.setFont(bold)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "!")

    def input_point(self) -> QPointF:
        return self.pos() + QPointF(NODE_W / 2, 0)

    def output_point(self) -> QPointF:
        return self.pos() + QPointF(NODE_W / 2, NODE_H)

    def itemChange(self, change, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange:
            return QPointF(self.canvas.node_x, value.y())
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            self.canvas.update_edges()
        return super().itemChange(change, value)

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        row = round(self.pos().y() / PITCH)
        if row != self.row and self.name != INPUT:
            self.canvas.request_move(self.name, row - 1)
        elif self.pos().y() != self.row * PITCH:
            self.setPos(self.canvas.node_x, self.row * PITCH)


class OutputPort(QGraphicsEllipseItem):
    """The dot under a node; drag from it onto an Add or Concatenate to connect them."""

    RADIUS = 6

    def __init__(self, node: NodeItem):
        r = self.RADIUS
        super().__init__(-r, -r, 2 * r, 2 * r, node)
        self.node = node
        self.setPos(NODE_W / 2, NODE_H)
        self.setBrush(QBrush(QColor("#ffffff")))
        self.setPen(QPen(QColor("#5f6b7a"), 2))
        self.setCursor(Qt.CursorShape.CrossCursor)
        merges = " or ".join(t.name for t in catalog.merges())
        self.setToolTip(f"Drag to an {merges} layer to connect this output to it")
        self.setZValue(2)
        self._wire: QGraphicsLineItem | None = None

    def mousePressEvent(self, event) -> None:
        self._wire = QGraphicsLineItem()
        self._wire.setPen(QPen(SELECTED, 2, Qt.PenStyle.DashLine))
        self.scene().addItem(self._wire)
        self._wire.setLine(QLineF(self.scenePos(), event.scenePos()))
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        if self._wire is not None:
            self._wire.setLine(QLineF(self.scenePos(), event.scenePos()))

    def mouseReleaseEvent(self, event) -> None:
        if self._wire is not None:
            self.scene().removeItem(self._wire)
            self._wire = None
        target = self.node.canvas.node_at(event.scenePos())
        if target is not None and target is not self.node:
            self.node.canvas.request_connect(self.node.name, target.name)


class EdgeItem(QGraphicsPathItem):
    """A connection ``src -> dst``; palette drops on it insert a layer there."""

    def __init__(self, src: NodeItem, dst: NodeItem, lane: int):
        super().__init__()
        self.src = src
        self.dst = dst
        self.lane = lane
        self.setZValue(-1)
        self.set_highlighted(False)
        self.setToolTip(f"{src.name} → {dst.name}\nDrop a layer here to insert it")
        self.update_path()

    @property
    def key(self) -> tuple[str, str]:
        return self.src.name, self.dst.name

    def set_highlighted(self, on: bool) -> None:
        self.setPen(QPen(SELECTED if on else QColor("#7d8793"), 4 if on else 2))

    def update_path(self) -> None:
        start, end = self.src.output_point(), self.dst.input_point()
        path = QPainterPath(start)
        if self.lane == 0:
            path.lineTo(end)
        else:
            right = self.src.pos().x() + NODE_W + 24 * self.lane
            path.lineTo(start + QPointF(0, GAP / 3))
            path.cubicTo(QPointF(right, start.y() + GAP / 3), QPointF(right, start.y() + GAP / 3),
                         QPointF(right, start.y() + GAP))
            path.lineTo(QPointF(right, end.y() - GAP))
            path.cubicTo(QPointF(right, end.y() - GAP / 3), QPointF(right, end.y() - GAP / 3),
                         end - QPointF(0, GAP / 3))
            path.lineTo(end)
        self.setPath(path)

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(18)
        return stroker.createStroke(self.path())


class QtCanvas(QGraphicsView):
    """Shows the document's network and turns drags and drops into document edits."""

    sig_message = Signal(str)
    """A refused edit's explanation, for the status bar."""
    sig_node_menu = Signal(str, QMenu)
    """A node's context menu is about to show: listeners add their actions for that layer."""

    def __init__(self, document: NetworkDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setAcceptDrops(True)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.setBackgroundBrush(QColor("#f4f6f8"))
        self.node_x = 0.0
        self.nodes: dict[str, NodeItem] = {}
        self.edges: list[EdgeItem] = []
        self._highlighted: EdgeItem | None = None
        self._syncing = False
        self.scene().selectionChanged.connect(self._on_scene_selection)
        document.events.changed.connect(self._on_changed)
        document.events.selected.connect(self._on_selected)
        self.rebuild()

    # -- building the scene -------------------------------------------------------------

    def rebuild(self) -> None:
        """Recreate every node and edge from the document (networks are small)."""
        spec = self.document.spec
        summary = self.document.summary
        self._syncing = True
        self.scene().clear()
        self.nodes.clear()
        self.edges.clear()
        self._highlighted = None
        self._add_node(INPUT, "Input", [], format_shape(spec.input_shape), "", [], 0)
        for i, layer in enumerate(spec.layers):
            info = _layer_info(summary, layer.name)
            shape = format_shape(info.output_shape) if info is not None else "?"
            params = f"{format_count(info.params)} params" if info is not None else ""
            self._add_node(layer.name, layer.type, key_params(layer), shape, params,
                           issues_for(summary, layer.name), i + 1, waiting_on(summary, layer.name))
        self._add_edges(spec)
        self._syncing = False
        self._on_selected(self.document.selected)
        bounds = self.scene().itemsBoundingRect().adjusted(-40, -30, 40 + 24 * 3, 40)
        self.scene().setSceneRect(bounds)

    def _add_node(self, name, type_name, lines, shape, params, issues, row, waiting=None) -> None:
        node = NodeItem(self, name, type_name, lines, shape, params, issues, row, waiting)
        node.setPos(self.node_x, row * PITCH)
        self.scene().addItem(node)
        self.nodes[name] = node

    def _add_edges(self, spec: NetworkSpec) -> None:
        """Chain edges go straight down; skips get their own lane to the right."""
        busy: list[tuple[int, int, int]] = []
        for i, layer in enumerate(spec.layers):
            for src in spec.inputs_of(i):
                if src not in self.nodes:
                    continue
                top, bottom = self.nodes[src].row, i + 1
                lane = 0
                if bottom - top > 1:
                    lane = 1
                    while any(ln == lane and t < bottom and top < b for t, b, ln in busy):
                        lane += 1
                    busy.append((top, bottom, lane))
                edge = EdgeItem(self.nodes[src], self.nodes[layer.name], lane)
                self.scene().addItem(edge)
                self.edges.append(edge)

    def update_edges(self) -> None:
        for edge in self.edges:
            edge.update_path()

    # -- queries ------------------------------------------------------------------------

    def node_at(self, scene_pos: QPointF) -> NodeItem | None:
        for item in self.scene().items(scene_pos):
            while item is not None and not isinstance(item, NodeItem):
                item = item.parentItem()
            if isinstance(item, NodeItem):
                return item
        return None

    def edge_at(self, scene_pos: QPointF) -> EdgeItem | None:
        for item in self.scene().items(scene_pos):
            if isinstance(item, EdgeItem):
                return item
            if isinstance(item, NodeItem | OutputPort):
                return None
        return None

    # -- drops from the palette ----------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if type_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if not type_from_mime(event.mimeData()):
            event.ignore()
            return
        self._highlight(self.edge_at(self.mapToScene(event.position().toPoint())))
        event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:
        self._highlight(None)
        event.accept()

    def dropEvent(self, event) -> None:
        type_name = type_from_mime(event.mimeData())
        self._highlight(None)
        if not type_name:
            event.ignore()
            return
        edge = self.edge_at(self.mapToScene(event.position().toPoint()))
        event.acceptProposedAction()
        if edge is not None:
            self._edit(self.document.insert_layer, type_name, *edge.key)
        else:
            self._edit(self.document.append_layer, type_name)

    def _highlight(self, edge: EdgeItem | None) -> None:
        if self._highlighted is not None and self._highlighted is not edge:
            self._highlighted.set_highlighted(False)
        if edge is not None:
            edge.set_highlighted(True)
        self._highlighted = edge

    # -- edits requested by items (deferred: the scene is rebuilt by the edit) --------------

    def request_move(self, name: str, index: int) -> None:
        index = max(0, min(index, len(self.document.spec.layers) - 1))
        QTimer.singleShot(0, lambda: self._edit(self.document.move_layer, name, index) or self.rebuild())

    def request_connect(self, src: str, dst: str) -> None:
        QTimer.singleShot(0, lambda: self._edit(self.document.connect, src, dst))

    def delete_selected(self) -> None:
        name = self.document.selected
        if name and name != INPUT:
            self._edit(self.document.remove_layer, name)

    def node_menu(self, name: str) -> QMenu:
        """The context menu of layer ``name``: Delete, plus what listeners of sig_node_menu add."""
        menu = QMenu(self)
        delete = menu.addAction("Delete Layer")
        delete.triggered.connect(lambda: self._edit(self.document.remove_layer, name))
        self.sig_node_menu.emit(name, menu)
        return menu

    def contextMenuEvent(self, event) -> None:
        node = self.node_at(self.mapToScene(event.pos()))
        if node is None or node.name == INPUT:
            super().contextMenuEvent(event)
            return
        self.document.select(node.name)
        self.node_menu(node.name).exec(event.globalPos())

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selected()
            event.accept()
            return
        super().keyPressEvent(event)

    def _edit(self, method, *args):
        try:
            return method(*args)
        except DocumentError as exc:
            self.sig_message.emit(str(exc))
            return None

    # -- selection ------------------------------------------------------------------------

    def _on_changed(self, _label: str) -> None:
        self.rebuild()

    def _on_scene_selection(self) -> None:
        if self._syncing:
            return
        selected = [item for item in self.scene().selectedItems() if isinstance(item, NodeItem)]
        self.document.select(selected[0].name if len(selected) == 1 else None)

    def _on_selected(self, name: str | None) -> None:
        self._syncing = True
        for node_name, node in self.nodes.items():
            node.setSelected(node_name == name)
        self._syncing = False
        if name in self.nodes:
            self.ensureVisible(self.nodes[name], 20, 20)


def _layer_info(summary, name: str):
    try:
        return summary.layer(name)
    except KeyError:
        return None


def _worst(issues) -> str | None:
    severities = {i.severity for i in issues}
    return "error" if "error" in severities else "warning" if "warning" in severities else None
