"""The keyboard down the piano roll's left edge, with note names.

Rows without a keyboard gave no idea which pitch a note was; the roll now draws a piano
keyboard (white and black keys) that stays at the left edge while the notes scroll, and
names every C with its octave ("C4" is middle C, MIDI 60) and, when the rows are tall
enough, every white key.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsView

from studio.core.melody import pitch_name

KEY_WIDTH = 38.0  # view pixels
BLACK = (1, 3, 6, 8, 10)


def is_black(pitch: int) -> bool:
    return pitch % 12 in BLACK


def key_label(pitch: int, row_height_px: float) -> str:
    """The name drawn on a key: every C, and every white key once rows are tall enough."""
    if pitch % 12 == 0 or (row_height_px >= 11 and not is_black(pitch)):
        return pitch_name(pitch)
    return ""


def paint_keyboard(painter: QPainter, view: QGraphicsView, low: int, high: int, row_h: float) -> None:
    """Draw the keys for pitches ``low``..``high`` at the view's left edge (in scene coordinates)."""
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    scale = view.transform().m11() or 1.0
    width = KEY_WIDTH / scale
    row_px = row_h * view.transform().m22()
    painter.save()
    font = QFont()
    font.setPixelSize(max(7, min(11, int(row_px) - 2)))
    painter.setFont(font)
    left = visible.left()
    for pitch in range(low, high + 1):
        y = (high - pitch) * row_h
        if y + row_h < visible.top() or y > visible.bottom():
            continue
        rect = QRectF(left, y, width, row_h)
        black = is_black(pitch)
        painter.setPen(QPen(QColor("#3a3c42"), 0))
        painter.setBrush(QColor("#2a2b30") if black else QColor("#d9dade"))
        painter.drawRect(rect)
        text = key_label(pitch, row_px)
        if text:
            painter.setPen(QColor("#e8e8ea") if black else QColor("#202124"))
            painter.drawText(rect.adjusted(2, 0, -2, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, text)
    painter.setPen(QPen(QColor("#55585f"), 0))
    painter.drawLine(QPointF(left + width, visible.top()), QPointF(left + width, visible.bottom()))
    painter.restore()
