"""Room for images and for music (issue 13, defect 6): workspaces remembered per project,
the canvas gets the space in Image, docks never tear off into floating windows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QDockWidget

from studio.core.melody import Melody, Note
from studio.core.midi import write_midi
from tests.ui.conftest import wait_for
from tests.ui.fake_engine import attach_fake_engine, finish_job


def test_image_workspace_gives_the_canvas_the_room(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    window.resize(1500, 950)
    window.workspaces.switch("image")
    qtbot.wait(50)
    assert not window.docks["timeline"].isVisible()
    view = window.canvas.view
    layers_panel = window.canvas.layer_list
    assert view.width() > 2 * layers_panel.width()
    assert view.height() > 0.6 * window.height()


def test_music_workspace_shows_a_tall_timeline(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    window.resize(1500, 950)
    window.workspaces.switch("music")
    qtbot.wait(50)
    assert window.docks["timeline"].isVisible()
    assert window.docks["timeline"].height() > 0.35 * window.height()
    assert window.workspace_actions["music"].isChecked()


def test_each_project_reopens_in_its_own_workspace(make_window: Any, tmp_path: Path) -> None:
    window = make_window()
    window.save_as(tmp_path / "song.studio")
    window.workspaces.switch("music")
    window.new_project()
    window.save_as(tmp_path / "poster.studio")
    window.workspaces.switch("image")
    assert window.open_project(tmp_path / "song.studio")
    assert window.workspaces.current == "music" and window.docks["timeline"].isVisible()
    assert window.open_project(tmp_path / "poster.studio")
    assert window.workspaces.current == "image" and not window.docks["timeline"].isVisible()


def test_music_landing_in_the_image_workspace_shows_the_timeline(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window)
    window.workspaces.switch("image")
    window.generate_panel.select_generator("studio.melody")
    jobs = window.generate()
    wait_for(qtbot, lambda: bool(jobs[0].job_id), 10000)
    melody = Melody(notes=[Note(60, 0.0, 1.0, 90)], tempo=100.0)
    with qtbot.waitSignal(window.generation_landed, timeout=10000):
        finish_job(window, client, client.jobs[-1].id, [("melody", "audio/midi", write_midi(melody), {})])
    assert window.docks["timeline"].isVisible()


def test_dock_titles_do_not_tear_off_into_floating_windows(make_window: Any) -> None:
    window = make_window()
    for dock in window.docks.values():
        assert not dock.features() & QDockWidget.DockWidgetFeature.DockWidgetFloatable
        assert dock.features() & QDockWidget.DockWidgetFeature.DockWidgetMovable
