"""The engine's artefact store: content-addressed files under STUDIO_HOME/artifacts.

Outputs are written here by the worker and served by ``GET /artifacts/{id}``; inputs that
the window or CLI upload land here too. Writing is atomic (temp file + rename), so a
crash never leaves a half-written artefact behind a valid id.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from studio.core.artifacts import Artifact, content_id
from studio.core.atomic_files import write_bytes_atomic
from studio.core.errors import StudioError

_ID = re.compile(r"^[0-9a-f]{64}$")


class ArtifactNotFound(KeyError):
    pass


class StorageError(StudioError):
    """The disk refused a write (full, read-only, no permission): the message names the folder."""


class UploadTooLarge(StudioError):
    pass


def storage_message(exc: OSError, folder: Path) -> str:
    """What a user can act on when writing under ``folder`` failed."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding {folder} is full; free some space there (old artefacts live in {folder}) and try again"
    if exc.errno == errno.EROFS:
        return f"{folder} is on a read-only file system; make it writable or set STUDIO_HOME to a writable folder"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write in {folder}; fix its permissions or set STUDIO_HOME to a writable folder"
    return f"cannot write in {folder}: {exc.strerror or exc}"


class Upload:
    """An upload being received: bytes go to a temporary file as they arrive, hashed on the way.

    Nothing is held in memory beyond one chunk, and the size limit is applied while reading,
    so a 600 MB body costs a few MB of RAM and is refused as soon as it passes the limit.
    """

    def __init__(self, store: ArtifactStore, limit: int) -> None:
        self.store = store
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        try:
            incoming = store.root / ".incoming"
            incoming.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=incoming, prefix="upload-", suffix=".part")
        except OSError as exc:
            raise StorageError(storage_message(exc, store.root)) from None
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise UploadTooLarge(f"the upload is larger than the limit of {self.limit // 2**20} MiB")
        self._hash.update(chunk)
        try:
            self._file.write(chunk)
        except OSError as exc:
            raise StorageError(storage_message(exc, self.store.root)) from None

    def commit(self, *, kind: str, mime: str, meta: dict[str, Any] | None = None) -> str:
        """Move the received file into the store under its content id; returns the id."""
        try:
            self._file.close()
            artifact_id = self._hash.hexdigest()
            data_path, meta_path = self.store._paths(artifact_id)
            data_path.parent.mkdir(parents=True, exist_ok=True)
            if data_path.exists():
                self.path.unlink(missing_ok=True)
            else:
                os.replace(self.path, data_path)
            info = {"kind": kind, "mime": mime, "meta": meta or {}, "size": self.size}
            write_bytes_atomic(meta_path, json.dumps(info, sort_keys=True, default=str).encode())
        except OSError as exc:
            self.discard()
            raise StorageError(storage_message(exc, self.store.root)) from None
        return artifact_id

    def discard(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass
        self.path.unlink(missing_ok=True)


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
        try:
            data_path.parent.mkdir(parents=True, exist_ok=True)
            if not data_path.exists():
                write_bytes_atomic(data_path, artifact.data)
            meta = {"kind": artifact.kind, "mime": artifact.mime, "meta": artifact.meta, "size": len(artifact.data)}
            write_bytes_atomic(meta_path, json.dumps(meta, sort_keys=True, default=str).encode())
        except OSError as exc:
            raise StorageError(storage_message(exc, self.root)) from None
        return artifact_id

    def begin_upload(self, limit: int) -> Upload:
        return Upload(self, limit)

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
        return Artifact(
            kind=meta.get("kind", "unknown"), mime=meta.get("mime", "application/octet-stream"), data=data, meta=meta.get("meta", {})
        )

    def path(self, artifact_id: str) -> Path:
        data_path, _ = self._paths(artifact_id)
        if not data_path.is_file():
            raise ArtifactNotFound(artifact_id)
        return data_path
