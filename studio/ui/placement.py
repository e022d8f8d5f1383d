"""Where a job's outputs land, decided when it is submitted from where its inputs came from.

An img2img / inpaint result goes back over the canvas region it was made from (an outpaint
result around it, growing the canvas when it has to); a continuation, variation or
interpolation of a timeline clip goes after that clip on its track. A job without such
inputs lands where the window puts new outputs (beside the canvas' images, at the end of
the first track). The plan is a small dict kept on the ``Job``:

- ``rect``: ``[x, y, w, h]`` canvas region an image result covers; ``extend``: ``[left, top,
  right, bottom]`` pixels an outpaint result reaches beyond it.
- ``after_clip``: the clip id melodies follow; ``only_new_bars``: a continuation lands
  without the prime it repeats; ``cursor``: where the next output of the job goes.
- ``title_clip``: a text job whose reply names that clip.
- ``role``: the melody role the job does (``melody.continue``…), which names its clips.

Which params mean "outpaint by so much" or "a continuation" comes from the generator's
roles (``studio.core.roles``), never from a plugin's own param names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRectF

from studio.core.melody import Melody
from studio.core.roles import active_role, role_of

if TYPE_CHECKING:
    from studio.ui.canvas import CanvasWidget
    from studio.ui.timeline import TimelineWidget

SIDES = ("left", "top", "right", "bottom")
OUTPAINT = "image.outpaint"
IMAGE_ROLES = ("image.outpaint", "image.inpaint", "image.from_image", "image.from_text")
MELODY_ROLES = ("melody.continue", "melody.vary", "melody.interpolate", "melody.harmonize", "melody.new")


def image_source_rect(source: dict[str, Any], canvas: CanvasWidget) -> QRectF | None:
    """The canvas region an image input is taken from, or None (a file)."""
    where = source.get("source")
    if where == "region" and source.get("rect"):
        return QRectF(*[float(v) for v in source["rect"]])
    if where == "selection":
        return canvas.selection_rect()
    if where == "layer":
        layer = canvas.active_layer()
        return canvas.layer_rect(layer) if layer is not None else None
    if where == "canvas":
        return QRectF(canvas.content_rect().toAlignedRect())
    return None


def outpaint_extents(generator: dict[str, Any], params: dict[str, Any]) -> list[int]:
    """[left, top, right, bottom] an outpaint adds, all 0 when the job is no outpaint.

    The job outpaints when the params express the generator's ``image.outpaint`` role, or
    no image role at all (a generator's own "decide for me" setting) with extents set.
    """
    entry = role_of(generator, OUTPAINT)
    if entry is None:
        return [0, 0, 0, 0]
    role = active_role(generator, params, IMAGE_ROLES)
    if role not in (OUTPAINT, None):
        return [0, 0, 0, 0]
    names = [entry["inputs"].get(f"extend_{side}") for side in SIDES]
    extents = [max(0, int(params.get(name) or 0)) if name else 0 for name in names]
    return extents if any(extents) else [0, 0, 0, 0]


def plan(
    generator: dict[str, Any], params: dict[str, Any], inputs: dict[str, dict[str, Any]], *, canvas: CanvasWidget, timeline: TimelineWidget
) -> dict[str, Any]:
    specs = {spec["name"]: spec for spec in generator.get("params") or []}
    kind = generator.get("kind")
    placement: dict[str, Any] = {}
    if kind == "image":
        for name, source in inputs.items():
            if specs.get(name, {}).get("type") != "image":
                continue
            rect = image_source_rect(source, canvas)
            if rect is not None and rect.width() >= 1 and rect.height() >= 1:
                placement["rect"] = [rect.x(), rect.y(), rect.width(), rect.height()]
                extents = outpaint_extents(generator, params)
                if any(extents):
                    placement["extend"] = extents
                break
    elif kind == "music":
        clips = []
        for name, source in inputs.items():
            if specs.get(name, {}).get("type") != "melody" or source.get("source") != "clip":
                continue
            clip_id = source.get("clip") or timeline.selected
            if clip_id and timeline._exists(clip_id):
                clips.append(timeline.doc.find_clip(clip_id)[1])
        if clips:
            last = max(clips, key=lambda clip: float(clip["start"]) + float(clip["length"]))
            placement["after_clip"] = last["id"]
            role = active_role(generator, params, MELODY_ROLES)
            if role is not None:
                placement["role"] = role
            if role == "melody.continue":
                placement["only_new_bars"] = True
    return placement


# --------------------------------------------------------------------------- landing


def land_image(canvas: CanvasWidget, placement: dict[str, Any], data: bytes, *, name: str, blob: str, node: str, **decoded: Any) -> Any:
    """An image result over its source region (outpaint: around it, growing the canvas).

    ``decoded``: ``image`` / ``icon`` already decoded off the UI thread, passed to ``add_image``.
    """
    x, y, w, h = (float(v) for v in placement["rect"])
    left, top, right, bottom = (int(v) for v in placement.get("extend") or (0, 0, 0, 0))
    if not (left or top or right or bottom):
        return canvas.add_image(data, name=name, blob=blob, node=node, fit=QRectF(x, y, w, h), **decoded)
    # The result covers the region and what was added around it.
    target = QRectF(x - left, y - top, w + left + right, h + top + bottom)
    width, height = canvas.doc_size
    grow = (
        max(0, int(round(-target.left()))),
        max(0, int(round(-target.top()))),
        max(0, int(round(target.right() - width))),
        max(0, int(round(target.bottom() - height))),
    )
    canvas.undo.beginMacro("Outpaint")
    try:
        canvas.extend_canvas(*grow)
        target.translate(grow[0], grow[1])
        layer = canvas.add_image(data, name=name, blob=blob, node=node, fit=target, **decoded)
        canvas.select_region(target)  # the next outpaint extends the new picture
    finally:
        canvas.undo.endMacro()
    return layer


def new_bars_only(melody: Melody, meta: dict[str, Any]) -> Melody:
    """A continuation without the prime it starts with (the clip it continues already has it)."""
    output = meta.get("output") if isinstance(meta.get("output"), dict) else meta
    prime_bars = int((output or {}).get("prime_bars") or 0)
    if prime_bars <= 0:
        return melody
    # where the new bars start, in beats (a prime with metre changes has bars of several lengths)
    offset = float((output or {}).get("new_bars_start") or prime_bars * melody.bar_length)
    notes = [note for note in melody.notes if note.start >= offset - 1e-9]
    from dataclasses import replace

    moved = [replace(note, start=note.start - offset) for note in notes]
    return melody.copy(notes=moved, length=max(0.0, melody.length - offset))


def land_melody(timeline: TimelineWidget, placement: dict[str, Any], melody: Melody, *, name: str, node: str, blob: str) -> str | None:
    """A melody after the clip it was made from (or after the job's previous output)."""
    clip_id = placement.get("after_clip")
    if not clip_id or not timeline._exists(clip_id):
        return None
    track, clip = timeline.doc.find_clip(clip_id)
    start = float(placement.get("cursor", float(clip["start"]) + float(clip["length"])))
    length = melody.padded_to_bars().length if melody.notes else melody.length
    start = timeline.free_start(track, start, max(length, 0.25))
    new_id = timeline.add_melody(melody, name=name, node=node, blob=blob, start=start, track_id=track["id"])
    _track, added = timeline.doc.find_clip(new_id)
    placement["cursor"] = float(added["start"]) + float(added["length"])
    return new_id


def land_parts(timeline: TimelineWidget, parts: list[tuple[str, Melody]], *, name: str, node: str, blob: str) -> list[str]:
    """A multi-voice output (Harmonize) as one clip per voice, each on its own melody track
    (tracks added as needed), all starting together after what those tracks hold."""
    from studio.ui.timeline import AddTrackCommand

    timeline.undo.beginMacro(f"Add {name}")
    try:
        tracks = [track for track in timeline.doc.tracks if track["kind"] == "melody"]
        while len(tracks) < len(parts):
            timeline.undo.push(AddTrackCommand(timeline, "melody"))
            tracks = [track for track in timeline.doc.tracks if track["kind"] == "melody"]
        tracks = tracks[: len(parts)]
        start = max(timeline._end_of(track) for track in tracks)
        return [
            timeline.add_melody(melody, name=f"{name} {voice}", node=node, blob=blob, start=start, track_id=track["id"])
            for (voice, melody), track in zip(parts, tracks)
        ]
    finally:
        timeline.undo.endMacro()
