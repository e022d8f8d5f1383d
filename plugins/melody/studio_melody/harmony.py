"""Four-part chorale harmony under a given soprano: a smoothed n-gram over voicings,
decoded by Viterbi under hard constraints.

A *voicing* is what the three lower voices do under the soprano at one beat, written as
the intervals below it: ``(S-A, S-T, S-B)`` in semitones. The model reads the soprano's
scale degree (the melody is normalised to the tonic, as the melody model's tokens are),
the mode, and the voicing of the beat before, and gives a probability to every voicing:

    P(v_t | v_{t-1}, d_t, d_{t+1}, mode)

estimated from Bach's chorales by interpolated Witten-Bell smoothing along the chain of
contexts in ``CONTEXTS`` (the richest first, down to no context, then uniform over every
triple 0..48), the same smoothing as the melody model's n-gram baseline. The soprano is
given, so conditioning on the next beat's degree (``d_{t+1}``) is fair: it lets a
cadence be prepared. The baseline for the model card is the same chain without the
voicing before (no voice leading).

Decoding is exact (Viterbi over the beats, a first-order chain) among the voicings seen
in training, after masking every voicing or move that breaks a constraint: each voice in
its range, every note in the key (major scale; in minor the natural minor plus the raised
sixth and seventh, which Bach uses), optionally no voice crossing, optionally no
parallel fifths or octaves between any two voices, and a final chord on the tonic (the
bass on the tonic). A constraint that leaves no path is dropped, last first, and said.
With ``temperature > 0`` a path is sampled instead (forward filtering, backward sampling)
from the same masked chain, so Harmonize can be asked again for another harmony.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HARMONY_FORMAT = "studio-harmony-ngram"
HARMONY_NAME = "harmony.json.gz"
VOICES = ("soprano", "alto", "tenor", "bass")
#: usual SATB ranges (MIDI), the ones the model card's "range violations" count against
RANGES = {"soprano": (60, 81), "alto": (53, 74), "tenor": (48, 69), "bass": (36, 62)}
MAX_INTERVAL = 48
UNIFORM_SIZE = (MAX_INTERVAL + 1) ** 3
#: contexts from richest to poorest; each is a function of (previous voicing, degree, next degree, mode)
CONTEXTS = ("prev+deg+next", "prev+deg", "deg+next", "deg", "mode", "none")
BASELINE_CONTEXTS = ("deg+next", "deg", "mode", "none")

Voicing = tuple[int, int, int]


def context_key(name: str, prev: Voicing | None, degree: int, following: int, mode: str) -> str | None:
    if name.startswith("prev") and prev is None:
        return None
    if name == "prev+deg+next":
        return f"{prev}|{degree}|{following}|{mode}"
    if name == "prev+deg":
        return f"{prev}|{degree}|{mode}"
    if name == "deg+next":
        return f"{degree}|{following}|{mode}"
    if name == "deg":
        return f"{degree}|{mode}"
    if name == "mode":
        return mode
    return ""


def voicing_of(row: Sequence[int]) -> Voicing | None:
    s, a, t, b = row
    if min(row) < 0:
        return None
    v = (s - a, s - t, s - b)
    if min(v) < 0 or max(v) > MAX_INTERVAL:
        return None
    return v


def sequences_of(chorale) -> list[list[tuple[int, Voicing]]]:
    """A chorale's beats as runs of (soprano pitch, voicing), broken at rests."""
    runs: list[list[tuple[int, Voicing]]] = []
    current: list[tuple[int, Voicing]] = []
    for row in chorale.beats:
        v = voicing_of(row)
        if v is None:
            if current:
                runs.append(current)
            current = []
            continue
        current.append((row[0], v))
    if current:
        runs.append(current)
    return [run for run in runs if len(run) >= 2]


