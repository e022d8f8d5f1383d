"""The canvas: image layers on a QGraphicsScene, a selection, a mask, all edits undoable.

Layers keep their position, scale, opacity, visibility and order; a rectangular selection
becomes the img2img / inpaint region; the mask layer is painted with a brush (size,
hardness, erase). Every edit is a QUndoCommand on the window's undo stack. The canvas is
saved as a JSON document whose layers point at content-addressed blobs in the project.

The canvas offers the image actions (refine, inpaint, outpaint, music for an image) as
QActions in its toolbar and context menu; the window decides what they do.
"""

from __future__ import annotations

import base64
import math
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QBrush,
    QColor,
    QImage,
    QKeySequence,
    QPainter,
    QPen,
    QPixmap,
    QRadialGradient,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QFormLayout,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSpinBox,
    QSplitter,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.ui.canvas_commands import (  # the edits; re-exported for callers that import them from here
    AddLayerCommand,
    ExtendCanvasCommand,
    LayerStateCommand,
    MaskCommand,
    RemoveLayerCommand,
    SelectionCommand,
)

# Layers and the view live in their own modules; re-exported for callers that import them from here.
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
from studio.ui.canvas_view import CanvasView
from studio.ui.result_layout import grid_spot

# --------------------------------------------------------------------------- the widget


