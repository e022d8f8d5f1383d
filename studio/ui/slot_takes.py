"""Vary lands as takes in the slot it varies: a canvas layer or a timeline clip.

``SlotTakes`` joins a take group (``studio.core.takes``, Qt-free) to a ``TakesBar`` and the
undo stack: landing a Vary result, stepping ◀ ▶ and promoting are each an undoable edit of
the slot (its shown fields and its ``takes`` entry), so the document always says which take
is shown and saving keeps the whole group. The two hosts below are the only places that know
how a layer or a clip is changed; the widgets they wrap need no take code of their own.

Every take is a generation of its own, so the History panel records each one; promoting only
chooses what the slot shows.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject
from PySide6.QtGui import QImage, QPixmap, QUndoCommand, QUndoStack

from studio.core.melody import Melody
from studio.core.takes import CLIP_FIELDS, LAYER_FIELDS, TakeGroup, group_of, slot_shows
from studio.ui.takes_bar import TakesBar

if TYPE_CHECKING:
    from studio.ui.canvas import CanvasWidget
    from studio.ui.timeline import TimelineWidget

Snapshot = tuple[dict[str, Any], dict[str, Any] | None]  # (shown fields, takes entry)


class SlotHost(Protocol):
    """How one kind of slot is read and changed (a canvas layer, a timeline clip)."""

    keys: tuple[str, ...]
    what: str

    def slot(self, slot_id: str) -> dict[str, Any] | None: ...
    def apply(self, slot_id: str, fields: dict[str, Any], takes: dict[str, Any] | None) -> None: ...
    def selected(self) -> str | None: ...
    def slot_ids(self) -> list[str]: ...


class TakeCommand(QUndoCommand):
    """One change of a slot's take: landed, stepped or promoted. Steps in a row merge."""

    STEP_ID = 0x7A4E

    def __init__(self, host: SlotHost, slot_id: str, before: Snapshot, after: Snapshot, text: str, *, step: bool = False) -> None:
        super().__init__(text)
        self.host, self.slot_id, self.before, self.after, self.step = host, slot_id, before, after, step

    def id(self) -> int:
        return self.STEP_ID if self.step else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, TakeCommand) and other.step and other.slot_id == self.slot_id):
            return False
        self.after = other.after
        self.setText(other.text())
        return True

    def redo(self) -> None:
        self.host.apply(self.slot_id, *copy.deepcopy(self.after))

    def undo(self) -> None:
        self.host.apply(self.slot_id, *copy.deepcopy(self.before))


class SlotTakes(QObject):
    """The takes of one widget's slots: land, step, promote, and the bar that shows them."""

    def __init__(self, host: SlotHost, undo: QUndoStack, bar: TakesBar) -> None:
        super().__init__(bar)
        self.host, self.undo, self.bar = host, undo, bar
        bar.stepped.connect(self.step)
        bar.promote_requested.connect(self.promote)

    def _snapshot(self, slot_id: str) -> Snapshot | None:
        slot = self.host.slot(slot_id)
        if slot is None:
            return None
        return {key: copy.deepcopy(slot.get(key)) for key in self.host.keys}, copy.deepcopy(slot.get("takes") or None)

    def group(self, slot_id: str | None = None) -> TakeGroup | None:
        slot_id = slot_id or self.host.selected()
        slot = self.host.slot(slot_id) if slot_id else None
        return group_of(slot) if slot is not None else None

    def slot_for_node(self, node_id: str) -> str | None:
        """The slot that shows ``node_id`` (or has it among its takes): where its Vary lands."""
        for slot_id in self.host.slot_ids():
            slot = self.host.slot(slot_id)
            if slot is not None and slot_shows(slot, node_id):
                return slot_id
        return None

    def land(self, slot_id: str, fields: dict[str, Any]) -> str | None:
        """``fields`` as a new take of ``slot_id``, shown at once; None when the slot is gone."""
        before = self._snapshot(slot_id)
        slot = self.host.slot(slot_id)
        if before is None or slot is None:
            return None
        group = group_of(slot) or TakeGroup.start(slot, self.host.keys)
        take = group.add({key: fields.get(key) for key in self.host.keys})
        after = (copy.deepcopy(take.fields), group.to_dict())
        self.undo.push(TakeCommand(self.host, slot_id, before, after, f"Take {group.position()} of {self.host.what}"))
        self.refresh()
        return slot_id

    def step(self, delta: int) -> None:
        self._change(lambda group: group.step(delta), "Show take", step=True)

    def choose(self, index: int) -> None:
        self._change(lambda group: group.choose(index), "Show take", step=True)

    def promote(self) -> None:
        """The shown take becomes the slot; the group is gone (the other takes stay in History)."""
        slot_id = self.host.selected()
        group = self.group(slot_id)
        before = self._snapshot(slot_id) if slot_id else None
        if slot_id is None or group is None or before is None:
            return
        promoted = group.promote()
        after = (copy.deepcopy(promoted.chosen.fields), None)
        self.undo.push(TakeCommand(self.host, slot_id, before, after, f"Promote take {group.position()} of {self.host.what}"))
        self.refresh()

    def _change(self, move: Any, text: str, *, step: bool) -> None:
        slot_id = self.host.selected()
        group = self.group(slot_id)
        before = self._snapshot(slot_id) if slot_id else None
        if slot_id is None or group is None or before is None or len(group.takes) < 2:
            return
        take = move(group)
        after = (copy.deepcopy(take.fields), group.to_dict())
        self.undo.push(TakeCommand(self.host, slot_id, before, after, f"{text} {group.position()}", step=step))
        self.refresh()

    def refresh(self) -> None:
        slot_id = self.host.selected()
        slot = self.host.slot(slot_id) if slot_id else None
        self.bar.show_group(group_of(slot) if slot else None, can_vary=bool(slot and slot.get("node")))

    def selected_node(self) -> str | None:
        slot_id = self.host.selected()
        slot = self.host.slot(slot_id) if slot_id else None
        return str(slot["node"]) if slot and slot.get("node") else None


