"""`inspect FILE`: the generation parameters inside PNG, MIDI, audio and project files."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys

import mido
import numpy as np
import pytest
from PIL import Image

from studio.core.audio_io import write_audio
from studio.core.errors import FileFormatError
from studio.core.history import History, HistoryNode
from studio.core.inspect_file import inspect_path
from studio.core.png_metadata import write_png
from studio.core.project_store import ProjectStore

RECORD = {"plugin": "studio.test", "generator": "studio.test", "version": "1.0.0", "params": {"n": 1}, "seed": 5, "device": "cpu"}


def _inspect(path) -> dict:
    info = inspect_path(path)
    json.dumps(info)  # what the CLI prints: must be plain JSON
    return info


def test_png(tmp_path):
    path = write_png(
        tmp_path / "out.png",
        Image.new("RGB", (20, 10)),
        prompt="a fox",
        parameters={"Steps": 4, "Seed": 5, "Size": "20x10"},
        record=RECORD,
    )
    info = _inspect(path)
    assert info["file"] == str(path)
    assert info["format"] == "png"
    assert (info["width"], info["height"]) == (20, 10)
    assert info["prompt"] == "a fox"
    assert info["parameters"] == {"Steps": 4, "Seed": 5, "Size": "20x10"}
    assert info["studio"] == RECORD
    assert info["ai_generated"] is True


@pytest.mark.parametrize("suffix", ["wav", "flac"])
def test_audio(tmp_path, suffix):
    path = write_audio(tmp_path / f"take.{suffix}", np.zeros((8000, 2), np.float32), 16000, record=RECORD)
    info = _inspect(path)
    assert info["format"] == suffix
    assert (info["sample_rate"], info["channels"]) == (16000, 2)
    assert info["duration"] == pytest.approx(0.5)
    assert info["studio"] == RECORD


def _midi_file(path) -> None:
    midi = mido.MidiFile(type=1, ticks_per_beat=480)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("text", text="studio:" + json.dumps(RECORD)))
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100)))
    meta.append(mido.MetaMessage("time_signature", numerator=3, denominator=4))
    meta.append(mido.MetaMessage("key_signature", key="D"))
    notes = mido.MidiTrack()
    for pitch in (62, 66, 69):
        notes.append(mido.Message("note_on", note=pitch, velocity=80, time=0))
        notes.append(mido.Message("note_off", note=pitch, velocity=0, time=480))
    midi.tracks.extend([meta, notes])
    midi.save(path)


def test_midi_with_the_built_in_reader(tmp_path, monkeypatch):
    # Pin our mido fallback for the record even though studio.core.midi provides its own reader.
    monkeypatch.setitem(sys.modules, "studio.core.midi", None)
    path = tmp_path / "tune.mid"
    _midi_file(path)
    info = _inspect(path)
    assert info["format"] == "midi"
    assert info["studio"] == RECORD
    assert info["tempo_bpm"] == 100.0
    assert info["time_signature"] == "3/4"
    assert info["key"] == "D"
    assert info["tracks"] == 2
    assert info["length_seconds"] == pytest.approx(3 * 0.6)


def test_midi_through_whichever_reader_is_installed(tmp_path):
    path = tmp_path / "tune.mid"
    _midi_file(path)
    info = _inspect(path)
    assert info["format"] == "midi" and info["file"] == str(path)
    assert info["studio"] == RECORD
    assert (info["tempo_bpm"], info["time_signature"], info["key"]) == (100.0, "3/4", "D")


def test_project_is_inspected_without_changing_it(tmp_path):
    path = tmp_path / "p.studio"
    with ProjectStore.create(path) as store:
        history = History(store)
        blob = store.put_blob(b"img", "image", "image/png")
        first = history.add(HistoryNode(generator="studio.patterns", params={"size": 64}, outputs=[blob]))
        history.add(history.branch(first, generator="studio.diffusion", params={"steps": 12}))
    before = hashlib.sha256(path.read_bytes()).hexdigest()

    info = _inspect(path)

    assert info["format"] == "studio-project"
    assert info["node_count"] == 2
    assert info["artifact_count"] == 1
    assert info["generators"] == ["studio.diffusion", "studio.patterns"]
    assert info["last_params"] == {"size": 64, "steps": 12}
    assert info["last_node"]["parents"] == [first.id]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.studio"]


def test_renamed_file_is_read_by_its_content(tmp_path):
    path = write_png(tmp_path / "picture.dat", Image.new("L", (2, 2)), record=RECORD)
    assert _inspect(path)["format"] == "png"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("notes.txt", b"just some words\n", "not a file Studio can inspect"),
        ("fake.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 5, "truncated PNG"),
        ("fake.mid", b"MThd\x00\x00\x00\x06\x00", "MIDI"),
        ("fake.wav", b"RIFF\x10\x00\x00\x00WAVEjunk", "WAV"),
    ],
)
def test_unknown_or_corrupt_files_are_one_line_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=message) as caught:
        inspect_path(path)
    assert name in str(caught.value)
    assert "\n" not in str(caught.value)


def test_foreign_database_and_missing_file_are_file_format_errors(tmp_path):
    db = tmp_path / "other.sqlite"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(FileFormatError, match="another application"):
        inspect_path(db)
    with pytest.raises(FileFormatError, match="no such file"):
        inspect_path(tmp_path / "gone.png")


def test_core_file_modules_load_without_torch_or_qt():
    code = (
        "import sys\n"
        "import studio.core.png_metadata, studio.core.audio_io, studio.core.project_store\n"
        "import studio.core.history, studio.core.inspect_file\n"
        "bad = [m for m in ('torch', 'PySide6', 'studio.engine', 'studio.plugins', 'studio.ui') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_inspecting_a_fifo_is_refused_at_once_instead_of_waiting_for_a_writer(tmp_path):
    import os
    import threading

    fifo = tmp_path / "art.png"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []
    reader = threading.Thread(target=lambda: outcome.append(pytest.raises(FileFormatError, inspect_path, fifo).value), daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the stuck open() so the test process can end
        with open(fifo, "wb"):
            pass
        pytest.fail("inspect_path blocked on a FIFO")
    assert "named pipe" in str(outcome[0])


def test_a_d_dorian_melody_is_reported_as_d_dorian_not_as_its_key_signature(tmp_path):
    from studio.core.melody import Melody, Note
    from studio.core.midi import write_midi

    path = tmp_path / "dorian.mid"
    tune = Melody(notes=[Note(62 + step, float(i), 1.0, 90) for i, step in enumerate((0, 2, 3, 5, 7, 9, 10, 12))], tempo=100.0, key="C")
    path.write_bytes(write_midi(tune, record={"generator": "studio.melody", "output": {"key": "D", "scale": "dorian"}}))
    info = inspect_path(path)
    assert info["key"] == "D dorian" and info["key_signature"] == "C"
