"""Scrolling a form must scroll the form, not the value under the pointer.

Qt gives wheel events to whatever slider, spin box or combo box the pointer passes over, so
scrolling a long Generate panel silently changed Steps from 20 to 16. A guarded widget takes
the wheel only once the user has clicked or tabbed into it; otherwise the event is handed to
the nearest scroll area, so the form scrolls as if the control were not there.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QWidget


class _WheelGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget) or watched.hasFocus():
            return False
        area = watched.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is not None:
            QApplication.sendEvent(area.viewport(), event)
            event.accept()
        else:
            event.ignore()
        return True


_GUARD: _WheelGuard | None = None


def wheel_only_when_focused(*widgets: QWidget | None) -> None:
    global _GUARD
    if _GUARD is None:
        _GUARD = _WheelGuard()
    for widget in widgets:
        if widget is not None:
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            widget.installEventFilter(_GUARD)