class CanvasWidget(QWidget):
    changed = Signal()  # the document changed (autosave)
    image_files_dropped = Signal(list, QPointF)
    other_files_dropped = Signal(list)  # paths that are not images (model files, folders)
    active_layer_changed = Signal(object)  # ImageLayer | None

    def __init__(self, undo: QUndoStack, blobs: Blobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.undo = undo
        self.blobs = blobs
        self.scene = QGraphicsScene(self)
        self.layers: dict[str, ImageLayer] = {}
        self.doc_size = DEFAULT_SIZE
        self.brush_size = 40
        self.brush_hardness = 0.7
        self.paper = QGraphicsRectItem()
        self.paper.setBrush(QColor("#2a2c30"))
        self.paper.setPen(QPen(QColor("#3a3d43"), 0))
        self.paper.setZValue(-1e9)
        self.scene.addItem(self.paper)
        self.mask_image = QImage(*DEFAULT_SIZE, QImage.Format.Format_ARGB32_Premultiplied)
        self.mask_image.fill(Qt.GlobalColor.transparent)
        self.mask_item = QGraphicsPixmapItem()
        self.mask_item.setZValue(MASK_Z)
        self.mask_item.setOpacity(0.5)
        self.scene.addItem(self.mask_item)
        self.selection: QRectF | None = None
        self._icons: dict[str, QImage] = {}  # layer id -> icon decoded off the UI thread, until used
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
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(4, 4, 4, 4)
        side_layout.addWidget(QLabel("Layers"))
        self.layer_list = QListWidget()
        self.layer_list.setObjectName("layerList")
        self.layer_list.itemChanged.connect(self._list_item_changed)
        self.layer_list.currentItemChanged.connect(self._list_current_changed)
        self.layer_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.layer_list.customContextMenuRequested.connect(self._layer_list_menu)
        side_layout.addWidget(self.layer_list, 1)
        # Two short rows, so the layers panel stays narrow and the picture gets the width.
        props = QFormLayout()
        props.setContentsMargins(0, 0, 0, 0)
        self.opacity = QSpinBox()
        self.opacity.setRange(0, 100)
        self.opacity.setSuffix("%")
        self.opacity.valueChanged.connect(self._opacity_edited)
        self.opacity.setToolTip("Opacity of the selected layer")
        props.addRow("Opacity", self.opacity)
        self.scale_box = QSpinBox()
        self.scale_box.setRange(1, 1600)
        self.scale_box.setSuffix("%")
        self.scale_box.valueChanged.connect(self._scale_edited)
        self.scale_box.setToolTip("Scale of the selected layer")
        props.addRow("Scale", self.scale_box)
        # Until a layer is selected there is nothing to edit: neutral values, disabled.
        for box in (self.opacity, self.scale_box):
            box.blockSignals(True)
            box.setValue(100)
            box.setEnabled(False)
            box.blockSignals(False)
        side_layout.addLayout(props)
        order = QHBoxLayout()
        for text, tip, slot in (
            ("▲", "Raise layer", lambda: self.move_active(+1)),
            ("▼", "Lower layer", lambda: self.move_active(-1)),
            ("✕", "Delete layer", self.delete_active),
        ):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            order.addWidget(button)
        order.addStretch(1)
        side_layout.addLayout(order)
        side.setMinimumWidth(140)
        side.setMaximumWidth(240)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 0)
        splitter.setCollapsible(0, False)
        splitter.setSizes([800, 180])
        layout.addWidget(splitter, 1)
        self._build_toolbar()
        self.scene.selectionChanged.connect(self.sync_list_selection)
        self.set_doc_size(DEFAULT_SIZE)
        self._syncing = False

    # ------------------------------------------------------------------ toolbar

    def _build_toolbar(self) -> None:
        bar = self.toolbar
        group = QActionGroup(self)
        self.tool_actions: dict[str, QAction] = {}
        for tool, text, key in (
            (CanvasView.MOVE, "Move", "V"),
            (CanvasView.SELECT, "Select", "M"),
            (CanvasView.BRUSH, "Mask brush", "B"),
            (CanvasView.ERASE, "Mask eraser", "E"),
        ):
            action = QAction(text, self)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.setToolTip(f"{text} ({key})")
            action.triggered.connect(lambda _c=False, t=tool: self.set_tool(t))
            group.addAction(action)
            bar.addAction(action)
            self.tool_actions[tool] = action
        self.tool_actions[CanvasView.MOVE].setChecked(True)
        bar.addSeparator()
        bar.addWidget(QLabel(" Brush "))
        self.brush_box = QSpinBox()
        self.brush_box.setRange(1, 500)
        self.brush_box.setValue(self.brush_size)
        self.brush_box.valueChanged.connect(lambda v: setattr(self, "brush_size", v))
        bar.addWidget(self.brush_box)
        bar.addWidget(QLabel(" Hardness "))
        self.hardness_box = QSpinBox()
        self.hardness_box.setRange(0, 100)
        self.hardness_box.setSuffix("%")
        self.hardness_box.setValue(int(self.brush_hardness * 100))
        self.hardness_box.valueChanged.connect(lambda v: setattr(self, "brush_hardness", v / 100.0))
        bar.addWidget(self.hardness_box)
        clear_mask = QAction("Clear mask", self)
        clear_mask.triggered.connect(self.clear_mask)
        bar.addAction(clear_mask)
        bar.addSeparator()
        # What the window does with these is its business (see studio.ui.canvas_actions).
        self.refine_action = QAction("Refine selection (img2img)", self)
        self.refine_action.setIconText("Refine")
        self.refine_action.setObjectName("canvasRefine")
        self.refine_action.setToolTip("Refine the selection with Stable Diffusion img2img (the Generate panel's prompt and strength)")
        self.inpaint_action = QAction("Inpaint masked area", self)
        self.inpaint_action.setIconText("Inpaint")
        self.inpaint_action.setObjectName("canvasInpaint")
        self.inpaint_action.setToolTip("Repaint the masked area (paint it with the mask brush, B) with Stable Diffusion")
        self.outpaint_action = QAction("Outpaint…", self)
        self.outpaint_action.setObjectName("canvasOutpaint")
        self.outpaint_action.setToolTip("Extend the picture beyond the selection's edges with Stable Diffusion")
        self.music_action = QAction("Music for this image", self)
        self.music_action.setObjectName("canvasMusic")
        self.music_action.setToolTip("The image's prompt becomes the MusicGen prompt")
        self.settings_action = QAction("Use these settings", self)
        self.settings_action.setObjectName("canvasUseSettings")
        self.settings_action.setToolTip("Restore the settings this image was made with into the Generate panel")
        for action in (self.refine_action, self.inpaint_action, self.outpaint_action):
            bar.addAction(action)
        bar.addSeparator()
        fit = QAction("Fit", self)
        fit.setToolTip("Fit the canvas in the view")
        fit.triggered.connect(self.view.fit)
        bar.addAction(fit)
        actual = QAction("100%", self)
        actual.triggered.connect(lambda: self.view.set_zoom(1.0))
        bar.addAction(actual)
        self.zoom_label = QLabel(" 100% ")
        self.zoom_label.setObjectName("muted")
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f" {z * 100:.0f}% "))
        bar.addWidget(self.zoom_label)

    def _layer_list_menu(self, position: Any) -> None:
        menu = self.build_context_menu(self)
        menu.exec(self.layer_list.viewport().mapToGlobal(position))
        menu.deleteLater()

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
        return QRectF(0, 0, *self.doc_size)

    def content_rect(self) -> QRectF:
        """The canvas plus every visible layer (a batch lies side by side beyond the first image)."""
        rect = self.doc_rect()
        for layer in self.layers.values():
            if layer.isVisible():
                size = layer.pixmap().size()
                rect = rect.united(QRectF(layer.pos().x(), layer.pos().y(), size.width() * layer.scale(), size.height() * layer.scale()))
        return rect

    def set_doc_size(self, size: tuple[int, int]) -> None:
        size = (max(1, int(size[0])), max(1, int(size[1])))
        if size != tuple(self.mask_image.size().toTuple()):
            mask = QImage(*size, QImage.Format.Format_ARGB32_Premultiplied)
            mask.fill(Qt.GlobalColor.transparent)
            painter = QPainter(mask)
            painter.drawImage(0, 0, self.mask_image)
            painter.end()
            self.mask_image = mask
            self.mask_item.setPixmap(QPixmap.fromImage(mask))
        self.doc_size = size
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
        from; the first layer when not given): see ``result_layout``.
        """
        # ``image`` / ``icon``: already decoded off the UI thread (``image_decode``).
        image = image if image is not None and not image.isNull() else QImage.fromData(data)
        if image.isNull():
            return None
        if blob is None:
            blob = self.blobs.put(data, "image", mime, {})
        top = max((layer.zValue() for layer in self.layers.values()), default=0.0) + 1
        scale = 1.0
        if fit is not None:
            pos = fit.topLeft()
            if image.width() and abs(fit.width() - image.width()) >= 1:
                scale = fit.width() / image.width()
        x, y = (pos.x(), pos.y()) if pos is not None else self._free_spot(image.size(), near)
        state = {
            "id": uuid.uuid4().hex[:12],
            "name": name or f"Layer {len(self.layers) + 1}",
            "blob": blob,
            "node": node,
            "x": x,
            "y": y,
            "scale": scale,
            "opacity": 1.0,
            "visible": True,
            "z": top,
        }
        resize = (
            (image.width(), image.height())
            if not self.layers and fit is None and (image.width(), image.height()) != self.doc_size
            else None
        )
        if resize:
            state["x"], state["y"] = 0.0, 0.0
        if icon is not None:
            self._icons[state["id"]] = icon
        self.undo.push(AddLayerCommand(self, state, image, resize))
        return self.layers.get(state["id"])

    def _free_spot(self, size: QSize, near: QRectF | None = None) -> tuple[float, float]:
        if not self.layers:
            return 0.0, 0.0
        if near is None:
            # No source: the grid grows from the first picture, so results stay one block.
            first = min(self.layers.values(), key=lambda layer: layer.zValue())
            near = self.layer_rect(first)
        occupied = [self.layer_rect(layer).getRect() for layer in self.layers.values()]
        anchor = near.getRect() if near is not None else None
        x, y = grid_spot((size.width(), size.height()), occupied, anchor)
        return float(math.ceil(x)), float(math.ceil(y))

    def extend_canvas(self, left: int, top: int, right: int, bottom: int) -> None:
        """Grow the canvas (undoable); what was there moves right / down by ``left`` / ``top``."""
        if max(left, top, right, bottom) > 0:
            self.undo.push(ExtendCanvasCommand(self, max(0, left), max(0, top), max(0, right), max(0, bottom)))

    def layer_rect(self, layer: ImageLayer) -> QRectF:
        size = layer.pixmap().size()
        return QRectF(layer.pos().x(), layer.pos().y(), size.width() * layer.scale(), size.height() * layer.scale())

    def delete_active(self) -> None:
        layer = self.active_layer()
        if layer is not None:
            self.undo.push(RemoveLayerCommand(self, layer))

    def move_active(self, direction: int) -> None:
        layer = self.active_layer()
        if layer is None:
            return
        ordered = sorted(self.layers.values(), key=lambda item: item.zValue())
        index = ordered.index(layer)
        other_index = index + direction
        if not 0 <= other_index < len(ordered):
            return
        other = ordered[other_index]
        before = {layer.layer_id: layer.state(), other.layer_id: other.state()}
        after = {layer.layer_id: dict(layer.state(), z=other.zValue()), other.layer_id: dict(other.state(), z=layer.zValue())}
        self.undo.push(LayerStateCommand(self, "Raise layer" if direction > 0 else "Lower layer", before, after))

    def set_layer_property(self, layer_id: str, key: str, value: Any, *, merge: bool = False) -> None:
        layer = self.layers[layer_id]
        before = {layer_id: layer.state()}
        after = {layer_id: dict(layer.state(), **{key: value})}
        if before == after:
            return
        self.undo.push(LayerStateCommand(self, f"Layer {key}", before, after, merge_key=f"{layer_id}:{key}" if merge else ""))

    def commit_move(self, before: dict[str, dict[str, Any]]) -> None:
        after = self.layer_states()
        moved = {key for key in before if key in after and (before[key]["x"], before[key]["y"]) != (after[key]["x"], after[key]["y"])}
        if moved:
            command = LayerStateCommand(self, "Move layer", {k: before[k] for k in moved}, {k: after[k] for k in moved})
            self.undo.push(command)

    def layer_states(self) -> dict[str, dict[str, Any]]:
        return {layer_id: layer.state() for layer_id, layer in self.layers.items()}

    def active_layer(self) -> ImageLayer | None:
        selected = [item for item in self.scene.selectedItems() if isinstance(item, ImageLayer)]
        if selected:
            return selected[0]
        item = self.layer_list.currentItem()
        if item is not None:
            return self.layers.get(item.data(Qt.ItemDataRole.UserRole))
        return max(self.layers.values(), key=lambda layer: layer.zValue(), default=None)

    # ---- raw operations the commands call (no undo entries)

    def _insert_layer(self, state: dict[str, Any], image: QImage) -> None:
        layer = ImageLayer(state["id"], state["name"], state["blob"], image, state.get("node"))
        layer.apply(state)
        layer.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, self.view.tool == CanvasView.MOVE)
        self.scene.addItem(layer)
        self.layers[layer.layer_id] = layer
        self._refresh_list(select=layer.layer_id)
        self.changed.emit()

    def _remove_layer(self, layer_id: str) -> None:
        layer = self.layers.pop(layer_id, None)
        if layer is not None:
            self.scene.removeItem(layer)
        self._refresh_list()
        self.changed.emit()

    def _apply_states(self, states: dict[str, dict[str, Any]]) -> None:
        for layer_id, state in states.items():
            layer = self.layers.get(layer_id)
            if layer is not None:
                layer.apply(state)
        self._refresh_list()
        self.changed.emit()

    # ------------------------------------------------------------------ layer list

    def _refresh_list(self, select: str | None = None) -> None:
        self._syncing = True
        current = select
        if current is None and self.layer_list.currentItem() is not None:
            current = self.layer_list.currentItem().data(Qt.ItemDataRole.UserRole)
        self.layer_list.clear()
        for layer in sorted(self.layers.values(), key=lambda item: -item.zValue()):
            item = QListWidgetItem(layer.name)
            item.setData(Qt.ItemDataRole.UserRole, layer.layer_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEditable)
            item.setCheckState(Qt.CheckState.Checked if layer.isVisible() else Qt.CheckState.Unchecked)
            if layer.icon is None:
                layer.icon = QPixmap.fromImage(
                    self._icons.pop(layer.layer_id, None) or layer.image.scaled(32, 32, Qt.AspectRatioMode.KeepAspectRatio)
                )
            item.setIcon(layer.icon)
            self.layer_list.addItem(item)
            if layer.layer_id == current:
                self.layer_list.setCurrentItem(item)
        self._syncing = False
        self._show_properties()

    def _list_item_changed(self, item: QListWidgetItem) -> None:
        if self._syncing:
            return
        layer = self.layers.get(item.data(Qt.ItemDataRole.UserRole))
        if layer is None:
            return
        visible = item.checkState() == Qt.CheckState.Checked
        if visible != layer.isVisible():
            self.set_layer_property(layer.layer_id, "visible", visible)
        elif item.text() != layer.name:
            self.set_layer_property(layer.layer_id, "name", item.text())

    def _list_current_changed(self, current: QListWidgetItem | None, _previous: Any) -> None:
        if self._syncing or current is None:
            self._show_properties()
            return
        layer = self.layers.get(current.data(Qt.ItemDataRole.UserRole))
        if layer is not None:
            self._syncing = True
            self.scene.clearSelection()
            layer.setSelected(True)
            self._syncing = False
        self._show_properties()

    def sync_list_selection(self) -> None:
        if self._syncing:
            return
        selected = [item for item in self.scene.selectedItems() if isinstance(item, ImageLayer)]
        if not selected:
            return
        for row in range(self.layer_list.count()):
            item = self.layer_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == selected[0].layer_id:
                self._syncing = True
                self.layer_list.setCurrentItem(item)
                self._syncing = False
        self._show_properties()

    def _show_properties(self) -> None:
        layer = self.active_layer()
        self.opacity.blockSignals(True)
        self.scale_box.blockSignals(True)
        self.opacity.setEnabled(layer is not None)
        self.scale_box.setEnabled(layer is not None)
        self.opacity.setValue(int(round(layer.opacity() * 100)) if layer is not None else 100)
        self.scale_box.setValue(int(round(layer.scale() * 100)) if layer is not None else 100)
        self.opacity.blockSignals(False)
        self.scale_box.blockSignals(False)
        self.active_layer_changed.emit(layer)

    def _opacity_edited(self, value: int) -> None:
        layer = self.active_layer()
        if layer is not None:
            self.set_layer_property(layer.layer_id, "opacity", value / 100.0, merge=True)

    def _scale_edited(self, value: int) -> None:
        layer = self.active_layer()
        if layer is not None:
            self.set_layer_property(layer.layer_id, "scale", value / 100.0, merge=True)

    def reveal_layers(self, layers: list[ImageLayer]) -> None:
        """New results: the last one becomes the active layer, and they all come into view."""
        layers = [layer for layer in layers if layer.layer_id in self.layers]
        if not layers:
            return
        self.scene.clearSelection()
        layers[-1].setSelected(True)
        self._refresh_list(select=layers[-1].layer_id)
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
            x, y = self._free_spot(image.size())
            self._preview_item.setPos(x, y)
        self._preview_item.setPixmap(QPixmap.fromImage(image))

    def hide_preview(self) -> None:
        if self._preview_item is not None:
            self.scene.removeItem(self._preview_item)
            self._preview_item = None

    # ------------------------------------------------------------------ selection and mask

    def select_region(self, rect: QRectF | None) -> None:
        if rect == self.selection:
            return
        self.undo.push(SelectionCommand(self, self.selection, QRectF(rect) if rect is not None else None))

    def _set_selection(self, rect: QRectF | None) -> None:
        self.selection = QRectF(rect) if rect is not None else None
        if rect is None:
            self.selection_item.hide()
        else:
            self.selection_item.setRect(rect)
            self.selection_item.show()
        self.changed.emit()

    def paint_dab(self, pos: QPointF, *, erase: bool) -> None:
        radius = max(0.5, self.brush_size / 2.0)
        painter = QPainter(self.mask_image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        gradient = QRadialGradient(pos, radius)
        gradient.setColorAt(0.0, MASK_COLOUR)
        gradient.setColorAt(max(0.0, min(0.999, self.brush_hardness)), MASK_COLOUR)
        transparent = QColor(MASK_COLOUR)
        transparent.setAlpha(0)
        gradient.setColorAt(1.0, transparent)
        if erase:
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationOut)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(gradient))
        painter.drawEllipse(pos, radius, radius)
        painter.end()
        self.mask_item.setPixmap(QPixmap.fromImage(self.mask_image))

    def commit_stroke(self, before: QImage, *, erase: bool) -> None:
        after = self.mask_image.copy()
        self.undo.push(MaskCommand(self, "Erase mask" if erase else "Paint mask", before, after))

    def clear_mask(self) -> None:
        empty = QImage(self.mask_image.size(), QImage.Format.Format_ARGB32_Premultiplied)
        empty.fill(Qt.GlobalColor.transparent)
        self.undo.push(MaskCommand(self, "Clear mask", self.mask_image.copy(), empty))

    def _set_mask_image(self, image: QImage) -> None:
        self.mask_image = image.copy()
        self.mask_item.setPixmap(QPixmap.fromImage(self.mask_image))
        self.changed.emit()

    def mask_is_empty(self) -> bool:
        alpha = self.mask_image.convertToFormat(QImage.Format.Format_Alpha8)  # kept: the view below borrows its pixels
        pixels = bytes(alpha.constBits())
        return pixels.count(0) == len(pixels)  # in C; ``any()`` over a 1024² mask took ~10 ms per autosave

    def selection_rect(self) -> QRectF | None:
        """The selection on whole pixels (what a crop of it covers), or None."""
        if self.selection is None:
            return None
        rect = self.selection.toAlignedRect()
        return QRectF(rect) if rect.width() > 0 and rect.height() > 0 else None

    def mask_bounds(self, padding: int = 0) -> QRectF | None:
        """The painted part of the mask, grown by ``padding`` pixels of context, inside the canvas."""
        import numpy as np

        alpha = self.mask_image.convertToFormat(QImage.Format.Format_Alpha8)
        width, height = alpha.width(), alpha.height()
        rows = np.frombuffer(bytes(alpha.constBits()), dtype=np.uint8).reshape(height, alpha.bytesPerLine())[:, :width]
        ys, xs = np.nonzero(rows)
        if not len(xs):
            return None
        left, top = max(0, int(xs.min()) - padding), max(0, int(ys.min()) - padding)
        right, bottom = min(width, int(xs.max()) + 1 + padding), min(height, int(ys.max()) + 1 + padding)
        return QRectF(left, top, right - left, bottom - top)

    def region_png(self, rect: QRectF) -> bytes:
        return image_to_png(self.render_region(rect))

    # ------------------------------------------------------------------ pictures out

    def render_region(self, rect: QRectF | None = None, *, layers_only: bool = True) -> QImage:
        """The visible layers inside ``rect`` (default: the whole canvas) as an RGBA image."""
        rect = QRectF(rect) if rect is not None else self.content_rect().toAlignedRect().toRectF()
        image = QImage(max(1, int(rect.width())), max(1, int(rect.height())), QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        hidden = [self.paper, self.mask_item, self.selection_item] if layers_only else []
        visibility = [item.isVisible() for item in hidden]
        selected = self.scene.selectedItems()
        for item in selected:
            item.setSelected(False)
        for item in hidden:
            item.setVisible(False)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.scene.render(painter, QRectF(0, 0, image.width(), image.height()), rect)
        painter.end()
        for item, was in zip(hidden, visibility):
            item.setVisible(was)
        for item in selected:
            item.setSelected(True)
        return image

    def selection_png(self) -> bytes | None:
        return image_to_png(self.render_region(self.selection)) if self.selection is not None else None

    def canvas_png(self) -> bytes:
        return image_to_png(self.render_region())

    def layer_png(self) -> bytes | None:
        layer = self.active_layer()
        return self.blobs.get(layer.blob) if layer is not None else None

    def mask_png(self, rect: QRectF | None = None) -> bytes:
        """The mask as a white-on-black grayscale PNG (inside the selection when there is one)."""
        alpha = self.mask_image.convertToFormat(QImage.Format.Format_Alpha8)
        gray = QImage(alpha.constBits(), alpha.width(), alpha.height(), alpha.bytesPerLine(), QImage.Format.Format_Grayscale8).copy()
        region = rect if rect is not None else self.selection
        if region is not None:
            gray = gray.copy(region.toRect())
        return image_to_png(gray)

    # ------------------------------------------------------------------ document

    def to_document(self) -> dict[str, Any]:
        mask = None if self.mask_is_empty() else base64.b64encode(image_to_png(self.mask_image)).decode("ascii")
        selection = (
            None if self.selection is None else [self.selection.x(), self.selection.y(), self.selection.width(), self.selection.height()]
        )
        layers = sorted((layer.state() for layer in self.layers.values()), key=lambda state: state["z"])
        return {"version": 1, "size": list(self.doc_size), "layers": layers, "selection": selection, "mask": mask}

    def load_document(self, doc: dict[str, Any] | None) -> list[str]:
        """Replace the canvas with ``doc`` (no undo entry); returns problems (missing blobs)."""
        problems: list[str] = []
        for layer_id in list(self.layers):
            self._remove_layer(layer_id)
        doc = doc or {}
        self.set_doc_size(tuple(doc.get("size") or DEFAULT_SIZE))  # type: ignore[arg-type]
        for state in doc.get("layers") or []:
            try:
                image = QImage.fromData(self.blobs.get(state["blob"]))
            except KeyError:
                problems.append(f"layer {state.get('name')}: its image is missing from the project")
                continue
            self._insert_layer(state, image)
        selection = doc.get("selection")
        self._set_selection(QRectF(*selection) if selection else None)
        mask = QImage(*self.doc_size, QImage.Format.Format_ARGB32_Premultiplied)
        mask.fill(Qt.GlobalColor.transparent)
        if doc.get("mask"):
            loaded = QImage.fromData(QByteArray(base64.b64decode(doc["mask"])))
            if not loaded.isNull():
                painter = QPainter(mask)
                painter.drawImage(0, 0, loaded)
                painter.end()
        self._set_mask_image(mask)
        return problems

    def export_png(
        self, path: Path, *, layer_only: bool = False, encode: Callable[[QImage, ImageLayer | None], bytes] | None = None
    ) -> Path:
        """Write the visible canvas (or the active layer) as PNG; ``encode`` adds the metadata."""
        layer = self.active_layer()
        if layer_only and layer is not None:
            data = self.blobs.get(layer.blob)
            if encode is not None and not data.startswith(b"\x89PNG"):
                data = encode(layer.image, layer)
        else:
            image = self.render_region()
            # The whole canvas is no one layer's generation: ``encode`` gets no layer.
            data = encode(image, None) if encode is not None else image_to_png(image)
        path = Path(path)
        path.write_bytes(data)
        return path
