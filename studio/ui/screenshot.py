"""``python main.py screenshot``: render the main window off-screen to a PNG and exit."""

from __future__ import annotations

import os
import time
from pathlib import Path

from studio.core.paths import studio_home


def take_screenshot(out: Path, project: Path | None = None, size: tuple[int, int] = (1600, 1000), *, engine_timeout: float = 20.0) -> Path:
    """Load ``project`` into a window of ``size``, wait briefly for the engine's catalogue, save a PNG."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from studio.ui.app import make_application
    from studio.ui.dialogs import QuietPrompter
    from studio.ui.engine_link import FAILED, READY
    from studio.ui.main_window import MainWindow

    app = make_application()
    window = MainWindow(studio_home(), prompter=QuietPrompter(ask=False))
    window.resize(*size)
    window.show()
    window.start(Path(project) if project else None)
    deadline = time.monotonic() + engine_timeout
    while window.link.state not in (READY, FAILED) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(5):
        app.processEvents()
    window.canvas.view.fit()
    app.processEvents()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out), "PNG"):
        raise OSError(f"{out}: could not write the screenshot")
    window.session.abandon() if window.session.untitled and window.session.store is not None and not window.session.store.node_count() else None
    window.session.close()
    window.link.close()
    window.deleteLater()
    QApplication.processEvents()
    return out
