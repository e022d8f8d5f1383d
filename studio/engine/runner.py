"""Running one generation in this process: plugin host, model cache, context, outputs.

``LocalRunner`` is the engine's core loop without the transport: the worker process wraps
it behind a pipe, tests and benchmarks call it directly. Everything a job needs (the
generator, its validated params, a seeded context, the shared model cache) is set up
here, and every output leaves as an artefact carrying its provenance.
"""

from __future__ import annotations

import io
import platform
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.artifacts import Artifact
from studio.core.errors import Cancelled, ParamError, StudioError
from studio.core.params import ARTIFACT_PARAM_TYPES, RANDOM_SEED_MAX, SEED_MAX, validate_params
from studio.engine.artifact_store import ArtifactNotFound, ArtifactStore
from studio.engine.config import EngineConfig
from studio.engine.device import DeviceInfo, choose_device
from studio.engine.model_cache import FileHasher, ModelCache, default_budgets
from studio.engine.outputs import encode_output
from studio.engine.plugin_host import PluginHost
from studio.plugins.api import Context, Request
from studio.plugins.host import PluginHost as PluginHostBase

EventSink = Callable[[dict[str, Any]], None]

PREVIEW_MAX_SIDE = 256
# Progress events closer together than this are coalesced (the last one always goes out).
PROGRESS_INTERVAL = 0.05


@dataclass
class JobResult:
    artifacts: list[Artifact]
    record: dict[str, Any]
    logs: list[str] = field(default_factory=list)


class JobContext(Context):
    """The Context a generator sees for one job."""

    def __init__(
        self,
        *,
        runner: LocalRunner,
        seed: int,
        device: DeviceInfo,
        emit: EventSink,
        cancel: threading.Event,
        scratch_dir: Path,
    ) -> None:
        self._runner = runner
        self.seed = seed
        self.device = device.name
        self.dtype = device.dtype
        self.models = runner.models
        self.model_paths = tuple(runner.config.all_model_paths())
        self.settings = runner.config.user_settings()
        self.scratch_dir = scratch_dir
        self.ram_budget = runner.models.ram_budget
        self.vram_budget = runner.models.vram_budget
        self._emit = emit
        self._cancel = cancel
        self._rng = None
        self._last_progress = 0.0
        self.logs: list[str] = []

    @property
    def rng(self):  # type: ignore[override]
        if self._rng is None:
            import numpy as np

            self._rng = np.random.default_rng(self.seed)
        return self._rng

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def progress(self, done: float, total: float, message: str = "") -> None:
        now = time.monotonic()
        final = total > 0 and done >= total
        if not final and now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        self._emit({"type": "progress", "done": float(done), "total": float(total), "message": message})

    def preview(self, partial: Any) -> None:
        data = _preview_jpeg(partial)
        self._emit({"type": "preview", "mime": "image/jpeg", "data": data})

    def stream_text(self, delta: str) -> None:
        if delta:
            self._emit({"type": "text", "delta": delta})

    def input_artifact(self, artifact_id: str) -> Artifact:
        try:
            return self._runner.store.get(artifact_id)
        except ArtifactNotFound:
            raise ParamError(f"input {artifact_id[:12]}… is not in the engine's store; upload it again") from None

    def log(self, message: str) -> None:
        self.logs.append(message)
        self._emit({"type": "log", "message": message})


