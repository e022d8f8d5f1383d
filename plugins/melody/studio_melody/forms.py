"""Phrase forms: how folk tunes repeat themselves, and which form a new tune takes.

A tune's form is read from its first 16 bars (8 for a tune of 8 to 15 bars) cut into four
equal phrases: each phrase gets the letter of the first earlier phrase it repeats (every
bar but the phrase's last equal, so a second-time ending still counts as a repeat) or a
new letter. ``AABB``, ``AABA``, ``ABAB`` and ``ABAC`` are the forms ``form_plan`` writes;
anything else counts as ``free``.

Few tunes open in one of those forms exactly (2.6 % of the training tunes; see the model
card): folk tunes repeat single bars and 2-bar phrases at many places (a fifth of their
bars repeat an earlier bar; 35 % of test tunes repeat an aligned 2-bar phrase within 16
bars) more than they repeat whole quarters. So ``form = auto`` learns the repetition from
the data instead: ``forms.json`` beside the shipped model holds, for the first 16 bars of
every training tune, which earlier bar each bar repeats exactly (its *copy pattern*;
``python -m studio_melody.forms --write DIR`` rebuilds it). A new tune draws one pattern
(seeded) and the decoder copies those bars and writes the rest (``BarPlan("copy")``), the
closing bar always written, so generated tunes repeat as often, and where, the tunes the
model learnt from do.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import tokens as tk

FORMS = ("AABB", "AABA", "ABAB", "ABAC")

PATTERNS_NAME = "forms.json"
PATTERN_BARS = 16

#: share of training tunes (of at least 8 bars) opening in each named form, for the record
#: (``main`` recounts it)
FORM_PRIOR: dict[str, float] = {"free": 0.9746, "AABB": 0.0197, "AABA": 0.0023, "ABAB": 0.0009, "ABAC": 0.0026}


def copy_pattern(bars: Sequence[Sequence[int]], count: int = PATTERN_BARS) -> list[int]:
    """For each of the first ``count`` bars, the earliest earlier bar it repeats exactly
    (-1: none, or a bar without notes)."""
    pattern: list[int] = []
    first: dict[tuple[int, ...], int] = {}
    for index, bar in enumerate(bars[:count]):
        key = tuple(bar)
        has_note = any(tk.is_pitch(t) for t in bar)
        if has_note and key in first:
            pattern.append(first[key])
        else:
            pattern.append(-1)
            if has_note:
                first.setdefault(key, index)
    return pattern


def load_patterns(folder: Path) -> list[tuple[list[int], int]]:
    """(pattern, how many training tunes have it) from ``folder/forms.json`` ([] if none)."""
    path = Path(folder) / PATTERNS_NAME
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [(list(map(int, item["pattern"])), int(item["tunes"])) for item in data["patterns"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def pick_pattern(bars: int, rng: np.random.Generator, patterns: list[tuple[list[int], int]]) -> list[int] | None:
    """A copy pattern for a tune of ``bars`` bars: one drawn (by how many tunes share it)
    among training tunes at least that long (up to 16 bars; later bars are written
    freely), with the last bar always written. ``None`` without patterns."""
    wanted = min(bars, PATTERN_BARS)
    usable = [(p, n) for p, n in patterns if len(p) >= wanted]
    if not usable:
        return None
    weights = np.array([n for _, n in usable], dtype=float)
    pattern = list(usable[int(rng.choice(len(usable), p=weights / weights.sum()))][0][:wanted])
    pattern += [-1] * (bars - wanted)
    pattern[-1] = -1
    return pattern


def write_patterns(folder: Path, sequences: Sequence[Sequence[int]]) -> Path:
    counts = Counter(tuple(copy_pattern(tk.split_bars(s[tk.HEADER :]))) for s in sequences)
    items = [{"pattern": list(p), "tunes": n} for p, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    path = Path(folder) / PATTERNS_NAME
    path.write_text(
        json.dumps(
            {"version": 1, "source": "first 16 bars of the training tunes", "tunes": len(sequences), "patterns": items},
            separators=(",", ":"),
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def letters(bars: Sequence[Sequence[int]]) -> str:
    """The phrase letters of a tune's first 16 (or 8) bars, '' when it is shorter."""
    count = 16 if len(bars) >= 16 else 8 if len(bars) >= 8 else 0
    if not count:
        return ""
    length = count // 4
    phrases = [[tuple(bar) for bar in bars[i * length : (i + 1) * length]] for i in range(4)]
    heads = [p[:-1] if length > 1 else p for p in phrases]
    names: list[str] = []
    firsts: dict[str, int] = {}
    for index, head in enumerate(heads):
        letter = next((name for name, first in firsts.items() if heads[first] == head), None)
        if letter is None:
            letter = "ABCD"[len(firsts)]
            firsts[letter] = index
        names.append(letter)
    return "".join(names)


def form_of(bars: Sequence[Sequence[int]]) -> str:
    found = letters(bars)
    return found if found in FORMS else "free"


def count_forms(sequences: Sequence[Sequence[int]]) -> dict[str, float]:
    counts = Counter(form_of(tk.split_bars(s[tk.HEADER :])) for s in sequences if len(tk.split_bars(s[tk.HEADER :])) >= 8)
    total = sum(counts.values()) or 1
    return {name: round(counts.get(name, 0) / total, 4) for name in ("free",) + FORMS}


def main(argv: list[str] | None = None) -> int:
    import argparse

    from .data import load_corpus_dataset

    parser = argparse.ArgumentParser(description="count phrase forms; --write DIR writes forms.json")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args(argv)
    dataset = load_corpus_dataset()
    result = {split: count_forms([t.tokens for t in dataset.split(split)]) for split in ("train", "test")}
    print(json.dumps(result, indent=2))
    if args.write:
        print(write_patterns(args.write, [t.tokens for t in dataset.split("train")]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
