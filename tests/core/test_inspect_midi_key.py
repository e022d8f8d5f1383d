"""``inspect`` names the mode of a MIDI file without our record (issue 13, defect 9): a D-dorian
tune's key signature says C major; the notes say D dorian."""

from __future__ import annotations

from pathlib import Path

from studio.core.inspect_file import inspect_path
from studio.core.melody import Melody, Note
from studio.core.midi import write_midi


def test_a_d_dorian_tune_from_another_tool_inspects_as_d_dorian(tmp_path: Path) -> None:
    pitches = [62, 64, 65, 67, 69, 67, 65, 64, 62, 69, 72, 71, 69, 67, 65, 62]
    melody = Melody(notes=[Note(p, i * 0.5, 0.5, 90) for i, p in enumerate(pitches)], tempo=110.0, key="D", mode="dorian")
    path = tmp_path / "tune.mid"
    path.write_bytes(write_midi(melody))  # no ``studio`` record: another tool's file
    info = inspect_path(path)
    assert info["key"] == "D dorian"
    assert info["key_signature"] == "C"
