"""A result lands in short steps, and a Generate click writes no settings file (issue 13, defect 11).

No timings here (the machine's load decides those; ``tests/benchmarks/bench_ui.py`` measures
them): these pin the mechanisms that keep each turn of the event loop under one frame. The
outputs are stored on a worker thread and placed a turn after they are recorded; History
adds one row instead of rebuilding; the Layers list is not rebuilt on a landing; the
remembered parameters are written later, in one batch, off the GUI thread; the mask is not
scanned again while its pixels are unchanged.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtCore import QPointF, QSettings, Qt, QTimer
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QGraphicsScene, QTreeWidgetItem

from studio.core.history import History, HistoryNode
from studio.core.project_store import ProjectStore
from studio.ui.canvas_mask import CanvasMask
from studio.ui.history_panel import HistoryPanel
from tests.ui.conftest import wait_for
from tests.ui.fake_engine import attach_fake_engine, finish_job, first_party_catalogue


def _png(colour: tuple[int, int, int], size: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _generate(window: Any, client: Any, qtbot: Any, colour: tuple[int, int, int]) -> HistoryNode:
    jobs = window.generate()
    wait_for(qtbot, lambda: bool(jobs[0].job_id), 10000)
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        finish_job(window, client, jobs[0].job_id, [("image", "image/png", _png(colour), {})])
    node: HistoryNode = landed.args[0]
    return node


@pytest.fixture
def patterns_window(make_window: Any) -> tuple[Any, Any]:
    window = make_window()
    client = attach_fake_engine(window, first_party_catalogue("patterns"))
    window.generate_panel.select_generator("studio.patterns")
    return window, client


def test_a_result_is_stored_on_a_worker_thread_and_placed_a_turn_after_it_is_recorded(
    patterns_window: tuple[Any, Any], qtbot: Any, monkeypatch: Any
) -> None:
    window, client = patterns_window
    threads: list[str] = []
    real_put = ProjectStore.put_blob

    def put_blob(self: ProjectStore, *args: Any, **kwargs: Any) -> str:
        threads.append(threading.current_thread().name)
        return real_put(self, *args, **kwargs)

    monkeypatch.setattr(ProjectStore, "put_blob", put_blob)
    # What is in place one turn after the node is recorded (a zero timer started then fires first).
    seen: dict[str, Any] = {}

    def added(change: str, ids: list[str]) -> None:
        if change == "added":

            def look() -> None:
                seen["layers"] = [layer.node for layer in window.canvas.layers.values()]

            QTimer.singleShot(0, look)

    window.session.history.subscribe(added)
    landed = []
    window.generation_landed.connect(lambda node: landed.append("layers" in seen))
    node = _generate(window, client, qtbot, (200, 30, 30))
    assert threads and all(name.startswith("studio-decode") for name in threads)
    assert node.id not in seen["layers"]  # recorded in one turn, not yet placed
    assert landed == [True]  # "landed" comes with the placing, in that later turn
    assert any(layer.node == node.id for layer in window.canvas.layers.values())
    assert node.outputs[0] and window.session.store.has_blob(node.outputs[0])


def test_a_landing_adds_one_layer_row_without_rebuilding_the_layer_list(patterns_window: tuple[Any, Any], qtbot: Any) -> None:
    window, client = patterns_window
    panel = window.canvas.layer_panel
    first = _generate(window, client, qtbot, (10, 200, 10))
    kept = panel.layer_list.item(0)
    rebuilds = panel.rebuilds
    second = _generate(window, client, qtbot, (10, 10, 200))
    assert panel.rebuilds == rebuilds  # neither placing nor revealing it rebuilt the list
    rows = [panel.layer_list.item(row) for row in range(panel.layer_list.count())]
    by_node = {layer.layer_id: layer.node for layer in window.canvas.layers.values()}
    assert [by_node[row.data(Qt.ItemDataRole.UserRole)] for row in rows] == [second.id, first.id]  # topmost first
    assert rows[1] is kept  # the older row is the same item, not a rebuilt one
    assert panel.current_id() == rows[0].data(Qt.ItemDataRole.UserRole)  # the new layer is the current row
    panel.refresh()  # a full rebuild shows the same
    assert [panel.layer_list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(2)] == [row_id for row_id in by_node][::-1]


def _tree(panel: HistoryPanel) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []

    def visit(item: QTreeWidgetItem, depth: int) -> None:
        found.append((depth, item.text(0)))
        for index in range(item.childCount()):
            visit(item.child(index), depth + 1)

    for index in range(panel.tree.topLevelItemCount()):
        visit(panel.tree.topLevelItem(index), 0)
    return found


@pytest.fixture
def history_panel(qtbot: Any, tmp_path: Path) -> Any:
    store = ProjectStore.create(tmp_path / "h.studio")
    history = History(store)
    panel = HistoryPanel(QUndoStack())
    qtbot.addWidget(panel)
    panel.set_history(history, None)
    yield panel, history
    store.close()


def _node(label: str, *parents: str, generator: str = "studio.patterns") -> HistoryNode:
    return HistoryNode(parents=list(parents), generator=generator, plugin_id=generator, label=label, seed=1)


def test_history_adds_a_new_generation_as_one_row_where_a_rebuild_would_put_it(history_panel: Any) -> None:
    panel, history = history_panel
    root = history.add(_node("root"))
    history.add(_node("first child", root.id))
    kept = panel.tree.topLevelItem(0)
    rebuilds = panel.rebuilds
    history.add(_node("second child", root.id))
    history.add(_node("another root"))
    assert panel.rebuilds == rebuilds and panel.rows_added >= 2
    assert panel.tree.topLevelItem(0) is kept  # the old rows stay
    incremental = _tree(panel)
    assert incremental == [(0, "root"), (1, "first child"), (1, "second child"), (0, "another root")]
    panel.refresh()
    assert _tree(panel) == incremental


def test_history_rebuilds_where_one_row_would_not_be_right(history_panel: Any) -> None:
    panel, history = history_panel
    a = history.add(_node("a"))
    b = history.add(_node("b"))
    rebuilds = panel.rebuilds
    history.add(_node("a new generator", generator="studio.melody"))  # the filter list needs it
    assert panel.rebuilds == rebuilds + 1
    assert panel.generator_filter.findData("studio.melody") >= 0
    history.add(_node("merge", a.id, b.id))  # two parents: the walk decides where it goes
    assert panel.rebuilds == rebuilds + 2
    panel.search.setText("merge")  # a filter on: only a rebuild knows what to show
    rebuilds = panel.rebuilds
    history.add(_node("merge again", a.id))
    assert panel.rebuilds == rebuilds + 1
    assert [text for _depth, text in _tree(panel)] == ["merge", "merge again"]


def test_remembered_parameters_are_written_later_in_one_batch_off_the_gui_thread(
    patterns_window: tuple[Any, Any], qtbot: Any, monkeypatch: Any
) -> None:
    from studio.ui import deferred_settings

    window, client = patterns_window
    panel = window.generate_panel
    threads: list[str] = []
    real_write = deferred_settings._write

    def write(*args: Any) -> None:
        threads.append(threading.current_thread().name)
        real_write(*args)

    monkeypatch.setattr(deferred_settings, "_write", write)
    wait_for(qtbot, lambda: not panel.memory.busy, 5000)
    writes = panel.memory.writes
    key = "generate/params/studio.patterns"
    for _ in range(3):
        window.generate()  # each rolls the seed, which is remembered
    seed = panel.seed.value()
    on_disk = QSettings(panel.settings.fileName(), QSettings.Format.IniFormat)
    assert f'"seed": {seed}' in panel.memory.value(key)  # the form reads what it last set at once
    assert f'"seed": {seed}' not in str(on_disk.value(key, ""))  # nothing written during the clicks
    wait_for(qtbot, lambda: panel.memory.writes > writes, 5000)
    assert panel.memory.writes == writes + 1  # the three clicks: one file write
    assert threads and all(name.startswith("studio-settings") for name in threads)
    assert f'"seed": {seed}' in str(QSettings(panel.settings.fileName(), QSettings.Format.IniFormat).value(key, ""))
    assert f'"seed": {seed}' in str(panel.settings.value(key, ""))  # the window's own settings see it too


def test_remembered_parameters_reach_the_file_when_the_window_closes(patterns_window: tuple[Any, Any]) -> None:
    window, _client = patterns_window
    panel = window.generate_panel
    window.generate()
    seed = panel.seed.value()
    path = panel.settings.fileName()
    window.close()
    assert f'"seed": {seed}' in str(QSettings(path, QSettings.Format.IniFormat).value("generate/params/studio.patterns", ""))


def test_the_mask_is_scanned_again_only_when_its_pixels_change(qtbot: Any) -> None:
    scene = QGraphicsScene()
    mask = CanvasMask(scene, (256, 256))
    assert mask.is_empty() and mask.is_empty()
    assert mask.scans == 1  # every autosave asks; the unchanged mask is not scanned again
    mask.paint_dab(QPointF(20, 20), erase=False)
    assert not mask.is_empty() and mask.scans == 2
    mask.set_image(CanvasMask(QGraphicsScene(), (256, 256)).image)
    assert mask.is_empty() and mask.scans == 3


def test_a_job_row_makes_its_details_box_only_for_a_traceback(qtbot: Any) -> None:
    from studio.ui.jobs import FAILED, JobTracker
    from studio.ui.jobs_panel import JobsPanel

    tracker = JobTracker()
    panel = JobsPanel(tracker)
    qtbot.addWidget(panel)
    job = tracker.new_job("studio.patterns", "Patterns", "image", {}, 1)
    row = panel.row(job.ticket)
    assert row is not None and row.details is None  # a Generate click builds no text editor
    job.state, job.error, job.traceback = FAILED, "it broke", "Traceback: line 1"
    tracker.changed.emit(job.ticket)
    assert row.details is not None and row.details.toPlainText() == "Traceback: line 1"
    assert row.details.isHidden() and not row.details_button.isHidden()
    row.details_button.setChecked(True)
    assert not row.details.isHidden()


def test_a_result_stored_while_another_project_opens_lands_in_that_project_as_before(
    patterns_window: tuple[Any, Any], qtbot: Any, monkeypatch: Any
) -> None:
    from studio.ui import landing_steps

    window, client = patterns_window
    entered, release = threading.Event(), threading.Event()
    real_store = landing_steps.store_blobs

    def slow_store(*args: Any) -> list[str]:
        entered.set()
        release.wait(10)
        return real_store(*args)

    monkeypatch.setattr(landing_steps, "store_blobs", slow_store)
    jobs = window.generate()
    wait_for(qtbot, lambda: bool(jobs[0].job_id), 10000)
    finish_job(window, client, jobs[0].job_id, [("image", "image/png", _png((90, 90, 20)), {})])
    wait_for(qtbot, entered.is_set, 10000)  # fetched; the worker is storing it in this project
    first = window.session.store
    assert window.project_flow.new() and window.session.store is not first
    monkeypatch.setattr(landing_steps, "store_blobs", real_store)
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        release.set()
    assert landed.args[0].id in window.session.history  # the project open when it landed has it
