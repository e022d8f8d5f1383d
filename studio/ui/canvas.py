"""The canvas widget: a view over the canvas document, with the Layers panel and the toolbar.

The document (``studio.core.canvas_document.CanvasDoc``: size, layers, selection, saved mask)
is plain data; this widget shows it on a QGraphicsScene (an ``ImageLayer`` item per layer,
the paper, the mask overlay, the selection rectangle) and changes it only through undoable
commands (``canvas_commands``) on the window's undo stack. The commands call the raw
operations below (``_insert_layer``, ``_remove_layer``, ``_apply_states``, ``_set_selection``,
``_set_mask_image``, ``set_doc_size``, ``shift_layers``), which update the document first
and the items after. Pictures out (renders, PNGs, export) are in ``canvas_pictures``; the
mask pixels and brush in ``canvas_mask``; the toolbar in ``canvas_toolbar``; the Layers list
in ``canvas_layer_panel``; the view (zoom, tools, drops) in ``canvas_view``.

The canvas offers the image actions (refine, inpaint, outpaint, music for an image) as
QActions in its toolbar and context menu; the window decides what they do.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPen, QPixmap, QUndoStack
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QListWidget,
    QMenu,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from studio.core.canvas_document import CanvasDoc, LayerState, clamp_size
from studio.ui import canvas_pictures
from studio.ui.canvas_commands import (  # the edits; re-exported for callers that import them from here
    AddLayerCommand,
    ExtendCanvasCommand,
    LayerStateCommand,
    MaskCommand,
    RemoveLayerCommand,
    SelectionCommand,
)

# Layers and the view live in their own modules; re-exported for callers that import them from here.
from studio.ui.canvas_layer_panel import LayerPanel
from studio.ui.canvas_layers import (  # noqa: F401 (re-exported)
    DEFAULT_SIZE,
    IMAGE_SUFFIXES,
    MASK_COLOUR,
    MASK_Z,
    SELECTION_Z,
    Blobs,
    ImageLayer,
    image_to_png,
)
from studio.ui.canvas_mask import CanvasMask
from studio.ui.canvas_toolbar import CanvasTools
from studio.ui.canvas_view import CanvasView


def _rect(rect: tuple[float, float, float, float]) -> QRectF:
    return QRectF(*rect)


class CanvasWidget(QWidget):
    changed = Signal()  # the document changed (autosave)
    image_files_dropped = Signal(list, QPointF)
    other_files_dropped = Signal(list)  # paths that are not images (model files, folders)
    active_layer_changed = Signal(object)  # ImageLayer | None

    def __init__(self, undo: QUndoStack, blobs: Blobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.undo = undo
        self.blobs = blobs
        self.document = CanvasDoc()
        self.scene = QGraphicsScene(self)
        self.layers: dict[str, ImageLayer] = {}  # the document's layers as scene items, by id
        self.paper = QGraphicsRectItem()
        self.paper.setBrush(QColor("#2a2c30"))
        self.paper.setPen(QPen(QColor("#3a3d43"), 0))
        self.paper.setZValue(-1e9)
        self.scene.addItem(self.paper)
        self.mask = CanvasMask(self.scene, DEFAULT_SIZE)
        self.mask_item = self.mask.item
        self._preview_item: QGraphicsPixmapItem | None = None
        self.selection_item = QGraphicsRectItem()
        pen = QPen(QColor("#4f8cff"), 0, Qt.PenStyle.DashLine)
        self.selection_item.setPen(pen)
        self.selection_item.setBrush(QColor(79, 140, 255, 30))
        self.selection_item.setZValue(SELECTION_Z)
        self.selection_item.hide()
        self.scene.addItem(self.selection_item)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.toolbar = QToolBar("Canvas tools")
        layout.addWidget(self.toolbar)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.view = CanvasView(self)
        self.view.files_dropped.connect(self.image_files_dropped)
        splitter.addWidget(self.view)
        self.layer_panel = LayerPanel(self, self.active_layer_changed.emit)
        splitter.addWidget(self.layer_panel)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setCollapsible(0, False)
        splitter.setSizes([800, 180])
        layout.addWidget(splitter, 1)
        self.tools = CanvasTools(self, self.toolbar, self)
        self.tool_actions = self.tools.tool_actions
        self.refine_action = self.tools.refine_action
        self.inpaint_action = self.tools.inpaint_action
        self.outpaint_action = self.tools.outpaint_action
        self.music_action = self.tools.music_action
        self.settings_action = self.tools.settings_action
        self.scene.selectionChanged.connect(self.sync_list_selection)
        self.set_doc_size(DEFAULT_SIZE)

    # ------------------------------------------------------------------ what the parts share

    @property
    def layer_list(self) -> QListWidget:
        return self.layer_panel.layer_list

    @property
    def doc_size(self) -> tuple[int, int]:
        return self.document.size

    @property
    def selection(self) -> QRectF | None:
        return _rect(self.document.selection) if self.document.selection is not None else None

    @property
    def mask_image(self) -> QImage:
        return self.mask.image

    @property
    def mask_colour(self) -> QColor:
        return self.mask.colour

    @mask_colour.setter
    def mask_colour(self, colour: QColor) -> None:
        self.mask.colour = QColor(colour)

    @property
    def brush_size(self) -> int:
        return self.mask.brush_size

    @brush_size.setter
    def brush_size(self, value: int) -> None:
        self.mask.brush_size = value

    @property
    def brush_hardness(self) -> float:
        return self.mask.brush_hardness

    @brush_hardness.setter
    def brush_hardness(self, value: float) -> None:
        self.mask.brush_hardness = value

    def build_context_menu(self, parent: QWidget) -> QMenu:
        menu = QMenu(parent)
        menu.addAction(self.refine_action)
        menu.addAction(self.inpaint_action)
        menu.addAction(self.outpaint_action)
        menu.addSeparator()
        menu.addAction(self.music_action)
        menu.addAction(self.settings_action)
        self.music_action.setEnabled(self.active_layer() is not None)
        self.settings_action.setEnabled(self.active_layer() is not None)
        return menu

    def set_tool(self, tool: str) -> None:
        self.view.tool = tool
        movable = tool == CanvasView.MOVE
        for layer in self.layers.values():
            layer.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, movable)
        self.tool_actions[tool].setChecked(True)
        self.view.viewport().setCursor(Qt.CursorShape.CrossCursor if tool != CanvasView.MOVE else Qt.CursorShape.ArrowCursor)

    # ------------------------------------------------------------------ document geometry

    def doc_rect(self) -> QRectF:
        return _rect(self.document.rect())

    def content_rect(self) -> QRectF:
        """The canvas plus every visible layer (results lie in a grid around the first image)."""
        return _rect(self.document.content_rect())

    def set_doc_size(self, size: tuple[int, int]) -> None:
        size = clamp_size(size)
        self.mask.resize(size)
        self.document.size = size
        self.paper.setRect(self.doc_rect())
        self.scene.setSceneRect(self.doc_rect().adjusted(-2000, -2000, 2000, 2000))

    # ------------------------------------------------------------------ layers (undoable API)

    def add_image(
        self,
        data: bytes,
        *,
        name: str = "",
        blob: str | None = None,
        node: str | None = None,
        pos: QPointF | None = None,
        mime: str = "image/png",
        fit: QRectF | None = None,
        near: QRectF | None = None,
        image: QImage | None = None,
        icon: QImage | None = None,
    ) -> ImageLayer | None:
        """Add an image as a new top layer (stored as a blob first); undoable.

        ``fit``: the region the image belongs to (an img2img result over its selection); the
        layer lies there, scaled to its width when the sizes differ. Otherwise, without a
        ``pos``, it takes the first free cell of a grid around ``near`` (the picture it came
        from; the first layer when not given): see ``CanvasDoc.free_spot``.
        """
        # ``image`` / ``icon``: already decoded off the UI thread (``image_decode``).
        image = image if image is not None and not image.isNull() else QImage.fromData(data)
        if image.isNull():
            return None
        if blob is None:
            blob = self.blobs.put(data, "image", mime, {})
        scale = 1.0
        if fit is not None:
            pos = fit.topLeft()
            if image.width() and abs(fit.width() - image.width()) >= 1:
                scale = fit.width() / image.width()
        x, y = (pos.x(), pos.y()) if pos is not None else self._free_spot(image.width(), image.height(), near)
        layer = LayerState(
            id=uuid.uuid4().hex[:12],
            name=name or f"Layer {len(self.layers) + 1}",
            blob=blob,
            node=node,
            x=x,
            y=y,
            scale=scale,
            z=self.document.top_z(),
        )
        size = (image.width(), image.height())
        resize = size if not self.layers and fit is None and size != self.doc_size else None
        if resize:
            layer.x, layer.y = 0.0, 0.0
        if icon is not None:
            self.layer_panel.icons[layer.id] = icon
        self.undo.push(AddLayerCommand(self, layer.state(), image, resize))
        return self.layers.get(layer.id)

    def _free_spot(self, width: int, height: int, near: QRectF | None = None) -> tuple[float, float]:
        return self.document.free_spot((width, height), near.getRect() if near is not None else None)

    def extend_canvas(self, left: int, top: int, right: int, bottom: int) -> None:
        """Grow the canvas (undoable); what was there moves right / down by ``left`` / ``top``."""
        if max(left, top, right, bottom) > 0:
            self.undo.push(ExtendCanvasCommand(self, max(0, left), max(0, top), max(0, right), max(0, bottom)))

    def layer_rect(self, layer: ImageLayer) -> QRectF:
        return _rect(self.document.layers[layer.layer_id].rect())

    def delete_active(self) -> None:
        layer = self.active_layer()
        if layer is not None:
            self.undo.push(RemoveLayerCommand(self, layer))

    def move_active(self, direction: int) -> None:
        layer = self.active_layer()
        swap = self.document.reorder(layer.layer_id, direction) if layer is not None else None
        if swap is not None:
            self.undo.push(LayerStateCommand(self, "Raise layer" if direction > 0 else "Lower layer", *swap))

    def set_layer_property(self, layer_id: str, key: str, value: Any, *, merge: bool = False) -> None:
        state = self.document.layers[layer_id].state()
        before, after = {layer_id: state}, {layer_id: dict(state, **{key: value})}
        if before == after:
            return
        self.undo.push(LayerStateCommand(self, f"Layer {key}", before, after, merge_key=f"{layer_id}:{key}" if merge else ""))

    def commit_move(self, before: dict[str, dict[str, Any]]) -> None:
        """A drag in the view ended: the items' new positions become an undoable move."""
        after = {
            layer_id: dict(state, x=self.layers[layer_id].pos().x(), y=self.layers[layer_id].pos().y())
            for layer_id, state in self.document.states().items()
        }
        moved = {key for key in before if key in after and (before[key]["x"], before[key]["y"]) != (after[key]["x"], after[key]["y"])}
        if moved:
            command = LayerStateCommand(self, "Move layer", {k: before[k] for k in moved}, {k: after[k] for k in moved})
            self.undo.push(command)

    def layer_states(self) -> dict[str, dict[str, Any]]:
        return self.document.states()

    def active_layer(self) -> ImageLayer | None:
        selected = [item for item in self.scene.selectedItems() if isinstance(item, ImageLayer)]
        if selected:
            return selected[0]
        current = self.layer_panel.current_id()
        if current is not None:
            return self.layers.get(current)
        top = self.document.topmost()
        return self.layers.get(top.id) if top is not None else None

    # ---- raw operations the commands call (no undo entries): the document first, then the items

    def _insert_layer(self, state: dict[str, Any], image: QImage) -> None:
        layer_state = LayerState.from_state(state, width=image.width(), height=image.height())
        self.document.add(layer_state)
        layer = ImageLayer(layer_state.id, layer_state.name, layer_state.blob, image, layer_state.node)
        layer.apply(layer_state.state())
        layer.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, self.view.tool == CanvasView.MOVE)
        self.scene.addItem(layer)
        self.layers[layer.layer_id] = layer
        self.layer_panel.add_row(layer.layer_id)
        self.changed.emit()

    def _remove_layer(self, layer_id: str) -> None:
        self.document.remove(layer_id)
        layer = self.layers.pop(layer_id, None)
        if layer is not None:
            self.scene.removeItem(layer)
        self._refresh_list()
        self.changed.emit()

    def _apply_states(self, states: dict[str, dict[str, Any]]) -> None:
        for layer_id in self.document.apply(states):
            self.layers[layer_id].apply(self.document.layers[layer_id].state())
        self._refresh_list()
        self.changed.emit()

    def shift_layers(self, dx: float, dy: float) -> None:
        """Move every layer (the canvas grew on the left / top)."""
        self.document.shift(dx, dy)
        for layer_id, layer in self.layers.items():
            layer.apply(self.document.layers[layer_id].state())

    # ------------------------------------------------------------------ layer list (``canvas_layer_panel``)

    def _refresh_list(self, select: str | None = None) -> None:
        self.layer_panel.refresh(select)

    def sync_list_selection(self) -> None:
        self.layer_panel.sync_selection()

    def reveal_layers(self, layers: list[ImageLayer]) -> None:
        """New results: the last one becomes the active layer, and they all come into view."""
        layers = [layer for layer in layers if layer.layer_id in self.layers]
        if not layers:
            return
        self.scene.clearSelection()
        layers[-1].setSelected(True)
        self.layer_panel.select(layers[-1].layer_id)
        union = self.layer_rect(layers[0])
        for layer in layers[1:]:
            union = union.united(self.layer_rect(layer))
        self.view.reveal(union)

    # ------------------------------------------------------------------ live preview

    def show_preview(self, image: QImage) -> None:
        """A running job's latest preview frame, where its output will land (not a layer, no undo)."""
        if self._preview_item is None:
            self._preview_item = QGraphicsPixmapItem()
            self._preview_item.setZValue(MASK_Z - 1)
            self._preview_item.setOpacity(0.85)
            self.scene.addItem(self._preview_item)
            x, y = self._free_spot(image.width(), image.height())
            self._preview_item.setPos(x, y)
        self._preview_item.setPixmap(QPixmap.fromImage(image))

    def hide_preview(self) -> None:
        if self._preview_item is not None:
            self.scene.removeItem(self._preview_item)
            self._preview_item = None

    # ------------------------------------------------------------------ selection and mask (``canvas_mask``)

    def select_region(self, rect: QRectF | None) -> None:
        if rect == self.selection:
            return
        self.undo.push(SelectionCommand(self, self.selection, QRectF(rect) if rect is not None else None))

    def _set_selection(self, rect: QRectF | None) -> None:
        self.document.selection = rect.getRect() if rect is not None else None
        if rect is None:
            self.selection_item.hide()
        else:
            self.selection_item.setRect(rect)
            self.selection_item.show()
        self.changed.emit()

    def paint_dab(self, pos: QPointF, *, erase: bool) -> None:
        self.mask.paint_dab(pos, erase=erase)

    def commit_stroke(self, before: QImage, *, erase: bool) -> None:
        after = self.mask_image.copy()
        self.undo.push(MaskCommand(self, "Erase mask" if erase else "Paint mask", before, after))

    def clear_mask(self) -> None:
        empty = QImage(self.mask_image.size(), QImage.Format.Format_ARGB32_Premultiplied)
        empty.fill(Qt.GlobalColor.transparent)
        self.undo.push(MaskCommand(self, "Clear mask", self.mask_image.copy(), empty))

    def _set_mask_image(self, image: QImage) -> None:
        self.mask.set_image(image)
        self.changed.emit()

    def mask_is_empty(self) -> bool:
        return self.mask.is_empty()

    def selection_rect(self) -> QRectF | None:
        """The selection on whole pixels (what a crop of it covers), or None."""
        if self.selection is None:
            return None
        rect = self.selection.toAlignedRect()
        return QRectF(rect) if rect.width() > 0 and rect.height() > 0 else None

    def mask_bounds(self, padding: int = 0) -> QRectF | None:
        """The painted part of the mask, grown by ``padding`` pixels of context, inside the canvas."""
        return self.mask.bounds(padding)

    # ------------------------------------------------------------------ pictures out (``canvas_pictures``)

    def render_region(self, rect: QRectF | None = None, *, layers_only: bool = True) -> QImage:
        """The visible layers inside ``rect`` (default: the whole canvas) as an RGBA image."""
        return canvas_pictures.render_region(self, rect, layers_only=layers_only)

    def region_png(self, rect: QRectF) -> bytes:
        return image_to_png(self.render_region(rect))

    def selection_png(self) -> bytes | None:
        return image_to_png(self.render_region(self.selection)) if self.selection is not None else None

    def canvas_png(self) -> bytes:
        return image_to_png(self.render_region())

    def layer_png(self) -> bytes | None:
        layer = self.active_layer()
        return self.blobs.get(layer.blob) if layer is not None else None

    def mask_png(self, rect: QRectF | None = None) -> bytes:
        """The mask as a white-on-black grayscale PNG (inside the selection when there is one)."""
        return self.mask.png(rect if rect is not None else self.selection)

    def export_png(
        self, path: Path, *, layer_only: bool = False, encode: Callable[[QImage, ImageLayer | None], bytes] | None = None
    ) -> Path:
        """Write the visible canvas (or the active layer) as PNG; ``encode`` adds the metadata."""
        return canvas_pictures.export_png(self, Path(path), layer_only=layer_only, encode=encode)

    # ------------------------------------------------------------------ the project's ``canvas`` part

    def to_document(self) -> dict[str, Any]:
        self.document.mask = self.mask.saved()
        return self.document.to_dict()

    def load_document(self, doc: dict[str, Any] | None) -> list[str]:
        """Replace the canvas with ``doc`` (no undo entry); returns problems (missing blobs)."""
        problems: list[str] = []
        for layer_id in list(self.layers):
            self._remove_layer(layer_id)
        doc = doc or {}
        loaded = CanvasDoc.from_dict(dict(doc, layers=[]))  # size, selection, mask; layers one by one below
        self.set_doc_size(loaded.size)
        for state in doc.get("layers") or []:  # in the saved order (bottom to top)
            try:
                layer = LayerState.from_state(state)
                image = QImage.fromData(self.blobs.get(layer.blob))
            except KeyError:
                problems.append(f"layer {state.get('name')}: its image is missing from the project")
                continue
            self._insert_layer(layer.state(), image)
        self._set_selection(_rect(loaded.selection) if loaded.selection else None)
        self._set_mask_image(CanvasMask.from_saved(loaded.mask, self.doc_size))
        return problems
