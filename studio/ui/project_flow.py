"""Open, Save and Save As as the window runs them: every failure ends in a dialog, never a traceback.

``ProjectSession`` does the work and raises typed errors; this module turns each into the
question or message the user needs:

- a file that cannot be opened at all (missing, a FIFO or device, not SQLite, structurally
  damaged, from a newer studio) → "Cannot open project", and the open project stays;
- a project with damaged parts → it opens, with a warning that names the damaged and the
  intact parts; Save then asks: a new file, or only the intact parts;
- someone else saved since this window loaded → save as a copy / reload theirs / overwrite;
- a full or read-only disk → "Cannot save project" naming the folder and what to free;
- an autosave failure → the status bar (the changes stay in memory, it is retried).

Kept out of ``main_window`` so that window stays about layout and wiring.
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from studio.core.errors import StudioError
from studio.ui.dialogs import (
    CONFLICT_CHOICES,
    DAMAGED_SAVE_CHOICES,
    OVERWRITE,
    PROJECT_FILTER,
    RELOAD,
    SAVE_COPY,
    SAVE_INTACT,
    SAVE_NEW_FILE,
)
from studio.ui.project_session import INTACT

if TYPE_CHECKING:
    from PySide6.QtGui import QUndoStack
    from PySide6.QtWidgets import QStatusBar

    from studio.core.project_store import ProjectConflictError, ProjectDamagedError
    from studio.ui.dialogs import Prompter
    from studio.ui.project_session import ProjectSession
    from studio.ui.recent_projects import RecentProjects


class ProjectHost(Protocol):
    """The window's open project, its undo stack and Open Recent, and who asks and tells."""

    session: ProjectSession
    prompter: Prompter
    undo: QUndoStack
    recent: RecentProjects

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)

    def maybe_keep_changes(self) -> bool: ...


log = logging.getLogger(__name__)

CANNOT_OPEN = "Cannot open project"
CANNOT_SAVE = "Cannot save project"
DAMAGED_TITLE = "Project partly damaged"
CONFLICT_TITLE = "Project saved elsewhere"
READONLY_TITLE = "Project is read-only"


def describe_failure(exc: BaseException, where: Path | None = None) -> tuple[str, str]:
    """(message, details) for a failure: a ``StudioError`` says it all; anything else is named
    with its type and the traceback goes to the details (and the log) for a bug report."""
    if isinstance(exc, StudioError):
        return str(exc), ""
    prefix = f"{where}: " if where is not None else ""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("project operation failed\n%s", details)
    return f"{prefix}unexpected problem ({type(exc).__name__}: {exc})", details


