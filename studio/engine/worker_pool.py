"""The engine's workers: one for first-party plugins, one sandboxed process per community plugin.

The job queue talks to a ``WorkerPool`` as it would to one worker (``send``, ``kill``,
``stop``, ``ready``, ``device``). The pool routes each job to the process for its plugin:
first-party generators to the main worker, a community plugin's generators to that plugin's
own sandboxed worker (started on its first job; ``studio.engine.sandbox_worker``). So
community code never shares a process with first-party code or with another plugin, cannot
patch them, and runs under its kernel restrictions from its first line to its last.

When a process dies while running a job, the queue hears about it as before (``on_exit``)
and asks the pool for its ``replacement``: only the dead process is replaced; the others,
and the models they hold, stay.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable
from typing import Any

from studio.engine.config import EngineConfig
from studio.engine.worker import WorkerHandle
from studio.plugins.discovery import PluginRecord, discover

MAIN = ""  # the key of the first-party worker
STATUS_WAIT = 1.5  # seconds the pool waits for every worker's status before answering
MAIN_READY_WAIT = 60.0  # seconds a community plugin's first job waits for the device choice


class WorkerPool:
    def __init__(self, config: EngineConfig, on_message: Callable[[tuple], None], on_exit: Callable[[WorkerPool, int | None], None]) -> None:
        self.config = config
        self._on_message = on_message
        self._on_exit = on_exit
        self._lock = threading.RLock()
        self._routes = self._discover_routes()
        self._members: dict[str, WorkerHandle] = {}
        self._jobs: dict[str, str] = {}  # job id -> member key
        self._sent: set[str] = set()  # jobs whose "run" reached their worker
        self._early_cancels: dict[str, Any] = {}  # cancels that came before their worker had the job
        self._sandbox_failures: dict[str, str] = {}
        self._status: dict[str, tuple[set[str], list[tuple[str, Any]]]] = {}
        self._last_exit = ""
        self._stopping = False
        self.main = self._start(MAIN)

    # ------------------------------------------------------------------ the single-worker face

    @property
    def ready(self) -> threading.Event:
        return self.main.ready

    @property
    def device(self) -> dict[str, Any]:
        return self.main.device

    @property
    def pid(self) -> int | None:
        return self.main.pid

    @property
    def process(self) -> Any:
        return self.main.process

    def members(self) -> dict[str, WorkerHandle]:
        """The live worker processes by plugin id ("" for first-party)."""
        with self._lock:
            return dict(self._members)

    def send(self, message: Any) -> bool:
        kind = _kind(message)
        if kind == "run":
            job_id, generator = _field(message, 1, "job_id"), _field(message, 2, "generator")
            key = self.route(generator)
            with self._lock:
                self._jobs[job_id] = key
            if key != MAIN and key not in self._members:
                # A new sandboxed worker takes the device the first-party worker chose;
                # otherwise it would import torch only to find the same answer.
                self.main.ready.wait(MAIN_READY_WAIT)
            with self._lock:
                member = self._members.get(key) or self._start(key)
                member.note_job_started()
                sent = member.send(message)
                self._sent.add(job_id)
                early = self._early_cancels.pop(job_id, None)
            if early is not None:
                member.send(early)  # asked for while its worker was starting
            return sent
        if kind == "cancel":
            cancelled_id: str = _field(message, 1, "job_id")
            with self._lock:
                owner = self._jobs.get(cancelled_id)
                if owner is not None and cancelled_id not in self._sent:
                    self._early_cancels[cancelled_id] = message  # handed over with the job
                    return True
                target = self._members.get(owner if owner is not None else MAIN)
            return target.send(message) if target is not None else False
        if kind == "status":
            return self._ask_status(message)
        if kind == "stop":
            for member in self.members().values():
                member.send(message)
            return True
        return self.main.send(message)

    def kill(self) -> None:
        """End the process running a job (the queue's answer to a plugin ignoring a cancel)."""
        with self._lock:
            busy = {self._jobs[job_id] for job_id in self._sent if job_id in self._jobs}
            members = [self._members[key] for key in busy if key in self._members]
        for member in members:
            member.kill()

    def stop(self, timeout: float = 3.0) -> None:
        with self._lock:
            self._stopping = True
            members = list(self._members.values())
        for member in members:
            member.stop(timeout)

    def describe_exit(self, exitcode: int | None) -> str:
        return self._last_exit or f"exit code {exitcode}"

    def replacement(self) -> WorkerPool:
        """After a process died: a new first-party worker if it was that one; a community
        plugin's worker is started again by its next job."""
        with self._lock:
            if MAIN not in self._members:
                self.main = self._start(MAIN)
        return self

    # ------------------------------------------------------------------ routing

    def route(self, generator: str) -> str:
        """The member key for a generator: "" (first-party, or unknown: the main worker then
        says why it cannot run), else the community plugin's id."""
        record = self._routes.get(generator)
        return MAIN if record is None else record.id

    def _discover_routes(self) -> dict[str, PluginRecord]:
        found = discover(self.config.plugin_folders(), disabled=self.config.disabled_plugins, safe_mode=self.config.safe_mode)
        return {generator: record for generator, (_, record) in found.generators().items() if record.source != "first-party"}

    def _start(self, key: str) -> WorkerHandle:
        plugin = None
        if key != MAIN:
            plugin = next(record for record in self._routes.values() if record.id == key)
        device = self.main.device if key != MAIN and self.main.ready.is_set() else None
        member = WorkerHandle(
            self.config,
            functools.partial(self._member_message, key),
            functools.partial(self._member_exit, key),
            plugin=plugin,
            device=device,
        )
        self._members[key] = member
        return member

    # ------------------------------------------------------------------ what members say

    def _member_message(self, key: str, message: Any) -> None:
        kind = _kind(message)
        if kind == "ready" and key != MAIN:
            return  # the engine is ready when the first-party worker is
        if kind == "sandbox-failed":
            with self._lock:
                self._sandbox_failures[key] = message[1]
            return
        if kind == "status":
            self._status_reply(key, message)
            return
        if kind in ("done", "failed", "cancelled"):
            job_id = _field(message, 1, "job_id")
            with self._lock:
                self._jobs.pop(job_id, None)
                self._sent.discard(job_id)
        self._on_message(message)

    def _member_exit(self, key: str, worker: WorkerHandle, exitcode: int | None) -> None:
        with self._lock:
            if self._stopping or self._members.get(key) is not worker:
                return
            del self._members[key]
            held = [job_id for job_id, owner in self._jobs.items() if owner == key]
            for job_id in held:
                del self._jobs[job_id]
                self._sent.discard(job_id)
            reason = worker.describe_exit(exitcode)
            failure = self._sandbox_failures.pop(key, "")
            if failure:
                reason = f"{reason}; {failure}"
            self._last_exit = reason
        if held or (key == MAIN and not self._jobs):
            self._on_exit(self, exitcode)  # the queue fails the job it ran, then asks for a replacement
        elif key == MAIN:
            with self._lock:  # died idle while a community plugin's job runs: that job is unaffected
                self.main = self._start(MAIN)

    # ------------------------------------------------------------------ status of every member

    def _ask_status(self, request: Any) -> bool:
        request_id = _field(request, 1, "request_id")
        members = {key: member for key, member in self.members().items() if member.ready.is_set()}
        if not members:
            return False
        with self._lock:
            self._status[request_id] = (set(members), [])
        for member in members.values():
            member.send(request)
        threading.Timer(STATUS_WAIT, self._status_answer, args=(request_id,)).start()
        return True

    def _status_reply(self, key: str, reply: Any) -> None:
        request_id = _field(reply, 1, "request_id")
        with self._lock:
            waiting = self._status.get(request_id)
            if waiting is None:
                return
            waiting[0].discard(key)
            waiting[1].append((key, reply))
            complete = not waiting[0]
        if complete:
            self._status_answer(request_id)

    def _status_answer(self, request_id: str) -> None:
        """One reply for the queue: the first-party worker's, with every worker's loaded models."""
        with self._lock:
            waiting = self._status.pop(request_id, None)
        if waiting is None or not waiting[1]:
            return
        replies = waiting[1]
        first = next((reply for key, reply in replies if key == MAIN), replies[0][1])
        merged = dict(_field(first, 2, "data"))
        merged["loaded"] = [entry for _, reply in replies for entry in (_field(reply, 2, "data").get("loaded") or [])]
        self._on_message(_with_data(first, merged))


# The pool reads the worker messages it routes in either shape: tuples ("run", job_id, …), or
# the typed messages of a protocol module (``RunJob(job_id, …)``), by their class names.
_KINDS = {
    "RunJob": "run",
    "CancelJob": "cancel",
    "StatusRequest": "status",
    "StopWorker": "stop",
    "WorkerReady": "ready",
    "WorkerEvent": "event",
    "JobFinished": "done",
    "JobFailed": "failed",
    "JobCancelled": "cancelled",
    "StatusReply": "status",
}


def _kind(message: Any) -> str:
    if isinstance(message, tuple):
        return str(message[0])
    return _KINDS.get(type(message).__name__, "")


def _field(message: Any, index: int, name: str) -> Any:
    return message[index] if isinstance(message, tuple) else getattr(message, name)


def _with_data(reply: Any, data: dict[str, Any]) -> Any:
    if isinstance(reply, tuple):
        return (reply[0], reply[1], data)
    return dataclasses.replace(reply, data=data)
