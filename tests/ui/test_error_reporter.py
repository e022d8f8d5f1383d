"""An unexpected error in the window is logged with its traceback and shown, not lost."""

from __future__ import annotations

import logging
import sys

from studio.core.logs import configure_logging
from studio.ui.errors import ErrorReporter


def _raise_and_capture():
    try:
        raise RuntimeError("layer index out of range")
    except RuntimeError:
        return sys.exc_info()


def test_an_error_in_a_slot_is_logged_and_shown_with_the_log_path(qtbot, tmp_path):
    logger = logging.getLogger("studio")
    path = configure_logging(tmp_path / "logs", "window")
    reporter = ErrorReporter(path).install()
    try:
        sys.excepthook(*_raise_and_capture())
        for handler in logger.handlers:
            handler.flush()
        text = path.read_text()
        assert "unexpected error in the window" in text and "RuntimeError: layer index out of range" in text
        assert "Traceback" in text
        (dialog,) = reporter.dialogs
        assert dialog.isVisible()
        assert "layer index out of range" in dialog.text() and str(path) in dialog.informativeText()
        assert "Traceback" in dialog.detailedText()
        dialog.close()
    finally:
        reporter.uninstall()
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
    assert sys.excepthook is not reporter
