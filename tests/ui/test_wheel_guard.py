"""Scrolling over a form scrolls the form; a value changes by wheel only once focused."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea, QVBoxLayout, QWidget

from studio.ui.param_widgets import ChoiceEditor, NumberEditor


def _wheel(widget: QWidget, steps: int = -1) -> None:
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def _form(qtbot):
    area = QScrollArea()
    body = QWidget()
    column = QVBoxLayout(body)
    steps = NumberEditor({"name": "steps", "type": "int", "default": 20, "min": 1, "max": 150})
    sampler = ChoiceEditor({"name": "sampler", "type": "choice", "default": "euler", "choices": ["euler", "ddim", "dpm"]})
    column.addWidget(steps)
    column.addWidget(sampler)
    for _ in range(40):
        column.addWidget(NumberEditor({"name": "filler", "type": "float", "default": 0.5, "min": 0.0, "max": 1.0}))
    area.setWidget(body)
    area.resize(300, 200)
    qtbot.addWidget(area)
    area.show()
    qtbot.waitExposed(area)
    return area, steps, sampler


def test_wheel_over_an_unfocused_slider_scrolls_the_form_and_keeps_the_value(qtbot):
    area, steps, sampler = _form(qtbot)
    _wheel(steps.slider)
    _wheel(steps.spin)
    _wheel(sampler.combo)
    assert steps.value() == 20 and sampler.value() == "euler"
    assert area.verticalScrollBar().value() > 0


def test_wheel_changes_a_value_once_the_control_has_focus(qtbot):
    _area, steps, _sampler = _form(qtbot)
    steps.spin.setFocus()
    qtbot.waitUntil(steps.spin.hasFocus)
    _wheel(steps.spin, steps=1)
    assert steps.value() == 21
