"""The engine process: HTTP + WebSocket API in front of the job queue and its worker.

One engine per STUDIO_HOME, shared by every window and the CLI. It binds to loopback by
default, writes its URL and a random bearer token to ``engine.json`` (mode 0600), and
refuses requests without the token (401), requests whose ``Origin`` is not the engine
itself (403) and requests whose ``Host`` is not one of its names (400: a DNS-rebinding page
on evil.example resolving to 127.0.0.1 cannot reach it). Bound beyond loopback it warns,
and serves TLS when given a certificate.

Every body is a model from ``studio.engine.protocol``, so ``/openapi.json`` documents every
answer, errors included.
"""

from __future__ import annotations

import asyncio
import fcntl
import hmac
import ipaddress
import json
import logging
import os
import secrets
import socket
import sys
import threading
import time
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

import studio
from studio.core.artifacts import ARTIFACT_KINDS, MIME_BY_KIND
from studio.core.atomic_files import write_json_atomic
from studio.core.errors import StudioError
from studio.engine.artifact_store import ArtifactNotFound, ArtifactStore, StorageError, UploadTooLarge, storage_message
from studio.engine.commands import validate_command_request
from studio.engine.config import EngineConfig
from studio.engine.events import EventBus
from studio.engine.jobs import JobQueue
from studio.engine.lifecycle import Lifecycle, LifecyclePolicy
from studio.engine.model_scan import scan_models
from studio.engine.pairing import PairingDesk, add_pairing_routes, ttl_from_environment
from studio.engine.plugin_host import PluginHost, PluginUnavailable
from studio.engine.protocol import (
    DEFAULT_TEXT_MAX_LENGTH,
    ArtifactCreated,
    CancelledJobs,
    Catalogue,
    ErrorBody,
    Event,
    FieldError,
    Health,
    HelloEvent,
    JobAccepted,
    JobList,
    JobRequest,
    JobStatus,
    ModelEntry,
    ModelsReport,
    Ok,
    PluginFailure,
    event_json,
)
from studio.engine.runner import validate_request

log = logging.getLogger("studio.engine.server")

MAX_UPLOAD_BYTES = 512 * 2**20
# JSON bodies (POST /jobs and friends) larger than this are refused before they are read.
MAX_JSON_BODY_BYTES = 8 * 2**20
# The event stream only sends; what a client sends is read and dropped, so frames stay small.
MAX_WS_MESSAGE_BYTES = 64 * 2**10
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "localhost.localdomain"})

# Kept as the request model's old name for scripts that imported it.
JobBody = JobRequest


class EngineAlreadyRunning(StudioError):
    pass


