"""The canvas's view: zoom, pan, the tools (move, select, mask brush / eraser), drops, and
bringing new results into view. Split out of ``canvas.py``."""

from __future__ import annotations

import math
from typing import Any, Protocol

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene, QGraphicsView, QMenu, QWidget

from studio.ui import mask_brush
from studio.ui.canvas_layers import IMAGE_SUFFIXES, SELECTION_Z, ImageLayer


class ViewedCanvas(Protocol):
    """What the view shows and edits: the canvas widget's scene, geometry, mask and layers."""

    scene: QGraphicsScene
    other_files_dropped: Any  # Signal(list)
    brush_size: int

    @property
    def mask_image(self) -> QImage: ...

    def content_rect(self) -> QRectF: ...

    def doc_rect(self) -> QRectF: ...

    def paint_dab(self, pos: QPointF, *, erase: bool) -> None: ...

    def commit_stroke(self, before: QImage, *, erase: bool) -> None: ...

    def layer_states(self) -> dict[str, dict[str, Any]]: ...

    def commit_move(self, before: dict[str, dict[str, Any]]) -> None: ...

    def sync_list_selection(self) -> None: ...

    def build_context_menu(self, parent: QWidget) -> QMenu: ...

    def select_region(self, rect: QRectF | None) -> None: ...


class CanvasView(QGraphicsView):
    MOVE, SELECT, BRUSH, ERASE = "move", "select", "brush", "erase"
    zoom_changed = Signal(float)
    files_dropped = Signal(list, QPointF)

    def __init__(self, canvas: ViewedCanvas) -> None:
        super().__init__(canvas.scene)
        self.canvas = canvas
        self.tool = self.MOVE
        self.setObjectName("canvasView")
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setAcceptDrops(True)
        self.setBackgroundBrush(QColor("#131416"))
        self._space = False
        self._panning: QPointF | None = None
        self._press_scene: QPointF | None = None
        self._rubber: QGraphicsRectItem | None = None
        self._move_before: dict[str, dict[str, Any]] | None = None
        self._stroke_before: QImage | None = None
        self._last_dab: QPointF | None = None

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, factor: float) -> None:
        factor = max(0.02, min(64.0, factor))
        self.resetTransform()
        self.scale(factor, factor)
        self.zoom_changed.emit(factor)

    def reveal(self, rect: QRectF, margin: float = 24.0) -> None:
        """Bring ``rect`` into view: scroll when it fits at this zoom, zoom out when it does not."""
        visible = self.mapToScene(self.viewport().rect()).boundingRect()
        if visible.contains(rect):
            return
        zoom = self.zoom or 1.0
        room = self.viewport().rect()
        if (rect.width() + 2 * margin) * zoom <= room.width() and (rect.height() + 2 * margin) * zoom <= room.height():
            self.ensureVisible(rect, int(margin * zoom), int(margin * zoom))
        else:
            self.fitInView(rect.adjusted(-margin, -margin, margin, margin), Qt.AspectRatioMode.KeepAspectRatio)
            self.zoom_changed.emit(self.zoom)

    def fit(self) -> None:
        self.fitInView(self.canvas.content_rect().adjusted(-16, -16, 16, 16), Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom)

    def wheelEvent(self, event: Any) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            factor = 1.2**steps
            self.scale(factor, factor)
            self.zoom_changed.emit(self.zoom)
        event.accept()

    def keyPressEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: Any) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().unsetCursor()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event: Any) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (self._space and event.button() == Qt.MouseButton.LeftButton):
            self._panning = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        scene_pos = self.mapToScene(event.position().toPoint())
        self._press_scene = scene_pos
        if self.tool == self.SELECT:
            self._rubber = QGraphicsRectItem(QRectF(scene_pos, scene_pos))
            self._rubber.setPen(QPen(QColor("#ffffff"), 0, Qt.PenStyle.DashLine))
            self._rubber.setZValue(SELECTION_Z + 1)
            self.scene().addItem(self._rubber)
            return
        if self.tool in (self.BRUSH, self.ERASE):
            scene_pos = mask_brush.begin_stroke(self.canvas, scene_pos)  # on the picture under it; None: none there
            if scene_pos is None:
                return
            self._stroke_before = self.canvas.mask_image.copy()
            self._last_dab = None
            self.canvas.paint_dab(scene_pos, erase=self.tool == self.ERASE)
            self._last_dab = scene_pos
            return
        self._move_before = self.canvas.layer_states()
        super().mousePressEvent(event)
        self.canvas.sync_list_selection()

    def mouseMoveEvent(self, event: Any) -> None:
        if self._panning is not None:
            delta = event.position() - self._panning
            self._panning = event.position()
            self.horizontalScrollBar().setValue(int(self.horizontalScrollBar().value() - delta.x()))
            self.verticalScrollBar().setValue(int(self.verticalScrollBar().value() - delta.y()))
            return
        scene_pos = self.mapToScene(event.position().toPoint())
        if self._rubber is not None and self._press_scene is not None:
            self._rubber.setRect(QRectF(self._press_scene, scene_pos).normalized())
            return
        if self._stroke_before is not None:
            self._stroke_to(scene_pos)
            return
        super().mouseMoveEvent(event)

    def _stroke_to(self, scene_pos: QPointF) -> None:
        start = self._last_dab or scene_pos
        spacing = max(1.0, self.canvas.brush_size / 4.0)
        distance = math.hypot(scene_pos.x() - start.x(), scene_pos.y() - start.y())
        steps = max(1, int(distance / spacing))
        for index in range(1, steps + 1):
            t = index / steps
            self.canvas.paint_dab(
                QPointF(start.x() + (scene_pos.x() - start.x()) * t, start.y() + (scene_pos.y() - start.y()) * t),
                erase=self.tool == self.ERASE,
            )
        self._last_dab = scene_pos

    def mouseReleaseEvent(self, event: Any) -> None:
        if self._panning is not None:
            self._panning = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.ArrowCursor)
            return
        if self._rubber is not None:
            rect = self._rubber.rect().intersected(self.canvas.doc_rect())
            self.scene().removeItem(self._rubber)
            self._rubber = None
            if rect.width() >= 2 and rect.height() >= 2:
                self.canvas.select_region(rect)
            else:
                self.canvas.select_region(None)
            return
        if self._stroke_before is not None:
            before, self._stroke_before = self._stroke_before, None
            self.canvas.commit_stroke(before, erase=self.tool == self.ERASE)
            return
        super().mouseReleaseEvent(event)
        if self._move_before is not None:
            before, self._move_before = self._move_before, None
            self.canvas.commit_move(before)

    def contextMenuEvent(self, event: Any) -> None:
        item = self.itemAt(event.pos())
        if isinstance(item, ImageLayer) and not item.isSelected():
            self.scene().clearSelection()
            item.setSelected(True)
            self.canvas.sync_list_selection()
        menu = self.canvas.build_context_menu(self)
        menu.exec(event.globalPos())
        menu.deleteLater()

    def dragEnterEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        images = [p for p in paths if p.lower().endswith(IMAGE_SUFFIXES)]
        others = [p for p in paths if p and p not in images]
        if images:
            self.files_dropped.emit(images, self.mapToScene(event.position().toPoint()))
        if others:
            self.canvas.other_files_dropped.emit(others)  # model files and folders: the window asks
        if images or others:
            event.acceptProposedAction()
