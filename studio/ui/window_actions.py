"""The window's menus and shortcuts, declared as data (napari's ``_qapp_model`` habit).

Each entry says where it lives, what it is called, which keys run it and what it does, with
the window injected when it runs; ``build_menus`` turns the table into QMenus and QActions
(object names = ids, so tests and scripts find them). Menus that are made of live objects
(Open Recent, the undo stack, the dock toggles, the workspaces) are entries of their own
``kind`` that the builder fills in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

from studio.core.paths import HomeLayout
from studio.ui import first_run, follow_results
from studio.ui import help_menu as help_text
from studio.ui.workspaces import WORKSPACES

if TYPE_CHECKING:
    from pathlib import Path

    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QUndoStack
    from PySide6.QtWidgets import QDockWidget, QMenuBar

    from studio.ui.canvas import CanvasWidget
    from studio.ui.dialogs import Prompter
    from studio.ui.engine_link import EngineLink
    from studio.ui.history_actions import HistoryActions
    from studio.ui.history_panel import HistoryPanel
    from studio.ui.workspaces import Workspaces


class MenuHost(Protocol):
    """What the menus run, injected when an action runs: the window's commands and parts."""

    home: Path
    settings: QSettings
    prompter: Prompter
    undo: QUndoStack
    docks: dict[str, QDockWidget]
    canvas: CanvasWidget
    link: EngineLink
    history_panel: HistoryPanel
    history_actions: HistoryActions
    workspaces: Workspaces
    recent_menu: QMenu
    workspace_actions: dict[str, QAction]

    def menuBar(self) -> QMenuBar: ...  # noqa: N802 (Qt's name)

    def addAction(self, action: QAction) -> None: ...  # noqa: N802 (Qt's name)

    def new_project(self) -> None: ...

    def open_project_dialog(self) -> None: ...

    def save(self) -> bool: ...

    def save_as_dialog(self) -> bool: ...

    def close(self) -> bool: ...

    def export_canvas_dialog(self, *, layer_only: bool) -> None: ...

    def export_timeline_dialog(self, kind: str, *, clip_only: bool = False) -> None: ...

    def export_text_dialog(self) -> None: ...

    def preferences(self) -> None: ...

    def generate(self) -> Any: ...

    def cancel_current(self) -> None: ...

    def cancel_all(self) -> None: ...

    def rerun_node(self, node: Any) -> Any: ...

    def vary_node(self, node: Any) -> Any: ...

    def send_latest_prompts(self) -> Any: ...

    def reset_layout(self) -> None: ...

    def restart_engine(self) -> None: ...

    def show_plugins(self) -> Any: ...

    def train_melody_dialog(self) -> Any: ...


Key = str | QKeySequence.StandardKey | Qt.Key

MENUS: tuple[tuple[str, str], ...] = (
    ("file", "&File"),
    ("file/export", "&Export"),
    ("edit", "&Edit"),
    ("generate", "&Generate"),
    ("view", "&View"),
    ("view/workspace", "&Workspace"),
    ("tools", "&Tools"),
    ("help", "&Help"),
)


@dataclass(frozen=True)
class ActionSpec:
    id: str  # the QAction's object name
    menu: str  # a key of MENUS
    title: str = ""
    run: Callable[[MenuHost], Any] | None = None
    keys: Sequence[Key] = ()
    tip: str = ""
    checkable: bool = False
    checked: Callable[[MenuHost], bool] | None = None
    toggled: Callable[[MenuHost, bool], Any] | None = None
    kind: str = "action"  # action | separator | recent | undo | redo | docks | workspaces
    extra: dict[str, Any] = field(default_factory=dict)


