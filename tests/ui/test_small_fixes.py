"""Issue 13, defect 10 leftovers: job status read once, file dialogs start in the last folder
(or home, never the repository), exports readable by others, shortcuts for Re-run / Vary."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction, QKeySequence

from studio.core.melody import Melody, Note
from studio.ui import last_folder
from studio.ui.jobs import Job
from studio.ui.jobs_panel import status_text
from tests.ui.conftest import png_bytes, wait_for
from tests.ui.fake_engine import attach_fake_engine, finish_job, first_party_catalogue


def _job(state: str, message: str) -> Job:
    job = Job(ticket="t1", plugin="x", generator_name="X", kind="image", params={}, seed=1)
    job.state, job.message = state, message
    return job


def test_job_status_names_the_state_once() -> None:
    assert status_text(_job("queued", "queued")) == "queued"
    assert status_text(_job("queued", "queued (2 ahead)")) == "queued (2 ahead)"
    assert status_text(_job("running", "step 3/20")) == "running — step 3/20"
    assert status_text(_job("running", "")) == "running"


def test_file_dialogs_start_at_home_then_in_the_last_folder(studio_home: Path, tmp_path: Path) -> None:
    assert last_folder.start_path() == str(Path.home())
    assert last_folder.start_path("canvas.png") == str(Path.home() / "canvas.png")
    exports = tmp_path / "exports"
    exports.mkdir()
    last_folder.remember(exports / "song.wav")
    assert last_folder.start_path("canvas.png") == str(exports / "canvas.png")
    assert not last_folder.start_path().startswith(str(Path(__file__).resolve().parents[2]))


def test_exported_wav_and_png_are_readable_by_others(make_window: Any, tmp_path: Path) -> None:
    window = make_window()
    window.timeline.add_melody(Melody(notes=[Note(60, 0.0, 1.0, 90)], tempo=120.0), name="m")
    old = os.umask(0o022)
    try:
        wav = window.timeline.export_audio(tmp_path / "mix.wav")
        window.canvas.add_image(png_bytes(8, 8), name="p")
        png = window.export_canvas(tmp_path / "c.png")
    finally:
        os.umask(old)
    assert stat.S_IMODE(wav.stat().st_mode) == 0o644
    assert stat.S_IMODE(png.stat().st_mode) & 0o044 == 0o044


def test_rerun_and_vary_have_shortcuts_and_act_on_the_latest_generation(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window, first_party_catalogue("patterns"))
    rerun = window.findChild(QAction, "actionRerun")
    vary = window.findChild(QAction, "actionVary")
    assert rerun.shortcut() == QKeySequence("Ctrl+R") and vary.shortcut() == QKeySequence("Ctrl+Shift+R")
    window.generate_panel.select_generator("studio.patterns")
    jobs = window.generate()
    wait_for(qtbot, lambda: bool(jobs[0].job_id), 10000)
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        finish_job(window, client, client.jobs[-1].id, [("image", "image/png", png_bytes(16, 16), {})])
    node = landed.args[0]
    rerun.trigger()
    wait_for(qtbot, lambda: len(client.jobs) == 2, 10000)
    assert client.jobs[1].seed == node.seed
    vary.trigger()
    wait_for(qtbot, lambda: len(client.jobs) == 3, 10000)
    assert client.jobs[2].params != client.jobs[1].params or client.jobs[2].seed != node.seed


def test_a_long_job_error_gets_all_its_lines_in_the_jobs_list(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    window.resize(1300, 900)
    window.docks["jobs"].show()
    window.docks["jobs"].raise_()
    tracker = window.tracker
    job = tracker.new_job("x.gen", "X", "image", {}, 1)
    short = dict(window.jobs_panel.rows)[job.ticket]
    item, row = short
    job.state, job.error = "failed", " ".join(["the model folder has no usable checkpoint"] * 12)
    tracker.changed.emit(job.ticket)
    qtbot.wait(20)
    # At least as tall as the error needs even at the list's full width (the old rows: two lines).
    assert item.sizeHint().height() >= row.error.heightForWidth(window.jobs_panel.list.viewport().width())
    assert item.sizeHint().height() > 5 * row.error.fontMetrics().height()
