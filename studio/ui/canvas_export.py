"""The provenance a canvas PNG carries: one generation's record, or a composite record.

"Canvas as PNG" used to embed the active layer's parameters in a picture made of several
layers, so dropping it back silently switched the Generate panel to a generation that does
not make that picture. Now:

- one layer (the active layer exported alone, or a canvas that is just one generated
  picture): that generation's record and A1111 ``parameters`` text, restorable as before;
- several layers: a ``composite`` record listing each visible layer (name, place, and the
  generator / params / seed of the generation it came from), no ``parameters`` text, so no
  reader mistakes it for one generation. Dropping it back adds the picture and says why
  nothing was restored.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QImage

if TYPE_CHECKING:
    from studio.core.history import History, HistoryNode
    from studio.ui.canvas import CanvasWidget, ImageLayer

COMPOSITE = "composite"


def _node(history: History | None, node_id: str | None) -> HistoryNode | None:
    if history is None or not node_id:
        return None
    try:
        return history.get(node_id)
    except KeyError:
        return None


def composite_record(canvas: CanvasWidget, history: History | None) -> dict[str, Any]:
    """Every visible layer, bottom first, with where it lies and what made it."""
    rows = []
    for layer in sorted(canvas.layers.values(), key=lambda item: item.zValue()):
        if not layer.isVisible():
            continue
        rect = canvas.layer_rect(layer)
        row: dict[str, Any] = {"name": layer.name, "rect": [rect.x(), rect.y(), rect.width(), rect.height()], "opacity": layer.opacity()}
        node = _node(history, layer.node)
        if node is not None:
            row.update({"node": node.id, "generator": node.generator or node.plugin_id, "params": dict(node.params), "seed": node.seed})
        rows.append(row)
    origin = canvas.content_rect()
    return {COMPOSITE: True, "origin": [origin.x(), origin.y()], "layers": rows}


def is_composite(data: bytes) -> int:
    """How many layers a PNG's composite record lists (0: not one of our composites)."""
    from studio.core.errors import FileFormatError
    from studio.core.png_metadata import read_png_metadata

    try:
        record = read_png_metadata(data).get("studio") or {}
    except (FileFormatError, ValueError):
        return 0
    if isinstance(record, str):
        try:
            record = json.loads(record)
        except ValueError:
            return 0
    if isinstance(record, dict) and record.get(COMPOSITE):
        return max(1, len(record.get("layers") or []))
    return 0


def encode_canvas_png(image: QImage, layer: ImageLayer | None, canvas: CanvasWidget, history: History | None) -> bytes:
    """PNG bytes of ``image`` with the provenance it honestly has (see the module docstring).

    ``layer``: the layer exported alone, or None for the whole canvas.
    """
    from PIL import Image

    from studio.core.png_metadata import encode_png
    from studio.ui.canvas import image_to_png

    picture = Image.open(io.BytesIO(image_to_png(image)))
    picture.load()
    visible = [item for item in canvas.layers.values() if item.isVisible()]
    if layer is None and len(visible) == 1:
        layer = visible[0]  # a canvas that is one picture is that picture
    if layer is None:
        ai = any(item.node for item in visible)
        return encode_png(picture, record=composite_record(canvas, history), ai_generated=ai)
    node = _node(history, layer.node)
    if node is None:
        return encode_png(picture, ai_generated=False)
    fields = {
        key: value for key, value in node.params.items() if key not in ("prompt", "negative_prompt") and not isinstance(value, (dict, list))
    }
    fields.update({"Seed": node.seed, "Generator": node.generator})
    return encode_png(
        picture,
        prompt=str(node.params.get("prompt") or ""),
        negative_prompt=str(node.params.get("negative_prompt") or ""),
        parameters=fields,
        record=node.to_dict(),
        ai_generated=True,
    )
