"""The project file: one SQLite database per project ("SQLite as an application file format").

Why SQLite: every change is a transaction, so a crash or a kill leaves the last committed
state and never a half-written project; the project is one file to move or back up; and
content-addressed artefacts, the history graph and the documents live side by side.

- ``PRAGMA application_id`` marks the file as ours and ``PRAGMA user_version`` is the schema
  version. ``open`` reads both from the raw 100-byte header before SQLite touches the file,
  so a foreign database, a non-database or a project from a newer studio is refused and left
  byte-for-byte unchanged.
- WAL journal with ``synchronous=NORMAL``: a killed process loses nothing it committed; a
  power cut can lose the last transactions but never corrupts the file.
- Generations (history nodes) and artefacts are committed as they happen. The canvas and
  timeline documents are saved when the window saves; between saves the window writes an
  *autosave* (a small ``.studio-autosave`` SQLite file holding only those documents) so a
  crash loses at most the seconds since the last autosave.
- An untitled project is a real project file in a recovery folder given by the caller; "Save
  As" moves it to where the user wants it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.artifacts import Artifact, content_id
from studio.core.errors import ProjectError
from studio.core.project_documents import (
    ARTEFACTS,
    HISTORY,
    TEXT,
    DocumentError,
    ProjectHealth,
    canvas_blob_refs,
    decode_json,
    decode_text,
    timeline_blob_refs,
    validate_document,
    validate_text,
    without_blobs,
)
from studio.core.project_documents import CANVAS as _CANVAS
from studio.core.project_documents import TIMELINE as _TIMELINE
from studio.core.special_files import special_file_kind

APPLICATION_ID = 0x5354444F  # "STDO" in the SQLite header, offset 68
SCHEMA_VERSION = 1
PROJECT_SUFFIX = ".studio"
AUTOSAVE_SUFFIX = ".studio-autosave"
_SQLITE_MAGIC = b"SQLite format 3\x00"
TEXT_KEY = "text_panel"  # the text panel's document lives in ``kv`` (files from before it was a part)

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE blobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL
);
CREATE TABLE nodes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    generator TEXT NOT NULL DEFAULT '',
    starred INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX nodes_by_generator ON nodes(generator);
CREATE TABLE node_parents (
    node_id TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (node_id, position)
);
CREATE INDEX node_parents_by_parent ON node_parents(parent_id);
CREATE TABLE documents (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


# --------------------------------------------------------------------------- file checks


def _sidecars(path: Path) -> list[Path]:
    return [path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


class ProjectConflictError(ProjectError):
    """Someone else saved the project since this copy was loaded (optimistic concurrency).

    ``base_revision`` is the revision this writer loaded, ``current_revision`` the one on
    disk now. The caller decides: save as a copy, reload, or overwrite (``force=True``).
    """

    def __init__(self, path: Path, base_revision: int, current_revision: int) -> None:
        self.path, self.base_revision, self.current_revision = Path(path), base_revision, current_revision
        super().__init__(
            f"{path}: saved elsewhere since it was opened here (revision {current_revision} on disk, "
            f"{base_revision} when opened); save as a copy, reload it, or overwrite the other save"
        )


class ProjectDamagedError(ProjectError):
    """A save would write a damaged part (never allowed without ``replace_damaged``)."""

    def __init__(self, path: Path, parts: list[str], health: ProjectHealth | None = None) -> None:
        self.path, self.parts, self.health = Path(path), list(parts), health
        names = " and ".join(f"the {part}" for part in parts)
        super().__init__(
            f"{path}: {names} {'is' if len(parts) == 1 else 'are'} damaged in the file and {'was' if len(parts) == 1 else 'were'} "
            "not written back; save to a new file, or save only the intact parts"
        )


class ProjectWriteError(ProjectError):
    """The disk is full or read-only: the message names the folder and what to free or do.

    ``reason`` is ``"full"`` or ``"readonly"`` (or ``"io"``); nothing was changed.
    """

    def __init__(self, path: Path, reason: str, message: str) -> None:
        self.path, self.reason, self.folder = Path(path), reason, Path(path).parent
        super().__init__(message)


_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_READONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}


def _megabytes(size: int) -> str:
    return f"{max(1, -(-size // (1024 * 1024)))} MB"


def write_error(path: str | os.PathLike[str], exc: BaseException, *, needed: int = 0, what: str = "save") -> ProjectWriteError:
    """Turn an ``OSError`` / ``sqlite3.Error`` from a write into a message a user can act on."""
    path = Path(path)
    folder = path.parent.resolve() if path.parent.exists() else path.parent
    text = str(exc).lower()
    code = getattr(exc, "errno", None)
    if code in _FULL_ERRNOS or "disk is full" in text or "no space" in text or "database or disk is full" in text:
        need = f"at least {_megabytes(needed)}" if needed else "some space"
        return ProjectWriteError(
            path,
            "full",
            f"Cannot {what} {path.name}: the disk holding {folder} is full. Free {need} there "
            f"(or choose a folder on another disk); nothing in the project was changed.",
        )
    if code in _READONLY_ERRNOS or "readonly" in text or "read-only" in text or "unable to open database" in text:
        return ProjectWriteError(
            path,
            "readonly",
            f"Cannot {what} {path.name}: {folder} is read-only or not writable for you. "
            f"Save the project to a folder you can write to (File ▸ Save As); nothing in the project was changed.",
        )
    return ProjectWriteError(path, "io", f"Cannot {what} {path.name} in {folder}: {exc}; nothing in the project was changed.")


def _free_bytes(folder: Path) -> int:
    try:
        info = os.statvfs(folder)
    except OSError:
        return 1 << 62
    return info.f_bavail * info.f_frsize


def _open_failure(path: Path, exc: BaseException, *, readonly: bool) -> ProjectError:
    """Why SQLite could not open a project: damage, or a full / read-only disk (not damage)."""
    text = str(exc)
    damaged = "malformed" in text or "not a database" in text
    if not damaged and ("disk I/O error" in text or "unable to open" in text or "readonly" in text):
        if _free_bytes(path.parent) < 256 * 1024:
            # SQLite says "disk I/O error" when it cannot make its -shm on a full disk.
            return write_error(path, OSError(errno.ENOSPC, "no space"), needed=256 * 1024, what="open")
        if not project_is_writable(path):
            return write_error(path, OSError(errno.EROFS, "read-only"), what="open")
    problem = "the project file is damaged" if damaged else "cannot be opened"
    return ProjectError(f"{path}: {problem} ({exc})")


def project_is_writable(path: str | os.PathLike[str]) -> bool:
    """Whether both the file and its folder (where SQLite puts its -wal and -shm) can be written."""
    path = Path(path)
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def check_project_header(path: str | os.PathLike[str]) -> int:
    """The schema version of a Studio project, read from the raw header; never writes.

    Raises ``ProjectError`` naming the file and the problem for a missing file, a special
    file (folder, FIFO, device, socket: refused at once, a FIFO would block a reader for
    good), a non-SQLite file, a foreign SQLite database or a project from a newer studio.
    """
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO never waits for a writer; fstat then says what it is.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such project file") from None
    except IsADirectoryError:
        raise ProjectError(f"{path}: is a folder, not a project file") from None
    except OSError as exc:
        raise ProjectError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        kind = special_file_kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise ProjectError(f"{path}: is {kind}, not a project file")
        os.set_blocking(fd, True)
        header = os.read(fd, 100)
    except ProjectError:
        raise
    except OSError as exc:
        raise ProjectError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise ProjectError(f"{path}: not a Studio project (not an SQLite database)")
    user_version = int.from_bytes(header[60:64], "big", signed=True)
    application_id = int.from_bytes(header[68:72], "big", signed=True)
    if application_id != APPLICATION_ID:
        raise ProjectError(f"{path}: not a Studio project (an SQLite database of another application, application_id {application_id:#x})")
    if user_version > SCHEMA_VERSION:
        raise ProjectError(
            f"{path}: written by a newer Studio (project format {user_version}; this version "
            f"reads up to {SCHEMA_VERSION}); update Studio to open it"
        )
    if user_version < 1:
        raise ProjectError(f"{path}: not a complete Studio project (no schema version)")
    return user_version


def autosave_path_for(path: str | os.PathLike[str], recovery_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the autosave of the project at ``path`` lives.

    Next to the project (``song.studio`` → ``song.studio-autosave``) by default; inside
    ``recovery_dir`` when given, with a hash of the project's absolute path in the name so
    that two ``song.studio`` in different folders do not share one.
    """
    path = Path(path)
    stem = path.name[: -len(PROJECT_SUFFIX)] if path.name.endswith(PROJECT_SUFFIX) else path.name
    if recovery_dir is None:
        return path.with_name(stem + AUTOSAVE_SUFFIX)
    digest = hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:12]
    return Path(recovery_dir) / f"{stem}-{digest}{AUTOSAVE_SUFFIX}"


