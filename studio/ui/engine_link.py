"""The window's line to the engine: every call off the GUI thread, every answer a signal.

``EngineLink`` connects (starting the engine if none runs) in a background thread while the
window is already up, pumps the engine's WebSocket events in another, and runs requests
(submit, cancel, fetch an artefact, upload an input) on a small thread pool. Answers come
back as Qt signals delivered on the GUI thread, so the UI never blocks on the engine.

When the event stream drops (the engine process died), the link says "restarting", calls
``EngineClient.connect(start=True)`` again, and tells the window which jobs were lost; the
window's project lives in this process and is untouched.

With a remote engine (Preferences ▸ Engine, ``studio.core.engine_target``) a dropped stream
is a network problem, not a dead engine: the link reconnects every few seconds, and once
back asks the engine about the jobs it was waiting for; those that finished meanwhile are
delivered as if their final event had just arrived, those still running are followed again.
"""

from __future__ import annotations

import itertools
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from studio.core.engine_target import load_engine_target
from studio.ui.engine_threads import _Connector, _EventPump, _RequestWorkers

if TYPE_CHECKING:
    from pydantic import BaseModel

    from studio.engine.client import EngineClient
    from studio.engine.protocol import CancelledEvent, Catalogue, DoneEvent, FailedEvent, JobStatus, ModelsReport

# The engine client (httpx, pydantic models: ~300 ms of imports) is imported by the connector
# thread, after the window has painted; the GUI thread only finds it in ``sys.modules``.

RECONNECT_SECONDS = 2.0  # between attempts to reach a remote engine after a drop

STARTING, READY, RESTARTING, FAILED = "starting", "ready", "restarting", "failed"


