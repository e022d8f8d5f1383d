"""How often ``studio.core.melody.find_key`` agrees with labelled keys.

    python -m studio_melody.key_finding_eval [--split test|dev|all] [--weights 0,0.1,...]

(with ``plugins/melody`` on ``sys.path``). Two labelled folk sets that ship with music21:

- the Essen folksong collection (``essenFolksong/*.abc``, 8,473 tunes with a tonic in
  their ``K:`` field; not used for training, so wholly held out). Its ``K:`` field names the
  tonic (``K: G`` for a tune in G minor written with explicit flats), so agreement is on the
  tonic. Tunes are split in two halves by a hash of their file and number: ``dev`` tuned the
  weights in ``studio.core.melody``, ``test`` is reported.
- (in the model card) the folk model's own test tunes, whose ``K:`` field names tonic and mode.

The Essen ABC is read by a small reader here (notes, accidentals within the bar, octave
marks, lengths): music21's full parser takes minutes for the whole collection, and only
pitch classes, lengths and order matter to a key finder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from studio.core.melody import Note, find_key, pitch_class

_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHARP_ORDER = "FCGDAEB"
_GERMAN = {"H": "B", "Es": "Eb", "As": "Ab", "Des": "Db", "Ges": "Gb", "Fis": "F#", "Cis": "C#"}
_TOKEN = re.compile(r"(\^{1,2}|_{1,2}|=)?([A-Ga-g])([,']*)(\d*)(/*)(\d*)|z(\d*)(/*)(\d*)|(\|)")
_FIELD = re.compile(r"^([A-Za-z]):\s*(.*)$")


@dataclass
class LabelledTune:
    id: str
    tonic: str  # the label's tonic, a pitch name
    mode: str  # "major" unless the label says minor ("m")
    notes: list[Note]
    downbeats: list[bool]  # the first note after each bar line


def _signature(tonic_pc: int, minor: bool) -> dict[str, int]:
    """Accidentals of the major (or minor) key signature on ``tonic_pc``, by letter."""
    relative = (tonic_pc + (3 if minor else 0)) % 12
    sharps = {0: 0, 7: 1, 2: 2, 9: 3, 4: 4, 11: 5, 6: 6, 5: -1, 10: -2, 3: -3, 8: -4, 1: -5}[relative]
    if sharps >= 0:
        return {letter: 1 for letter in _SHARP_ORDER[:sharps]}
    return {letter: -1 for letter in _SHARP_ORDER[::-1][:-sharps]}


def _length(number: str, slashes: str, denominator: str) -> float:
    value = float(number) if number else 1.0
    if slashes:
        value /= float(denominator) if denominator else 2.0 ** len(slashes)
    return value


def parse_abc_tune(body: list[str], unit: float, signature: dict[str, int]) -> tuple[list[Note], list[bool]]:
    notes: list[Note] = []
    downbeats: list[bool] = []
    after_bar = False
    time = 0.0
    bar_accidentals: dict[tuple[str, int], int] = {}
    for line in body:
        line = re.sub(r'"[^"]*"|![^!]*!|%.*$', "", line)
        for match in _TOKEN.finditer(line):
            accidental, letter, octave_marks, number, slashes, denominator, r_num, r_slash, r_den, bar = match.groups()
            if bar:
                bar_accidentals = {}
                after_bar = True
                continue
            if letter is None:
                time += _length(r_num or "", r_slash or "", r_den or "") * unit
                after_bar = False
                continue
            upper = letter.upper()
            octave = 5 if letter.islower() else 4
            octave += octave_marks.count("'") - octave_marks.count(",")
            if accidental:
                shift = {"^": 1, "^^": 2, "_": -1, "__": -2, "=": 0}[accidental]
                bar_accidentals[(upper, octave)] = shift
            else:
                shift = bar_accidentals.get((upper, octave), signature.get(upper, 0))
            duration = _length(number, slashes, denominator) * unit
            notes.append(Note(12 * (octave + 1) + _LETTERS[upper] + shift, time, duration))
            downbeats.append(after_bar)
            after_bar = False
            time += duration
    return notes, downbeats


def essen_tunes(root: Path | None = None) -> Iterator[LabelledTune]:  # noqa: C901
    """Every tune of music21's Essen collection whose ``K:`` names a tonic."""
    if root is None:
        import music21

        root = Path(music21.__file__).parent / "corpus" / "essenFolksong"
    for path in sorted(root.glob("*.abc")):
        fields: dict[str, str] = {}
        body: list[str] = []
        in_body = False

        # Called within this iteration, for the tune being read: the loop variables are current.
        def finish() -> LabelledTune | None:
            label = fields.get("K", "").strip()
            if not label or not body:
                return None
            minor = label.endswith("m") and len(label) > 1
            name = label[:-1] if minor else label
            name = _GERMAN.get(name, name)
            try:
                tonic = pitch_class(name)
            except Exception:
                return None
            unit = 4.0 * _length(*re.match(r"(\d*)(/*)(\d*)", fields.get("L", "1/8").replace(" ", "")).groups())
            notes, downbeats = parse_abc_tune(body, unit, _signature(tonic, minor))
            if len(notes) < 4:
                return None
            return LabelledTune(f"{path.stem}:{fields.get('X', '?')}", name, "minor" if minor else "major", notes, downbeats)

        for raw in path.read_text(encoding="latin-1").splitlines():
            line = raw.strip()
            field = _FIELD.match(line) if not in_body or line.startswith("X:") else None
            if line.startswith("X:"):
                if in_body:
                    tune = finish()
                    if tune is not None:
                        yield tune
                fields, body, in_body = {"X": line[2:].strip()}, [], False
                continue
            if not in_body and field:
                fields[field.group(1)] = field.group(2)
                if field.group(1) == "K":
                    in_body = True
                continue
            if in_body and line:
                body.append(line)
        if in_body:
            tune = finish()
            if tune is not None:
                yield tune