def list_recoverable(recovery_dir: str | os.PathLike[str]) -> list[Path]:
    """Untitled projects and autosaves left in ``recovery_dir`` (newest first).

    A clean session removes both (``discard`` / ``discard_autosave``), so anything listed
    here is work a crash left behind, for the window to offer at start-up.
    """
    folder = Path(recovery_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_file() and p.name.endswith((PROJECT_SUFFIX, AUTOSAVE_SUFFIX))]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _remove_files(path: Path) -> None:
    for item in [path, *_sidecars(path)]:
        item.unlink(missing_ok=True)


def _plain(raw: Any) -> str:
    """A short stored string (a blob's kind or mime); damaged bytes become replacement characters."""
    return bytes(raw).decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray, memoryview)) else str(raw)


def _meta_dict(raw: Any) -> dict[str, Any]:
    """A blob's metadata; damaged metadata reads as none (the bytes are what count)."""
    try:
        value = decode_json(raw if raw is not None else b"{}", "metadata")
    except DocumentError:
        return {}
    return value if isinstance(value, dict) else {}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _new_database(path: Path, meta: Mapping[str, Any], documents: Mapping[str, Any] | None = None, *, encoded: bool = False) -> None:
    """Write a complete, empty-schema database at ``path`` in one transaction (rollback journal).

    ``encoded``: the documents are already JSON text."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", [(k, _dumps(v)) for k, v in meta.items()])
        for name, doc in (documents or {}).items():
            conn.execute("INSERT INTO documents(name, data) VALUES (?, ?)", (name, doc if encoded else _dumps(doc)))
        conn.execute("COMMIT")
    finally:
        conn.close()


def _write_atomically(target: Path, build: Any, *, needed: int = 0, what: str = "save") -> None:
    """Build a database in a temporary file beside ``target`` and move it into place.

    A full or read-only disk ends in a ``ProjectWriteError`` naming the folder; the target
    is then exactly as it was (the half-built temporary file is removed).
    """
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        build(tmp)
        for sidecar in _sidecars(target):
            # A stale -wal beside the target would be replayed into the new file.
            sidecar.unlink(missing_ok=True)
        os.replace(tmp, target)
    except ProjectWriteError:
        raise
    except ProjectError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, (OSError, sqlite3.Error)):
            raise write_error(target, cause, needed=needed, what=what) from None
        raise
    except (OSError, sqlite3.Error) as exc:
        raise write_error(target, exc, needed=needed, what=what) from None
    finally:
        try:
            _remove_files(tmp)
        except OSError:
            pass


# --------------------------------------------------------------------------- autosave


@dataclass(frozen=True)
class Autosave:
    """The unsaved documents of a project, as the last autosave left them."""

    path: Path
    project_path: Path
    project_id: str
    saved_at: float
    base_revision: int
    documents: dict[str, Any]

    @property
    def canvas(self) -> Any:
        return self.documents.get(_CANVAS)

    @property
    def timeline(self) -> Any:
        return self.documents.get(_TIMELINE)

    @property
    def text(self) -> str | None:
        return self.documents.get(TEXT)


def read_autosave(path: str | os.PathLike[str]) -> Autosave:
    """Read an autosave file (refusing anything else, like ``open``)."""
    path = Path(path)
    check_project_header(path)
    conn = _connect_readonly(path)
    try:
        meta = {k: decode_json(v, f"meta {k}") for k, v in conn.execute("SELECT key, CAST(value AS BLOB) FROM meta")}
        raw_docs = {k: decode_json(v, k) for k, v in conn.execute("SELECT name, CAST(data AS BLOB) FROM documents")}
    except (sqlite3.Error, ValueError) as exc:
        raise ProjectError(f"{path}: unreadable autosave ({exc})") from None
    finally:
        conn.close()
    docs: dict[str, Any] = {}
    for name, doc in raw_docs.items():
        # A damaged document in an autosave is left out: recovery must not bring damage in.
        try:
            docs[name] = validate_text(doc) if name == TEXT else validate_document(name, doc) if name in (_CANVAS, _TIMELINE) else doc
        except DocumentError:
            continue
    if meta.get("kind") != "autosave":
        raise ProjectError(f"{path}: not an autosave file")
    try:
        return Autosave(
            path=path,
            project_path=Path(str(meta.get("autosave_of", ""))),
            project_id=str(meta.get("project_id", "")),
            saved_at=float(meta.get("saved_at", 0.0)),
            base_revision=int(meta.get("base_revision", 0)),
            documents=docs,
        )
    except (TypeError, ValueError) as exc:
        raise ProjectError(f"{path}: unreadable autosave ({exc})") from None


def _connect_readonly(path: Path) -> sqlite3.Connection:
    # Without a -wal beside it the file is fully checkpointed: "immutable" reads it with no
    # locks and no -shm/-wal litter. With one, a writer may be live, so read through WAL.
    wal = _sidecars(path)[0]
    # An empty -wal (left by a writer that could not make its -shm on a full disk) holds nothing.
    has_wal = wal.exists() and wal.stat().st_size > 0
    uri = path.resolve().as_uri() + ("?mode=ro" if has_wal else "?mode=ro&immutable=1")
    try:
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise ProjectError(f"{path}: cannot be opened ({exc})") from None


# --------------------------------------------------------------------------- the store


class ProjectStore:
    """One open project file. Thread-safe; every write is a transaction."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, readonly: bool, recovery_dir: Path | None) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = conn
        self._readonly = readonly
        self._lock = threading.RLock()
        self._depth = 0
        self.recovery_dir = recovery_dir
        # Set by ``check()``: the document parts found damaged, which ``save_documents``
        # never writes back (unless told to replace them).
        self.health: ProjectHealth | None = None
        self.protected: set[str] = set()

    # ---- opening and closing

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        recovery_dir: str | os.PathLike[str] | None = None,
        _untitled: bool = False,
    ) -> ProjectStore:
        """Create a new, empty project at ``path`` (atomically) and open it."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise ProjectError(f"{path}: already exists; choose another name or allow overwriting")
        meta = {
            "kind": "project",
            "project_id": uuid.uuid4().hex,
            "created_at": time.time(),
            "doc_revision": 0,
            "untitled": _untitled,
        }
        _write_atomically(path, lambda tmp: _new_database(tmp, meta))
        return cls.open(path, recovery_dir=recovery_dir)

    @classmethod
    def create_untitled(cls, recovery_dir: str | os.PathLike[str]) -> ProjectStore:
        """A new project with no name yet, persisted in ``recovery_dir`` from the first change."""
        folder = Path(recovery_dir)
        path = folder / f"untitled-{uuid.uuid4().hex[:12]}{PROJECT_SUFFIX}"
        return cls.create(path, recovery_dir=folder, _untitled=True)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        recovery_dir: str | os.PathLike[str] | None = None,
    ) -> ProjectStore:
        """Open an existing project, refusing anything that is not one (file left untouched)."""
        path = Path(path)
        check_project_header(path)
        conn: sqlite3.Connection
        if readonly:
            conn = _connect_readonly(path)
        else:
            opened: sqlite3.Connection | None = None
            try:
                conn = opened = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout = 5000")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                conn.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.Error as exc:
                if opened is not None:
                    opened.close()
                raise _open_failure(path, exc, readonly=False) from None
            if str(mode).lower() != "wal":
                conn.close()
                raise ProjectError(f"{path}: cannot switch the project to WAL journaling (got {mode})")
        store = cls(path, conn, readonly=readonly, recovery_dir=Path(recovery_dir) if recovery_dir else None)
        try:
            # The header was checked before; the WAL may still hold a newer header page.
            version = store._scalar("PRAGMA user_version")
            app_id = store._scalar("PRAGMA application_id")
            if app_id != APPLICATION_ID or not 1 <= version <= SCHEMA_VERSION:
                raise ProjectError(f"{path}: not a Studio project this version can open (format {version})")
            # Without a readable meta table nothing is known about the project (id, revision,
            # untitled): refuse. Every other table is a part that ``check()`` reports on its own.
            store._query("SELECT key, value FROM meta")
            _ = store.project_id  # decodes meta: a damaged one fails here, not in the window
        except (ProjectError, ValueError) as exc:
            conn.close()
            failure = _open_failure(path, exc, readonly=readonly)
            if isinstance(failure, ProjectWriteError):
                raise failure from None
            raise ProjectError(f"{path}: the project file is damaged (its meta table cannot be read: {exc})") from None
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        """Close the file; a clean close checkpoints the WAL and removes its side files."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> ProjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def closed(self) -> bool:
        return self._conn is None

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def is_untitled(self) -> bool:
        return bool(self.get_meta("untitled", False))

    @property
    def schema_version(self) -> int:
        return int(self._scalar("PRAGMA user_version"))

    @property
    def project_id(self) -> str:
        return str(self.get_meta("project_id", ""))

    # ---- plumbing

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ProjectError(f"{self._path}: the project is closed")
        return self._conn

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection().execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise ProjectError(f"{self._path}: cannot read the project ({exc})") from None

    def _query_part(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """``_query`` for a part's table that may be missing in a damaged file (``check()``
        reports it): reads as empty instead of failing every view that asks."""
        with self._lock:
            try:
                return self._connection().execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise ProjectError(f"{self._path}: cannot read the project ({exc})") from None
            except sqlite3.Error as exc:
                raise ProjectError(f"{self._path}: cannot read the project ({exc})") from None

    def _scalar(self, sql: str, args: tuple[Any, ...] = ()) -> Any:
        rows = self._query(sql, args)
        return rows[0][0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes inside happen together or not at all.

        Nested transactions are savepoints: an inner block that fails is undone on its own
        and the outer one may carry on; only the outermost block commits.
        """
        with self._lock:
            conn = self._connection()
            if self._readonly:
                raise ProjectError(f"{self._path}: opened read-only; save it under another name or folder (File ▸ Save As) to keep changes")
            savepoint = f"sp{self._depth}"
            begin, commit, undo = (
                ("BEGIN IMMEDIATE", "COMMIT", ("ROLLBACK",))
                if self._depth == 0
                else (f"SAVEPOINT {savepoint}", f"RELEASE {savepoint}", (f"ROLLBACK TO {savepoint}", f"RELEASE {savepoint}"))
            )
            try:
                conn.execute(begin)
            except sqlite3.Error as exc:
                raise self._write_failure(exc) from None
            self._depth += 1
            try:
                yield conn
                conn.execute(commit)
            except BaseException as exc:
                if conn.in_transaction:
                    for statement in undo:
                        try:
                            conn.execute(statement)
                        except sqlite3.Error:
                            break  # SQLite rolled back on its own (a full disk does that)
                if isinstance(exc, sqlite3.Error):
                    raise self._write_failure(exc) from None
                raise
            finally:
                self._depth -= 1

    def _write_failure(self, exc: sqlite3.Error) -> ProjectError:
        failure = write_error(self._path, exc, needed=self._pending_bytes)
        if failure.reason in ("full", "readonly"):
            return failure
        return ProjectError(f"{self._path}: cannot write the project ({exc})")

    _pending_bytes = 0  # size of the write in flight, for "free at least … MB"

    # ---- meta and settings

    def _get_json(self, table: str, what: str, key: str, default: Any) -> Any:
        """One JSON value of the ``meta`` or ``kv`` table (``table`` is ours, never the caller's)."""
        row = self._query(f"SELECT CAST(value AS BLOB) FROM {table} WHERE key = ?", (key,))
        if not row:
            return default
        try:
            return decode_json(row[0][0], f"{what} {key!r}")
        except DocumentError as exc:
            raise ProjectError(f"{self._path}: the project file is damaged ({exc})") from None

    def get_meta(self, key: str, default: Any = None) -> Any:
        return self._get_json("meta", "meta", key, default)

    def _set_meta(self, conn: sqlite3.Connection, key: str, value: Any) -> None:
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, _dumps(value)))

    def get_setting(self, key: str, default: Any = None) -> Any:
        return self._get_json("kv", "setting", key, default)

    def set_setting(self, key: str, value: Any) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)", (key, _dumps(value)))

    def settings(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in self._query("SELECT CAST(key AS BLOB), CAST(value AS BLOB) FROM kv ORDER BY key"):
            try:
                found[decode_text(key, "a setting's name")] = decode_json(value, "a setting")
            except DocumentError:
                continue  # a damaged setting is skipped, and left in the file
        return found

    # ---- blobs (content-addressed artefacts)

    def put_blob(self, data: bytes, kind: str, mime: str, meta: Mapping[str, Any] | None = None) -> str:
        """Store bytes under their SHA-256; storing the same bytes again is free. Returns the id."""
        blob_id = content_id(bytes(data))
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO blobs(id, kind, mime, size, data, meta, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (blob_id, kind, mime, len(data), sqlite3.Binary(bytes(data)), _dumps(dict(meta or {})), time.time()),
            )
        return blob_id

    def put_artifact(self, artifact: Artifact) -> str:
        return self.put_blob(artifact.data, artifact.kind, artifact.mime, artifact.meta)

    def has_blob(self, blob_id: str) -> bool:
        return bool(self._query_part("SELECT 1 FROM blobs WHERE id = ?", (blob_id,)))

    def _checked(self, blob_id: str, data: bytes) -> bytes:
        # The id is the content hash, so damage inside a blob is caught here, not in a decoder.
        if content_id(data) != blob_id:
            raise ProjectError(f"{self._path}: artefact {blob_id[:12]} is damaged (its bytes no longer match its hash)")
        return data

    def get_blob(self, blob_id: str) -> bytes:
        """The bytes of a blob; ``KeyError`` when the project has none with that id."""
        rows = self._query("SELECT data FROM blobs WHERE id = ?", (blob_id,))
        if not rows:
            raise KeyError(blob_id)
        return self._checked(blob_id, bytes(rows[0][0]))

    def get_artifact(self, blob_id: str) -> Artifact:
        rows = self._query("SELECT CAST(kind AS BLOB), CAST(mime AS BLOB), data, CAST(meta AS BLOB) FROM blobs WHERE id = ?", (blob_id,))
        if not rows:
            raise KeyError(blob_id)
        kind, mime, data, meta = rows[0]
        return Artifact(kind=_plain(kind), mime=_plain(mime), data=self._checked(blob_id, bytes(data)), meta=_meta_dict(meta))

    def blob_info(self, blob_id: str) -> dict[str, Any]:
        rows = self._query("SELECT CAST(kind AS BLOB), CAST(mime AS BLOB), size, CAST(meta AS BLOB) FROM blobs WHERE id = ?", (blob_id,))
        if not rows:
            raise KeyError(blob_id)
        kind, mime, size, meta = rows[0]
        return {"id": blob_id, "kind": _plain(kind), "mime": _plain(mime), "size": size, "meta": _meta_dict(meta)}

    def blob_ids(self) -> list[str]:
        return [row[0] for row in self._query_part("SELECT id FROM blobs ORDER BY created, id")]

    def delete_blob(self, blob_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM blobs WHERE id = ?", (blob_id,))

    # ---- history nodes (plain JSON dicts; studio.core.history gives them a type)

    @staticmethod
    def _node_row(node: Mapping[str, Any]) -> tuple[str, list[str], str, int, str]:
        node_id = node.get("id")
        if not isinstance(node_id, str) or not node_id:
            raise ValueError("a history node needs a non-empty string 'id'")
        parents = [str(p) for p in node.get("parents") or []]
        return node_id, parents, str(node.get("generator") or ""), int(bool(node.get("starred"))), _dumps(dict(node))

    def _write_parents(self, conn: sqlite3.Connection, node_id: str, parents: list[str]) -> None:
        conn.execute("DELETE FROM node_parents WHERE node_id = ?", (node_id,))
        conn.executemany(
            "INSERT INTO node_parents(node_id, parent_id, position) VALUES (?, ?, ?)",
            [(node_id, parent, index) for index, parent in enumerate(parents)],
        )

    def add_node(self, node: Mapping[str, Any], *, seq: int | None = None) -> int:
        """Record a node (a JSON-able dict with ``id`` and ``parents``); returns its sequence number.

        ``seq`` puts a node back at its old place in the order (undo of a delete).
        """
        node_id, parents, generator, starred, data = self._node_row(node)
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM nodes WHERE id = ?", (node_id,)).fetchone():
                raise ProjectError(f"{self._path}: history node {node_id} already exists")
            cursor = conn.execute(
                "INSERT INTO nodes(seq, id, generator, starred, data) VALUES (?, ?, ?, ?, ?)",
                (seq, node_id, generator, starred, data),
            )
            self._write_parents(conn, node_id, parents)
            return int(cursor.lastrowid or 0)

    def update_node(self, node: Mapping[str, Any]) -> None:
        """Replace a stored node's data (``KeyError`` when it is not stored)."""
        node_id, parents, generator, starred, data = self._node_row(node)
        with self.transaction() as conn:
            cursor = conn.execute("UPDATE nodes SET generator = ?, starred = ?, data = ? WHERE id = ?", (generator, starred, data, node_id))
            if cursor.rowcount == 0:
                raise KeyError(node_id)
            self._write_parents(conn, node_id, parents)

    def delete_node(self, node_id: str) -> dict[str, Any]:
        """Remove a node (not its children or blobs); returns what was stored, with ``seq``."""
        with self.transaction() as conn:
            row = conn.execute("SELECT seq, data FROM nodes WHERE id = ?", (node_id,)).fetchone()
            if row is None:
                raise KeyError(node_id)
            conn.execute("DELETE FROM nodes WHERE id = ?", (node_id,))
            conn.execute("DELETE FROM node_parents WHERE node_id = ?", (node_id,))
        return {"seq": row[0], "node": json.loads(row[1])}

    @staticmethod
    def _decode_node(raw: bytes) -> dict[str, Any] | None:
        """A stored node, or None for a damaged row (reported by ``check()``, kept in the file)."""
        try:
            return validate_document(HISTORY, decode_json(raw, "node"))
        except DocumentError:
            return None

    def get_node(self, node_id: str) -> dict[str, Any] | None:
        row = self._query_part("SELECT CAST(data AS BLOB) FROM nodes WHERE id = ?", (node_id,))
        return self._decode_node(row[0][0]) if row else None

    def node_seq(self, node_id: str) -> int | None:
        rows = self._query_part("SELECT seq FROM nodes WHERE id = ?", (node_id,))
        return rows[0][0] if rows else None

    def nodes(self, *, generator: str | None = None, starred: bool | None = None) -> list[dict[str, Any]]:
        """Stored nodes in the order they were recorded, optionally filtered."""
        sql, args = "SELECT CAST(data AS BLOB) FROM nodes WHERE 1=1", list[Any]()
        if generator is not None:
            sql += " AND generator = ?"
            args.append(generator)
        if starred is not None:
            sql += " AND starred = ?"
            args.append(int(starred))
        decoded = (self._decode_node(row[0]) for row in self._query_part(sql + " ORDER BY seq", tuple(args)))
        return [node for node in decoded if node is not None]

    def child_ids(self, node_id: str) -> list[str]:
        rows = self._query_part(
            "SELECT n.id FROM node_parents p JOIN nodes n ON n.id = p.node_id WHERE p.parent_id = ? ORDER BY n.seq",
            (node_id,),
        )
        return [row[0] for row in rows]

    def node_count(self) -> int:
        rows = self._query_part("SELECT count(*) FROM nodes")
        return int(rows[0][0]) if rows else 0

    def blob_count(self) -> int:
        rows = self._query_part("SELECT count(*) FROM blobs")
        return int(rows[0][0]) if rows else 0

    # ---- documents

    @property
    def revision(self) -> int:
        """The documents' revision: +1 on every save, for optimistic concurrency between writers."""
        try:
            return int(self.get_meta("doc_revision", 0))
        except (TypeError, ValueError):
            return 0

    def _raw_document(self, name: str) -> bytes | None:
        row = self._query("SELECT CAST(data AS BLOB) FROM documents WHERE name = ?", (name,))
        return bytes(row[0][0]) if row else None

    def _load_document(self, name: str) -> Any:
        raw = self._raw_document(name)
        if raw is None:
            return None
        try:
            return validate_document(name, decode_json(raw, f"the {name}"))
        except DocumentError as exc:
            raise ProjectError(f"the {name} in {self._path.name} is damaged ({exc})") from None

    def _write_document(self, conn: sqlite3.Connection, name: str, doc: Any) -> None:
        if name == TEXT:
            conn.execute("INSERT OR REPLACE INTO kv(key, value) VALUES (?, ?)", (TEXT_KEY, _dumps(str(doc or ""))))
        else:
            conn.execute("INSERT OR REPLACE INTO documents(name, data) VALUES (?, ?)", (name, _dumps(doc)))

    def _bump_revision(self, conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT value FROM meta WHERE key = 'doc_revision'").fetchone()
        try:
            revision = int(json.loads(row[0])) + 1 if row else 1
        except (TypeError, ValueError):
            revision = 1
        self._set_meta(conn, "doc_revision", revision)
        return revision

    def _save_document(self, name: str, doc: Any) -> None:
        self.save_documents({name: doc})

    def save_documents(
        self,
        documents: Mapping[str, Any],
        *,
        base_revision: int | None = None,
        force: bool = False,
        replace_damaged: bool = False,
    ) -> int:
        """Write the given documents (``canvas``, ``timeline``, ``text``) in one transaction.

        - ``base_revision``: the revision the writer loaded. When the file has moved on (another
          window or machine saved meanwhile) a ``ProjectConflictError`` carries both revisions
          and nothing is written, unless ``force`` (the user chose to overwrite).
        - A part ``check()`` found damaged is never written (``ProjectDamagedError``) unless
          ``replace_damaged``: saving only the intact parts means leaving it out.

        Returns the new revision.
        """
        unknown = set(documents) - {_CANVAS, _TIMELINE, TEXT}
        if unknown:
            raise ValueError(f"not a project document: {', '.join(sorted(unknown))}")
        blocked = [name for name in documents if name in self.protected]
        if blocked and not replace_damaged:
            raise ProjectDamagedError(self._path, blocked, self.health)
        encoded = {name: _dumps(doc) for name, doc in documents.items()}
        self._pending_bytes = sum(len(text.encode("utf-8")) for text in encoded.values()) * 2
        try:
            with self.transaction() as conn:
                if base_revision is not None and not force:
                    row = conn.execute("SELECT value FROM meta WHERE key = 'doc_revision'").fetchone()
                    current = int(json.loads(row[0])) if row else 0
                    if current != base_revision:
                        raise ProjectConflictError(self._path, base_revision, current)
                for name, doc in documents.items():
                    self._write_document(conn, name, doc)
                revision = self._bump_revision(conn)
        finally:
            self._pending_bytes = 0
        self.protected -= set(documents)
        return revision

    def save_canvas(self, doc: Any) -> None:
        self.save_documents({_CANVAS: doc})

    def load_canvas(self) -> Any:
        """The saved canvas document, or None for a project that never saved one.

        A damaged one (bad UTF-8 or JSON, wrong types) is a ``ProjectError`` saying so.
        """
        return self._load_document(_CANVAS)

    def save_timeline(self, doc: Any) -> None:
        self.save_documents({_TIMELINE: doc})

    def load_timeline(self) -> Any:
        return self._load_document(_TIMELINE)

    def load_text(self) -> str:
        row = self._query("SELECT CAST(value AS BLOB) FROM kv WHERE key = ?", (TEXT_KEY,))
        if not row:
            return ""
        try:
            return validate_text(decode_json(row[0][0], "the text"))
        except DocumentError as exc:
            raise ProjectError(f"the text in {self._path.name} is damaged ({exc})") from None

    def save_text(self, text: str) -> None:
        self.save_documents({TEXT: text})

    # ---- checking every part

    def check(self) -> ProjectHealth:  # noqa: C901
        """Read and validate every part; what is damaged is reported, never raised.

        Each part is read on its own, so a missing table or one bad row costs only its part.
        The canvas and timeline come back as far as they can be shown: without layers and
        clips whose artefact is damaged or missing (the stored document keeps them, and is
        then reported damaged, so that Save never writes the shortened one back).
        Damaged document parts become ``protected``.
        """
        health = ProjectHealth(self._path.name)
        # Artefacts: every blob's bytes against its hash (its id).
        present: set[str] = set()
        try:
            with self._lock:
                cursor = self._connection().execute("SELECT id, size, data FROM blobs")
                for blob_id, size, data in cursor:
                    present.add(str(blob_id))
                    data = bytes(data) if data is not None else b""
                    if content_id(data) != blob_id or (size is not None and size != len(data)):
                        health.damaged_blobs.add(str(blob_id))
        except sqlite3.Error as exc:
            health.add(ARTEFACTS, f"the artefact table cannot be read ({exc})")
        if health.damaged_blobs:
            shown = ", ".join(sorted(blob[:12] for blob in health.damaged_blobs)[:3])
            health.add(ARTEFACTS, f"{len(health.damaged_blobs)} of {len(present)} artefacts no longer match their hash ({shown})")
        # Canvas and timeline documents.
        for name, refs in ((_CANVAS, canvas_blob_refs), (_TIMELINE, timeline_blob_refs)):
            try:
                raw = self._raw_document(name)
                value = None if raw is None else validate_document(name, decode_json(raw, f"the {name}"))
            except ProjectError as exc:
                health.add(name, f"the documents table cannot be read ({str(exc).rsplit('(', 1)[-1].rstrip(')')})")
                continue
            except DocumentError as exc:
                health.add(name, str(exc))
                continue
            bad: set[str] = set()
            for label, blob in refs(value).items():
                if blob in health.damaged_blobs:
                    health.add(name, f"“{label}”: its artefact {blob[:12]} is damaged")
                elif blob not in present:
                    health.add(name, f"“{label}”: its artefact {blob[:12]} is missing from the file")
                else:
                    continue
                bad.add(blob)
            setattr(health, name, without_blobs(name, value, bad))
        # Text.
        try:
            health.text = self.load_text()
        except ProjectError as exc:
            health.add(TEXT, str(exc).split("damaged (", 1)[-1].rstrip(")") if "damaged (" in str(exc) else str(exc))
        # History: every row on its own.
        try:
            rows = self._query("SELECT seq, CAST(data AS BLOB) FROM nodes ORDER BY seq")
            self._query("SELECT count(*) FROM node_parents")
        except ProjectError as exc:
            health.add(HISTORY, f"the history table cannot be read ({str(exc).rsplit('(', 1)[-1].rstrip(')')})")
            rows = []
        first_problem = ""
        for seq, raw in rows:
            try:
                validate_document(HISTORY, decode_json(raw, f"generation #{seq}"))
            except DocumentError as exc:
                health.bad_node_rows += 1
                first_problem = first_problem or f"generation #{seq}: {exc}"
        if health.bad_node_rows:
            health.add(HISTORY, f"{health.bad_node_rows} of {len(rows)} generations cannot be read ({first_problem})")
        self.health = health
        self.protected = {part for part in (_CANVAS, _TIMELINE, TEXT) if part in health.problems}
        return health

    # ---- copies

    def _backup_into(self, tmp: Path, untitled: bool) -> None:
        with self._lock:
            if self._depth:
                raise ProjectError(f"{self._path}: cannot copy the project inside a transaction")
            dest = sqlite3.connect(tmp, isolation_level=None)
            try:
                self._connection().backup(dest)
                dest.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('untitled', ?)", (_dumps(untitled),))
            except sqlite3.Error as exc:
                raise ProjectError(f"{tmp}: cannot write a copy of {self._path} ({exc})") from None
            finally:
                dest.close()  # the last close checkpoints the copy's WAL into the file

    def save_copy(self, path: str | os.PathLike[str]) -> Path:
        """Write a consistent copy of the project to ``path`` (atomically); keep editing this one."""
        target = Path(path)
        try:
            needed = self._path.stat().st_size
        except OSError:
            needed = 0
        _write_atomically(target, lambda tmp: self._backup_into(tmp, untitled=False), needed=needed)
        return target

    def save_as(self, path: str | os.PathLike[str]) -> Path:
        """Copy the project to ``path`` and continue in the copy ("Save As").

        An untitled project's file in the recovery folder (and its autosave) is removed once
        the copy is safely in place.
        """
        target = Path(path)
        with self._lock:
            if target.resolve() == self._path.resolve():
                return target
            was_untitled, old_path, old_autosave = self.is_untitled, self._path, self.autosave_path
            self.save_copy(target)
            reopened = ProjectStore.open(target, recovery_dir=self.recovery_dir)
            self.close()
            self._conn, self._path, self._readonly = reopened._conn, target, False
            reopened._conn = None
            if was_untitled:
                _remove_files(old_path)
                old_autosave.unlink(missing_ok=True)
        return target

    def discard(self) -> None:
        """Close and delete an untitled project and its autosave (the user chose not to keep it)."""
        if not self.is_untitled:
            raise ProjectError(f"{self._path}: only an untitled project can be discarded")
        autosave = self.autosave_path
        self.close()
        _remove_files(self._path)
        autosave.unlink(missing_ok=True)

    def integrity_problems(self) -> list[str]:
        """SQLite's ``integrity_check`` findings; an empty list means the file is sound."""
        rows = [row[0] for row in self._query("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows

    # ---- autosave

    @property
    def autosave_path(self) -> Path:
        return autosave_path_for(self._path, self.recovery_dir)

    def write_autosave(self, *, canvas: Any = None, timeline: Any = None, text: str | None = None) -> Path:
        """Snapshot the window's unsaved documents beside the project (atomically).

        Generations and artefacts need no autosave: they are committed as they happen. The
        project file itself is never written here. A full or read-only disk is a
        ``ProjectWriteError`` naming the recovery folder; the previous autosave stays.
        """
        return self.autosave_writer(canvas=canvas, timeline=timeline, text=text)()

    def autosave_writer(self, *, canvas: Any = None, timeline: Any = None, text: str | None = None) -> Callable[[], Path]:
        """``write_autosave`` in two halves: what needs this store's connection is read now,
        and the returned call writes the file, on any thread (it opens its own connection),
        so the window can autosave without stalling its event loop."""
        documents = {name: doc for name, doc in ((_CANVAS, canvas), (_TIMELINE, timeline), (TEXT, text)) if doc is not None}
        meta = {
            "kind": "autosave",
            "autosave_of": str(self._path.resolve()),
            "project_id": self.project_id,
            "saved_at": time.time(),
            "base_revision": int(self.get_meta("doc_revision", 0)),
        }
        target = self.autosave_path

        # Encoded now: the window goes on editing the documents while the file is written.
        texts = {name: _dumps(doc) for name, doc in documents.items()}

        def write() -> Path:
            needed = 64 * 1024 + sum(len(text.encode("utf-8")) for text in texts.values())
            _write_atomically(target, lambda tmp: _new_database(tmp, meta, texts, encoded=True), needed=needed, what="autosave")
            return target

        return write

    def pending_autosave(self) -> Autosave | None:
        """An autosave newer than the project's saved documents (left by a crash), else None."""
        path = self.autosave_path
        if not path.exists():
            return None
        try:
            autosave = read_autosave(path)
        except ProjectError:
            return None
        if autosave.project_id != self.project_id:
            return None
        if autosave.base_revision < int(self.get_meta("doc_revision", 0)):
            return None  # the documents were saved after this snapshot: it is stale
        return autosave

    def apply_autosave(self, autosave: Autosave) -> None:
        """Make the autosaved documents the project's saved ones, then drop the autosave."""
        documents = {name: doc for name, doc in autosave.documents.items() if name in (_CANVAS, _TIMELINE, TEXT)}
        self.save_documents(documents, replace_damaged=True)
        self.discard_autosave()

    def discard_autosave(self) -> None:
        """Remove the autosave (after a save, or when the user discards the changes).

        One that cannot be removed (read-only recovery folder) is harmless: its base revision
        is older than the saved documents, so ``pending_autosave`` ignores it.
        """
        try:
            self.autosave_path.unlink(missing_ok=True)
        except OSError:
            pass
