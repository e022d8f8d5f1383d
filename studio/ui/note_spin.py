"""A spin box for MIDI pitches that reads and writes note names ("C4", "F#3", "Bb2").

Note ranges shown as MIDI numbers ("Lowest note (MIDI) 55") made a musician count; a param
with ``unit = "note"`` now shows G3, and accepts a name or a number typed in.
"""

from __future__ import annotations

import re

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QSpinBox

from studio.core.melody import pitch_name

_NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_NOTE = re.compile(r"^\s*([A-Ga-g])([#♯b♭]?)\s*(-?\d+)\s*$")


def parse_note(text: str) -> int | None:
    """MIDI pitch of "C4" (60), "F#3", "Bb2", or a plain number; None when it is neither."""
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    match = _NOTE.match(text)
    if match is None:
        return None
    letter, accidental, octave = match.groups()
    shift = 1 if accidental in ("#", "♯") else -1 if accidental in ("b", "♭") else 0
    return (int(octave) + 1) * 12 + _NAMES[letter.upper()] + shift


class NoteSpinBox(QSpinBox):
    def textFromValue(self, value: int) -> str:
        return pitch_name(int(value))

    def valueFromText(self, text: str) -> int:
        pitch = parse_note(text)
        return self.value() if pitch is None else pitch

    def validate(self, text: str, pos: int) -> object:
        pitch = parse_note(text)
        if pitch is not None and self.minimum() <= pitch <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        if re.fullmatch(r"\s*[A-Ga-g]?[#♯b♭]?-?\d*\s*", text):
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Invalid, text, pos
