"""Phrase forms: how often folk tunes repeat their phrases, and which form a new tune takes.

A tune's form is read from its first 16 bars (8 for a tune of 8 to 15 bars) cut into four
equal phrases: each phrase gets the letter of the first earlier phrase it repeats (every
bar but the phrase's last equal, so a second-time ending still counts as a repeat) or a
new letter. ``AABB``, ``AABA``, ``ABAB`` and ``ABAC`` are the forms ``form_plan`` writes;
anything else counts as ``free``.

``FORM_PRIOR`` holds how often each form opens the training tunes of the shipped model
(``python -m studio_melody.forms`` recounts it): ``form = auto`` draws a new tune's form
from it, so generated tunes repeat phrases about as often as the tunes the model learnt
from, where a free sampler never copies itself.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Sequence

import numpy as np

from . import tokens as tk

FORMS = ("AABB", "AABA", "ABAB", "ABAC")

#: share of training tunes (of at least 8 bars) opening in each form; recounted by ``main``
FORM_PRIOR: dict[str, float] = {"free": 1.0}


def letters(bars: Sequence[Sequence[int]]) -> str:
    """The phrase letters of a tune's first 16 (or 8) bars, '' when it is shorter."""
    count = 16 if len(bars) >= 16 else 8 if len(bars) >= 8 else 0
    if not count:
        return ""
    length = count // 4
    phrases = [[tuple(bar) for bar in bars[i * length:(i + 1) * length]] for i in range(4)]
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


def pick_form(bars: int, rng: np.random.Generator, prior: dict[str, float] | None = None) -> str:
    """A form for a new tune of ``bars`` bars, drawn from ``prior`` (``free`` when the bars
    do not divide into four phrases)."""
    prior = prior or FORM_PRIOR
    if bars < 8 or bars % 4:
        return "free"
    names = sorted(prior)
    weights = np.array([prior[name] for name in names], dtype=float)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def count_forms(sequences: Sequence[Sequence[int]]) -> dict[str, float]:
    counts = Counter(form_of(tk.split_bars(s[tk.HEADER:])) for s in sequences
                     if len(tk.split_bars(s[tk.HEADER:])) >= 8)
    total = sum(counts.values()) or 1
    return {name: round(counts.get(name, 0) / total, 4) for name in ("free",) + FORMS}


def main(argv: list[str] | None = None) -> int:
    from .data import load_corpus_dataset

    dataset = load_corpus_dataset()
    result = {split: count_forms([t.tokens for t in dataset.split(split)]) for split in ("train", "test")}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
