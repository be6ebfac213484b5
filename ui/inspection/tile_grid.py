"""A grid of small pictures (kernels, feature maps, thumbnails) drawn with crisp pixels.

Each tile is an RGB uint8 array drawn ``cell`` screen pixels per array pixel, with an
optional caption above it. The grid maps the mouse back to (tile, row, col) of the array,
which the views turn into a weight, an activation or a receptive field.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

MARGIN = 6
SPACING = 8
HIGHLIGHT = QColor(255, 140, 0)


def to_qimage(pixels: np.ndarray) -> QImage:
    """An (H, W, 3) or (H, W) uint8 array as a QImage that owns its bytes."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise ValueError(f"Expected uint8 pixels. Received: dtype={pixels.dtype}")
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"Expected an (H, W, 3) or (H, W) picture. Received: shape={pixels.shape}")
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return QImage(pixels.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class QtTileGrid(QWidget):
    """Tiles of one size in rows; ``sig_hovered``/``sig_clicked`` give (tile, row, col) or (-1, -1, -1)."""

    sig_hovered = Signal(int, int, int)
    sig_clicked = Signal(int, int, int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Minimum)
        self._images: list[QImage] = []
        self._captions: list[str] = []
        self._tile_shape = (0, 0)
        self._cell = 1
        self._columns = 1
        self._highlights: dict[int, tuple[int, int, int, int]] = {}
        self._viewport: QWidget | None = None
        self._slack = 0
        self._slot = QSize(0, 0)
        """One tile's box with its caption: measured once per set_tiles, not per tile painted."""

    # -- content ---------------------------------------------------------------------------

    def set_tiles(self, tiles, captions: list[str] | None = None, cell: int = 8,
                  columns: int | None = None) -> None:
        """Show ``tiles`` (RGB uint8 arrays of one shape), ``cell`` pixels per array pixel."""
        tiles = [np.asarray(t) for t in tiles]
        shapes = {t.shape[:2] for t in tiles}
        if len(shapes) > 1:
            raise ValueError(f"Tiles must share one size. Received: shapes={sorted(shapes)}")
        if captions is not None and len(captions) != len(tiles):
            raise ValueError(f"Expected one caption per tile ({len(tiles)}). Received: {len(captions)} captions")
        self._images = [to_qimage(t) for t in tiles]
        self._captions = list(captions or [])
        self._tile_shape = shapes.pop() if shapes else (0, 0)
        self._cell = max(1, int(cell))
        self._slot = self._measure_slot()
        count = len(tiles)
        self._columns = max(1, min(count, columns or math.ceil(math.sqrt(count)))) if count else 1
        self._highlights.clear()
        if self._viewport is not None:
            self.fit_width(self._viewport.width() - self._slack)
        self.setMinimumSize(self.sizeHint())
        self.resize(self.sizeHint())
        self.updateGeometry()
        self.update()

    def count(self) -> int:
        return len(self._images)

    def follow_width(self, viewport: QWidget, slack: int = 0) -> None:
        """Refit the columns whenever ``viewport`` (a scroll area's) changes width, leaving
        ``slack`` pixels for the margins of whatever holds the grid inside it."""
        self._viewport, self._slack = viewport, slack
        viewport.installEventFilter(self)
        self.fit_width(viewport.width() - slack)

    def eventFilter(self, watched, event) -> bool:
        if watched is self._viewport and event.type() == QEvent.Type.Resize:
            self.fit_width(event.size().width() - self._slack)
        return False

    def fit_width(self, width: int) -> None:
        """Use as many columns as fit in ``width`` pixels (the scroll area's viewport)."""
        if not self._images:
            return
        slot = self._slot_size().width()
        columns = max(1, min(len(self._images), (width - 2 * MARGIN + SPACING) // (slot + SPACING)))
        if columns != self._columns:
            self._columns = columns
            self.setMinimumSize(self.sizeHint())
            self.resize(self.sizeHint())
            self.update()

    def set_highlight(self, tile: int | None, rect: tuple[int, int, int, int] | None = None) -> None:
        """Outline ``rect`` = (top, left, bottom, right), stops exclusive, in ``tile``'s pixels.

        ``rect`` None outlines the whole tile; ``tile`` None clears every outline.
        """
        self._highlights.clear()
        if tile is not None:
            self.add_highlight(tile, rect)
        self.update()

    def add_highlight(self, tile: int, rect: tuple[int, int, int, int] | None = None) -> None:
        height, width = self._tile_shape
        self._highlights[tile] = tuple(rect) if rect is not None else (0, 0, height, width)
        self.update()

    def highlights(self) -> dict[int, tuple[int, int, int, int]]:
        return dict(self._highlights)

    # -- geometry --------------------------------------------------------------------------

    def _caption_lines(self) -> int:
        return max((c.count("\n") + 1 for c in self._captions), default=0)

    def _caption_height(self) -> int:
        lines = self._caption_lines()
        return lines * self.fontMetrics().height() + (2 if lines else 0)

    def _slot_size(self) -> QSize:
        return self._slot

    def _measure_slot(self) -> QSize:
        height, width = self._tile_shape
        caption_width = max((self.fontMetrics().horizontalAdvance(line) for c in self._captions
                             for line in c.split("\n")), default=0)
        return QSize(max(width * self._cell, caption_width), height * self._cell + self._caption_height())

    def sizeHint(self) -> QSize:
        if not self._images:
            return QSize(0, 0)
        slot = self._slot_size()
        rows = math.ceil(len(self._images) / self._columns)
        return QSize(2 * MARGIN + self._columns * slot.width() + (self._columns - 1) * SPACING,
                     2 * MARGIN + rows * slot.height() + (rows - 1) * SPACING)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def tile_rect(self, index: int) -> QRect:
        """Where tile ``index``'s pixels are drawn, in widget coordinates."""
        slot = self._slot_size()
        row, col = divmod(index, self._columns)
        height, width = self._tile_shape
        x = MARGIN + col * (slot.width() + SPACING) + (slot.width() - width * self._cell) // 2
        y = MARGIN + row * (slot.height() + SPACING) + self._caption_height()
        return QRect(x, y, width * self._cell, height * self._cell)

    def cell_center(self, tile: int, row: int, col: int) -> QPoint:
        """The widget point at the centre of pixel (row, col) of ``tile`` (what a click there hits)."""
        rect = self.tile_rect(tile)
        return QPoint(rect.x() + col * self._cell + self._cell // 2, rect.y() + row * self._cell + self._cell // 2)

    def hit(self, point: QPoint) -> tuple[int, int, int] | None:
        """(tile, row, col) under ``point``, or None between tiles."""
        for index in range(len(self._images)):
            rect = self.tile_rect(index)
            if rect.contains(point):
                return (index, (point.y() - rect.y()) // self._cell, (point.x() - rect.x()) // self._cell)
        return None

    # -- drawing and mouse -------------------------------------------------------------------

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        line_height = self.fontMetrics().height()
        for index, image in enumerate(self._images):
            rect = self.tile_rect(index)
            if self._captions:
                painter.setPen(self.palette().windowText().color())
                lines = self._captions[index].split("\n")
                top = rect.y() - self._caption_height()
                for k, line in enumerate(lines):
                    painter.drawText(QRect(rect.center().x() - 200, top + k * line_height, 400, line_height),
                                     Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, line)
            painter.drawImage(rect, image)
        pen = QPen(HIGHLIGHT, 2)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for index, (top, left, bottom, right) in self._highlights.items():
            if not 0 <= index < len(self._images):
                continue
            rect = self.tile_rect(index)
            painter.drawRect(QRect(rect.x() + left * self._cell, rect.y() + top * self._cell,
                                   (right - left) * self._cell, (bottom - top) * self._cell))
        painter.end()

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.FontChange:
            self._slot = self._measure_slot()
            self.updateGeometry()
        super().changeEvent(event)

    def mouseMoveEvent(self, event) -> None:
        found = self.hit(event.position().toPoint())
        self.sig_hovered.emit(*(found or (-1, -1, -1)))
        super().mouseMoveEvent(event)

    def mousePressEvent(self, event) -> None:
        found = self.hit(event.position().toPoint())
        if found is not None and event.button() == Qt.MouseButton.LeftButton:
            self.sig_clicked.emit(*found)
        super().mousePressEvent(event)

    def leaveEvent(self, event) -> None:
        self.sig_hovered.emit(-1, -1, -1)
        super().leaveEvent(event)
