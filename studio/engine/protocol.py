"""The engine's vocabulary: every message that crosses the engine boundary, defined once.

The server answers with these models (so its OpenAPI schema documents every body), the
worker pipe carries the ``Worker*``/``Run*`` messages, ``EngineClient`` returns them and the
window's job tracker consumes them. Job states and event types are enums here and nowhere
else.

This module is part of the client surface: the window imports it, so it must stay free of
torch, FastAPI and anything that runs on import beyond pydantic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from studio.engine.job_states import FINAL_STATES, JobState  # noqa: F401 (re-exported: part of the vocabulary)

# Seeds are unsigned 64-bit integers end to end (A1111 files carry up to 2**32-1; our own
# seeds may use the full range).
SEED_MAX = 2**64 - 1
# Bounds on what one request may carry, so a single request cannot grow the engine's memory
# without limit (a 10 MB prompt queued twenty times used to hold 190 MB).
MAX_STRING_CHARS = 1_000_000  # any string anywhere in a request
DEFAULT_TEXT_MAX_LENGTH = 100_000  # a `text` param without its own max_length
MAX_PARAMS = 256
MAX_NESTING = 16
MAX_PLUGIN_ID = 200


class EventType(str, Enum):
    """The ``type`` of an event on ``WS /events``."""

    HELLO = "hello"
    QUEUED = "queued"
    STARTED = "started"
    PROGRESS = "progress"
    PREVIEW = "preview"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ENGINE = "engine"

    def __str__(self) -> str:
        return self.value


class ProtocolModel(BaseModel):
    """Base of the wire models.

    ``model[key]`` and ``model.get(key)`` read attributes, so scripts and plugins written
    against the older dict answers keep working while they move to attribute access.
    """

    model_config = ConfigDict(use_enum_values=False)

    def __getitem__(self, key: str) -> Any:
        try:
            value = getattr(self, key)
        except AttributeError:
            extra = self.__pydantic_extra__ or {}
            if key in extra:
                return extra[key]
            raise KeyError(key) from None
        return value.value if isinstance(value, Enum) else value

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


# --------------------------------------------------------------------------- errors


class FieldError(ProtocolModel):
    """One reason a request was refused: where (``loc``) and why (``msg``)."""

    loc: list[str | int] = Field(description="path to the offending field, e.g. ['body', 'params', 'prompt']")
    msg: str
    type: str = "value_error"


class ErrorBody(ProtocolModel):
    """Every error answer: ``detail`` is a message, or the field errors of a 422."""

    detail: str | list[FieldError]


# --------------------------------------------------------------------------- requests


def _bad_text(text: str) -> str | None:
    """Why ``text`` cannot be accepted, or None. Lone surrogates cannot be written back as JSON."""
    if len(text) > MAX_STRING_CHARS:
        return f"is {len(text):,} characters long; at most {MAX_STRING_CHARS:,} are accepted"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (invalid Unicode); send valid UTF-8 text"
    return None


def check_json_value(value: Any, where: str, depth: int = 0) -> None:
    """Refuse what JSON allows in but the engine could never store or send back.

    NaN and Infinity (Python's JSON reader accepts them), lone surrogates and over-long
    strings raise ``ValueError`` naming the field.
    """
    if depth > MAX_NESTING:
        raise ValueError(f"{where}: nested more than {MAX_NESTING} levels deep")
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value} is not a finite number")
        return
    if isinstance(value, str):
        problem = _bad_text(value)
        if problem:
            raise ValueError(f"{where} {problem}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_json_value(item, f"{where}[{index}]", depth + 1)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_json_value(key, f"{where}: a key", depth + 1)
            check_json_value(item, f"{where}.{key}", depth + 1)
        return
    raise ValueError(f"{where}: unsupported value of type {type(value).__name__}")


JobKind = Literal["generate", "command"]


class JobRequest(ProtocolModel):
    """``POST /jobs``: which generator, its parameters, the seed (random when omitted)."""

    model_config = ConfigDict(extra="forbid")

    plugin: str = Field(min_length=1, max_length=MAX_PLUGIN_ID, description="generator id, e.g. studio.patterns")
    params: dict[str, Any] = Field(
        default_factory=dict, max_length=MAX_PARAMS, description="parameter name → value, as the generator's manifest declares them"
    )
    seed: int | None = Field(default=None, ge=0, le=SEED_MAX, description="unsigned 64-bit; random when omitted")
    priority: int = Field(default=0, ge=-1000, le=1000, description="higher runs first")
    timeout: float | None = Field(
        default=None,
        gt=0,
        le=7 * 24 * 3600,
        description="seconds this job may run before it is stopped (the engine's and the plugin's limits still apply)",
    )
    keep_alive: float | None = Field(
        default=None,
        ge=0,
        le=7 * 24 * 3600,
        description="seconds the models stay loaded after this job (0: unload right after; default: the engine's keep-alive)",
    )
    kind: JobKind = Field(
        default="generate",
        description="'command' runs a plugin's [[commands]] entry (then `plugin` is a plugin id and params are {command, args})",
    )

    @field_validator("plugin")
    @classmethod
    def _plugin_is_valid_text(cls, value: str) -> str:
        problem = _bad_text(value)
        if problem:
            raise ValueError(f"the generator id {problem}")
        return value

    @field_validator("params")
    @classmethod
    def _params_are_storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, item in value.items():
            problem = _bad_text(name)
            if problem:
                raise ValueError(f"a parameter name {problem}")
            check_json_value(item, name)
        return value


class JobAccepted(ProtocolModel):
    """The answer to ``POST /jobs``."""

    id: str
    state: JobState = JobState.QUEUED


class ArtifactInfo(ProtocolModel):
    """What the engine says about a stored artefact without sending its bytes."""

    model_config = ConfigDict(extra="allow")

    id: str
    kind: str
    mime: str
    size: int = 0
    meta: dict[str, Any] = Field(default_factory=dict)


class ArtifactCreated(ProtocolModel):
    """The answer to ``POST /artifacts``."""

    id: str


class ProgressDetail(ProtocolModel):
    done: float = 0.0
    total: float = 0.0
    message: str = ""


class JobRunner(ProtocolModel):
    """Where a job runs: the engine's own worker process, or a Ray actor on a cluster node."""

    kind: Literal["worker", "ray"] = "worker"
    host: str = Field(default="", description="the machine's name")
    address: str = Field(default="", description="its network address (Ray: the node's IP)")
    node: str = Field(default="", description="Ray: the node's id (first 8 hex digits)")
    name: str = Field(default="", description="'worker', or the Ray actor's name (actor-2)")
    device: str = Field(default="", description="cpu, cuda, mps")


class JobStatus(ProtocolModel):
    """``GET /jobs/{id}``: a job as the engine knows it."""

    id: str
    kind: JobKind = "generate"
    plugin: str
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    priority: int = 0
    state: JobState
    progress: float = Field(default=0.0, description="0..1")
    progress_detail: ProgressDetail = Field(default_factory=ProgressDetail)
    outputs: list[str] = Field(default_factory=list, description="artefact ids")
    artifacts: list[ArtifactInfo] = Field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    record: dict[str, Any] = Field(default_factory=dict, description="the provenance record written into the outputs")
    logs: list[str] = Field(default_factory=list)
    runner: JobRunner | None = Field(default=None, description="where it ran (null: not started)")
    timeout: float | None = None
    created: float
    started: float | None = None
    finished: float | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


class JobList(ProtocolModel):
    jobs: list[JobStatus]


class CancelledJobs(ProtocolModel):
    """The answer to ``DELETE /jobs``: the ids that were queued or running."""

    cancelled: list[str]


# --------------------------------------------------------------------------- catalogue


class ParamEntry(ProtocolModel):
    model_config = ConfigDict(extra="allow")

    name: str
    type: str
    default: Any = None
    label: str = ""
    help: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: list[str] = Field(default_factory=list)
    optional: bool = False


class RoleEntry(ProtocolModel):
    """One role a generator fills, and how the role's inputs map onto its params."""

    model_config = ConfigDict(extra="allow")

    role: str
    inputs: dict[str, str] = Field(default_factory=dict)
    fixed: dict[str, Any] = Field(default_factory=dict)


class CommandEntry(ProtocolModel):
    """A command a plugin contributes (e.g. ``train``), run as a command job."""

    model_config = ConfigDict(extra="allow")

    id: str
    title: str = ""
    description: str = ""
    models: str = Field(default="", description="the model kind the command makes, e.g. melody")
    data: str = ""
    plugin: str = ""


class GeneratorEntry(ProtocolModel):
    model_config = ConfigDict(extra="allow")

    id: str
    kind: str
    name: str = ""
    description: str = ""
    plugin: str = ""
    params: list[ParamEntry] = Field(default_factory=list)
    roles: list[RoleEntry] = Field(default_factory=list)
    state: str = ""


class PluginEntry(ProtocolModel):
    model_config = ConfigDict(extra="allow")

    id: str
    source: str = ""
    path: str = ""
    state: str
    error: str = ""
    traceback: str = ""
    name: str = ""
    version: str = ""
    generators: list[GeneratorEntry] = Field(default_factory=list)
    commands: list[CommandEntry] = Field(default_factory=list)
    permissions: list[str] = Field(default_factory=list)


class Catalogue(ProtocolModel):
    """``GET /plugins``: every plugin found (usable or not) and the generators it offers."""

    plugins: list[PluginEntry] = Field(default_factory=list)
    generators: list[GeneratorEntry] = Field(default_factory=list)


class ModelEntry(ProtocolModel):
    """A model file or folder found in the model folders (``studio.engine.model_scan``)."""

    model_config = ConfigDict(extra="allow")

    path: str
    name: str = ""
    format: str = Field(default="", description="diffusers, transformers, safetensors, gguf, pickle, studio-melody")
    kind: str = Field(default="unknown", description="diffusion, llm, musicgen, melody, lora, vae, unknown …")
    detail: str = ""
    bytes: int = 0


class ModelsReport(ProtocolModel):
    """``GET /models``: model files found, and what the worker holds loaded."""

    model_config = ConfigDict(extra="allow")

    found: list[ModelEntry] = Field(default_factory=list)
    folders: list[str] = Field(default_factory=list)
    loaded: list[dict[str, Any]] = Field(default_factory=list)
    usage: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None
    worker: str = "starting"
    device: dict[str, Any] = Field(default_factory=dict)


class Health(ProtocolModel):
    ok: bool
    version: str
    started_by: str | None = Field(default=None, description="who started the engine: user (by hand), window or cli (on demand)")
    idle_exit: float | None = Field(default=None, description="seconds without a client after which the engine exits (null: it stays)")
    exit_at: float | None = Field(default=None, description="when it will exit if no client comes (unix time; null: never)")
    keep_alive: float | None = Field(
        default=None, description="seconds models stay loaded after the last job (a request's keep_alive overrides)"
    )
    unload_at: float | None = Field(
        default=None, description="when the worker drops its models if no job comes (unix time; null: nothing to unload)"
    )
    actors: list[dict[str, Any]] | None = Field(
        default=None, description="with --ray: each actor's name, node, device, loaded models and current job"
    )


class Ok(ProtocolModel):
    ok: bool = True


class PairRequest(ProtocolModel):
    """``POST /pair``: a short pairing code (printed by the engine) traded once for its token."""

    code: str = Field(max_length=32, description="the code the engine printed, e.g. K7QM-4XPD (case and dashes do not matter)")
    client: str = Field(default="", max_length=200, description="who pairs (a machine name), for the engine's log")


class Paired(ProtocolModel):
    url: str = Field(description="the engine's URL as it was bound")
    token: str = Field(description="the bearer token every other route needs")


class PairCodeRequest(ProtocolModel):
    """``POST /pair/codes`` (token needed): a new pairing code."""

    ttl: float | None = Field(default=None, gt=0, le=86400, description="seconds it stays valid (default STUDIO_PAIR_TTL or 300)")


class PairCode(ProtocolModel):
    code: str
    expires_in: float = Field(description="seconds it stays valid")


# --------------------------------------------------------------------------- events


class HelloEvent(ProtocolModel):
    type: Literal[EventType.HELLO] = EventType.HELLO
    version: str = ""


class QueuedEvent(ProtocolModel):
    type: Literal[EventType.QUEUED] = EventType.QUEUED
    job: str
    plugin: str = ""
    position: int = 0


class StartedEvent(ProtocolModel):
    type: Literal[EventType.STARTED] = EventType.STARTED
    job: str
    plugin: str = ""
    runner: JobRunner | None = None


class ProgressEvent(ProtocolModel):
    type: Literal[EventType.PROGRESS] = EventType.PROGRESS
    job: str
    progress: float = 0.0
    done: float = 0.0
    total: float = 0.0
    message: str = ""


class PreviewEvent(ProtocolModel):
    """A partial output: an image (``mime`` + base64 ``data``) or a ``text`` delta."""

    type: Literal[EventType.PREVIEW] = EventType.PREVIEW
    job: str
    mime: str | None = None
    data: str | None = None
    text: str | None = None


class DoneEvent(ProtocolModel):
    type: Literal[EventType.DONE] = EventType.DONE
    job: str
    plugin: str = ""
    outputs: list[str] = Field(default_factory=list)
    artifacts: list[ArtifactInfo] = Field(default_factory=list)
    runner: JobRunner | None = None


class FailedEvent(ProtocolModel):
    type: Literal[EventType.FAILED] = EventType.FAILED
    job: str
    plugin: str = ""
    error: str = ""
    traceback: str = ""
    runner: JobRunner | None = None


class CancelledEvent(ProtocolModel):
    type: Literal[EventType.CANCELLED] = EventType.CANCELLED
    job: str
    plugin: str = ""


class EngineEvent(ProtocolModel):
    """The engine's own state: its worker is ready, or restarting and why."""

    type: Literal[EventType.ENGINE] = EventType.ENGINE
    state: str
    reason: str = ""
    device: dict[str, Any] = Field(default_factory=dict)


Event = Annotated[
    HelloEvent | QueuedEvent | StartedEvent | ProgressEvent | PreviewEvent | DoneEvent | FailedEvent | CancelledEvent | EngineEvent,
    Field(discriminator="type"),
]
JobEvent = QueuedEvent | StartedEvent | ProgressEvent | PreviewEvent | DoneEvent | FailedEvent | CancelledEvent
_EVENT_ADAPTER: TypeAdapter = TypeAdapter(Event)
FINAL_EVENTS = {EventType.DONE: JobState.DONE, EventType.FAILED: JobState.FAILED, EventType.CANCELLED: JobState.CANCELLED}


def parse_event(data: Mapping[str, Any] | BaseModel) -> Event:
    """An event from its JSON form; raises ``pydantic.ValidationError`` for an unknown one."""
    if isinstance(data, BaseModel):
        return data  # type: ignore[return-value]
    return _EVENT_ADAPTER.validate_python(dict(data))


def event_json(event: BaseModel) -> dict[str, Any]:
    """The JSON form of an event, as sent on ``WS /events`` (unset optional fields left out)."""
    return event.model_dump(mode="json", exclude_none=True)


# --------------------------------------------------------------------------- worker pipe
#
# Plain frozen dataclasses: the pipe is internal and trusted, messages are pickled, and the
# server matches on their type. Runner events inside WorkerEvent stay the runner's dicts
# (progress / preview bytes / text / log), turned into wire events by the job queue.


@dataclass(frozen=True)
class RunJob:
    job_id: str
    generator: str
    params: dict[str, Any]
    seed: int | None
    kind: JobKind = "generate"


@dataclass(frozen=True)
class CancelJob:
    job_id: str


@dataclass(frozen=True)
class StatusRequest:
    request_id: str


@dataclass(frozen=True)
class StopWorker:
    pass


@dataclass(frozen=True)
class WorkerReady:
    device: dict[str, Any]


@dataclass(frozen=True)
class WorkerEvent:
    job_id: str
    event: dict[str, Any]


@dataclass(frozen=True)
class PluginFailure:
    """A plugin found broken while a job ran: the plugin manager shows it as failed."""

    id: str
    state: str
    error: str
    traceback: str


@dataclass(frozen=True)
class JobFinished:
    job_id: str
    artifacts: list[dict[str, Any]]
    record: dict[str, Any]
    logs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JobFailed:
    job_id: str
    message: str
    traceback: str
    plugin_failure: PluginFailure | None = None


@dataclass(frozen=True)
class JobCancelled:
    job_id: str


@dataclass(frozen=True)
class StatusReply:
    request_id: str
    data: dict[str, Any]


ToWorker = RunJob | CancelJob | StatusRequest | StopWorker
FromWorker = WorkerReady | WorkerEvent | JobFinished | JobFailed | JobCancelled | StatusReply
