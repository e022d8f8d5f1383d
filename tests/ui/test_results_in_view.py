"""New results land in view (issue 13, defect 1): the canvas grows a grid near the source, not
a strip; the view follows each result and selects it unless the user turned that off; melody
results are scrolled to; a dropped or moved clip never hides another."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPointF, QRectF

from studio.core.melody import Melody, Note
from studio.core.midi import write_midi
from studio.core.result_layout import grid_spot, overlaps
from studio.ui import follow_results
from tests.ui.conftest import png_bytes, wait_for
from tests.ui.fake_engine import attach_fake_engine, finish_job, first_party_catalogue


def _tune(pitches: list[int]) -> Melody:
    return Melody(notes=[Note(p, float(i), 1.0, 90) for i, p in enumerate(pitches)], tempo=100.0)


def _visible(view: Any) -> QRectF:
    return view.mapToScene(view.viewport().rect()).boundingRect()


def test_grid_spot_fills_a_square_around_the_anchor_without_overlap() -> None:
    taken: list[tuple[float, float, float, float]] = [(0.0, 0.0, 64.0, 64.0)]
    for _ in range(8):
        x, y = grid_spot((64, 64), taken, taken[0])
        assert not any(overlaps((x, y, 64, 64), other) for other in taken)
        taken.append((x, y, 64.0, 64.0))
    xs = {rect[0] for rect in taken}
    ys = {rect[1] for rect in taken}
    assert len(xs) == 3 and len(ys) == 3  # nine pictures: a 3×3 grid, not a strip of nine


def test_nine_canvas_results_make_a_grid_not_an_endless_strip(make_window: Any) -> None:
    window = make_window()
    canvas = window.canvas
    layers = [canvas.add_image(png_bytes(64, 48), name=f"r{i}") for i in range(9)]
    rects = [canvas.layer_rect(layer) for layer in layers]
    for index, rect in enumerate(rects):
        assert not any(rect.intersects(other) for other in rects[index + 1 :])
    bounds = rects[0]
    for rect in rects[1:]:
        bounds = bounds.united(rect)
    assert bounds.width() < 4 * 64 and bounds.height() < 4 * 48


def _generate_patterns(window: Any, client: Any, qtbot: Any, colour: tuple[int, int, int]) -> Any:
    window.generate_panel.select_generator("studio.patterns")
    jobs = window.generate()
    assert jobs
    wait_for(qtbot, lambda: bool(jobs[0].job_id), 10000)
    submitted = client.jobs[-1]
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        finish_job(window, client, submitted.id, [("image", "image/png", png_bytes(256, 256, colour), {})])
    return landed.args[0]


def test_a_new_generation_is_selected_and_brought_into_view(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window, first_party_catalogue("patterns"))
    canvas = window.canvas
    for index in range(6):
        canvas.add_image(png_bytes(256, 256), name=f"old {index}")
    # The user zoomed in on the first picture's corner.
    canvas.view.set_zoom(4.0)
    canvas.view.centerOn(QPointF(10, 10))
    node = _generate_patterns(window, client, qtbot, (0, 200, 0))
    new = [layer for layer in canvas.layers.values() if layer.node == node.id]
    assert len(new) == 1
    assert canvas.active_layer() is new[0]
    assert _visible(canvas.view).contains(canvas.layer_rect(new[0]))


def test_with_following_off_the_view_stays_where_the_user_put_it(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window, first_party_catalogue("patterns"))
    follow_results.set_follows(window.settings, False)
    canvas = window.canvas
    for index in range(6):
        canvas.add_image(png_bytes(256, 256), name=f"old {index}")
    canvas.view.set_zoom(4.0)
    qtbot.wait(20)
    canvas.view.centerOn(QPointF(10, 10))
    before = _visible(canvas.view)
    node = _generate_patterns(window, client, qtbot, (0, 200, 0))
    new = next(layer for layer in canvas.layers.values() if layer.node == node.id)
    after = _visible(canvas.view)
    # Same zoom, same place (a dock may have resized the view meanwhile).
    assert canvas.view.zoom == 4.0
    assert abs(after.center().x() - before.center().x()) < 8 and abs(after.center().y() - before.center().y()) < 8
    assert not after.contains(canvas.layer_rect(new))


def test_vary_lands_on_the_picture_it_varies_even_when_another_is_active(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window, first_party_catalogue("patterns"))
    canvas = window.canvas
    first = _generate_patterns(window, client, qtbot, (200, 0, 0))
    for index in range(5):
        canvas.add_image(png_bytes(256, 256), name=f"other {index}")
    source = next(layer for layer in canvas.layers.values() if layer.node == first.id)
    canvas.scene.clearSelection()
    canvas._refresh_list(select=list(canvas.layers)[-1])  # another layer is active
    job = window.vary_node(first)
    assert job is not None
    wait_for(qtbot, lambda: bool(job.job_id), 10000)
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        finish_job(window, client, client.jobs[-1].id, [("image", "image/png", png_bytes(256, 256, (0, 0, 200)), {})])
    varied = next(layer for layer in canvas.layers.values() if layer.node == landed.args[0].id)
    # A Vary is a take of the picture it varies (tests/ui/test_vary_takes.py): in its place.
    assert varied is source and window.canvas_takes.group(source.layer_id).position() == "2/2"
    assert canvas.active_layer() is source


def test_a_continuation_far_along_the_timeline_is_scrolled_to_and_selected(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window)
    timeline = window.timeline
    source = timeline.add_melody(_tune([60, 62, 64, 65]), name="late phrase", start=400.0)
    timeline.view.horizontalScrollBar().setValue(0)
    timeline.select_clip(source)
    timeline.continue_action.trigger()
    wait_for(qtbot, lambda: len(client.jobs) >= 1, 10000)
    job = next(iter(window.tracker.jobs.values()))
    wait_for(qtbot, lambda: bool(job.job_id), 10000)
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        finish_job(window, client, client.jobs[0].id, [("melody", "audio/midi", write_midi(_tune([67, 69, 71, 72])), {})])
    clip = next(c for _t, c in timeline.doc.clips() if c.get("node") == landed.args[0].id)
    assert timeline.selected == clip["id"]
    item = next(i for i in timeline.view.clip_items() if i.clip["id"] == clip["id"])
    assert _visible(timeline.view).intersects(item.sceneBoundingRect())


def test_a_dropped_midi_goes_after_the_clip_it_would_hide_and_says_so(make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    window = make_window()
    timeline = window.timeline
    existing = timeline.add_melody(_tune([60, 62, 64, 65, 67, 69, 71, 72]), name="mine", start=0.0)
    path = tmp_path / "dropped.mid"
    path.write_bytes(write_midi(_tune([50, 52, 53, 55])))
    with qtbot.waitSignal(timeline.message, timeout=2000) as said:
        new = timeline.import_file(path, start=2.0, track_index=0)
    assert new is not None
    _track, mine = timeline.doc.find_clip(existing)
    _track, dropped = timeline.doc.find_clip(new)
    assert dropped["start"] >= mine["start"] + mine["length"]
    assert "does not cover" in said.args[0]


def test_moving_a_clip_onto_another_puts_it_in_the_next_gap(make_window: Any) -> None:
    window = make_window()
    timeline = window.timeline
    first = timeline.add_melody(_tune([60, 62, 64, 65]), name="A", start=0.0)
    second = timeline.add_melody(_tune([67, 69, 71, 72]), name="B", start=16.0)
    track = timeline.doc.tracks[0]
    length = timeline.doc.find_clip(second)[1]["length"]
    start = timeline._free_or_say(track, 1.0, length, "B", ignore=second)
    assert start >= timeline.doc.find_clip(first)[1]["length"]
    # Duplicating A lands after B's neighbour gap, never on top of B.
    timeline.select_clip(first)
    timeline.duplicate_selected()
    clips = sorted(track["clips"], key=lambda c: c["start"])
    for left, right in itertools.pairwise(clips):
        assert left["start"] + left["length"] <= right["start"] + 1e-9


@pytest.mark.parametrize("on", [True, False])
def test_the_follow_setting_is_a_checkable_view_action(make_window: Any, on: bool) -> None:
    window = make_window()
    action = window.findChild(type(window.menuBar().actions()[0]), "actionFollowResults")
    assert action is not None and action.isCheckable() and action.isChecked()
    if not on:
        action.trigger()
    assert follow_results.follows(window.settings) is on