class EngineStartError(StudioError):
    """The engine cannot start here (home not writable, disk full, address in use)."""


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Engine:
    """The engine as an object: construct with a config, ``serve()``, ``close()``."""

    def __init__(self, config: EngineConfig, lifecycle: LifecyclePolicy | None = None) -> None:
        self.config = config
        try:
            self.layout = config.layout.ensure()
            self.store = ArtifactStore(self.layout.artifacts_dir)
        except OSError as exc:
            raise EngineStartError(f"cannot start the engine: {storage_message(exc, config.layout.root)}") from None
        self.token = secrets.token_urlsafe(32)
        self.pairing = PairingDesk(ttl_from_environment())  # short codes traded once for the token
        self.bus = EventBus()
        self.plugins = PluginHost(config)
        self.jobs = JobQueue(config, self.bus.publish, self._on_plugin_failure, self._plugin_timeout)
        self.lifecycle = Lifecycle(self, lifecycle or LifecyclePolicy.from_environment())
        self.started = time.time()
        self.url = ""
        self._lock_handle: Any = None
        self._socket: socket.socket | None = None
        self.app = create_app(self)

    # ------------------------------------------------------------------ lifecycle

    @property
    def tls(self) -> bool:
        return bool(self.config.ssl_certfile)

    def bind(self) -> str:
        """Take the per-home lock and the listening socket; returns the URL."""
        if bool(self.config.ssl_certfile) != bool(self.config.ssl_keyfile):
            raise EngineStartError("TLS needs both a certificate and its key (--ssl-certfile and --ssl-keyfile)")
        for name in (self.config.ssl_certfile, self.config.ssl_keyfile):
            if name and not os.path.isfile(name):
                raise EngineStartError(f"{name}: no such certificate/key file")
        try:
            self._lock_handle = open(self.layout.engine_lock, "a+")  # noqa: SIM115 (held open: the lock lives as long as the engine)
        except OSError as exc:
            raise EngineStartError(f"cannot start the engine: {storage_message(exc, self.layout.root)}") from None
        try:
            fcntl.flock(self._lock_handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_handle.close()
            raise EngineAlreadyRunning(f"an engine is already running for {self.layout.root}; use it, or stop it first") from None
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError as exc:
            sock.close()
            raise EngineStartError(f"cannot listen on {self.config.host}:{self.config.port}: {exc.strerror or exc}") from None
        sock.listen(128)
        sock.setblocking(False)
        self._socket = sock
        port = sock.getsockname()[1]
        host = f"[{self.config.host}]" if family == socket.AF_INET6 else self.config.host
        self.url = f"{'https' if self.tls else 'http'}://{host}:{port}"
        if not is_loopback(self.config.host):
            print(self.exposure_warning(), file=sys.stderr, flush=True)
        return self.url

    def exposure_warning(self) -> str:
        """What binding beyond loopback means, said once at start."""
        where = f"{self.config.host} (reachable from other machines)"
        if self.tls:
            return f"warning: the engine listens on {where}; every request needs the token in {self.layout.engine_file}"
        return (
            f"warning: the engine listens on {where} over plain HTTP: the token in {self.layout.engine_file} "
            "and every prompt and output cross the network unencrypted; pass --ssl-certfile and --ssl-keyfile "
            "to serve HTTPS, or bind to 127.0.0.1 and use an SSH tunnel"
        )

    def write_connection_file(self) -> None:
        data = {
            "url": self.url,
            "token": self.token,
            "pid": os.getpid(),
            "version": studio.__version__,
            "started": self.started,
            "started_by": self.lifecycle.policy.started_by,
        }
        try:
            write_json_atomic(self.layout.engine_file, data, mode=0o600)
        except OSError as exc:
            raise EngineStartError(f"cannot start the engine: {storage_message(exc, self.layout.root)}") from None

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
        self.write_connection_file()
        self.jobs.start()
        self.lifecycle.start()
        server_config = uvicorn.Config(
            self.app,
            log_level=os.environ.get("STUDIO_LOG_LEVEL", "warning"),
            lifespan="on",
            ws_max_size=MAX_WS_MESSAGE_BYTES,
            ssl_certfile=self.config.ssl_certfile or None,
            ssl_keyfile=self.config.ssl_keyfile or None,
        )
        self._server = uvicorn.Server(server_config)
        assert self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self.close()

    def request_shutdown(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.should_exit = True

    def close(self) -> None:
        self.lifecycle.stop()
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
        for name in ("model_paths", "allow_pickle", "disabled_plugins", "trust_remote_code", "wildcards_dir", "device", "plugin_timeouts"):
            setattr(self.config, name, getattr(fresh, name))
        if not self.jobs.restart_worker():
            return False
        self.plugins.rediscover()
        return True

    def _on_plugin_failure(self, failure: PluginFailure) -> None:
        record = self.plugins.discovery.plugin(failure.id)
        if record is not None:
            record.state = failure.state
            record.error = failure.error
            record.traceback = failure.traceback

    def _plugin_timeout(self, generator: str) -> float | None:
        """The generator's own time limit: settings.json first, then its manifest's ``timeout``."""
        if generator in self.config.plugin_timeouts:
            return self.config.plugin_timeouts[generator]
        try:
            info, _record = self.plugins.describe(generator)
        except StudioError:
            return None
        value = getattr(info, "timeout", None)
        return float(value) if isinstance(value, (int, float)) and value > 0 else None

    def host_names(self) -> set[str]:
        """Names a request's Host header may carry: loopback, the bound host, configured extras."""
        names = set(LOOPBACK_NAMES) | {name.lower() for name in self.config.allowed_hosts}
        bound = self.config.host.strip("[]").lower()
        names.add(bound)  # what engine.json's URL carries, so local clients reach it as written
        if bound in ("0.0.0.0", "::"):
            names |= _local_addresses()
        return names

    def host_allowed(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        try:
            name = urlsplit(f"//{host_header}").hostname or ""
        except ValueError:
            return False
        return name.lower() in self.host_names()

    def origin_allowed(self, origin: str) -> bool:
        """The engine's own origin, under any of its names, with its scheme and port."""
        try:
            parts = urlsplit(origin)
            port = parts.port
        except ValueError:
            return False
        ours = urlsplit(self.url)
        if parts.scheme != ours.scheme or port != ours.port or not parts.hostname:
            return False
        return parts.hostname.lower() in self.host_names()

    def allowed_origins(self) -> set[str]:
        ours = urlsplit(self.url)
        return {f"{ours.scheme}://{name if ':' not in name else f'[{name}]'}:{ours.port}" for name in self.host_names()}

    def check_token(self, value: str | None) -> bool:
        if not value:
            return False
        return hmac.compare_digest(value.encode(), self.token.encode())


def _local_addresses() -> set[str]:
    """This machine's names and addresses, for an engine bound to every interface."""
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    try:
        import psutil

        for addresses in psutil.net_if_addrs().values():
            for address in addresses:
                if address.family in (socket.AF_INET, socket.AF_INET6):
                    names.add(address.address.split("%")[0].lower())
    except Exception:  # psutil missing or the interface list unreadable: names only
        log.debug("the network interfaces could not be listed; serving loopback names only", exc_info=True)
    return names


class GuardMiddleware:
    """Host, Origin, token and body-size checks for HTTP and WebSocket requests alike (pure ASGI)."""

    OPEN_PATHS = ("/health", "/pair")  # /pair: a single-use code, guarded in studio.engine.pairing
    STREAMED_PATHS = ("/artifacts",)  # bodies read in chunks by their route, with their own limit

    def __init__(self, app: Any, engine: Engine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        if not self.engine.host_allowed(headers.get("host")):
            host = headers.get("host", "")
            await self._refuse(scope, receive, send, 400, f"this engine does not answer to the host name {host!r}; use {self.engine.url}")
            return
        origin = headers.get("origin")
        if origin is not None and not self.engine.origin_allowed(origin):
            await self._refuse(scope, receive, send, 403, f"requests from {origin} are not allowed")
            return
        if scope["path"] not in self.OPEN_PATHS:
            token = None
            auth = headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                token = auth[7:].strip()
            elif scope["type"] == "websocket":
                from urllib.parse import parse_qs

                token = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [None])[0]
            if not self.engine.check_token(token):
                await self._refuse(scope, receive, send, 401, "missing or wrong bearer token (see engine.json in STUDIO_HOME)")
                return
            self.engine.lifecycle.touch()  # a client is here: the idle clock starts again
        if scope["type"] == "http" and scope["path"] not in self.STREAMED_PATHS:
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_JSON_BODY_BYTES):
                await self._refuse(scope, receive, send, 413, f"request bodies are limited to {MAX_JSON_BODY_BYTES // 2**20} MiB")
                return
            await self._call_with_body_limit(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _call_with_body_limit(self, scope: dict, receive: Any, send: Any) -> None:
        """Run the app with a chunked body cut off at the limit: the app's answer to the
        truncated body (a parse error) is replaced by a 413."""
        seen = 0
        too_large = False
        replaced = False

        async def limited_receive() -> dict:
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_JSON_BODY_BYTES:
                    too_large = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: dict) -> None:
            nonlocal replaced
            if not too_large:
                await send(message)
            elif not replaced:
                replaced = True
                await self._refuse(scope, receive, send, 413, f"request bodies are limited to {MAX_JSON_BODY_BYTES // 2**20} MiB")

        await self.app(scope, limited_receive, guarded_send)

    @staticmethod
    async def _refuse(scope: dict, receive: Any, send: Any, status: int, message: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "websocket.http.response.body", "body": json.dumps({"detail": message}).encode()})
            return
        response = JSONResponse({"detail": message}, status_code=status)
        await response(scope, receive, send)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers; every one has an ``ErrorBody``."""
    meaning = {
        400: "the Host header is not one of the engine's names",
        401: "missing or wrong bearer token",
        403: "a request from a foreign Origin",
        404: "no such job or artefact",
        409: "a job is running",
        413: "the body is larger than the limit",
        422: "the request is malformed; detail names the field",
        507: "the engine's disk is full or read-only; detail names the folder",
    }
    return {code: {"model": ErrorBody, "description": meaning[code]} for code in codes}


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    """Validation errors without the offending input echoed back (it may be NaN or a lone
    surrogate, which JSON cannot carry), each naming its field."""
    errors = []
    for item in exc.errors():
        loc = [part if isinstance(part, int) else str(part).encode("utf-8", "replace").decode("utf-8") for part in item.get("loc", ())]
        msg = str(item.get("msg", "invalid value")).encode("utf-8", "replace").decode("utf-8")
        where = ".".join(str(part) for part in loc if part != "body")
        if where and not msg.startswith(where):
            msg = f"{where}: {msg}"
        errors.append(FieldError(loc=loc, msg=msg, type=str(item.get("type", "value_error"))))
    return errors


def create_app(engine: Engine) -> FastAPI:  # noqa: C901
    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        # Clean up here, not only after uvicorn returns: on SIGTERM uvicorn re-raises the
        # signal once it has shut down, and the process ends before any later cleanup.
        await asyncio.to_thread(engine.close)

    app = FastAPI(
        title="Studio engine",
        version=studio.__version__,
        lifespan=lifespan,
        responses=_errors(400, 401, 403, 422),
        description="Every route but /health needs `Authorization: Bearer <token>` (the token is in engine.json).",
    )
    app.add_middleware(GuardMiddleware, engine=engine)

    def openapi_with_events() -> dict[str, Any]:
        """The generated schema plus the event models of ``WS /events`` (OpenAPI has no
        WebSocket operations, so clients find them under components)."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi
            from pydantic import TypeAdapter

            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            event_schema = TypeAdapter(Event).json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in event_schema.pop("$defs", {}).items():
                components.setdefault(name, definition)  # the routes' own definitions win
            components["Event"] = event_schema
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi_with_events  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(ErrorBody(detail=_field_errors(exc)).model_dump(mode="json"), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return JSONResponse(
            {"detail": detail.encode("utf-8", "replace").decode("utf-8")},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(StorageError)
    async def storage_error(_request: Request, exc: StorageError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=507)

    @app.get("/health", response_model=Health)
    def health() -> Health:
        actors = engine.jobs.actors_report() if hasattr(engine.jobs, "actors_report") else None
        return Health(ok=True, version=studio.__version__, actors=actors, **engine.lifecycle.report())

    @app.get("/plugins", response_model=Catalogue)
    def plugins() -> Catalogue:
        records = [record.to_dict() for record in engine.plugins.discovery.records]
        generators = [
            dict(info.to_dict(), state=record.state)
            for record in engine.plugins.discovery.records
            if record.manifest is not None
            for info in record.manifest.generators
        ]
        return Catalogue.model_validate({"plugins": records, "generators": generators})

    @app.post("/plugins/reload", response_model=Catalogue, responses=_errors(409))
    def reload_plugins() -> Catalogue:
        if not engine.reload_plugins():
            raise HTTPException(status_code=409, detail="a job is running; reload when it has finished or cancel it")
        return plugins()

    @app.get("/models", response_model=ModelsReport)
    def models() -> ModelsReport:
        status = engine.jobs.worker_status()
        worker = engine.jobs.worker
        return ModelsReport(
            found=[ModelEntry.model_validate(entry) for entry in scan_models(engine.config.all_model_paths())],
            folders=[str(p) for p in engine.config.all_model_paths()],
            loaded=status["loaded"] if status else [],
            usage=status["usage"] if status else None,
            stats=status["stats"] if status else None,
            worker="ready" if status is not None else "starting",
            device=worker.device if worker is not None else {},
        )

    @app.post("/jobs", status_code=201, response_model=JobAccepted, responses=_errors(413))
    def submit(body: JobRequest) -> JobAccepted:
        try:
            if body.kind == "command":
                params = validate_command_request(engine.plugins.discovery, engine.store, body.plugin, body.params)
            else:
                _check_text_lengths(engine, body)
                params = validate_request(engine.plugins, engine.store, body.plugin, body.params, body.seed)
        except PluginUnavailable as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        except StudioError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        job = engine.jobs.submit(body.plugin, params, body.seed, body.priority, body.timeout, kind=body.kind)
        engine.lifecycle.job_submitted(job.id, body.keep_alive)
        return JobAccepted(id=job.id, state=job.state)

    @app.get("/jobs", response_model=JobList)
    def list_jobs() -> JobList:
        statuses = []
        for job in engine.jobs.list():
            try:
                statuses.append(job.to_status())
            except Exception:  # one job's bad stored value must never break the list for everyone
                statuses.append(job.minimal_status())
        return JobList(jobs=statuses)

    @app.delete("/jobs", response_model=CancelledJobs)
    def cancel_all() -> CancelledJobs:
        """Cancel every queued job and the running one."""
        return CancelledJobs(cancelled=engine.jobs.cancel_all())

    @app.get("/jobs/{job_id}", response_model=JobStatus, responses=_errors(404))
    def get_job(job_id: str) -> JobStatus:
        job = engine.jobs.get(job_id)
        if job is None:
            raise HTTPException(status_code=404, detail=f"no job {job_id}")
        try:
            return job.to_status()
        except Exception:
            return job.minimal_status()

    @app.delete("/jobs/{job_id}", response_model=JobStatus, responses=_errors(404))
    def cancel_job(job_id: str) -> JobStatus:
        job = engine.jobs.cancel(job_id)
        if job is None:
            raise HTTPException(status_code=404, detail=f"no job {job_id}")
        try:
            return job.to_status()
        except Exception:
            return job.minimal_status()

    @app.get(
        "/artifacts/{artifact_id}",
        response_class=Response,
        responses={
            200: {
                "description": "the artefact's bytes, with its content type; X-Studio-Kind says its kind",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            },
            **_errors(404),
        },
    )
    def get_artifact(artifact_id: str) -> Response:
        try:
            artifact = engine.store.get(artifact_id)
        except ArtifactNotFound:
            raise HTTPException(status_code=404, detail=f"no artefact {artifact_id}") from None
        return Response(
            content=artifact.data, media_type=artifact.mime, headers={"X-Studio-Kind": artifact.kind, "X-Content-Type-Options": "nosniff"}
        )

    @app.post(
        "/artifacts",
        status_code=201,
        response_model=ArtifactCreated,
        responses=_errors(413, 507),
        openapi_extra={
            "parameters": [
                {
                    "name": "X-Studio-Kind",
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "enum": list(ARTIFACT_KINDS)},
                    "description": "what the bytes are",
                },
            ],
            "requestBody": {
                "required": True,
                "description": f"the raw bytes (at most {MAX_UPLOAD_BYTES // 2**20} MiB), with their Content-Type",
                "content": {
                    mime: {"schema": {"type": "string", "format": "binary"}}
                    for mime in ("application/octet-stream", *sorted({m for ms in UPLOAD_MIMES.values() for m in ms}))
                },
            },
        },
    )
    async def put_artifact(request: Request) -> ArtifactCreated:
        """Upload an input (image, mask, melody, audio): raw bytes, Content-Type, X-Studio-Kind.

        Streamed to a file as it arrives; the size limit applies while reading.
        """
        kind = request.headers.get("x-studio-kind", "")
        if kind not in ARTIFACT_KINDS:
            raise HTTPException(status_code=422, detail=f"X-Studio-Kind must be one of {', '.join(ARTIFACT_KINDS)}")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_UPLOAD_BYTES:
            raise HTTPException(status_code=413, detail=f"the upload is larger than the limit of {MAX_UPLOAD_BYTES // 2**20} MiB")
        mime = upload_mime(kind, request.headers.get("content-type", ""))
        upload = await asyncio.to_thread(engine.store.begin_upload, MAX_UPLOAD_BYTES)
        try:
            async for chunk in request.stream():
                if chunk:
                    upload.write(chunk)
            if upload.size == 0:
                raise HTTPException(status_code=422, detail="empty upload")
            artifact_id = await asyncio.to_thread(upload.commit, kind=kind, mime=mime)
        except UploadTooLarge as exc:
            raise HTTPException(status_code=413, detail=str(exc)) from None
        finally:
            upload.discard()
        return ArtifactCreated(id=artifact_id)

    add_pairing_routes(app, engine, _errors(403))  # POST /pair, POST /pair/codes

    @app.post("/shutdown", response_model=Ok)
    def shutdown() -> Ok:
        threading.Timer(0.1, engine.request_shutdown).start()
        return Ok()

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
            await websocket.send_json(event_json(HelloEvent(version=studio.__version__)))
            while True:
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, watcher}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                await websocket.send_json(event_json(getter.result()))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            watcher.cancel()
            engine.bus.unsubscribe(queue)

    return app


# The content types an upload of each kind may declare; the artefact is served back with it,
# so the engine never echoes an arbitrary type a client made up.
UPLOAD_MIMES = {
    "image": ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff"),
    "text": ("text/plain", "text/markdown"),
    "melody": ("audio/midi", "audio/x-midi", "audio/mid"),
    "audio": ("audio/wav", "audio/x-wav", "audio/wave", "audio/flac", "audio/x-flac", "audio/ogg", "audio/mpeg"),
}


def upload_mime(kind: str, declared: str) -> str:
    """The type an upload is stored and served with: the declared one when it fits the kind,
    the kind's default for a missing or generic one; anything else is a 422."""
    base = declared.split(";", 1)[0].strip().lower()
    if base in ("", "application/octet-stream"):
        return MIME_BY_KIND[kind]
    if base not in UPLOAD_MIMES[kind]:
        raise HTTPException(
            status_code=422,
            detail=f"Content-Type {base!r} does not fit X-Studio-Kind {kind!r}; send one of {', '.join(UPLOAD_MIMES[kind])}",
        )
    return "text/plain; charset=utf-8" if base == "text/plain" else "text/markdown; charset=utf-8" if base == "text/markdown" else base


def _check_text_lengths(engine: Engine, body: JobRequest) -> None:
    """Text params longer than their ``max_length`` (a sane default when none is declared) → 422."""
    info, _record = engine.plugins.describe(body.plugin)
    for spec in info.params:
        value = body.params.get(spec.name)
        if spec.type != "text" or not isinstance(value, str):
            continue
        limit = getattr(spec, "max_length", None) or DEFAULT_TEXT_MAX_LENGTH
        if len(value) > limit:
            raise HTTPException(
                status_code=422,
                detail=f"{spec.name}: {len(value):,} characters; at most {limit:,} are accepted for this parameter",
            )
