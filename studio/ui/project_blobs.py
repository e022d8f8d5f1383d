"""Blob access for the canvas and timeline, always through the window's current project,
and where the window keeps its own settings.

Split out of ``main_window.py``. The canvas and timeline outlive any one project (New, Open
and recovery swap the store under them), so they get this small object that asks for the
current store each time instead of a store.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings

from studio.core.errors import ProjectError

if TYPE_CHECKING:  # the store loads with the first project, after the first paint
    from studio.core.project_store import ProjectStore


def ui_settings(home: Path) -> QSettings:
    """Window settings (layout, recent files, remembered params) live in STUDIO_HOME, never in the user's real config."""
    return QSettings(str(Path(home) / "ui-settings.ini"), QSettings.Format.IniFormat)


class ProjectBlobs:
    """``get`` / ``put`` on whichever project ``current_store`` names now."""

    def __init__(self, current_store: Callable[[], ProjectStore | None]) -> None:
        self.current_store = current_store

    def get(self, blob_id: str) -> bytes:
        store = self.current_store()
        if store is None:
            raise KeyError(blob_id)
        try:
            return store.get_blob(blob_id)
        except ProjectError:  # damaged (fails its hash): shown as missing; reported on open
            raise KeyError(blob_id) from None

    def put(self, data: bytes, kind: str, mime: str, meta: dict[str, Any] | None = None) -> str:
        store = self.current_store()
        if store is None:
            raise ProjectError("no project is open")
        return store.put_blob(data, kind, mime, meta or {})

    def load(self, blob_id: str) -> tuple[bytes, str, str]:
        """Data, kind and mime of a blob (the History's thumbnails); KeyError when missing or damaged."""
        store = self.current_store()
        if store is None:
            raise KeyError(blob_id)
        try:
            info = store.blob_info(blob_id)
            return store.get_blob(blob_id), info["kind"], info["mime"]
        except ProjectError:  # damaged (fails its hash): no thumbnail; reported on open
            raise KeyError(blob_id) from None