class HarmonyModel:
    """Witten-Bell interpolated counts over voicings (see the module doc)."""

    def __init__(
        self, counts: dict[str, dict[str, dict[str, int]]], contexts: Sequence[str] = CONTEXTS, info: dict[str, Any] | None = None
    ) -> None:
        # counts[context name][context key][voicing "a,t,b"] = n
        self.contexts = tuple(contexts)
        self.info = info or {}
        self.tables: dict[str, dict[str, tuple[dict[Voicing, int], int, int]]] = {}
        for name in self.contexts:
            table = {}
            for key, followers in counts.get(name, {}).items():
                parsed = {_parse(v): n for v, n in followers.items()}
                table[key] = (parsed, sum(parsed.values()), len(parsed))
            self.tables[name] = table
        self.vocabulary: list[Voicing] = sorted({v for name in self.contexts for entry in self.tables[name].values() for v in entry[0]})

    # ------------------------------------------------------------------ training

    @classmethod
    def fit(cls, chorales: Iterable, contexts: Sequence[str] = CONTEXTS) -> HarmonyModel:
        counts: dict[str, dict[str, dict[str, int]]] = {name: defaultdict(lambda: defaultdict(int)) for name in contexts}
        beats = 0
        for chorale in chorales:
            for run in sequences_of(chorale):
                for index, (soprano, v) in enumerate(run):
                    prev = run[index - 1][1] if index else None
                    following = run[index + 1][0] % 12 if index + 1 < len(run) else -1
                    for name in contexts:
                        key = context_key(name, prev, soprano % 12, following, chorale.mode)
                        if key is not None:
                            counts[name][key][_format(v)] += 1
                    beats += 1
        plain = {name: {key: dict(followers) for key, followers in table.items()} for name, table in counts.items()}
        return cls(plain, contexts, {"beats": beats})

    # ------------------------------------------------------------------ probabilities

    def probability(self, v: Voicing, prev: Voicing | None, degree: int, following: int, mode: str) -> float:
        p = 1.0 / UNIFORM_SIZE
        for name in reversed(self.contexts):
            key = context_key(name, prev, degree, following, mode)
            if key is None or key not in self.tables[name]:
                continue
            followers, total, distinct = self.tables[name][key]
            weight = total / (total + distinct)
            p = weight * followers.get(v, 0) / total + (1 - weight) * p
        return p

    def lower_vector(self, candidates: list[Voicing], degree: int, following: int, mode: str) -> np.ndarray:
        """P over ``candidates`` from every context without the previous voicing."""
        p = np.full(len(candidates), 1.0 / UNIFORM_SIZE)
        for name in reversed(self.contexts):
            if name.startswith("prev"):
                continue
            key = context_key(name, None, degree, following, mode)
            if key is None or key not in self.tables[name]:
                continue
            followers, total, distinct = self.tables[name][key]
            weight = total / (total + distinct)
            p = weight * np.array([followers.get(v, 0) for v in candidates]) / total + (1 - weight) * p
        return p

    def transition_matrix(self, previous: list[Voicing], candidates: list[Voicing], degree: int, following: int, mode: str) -> np.ndarray:
        """P(candidate | previous) for every pair, shape (len(previous), len(candidates))."""
        lower = self.lower_vector(candidates, degree, following, mode)
        index = {v: i for i, v in enumerate(candidates)}
        matrix = np.tile(lower, (len(previous), 1))
        prev_levels = [name for name in self.contexts if name.startswith("prev")]
        # apply the prev-conditioned levels from the poorer to the richer one
        for row, prev in enumerate(previous):
            p = lower.copy()
            for name in reversed(prev_levels):
                key = context_key(name, prev, degree, following, mode)
                entry = self.tables[name].get(key) if key is not None else None
                if entry is None:
                    continue
                followers, total, distinct = entry
                weight = total / (total + distinct)
                seen = np.zeros(len(candidates))
                for v, n in followers.items():
                    i = index.get(v)
                    if i is not None:
                        seen[i] = n
                p = weight * seen / total + (1 - weight) * p
            matrix[row] = p
        return matrix

    def nll(self, chorales: Iterable) -> dict[str, float]:
        """Nats per beat (and per lower-voice note) over held-out chorales."""
        total, beats = 0.0, 0
        for chorale in chorales:
            for run in sequences_of(chorale):
                for index, (soprano, v) in enumerate(run):
                    prev = run[index - 1][1] if index else None
                    following = run[index + 1][0] % 12 if index + 1 < len(run) else -1
                    total -= math.log(self.probability(v, prev, soprano % 12, following, chorale.mode))
                    beats += 1
        return {"beats": beats, "nats_per_beat": round(total / max(1, beats), 4), "nats_per_note": round(total / max(1, 3 * beats), 4)}

    # ------------------------------------------------------------------ files

    def to_json(self) -> dict[str, Any]:
        return {
            "format": HARMONY_FORMAT,
            "version": 1,
            "contexts": list(self.contexts),
            "info": self.info,
            "counts": {
                name: {key: {_format(v): n for v, n in entry[0].items()} for key, entry in table.items()}
                for name, table in self.tables.items()
            },
        }

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / HARMONY_NAME
        # mtime 0: the same counts give the same bytes
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
            handle.write(json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode())
        return path

    @classmethod
    def load(cls, path: Path) -> HarmonyModel:
        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a readable harmony model ({exc})") from None
        if data.get("format") != HARMONY_FORMAT:
            raise ValueError(f"{path}: not a {HARMONY_FORMAT} file")
        return cls(data["counts"], data["contexts"], data.get("info"))


