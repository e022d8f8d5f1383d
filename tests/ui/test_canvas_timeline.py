"""Canvas and timeline edits are undoable; files go in and out in formats other tools read."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import mido
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QImage

from studio.core.audio_io import read_audio_info
from studio.core.melody import Melody, Note
from studio.core.midi import read_midi, write_midi
from studio.core.png_metadata import read_png_metadata
from studio.ui.timeline import PlaceClipCommand
from tests.ui.conftest import PATTERNS_CATALOGUE, png_bytes


def _melody(notes: int = 4) -> Melody:
    return Melody(notes=[Note(60 + i * 2, float(i), 1.0, 90) for i in range(notes)], tempo=100.0)


def test_canvas_edits_undo_and_redo(make_window: Any) -> None:
    window = make_window()
    canvas, undo = window.canvas, window.undo
    layer = canvas.add_image(png_bytes(64, 48), name="red")
    assert layer is not None and canvas.doc_size == (64, 48)
    second = canvas.add_image(png_bytes(32, 32, (0, 0, 255)), name="blue")
    assert second.pos().x() > 64  # placed beside the first, not on top of it
    canvas.set_layer_property(second.layer_id, "opacity", 0.5)
    canvas.set_layer_property(second.layer_id, "visible", False)
    canvas.scene.clearSelection()
    second.setSelected(True)
    before = canvas.layer_states()
    second.setPos(10, 20)
    canvas.commit_move(before)
    canvas.select_region(QRectF(0, 0, 32, 24))
    stroke_before = canvas.mask_image.copy()
    canvas.paint_dab(QPointF(16, 16), erase=False)
    canvas.commit_stroke(stroke_before, erase=False)
    assert not canvas.mask_is_empty()

    undo.undo()  # mask stroke
    assert canvas.mask_is_empty()
    undo.undo()  # selection
    assert canvas.selection is None
    undo.undo()  # move
    assert (second.pos().x(), second.pos().y()) == (before[second.layer_id]["x"], 0.0)
    undo.undo()  # visibility
    assert second.isVisible()
    undo.undo()  # opacity
    assert second.opacity() == 1.0
    undo.undo()  # second layer
    assert second.layer_id not in canvas.layers
    for _ in range(6):
        undo.redo()
    restored = canvas.layers[second.layer_id]
    assert (restored.pos().x(), restored.pos().y()) == (10.0, 20.0)
    assert restored.opacity() == 0.5 and not restored.isVisible()
    assert canvas.selection == QRectF(0, 0, 32, 24)
    assert not canvas.mask_is_empty()
    # The selection is what img2img gets; the mask comes out as a grayscale PNG of the region.
    crop = QImage.fromData(canvas.selection_png())
    assert (crop.width(), crop.height()) == (32, 24)
    mask = QImage.fromData(canvas.mask_png())
    assert (mask.width(), mask.height()) == (32, 24) and mask.pixelColor(16, 16).value() > 200


def test_dropping_a_png_with_parameters_restores_them(make_window: Any, tmp_path: Path) -> None:
    window = make_window(catalogue=PATTERNS_CATALOGUE)
    record = {"generator": "studio.patterns", "params": {"width": 320, "height": 160, "palette": "pastel"}, "seed": 777}
    path = tmp_path / "made-elsewhere.png"
    path.write_bytes(png_bytes(40, 20, parameters={"Seed": 777}, record=record))
    window.generate_panel.select_generator("test.writer")
    window.import_images([str(path)])
    assert len(window.canvas.layers) == 1
    panel = window.generate_panel
    assert panel.current["id"] == "studio.patterns"
    assert panel.editors["width"].value() == 320 and panel.editors["palette"].value() == "pastel"
    assert panel.seed.value() == 777 and panel.seed.locked


def test_exported_layer_png_keeps_its_metadata(make_window: Any, tmp_path: Path) -> None:
    window = make_window()
    data = png_bytes(16, 16, prompt="a kite", parameters={"Steps": 20, "Seed": 5, "Size": "16x16"}, record={"generator": "x.y", "seed": 5})
    window.canvas.add_image(data, name="kite")
    out = window.export_canvas(tmp_path / "layer.png", layer_only=True)
    assert read_png_metadata(out)["prompt"] == "a kite"
    whole = window.export_canvas(tmp_path / "canvas.png")
    assert QImage(str(whole)).width() == 16


def test_timeline_edits_undo_and_redo(make_window: Any) -> None:
    window = make_window()
    timeline, undo = window.timeline, window.undo
    clip_id = timeline.add_melody(_melody(), name="tune")
    track, clip = timeline.doc.find_clip(clip_id)
    assert clip["start"] == 0.0 and clip["length"] == 4.0
    undo.push(PlaceClipCommand(timeline, clip_id, (track["id"], 0.0, 4.0), (track["id"], 8.0, 4.0), "Move clip"))
    undo.push(PlaceClipCommand(timeline, clip_id, (track["id"], 8.0, 4.0), (track["id"], 8.0, 2.0), "Trim clip"))
    timeline.select_clip(clip_id)
    timeline.duplicate_selected()
    assert len(track["clips"]) == 2
    copy_id = timeline.selected
    assert timeline.doc.find_clip(copy_id)[1]["start"] == 10.0
    timeline.roll.add_note(72, 3.0, 0.5)
    assert len(timeline.doc.find_clip(copy_id)[1]["melody"]["notes"]) == 5
    timeline.select_clip(clip_id)
    timeline.delete_selected()
    assert [c["id"] for c in timeline.doc.tracks[0]["clips"]] == [copy_id]

    undo.undo()  # delete
    assert timeline.doc.find_clip(clip_id)
    undo.undo()  # add note
    assert len(timeline.doc.find_clip(copy_id)[1]["melody"]["notes"]) == 4
    undo.undo()  # duplicate
    assert len(timeline.doc.tracks[0]["clips"]) == 1
    undo.undo()  # trim
    assert timeline.doc.find_clip(clip_id)[1]["length"] == 4.0
    undo.undo()  # move
    assert timeline.doc.find_clip(clip_id)[1]["start"] == 0.0
    undo.undo()  # add
    assert not timeline.doc.tracks[0]["clips"]
    for _ in range(5):
        undo.redo()
    assert timeline.doc.find_clip(clip_id)[1]["start"] == 8.0
    assert timeline.doc.find_clip(clip_id)[1]["length"] == 2.0
    assert len(timeline.doc.find_clip(copy_id)[1]["melody"]["notes"]) == 5
    undo.redo()  # the delete again
    assert [c["id"] for c in timeline.doc.tracks[0]["clips"]] == [copy_id]


def test_piano_roll_moves_resizes_and_deletes_notes(make_window: Any) -> None:
    window = make_window()
    timeline = window.timeline
    clip_id = timeline.add_melody(_melody(2), name="tune")
    timeline.select_clip(clip_id)
    roll = timeline.roll
    from studio.core.melody import Note as N

    roll.replace_note(0, N(65, 0.5, 1.0, 90), "Move note")
    notes = timeline.doc.find_clip(clip_id)[1]["melody"]["notes"]
    assert [65, 0.5, 1.0, 90] in notes
    roll.replace_note(1, N(62, 1.0, 2.0, 90), "Resize note")
    items = [item for item in roll.scene_.items() if hasattr(item, "note")]
    items[0].setSelected(True)
    roll.delete_selected()
    assert len(timeline.doc.find_clip(clip_id)[1]["melody"]["notes"]) == 1
    window.undo.undo()
    assert len(timeline.doc.find_clip(clip_id)[1]["melody"]["notes"]) == 2


def test_timeline_exports_midi_and_wav_and_imports_dropped_files(make_window: Any, tmp_path: Path) -> None:
    window = make_window()
    timeline = window.timeline
    source = tmp_path / "prime.mid"
    write_midi(_melody(4), path=source)
    clip_id = timeline.import_file(source, start=4.0, track_index=0)
    assert clip_id is not None
    clip = timeline.doc.find_clip(clip_id)[1]
    assert clip["start"] == 4.0 and len(clip["melody"]["notes"]) == 4
    midi_path = timeline.export_midi(tmp_path / "song.mid")
    song = mido.MidiFile(midi_path)
    first_on = next(m for m in mido.merge_tracks(song.tracks) if m.type == "note_on")
    assert first_on.note == 60
    assert abs(read_midi(midi_path).melody.notes[0].start - 4.0) < 1e-6  # the clip's offset is kept
    wav_path = timeline.export_audio(tmp_path / "song.wav")
    info = read_audio_info(wav_path)
    assert info["duration"] > 60 / 100 * 4  # starts at beat 4, at least as long as the offset
    # A WAV dropped on the audio track becomes an audio clip.
    audio_clip = timeline.import_file(wav_path, start=0.0, track_index=1)
    assert timeline.doc.find_clip(audio_clip)[0]["kind"] == "audio"
    # Playback never crashes: it plays or says why it cannot.
    messages: list[str] = []
    timeline.message.connect(messages.append)
    timeline.toggle_play()
    assert timeline.player.playing or messages or not timeline.play_action.isEnabled()
    timeline.player.stop()


def test_timeline_file_formats_survive_a_bad_file(make_window: Any, tmp_path: Path) -> None:
    window = make_window()
    bad = tmp_path / "broken.mid"
    bad.write_bytes(b"MThd not really")
    messages: list[str] = []
    window.timeline.message.connect(messages.append)
    assert window.timeline.import_file(bad) is None
    assert messages and "broken.mid" in messages[0]
    assert io  # keep the import used


def test_dragging_a_melody_clip_out_carries_a_midi_file_with_its_notes(make_window: Any) -> None:
    window = make_window()
    timeline = window.timeline
    clip_id = timeline.add_melody(_melody(5), name="reel: take/2")
    mime = timeline.drag_out_data(clip_id)
    assert mime is not None and len(mime.urls()) == 1
    path = Path(mime.urls()[0].toLocalFile())
    assert path.suffix == ".mid" and "/" not in path.stem and ":" not in path.stem
    notes = read_midi(path).melody.notes
    assert [note.pitch for note in notes] == [60, 62, 64, 66, 68]
