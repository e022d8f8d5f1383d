"""Jobs as the window sees them: what was asked, what the engine said, what came back.

``JobTracker`` turns the engine's event stream into per-job state for the jobs panel and the
job bar. A job is known locally by a *ticket* from the moment Generate is pressed (before
the engine has answered with its id), so a job that fails to submit still shows why. Events
that arrive before the submit call returns (the engine may publish "queued" first) are held
until the id is known.

Events arrive typed (``studio.engine.protocol``); the job states are the engine's
``JobState``, plus the window's own ``SUBMITTING`` for the moment before the engine answers.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from studio.engine.job_states import FINAL_STATES, JobState
from studio.ui.image_decode import PreviewDecoder

if TYPE_CHECKING:
    from pydantic import BaseModel

    from studio.engine.protocol import ArtifactInfo, JobRunner

# The event models (pydantic) are imported in ``on_event``: by the time events flow, the
# engine link's threads have loaded them, and the window's first frame does not wait for them.

SUBMITTING = "submitting"  # the window's own state: Generate pressed, the engine not yet answered
QUEUED, RUNNING, DONE, FAILED, CANCELLED = JobState.QUEUED, JobState.RUNNING, JobState.DONE, JobState.FAILED, JobState.CANCELLED
FINAL = tuple(FINAL_STATES)
_EARLY_LIMIT = 500


@dataclass
class Job:
    ticket: str
    plugin: str
    generator_name: str
    kind: str
    params: dict[str, Any]
    seed: int | None
    parents: list[str] = field(default_factory=list)
    job_id: str = ""
    state: JobState | str = SUBMITTING
    progress: float = 0.0
    message: str = ""
    preview: QImage | None = None
    text: str = ""
    error: str = ""
    traceback: str = ""
    artifacts: list[ArtifactInfo] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    landed: bool = False
    cancel_requested: bool = False
    #: where the outputs go when they land (see ``studio.ui.placement``); empty: the default spot
    placement: dict[str, Any] = field(default_factory=dict)
    #: a readable name from the prompt / key / action (``studio.ui.labels``); empty: generator · seed
    label: str = ""
    #: where the engine ran it (its worker, or a Ray actor on some node); None until it starts
    runner: JobRunner | None = None

    @property
    def active(self) -> bool:
        return self.state not in FINAL

    @property
    def title(self) -> str:
        if self.label:
            return self.label
        seed = f" · seed {self.seed}" if self.seed is not None else ""
        return f"{self.generator_name}{seed}"


class JobTracker(QObject):
    added = Signal(str)  # ticket
    changed = Signal(str)
    finished = Signal(str)  # reached done / failed / cancelled
    text_delta = Signal(str, str)  # ticket, streamed text
    preview_image = Signal(str, QImage)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs: dict[str, Job] = {}
        self._by_id: dict[str, str] = {}
        self._early: dict[str, list[BaseModel]] = {}
        self._tickets = itertools.count(1)
        self.previews = PreviewDecoder(self)
        self.previews.decoded.connect(self._preview_decoded)

    # ------------------------------------------------------------------ creating

    def new_job(
        self, plugin: str, generator_name: str, kind: str, params: dict[str, Any], seed: int | None, parents: list[str] | None = None
    ) -> Job:
        job = Job(
            ticket=f"t{next(self._tickets)}",
            plugin=plugin,
            generator_name=generator_name,
            kind=kind,
            params=dict(params),
            seed=seed,
            parents=list(parents or []),
        )
        self.jobs[job.ticket] = job
        self.added.emit(job.ticket)
        return job

    def accepted(self, ticket: str, job_id: str) -> None:
        job = self.jobs.get(ticket)
        if job is None:
            return
        job.job_id = job_id
        self._by_id[job_id] = ticket
        if job.state == SUBMITTING:
            job.state = QUEUED
        self.changed.emit(ticket)
        for event in self._early.pop(job_id, []):
            self.on_event(event)

    def rejected(self, ticket: str, message: str) -> None:
        job = self.jobs.get(ticket)
        if job is None:
            return
        job.state = FAILED
        job.error = message.splitlines()[0] if message else "the engine refused the job"
        job.traceback = message
        self.changed.emit(ticket)
        self.finished.emit(ticket)

    # ------------------------------------------------------------------ engine events

    def on_event(self, event: BaseModel | Mapping[str, Any]) -> None:  # noqa: C901
        """One engine event (typed, or its JSON form); events for other jobs are held or ignored."""
        from pydantic import BaseModel, ValidationError

        from studio.engine.protocol import (
            CancelledEvent,
            DoneEvent,
            FailedEvent,
            PreviewEvent,
            ProgressEvent,
            QueuedEvent,
            StartedEvent,
            parse_event,
        )

        if not isinstance(event, BaseModel):
            try:
                event = parse_event(event)
            except ValidationError:
                return
        job_id = getattr(event, "job", None)
        if not job_id:
            return
        ticket = self._by_id.get(job_id)
        if ticket is None:
            # Not ours yet (the submit call has not returned), or another window's job.
            self._early.setdefault(job_id, []).append(event)
            while len(self._early) > _EARLY_LIMIT:
                self._early.pop(next(iter(self._early)))
            return
        job = self.jobs[ticket]
        if not job.active:
            return
        runner = getattr(event, "runner", None)
        if runner is not None:
            job.runner = runner
        if isinstance(event, QueuedEvent):
            job.state = QUEUED
            job.message = f"queued ({event.position} ahead)" if event.position else "queued"
        elif isinstance(event, StartedEvent):
            job.state = RUNNING
            job.message = "running"
        elif isinstance(event, ProgressEvent):
            job.state = RUNNING
            job.progress = event.progress
            job.message = event.message
        elif isinstance(event, PreviewEvent):
            job.state = RUNNING
            if event.text is not None:
                job.text += event.text
                self.text_delta.emit(ticket, event.text)
            elif event.data:
                self.previews.submit(ticket, event.data)  # decoded off the GUI thread; see _preview_decoded
        elif isinstance(event, DoneEvent):
            job.state = DONE
            job.progress = 1.0
            job.message = "done"
            job.outputs = list(event.outputs)
            job.artifacts = list(event.artifacts)
        elif isinstance(event, FailedEvent):
            job.state = FAILED
            job.error = event.error or "failed"
            job.traceback = event.traceback
            job.message = "failed"
        elif isinstance(event, CancelledEvent):
            job.state = CANCELLED
            job.message = "cancelled"
        else:
            return
        self.changed.emit(ticket)
        if not job.active:
            self.previews.forget(ticket)
            self.finished.emit(ticket)

    def _preview_decoded(self, ticket: str, image: QImage) -> None:
        job = self.jobs.get(ticket)
        if job is None or not job.active:
            return  # the job ended while its frame was decoded: the result is what shows now
        job.preview = image
        self.preview_image.emit(ticket, image)

    def lost(self, job_ids: list[str], reason: str) -> None:
        """The engine died with these jobs: they end as failed, with why."""
        for job_id in job_ids:
            ticket = self._by_id.get(job_id)
            if ticket is None:
                continue
            job = self.jobs[ticket]
            if job.active:
                job.state = FAILED
                job.error = reason
                job.message = "lost"
                self.previews.forget(ticket)
                self.changed.emit(ticket)
                self.finished.emit(ticket)

    # ------------------------------------------------------------------ queries

    def active(self) -> list[Job]:
        return [job for job in self.jobs.values() if job.active]

    def running(self) -> Job | None:
        for job in self.jobs.values():
            if job.state == RUNNING:
                return job
        return None

    def by_job_id(self, job_id: str) -> Job | None:
        ticket = self._by_id.get(job_id)
        return self.jobs.get(ticket) if ticket else None

    def forget(self, ticket: str) -> None:
        job = self.jobs.pop(ticket, None)
        if job is not None and job.job_id:
            self._by_id.pop(job.job_id, None)
