"""The mask brush: paint on whichever picture is under the cursor, and see clearly what is masked.

The mask is one image the size of the canvas document. Results of a batch or a Vary lie in a
grid *beyond* the document (``result_layout``), so a stroke on one of them used to fall off
the mask and do nothing; and with a selection, Inpaint only looked inside the selection, so
strokes outside it were ignored too. Now a stroke on a picture first grows the document to
take in that picture (one undoable "Extend canvas"), a stroke where there is no picture says
so in the status bar instead of silently painting nothing, and Inpaint repaints the
selection together with every masked area.

The overlay is semi-transparent red (colour and opacity settable) with a marching outline
around the masked area, so a mask reads at a glance on any picture.
"""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QBitmap, QColor, QImage, QPainter, QPainterPath, QPen, QRegion
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QMainWindow

from studio.ui.canvas_layers import MASK_Z, ImageLayer


class BrushCanvas(Protocol):
    """What the brush uses of the canvas widget (named here, not imported: the canvas' view imports this module)."""

    scene: QGraphicsScene
    view: QGraphicsView
    mask_item: QGraphicsPixmapItem
    mask_colour: QColor
    changed: Any  # Signal()

    @property
    def mask_image(self) -> QImage: ...
    @property
    def doc_size(self) -> tuple[int, int]: ...
    def window(self) -> Any: ...
    def isVisible(self) -> bool: ...
    def _set_mask_image(self, image: QImage) -> None: ...
    def extend_canvas(self, left: int, top: int, right: int, bottom: int) -> None: ...
    def layer_rect(self, layer: ImageLayer) -> QRectF: ...
    def mask_bounds(self, padding: int = 0) -> QRectF | None: ...
    def mask_is_empty(self) -> bool: ...
    def selection_rect(self) -> QRectF | None: ...


OVERLAY_COLOUR = QColor(255, 40, 40)
OVERLAY_OPACITY = 0.55
NO_PICTURE = "The mask brush paints on a picture: there is no layer under the cursor"
MARCH_MS = 120  # how often the outline's dashes move on


def layer_at(canvas: BrushCanvas, pos: QPointF) -> ImageLayer | None:
    """The topmost visible picture under ``pos`` (scene coordinates)."""
    for item in canvas.scene.items(pos):
        if isinstance(item, ImageLayer) and item.isVisible():
            return item
    return None


def say(canvas: BrushCanvas, text: str) -> None:
    window = canvas.window()
    if isinstance(window, QMainWindow):
        window.statusBar().showMessage(text, 6000)


def begin_stroke(canvas: BrushCanvas, pos: QPointF) -> QPointF | None:
    """Where a stroke starting at ``pos`` paints (the document may grow to take in the picture
    under it, which moves everything by what was added left / above); None with no picture.

    The eraser works anywhere and never grows the document: there is nothing to erase beyond it.
    """
    if canvas.view.tool == canvas.view.ERASE:
        return pos
    layer = layer_at(canvas, pos)
    if layer is None:
        say(canvas, NO_PICTURE)
        return None
    rect = canvas.layer_rect(layer).toAlignedRect()
    width, height = canvas.doc_size
    left, top = max(0, -rect.left()), max(0, -rect.top())
    right, bottom = max(0, rect.right() + 1 - width), max(0, rect.bottom() + 1 - height)
    if left or top or right or bottom:
        canvas.extend_canvas(left, top, right, bottom)
        say(canvas, f"The canvas grew to take in “{layer.name}”, so its mask can be painted")
    return QPointF(pos.x() + left, pos.y() + top)


def inpaint_region(canvas: BrushCanvas, context: int) -> QRectF | None:
    """What Inpaint repaints: the selection and every masked area (with ``context`` around it)."""
    selection = canvas.selection_rect()
    masked = canvas.mask_bounds(context)
    if selection is None or masked is None:
        return selection or masked
    return selection.united(masked)


def mask_outline(mask: QImage) -> QPainterPath:
    """The border of the painted part of ``mask`` as a path (empty for an empty mask)."""
    bitmap = QBitmap.fromImage(mask.createAlphaMask())
    path = QPainterPath()
    path.addRegion(QRegion(bitmap))
    return path.simplified()


class MaskOverlay(QObject):
    """The mask's look on the canvas: tint, opacity, and a marching outline."""

    def __init__(self, canvas: BrushCanvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        # Marching ants: white dashes over a solid black line, readable on light and dark pictures.
        self.outline_shadow = QGraphicsPathItem()
        self.outline_shadow.setZValue(MASK_Z + 1)
        shadow = QPen(QColor("#000000"), 0)
        shadow.setCosmetic(True)
        self.outline_shadow.setPen(shadow)
        # Children of the mask item: hidden with it whenever the canvas is rendered for a job or an export.
        self.outline_shadow.setParentItem(canvas.mask_item)
        self.outline = QGraphicsPathItem()
        self.outline.setZValue(MASK_Z + 2)
        self._pen = QPen(QColor("#ffffff"), 0, Qt.PenStyle.DashLine)
        self._pen.setCosmetic(True)
        self.outline.setPen(self._pen)
        self.outline.setParentItem(canvas.mask_item)
        for item in (self.outline_shadow, self.outline):
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresParentOpacity, True)
        self._shown_key = -1
        self.timer = QTimer(self)
        self.timer.setInterval(MARCH_MS)
        self.timer.timeout.connect(self._march)
        self.set_style(OVERLAY_COLOUR, OVERLAY_OPACITY)
        canvas.changed.connect(self.update_outline)

    @property
    def colour(self) -> QColor:
        return QColor(self.canvas.mask_colour)

    @property
    def opacity(self) -> float:
        return float(self.canvas.mask_item.opacity())

    def set_style(self, colour: QColor, opacity: float) -> None:
        """Tint and opacity of the mask; what is already painted takes the new tint too."""
        self.canvas.mask_colour = QColor(colour.red(), colour.green(), colour.blue())
        self.canvas.mask_item.setOpacity(max(0.05, min(1.0, float(opacity))))
        image = self.canvas.mask_image.copy()
        if not self.canvas.mask_is_empty():
            painter = QPainter(image)
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
            painter.fillRect(image.rect(), self.canvas.mask_colour)
            painter.end()
            self.canvas._set_mask_image(image)

    def update_outline(self) -> None:
        key = self.canvas.mask_image.cacheKey()
        if key == self._shown_key:
            return
        self._shown_key = key
        path = mask_outline(self.canvas.mask_image)
        self.outline.setPath(path)
        self.outline_shadow.setPath(path)
        if path.isEmpty():
            self.timer.stop()
        elif not self.timer.isActive():
            self.timer.start()

    def _march(self) -> None:
        if not self.canvas.isVisible():
            return
        self._pen.setDashOffset((self._pen.dashOffset() + 1) % 8)
        self.outline.setPen(self._pen)
