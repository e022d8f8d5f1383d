"""The job queue: priorities, one running job at a time, cancel, timeouts, worker supervision.

Jobs live in the server process; their plugin code runs in the worker. The queue answers a
cancel at once (a queued job is dropped, a running job is told to stop and is marked
cancelled when the plugin returns). A plugin that keeps running past the grace period or
its time limit, or whose process dies or stops answering, has its worker ended and
replaced, the job is marked with what happened, and the next job starts.

Submitting and cancelling cost O(log n) however long the queue is: cancelled entries stay
in the heap and are skipped when popped (compacted when they outnumber live ones), a job's
position is counted per priority, and finished jobs are forgotten oldest-first from a deque.
"""

from __future__ import annotations

import base64
import builtins
import collections
import heapq
import itertools
import logging
import math
import platform
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from studio.engine.config import EngineConfig
from studio.engine.exit_reason import describe_exit  # noqa: F401  (its old home; callers import it from here)
from studio.engine.protocol import (
    FINAL_STATES,
    ArtifactInfo,
    CancelJob,
    CancelledEvent,
    DoneEvent,
    EngineEvent,
    FailedEvent,
    FromWorker,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobKind,
    JobRunner,
    JobState,
    JobStatus,
    PluginFailure,
    PreviewEvent,
    ProgressDetail,
    ProgressEvent,
    QueuedEvent,
    RunJob,
    StartedEvent,
    StatusReply,
    StatusRequest,
    WorkerEvent,
    WorkerReady,
)
from studio.engine.worker_pool import WorkerPool

log = logging.getLogger("studio.engine.jobs")

# Finished jobs kept for GET /jobs/{id}; older ones are forgotten (their artefacts stay).
KEEP_FINISHED = 500
# Log lines kept per job (the API shows the last 50); a chatty plugin cannot grow the engine.
MAX_LOG_LINES = 1000

Publish = Callable[[BaseModel], None]


@dataclass
class Job:
    id: str
    generator: str
    params: dict[str, Any]
    seed: int | None
    priority: int = 0
    state: JobState = JobState.QUEUED
    progress: dict[str, Any] = field(default_factory=lambda: {"done": 0.0, "total": 0.0, "message": ""})
    outputs: list[str] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    traceback: str = ""
    record: dict[str, Any] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    cancel_requested: bool = False
    #: seconds this job may run (None: no limit); the smallest of request, plugin and engine limits
    timeout: float | None = None
    timed_out: bool = False
    kind: JobKind = "generate"  # or "command": a plugin's [[commands]] entry (studio.engine.commands)
    runner: JobRunner | None = None  # where it runs: this engine's worker, or a Ray actor

    def to_status(self) -> JobStatus:
        """The job as the API shows it.

        Whatever a plugin put into the record, logs or artefact metadata is made JSON-safe
        first (NaN → null, lone surrogates replaced), so one bad value can never break
        ``GET /jobs`` for every client.
        """
        fraction = 0.0
        total = _finite(self.progress.get("total")) or 0.0
        if total:
            fraction = max(0.0, min(1.0, (_finite(self.progress.get("done")) or 0.0) / total))
        if self.state == JobState.DONE:
            fraction = 1.0
        return JobStatus(
            id=self.id,
            kind=self.kind,
            plugin=json_safe(self.generator),
            params=json_safe(self.params),
            seed=self.seed,
            priority=self.priority,
            state=self.state,
            progress=round(fraction, 4),
            progress_detail=ProgressDetail(
                done=_finite(self.progress.get("done")) or 0.0,
                total=total,
                message=json_safe(str(self.progress.get("message") or "")),
            ),
            outputs=list(self.outputs),
            artifacts=[ArtifactInfo.model_validate(json_safe(artifact)) for artifact in self.artifacts],
            error=json_safe(self.error) or None,
            traceback=json_safe(self.traceback) or None,
            record=json_safe(self.record),
            logs=json_safe(self.logs[-50:]),
            runner=self.runner,
            timeout=self.timeout,
            created=self.created,
            started=self.started,
            finished=self.finished,
        )

    def minimal_status(self) -> JobStatus:
        """A status with nothing a plugin wrote, for when even the sanitised one fails."""
        return JobStatus(
            id=self.id,
            plugin=json_safe(self.generator),
            state=self.state,
            created=self.created,
            started=self.started,
            finished=self.finished,
            error="this job's stored details could not be shown",
            outputs=list(self.outputs),
        )

    def to_dict(self) -> dict[str, Any]:
        return self.to_status().model_dump(mode="json")


