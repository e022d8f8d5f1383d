"""What used to stall the window while a job ran now happens off the GUI thread (issue 13, defect 11).

No timings here (the machine's load decides those; ``tests/benchmarks/bench_ui.py`` measures
them): these pin the mechanism. Preview frames are decoded on a worker thread, newest first,
and a frame that is overtaken or arrives after its job ended is never shown; the autosave's
file is written on a worker thread and is on disk before the project closes.
"""

from __future__ import annotations

import base64
import io
import threading
from typing import Any

from PIL import Image

from studio.ui import image_decode
from studio.ui.jobs import DONE, JobTracker
from tests.ui.conftest import wait_for


def _frame(width: int) -> str:
    """A preview frame as the event stream carries it: a base64 PNG, ``width`` px wide."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, 8), (200, 40, 10)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _running_job(tracker: JobTracker) -> Any:
    job = tracker.new_job("studio.patterns", "Patterns", "image", {}, 1)
    tracker.accepted(job.ticket, "j1")
    tracker.on_event({"type": "started", "job": "j1"})
    return job


def test_preview_frames_are_decoded_on_a_worker_thread(qtbot: Any, monkeypatch: Any) -> None:
    threads: list[str] = []
    real = image_decode.decode_preview

    def spy(data: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(data)

    monkeypatch.setattr(image_decode, "decode_preview", spy)
    tracker = JobTracker()
    job = _running_job(tracker)
    tracker.on_event({"type": "preview", "job": "j1", "data": _frame(24)})
    assert job.preview is None  # not decoded inside on_event: it arrives through the event loop
    with qtbot.waitSignal(tracker.preview_image, timeout=10000) as shown:
        pass
    assert threads and all(name.startswith("studio-preview") for name in threads)
    assert shown.args[0] == job.ticket and shown.args[1].width() == 24
    assert job.preview is not None and job.preview.pixelColor(1, 1).red() == 200


def test_a_frame_overtaken_while_the_worker_is_busy_is_dropped_for_the_newest(qtbot: Any, monkeypatch: Any) -> None:
    release = threading.Event()
    real = image_decode.decode_preview

    def slow(data: Any) -> Any:
        release.wait(10)  # the worker is still busy with the first frame
        return real(data)

    monkeypatch.setattr(image_decode, "decode_preview", slow)
    tracker = JobTracker()
    job = _running_job(tracker)
    widths: list[int] = []
    tracker.preview_image.connect(lambda _ticket, image: widths.append(image.width()))
    for width in (10, 20, 30, 40):  # 10 is being decoded; 20 and 30 are overtaken by 40
        tracker.on_event({"type": "preview", "job": "j1", "data": _frame(width)})
    release.set()
    wait_for(qtbot, lambda: widths[-1:] == [40], 10000)
    assert widths == [10, 40]
    assert tracker.previews.dropped == 2
    assert job.preview is not None and job.preview.width() == 40


def test_a_frame_still_decoding_when_the_job_ends_is_not_shown(qtbot: Any, monkeypatch: Any) -> None:
    release = threading.Event()
    started = threading.Event()
    real = image_decode.decode_preview

    def slow(data: Any) -> Any:
        started.set()
        release.wait(10)
        return real(data)

    monkeypatch.setattr(image_decode, "decode_preview", slow)
    tracker = JobTracker()
    job = _running_job(tracker)
    shown: list[int] = []
    tracker.preview_image.connect(lambda _ticket, image: shown.append(image.width()))
    tracker.on_event({"type": "preview", "job": "j1", "data": _frame(16)})
    assert started.wait(10)
    tracker.on_event({"type": "done", "job": "j1", "outputs": [], "artifacts": []})
    assert job.state == DONE
    release.set()
    wait_for(qtbot, lambda: not tracker.previews._busy, 10000)
    qtbot.wait(50)  # the delivery, had it been let through, is queued on the GUI thread
    assert shown == [] and job.preview is None


def test_the_autosave_file_is_written_on_a_worker_thread_and_is_on_disk_before_close(
    make_window: Any, qtbot: Any, monkeypatch: Any
) -> None:
    from studio.core.project_store import ProjectStore

    window = make_window()
    session = window.session
    threads: list[str] = []
    real = ProjectStore.autosave_writer

    def spy(self: Any, **documents: Any) -> Any:
        write = real(self, **documents)

        def wrapped() -> Any:
            threads.append(threading.current_thread().name)
            return write()

        return wrapped

    monkeypatch.setattr(ProjectStore, "autosave_writer", spy)
    window.text_panel.set_text("notes worth keeping")
    session.mark_changed()
    target = session.store.autosave_path
    with qtbot.waitSignal(session.autosaved, timeout=10000):
        session._timer.timeout.emit()  # what the autosave timer does a few seconds after a change
    assert threads and all(name.startswith("studio-autosave") for name in threads)
    assert target.exists()
    # A write still in flight when the project is abandoned (as a crash would) finishes first.
    window.text_panel.set_text("more notes")
    session.mark_changed()
    session._timer.timeout.emit()
    session.abandon()
    from studio.core.project_store import read_autosave

    assert read_autosave(target).text == "more notes"


def test_a_progress_event_touches_only_the_progress_of_the_job_row(qtbot: Any) -> None:
    from studio.ui.jobs_panel import JobsPanel

    tracker = JobTracker()
    panel = JobsPanel(tracker)
    qtbot.addWidget(panel)
    job = _running_job(tracker)
    job.preview = image_decode.decode_preview(_frame(12))
    tracker.changed.emit(job.ticket)
    row = panel.row(job.ticket)
    assert row is not None
    calls: list[str] = []
    assert row.details is None  # no traceback, no details box (it is made for one)
    row.thumb.setPixmap = lambda pixmap: calls.append("thumb")  # type: ignore[method-assign]
    row.title.setText = lambda text: calls.append("title")  # type: ignore[method-assign]
    for step in range(1, 10):
        tracker.on_event({"type": "progress", "job": "j1", "progress": step / 10, "message": "sampling"})
    assert row.bar.value() == 900
    assert calls == [] and row.details is None  # not re-rendered per event: the preview, title and details did not change
    job.preview = image_decode.decode_preview(_frame(14))  # a new preview frame is shown
    tracker.changed.emit(job.ticket)
    assert calls == ["thumb"]
