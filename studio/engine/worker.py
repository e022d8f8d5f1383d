"""The worker process: where plugin code and models live, so a crash there is survivable.

The engine's server process never runs plugin code. It hands one job at a time to a
worker process over a pipe; the worker runs it through ``LocalRunner`` and sends back
events and the result. When a plugin segfaults, calls ``os._exit`` or is killed for
memory, only the worker dies: the server marks the job failed, starts a fresh worker and
the queue goes on. A plugin that ignores a cancel is ended the same way.

Messages are the typed dataclasses of ``studio.engine.protocol``: server → worker
``RunJob``, ``CancelJob``, ``StatusRequest``, ``StopWorker``; worker → server ``WorkerReady``,
``WorkerEvent``, ``JobFinished``, ``JobFailed``, ``JobCancelled``, ``StatusReply``.
A sandboxed worker that could not restrict itself sends ``("sandbox-failed", reason)`` and
exits (``studio.engine.sandbox_worker``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from studio.core.errors import Cancelled, StudioError
from studio.core.logs import configure_logging
from studio.core.paths import HomeLayout
from studio.engine.config import EngineConfig
from studio.engine.exit_reason import describe_exit, oom_kill_count, read_again
from studio.engine.protocol import (
    CancelJob,
    FromWorker,
    JobCancelled,
    JobFailed,
    JobFinished,
    PluginFailure,
    RunJob,
    StatusReply,
    StatusRequest,
    StopWorker,
    ToWorker,
    WorkerEvent,
    WorkerReady,
)
from studio.plugins.discovery import PluginRecord

log = logging.getLogger("studio.engine.worker")

Handler = Callable[[FromWorker], None]


def config_to_dict(config: EngineConfig) -> dict[str, Any]:
    data = asdict(config)
    data["home"] = str(config.home)
    data["plugin_dirs"] = [str(p) for p in config.plugin_dirs]
    data["model_paths"] = [str(p) for p in config.model_paths]
    return data


def config_from_dict(data: dict[str, Any]) -> EngineConfig:
    values = dict(data)
    values["home"] = Path(values["home"])
    values["plugin_dirs"] = [Path(p) for p in values.get("plugin_dirs", [])]
    values["model_paths"] = [Path(p) for p in values.get("model_paths", [])]
    return EngineConfig(**values)


# --------------------------------------------------------------------------- worker side


def worker_main(conn: Connection, config_data: dict[str, Any], runner: Any = None) -> None:  # noqa: C901
    """Entry point of the worker process (``runner``: one already built, by the sandbox)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from studio.engine.plugin_host import PluginUnavailable
    from studio.engine.runner import LocalRunner

    if runner is None:
        config = config_from_dict(config_data)
        configure_logging(HomeLayout(config.home).logs_dir, "worker")
        runner = LocalRunner(config)
        # The first-party worker: community plugins run in their own sandboxed workers.
        runner.plugins.community_allowed = False
    send_lock = threading.Lock()
    jobs: queue.Queue[RunJob | None] = queue.Queue()
    cancels: dict[str, threading.Event] = {}
    cancels_lock = threading.Lock()

    def send(message: FromWorker) -> None:
        with send_lock:
            conn.send(message)

    def reader() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                jobs.put(None)
                return
            if isinstance(message, RunJob):
                with cancels_lock:
                    cancels[message.job_id] = threading.Event()
                jobs.put(message)
            elif isinstance(message, CancelJob):
                with cancels_lock:
                    event = cancels.get(message.job_id)
                if event is not None:
                    event.set()
            elif isinstance(message, StatusRequest):
                send(
                    StatusReply(
                        message.request_id,
                        {"loaded": runner.models.loaded(), "usage": runner.models.usage(), "stats": runner.models.stats()},
                    )
                )
            elif isinstance(message, StopWorker):
                jobs.put(None)
                return

    threading.Thread(target=reader, name="worker-reader", daemon=True).start()
    send(WorkerReady(runner.device.to_dict()))
    log.info("worker %d ready on %s", os.getpid(), runner.device.to_dict().get("name") or runner.device.to_dict())

    while True:
        message = jobs.get()
        if message is None:
            break
        job_id, generator, params, seed = message.job_id, message.generator, message.params, message.seed
        with cancels_lock:
            cancel = cancels.setdefault(job_id, threading.Event())

        def on_event(event: dict[str, Any], job_id: str = job_id) -> None:
            send(WorkerEvent(job_id, event))

        try:
            if cancel.is_set():
                raise Cancelled()
            if message.kind == "command":  # a plugin's [[commands]] entry, e.g. train
                from studio.engine.commands import run_command

                result = run_command(runner, generator, params, on_event=on_event, cancel=cancel)
            else:
                result = runner.run(generator, params, seed, on_event=on_event, cancel=cancel, job_id=job_id)
        except Cancelled:
            send(JobCancelled(job_id))
        except PluginUnavailable as exc:
            send(JobFailed(job_id, str(exc), traceback.format_exc(), _plugin_failure(runner, generator)))
        except StudioError as exc:
            send(JobFailed(job_id, str(exc), traceback.format_exc()))
        except MemoryError:
            runner.models.clear()
            send(
                JobFailed(job_id, f"{generator} ran out of memory; the model cache was emptied, try a smaller size", traceback.format_exc())
            )
        except Exception as exc:  # a plugin bug: report it, keep the worker
            message_text = f"{generator} failed: {type(exc).__name__}: {exc}"
            hint = getattr(runner, "sandbox_hint", "")
            if hint and isinstance(exc, PermissionError):
                message_text += f" ({hint})"
            send(JobFailed(job_id, message_text, traceback.format_exc()))
        else:
            described = [artifact.describe() for artifact in result.artifacts]
            send(JobFinished(job_id, described, result.record, result.logs))
        finally:
            with cancels_lock:
                cancels.pop(job_id, None)
    conn.close()


