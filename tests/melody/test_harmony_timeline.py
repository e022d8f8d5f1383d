"""A harmonization lands in the timeline as one clip per voice, each on its own track."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("PySide6")

from studio.core.melody import Melody, Note  # noqa: E402
from studio.core.midi import Part, read_midi_parts, write_parts  # noqa: E402


class _Blobs:
    def __init__(self) -> None:
        self.items: dict[str, bytes] = {}

    def put(self, data: bytes, kind: str, mime: str, meta: dict[str, Any] | None = None) -> str:
        key = f"blob{len(self.items)}"
        self.items[key] = data
        return key

    def get(self, key: str) -> bytes:
        return self.items[key]


def test_each_voice_of_a_harmonization_gets_its_own_track(qtbot):
    from PySide6.QtGui import QUndoStack

    from studio.ui import placement
    from studio.ui.timeline import TimelineWidget

    undo = QUndoStack()
    timeline = TimelineWidget(undo, _Blobs())
    qtbot.addWidget(timeline)
    voices = [
        Part(name, Melody([Note(pitch + i, i, 1) for i in range(4)], length=4))
        for name, pitch in (("Soprano", 72), ("Alto", 65), ("Tenor", 57), ("Bass", 48))
    ]
    data = write_parts(voices)
    parts = read_midi_parts(data)
    assert [name for name, _ in parts] == ["Soprano", "Alto", "Tenor", "Bass"]
    ids = placement.land_parts(timeline, parts, name="harmony #1", node="n1", blob="b")
    melody_tracks = [t for t in timeline.doc.tracks if t["kind"] == "melody"]
    assert len(melody_tracks) >= 4
    placed = [next(c for t in melody_tracks for c in t["clips"] if c["id"] == clip_id) for clip_id in ids]
    assert len({timeline.doc.find_clip(i)[0]["id"] for i in ids}) == 4, "a track per voice"
    assert len({c["start"] for c in placed}) == 1, "the voices start together"
    assert [c["melody"]["notes"][0][0] for c in placed] == [72, 65, 57, 48]
    undo.undo()
    assert all(not t["clips"] for t in timeline.doc.tracks), "one undo removes the whole harmonization"
