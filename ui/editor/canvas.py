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
    QTransform,
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
from cnnstudio.network.spec import INPUT, LayerSpec, NetworkSpec
from cnnstudio.workspace.document import DocumentError, NetworkDocument
from ui.editor.layout import (
    COLUMN_PITCH,
    GAP,
    NODE_H,
    NODE_W,
    PITCH,
    Layout,
    arrange,
    fit_scale,
    layout,
)
from ui.editor.palette import type_from_mime
from ui.formatting import compact_label, format_count, format_shape, issues_for, key_params

EAGER_NODES = 2000
"""Up to this many nodes each is a scene item from the start; a larger network gets items only
for the part in view (as items, 100,000 layers took many minutes and a gigabyte to open)."""
CELL = 1000
"""The side, in scene units, of the squares the virtual canvas looks layers up by."""
DETAIL_SCALE = 0.6
"""Below this zoom a node shows one large compact label instead of its three lines of detail."""
COMPACT_MIN_PX = 9
"""The compact label's smallest size on screen, in pixels, at the zoom levels Fit may choose."""
COMPACT_PX = 40
"""The compact label's height in scene pixels when it fits the card on one line."""
ZOOM_STEP = 1.25
MIN_SCALE = 0.2
MAX_SCALE = 3.0

ERROR = QColor("#d32f2f")
WARNING = QColor("#f29d00")
SELECTED = QColor("#1e63c6")
WAITING = QColor("#7d8793")
INPUT_COLOUR = QColor("#5f6b7a")


LOCK_COLOUR = QColor("#6b5b2e")


