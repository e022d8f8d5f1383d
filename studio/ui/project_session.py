"""The open project of one window: its store, its history, autosave and crash recovery.

Generations and artefacts are committed to the project file as they land (the store does
that); the canvas, the timeline and the text are documents the window edits in memory and
writes on Save. Between saves, a change starts a short timer after which the documents are
snapshotted into an autosave beside the project (in ``STUDIO_HOME/recovery``), so a crash
loses at most those few seconds.

An untitled project is a real project file in the recovery folder. Each open project holds
an advisory lock there, so the next start can tell the work a crash left behind (unlocked)
from a project another window still has open (locked).
"""

from __future__ import annotations

import fcntl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal

from studio.core.errors import ProjectError
from studio.core.history import History
from studio.core.project_store import (
    AUTOSAVE_SUFFIX,
    PROJECT_SUFFIX,
    Autosave,
    ProjectStore,
    list_recoverable,
    read_autosave,
)

AUTOSAVE_DELAY_MS = 3000
TEXT_KEY = "text_panel"


@dataclass
class Documents:
    canvas: Any = None
    timeline: Any = None
    text: str = ""


@dataclass
class RecoveryOffer:
    """Work a crash left behind: an untitled project and/or unsaved documents of a project."""

    project_path: Path
    autosave: Autosave | None
    untitled: bool
    saved_at: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.saved_at))
        name = "an untitled project" if self.untitled else str(self.project_path)
        what = "unsaved changes to " if self.autosave is not None and not self.untitled else ""
        return f"Studio did not close cleanly. Recover {what}{name} (last saved automatically {when})?"


class _Lock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: Any = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self.handle = handle
        return True

    def release(self) -> None:
        if self.handle is not None:
            try:
                fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            finally:
                self.handle.close()
                self.handle = None
            self.path.unlink(missing_ok=True)


def _lock_for(recovery_dir: Path, autosave_name: str) -> _Lock:
    return _Lock(recovery_dir / ".locks" / (autosave_name + ".lock"))


def find_recovery(recovery_dir: Path) -> list[RecoveryOffer]:
    """What a previous, crashed session left in ``recovery_dir`` (newest first).

    Files locked by a running window are skipped; an empty untitled project with no
    autosave (nothing to recover) is removed.
    """
    offers: list[RecoveryOffer] = []
    seen: set[Path] = set()
    for path in list_recoverable(recovery_dir):
        if path.name.endswith(AUTOSAVE_SUFFIX):
            lock = _lock_for(recovery_dir, path.name)
            if not lock.acquire():
                continue
            lock.release()
            try:
                autosave = read_autosave(path)
            except ProjectError:
                continue
            project = autosave.project_path.resolve()
            if project in seen:
                continue
            if not project.exists():
                path.unlink(missing_ok=True)
                continue
            seen.add(project)
            untitled = project.parent == recovery_dir.resolve() and project.name.endswith(PROJECT_SUFFIX)
            offers.append(RecoveryOffer(project, autosave, untitled, autosave.saved_at))
        elif path.name.endswith(PROJECT_SUFFIX) and path.resolve() not in seen:
            try:
                store = ProjectStore.open(path, recovery_dir=recovery_dir)
            except ProjectError:
                continue
            lock = _lock_for(recovery_dir, store.autosave_path.name)
            if not lock.acquire():
                store.close()
                continue
            try:
                has_work = store.node_count() > 0 or store.load_canvas() is not None or store.load_timeline() is not None or bool(store.get_setting(TEXT_KEY))
                pending = store.pending_autosave()
                if not has_work and pending is None and store.is_untitled:
                    store.discard()
                    continue
                seen.add(path.resolve())
                offers.append(RecoveryOffer(path, pending, store.is_untitled, path.stat().st_mtime))
            finally:
                if not store.closed:
                    store.close()
                lock.release()
    offers.sort(key=lambda offer: offer.saved_at, reverse=True)
    return offers


