"""The timeline: tracks of melody and audio clips on a bar/beat grid, and a piano roll.

Clips move (snapped to the beat grid, between tracks of their kind), trim from the right
edge, duplicate and delete; notes in the piano roll are added (double-click), moved,
resized and deleted. Every edit is a QUndoCommand on the window's undo stack that changes
the ``TimelineDoc``; the views redraw from the document.

Shift+click adds a clip to the selection (two melody clips: interpolate between them). The
melody actions (continue, vary, interpolate, title) are QActions in the toolbar and the
clip's context menu; the window decides what they do.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QMimeData, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDrag, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QMenu,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from studio.core.melody import Melody
from studio.ui.audio_playback import Player
from studio.ui.key_chooser import install_key_chooser
from studio.ui.piano_roll import PITCH_HIGH, PITCH_LOW, ROLL_PX, ROW_H, NoteItem, PianoRoll  # noqa: F401 (re-exported)
from studio.ui.timeline_commands import (  # the edits; re-exported for callers that import them from here
    AddClipCommand,
    AddTrackCommand,
    PlaceClipCommand,  # noqa: F401 (re-exported)
    RemoveClipCommand,
    RenameClipCommand,
    TimelineSettingsCommand,
)
from studio.ui.timeline_model import SAMPLE_RATE, TimelineDoc, mix_timeline, new_id, timeline_midi

if TYPE_CHECKING:  # numpy is imported where it is used: ~150 ms of the window's start (issue 13, first paint).
    import numpy as np

# The arrangement view and its clip items live in ``timeline_view``; re-exported for callers that import them from here.
from studio.ui.timeline_view import (  # noqa: F401 (re-exported)
    AUDIO_SUFFIXES,
    COLOURS,
    EDGE,
    MIDI_SUFFIXES,
    MIN_CLIP,
    PX_PER_BEAT,
    RULER_H,
    TRACK_H,
    ClipItem,
    TimelineView,
)


class Blobs(Protocol):
    def get(self, blob_id: str) -> bytes: ...
    def put(self, data: bytes, kind: str, mime: str, meta: dict[str, Any] | None = None) -> str: ...


# --------------------------------------------------------------------------- the widget
class TimelineWidget(QWidget):
    changed = Signal()
    clip_selected = Signal(object)  # clip dict | None
    message = Signal(str)
    other_files_dropped = Signal(list)  # paths that are neither MIDI nor audio

    def __init__(self, undo: QUndoStack, blobs: Blobs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.undo, self.blobs = undo, blobs
        self.doc = TimelineDoc()
        self.selected: str | None = None
        self.also_selected: list[str] = []  # Shift+clicked clips besides ``selected``, oldest first
        self._peaks: dict[str, np.ndarray] = {}
        self._audio_cache: dict[str, tuple[np.ndarray, int]] = {}
        self.player = Player(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.toolbar = QToolBar("Timeline")
        layout.addWidget(self.toolbar)
        splitter = QSplitter(Qt.Orientation.Vertical)
        self.view = TimelineView(self)
        self.roll = PianoRoll(self)
        splitter.addWidget(self.view)
        splitter.addWidget(self.roll)
        splitter.setSizes([200, 160])
        layout.addWidget(splitter, 1)
        self._build_toolbar()
        self.key_chooser = install_key_chooser(self)  # the selected clip's key, found or chosen
        self.player.position_changed.connect(self._playhead_at)
        self.player.stopped.connect(lambda: (self.view.playhead.setVisible(False), self.play_action.setText("▶ Play")))
        self.refresh()

    def _build_toolbar(self) -> None:
        bar = self.toolbar
        self.play_action = QAction("▶ Play", self)
        self.play_action.setToolTip("Play / stop the timeline")
        self.play_action.triggered.connect(self.toggle_play)
        bar.addAction(self.play_action)
        available, reason = self.player.availability()
        if not available:
            self.play_action.setEnabled(False)
            self.play_action.setToolTip(reason)
        self.playback_note = QLabel("" if available else "  no audio output  ")
        self.playback_note.setObjectName("muted")
        self.playback_note.setToolTip(reason)
        bar.addWidget(self.playback_note)
        bar.addSeparator()
        bar.addWidget(QLabel(" Tempo "))
        self.tempo = QDoubleSpinBox()
        self.tempo.setRange(20, 400)
        self.tempo.setDecimals(0)
        self.tempo.setSuffix(" bpm")
        self.tempo.valueChanged.connect(lambda value: self._set_setting("tempo", float(value)))
        bar.addWidget(self.tempo)
        self.metre = QComboBox()
        for text in ("4/4", "3/4", "2/4", "6/8", "5/4", "7/8"):
            self.metre.addItem(text)
        self.metre.currentTextChanged.connect(lambda text: self._set_setting("time_signature", [int(p) for p in text.split("/")]))
        bar.addWidget(self.metre)
        bar.addSeparator()
        for text, slot, key in (
            ("+ Melody track", lambda: self.undo.push(AddTrackCommand(self, "melody")), None),
            ("+ Audio track", lambda: self.undo.push(AddTrackCommand(self, "audio")), None),
            ("Duplicate", self.duplicate_selected, QKeySequence("Ctrl+D")),
            ("Delete", self.delete_selected, QKeySequence.StandardKey.Delete),
        ):
            action = QAction(text, self)
            action.triggered.connect(slot)
            if key is not None:
                action.setShortcut(key)
                action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            bar.addAction(action)
        bar.addSeparator()
        self.export_midi_action = QAction("Export MIDI…", self)
        self.export_audio_action = QAction("Export WAV/FLAC…", self)
        bar.addAction(self.export_midi_action)
        bar.addAction(self.export_audio_action)
        bar.addSeparator()
        # One click gives a result: these run the Melody generator with the Generate panel's
        # settings (which then show what was used), so they carry no "…".
        self.continue_action = QAction("Continue melody", self)
        self.continue_action.setIconText("Continue")
        self.continue_action.setObjectName("melodyContinue")
        self.continue_action.setToolTip("Write more bars after the selected melody clip (Melody settings from the Generate panel)")
        self.vary_action = QAction("Vary melody", self)
        self.vary_action.setIconText("Vary")
        self.vary_action.setObjectName("melodyVary")
        self.vary_action.setToolTip("A variation of the selected melody clip, placed after it")
        self.interpolate_action = QAction("Interpolate between the two clips", self)
        self.interpolate_action.setIconText("Interpolate")
        self.interpolate_action.setObjectName("melodyInterpolate")
        self.interpolate_action.setToolTip("Steps from one melody clip to another (Shift+click to select two)")
        self.harmonize_action = QAction("Harmonize melody", self)
        self.harmonize_action.setIconText("Harmonize")
        self.harmonize_action.setObjectName("melodyHarmonize")
        self.harmonize_action.setToolTip("Harmony under the selected melody clip (chorale voices or chords), one track per voice")
        self.title_action = QAction("Title this tune", self)
        self.title_action.setObjectName("melodyTitle")
        self.title_action.setToolTip("Ask the language model for a title for the selected melody clip")
        for action in (self.continue_action, self.vary_action, self.interpolate_action, self.harmonize_action):
            bar.addAction(action)
        self._update_actions()

    # ------------------------------------------------------------------ document

    def to_document(self) -> dict[str, Any]:
        return self.doc.to_dict()

    def load_document(self, data: dict[str, Any] | None) -> None:
        self.doc = TimelineDoc(data)
        self.selected = None
        self.also_selected = []
        self.refresh()

    def _set_setting(self, key: str, value: Any) -> None:
        if self.doc.data.get(key) != value:
            self.undo.push(TimelineSettingsCommand(self, key, copy.deepcopy(self.doc.data.get(key)), value))

    def refresh(self, select: str | None = None) -> None:
        if select is not None:
            if select != self.selected and select not in self.also_selected:
                self.also_selected = []
            self.selected = select
        if self.selected is not None:
            try:
                self.doc.find_clip(self.selected)
            except KeyError:
                self.selected = None
        self.also_selected = [clip_id for clip_id in self.also_selected if clip_id != self.selected and self._exists(clip_id)]
        if self.selected is None:
            self.also_selected = []
        for widget, value in ((self.tempo, self.doc.tempo),):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        self.metre.blockSignals(True)
        self.metre.setCurrentText("/".join(str(p) for p in self.doc.time_signature))
        self.metre.blockSignals(False)
        self.view.rebuild()
        selected = self.selected_ids()
        for item in self.view.clip_items():
            item.setSelected(item.clip["id"] in selected)
        clip = self.selected_clip()
        self.roll.show_clip(clip)
        self._update_actions()
        self.changed.emit()

    # ------------------------------------------------------------------ clips

    def selected_clip(self) -> dict[str, Any] | None:
        if self.selected is None:
            return None
        try:
            return self.doc.find_clip(self.selected)[1]
        except KeyError:
            return None

    def _exists(self, clip_id: str) -> bool:
        try:
            self.doc.find_clip(clip_id)
        except KeyError:
            return False
        return True

    def selected_ids(self) -> list[str]:
        return self.also_selected + ([self.selected] if self.selected is not None else [])

    def selected_clips(self) -> list[dict[str, Any]]:
        """Every selected clip, in the order they were clicked (the last one is ``selected``)."""
        return [self.doc.find_clip(clip_id)[1] for clip_id in self.selected_ids() if self._exists(clip_id)]

    def selected_melody_clips(self) -> list[dict[str, Any]]:
        return [clip for clip in self.selected_clips() if clip.get("melody")]

    def select_clip(self, clip_id: str | None, *, from_view: bool = False, extend: bool = False) -> None:
        """Select one clip; ``extend`` (Shift+click) adds it to the selection, or takes it out."""
        if extend and clip_id is not None:
            if clip_id in self.selected_ids():
                ids = [other for other in self.selected_ids() if other != clip_id]
            else:
                ids = self.selected_ids() + [clip_id]
            self.selected = ids[-1] if ids else None
            self.also_selected = ids[:-1]
            from_view = False
        else:
            self.selected = clip_id
            self.also_selected = []
        clip = self.selected_clip()
        if not from_view:
            selected = self.selected_ids()
            for item in self.view.clip_items():
                item.setSelected(item.clip["id"] in selected)
        self.roll.show_clip(clip)
        self._update_actions()
        self.clip_selected.emit(clip)

    def _update_actions(self) -> None:
        melodies = self.selected_melody_clips()
        primary = self.selected_clip()
        one = primary is not None and bool(primary.get("melody"))
        for action in (self.continue_action, self.vary_action, self.harmonize_action, self.title_action):
            action.setEnabled(one)
        self.interpolate_action.setEnabled(len(melodies) == 2)

    def build_context_menu(self, parent: QWidget) -> QMenu:
        menu = QMenu(parent)
        for action in (self.continue_action, self.vary_action, self.interpolate_action, self.harmonize_action, self.title_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction("Duplicate", self.duplicate_selected)
        menu.addAction("Delete", self.delete_selected)
        return menu

    def rename_clip(self, clip_id: str, name: str) -> None:
        _track, clip = self.doc.find_clip(clip_id)
        if name and name != clip.get("name"):
            self.undo.push(RenameClipCommand(self, clip_id, str(clip.get("name") or ""), name))

    def free_start(self, track: dict[str, Any], start: float, length: float, *, ignore: str | None = None) -> float:
        """The first beat at or after ``start`` where ``length`` beats are free on ``track``."""
        return self.doc.free_start(track, start, length, ignore=ignore)

    def _free_or_say(self, track: dict[str, Any], start: float, length: float, name: str, *, ignore: str | None = None) -> float:
        """``start`` if free, else the next gap, saying so (a clip never hides another)."""
        free = self.free_start(track, start, length, ignore=ignore)
        if free > float(start) + 1e-9:
            bar = free / self.doc.beats_per_bar + 1
            self.message.emit(f"{name}: moved to bar {bar:g} on {track['name']}, so it does not cover the clip that was there")
        return free

    def reveal_clip(self, clip_id: str) -> None:
        """A new clip: select it and scroll the timeline to it (the piano roll shows its notes)."""
        if not self._exists(clip_id):
            return
        self.select_clip(clip_id)
        for item in self.view.clip_items():
            if item.clip["id"] == clip_id:
                self.view.ensureVisible(item.sceneBoundingRect(), 24, 8)
                break

    def add_melody(
        self,
        melody: Melody,
        *,
        name: str = "Melody",
        node: str | None = None,
        blob: str | None = None,
        start: float | None = None,
        track_id: str | None = None,
    ) -> str:
        track = self.doc.track(track_id) if track_id else self.doc.first_track("melody")
        length = max(MIN_CLIP, melody.padded_to_bars().length if melody.notes else melody.length or self.doc.beats_per_bar)
        start = self._end_of(track) if start is None else self._free_or_say(track, start, length, name)
        clip = {
            "id": new_id(),
            "name": name,
            "start": float(start),
            "length": float(length),
            "melody": melody.to_dict(),
            "blob": blob,
            "node": node,
        }
        self.undo.push(AddClipCommand(self, track["id"], clip, f"Add {name}"))
        return clip["id"]

    def add_audio(
        self,
        blob: str,
        seconds: float,
        *,
        name: str = "Audio",
        node: str | None = None,
        start: float | None = None,
        track_id: str | None = None,
    ) -> str:
        track = self.doc.track(track_id) if track_id else self.doc.first_track("audio")
        length = max(MIN_CLIP, seconds * self.doc.tempo / 60.0)
        start = self._end_of(track) if start is None else self._free_or_say(track, start, length, name)
        clip = {"id": new_id(), "name": name, "start": float(start), "length": float(length), "melody": None, "blob": blob, "node": node}
        self.undo.push(AddClipCommand(self, track["id"], clip, f"Add {name}"))
        return clip["id"]

    def _end_of(self, track: dict[str, Any]) -> float:
        end = max((clip["start"] + clip["length"] for clip in track["clips"]), default=0.0)
        bar = self.doc.beats_per_bar
        return float(math.ceil(end / bar - 1e-9) * bar)

    def duplicate_selected(self) -> None:
        clip = self.selected_clip()
        if clip is None:
            return
        track, _ = self.doc.find_clip(clip["id"])
        copy_ = copy.deepcopy(clip)
        copy_["id"] = new_id()
        copy_["start"] = self.free_start(track, float(clip["start"]) + float(clip["length"]), float(clip["length"]))
        self.undo.push(AddClipCommand(self, track["id"], copy_, "Duplicate clip"))

    def delete_selected(self) -> None:
        if self.roll.hasFocus():
            self.roll.delete_selected()
            return
        if self.selected is not None:
            self.undo.push(RemoveClipCommand(self, self.selected))

    def import_file(self, path: Path, *, start: float | None = None, track_index: int | None = None) -> str | None:
        """A .mid/.wav/.flac dropped or opened: stored in the project, placed as a clip."""
        from studio.core.errors import FileFormatError

        path = Path(path)
        data = path.read_bytes()
        track_id = None
        if track_index is not None and 0 <= track_index < len(self.doc.tracks):
            wanted = "melody" if path.suffix.lower() in MIDI_SUFFIXES else "audio"
            if self.doc.tracks[track_index]["kind"] == wanted:
                track_id = self.doc.tracks[track_index]["id"]
        try:
            if path.suffix.lower() in MIDI_SUFFIXES:
                from studio.core.midi import read_midi

                imported = read_midi(data, name=path.name)
                blob = self.blobs.put(data, "melody", "audio/midi", {"file": path.name})
                return self.add_melody(imported.melody, name=path.stem, blob=blob, start=start, track_id=track_id)
            from studio.core.audio_io import read_audio_info

            info = read_audio_info(data)
            mime = "audio/flac" if path.suffix.lower() == ".flac" else "audio/wav"
            blob = self.blobs.put(data, "audio", mime, {"file": path.name})
            return self.add_audio(blob, float(info["duration"]), name=path.stem, start=start, track_id=track_id)
        except FileFormatError as exc:
            self.message.emit(str(exc))
            return None

    # ------------------------------------------------------------------ audio

    def load_audio(self, blob: str) -> tuple[np.ndarray, int]:
        if blob not in self._audio_cache:
            from studio.core.audio_io import read_audio

            decoded = read_audio(self.blobs.get(blob))
            self._audio_cache[blob] = (decoded.samples, decoded.sample_rate)
        return self._audio_cache[blob]

    def peaks_for(self, clip: dict[str, Any]) -> np.ndarray | None:
        import numpy as np

        blob = clip.get("blob")
        if not blob:
            return None
        if blob not in self._peaks:
            try:
                samples, _rate = self.load_audio(blob)
            except Exception:
                return None
            mono = samples.mean(axis=1) if samples.ndim == 2 else samples
            buckets = max(1, len(mono) // 400)
            trimmed = np.abs(mono[: buckets * 400]).reshape(400, buckets).max(axis=1) if len(mono) >= 400 else np.abs(mono)
            self._peaks[blob] = trimmed
        return self._peaks[blob]

    def render_mix(self, only_clip: str | None = None) -> np.ndarray:
        return mix_timeline(self.doc, self.load_audio, sample_rate=SAMPLE_RATE, only_clip=only_clip)

    def toggle_play(self) -> None:
        if self.player.playing:
            self.player.stop()
            return
        samples = self.render_mix()
        if not len(samples):
            self.message.emit("The timeline is empty: nothing to play.")
            return
        ok, reason = self.player.play(samples, SAMPLE_RATE)
        if not ok:
            self.message.emit(reason)
            self.play_action.setEnabled(False)
            return
        self.play_action.setText("■ Stop")
        self.view.playhead.setVisible(True)

    def _playhead_at(self, seconds: float) -> None:
        x = seconds * self.doc.tempo / 60.0 * PX_PER_BEAT
        self.view.playhead.setPos(x, 0)

    # ------------------------------------------------------------------ files out

    def export_midi(self, path: Path, *, clip_only: bool = False) -> Path:
        path = Path(path)
        path.write_bytes(timeline_midi(self.doc, self.selected if clip_only else None))
        return path

    def export_audio(self, path: Path, *, clip_only: bool = False) -> Path:
        import numpy as np

        from studio.core.audio_io import write_audio

        samples = self.render_mix(self.selected if clip_only else None)
        if not len(samples):
            samples = np.zeros(1, dtype=np.float32)
        return write_audio(path, samples, SAMPLE_RATE, record={"generator": "studio.timeline", "tempo": self.doc.tempo})

    def drag_out_data(self, clip_id: str) -> QMimeData | None:
        """What a drag of a melody clip carries: a .mid file a DAW or file manager accepts."""
        _track, clip = self.doc.find_clip(clip_id)
        if not clip.get("melody"):
            return None
        folder = Path(tempfile.mkdtemp(prefix="studio-drag-"))
        name = "".join(c if c.isalnum() or c in " -_" else "_" for c in str(clip.get("name") or "clip")).strip() or "clip"
        target = folder / f"{name}.mid"
        target.write_bytes(timeline_midi(self.doc, clip_id))
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(target))])
        return mime

    def drag_out(self, clip_id: str) -> None:
        """Drag a clip out of the window as a .mid file (Ctrl+drag on a clip)."""
        mime = self.drag_out_data(clip_id)
        if mime is None:
            return
        drag = QDrag(self.view)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.CopyAction)
