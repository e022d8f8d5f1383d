"""Input sources are a table: each source resolves on its own, and a new one is one entry."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QUndoStack

from studio.core.errors import StudioError
from studio.ui.canvas import CanvasWidget
from studio.ui.input_sources import INPUT_SOURCES, InputContext, Resolved, resolve_inputs
from tests.ui.conftest import png_bytes

GENERATOR = {
    "id": "test.img2img",
    "params": [
        {"name": "init", "type": "image", "label": "Init image"},
        {"name": "mask", "type": "mask"},
    ],
}


class MemoryBlobs:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, blob_id: str) -> bytes:
        return self.data[blob_id]

    def put(self, data: bytes, kind: str, mime: str, meta: dict[str, Any] | None = None) -> str:
        blob_id = f"blob{len(self.data)}"
        self.data[blob_id] = data
        return blob_id


@pytest.fixture
def context(qtbot: Any) -> InputContext:
    canvas = CanvasWidget(QUndoStack(), MemoryBlobs())
    qtbot.addWidget(canvas)
    return InputContext(canvas=canvas, timeline=None, blobs=canvas.blobs)  # type: ignore[arg-type]


def test_every_source_the_panel_offers_has_a_resolver() -> None:
    assert set(INPUT_SOURCES) == {"file", "selection", "layer", "canvas", "region", "mask", "clip"}


def test_a_new_input_source_is_one_table_entry(context: InputContext) -> None:
    table = dict(INPUT_SOURCES, camera=lambda _context, request: Resolved(b"frame:" + request.name.encode(), "image/jpeg", ["n9"]))
    uploads, parents = resolve_inputs(context, GENERATOR, {"init": {"source": "camera"}}, table)
    assert uploads == {"init": (b"frame:init", "image", "image/jpeg")}
    assert parents == ["n9"]


def test_a_source_without_a_resolver_uploads_nothing(context: InputContext) -> None:
    assert resolve_inputs(context, GENERATOR, {"init": {"source": "nowhere"}}) == ({}, [])


def test_the_active_layer_goes_up_as_its_blob_with_its_generation_as_parent(context: InputContext) -> None:
    data = png_bytes(32, 24)
    layer = context.canvas.add_image(data, name="fox", node="node-1")
    assert layer is not None
    uploads, parents = resolve_inputs(context, GENERATOR, {"init": {"source": "layer"}})
    assert uploads["init"] == (data, "image", "image/png")
    assert parents == ["node-1"]


def test_a_region_and_the_mask_are_cut_to_the_rect_they_name(context: InputContext) -> None:
    context.canvas.add_image(png_bytes(64, 48))
    rect = [8, 8, 16, 12]
    uploads, _parents = resolve_inputs(
        context, GENERATOR, {"init": {"source": "region", "rect": rect}, "mask": {"source": "mask", "rect": rect}}
    )
    for name in ("init", "mask"):
        picture = QImage.fromData(uploads[name][0])
        assert (picture.width(), picture.height()) == (16, 12)
        assert uploads[name][1] == "image"


def test_a_missing_selection_or_file_says_which_input_and_what_to_do(context: InputContext, tmp_path: Any) -> None:
    with pytest.raises(StudioError, match="init: draw a selection on the canvas first"):
        resolve_inputs(context, GENERATOR, {"init": {"source": "selection"}})
    with pytest.raises(StudioError, match="Init image: choose a file first"):
        resolve_inputs(context, GENERATOR, {"init": {"source": "file", "path": str(tmp_path / "absent.png")}})
    context.canvas.add_image(png_bytes(64, 48))
    context.canvas.select_region(QRectF(0, 0, 10, 10))
    uploads, _parents = resolve_inputs(context, GENERATOR, {"init": {"source": "selection"}})
    assert QImage.fromData(uploads["init"][0]).width() == 10
