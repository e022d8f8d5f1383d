"""``python main.py``: the window is up first, the engine starts behind it."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from studio.core.logs import configure_logging
from studio.core.paths import HomeLayout, studio_home
from studio.ui.errors import ErrorReporter
from studio.ui.main_window import MainWindow
from studio.ui.qt_compat import guard_singleton_refcounts
from studio.ui.theme import apply_dark_theme
from studio.ui.timers import call_later


def make_application(argv: list[str] | None = None) -> QApplication:
    guard_singleton_refcounts()
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else [sys.argv[0]])
    app.setApplicationName("Studio")
    app.setOrganizationName("Studio")
    apply_dark_theme(app)  # type: ignore[arg-type]
    return app  # type: ignore[return-value]


def start_after_first_paint(window: MainWindow, start: Callable[[], object]) -> None:
    """Run ``start`` once the window has painted its first frame.

    A zero-delay timer set after ``show()`` fires before the first paint: opening the project
    (the project store's imports) and the engine link's thread (the engine client's) then
    held the first frame back by about a second on a loaded machine.
    """
    if window._painted:  # already painted (shown earlier): start now
        call_later(0, start, window)
        return

    def painted() -> None:
        window.first_paint.disconnect(painted)
        call_later(0, start, window)

    window.first_paint.connect(painted)


def run_app(project: Path | None = None, safe_mode: bool = False) -> int:
    """Open the studio window (optionally with a project) and run until it closes."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    app = make_application()
    home = studio_home()
    reporter = ErrorReporter(configure_logging(HomeLayout(home).logs_dir, "window")).install()
    window = MainWindow(home, safe_mode=safe_mode)
    window.error_reporter = reporter  # type: ignore[attr-defined]
    window.setWindowIcon(QIcon())
    window.show()
    # Open the project and start the engine once the window has painted, so the user sees
    # the studio at once; the engine connects in a background thread.
    start_after_first_paint(window, lambda: window.start(Path(project) if project else None))
    # Ctrl+C in the terminal closes the window like the close button would.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    heartbeat = QTimer()
    heartbeat.start(250)  # lets Python run its signal handlers while Qt's loop spins
    heartbeat.timeout.connect(lambda: None)
    return int(app.exec())
