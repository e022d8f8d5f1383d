"""Standard MIDI in and out: meta events, velocities, odd files, broken files, the record."""

from __future__ import annotations

import io
import struct

import mido
import pytest

from studio.core.errors import FileFormatError
from studio.core.melody import Melody, Note
from studio.core.midi import embed_metadata, read_midi, read_midi_metadata, write_midi


def _melody() -> Melody:
    pitches = [67, 69, 71, 72, 74, 72, 71, 69, 67, 66, 67, 69]
    notes = [Note(p, i * 0.5, 0.5) for i, p in enumerate(pitches)]
    return Melody(notes, tempo=96, time_signature=(3, 4), key="G", mode="major").accented(seed=3)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">I", len(payload)) + payload


def _header(fmt: int, tracks: int, division: int = 96) -> bytes:
    return _chunk(b"MThd", struct.pack(">HHH", fmt, tracks, division))


def test_written_file_has_tempo_time_and_key_signature():
    midi = mido.MidiFile(file=io.BytesIO(write_midi(_melody())))
    meta = {m.type: m for m in midi.tracks[0] if m.is_meta}
    assert round(mido.tempo2bpm(meta["set_tempo"].tempo)) == 96
    assert (meta["time_signature"].numerator, meta["time_signature"].denominator) == (3, 4)
    assert meta["key_signature"].key == "G"


def test_velocities_accent_the_downbeats_and_are_not_flat():
    melody = _melody()
    velocities = [n.velocity for n in melody.notes]
    assert len(set(velocities)) > 3
    downbeats = [n.velocity for n in melody.notes if n.start_ticks % melody.bar_ticks == 0]
    offbeats = [n.velocity for n in melody.notes if n.start_ticks % 12]
    assert min(downbeats) > max(offbeats) - 6
    assert sum(downbeats) / len(downbeats) > sum(offbeats) / len(offbeats) + 8


def test_write_then_read_gives_the_same_melody():
    melody = _melody()
    back = read_midi(write_midi(melody))
    assert back.melody.notes == melody.notes
    assert back.melody.time_signature == (3, 4) and back.melody.key == "G" and back.melody.tempo == 96
    assert back.messages == []


def test_modes_are_written_with_their_relative_major_signature():
    dorian = Melody([Note(62, 0, 1)], key="D", mode="dorian")
    midi = mido.MidiFile(file=io.BytesIO(write_midi(dorian)))
    assert [m.key for m in midi.tracks[0] if m.type == "key_signature"] == ["C"]


def test_type0_file_with_running_status_and_tempo_changes():
    # One track: tempo 120, note on C4 (status 0x90), running status for E4 on and both offs
    events = (
        b"\x00\xff\x51\x03\x07\xa1\x20"  # tempo 120 bpm
        b"\x00\x90\x3c\x64"  # C4 on
        b"\x60\x3c\x00"  # running status: C4 off (velocity 0) after a beat
        b"\x00\x40\x50"  # running status: E4 on
        b"\x00\xff\x51\x03\x0f\x42\x40"  # tempo change to 60 bpm
        b"\x60\x90\x40\x00"  # E4 off
        b"\x00\xff\x2f\x00"
    )
    data = _header(0, 1) + _chunk(b"MTrk", events)
    imported = read_midi(data)
    assert [(n.pitch, n.start, n.duration) for n in imported.melody.notes] == [(60, 0.0, 1.0), (64, 1.0, 1.0)]
    assert imported.melody.tempo == 120
    assert imported.tempo_changes == 1
    assert imported.melody.tempo_changes == [(1.0, 60.0)], "the tempo map is kept, not reduced to one tempo"


def test_type1_polyphony_keeps_the_highest_voice_and_skips_drums():
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000, time=0)])
    chords = mido.MidiTrack()
    for pitches in ([60, 64, 67], [62, 65, 69]):
        for p in pitches:
            chords.append(mido.Message("note_on", note=p, velocity=80, time=0))
        for i, p in enumerate(pitches):
            chords.append(mido.Message("note_off", note=p, velocity=0, time=480 if i == 0 else 0))
    drums = mido.MidiTrack(
        [
            mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
            mido.Message("note_off", channel=9, note=36, velocity=0, time=240),
        ]
    )
    midi.tracks += [conductor, chords, drums]
    buffer = io.BytesIO()
    midi.save(file=buffer)
    imported = read_midi(buffer.getvalue())
    assert [n.pitch for n in imported.melody.notes] == [67, 69]
    assert imported.reduced
    assert any("highest" in m for m in imported.messages)
    assert any("drum" in m for m in imported.messages)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"not a midi file at all", "not a Standard MIDI file"),
        (b"", "not a Standard MIDI file"),
    ],
)
def test_garbage_raises_file_format_error(data, words):
    with pytest.raises(FileFormatError, match=words):
        read_midi(data)


def test_truncated_file_raises_a_clear_error():
    data = write_midi(_melody())
    with pytest.raises(FileFormatError, match="truncated|corrupt"):
        read_midi(data[: len(data) - 30])


def test_corrupt_track_data_raises_file_format_error():
    data = _header(1, 1) + _chunk(b"MTrk", b"\x00\xf4\x01\x02\x03")  # an undefined status byte
    with pytest.raises(FileFormatError):
        read_midi(data)


def test_generation_record_round_trips_through_track_zero(tmp_path):
    record = {"plugin": "studio.melody", "seed": 7, "output": {"key": "D", "scale": "dorian"}}
    path = tmp_path / "tune.mid"
    write_midi(_melody(), record=record, path=path)
    assert read_midi_metadata(path) == record
    assert read_midi_metadata(path.read_bytes()) == record
    replaced = embed_metadata(path.read_bytes(), {"seed": 8})
    assert read_midi_metadata(replaced) == {"seed": 8}
    assert read_midi(replaced).melody.notes == _melody().notes


def test_file_without_record_has_empty_metadata():
    assert read_midi_metadata(write_midi(_melody())) == {}
