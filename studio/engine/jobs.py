"""The job queue: priorities, one running job at a time, cancel, and worker supervision.

Jobs live in the server process; their plugin code runs in the worker. The queue answers a
cancel at once (a queued job is dropped, a running job is told to stop and is marked
cancelled when the plugin returns). A plugin that keeps running past the grace period, or
whose process dies, has its worker ended and replaced, the job is marked with what
happened, and the next job starts.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from studio.engine.config import EngineConfig
from studio.engine.exit_reason import describe_exit  # noqa: F401  (its old home; callers import it from here)
from studio.engine.worker_pool import WorkerPool

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL_STATES = (DONE, FAILED, CANCELLED)
# Finished jobs kept for GET /jobs/{id}; older ones are forgotten (their artefacts stay).
KEEP_FINISHED = 500


@dataclass
class Job:
    id: str
    generator: str
    params: dict[str, Any]
    seed: int | None
    priority: int = 0
    state: str = QUEUED
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

    def to_dict(self) -> dict[str, Any]:
        fraction = 0.0
        if self.progress.get("total"):
            fraction = min(1.0, self.progress["done"] / self.progress["total"])
        if self.state == DONE:
            fraction = 1.0
        return {
            "id": self.id,
            "plugin": self.generator,
            "params": self.params,
            "seed": self.seed,
            "priority": self.priority,
            "state": self.state,
            "progress": round(fraction, 4),
            "progress_detail": self.progress,
            "outputs": self.outputs,
            "artifacts": self.artifacts,
            "error": self.error or None,
            "traceback": self.traceback or None,
            "record": self.record,
            "logs": self.logs[-50:],
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
        }


class JobQueue:
    def __init__(self, config: EngineConfig, publish: Callable[[dict[str, Any]], None], on_plugin_failure: Callable[[dict[str, str]], None]) -> None:
        self.config = config
        self._publish = publish
        self._on_plugin_failure = on_plugin_failure
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {}
        self._heap: list[tuple[int, int, str]] = []
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

    def submit(self, generator: str, params: dict[str, Any], seed: int | None, priority: int = 0) -> Job:
        job = Job(id=uuid.uuid4().hex, generator=generator, params=params, seed=seed, priority=priority)
        with self._lock:
            self._jobs[job.id] = job
            heapq.heappush(self._heap, (-priority, next(self._order), job.id))
            self._forget_old()
            self._wake.notify_all()
        self._publish({"type": "queued", "job": job.id, "plugin": generator, "position": self.position(job.id)})
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda job: job.created)

    def position(self, job_id: str) -> int:
        with self._lock:
            queued = sorted(self._heap)
            for index, (_, _, queued_id) in enumerate(queued):
                if queued_id == job_id:
                    return index + (1 if self._running else 0)
            return 0

    def cancel(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state in FINAL_STATES:
                return job
            job.cancel_requested = True
            if job.state == QUEUED:
                self._heap = [item for item in self._heap if item[2] != job_id]
                heapq.heapify(self._heap)
                self._finish(job, CANCELLED)
                return job
            worker = self._worker
        if worker is not None:
            worker.send(("cancel", job_id))
        threading.Timer(self.config.cancel_grace, self._enforce_cancel, args=(job_id,)).start()
        return job

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
        if not worker.send(("status", request_id)):
            return None
        event.wait(timeout)
        with self._lock:
            self._status_waiters.pop(request_id, None)
        return box[0] if box else None

    # ------------------------------------------------------------------ dispatch

    def _dispatch_loop(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (self._running is not None or not self._heap or self._worker is None):
                    self._wake.wait(timeout=1.0)
                if self._closed:
                    return
                _, _, job_id = heapq.heappop(self._heap)
                job = self._jobs.get(job_id)
                if job is None or job.state != QUEUED:
                    continue
                job.state = RUNNING
                job.started = time.time()
                self._running = job
                worker = self._worker
            self._publish({"type": "started", "job": job.id, "plugin": job.generator})
            if worker is None or not worker.send(("run", job.id, job.generator, job.params, job.seed)):
                with self._lock:
                    self._fail_running("the engine's worker is not running; it is being restarted")

    def _enforce_cancel(self, job_id: str) -> None:
        with self._lock:
            job = self._running
            if job is None or job.id != job_id or job.state != RUNNING:
                return
            worker = self._worker
            job.logs.append(f"the plugin ignored the cancel for {self.config.cancel_grace:.0f}s; its worker was ended")
        if worker is not None:
            worker.kill()  # _on_worker_exit marks the job cancelled and starts a new worker

    # ------------------------------------------------------------------ worker messages

    def _on_worker_message(self, message: tuple) -> None:
        kind = message[0]
        if kind == "ready":
            self._publish({"type": "engine", "state": "ready", "device": message[1]})
            return
        if kind == "status":
            with self._lock:
                waiter = self._status_waiters.get(message[1])
            if waiter is not None:
                waiter[1].append(message[2])
                waiter[0].set()
            return
        job_id = message[1]
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            if kind == "event":
                self._on_job_event(job, message[2])
                return
            if kind == "done":
                job.artifacts = message[2]
                job.outputs = [artifact["id"] for artifact in message[2]]
                job.record = message[3]
                job.logs.extend(message[4])
                self._finish(job, DONE)
            elif kind == "cancelled":
                self._finish(job, CANCELLED)
            elif kind == "failed":
                job.error = message[2]
                job.traceback = message[3]
                if message[4]:
                    self._on_plugin_failure(message[4])
                self._finish(job, CANCELLED if job.cancel_requested else FAILED)

    def _on_job_event(self, job: Job, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "progress":
            job.progress = {"done": event["done"], "total": event["total"], "message": event.get("message", "")}
            total = event["total"] or 1
            self._publish({"type": "progress", "job": job.id, "progress": min(1.0, event["done"] / total), **job.progress})
        elif kind == "preview":
            self._publish({"type": "preview", "job": job.id, "mime": event["mime"], "data": base64.b64encode(event["data"]).decode()})
        elif kind == "text":
            self._publish({"type": "preview", "job": job.id, "text": event["delta"]})
        elif kind == "log":
            job.logs.append(event["message"])

    def _on_worker_exit(self, worker: WorkerPool, exitcode: int | None) -> None:
        with self._lock:
            if self._closed or worker is not self._worker:
                return
            self.worker_restarts += 1
            if self._running is not None:
                job = self._running
                if job.cancel_requested:
                    job.logs.append("the worker was ended to stop the job")
                    self._finish(job, CANCELLED)
                else:
                    self._fail_running(
                        f"the plugin's process ended unexpectedly ({worker.describe_exit(exitcode)}) while running "
                        f"{job.generator}; the engine restarted it and later jobs run normally"
                    )
            self._publish({"type": "engine", "state": "restarting", "reason": worker.describe_exit(exitcode)})
            self._worker = worker.replacement()
            self._wake.notify_all()

    def _fail_running(self, message: str) -> None:
        job = self._running
        if job is None:
            return
        job.error = message
        self._finish(job, FAILED)

    def _finish(self, job: Job, state: str) -> None:
        job.state = state
        job.finished = time.time()
        if self._running is job:
            self._running = None
        payload: dict[str, Any] = {"type": state, "job": job.id, "plugin": job.generator}
        if state == DONE:
            payload["outputs"] = job.outputs
            payload["artifacts"] = job.artifacts
        elif state == FAILED:
            payload["error"] = job.error
            payload["traceback"] = job.traceback
        self._publish(payload)
        self._wake.notify_all()

    def _forget_old(self) -> None:
        finished = [job for job in self._jobs.values() if job.state in FINAL_STATES]
        if len(finished) <= KEEP_FINISHED:
            return
        finished.sort(key=lambda job: job.finished or 0)
        for job in finished[: len(finished) - KEEP_FINISHED]:
            self._jobs.pop(job.id, None)

