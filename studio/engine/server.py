"""The engine process: HTTP + WebSocket API in front of the job queue and its worker.

One engine per STUDIO_HOME, shared by every window and the CLI. It binds to loopback by
default, writes its URL and a random bearer token to ``engine.json`` (mode 0600), and
refuses requests without the token (401) and requests whose ``Origin`` is not the engine
itself (403), so no web page the user visits can drive it.
"""

from __future__ import annotations

import asyncio
import fcntl
import hmac
import json
import os
import secrets
import socket
import threading
import time
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

import studio
from studio.core.artifacts import ARTIFACT_KINDS
from studio.core.errors import StudioError
from studio.core.atomic_files import write_json_atomic
from studio.engine.artifact_store import ArtifactNotFound, ArtifactStore
from studio.engine.commands import validate_command_request
from studio.engine.config import EngineConfig
from studio.engine.events import EventBus
from studio.engine.jobs import JobQueue
from studio.engine.model_scan import scan_models
from studio.engine.plugin_host import PluginHost, PluginUnavailable
from studio.engine.runner import validate_request

MAX_UPLOAD_BYTES = 512 * 2**20


class EngineAlreadyRunning(StudioError):
    pass


class JobBody(BaseModel):
    """POST /jobs: which generator, its parameters, the seed (random when omitted)."""

    model_config = ConfigDict(extra="forbid")

    plugin: str = Field(description="generator id, e.g. studio.patterns (a plugin id for kind 'command')")
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    priority: int = 0
    kind: Literal["generate", "command"] = Field(
        default="generate", description="'command' runs a plugin's [[commands]] entry: params are {command, args}"
    )


