"""What a canvas is made of: image layers, the z-order constants, PNG bytes of an image.

Split out of ``canvas.py`` so the view (``canvas_view``), the edits (``canvas_commands``) and
the widget share them without importing each other.
"""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import QBuffer, QIODevice, Qt
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPixmapItem

DEFAULT_SIZE = (512, 512)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MASK_COLOUR = QColor(255, 60, 60)
MASK_Z = 1_000_000
SELECTION_Z = 1_000_001


class Blobs(Protocol):
    def get(self, blob_id: str) -> bytes: ...
    def put(self, data: bytes, kind: str, mime: str, meta: dict[str, Any] | None = None) -> str: ...


def image_to_png(image: QImage) -> bytes:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data())


# --------------------------------------------------------------------------- items


class ImageLayer(QGraphicsPixmapItem):
    def __init__(self, layer_id: str, name: str, blob: str, image: QImage, node: str | None = None) -> None:
        super().__init__(QPixmap.fromImage(image))
        self.layer_id, self.name, self.blob, self.node = layer_id, name, blob, node
        self.image = image
        self.icon: QPixmap | None = None  # the layer list's, made once (scaling each refresh stalled the UI)
        self.takes: dict[str, Any] | None = None  # Vary's alternatives for this layer (studio.core.takes)
        self.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, True)

    def state(self) -> dict[str, Any]:
        return {
            "id": self.layer_id,
            "name": self.name,
            "blob": self.blob,
            "node": self.node,
            "x": self.pos().x(),
            "y": self.pos().y(),
            "scale": self.scale(),
            "opacity": self.opacity(),
            "visible": self.isVisible(),
            "z": self.zValue(),
            **({"takes": self.takes} if self.takes else {}),
        }

    def apply(self, state: dict[str, Any]) -> None:
        self.setPos(float(state.get("x", 0.0)), float(state.get("y", 0.0)))
        self.setScale(float(state.get("scale", 1.0)))
        self.setOpacity(float(state.get("opacity", 1.0)))
        self.setVisible(bool(state.get("visible", True)))
        self.setZValue(float(state.get("z", 0.0)))
        self.name = str(state.get("name", self.name))
        self.takes = state.get("takes") or None
