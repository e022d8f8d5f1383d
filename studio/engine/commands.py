"""Command jobs: a plugin's ``[[commands]]`` (``train``, say) run in the worker like a generation.

A command job is a ``POST /jobs`` with ``kind = "command"``: the plugin id, the command id
and its arguments (strings, as on a command line). It goes through the same queue, worker,
cancel and events as a generation, so training reports progress, is cancellable, streams
its log lines as ``text`` events and runs on whichever machine the engine runs on.

Inputs travel with the job: an argument ``@artifacts:ID,ID,…`` (files the client uploaded,
see ``studio.cli``) is written into a scratch folder on the engine's machine and replaced by
that folder's path, so a remote engine trains on the user's local files.
"""

from __future__ import annotations

import importlib
import platform
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from studio.core.artifacts import EXTENSION_BY_MIME
from studio.core.errors import Cancelled, ParamError, StudioError
from studio.engine.artifact_store import ArtifactNotFound
from studio.plugins.api import CommandContext, CommandResult
from studio.plugins.discovery import PluginRecord
from studio.plugins.manifest import CommandSpec

KIND_GENERATE, KIND_COMMAND = "generate", "command"
ARTIFACTS_PREFIX = "@artifacts:"
PROGRESS_INTERVAL = 0.05

EventSink = Callable[[dict[str, Any]], None]


class CommandJobContext(CommandContext):
    def __init__(self, *, models_dir: Path, scratch_dir: Path, device: str, emit: EventSink, cancel: threading.Event) -> None:
        self.models_dir = models_dir
        self.scratch_dir = scratch_dir
        self.device = device
        self._emit = emit
        self._cancel = cancel
        self._last_progress = 0.0
        self.logs: list[str] = []

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def progress(self, done: float, total: float, message: str = "") -> None:
        now = time.monotonic()
        if not (total > 0 and done >= total) and now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        self._emit({"type": "progress", "done": float(done), "total": float(total), "message": message})

    def log(self, message: str) -> None:
        self.logs.append(message)
        self._emit({"type": "text", "delta": message.rstrip("\n") + "\n"})


def command_request(params: Mapping[str, Any]) -> tuple[str, list[str]]:
    """(command id, args) from a command job's params."""
    command = params.get("command")
    args = params.get("args", [])
    if not isinstance(command, str) or not command:
        raise ParamError("command: which of the plugin's [[commands]] to run, e.g. 'train'")
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise ParamError("args: a list of strings, as on a command line")
    return command, list(args)


def find_command(discovery: Any, plugin_id: str, command_id: str) -> tuple[CommandSpec, PluginRecord]:
    """The declared command, or a ParamError naming what exists instead."""
    record = discovery.plugin(plugin_id)
    if record is None or record.manifest is None:
        offering = sorted(
            f"{r.manifest.plugin.id} ({', '.join(c.id for c in r.manifest.commands)})"
            for r in discovery.records
            if r.usable and r.manifest and r.manifest.commands
        )
        raise ParamError(f"no plugin {plugin_id!r}; plugins with commands: {', '.join(offering) or 'none'}")
    if not record.usable:
        raise ParamError(f"plugin {plugin_id} is {record.state}: {record.error or 'enable it in the plugin manager'}")
    spec = record.manifest.command(command_id)
    if spec is None:
        known = ", ".join(c.id for c in record.manifest.commands) or "none"
        raise ParamError(f"plugin {plugin_id} has no command {command_id!r}; its commands: {known}")
    return spec, record


def validate_command_request(discovery: Any, store: Any, plugin_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Check a command job before it is queued (the server answers 422 otherwise)."""
    command, args = command_request(params)
    find_command(discovery, plugin_id, command)
    for arg in args:
        for artifact_id in _artifact_ids(arg):
            if not store.has(artifact_id):
                raise ParamError(f"args: no stored file with id {artifact_id[:12]}…; upload it first")
    return {"command": command, "args": args}


def run_command(
    runner: Any, plugin_id: str, params: Mapping[str, Any], *, on_event: EventSink | None = None, cancel: threading.Event | None = None
) -> Any:
    """Run one command job in this process (the worker); returns the runner's JobResult."""
    from studio.engine.runner import JobResult

    emit = on_event or (lambda event: None)
    cancel = cancel or threading.Event()
    command, args = command_request(params)
    spec, record = find_command(runner.plugins.discovery, plugin_id, command)
    layout = runner.config.layout
    models_dir = layout.models_dir / spec.models if spec.models else layout.models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="command-", dir=layout.cache_dir))
    ctx = CommandJobContext(models_dir=models_dir, scratch_dir=scratch, device=runner.device.name, emit=emit, cancel=cancel)
    started = time.time()
    try:
        args = [_materialize(arg, runner.store, scratch, index) for index, arg in enumerate(args)]
        with runner.plugins.running(record, scratch, log=ctx.log):
            function = _entry(spec)
            result = function(args, ctx)
        if cancel.is_set():
            raise Cancelled()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not isinstance(result, CommandResult):
        raise StudioError(f"{spec.entry} returned {type(result).__name__}, not a studio.plugins.api.CommandResult")
    finished = time.time()
    assert record.manifest is not None
    job_record = {
        "plugin": plugin_id,
        "plugin_version": record.manifest.plugin.version,
        "command": command,
        "args": args,
        "message": result.message,
        "models": [str(path) for path in result.models],
        "device": runner.device.name,
        "started": started,
        "finished": finished,
        "duration": round(finished - started, 4),
        "host": platform.node(),
    }
    return JobResult(artifacts=[], record=job_record, logs=ctx.logs)


def _entry(spec: CommandSpec) -> Callable[[list[str], CommandContext], Any]:
    module_name, _, attribute = spec.entry.partition(":")
    module = importlib.import_module(module_name)
    function = getattr(module, attribute, None)
    if not callable(function):
        raise StudioError(f"{module_name} has no function {attribute!r} (command {spec.id!r} in plugin.toml)")
    return function


def _artifact_ids(arg: str) -> list[str]:
    if not arg.startswith(ARTIFACTS_PREFIX):
        return []
    return [item.strip().lower() for item in arg[len(ARTIFACTS_PREFIX) :].split(",") if item.strip()]


def _materialize(arg: str, store: Any, scratch: Path, index: int) -> str:
    """``@artifacts:ID,…`` → a folder holding those files (others unchanged)."""
    ids = _artifact_ids(arg)
    if not ids:
        return arg
    folder = scratch / f"input-{index}"
    folder.mkdir(parents=True, exist_ok=True)
    for number, artifact_id in enumerate(ids):
        try:
            artifact = store.get(artifact_id)
        except ArtifactNotFound:
            raise ParamError(f"args: no stored file with id {artifact_id[:12]}…; upload it again") from None
        extension = EXTENSION_BY_MIME.get(artifact.mime.split(";")[0].strip(), "")
        (folder / f"{number:05d}{extension}").write_bytes(artifact.data)
    return str(folder)
