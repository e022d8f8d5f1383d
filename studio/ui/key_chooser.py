"""The key of a melody clip: the one the studio found, shown and changeable on the timeline.

A MIDI file without a key signature (or a signature that only says which notes, not which
tonic or mode) leaves the key to be found. The window finds it the way the melody
generator would (``studio.core.melody.find_melody_key``), shows it in the timeline's
toolbar ("D dorian (found)") and in the clip's tooltip, and lets the musician change it:
the chosen key is stored on the clip (``clip["key"]``, undoable) and goes to Continue /
Vary / Harmonize as the role's ``key`` and ``scale`` inputs, mapped through the role's
input map (``studio.core.roles``) to whatever the generator that fills the role calls
them. A generator whose role does not take a key is given none.
"""

from __future__ import annotations

import copy
import logging
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import Signal
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QToolButton, QWidget

from studio.core.melody import PITCH_CLASSES, SCALES, find_melody_key, key_signature_sharps

if TYPE_CHECKING:
    from PySide6.QtGui import QUndoStack
    from PySide6.QtWidgets import QToolBar

    from studio.ui.timeline_model import TimelineDoc


class KeyTimeline(Protocol):
    """What the key chooser uses of the timeline (named here: the timeline imports this module)."""

    doc: TimelineDoc
    toolbar: QToolBar
    undo: QUndoStack
    blobs: Any
    changed: Any  # Signal()
    clip_selected: Any  # Signal(object): the clip dict or None

    def refresh(self, select: str | None = None) -> None: ...
    def layout(self) -> Any: ...
    def selected_clip(self) -> dict[str, Any] | None: ...


log = logging.getLogger(__name__)

#: modes offered first (the ones the key finder tells apart), then the other scales
MODES = ("major", "minor", "dorian", "mixolydian") + tuple(s for s in SCALES if s not in ("major", "minor", "dorian", "mixolydian"))
SOURCE_WORDS = {"chosen": "chosen", "record": "as generated", "signature": "found, key signature", "found": "found"}


class _Blobs(Protocol):
    def get(self, blob_id: str) -> bytes: ...


@dataclass(frozen=True)
class ClipKey:
    """A clip's key: tonic, mode, and where it came from (``chosen``, ``record``: the key a
    studio generation wrote it in, ``signature``: found among the modes of the file's key
    signature, ``found``: from the notes alone)."""

    key: str
    mode: str
    source: str

    def describe(self) -> str:
        return f"{self.key} {self.mode} ({SOURCE_WORDS.get(self.source, self.source)})"


def clip_key(clip: dict[str, Any], blobs: _Blobs | None = None) -> ClipKey | None:
    """The key of a melody clip (None for a clip without a melody)."""
    from studio.ui.timeline_model import clipped_melody

    chosen = clip.get("key")
    if isinstance(chosen, dict) and chosen.get("key") in PITCH_CLASSES and chosen.get("mode") in SCALES:
        return ClipKey(chosen["key"], chosen["mode"], "chosen")
    melody = clipped_melody(clip) if clip.get("melody") else None
    if melody is None:
        return None
    sharps = None
    imported = _imported(clip, blobs)
    if imported is not None:
        output = imported.record.get("output") if isinstance(imported.record.get("output"), dict) else {}
        if output.get("key") in PITCH_CLASSES and output.get("scale") in SCALES:
            return ClipKey(output["key"], output["scale"], "record")
        if imported.has_key_signature:
            sharps = key_signature_sharps(imported.melody.key, imported.melody.mode)
    found = find_melody_key(melody, sharps=sharps)
    return ClipKey(found.key, found.mode, "signature" if sharps is not None else "found")


#: what each stored MIDI file says about its key, per blob store: blobs are stored under
#: their content hash, so a blob id always names the same bytes (tooltips ask on every refresh)
_READ: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _imported(clip: dict[str, Any], blobs: _Blobs | None) -> Any:
    """The clip's original MIDI file (its key signature, its generation record), if any."""
    if blobs is None or not clip.get("blob"):
        return None
    try:
        cache = _READ.setdefault(blobs, {})
    except TypeError:  # a store that cannot be weakly referenced: no cache
        cache = {}
    blob_id = str(clip["blob"])
    if blob_id not in cache:
        cache[blob_id] = _read(blobs, blob_id, clip.get("id"))
    return cache[blob_id]


def _read(blobs: _Blobs, blob_id: str, clip_id: Any) -> Any:
    try:
        from dataclasses import replace

        from studio.core.midi import read_midi, read_midi_metadata

        data = blobs.get(blob_id)
        return replace(read_midi(data), record=read_midi_metadata(data))
    except Exception:  # a missing blob or a file that is not MIDI: the notes alone decide
        log.debug("clip %s: its file gives no key", clip_id, exc_info=True)
        return None


def clip_tooltip(clip: dict[str, Any], blobs: _Blobs | None = None) -> str:
    """A clip's name, and for a melody its key ("tune — D dorian (found)")."""
    name = str(clip.get("name", ""))
    found = clip_key(clip, blobs) if clip.get("melody") else None
    return f"{name} — {found.describe()}" if found is not None else name


