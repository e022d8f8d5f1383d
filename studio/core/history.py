"""The history graph: every generation, how it was made, and what it came from.

A node records one generation (plugin, version, model and its hash, params, seed, device,
outputs, timings) so re-running it on the same device gives the same output, and names its
parents so that iterating on an output (img2img from an image, continuing a melody,
interpolating two) forms a tree, or a DAG when a node has two parents. Nodes live in the
project file (``ProjectStore``), committed as they are added, so no generation is lost to a
crash or a restart.

Views (history panel, canvas) subscribe to the ``History`` instead of to jobs: whatever adds,
stars or deletes a node, every view hears about it the same way.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from studio.core.errors import ProjectError

if TYPE_CHECKING:  # the store (pydantic documents) loads with the first project, not with the window
    from studio.core.project_store import ProjectStore


def new_node_id() -> str:
    return uuid.uuid4().hex


@dataclass
class HistoryNode:
    """One generation (or an imported input) and where it came from."""

    id: str = field(default_factory=new_node_id)
    parents: list[str] = field(default_factory=list)
    plugin_id: str = ""
    generator: str = ""
    plugin_version: str = ""
    model_id: str = ""
    model_hash: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    device: str = ""
    outputs: list[str] = field(default_factory=list)  # artefact ids (SHA-256 of the bytes)
    started: float | None = None  # epoch seconds
    finished: float | None = None
    duration: float | None = None  # seconds
    starred: bool = False
    label: str = ""
    kind: str = ""  # image | text | music | audio (the generator's kind)
    # Fields written by a newer studio: kept and written back untouched, never dropped.
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (a deep copy; unknown fields from ``extra`` at top level)."""
        data = copy.deepcopy(self.extra)
        for item in fields(self):
            if item.name != "extra":
                data[item.name] = copy.deepcopy(getattr(self, item.name))
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryNode:
        known = {item.name for item in fields(cls)} - {"extra"}
        values = {key: copy.deepcopy(value) for key, value in data.items() if key in known}
        extra = {key: copy.deepcopy(value) for key, value in data.items() if key not in known}
        if "id" not in values:
            raise ValueError("a history node needs an 'id'")
        values["parents"] = list(values.get("parents") or [])
        values["outputs"] = list(values.get("outputs") or [])
        values["starred"] = bool(values.get("starred", False))
        return cls(**values, extra=extra)

    @classmethod
    def from_record(
        cls,
        record: Mapping[str, Any],
        *,
        outputs: list[str] | tuple[str, ...] = (),
        parents: list[str] | tuple[str, ...] = (),
    ) -> HistoryNode:
        """A node from an engine generation record (the JSON embedded in the outputs).

        Accepts the spellings the record may use (``plugin``/``plugin_id``,
        ``version``/``plugin_version``, ``model``/``model_id``); anything else in the
        record is kept in ``extra``.
        """
        aliases = {"plugin": "plugin_id", "version": "plugin_version", "model": "model_id"}
        data: dict[str, Any] = {}
        for key, value in record.items():
            data[aliases.get(key, key)] = value
        data.setdefault("id", new_node_id())
        if outputs:
            data["outputs"] = list(outputs)
        if parents:
            data["parents"] = list(parents)
        node = cls.from_dict(data)
        if node.duration is None and node.started is not None and node.finished is not None:
            node.duration = max(0.0, node.finished - node.started)
        return node


@dataclass(frozen=True)
class Deletion:
    """What ``History.delete`` removed and changed: hand it to ``History.restore`` to undo."""

    removed: tuple[tuple[int, dict[str, Any]], ...]  # (sequence number, node as stored)
    reparented: tuple[dict[str, Any], ...]  # children as they were before their parents changed

    @property
    def ids(self) -> list[str]:
        return [node["id"] for _seq, node in self.removed]


NodeRef = HistoryNode | str
Listener = Callable[[str, list[str]], None]


def _node_id(node: NodeRef) -> str:
    return node if isinstance(node, str) else node.id


