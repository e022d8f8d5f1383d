"""The window's menus are declared as data (issue 13, structure): each declared action exists
under its id, in its menu, and no two share a shortcut."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction

from studio.ui.window_actions import ACTIONS, MENUS


def test_every_declared_action_is_in_the_window_with_its_keys(make_window: Any) -> None:
    window = make_window()
    declared = [spec for spec in ACTIONS if spec.kind in ("action", "undo", "redo")]
    for spec in declared:
        action = window.findChild(QAction, spec.id)
        assert action is not None, spec.id
        assert action.text() == spec.title
        assert [key.toString() for key in action.shortcuts()] == [key.toString() for key in window.actions_by_id[spec.id].shortcuts()]
    assert [menu.title() for menu in (a.menu() for a in window.menuBar().actions())] == [title for key, title in MENUS if "/" not in key]


def test_no_two_actions_share_a_shortcut(make_window: Any) -> None:
    window = make_window()
    seen: dict[str, str] = {}
    for action in window.actions_by_id.values():
        for key in action.shortcuts():
            text = key.toString()
            assert text not in seen, f"{text}: {seen.get(text)} and {action.objectName()}"
            seen[text] = action.objectName()
    assert {"Ctrl+R", "Ctrl+Shift+R", "Ctrl+Alt+1", "Ctrl+Alt+2"} <= set(seen)


def test_a_declared_action_runs_with_the_window_injected(make_window: Any) -> None:
    window = make_window()
    window.canvas.view.set_zoom(3.0)
    window.actions_by_id["actionCanvas100"].trigger()
    assert window.canvas.view.zoom == 1.0
    window.actions_by_id["actionWorkspace-music"].trigger()
    assert window.workspaces.current == "music"
