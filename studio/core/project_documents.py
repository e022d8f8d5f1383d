"""What each document in a project file must look like, checked before anything is shown.

A project holds five parts: the canvas, the timeline, the history (one row per generation),
the text and the artefacts (content-addressed blobs). A damaged part (bad UTF-8, bad JSON,
``{"layers": "x"}`` where a list belongs, a blob whose bytes no longer match their hash, a
missing table) must never be shown as an empty document: the window would then save that
empty document over the good one on disk. So every part is validated against its schema on
open and reported here with the reason; the window opens the damaged part read-only and
never writes it back.

The schemas are deliberately *open*: unknown keys (written by a newer studio) are allowed and
kept, but every key the studio itself reads has the type it expects. Qt-free and torch-free.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator, model_validator

CANVAS = "canvas"
TIMELINE = "timeline"
HISTORY = "history"
TEXT = "text"
ARTEFACTS = "artefacts"
DOCUMENT_PARTS = (CANVAS, TIMELINE, TEXT)  # what the window edits in memory and writes on Save
ALL_PARTS = (CANVAS, TIMELINE, HISTORY, TEXT, ARTEFACTS)


def _metre(value: tuple[int, int]) -> tuple[int, int]:
    numerator, denominator = value
    if numerator < 1 or denominator not in (1, 2, 4, 8, 16, 32):
        raise ValueError(f"{numerator}/{denominator} is not a time signature")
    return value


Side = Annotated[int, Field(ge=1, le=65536)]  # canvas pixels: the mask is allocated at this size
Metre = Annotated[tuple[int, int], AfterValidator(_metre)]


class _Open(BaseModel):
    """Known keys typed; unknown keys (a newer studio's) allowed and left alone."""

    model_config = ConfigDict(extra="allow", strict=True)


# --------------------------------------------------------------------------- canvas


class TakesDocument(_Open):
    """A slot's take group (``studio.core.takes``): the original and Vary's alternatives."""

    current: int = Field(default=0, ge=0)
    takes: list[dict[str, Any]] = Field(min_length=1)

    @model_validator(mode="after")
    def _current_exists(self) -> TakesDocument:
        if self.current >= len(self.takes):
            raise ValueError(f"current take {self.current} is not one of the {len(self.takes)} takes")
        return self


class CanvasLayer(_Open):
    id: StrictStr = Field(min_length=1)
    name: StrictStr = ""
    blob: StrictStr = Field(min_length=1)
    node: StrictStr | None = None
    x: float = 0.0
    y: float = 0.0
    scale: float = 1.0
    opacity: float = 1.0
    visible: bool = True
    z: float = 0.0
    takes: TakesDocument | None = None  # added with Vary takes; older projects have none


class CanvasDocument(_Open):
    version: int = 1
    size: tuple[Side, Side] | None = None
    layers: list[CanvasLayer] = []
    selection: tuple[float, float, float, float] | None = None
    mask: StrictStr | None = None  # a PNG, base64

    @field_validator("mask")
    @classmethod
    def _mask_is_base64(cls, value: str | None) -> str | None:
        if value:
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("is not base64 data") from None
        return value


# --------------------------------------------------------------------------- timeline


class MelodyDocument(_Open):
    notes: list[tuple[int, float, float] | tuple[int, float, float, int]] = []
    tempo: float = 120.0
    time_signature: Metre = (4, 4)
    key: StrictStr = "C"
    mode: StrictStr = "major"
    length: float = 0.0


class TimelineClip(_Open):
    id: StrictStr = Field(min_length=1)
    name: StrictStr = ""
    start: float
    length: float
    melody: MelodyDocument | None = None
    blob: StrictStr | None = None
    node: StrictStr | None = None
    takes: TakesDocument | None = None  # added with Vary takes; older projects have none


class TimelineTrack(_Open):
    id: StrictStr = Field(min_length=1)
    name: StrictStr = ""
    kind: StrictStr
    clips: list[TimelineClip] = []


class TimelineDocument(_Open):
    version: int = 1
    tempo: float = 120.0
    time_signature: Metre = (4, 4)
    tracks: list[TimelineTrack] = []


# --------------------------------------------------------------------------- history


class HistoryRecord(_Open):
    """One stored history node: the keys ``studio.core.history.HistoryNode`` relies on."""

    id: StrictStr = Field(min_length=1)
    parents: list[StrictStr] = []
    outputs: list[StrictStr] = []
    generator: StrictStr = ""
    params: dict[str, Any] = {}
    seed: int | None = None
    starred: bool = False


class DocumentError(ValueError):
    """A stored document does not match its schema; the message says where and why."""


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("tuple[int, float, float]",)) or "the document"
    message = (
        str(first.get("msg", "invalid"))
        .replace("Value error, ", "")
        .replace("Input should be", "should be")
        .replace("a valid array", "a list")
        .replace("a valid dictionary", "an object")
    )
    more = error.error_count() - 1
    return f"{where}: {message}" + (f" (and {more} more problem{'s' if more != 1 else ''})" if more > 0 else "")


