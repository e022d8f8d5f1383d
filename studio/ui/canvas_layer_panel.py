"""The canvas's Layers panel: the list (visibility check boxes, names to edit, icons), the
opacity and scale of the selected layer, raise / lower / delete.

Split out of ``canvas.py``. The panel edits through its host (``LayerPanelHost``, the canvas
widget): every change is an undoable layer-state command there, and the host tells the
panel to refresh when the document changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QGraphicsScene,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.ui.canvas_layers import ImageLayer


class LayerPanelHost(Protocol):
    scene: QGraphicsScene
    layers: dict[str, ImageLayer]

    def active_layer(self) -> ImageLayer | None: ...

    def set_layer_property(self, layer_id: str, key: str, value: Any, *, merge: bool = False) -> None: ...

    def move_active(self, direction: int) -> None: ...

    def delete_active(self) -> None: ...

    def build_context_menu(self, parent: QWidget) -> QMenu: ...


def _neutral(box: QSpinBox) -> None:
    box.blockSignals(True)
    box.setValue(100)
    box.setEnabled(False)
    box.blockSignals(False)


class LayerPanel(QWidget):
    def __init__(self, host: LayerPanelHost, on_active_changed: Callable[[ImageLayer | None], None]) -> None:
        super().__init__()
        self.host = host
        self._on_active_changed = on_active_changed
        self.icons: dict[str, QImage] = {}  # layer id -> icon decoded off the UI thread, until used
        self.syncing = False
        self.rebuilds = 0  # whole-list rebuilds (``refresh``)
        side_layout = QVBoxLayout(self)
        side_layout.setContentsMargins(4, 4, 4, 4)
        side_layout.addWidget(QLabel("Layers"))
        self.layer_list = QListWidget()
        self.layer_list.setObjectName("layerList")
        self.layer_list.itemChanged.connect(self._item_changed)
        self.layer_list.currentItemChanged.connect(self._current_changed)
        self.layer_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.layer_list.customContextMenuRequested.connect(self._menu)
        side_layout.addWidget(self.layer_list, 1)
        # Two short rows, so the layers panel stays narrow and the picture gets the width.
        props = QFormLayout()
        props.setContentsMargins(0, 0, 0, 0)
        self.opacity = QSpinBox()
        self.opacity.setRange(0, 100)
        self.opacity.setSuffix("%")
        self.opacity.valueChanged.connect(lambda value: self._edited("opacity", value))
        self.opacity.setToolTip("Opacity of the selected layer")
        props.addRow("Opacity", self.opacity)
        self.scale_box = QSpinBox()
        self.scale_box.setRange(1, 1600)
        self.scale_box.setSuffix("%")
        self.scale_box.valueChanged.connect(lambda value: self._edited("scale", value))
        self.scale_box.setToolTip("Scale of the selected layer")
        props.addRow("Scale", self.scale_box)
        # Until a layer is selected there is nothing to edit: neutral values, disabled.
        _neutral(self.opacity)
        _neutral(self.scale_box)
        side_layout.addLayout(props)
        order = QHBoxLayout()
        for text, tip, slot in (
            ("▲", "Raise layer", lambda: host.move_active(+1)),
            ("▼", "Lower layer", lambda: host.move_active(-1)),
            ("✕", "Delete layer", host.delete_active),
        ):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            order.addWidget(button)
        order.addStretch(1)
        side_layout.addLayout(order)
        self.setMinimumWidth(140)
        self.setMaximumWidth(240)

    def _menu(self, position: QPoint) -> None:
        menu = self.host.build_context_menu(self)
        menu.exec(self.layer_list.viewport().mapToGlobal(position))
        menu.deleteLater()

    def current_id(self) -> str | None:
        item = self.layer_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def refresh(self, select: str | None = None) -> None:
        self.syncing = True
        self.rebuilds += 1
        current = select if select is not None else self.current_id()
        self.layer_list.clear()
        for layer in self._order():
            item = self._row(layer)
            self.layer_list.addItem(item)
            if layer.layer_id == current:
                self.layer_list.setCurrentItem(item)
        self.syncing = False
        self.show_properties()

    def _order(self) -> list[ImageLayer]:
        return sorted(self.host.layers.values(), key=lambda item: -item.zValue())

    def _row(self, layer: ImageLayer) -> QListWidgetItem:
        item = QListWidgetItem(layer.name)
        item.setData(Qt.ItemDataRole.UserRole, layer.layer_id)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEditable)
        item.setCheckState(Qt.CheckState.Checked if layer.isVisible() else Qt.CheckState.Unchecked)
        if layer.icon is None:
            layer.icon = QPixmap.fromImage(
                self.icons.pop(layer.layer_id, None) or layer.image.scaled(32, 32, Qt.AspectRatioMode.KeepAspectRatio)
            )
        item.setIcon(layer.icon)
        return item

    def _listed(self) -> list[str]:
        return [self.layer_list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.layer_list.count())]

    def add_row(self, layer_id: str) -> None:
        """A new layer: its row goes in where ``refresh`` would put it and becomes current, the
        other rows stay (a landing rebuilt the whole list, twice). ``refresh`` when the list
        does not show the other layers as they are."""
        order = [layer.layer_id for layer in self._order()]
        if layer_id not in order or [other for other in order if other != layer_id] != self._listed():
            self.refresh(select=layer_id)
            return
        self._make_current(order.index(layer_id), self._row(self.host.layers[layer_id]))

    def select(self, layer_id: str) -> None:
        """Make ``layer_id``'s row current, rebuilding only if the list is out of date."""
        listed = self._listed()
        if layer_id not in listed or listed != [layer.layer_id for layer in self._order()]:
            self.refresh(select=layer_id)
            return
        self._make_current(listed.index(layer_id), None)

    def _make_current(self, row: int, new: QListWidgetItem | None) -> None:
        self.syncing = True
        if new is not None:
            self.layer_list.insertItem(row, new)
        self.layer_list.setCurrentRow(row)
        self.syncing = False
        self.show_properties()

    def _item_changed(self, item: QListWidgetItem) -> None:
        if self.syncing:
            return
        layer = self.host.layers.get(item.data(Qt.ItemDataRole.UserRole))
        if layer is None:
            return
        visible = item.checkState() == Qt.CheckState.Checked
        if visible != layer.isVisible():
            self.host.set_layer_property(layer.layer_id, "visible", visible)
        elif item.text() != layer.name:
            self.host.set_layer_property(layer.layer_id, "name", item.text())

    def _current_changed(self, current: QListWidgetItem | None, _previous: Any) -> None:
        if self.syncing or current is None:
            self.show_properties()
            return
        layer = self.host.layers.get(current.data(Qt.ItemDataRole.UserRole))
        if layer is not None:
            self.syncing = True
            self.host.scene.clearSelection()
            layer.setSelected(True)
            self.syncing = False
        self.show_properties()

    def sync_selection(self) -> None:
        """The scene's selected layer becomes the list's current row."""
        if self.syncing:
            return
        selected = [item for item in self.host.scene.selectedItems() if isinstance(item, ImageLayer)]
        if not selected:
            return
        for row in range(self.layer_list.count()):
            item = self.layer_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == selected[0].layer_id:
                self.syncing = True
                self.layer_list.setCurrentItem(item)
                self.syncing = False
        self.show_properties()

    def show_properties(self) -> None:
        layer = self.host.active_layer()
        for box, value in ((self.opacity, layer.opacity() if layer else 1.0), (self.scale_box, layer.scale() if layer else 1.0)):
            box.blockSignals(True)
            box.setEnabled(layer is not None)
            box.setValue(int(round(value * 100)))
            box.blockSignals(False)
        self._on_active_changed(layer)

    def _edited(self, key: str, value: int) -> None:
        layer = self.host.active_layer()
        if layer is not None:
            self.host.set_layer_property(layer.layer_id, key, value / 100.0, merge=True)
