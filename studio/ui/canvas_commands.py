"""The canvas's undoable edits: add / remove a layer, change layer states, the selection,
the mask, growing the canvas. Split out of ``canvas.py`` so the edits read apart from the
view and the widget."""

from __future__ import annotations

import itertools
from typing import Any, Protocol

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter, QUndoCommand

from studio.core.canvas_document import CanvasDoc
from studio.ui.canvas_layers import ImageLayer


class CanvasTarget(Protocol):
    """What the edits change: the canvas widget's document through its raw operations."""

    document: CanvasDoc

    @property
    def doc_size(self) -> tuple[int, int]: ...

    @property
    def selection(self) -> QRectF | None: ...

    @property
    def mask_image(self) -> QImage: ...

    def set_doc_size(self, size: tuple[int, int]) -> None: ...

    def shift_layers(self, dx: float, dy: float) -> None: ...

    def _insert_layer(self, state: dict[str, Any], image: QImage) -> None: ...

    def _remove_layer(self, layer_id: str) -> None: ...

    def _apply_states(self, states: dict[str, dict[str, Any]]) -> None: ...

    def _set_selection(self, rect: QRectF | None) -> None: ...

    def _set_mask_image(self, image: QImage) -> None: ...


class _CanvasCommand(QUndoCommand):
    def __init__(self, canvas: CanvasTarget, text: str) -> None:
        super().__init__(text)
        self.canvas = canvas


class AddLayerCommand(_CanvasCommand):
    def __init__(self, canvas: CanvasTarget, state: dict[str, Any], image: QImage, resize_to: tuple[int, int] | None) -> None:
        super().__init__(canvas, f"Add layer {state['name']}")
        self.state, self.image, self.resize_to = state, image, resize_to
        self.old_size = canvas.doc_size

    def redo(self) -> None:
        if self.resize_to:
            self.canvas.set_doc_size(self.resize_to)
        self.canvas._insert_layer(self.state, self.image)

    def undo(self) -> None:
        self.canvas._remove_layer(self.state["id"])
        if self.resize_to:
            self.canvas.set_doc_size(self.old_size)


class RemoveLayerCommand(_CanvasCommand):
    def __init__(self, canvas: CanvasTarget, layer: ImageLayer) -> None:
        super().__init__(canvas, f"Delete layer {layer.name}")
        self.state, self.image = canvas.document.layers[layer.layer_id].state(), layer.image

    def redo(self) -> None:
        self.canvas._remove_layer(self.state["id"])

    def undo(self) -> None:
        self.canvas._insert_layer(self.state, self.image)


class LayerStateCommand(_CanvasCommand):
    """Any change of layers' position / scale / opacity / visibility / order / name."""

    _merge_ids = itertools.count(1000)

    def __init__(
        self, canvas: CanvasTarget, text: str, before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], merge_key: str = ""
    ) -> None:
        super().__init__(canvas, text)
        self.before, self.after, self.merge_key = before, after, merge_key
        self._first = True

    def id(self) -> int:
        return 7001 if self.merge_key else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, LayerStateCommand) or other.merge_key != self.merge_key or not self.merge_key:
            return False
        self.after = other.after
        return True

    def redo(self) -> None:
        self.canvas._apply_states(self.after)

    def undo(self) -> None:
        self.canvas._apply_states(self.before)


class SelectionCommand(_CanvasCommand):
    def __init__(self, canvas: CanvasTarget, before: QRectF | None, after: QRectF | None) -> None:
        super().__init__(canvas, "Select region" if after is not None else "Clear selection")
        self.before, self.after = before, after

    def redo(self) -> None:
        self.canvas._set_selection(self.after)

    def undo(self) -> None:
        self.canvas._set_selection(self.before)


class MaskCommand(_CanvasCommand):
    def __init__(self, canvas: CanvasTarget, text: str, before: QImage, after: QImage) -> None:
        super().__init__(canvas, text)
        self.before, self.after = before, after

    def redo(self) -> None:
        self.canvas._set_mask_image(self.after)

    def undo(self) -> None:
        self.canvas._set_mask_image(self.before)


class ExtendCanvasCommand(_CanvasCommand):
    """Grow the canvas by pixels on each side: layers, selection and mask move with it."""

    def __init__(self, canvas: CanvasTarget, left: int, top: int, right: int, bottom: int) -> None:
        super().__init__(canvas, "Extend canvas")
        self.shift = (float(left), float(top))
        self.before_size = canvas.doc_size
        self.after_size = (canvas.doc_size[0] + left + right, canvas.doc_size[1] + top + bottom)
        self.before_mask = canvas.mask_image.copy()
        self.before_selection = QRectF(canvas.selection) if canvas.selection is not None else None

    def redo(self) -> None:
        dx, dy = self.shift
        mask = QImage(*self.after_size, QImage.Format.Format_ARGB32_Premultiplied)
        mask.fill(Qt.GlobalColor.transparent)
        painter = QPainter(mask)
        painter.drawImage(int(dx), int(dy), self.before_mask)
        painter.end()
        self.canvas.set_doc_size(self.after_size)
        self.canvas.shift_layers(dx, dy)
        self.canvas._set_mask_image(mask)
        self.canvas._set_selection(self.before_selection.translated(dx, dy) if self.before_selection is not None else None)

    def undo(self) -> None:
        dx, dy = self.shift
        self.canvas.shift_layers(-dx, -dy)
        self.canvas.set_doc_size(self.before_size)
        self.canvas._set_mask_image(self.before_mask)
        self.canvas._set_selection(self.before_selection)
