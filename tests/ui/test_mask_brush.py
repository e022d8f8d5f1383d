"""The mask brush (issue 13, defect 10): a stroke paints on the picture under the cursor, also
outside the selection and on results lying beyond the canvas document; where there is no
picture the status bar says so; the overlay is a clearly visible tint with an outline."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor

from studio.ui import mask_brush
from studio.ui.canvas_view import CanvasView
from tests.ui.conftest import png_bytes


@pytest.fixture
def canvas_window(make_window: Any) -> Any:
    window = make_window()
    canvas = window.canvas
    canvas.add_image(png_bytes(64, 48, (0, 0, 0)), name="first")  # the document is 64×48
    canvas.add_image(png_bytes(64, 48, (0, 0, 0)), name="beside")  # a result in the grid, beyond it
    canvas.select_region(QRectF(0, 0, 32, 24))
    canvas.set_tool(CanvasView.BRUSH)
    canvas.view.fit()
    return window


def _stroke(qtbot: Any, view: Any, start: QPointF, end: QPointF) -> None:
    viewport = view.viewport()
    a, b = view.mapFromScene(start), view.mapFromScene(end)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(viewport, pos=b)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=b)


def _mask_alpha(canvas: Any, point: QPointF) -> int:
    return canvas.mask_image.pixelColor(int(point.x()), int(point.y())).alpha()


def test_a_stroke_outside_the_selection_on_a_picture_beyond_the_document_paints_the_mask(canvas_window: Any, qtbot: Any) -> None:
    canvas = canvas_window.canvas
    beside = next(layer for layer in canvas.layers.values() if layer.name == "beside")
    assert not canvas.doc_rect().contains(canvas.layer_rect(beside))
    centre = canvas.layer_rect(beside).center()
    _stroke(qtbot, canvas.view, centre - QPointF(8, 0), centre + QPointF(8, 0))
    assert not canvas.mask_is_empty()
    centre = canvas.layer_rect(beside).center()  # the document grew to the right: nothing moved
    assert canvas.doc_rect().contains(canvas.layer_rect(beside))
    assert _mask_alpha(canvas, centre) > 200
    assert _mask_alpha(canvas, QPointF(16, 12)) == 0  # the selection itself was not painted
    # Inpaint repaints the selection and the masked area, not the selection alone.
    region = mask_brush.inpaint_region(canvas, 0)
    assert region is not None and region.contains(canvas.selection_rect()) and region.contains(centre)
    canvas_window.undo.undo()  # the stroke
    canvas_window.undo.undo()  # the growth
    assert canvas.mask_is_empty() and canvas.doc_size == (64, 48)


def test_a_stroke_where_there_is_no_picture_paints_nothing_and_says_so(canvas_window: Any, qtbot: Any) -> None:
    canvas = canvas_window.canvas
    below = QPointF(32, 48 + 40)  # under the first picture, on the empty scene
    assert mask_brush.layer_at(canvas, below) is None
    _stroke(qtbot, canvas.view, below, below + QPointF(4, 0))
    assert canvas.mask_is_empty()
    assert canvas_window.statusBar().currentMessage() == mask_brush.NO_PICTURE
    # The eraser is no painting: it works anywhere and says nothing.
    canvas.set_tool(CanvasView.ERASE)
    canvas_window.statusBar().clearMessage()
    _stroke(qtbot, canvas.view, below, below + QPointF(4, 0))
    assert canvas_window.statusBar().currentMessage() == "" and canvas.doc_size == (64, 48)


def test_the_overlay_has_the_tint_and_opacity_set_and_an_outline_round_the_mask(canvas_window: Any, qtbot: Any) -> None:
    canvas, overlay = canvas_window.canvas, canvas_window.mask_overlay
    assert overlay.opacity == pytest.approx(mask_brush.OVERLAY_OPACITY) and overlay.opacity >= 0.5
    _stroke(qtbot, canvas.view, QPointF(16, 12), QPointF(20, 12))
    overlay.set_style(QColor(0, 120, 255), 0.7)
    assert canvas.mask_item.opacity() == pytest.approx(0.7)
    painted = canvas.mask_image.pixelColor(18, 12)
    assert (painted.red(), painted.green(), painted.blue()) == (0, 120, 255)
    # On the black picture the masked pixel shows 70 % of the tint.
    shown = canvas.render_region(QRectF(0, 0, 64, 48), layers_only=False).pixelColor(18, 12)
    assert shown.blue() == pytest.approx(0.7 * 255, abs=12) and shown.red() < 20
    assert overlay.outline.path().boundingRect().contains(QPointF(18, 12))
    # What a job or an export gets is the pictures alone: no tint, no outline.
    plain = canvas.render_region(QRectF(0, 0, 64, 48))
    assert {plain.pixelColor(x, y).rgb() for x in range(0, 64, 2) for y in range(0, 48, 2)} == {QColor(0, 0, 0).rgb()}
    assert overlay.timer.isActive()  # the outline marches
    canvas.clear_mask()
    assert overlay.outline.path().isEmpty() and not overlay.timer.isActive()