class Engine:
    """The engine as an object: construct with a config, ``serve()``, ``close()``."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.layout = config.layout.ensure()
        self.token = secrets.token_urlsafe(32)
        self.bus = EventBus()
        self.store = ArtifactStore(self.layout.artifacts_dir)
        self.plugins = PluginHost(config)
        self.jobs = JobQueue(config, self.bus.publish, self._on_plugin_failure)
        self.started = time.time()
        self.url = ""
        self._lock_handle: Any = None
        self._socket: socket.socket | None = None
        self.app = create_app(self)

    # ------------------------------------------------------------------ lifecycle

    def bind(self) -> str:
        """Take the per-home lock and the listening socket; returns the URL."""
        self._lock_handle = open(self.layout.engine_lock, "a+")
        try:
            fcntl.flock(self._lock_handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_handle.close()
            raise EngineAlreadyRunning(
                f"an engine is already running for {self.layout.root}; use it, or stop it first"
            ) from None
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.config.port))
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        port = sock.getsockname()[1]
        host = f"[{self.config.host}]" if family == socket.AF_INET6 else self.config.host
        self.url = f"http://{host}:{port}"
        return self.url

    def write_connection_file(self) -> None:
        data = {"url": self.url, "token": self.token, "pid": os.getpid(), "version": studio.__version__, "started": self.started}
        write_json_atomic(self.layout.engine_file, data, mode=0o600)

    def remove_connection_file(self) -> None:
        try:
            current = json.loads(self.layout.engine_file.read_text(encoding="utf-8"))
            if current.get("pid") == os.getpid():
                self.layout.engine_file.unlink()
        except (OSError, ValueError):
            pass

    def serve(self) -> None:
        """Run until SIGINT/SIGTERM or POST /shutdown."""
        import uvicorn

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if self._socket is None:
            self.bind()
        self.jobs.start()
        self.write_connection_file()
        server_config = uvicorn.Config(self.app, log_level=os.environ.get("STUDIO_LOG_LEVEL", "warning"), lifespan="on", ws_max_size=MAX_UPLOAD_BYTES)
        self._server = uvicorn.Server(server_config)
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self.close()

    def request_shutdown(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.should_exit = True

    def close(self) -> None:
        self.remove_connection_file()
        self.jobs.close()
        if self._lock_handle is not None:
            try:
                fcntl.flock(self._lock_handle.fileno(), fcntl.LOCK_UN)
                self._lock_handle.close()
            except OSError:
                pass
            self._lock_handle = None

    # ------------------------------------------------------------------ state

    def reload_plugins(self) -> bool:
        """Re-read settings and plugin folders and start a fresh worker; False while busy.

        Installing, removing, enabling or disabling a plugin, or changing model folders,
        then takes effect without stopping the engine the windows are connected to.
        """
        fresh = EngineConfig.from_environment(home=self.config.home, safe_mode=self.config.safe_mode)
        for name in ("model_paths", "allow_pickle", "disabled_plugins", "trust_remote_code", "wildcards_dir", "device"):
            setattr(self.config, name, getattr(fresh, name))
        if not self.jobs.restart_worker():
            return False
        self.plugins.rediscover()
        return True

    def _on_plugin_failure(self, failure: dict[str, str]) -> None:
        record = self.plugins.discovery.plugin(failure["id"])
        if record is not None:
            record.state = failure["state"]
            record.error = failure["error"]
            record.traceback = failure["traceback"]

    def allowed_origins(self) -> set[str]:
        origins = {self.url}
        if "127.0.0.1" in self.url:
            origins.add(self.url.replace("127.0.0.1", "localhost"))
        return origins

    def check_token(self, value: str | None) -> bool:
        if not value:
            return False
        return hmac.compare_digest(value.encode(), self.token.encode())


class GuardMiddleware:
    """Token and Origin checks for HTTP and WebSocket requests alike (pure ASGI)."""

    OPEN_PATHS = ("/health",)

    def __init__(self, app: Any, engine: Engine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        origin = headers.get("origin")
        if origin is not None and origin not in self.engine.allowed_origins():
            await self._refuse(scope, receive, send, 403, f"requests from {origin} are not allowed")
            return
        if scope["path"] not in self.OPEN_PATHS:
            token = None
            auth = headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                token = auth[7:].strip()
            elif scope["type"] == "websocket":
                from urllib.parse import parse_qs

                token = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [None])[0]
            if not self.engine.check_token(token):
                await self._refuse(scope, receive, send, 401, "missing or wrong bearer token (see engine.json in STUDIO_HOME)")
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(scope: dict, receive: Any, send: Any, status: int, message: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "websocket.http.response.body", "body": json.dumps({"detail": message}).encode()})
            return
        response = JSONResponse({"detail": message}, status_code=status)
        await response(scope, receive, send)


def create_app(engine: Engine) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        # Clean up here, not only after uvicorn returns: on SIGTERM uvicorn re-raises the
        # signal once it has shut down, and the process ends before any later cleanup.
        await asyncio.to_thread(engine.close)

    app = FastAPI(title="Studio engine", version=studio.__version__, lifespan=lifespan)
    app.add_middleware(GuardMiddleware, engine=engine)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "version": studio.__version__}

    @app.get("/plugins")
    def plugins() -> dict[str, Any]:
        records = [record.to_dict() for record in engine.plugins.discovery.records]
        generators = [
            dict(info.to_dict(), state=record.state)
            for record in engine.plugins.discovery.records
            if record.manifest is not None
            for info in record.manifest.generators
        ]
        return {"plugins": records, "generators": generators}

    @app.post("/plugins/reload")
    def reload_plugins() -> dict[str, Any]:
        if not engine.reload_plugins():
            raise HTTPException(status_code=409, detail="a job is running; reload when it has finished or cancel it")
        return plugins()

    @app.get("/models")
    def models() -> dict[str, Any]:
        status = engine.jobs.worker_status()
        worker = engine.jobs.worker
        return {
            "found": scan_models(engine.config.all_model_paths()),
            "folders": [str(p) for p in engine.config.all_model_paths()],
            "loaded": status["loaded"] if status else [],
            "usage": status["usage"] if status else None,
            "stats": status["stats"] if status else None,
            "worker": "ready" if status is not None else "starting",
            "device": worker.device if worker is not None else {},
        }

    @app.post("/jobs", status_code=201)
    def submit(body: JobBody) -> dict[str, Any]:
        try:
            if body.kind == "command":
                params = validate_command_request(engine.plugins.discovery, engine.store, body.plugin, body.params)
            else:
                params = validate_request(engine.plugins, engine.store, body.plugin, body.params, body.seed)
        except PluginUnavailable as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        except StudioError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        job = engine.jobs.submit(body.plugin, params, body.seed, body.priority, kind=body.kind)
        return {"id": job.id, "state": job.state}

    @app.get("/jobs")
    def list_jobs() -> dict[str, Any]:
        return {"jobs": [job.to_dict() for job in engine.jobs.list()]}

    @app.get("/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        job = engine.jobs.get(job_id)
        if job is None:
            raise HTTPException(status_code=404, detail=f"no job {job_id}")
        return job.to_dict()

    @app.delete("/jobs/{job_id}")
    def cancel_job(job_id: str) -> dict[str, Any]:
        job = engine.jobs.cancel(job_id)
        if job is None:
            raise HTTPException(status_code=404, detail=f"no job {job_id}")
        return job.to_dict()

    @app.get("/artifacts/{artifact_id}")
    def get_artifact(artifact_id: str) -> Response:
        try:
            artifact = engine.store.get(artifact_id)
        except ArtifactNotFound:
            raise HTTPException(status_code=404, detail=f"no artefact {artifact_id}") from None
        return Response(content=artifact.data, media_type=artifact.mime, headers={"X-Studio-Kind": artifact.kind})

    @app.post("/artifacts", status_code=201)
    async def put_artifact(request: Request) -> dict[str, Any]:
        """Upload an input (image, mask, melody, audio): raw bytes, Content-Type, X-Studio-Kind."""
        kind = request.headers.get("x-studio-kind", "")
        if kind not in ARTIFACT_KINDS:
            raise HTTPException(status_code=422, detail=f"X-Studio-Kind must be one of {', '.join(ARTIFACT_KINDS)}")
        data = await request.body()
        if not data:
            raise HTTPException(status_code=422, detail="empty upload")
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(status_code=413, detail="upload too large")
        mime = request.headers.get("content-type", "application/octet-stream")
        artifact_id = engine.store.put_bytes(data, kind=kind, mime=mime)
        return {"id": artifact_id}

    @app.post("/shutdown")
    def shutdown() -> dict[str, Any]:
        threading.Timer(0.1, engine.request_shutdown).start()
        return {"ok": True}

    @app.websocket("/events")
    async def events(websocket: WebSocket) -> None:
        await websocket.accept()
        queue = engine.bus.subscribe()

        async def until_disconnected() -> None:
            # Without this the handler would sit in queue.get() after the client left, and
            # uvicorn would wait for it forever when the engine shuts down.
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass

        watcher = asyncio.create_task(until_disconnected())
        try:
            await websocket.send_json({"type": "hello", "version": studio.__version__})
            while True:
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, watcher}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                await websocket.send_json(getter.result())
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            watcher.cancel()
            engine.bus.unsubscribe(queue)

    return app
