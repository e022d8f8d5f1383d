"""Vary gives takes (issue 13, defect 9 and "Results"): alternatives in the slot that was
varied, stepped through with ◀ ▶ (or Alt+Left / Alt+Right) and promoted with one click,
instead of a new layer or clip per Vary. Takes are saved with the project; History keeps
every take's generation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from studio.core.melody import Melody, Note
from studio.core.midi import write_midi
from studio.ui.dialogs import QuietPrompter
from studio.ui.takes_bar import NEXT_KEY, PROMOTE_KEY
from tests.ui.conftest import png_bytes, wait_for
from tests.ui.fake_engine import attach_fake_engine, finish_job, first_party_catalogue

RED, GREEN, BLUE, WHITE = (200, 0, 0), (0, 200, 0), (0, 0, 200), (250, 250, 250)


def _colour(layer: Any) -> tuple[int, int, int]:
    pixel = layer.image.pixelColor(4, 4)
    return pixel.red(), pixel.green(), pixel.blue()


def _land(window: Any, client: Any, qtbot: Any, job: Any, output: tuple[str, str, bytes, dict[str, Any]]) -> Any:
    assert job is not None
    wait_for(qtbot, lambda: bool(job.job_id), 10000)
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        finish_job(window, client, job.job_id, [output])
    return landed.args[0]


def _image(colour: tuple[int, int, int]) -> tuple[str, str, bytes, dict[str, Any]]:
    return ("image", "image/png", png_bytes(64, 64, colour), {})


def test_vary_three_times_on_a_layer_gives_one_layer_with_takes_to_step_promote_and_reopen(
    make_window: Any, qtbot: Any, tmp_path: Path
) -> None:
    target = tmp_path / "takes.studio"
    window = make_window(prompter=QuietPrompter(paths=[target]))
    client = attach_fake_engine(window, first_party_catalogue("patterns"))
    canvas, takes = window.canvas, window.canvas_takes
    window.generate_panel.select_generator("studio.patterns")
    original = _land(window, client, qtbot, window.generate()[0], _image(RED))
    assert len(canvas.layers) == 1
    layer = next(iter(canvas.layers.values()))
    # The bar offers Vary for the selected generated layer; the first Vary comes from it.
    assert takes.bar.vary_button.isVisibleTo(window)
    takes.bar.vary_button.click()
    wait_for(qtbot, lambda: any(job.parents == [original.id] for job in window.tracker.jobs.values()), 10000)
    _land(window, client, qtbot, next(job for job in window.tracker.jobs.values() if job.parents == [original.id]), _image(GREEN))
    for colour in (BLUE, WHITE):
        job = window.vary_node(original)
        if colour == WHITE:  # its live preview shows over the layer it will be a take of
            canvas.layers[layer.layer_id].setPos(300, 40)
            window.flow._preview(job.ticket, QImage.fromData(png_bytes(64, 64, WHITE)))
            assert canvas._preview_item is not None and canvas._preview_item.pos() == layer.pos()
        _land(window, client, qtbot, job, _image(colour))
    assert list(canvas.layers.values()) == [layer]  # one slot, no new layers
    group = takes.group(layer.layer_id)
    assert group is not None and len(group.takes) == 4 and group.position() == "4/4"
    assert _colour(layer) == WHITE and layer.node == group.shown.node  # the latest take is shown
    history = window.session.history
    assert len(history) == 4 and all(node in history for node in group.nodes())  # History records each take
    assert takes.bar.isVisibleTo(window) and takes.bar.position.text() == "4/4"
    takes.bar.previous_button.click()
    assert _colour(layer) == BLUE and takes.bar.position.text() == "3/4"
    takes.bar.actions_by_key[NEXT_KEY].trigger()  # Alt+Right
    takes.bar.actions_by_key[NEXT_KEY].trigger()  # wraps to the original
    assert _colour(layer) == RED and takes.bar.position.text() == "1/4"
    takes.bar.next_button.click()
    assert _colour(layer) == GREEN
    canvas.view.setFocus()  # the keys work from the canvas itself
    qtbot.keyClick(canvas.view, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert takes.bar.position.text() == "3/4"
    qtbot.keyClick(canvas.view, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert _colour(layer) == GREEN and takes.bar.position.text() == "2/4"

    assert window.save()
    saved_doc = canvas.to_document()
    window.close()
    again = make_window()
    assert again.open_project(target)
    reopened = next(iter(again.canvas.layers.values()))
    assert again.canvas.to_document() == saved_doc
    assert _colour(reopened) == GREEN and again.canvas_takes.group(reopened.layer_id).position() == "2/4"

    again.canvas._refresh_list(select=reopened.layer_id)
    again.canvas_takes.bar.promote_button.click()
    assert again.canvas_takes.group(reopened.layer_id) is None and "takes" not in reopened.state()
    assert _colour(reopened) == GREEN and not again.canvas_takes.bar.promote_button.isVisibleTo(again)
    assert len(again.session.history) == 4  # the takes set aside stay in History
    again.undo.undo()  # the promote is undoable
    assert again.canvas_takes.group(reopened.layer_id).position() == "2/4"


def _tune(pitches: list[int]) -> Melody:
    return Melody(notes=[Note(p, float(i), 1.0, 90) for i, p in enumerate(pitches)], tempo=100.0)


def test_vary_on_a_timeline_clip_gives_takes_in_that_clip_and_promote_keeps_one(make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    target = tmp_path / "tune.studio"
    window = make_window(prompter=QuietPrompter(paths=[target]))
    client = attach_fake_engine(window)
    timeline, takes = window.timeline, window.timeline_takes
    source = timeline.add_melody(_tune([60, 62, 64, 65]), name="phrase")
    timeline.select_clip(source)
    variations = ([67, 69, 71, 72], [55, 57, 59, 60], [72, 71, 69, 67])
    for pitches in variations:
        before = len(client.jobs)
        timeline.vary_action.trigger()
        wait_for(qtbot, lambda before=before: len(client.jobs) > before, 10000)
        wait_for(qtbot, lambda: any(job.job_id == client.jobs[-1].id for job in window.tracker.jobs.values()), 10000)
        job = next(job for job in window.tracker.jobs.values() if job.job_id == client.jobs[-1].id)
        _land(window, client, qtbot, job, ("melody", "audio/midi", write_midi(_tune(pitches)), {}))
    clips = [clip for _track, clip in timeline.doc.clips()]
    assert [clip["id"] for clip in clips] == [source]  # one clip, no new ones after it
    group = takes.group(source)
    assert group is not None and group.position() == "4/4"
    assert [note[0] for note in clips[0]["melody"]["notes"]] == variations[-1]
    assert all(node in window.session.history for node in group.nodes())
    takes.bar.previous_button.click()
    assert [note[0] for note in timeline.selected_clip()["melody"]["notes"]] == variations[1]

    assert window.save()
    window.close()
    again = make_window()
    assert again.open_project(target)
    again.timeline.select_clip(source)
    assert again.timeline_takes.group(source).position() == "3/4"
    again.timeline_takes.bar.actions_by_key[PROMOTE_KEY].trigger()  # Alt+Return
    clip = again.timeline.selected_clip()
    assert "takes" not in clip and [note[0] for note in clip["melody"]["notes"]] == variations[1]
    assert len(again.session.history) == 3  # each Vary's generation stays in History
