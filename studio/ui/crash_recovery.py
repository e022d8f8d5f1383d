"""Crash recovery: what a crashed session left in ``STUDIO_HOME/recovery``, and the locks that tell it apart.

Each open project holds an advisory lock in the recovery folder, so the next start can tell
the work a crash left behind (unlocked) from a project another window still has open
(locked). The project store is imported when these run, not when the window starts.
"""

from __future__ import annotations

import fcntl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.errors import ProjectError

if TYPE_CHECKING:
    from studio.core.project_store import Autosave


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
        from studio.core.project_store import write_error

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")  # noqa: SIM115 (held open: the lock lasts as long as the session)
        except OSError as exc:
            raise write_error(self.path.parent, exc, what="keep a lock for the project in") from None
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
            try:
                self.path.unlink(missing_ok=True)
            except OSError:
                pass  # a lock file nobody holds is free


def _lock_for(recovery_dir: Path, autosave_name: str) -> _Lock:
    return _Lock(recovery_dir / ".locks" / (autosave_name + ".lock"))


def find_recovery(recovery_dir: Path) -> list[RecoveryOffer]:
    """What a previous, crashed session left in ``recovery_dir`` (newest first).

    Files locked by a running window are skipped; an empty untitled project with no
    autosave (nothing to recover) is removed.
    """
    from studio.core.project_store import AUTOSAVE_SUFFIX, PROJECT_SUFFIX, ProjectStore, list_recoverable, read_autosave

    offers: list[RecoveryOffer] = []
    seen: set[Path] = set()
    for path in list_recoverable(recovery_dir):
        if path.name.endswith(AUTOSAVE_SUFFIX):
            lock = _lock_for(recovery_dir, path.name)
            try:
                if not lock.acquire():
                    continue
            except ProjectError:
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
            try:
                acquired = lock.acquire()
            except ProjectError:
                acquired = False
            if not acquired:
                store.close()
                continue
            try:
                try:
                    has_work = (
                        store.node_count() > 0
                        or store.load_canvas() is not None
                        or store.load_timeline() is not None
                        or bool(store.load_text())
                    )
                except ProjectError:
                    has_work = True  # a damaged project is never discarded as empty
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
