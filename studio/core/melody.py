"""Melodies as plain data: notes on a beat grid, with tempo, metre and key.

Times are in quarter-note beats. Every time the studio produces lies on a grid of
``GRID`` ticks per beat (12: sixteenths are 3 ticks, eighth-note triplets 4, sixteenth
triplets 2), so floats such as ``1/3`` are stored as the nearest float and compared through
``ticks()``, which rounds back to an exact integer. ``Fraction`` values are accepted
anywhere a time is and converted on construction.

No torch and no Qt here: the window, the MIDI reader/writer and the synthesizer all use
this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from studio.core.errors import ParamError

#: grid ticks per quarter-note beat
GRID = 12

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_PC_BY_NAME = {
    "C": 0,
    "B#": 0,
    "C#": 1,
    "DB": 1,
    "D": 2,
    "D#": 3,
    "EB": 3,
    "E": 4,
    "FB": 4,
    "E#": 5,
    "F": 5,
    "F#": 6,
    "GB": 6,
    "G": 7,
    "G#": 8,
    "AB": 8,
    "A": 9,
    "A#": 10,
    "BB": 10,
    "B": 11,
    "CB": 11,
}

#: scale name -> semitones above the tonic
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "pentatonic major": (0, 2, 4, 7, 9),
    "pentatonic minor": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}

#: the church mode each scale is closest to (what a key signature / mode token can say)
MODE_OF_SCALE = {
    "major": "major",
    "minor": "minor",
    "harmonic minor": "minor",
    "dorian": "dorian",
    "mixolydian": "mixolydian",
    "phrygian": "phrygian",
    "lydian": "lydian",
    "locrian": "locrian",
    "pentatonic major": "major",
    "pentatonic minor": "minor",
    "blues": "minor",
}

# Semitones from a mode's tonic up to the tonic of the major key sharing its signature.
_RELATIVE_MAJOR = {"major": 0, "minor": 3, "dorian": -2, "mixolydian": 5, "phrygian": -4, "lydian": -5, "locrian": 1}
# Major key names with the fewest accidentals, by pitch class.
_MAJOR_NAME = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_NAME = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
# Sharps (+) or flats (-) in each major key signature, by tonic pitch class.
_MAJOR_SHARPS = (0, -5, 2, -3, 4, -1, 6, 1, -4, 3, -2, 5)


def pitch_class(name: str) -> int:
    """0-11 for a tonic name such as 'C', 'F#', 'Bb' or 'eb'."""
    key = name.strip().replace("♯", "#").replace("♭", "b")
    key = key[:1].upper() + key[1:].upper()
    if key not in _PC_BY_NAME:
        raise ParamError(f"key: {name!r} is not a note name such as C, F# or Bb")
    return _PC_BY_NAME[key]


def pitch_name(pitch: int) -> str:
    """'C4' for 60."""
    return f"{PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1}"


def ticks(beats: float | Fraction) -> int:
    """A time in beats as whole grid ticks (rounds away float error such as 1/3)."""
    return int(round(float(beats) * GRID))


def beats(tick_count: int) -> float:
    return tick_count / GRID


def snap(value: float | Fraction) -> float:
    """The nearest grid time."""
    return beats(ticks(value))


def bar_ticks(time_signature: tuple[int, int]) -> int:
    numerator, denominator = time_signature
    return numerator * 4 * GRID // denominator


def scale_pitch_classes(key: str, scale: str) -> frozenset[int]:
    if scale not in SCALES:
        raise ParamError(f"scale: {scale!r} is not one of {', '.join(SCALES)}")
    tonic = pitch_class(key)
    return frozenset((tonic + step) % 12 for step in SCALES[scale])


def key_signature_name(key: str, mode: str) -> str:
    """The key as a Standard MIDI key signature can say it ('Bb', 'F#m').

    MIDI knows only major and minor; church modes are written with the signature of the
    major key they share notes with (D dorian -> 'C').
    """
    tonic = pitch_class(key)
    mode = MODE_OF_SCALE.get(mode, mode)
    if mode == "minor":
        return _MINOR_NAME[tonic] + "m"
    return _MAJOR_NAME[(tonic + _RELATIVE_MAJOR.get(mode, 0)) % 12]


def key_signature_sharps(key: str, mode: str) -> int:
    """Sharps (positive) or flats (negative) of the key's signature."""
    tonic = pitch_class(key)
    mode = MODE_OF_SCALE.get(mode, mode)
    relative = (tonic + _RELATIVE_MAJOR.get(mode, 0)) % 12
    return _MAJOR_SHARPS[relative]


