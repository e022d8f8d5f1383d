"""Pictures out of the canvas: a region rendered as an image, and the PNG export.

Split out of ``canvas.py``. A render shows the visible layers only (no paper, mask overlay,
selection rectangle or selection highlight), so what goes to img2img or into a file is the
picture itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene

from studio.ui.canvas_layers import Blobs, ImageLayer, image_to_png


class RenderedCanvas(Protocol):
    scene: QGraphicsScene
    paper: QGraphicsItem
    mask_item: QGraphicsItem
    selection_item: QGraphicsItem
    blobs: Blobs

    def content_rect(self) -> QRectF: ...

    def active_layer(self) -> ImageLayer | None: ...


def render_region(canvas: RenderedCanvas, rect: QRectF | None = None, *, layers_only: bool = True) -> QImage:
    """The visible layers inside ``rect`` (default: everything there is) as an RGBA image."""
    rect = QRectF(rect) if rect is not None else canvas.content_rect().toAlignedRect().toRectF()
    image = QImage(max(1, int(rect.width())), max(1, int(rect.height())), QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    hidden = [canvas.paper, canvas.mask_item, canvas.selection_item] if layers_only else []
    visibility = [item.isVisible() for item in hidden]
    selected = canvas.scene.selectedItems()
    for item in selected:
        item.setSelected(False)
    for item in hidden:
        item.setVisible(False)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    canvas.scene.render(painter, QRectF(0, 0, image.width(), image.height()), rect)
    painter.end()
    for item, was in zip(hidden, visibility):
        item.setVisible(was)
    for item in selected:
        item.setSelected(True)
    return image


def export_png(
    canvas: RenderedCanvas, path: Path, *, layer_only: bool = False, encode: Callable[[QImage, ImageLayer | None], bytes] | None = None
) -> Path:
    """Write the visible canvas (or the active layer) as PNG; ``encode`` adds the metadata."""
    layer = canvas.active_layer()
    if layer_only and layer is not None:
        data = canvas.blobs.get(layer.blob)
        if encode is not None and not data.startswith(b"\x89PNG"):
            data = encode(layer.image, layer)
    else:
        image = render_region(canvas)
        # The whole canvas is no one layer's generation: ``encode`` gets no layer.
        data = encode(image, None) if encode is not None else image_to_png(image)
    path.write_bytes(data)
    return path
