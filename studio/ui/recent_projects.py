"""File ▸ Open Recent: the remembered project paths, newest first, and the menu that lists them.

Split out of ``main_window.py``. QSettings hands back a lone string for a one-item list; it
must not be read as a list of characters (that listed "/", "t", "m", "p"… under the path).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

MAX_RECENT = 8


class RecentProjects:
    def __init__(self, settings: QSettings, open_project: Callable[[Path], object]) -> None:
        self.settings, self.open_project = settings, open_project
        self.menu: QMenu | None = None  # set once the menus are built

    def paths(self) -> list[str]:
        value = self.settings.value("recent", []) or []
        return [value] if isinstance(value, str) else [str(entry) for entry in value]

    def add(self, path: Path) -> None:
        recent = [p for p in self.paths() if p != str(path)]
        recent.insert(0, str(path))
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self.rebuild()

    def rebuild(self) -> None:
        if self.menu is None:
            return
        self.menu.clear()
        recent = self.paths()
        for entry in recent:
            self.menu.addAction(entry, lambda p=entry: self.open_project(Path(p)))
        self.menu.setEnabled(bool(recent))