def _sep(menu: str) -> ActionSpec:
    return ActionSpec(id="", menu=menu, kind="separator")


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("actionNew", "file", "&New", lambda w: w.new_project(), (QKeySequence.StandardKey.New,), "Start a new project"),
    ActionSpec("actionOpen", "file", "&Open…", lambda w: w.open_project_dialog(), (QKeySequence.StandardKey.Open,), "Open a project file"),
    ActionSpec("menuRecent", "file", "Open &Recent", kind="recent"),
    ActionSpec("actionSave", "file", "&Save", lambda w: w.save(), (QKeySequence.StandardKey.Save,), "Save the project"),
    ActionSpec("actionSaveAs", "file", "Save &As…", lambda w: w.save_as_dialog(), ("Ctrl+Shift+S",), "Save the project under a new name"),
    _sep("file"),
    ActionSpec(
        "actionExportCanvas",
        "file/export",
        "Canvas as PNG…",
        lambda w: w.export_canvas_dialog(layer_only=False),
        ("Ctrl+E",),
        "All visible layers as one PNG (a composite record)",
    ),
    ActionSpec(
        "actionExportLayer",
        "file/export",
        "Active layer as PNG…",
        lambda w: w.export_canvas_dialog(layer_only=True),
        (),
        "The active layer with its generation's parameters",
    ),
    ActionSpec("actionExportMidi", "file/export", "Timeline as MIDI…", lambda w: w.export_timeline_dialog("mid")),
    ActionSpec("actionExportAudio", "file/export", "Timeline as WAV/FLAC…", lambda w: w.export_timeline_dialog("wav")),
    ActionSpec("actionExportClip", "file/export", "Selected clip as MIDI…", lambda w: w.export_timeline_dialog("mid", clip_only=True)),
    ActionSpec("actionExportText", "file/export", "Text as Markdown…", lambda w: w.export_text_dialog()),
    _sep("file"),
    ActionSpec("actionQuit", "file", "&Quit", lambda w: w.close(), (QKeySequence.StandardKey.Quit,)),
    ActionSpec("actionUndo", "edit", "&Undo", keys=(QKeySequence.StandardKey.Undo,), kind="undo"),
    ActionSpec("actionRedo", "edit", "&Redo", keys=("Ctrl+Shift+Z", "Ctrl+Y"), kind="redo"),
    _sep("edit"),
    ActionSpec("actionDeleteGeneration", "edit", "Delete selected generation", lambda w: w.history_panel.delete_selected()),
    ActionSpec(
        "actionPreferences",
        "edit",
        "&Preferences…",
        lambda w: w.preferences(),
        (QKeySequence.StandardKey.Preferences, "Ctrl+,"),
        "Model folders, device, pickle checkpoints",
    ),
    ActionSpec(
        "actionGenerate",
        "generate",
        "&Generate",
        lambda w: w.generate(),
        ("Ctrl+Return", "Ctrl+Enter"),
        "Run the Generate panel's generator",
    ),
    ActionSpec("actionCancel", "generate", "&Cancel current job", lambda w: w.cancel_current(), (Qt.Key.Key_Escape,)),
    ActionSpec("actionCancelAll", "generate", "Cancel &all jobs", lambda w: w.cancel_all()),
    _sep("generate"),
    ActionSpec(
        "actionRerun",
        "generate",
        "&Re-run selected generation",
        lambda w: w.history_actions.on_target(w.rerun_node),
        ("Ctrl+R",),
        "Same settings, same seed: the History's selection, else the latest",
    ),
    ActionSpec(
        "actionVary",
        "generate",
        "&Vary selected generation",
        lambda w: w.history_actions.on_target(w.vary_node),
        ("Ctrl+Shift+R",),
        "A variation of the History's selection, else of the latest",
    ),
    _sep("generate"),
    ActionSpec("actionSendPrompts", "generate", "Send each prompt to image generator", lambda w: w.send_latest_prompts()),
    ActionSpec("menuDocks", "view", kind="docks"),
    _sep("view"),
    ActionSpec("actionFitCanvas", "view", "Fit canvas", lambda w: w.canvas.view.fit(), ("Ctrl+0",)),
    ActionSpec("actionCanvas100", "view", "Canvas at 100%", lambda w: w.canvas.view.set_zoom(1.0), ("Ctrl+1",)),
    ActionSpec("menuWorkspaces", "view/workspace", kind="workspaces"),
    ActionSpec(
        "actionResetLayout", "view", "Reset layout", lambda w: w.reset_layout(), (), "Every panel back in its place for this workspace"
    ),
    _sep("view"),
    ActionSpec(
        "actionFollowResults",
        "view",
        "Show each new result",
        tip="Scroll to each new result and select it; off: results land without moving the view",
        checkable=True,
        checked=lambda w: follow_results.follows(w.settings),
        toggled=lambda w, on: follow_results.set_follows(w.settings, on),
    ),
    ActionSpec("actionPlugins", "tools", "&Plugins…", lambda w: w.show_plugins()),
    ActionSpec("actionTrainMelody", "tools", "Train on my MIDI…", lambda w: w.train_melody_dialog()),
    _sep("tools"),
    ActionSpec("actionRetryEngine", "tools", "Restart engine connection", lambda w: w.link.retry()),
    ActionSpec("actionRestartEngine", "tools", "Restart engine (apply settings)", lambda w: w.restart_engine()),
    ActionSpec(
        "actionDocs",
        "help",
        "Documentation",
        lambda w: first_run.open_path(help_text.docs_entry()),
        (QKeySequence.StandardKey.HelpContents,),
    ),
    ActionSpec("actionModelsHelp", "help", "Where to find models", lambda w: first_run.open_path(first_run.MODELS_PAGE)),
    ActionSpec(
        "actionLogs",
        "help",
        "Open log folder",
        lambda w: first_run.open_path(HomeLayout(w.home).logs_dir),
        (),
        "The log files a bug report needs",
    ),
    _sep("help"),
    ActionSpec("actionAbout", "help", "About Studio", lambda w: w.prompter.info(w, "About Studio", help_text.about_text(w.home))),
)


