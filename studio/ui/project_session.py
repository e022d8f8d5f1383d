"""The open project of one window: its store, its history, autosave and crash recovery.

Generations and artefacts are committed to the project file as they land (the store does
that); the canvas, the timeline and the text are documents the window edits in memory and
writes on Save. Between saves, a change starts a short timer after which the documents are
snapshotted into an autosave beside the project (in ``STUDIO_HOME/recovery``), so a crash
loses at most those few seconds.

An untitled project is a real project file in the recovery folder. Each open project holds
an advisory lock there, so the next start can tell the work a crash left behind (unlocked)
from a project another window still has open (locked).

What is on disk is never worth less after a save than before it:

- Every part is checked on open (``ProjectStore.check``). A damaged part is shown as far as
  it can be read and is read-only: ``save`` refuses to write it back (``ProjectDamagedError``)
  until the user chooses "only the intact parts" or a new file.
- Saves carry the revision this window loaded; a save over someone else's newer save is a
  ``ProjectConflictError`` for the window to ask about (copy / reload / overwrite).
- A project on a read-only disk opens read-only; a failed autosave (full or read-only
  recovery folder) is reported through ``autosave_failed`` and the changes stay in memory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from studio.core.errors import ProjectError

if TYPE_CHECKING:
    from studio.core.history import History
    from studio.core.project_documents import ProjectHealth
    from studio.core.project_store import Autosave, ProjectStore
from studio.ui.background_work import BackgroundWork
from studio.ui.crash_recovery import RecoveryOffer, _Lock, _lock_for, find_recovery  # noqa: F401 (find_recovery: the window imports it from here)

AUTOSAVE_DELAY_MS = 3000
AUTOSAVE_RETRY_MS = 30000  # after a failed autosave (disk full): try again, changes kept in memory
INTACT = "intact"  # save choice: write only the parts that were not damaged


def _load_store() -> None:
    """Import the project store on first use. It (pydantic documents, SQLite) is ~200 ms of
    imports that the window's first frame does not need; the project opens right after."""
    global History, CANVAS, TEXT, TIMELINE, AUTOSAVE_SUFFIX, PROJECT_SUFFIX, ProjectDamagedError, ProjectStore
    global ProjectWriteError, check_project_header, list_recoverable, project_is_writable, read_autosave, write_error
    from studio.core.history import History
    from studio.core.project_documents import CANVAS, TEXT, TIMELINE
    from studio.core.project_store import (
        AUTOSAVE_SUFFIX,
        PROJECT_SUFFIX,
        ProjectDamagedError,
        ProjectStore,
        ProjectWriteError,
        check_project_header,
        list_recoverable,
        project_is_writable,
        read_autosave,
        write_error,
    )


@dataclass
class Documents:
    canvas: Any = None
    timeline: Any = None
    text: str = ""


