"""The dark theme keeps the controls' affordances: spin arrows, combo arrows, check marks."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QSpinBox

from studio.ui.app import make_application
from studio.ui.theme import STYLE_SHEET


def _bright_pixels(widget, left: int, right: int) -> int:
    image = widget.grab().toImage()
    count = 0
    for x in range(max(0, left), min(image.width(), right)):
        for y in range(image.height()):
            colour = image.pixelColor(x, y)
            if min(colour.red(), colour.green(), colour.blue()) > 170:
                count += 1
    return count


def test_every_image_the_style_sheet_names_exists():
    paths = re.findall(r"url\(([^)]+)\)", STYLE_SHEET)
    assert paths and all(Path(path).is_file() for path in paths)


def test_spin_boxes_show_their_step_arrows(qtbot):
    make_application()
    spin = QSpinBox()
    spin.setValue(0)  # no bright digits near the right edge
    spin.resize(120, 28)
    qtbot.addWidget(spin)
    spin.show()
    assert _bright_pixels(spin, spin.width() - 15, spin.width()) >= 6


def test_a_checked_box_is_drawn_differently_from_an_unchecked_one(qtbot):
    make_application()
    on, off = QCheckBox(), QCheckBox()
    on.setChecked(True)
    for box in (on, off):
        box.resize(20, 20)
        qtbot.addWidget(box)
        box.show()
    assert on.grab().toImage() != off.grab().toImage()
    assert _bright_pixels(on, 0, 16) > _bright_pixels(off, 0, 16)
