"""The timeline as plain data (tracks of clips on a beat grid) and its files out: MIDI, WAV/FLAC.

No widgets here: the timeline view edits a ``TimelineDoc`` through undo commands and
redraws from it; export and playback render from it.
"""

from __future__ import annotations

import copy
import io
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from studio.core.melody import Melody

if TYPE_CHECKING:  # numpy is imported where it is used: ~150 ms of the window's start (issue 13, first paint).
    import numpy as np

TICKS_PER_BEAT = 480
SAMPLE_RATE = 44100


SNAP = 0.25  # beats: clips and notes snap to sixteenths


def snap(value: float, step: float = SNAP) -> float:
    return round(value / step) * step


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def empty_document() -> dict[str, Any]:
    return {
        "version": 1,
        "tempo": 120.0,
        "time_signature": [4, 4],
        "tracks": [
            {"id": new_id(), "name": "Melody 1", "kind": "melody", "clips": []},
            {"id": new_id(), "name": "Audio 1", "kind": "audio", "clips": []},
        ],
    }


class TimelineDoc:
    """Tracks and clips. Clip: id, name, start and length in beats, and either a melody
    (notes inline, editable in the piano roll) or an audio blob id."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = copy.deepcopy(data) if data else empty_document()
        self.data.setdefault("tracks", [])
        self.data.setdefault("tempo", 120.0)
        self.data.setdefault("time_signature", [4, 4])

    # ---- reading

    @property
    def tempo(self) -> float:
        return float(self.data["tempo"])

    @property
    def time_signature(self) -> tuple[int, int]:
        numerator, denominator = self.data["time_signature"]
        return int(numerator), int(denominator)

    @property
    def beats_per_bar(self) -> float:
        numerator, denominator = self.time_signature
        return numerator * 4.0 / denominator

    @property
    def tracks(self) -> list[dict[str, Any]]:
        return self.data["tracks"]

    def track(self, track_id: str) -> dict[str, Any]:
        for track in self.tracks:
            if track["id"] == track_id:
                return track
        raise KeyError(track_id)

    def find_clip(self, clip_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for track in self.tracks:
            for clip in track["clips"]:
                if clip["id"] == clip_id:
                    return track, clip
        raise KeyError(clip_id)

    def clips(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(track, clip) for track in self.tracks for clip in track["clips"]]

    def end_beat(self) -> float:
        return max((clip["start"] + clip["length"] for _t, clip in self.clips()), default=0.0)

    def first_track(self, kind: str) -> dict[str, Any]:
        for track in self.tracks:
            if track["kind"] == kind:
                return track
        track = {"id": new_id(), "name": f"{kind.title()} {sum(t['kind'] == kind for t in self.tracks) + 1}", "kind": kind, "clips": []}
        self.tracks.append(track)
        return track

    def free_start(self, track: dict[str, Any], start: float, length: float, *, ignore: str | None = None) -> float:
        """The first beat at or after ``start`` where ``length`` beats are free on ``track``.

        Clips never overlap silently: a drop, a move or a result that would cover another
        clip goes to the first gap after it instead (``ignore``: the clip being moved).
        """
        start = max(0.0, float(start))
        moved = True
        while moved:
            moved = False
            for clip in track["clips"]:
                if clip["id"] == ignore:
                    continue
                begin, end = float(clip["start"]), float(clip["start"]) + float(clip["length"])
                if begin < start + length - 1e-9 and start < end - 1e-9:
                    start, moved = end, True
        return start

    # ---- raw edits (commands call these)

    def insert_clip(self, track_id: str, clip: dict[str, Any]) -> None:
        self.track(track_id)["clips"].append(copy.deepcopy(clip))

    def remove_clip(self, clip_id: str) -> tuple[str, dict[str, Any]]:
        track, clip = self.find_clip(clip_id)
        track["clips"].remove(clip)
        return track["id"], clip

    def place_clip(self, clip_id: str, track_id: str, start: float, length: float) -> None:
        track, clip = self.find_clip(clip_id)
        clip["start"], clip["length"] = float(start), float(length)
        if track["id"] != track_id:
            track["clips"].remove(clip)
            self.track(track_id)["clips"].append(clip)

    def set_melody(self, clip_id: str, melody: dict[str, Any]) -> None:
        _track, clip = self.find_clip(clip_id)
        clip["melody"] = copy.deepcopy(melody)

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.data)


def clip_melody(clip: dict[str, Any]) -> Melody | None:
    return Melody.from_dict(clip["melody"]) if clip.get("melody") else None


def clipped_melody(clip: dict[str, Any]) -> Melody | None:
    """The clip's melody cut to the clip's length (a trimmed clip plays only what shows)."""
    melody = clip_melody(clip)
    if melody is None:
        return None
    length = float(clip["length"])
    notes = [note for note in melody.notes if note.start < length - 1e-9]
    from dataclasses import replace

    notes = [replace(note, duration=min(note.duration, length - note.start)) for note in notes]
    return melody.copy(notes=notes, length=length)


# --------------------------------------------------------------------------- MIDI out


def timeline_midi(doc: TimelineDoc, only_clip: str | None = None) -> bytes:
    """A type-1 Standard MIDI File: a conductor track, then one track per melody track."""
    import mido

    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("track_name", name="Studio timeline", time=0))
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(max(1.0, doc.tempo)), time=0))
    numerator, denominator = doc.time_signature
    conductor.append(mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator, time=0))
    midi.tracks.append(conductor)
    channel = 0
    for track in doc.tracks:
        if track["kind"] != "melody":
            continue
        events: list[tuple[int, int, int, int]] = []
        for clip in track["clips"]:
            if only_clip is not None and clip["id"] != only_clip:
                continue
            melody = clipped_melody(clip)
            if melody is None:
                continue
            base = 0.0 if only_clip is not None else float(clip["start"])
            for note in melody.notes:
                start = int(round((base + note.start) * TICKS_PER_BEAT))
                stop = int(round((base + note.end) * TICKS_PER_BEAT))
                if stop > start and 0 <= note.pitch <= 127:
                    events.append((start, 1, note.pitch, max(1, min(127, note.velocity))))
                    events.append((stop, 0, note.pitch, 0))
        if not events:
            continue
        events.sort()
        out = mido.MidiTrack()
        out.append(mido.MetaMessage("track_name", name=str(track["name"]), time=0))
        now = 0
        for tick, order, pitch, velocity in events:
            kind = "note_on" if order == 1 else "note_off"
            out.append(mido.Message(kind, note=pitch, velocity=velocity if order else 64, channel=channel % 16, time=tick - now))
            now = tick
        midi.tracks.append(out)
        channel += 1
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- audio out


def mix_timeline(
    doc: TimelineDoc, load_audio: Callable[[str], tuple[np.ndarray, int]], *, sample_rate: int = SAMPLE_RATE, only_clip: str | None = None
) -> np.ndarray:
    """Mono float32 mix of the timeline (melodies through the built-in synth, audio clips resampled)."""
    import numpy as np

    from studio.core import synth

    seconds_per_beat = 60.0 / max(1.0, doc.tempo)
    parts: list[tuple[int, np.ndarray]] = []
    for _track, clip in doc.clips():
        if only_clip is not None and clip["id"] != only_clip:
            continue
        start = 0 if only_clip is not None else int(round(float(clip["start"]) * seconds_per_beat * sample_rate))
        limit = int(round(float(clip["length"]) * seconds_per_beat * sample_rate))
        melody = clipped_melody(clip)
        if melody is not None:
            samples = synth.render(melody.copy(tempo=doc.tempo), sample_rate=sample_rate)
        elif clip.get("blob"):
            samples, rate = load_audio(clip["blob"])
            samples = _to_mono(samples)
            if rate != sample_rate and len(samples):
                positions = np.arange(0, len(samples), rate / sample_rate)
                samples = np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)
            samples = samples[:limit]
        else:
            continue
        parts.append((start, samples))
    total = max((start + len(samples) for start, samples in parts), default=0)
    out = np.zeros(total, dtype=np.float32)
    for start, samples in parts:
        out[start : start + len(samples)] += samples
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak > 1.0:
        out /= peak
    return out


def _to_mono(samples: np.ndarray) -> np.ndarray:
    import numpy as np

    samples = np.asarray(samples, dtype=np.float32)
    return samples.mean(axis=1) if samples.ndim == 2 else samples
