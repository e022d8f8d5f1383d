"""The Jobs panel's Machine column: "this computer" for the local engine's worker, the remote
engine's host for a remote one, node · actor · device for a Ray actor; from the engine's events."""

from __future__ import annotations

from typing import Any

from studio.engine.protocol import DoneEvent, JobRunner, StartedEvent
from studio.ui.jobs import JobTracker
from studio.ui.jobs_panel import JobsPanel, machine_text

RAY = JobRunner(kind="ray", host="gpu-box-2", address="10.0.0.12", node="f9a563bf", name="actor-3", device="cuda")


def _ran_on(qtbot: Any, runner: JobRunner, remote_host: str | None = None) -> str:
    tracker = JobTracker()
    panel = JobsPanel(tracker, remote_host=lambda: remote_host)
    qtbot.addWidget(panel)
    job = tracker.new_job("studio.patterns", "Patterns", "image", {}, 1)
    assert panel.row(job.ticket).machine.isHidden()  # not started: nowhere yet
    tracker.accepted(job.ticket, "job-1")
    tracker.on_event(StartedEvent(job="job-1", runner=runner))
    started = panel.row(job.ticket).machine.text()
    tracker.on_event(DoneEvent(job="job-1", runner=runner).model_dump(mode="json"))  # the JSON form too
    assert job.runner == runner and panel.row(job.ticket).machine.text() == started
    return started


def test_a_local_worker_job_ran_on_this_computer_and_a_remote_one_on_the_remote_host(qtbot: Any) -> None:
    worker = JobRunner(kind="worker", host="my-laptop", name="worker", device="cpu")
    assert _ran_on(qtbot, worker) == "this computer"
    assert _ran_on(qtbot, worker, remote_host="studio-gpu") == "studio-gpu"


def test_a_ray_job_names_its_node_actor_and_device(qtbot: Any) -> None:
    assert _ran_on(qtbot, RAY) == "gpu-box-2 10.0.0.12 (node f9a563bf) · actor-3 · cuda"
    assert _ran_on(qtbot, RAY, remote_host="head") == "gpu-box-2 10.0.0.12 (node f9a563bf) · actor-3 · cuda"  # the node, not the head
    assert machine_text(None) == ""
