"""A fake engine Context for driving the melody generator without the engine."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.artifacts import Artifact, content_id
from studio.plugins.api import Context


class FakeModels:
    def __init__(self) -> None:
        self.loaded: dict[str, Any] = {}
        self.loads = 0

    def load(self, path, loader, *, kind="", dtype=None, device=None, variant=""):
        key = str(Path(path).resolve())
        if key not in self.loaded:
            self.loads += 1
            self.loaded[key] = loader(Path(path))
        return self.loaded[key]

    def content_hash(self, path) -> str:
        return content_id(Path(path).read_bytes())

    def release(self, path) -> None:
        self.loaded.pop(str(Path(path).resolve()), None)


class FakeContext(Context):
    """What the engine would hand the generator, recorded for assertions."""

    def __init__(
        self,
        seed: int = 0,
        *,
        inputs: dict[str, Artifact] | None = None,
        cancel_after: int | None = None,
        model_paths: tuple[Path, ...] = (),
    ) -> None:
        self.seed = seed
        self.device = "cpu"
        self.dtype = "float32"
        self.models = FakeModels()
        self.model_paths = model_paths
        self.settings = {}
        self.scratch_dir = Path(".")
        self.inputs = dict(inputs or {})
        self.events: list[tuple[float, float, str]] = []
        self.logs: list[str] = []
        self.cancel_after = cancel_after
        self._cancel = threading.Event()

    @property
    def rng(self):
        return np.random.default_rng(self.seed)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def progress(self, done, total, message=""):
        self.events.append((done, total, message))
        if self.cancel_after is not None and len(self.events) >= self.cancel_after:
            self._cancel.set()

    def preview(self, partial):
        pass

    def stream_text(self, delta):
        pass

    def input_artifact(self, artifact_id):
        return self.inputs[artifact_id]

    def log(self, message):
        self.logs.append(message)

    def add_midi(self, data: bytes) -> str:
        artifact = Artifact("melody", "audio/midi", data)
        self.inputs[artifact.id] = artifact
        return artifact.id