def _format(v: Voicing) -> str:
    return f"{v[0]},{v[1]},{v[2]}"


def _parse(text: str) -> Voicing:
    a, t, b = (int(x) for x in text.split(","))
    return (a, t, b)


# --------------------------------------------------------------------------- decoding


@dataclass
class HarmonyConstraints:
    key_pitch_classes: frozenset[int]  # absolute pitch classes allowed in the lower voices
    tonic: int  # absolute pitch class
    ranges: dict[str, tuple[int, int]]
    no_crossing: bool = True
    no_parallels: bool = True
    end_on_tonic: bool = True


def key_pitch_classes(tonic: int, mode: str) -> frozenset[int]:
    if mode == "minor":
        steps = (0, 2, 3, 5, 7, 8, 9, 10, 11)  # natural minor + raised sixth and seventh
    else:
        from studio.core.melody import SCALES

        steps = SCALES.get(mode, SCALES["major"])
    return frozenset((tonic + s) % 12 for s in steps)


def parallel_between(before: Sequence[int], after: Sequence[int]) -> int:
    """Parallel fifths and octaves (or unisons) between any two of the voices from one
    chord to the next: the same perfect interval class, both voices moving."""
    count = 0
    for i in range(4):
        for j in range(i + 1, 4):
            if before[i] == after[i] or before[j] == after[j]:
                continue
            first = (before[i] - before[j]) % 12
            second = (after[i] - after[j]) % 12
            if first == second and first in (0, 7):
                count += 1
    return count