class ProjectSession(QObject):
    """The window's open project. ``documents()`` is asked for the current canvas/timeline/text."""

    opened = Signal()  # a (different) project is now open: views reload
    dirty_changed = Signal(bool)
    autosaved = Signal(str)  # path of the autosave written
    title_changed = Signal(str)

    def __init__(self, recovery_dir: Path, documents: Callable[[], Documents], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.recovery_dir = Path(recovery_dir)
        self.recovery_dir.mkdir(parents=True, exist_ok=True)
        self._documents = documents
        self.store: ProjectStore | None = None
        self.history: History | None = None
        self._lock: _Lock | None = None
        self.dirty = False
        self.loaded = Documents()  # what the views should show after ``opened``
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(AUTOSAVE_DELAY_MS)
        self._timer.timeout.connect(self.autosave_now)

    # ------------------------------------------------------------------ state

    @property
    def path(self) -> Path | None:
        return None if self.store is None else self.store.path

    @property
    def untitled(self) -> bool:
        return self.store is not None and self.store.is_untitled

    @property
    def title(self) -> str:
        if self.store is None:
            return "Studio"
        name = "Untitled" if self.untitled else self.store.path.name
        return f"{name}{' *' if self.dirty else ''} — Studio"

    def mark_changed(self) -> None:
        """A document changed: autosave a few seconds from now."""
        if self.store is None:
            return
        if not self.dirty:
            self.dirty = True
            self.dirty_changed.emit(True)
            self.title_changed.emit(self.title)
        self._timer.start()

    def mark_clean(self) -> None:
        self._timer.stop()
        if self.dirty:
            self.dirty = False
            self.dirty_changed.emit(False)
        self.title_changed.emit(self.title)

    # ------------------------------------------------------------------ opening

    def _adopt(self, store: ProjectStore, documents: Documents, *, dirty: bool) -> None:
        lock = _lock_for(self.recovery_dir, store.autosave_path.name)
        if not lock.acquire():
            store.close()
            raise ProjectError(f"{store.path}: already open in another Studio window")
        self._release()
        self.store = store
        self.history = History(store)
        self._lock = lock
        self.loaded = documents
        self.dirty = dirty
        self.opened.emit()
        self.dirty_changed.emit(dirty)
        self.title_changed.emit(self.title)
        if dirty:
            self._timer.start()

    def new(self) -> None:
        store = ProjectStore.create_untitled(self.recovery_dir)
        self._adopt(store, Documents(), dirty=False)

    def open(self, path: Path, *, use_autosave: bool | None = False) -> Autosave | None:
        """Open a project (``ProjectError`` with the reason for a damaged or foreign file).

        ``use_autosave``: True loads the unsaved documents a crash left, False discards
        them, None leaves them for the caller (returned) to decide.
        """
        store = ProjectStore.open(path, recovery_dir=self.recovery_dir)
        try:
            problems = store.integrity_problems()
            if problems:
                raise ProjectError(f"{path}: the project file is damaged ({'; '.join(problems[:3])})")
            documents = Documents(store.load_canvas(), store.load_timeline(), str(store.get_setting(TEXT_KEY, "") or ""))
            pending = store.pending_autosave()
        except BaseException:
            store.close()
            raise
        dirty = False
        if pending is not None and use_autosave:
            documents.canvas = pending.canvas if pending.canvas is not None else documents.canvas
            documents.timeline = pending.timeline if pending.timeline is not None else documents.timeline
            dirty = True
        elif pending is not None and use_autosave is False:
            store.discard_autosave()
        self._adopt(store, documents, dirty=dirty)
        return pending if use_autosave is None else None

    def recover(self, offer: RecoveryOffer) -> None:
        self.open(offer.project_path, use_autosave=True)
        if offer.untitled and not self.dirty and self.store is not None and self.store.node_count():
            # An untitled project with generations but no unsaved documents is still unsaved work.
            self.mark_changed()

    def discard_offer(self, offer: RecoveryOffer) -> None:
        if offer.untitled:
            try:
                store = ProjectStore.open(offer.project_path, recovery_dir=self.recovery_dir)
                store.discard()
            except ProjectError:
                pass
        elif offer.autosave is not None:
            offer.autosave.path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ saving

    def _write_documents(self) -> None:
        assert self.store is not None
        docs = self._documents()
        with self.store.transaction():
            self.store.save_canvas(docs.canvas)
            self.store.save_timeline(docs.timeline)
            self.store.set_setting(TEXT_KEY, docs.text)
        self.store.discard_autosave()

    def save(self) -> bool:
        """Save in place; False for an untitled project (it needs a name: ``save_as``)."""
        if self.store is None or self.untitled:
            return False
        self._write_documents()
        self.mark_clean()
        return True

    def save_as(self, path: Path) -> Path:
        if self.store is None:
            raise ProjectError("no project is open")
        path = Path(path)
        if not path.name.endswith(PROJECT_SUFFIX):
            path = path.with_name(path.name + PROJECT_SUFFIX)
        old_lock = self._lock
        self.store.save_as(path)
        new_lock = _lock_for(self.recovery_dir, self.store.autosave_path.name)
        new_lock.acquire()
        self._lock = new_lock
        if old_lock is not None:
            old_lock.release()
        self._write_documents()
        self.mark_clean()
        return path

    def autosave_now(self) -> Path | None:
        if self.store is None or not self.dirty:
            return None
        docs = self._documents()
        path = self.store.write_autosave(canvas=docs.canvas, timeline=docs.timeline)
        if docs.text != (self.store.get_setting(TEXT_KEY, "") or ""):
            self.store.set_setting(TEXT_KEY, docs.text)
        self.autosaved.emit(str(path))
        return path

    # ------------------------------------------------------------------ closing

    def close(self, *, discard_untitled: bool = False) -> None:
        """A clean close: the autosave goes (the user saved or chose not to), the lock is released."""
        self._timer.stop()
        if self.store is None:
            return
        if self.untitled and (discard_untitled or self.store.node_count() == 0 and not self.dirty):
            self.store.discard()
        else:
            self.store.discard_autosave()
            self.store.close()
        self._release()
        self.store = None
        self.history = None

    def abandon(self) -> None:
        """Let go of the project as a crash would (autosave left in place); for tests and emergencies."""
        self._timer.stop()
        if self.store is not None:
            self.store.close()
        self._release()
        self.store = None
        self.history = None

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self.store is not None and not self.store.closed:
            self.store.close()
