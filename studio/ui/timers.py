"""Running a Python callable later on the GUI thread without ``QTimer.singleShot(ms, callable)``.

PySide6 6.12 drops one reference to a callable's return value each time ``singleShot`` or
``QThreadPool.start`` invokes a Python callable, so None's (or a bool's) refcount runs down
until the interpreter aborts. A connected signal does not have the bug, so this uses a
one-shot QTimer's ``timeout`` signal instead.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer


def call_later(ms: int, callback: Callable[[], object], parent: QObject | None = None) -> QTimer:
    timer = QTimer(parent)
    timer.setSingleShot(True)

    def fire() -> None:
        try:
            callback()
        finally:
            timer.deleteLater()

    timer.timeout.connect(fire)
    timer.start(max(0, int(ms)))
    _alive.add(timer)
    timer.destroyed.connect(lambda *_: _alive.discard(timer))
    return timer


_alive: set[QTimer] = set()
