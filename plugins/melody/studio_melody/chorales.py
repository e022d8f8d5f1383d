"""Bach's four-part chorales as training data for the harmonizer.

The chorales ship inside the music21 package (``corpus/bach/bwv*.mxl``, public domain).
Each chorale with exactly four parts (soprano, alto, tenor, bass) is read once with
music21 into one row per beat: the MIDI pitch each voice sounds at that beat's start
(``-1`` for a rest). The beat is the metre's beat (a quarter in 4/4 and 3/4, a dotted
quarter in 6/8 and 12/8). The key is the final bass note's pitch class as tonic, major
or minor by the final chord's third (the key signature breaks the tie when the last
chord has none, a Picardy third counts as the chorale's mode only when the signature
agrees). Pitches are then normalised to that tonic the way melodies are (moved by at
most a tritone to C, see ``tokens.tonic_shift``), so the model learns degrees; that
normalisation does what transposing every chorale into all twelve keys would do for a
model over absolute pitches, without multiplying the data.

Harmonisations that repeat another chorale's beats exactly are dropped; the split into
train / validation / test is by a salted hash of the chorale's file name.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHORALE_DATA_VERSION = 1
SPLIT_SALT = "studio-chorales-split-1"


@dataclass
class Chorale:
    id: str
    tonic: int  # pitch class of the original key's tonic
    mode: str  # "major" | "minor"
    meter: str
    #: per beat: [soprano, alto, tenor, bass] normalised to C (tonic shift undone), -1 for a rest
    beats: list[list[int]] = field(default_factory=list)
    split: str = "train"


def split_for(chorale_id: str) -> str:
    value = int(hashlib.sha256(f"{SPLIT_SALT}:{chorale_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if value < 0.12 else "val" if value < 0.22 else "train"


def chorale_files() -> list[Path]:
    import music21

    root = Path(music21.__file__).parent / "corpus" / "bach"
    return sorted(root.glob("bwv*.mxl"))


def cache_path(cache_dir: Path) -> Path:
    return cache_dir / f"chorales-v{CHORALE_DATA_VERSION}.json.gz"


def load_chorales(cache_dir: Path | None = None, *, log: Callable[[str], None] | None = None) -> list[Chorale]:
    """The parsed chorales, from the cache or parsed now (a few minutes) and cached."""
    if cache_dir is None:
        from .data import default_cache_dir

        cache_dir = default_cache_dir()
    path = cache_path(cache_dir)
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return [Chorale(**item) for item in json.load(handle)["chorales"]]
    chorales = parse_all(log=log)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as handle:
        json.dump({"version": CHORALE_DATA_VERSION, "chorales": [c.__dict__ for c in chorales]}, handle)
    os.replace(tmp, path)
    return chorales


def parse_all(*, log: Callable[[str], None] | None = None) -> list[Chorale]:
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    chorales: list[Chorale] = []
    seen: set[str] = set()
    started = time.time()
    files = chorale_files()
    for index, path in enumerate(files):
        try:
            chorale = parse_chorale(path)
        except Exception as exc:  # a file music21 cannot read is left out, said in the log
            log(f"{path.name}: left out ({type(exc).__name__}: {exc})")
            continue
        if index % 25 == 0:
            log(f"parsed {index + 1}/{len(files)} chorales ({time.time() - started:.0f}s)")
        if chorale is None:
            continue
        fingerprint = hashlib.sha256(json.dumps(chorale.beats).encode()).hexdigest()
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        chorales.append(chorale)
    log(f"{len(chorales)} chorales kept of {len(files)} files ({time.time() - started:.0f}s)")
    return chorales


def _voice_events(part: Any) -> list[tuple[float, float, int]]:
    """(start, end, MIDI pitch) of a part's notes, ties joined (chords: the top note)."""
    events = []
    for element in part.stripTies().flatten().notes:
        pitches = getattr(element, "pitches", None)
        if not pitches:
            continue
        start = float(element.offset)
        events.append((start, start + float(element.quarterLength), max(p.midi for p in pitches)))
    return events


def _sounding(events: list[tuple[float, float, int]], time_: float) -> int:
    for start, end, pitch in events:
        if start <= time_ + 1e-6 < end:
            return pitch
    return -1


def parse_chorale(path: Path) -> Chorale | None:
    import music21

    score = music21.converter.parse(str(path))
    parts = list(score.parts)
    if len(parts) != 4:
        return None
    signatures = score.flatten().getElementsByClass("KeySignature")
    sharps = int(signatures[0].sharps) if signatures else 0
    meters = score.flatten().getElementsByClass("TimeSignature")
    meter = meters[0].ratioString if meters else "4/4"
    numerator, denominator = (int(x) for x in meter.split("/"))
    beat = 1.5 if denominator == 8 and numerator % 3 == 0 else 4.0 / denominator
    voices = [_voice_events(part) for part in parts]
    if any(not events for events in voices):
        return None
    # the first beat is where the soprano's first note starts (a pickup keeps its place)
    first = min(start for start, _, _ in voices[0])
    end = max(stop for events in voices for _, stop, _ in events)
    rows: list[list[int]] = []
    time_ = first
    while time_ < end - 1e-6:
        rows.append([_sounding(events, time_) for events in voices])
        time_ += beat
    if len(rows) < 8:
        return None
    bass_final = voices[3][-1][2] % 12
    final = {events[-1][2] % 12 for events in voices}
    relative_major = (7 * sharps) % 12
    if (bass_final + 4) % 12 in final and (bass_final + 3) % 12 not in final:
        mode = "major" if relative_major == bass_final or (relative_major + 9) % 12 != bass_final else "minor"
    elif (bass_final + 3) % 12 in final:
        mode = "minor"
    else:
        mode = "major" if relative_major == bass_final else "minor"
    tonic = bass_final
    shift = tonic if tonic <= 6 else tonic - 12
    beats = [[p - shift if p >= 0 else -1 for p in row] for row in rows]
    chorale_id = path.stem
    return Chorale(chorale_id, tonic, mode, meter, beats, split_for(chorale_id))


if __name__ == "__main__":
    items = load_chorales()
    counts: dict[str, int] = {}
    for item in items:
        counts[item.split] = counts.get(item.split, 0) + 1
    print(json.dumps({"chorales": len(items), "by_split": counts, "beats": sum(len(c.beats) for c in items)}))
