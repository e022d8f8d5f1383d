"""Talking to the engine: find the running one or start it, then HTTP + WebSocket calls.

This is the only engine module the window imports, so it must stay light: no torch, no
plugin code, nothing that runs on import. The engine is found through ``engine.json`` in
STUDIO_HOME; when none answers, one is started as a detached process (so it outlives a
crashed window) under a start lock, so two windows starting together share one engine.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from studio.core.errors import ParamError, StudioError
from studio.core.paths import HomeLayout, studio_home
from studio.engine.protocol import (
    FINAL_EVENTS,
    FINAL_STATES,
    ArtifactCreated,
    CancelledJobs,
    Catalogue,
    Event,
    Health,
    HelloEvent,
    JobAccepted,
    JobList,
    JobRequest,
    JobStatus,
    ModelsReport,
    PairCode,
    parse_event,
)


class EngineError(StudioError):
    """The engine could not be reached, started, or answered with an error."""


class RequestRejected(ParamError):
    """The engine refused a request as malformed (HTTP 422): the message says why."""


@dataclass(frozen=True)
class Connection:
    url: str
    token: str
    pid: int | None = None


def read_connection(home: Path) -> Connection | None:
    path = HomeLayout(home).engine_file
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Connection(url=str(data["url"]), token=str(data["token"]), pid=data.get("pid"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class EngineClient:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        home: Path | None = None,
        process: subprocess.Popen | None = None,
        verify: Any = None,
    ) -> None:
        """``verify``: for an https engine, an ``ssl.SSLContext`` or a CA bundle path
        (default ``STUDIO_ENGINE_CA`` when set, else the system's trust store)."""
        self.url = url.rstrip("/")
        self.token = token
        self.home = home
        self.process = process
        if verify is None:
            verify = _ssl_context(os.environ["STUDIO_ENGINE_CA"]) if os.environ.get("STUDIO_ENGINE_CA") else True
        elif isinstance(verify, (str, os.PathLike)):
            verify = _ssl_context(str(verify))
        self._verify = verify
        self._http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout, trust_env=False, verify=verify
        )

    # ------------------------------------------------------------------ connecting

    @classmethod
    def connect(
        cls,
        home: Path | None = None,
        *,
        start: bool = True,
        timeout: float = 90.0,
        safe_mode: bool = False,
        extra_args: list[str] | None = None,
        started_by: str = "cli",
    ) -> EngineClient:
        """The engine for ``home`` (default STUDIO_HOME): the running one, or a new one.

        A new one is started on demand (``started_by`` "cli" or "window"): it exits after an
        idle time with no client (see studio.engine.lifecycle)."""
        root = Path(home) if home is not None else studio_home()
        layout = HomeLayout(root).ensure()
        client = cls._existing(root)
        if client is not None or not start:
            if client is None:
                raise EngineError(f"no engine is running for {root}; start one with `python main.py engine`")
            return client
        with _file_lock(layout.root / "engine-start.lock"):
            client = cls._existing(root)  # another process may have started it meanwhile
            if client is not None:
                return client
            return cls._start(root, timeout=timeout, safe_mode=safe_mode, extra_args=["--started-by", started_by, *(extra_args or [])])

    @classmethod
    def _existing(cls, root: Path) -> EngineClient | None:
        connection = read_connection(root)
        if connection is None:
            return None
        client = cls(connection.url, connection.token, timeout=30.0, home=root)
        try:
            response = client._http.get("/plugins", timeout=3.0)
            if response.status_code == 200:
                return client
        except httpx.HTTPError:
            pass
        client.close()
        return None

    @classmethod
    def _start(cls, root: Path, *, timeout: float, safe_mode: bool, extra_args: list[str]) -> EngineClient:
        layout = HomeLayout(root)
        log_path = layout.logs_dir / "engine.log"
        env = dict(os.environ, STUDIO_HOME=str(root), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", "studio", "engine", "--port", "0"] + (["--safe-mode"] if safe_mode else []) + extra_args
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise EngineError(f"the engine exited while starting (code {process.returncode}): {_tail(log_path)}")
            connection = read_connection(root)
            if connection is not None and connection.pid == process.pid:
                client = cls(connection.url, connection.token, home=root, process=process)
                try:
                    if client._http.get("/plugins", timeout=3.0).status_code == 200:
                        return client
                except httpx.HTTPError:
                    pass
                client.close()
            time.sleep(0.05)
        process.kill()
        raise EngineError(f"the engine did not start within {timeout:.0f}s: {_tail(log_path)}")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ calls

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise EngineError(f"the engine at {self.url} did not answer {method} {path} in time") from None
        except httpx.HTTPError as exc:
            raise EngineError(f"cannot reach the engine at {self.url}: {exc}") from None
        if response.status_code == 422:
            raise RequestRejected(_detail(response))
        if response.status_code >= 400:
            raise EngineError(f"{method} {path}: {response.status_code} {_detail(response)}")
        return response

    def health(self) -> Health:
        return Health.model_validate(self._call("GET", "/health").json())

    def catalogue(self) -> Catalogue:
        """Every plugin found and the generators it offers (``GET /plugins``)."""
        return Catalogue.model_validate(self._call("GET", "/plugins").json())

    def plugins(self) -> Catalogue:
        """The same answer as ``catalogue()``: the window and the CLI read its typed entries."""
        return self.catalogue()

    def reload_plugins(self) -> Catalogue:
        """Apply plugin and settings changes now (the engine restarts its worker)."""
        return Catalogue.model_validate(self._call("POST", "/plugins/reload").json())

    def models(self) -> ModelsReport:
        """Model files found in the model folders, and what the worker holds loaded (``GET /models``)."""
        return ModelsReport.model_validate(self._call("GET", "/models").json())

    def submit(
        self,
        plugin: str,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
        priority: int = 0,
        timeout: float | None = None,
        keep_alive: float | None = None,
    ) -> str:
        """Queue a job; returns its id. ``keep_alive``: seconds its models stay loaded after it."""
        from pydantic import ValidationError

        try:
            request = JobRequest(plugin=plugin, params=params or {}, seed=seed, priority=priority, timeout=timeout, keep_alive=keep_alive)
        except ValidationError as exc:
            raise RequestRejected(
                "; ".join(f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors())
            ) from None
        return self.submit_request(request).id

    def submit_command(self, plugin: str, command: str, args: list[str], priority: int = 0) -> str:
        """Queue a plugin's ``[[commands]]`` entry (``train``, say) as a job; returns its id."""
        request = JobRequest(plugin=plugin, kind="command", params={"command": command, "args": list(args)}, priority=priority)
        return self.submit_request(request).id

    def run_command(self, plugin: str, command: str, args: list[str], **wait: Any) -> JobStatus:
        """Submit a command job and wait for it, like ``run``."""
        return self.run(plugin, submit=lambda: self.submit_command(plugin, command, args), **wait)

    def submit_request(self, request: JobRequest) -> JobAccepted:
        body = request.model_dump(mode="json", exclude_none=True)
        return JobAccepted.model_validate(self._call("POST", "/jobs", json=body).json())

    def job(self, job_id: str) -> JobStatus:
        return JobStatus.model_validate(self._call("GET", f"/jobs/{job_id}").json())

    def jobs(self) -> list[JobStatus]:
        return JobList.model_validate(self._call("GET", "/jobs").json()).jobs

    def cancel(self, job_id: str) -> JobStatus:
        return JobStatus.model_validate(self._call("DELETE", f"/jobs/{job_id}").json())

    def cancel_all(self) -> list[str]:
        """Cancel every queued and running job; returns their ids."""
        return CancelledJobs.model_validate(self._call("DELETE", "/jobs").json()).cancelled

    def artifact(self, artifact_id: str) -> tuple[bytes, str]:
        response = self._call("GET", f"/artifacts/{artifact_id}")
        return response.content, response.headers.get("content-type", "application/octet-stream")

    def upload(self, data: bytes, *, kind: str, mime: str) -> str:
        headers = {"Content-Type": mime, "X-Studio-Kind": kind}
        return ArtifactCreated.model_validate(self._call("POST", "/artifacts", content=data, headers=headers).json()).id

    def new_pair_code(self, ttl: float | None = None) -> PairCode:
        """A new single-use pairing code for another machine (``POST /pair/codes``)."""
        return PairCode.model_validate(self._call("POST", "/pair/codes", json={"ttl": ttl}).json())

    def shutdown(self) -> None:
        with contextlib.suppress(EngineError):
            self._call("POST", "/shutdown")

    # ------------------------------------------------------------------ events

    def events_url(self) -> str:
        return self.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/events"

    @contextlib.contextmanager
    def events(self, open_timeout: float = 10.0) -> Iterator[Callable[[float | None], Event | None]]:
        """A WebSocket subscription: yields ``receive(timeout)`` returning one typed event or None.

        Events this client does not know (a newer engine) are skipped, not fatal.
        """
        from pydantic import ValidationError
        from websockets.sync.client import connect

        ssl = self._verify if self.url.startswith("https://") and not isinstance(self._verify, bool) else None
        options: dict[str, Any] = {"ssl": ssl} if ssl is not None else {}
        with connect(
            self.events_url(),
            additional_headers={"Authorization": f"Bearer {self.token}"},
            open_timeout=open_timeout,
            max_size=64 * 2**20,
            **options,
        ) as socket:

            def receive(timeout: float | None = None) -> Event | None:
                deadline = None if timeout is None else time.monotonic() + timeout
                while True:
                    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                    try:
                        raw = socket.recv(timeout=remaining)
                    except TimeoutError:
                        return None
                    try:
                        return parse_event(json.loads(raw))
                    except (ValueError, ValidationError):
                        continue

            hello = receive(open_timeout)
            if not isinstance(hello, HelloEvent):
                raise EngineError("the engine's event stream did not greet us")
            yield receive

    def run(
        self,
        plugin: str,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
        *,
        on_event: Callable[[Event], None] | None = None,
        timeout: float | None = None,
        priority: int = 0,
        submit: Callable[[], str] | None = None,
        keep_alive: float | None = None,
    ) -> JobStatus:
        """Submit a job (``submit`` replaces the plain submission, for command jobs) and wait
        for it, passing its events to ``on_event``; returns the job."""
        from websockets.exceptions import WebSocketException

        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with self.events() as receive:
                job_id = submit() if submit is not None else self.submit(plugin, params, seed, priority, keep_alive=keep_alive)
                try:
                    while True:
                        wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
                        event = receive(wait)
                        if event is None:
                            state = self.job(job_id)
                            if state.state in FINAL_STATES:
                                return state
                            if deadline is not None and time.monotonic() >= deadline:
                                self.cancel(job_id)
                                raise EngineError(f"the job did not finish within {timeout:.0f}s and was cancelled")
                            continue
                        if getattr(event, "job", None) != job_id:
                            continue
                        if on_event is not None:
                            on_event(event)
                        if event.type in FINAL_EVENTS:
                            return self.job(job_id)
                except KeyboardInterrupt:
                    self.cancel(job_id)
                    raise
        except (OSError, WebSocketException) as exc:
            raise EngineError(f"lost the connection to the engine: {exc}") from None


def _ssl_context(ca_file: str) -> Any:
    import ssl

    return ssl.create_default_context(cafile=ca_file)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:300]
    if isinstance(detail, list):  # FastAPI validation errors
        return "; ".join(f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}" for item in detail)
    return str(detail)


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
