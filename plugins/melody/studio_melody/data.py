"""Training data: the public-domain folk-tune collections inside music21, and users' MIDI.

The music21 corpus is parsed once (a few minutes) into a versioned, cached token dataset
(``melody-corpus-v{DATA_VERSION}-t{TOKENS_VERSION}.json.gz`` in the cache folder). Each
tune gets a split (train / val / test) from a salted hash of its id, so the split does not
depend on parse order or on which other tunes are present, and exact duplicates (after
normalising to the tonic) are dropped before splitting so that no tune is in two splits.

Collections used (see the model card for their provenance): Aird's Airs (1778-1803),
O'Neill's Music of Ireland (1903), Ryan's Mammoth Collection (1883), the miscellaneous
folk file (American fife tunes; Northumbrian Minstrelsy, 1882) and the soprano lines of
the Bach chorales. The Essen collection is left out: its own licence file says its legal
status is unclear.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.melody import GRID, Melody, Note, bar_ticks, beats, estimate_key

from . import tokens as tk

DATA_VERSION = 1
SPLIT_SALT = "studio-melody-split-1"
FOLK_COLLECTIONS = ("airdsAirs", "oneills1850", "ryansMammoth", "miscFolk")
EXCLUDED_COLLECTIONS = ("essenFolksong",)  # legal status unclear (its licence.txt)


@dataclass
class Tune:
    id: str
    collection: str
    title: str
    meter: str
    key: str
    mode: str
    tokens: list[int]
    split: str = "train"


@dataclass
class Dataset:
    tunes: list[Tune]
    info: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> list[Tune]:
        return [tune for tune in self.tunes if tune.split == name]


def split_for(tune_id: str, *, val: float = 0.1, test: float = 0.1) -> str:
    value = int(hashlib.sha256(f"{SPLIT_SALT}:{tune_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if value < test:
        return "test"
    if value < test + val:
        return "val"
    return "train"


def corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def default_cache_dir() -> Path:
    from studio.core.paths import HomeLayout, studio_home

    return HomeLayout(studio_home()).cache_dir / "melody"


def cache_path(cache_dir: Path) -> Path:
    return cache_dir / f"melody-corpus-v{DATA_VERSION}-t{tk.TOKENS_VERSION}.json.gz"


def load_corpus_dataset(cache_dir: Path | None = None, *, workers: int = 1, log: Callable[[str], None] | None = None) -> Dataset:
    """The cached corpus dataset, building it first when missing."""
    cache_dir = cache_dir or default_cache_dir()
    path = cache_path(cache_dir)
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        return Dataset([Tune(**item) for item in data["tunes"]], data["info"])
    dataset = build_corpus_dataset(workers=workers, log=log)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as handle:
        json.dump({"info": dataset.info, "tunes": [tune.__dict__ for tune in dataset.tunes]}, handle)
    os.replace(tmp, path)
    return dataset


# --------------------------------------------------------------------------- parsing


def corpus_files() -> list[tuple[str, Path]]:
    root = corpus_root()
    files: list[tuple[str, Path]] = []
    for collection in FOLK_COLLECTIONS:
        for path in sorted((root / collection).glob("*.abc")):
            files.append((collection, path))
    for path in sorted((root / "bach").glob("bwv*.mxl")):
        files.append(("bach", path))
    return files


def build_corpus_dataset(*, workers: int = 1, log: Callable[[str], None] | None = None) -> Dataset:
    log = log or (lambda message: print(message, file=sys.stderr))
    files = corpus_files()
    started = time.time()
    results: list[tuple[list[dict[str, Any]], dict[str, int]]] = []
    if workers > 1:
        from multiprocessing import get_context

        with get_context("spawn").Pool(workers) as pool:
            for index, result in enumerate(pool.imap(_parse_file_job, files, chunksize=4)):
                results.append(result)
                if index % 50 == 0:
                    log(f"parsed {index + 1}/{len(files)} files ({time.time() - started:.0f}s)")
    else:
        for index, job in enumerate(files):
            results.append(_parse_file_job(job))
            if index % 50 == 0:
                log(f"parsed {index + 1}/{len(files)} files ({time.time() - started:.0f}s)")
    rejected: dict[str, int] = {}
    tunes: list[Tune] = []
    seen: set[str] = set()
    duplicates = 0
    for items, reasons in results:
        for reason, count in reasons.items():
            rejected[reason] = rejected.get(reason, 0) + count
        for item in items:
            body_hash = hashlib.sha256(json.dumps(item["tokens"][1:]).encode()).hexdigest()
            if body_hash in seen:
                duplicates += 1
                continue
            seen.add(body_hash)
            tune = Tune(**item)
            tune.split = split_for(tune.id)
            tunes.append(tune)
    info = {
        "data_version": DATA_VERSION,
        "tokens_version": tk.TOKENS_VERSION,
        "tunes": len(tunes),
        "duplicates_dropped": duplicates,
        "rejected": rejected,
        "by_collection": _count(tune.collection for tune in tunes),
        "by_split": _count(tune.split for tune in tunes),
        "parse_seconds": round(time.time() - started, 1),
    }
    log(f"dataset: {json.dumps(info)}")
    return Dataset(tunes, info)


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _parse_file_job(job: tuple[str, Path]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    collection, path = job
    import warnings

    warnings.simplefilter("ignore")
    reasons: dict[str, int] = {}
    items: list[dict[str, Any]] = []
    try:
        import music21

        parsed = music21.converter.parse(str(path), forceSource=True)
    except Exception:
        reasons["unparseable file"] = 1
        return items, reasons
    scores = list(parsed.scores) if hasattr(parsed, "scores") and len(parsed.scores) else [parsed]
    for index, score in enumerate(scores):
        tune_id = f"{collection}/{path.name}#{index}"
        try:
            melody, title = score_to_melody(score, soprano_only=(collection == "bach"))
            tokens = tk.encode(melody)
        except RejectTune as exc:
            reasons[str(exc)] = reasons.get(str(exc), 0) + 1
            continue
        except Exception as exc:  # music21 raises many kinds on odd tunes
            key = f"error: {type(exc).__name__}"
            reasons[key] = reasons.get(key, 0) + 1
            continue
        items.append(
            dict(id=tune_id, collection=collection, title=title, meter=melody.meter, key=melody.key, mode=melody.mode, tokens=tokens)
        )
    return items, reasons


class RejectTune(Exception):
    pass


def score_to_melody(score: Any, *, soprano_only: bool = False) -> tuple[Melody, str]:  # noqa: C901
    """A music21 score (one ABC tune or a chorale) as a bar-aligned, on-grid Melody.

    A short first bar is a pickup: it is padded in front with a rest. After that the notes
    flow on, so a short bar before a repeat sign and the short bar after it make one bar
    together, as musicians play them; a full-length bar that would start off the bar line
    is moved to the next bar line (padding with a rest), and a tune needing that more than
    twice is rejected as mis-encoded.
    """
    from music21 import chord, harmony, meter, note
    from music21 import key as m21key

    title = str(score.metadata.title) if score.metadata and score.metadata.title else ""
    part = _melody_part(score, soprano_only)
    signatures = list(part.recurse().getElementsByClass(meter.TimeSignature))
    if not signatures:
        raise RejectTune("no time signature")
    ratios = {sig.ratioString for sig in signatures}
    if len(ratios) > 1:
        raise RejectTune("metre changes")
    ratio = signatures[0].ratioString
    if ratio == "2/2":
        ratio = "4/4"
    if ratio not in tk.METERS:
        raise RejectTune(f"metre {ratio}")
    numerator, denominator = (int(x) for x in ratio.split("/"))
    size = bar_ticks((numerator, denominator))

    keys = list(part.recurse().getElementsByClass(m21key.Key))
    if keys and not soprano_only and keys[0].mode in tk.MODES:
        tonic, mode = keys[0].tonic.name.replace("-", "b"), keys[0].mode
        if len({(k.tonic.name, k.mode) for k in keys}) > 1:
            raise RejectTune("key changes")
    else:
        analysed = score.analyze("key")
        tonic, mode = analysed.tonic.name.replace("-", "b"), analysed.mode
    if mode not in tk.MODES:
        raise RejectTune(f"mode {mode}")

    measures = list(part.getElementsByClass("Measure"))
    if not measures:
        raise RejectTune("no measures")
    events: list[tuple[int, int, int | None, str | None]] = []  # (start, length, pitch, tie)
    position = 0
    realigned = 0
    off_grid = 0
    total = 0
    for number, measure in enumerate(measures):
        items = [
            el
            for el in measure.recurse().notesAndRests
            if not isinstance(el, harmony.Harmony) and el.duration.quarterLength > 0 and not el.duration.isGrace
        ]
        if not items:
            continue
        length = _ticks(measure.duration.quarterLength)
        if number == 0 and length < size:
            position = size - length  # pickup
        elif length == size and position % size:
            position += size - position % size
            realigned += 1
        measure_start = position
        for el in sorted(items, key=lambda e: float(e.getOffsetInHierarchy(measure))):
            offset = float(el.getOffsetInHierarchy(measure))
            start = measure_start + _ticks(offset)
            end = measure_start + _ticks(offset + float(el.duration.quarterLength))
            total += 1
            if (
                abs(offset * GRID - round(offset * GRID)) > 1e-6
                or abs(float(el.duration.quarterLength) * GRID - round(float(el.duration.quarterLength) * GRID)) > 1e-6
            ):
                off_grid += 1
            if end <= start:
                continue
            if isinstance(el, note.Rest):
                pitch = None
            elif isinstance(el, chord.Chord):
                pitch = max(p.midi for p in el.pitches)
            elif isinstance(el, note.Note):
                pitch = el.pitch.midi
            else:
                continue
            tie = el.tie.type if el.tie is not None else None
            events.append((start, end - start, pitch, tie))
        position = measure_start + length
    if realigned > 2:
        raise RejectTune("bars out of line")
    if total == 0 or off_grid > 0.05 * total:
        raise RejectTune("off the triplet grid")

    notes: list[Note] = []
    for start, length, pitch, tie in events:
        if pitch is None:
            continue
        if tie in ("stop", "continue") and notes and notes[-1].pitch == pitch and notes[-1].end_ticks == start:
            last = notes[-1]
            notes[-1] = Note(last.pitch, last.start, beats(last.duration_ticks + length), last.velocity)
            continue
        if notes and start < notes[-1].end_ticks:
            last = notes[-1]
            if start <= last.start_ticks:
                continue
            notes[-1] = Note(last.pitch, last.start, beats(start - last.start_ticks), last.velocity)
        notes.append(Note(pitch, beats(start), beats(length)))
    if len(notes) < 8:
        raise RejectTune("too short")
    end = max(note.end_ticks for note in notes)
    bars = -(-end // size)
    if bars > 200:
        raise RejectTune("too long")
    melody = Melody(notes=notes, time_signature=(numerator, denominator), key=tonic, mode=mode, length=beats(bars * size))
    shift = tk.tonic_shift(tonic)
    low, high = melody.pitch_range
    if low - shift < tk.PITCH_LOW or high - shift > tk.PITCH_HIGH:
        raise RejectTune("pitch out of range")
    return melody, title


def _melody_part(score: Any, soprano_only: bool) -> Any:
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else []
    if not parts:
        return score
    if not soprano_only:
        return parts[0]
    for part in parts:
        name = f"{part.id} {part.partName or ''}".lower()
        if "soprano" in name or "sopran" in name:
            return part
    raise RejectTune("no soprano part")


def _ticks(quarter_length: Any) -> int:
    return int(round(float(quarter_length) * GRID))


# --------------------------------------------------------------------------- user MIDI


def midi_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file())


def load_midi_folder(folder: Path, *, log: Callable[[str], None] | None = None) -> Dataset:
    """Every MIDI file under ``folder`` as a tune (highest voice; key from the file or
    estimated); split by file, about one in eight for validation (at least one)."""
    from studio.core.errors import FileFormatError
    from studio.core.midi import read_midi

    log = log or (lambda message: print(message, file=sys.stderr))
    files = midi_files(folder)
    if not files:
        raise FileNotFoundError(f"{folder}: no .mid or .midi files found")
    tunes: list[Tune] = []
    for path in files:
        try:
            imported = read_midi(path)
        except FileFormatError as exc:
            log(f"skipped {path.name}: {exc}")
            continue
        melody = imported.melody
        if melody.meter not in tk.METERS and melody.meter != "2/2":
            log(f"skipped {path.name}: metre {melody.meter} is not supported")
            continue
        if not melody.notes:
            log(f"skipped {path.name}: no notes")
            continue
        if not imported.has_key_signature:
            tonic, mode = estimate_key(melody.notes)
            melody = melody.copy(key=tonic, mode=mode)
        tokens = tk.encode(melody, fold=True)
        tunes.append(
            Tune(
                id=str(path.relative_to(folder)),
                collection="user",
                title=path.stem,
                meter=melody.meter,
                key=melody.key,
                mode=melody.mode,
                tokens=tokens,
            )
        )
    if not tunes:
        raise FileNotFoundError(f"{folder}: none of the MIDI files could be used")
    ordered = sorted(tunes, key=lambda t: hashlib.sha256(f"{SPLIT_SALT}:{t.id}".encode()).hexdigest())
    val_count = max(1, len(tunes) // 8) if len(tunes) >= 2 else 0
    for index, tune in enumerate(ordered):
        tune.split = "val" if index < val_count else "train"
    return Dataset(tunes, {"source": str(folder), "tunes": len(tunes), "by_split": _count(t.split for t in tunes)})