def decode_text(raw: bytes | str, what: str) -> str:
    """Stored text as ``str``; bad UTF-8 is a ``DocumentError`` naming where it is."""
    if isinstance(raw, str):
        return raw
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{what} is not valid UTF-8 text (byte {exc.start})") from None


def decode_json(raw: bytes | str, what: str) -> Any:
    """Parse stored JSON; a ``DocumentError`` for bad UTF-8 or bad JSON (never a raw decoder error)."""
    text = decode_text(raw, what)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise DocumentError(f"{what} is not valid JSON{where}") from None


_MODELS: dict[str, type[_Open]] = {CANVAS: CanvasDocument, TIMELINE: TimelineDocument, HISTORY: HistoryRecord}


def validate_document(part: str, value: Any) -> Any:
    """``value`` unchanged when it matches the part's schema; else ``DocumentError``.

    ``None`` is a valid canvas or timeline: a project that never saved one.
    """
    if part not in _MODELS:
        raise ValueError(f"no schema for {part!r}")
    if value is None and part in (CANVAS, TIMELINE):
        return None
    if not isinstance(value, dict):
        raise DocumentError(f"should be a JSON object, not {type(value).__name__}")
    try:
        # JSON mode: arrays are tuples where a pair belongs, ints are floats; strict otherwise.
        _MODELS[part].model_validate_json(json.dumps(value, allow_nan=True), strict=True)
    except ValidationError as exc:
        raise DocumentError(_describe(exc)) from None
    return value


def validate_text(value: Any) -> str:
    if not isinstance(value, str):
        raise DocumentError(f"should be a string, not {type(value).__name__}")
    return value


def canvas_blob_refs(doc: Any) -> dict[str, str]:
    """Layer name (or id) → the blob it shows, for a validated canvas document."""
    if not isinstance(doc, dict):
        return {}
    return {str(layer.get("name") or layer["id"]): layer["blob"] for layer in doc.get("layers") or []}


def timeline_blob_refs(doc: Any) -> dict[str, str]:
    """Clip name (or id) → the blob it plays, for a validated timeline document."""
    if not isinstance(doc, dict):
        return {}
    refs: dict[str, str] = {}
    for track in doc.get("tracks") or []:
        for clip in track.get("clips") or []:
            if clip.get("blob"):
                refs[str(clip.get("name") or clip["id"])] = clip["blob"]
    return refs


def without_blobs(part: str, doc: Any, bad: set[str]) -> Any:
    """A copy of a canvas or timeline document without what shows one of the ``bad`` blobs.

    Used to *show* a document whose artefacts are damaged; the stored document keeps them.
    """
    if not isinstance(doc, dict) or not bad:
        return doc
    copy = json.loads(json.dumps(doc))
    if part == CANVAS:
        copy["layers"] = [layer for layer in copy.get("layers") or [] if layer.get("blob") not in bad]
    elif part == TIMELINE:
        for track in copy.get("tracks") or []:
            track["clips"] = [clip for clip in track.get("clips") or [] if clip.get("blob") not in bad]
    return copy


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class PartProblem:
    part: str
    reason: str


@dataclass
class ProjectHealth:
    """What was found in each part of a project on open: loaded values and problems."""

    file_name: str
    problems: dict[str, PartProblem] = field(default_factory=dict)
    canvas: Any = None
    timeline: Any = None
    text: str = ""
    damaged_blobs: set[str] = field(default_factory=set)
    bad_node_rows: int = 0

    @property
    def damaged(self) -> list[str]:
        return [part for part in ALL_PARTS if part in self.problems]

    @property
    def intact(self) -> list[str]:
        return [part for part in ALL_PARTS if part not in self.problems]

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, part: str, reason: str) -> None:
        if part in self.problems:
            reason = f"{self.problems[part].reason}; {reason}"
        self.problems[part] = PartProblem(part, reason)

    def summary(self) -> str:
        """ "the canvas in x.studio is damaged; the timeline, history and text are intact"."""
        if self.ok:
            return f"{self.file_name} is intact"
        damaged = _join([f"the {part}" for part in self.damaged])
        verb = "is" if len(self.damaged) == 1 else "are"
        text = f"{damaged} in {self.file_name} {verb} damaged"
        if self.intact:
            intact = _join(self.intact, article=True)
            text += f"; {intact} {'is' if len(self.intact) == 1 else 'are'} intact"
        return text

    def details(self) -> str:
        return "\n".join(f"{problem.part}: {problem.reason}" for problem in self.problems.values())

    def message(self) -> str:
        """The whole message for the user: what is damaged, why, and what Save will do."""
        return (
            f"{self.summary()[0].upper()}{self.summary()[1:]}.\n\n{self.details()}\n\n"
            "The damaged part is shown as far as it could be read and is read-only: Studio never "
            "writes it back over the file. Save asks whether to save to a new file or only the intact parts."
        )


def _join(items: list[str], *, article: bool = False) -> str:
    words = list(items)
    if article and words:
        words[0] = f"the {words[0]}"
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]
