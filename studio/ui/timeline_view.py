"""The timeline's arrangement view: clip items on track lanes under a bar ruler, with the
playhead; clips are dragged (snapped to the beat grid, between tracks of their kind),
trimmed from the right edge, dragged out as MIDI files, and files are dropped onto lanes.

Split out of ``timeline.py``. The view edits through its host (``TimelineHost``, the timeline
widget) with undoable commands; it redraws from the host's ``TimelineDoc``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QUndoStack
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QMenu,
    QWidget,
)

from studio.ui.key_chooser import clip_tooltip
from studio.ui.timeline_commands import PlaceClipCommand
from studio.ui.timeline_model import TimelineDoc, clip_melody, snap

if TYPE_CHECKING:  # numpy is imported where it is used (the window's first paint)
    import numpy as np

PX_PER_BEAT = 28.0
TRACK_H = 64.0
RULER_H = 22.0
MIN_CLIP = 0.25
EDGE = 7.0
AUDIO_SUFFIXES = (".wav", ".flac")
MIDI_SUFFIXES = (".mid", ".midi")
COLOURS = {"melody": QColor("#3d6fd1"), "audio": QColor("#2f9e7a")}


class TimelineHost(Protocol):
    """What the view uses of the timeline widget."""

    doc: TimelineDoc
    undo: QUndoStack
    other_files_dropped: Any  # Signal(list)

    def select_clip(self, clip_id: str | None, *, from_view: bool = False, extend: bool = False) -> None: ...

    def selected_ids(self) -> list[str]: ...

    def build_context_menu(self, parent: QWidget) -> QMenu: ...

    def peaks_for(self, clip: dict[str, Any]) -> np.ndarray | None: ...

    def drag_out(self, clip_id: str) -> None: ...

    def _free_or_say(self, track: dict[str, Any], start: float, length: float, name: str, *, ignore: str | None = None) -> float: ...


# --------------------------------------------------------------------------- clip items


class ClipItem(QGraphicsRectItem):
    def __init__(self, view: TimelineView, track_index: int, track: dict[str, Any], clip: dict[str, Any]) -> None:
        self.view, self.track, self.clip = view, track, clip
        width = max(MIN_CLIP, float(clip["length"])) * PX_PER_BEAT
        super().__init__(0, 0, width, TRACK_H - 8)
        self.setPos(float(clip["start"]) * PX_PER_BEAT, RULER_H + track_index * TRACK_H + 4)
        colour = COLOURS.get(track["kind"], QColor("#777"))
        self.setBrush(colour.darker(140))
        self.setPen(QPen(colour.lighter(130), 1))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setAcceptHoverEvents(True)
        self.setToolTip(clip_tooltip(clip, view.timeline.blobs))  # name and key
        self._mode: str | None = None
        self._press: QPointF | None = None
        self._origin = (track["id"], float(clip["start"]), float(clip["length"]))
        self._peaks = view.timeline.peaks_for(clip) if track["kind"] == "audio" else None

    def paint(self, painter: QPainter, option: Any, widget: Any = None) -> None:
        rect = self.rect()
        painter.setPen(QPen(QColor("#ffffff") if self.isSelected() else self.pen().color(), 2 if self.isSelected() else 1))
        painter.setBrush(self.brush())
        painter.drawRoundedRect(rect, 4, 4)
        painter.setPen(QColor("#e8e8ea"))
        painter.drawText(rect.adjusted(5, 2, -4, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, self.clip.get("name", ""))
        body = rect.adjusted(2, 16, -2, -3)
        melody = clip_melody(self.clip)
        if melody is not None and melody.notes:
            low, high = melody.pitch_range
            span = max(12, high - low + 1)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#cfe0ff"))
            for note in melody.notes:
                if note.start >= self.clip["length"]:
                    continue
                x = body.left() + note.start * PX_PER_BEAT
                w = max(1.5, min(note.duration, self.clip["length"] - note.start) * PX_PER_BEAT - 1)
                y = body.bottom() - (note.pitch - low + 1) / span * body.height()
                painter.drawRect(QRectF(x, y, w, max(2.0, body.height() / span)))
        elif self._peaks is not None and len(self._peaks):
            painter.setPen(QPen(QColor("#bff0dd"), 1))
            mid = body.center().y()
            count = int(body.width())
            for index in range(count):
                peak = float(self._peaks[min(len(self._peaks) - 1, int(index / max(1, count) * len(self._peaks)))])
                painter.drawLine(
                    QPointF(body.left() + index, mid - peak * body.height() / 2),
                    QPointF(body.left() + index, mid + peak * body.height() / 2),
                )

    def hoverMoveEvent(self, event: Any) -> None:
        near_edge = event.pos().x() >= self.rect().right() - EDGE
        self.setCursor(Qt.CursorShape.SizeHorCursor if near_edge else Qt.CursorShape.OpenHandCursor)

    def mousePressEvent(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.view.timeline.select_clip(self.clip["id"], extend=True)
            event.accept()
            return
        self.scene().clearSelection()
        self.setSelected(True)
        self.view.timeline.select_clip(self.clip["id"], from_view=True)
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.view.timeline.drag_out(self.clip["id"])
            return
        self._mode = "trim" if event.pos().x() >= self.rect().right() - EDGE else "move"
        self._press = event.scenePos()
        event.accept()

    def mouseMoveEvent(self, event: Any) -> None:
        if self._press is None:
            return
        delta = event.scenePos() - self._press
        _track_id, start, length = self._origin
        if self._mode == "trim":
            new_length = max(MIN_CLIP, snap(length + delta.x() / PX_PER_BEAT))
            self.setRect(0, 0, new_length * PX_PER_BEAT, self.rect().height())
        else:
            new_start = max(0.0, snap(start + delta.x() / PX_PER_BEAT))
            lane = self.view.lane_at(event.scenePos().y(), self.track["kind"])
            y = RULER_H + lane * TRACK_H + 4 if lane is not None else self.pos().y()
            self.setPos(new_start * PX_PER_BEAT, y)

    def mouseReleaseEvent(self, event: Any) -> None:
        if self._press is None:
            return
        self._press = None
        track_id, start, length = self._origin
        if self._mode == "trim":
            wanted = self.rect().width() / PX_PER_BEAT
            later = [
                float(c["start"])
                for c in self.view.timeline.doc.track(track_id)["clips"]
                if c["id"] != self.clip["id"] and float(c["start"]) >= start + 1e-9
            ]
            # A longer clip stops where the next one begins rather than running under it.
            after = (track_id, start, max(MIN_CLIP, min([wanted] + [begin - start for begin in later])))
            text = "Trim clip"
        else:
            lane = self.view.lane_at(self.pos().y() + 10, self.track["kind"])
            target = self.view.timeline.doc.tracks[lane]["id"] if lane is not None else track_id
            timeline = self.view.timeline
            wanted = self.pos().x() / PX_PER_BEAT
            start = timeline._free_or_say(
                timeline.doc.track(target), wanted, length, str(self.clip.get("name") or "Clip"), ignore=self.clip["id"]
            )
            after = (target, start, length)
            text = "Move clip"
        self._mode = None
        if after != self._origin:
            self.view.timeline.undo.push(PlaceClipCommand(self.view.timeline, self.clip["id"], self._origin, after, text))


class TimelineView(QGraphicsView):
    files_dropped = Signal(list, float, int)  # paths, beat, track index

    def __init__(self, timeline: TimelineHost) -> None:
        self.scene_ = QGraphicsScene()
        super().__init__(self.scene_)
        # Owned by the view, so it dies with the window on the GUI thread rather than whenever
        # (and on whichever thread) Python's cycle collector gets to its wrapper.
        self.scene_.setParent(self)
        self.timeline = timeline
        self.setObjectName("timelineView")
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setBackgroundBrush(QColor("#17181b"))
        self.setAcceptDrops(True)
        self.playhead = QGraphicsLineItem()
        self.playhead.setPen(QPen(QColor("#ff5a5a"), 2))
        self.playhead.setZValue(100)

    def lane_at(self, y: float, kind: str) -> int | None:
        index = int((y - RULER_H) // TRACK_H)
        tracks = self.timeline.doc.tracks
        if 0 <= index < len(tracks) and tracks[index]["kind"] == kind:
            return index
        return None

    def rebuild(self) -> None:
        doc = self.timeline.doc
        if self.playhead.scene() is self.scene_:
            self.scene_.removeItem(self.playhead)
        self.scene_.clear()
        bars = max(16, int(doc.end_beat() / doc.beats_per_bar) + 8)
        width = bars * doc.beats_per_bar * PX_PER_BEAT
        height = RULER_H + max(1, len(doc.tracks)) * TRACK_H
        self.scene_.setSceneRect(QRectF(0, 0, width, height))
        grid_beat, grid_bar = QPen(QColor("#232428"), 0), QPen(QColor("#34363c"), 0)
        beat = 0.0
        font = QFont()
        font.setPointSize(8)
        bar = 1
        while beat <= bars * doc.beats_per_bar:
            is_bar = abs(beat / doc.beats_per_bar - round(beat / doc.beats_per_bar)) < 1e-6
            self.scene_.addLine(
                beat * PX_PER_BEAT, RULER_H if not is_bar else 0, beat * PX_PER_BEAT, height, grid_bar if is_bar else grid_beat
            )
            if is_bar:
                label = QGraphicsSimpleTextItem(str(bar))
                label.setFont(font)
                label.setBrush(QColor("#8c9099"))
                label.setPos(beat * PX_PER_BEAT + 3, 3)
                self.scene_.addItem(label)
                bar += 1
            beat += 1.0
        for index, track in enumerate(doc.tracks):
            top = RULER_H + index * TRACK_H
            self.scene_.addLine(0, top, width, top, QPen(QColor("#2a2c31"), 0))
            name = QGraphicsSimpleTextItem(f"{track['name']}")
            name.setBrush(QColor("#5f636b"))
            name.setFont(font)
            name.setPos(4, top + TRACK_H - 16)
            name.setZValue(-1)
            self.scene_.addItem(name)
            for clip in track["clips"]:
                self.scene_.addItem(ClipItem(self, index, track, clip))
        self.playhead.setLine(0, 0, 0, height)
        self.scene_.addItem(self.playhead)
        self.playhead.setVisible(False)

    def clip_items(self) -> list[ClipItem]:
        return [item for item in self.scene_.items() if isinstance(item, ClipItem)]

    def dragEnterEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:
        every = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        paths = [p for p in every if p.lower().endswith(AUDIO_SUFFIXES + MIDI_SUFFIXES)]
        others = [p for p in every if p and p not in paths]
        if others:
            self.timeline.other_files_dropped.emit(others)  # model files and folders: the window asks
            event.acceptProposedAction()
        if not paths:
            return
        pos = self.mapToScene(event.position().toPoint())
        self.files_dropped.emit(paths, max(0.0, snap(pos.x() / PX_PER_BEAT, 1.0)), int((pos.y() - RULER_H) // TRACK_H))
        event.acceptProposedAction()

    def mousePressEvent(self, event: Any) -> None:
        item = self.itemAt(event.position().toPoint())
        if not isinstance(item, ClipItem) and event.button() == Qt.MouseButton.LeftButton:
            self.scene_.clearSelection()
            self.timeline.select_clip(None, from_view=True)
        super().mousePressEvent(event)

    def contextMenuEvent(self, event: Any) -> None:
        item = self.itemAt(event.pos())
        if isinstance(item, ClipItem) and item.clip["id"] not in self.timeline.selected_ids():
            self.timeline.select_clip(item.clip["id"])
        menu = self.timeline.build_context_menu(self)
        menu.exec(event.globalPos())
        menu.deleteLater()
