"""New / Save / Save As / Open, autosave and crash recovery, damaged files, layout memory."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF

from studio.core.history import HistoryNode
from studio.core.melody import Melody, Note
from studio.core.project_store import ProjectStore
from studio.ui.dialogs import QuietPrompter
from studio.ui.main_window import MainWindow
from tests.ui.conftest import png_bytes


def _fill(window: MainWindow) -> dict[str, Any]:
    """Put something in every document: a generation in history, a layer, a clip, text."""
    store = window.session.store
    blob = store.put_blob(png_bytes(40, 30), "image", "image/png", {})
    node = window.session.history.add(HistoryNode(generator="studio.patterns", params={"width": 40}, seed=3, outputs=[blob], kind="image"))
    window.canvas.add_image(store.get_blob(blob), name="art", blob=blob, node=node.id)
    window.canvas.select_region(QRectF(2, 2, 10, 10))
    clip = window.timeline.add_melody(Melody(notes=[Note(64, 0.0, 1.0)], tempo=90.0), name="tune")
    window.text_panel.set_text("# Notes\nhello")
    return {"node": node.id, "blob": blob, "clip": clip}


def test_save_then_reopen_round_trips_canvas_timeline_history_and_text(make_window: Any, tmp_path: Path, qtbot: Any) -> None:
    target = tmp_path / "song.studio"
    window = make_window(prompter=QuietPrompter(paths=[target]))
    ids = _fill(window)
    assert window.session.dirty
    assert window.save()  # untitled: asks for a name, then saves there
    assert target.exists() and not window.session.dirty and not window.session.untitled
    canvas_doc, timeline_doc = window.canvas.to_document(), window.timeline.to_document()
    window.close()

    again = make_window()
    assert again.open_project(target)
    assert again.canvas.to_document() == canvas_doc
    assert again.timeline.to_document() == timeline_doc
    assert again.text_panel.text() == "# Notes\nhello"
    assert [node.id for node in again.session.history.nodes()] == [ids["node"]]
    assert again.canvas.layers[next(iter(again.canvas.layers))].blob == ids["blob"]
    assert not again.session.dirty
    # It is in the recent projects menu.
    assert str(target) in [action.text() for action in again.recent_menu.actions()]


def test_autosave_then_crash_offers_recovery_of_an_untitled_project(make_window: Any, qtbot: Any, studio_home: Path) -> None:
    window = make_window()
    ids = _fill(window)
    assert window.session.autosave_now() is not None
    window.session.abandon()  # the process "dies": nothing is cleaned up

    prompter = QuietPrompter(ask=True)
    recovered = make_window(prompter=prompter)
    assert prompter.questions and "Recover" in prompter.questions[0]
    assert [layer.blob for layer in recovered.canvas.layers.values()] == [ids["blob"]]
    assert recovered.timeline.doc.find_clip(ids["clip"])
    assert [node.id for node in recovered.session.history.nodes()] == [ids["node"]]
    assert recovered.session.dirty  # recovered work is unsaved until the user saves it


def test_autosave_runs_a_few_seconds_after_a_change(make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    window = make_window()
    window.save_as(tmp_path / "a.studio")
    with qtbot.waitSignal(window.session.autosaved, timeout=10000) as autosaved:
        window.canvas.add_image(png_bytes(), name="x")
    autosave = Path(autosaved.args[0])
    assert autosave.exists() and autosave.parent == window.session.recovery_dir
    window.save()
    assert not autosave.exists()  # saving makes the autosave redundant


def test_named_project_recovers_unsaved_changes_after_a_crash(make_window: Any, tmp_path: Path, qtbot: Any) -> None:
    path = tmp_path / "named.studio"
    window = make_window()
    window.save_as(path)
    window.canvas.add_image(png_bytes(), name="unsaved")
    window.session.autosave_now()
    window.session.abandon()
    assert ProjectStore.open(path, readonly=True).load_canvas()["layers"] == []  # never saved

    declined = QuietPrompter(ask=False)
    first = make_window(prompter=declined, project=path)
    assert declined.questions and "unsaved changes" in declined.questions[0]
    assert not first.canvas.layers  # declined: the saved state, and the autosave is gone
    first.close()

    window = make_window(project=path)
    window.canvas.add_image(png_bytes(), name="unsaved again")
    window.session.autosave_now()
    window.session.abandon()
    accepted = QuietPrompter(ask=True)
    second = make_window(prompter=accepted, project=path)
    assert [layer.name for layer in second.canvas.layers.values()] == ["unsaved again"]


def test_a_damaged_or_foreign_file_gets_a_clear_error_and_is_left_untouched(make_window: Any, tmp_path: Path) -> None:
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)
    garbage = tmp_path / "broken.studio"
    garbage.write_bytes(b"this is not a database at all" * 10)
    foreign = tmp_path / "other.studio"
    import sqlite3

    connection = sqlite3.connect(foreign)
    connection.execute("CREATE TABLE t (x)")
    connection.commit()
    connection.close()
    for path in (garbage, foreign):
        before = path.read_bytes()
        assert not window.open_project(path)
        title, text, _details = prompter.errors[-1]
        assert title == "Cannot open project" and str(path) in text and "not a Studio project" in text
        assert path.read_bytes() == before
    assert window.session.store is not None  # the open project is still there


def test_layout_is_remembered_in_studio_home(make_window: Any, studio_home: Path, qtbot: Any) -> None:
    window = make_window()
    window.docks["timeline"].hide()
    window.close()
    again = make_window()
    assert again.docks["timeline"].isHidden()
    assert (studio_home / "ui-settings.ini").exists()
    again.workspaces.switch("music")  # the workspace that shows the timeline
    again.docks["timeline"].hide()
    again.reset_layout()
    assert not again.docks["timeline"].isHidden()


def test_closing_with_unsaved_changes_asks_and_can_cancel(make_window: Any, tmp_path: Path) -> None:
    prompter = QuietPrompter(save="cancel")
    window = make_window(prompter=prompter)
    window.save_as(tmp_path / "p.studio")
    window.canvas.add_image(png_bytes(), name="x")
    assert not window.close()  # the user chose Cancel: still open
    assert prompter.questions
    prompter.save_answer = "save"
    assert window.close()
    assert ProjectStore.open(tmp_path / "p.studio", readonly=True).load_canvas()["layers"]
    time.sleep(0)