class EngineLink(QObject):
    state_changed = Signal(str, str)  # state, detail
    catalogue_changed = Signal(object)  # Catalogue (GET /plugins)
    models_changed = Signal(object)  # ModelsReport (GET /models)
    event = Signal(object)  # one typed engine event (studio.engine.protocol: QueuedEvent … EngineEvent)
    jobs_lost = Signal(list, str)  # job ids the dead engine took with it, why
    _result = Signal(int, bool, object)

    def __init__(self, home: Path, *, safe_mode: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.home = Path(home)
        self.safe_mode = safe_mode
        self.client: EngineClient | None = None
        self.state = STARTING
        self.detail = ""
        self._catalogue: Catalogue | None = None  # empty until the engine answers (made on first read:
        self._models: ModelsReport | None = None  # pydantic loads after the first paint)
        self._connector: _Connector | None = None
        self._pump: _EventPump | None = None
        self._old_threads: list[QThread] = []
        self._pool = _RequestWorkers(4)
        self._ids = itertools.count(1)
        self._callbacks: dict[int, tuple[Callable[[Any], None] | None, Callable[[str], None] | None]] = {}
        self._waiting: list[Callable[[], None]] = []  # requests made while the engine was away
        self._active_jobs: set[str] = set()
        self._closing = False
        self._stream_open = False
        self._restarting = False  # a restart we asked for: the lost stream is expected
        self._pickup: set[str] = set()  # jobs to ask a remote engine about once reconnected
        self._was_connected = False
        self._result.connect(self._deliver)

    # ------------------------------------------------------------------ lifecycle

    @property
    def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            from studio.engine.protocol import Catalogue

            self._catalogue = Catalogue()
        return self._catalogue

    @catalogue.setter
    def catalogue(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue

    @property
    def models(self) -> ModelsReport:
        if self._models is None:
            from studio.engine.protocol import ModelsReport

            self._models = ModelsReport()
        return self._models

    @models.setter
    def models(self, models: ModelsReport) -> None:
        self._models = models

    def start(self) -> None:
        """Connect in the background (starting the engine when none answers)."""
        if self._connector is not None and self._connector.isRunning():
            return
        self._set_state(STARTING if self.client is None and self.state != RESTARTING else self.state, self.detail)
        connector = _Connector(self.home, self.safe_mode, self)
        connector.connected.connect(self._on_connected)
        connector.failed.connect(self._on_connect_failed)
        self._connector = connector
        connector.start()

    def retry(self) -> None:
        self._set_state(STARTING, "")
        self.start()

    @property
    def active_jobs(self) -> int:
        return len(self._active_jobs)

    @property
    def remote(self) -> bool:
        """Connected (or connecting) to an engine on another machine."""
        if self.client is not None:
            return self.client.home is None
        return load_engine_target(self.home).remote

    def remote_host(self) -> str | None:
        """The remote engine's host name (for the Jobs panel's Machine column); None: this computer's engine."""
        if not self.remote:
            return None
        url = self.client.url if self.client is not None else load_engine_target(self.home).url
        return urlsplit(url).hostname or url

    def reconnect(self) -> None:
        """Leave the current engine (it keeps running) and connect to the one Preferences name now."""
        lost = sorted(self._active_jobs)
        self._active_jobs.clear()
        self._pickup.clear()
        if self._pump is not None:
            self._pump.stop()
            self._old_threads.append(self._pump)
            self._pump = None
        self._stream_open = False
        self._was_connected = False
        if lost:
            self.jobs_lost.emit(lost, "the window switched to another engine; this job's result stays on the one it ran on")
        self._set_state(STARTING, "")
        self.start()

    def restart_engine(self, wait_s: float = 30.0) -> None:
        """Stop the engine and start a fresh one, which reads settings.json again (model folders…).

        The engine is shared: other windows reconnect to the new one by themselves.
        """
        if self.client is None or not self._stream_open:
            self.retry()  # not connected yet: the engine it starts reads the new settings anyway
            return
        if self.remote:  # the remote's settings are its own: never stop someone else's engine
            self.reconnect()
            return
        self._restarting = True
        self._set_state(RESTARTING, "restarting the engine to apply the new settings")

        def work(client: EngineClient) -> None:
            import time

            import psutil

            from studio.engine.client import read_connection

            connection = read_connection(self.home)
            client.shutdown()
            if connection is None or not connection.pid:
                return
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and psutil.pid_exists(connection.pid):
                try:
                    if psutil.Process(connection.pid).status() == psutil.STATUS_ZOMBIE:
                        return
                except psutil.NoSuchProcess:
                    return
                time.sleep(0.05)

        def again(_value: Any = None) -> None:
            self._restarting = False
            self._set_state(RESTARTING, "starting the engine again")
            self.start()

        self.call(work, again, again)

    @Slot(object, object, object)
    def _on_connected(self, client: EngineClient, catalogue: Catalogue, models: ModelsReport) -> None:
        if self._closing:
            client.close()
            return
        previous = self.client
        self.client = client
        if previous is not None and previous is not client:
            previous.close()
        self.catalogue, self.models = catalogue, models
        pump = _EventPump(client, self)
        pump.opened.connect(self._on_stream_open)
        pump.received.connect(self._on_event)
        pump.lost.connect(self._on_lost)
        self._pump = pump
        pump.start()

    @Slot()
    def _on_stream_open(self) -> None:
        # Ready only once the event stream is open, so no job's first events can be missed.
        if self._closing:
            return
        self._stream_open = True
        self._was_connected = True
        detail = (
            f"remote engine at {self.client.url}: its model folders, plugins and settings are used"
            if self.client is not None and self.client.home is None
            else ""
        )
        self._set_state(READY, detail)
        self._pick_up_jobs()
        self.catalogue_changed.emit(self.catalogue)
        self.models_changed.emit(self.models)
        waiting, self._waiting = self._waiting, []
        for request in waiting:
            request()

    @Slot(str)
    def _on_connect_failed(self, message: str) -> None:
        if self._closing:
            return
        if self._was_connected and self.remote:  # a network drop: keep trying, the jobs run on
            self._set_state(RESTARTING, f"reconnecting to the remote engine ({message})")
            QTimer.singleShot(int(RECONNECT_SECONDS * 1000), self._reconnect_if_still_away)
            return
        self._set_state(FAILED, message)

    def _reconnect_if_still_away(self) -> None:
        if not self._closing and not self._stream_open:
            self.start()

    def _pick_up_jobs(self) -> None:
        """Ask the engine about the jobs we followed before the connection dropped."""
        pending, self._pickup = sorted(self._pickup), set()
        for job_id in pending:
            self._active_jobs.add(job_id)

            def found(status: JobStatus, job_id: str = job_id) -> None:
                event = final_event(status)
                if event is not None:
                    self._on_event(event)

            def gone(message: str, job_id: str = job_id) -> None:
                self._active_jobs.discard(job_id)
                self.jobs_lost.emit([job_id], f"the engine no longer knows this job ({message}); re-run it")

            def ask(client: EngineClient, job_id: str = job_id) -> JobStatus:
                return client.job(job_id)

            self.call(ask, found, gone)

    @Slot(object)
    def _on_event(self, event: BaseModel | dict) -> None:
        from pydantic import BaseModel

        from studio.engine.protocol import FINAL_EVENTS, EngineEvent, EventType, parse_event

        if not isinstance(event, BaseModel):
            event = parse_event(event)
        kind = getattr(event, "type", None)
        job = getattr(event, "job", None)
        if kind in (EventType.QUEUED, EventType.STARTED) and job:
            self._active_jobs.add(job)
        elif kind in FINAL_EVENTS and job:
            self._active_jobs.discard(job)
        elif isinstance(event, EngineEvent):
            if event.state == "restarting":
                self._set_state(RESTARTING, f"worker: {event.reason}")
            elif event.state == "ready":
                self._set_state(READY, "")
        self.event.emit(event)

    @Slot(str)
    def _on_lost(self, message: str) -> None:
        if self._closing:
            return
        pump, self._pump = self._pump, None
        self._stream_open = False
        if pump is not None:
            self._old_threads.append(pump)
        lost = sorted(self._active_jobs)
        self._active_jobs.clear()
        if self.client is not None and self.client.home is None and not self._restarting:
            # A remote engine: the network dropped, not (necessarily) the engine. Its jobs
            # keep running there; reconnect and pick up their results.
            self._pickup.update(lost)
            self._set_state(RESTARTING, f"lost the connection to the remote engine ({message}); reconnecting")
            self.start()
            return
        if self._restarting:
            if lost:
                self.jobs_lost.emit(lost, "the engine was restarted while this job ran; re-run it")
            return  # restart_engine starts the new one once the old one is gone
        self._set_state(RESTARTING, f"the engine stopped ({message}); starting it again")
        if lost:
            self.jobs_lost.emit(lost, "the engine stopped while this job ran; re-run it")
        self.start()

    def _set_state(self, state: str, detail: str) -> None:
        changed = (state, detail) != (self.state, self.detail)
        self.state, self.detail = state, detail
        if changed:
            self.state_changed.emit(state, detail)

    def close(self, wait_ms: int = 3000) -> None:
        """Stop the background threads; the engine itself keeps running (others may use it)."""
        self._closing = True
        if self._pump is not None:
            self._pump.stop()
            self._pump.wait(wait_ms)
        for thread in self._old_threads:
            thread.wait(wait_ms)
        if self._connector is not None:
            self._connector.wait(wait_ms)
        self._pool.stop(wait_ms)
        if self.client is not None:
            self.client.close()

    # ------------------------------------------------------------------ requests

    @property
    def ready(self) -> bool:
        return self.state == READY and self._stream_open

    def call(
        self,
        work: Callable[[EngineClient], Any],
        on_ok: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        """Run ``work(client)`` on the pool; ``on_ok(result)`` / ``on_error(message)`` on the GUI thread.

        Made while the engine is starting or restarting, the call waits for it.
        """
        if self.client is None or not self._stream_open:
            self._waiting.append(lambda: self.call(work, on_ok, on_error))
            if self.state == FAILED:
                self.retry()
            return
        call_id = next(self._ids)
        self._callbacks[call_id] = (on_ok, on_error)
        client = self.client

        def job() -> None:
            try:
                value = work(client)
            except Exception as exc:
                from studio.engine.client import EngineError

                message = str(exc) or type(exc).__name__
                if not isinstance(exc, EngineError):
                    message = f"{message}\n{traceback.format_exc(limit=3)}"
                self._result.emit(call_id, False, (message,))
                return
            # Always a tuple: a bare None through an ``object`` signal trips a refcount bug in
            # PySide6's queued connections ("none_dealloc").
            self._result.emit(call_id, True, (value,))

        self._pool.start(job)

    @Slot(int, bool, object)
    def _deliver(self, call_id: int, ok: bool, boxed: object) -> None:
        value = boxed[0]  # type: ignore[index]
        on_ok, on_error = self._callbacks.pop(call_id, (None, None))
        if ok:
            if on_ok is not None:
                on_ok(value)
        elif on_error is not None:
            on_error(str(value))

    def submit(
        self,
        plugin: str,
        params: dict[str, Any],
        seed: int | None,
        *,
        uploads: dict[str, tuple[bytes, str, str]] | None = None,
        on_ok: Callable[[str], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        """Upload the inputs (name → (bytes, kind, mime)), then queue the job; ``on_ok(job_id)``."""
        params = dict(params)
        uploads = dict(uploads or {})

        def work(client: EngineClient) -> str:
            for name, (data, kind, mime) in uploads.items():
                params[name] = client.upload(data, kind=kind, mime=mime)
            return client.submit(plugin, params, seed)

        def accepted(job_id: str) -> None:
            self._active_jobs.add(job_id)
            if on_ok is not None:
                on_ok(job_id)

        self.call(work, accepted, on_error)

    def cancel(self, job_id: str, on_error: Callable[[str], None] | None = None) -> None:
        self.call(lambda client: client.cancel(job_id), None, on_error)

    def fetch_artifact(
        self, artifact_id: str, on_ok: Callable[[tuple[bytes, str]], None], on_error: Callable[[str], None] | None = None
    ) -> None:
        self.call(lambda client: client.artifact(artifact_id), on_ok, on_error)

    def refresh_models(self) -> None:
        def store(models: ModelsReport) -> None:
            self.models = models
            self.models_changed.emit(models)

        self.call(lambda client: client.models(), store, None)

    def refresh_catalogue(self) -> None:
        def store(catalogue: Catalogue) -> None:
            self.catalogue = catalogue
            self.catalogue_changed.emit(catalogue)

        self.call(lambda client: client.plugins(), store, None)


def final_event(status: JobStatus) -> DoneEvent | FailedEvent | CancelledEvent | None:
    """The final event a finished job would have sent (None while it still runs)."""
    from studio.engine.protocol import CancelledEvent, DoneEvent, FailedEvent, JobState

    if status.state == JobState.DONE:
        return DoneEvent(job=status.id, plugin=status.plugin, outputs=list(status.outputs), artifacts=list(status.artifacts))
    if status.state == JobState.FAILED:
        return FailedEvent(job=status.id, plugin=status.plugin, error=status.error or "", traceback=status.traceback or "")
    if status.state == JobState.CANCELLED:
        return CancelledEvent(job=status.id, plugin=status.plugin)
    return None