def _keys(keys: Sequence[Key]) -> list[QKeySequence]:
    """The sequences, without ones this platform leaves empty (Preferences on Linux) or repeats."""
    found: list[QKeySequence] = []
    for key in keys:
        sequences = QKeySequence.keyBindings(key) if isinstance(key, QKeySequence.StandardKey) else [QKeySequence(key)]
        for sequence in sequences:
            if not sequence.isEmpty() and sequence not in found:
                found.append(sequence)
    return found


def _make(window: MenuHost, spec: ActionSpec) -> QAction:
    action = QAction(spec.title, window)
    action.setObjectName(spec.id)
    if spec.keys:
        action.setShortcuts(_keys(spec.keys))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    if spec.tip:
        action.setToolTip(spec.tip)
        action.setStatusTip(spec.tip)
    if spec.checkable:
        action.setCheckable(True)
        action.setChecked(bool(spec.checked(window)) if spec.checked else False)
        if spec.toggled is not None:
            action.toggled.connect(lambda on, toggled=spec.toggled: toggled(window, on))
    elif spec.run is not None:
        action.triggered.connect(lambda _checked=False, run=spec.run: run(window))
    window.addAction(action)
    return action


def build_menus(window: MenuHost, actions: Sequence[ActionSpec] = ACTIONS) -> dict[str, QAction]:
    """Menus and actions from the table; returns the actions by id."""
    menus: dict[str, QMenu] = {}
    for key, title in MENUS:
        parent, _, _name = key.rpartition("/")
        menus[key] = menus[parent].addMenu(title) if parent else window.menuBar().addMenu(title)
    made: dict[str, QAction] = {}
    for spec in actions:
        menu = menus[spec.menu]
        if spec.kind == "separator":
            menu.addSeparator()
        elif spec.kind == "recent":
            window.recent_menu = menu.addMenu(spec.title)
        elif spec.kind in ("undo", "redo"):
            action = (
                window.undo.createUndoAction(window, spec.title)
                if spec.kind == "undo"
                else window.undo.createRedoAction(window, spec.title)
            )
            action.setObjectName(spec.id)
            action.setShortcuts(_keys(spec.keys))
            menu.addAction(action)
            window.addAction(action)
            made[spec.id] = action
        elif spec.kind == "docks":
            for dock in window.docks.values():
                menu.addAction(dock.toggleViewAction())
        elif spec.kind == "workspaces":
            group = QActionGroup(window)
            window.workspace_actions = {}
            for space in WORKSPACES.values():
                action = _make(
                    window,
                    ActionSpec(
                        f"actionWorkspace-{space.name}",
                        spec.menu,
                        space.title,
                        (lambda w, name=space.name: w.workspaces.switch(name)),
                        (space.shortcut,),
                        f"Arrange the window for {space.name}",
                    ),
                )
                action.setCheckable(True)
                group.addAction(action)
                menu.addAction(action)
                window.workspace_actions[space.name] = action
                made[action.objectName()] = action
            window.workspaces.changed.connect(lambda name: window.workspace_actions[name].setChecked(True))
        else:
            action = _make(window, spec)
            menu.addAction(action)
            made[spec.id] = action
    return made