# --------------------------------------------------------------------------- the canvas


class CanvasSlots:
    """Canvas layers as slots: a take changes the layer's picture, blob, node and name."""

    keys = LAYER_FIELDS
    what = "layer"

    def __init__(self, canvas: CanvasWidget) -> None:
        self.canvas = canvas
        self.pictures: dict[str, QImage] = {}  # blob -> decoded picture, so stepping back is instant

    def slot(self, slot_id: str) -> dict[str, Any] | None:
        layer = self.canvas.layers.get(slot_id)
        return layer.state() if layer is not None else None

    def slot_ids(self) -> list[str]:
        return list(self.canvas.layers)

    def selected(self) -> str | None:
        layer = self.canvas.active_layer()
        return layer.layer_id if layer is not None else None

    def picture(self, blob: str) -> QImage | None:
        if blob not in self.pictures:
            try:
                image = QImage.fromData(self.canvas.blobs.get(blob))
            except KeyError:
                return None
            if image.isNull():
                return None
            self.pictures[blob] = image
        return self.pictures[blob]

    def apply(self, slot_id: str, fields: dict[str, Any], takes: dict[str, Any] | None) -> None:
        layer = self.canvas.layers.get(slot_id)
        if layer is None:
            return
        image = self.picture(str(fields.get("blob") or ""))
        if image is not None:
            layer.blob, layer.image = str(fields["blob"]), image
            layer.setPixmap(QPixmap.fromImage(image))
            layer.icon = None
        layer.node = fields.get("node")
        layer.name = str(fields.get("name") or layer.name)
        layer.takes = takes
        shown = self.canvas.document.layers.get(slot_id)  # the document is what is saved
        if shown is not None:
            size = (image.width(), image.height()) if image is not None else (shown.width, shown.height)
            self.canvas.document.layers[slot_id] = replace(
                shown, blob=layer.blob, node=layer.node, name=layer.name, takes=takes, width=size[0], height=size[1]
            )
        self.canvas._refresh_list(select=slot_id)
        self.canvas.changed.emit()


def for_canvas(canvas: CanvasWidget) -> SlotTakes:
    """The canvas's takes, with their bar under its toolbar."""
    host = CanvasSlots(canvas)
    bar = TakesBar("layer", canvas, vary=True)
    canvas.layout().insertWidget(1, bar)  # a strip under the toolbar: the toolbar is full at common widths
    takes = SlotTakes(host, canvas.undo, bar)
    canvas.active_layer_changed.connect(lambda _layer: takes.refresh())
    canvas.changed.connect(takes.refresh)
    takes.refresh()
    return takes


def land_image(takes: SlotTakes, where: dict[str, Any], *, name: str, blob: str, node: str, image: QImage | None = None) -> Any:
    """A Vary (``where["vary_of"]``: the node varied) as a take of the layer showing that node.

    None when the job is no Vary or no layer shows the node: it then lands as a new layer.
    """
    slot_id = takes.slot_for_node(str(where["vary_of"])) if where.get("vary_of") else None
    if slot_id is None:
        return None
    host = takes.host
    if image is not None and isinstance(host, CanvasSlots) and not image.isNull():
        host.pictures[blob] = image
    if takes.land(slot_id, {"blob": blob, "node": node, "name": name}) is None:
        return None
    return host.canvas.layers.get(slot_id) if isinstance(host, CanvasSlots) else slot_id


