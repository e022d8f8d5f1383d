"""Workspaces: the window arranged for images or for music, remembered per project.

One layout for everything gave the canvas ~380 px of a 1500 px window while the timeline
and piano roll took 40 % of the height during image work. Two named arrangements fix it:

- **Image**: the canvas takes the space; Generate on the left, History and Jobs on the
  right; the timeline is hidden (it comes back by itself when music lands).
- **Music**: the timeline and its piano roll take most of the height; the canvas shrinks.

A user who rearranges docks inside a workspace keeps that arrangement: it is saved as that
workspace's own state (``workspaces/<name>``) when they switch away or close. Which
workspace a project uses is remembered by project path (``workspace/project/<path>``);
untitled projects use the last one chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QByteArray, QObject, Qt, Signal

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QDockWidget

    from studio.ui.project_session import ProjectSession


class WorkspaceHost(Protocol):
    """The main window whose docks a workspace arranges (Qt's own dock API, and our settings)."""

    settings: QSettings
    session: ProjectSession
    docks: dict[str, QDockWidget]

    def resizeDocks(self, docks: list[QDockWidget], sizes: list[int], orientation: Qt.Orientation) -> None: ...  # noqa: N802

    def saveState(self, version: int = 0) -> QByteArray: ...  # noqa: N802

    def restoreState(self, state: QByteArray, version: int = 0) -> bool: ...  # noqa: N802

    def height(self) -> int: ...


@dataclass(frozen=True)
class Workspace:
    name: str
    title: str
    shortcut: str
    timeline: bool  # the timeline dock shown
    timeline_share: float  # of the window's height, when shown
    side_width: int  # left / right dock width in pixels


IMAGE = Workspace("image", "&Image", "Ctrl+Alt+1", timeline=False, timeline_share=0.0, side_width=300)
MUSIC = Workspace("music", "&Music", "Ctrl+Alt+2", timeline=True, timeline_share=0.62, side_width=280)
WORKSPACES = {space.name: space for space in (IMAGE, MUSIC)}


def _project_key(path: Path | None) -> str:
    return "workspace/project/" + str(Path(path).resolve()).replace("/", "|") if path else ""


class Workspaces(QObject):
    changed = Signal(str)

    def __init__(self, window: WorkspaceHost) -> None:
        super().__init__(window)  # type: ignore[call-overload]  # the host is the main window, a QObject
        self.window = window
        self.current = ""

    # ---- what is remembered

    def remembered_for(self, project: Path | None) -> str:
        settings = self.window.settings
        name = str(settings.value(_project_key(project), "") or "") if project else ""
        if name not in WORKSPACES:
            name = str(settings.value("workspace/last", "") or "")
        return name if name in WORKSPACES else IMAGE.name

    def _remember(self, name: str) -> None:
        settings = self.window.settings
        settings.setValue("workspace/last", name)
        session = self.window.session
        if session.path is not None and not session.untitled:
            settings.setValue(_project_key(session.path), name)

    def save_current(self) -> None:
        """Keep the user's own arrangement of the current workspace."""
        if self.current:
            self.window.settings.setValue(f"workspaces/{self.current}", self.window.saveState())

    # ---- switching

    def switch(self, name: str, *, save: bool = True) -> None:
        if name not in WORKSPACES:
            return
        if save and self.current and self.current != name:
            self.save_current()
        space = WORKSPACES[name]
        window = self.window
        own = window.settings.value(f"workspaces/{name}")
        if isinstance(own, QByteArray) and not own.isEmpty() and window.restoreState(own):
            pass
        else:
            self._arrange(space)
        self.current = name
        self._remember(name)
        self.changed.emit(name)

    def _arrange(self, space: Workspace) -> None:
        window = self.window
        docks = window.docks
        for key in ("generate", "history", "jobs"):
            docks[key].show()
        docks["timeline"].setVisible(space.timeline)
        window.resizeDocks([docks["generate"], docks["history"]], [space.side_width, space.side_width], Qt.Orientation.Horizontal)
        if space.timeline:
            height = max(240, int(window.height() * space.timeline_share))
            window.resizeDocks([docks["timeline"]], [height], Qt.Orientation.Vertical)
            docks["timeline"].raise_()

    def reset(self) -> None:
        """Forget the user's arrangement of the current workspace and lay it out afresh."""
        name = self.current or IMAGE.name
        self.window.settings.remove(f"workspaces/{name}")
        self._arrange(WORKSPACES[name])

    def show_music_results(self) -> None:
        """A melody or audio result landed: the timeline must be visible to show it."""
        dock = self.window.docks["timeline"]
        if not dock.isVisible():
            dock.show()
            height = max(240, int(self.window.height() * 0.4))
            self.window.resizeDocks([dock], [height], Qt.Orientation.Vertical)
        dock.raise_()
