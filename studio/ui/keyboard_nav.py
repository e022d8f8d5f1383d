"""The keys of the window's views, for people who work without a mouse.

- Canvas: Page Up / Page Down pick the next / previous layer, the arrows nudge the active
  layer by a pixel (Shift: ten; undoable as one move each), Enter brings it into view,
  Delete removes it. In the Layers list the arrows pick a layer; Enter and Delete as above.
- Timeline: Left / Right select the previous / next clip on its track, Up / Down the nearest
  clip on the track above / below, Enter moves the focus to the piano roll (its notes),
  Delete removes the clip (the timeline's own shortcut).
- History: the arrows move through generations (the tree's own keys), Enter sends the
  selected one to the canvas or timeline, as a double click does; Delete deletes it (undoable).
- Jobs: the arrows pick a job, Delete cancels it.

Each is an event filter installed on the view, so the widgets need no key code of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QListWidget, QWidget

from studio.ui import accessibility

ENTER = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
DELETE = (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
OTHER_MODIFIERS = Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.MetaModifier
ARROWS = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}


class KeyMap(QObject):
    """Keys pressed in ``widget`` → actions; a key not in the map goes on to the widget."""

    def __init__(self, widget: QWidget, keys: Callable[[Any], bool]) -> None:
        super().__init__(widget)
        self.keys = keys
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress:
            return bool(self.keys(event))
        return False


# --------------------------------------------------------------------------- canvas


def _canvas_keys(canvas: Any) -> Callable[[Any], bool]:
    def handle(event: Any) -> bool:
        key, layer = event.key(), canvas.active_layer()
        if key in (Qt.Key.Key_PageUp, Qt.Key.Key_PageDown):
            return _pick_layer(canvas, +1 if key == Qt.Key.Key_PageUp else -1)
        if layer is None:
            return False
        if key in ARROWS and not event.modifiers() & OTHER_MODIFIERS:  # Alt+arrows step through takes
            step = 10.0 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1.0
            dx, dy = ARROWS[key]
            before = canvas.layer_states()
            layer.setPos(layer.pos().x() + dx * step, layer.pos().y() + dy * step)
            canvas.commit_move(before)
            return True
        if key in DELETE:
            canvas.delete_active()
            return True
        if key in ENTER:
            canvas.reveal_layers([layer])
            return True
        return False

    return handle


def _pick_layer(canvas: Any, direction: int) -> bool:
    ordered = sorted(canvas.layers.values(), key=lambda layer: layer.zValue())
    if not ordered:
        return False
    active = canvas.active_layer()
    index = ordered.index(active) if active in ordered else 0
    chosen = ordered[(index + direction) % len(ordered)]
    canvas.scene.clearSelection()
    chosen.setSelected(True)
    canvas._refresh_list(select=chosen.layer_id)
    return True


def _layer_list_keys(canvas: Any) -> Callable[[Any], bool]:
    """The Layers list keeps its arrows (they pick a layer); Enter shows it, Delete removes it."""

    def handle(event: Any) -> bool:
        layer = canvas.active_layer()
        if layer is None or event.key() not in DELETE + ENTER:
            return False
        if event.key() in DELETE:
            canvas.delete_active()
        else:
            canvas.reveal_layers([layer])
        return True

    return handle


# --------------------------------------------------------------------------- timeline


def neighbour_clip(timeline: Any, dx: int, dy: int) -> str | None:
    """The clip left / right of the selected one on its track, or nearest in time above / below."""
    tracks = timeline.doc.tracks
    if timeline.selected is None:
        clips = [clip for _track, clip in timeline.doc.clips()]
        return min(clips, key=lambda clip: float(clip["start"]))["id"] if clips else None
    track, clip = timeline.doc.find_clip(timeline.selected)
    index = next(i for i, candidate in enumerate(tracks) if candidate["id"] == track["id"])
    if dx:
        ordered = sorted(track["clips"], key=lambda other: float(other["start"]))
        position = next(i for i, other in enumerate(ordered) if other["id"] == clip["id"]) + dx
        return ordered[position]["id"] if 0 <= position < len(ordered) else None
    others = tracks[index + 1 :] if dy > 0 else list(reversed(tracks[:index]))
    for other_track in others:
        if other_track["clips"]:
            start = float(clip["start"])
            return min(other_track["clips"], key=lambda other: abs(float(other["start"]) - start))["id"]
    return None


def _timeline_keys(timeline: Any) -> Callable[[Any], bool]:
    def handle(event: Any) -> bool:
        key = event.key()
        if key in ARROWS and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            target = neighbour_clip(timeline, *ARROWS[key])
            if target is not None:
                timeline.reveal_clip(target)
            return True
        if key in ENTER and timeline.selected_clip() is not None and timeline.selected_clip().get("melody"):
            timeline.roll.setFocus(Qt.FocusReason.ShortcutFocusReason)
            return True
        return False

    return handle


# --------------------------------------------------------------------------- lists


def _history_keys(panel: Any) -> Callable[[Any], bool]:
    def handle(event: Any) -> bool:
        item = panel.tree.currentItem()
        if event.key() in ENTER and item is not None:
            panel._emit(panel.send_requested, item)
            return True
        if event.key() in DELETE and item is not None:
            panel.delete_selected()  # undoable, as Edit ▸ Delete selected generation is
            return True
        return False

    return handle


def selected_ticket(panel: Any) -> str | None:
    item = panel.list.currentItem()
    for ticket, (row_item, _row) in panel.rows.items():
        if row_item is item:
            return str(ticket)
    return None


def _jobs_keys(panel: Any) -> Callable[[Any], bool]:
    def handle(event: Any) -> bool:
        if event.key() in DELETE:
            ticket = selected_ticket(panel)
            if ticket is not None:
                panel.cancel_requested.emit(ticket)
            return True
        return False

    return handle


def install(window: Any) -> list[KeyMap]:
    """The keys above on the window's canvas, timeline, History and Jobs views."""
    jobs = window.jobs_panel
    jobs.list.setSelectionMode(QListWidget.SelectionMode.SingleSelection)  # a job to act on
    accessibility.focusable(jobs.list, "Jobs list")
    accessibility.focusable(window.history_panel.tree, "History list")
    accessibility.focusable(window.timeline.roll, "Piano roll")
    return [
        KeyMap(window.canvas.view, _canvas_keys(window.canvas)),
        KeyMap(window.canvas.layer_list, _layer_list_keys(window.canvas)),
        KeyMap(window.timeline.view, _timeline_keys(window.timeline)),
        KeyMap(window.history_panel.tree, _history_keys(window.history_panel)),
        KeyMap(jobs.list, _jobs_keys(jobs)),
    ]