def key_inputs(generator: dict[str, Any], role: str, found: ClipKey | None) -> dict[str, Any]:
    """The clip's key as the generator's params for ``role``: the role's ``key`` and ``scale``
    inputs under the generator's own names; nothing the role does not map, and no mode the
    generator's scale parameter does not offer."""
    from studio.core.roles import role_param

    if found is None:
        return {}
    params: dict[str, Any] = {}
    for name, value in (("key", found.key), ("scale", found.mode)):
        target = role_param(generator, role, name)
        if target is None:
            continue
        spec = next((p for p in generator.get("params") or [] if p.get("name") == target), {})
        choices = spec.get("choices")
        if choices and value not in choices:
            log.info("%s offers no %s %r; left at its own setting", generator.get("id"), target, value)
            continue
        params[target] = value
    return params


class ChooseKeyCommand(QUndoCommand):
    """Set (or, with ``None``, clear) the key chosen for a clip."""

    def __init__(self, timeline: KeyTimeline, clip_id: str, after: dict[str, str] | None) -> None:
        super().__init__("Change key" if after else "Use the found key")
        self.timeline, self.clip_id, self.after = timeline, clip_id, after
        self.before = copy.deepcopy(timeline.doc.find_clip(clip_id)[1].get("key"))

    def _apply(self, value: dict[str, str] | None) -> None:
        _track, clip = self.timeline.doc.find_clip(self.clip_id)
        if value is None:
            clip.pop("key", None)
        else:
            clip["key"] = dict(value)
        self.timeline.refresh()

    def redo(self) -> None:
        self._apply(self.after)

    def undo(self) -> None:
        self._apply(self.before)


class KeyChooser(QWidget):
    """Key: [tonic] [mode] and where it came from, for the selected melody clip."""

    chosen = Signal(str, str)  # tonic, mode

    def __init__(self, timeline: KeyTimeline) -> None:
        super().__init__(timeline)
        self.timeline = timeline
        self.clip_id: str | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(QLabel("Key"))
        self.tonic = QComboBox()
        self.tonic.setObjectName("clipKeyTonic")
        self.tonic.setToolTip("Tonic of the selected clip's key: Continue, Vary and Harmonize write in this key")
        self.tonic.addItems(list(PITCH_CLASSES))
        self.mode = QComboBox()
        self.mode.setObjectName("clipKeyMode")
        self.mode.setToolTip("Mode or scale of the selected clip's key")
        self.mode.addItems(list(MODES))
        self.source = QLabel("")
        self.source.setObjectName("clipKeySource")
        self.reset = QToolButton()
        self.reset.setText("↺")
        self.reset.setToolTip("Use the key the studio found in the notes")
        for widget in (self.tonic, self.mode, self.source, self.reset):
            layout.addWidget(widget)
        self.setToolTip(
            "The selected melody clip's key: Continue, Vary and Harmonize write in it. Change it if the studio found the wrong one."
        )
        self._showing = False
        self.tonic.currentTextChanged.connect(self._changed)
        self.mode.currentTextChanged.connect(self._changed)
        self.reset.clicked.connect(self._use_found)
        timeline.clip_selected.connect(self.show_clip)
        timeline.changed.connect(lambda: self.show_clip(timeline.selected_clip()))
        self.show_clip(None)

    def current(self) -> ClipKey | None:
        clip = self._clip()
        return clip_key(clip, self.timeline.blobs) if clip is not None else None

    def text(self) -> str:
        found = self.current()
        return found.describe() if found is not None else ""

    def _clip(self) -> dict[str, Any] | None:
        if self.clip_id is None:
            return None
        try:
            return self.timeline.doc.find_clip(self.clip_id)[1]
        except KeyError:
            return None

    def show_clip(self, clip: dict[str, Any] | None) -> None:
        self.clip_id = clip["id"] if clip is not None and clip.get("melody") else None
        found = self.current()
        self._showing = True
        try:
            if found is not None:
                self.tonic.setCurrentText(found.key)
                self.mode.setCurrentText(found.mode)
                self.source.setText(f"({SOURCE_WORDS.get(found.source, found.source)})")
            else:
                self.source.setText("")
        finally:
            self._showing = False
        for widget in (self.tonic, self.mode, self.source):
            widget.setEnabled(found is not None)
        self.reset.setEnabled(found is not None and found.source == "chosen")

    def choose(self, tonic: str, mode: str) -> None:
        """Choose a key for the selected clip (what changing the two boxes does)."""
        found = self.current()
        if self.clip_id is None or found is None or (found.key, found.mode) == (tonic, mode):
            return
        self.timeline.undo.push(ChooseKeyCommand(self.timeline, self.clip_id, {"key": tonic, "mode": mode}))
        self.chosen.emit(tonic, mode)

    def _changed(self, _text: str) -> None:
        if not self._showing:
            self.choose(self.tonic.currentText(), self.mode.currentText())

    def _use_found(self) -> None:
        clip = self._clip()
        if clip is not None and clip.get("key") is not None:
            self.timeline.undo.push(ChooseKeyCommand(self.timeline, clip["id"], None))


def install_key_chooser(timeline: KeyTimeline) -> KeyChooser:
    """Put the key chooser in a strip under the timeline's toolbar (the timeline's one hook).

    Not in the toolbar itself: at common window widths the toolbar is full, and the key
    ended up behind its "»" overflow menu, where nobody sees which key was found."""
    chooser = KeyChooser(timeline)
    chooser.layout().addStretch(1)
    layout = timeline.layout()
    layout.insertWidget(layout.indexOf(timeline.toolbar) + 1, chooser)
    return chooser
