"""The baseline: an interpolated Witten-Bell n-gram model over the same tokens.

It is trained on the same training tunes and scored on the same targets as the LSTM
(every token after the three header tokens), so the two negative log-likelihoods in the
model card compare like with like. It can also drive the constrained decoder (``step``
returns log-probabilities the way the LSTM returns logits), which gives generation
statistics for the baseline under the same guarantees.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from . import tokens as tk


class NGramModel:
    def __init__(self, order: int, vocab_size: int = tk.VOCAB_SIZE) -> None:
        if order < 1:
            raise ValueError("order must be at least 1")
        self.order = order
        self.vocab_size = vocab_size
        # counts[n][context] = {token: count} for contexts of length n (0..order-1)
        self.counts: list[dict[tuple[int, ...], dict[int, int]]] = [defaultdict(dict) for _ in range(order)]
        self.totals: list[dict[tuple[int, ...], int]] = [defaultdict(int) for _ in range(order)]

    def fit(self, sequences: Iterable[Sequence[int]]) -> NGramModel:
        for sequence in sequences:
            for index in range(1, len(sequence)):
                token = sequence[index]
                for n in range(self.order):
                    if index - n < 0:
                        break
                    context = tuple(sequence[index - n : index])
                    bucket = self.counts[n][context]
                    bucket[token] = bucket.get(token, 0) + 1
                    self.totals[n][context] += 1
        return self

    def prob(self, history: Sequence[int], token: int) -> float:
        p = 1.0 / self.vocab_size
        for n in range(self.order):
            if n > len(history):
                break
            context = tuple(history[len(history) - n :]) if n else ()
            bucket = self.counts[n].get(context)
            if not bucket:
                break
            total = self.totals[n][context]
            types = len(bucket)
            p = (bucket.get(token, 0) + types * p) / (total + types)
        return p

    def distribution(self, history: Sequence[int]) -> np.ndarray:
        p = np.full(self.vocab_size, 1.0 / self.vocab_size)
        for n in range(self.order):
            if n > len(history):
                break
            context = tuple(history[len(history) - n :]) if n else ()
            bucket = self.counts[n].get(context)
            if not bucket:
                break
            total = self.totals[n][context]
            types = len(bucket)
            counts = np.zeros(self.vocab_size)
            counts[list(bucket.keys())] = list(bucket.values())
            p = (counts + types * p) / (total + types)
        return p

    def nll(self, sequences: Iterable[Sequence[int]], start: int = tk.HEADER) -> tuple[float, int]:
        """(total negative log-likelihood in nats, number of tokens scored)."""
        total, count = 0.0, 0
        for sequence in sequences:
            for index in range(start, len(sequence)):
                total -= math.log(self.prob(sequence[max(0, index - self.order + 1) : index], sequence[index]))
                count += 1
        return total, count


class NGramStepper:
    """Adapts an n-gram model to the decoder's step interface."""

    def __init__(self, model: NGramModel) -> None:
        self.model = model
        self.history: list[int] = []

    def feed(self, tokens: Sequence[int]) -> np.ndarray:
        self.history.extend(tokens)
        return np.log(self.model.distribution(self.history[-(self.model.order - 1) :] if self.model.order > 1 else []))
