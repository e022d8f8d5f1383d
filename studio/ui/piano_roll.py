"""The piano roll: a clip's notes to move, resize, add and delete, with a keyboard down the
left edge (``piano_keys``). Split out of ``timeline.py``; its edits go through the timeline's
undo stack as ``MelodyEditCommand``s."""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen, QUndoStack
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView

from studio.core.melody import Melody, Note
from studio.ui.piano_keys import KEY_WIDTH, paint_keyboard
from studio.ui.timeline_commands import MelodyEditCommand, TimelineTarget
from studio.ui.timeline_model import SNAP, clip_melody, snap


class RollHost(TimelineTarget, Protocol):
    """What the piano roll uses of the timeline widget: its document, redraw and undo stack."""

    undo: QUndoStack


PITCH_LOW, PITCH_HIGH = 36, 96
ROW_H = 12.0  # tall enough to name each white key on the keyboard
ROLL_PX = 36.0


class NoteItem(QGraphicsRectItem):
    def __init__(self, roll: PianoRoll, index: int, note: Note) -> None:
        self.roll, self.index, self.note = roll, index, note
        super().__init__(0, 0, max(3.0, note.duration * ROLL_PX - 1), ROW_H - 1)
        self.setPos(note.start * ROLL_PX, (PITCH_HIGH - note.pitch) * ROW_H)
        self.setBrush(QColor("#6c9cff"))
        self.setPen(QPen(QColor("#b9cffd"), 0))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setAcceptHoverEvents(True)
        self._press: QPointF | None = None
        self._mode = "move"

    def hoverMoveEvent(self, event: Any) -> None:
        self.setCursor(Qt.CursorShape.SizeHorCursor if event.pos().x() >= self.rect().right() - 4 else Qt.CursorShape.SizeAllCursor)

    def mousePressEvent(self, event: Any) -> None:
        self.scene().clearSelection()
        self.setSelected(True)
        self._press = event.scenePos()
        self._mode = "resize" if event.pos().x() >= self.rect().right() - 4 else "move"
        event.accept()

    def mouseMoveEvent(self, event: Any) -> None:
        if self._press is None:
            return
        delta = event.scenePos() - self._press
        if self._mode == "resize":
            duration = max(SNAP, snap(self.note.duration + delta.x() / ROLL_PX))
            self.setRect(0, 0, duration * ROLL_PX - 1, ROW_H - 1)
        else:
            start = max(0.0, snap(self.note.start + delta.x() / ROLL_PX))
            pitch = max(0, min(127, self.note.pitch - int(round(delta.y() / ROW_H))))
            self.setPos(start * ROLL_PX, (PITCH_HIGH - pitch) * ROW_H)

    def mouseReleaseEvent(self, event: Any) -> None:
        if self._press is None:
            return
        self._press = None
        if self._mode == "resize":
            changed = Note(self.note.pitch, self.note.start, round((self.rect().width() + 1) / ROLL_PX / SNAP) * SNAP, self.note.velocity)
        else:
            changed = Note(
                PITCH_HIGH - int(round(self.pos().y() / ROW_H)), self.pos().x() / ROLL_PX, self.note.duration, self.note.velocity
            )
        if changed != self.note:
            self.roll.replace_note(self.index, changed, "Resize note" if self._mode == "resize" else "Move note")


class PianoRoll(QGraphicsView):
    def __init__(self, timeline: RollHost) -> None:
        self.scene_ = QGraphicsScene()
        super().__init__(self.scene_)
        # Owned by the view, so it dies with the window on the GUI thread rather than whenever
        # (and on whichever thread) Python's cycle collector gets to its wrapper.
        self.scene_.setParent(self)
        self.timeline = timeline
        self.setObjectName("pianoRoll")
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setBackgroundBrush(QColor("#141517"))
        # The keyboard is drawn over the left edge on every repaint, so no scrolled copies.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setToolTip("Double-click to add a note; drag to move, drag the right edge to resize; Delete removes")
        self.clip_id: str | None = None
        self.melody: Melody | None = None

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        paint_keyboard(painter, self, PITCH_LOW, PITCH_HIGH, ROW_H)

    def show_clip(self, clip: dict[str, Any] | None) -> None:
        self.clip_id = clip["id"] if clip is not None and clip.get("melody") else None
        self.melody = clip_melody(clip) if self.clip_id else None
        self.rebuild()

    def rebuild(self) -> None:
        self.scene_.clear()
        length = max(16.0, (self.melody.length if self.melody else 0.0) + 4.0)
        width = length * ROLL_PX
        rows = PITCH_HIGH - PITCH_LOW + 1
        # Room left of beat 0 for the keyboard, so the first notes are not under it.
        self.scene_.setSceneRect(QRectF(-KEY_WIDTH, 0, width + KEY_WIDTH, rows * ROW_H))
        for pitch in range(PITCH_LOW, PITCH_HIGH + 1):
            y = (PITCH_HIGH - pitch) * ROW_H
            black = pitch % 12 in (1, 3, 6, 8, 10)
            self.scene_.addRect(
                QRectF(0, y, width, ROW_H), QPen(Qt.PenStyle.NoPen), QBrush(QColor("#18191c") if black else QColor("#1f2024"))
            )
        beat = 0.0
        while beat <= length:
            self.scene_.addLine(beat * ROLL_PX, 0, beat * ROLL_PX, rows * ROW_H, QPen(QColor("#2b2d32"), 0))
            beat += 1.0
        if self.melody is None:
            hint = QGraphicsSimpleTextItem("Select a melody clip to edit its notes")
            hint.setBrush(QColor("#6b6f77"))
            hint.setPos(20, 20)
            self.scene_.addItem(hint)
            return
        for index, note in enumerate(self.melody.notes):
            self.scene_.addItem(NoteItem(self, index, note))
        if self.melody.notes:
            low, high = self.melody.pitch_range
            self.centerOn(0, (PITCH_HIGH - (low + high) / 2) * ROW_H)

    def _push(self, notes: list[Note], text: str) -> None:
        if self.melody is None or self.clip_id is None:
            return
        before = self.melody.to_dict()
        after = self.melody.copy(notes=notes, length=max(self.melody.length, max((n.end for n in notes), default=0.0))).to_dict()
        self.timeline.undo.push(MelodyEditCommand(self.timeline, self.clip_id, before, after, text))

    def replace_note(self, index: int, note: Note, text: str) -> None:
        if self.melody is None:
            return
        notes = list(self.melody.notes)
        notes[index] = note
        self._push(notes, text)

    def add_note(self, pitch: int, start: float, duration: float = 1.0) -> None:
        if self.melody is None:
            return
        self._push(list(self.melody.notes) + [Note(pitch, start, duration, 80)], "Add note")

    def delete_selected(self) -> None:
        if self.melody is None:
            return
        doomed = {item.index for item in self.scene_.selectedItems() if isinstance(item, NoteItem)}
        if doomed:
            self._push([note for i, note in enumerate(self.melody.notes) if i not in doomed], "Delete note")

    def mouseDoubleClickEvent(self, event: Any) -> None:
        pos = self.mapToScene(event.position().toPoint())
        if self.melody is not None and not isinstance(self.itemAt(event.position().toPoint()), NoteItem):
            self.add_note(PITCH_HIGH - int(pos.y() // ROW_H), max(0.0, snap(pos.x() / ROLL_PX - SNAP / 2)))
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event: Any) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selected()
            return
        super().keyPressEvent(event)