class ProjectFlow:
    """The project actions of one window (File ▸ Open / Save / Save As)."""

    def __init__(self, window: ProjectHost) -> None:
        self.window = window
        self._autosave_failing = False
        window.session.autosave_failed.connect(self._autosave_failed)
        window.session.autosaved.connect(self._autosave_recovered)

    @property
    def session(self):  # type: ignore[no-untyped-def]
        return self.window.session

    def _fail(self, title: str, exc: BaseException, where: Path | None = None) -> None:
        message, details = describe_failure(exc, where)
        self.window.prompter.error(self.window, title, message, details)

    def _autosave_failed(self, message: str) -> None:
        self._autosave_failing = True
        self.window.statusBar().showMessage(message)  # stays until autosave works again

    def _autosave_recovered(self, _path: str) -> None:
        if self._autosave_failing:
            self._autosave_failing = False
            self.window.statusBar().showMessage("Autosave works again: your changes are safe on disk.", 8000)

    # ------------------------------------------------------------------ open

    def open(self, path: Path, *, ask_recovery: bool = True) -> bool:
        window, session = self.window, self.session
        path = Path(path)
        try:
            if session.store is not None and session.path is not None and session.path.resolve() == path.resolve():
                return True
            # Checked before anything is asked or closed: a FIFO, a folder, a foreign or
            # structurally damaged file is refused at once and the open project stays.
            pending = session.probe(path)
        except Exception as exc:  # noqa: BLE001 - every failure ends in the dialog, never a traceback
            self._fail(CANNOT_OPEN, exc, path)
            return False
        if session.store is not None and not window.maybe_keep_changes():
            return False
        use_autosave = False
        if pending is not None and ask_recovery:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(pending.saved_at))
            use_autosave = window.prompter.ask(
                window,
                "Recover unsaved changes",
                f"{path.name} has unsaved changes from {when} (Studio did not close cleanly). Recover them?",
            )
        if session.store is not None:
            session.close()
        try:
            session.open(path, use_autosave=use_autosave)
        except Exception as exc:  # noqa: BLE001 - every failure ends in the dialog, never a traceback
            self._fail(CANNOT_OPEN, exc, path)
            if session.store is None:
                self._fall_back_to_new()
            return False
        if use_autosave:
            window.statusBar().showMessage("Recovered the automatically saved changes.", 8000)
        self.report_opened()
        return True

    def new(self) -> bool:
        """A new untitled project (in the recovery folder); a folder that cannot be written is
        a "Cannot save project" dialog, and the window carries on without a project."""
        try:
            self.session.new()
        except Exception as exc:  # noqa: BLE001 - every failure ends in the dialog, never a traceback
            self._fail(CANNOT_SAVE, exc, self.session.recovery_dir)
            return False
        return True

    def _fall_back_to_new(self) -> None:
        self.new()

    def report_opened(self) -> None:
        """Tell the user about damaged parts or a read-only file of the project just opened."""
        window, session = self.window, self.session
        health = session.health
        if health is not None and not health.ok:
            window.prompter.warn(window, DAMAGED_TITLE, health.message(), health.details())
            window.statusBar().showMessage(f"{health.summary()[0].upper()}{health.summary()[1:]} (damaged parts are read-only)")
        if session.readonly_reason:
            window.prompter.warn(window, READONLY_TITLE, session.readonly_reason)
            window.statusBar().showMessage(session.readonly_reason)

    # ------------------------------------------------------------------ save

    def save(self) -> bool:
        window, session = self.window, self.session
        if session.store is None:
            return False
        if session.untitled:
            return self.save_as_dialog()
        if session.readonly:
            answer = window.prompter.choose_action(
                window,
                READONLY_TITLE,
                f"{session.readonly_reason}\n\nSave to another folder?",
                [DAMAGED_SAVE_CHOICES[0], DAMAGED_SAVE_CHOICES[-1]],
            )
            return self.save_as_dialog() if answer == SAVE_NEW_FILE else False
        from studio.core.project_store import ProjectConflictError, ProjectDamagedError  # loaded with the project

        choice: str | None = None
        force = False
        while True:
            try:
                session.save(choice=choice, force=force)
                break
            except ProjectDamagedError as exc:
                answer = window.prompter.choose_action(
                    window, DAMAGED_TITLE, self._damaged_question(exc), DAMAGED_SAVE_CHOICES, exc.health.details() if exc.health else ""
                )
                if answer == SAVE_NEW_FILE:
                    return self.save_as_dialog()
                if answer != SAVE_INTACT:
                    return False
                choice = INTACT
            except ProjectConflictError as exc:
                answer = window.prompter.choose_action(window, CONFLICT_TITLE, self._conflict_question(exc), CONFLICT_CHOICES)
                if answer == SAVE_COPY:
                    return self.save_as_dialog()
                if answer == RELOAD:
                    self.reload()
                    return False
                if answer != OVERWRITE:
                    return False
                force = True
            except Exception as exc:  # noqa: BLE001 - every failure ends in the dialog, never a traceback
                self._fail(CANNOT_SAVE, exc, session.path)
                return False
        window.undo.setClean()
        window.statusBar().showMessage(f"Saved {session.path}", 5000)
        return True

    def _damaged_question(self, exc: ProjectDamagedError) -> str:
        name = exc.path.name
        damaged = " and ".join(f"the {part}" for part in exc.parts)
        from studio.core.project_documents import DOCUMENT_PARTS

        intact = [part for part in DOCUMENT_PARTS if part not in exc.parts]
        summary = (
            exc.health.summary() if exc.health is not None else f"{damaged} in {name} {'is' if len(exc.parts) == 1 else 'are'} damaged"
        )
        intact_text = " and ".join(f"the {part}" for part in intact) or "nothing"
        return (
            f"{summary[0].upper()}{summary[1:]}.\n\n"
            f"Studio never writes a damaged part back over {name}. Save your work to a new file "
            f"(this one stays as it is), or save only the intact parts ({intact_text}) into {name} "
            f"and leave {damaged} there untouched."
        )

    def _conflict_question(self, exc: ProjectConflictError) -> str:
        return (
            f"{exc.path.name} was saved by another window or computer after you opened it "
            f"(revision {exc.current_revision} on disk; you opened revision {exc.base_revision}).\n\n"
            "Save as a copy keeps both versions. Reload shows theirs and drops your unsaved "
            "changes. Overwrite replaces their save with yours."
        )

    def reload(self) -> bool:
        window, session = self.window, self.session
        try:
            session.reload()
        except Exception as exc:  # noqa: BLE001 - every failure ends in the dialog, never a traceback
            self._fail(CANNOT_OPEN, exc, session.path)
            if session.store is None:
                self._fall_back_to_new()
            return False
        window.statusBar().showMessage(f"Reloaded {session.path}", 5000)
        self.report_opened()
        return True

    def save_as_dialog(self) -> bool:
        suggested = (
            "untitled.studio"
            if self.session.untitled or self.session.path is None
            else str(self.session.path.with_name(self.session.path.stem + " copy.studio"))
        )
        path = self.window.prompter.save_path(self.window, "Save project as", PROJECT_FILTER, suggested)
        if path is None:
            return False
        return self.save_as(path)

    def save_as(self, path: Path) -> bool:
        window = self.window
        try:
            saved = self.session.save_as(Path(path))
        except Exception as exc:  # noqa: BLE001 - every failure ends in the dialog, never a traceback
            self._fail(CANNOT_SAVE, exc, Path(path))
            return False
        window.undo.setClean()
        window.recent.add(saved)
        window.statusBar().showMessage(f"Saved {saved}", 5000)
        health = self.session.health
        if health is not None and not health.ok:
            window.statusBar().showMessage(f"Saved {saved}; {health.summary()}")
        return True
