"""Takes: the alternatives a Vary makes for one slot (a canvas layer or a timeline clip).

Vary used to append a new layer or clip per run, so three variations of one picture became
three pictures to arrange and delete. A take group keeps them in the slot they vary: the
original and each alternative are *takes*; the slot shows the current one; the user steps
through them and promotes one, which then simply *is* the slot. The takes that were not
chosen stay in the project's history graph (each is a generation with its own node), so
nothing is lost by promoting.

A take is the part of the slot that differs between alternatives (``blob``, ``node``,
``name``; a clip also its ``melody`` and ``length``), kept as plain JSON so the group is
saved inside the slot's own document (``takes`` on a layer or clip). Qt-free.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

#: what a take replaces in a canvas layer / a timeline clip
LAYER_FIELDS = ("blob", "node", "name")
CLIP_FIELDS = ("blob", "node", "name", "melody", "length")


class TakesError(ValueError):
    """A stored take group is malformed; the message says what is wrong."""


@dataclass
class Take:
    """One alternative for a slot: the slot's fields while this take is shown."""

    fields: dict[str, Any]

    @property
    def node(self) -> str | None:
        node = self.fields.get("node")
        return str(node) if node else None

    @property
    def name(self) -> str:
        return str(self.fields.get("name") or "")


@dataclass
class Promoted:
    """What a promote did: the take that now is the slot, and the ones set aside (still in history)."""

    chosen: Take
    set_aside: list[Take]


@dataclass
class TakeGroup:
    """The original (index 0) and its alternatives; ``current`` is the one the slot shows."""

    takes: list[Take] = field(default_factory=list)
    current: int = 0

    @classmethod
    def start(cls, slot: dict[str, Any], keys: tuple[str, ...]) -> TakeGroup:
        """A group whose only take is what ``slot`` shows now (the original)."""
        return cls([Take(pick(slot, keys))], 0)

    @property
    def original(self) -> Take:
        return self.takes[0]

    @property
    def alternatives(self) -> list[Take]:
        return self.takes[1:]

    @property
    def shown(self) -> Take:
        return self.takes[self.current]

    def add(self, fields: dict[str, Any]) -> Take:
        """A new alternative, which becomes the current take (the user sees what came out)."""
        take = Take(copy.deepcopy(fields))
        self.takes.append(take)
        self.current = len(self.takes) - 1
        return take

    def step(self, delta: int) -> Take:
        """The previous / next take, wrapping round (◀ on the first shows the last)."""
        self.current = (self.current + delta) % len(self.takes)
        return self.shown

    def choose(self, index: int) -> Take:
        if not 0 <= index < len(self.takes):
            raise IndexError(f"take {index + 1} of {len(self.takes)} does not exist")
        self.current = index
        return self.shown

    def promote(self) -> Promoted:
        """The current take becomes the slot; the others are set aside (their nodes stay in history)."""
        chosen = self.shown
        return Promoted(chosen, [take for take in self.takes if take is not chosen])

    def position(self) -> str:
        """ "2/4": the current take and how many there are, as the takes bar shows it."""
        return f"{self.current + 1}/{len(self.takes)}"

    def nodes(self) -> list[str]:
        return [take.node for take in self.takes if take.node]

    def to_dict(self) -> dict[str, Any]:
        return {"current": self.current, "takes": [copy.deepcopy(take.fields) for take in self.takes]}

    @classmethod
    def from_dict(cls, data: Any) -> TakeGroup:
        if not isinstance(data, dict) or not isinstance(data.get("takes"), list) or not data["takes"]:
            raise TakesError("a take group needs a non-empty list of takes")
        takes = [Take(copy.deepcopy(item)) for item in data["takes"] if isinstance(item, dict)]
        if len(takes) != len(data["takes"]):
            raise TakesError("every take must be an object")
        current = data.get("current", 0)
        if not isinstance(current, int) or not 0 <= current < len(takes):
            raise TakesError(f"current take {current!r} is not one of the {len(takes)} takes")
        return cls(takes, current)


def pick(slot: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The take fields of a slot (a layer state or a clip dict), copied."""
    return {key: copy.deepcopy(slot.get(key)) for key in keys}


def group_of(slot: dict[str, Any]) -> TakeGroup | None:
    """The slot's take group, or None when it has none (or a malformed one: shown as a plain slot)."""
    data = slot.get("takes")
    if not data:
        return None
    try:
        return TakeGroup.from_dict(data)
    except TakesError:
        return None


def slot_shows(slot: dict[str, Any], node_id: str) -> bool:
    """Whether ``node_id`` is the slot's generation or one of its takes (a Vary of it lands here)."""
    if slot.get("node") == node_id:
        return True
    group = group_of(slot)
    return group is not None and node_id in group.nodes()
