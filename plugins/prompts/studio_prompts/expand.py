"""Turning a parsed template into prompts: seeded random picks, or every combination.

Random mode draws each choice from ``random.Random(seed)`` using only ``random()``, whose
sequence Python keeps stable across versions, so a seed gives the same prompts on every
machine. Combinatorial mode walks the combinations lazily in reading order (the first
choice in the template changes slowest), so a cap of 100 costs 100 prompts of work however
many combinations the template has.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Iterator

from studio.core.errors import ParamError
from studio_prompts.syntax import Literal, Node, Option, Sequence, Variants, Wildcard
from studio_prompts.wildcards import WildcardLibrary

_SPACES = re.compile(r"[ \t]{2,}")


def tidy(text: str) -> str:
    """Collapse the runs of spaces that empty alternatives leave, and trim the ends."""
    return _SPACES.sub(" ", text).strip()


class Expander:
    """Expands templates against one wildcard library."""

    def __init__(self, library: WildcardLibrary) -> None:
        self.library = library
        self._checked: set[str] = set()

    # ------------------------------------------------------------------ checking

    def check(self, tree: Node) -> None:
        """Resolve every wildcard up front, so a missing file is reported even if unpicked."""
        self._check(tree, source="template", stack=())

    def _check(self, node: Node, *, source: str, stack: tuple[str, ...]) -> None:
        if isinstance(node, Sequence):
            for part in node.parts:
                self._check(part, source=source, stack=stack)
        elif isinstance(node, Variants):
            if node.from_wildcard is not None:
                self._check(node.from_wildcard, source=source, stack=stack)
            for option in node.options:
                self._check(option.body, source=source, stack=stack)
        elif isinstance(node, Wildcard):
            if node.name in stack:
                cycle = " → ".join(f"__{name}__" for name in (*stack, node.name))
                raise ParamError(f"wildcards refer to each other in a loop: {cycle}")
            if node.name in self._checked:
                return
            lines = self.library.options(node.name, position=node.position, source=source)
            for line in lines:
                self._check(line.tree, source=line.source, stack=(*stack, node.name))
            self._checked.add(node.name)

    # ------------------------------------------------------------------ random mode

    def sample(self, tree: Node, rng: random.Random) -> str:
        """One prompt, every choice drawn from ``rng``."""
        return tidy(self._sample(tree, rng))

    def _sample(self, node: Node, rng: random.Random) -> str:
        if isinstance(node, Literal):
            return node.text
        if isinstance(node, Sequence):
            return "".join(self._sample(part, rng) for part in node.parts)
        if isinstance(node, Wildcard):
            lines = self.library.options(node.name, position=node.position)
            line = lines[_pick(rng, [1.0] * len(lines))]
            return self._sample(line.tree, rng)
        if isinstance(node, Variants):
            options = self._options(node)
            low, high = _bounds(node, len(options))
            count = low if low == high else low + min(high - low, int(rng.random() * (high - low + 1)))
            taken: set[int] = set()
            chosen: list[str] = []
            for _ in range(count):
                weights = [0.0 if i in taken else option.weight for i, option in enumerate(options)]
                if sum(weights) <= 0:  # only zero-weight options left: pick among them evenly
                    weights = [0.0 if i in taken else 1.0 for i in range(len(options))]
                index = _pick(rng, weights)
                taken.add(index)
                chosen.append(self._sample(options[index].body, rng))
            return node.separator.join(chosen)
        raise TypeError(f"unknown template node {node!r}")

    # ------------------------------------------------------------------ combinatorial mode

    def combinations(self, tree: Node) -> Iterator[str]:
        """Every prompt the template can make, in reading order."""
        for text in self._combinations(tree):
            yield tidy(text)

    def _combinations(self, node: Node) -> Iterator[str]:
        if isinstance(node, Literal):
            yield node.text
        elif isinstance(node, Sequence):
            yield from self._product([part for part in node.parts], "")
        elif isinstance(node, Wildcard):
            for line in self.library.options(node.name, position=node.position):
                yield from self._combinations(line.tree)
        elif isinstance(node, Variants):
            options = self._options(node)
            low, high = _bounds(node, len(options))
            for count in range(low, high + 1):
                for subset in itertools.combinations(options, count):
                    for values in self._joined([option.body for option in subset]):
                        yield node.separator.join(values)
        else:
            raise TypeError(f"unknown template node {node!r}")

    def _product(self, parts: list[Node], prefix: str) -> Iterator[str]:
        if not parts:
            yield prefix
            return
        head, rest = parts[0], parts[1:]
        for value in self._combinations(head):
            yield from self._product(rest, prefix + value)

    def _joined(self, bodies: list[Sequence]) -> Iterator[tuple[str, ...]]:
        if not bodies:
            yield ()
            return
        for value in self._combinations(bodies[0]):
            for rest in self._joined(bodies[1:]):
                yield (value, *rest)

    def count(self, tree: Node) -> int:
        """How many prompts combinatorial mode would give (before the cap)."""
        if isinstance(tree, Literal):
            return 1
        if isinstance(tree, Sequence):
            return math.prod(self.count(part) for part in tree.parts)
        if isinstance(tree, Wildcard):
            return sum(self.count(line.tree) for line in self.library.options(tree.name, position=tree.position))
        if isinstance(tree, Variants):
            options = self._options(tree)
            low, high = _bounds(tree, len(options))
            sums = _elementary_symmetric([self.count(option.body) for option in options], high)
            return sum(sums[low : high + 1])
        raise TypeError(f"unknown template node {tree!r}")

    # ------------------------------------------------------------------ helpers

    def _options(self, node: Variants) -> list[Option]:
        if node.from_wildcard is None:
            return list(node.options)
        wildcard = node.from_wildcard
        lines = self.library.options(wildcard.name, position=wildcard.position)
        return [Option(1.0, line.tree) for line in lines]


def _bounds(node: Variants, available: int) -> tuple[int, int]:
    high = available if node.max_count is None else min(node.max_count, available)
    low = min(node.min_count, high)
    return low, high


def _pick(rng: random.Random, weights: list[float]) -> int:
    """An index drawn in proportion to ``weights`` (some weight must be positive)."""
    total = sum(weights)
    target = rng.random() * total
    running = 0.0
    last = 0
    for index, weight in enumerate(weights):
        if weight <= 0:
            continue
        running += weight
        last = index
        if target < running:
            return index
    return last


def _elementary_symmetric(values: list[int], up_to: int) -> list[int]:
    """e_0..e_up_to of ``values``: the number of ways to fill k slots from distinct options."""
    sums = [1] + [0] * up_to
    for value in values:
        for k in range(up_to, 0, -1):
            sums[k] += sums[k - 1] * value
    return sums
