"""The event vocabulary: melodies <-> token ids.

A tune is ``BOS|CONT METER MODE`` followed, bar by bar, by note events and a ``BAR``
after every bar, then ``EOS``. A note event is a pitch token (or ``REST``) followed by a
duration token; a note that continues over a bar line is split there and its
continuation is written ``TIE PITCH DUR``. Durations are whole grid ticks (12 per
quarter note, so sixteenths, eighth triplets and sixteenth triplets are exact) from 1 up
to the longest bar (72 ticks: 12/8, 3/2, 6/4).

Pitches are normalised to the tonic: a tune in G is moved down 7 semitones, one in A
up 3 (every tonic moves by at most a tritone, so registers stay put) and its mode is a
token of its own. The model therefore learns scale degrees, not 12 copies of each tune,
and a melody in any key is made by moving the output back.

``CONT`` starts a training window cut from the middle of a tune, so the model knows the
difference between an opening and a continuation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from studio.core.melody import (
    GRID,
    MODE_OF_SCALE,
    PITCH_CLASSES,
    Melody,
    Note,
    bar_ticks,
    beats,
    pitch_class,
    ticks,
)

TOKENS_VERSION = 1

METERS = ("2/4", "3/4", "4/4", "6/8", "9/8", "12/8", "3/8", "3/2", "6/4")
MODES = ("major", "minor", "dorian", "mixolydian", "phrygian", "lydian", "locrian")
PITCH_LOW, PITCH_HIGH = 36, 96  # normalised MIDI pitches the vocabulary covers
MAX_DURATION = 72  # ticks: the longest bar of any metre above

SPECIALS = ("PAD", "BOS", "EOS", "BAR", "TIE", "REST", "CONT")
PAD, BOS, EOS, BAR, TIE, REST, CONT = range(len(SPECIALS))

METER_BASE = len(SPECIALS)
MODE_BASE = METER_BASE + len(METERS)
PITCH_BASE = MODE_BASE + len(MODES)
DUR_BASE = PITCH_BASE + (PITCH_HIGH - PITCH_LOW + 1)
VOCAB_SIZE = DUR_BASE + MAX_DURATION
HEADER = 3  # BOS/CONT, METER, MODE
POSITIONS = MAX_DURATION + 1  # bar-position feature values: 0..72 ticks


def token_name(token: int) -> str:
    if token < METER_BASE:
        return SPECIALS[token]
    if token < MODE_BASE:
        return "M:" + METERS[token - METER_BASE]
    if token < PITCH_BASE:
        return "K:" + MODES[token - MODE_BASE]
    if token < DUR_BASE:
        return f"P{token - PITCH_BASE + PITCH_LOW}"
    return f"D{token - DUR_BASE + 1}"


def meter_token(meter: str) -> int:
    if meter == "2/2":
        meter = "4/4"
    if meter not in METERS:
        raise ValueError(f"metre {meter} is not one of {', '.join(METERS)}")
    return METER_BASE + METERS.index(meter)


def mode_token(mode: str) -> int:
    mode = MODE_OF_SCALE.get(mode, mode)
    if mode not in MODES:
        raise ValueError(f"mode {mode} is not one of {', '.join(MODES)}")
    return MODE_BASE + MODES.index(mode)


def pitch_token(pitch: int) -> int:
    if not PITCH_LOW <= pitch <= PITCH_HIGH:
        raise ValueError(f"normalised pitch {pitch} is outside {PITCH_LOW}..{PITCH_HIGH}")
    return PITCH_BASE + pitch - PITCH_LOW


def duration_token(duration_ticks: int) -> int:
    if not 1 <= duration_ticks <= MAX_DURATION:
        raise ValueError(f"duration of {duration_ticks} ticks is outside 1..{MAX_DURATION}")
    return DUR_BASE + duration_ticks - 1


def is_pitch(token: int) -> bool:
    return PITCH_BASE <= token < DUR_BASE


def is_duration(token: int) -> bool:
    return DUR_BASE <= token < VOCAB_SIZE


def token_pitch(token: int) -> int:
    return token - PITCH_BASE + PITCH_LOW


def token_duration(token: int) -> int:
    return token - DUR_BASE + 1


def meter_of(token: int) -> str:
    return METERS[token - METER_BASE]


def mode_of(token: int) -> str:
    return MODES[token - MODE_BASE]


def tonic_shift(key: str) -> int:
    """Semitones from C to the key's tonic, chosen in -5..6 so registers barely move."""
    pc = pitch_class(key)
    return pc if pc <= 6 else pc - 12


def header(meter: str, mode: str, *, start: int = BOS) -> list[int]:
    return [start, meter_token(meter), mode_token(mode)]


def fold_into_range(pitch: int, low: int = PITCH_LOW, high: int = PITCH_HIGH) -> int:
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return pitch


