"""The canvas document without Qt: the saved form, layer order, where new results go."""

from __future__ import annotations

from studio.core.canvas_document import DEFAULT_SIZE, CanvasDoc, LayerState
from studio.core.project_documents import CANVAS, validate_document

# A canvas part as the window has written it since version 1 (layers bottom to top).
SAVED = {
    "version": 1,
    "size": [64, 48],
    "layers": [
        {
            "id": "a1",
            "name": "fox",
            "blob": "b" * 64,
            "node": "n1",
            "x": 0.0,
            "y": 0.0,
            "scale": 1.0,
            "opacity": 1.0,
            "visible": True,
            "z": 1.0,
        },
        {
            "id": "a2",
            "name": "sky",
            "blob": "c" * 64,
            "node": None,
            "x": 80.0,
            "y": 0.0,
            "scale": 0.5,
            "opacity": 0.4,
            "visible": False,
            "z": 2.0,
        },
    ],
    "selection": [1.0, 2.0, 30.0, 20.0],
    "mask": None,
}


def layer(layer_id: str, x: float = 0.0, y: float = 0.0, *, size: int = 64, z: float = 1.0, visible: bool = True) -> LayerState:
    return LayerState(id=layer_id, name=layer_id, blob=layer_id * 8, x=x, y=y, z=z, width=size, height=size, visible=visible)


def test_a_saved_canvas_reads_and_writes_back_unchanged_and_valid() -> None:
    doc = CanvasDoc.from_dict(SAVED)
    assert doc.size == (64, 48) and doc.selection == (1.0, 2.0, 30.0, 20.0)
    assert doc.layers["a2"].opacity == 0.4 and doc.layers["a1"].node == "n1"
    assert doc.to_dict() == SAVED
    assert validate_document(CANVAS, doc.to_dict()) == SAVED


def test_a_project_without_a_canvas_opens_as_an_empty_default_canvas() -> None:
    doc = CanvasDoc.from_dict(None)
    assert doc.size == DEFAULT_SIZE and not doc.layers and doc.selection is None
    assert validate_document(CANVAS, doc.to_dict())["layers"] == []


def test_layers_are_saved_bottom_to_top_whatever_order_they_were_added() -> None:
    doc = CanvasDoc()
    doc.add(layer("top", z=5.0))
    doc.add(layer("bottom", z=1.0))
    assert [state["id"] for state in doc.to_dict()["layers"]] == ["bottom", "top"]
    assert doc.topmost() is doc.layers["top"] and doc.top_z() == 6.0


def test_raising_a_layer_swaps_it_with_the_one_above_and_stops_at_the_top() -> None:
    doc = CanvasDoc()
    doc.add(layer("a", z=1.0))
    doc.add(layer("b", z=2.0))
    swap = doc.reorder("a", +1)
    assert swap is not None
    before, after = swap
    assert before == {"a": doc.layers["a"].state(), "b": doc.layers["b"].state()}
    doc.apply(after)
    assert [item.id for item in doc.ordered()] == ["b", "a"]
    assert doc.reorder("a", +1) is None and doc.reorder("missing", -1) is None


def test_applying_states_changes_only_named_layers_and_keeps_their_pixel_size() -> None:
    doc = CanvasDoc()
    doc.add(layer("a", size=40))
    assert doc.apply({"a": {"x": 10.0, "scale": 2.0, "name": "renamed"}, "gone": {"x": 1.0}}) == ["a"]
    moved = doc.layers["a"]
    assert (moved.x, moved.scale, moved.name, moved.width) == (10.0, 2.0, "renamed", 40)
    assert moved.rect() == (10.0, 0.0, 80.0, 80.0)


def test_content_covers_visible_layers_beyond_the_canvas_but_not_hidden_ones() -> None:
    doc = CanvasDoc(size=(64, 64))
    doc.add(layer("seen", x=80.0, y=0.0))
    doc.add(layer("hidden", x=0.0, y=200.0, visible=False))
    assert doc.content_rect() == (0.0, 0.0, 144.0, 64.0)


def test_new_results_fill_a_grid_near_their_source_instead_of_a_strip() -> None:
    doc = CanvasDoc(size=(64, 64))
    assert doc.free_spot((64, 64)) == (0.0, 0.0)  # an empty canvas: the origin
    spots = []
    for index in range(4):
        x, y = doc.free_spot((64, 64))
        spots.append((x, y))
        doc.add(layer(f"r{index}", x, y, z=index + 1.0))
    # A 2×2 block (gap 16), not four in a row.
    assert spots == [(0.0, 0.0), (80.0, 0.0), (80.0, 80.0), (0.0, 80.0)]
    # Near a given source: the first free cell of the grid around it.
    assert doc.free_spot((64, 64), near=(80.0, 80.0, 64.0, 64.0)) == (160.0, 80.0)


def test_growing_the_canvas_on_the_left_moves_every_layer() -> None:
    doc = CanvasDoc()
    doc.add(layer("a", x=5.0, y=6.0))
    doc.shift(10.0, 20.0)
    assert (doc.layers["a"].x, doc.layers["a"].y) == (15.0, 26.0)
