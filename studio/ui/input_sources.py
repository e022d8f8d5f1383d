"""Where a generator's inputs come from, as a table: input source → resolver.

The Generate panel describes each input (an image, a mask, a melody, audio) by its source:
a file, the canvas selection, the active layer, the whole canvas, a region, the mask, a
timeline clip. ``GenerationFlow`` looked the source up in a chain of string comparisons;
here each source is one resolver in ``INPUT_SOURCES``, so a new source is one entry. A
resolver turns the input into the bytes to upload, their mime type, and the history nodes
the input came from (the new generation's parents). It reaches the canvas, the timeline and
the project's blobs through ``InputContext``, nothing else of the window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRectF

from studio.core.errors import StudioError

if TYPE_CHECKING:
    from studio.ui.canvas import CanvasWidget
    from studio.ui.timeline import TimelineWidget

#: param type -> the artefact kind an input of that type is uploaded as
INPUT_KINDS = {"image": "image", "mask": "image", "melody": "melody", "audio": "audio"}


@dataclass(frozen=True)
class InputContext:
    """The collaborators inputs are taken from."""

    canvas: CanvasWidget
    timeline: TimelineWidget
    blobs: Any  # get(blob_id) -> bytes


@dataclass(frozen=True)
class InputRequest:
    name: str  # the param
    kind: str  # its type: image, mask, melody, audio
    label: str  # what the panel calls it
    source: dict[str, Any]  # the panel's description: {"source": "clip", "clip": id, …}


@dataclass
class Resolved:
    data: bytes
    mime: str = "image/png"
    parents: list[str] = field(default_factory=list)


Resolver = Callable[[InputContext, InputRequest], Resolved]


def _rect(values: Any) -> QRectF:
    return QRectF(*[float(v) for v in values])


def from_file(context: InputContext, request: InputRequest) -> Resolved:
    path = Path(request.source.get("path") or "")
    if not path.is_file():
        raise StudioError(f"{request.label}: choose a file first")
    from studio.core.artifacts import kind_for_path

    _kind, mime = kind_for_path(path.name)
    return Resolved(path.read_bytes(), mime)


def from_selection(context: InputContext, request: InputRequest) -> Resolved:
    data = context.canvas.selection_png()
    if data is None:
        raise StudioError(f"{request.name}: draw a selection on the canvas first (Select tool, M)")
    return Resolved(data)


def from_layer(context: InputContext, request: InputRequest) -> Resolved:
    layer = context.canvas.active_layer()
    if layer is None:
        raise StudioError(f"{request.name}: the canvas has no layer to use")
    return Resolved(context.blobs.get(layer.blob), parents=[layer.node] if layer.node else [])


def from_canvas(context: InputContext, request: InputRequest) -> Resolved:
    return Resolved(context.canvas.canvas_png())


def from_region(context: InputContext, request: InputRequest) -> Resolved:
    return Resolved(context.canvas.region_png(_rect(request.source["rect"])))


def from_mask(context: InputContext, request: InputRequest) -> Resolved:
    rect = request.source.get("rect")
    return Resolved(context.canvas.mask_png(_rect(rect) if rect else None))


def input_clip(timeline: TimelineWidget, source: dict[str, Any]) -> dict[str, Any] | None:
    """The clip an input names (pinned by an action), else the selected one."""
    clip_id = source.get("clip")
    if not clip_id:
        return timeline.selected_clip()
    try:
        return timeline.doc.find_clip(clip_id)[1]
    except KeyError:
        return None


def from_clip(context: InputContext, request: InputRequest) -> Resolved:
    """A melody input gets what the clip plays (a trimmed clip: its visible part) as MIDI;
    an audio input gets the clip's audio."""
    source, name = request.source, request.name
    clip = input_clip(context.timeline, source)
    if clip is None:
        raise StudioError(
            f"{name}: select a clip on the timeline first"
            if not source.get("clip")
            else f"{name}: the clip “{source.get('name')}” is no longer on the timeline"
        )
    data: bytes | None = None
    mime = "image/png"
    if request.kind == "melody":
        from studio.core.midi import write_midi
        from studio.ui.timeline_model import clipped_melody

        melody = clipped_melody(clip)
        data = write_midi(melody) if melody is not None else None
        mime = "audio/midi"
    elif clip.get("blob"):
        data = context.blobs.get(clip["blob"])
        mime = "audio/wav"
    if data is None:
        raise StudioError(f"{name}: the selected clip holds no {request.kind}")
    return Resolved(data, mime, [clip["node"]] if clip.get("node") else [])


#: the panel's ``source`` → how to get the input's bytes; a source not here uploads nothing
INPUT_SOURCES: dict[str, Resolver] = {
    "file": from_file,
    "selection": from_selection,
    "layer": from_layer,
    "canvas": from_canvas,
    "region": from_region,
    "mask": from_mask,
    "clip": from_clip,
}


def resolve_inputs(
    context: InputContext, generator: dict[str, Any], inputs: dict[str, dict[str, Any]], sources: dict[str, Resolver] | None = None
) -> tuple[dict[str, tuple[bytes, str, str]], list[str]]:
    """Uploads (param → data, artefact kind, mime) and the parents the inputs came from.

    Raises ``StudioError`` naming the input and what to do when one cannot be had.
    """
    table = INPUT_SOURCES if sources is None else sources
    specs = {spec["name"]: spec for spec in generator.get("params") or []}
    uploads: dict[str, tuple[bytes, str, str]] = {}
    parents: list[str] = []
    for name, source in inputs.items():
        spec = specs[name]
        resolver = table.get(str(source.get("source")))
        if resolver is None:
            continue
        kind = spec["type"]
        resolved = resolver(context, InputRequest(name, kind, spec.get("label") or name, source))
        uploads[name] = (resolved.data, INPUT_KINDS.get(kind, kind), resolved.mime)
        parents.extend(resolved.parents)
    return uploads, list(dict.fromkeys(parents))
