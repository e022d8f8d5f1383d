"""The dark theme keeps the controls' affordances: spin arrows, combo arrows, check marks."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QCheckBox, QSpinBox

from studio.ui.app import make_application
from studio.ui.theme import BACKGROUND, STYLE_SHEET


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


class _StyleChanges(QObject):
    """Counts the style changes a widget receives (each is a re-polish)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.StyleChange:
            self.count += 1
        return False


def test_a_second_make_application_keeps_the_theme_without_repolishing_open_widgets(qtbot):
    app = make_application()
    spin = QSpinBox()
    qtbot.addWidget(spin)
    spin.show()
    changes = _StyleChanges()
    spin.installEventFilter(changes)
    again = make_application()  # every window test makes the application again
    assert again is app and app.styleSheet() == STYLE_SHEET
    assert app.palette().color(QPalette.ColorRole.Window).name() == BACKGROUND
    assert changes.count == 0
    app.setStyleSheet("")  # a changed part is set again, and only then do widgets re-polish
    changes.count = 0
    make_application()
    assert app.styleSheet() == STYLE_SHEET and changes.count > 0