class History:
    """The history graph of one project, read from and written to its store."""

    def __init__(self, store: ProjectStore) -> None:
        self.store = store
        self._listeners: list[Listener] = []

    # ---- change notification

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change, node_ids)`` after every change ("added", "updated",
        "deleted", "restored"); returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self, change: str, ids: list[str]) -> None:
        for listener in list(self._listeners):
            listener(change, ids)

    # ---- reading

    def get(self, node: NodeRef) -> HistoryNode:
        """The stored node; ``KeyError`` when this project has no node with that id."""
        data = self.store.get_node(_node_id(node))
        if data is None:
            raise KeyError(_node_id(node))
        return HistoryNode.from_dict(data)

    def __contains__(self, node: object) -> bool:
        return isinstance(node, (str, HistoryNode)) and self.store.get_node(_node_id(node)) is not None

    def __len__(self) -> int:
        return self.store.node_count()

    def __iter__(self) -> Iterator[HistoryNode]:
        return iter(self.nodes())

    def nodes(self) -> list[HistoryNode]:
        """Every node, in the order they were recorded."""
        return [HistoryNode.from_dict(data) for data in self.store.nodes()]

    def latest(self) -> HistoryNode | None:
        nodes = self.store.nodes()
        return HistoryNode.from_dict(nodes[-1]) if nodes else None

    def children(self, node: NodeRef) -> list[HistoryNode]:
        return [self.get(child) for child in self.store.child_ids(_node_id(node))]

    def parents(self, node: NodeRef) -> list[HistoryNode]:
        """The node's parents that are still in the history."""
        found = []
        for parent in self.get(node).parents:
            data = self.store.get_node(parent)
            if data is not None:
                found.append(HistoryNode.from_dict(data))
        return found

    def roots(self) -> list[HistoryNode]:
        """Nodes with no parent in this history (fresh generations and imports)."""
        all_nodes = self.nodes()
        ids = {node.id for node in all_nodes}
        return [node for node in all_nodes if not any(parent in ids for parent in node.parents)]

    def lineage(self, node: NodeRef) -> list[HistoryNode]:
        """From the root down to ``node``, following each node's first parent."""
        chain = [self.get(node)]
        seen = {chain[0].id}
        while chain[-1].parents:
            data = self.store.get_node(chain[-1].parents[0])
            if data is None or data["id"] in seen:
                break
            seen.add(data["id"])
            chain.append(HistoryNode.from_dict(data))
        return list(reversed(chain))

    def walk(self) -> Iterator[tuple[HistoryNode, int]]:
        """Depth-first, in recorded order: (node, depth). A node with two parents is
        visited once, under the first of them reached."""
        all_nodes = self.nodes()
        by_id = {node.id: node for node in all_nodes}
        children: dict[str, list[HistoryNode]] = {}
        for node in all_nodes:
            for parent in dict.fromkeys(node.parents):
                if parent in by_id:
                    children.setdefault(parent, []).append(node)
        seen: set[str] = set()
        stack = [(node, 0) for node in reversed(self.roots())]
        while stack:
            node, depth = stack.pop()
            if node.id in seen:
                continue
            seen.add(node.id)
            yield node, depth
            stack.extend((child, depth + 1) for child in reversed(children.get(node.id, [])))

    def filter(
        self,
        *,
        generator: str | None = None,
        starred: bool | None = None,
        plugin_id: str | None = None,
        kind: str | None = None,
    ) -> list[HistoryNode]:
        """Nodes matching every given criterion, in recorded order."""
        nodes = [HistoryNode.from_dict(data) for data in self.store.nodes(generator=generator, starred=starred)]
        return [node for node in nodes if (plugin_id is None or node.plugin_id == plugin_id) and (kind is None or node.kind == kind)]

    # ---- changing

    def add(self, node: HistoryNode) -> HistoryNode:
        """Record a node (committed at once). Its parents must already be in the history."""
        for parent in node.parents:
            if self.store.get_node(parent) is None:
                raise ProjectError(f"cannot add node {node.id}: its parent {parent} is not in this project's history")
        self.store.add_node(node.to_dict())
        self._changed("added", [node.id])
        return node

    def branch(self, node: NodeRef, **changes: Any) -> HistoryNode:
        """A draft of a new generation that starts from ``node``: same plugin, model and
        params (``changes`` override fields; ``params`` given are merged over the parent's),
        ``node`` as its only parent, no outputs or timings yet.

        The draft is not recorded: ``add`` it once its generation has produced outputs, so a
        failed or cancelled job leaves no empty node behind.
        """
        parent = self.get(node)
        params = dict(parent.params)
        params.update(changes.pop("params", {}) or {})
        draft = replace(
            parent,
            id=new_node_id(),
            parents=[parent.id],
            params=params,
            outputs=[],
            started=None,
            finished=None,
            duration=None,
            starred=False,
            label="",
            extra={},
        )
        return replace(draft, **changes) if changes else draft

    def update(self, node: HistoryNode) -> HistoryNode:
        self.store.update_node(node.to_dict())
        self._changed("updated", [node.id])
        return node

    def star(self, node: NodeRef, starred: bool = True) -> HistoryNode:
        return self.update(replace(self.get(node), starred=starred))

    def set_label(self, node: NodeRef, label: str) -> HistoryNode:
        return self.update(replace(self.get(node), label=label))

    def delete(self, node: NodeRef, *, subtree: bool = False) -> Deletion:
        """Remove a node; return what ``restore`` needs to undo it.

        By default the node's children stay and take its parents as theirs (the lineage
        closes over the gap); with ``subtree`` every descendant goes too. Artefacts stay in
        the project (other nodes or the canvas may use the same bytes).
        """
        target = self.get(node)
        doomed = [target.id]
        if subtree:
            index = 0
            while index < len(doomed):
                doomed.extend(c for c in self.store.child_ids(doomed[index]) if c not in doomed)
                index += 1
        removed: list[tuple[int, dict[str, Any]]] = []
        reparented: list[dict[str, Any]] = []
        with self.store.transaction():
            if not subtree:
                for child in self.children(target):
                    reparented.append(child.to_dict())
                    new_parents: list[str] = []
                    for parent in child.parents:
                        for replacement in target.parents if parent == target.id else [parent]:
                            if replacement not in new_parents:
                                new_parents.append(replacement)
                    self.store.update_node(replace(child, parents=new_parents).to_dict())
            for node_id in doomed:
                gone = self.store.delete_node(node_id)
                removed.append((gone["seq"], gone["node"]))
        self._changed("deleted", doomed)
        return Deletion(removed=tuple(removed), reparented=tuple(reparented))

    def restore(self, deletion: Deletion) -> None:
        """Undo a ``delete``: the nodes come back in their places and children get their parents back."""
        with self.store.transaction():
            for seq, data in deletion.removed:
                self.store.add_node(data, seq=seq)
            for data in deletion.reparented:
                self.store.update_node(data)
        self._changed("restored", deletion.ids)
