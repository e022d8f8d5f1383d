"""The canvas document as plain data: its size, its layers, the selection and the saved mask.

The canvas widget drew this from its QGraphicsItems, so every rule about layers (where a new
result goes, the order, what the whole picture covers, what a project file holds) could only
be exercised through Qt. Here the document is a typed model beside ``core/history.py`` and
``ui/timeline_model.py``: the widget (``ui/canvas.py``) is a view over it, the undo commands
(``ui/canvas_commands.py``) change it, and the rules are tested without a display.

A layer points at its picture by blob id (content-addressed in the project) and at the
generation that made it by history node id (its provenance). Pixel sizes are known once the
picture is decoded; they are not saved, the blob holds them.

The saved form is the project's ``canvas`` part, validated on open by
``studio.core.project_documents.CanvasDocument``; ``to_dict`` writes the same keys the
window has always written, so existing projects open unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from studio.core.result_layout import Rect, grid_spot

DEFAULT_SIZE = (512, 512)
VERSION = 1

#: the keys of a layer's saved state, in the order the window has always written them
STATE_KEYS = ("id", "name", "blob", "node", "x", "y", "scale", "opacity", "visible", "z")


@dataclass
class LayerState:
    """One image layer: which picture, where, how it shows, and which generation made it."""

    id: str
    name: str
    blob: str  # the picture, a blob of the project
    node: str | None = None  # the history node it came from (its provenance), if any
    x: float = 0.0
    y: float = 0.0
    scale: float = 1.0
    opacity: float = 1.0
    visible: bool = True
    z: float = 0.0  # stacking order: higher is on top
    width: int = 0  # the picture's pixels (not saved: the blob holds them)
    height: int = 0
    takes: dict[str, Any] | None = None  # Vary's alternatives shown in this slot (studio.core.takes), saved when present

    @classmethod
    def from_state(cls, state: Mapping[str, Any], *, width: int = 0, height: int = 0) -> LayerState:
        return cls(
            id=str(state["id"]),
            name=str(state.get("name") or ""),
            blob=str(state["blob"]),
            node=state.get("node"),
            x=float(state.get("x", 0.0)),
            y=float(state.get("y", 0.0)),
            scale=float(state.get("scale", 1.0)),
            opacity=float(state.get("opacity", 1.0)),
            visible=bool(state.get("visible", True)),
            z=float(state.get("z", 0.0)),
            width=width,
            height=height,
            takes=dict(state["takes"]) if state.get("takes") else None,
        )

    def state(self) -> dict[str, Any]:
        """The saved form (and what an undo command keeps): ``STATE_KEYS``."""
        state = {key: getattr(self, key) for key in STATE_KEYS}
        if self.takes:
            state["takes"] = self.takes
        return state

    def updated(self, state: Mapping[str, Any]) -> LayerState:
        """This layer with the saved-form keys in ``state`` applied (identity and size kept)."""
        known = {key: state[key] for key in (*STATE_KEYS[1:], "takes") if key in state}
        merged = LayerState.from_state({**self.state(), **known}, width=self.width, height=self.height)
        return replace(merged, id=self.id)

    def rect(self) -> Rect:
        """The area it covers on the canvas, scale included."""
        return (self.x, self.y, self.width * self.scale, self.height * self.scale)


def unite(a: Rect, b: Rect) -> Rect:
    left, top = min(a[0], b[0]), min(a[1], b[1])
    right, bottom = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (left, top, right - left, bottom - top)


@dataclass
class CanvasDoc:
    """The canvas: a size in pixels, layers by id, an optional selection, the saved mask."""

    size: tuple[int, int] = DEFAULT_SIZE
    layers: dict[str, LayerState] = field(default_factory=dict)
    selection: Rect | None = None
    mask: str | None = None  # the mask as saved (a base64 PNG); the widget keeps its pixels

    # ---- layers

    def add(self, layer: LayerState) -> None:
        self.layers[layer.id] = layer

    def remove(self, layer_id: str) -> LayerState | None:
        return self.layers.pop(layer_id, None)

    def apply(self, states: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Apply saved-form states to the layers they name; returns the ids that exist."""
        changed = []
        for layer_id, state in states.items():
            layer = self.layers.get(layer_id)
            if layer is not None:
                self.layers[layer_id] = layer.updated(state)
                changed.append(layer_id)
        return changed

    def states(self) -> dict[str, dict[str, Any]]:
        return {layer_id: layer.state() for layer_id, layer in self.layers.items()}

    def ordered(self) -> list[LayerState]:
        """Bottom to top."""
        return sorted(self.layers.values(), key=lambda layer: layer.z)

    def top_z(self) -> float:
        """The z a new top layer takes."""
        return max((layer.z for layer in self.layers.values()), default=0.0) + 1

    def topmost(self) -> LayerState | None:
        return max(self.layers.values(), key=lambda layer: layer.z, default=None)

    def reorder(self, layer_id: str, direction: int) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]] | None:
        """Before / after states that swap a layer with its neighbour (+1 up, -1 down); None at an end."""
        ordered = self.ordered()
        index = next((i for i, layer in enumerate(ordered) if layer.id == layer_id), None)
        if index is None or not 0 <= index + direction < len(ordered):
            return None
        layer, other = ordered[index], ordered[index + direction]
        before = {layer.id: layer.state(), other.id: other.state()}
        after = {layer.id: dict(layer.state(), z=other.z), other.id: dict(other.state(), z=layer.z)}
        return before, after

    def shift(self, dx: float, dy: float) -> None:
        """Move every layer (the canvas grew on the left / top)."""
        for layer_id, layer in self.layers.items():
            self.layers[layer_id] = replace(layer, x=layer.x + dx, y=layer.y + dy)

    # ---- geometry

    def rect(self) -> Rect:
        return (0.0, 0.0, float(self.size[0]), float(self.size[1]))

    def content_rect(self) -> Rect:
        """The canvas plus every visible layer (results lie around the first picture)."""
        rect = self.rect()
        for layer in self.layers.values():
            if layer.visible:
                rect = unite(rect, layer.rect())
        return rect

    def free_spot(self, size: tuple[float, float], near: Rect | None = None) -> tuple[float, float]:
        """Where a new ``size`` picture goes when nothing says where: the first free cell of a
        grid around ``near`` (the picture it came from), else around the first picture."""
        if not self.layers:
            return 0.0, 0.0
        if near is None:
            # No source: the grid grows from the first picture, so results stay one block.
            near = self.ordered()[0].rect()
        occupied = [layer.rect() for layer in self.layers.values()]
        x, y = grid_spot(size, occupied, near)
        return float(math.ceil(x)), float(math.ceil(y))

    # ---- the project file's ``canvas`` part

    def to_dict(self) -> dict[str, Any]:
        layers = [layer.state() for layer in self.ordered()]
        selection = list(self.selection) if self.selection is not None else None
        return {"version": VERSION, "size": list(self.size), "layers": layers, "selection": selection, "mask": self.mask}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> CanvasDoc:
        """A document from a (validated) ``canvas`` part; ``None`` is an empty canvas.

        Layer pixel sizes are unknown here (0): the view fills them in as it decodes each blob.
        """
        data = data or {}
        size = data.get("size") or DEFAULT_SIZE
        selection = data.get("selection")
        return cls(
            size=clamp_size(size),
            layers={str(state["id"]): LayerState.from_state(state) for state in data.get("layers") or []},
            selection=tuple(float(v) for v in selection) if selection else None,  # type: ignore[arg-type]
            mask=data.get("mask") or None,
        )


def clamp_size(size: Iterable[Any]) -> tuple[int, int]:
    """A canvas size of at least one pixel each way."""
    width, height = list(size)[:2]
    return (max(1, int(width)), max(1, int(height)))
