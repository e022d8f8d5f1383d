"""New results come into view: the canvas or timeline scrolls (or zooms out) to what landed and
selects it, so a generation, a Vary or a Send-to-canvas never ends up off-screen.

A user who arranges by hand can turn it off (Preferences ▸ "Show each new result"); the
choice lives in the window's settings under ``SETTING``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRectF, QSettings

if TYPE_CHECKING:
    from studio.ui.canvas import CanvasWidget, ImageLayer
    from studio.ui.timeline import TimelineWidget

SETTING = "view/follow_results"


def follows(settings: QSettings) -> bool:
    value = settings.value(SETTING, True)
    return value not in (False, "false", "0", 0)


def set_follows(settings: QSettings, on: bool) -> None:
    settings.setValue(SETTING, bool(on))


@dataclass
class Landed:
    """What one job (or one Send-to-canvas) put on the canvas and the timeline."""

    layers: list[ImageLayer] = field(default_factory=list)
    clips: list[str] = field(default_factory=list)

    def add(self, placed: Any) -> None:
        if isinstance(placed, str):
            self.clips.append(placed)
        elif placed is not None:
            self.layers.append(placed)


def source_rect(canvas: CanvasWidget, node_ids: list[str]) -> QRectF | None:
    """The canvas region of the first of ``node_ids`` that has a layer: where a result's grid starts."""
    for node_id in node_ids:
        for layer in canvas.layers.values():
            if node_id and layer.node == node_id:
                return canvas.layer_rect(layer)
    return None


def reveal(landed: Landed, *, canvas: CanvasWidget, timeline: TimelineWidget, settings: QSettings) -> None:
    """Select what landed and scroll to it, unless the user turned following off."""
    if not follows(settings):
        return
    if landed.layers:
        canvas.reveal_layers(landed.layers)
    if landed.clips:
        timeline.reveal_clip(landed.clips[-1])
