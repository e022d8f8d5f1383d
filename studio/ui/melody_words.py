"""A melody in words: key, metre, tempo, range and the shape of its line.

What "Title this tune" tells the language model, which cannot read MIDI. Plain functions
over ``studio.core.melody`` (no Qt), so the wording is easy to test.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.core.melody import Melody, estimate_key, pitch_class, pitch_name

STEP = 2  # semitones: a whole tone or less is a step, anything wider a leap


@dataclass
class MelodyDescription:
    key: str
    mode: str
    metre: str
    tempo: float
    bars: int
    lowest: str
    highest: str
    contour: str
    motion: str
    ending: str

    def sentence(self) -> str:
        return (
            f"It is in {self.key} {self.mode}, {self.metre} at {self.tempo:.0f} bpm, {self.bars} bar{'s' if self.bars != 1 else ''} long, "
            f"ranging from {self.lowest} to {self.highest}. The melody {self.contour}, {self.motion}, and {self.ending}."
        )


def melody_key(melody: Melody) -> tuple[str, str]:
    """The stated key, unless it is the bare default (C major) and the notes say otherwise."""
    stated = (melody.key or "C", melody.mode or "major")
    if stated == ("C", "major") and melody.notes:
        return estimate_key(melody.notes)
    return stated


def _bar_of(melody: Melody, beat: float) -> int:
    return int(beat // melody.bar_length) + 1 if melody.bar_length else 1


def contour(melody: Melody) -> str:
    """Where the line goes: up to a peak and down, down from the start, climbing to the end…"""
    notes = melody.notes
    if len(notes) < 2:
        return "is a single note"
    pitches = [note.pitch for note in notes]
    top = max(pitches)
    peak = notes[pitches.index(top)]
    share = peak.start / max(melody.length, 1e-9)
    first, last = pitches[0], pitches[-1]
    if top == first and share < 0.2:
        return f"starts on its highest note ({pitch_name(top)}) and descends"
    if share > 0.8:
        return f"climbs to its highest note ({pitch_name(top)}) at the very end"
    shape = f"rises to its peak ({pitch_name(top)}) in bar {_bar_of(melody, peak.start)}"
    if last < first - STEP:
        return shape + ", then falls below where it began"
    if last > first + STEP:
        return shape + ", then settles higher than it began"
    return shape + ", then falls back"


def motion(melody: Melody) -> str:
    pitches = [note.pitch for note in melody.notes]
    intervals = [abs(b - a) for a, b in zip(pitches, pitches[1:])]
    if not intervals:
        return "without movement"
    steps = sum(1 for interval in intervals if interval <= STEP) / len(intervals)
    if steps >= 0.7:
        return "moving mostly by step"
    if steps <= 0.4:
        return "moving mostly in leaps"
    return "mixing steps and leaps"


def ending(melody: Melody, key: str) -> str:
    if not melody.notes:
        return "is silent"
    last = melody.notes[-1].pitch
    try:
        tonic = pitch_class(key)
    except Exception:  # a key name the core does not know: say the note instead
        return f"ends on {pitch_name(last)}"
    if last % 12 == tonic:
        return "ends on the tonic"
    if last % 12 == (tonic + 7) % 12:
        return "ends on the fifth, open"
    return f"ends on {pitch_name(last)}"


def describe_melody(melody: Melody) -> MelodyDescription:
    key, mode = melody_key(melody)
    low, high = melody.pitch_range
    return MelodyDescription(
        key=key,
        mode=mode,
        metre=melody.meter,
        tempo=float(melody.tempo),
        bars=max(1, melody.bars),
        lowest=pitch_name(low),
        highest=pitch_name(high),
        contour=contour(melody),
        motion=motion(melody),
        ending=ending(melody, key),
    )


def title_prompt(melody: Melody) -> str:
    """What the language model is asked: a title, nothing else."""
    return (
        "Suggest a short, evocative title (at most six words) for an instrumental tune. "
        + describe_melody(melody).sentence()
        + " Answer with the title only, without quotes."
    )


def clean_title(reply: str) -> str:
    """The first non-empty line of a model's reply, without quotes, labels, markup or a full stop."""
    decoration = " *#_\"'“”‘’`"
    for line in reply.splitlines():
        line = line.strip(decoration)
        if ":" in line and line.split(":", 1)[0].strip(decoration).lower() in ("title", "tune title", "suggested title"):
            line = line.split(":", 1)[1]
        line = line.strip(decoration).rstrip(".").strip(decoration)
        if line:
            return line[:80]
    return ""
