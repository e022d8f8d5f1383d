"""The window against a real engine subprocess (the built-in studio.patterns generator)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
from PySide6.QtCore import Qt

from studio.core.png_metadata import read_png_metadata
from studio.ui.engine_link import READY, RESTARTING
from studio.ui.jobs import CANCELLED, DONE, FAILED, RUNNING
from tests.ui.conftest import engine_pid, set_param, wait_for, wait_ready

pytestmark = pytest.mark.slow


def _small(window: Any) -> None:
    window.generate_panel.select_generator("studio.patterns")
    set_param(window, "width", 64)
    set_param(window, "height", 48)


def test_window_is_interactive_before_the_engine_is_ready(make_window: Any, engine_home: Path, qtbot: Any) -> None:
    window = make_window(engine=True)
    # The window is up and the project open while the engine is still starting.
    assert window.session.store is not None
    assert window.isVisible()
    assert "engine" in window.engine_label.text()
    wait_ready(qtbot, window)
    assert "engine ready" in window.engine_label.text()
    assert "studio.patterns" in window.generate_panel.generators


def test_generation_lands_on_the_canvas_in_history_and_in_the_project(
    make_window: Any, engine_home: Path, qtbot: Any, tmp_path: Path
) -> None:
    modules_before = set(sys.modules)  # earlier tests in this process may have loaded torch
    window = make_window(engine=True)
    wait_ready(qtbot, window)
    _small(window)
    window.generate_panel.seed.set_value(1234)
    window.generate_panel.seed.set_locked(True)
    with qtbot.waitSignal(window.generation_landed, timeout=60000) as landed:
        qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Enter
    node = landed.args[0]
    assert node.seed == 1234
    assert node.generator == "studio.patterns"
    assert node.params["width"] == 64
    # In the project file: the node and its output blob.
    store = window.session.store
    assert store.get_node(node.id) is not None
    blob = store.get_blob(node.outputs[0])
    assert read_png_metadata(blob)["studio"]["seed"] == 1234
    # On the canvas, as a layer pointing at the node.
    layers = list(window.canvas.layers.values())
    assert len(layers) == 1 and layers[0].node == node.id and layers[0].blob == node.outputs[0]
    # In the history panel.
    assert window.history_panel.tree.topLevelItemCount() == 1
    # And the jobs view says done.
    job = next(iter(window.tracker.jobs.values()))
    assert job.state == DONE and window.jobs_panel.row(job.ticket) is not None
    machine = window.jobs_panel.row(job.ticket).machine  # the Machine column: the local engine's worker
    assert machine.text() == "this computer" and not machine.isHidden()
    # Export with metadata: the visible canvas as PNG carries the record and the AI disclosure.
    exported = window.export_canvas(tmp_path / "out.png")
    meta = read_png_metadata(exported)
    assert meta["ai_generated"] is True
    assert meta["studio"]["seed"] == 1234
    # Re-run and vary from the history: children / siblings land too.
    with qtbot.waitSignal(window.generation_landed, timeout=60000) as varied:
        window.vary_node(node)
    assert varied.args[0].parents == [node.id]
    assert len(window.session.history) == 2
    # The whole round trip happened without torch, diffusers or plugin code in this process.
    assert not {"torch", "diffusers", "transformers", "studio_patterns"} & (
        set(sys.modules) - modules_before
    )  # the window loaded none of them


def test_cancel_from_the_jobs_view_stops_the_job(make_window: Any, engine_home: Path, qtbot: Any) -> None:
    window = make_window(engine=True)
    wait_ready(qtbot, window)
    window.generate_panel.select_generator("studio.patterns")
    set_param(window, "width", 4096)
    set_param(window, "height", 4096)
    jobs = window.generate()
    job = jobs[0]
    wait_for(qtbot, lambda: job.state == RUNNING, 60000)
    row = window.jobs_panel.row(job.ticket)
    assert row is not None and row.cancel.isEnabled()
    qtbot.mouseClick(row.cancel, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: job.state == CANCELLED, 30000)
    assert "cancelled" in row.status.text()
    assert len(window.session.history) == 0
    assert not window.canvas.layers


def test_engine_killed_mid_job_restarts_and_the_project_survives(make_window: Any, engine_home: Path, qtbot: Any) -> None:
    window = make_window(engine=True)
    wait_ready(qtbot, window)
    _small(window)
    with qtbot.waitSignal(window.generation_landed, timeout=60000):
        window.generate()
    nodes_before = [node.id for node in window.session.history.nodes()]
    states: list[str] = []
    window.link.state_changed.connect(lambda state, _detail: states.append(state))

    set_param(window, "width", 4096)
    set_param(window, "height", 4096)
    job = window.generate()[0]
    wait_for(qtbot, lambda: job.state == RUNNING, 60000)
    pid = engine_pid(engine_home)
    assert pid is not None
    engine = psutil.Process(pid)
    workers = engine.children(recursive=True)
    os.kill(pid, signal.SIGKILL)
    for worker in workers:
        try:
            worker.kill()
        except psutil.NoSuchProcess:
            pass

    wait_for(qtbot, lambda: RESTARTING in states, 30000)
    assert job.state == FAILED and "engine stopped" in job.error
    wait_for(qtbot, lambda: window.link.state == READY and window.link.ready, 90000)
    assert "engine ready" in window.engine_label.text()
    new_pid = engine_pid(engine_home)
    assert new_pid is not None and new_pid != pid

    _small(window)
    with qtbot.waitSignal(window.generation_landed, timeout=60000) as landed:
        window.generate()
    # The project is intact: the earlier generation is still there, the new one joined it.
    after = [node.id for node in window.session.history.nodes()]
    assert after == nodes_before + [landed.args[0].id]
    assert window.session.store.integrity_problems() == []
    assert len(window.canvas.layers) == 2


def test_failed_job_shows_the_engine_message_with_details(make_window: Any, engine_home: Path, qtbot: Any) -> None:
    window = make_window(engine=True)
    wait_ready(qtbot, window)
    generator = window.generate_panel.generators["studio.patterns"]
    job = window.submit(generator, {"width": 5}, 1)  # below the manifest's minimum: refused with a reason
    wait_for(qtbot, lambda: job.state == FAILED, 30000)
    row = window.jobs_panel.row(job.ticket)
    assert "width" in job.error
    assert not row.error.isHidden() and "width" in row.error.text()
