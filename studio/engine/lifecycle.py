"""When an engine goes idle: exiting when nobody needs it, unloading models after a keep-alive.

An engine a window or a CLI call started on demand (``--started-by window|cli``) exits once
it has had no client for ``idle_exit`` seconds: no WebSocket subscriber, no authenticated
request (``GET /health`` does not count: it is open to anyone and polled by monitors) and
no queued or running job. An engine started by hand (``python main.py engine``) stays.

Models are given back after a keep-alive, like Ollama's ``keep_alive``: once no job is
queued or running and ``keep_alive`` seconds have passed since the last job ended (that
job's own ``keep_alive`` when its request carried one; 0 = right after it), the worker
process is replaced by a fresh one. That drops the model cache and whatever the plugins
imported (torch, CUDA context), which is the memory the user wants back; the next job
pays the load again, as it would after any eviction.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from studio.engine.protocol import FINAL_STATES, JobState

STARTERS = ("user", "window", "cli")
DEFAULT_IDLE_EXIT = 300.0  # seconds, for engines started on demand
DEFAULT_KEEP_ALIVE = 300.0  # seconds models stay loaded after the last job
POLL_SECONDS = 0.25


def _seconds(name: str, default: float | None) -> float | None:
    """A non-negative number of seconds from the environment; a bad value falls back."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value >= 0 else default


@dataclass
class LifecyclePolicy:
    """Who started the engine and how long it waits; ``idle_exit`` None = never exit."""

    started_by: str = "user"
    idle_exit: float | None = None
    keep_alive: float = DEFAULT_KEEP_ALIVE

    @classmethod
    def from_environment(cls, started_by: str = "user", idle_exit: float | None = None, keep_alive: float | None = None) -> LifecyclePolicy:
        """``STUDIO_ENGINE_IDLE_EXIT`` (0: never) applies only to engines started on demand;
        ``STUDIO_KEEP_ALIVE`` to every engine. Explicit arguments win."""
        if started_by not in STARTERS:
            started_by = "user"
        if started_by == "user":
            exit_after = idle_exit  # by hand: only an explicit --idle-exit makes it leave
        else:
            exit_after = idle_exit if idle_exit is not None else _seconds("STUDIO_ENGINE_IDLE_EXIT", DEFAULT_IDLE_EXIT)
        if exit_after is not None and exit_after <= 0:
            exit_after = None
        alive = keep_alive if keep_alive is not None else _seconds("STUDIO_KEEP_ALIVE", DEFAULT_KEEP_ALIVE)
        return cls(started_by=started_by, idle_exit=exit_after, keep_alive=float(alive if alive is not None else DEFAULT_KEEP_ALIVE))


class _EngineLike(Protocol):
    jobs: Any
    bus: Any

    def request_shutdown(self) -> None: ...


class Lifecycle:
    """Watches an engine from a daemon thread; ``report()`` is what ``GET /health`` shows."""

    def __init__(self, engine: _EngineLike, policy: LifecyclePolicy) -> None:
        self.engine = engine
        self.policy = policy
        self._lock = threading.Lock()
        self._last_activity = time.time()
        self._keep_alive: dict[str, float] = {}  # job id → its request's keep_alive
        self._ran_since_unload = False
        self._unload_at: float | None = None
        self._exit_at: float | None = None
        self.unloads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="engine-lifecycle", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ inputs

    def touch(self) -> None:
        """A client did something (an authenticated request)."""
        with self._lock:
            self._last_activity = time.time()

    def job_submitted(self, job_id: str, keep_alive: float | None) -> None:
        with self._lock:
            self._last_activity = time.time()
            self._ran_since_unload = True
            if keep_alive is not None:
                self._keep_alive[job_id] = float(keep_alive)
            if len(self._keep_alive) > 2000:  # forget the oldest overrides (dicts keep order)
                for key in list(self._keep_alive)[:1000]:
                    del self._keep_alive[key]

    # ------------------------------------------------------------------ state

    def _busy_and_last_finished(self) -> tuple[bool, Any]:
        jobs = self.engine.jobs.list()
        busy = any(job.state in (JobState.QUEUED, JobState.RUNNING) for job in jobs)
        finished = [job for job in jobs if job.state in FINAL_STATES and job.finished is not None]
        return busy, max(finished, key=lambda job: job.finished) if finished else None

    def _subscribers(self) -> int:
        return len(getattr(self.engine.bus, "_subscribers", ()))

    def _plan(self, now: float) -> tuple[float | None, float | None]:
        """(exit_at, unload_at) as things stand now; a busy engine or a listening client
        restarts the idle clock."""
        busy, last = self._busy_and_last_finished()
        clients = self._subscribers()
        with self._lock:
            if busy or clients:
                self._last_activity = now
            exit_at = None if self.policy.idle_exit is None else self._last_activity + self.policy.idle_exit
            unload_at = None
            if not busy and self._ran_since_unload and last is not None:
                unload_at = last.finished + self._keep_alive.get(last.id, self.policy.keep_alive)
            self._exit_at, self._unload_at = exit_at, unload_at
            return exit_at, unload_at

    def tick(self, now: float | None = None) -> None:
        """One look at the engine: act on an unload or an exit that is due."""
        now = time.time() if now is None else now
        exit_at, unload_at = self._plan(now)
        if unload_at is not None and now >= unload_at and self.engine.jobs.restart_worker():
            with self._lock:
                self._ran_since_unload = False
                self._unload_at = None
                self.unloads += 1
        if exit_at is not None and now >= exit_at:
            self._stop.set()
            self.engine.request_shutdown()

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            try:
                self.tick()
            except Exception:  # never let the watcher die; the next tick tries again
                pass

    def report(self) -> dict[str, Any]:
        self._plan(time.time())
        with self._lock:
            return {
                "started_by": self.policy.started_by,
                "idle_exit": self.policy.idle_exit,
                "exit_at": self._exit_at,
                "keep_alive": self.policy.keep_alive,
                "unload_at": self._unload_at,
            }