def _plugin_failure(runner: Any, generator: str) -> PluginFailure | None:
    record = runner.plugins.record_for(generator)
    if record is None:
        return None
    return PluginFailure(record.id, record.state, record.error, record.traceback)


# --------------------------------------------------------------------------- server side


class WorkerHandle:
    """The server's view of one worker process.

    ``plugin``: a community plugin's record; the worker then runs that plugin alone, in a
    sandboxed process (``studio.engine.sandbox_worker``), instead of first-party plugins.
    """

    def __init__(
        self,
        config: EngineConfig,
        on_message: Handler,
        on_exit: Callable[[WorkerHandle, int | None], None],
        *,
        plugin: PluginRecord | None = None,
        device: dict[str, Any] | None = None,
    ) -> None:
        self._send_lock = threading.Lock()
        self._on_message = on_message
        self._on_exit = on_exit
        self.ready = threading.Event()
        self.device: dict[str, Any] = {}
        self.plugin = plugin
        if plugin is None:
            context = multiprocessing.get_context("spawn")
            parent, child = context.Pipe(duplex=True)
            self._conn = parent
            self.process: Any = context.Process(target=worker_main, args=(child, config_to_dict(config)), name="studio-worker", daemon=True)
            self.process.start()
            child.close()
        else:
            from studio.engine.sandbox_worker import start_sandboxed

            self._conn, self.process = start_sandboxed(config, plugin, config_to_dict(config), device)
        self.oom_before = oom_kill_count(self.process.pid)
        self._ended = False
        self._reader = threading.Thread(target=self._read, name="worker-pipe", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def send(self, message: ToWorker) -> bool:
        try:
            with self._send_lock:
                self._conn.send(message)
            return True
        except (OSError, ValueError, BrokenPipeError):
            return False

    def note_job_started(self) -> None:
        """Read the kernel's out-of-memory count as a job starts (see ``describe_exit``)."""
        self.oom_before = oom_kill_count(self.process.pid)

    def describe_exit(self, exitcode: int | None) -> str:
        """How this worker ended, OOM kills told apart from other SIGKILLs by the kernel's count."""
        return describe_exit(exitcode, self.oom_before, read_again(self.oom_before))

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)

    def stop(self, timeout: float = 3.0) -> None:
        self.send(StopWorker())
        self.process.join(timeout=timeout)
        if self.process.is_alive():
            self.kill()

    def _read(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                break
            if isinstance(message, WorkerReady):
                self.device = message.device
                self.ready.set()
            self._on_message(message)
        self.process.join(timeout=5)
        self._ended = True
        self._on_exit(self, self.process.exitcode)
