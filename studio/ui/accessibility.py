"""Accessibility basics: names and tooltips for every control, keyboard focus for every view.

A screen reader announces a control by its accessible name, and a sighted user learns what
an unlabelled slider does from its tooltip; a keyboard user needs every panel reachable with
Tab and the lists and views operable with the arrows, Enter and Delete. The rules here are
applied once to the window (and to each generator form as it is built), so a widget module
need not repeat them; a test walks every control and fails on any left unexplained.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QSlider,
    QToolButton,
    QWidget,
)

CONTROLS = (QAbstractButton, QAbstractSpinBox, QComboBox, QSlider, QLineEdit)

#: words that say what kind of control it is, after the name it shares with its siblings
_KIND = ((QSlider, "slider"), (QAbstractSpinBox, "value"), (QComboBox, "choice"), (QLineEdit, "field"), (QAbstractButton, "button"))

#: Qt's own buttons (toolbar / menu overflow "»") that come without a name
_QT_BUTTONS = {
    "qt_toolbar_ext_button": "More tools",
    "qt_menubar_ext_button": "More menus",
    "qt_dockwidget_closebutton": "Close panel",
    "qt_dockwidget_floatbutton": "Undock panel",
}


def controls(root: QWidget) -> list[QWidget]:
    """The interactive controls under ``root`` (a spin box's own line edit is the spin box)."""
    found = [root] if isinstance(root, CONTROLS) else []
    found += [widget for widget in root.findChildren(QWidget) if isinstance(widget, CONTROLS)]
    return [widget for widget in found if not isinstance(widget.parent(), CONTROLS)]


def unexplained(root: QWidget) -> list[QWidget]:
    """Controls with neither a tooltip nor an accessible name."""
    return [widget for widget in controls(root) if not (widget.toolTip().strip() or widget.accessibleName().strip())]


def _kind(widget: QWidget) -> str:
    return next(word for kind, word in _KIND if isinstance(widget, kind))


def explain_editor(editor: QWidget, name: str, tip: str) -> None:
    """A parameter editor's controls: named for the parameter ("Steps slider", "Steps value"),
    with the parameter's help (or its name) as tooltip where they have none."""
    parts = controls(editor)
    for widget in parts:
        if not widget.accessibleName():
            widget.setAccessibleName(name if len(parts) == 1 else f"{name} {_kind(widget)}")
        if not widget.toolTip():
            widget.setToolTip(tip or name)


def name_buttons_by_text(root: QWidget) -> None:
    """Buttons that show a text (OK, Cancel…) are named by it; Qt's own unnamed ones get a name."""
    for button in root.findChildren(QAbstractButton):
        if button.accessibleName() or button.toolTip():
            continue
        if button.objectName() in _QT_BUTTONS:
            button.setAccessibleName(_QT_BUTTONS[button.objectName()])
            button.setToolTip(_QT_BUTTONS[button.objectName()])
        elif button.text().strip():
            button.setAccessibleName(button.text().replace("&", "").strip(" …"))


def focusable(widget: QWidget, name: str) -> None:
    """A view that takes the keyboard focus (Tab and click) and says what it is."""
    widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    if not widget.accessibleName():
        widget.setAccessibleName(name)


def describe_window(window: Any) -> None:
    """Names, tooltips and focus for the main window's views and toolbars."""
    canvas, timeline = window.canvas, window.timeline
    for widget, name in (
        (canvas.view, "Canvas"),
        (canvas.layer_list, "Layers"),
        (timeline.view, "Timeline"),
        (timeline.roll, "Piano roll"),
        (window.history_panel, "History"),
        (window.jobs_panel, "Jobs"),
        (window.generate_panel, "Generate"),
        (window.text_panel, "Text"),
    ):
        if widget is canvas.view or widget is timeline.view or widget is canvas.layer_list:
            focusable(widget, name)
        else:
            widget.setAccessibleName(name)
    for box, tip in (
        (getattr(timeline, "tempo", None), "Tempo of the timeline in beats per minute"),
        (getattr(timeline, "metre", None), "Time signature of the timeline"),
    ):
        if box is not None and not box.toolTip():
            box.setToolTip(tip)
    name_buttons_by_text(window)


def describe_dialog(dialog: QWidget) -> None:
    name_buttons_by_text(dialog)


def first_control(widget: QWidget) -> QToolButton | QWidget | None:
    """The first control in ``widget`` Tab would stop at (used by the keyboard test)."""
    for child in controls(widget):
        if child.focusPolicy() & Qt.FocusPolicy.TabFocus and child.isEnabled() and child.isVisibleTo(widget):
            return child
    return None
