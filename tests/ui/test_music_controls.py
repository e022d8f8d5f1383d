"""Music controls say what they mean (issue 13, defect 9; the piano roll of defect 6)."""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QImage, QPainter

from studio.core.melody import Melody, Note
from studio.ui.note_spin import parse_note
from studio.ui.param_widgets import NumberEditor
from studio.ui.piano_keys import key_label
from tests.ui.fake_engine import attach_fake_engine, first_party_catalogue


def test_note_names_parse_and_read_back() -> None:
    assert parse_note("C4") == 60 and parse_note("G3") == 55 and parse_note("F#3") == 54
    assert parse_note("Bb2") == 46 and parse_note("72") == 72 and parse_note("H2") is None


def test_melody_ranges_show_note_names_and_tempo_zero_says_what_it_means(make_window: Any) -> None:
    window = make_window()
    attach_fake_engine(window, first_party_catalogue("melody"))
    panel = window.generate_panel
    panel.select_generator("studio.melody")
    lowest, highest, tempo = panel.editors["lowest"], panel.editors["highest"], panel.editors["tempo"]
    assert isinstance(lowest, NumberEditor)
    lowest.set_value(55)
    assert lowest.spin.text() == "G3" and lowest.value() == 55
    highest.set_value(84)
    assert highest.spin.text() == "C6"
    lowest.spin.lineEdit().setText("C4")
    lowest.spin.interpretText()
    assert lowest.value() == 60
    tempo.set_value(0)
    assert tempo.spin.text() == "keep the prime's tempo" and tempo.value() == 0
    tempo.set_value(96)
    assert tempo.spin.text() == "96"


def test_the_piano_roll_has_a_keyboard_with_note_names(make_window: Any) -> None:
    window = make_window()
    timeline = window.timeline
    clip = timeline.add_melody(Melody(notes=[Note(60, 0.0, 1.0, 90)], tempo=100.0), name="c")
    timeline.select_clip(clip)
    roll = timeline.roll
    roll.resize(400, 240)
    assert key_label(60, 12) == "C4" and key_label(62, 12) == "D4" and key_label(61, 12) == ""
    assert key_label(62, 8) == ""  # rows too short: only the Cs are named
    # The first beat is not under the keyboard: the scene starts left of beat 0.
    assert roll.sceneRect().left() < 0
    image = QImage(roll.viewport().size(), QImage.Format.Format_RGB32)
    painter = QPainter(image)
    roll.render(painter)
    painter.end()
    # A white key at the left edge, the dark grid beyond it.
    y = image.height() // 2
    assert image.pixelColor(5, y).lightness() > 150 or image.pixelColor(5, y + 6).lightness() > 150
    assert image.pixelColor(image.width() - 5, y).lightness() < 80
