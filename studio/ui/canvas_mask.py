"""The canvas's inpaint mask: its pixels, the brush that paints them, and the mask as a PNG.

Split out of ``canvas.py``: the mask is pixels (a QImage the size of the canvas) shown as a
translucent overlay item, painted by soft round dabs; the widget keeps the undo commands
(``MaskCommand``) and the document keeps the saved form.
"""

from __future__ import annotations

import base64

from PySide6.QtCore import QByteArray, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPixmap, QRadialGradient
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene

from studio.ui.canvas_layers import MASK_COLOUR, MASK_Z, image_to_png


def blank_mask(size: tuple[int, int]) -> QImage:
    mask = QImage(*size, QImage.Format.Format_ARGB32_Premultiplied)
    mask.fill(Qt.GlobalColor.transparent)
    return mask


class CanvasMask:
    """The mask pixels and their overlay on ``scene``."""

    def __init__(self, scene: QGraphicsScene, size: tuple[int, int]) -> None:
        self.image = blank_mask(size)
        self.item = QGraphicsPixmapItem()
        self.item.setZValue(MASK_Z)
        self.item.setOpacity(0.5)
        scene.addItem(self.item)
        self.brush_size = 40
        self.brush_hardness = 0.7
        self.colour = QColor(MASK_COLOUR)  # the overlay's tint (studio.ui.mask_brush sets it)
        self._empty: tuple[int, bool] | None = None  # (the image's cacheKey, is_empty) of the last scan
        self.scans = 0

    def set_image(self, image: QImage) -> None:
        self.image = image.copy()
        self.item.setPixmap(QPixmap.fromImage(self.image))

    def resize(self, size: tuple[int, int]) -> None:
        """Grow or shrink to ``size`` keeping what is painted at the top left."""
        if size == tuple(self.image.size().toTuple()):
            return
        mask = blank_mask(size)
        painter = QPainter(mask)
        painter.drawImage(0, 0, self.image)
        painter.end()
        self.image = mask
        self.item.setPixmap(QPixmap.fromImage(mask))

    def paint_dab(self, pos: QPointF, *, erase: bool) -> None:
        radius = max(0.5, self.brush_size / 2.0)
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        gradient = QRadialGradient(pos, radius)
        gradient.setColorAt(0.0, self.colour)
        gradient.setColorAt(max(0.0, min(0.999, self.brush_hardness)), self.colour)
        transparent = QColor(self.colour)
        transparent.setAlpha(0)
        gradient.setColorAt(1.0, transparent)
        if erase:
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationOut)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(gradient))
        painter.drawEllipse(pos, radius, radius)
        painter.end()
        self.item.setPixmap(QPixmap.fromImage(self.image))

    def is_empty(self) -> bool:
        """Whether nothing is painted. Every autosave asks; scanning a 1024² mask in Python took
        10–20 ms of the UI thread, so the answer is kept until the pixels change (a QImage's
        ``cacheKey`` changes whenever it is painted on or replaced) and the scan runs in C."""
        key = self.image.cacheKey()
        if self._empty is None or self._empty[0] != key:
            alpha = self.image.convertToFormat(QImage.Format.Format_Alpha8)  # kept alive under the view
            pixels = bytes(alpha.constBits())
            self._empty = (key, pixels.count(0) == len(pixels))
            self.scans += 1
        return self._empty[1]

    def bounds(self, padding: int = 0) -> QRectF | None:
        """The painted part, grown by ``padding`` pixels of context, inside the canvas."""
        import numpy as np

        alpha = self.image.convertToFormat(QImage.Format.Format_Alpha8)
        width, height = alpha.width(), alpha.height()
        rows = np.frombuffer(bytes(alpha.constBits()), dtype=np.uint8).reshape(height, alpha.bytesPerLine())[:, :width]
        ys, xs = np.nonzero(rows)
        if not len(xs):
            return None
        left, top = max(0, int(xs.min()) - padding), max(0, int(ys.min()) - padding)
        right, bottom = min(width, int(xs.max()) + 1 + padding), min(height, int(ys.max()) + 1 + padding)
        return QRectF(left, top, right - left, bottom - top)

    def png(self, region: QRectF | None) -> bytes:
        """White-on-black grayscale PNG, cut to ``region`` when given."""
        alpha = self.image.convertToFormat(QImage.Format.Format_Alpha8)
        gray = QImage(alpha.constBits(), alpha.width(), alpha.height(), alpha.bytesPerLine(), QImage.Format.Format_Grayscale8).copy()
        if region is not None:
            gray = gray.copy(region.toRect())
        return image_to_png(gray)

    def saved(self) -> str | None:
        """The document's form: a base64 PNG, or None when nothing is painted."""
        return None if self.is_empty() else base64.b64encode(image_to_png(self.image)).decode("ascii")

    @staticmethod
    def from_saved(saved: str | None, size: tuple[int, int]) -> QImage:
        """Mask pixels of ``size`` from the document's form (blank when absent or unreadable)."""
        mask = blank_mask(size)
        if saved:
            loaded = QImage.fromData(QByteArray(base64.b64decode(saved)))
            if not loaded.isNull():
                painter = QPainter(mask)
                painter.drawImage(0, 0, loaded)
                painter.end()
        return mask
