"""An engine stand-in for window tests: a fake ``EngineClient`` behind the window's real ``EngineLink``.

The link runs its real request code (uploads first, then the job, on its worker threads,
answers as signals), so a test sees exactly which generator, params and uploaded artefacts
a window action submits, and can finish a job with outputs of its choosing to see where
they land. The catalogue is built from the first-party ``plugin.toml`` files, so the param
names are the real ones.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.paths import REPO_ROOT
from studio.engine.protocol import ArtifactInfo, Catalogue, DoneEvent, JobState, JobStatus, ModelsReport
from studio.ui.engine_link import READY

FIRST_PARTY = ("patterns", "diffusion", "melody", "prompts", "llm", "musicgen")


def first_party_catalogue(*folders: str) -> dict[str, Any]:
    from studio.plugins.manifest import read_manifest

    generators, plugins = [], []
    for folder in folders or FIRST_PARTY:
        manifest = read_manifest(REPO_ROOT / "plugins" / folder, source="first-party")
        plugins.append(dict(manifest.to_dict(), state="enabled", error="", traceback=""))
        generators += [dict(info.to_dict(), state="enabled") for info in manifest.generators]
    return {"plugins": plugins, "generators": generators}


@dataclass
class SubmittedJob:
    id: str
    plugin: str
    params: dict[str, Any]
    seed: int | None
    command: str = ""  # a command job ([[commands]]): params are {"command", "args"}


@dataclass
class FakeClient:
    catalogue: dict[str, Any]
    found: list[dict[str, Any]] = field(default_factory=list)
    uploads: dict[str, tuple[bytes, str, str]] = field(default_factory=dict)
    jobs: list[SubmittedJob] = field(default_factory=list)
    artifacts: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)
    shutdowns: int = 0
    model_folders: list[Path] = field(default_factory=list)  # scanned for real on GET /models
    home: Path | None = None  # a local engine's STUDIO_HOME, as EngineClient has (None: a remote engine)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _next(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}{next(self._ids)}"

    # ---- the EngineClient surface the link uses

    def plugins(self) -> Catalogue:
        return Catalogue.model_validate(self.catalogue)  # validated as EngineClient validates GET /plugins

    def models(self) -> ModelsReport:
        from studio.engine.model_scan import scan_models  # the engine's own scan, in the test process

        found = list(self.found) + scan_models(self.model_folders)
        return ModelsReport.model_validate({"found": found, "folders": [str(p) for p in self.model_folders], "loaded": []})

    def upload(self, data: bytes, *, kind: str, mime: str) -> str:
        artifact_id = self._next("in")
        self.uploads[artifact_id] = (bytes(data), kind, mime)
        return artifact_id

    def submit(
        self, plugin: str, params: dict[str, Any] | None = None, seed: int | None = None, priority: int = 0, timeout: float | None = None
    ) -> str:
        job_id = self._next("job")
        self.jobs.append(SubmittedJob(job_id, plugin, dict(params or {}), seed))
        return job_id

    def submit_command(self, plugin: str, command: str, args: list[str], priority: int = 0) -> str:
        job_id = self._next("job")
        self.jobs.append(SubmittedJob(job_id, plugin, {"command": command, "args": list(args)}, None, command=command))
        return job_id

    def cancel(self, job_id: str) -> JobStatus:
        self.cancelled.append(job_id)
        submitted = next((job for job in self.jobs if job.id == job_id), None)
        return JobStatus(id=job_id, plugin=submitted.plugin if submitted else "", state=JobState.CANCELLED, created=0.0)

    def artifact(self, artifact_id: str) -> tuple[bytes, str]:
        return self.artifacts[artifact_id]

    def shutdown(self) -> None:
        self.shutdowns += 1

    def close(self) -> None:
        pass


def attach_fake_engine(window: Any, catalogue: dict[str, Any] | None = None, found: list[dict[str, Any]] | None = None) -> FakeClient:
    """Make the window's link talk to a FakeClient, as if the engine were up and ready."""
    client = FakeClient(catalogue or first_party_catalogue(), list(found or []), home=Path(window.home))
    link = window.link
    link.client = client
    link._stream_open = True
    link.catalogue, link.models = client.plugins(), client.models()
    link._set_state(READY, "")
    link.catalogue_changed.emit(link.catalogue)
    link.models_changed.emit(link.models)
    return client


def finish_job(window: Any, client: FakeClient, job_id: str, outputs: list[tuple[str, str, bytes, dict[str, Any]]]) -> None:
    """The engine says the job is done with these (kind, mime, data, meta) outputs."""
    artifacts = []
    for kind, mime, data, meta in outputs:
        artifact_id = client._next("out")
        client.artifacts[artifact_id] = (data, mime)
        artifacts.append(ArtifactInfo(id=artifact_id, kind=kind, mime=mime, size=len(data), meta=meta))
    window.link._on_event(DoneEvent(job=job_id, outputs=[a.id for a in artifacts], artifacts=artifacts))