class Harmonizer:
    """Runs the model over a soprano line (one pitch per beat) under constraints."""

    def __init__(self, model: HarmonyModel, *, log: Callable[[str], None] | None = None) -> None:
        self.model = model
        self.log = log or (lambda message: None)

    def candidates(self, soprano: int, shift: int, c: HarmonyConstraints, *, strict: bool) -> list[Voicing]:
        out = []
        for v in self.model.vocabulary:
            a, t, b = soprano - v[0], soprano - v[1], soprano - v[2]
            if c.no_crossing and not (v[0] <= v[1] <= v[2]):
                continue
            if not (
                c.ranges["alto"][0] <= a <= c.ranges["alto"][1]
                and c.ranges["tenor"][0] <= t <= c.ranges["tenor"][1]
                and c.ranges["bass"][0] <= b <= c.ranges["bass"][1]
            ):
                continue
            if strict and any((p + shift) % 12 not in c.key_pitch_classes for p in (a, t, b)):
                continue
            out.append(v)
        return out

    def harmonize(
        self,
        soprano: Sequence[int],
        *,
        shift: int,
        mode: str,
        constraints: HarmonyConstraints,
        temperature: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> list[Voicing]:
        """The voicing for each beat of ``soprano`` (normalised pitches; ``shift`` moves
        them back to the key)."""
        attempts = [dict(parallels=constraints.no_parallels, tonic=constraints.end_on_tonic)]
        if constraints.no_parallels:
            attempts.append(dict(parallels=False, tonic=constraints.end_on_tonic))
        if constraints.end_on_tonic:
            attempts.append(dict(parallels=False, tonic=False))
        for number, attempt in enumerate(attempts):
            path = self._decode(soprano, shift, mode, constraints, attempt["parallels"], attempt["tonic"], temperature, rng)
            if path is not None:
                if number:
                    dropped = [
                        name
                        for name, on in (
                            ("no parallel fifths or octaves", constraints.no_parallels and not attempt["parallels"]),
                            ("a final chord on the tonic", constraints.end_on_tonic and not attempt["tonic"]),
                        )
                        if on
                    ]
                    self.log(f"harmony: no harmony keeps {' and '.join(dropped)} under this melody; wrote one without")
                return path
        raise ValueError(
            "no four-part harmony fits this melody in the voice ranges and key; "
            "try the chords style, another key, or a melody nearer the soprano range (C4-A5)"
        )

    def _decode(
        self,
        soprano: Sequence[int],
        shift: int,
        mode: str,
        c: HarmonyConstraints,
        parallels: bool,
        tonic: bool,
        temperature: float,
        rng: np.random.Generator | None,
    ) -> list[Voicing] | None:
        steps = len(soprano)
        layers: list[list[Voicing]] = []
        for index, s in enumerate(soprano):
            options = self.candidates(s, shift, c, strict=True) or self.candidates(s, shift, c, strict=False)
            if tonic and index == steps - 1:
                options = [v for v in options if (s - v[2] + shift) % 12 == c.tonic]
            if not options:
                return None
            layers.append(options)
        scores: list[np.ndarray] = []
        back: list[np.ndarray] = []
        weights: list[np.ndarray] = []  # transition log-probabilities, kept for sampling
        following = soprano[1] % 12 if steps > 1 else -1
        first = np.log(self.model.lower_vector(layers[0], soprano[0] % 12, following, mode))
        scores.append(first)
        for index in range(1, steps):
            following = soprano[index + 1] % 12 if index + 1 < steps else -1
            matrix = np.log(self.model.transition_matrix(layers[index - 1], layers[index], soprano[index] % 12, following, mode))
            if parallels:
                matrix[parallel_mask(soprano[index - 1], layers[index - 1], soprano[index], layers[index])] = -np.inf
            weights.append(matrix)
            total = scores[-1][:, None] + matrix
            back.append(np.argmax(total, axis=0))
            scores.append(np.max(total, axis=0))
        if not np.isfinite(scores[-1]).any():
            return None
        if temperature <= 0 or rng is None:
            state = int(np.argmax(scores[-1]))
            path = [state]
            for index in range(steps - 1, 0, -1):
                state = int(back[index - 1][state])
                path.append(state)
            path.reverse()
        else:
            path = self._sample(scores[0], weights, temperature, rng)
            if path is None:
                return None
        return [layers[index][state] for index, state in enumerate(path)]

    @staticmethod
    def _sample(first: np.ndarray, weights: list[np.ndarray], temperature: float, rng: np.random.Generator) -> list[int] | None:
        """Forward filtering, backward sampling over the tempered chain."""
        alphas = [first / temperature]
        for matrix in weights:
            prev = alphas[-1]
            top = np.max(prev)
            if not np.isfinite(top):
                return None
            alphas.append(np.logaddexp.reduce(prev[:, None] - top + matrix / temperature, axis=0) + top)

        def draw(logits: np.ndarray) -> int:
            finite = np.isfinite(logits)
            if not finite.any():
                raise ValueError("no path")
            p = np.exp(logits - np.max(logits[finite]))
            p[~finite] = 0
            return int(rng.choice(len(p), p=p / p.sum()))

        try:
            state = draw(alphas[-1])
            path = [state]
            for index in range(len(weights) - 1, -1, -1):
                state = draw(alphas[index] + weights[index][:, state] / temperature)
                path.append(state)
        except ValueError:
            return None
        path.reverse()
        return path


def parallel_mask(soprano_before: int, before: list[Voicing], soprano_after: int, after: list[Voicing]) -> np.ndarray:
    """``parallel_between`` for every pair of voicings at once: (len(before), len(after)) bools."""
    b = soprano_before - np.concatenate([np.zeros((len(before), 1), dtype=int), np.array(before, dtype=int)], axis=1)
    a = soprano_after - np.concatenate([np.zeros((len(after), 1), dtype=int), np.array(after, dtype=int)], axis=1)
    mask = np.zeros((len(before), len(after)), dtype=bool)
    for i in range(4):
        for j in range(i + 1, 4):
            moved = (b[:, i][:, None] != a[:, i][None, :]) & (b[:, j][:, None] != a[:, j][None, :])
            first = ((b[:, i] - b[:, j]) % 12)[:, None]
            second = ((a[:, i] - a[:, j]) % 12)[None, :]
            mask |= moved & (first == second) & ((first == 0) | (first == 7))
    return mask


def _pitches(soprano: int, v: Voicing) -> tuple[int, int, int, int]:
    return (soprano, soprano - v[0], soprano - v[1], soprano - v[2])


# --------------------------------------------------------------------------- statistics


def voice_leading_stats(rows: Sequence[Sequence[Sequence[int]]]) -> dict[str, float]:
    """Parallel fifths/octaves and crossings per 100 beats, notes outside the usual
    ranges (%), over pieces given as per-beat [S, A, T, B] absolute pitches (-1: rest)."""
    beats = parallels = crossings = notes = outside = 0
    for piece in rows:
        previous = None
        for row in piece:
            if min(row) < 0:
                previous = None
                continue
            beats += 1
            for voice, pitch in zip(VOICES, row):
                notes += 1
                low, high = RANGES[voice]
                outside += not low <= pitch <= high
            crossings += sum(1 for i in range(3) if row[i] < row[i + 1])
            if previous is not None:
                parallels += parallel_between(previous, row)
            previous = row
    return {
        "beats": beats,
        "parallels_per_100_beats": round(100 * parallels / max(1, beats), 2),
        "crossings_per_100_beats": round(100 * crossings / max(1, beats), 2),
        "notes_out_of_range_percent": round(100 * outside / max(1, notes), 2),
    }


__all__ = [
    "HARMONY_NAME",
    "HarmonyConstraints",
    "HarmonyModel",
    "Harmonizer",
    "RANGES",
    "VOICES",
    "key_pitch_classes",
    "parallel_between",
    "voice_leading_stats",
]