class ProjectSession(QObject):
    """The window's open project. ``documents()`` is asked for the current canvas/timeline/text."""

    opened = Signal()  # a (different) project is now open: views reload
    dirty_changed = Signal(bool)
    autosaved = Signal(str)  # path of the autosave written
    autosave_failed = Signal(str)  # what went wrong and what to do (for the status bar)
    title_changed = Signal(str)

    def __init__(self, recovery_dir: Path, documents: Callable[[], Documents], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.recovery_dir = Path(recovery_dir)
        try:
            self.recovery_dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # reported when something is first written there
        self._documents = documents
        self.store: ProjectStore | None = None
        self.history: History | None = None
        self._lock: _Lock | None = None
        self.dirty = False
        self.loaded = Documents()  # what the views should show after ``opened``
        self.health: ProjectHealth | None = None  # what ``check`` found on open
        self.base_revision = 0  # the revision of the documents this window loaded or last saved
        self.readonly_reason = ""  # why the project file cannot be written (empty: it can)
        self.save_choice: str | None = None  # INTACT once the user chose it for this damaged project
        self.autosave_error = ""  # the last autosave failure, until an autosave succeeds
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_DELAY_MS)
        self._timer.timeout.connect(self._autosave_in_background)
        self._writes = BackgroundWork("studio-autosave", self)  # autosaves never stall the window

    # ------------------------------------------------------------------ state

    @property
    def path(self) -> Path | None:
        return None if self.store is None else self.store.path

    @property
    def untitled(self) -> bool:
        try:
            return self.store is not None and self.store.is_untitled
        except ProjectError:
            return False

    @property
    def damaged_documents(self) -> list[str]:
        """The canvas / timeline / text parts that were damaged on disk and are not written back."""
        return sorted(self.store.protected) if self.store is not None else []

    @property
    def readonly(self) -> bool:
        return bool(self.readonly_reason)

    @property
    def title(self) -> str:
        if self.store is None:
            return "Studio"
        name = "Untitled" if self.untitled else self.store.path.name
        flags = " [read-only]" if self.readonly else " [damaged]" if self.health is not None and not self.health.ok else ""
        return f"{name}{' *' if self.dirty else ''}{flags} — Studio"

    def mark_changed(self) -> None:
        """A document changed: autosave a few seconds from now."""
        if self.store is None:
            return
        if not self.dirty:
            self.dirty = True
            self.dirty_changed.emit(True)
            self.title_changed.emit(self.title)
        self._timer.start(AUTOSAVE_DELAY_MS)

    def mark_clean(self) -> None:
        self._timer.stop()
        if self.dirty:
            self.dirty = False
            self.dirty_changed.emit(False)
        self.title_changed.emit(self.title)

    # ------------------------------------------------------------------ opening

    def _adopt(
        self, store: ProjectStore, documents: Documents, *, dirty: bool, health: ProjectHealth | None = None, readonly_reason: str = ""
    ) -> None:
        _load_store()
        lock = _lock_for(self.recovery_dir, store.autosave_path.name)
        try:
            acquired = lock.acquire()
        except ProjectError:
            store.close()
            raise
        if not acquired:
            store.close()
            raise ProjectError(f"{store.path}: already open in another Studio window")
        self._release()
        self.store = store
        self.history = History(store)
        self._lock = lock
        self.loaded = documents
        self.health = health
        self.base_revision = store.revision
        self.readonly_reason = readonly_reason
        self.save_choice = None
        self.autosave_error = ""
        self.dirty = dirty
        self.opened.emit()
        self.dirty_changed.emit(dirty)
        self.title_changed.emit(self.title)
        if dirty:
            self._timer.start(AUTOSAVE_DELAY_MS)

    def new(self) -> None:
        _load_store()
        store = ProjectStore.create_untitled(self.recovery_dir)
        self._adopt(store, Documents(), dirty=False)

    def probe(self, path: Path) -> Autosave | None:
        """Check a file before the current project is closed for it: ``ProjectError`` when it
        cannot be opened at all (the file is left untouched); the pending autosave, if any."""
        _load_store()
        path = Path(path)
        check_project_header(path)
        probe = ProjectStore.open(path, readonly=True, recovery_dir=self.recovery_dir)
        try:
            problems = probe.integrity_problems()
            if problems:
                raise ProjectError(f"{path}: the project file is damaged ({'; '.join(problems[:3])})")
            return probe.pending_autosave()
        finally:
            probe.close()

    def open(self, path: Path, *, use_autosave: bool | None = False) -> Autosave | None:
        """Open a project (``ProjectError`` with the reason for a file that cannot be opened).

        Damaged parts do not stop it: ``health`` says which they are, the views get what could
        be read, and those parts are never written back. A file on a read-only disk opens
        read-only (``readonly_reason``). ``use_autosave``: True loads the unsaved documents a
        crash left, False discards them, None leaves them for the caller (returned) to decide.
        """
        _load_store()
        path = Path(path)
        check_project_header(path)
        readonly_reason = ""
        if not project_is_writable(path):
            readonly_reason = (
                f"{path.name} is read-only: {path.parent} cannot be written. Changes can be saved to another folder with File ▸ Save As."
            )
        try:
            store = ProjectStore.open(path, readonly=bool(readonly_reason), recovery_dir=self.recovery_dir)
        except ProjectWriteError as exc:
            # A full disk (SQLite cannot make its -shm): show the project read-only rather than not at all.
            readonly_reason = f"{exc} It is open read-only until then."
            store = ProjectStore.open(path, readonly=True, recovery_dir=self.recovery_dir)
        try:
            problems = store.integrity_problems()
            if problems:
                raise ProjectError(f"{path}: the project file is damaged ({'; '.join(problems[:3])})")
            health = store.check()
            documents = Documents(health.canvas, health.timeline, health.text)
            pending = store.pending_autosave()
            if pending is not None and use_autosave is False and not readonly_reason:
                store.discard_autosave()
        except BaseException:
            store.close()
            raise
        dirty = False
        if pending is not None and use_autosave:
            documents.canvas = pending.canvas if pending.canvas is not None else documents.canvas
            documents.timeline = pending.timeline if pending.timeline is not None else documents.timeline
            documents.text = pending.text if pending.text is not None else documents.text
            dirty = True
        self._adopt(store, documents, dirty=dirty, health=health, readonly_reason=readonly_reason)
        return pending if use_autosave is None else None

    def reload(self) -> None:
        """Open the project again from disk, dropping this window's unsaved document changes."""
        if self.store is None:
            return
        path = self.store.path
        self._timer.stop()
        self._writes.settle()
        self.store.discard_autosave()
        self._release()
        self.store, self.history = None, None
        self.open(path, use_autosave=False)

    def recover(self, offer: RecoveryOffer) -> None:
        self.open(offer.project_path, use_autosave=True)
        if offer.untitled and not self.dirty and self.store is not None and self.store.node_count():
            # An untitled project with generations but no unsaved documents is still unsaved work.
            self.mark_changed()

    def discard_offer(self, offer: RecoveryOffer) -> None:
        _load_store()
        try:
            if offer.untitled:
                store = ProjectStore.open(offer.project_path, recovery_dir=self.recovery_dir)
                store.discard()
            elif offer.autosave is not None:
                offer.autosave.path.unlink(missing_ok=True)
        except (ProjectError, OSError):
            pass

    # ------------------------------------------------------------------ saving

    def _write_documents(self, *, choice: str | None = None, force: bool = False, everything: bool = False) -> None:
        """Write the documents with the revision check; damaged parts only when ``everything``."""
        _load_store()
        assert self.store is not None
        self._writes.settle()  # an autosave in flight lands before the one it would outlive is dropped
        docs = self._documents()
        documents: dict[str, Any] = {CANVAS: docs.canvas, TIMELINE: docs.timeline, TEXT: docs.text}
        if not everything:
            damaged = set(self.store.protected)
            if damaged and (choice or self.save_choice) != INTACT:
                raise ProjectDamagedError(self.store.path, sorted(damaged), self.health)
            documents = {name: doc for name, doc in documents.items() if name not in damaged}
        self.base_revision = self.store.save_documents(documents, base_revision=self.base_revision, force=force, replace_damaged=everything)
        self.store.discard_autosave()

    def save(self, *, choice: str | None = None, force: bool = False) -> bool:
        """Save in place; False for an untitled project (it needs a name: ``save_as``).

        Raises ``ProjectDamagedError`` when a damaged part would be written (``choice=INTACT``
        writes only the intact parts and is remembered), ``ProjectConflictError`` when another
        writer saved since this window loaded (``force`` overwrites), ``ProjectWriteError``
        for a full or read-only disk. Nothing is written in any of those cases.
        """
        _load_store()
        if self.store is None or self.untitled:
            return False
        if self.readonly_reason:
            raise write_error(self.store.path, PermissionError(13, "read-only"), what="save")
        self._write_documents(choice=choice, force=force)
        if choice == INTACT:
            self.save_choice = INTACT
        self.mark_clean()
        return True

    def save_as(self, path: Path) -> Path:
        """Copy the project to ``path``, continue there and write every document as shown.

        The original (damaged, read-only or someone else's newer save) is left as it is; the
        new file is the window's work.
        """
        _load_store()
        if self.store is None:
            raise ProjectError("no project is open")
        self._writes.settle()  # the autosave beside the old name is moved or dropped below
        path = Path(path)
        if not path.name.endswith(PROJECT_SUFFIX):
            path = path.with_name(path.name + PROJECT_SUFFIX)
        if path.exists() and path.resolve() == self.store.path.resolve():
            self.save()
            return path
        if path.exists() and not path.is_file():
            raise ProjectError(f"{path}: is not a regular file; choose another name")
        old_lock = self._lock
        self.store.save_as(path)
        new_lock = _lock_for(self.recovery_dir, self.store.autosave_path.name)
        new_lock.acquire()
        self._lock = new_lock
        if old_lock is not None:
            old_lock.release()
        self.readonly_reason = ""
        self.save_choice = None
        self.store.protected = set()
        self._write_documents(force=True, everything=True)
        self.health = self.store.check()
        self.base_revision = self.store.revision
        self.mark_clean()
        return path

    def autosave_now(self) -> Path | None:
        """Snapshot the documents into the recovery folder; never writes the project file.

        A failure (disk full, read-only recovery folder) is reported through
        ``autosave_failed``: the changes stay in memory, unsaved, and it is tried again.
        """
        self._writes.settle()
        if self.store is None or not self.dirty:
            return None
        try:
            docs = self._documents()
            path = self.store.write_autosave(canvas=docs.canvas, timeline=docs.timeline, text=docs.text)
        except (ProjectError, OSError, sqlite3.Error) as exc:
            self._autosave_written(False, exc, self.store.autosave_path)
            return None
        self._autosave_written(True, path, path)
        return path

    def _autosave_in_background(self) -> None:
        """The timer's autosave: the documents are snapshotted here, the file is written on
        a worker thread (``BackgroundWork``); ``autosaved`` / ``autosave_failed`` follow."""
        if self.store is None or not self.dirty:
            return
        target = self.store.autosave_path
        try:
            docs = self._documents()
            write = self.store.autosave_writer(canvas=docs.canvas, timeline=docs.timeline, text=docs.text)
        except (ProjectError, OSError, sqlite3.Error) as exc:
            self._autosave_written(False, exc, target)
            return
        self._writes.run(write, lambda ok, value: self._autosave_written(ok, value, target))

    def _autosave_written(self, ok: bool, value: Any, target: Path) -> None:
        _load_store()
        if not ok:
            if not isinstance(value, (ProjectError, OSError, sqlite3.Error)):
                raise value
            message = str(value) if isinstance(value, ProjectError) else str(write_error(target, value, what="autosave"))
            self.autosave_error = f"Autosave failed — your changes are kept in memory, not yet on disk. {message}"
            self.autosave_failed.emit(self.autosave_error)
            self._timer.start(AUTOSAVE_RETRY_MS)
            return
        self.autosave_error = ""
        self.autosaved.emit(str(value))

    # ------------------------------------------------------------------ closing

    def close(self, *, discard_untitled: bool = False) -> None:
        """A clean close: the autosave goes (the user saved or chose not to), the lock is released."""
        self._timer.stop()
        self._writes.settle()
        if self.store is None:
            return
        try:
            if self.untitled and (discard_untitled or self.store.node_count() == 0 and not self.dirty):
                self.store.discard()
            else:
                self.store.discard_autosave()
                self.store.close()
        except (ProjectError, OSError):
            pass  # a file that cannot be removed now is offered for recovery next time
        self._release()
        self.store = None
        self.history = None
        self.health = None

    def abandon(self) -> None:
        """Let go of the project as a crash would (autosave left in place); for tests and emergencies."""
        self._timer.stop()
        self._writes.settle()
        if self.store is not None:
            self.store.close()
        self._release()
        self.store = None
        self.history = None

    def _release(self) -> None:
        self._writes.settle()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self.store is not None and not self.store.closed:
            self.store.close()
