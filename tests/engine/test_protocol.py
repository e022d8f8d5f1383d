"""The engine protocol: one definition of each state and event, round-tripped as JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from studio.engine.protocol import (
    SEED_MAX,
    DoneEvent,
    EventType,
    FailedEvent,
    JobRequest,
    JobState,
    JobStatus,
    ProgressEvent,
    event_json,
    parse_event,
)


def test_job_states_are_defined_once_and_shared_by_the_window():
    from studio.ui import jobs as ui_jobs

    assert ui_jobs.DONE is JobState.DONE and ui_jobs.CANCELLED is JobState.CANCELLED
    assert set(ui_jobs.FINAL) == {JobState.DONE, JobState.FAILED, JobState.CANCELLED}
    assert [state.value for state in JobState] == ["queued", "running", "done", "failed", "cancelled"]


def test_events_round_trip_through_their_json_form():
    done = DoneEvent(
        job="j1", outputs=["a" * 64], artifacts=[{"id": "a" * 64, "kind": "image", "mime": "image/png", "size": 3, "meta": {"seed": 1}}]
    )
    wire = json.loads(json.dumps(event_json(done)))
    assert wire["type"] == "done"
    again = parse_event(wire)
    assert isinstance(again, DoneEvent) and again == done
    progress = parse_event({"type": "progress", "job": "j", "progress": 0.5, "done": 1, "total": 2, "message": "half"})
    assert isinstance(progress, ProgressEvent) and progress.type is EventType.PROGRESS
    with pytest.raises(ValidationError):
        parse_event({"type": "no-such-event", "job": "j"})


def test_models_still_answer_mapping_lookups_for_older_callers():
    status = JobStatus(id="j", plugin="p", state=JobState.FAILED, created=0.0, error="boom")
    assert status["state"] == "failed" and status.get("error") == "boom" and status.get("nope", 1) == 1
    assert FailedEvent(job="j", error="x")["type"] == "failed"


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": SEED_MAX + 1}, "seed"),
        ({"params": {"x": float("nan")}}, "x"),
        ({"params": {"\ud800": 1}}, "surrogate"),
        ({"params": {"t": "y" * 1_000_001}}, "characters long"),
        ({"plugin": ""}, "plugin"),
    ],
)
def test_job_requests_refuse_what_json_cannot_carry(fields, needle):
    with pytest.raises(ValidationError) as refused:
        JobRequest(**{"plugin": "studio.patterns", **fields})
    assert needle in str(refused.value)


def test_job_requests_accept_unsigned_64_bit_seeds():
    assert JobRequest(plugin="studio.patterns", seed=0).seed == 0
    assert JobRequest(plugin="studio.patterns", seed=2**64 - 1).seed == 2**64 - 1


def test_the_protocol_module_stays_light_for_the_window():
    code = "import sys, studio.engine.protocol; bad = [m for m in ('torch', 'fastapi', 'uvicorn', 'PySide6', 'studio.engine.server') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_the_window_tracker_consumes_typed_events():
    from studio.engine.protocol import ArtifactInfo, PreviewEvent, QueuedEvent, StartedEvent
    from studio.ui.jobs import SUBMITTING, JobTracker

    tracker = JobTracker()
    finished: list[str] = []
    tracker.finished.connect(finished.append)
    job = tracker.new_job("test.slow", "Slow", "text", {"steps": 2}, 2**64 - 1)
    assert job.state == SUBMITTING
    tracker.on_event(QueuedEvent(job="j1", position=2))  # before the submit call returned: held
    tracker.accepted(job.ticket, "j1")
    assert job.state == JobState.QUEUED and "2 ahead" in job.message
    tracker.on_event(StartedEvent(job="j1"))
    tracker.on_event(ProgressEvent(job="j1", progress=0.5, done=1, total=2, message="step 1"))
    assert job.state == JobState.RUNNING and job.progress == 0.5 and job.message == "step 1"
    tracker.on_event(PreviewEvent(job="j1", text="hello "))
    tracker.on_event({"type": "preview", "job": "j1", "text": "world"})  # the JSON form is parsed
    tracker.on_event({"type": "from-a-newer-engine", "job": "j1"})  # unknown: ignored
    assert job.text == "hello world"
    tracker.on_event(
        DoneEvent(job="j1", outputs=["b" * 64], artifacts=[ArtifactInfo(id="b" * 64, kind="text", mime="text/plain", size=11)])
    )
    assert job.state == JobState.DONE and not job.active and finished == [job.ticket]
    assert job.artifacts[0].id == "b" * 64 and job.artifacts[0]["kind"] == "text"
