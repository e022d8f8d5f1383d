"""Standard MIDI files in and out (mido), with the studio's generation record inside.

Writing makes a type-1 file that drops into any DAW: a conductor track 0 with the tempo,
time signature, key signature and the generation record (a text meta event whose text is
``studio:`` followed by JSON), and a track 1 with the notes, whose velocities follow the
metre rather than sitting at a flat 100.

Reading takes any type-0 or type-1 file (running status, several tracks, tempo changes),
ignores the drum channel (10), and reduces polyphony to the highest voice, saying so in
``MidiImport.messages``. Times become quarter-note beats snapped to the studio's grid;
tempo and time-signature changes are kept as the melody's tempo map and metre map
(``Melody.tempo_changes``, ``Melody.meter_changes``) and written back, so a prime keeps
its timing through continue and vary. A file that is not MIDI, or is cut short, raises
``FileFormatError`` with what was wrong.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.errors import FileFormatError
from studio.core.melody import GRID, PITCH_CLASSES, Melody, Note, beats, key_signature_name

log = logging.getLogger("studio.core.midi")

METADATA_PREFIX = "studio:"
TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9  # "channel 10" as musicians count

Source = str | Path | bytes | bytearray


@dataclass
class MidiImport:
    """A MIDI file read as a melody, with what had to be changed to make it one."""

    melody: Melody
    messages: list[str] = field(default_factory=list)
    has_key_signature: bool = False
    has_time_signature: bool = False
    tempo_changes: int = 0
    reduced: bool = False
    #: the studio's generation record, when the file carries one (see ``read_midi_metadata``)
    record: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- writing


@dataclass
class Part:
    """One voice of a multi-track file: a melody on its own track and channel."""

    name: str
    melody: Melody
    program: int = 0
    #: text at beats (chord symbols), written as marker events in the conductor track
    markers: list[tuple[float, str]] = field(default_factory=list)


def write_midi(
    melody: Melody, *, record: dict[str, Any] | None = None, program: int = 0, track_name: str = "Melody", path: str | Path | None = None
) -> bytes:
    """The melody as Standard MIDI file bytes (written to ``path`` too when given)."""
    return write_parts([Part(track_name, melody, program)], record=record, path=path)


def write_parts(parts: list[Part], *, record: dict[str, Any] | None = None, path: str | Path | None = None) -> bytes:
    """Several voices as one type-1 file: the conductor track (tempo and metre maps, key,
    record, the parts' markers) from the first part's melody, then one track per part on
    its own channel (the drum channel skipped), so a DAW opens each voice as a track."""
    import mido

    if not parts:
        raise ValueError("write_parts needs at least one part")
    melody = parts[0].melody
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("track_name", name="Studio", time=0))
    if record is not None:
        conductor.append(_record_message(record))
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(max(1.0, float(melody.tempo))), time=0))
    conductor.append(_time_signature_message(melody.time_signature))
    try:
        conductor.append(mido.MetaMessage("key_signature", key=key_signature_name(melody.key, melody.mode), time=0))
    except Exception:  # an unusual key name: leave the signature out rather than fail
        log.debug("no MIDI key signature for key %r mode %r", melody.key, melody.mode, exc_info=True)
    end = max(_to_ticks(part.melody.length) for part in parts)
    changes = [
        (_to_exact_ticks(beat), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(max(1.0, bpm)))) for beat, bpm in melody.tempo_changes
    ]
    changes += [(_to_exact_ticks(beat), 1, _time_signature_message(ts)) for beat, ts in melody.meter_changes]
    changes += [(_to_exact_ticks(beat), 2, mido.MetaMessage("marker", text=str(text))) for part in parts for beat, text in part.markers]
    now = 0
    for tick, _, message in sorted(changes, key=lambda item: (item[0], item[1])):
        conductor.append(message.copy(time=tick - now))
        now = tick
    conductor.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
    midi.tracks.append(conductor)
    channels = [c for c in range(16) if c != DRUM_CHANNEL]
    for index, part in enumerate(parts):
        channel = channels[index % len(channels)]
        midi.tracks.append(_note_track(part, channel, end))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    data = buffer.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def _note_track(part: Part, channel: int, end: int):
    import mido

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=part.name, time=0))
    track.append(mido.Message("program_change", program=max(0, min(127, part.program)), channel=channel, time=0))
    events: list[tuple[int, int, int, int]] = []  # (tick, order, pitch, velocity); offs sort first
    for note in part.melody.notes:
        start, stop = _to_ticks(note.start), _to_ticks(note.end)
        if stop <= start or not 0 <= note.pitch <= 127:
            continue
        velocity = max(1, min(127, note.velocity))
        events.append((start, 1, note.pitch, velocity))
        events.append((stop, 0, note.pitch, 0))
    events.sort()
    now = 0
    for tick, order, pitch, velocity in events:
        kind = "note_on" if order == 1 else "note_off"
        track.append(mido.Message(kind, note=pitch, velocity=velocity if order == 1 else 64, channel=channel, time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
    return track


def _to_ticks(value: float) -> int:
    return int(round(float(value) * GRID)) * (TICKS_PER_BEAT // GRID)


def _to_exact_ticks(value: float) -> int:
    """A tempo or metre change's beat in file ticks (not snapped to the note grid)."""
    return int(round(float(value) * TICKS_PER_BEAT))


def _time_signature_message(time_signature: tuple[int, int]):
    import mido

    numerator, denominator = time_signature
    return mido.MetaMessage(
        "time_signature",
        numerator=numerator,
        denominator=denominator,
        clocks_per_click=36 if denominator == 8 and numerator % 3 == 0 else 24,
        notated_32nd_notes_per_beat=8,
        time=0,
    )


def _record_message(record: dict[str, Any]):
    import mido

    text = METADATA_PREFIX + json.dumps(record, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    return mido.MetaMessage("text", text=text, time=0)


def embed_metadata(data: bytes, record: dict[str, Any]) -> bytes:
    """``data`` with its ``studio:`` record in track 0 replaced by ``record``."""
    midi = _open(data, "MIDI data")
    if not midi.tracks:
        raise FileFormatError("MIDI data: the file has no tracks")
    track = midi.tracks[0]
    kept = []
    carry = 0
    for message in track:
        if message.is_meta and message.type == "text" and str(message.text).startswith(METADATA_PREFIX):
            carry += message.time
            continue
        kept.append(message.copy(time=message.time + carry) if carry else message)
        carry = 0
    track[:] = kept
    track.insert(0, _record_message(record))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- reading


def _open(source: Source, name: str | None = None):
    import mido

    label = name or (str(source) if isinstance(source, (str, Path)) else "MIDI data")
    try:
        if isinstance(source, (bytes, bytearray)):
            raw = bytes(source)
        else:
            raw = Path(source).read_bytes()
    except OSError as exc:
        raise FileFormatError(f"{label}: cannot be read: {exc.strerror or exc}") from None
    if not raw.startswith(b"MThd"):
        raise FileFormatError(f"{label}: not a Standard MIDI file (it does not start with 'MThd')")
    try:
        midi = mido.MidiFile(file=io.BytesIO(raw))
    except EOFError:
        raise FileFormatError(f"{label}: the MIDI file is truncated (it ends in the middle of a track)") from None
    except Exception as exc:  # mido raises OSError, ValueError, KeyError, IndexError on bad data
        raise FileFormatError(f"{label}: corrupt MIDI data: {exc}") from None
    if midi.type not in (0, 1, 2):
        raise FileFormatError(f"{label}: unknown MIDI file type {midi.type}")
    return midi


def read_midi_metadata(source: Source) -> dict[str, Any]:
    """The generation record stored by the studio in track 0, or ``{}`` when there is none."""
    midi = _open(source)
    if not midi.tracks:
        return {}
    for message in midi.tracks[0]:
        if message.is_meta and message.type == "text" and str(message.text).startswith(METADATA_PREFIX):
            try:
                value = json.loads(str(message.text)[len(METADATA_PREFIX) :])
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {"value": value}
    return {}


def read_midi(source: Source, *, name: str | None = None) -> MidiImport:  # noqa: C901
    """A MIDI file as a monophonic Melody (highest voice) plus messages about what changed."""
    midi = _open(source, name)
    tpb = midi.ticks_per_beat or TICKS_PER_BEAT
    messages: list[str] = []
    if midi.type == 2:
        messages.append("a type-2 MIDI file: its tracks were read as if played together")

    tempos: list[tuple[int, int]] = []
    time_signatures: list[tuple[int, int, int]] = []
    keys: list[tuple[int, str]] = []
    raw_notes: list[tuple[int, int, int, int]] = []  # (start tick, end tick, pitch, velocity)
    drum_notes = 0
    for track in midi.tracks:
        now = 0
        sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for message in track:
            now += message.time
            if message.is_meta:
                if message.type == "set_tempo":
                    tempos.append((now, message.tempo))
                elif message.type == "time_signature":
                    time_signatures.append((now, message.numerator, message.denominator))
                elif message.type == "key_signature":
                    keys.append((now, message.key))
                continue
            if message.type not in ("note_on", "note_off"):
                continue
            if message.channel == DRUM_CHANNEL:
                if message.type == "note_on" and message.velocity > 0:
                    drum_notes += 1
                continue
            held = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                sounding.setdefault(held, []).append((now, message.velocity))
            else:
                started = sounding.get(held)
                if started:
                    start, velocity = started.pop(0)
                    raw_notes.append((start, now, message.note, velocity))
        for (_channel, pitch), starts in sounding.items():
            for start, velocity in starts:  # never released: end with the track
                raw_notes.append((start, max(now, start + 1), pitch, velocity))

    if drum_notes:
        messages.append(f"the drum channel (10) was ignored ({drum_notes} notes)")
    tempos.sort(key=lambda item: item[0])
    tempo_us = tempos[0][1] if tempos and tempos[0][0] == 0 else 500000
    tempo_changes: list[tuple[float, float]] = []
    current = tempo_us
    for tick, value in tempos:
        if value != current and tick > 0:
            bpm = round(60_000_000 / value, 3)
            if tempo_changes and tempo_changes[-1][0] == tick / tpb:
                tempo_changes[-1] = (tick / tpb, bpm)
            else:
                tempo_changes.append((tick / tpb, bpm))
            current = value
        elif tick == 0:
            tempo_us = current = value
    time_signature = (4, 4)
    meter_changes: list[tuple[float, tuple[int, int]]] = []
    if time_signatures:
        time_signatures.sort(key=lambda item: item[0])
        first = [ts for ts in time_signatures if ts[0] == 0]
        if first:
            time_signature = (first[-1][1], first[-1][2])
        current_ts = time_signature
        for tick, numerator, denominator in time_signatures:
            if tick > 0 and (numerator, denominator) != current_ts:
                meter_changes.append((tick / tpb, (numerator, denominator)))
                current_ts = (numerator, denominator)
    key, mode = "C", "major"
    if keys:
        name = sorted(keys)[0][1]
        mode = "minor" if name.endswith("m") else "major"
        tonic = name[:-1] if name.endswith("m") else name
        key = _tonic_name(tonic)

    def to_grid(tick: int) -> int:
        return int(round(tick * GRID / tpb))

    snapped = []
    for start, end, pitch, velocity in raw_notes:
        s, e = to_grid(start), to_grid(end)
        if e <= s:
            e = s + 1
        snapped.append((s, e, pitch, velocity))
    kept, reduced = highest_voice(snapped)
    if reduced:
        messages.append(f"the file has several voices; the highest was kept ({reduced} notes left out)")
    notes = [Note(pitch, beats(s), beats(e - s), velocity) for s, e, pitch, velocity in kept]
    end_tick = max((e for _, e, _, _ in kept), default=0)
    melody = Melody(
        notes=notes,
        tempo=round(60_000_000 / tempo_us, 3),
        time_signature=time_signature,
        key=key,
        mode=mode,
        length=beats(end_tick),
        tempo_changes=tempo_changes,
        meter_changes=meter_changes,
    )
    return MidiImport(
        melody=melody,
        messages=messages,
        has_key_signature=bool(keys),
        has_time_signature=bool(time_signatures),
        tempo_changes=len(tempo_changes),
        reduced=bool(reduced),
    )


def read_midi_parts(source: Source, *, name: str | None = None) -> list[tuple[str, Melody]]:
    """Each track that holds notes as its own melody (named by its track name), with the
    file's tempo, metre and key: how the timeline places a harmonized melody's voices as
    tracks. A file with one note track gives one part (the same melody ``read_midi`` reads)."""
    midi = _open(source, name)
    whole = read_midi(source, name=name).melody
    tpb = midi.ticks_per_beat or TICKS_PER_BEAT
    parts: list[tuple[str, Melody]] = []
    for index, track in enumerate(midi.tracks):
        title = f"Track {index}"
        now = 0
        sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}
        raw: list[tuple[int, int, int, int]] = []
        for message in track:
            now += message.time
            if message.is_meta:
                if message.type == "track_name":
                    title = str(message.name) or title
                continue
            if message.type not in ("note_on", "note_off") or message.channel == DRUM_CHANNEL:
                continue
            key = (message.channel, message.note)
            if message.type == "note_on" and message.velocity > 0:
                sounding.setdefault(key, []).append((now, message.velocity))
            elif sounding.get(key):
                start, velocity = sounding[key].pop(0)
                raw.append((start, now, message.note, velocity))
        if not raw:
            continue
        snapped = []
        for start, end, pitch, velocity in raw:
            s_, e_ = int(round(start * GRID / tpb)), int(round(end * GRID / tpb))
            snapped.append((s_, max(e_, s_ + 1), pitch, velocity))
        kept, _ = highest_voice(snapped)
        notes = [Note(pitch, beats(s_), beats(e_ - s_), velocity) for s_, e_, pitch, velocity in kept]
        parts.append((title, whole.copy(notes=notes, length=max(whole.length, beats(max(e for _, e, _, _ in kept))))))
    return parts


def highest_voice(notes: list[tuple[int, int, int, int]]) -> tuple[list[tuple[int, int, int, int]], int]:
    """The skyline of (start, end, pitch, velocity) notes: at each onset the highest note
    sounds; a note is cut short when a new one starts, and a note starting under a higher
    one still sounding is left out. Returns (notes, how many were left out)."""
    ordered = sorted(notes, key=lambda n: (n[0], -n[2]))
    kept: list[tuple[int, int, int, int]] = []
    changed = 0
    for start, end, pitch, velocity in ordered:
        if kept:
            last_start, last_end, last_pitch, last_velocity = kept[-1]
            if start == last_start:
                changed += 1  # a lower (or equal) note of the same chord
                continue
            if start < last_end:
                if pitch < last_pitch:
                    changed += 1
                    continue
                kept[-1] = (last_start, start, last_pitch, last_velocity)  # legato overlap: not a voice
        kept.append((start, end, pitch, velocity))
    return kept, changed


def _tonic_name(name: str) -> str:
    name = name.strip()
    flats = {"Db": "C#", "Gb": "F#", "Cb": "B", "Fb": "E", "D#": "Eb", "G#": "Ab", "A#": "Bb", "E#": "F", "B#": "C"}
    name = flats.get(name, name)
    return name if name in PITCH_CLASSES else "C"


__all__ = [
    "METADATA_PREFIX",
    "MidiImport",
    "Part",
    "embed_metadata",
    "highest_voice",
    "read_midi",
    "read_midi_metadata",
    "read_midi_parts",
    "write_midi",
    "write_parts",
]