def half_of(tune_id: str) -> str:
    return "dev" if int(hashlib.sha256(tune_id.encode()).hexdigest()[:4], 16) % 2 == 0 else "test"


def agreement(tunes: list[LabelledTune]) -> dict[str, float | int]:
    hits = 0
    for tune in tunes:
        found = find_key(tune.notes, downbeats=tune.downbeats)
        hits += pitch_class(found.key) == pitch_class(tune.tonic)
    return {"tunes": len(tunes), "tonic_agreement": round(hits / max(1, len(tunes)), 4)}


FEATURES = ("time", "downbeat", "first", "last")


def _design(tune: LabelledTune):
    """(12 candidates x 48 features, 12 fixed offsets: the best mode's profile score)."""
    import numpy as np

    from studio.core.melody import KEY_PROFILES, MODE_PRIOR, _correlation, tonic_features

    features = tonic_features(tune.notes, tune.downbeats)
    rows, offsets = [], []
    for tonic in range(12):
        rows.append([features[name][(tonic + degree) % 12] for name in FEATURES for degree in range(12)])
        offsets.append(
            max(
                _correlation(features["time"], [KEY_PROFILES[m][(pc - tonic) % 12] for pc in range(12)]) + MODE_PRIOR[m]
                for m in ("major", "minor", "dorian", "mixolydian")
            )
        )
    return np.array(rows), np.array(offsets)


def fit_tonic_weights(tunes: list[LabelledTune], *, steps: int = 600, l2: float = 1e-3) -> dict[str, list[float]]:
    """Softmax regression of the labelled tonic over the 12 candidates (full-batch Adam)."""
    import numpy as np

    designs = [_design(t) for t in tunes]
    x = np.stack([d[0] for d in designs])  # (n, 12, 48)
    offset = np.stack([d[1] for d in designs])  # (n, 12)
    y = np.array([pitch_class(t.tonic) for t in tunes])
    w = np.zeros(x.shape[2])
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for step in range(1, steps + 1):
        logits = x @ w + offset
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        probs[np.arange(len(y)), y] -= 1.0
        grad = np.einsum("nc,ncf->f", probs, x) / len(y) + l2 * w
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w -= 0.05 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return {name: [round(float(value), 3) for value in w[i * 12 : (i + 1) * 12]] for i, name in enumerate(FEATURES)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", choices=["dev", "test", "all"])
    parser.add_argument("--fit", action="store_true", help="fit the tonic weights on the dev half and print them")
    args = parser.parse_args(argv)
    every = list(essen_tunes())
    if args.fit:
        import studio.core.melody as melody_module

        weights = fit_tonic_weights([t for t in every if half_of(t.id) == "dev"])
        print(json.dumps(weights))
        melody_module.TONIC_WEIGHTS = {k: tuple(v) for k, v in weights.items()}
    tunes = [t for t in every if args.split == "all" or half_of(t.id) == args.split]
    print(json.dumps({"split": args.split, **agreement(tunes)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