def wire_vary(takes: SlotTakes, history: Any, vary: Any, status: Any) -> None:
    """The bar's Vary button: ``vary`` (the window's Vary of a node) on ``history()``'s node of the slot."""

    def say(text: str) -> None:
        status.showMessage(text, 6000)

    takes.bar.vary_requested.connect(lambda: vary_selected(takes, history(), vary, say))


def vary_selected(takes: SlotTakes, history: Any, vary: Any, say: Any) -> Any:
    """The bar's Vary: ``vary`` (the window's Vary of a history node) on the selected slot's generation."""
    node_id = takes.selected_node()
    if node_id is None or history is None:
        say("Select a generated picture to vary")
        return None
    try:
        node = history.get(node_id)
    except KeyError:
        say("This layer's generation is not in the project's history, so it cannot be varied")
        return None
    return vary(node)


def place_preview(takes: SlotTakes, where: dict[str, Any], canvas: CanvasWidget) -> None:
    """A Vary's live preview over the layer it will be a take of (not at a free grid spot)."""
    item = getattr(canvas, "_preview_item", None)
    slot_id = takes.slot_for_node(str(where["vary_of"])) if item is not None and where.get("vary_of") else None
    layer = canvas.layers.get(slot_id) if slot_id else None
    if item is not None and layer is not None:
        item.setPos(layer.pos())
        item.setScale(layer.scale())


# --------------------------------------------------------------------------- the timeline


class ClipSlots:
    """Timeline clips as slots: a take changes the clip's melody, length, blob, node and name."""

    keys = CLIP_FIELDS
    what = "clip"

    def __init__(self, timeline: TimelineWidget) -> None:
        self.timeline = timeline

    def slot(self, slot_id: str) -> dict[str, Any] | None:
        try:
            return self.timeline.doc.find_clip(slot_id)[1]
        except KeyError:
            return None

    def slot_ids(self) -> list[str]:
        return [clip["id"] for _track, clip in self.timeline.doc.clips()]

    def selected(self) -> str | None:
        return self.timeline.selected

    def apply(self, slot_id: str, fields: dict[str, Any], takes: dict[str, Any] | None) -> None:
        clip = self.slot(slot_id)
        if clip is None:
            return
        for key, value in fields.items():
            if value is not None or key in ("blob", "node"):
                clip[key] = copy.deepcopy(value)
        if takes:
            clip["takes"] = takes
        else:
            clip.pop("takes", None)
        self.timeline.refresh(select=slot_id)


def for_timeline(timeline: TimelineWidget) -> SlotTakes:
    """The timeline's takes, with their bar under its toolbar."""
    bar = TakesBar("clip", timeline)
    timeline.layout().insertWidget(1, bar)  # a strip under the toolbar: the toolbar is full at common widths
    takes = SlotTakes(ClipSlots(timeline), timeline.undo, bar)
    timeline.clip_selected.connect(lambda _clip: takes.refresh())
    timeline.changed.connect(takes.refresh)
    takes.refresh()
    return takes


def melody_slot(takes: SlotTakes, where: dict[str, Any]) -> str | None:
    """The clip a melody result is a take of: a Vary of a clip (or of a history node a clip shows)."""
    if where.get("vary_of"):
        return takes.slot_for_node(str(where["vary_of"]))
    if where.get("role") == "melody.vary" and where.get("after_clip"):
        return str(where["after_clip"]) if takes.host.slot(str(where["after_clip"])) is not None else None
    return None


def land_melody(takes: SlotTakes, where: dict[str, Any], melody: Melody, *, name: str, blob: str, node: str) -> str | None:
    """A melody Vary as a take of the clip it varies; None when it is no Vary of a clip."""
    slot_id = melody_slot(takes, where)
    if slot_id is None:
        return None
    length = float(max(melody.padded_to_bars().length if melody.notes else melody.length, 0.25))
    fields = {"blob": blob, "node": node, "name": name, "melody": melody.to_dict(), "length": length}
    host = takes.host
    if isinstance(host, ClipSlots):
        track, clip = host.timeline.doc.find_clip(slot_id)
        start = float(clip["start"])
        if host.timeline.free_start(track, start, length, ignore=slot_id) > start + 1e-9:
            # Never silently: the take is longer than the room before the next clip.
            host.timeline.message.emit(f"{name}: this take is longer than the gap after it and overlaps the next clip on {track['name']}")
    return takes.land(slot_id, fields)