class LocalRunner:
    """Runs generators in this process, one job at a time."""

    def __init__(self, config: EngineConfig, *, plugins: PluginHostBase | None = None, work_dir: Path | None = None) -> None:
        """``plugins`` and ``work_dir`` (hash cache, job scratch folders) default to the
        engine's; a sandboxed worker passes its one plugin and its private folder."""
        self.config = config
        layout = config.layout.ensure()
        self.work_dir = Path(work_dir) if work_dir is not None else layout.cache_dir
        self.store = ArtifactStore(layout.artifacts_dir)
        ram, vram = default_budgets()
        self.models = ModelCache(
            ram_budget=config.ram_budget or ram,
            vram_budget=config.vram_budget or vram,
            hasher=FileHasher(self.work_dir / "hashes.json"),
        )
        self.plugins: PluginHostBase = plugins if plugins is not None else PluginHost(config)
        self._device: DeviceInfo | None = None
        self._lock = threading.Lock()
        # Added to a PermissionError's job message in a sandboxed worker (what it may touch).
        self.sandbox_hint = ""

    def preset_device(self, device: DeviceInfo) -> None:
        """Use the device the engine already chose instead of probing again (a sandboxed
        worker would otherwise import torch just to say which device it has)."""
        self._device = device

    @property
    def device(self) -> DeviceInfo:
        if self._device is None:
            self._device = choose_device(self.config.device)
        return self._device

    def store_input(self, data: bytes, kind: str, mime: str) -> str:
        return self.store.put_bytes(data, kind=kind, mime=mime)

    def run(
        self,
        generator_id: str,
        params: Mapping[str, Any] | None = None,
        seed: int | None = None,
        *,
        on_event: EventSink | None = None,
        cancel: threading.Event | None = None,
        job_id: str = "",
    ) -> JobResult:
        emit = on_event or (lambda event: None)
        cancel = cancel or threading.Event()
        values = validate_request(self.plugins, self.store, generator_id, params or {}, seed)
        if seed is None:
            seed = secrets.randbelow(RANDOM_SEED_MAX + 1)
        with self._lock:
            loaded = self.plugins.get(generator_id)
            manifest = loaded.record.manifest
            assert manifest is not None
            device = self.device
            scratch = Path(tempfile.mkdtemp(prefix="job-", dir=self.work_dir))
            ctx = JobContext(runner=self, seed=int(seed), device=device, emit=emit, cancel=cancel, scratch_dir=scratch)
            ctx.data_dir = self.plugins.data_dir(loaded.record)
            if ctx.data_dir is not None:
                ctx.data_dir.mkdir(parents=True, exist_ok=True)
            started = time.time()
            request = Request(generator=generator_id, params=values, seed=int(seed), job_id=job_id)
            try:
                # The plugin's folders are on sys.path and community plugins run under their
                # declared permissions; a refusal is a PermissionRefused (a StudioError) whose
                # message, naming the plugin, the action and the permission, fails the job.
                with self.plugins.running(loaded.record, scratch, log=ctx.log):
                    outputs = loaded.instance.generate(request, ctx)
                if cancel.is_set():
                    raise Cancelled()
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
                used_models = self._models_used()
                self.models.end_job()
            finished = time.time()
            record = {
                "plugin": manifest.plugin.id,
                "plugin_version": manifest.plugin.version,
                "generator": generator_id,
                "version": manifest.plugin.version,
                "params": dict(values),
                "seed": int(seed),
                "device": device.name,
                "dtype": device.dtype,
                "models": used_models,
                "started": started,
                "finished": finished,
                "duration": round(finished - started, 4),
                "host": platform.node(),
            }
            if not isinstance(outputs, (list, tuple)):
                outputs = [outputs]
            if not outputs:
                raise StudioError(f"generator {generator_id} returned no outputs")
            artifacts = []
            for index, output in enumerate(outputs):
                artifact = encode_output(
                    output,
                    _record_for_file(record),
                    index=index,
                    count=len(outputs),
                    include_paths=self.config.embed_model_paths,
                )
                self.store.put(artifact)
                artifacts.append(artifact)
            return JobResult(artifacts=artifacts, record=record, logs=ctx.logs)

    def _models_used(self) -> list[dict[str, str]]:
        return [{"path": key.path, "hash": key.content_hash, "dtype": key.dtype, "device": key.device} for key in self.models.in_use()]


def validate_request(
    plugins: PluginHostBase, store: ArtifactStore, generator_id: str, params: Mapping[str, Any], seed: int | None
) -> dict[str, Any]:
    """Check a request against the manifest alone (no plugin import); returns typed params.

    The server calls this before queueing, so a malformed request is a 422 at once rather
    than a failed job later.
    """
    info, _record = plugins.describe(generator_id)
    if not isinstance(params, Mapping):
        raise ParamError("params must be an object of name: value")
    values = validate_params(info.params, params)
    for spec in info.params:
        value = values.get(spec.name)
        if spec.type in ARTIFACT_PARAM_TYPES and value is not None and not store.has(value):
            raise ParamError(f"{spec.name}: no stored {spec.type} with id {value[:12]}…; upload it first")
    if seed is not None and not (0 <= int(seed) <= SEED_MAX):
        raise ParamError(f"seed: a whole number from 0 to {SEED_MAX}, got {seed}")
    return values


def _record_for_file(record: dict[str, Any]) -> dict[str, Any]:
    """The record as embedded in files: no timings or host name, so reruns are byte-identical."""
    return {key: value for key, value in record.items() if key not in ("started", "finished", "duration", "host")}


def _preview_jpeg(partial: Any) -> bytes:
    from PIL import Image

    image = partial
    if not isinstance(image, Image.Image):
        import numpy as np

        array = np.asarray(partial)
        if array.dtype != np.uint8:
            array = (np.clip(array, 0.0, 1.0) * 255).astype(np.uint8)
        image = Image.fromarray(array)
    image = image.convert("RGB")
    image.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
