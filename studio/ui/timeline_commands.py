"""The timeline's undoable edits: each command changes the Qt-free ``TimelineDoc`` and asks
the widget to refresh. Split out of ``timeline.py`` so the document's edits read apart from
its views (clip lanes, piano roll)."""

from __future__ import annotations

import copy
from typing import Any, Protocol

from PySide6.QtGui import QUndoCommand

from studio.ui.timeline_model import TimelineDoc, new_id


class TimelineTarget(Protocol):
    """What the edits change and redraw: the timeline widget's document and views."""

    doc: TimelineDoc

    def refresh(self, select: str | None = None) -> None: ...


class _TimelineCommand(QUndoCommand):
    def __init__(self, timeline: TimelineTarget, text: str) -> None:
        super().__init__(text)
        self.timeline = timeline

    @property
    def doc(self) -> TimelineDoc:
        return self.timeline.doc


class AddClipCommand(_TimelineCommand):
    def __init__(self, timeline: TimelineTarget, track_id: str, clip: dict[str, Any], text: str = "Add clip") -> None:
        super().__init__(timeline, text)
        self.track_id, self.clip = track_id, copy.deepcopy(clip)

    def redo(self) -> None:
        self.doc.insert_clip(self.track_id, self.clip)
        self.timeline.refresh(select=self.clip["id"])

    def undo(self) -> None:
        self.doc.remove_clip(self.clip["id"])
        self.timeline.refresh()


class RemoveClipCommand(_TimelineCommand):
    def __init__(self, timeline: TimelineTarget, clip_id: str) -> None:
        super().__init__(timeline, "Delete clip")
        track, clip = timeline.doc.find_clip(clip_id)
        self.track_id, self.clip = track["id"], copy.deepcopy(clip)

    def redo(self) -> None:
        self.doc.remove_clip(self.clip["id"])
        self.timeline.refresh()

    def undo(self) -> None:
        self.doc.insert_clip(self.track_id, self.clip)
        self.timeline.refresh(select=self.clip["id"])


class PlaceClipCommand(_TimelineCommand):
    """Move and/or trim: (track, start, length) before and after."""

    def __init__(
        self, timeline: TimelineTarget, clip_id: str, before: tuple[str, float, float], after: tuple[str, float, float], text: str
    ) -> None:
        super().__init__(timeline, text)
        self.clip_id, self.before, self.after = clip_id, before, after

    def redo(self) -> None:
        self.doc.place_clip(self.clip_id, *self.after)
        self.timeline.refresh(select=self.clip_id)

    def undo(self) -> None:
        self.doc.place_clip(self.clip_id, *self.before)
        self.timeline.refresh(select=self.clip_id)


class MelodyEditCommand(_TimelineCommand):
    def __init__(self, timeline: TimelineTarget, clip_id: str, before: dict[str, Any], after: dict[str, Any], text: str) -> None:
        super().__init__(timeline, text)
        self.clip_id, self.before, self.after = clip_id, copy.deepcopy(before), copy.deepcopy(after)

    def redo(self) -> None:
        self.doc.set_melody(self.clip_id, self.after)
        self.timeline.refresh(select=self.clip_id)

    def undo(self) -> None:
        self.doc.set_melody(self.clip_id, self.before)
        self.timeline.refresh(select=self.clip_id)


class RenameClipCommand(_TimelineCommand):
    def __init__(self, timeline: TimelineTarget, clip_id: str, before: str, after: str) -> None:
        super().__init__(timeline, "Rename clip")
        self.clip_id, self.before, self.after = clip_id, before, after

    def _apply(self, name: str) -> None:
        _track, clip = self.doc.find_clip(self.clip_id)
        clip["name"] = name
        self.timeline.refresh()

    def redo(self) -> None:
        self._apply(self.after)

    def undo(self) -> None:
        self._apply(self.before)


class TimelineSettingsCommand(_TimelineCommand):
    def __init__(self, timeline: TimelineTarget, key: str, before: Any, after: Any) -> None:
        super().__init__(timeline, f"Change {key.replace('_', ' ')}")
        self.key, self.before, self.after = key, before, after

    def id(self) -> int:
        return 8001

    def mergeWith(self, other: QUndoCommand) -> bool:
        if isinstance(other, TimelineSettingsCommand) and other.key == self.key:
            self.after = other.after
            return True
        return False

    def redo(self) -> None:
        self.doc.data[self.key] = self.after
        self.timeline.refresh()

    def undo(self) -> None:
        self.doc.data[self.key] = self.before
        self.timeline.refresh()


class AddTrackCommand(_TimelineCommand):
    def __init__(self, timeline: TimelineTarget, kind: str) -> None:
        super().__init__(timeline, f"Add {kind} track")
        count = sum(track["kind"] == kind for track in timeline.doc.tracks) + 1
        self.track = {"id": new_id(), "name": f"{kind.title()} {count}", "kind": kind, "clips": []}

    def redo(self) -> None:
        self.doc.tracks.append(copy.deepcopy(self.track))
        self.timeline.refresh()

    def undo(self) -> None:
        self.doc.data["tracks"] = [track for track in self.doc.tracks if track["id"] != self.track["id"]]
        self.timeline.refresh()