@dataclass(frozen=True)
class Note:
    """One note: MIDI pitch, start and duration in quarter-note beats, MIDI velocity."""

    pitch: int
    start: float
    duration: float
    velocity: int = 80

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", float(self.start))
        object.__setattr__(self, "duration", float(self.duration))
        object.__setattr__(self, "pitch", int(self.pitch))
        object.__setattr__(self, "velocity", int(self.velocity))

    @property
    def end(self) -> float:
        return self.start + self.duration

    @property
    def start_ticks(self) -> int:
        return ticks(self.start)

    @property
    def duration_ticks(self) -> int:
        return ticks(self.duration)

    @property
    def end_ticks(self) -> int:
        return self.start_ticks + self.duration_ticks


@dataclass
class Melody:
    """A monophonic melody. ``notes`` are sorted by start and never overlap."""

    notes: list[Note] = field(default_factory=list)
    tempo: float = 120.0
    time_signature: tuple[int, int] = (4, 4)
    key: str = "C"
    mode: str = "major"
    #: length in beats; at least the end of the last note (a melody may end in rests)
    length: float = 0.0
    #: tempo changes after the start, ``(beat, bpm)`` in time order; ``tempo`` holds from 0
    tempo_changes: list[tuple[float, float]] = field(default_factory=list)
    #: time-signature changes after the start, ``(beat, (numerator, denominator))``;
    #: ``time_signature`` holds from 0 (a MIDI file's metre map, kept so a prime keeps it)
    meter_changes: list[tuple[float, tuple[int, int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.notes = sorted(self.notes, key=lambda note: (note.start, -note.pitch))
        self.time_signature = (int(self.time_signature[0]), int(self.time_signature[1]))
        end = max((note.end for note in self.notes), default=0.0)
        self.length = max(float(self.length), end)
        self.tempo_changes = sorted((float(b), float(t)) for b, t in self.tempo_changes if float(b) > 0)
        self.meter_changes = sorted((float(b), (int(ts[0]), int(ts[1]))) for b, ts in self.meter_changes if float(b) > 0)

    # ------------------------------------------------------------------ time

    def tempo_at(self, beat: float) -> float:
        """The tempo (bpm) in force at ``beat``."""
        tempo = self.tempo
        for at, bpm in self.tempo_changes:
            if at > beat + 1e-9:
                break
            tempo = bpm
        return tempo

    def seconds_at(self, beat: float) -> float:
        """Seconds from the start to ``beat``, through the tempo map."""
        seconds, position, tempo = 0.0, 0.0, self.tempo
        for at, bpm in self.tempo_changes:
            if at >= beat:
                break
            seconds += (at - position) * 60.0 / max(1.0, tempo)
            position, tempo = at, bpm
        return seconds + (beat - position) * 60.0 / max(1.0, tempo)

    @property
    def seconds(self) -> float:
        """The melody's length in seconds."""
        return self.seconds_at(self.length)

    @property
    def last_time_signature(self) -> tuple[int, int]:
        return self.meter_changes[-1][1] if self.meter_changes else self.time_signature

    @property
    def last_meter_start(self) -> float:
        """The beat where the last time signature starts (0 without changes)."""
        return self.meter_changes[-1][0] if self.meter_changes else 0.0

    # ------------------------------------------------------------------ metre

    @property
    def bar_length(self) -> float:
        """Beats per bar (6/8 -> 3.0)."""
        return beats(bar_ticks(self.time_signature))

    @property
    def bar_ticks(self) -> int:
        return bar_ticks(self.time_signature)

    @property
    def bars(self) -> int:
        """Number of bars the melody spans (a partial last bar counts)."""
        return max(0, math.ceil(ticks(self.length) / self.bar_ticks - 1e-9))

    @property
    def meter(self) -> str:
        return f"{self.time_signature[0]}/{self.time_signature[1]}"

    def on_grid(self) -> bool:
        return all(
            abs(note.start * GRID - note.start_ticks) < 1e-6 and abs(note.duration * GRID - note.duration_ticks) < 1e-6
            for note in self.notes
        )

    def bar_fill(self) -> list[int]:
        """Ticks of sounding or resting time accounted for per bar; full bars equal ``bar_ticks``.

        A melody's bars are "full" when its length is a whole number of bars: rests fill
        whatever the notes leave, so this reports how far the last bar is filled.
        """
        total = ticks(self.length)
        full, rest = divmod(total, self.bar_ticks)
        return [self.bar_ticks] * full + ([rest] if rest else [])

    def notes_in_bar(self, index: int) -> list[Note]:
        start, end = index * self.bar_ticks, (index + 1) * self.bar_ticks
        return [note for note in self.notes if start <= note.start_ticks < end]

    # ------------------------------------------------------------------ transforms

    def copy(self, **changes: Any) -> Melody:
        values: dict[str, Any] = dict(
            notes=list(self.notes),
            tempo=self.tempo,
            time_signature=self.time_signature,
            key=self.key,
            mode=self.mode,
            length=self.length,
            tempo_changes=list(self.tempo_changes),
            meter_changes=list(self.meter_changes),
        )
        values.update(changes)
        return Melody(**values)

    def transposed(self, semitones: int) -> Melody:
        tonic = PITCH_CLASSES[(pitch_class(self.key) + semitones) % 12]
        return self.copy(notes=[replace(note, pitch=note.pitch + semitones) for note in self.notes], key=tonic)

    def bars_slice(self, first: int, last: int) -> Melody:
        """Bars ``first`` (inclusive) to ``last`` (exclusive), re-timed to start at 0."""
        start, end = first * self.bar_ticks, last * self.bar_ticks
        kept = []
        for note in self.notes:
            if start <= note.start_ticks < end:
                duration = min(note.end_ticks, end) - note.start_ticks
                kept.append(replace(note, start=beats(note.start_ticks - start), duration=beats(duration)))
        return self.copy(notes=kept, length=beats(end - start))

    def followed_by(self, other: Melody) -> Melody:
        """This melody, padded to a whole bar, then ``other``."""
        offset = self.bars * self.bar_ticks
        moved = [replace(note, start=beats(note.start_ticks + offset)) for note in other.notes]
        return self.copy(notes=list(self.notes) + moved, length=beats(offset + ticks(other.length)))

    def padded_to_bars(self) -> Melody:
        return self.copy(length=beats(self.bars * self.bar_ticks))

    def with_velocities(self, velocities: Sequence[int]) -> Melody:
        return self.copy(notes=[replace(note, velocity=int(v)) for note, v in zip(self.notes, velocities)])

    def accented(self, seed: int = 0) -> Melody:
        """The melody with velocities that follow the metre and the line (see ``accent_velocities``)."""
        return self.with_velocities(accent_velocities(self, seed=seed))

    # ------------------------------------------------------------------ summaries

    @property
    def pitch_range(self) -> tuple[int, int]:
        pitches = [note.pitch for note in self.notes]
        return (min(pitches), max(pitches)) if pitches else (0, 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tempo": self.tempo,
            "time_signature": list(self.time_signature),
            "key": self.key,
            "mode": self.mode,
            "length": self.length,
            "notes": [[n.pitch, n.start, n.duration, n.velocity] for n in self.notes],
            **({"tempo_changes": [list(c) for c in self.tempo_changes]} if self.tempo_changes else {}),
            **({"meter_changes": [[b, list(ts)] for b, ts in self.meter_changes]} if self.meter_changes else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Melody:
        return cls(
            notes=[Note(*item) for item in data.get("notes", [])],
            tempo=float(data.get("tempo", 120.0)),
            time_signature=tuple(data.get("time_signature", (4, 4))),  # type: ignore[arg-type]
            key=str(data.get("key", "C")),
            mode=str(data.get("mode", "major")),
            length=float(data.get("length", 0.0)),
            tempo_changes=[(float(b), float(t)) for b, t in data.get("tempo_changes", [])],
            meter_changes=[(float(b), (int(ts[0]), int(ts[1]))) for b, ts in data.get("meter_changes", [])],
        )


def beat_ticks(time_signature: tuple[int, int]) -> int:
    """The metre's beat in grid ticks: a dotted quarter in 3/8, 6/8, 9/8 and 12/8, else the
    note value of the denominator (a quarter in 4/4, a half in 3/2)."""
    numerator, denominator = time_signature
    if denominator == 8 and numerator % 3 == 0:
        return 3 * GRID // 2
    return 4 * GRID // denominator


def beat_strength(position_ticks: int, time_signature: tuple[int, int]) -> int:
    """2 on the downbeat, 1 on the other main beats, 0 elsewhere.

    Compound metres (6/8, 9/8, 12/8) group eighths in threes, so their main beats are
    dotted quarters.
    """
    numerator, denominator = time_signature
    position = position_ticks % bar_ticks(time_signature)
    if position == 0:
        return 2
    if denominator == 8 and numerator % 3 == 0 and numerator > 3:
        beat = 3 * GRID // 2
    else:
        beat = 4 * GRID // denominator
    return 1 if position % beat == 0 else 0


def accent_velocities(melody: Melody, seed: int = 0, base: int = 78) -> list[int]:
    """Velocities a player might use: accents on strong beats, the line's peaks a little
    louder, long notes slightly stronger, a small seeded humanisation, never a flat value."""
    import random

    rng = random.Random(seed)
    notes = melody.notes
    if not notes:
        return []
    low, high = melody.pitch_range
    span = max(1, high - low)
    result = []
    for note in notes:
        strength = beat_strength(note.start_ticks, melody.time_signature)
        velocity = base + (18 if strength == 2 else 9 if strength == 1 else 0)
        velocity += int(round(8 * ((note.pitch - low) / span - 0.5)))
        if note.duration >= 1.0:
            velocity += 3
        velocity += rng.randint(-3, 3)
        result.append(max(30, min(124, velocity)))
    return result


# Aarden-Essen key profiles (Aarden 2003: pitch-class frequencies in the Essen folk
# songs, by degree above the tonic), which fit folk melodies better than the
# Krumhansl-Kessler probe-tone ratings; the church modes are the nearer of the two with
# their characteristic degree moved (dorian: the minor profile with a major sixth; mixolydian:
# the major profile with a minor seventh; phrygian: minor with a minor second; lydian:
# major with a raised fourth).
_AARDEN_MAJOR = (17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624, 8.15494, 0.232998, 4.95122)
_AARDEN_MINOR = (18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621, 1.93186, 7.37619, 1.75623)


def _swapped(profile: Sequence[float], a: int, b: int) -> tuple[float, ...]:
    values = list(profile)
    values[a], values[b] = values[b], values[a]
    return tuple(values)


KEY_PROFILES: dict[str, tuple[float, ...]] = {
    "major": _AARDEN_MAJOR,
    "minor": _AARDEN_MINOR,
    "dorian": _swapped(_AARDEN_MINOR, 8, 9),
    "mixolydian": _swapped(_AARDEN_MAJOR, 10, 11),
    "phrygian": _swapped(_AARDEN_MINOR, 1, 2),
    "lydian": _swapped(_AARDEN_MAJOR, 5, 6),
}
#: how much rarer a mode is than major and minor in folk tunes (added to its score)
MODE_PRIOR = {"major": 0.0, "minor": 0.0, "dorian": -0.04, "mixolydian": -0.04, "phrygian": -0.08, "lydian": -0.08}

# Tonic weights: a linear score over features of the melody seen from a candidate tonic
# (shares of sounding time per degree, shares of downbeat notes per degree, the first and
# the last note's degree), fitted by softmax regression over the 12 candidates on half
# of the Essen folk collection (``python -m studio_melody.key_finding_eval --fit``; the other
# half is held out). Degree 0 is the tonic.
TONIC_WEIGHTS: dict[str, tuple[float, ...]] = {
    "time": (1.864, -1.83, 2.588, 0.588, 3.724, -1.99, -3.529, 3.525, -0.505, 2.103, -3.627, -3.1),
    "downbeat": (1.35, -1.32, 1.085, 0.923, 2.026, -1.256, -2.212, 1.188, -0.182, 1.501, -2.049, -1.043),
    "first": (1.184, -0.392, 0.06, 0.051, 0.507, -0.513, -0.641, 1.103, -0.883, 0.049, 0.141, -1.061),
    "last": (2.473, -0.658, -0.163, -0.691, 0.696, -1.04, -0.687, 0.852, -0.621, 0.013, -0.659, -1.418),
}


@dataclass(frozen=True)
class KeyEstimate:
    """The key a melody is most likely in, and how sure that is."""

    key: str
    mode: str
    score: float
    #: the best key of another tonic or mode, for a "maybe" in the window
    runner_up: tuple[str, str, float] = ("C", "major", 0.0)
    #: "estimated" (from the notes) or "signature" (chosen among the modes of the file's key signature)
    source: str = "estimated"


def tonic_features(notes: Sequence[Note], downbeats: Sequence[bool] | None = None) -> dict[str, list[float]]:
    """What the tonic weights read, by absolute pitch class (rotate to a candidate tonic)."""
    time = [0.0] * 12
    down = [0.0] * 12
    for index, note in enumerate(notes):
        time[note.pitch % 12] += max(note.duration, 0.125)
        if downbeats is not None and index < len(downbeats) and downbeats[index]:
            down[note.pitch % 12] += 1.0
    total, total_down = sum(time) or 1.0, sum(down) or 1.0
    first, last = [0.0] * 12, [0.0] * 12
    if notes:
        first[notes[0].pitch % 12] = 1.0
        last[notes[-1].pitch % 12] = 1.0
    return {"time": [t / total for t in time], "downbeat": [d / total_down for d in down], "first": first, "last": last}


def tonic_scores(features: dict[str, list[float]], weights: dict[str, Sequence[float]] | None = None) -> list[float]:
    """The linear tonic score of each of the 12 pitch classes."""
    table: Mapping[str, Sequence[float]] = weights or TONIC_WEIGHTS
    scores = []
    for tonic in range(12):
        score = 0.0
        for name, values in features.items():
            w = table[name]
            score += sum(w[degree] * values[(tonic + degree) % 12] for degree in range(12))
        scores.append(score)
    return scores


def find_key(
    notes: Iterable[Note],
    *,
    sharps: int | None = None,
    downbeats: Sequence[bool] | None = None,
    modes: Sequence[str] = ("major", "minor", "dorian", "mixolydian"),
) -> KeyEstimate:
    """The tonic and mode of a melody without a trustworthy key label.

    The tonic is the pitch class with the best linear score (``TONIC_WEIGHTS``: where the
    sounding time and the downbeats fall, and the first and last notes, seen from each
    candidate; learnt from folk songs). The mode is the one whose Aarden-Essen profile
    (``KEY_PROFILES``) correlates best with the duration-weighted pitch classes, plus its
    prior. With ``sharps`` (a key signature: + sharps, - flats) only the (tonic, mode)
    pairs written with that signature compete, so a minor or dorian tune written with a
    major key's signature is found as such. ``downbeats`` flags the notes on a bar's first
    beat (``find_melody_key`` fills it in from the metre).
    """
    notes = sorted(notes, key=lambda n: n.start)
    if not notes:
        return KeyEstimate("C", "major", 0.0, source="estimated")
    features = tonic_features(notes, downbeats)
    tonic_score = tonic_scores(features)
    histogram = features["time"]
    scored: list[tuple[float, int, str]] = []
    for mode in modes:
        profile = KEY_PROFILES[mode]
        for tonic in range(12):
            if sharps is not None and (tonic + _RELATIVE_MAJOR[mode]) % 12 != (7 * sharps) % 12:
                continue  # not written with this signature
            rotated = [profile[(pc - tonic) % 12] for pc in range(12)]
            score = tonic_score[tonic] + _correlation(histogram, rotated) + MODE_PRIOR[mode]
            scored.append((score, tonic, mode))
    if not scored:
        return find_key(notes, downbeats=downbeats, modes=modes)
    scored.sort(key=lambda item: -item[0])
    best, second = scored[0], scored[1] if len(scored) > 1 else scored[0]
    return KeyEstimate(
        PITCH_CLASSES[best[1]],
        best[2],
        round(best[0], 4),
        (PITCH_CLASSES[second[1]], second[2], round(second[0], 4)),
        "signature" if sharps is not None else "estimated",
    )


def find_melody_key(melody: Melody, *, sharps: int | None = None) -> KeyEstimate:
    """``find_key`` for a melody, its downbeats taken from its metre."""
    notes = sorted(melody.notes, key=lambda n: n.start)
    size = melody.bar_ticks
    return find_key(notes, sharps=sharps, downbeats=[n.start_ticks % size == 0 for n in notes])


def estimate_key(notes: Iterable[Note]) -> tuple[str, str]:
    """(tonic, mode) of a melody (see ``find_key``); ('C', 'major') for an empty melody."""
    found = find_key(notes)
    return found.key, found.mode


def _correlation(a: Sequence[float], b: Sequence[float]) -> float:
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b))
    var_a = sum((x - mean_a) ** 2 for x in a)
    var_b = sum((y - mean_b) ** 2 for y in b)
    return cov / math.sqrt(var_a * var_b) if var_a and var_b else 0.0


__all__ = [
    "GRID",
    "MODE_OF_SCALE",
    "Melody",
    "Note",
    "PITCH_CLASSES",
    "SCALES",
    "accent_velocities",
    "bar_ticks",
    "beat_strength",
    "beat_ticks",
    "beats",
    "estimate_key",
    "find_key",
    "find_melody_key",
    "KeyEstimate",
    "key_signature_name",
    "key_signature_sharps",
    "pitch_class",
    "pitch_name",
    "scale_pitch_classes",
    "snap",
    "ticks",
]
