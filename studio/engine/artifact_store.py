"""The engine's artefact store: content-addressed files under STUDIO_HOME/artifacts.

Outputs are written here by the worker and served by ``GET /artifacts/{id}``; inputs that
the window or CLI upload land here too. Writing is atomic (temp file + rename), so a
crash never leaves a half-written artefact behind a valid id.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from studio.core.artifacts import Artifact, content_id
from studio.core.atomic_files import write_bytes_atomic

_ID = re.compile(r"^[0-9a-f]{64}$")


class ArtifactNotFound(KeyError):
    pass


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _paths(self, artifact_id: str) -> tuple[Path, Path]:
        if not _ID.match(artifact_id):
            raise ArtifactNotFound(artifact_id)
        folder = self.root / artifact_id[:2]
        return folder / artifact_id, folder / f"{artifact_id}.json"

    def put(self, artifact: Artifact) -> str:
        artifact_id = artifact.id
        data_path, meta_path = self._paths(artifact_id)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        if not data_path.exists():
            write_bytes_atomic(data_path, artifact.data)
        meta = {"kind": artifact.kind, "mime": artifact.mime, "meta": artifact.meta, "size": len(artifact.data)}
        write_bytes_atomic(meta_path, json.dumps(meta, sort_keys=True, default=str).encode())
        return artifact_id

    def put_bytes(self, data: bytes, *, kind: str, mime: str, meta: dict[str, Any] | None = None) -> str:
        return self.put(Artifact(kind=kind, mime=mime, data=data, meta=meta or {}))

    def has(self, artifact_id: str) -> bool:
        try:
            return self._paths(artifact_id)[0].is_file()
        except ArtifactNotFound:
            return False

    def get(self, artifact_id: str) -> Artifact:
        data_path, meta_path = self._paths(artifact_id)
        try:
            data = data_path.read_bytes()
        except FileNotFoundError:
            raise ArtifactNotFound(artifact_id) from None
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {"kind": "unknown", "mime": "application/octet-stream", "meta": {}}
        if content_id(data) != artifact_id:
            raise ArtifactNotFound(f"{artifact_id} is damaged on disk")
        return Artifact(kind=meta.get("kind", "unknown"), mime=meta.get("mime", "application/octet-stream"), data=data, meta=meta.get("meta", {}))

    def path(self, artifact_id: str) -> Path:
        data_path, _ = self._paths(artifact_id)
        if not data_path.is_file():
            raise ArtifactNotFound(artifact_id)
        return data_path