class NodeItem(QGraphicsObject):
    """One layer (or the input) as a card; movable vertically in its column to reorder the chain.

    Painted at two levels of detail: the full card (type, name, hyperparameters, shape and
    parameters) from DETAIL_SCALE up, one large compact label ("Conv2D 3×3, 64") below it,
    so the text stays readable at the scales that fit a whole VGG-16 or ResNet-18 in view.
    """

    BADGE = QRectF(NODE_W - 13, -9, 20, 20)
    """The "!" disc on the top right corner, partly outside the card."""
    LOCK = QRectF(-9, -9, 20, 20)
    """The padlock disc of a frozen layer on the top left corner, partly outside the card."""

    def __init__(self, canvas: QtCanvas, name: str, type_name: str, lines: list[str],
                 shape_text: str, params_text: str, issues: list, compact: str, waiting: str | None = None):
        super().__init__()
        self.canvas = canvas
        self.name = name
        self.type_name = type_name
        self.lines = lines
        self.shape_text = shape_text
        self.params_text = params_text
        self.issues = issues
        self.compact = compact
        self.home = QPointF(0, 0)
        """Where the layout puts the node; a drag that does not reorder returns it there."""
        self.waiting_on = waiting
        """The layer in error above that this one waits on: shown grey, not as an error of its own."""
        self.severity = _worst([issue for issue in issues if not issue.caused_by])
        self.frozen = False
        """Whether the layer's weights are frozen (trainable off): a padlock on the card."""
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
        self.edges: list[EdgeItem] = []
        """The connections into and out of this node, redrawn when it is dragged."""

    def boundingRect(self) -> QRectF:
        """The card, its 3 px selection border and the badge with its antialiased edge."""
        return (QRectF(-3, -3, NODE_W + 6, NODE_H + 6).united(self.BADGE.adjusted(-2, -2, 2, 2))
                .united(self.LOCK.adjusted(-2, -2, 2, 2)))

    def compact_lines(self) -> list[str]:
        """The compact label in one line, or two ("Conv 3×3" over "128 /2") when one would be small."""
        font = QFont(self.canvas.font())
        font.setBold(True)
        font.setPixelSize(COMPACT_PX)
        if QFontMetrics(font).horizontalAdvance(self.compact) <= NODE_W - 16 or " " not in self.compact:
            return [self.compact]
        if ", " in self.compact:
            return self.compact.split(", ", 1)
        spaces = [i for i, ch in enumerate(self.compact) if ch == " "]
        cut = min(spaces, key=lambda i: abs(i - len(self.compact) / 2))
        return [self.compact[:cut], self.compact[cut + 1:]]

    def compact_font(self) -> QFont:
        """The compact label's font: as large as the card allows, in scene units."""
        lines = self.compact_lines()
        font = QFont(self.canvas.font())
        font.setBold(True)
        size = COMPACT_PX if len(lines) == 1 else int((NODE_H - 8) / 2)
        font.setPixelSize(size)
        width = max(QFontMetrics(font).horizontalAdvance(line) for line in lines)
        if width > NODE_W - 16:
            font.setPixelSize(max(8, int(size * (NODE_W - 16) / width)))
        return font

    def screen_text_px(self, scale: float) -> float:
        """The height on screen, in pixels, of the smallest text drawn at ``scale``."""
        if scale >= DETAIL_SCALE:
            return QFontMetrics(self.canvas.font()).height() * scale
        return QFontMetrics(self.compact_font()).height() * scale

    def paint(self, painter: QPainter, option, _widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(0, 0, NODE_W, NODE_H)
        if option.levelOfDetailFromTransform(painter.worldTransform()) < DETAIL_SCALE:
            self._paint_compact(painter, rect)
            return
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
        if self.frozen:
            self._paint_lock(painter)

    def _paint_compact(self, painter: QPainter, rect: QRectF) -> None:
        border = {"error": ERROR, "warning": WARNING}.get(self.severity, self.colour)
        if self.isSelected():
            border = SELECTED
        style = Qt.PenStyle.DashLine if self.waiting_on and not self.severity else Qt.PenStyle.SolidLine
        painter.setPen(QPen(border, 8 if (self.severity or self.isSelected()) else 3, style))
        fill = QColor(self.colour)
        fill.setAlpha(60 if self.waiting_on else 255)
        painter.setBrush(QBrush(fill))
        painter.drawRoundedRect(rect, 10, 10)
        painter.setFont(self.compact_font())
        painter.setPen(QColor("#333" if self.waiting_on else "white"))
        painter.drawText(rect.adjusted(8, 0, -8, 0), Qt.AlignmentFlag.AlignCenter, "\n".join(self.compact_lines()))
        if self.severity:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(ERROR if self.severity == "error" else WARNING)
            painter.drawEllipse(self.BADGE)
        if self.frozen:
            self._paint_lock(painter)

    def _paint_lock(self, painter: QPainter) -> None:
        """A padlock (a shackle arc over a body) on a disc, for a frozen layer."""
        box = self.LOCK
        painter.save()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(LOCK_COLOUR)
        painter.drawEllipse(box)
        painter.setPen(QPen(QColor("white"), 1.6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawArc(QRectF(box.left() + 7, box.top() + 4, 6, 8), 0, 180 * 16)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("white"))
        painter.drawRoundedRect(QRectF(box.left() + 5.5, box.top() + 8.5, 9, 7), 1.5, 1.5)
        painter.restore()

    def input_point(self) -> QPointF:
        return self.pos() + QPointF(NODE_W / 2, 0)

    def output_point(self) -> QPointF:
        return self.pos() + QPointF(NODE_W / 2, NODE_H)

    def itemChange(self, change, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange:
            return QPointF(self.home.x(), value.y())
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for edge in self.edges:
                edge.update_path()
        return super().itemChange(change, value)

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        target = self.canvas.layer_index_at(self, self.pos().y())
        if self.name != INPUT and target is not None and target != self.canvas.document.current.index(self.name):
            self.canvas.request_move(self.name, target)
        elif self.pos() != self.home:
            self.setPos(self.home)


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
        src.edges.append(self)
        dst.edges.append(self)
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
        if abs(start.x() - end.x()) > 1 and end.y() > start.y():  # into a branch column, or out of one
            bend = max(GAP, (end.y() - start.y()) / 2)
            path.cubicTo(start + QPointF(0, bend), end - QPointF(0, bend), end)
        elif end.y() < start.y():  # the chain wraps to the top of the next column group
            down, up = start + QPointF(0, GAP / 2), end - QPointF(0, GAP / 2)
            middle = (start.x() + NODE_W / 2 + end.x() - NODE_W / 2) / 2
            path.lineTo(down)
            path.cubicTo(QPointF(middle, down.y()), QPointF(middle, up.y()), up)
            path.lineTo(end)
        elif self.lane == 0:
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


class Minimap(QGraphicsView):
    """The whole network in the canvas's corner while it is zoomed in: the visible part is
    outlined, and a click or drag there moves the canvas to it."""

    SIZE = 170

    def __init__(self, canvas: QtCanvas):
        super().__init__(canvas.scene(), canvas)
        self.canvas = canvas
        self.setInteractive(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setBackgroundBrush(QColor(255, 255, 255, 225))
        self.setStyleSheet("border: 1px solid #9aa3ad;")
        self.setToolTip("The whole network: click or drag to move the view there")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.hide()

    def refresh(self) -> None:
        """Show the map only when part of the network is out of view; fit the scene into it."""
        rect = self.canvas.sceneRect()
        visible = self.canvas.visible_scene_rect()
        if rect.isEmpty() or visible.contains(rect.adjusted(30, 30, -30, -30)):
            self.hide()
            return
        ratio = rect.height() / max(rect.width(), 1)
        width, height = (self.SIZE, max(40, int(self.SIZE * ratio))) if ratio <= 1 else (
            max(40, int(self.SIZE / ratio)), self.SIZE)
        view = self.canvas.viewport()
        self.setGeometry(view.width() - width - 8, view.height() - height - 8, width, height)
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self.show()
        self.raise_()
        self.viewport().update()

    def drawBackground(self, painter: QPainter, rect) -> None:
        """For a network too large to draw whole, its column groups stand for it."""
        super().drawBackground(painter, rect)
        if self.canvas.virtual:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#9aa3ad"))
            for group in self.canvas.overview:
                painter.drawRect(group)

    def drawForeground(self, painter: QPainter, _rect) -> None:
        painter.setPen(QPen(SELECTED, 0))
        fill = QColor(SELECTED)
        fill.setAlpha(40)
        painter.setBrush(fill)
        painter.drawRect(self.canvas.visible_scene_rect())

    def mousePressEvent(self, event) -> None:
        self.canvas.centerOn(self.mapToScene(event.position().toPoint()))
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.canvas.centerOn(self.mapToScene(event.position().toPoint()))
        event.accept()


class QtCanvas(QGraphicsView):
    """Shows the document's network and turns drags and drops into document edits."""

    sig_message = Signal(str)
    """A refused edit's explanation, for the status bar."""
    sig_zoomed = Signal(float)
    """The zoom changed: the new scale (1.0 is 100%)."""
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
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.layout: Layout | None = None
        self._auto_view = True
        """The view is still the one the network opened with (the user has not zoomed)."""
        self.nodes: dict[str, NodeItem] = {}
        """The layers that have a scene item: all of them, or (``virtual``) those seen so far."""
        self.edges: list[EdgeItem] = []
        self.virtual = False
        """The network is too large for an item per layer: only those in and near the view have one."""
        self._layers: dict[str, LayerSpec] = {}
        self._wires: dict[str, list[tuple[str, str, int]]] = {}
        self._edge_keys: set[tuple[str, str, int]] = set()
        self._cells: dict[tuple[int, int], list[str]] = {}
        self.overview: list[QRectF] = []
        self._arranged: tuple[NetworkSpec, tuple] | None = None
        """The spec last laid out and its size-independent arrangement (:func:`layout.arrange`)."""
        self._built_for: tuple[NetworkSpec, tuple] | None = None
        """The spec and view size the scene was last built for."""
        """The area each column group's nodes take: what the minimap shows of a virtual network."""
        self._highlighted: EdgeItem | None = None
        self._syncing = False
        self.scene().selectionChanged.connect(self._on_scene_selection)
        self.minimap = Minimap(self)
        for bar in (self.horizontalScrollBar(), self.verticalScrollBar()):
            bar.valueChanged.connect(lambda _value: (self.fill_view(), self.minimap.refresh()))
        document.events.changed.connect(self._on_changed)
        document.events.selected.connect(self._on_selected)
        self.rebuild()

    # -- building the scene -------------------------------------------------------------

    def rebuild(self) -> None:
        """Recreate the nodes and edges from the document: every one for a network of up to
        EAGER_NODES layers, else only those in and near the view (the rest as the view moves)."""
        spec = self.document.current
        size = self.viewport().size() if self.isVisible() else None
        view = (size.width(), size.height()) if size and size.width() > 200 else ()
        if self._built_for is not None and self._built_for[0] is spec and self._built_for[1] == view:
            return  # the same network laid out for the same view (a show, a resize back): nothing to redo
        if self._arranged is None or self._arranged[0] is not spec:
            self._arranged = (spec, arrange(spec))
        self._built_for = (spec, view)
        self._syncing = True
        self.scene().clear()
        self.nodes.clear()
        self.edges.clear()
        self._edge_keys.clear()
        self._highlighted = None
        self.layout = layout(spec, *view, arranged=self._arranged[1])
        self._layers = {layer.name: layer for layer in spec.layers}
        self._wires = _wires(spec, self.layout)
        self.virtual = len(spec.layers) + 1 > EAGER_NODES
        if self.virtual:
            self._cells = _cells(self.layout)
            self.overview = _group_rects(self.layout)
            width, height = self.layout.size
            self.scene().setSceneRect(QRectF(0, 0, width, height).adjusted(-40, -30, 40 + 24 * 3, 40))
            self._materialize([INPUT, *self._visible_names()])
        else:
            self._materialize([INPUT, *self._layers])
        self._syncing = False
        self._on_selected(self.document.selected)
        if not self.virtual:
            bounds = self.scene().itemsBoundingRect().adjusted(-40, -30, 40 + 24 * 3, 40)
            self.scene().setSceneRect(bounds)

    def _visible_names(self) -> list[str]:
        """The layers whose slot is in the view or within a quarter of a view of it."""
        rect = self.visible_scene_rect()
        rect = rect.adjusted(-rect.width() / 4, -rect.height() / 4, rect.width() / 4, rect.height() / 4)
        names = []
        for gx in range(int(rect.left() // CELL), int(rect.right() // CELL) + 1):
            for gy in range(int(rect.top() // CELL), int(rect.bottom() // CELL) + 1):
                names.extend(self._cells.get((gx, gy), ()))
        return names

    def fill_view(self) -> None:
        """Create the nodes (and their edges) that scrolling or zooming brought into view."""
        if self.virtual and self.layout is not None:
            self._materialize(self._visible_names())

    def _materialize(self, names) -> None:
        """Make a scene item of each layer in ``names`` that has none yet, and the edges between
        it and other items; the details (shape, issues, labels) are read only for these."""
        spec = self.document.current
        summary = self.document.summary
        syncing, self._syncing = self._syncing, True
        added = []
        for name in names:
            if name in self.nodes:
                continue
            if name == INPUT:
                self._add_node(INPUT, "Input", [], format_shape(spec.input_shape), "", [],
                               f"Input {format_shape(spec.input_shape)}")
            else:
                layer = self._layers[name]
                info = _layer_info(summary, name)
                shape = format_shape(info.output_shape) if info is not None else "?"
                params = f"{format_count(info.params)} params" if info is not None else ""
                self._add_node(name, layer.type, key_params(layer), shape, params, issues_for(summary, name),
                               compact_label(layer), waiting_on(summary, name))
                self.nodes[name].setSelected(name == self.document.selected)
            added.append(name)
        for name in added:
            for wire in self._wires.get(name, ()):
                src, dst, lane = wire
                if wire not in self._edge_keys and src in self.nodes and dst in self.nodes:
                    edge = EdgeItem(self.nodes[src], self.nodes[dst], lane)
                    self.scene().addItem(edge)
                    self.edges.append(edge)
                    self._edge_keys.add(wire)
        self._syncing = syncing

    def _add_node(self, name, type_name, lines, shape, params, issues, compact, waiting=None) -> None:
        node = NodeItem(self, name, type_name, lines, shape, params, issues, compact, waiting)
        if name != INPUT and not self._layers[name].trainable:
            node.frozen = True
            node.setToolTip(node.toolTip() + "\nFrozen: its weights do not change in training.")
        node.home = QPointF(*self.layout.position(name))
        node.setPos(node.home)
        self.scene().addItem(node)
        self.nodes[name] = node

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

    def layer_index_at(self, node: NodeItem, y: float) -> int | None:
        """The chain position a node dragged to height ``y`` in its column takes: that of the layer
        whose slot is there (in its column, else in any column of its group), or None."""
        slot = self.layout.slots[node.name]
        row = max(0, round(y / PITCH))
        names = [layer.name for layer in self.document.current.layers]
        for column in (slot.column, *range(0, 64)):
            other = self.layout.at(slot.group, column, row)
            if other == INPUT:
                return 0
            if other is not None:
                return names.index(other)
        return None

    def edge_at(self, scene_pos: QPointF) -> EdgeItem | None:
        for item in self.scene().items(scene_pos):
            if isinstance(item, EdgeItem):
                return item
            if isinstance(item, NodeItem | OutputPort):
                return None
        return None

    # -- zoom ------------------------------------------------------------------------------

    @property
    def scale_factor(self) -> float:
        return self.transform().m11()

    def set_scale(self, scale: float, by_user: bool = True) -> None:
        if by_user:
            self._auto_view = False
        scale = max(MIN_SCALE, min(MAX_SCALE, scale))
        self.setTransform(QTransform.fromScale(scale, scale))
        self.fill_view()
        self.minimap.refresh()
        self.sig_zoomed.emit(scale)

    def visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def zoom_in(self) -> None:
        self.set_scale(self.scale_factor * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_scale(self.scale_factor / ZOOM_STEP)

    def actual_size(self) -> None:
        self.set_scale(1.0)
        self.centerOn(self.nodes[INPUT].sceneBoundingRect().center().x(), self.nodes[INPUT].y())

    def fit_network(self) -> None:
        """Show the whole network at the largest scale that fits (never above 100%, never below
        MIN_SCALE, where the compact labels stay readable)."""
        view = self.viewport().size()
        scale = fit_scale(self.layout, view.width(), view.height())
        self.set_scale(scale, by_user=False)
        if scale >= MIN_SCALE:
            self.centerOn(self.sceneRect().center() if self.virtual else self.scene().itemsBoundingRect().center())
        else:  # too large to fit even at the smallest scale: start where the network starts
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().minimum())
            self.verticalScrollBar().setValue(self.verticalScrollBar().minimum())
        self.fill_view()

    def show_first(self) -> None:
        """The view a network opens with: a small one at 100% from its top, a large one whole.

        Until the user zooms, a resize of the window lays the network out again for the new size."""
        if len(self.layout.group_x) > 1:
            self.fit_network()
        else:
            self.set_scale(1.0, by_user=False)
            self.centerOn(self.nodes[INPUT].sceneBoundingRect().center().x(), self.nodes[INPUT].y())
        self._auto_view = True

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._auto_view and self.isVisible():
            self.rebuild()
            self.show_first()
        self.fill_view()
        self.minimap.refresh()

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() / 120
            if steps:
                self.set_scale(self.scale_factor * ZOOM_STEP ** steps)
            event.accept()
            return
        super().wheelEvent(event)

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
        index = max(0, min(index, len(self.document.current.layers) - 1))
        QTimer.singleShot(0, lambda: self._edit(self.document.move_layer, name, index) or self._snap_home())

    def _snap_home(self) -> None:
        """Put back a node dragged to where no move happened (refused, or its own place)."""
        for node in self.nodes.values():
            if node.pos() != node.home:
                node.setPos(node.home)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._auto_view:
            self.rebuild()  # lay out for the real view size
            self.show_first()

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

    def _on_changed(self, label: str) -> None:
        self.rebuild()
        if label == "Open":  # a new network: its own first view, not the last one's zoom
            self.show_first()

    def _on_scene_selection(self) -> None:
        if self._syncing:
            return
        selected = [item for item in self.scene().selectedItems() if isinstance(item, NodeItem)]
        self.document.select(selected[0].name if len(selected) == 1 else None)

    def _on_selected(self, name: str | None) -> None:
        if name is not None and name not in self.nodes and (name == INPUT or name in self._layers):
            self._materialize([name])  # selected elsewhere (the summary table) out of the virtual view
        self._syncing = True
        for node_name, node in self.nodes.items():
            node.setSelected(node_name == name)
        self._syncing = False
        if name in self.nodes:
            self.ensureVisible(self.nodes[name], 20, 20)


def _wires(spec: NetworkSpec, layout_: Layout) -> dict[str, list[tuple[str, str, int]]]:
    """Every connection as (source, destination, lane), listed under both its ends. Chain edges
    go straight down (lane 0); a skip within a column gets the first lane to its right that no
    skip spanning the same rows holds."""
    out: dict[str, list[tuple[str, str, int]]] = {}
    busy: dict[tuple[int, int], list[tuple[int, int]]] = {}
    """Per column, the (bottom row, lane) of the skips above that may still overlap the next one."""
    slots = layout_.slots
    for i, layer in enumerate(spec.layers):
        for src in spec.inputs_of(i):
            if src not in slots:
                continue
            a, b = slots[src], slots[layer.name]
            top, bottom = a.row, b.row
            lane = 0
            if (a.group, a.column) == (b.group, b.column) and bottom - top > 1:
                spans = busy.setdefault((a.group, a.column), [])
                spans[:] = [(end, ln) for end, ln in spans if end > top]  # skips seen in order of their tops
                held = {ln for _end, ln in spans}
                lane = 1
                while lane in held:
                    lane += 1
                spans.append((bottom, lane))
            wire = (src, layer.name, lane)
            out.setdefault(src, []).append(wire)
            out.setdefault(layer.name, []).append(wire)
    return out


def _group_rects(layout_: Layout) -> list[QRectF]:
    """The rectangle around each column group's nodes, in scene coordinates."""
    columns = [0] * len(layout_.group_x)
    rows = [0] * len(layout_.group_x)
    for slot in layout_.slots.values():
        columns[slot.group] = max(columns[slot.group], slot.column)
        rows[slot.group] = max(rows[slot.group], slot.row)
    return [QRectF(x, 0, columns[g] * COLUMN_PITCH + NODE_W, rows[g] * PITCH + NODE_H)
            for g, x in enumerate(layout_.group_x)]


def _cells(layout_: Layout) -> dict[tuple[int, int], list[str]]:
    """The layers by square of CELL scene units their card starts in, to find those in a view."""
    out: dict[tuple[int, int], list[str]] = {}
    for name in layout_.slots:
        x, y = layout_.position(name)
        out.setdefault((int(x // CELL), int(y // CELL)), []).append(name)
    return out


def _layer_info(summary, name: str):
    try:
        return summary.layer(name)
    except KeyError:
        return None


def _worst(issues) -> str | None:
    severities = {i.severity for i in issues}
    return "error" if "error" in severities else "warning" if "warning" in severities else None
