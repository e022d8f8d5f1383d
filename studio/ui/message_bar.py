"""A message bar above the canvas for errors a user has to read in full.

The status bar cut a long error ("no Stable Diffusion model found in the model folders
(…); add …") at the window's edge and dropped it after ten seconds. Failures now show
here, word-wrapped and selectable, until dismissed or replaced; the status bar keeps a
short form for the glance.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QToolButton,
    QWidget,
)


def first_sentence(text: str, limit: int = 120) -> str:
    """The short form for the status bar: up to the first sentence end or ``limit`` characters."""
    line = " ".join(str(text).split())
    for mark in (". ", "; "):
        cut = line.find(mark)
        if 0 < cut < limit:
            return line[: cut + 1].rstrip(";") + " …"
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


class MessageBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        self.text = QLabel()
        self.text.setObjectName("error")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.text, 1)
        copy = QToolButton()
        copy.setText("Copy")
        copy.setToolTip("Copy the message")
        copy.clicked.connect(lambda: QApplication.clipboard().setText(self.text.text()))
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(copy, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_error(self, text: str) -> None:
        self.text.setText(text)
        self.show()