def _worker_runner(worker: WorkerPool | None) -> JobRunner:
    """The engine's own worker: this engine's machine and the device the worker chose."""
    device = worker.device if worker is not None else {}
    return JobRunner(kind="worker", host=platform.node(), name="worker", device=str(device.get("name") or ""))


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` with everything JSON cannot carry replaced: NaN/Infinity → None, lone
    surrogates → U+FFFD, unknown objects → their ``str``, very deep nesting cut off."""
    if depth > 32:
        return None
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(str(key), depth + 1): json_safe(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item, depth + 1) for item in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return json_safe(str(value), depth + 1)


class JobQueue:
    def __init__(
        self,
        config: EngineConfig,
        publish: Publish,
        on_plugin_failure: Callable[[PluginFailure], None],
        plugin_timeout: Callable[[str], float | None] | None = None,
    ) -> None:
        self.config = config
        self._publish = publish
        self._on_plugin_failure = on_plugin_failure
        self._plugin_timeout = plugin_timeout or (lambda generator: None)
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {}
        self._heap: list[tuple[int, int, str]] = []
        self._stale = 0  # heap entries whose job is no longer queued (cancelled while queued)
        self._queued_by_priority: collections.Counter[int] = collections.Counter()
        self._finished: collections.deque[str] = collections.deque()
        self._order = itertools.count()
        self._running: Job | None = None
        self._worker: WorkerPool | None = None
        self._status_waiters: dict[str, tuple[threading.Event, list]] = {}
        self._closed = False
        self.worker_restarts = 0
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="job-dispatcher", daemon=True)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        with self._lock:
            self._worker = self._new_worker()
        self._dispatcher.start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            worker = self._worker
            self._worker = None
            self._wake.notify_all()
        if worker is not None:
            worker.stop()

    def restart_worker(self) -> bool:
        """Replace the worker (new plugin code, new settings) when no job is running."""
        with self._lock:
            if self._running is not None or self._closed:
                return False
            old = self._worker
            # Install the new worker first: _on_worker_exit ignores a worker that is no
            # longer current, so stopping the old one is not mistaken for a crash.
            self._worker = self._new_worker()
            self._wake.notify_all()
        if old is not None:
            old.stop()
        return True

    @property
    def worker(self) -> WorkerPool | None:
        return self._worker

    def _new_worker(self) -> WorkerPool:
        return WorkerPool(self.config, self._on_worker_message, self._on_worker_exit)

    # ------------------------------------------------------------------ public API

    def submit(
        self,
        generator: str,
        params: dict[str, Any],
        seed: int | None,
        priority: int = 0,
        timeout: float | None = None,
        kind: JobKind = "generate",
    ) -> Job:
        limits = [limit for limit in (timeout, self._plugin_timeout(generator), self.config.job_timeout or None) if limit]
        job = Job(
            id=uuid.uuid4().hex,
            generator=generator,
            params=params,
            seed=seed,
            priority=priority,
            timeout=min(limits) if limits else None,
            kind=kind,
        )
        with self._lock:
            self._jobs[job.id] = job
            heapq.heappush(self._heap, (-priority, next(self._order), job.id))
            self._queued_by_priority[priority] += 1
            position = self._position_of_newest(priority)
            self._wake.notify_all()
        self._publish(QueuedEvent(job=job.id, plugin=generator, position=position))
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda job: job.created)

    def _position_of_newest(self, priority: int) -> int:
        """How many jobs are ahead of the job just queued at ``priority`` (the running one too)."""
        ahead = sum(count for level, count in self._queued_by_priority.items() if level >= priority) - 1
        return ahead + (1 if self._running else 0)

    def cancel(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state in FINAL_STATES:
                return job
            job.cancel_requested = True
            if job.state == JobState.QUEUED:
                self._unqueue(job)
                self._finish(job, JobState.CANCELLED)
                return job
            worker = self._worker
        if worker is not None:
            worker.send(CancelJob(job_id))
        threading.Timer(self.config.cancel_grace, self._enforce_cancel, args=(job_id,)).start()
        return job

    def cancel_all(self) -> builtins.list[str]:  # `list` is a method name in this class
        """Cancel every queued job and the running one; returns their ids."""
        with self._lock:
            queued = [
                self._jobs[job_id] for _, _, job_id in self._heap if job_id in self._jobs and self._jobs[job_id].state == JobState.QUEUED
            ]
            running = self._running
            for job in queued:
                job.cancel_requested = True
                job.state = JobState.CANCELLED  # drop them before the running job's cancel frees the worker
            self._heap.clear()
            self._stale = 0
            self._queued_by_priority.clear()
            for job in queued:
                self._finish(job, JobState.CANCELLED)
        if running is not None:
            self.cancel(running.id)
        return [job.id for job in queued] + ([running.id] if running is not None else [])

    def _unqueue(self, job: Job) -> None:
        """Take a queued job out of the line (lazily: its heap entry is skipped when popped)."""
        self._queued_by_priority[job.priority] -= 1
        if self._queued_by_priority[job.priority] <= 0:
            del self._queued_by_priority[job.priority]
        self._stale += 1
        if self._stale > 1024 and self._stale * 2 > len(self._heap):
            self._heap = [
                item
                for item in self._heap
                if self._jobs.get(item[2]) is not None and self._jobs[item[2]].state == JobState.QUEUED and item[2] != job.id
            ]
            heapq.heapify(self._heap)
            self._stale = 0

    def worker_status(self, timeout: float = 2.0) -> dict[str, Any] | None:
        """Loaded models and memory use, asked of the worker (None when it does not answer)."""
        worker = self._worker
        if worker is None or not worker.ready.is_set():
            return None
        request_id = uuid.uuid4().hex
        event = threading.Event()
        box: list = []
        with self._lock:
            self._status_waiters[request_id] = (event, box)
        if not worker.send(StatusRequest(request_id)):
            return None
        event.wait(timeout)
        with self._lock:
            self._status_waiters.pop(request_id, None)
        return box[0] if box else None

    # ------------------------------------------------------------------ dispatch

    def _pop_queued(self) -> Job | None:
        """Take the heap's first entry (the caller holds the lock and saw a non-empty heap):
        the job it names, no longer counted as queued, or None for a stale entry (a job
        cancelled or forgotten while queued)."""
        _, _, job_id = heapq.heappop(self._heap)
        job = self._jobs.get(job_id)
        if job is None or job.state != JobState.QUEUED:
            self._stale = max(0, self._stale - 1)
            return None
        self._queued_by_priority[job.priority] -= 1
        if self._queued_by_priority[job.priority] <= 0:
            del self._queued_by_priority[job.priority]
        return job

    def _dispatch_loop(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (self._running is not None or not self._heap or self._worker is None):
                    self._wake.wait(timeout=1.0)
                if self._closed:
                    return
                job = self._pop_queued()
                if job is None:
                    continue
                job.state = JobState.RUNNING
                job.started = time.time()
                self._running = job
                worker = self._worker
                job.runner = _worker_runner(worker)
            self._publish(StartedEvent(job=job.id, plugin=job.generator, runner=job.runner))
            if job.timeout:
                timer = threading.Timer(job.timeout, self._enforce_timeout, args=(job.id,))
                timer.daemon = True
                timer.start()
            if worker is None or not worker.send(RunJob(job.id, job.generator, job.params, job.seed, job.kind)):
                with self._lock:
                    self._fail_running("the engine's worker is not running; it is being restarted")

    def _enforce_cancel(self, job_id: str) -> None:
        with self._lock:
            job = self._running
            if job is None or job.id != job_id or job.state != JobState.RUNNING:
                return
            worker = self._worker
            job.logs.append(f"the plugin ignored the cancel for {self.config.cancel_grace:.0f}s; its worker was ended")
        if worker is not None:
            worker.kill()  # _on_worker_exit marks the job cancelled and starts a new worker

    def _enforce_timeout(self, job_id: str) -> None:
        """A job past its time limit: end its worker (a hung or stopped one too) so the queue goes on."""
        with self._lock:
            job = self._running
            if job is None or job.id != job_id or job.state != JobState.RUNNING:
                return
            job.timed_out = True
            worker = self._worker
        if worker is not None:
            worker.kill()  # _on_worker_exit fails the job with the time limit as the reason

    # ------------------------------------------------------------------ worker messages

    def _on_worker_message(self, message: FromWorker) -> None:
        if isinstance(message, WorkerReady):
            self._publish(EngineEvent(state="ready", device=message.device))
            return
        if isinstance(message, StatusReply):
            with self._lock:
                waiter = self._status_waiters.get(message.request_id)
            if waiter is not None:
                waiter[1].append(message.data)
                waiter[0].set()
            return
        with self._lock:
            job = self._jobs.get(message.job_id)
            if job is None:
                return
            if isinstance(message, WorkerEvent):
                self._on_job_event(job, message.event)
                return
            if job.state != JobState.RUNNING:
                return  # already ended (timed out, or the worker was replaced)
            if isinstance(message, JobFinished):
                job.artifacts = message.artifacts
                job.outputs = [artifact["id"] for artifact in message.artifacts]
                job.record = message.record
                job.logs.extend(message.logs)
                self._finish(job, JobState.DONE)
            elif isinstance(message, JobCancelled):
                self._finish(job, JobState.CANCELLED)
            elif isinstance(message, JobFailed):
                job.error = message.message
                job.traceback = message.traceback
                if message.plugin_failure is not None:
                    self._on_plugin_failure(message.plugin_failure)
                self._finish(job, JobState.CANCELLED if job.cancel_requested else JobState.FAILED)

    def _on_job_event(self, job: Job, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "progress":
            done, total = _finite(event.get("done")) or 0.0, _finite(event.get("total")) or 0.0
            job.progress = {"done": done, "total": total, "message": json_safe(str(event.get("message", "")))}
            self._publish(ProgressEvent(job=job.id, progress=min(1.0, done / (total or 1)), **job.progress))
        elif kind == "preview":
            self._publish(PreviewEvent(job=job.id, mime=event["mime"], data=base64.b64encode(event["data"]).decode()))
        elif kind == "text":
            self._publish(PreviewEvent(job=job.id, text=json_safe(str(event["delta"]))))
        elif kind == "log":
            job.logs.append(event["message"])
            del job.logs[:-MAX_LOG_LINES]

    def _on_worker_exit(self, worker: WorkerPool, exitcode: int | None) -> None:
        with self._lock:
            if self._closed or worker is not self._worker:
                return
            self.worker_restarts += 1
            reason = worker.describe_exit(exitcode)
            log.warning("worker process ended (%s); starting another", reason)
            if self._running is not None:
                job = self._running
                if job.timed_out:
                    self._fail_running(
                        f"{job.generator} did not finish within its time limit of {job.timeout:g}s; "
                        "its worker was ended and the engine goes on with the next job"
                    )
                elif job.cancel_requested:
                    job.logs.append("the worker was ended to stop the job")
                    self._finish(job, JobState.CANCELLED)
                else:
                    self._fail_running(
                        f"the plugin's process ended unexpectedly ({reason}) while running "
                        f"{job.generator}; the engine restarted it and later jobs run normally"
                    )
            self._publish(EngineEvent(state="restarting", reason=reason))
            self._worker = worker.replacement()
            self._wake.notify_all()

    def _fail_running(self, message: str) -> None:
        job = self._running
        if job is None:
            return
        job.error = message
        self._finish(job, JobState.FAILED)

    def _finish(self, job: Job, state: JobState) -> None:
        job.state = state
        job.finished = time.time()
        if job.runner is not None and not job.runner.device and job.record.get("device"):
            job.runner = job.runner.model_copy(update={"device": str(job.record["device"])})  # the worker was not ready at start
        took = job.finished - (job.started or job.created)
        if state == JobState.FAILED:
            log.warning("job %s (%s) failed after %.1fs: %s", job.id, job.generator, took, job.error)
        else:
            log.info("job %s (%s) %s after %.1fs", job.id, job.generator, state.value, took)
        if self._running is job:
            self._running = None
        event: BaseModel
        if state == JobState.DONE:
            event = DoneEvent(
                job=job.id,
                plugin=job.generator,
                outputs=job.outputs,
                artifacts=[ArtifactInfo.model_validate(json_safe(a)) for a in job.artifacts],
                runner=job.runner,
            )
        elif state == JobState.FAILED:
            event = FailedEvent(
                job=job.id, plugin=job.generator, error=json_safe(job.error), traceback=json_safe(job.traceback), runner=job.runner
            )
        else:
            event = CancelledEvent(job=job.id, plugin=job.generator)
        self._publish(event)
        self._finished.append(job.id)
        self._forget_old()
        self._wake.notify_all()

    def _forget_old(self) -> None:
        while len(self._finished) > KEEP_FINISHED:
            self._jobs.pop(self._finished.popleft(), None)
