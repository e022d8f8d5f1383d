"""One place where an unexpected error in the window ends up: the log and a dialog.

Without a hook, an exception raised inside a Qt slot is printed to a terminal the user
usually does not have, and the window carries on in an unknown state. Here it is written to
the window's log with its traceback and shown in a dialog that says where the log is, so
the user can report it (Anki's ``aqt/errors.py`` does the same).
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType

from PySide6.QtWidgets import QApplication, QMessageBox

log = logging.getLogger("studio.ui")


class ErrorReporter:
    """Installed as ``sys.excepthook``; keeps the dialogs it opens alive until closed."""

    def __init__(self, log_path: Path | None) -> None:
        self.log_path = log_path
        self.dialogs: list[QMessageBox] = []
        self._showing = False
        self._previous = sys.excepthook

    def install(self) -> ErrorReporter:
        sys.excepthook = self
        return self

    def uninstall(self) -> None:
        if sys.excepthook is self:
            sys.excepthook = self._previous

    def __call__(self, kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous(kind, error, tb)
            return
        log.error("unexpected error in the window", exc_info=(kind, error, tb))
        if self._showing or QApplication.instance() is None:
            return
        self._showing = True  # an error raised while the dialog opens must not open another
        try:
            self.dialogs = [d for d in self.dialogs if d.isVisible()]
            self.dialogs.append(self._dialog(error, "".join(traceback.format_exception(kind, error, tb))))
        finally:
            self._showing = False

    def _dialog(self, error: BaseException, details: str) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Critical, "Studio: unexpected error", f"Something went wrong: {type(error).__name__}: {error}")
        where = f"The details are in {self.log_path}." if self.log_path else "The log folder could not be written; the details are below."
        box.setInformativeText(
            f"Your project is unchanged on disk; save your work if you can. {where} Please include them if you report this."
        )
        box.setDetailedText(details)
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.setModal(False)
        box.show()
        return box