def encode_bars(melody: Melody, *, fold: bool = False) -> list[list[int]]:
    """The melody's body as one token list per bar (each ending in ``BAR``), normalised to
    its key. Notes are clipped where the next one starts (monophony); ``fold`` moves
    out-of-vocabulary pitches by octaves instead of raising."""
    shift = tonic_shift(melody.key)
    size = bar_ticks(melody.time_signature)
    if size > MAX_DURATION:
        raise ValueError(f"bars of {melody.meter} are longer than {MAX_DURATION} ticks")
    notes = sorted(melody.notes, key=lambda n: (n.start_ticks, -n.pitch))
    spans: list[tuple[int, int, int]] = []  # (start, end, normalised pitch)
    for note in notes:
        start, end = note.start_ticks, note.end_ticks
        if spans and start < spans[-1][1]:
            previous = spans[-1]
            if start <= previous[0]:
                continue  # a lower note starting with another one: keep the first (highest)
            spans[-1] = (previous[0], start, previous[2])
        if end <= start:
            continue
        pitch = note.pitch - shift
        if fold:
            pitch = fold_into_range(pitch)
        spans.append((start, end, pitch))
    total = max(ticks(melody.length), spans[-1][1] if spans else 0)
    bar_count = max(1, -(-total // size))
    bars: list[list[int]] = [[] for _ in range(bar_count)]
    cursor = 0
    for start, end, pitch in spans:
        if start > cursor:
            _emit(bars, size, cursor, start, None)
        _emit(bars, size, start, end, pitch)
        cursor = end
    if cursor < bar_count * size:
        _emit(bars, size, cursor, bar_count * size, None)
    for bar in bars:
        bar.append(BAR)
    return bars


def _emit(bars: list[list[int]], size: int, start: int, end: int, pitch: int | None) -> None:
    """Write one note (or rest) spanning ``start``..``end``, split at bar lines."""
    position = start
    first = True
    while position < end:
        bar_index = position // size
        bar_end = (bar_index + 1) * size
        piece_end = min(end, bar_end)
        tokens = bars[bar_index]
        if pitch is None:
            tokens.append(REST)
        else:
            if not first:
                tokens.append(TIE)
            tokens.append(pitch_token(pitch))
        tokens.append(duration_token(piece_end - position))
        position = piece_end
        first = False


def encode(melody: Melody, *, start: int = BOS, end: bool = True, fold: bool = False) -> list[int]:
    tokens = header(melody.meter, melody.mode, start=start)
    for bar in encode_bars(melody, fold=fold):
        tokens.extend(bar)
    if end:
        tokens.append(EOS)
    return tokens


def decode(tokens: Sequence[int], *, key: str = "C", tempo: float = 120.0, velocity: int = 80) -> Melody:
    """Tokens (with header) back to a melody in ``key`` (the header's mode is kept)."""
    if len(tokens) < HEADER:
        raise ValueError("a token sequence starts with BOS, a metre and a mode")
    meter, mode = meter_of(tokens[1]), mode_of(tokens[2])
    numerator, denominator = (int(part) for part in meter.split("/"))
    return decode_body(tokens[HEADER:], time_signature=(numerator, denominator), key=key, mode=mode, tempo=tempo, velocity=velocity)


def decode_body(
    body: Iterable[int], *, time_signature: tuple[int, int], key: str, mode: str, tempo: float = 120.0, velocity: int = 80
) -> Melody:
    shift = tonic_shift(key)
    size = bar_ticks(time_signature)
    notes: list[Note] = []
    position = 0
    bar_start = 0
    pending: int | None = None  # pitch (or -1 for rest) waiting for its duration
    tie = False
    for token in body:
        if token in (EOS, PAD):
            break
        if token == BAR:
            bar_start += size
            position = bar_start
        elif token == TIE:
            tie = True
        elif token == REST:
            pending = -1
        elif is_pitch(token):
            pending = token_pitch(token) + shift
        elif is_duration(token) and pending is not None:
            length = token_duration(token)
            if pending >= 0:
                last = notes[-1] if notes else None
                if tie and last is not None and last.pitch == pending and last.end_ticks == position:
                    notes[-1] = replace(last, duration=beats(last.duration_ticks + length))
                else:
                    notes.append(Note(pending, beats(position), beats(length), velocity))
            position += length
            pending, tie = None, False
    return Melody(notes=notes, tempo=tempo, time_signature=time_signature, key=key, mode=mode, length=beats(max(position, bar_start)))


def bar_positions(tokens: Sequence[int], bar_size: int | None = None) -> list[int]:
    """For each token, the position in its bar (ticks) once that token has been read.

    The model sees this beside each token: after a pitch it is the note's onset, after a
    duration the onset of whatever comes next, ``bar_size`` when the bar is full.
    """
    positions = []
    size = bar_size or 0
    position = 0
    for token in tokens:
        if METER_BASE <= token < MODE_BASE:
            size = bar_ticks(tuple(int(p) for p in meter_of(token).split("/")))  # type: ignore[arg-type]  # noqa: F841 (see the model card: kept until a retrain)
            position = 0
        elif token == BAR:
            position = 0
        elif is_duration(token):
            position = min(position + token_duration(token), MAX_DURATION)
        positions.append(position)
    return positions


def describe(tokens: Iterable[int]) -> str:
    return " ".join(token_name(token) for token in tokens)


def split_bars(body: Sequence[int]) -> list[list[int]]:
    """A tune's body (after the header) as one token list per bar, each ending in BAR."""
    bars: list[list[int]] = []
    current: list[int] = []
    for token in body:
        if token in (EOS, PAD):
            break
        current.append(token)
        if token == BAR:
            bars.append(current)
            current = []
    return bars


__all__ = [
    "split_bars",
    "BAR",
    "BOS",
    "CONT",
    "DUR_BASE",
    "EOS",
    "GRID",
    "HEADER",
    "MAX_DURATION",
    "METERS",
    "MODES",
    "PAD",
    "PITCH_BASE",
    "PITCH_CLASSES",
    "PITCH_HIGH",
    "PITCH_LOW",
    "POSITIONS",
    "REST",
    "TIE",
    "TOKENS_VERSION",
    "VOCAB_SIZE",
    "bar_positions",
    "decode",
    "decode_body",
    "describe",
    "duration_token",
    "encode",
    "encode_bars",
    "header",
    "is_duration",
    "is_pitch",
    "meter_token",
    "mode_token",
    "pitch_token",
    "token_duration",
    "token_name",
    "token_pitch",
    "tonic_shift",
]
