"""Settings written later, coalesced, and off the GUI thread.

The Generate panel remembers its parameters in ``ui-settings.ini`` on every change, and each
Generate click is one (the seed rolls). Every ``QSettings.setValue`` posts a sync that
rewrites the whole file on the GUI thread at the next turn of the event loop: 5–13 ms on this
machine, 18–30 ms under heavy load, right after the click, while the new job's row is shown
(issue 13, defect 11: the goal is one 60 fps frame, 16 ms).

``DeferredSettings`` keeps such writes as pending values, merges the ones that come within
``delay_ms`` of each other (a batch of seeds, a slider dragged) and writes them on a worker
thread through a ``QSettings`` of its own on the same file (Qt allows distinct ``QSettings``
objects on one file in different threads). Reads through it see the pending values at once,
so the form never recalls a stale value. ``flush`` writes what is pending now, on the calling
thread: for the moments the file must hold it (the window closing).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer

from studio.ui.background_work import BackgroundWork

DELAY_MS = 250

# Per settings file, the values set and not yet on disk: every ``DeferredSettings`` on that file
# reads them (a second window or panel in the same process sees what the first one set).
_UNWRITTEN: dict[str, dict[str, Any]] = {}


def _write(path: str, format: QSettings.Format, values: dict[str, Any]) -> None:
    """Any thread: ``values`` into the settings file at ``path``, synced to disk."""
    settings = QSettings(path, format)
    for key, value in values.items():
        settings.setValue(key, value)
    settings.sync()


class DeferredSettings(QObject):
    """Coalesced, off-thread writes to ``settings``'s file; reads see them at once."""

    def __init__(self, settings: QSettings, delay_ms: int = DELAY_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.pending: dict[str, Any] = {}  # set, not yet handed to the writer
        self._unwritten = _UNWRITTEN.setdefault(settings.fileName(), {})  # set here or elsewhere, not yet on disk
        self._in_flight: dict[str, Any] = {}  # handed to the writer, not yet on disk
        self.writes = 0  # batches written (each one file rewrite)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._write_in_background)
        self._work: BackgroundWork | None = None  # the thread starts with the first write

    def set_value(self, key: str, value: Any) -> None:
        """Remember ``value``; it reaches the file a moment later with whatever else comes by then."""
        self.pending[key] = value
        self._unwritten[key] = value
        self._timer.start()  # restarted: writes in a burst become one

    def value(self, key: str, default: Any = None) -> Any:
        if key in self._unwritten:
            return self._unwritten[key]
        return self.settings.value(key, default)

    @property
    def busy(self) -> bool:
        """Whether a value set here is still on its way to the file."""
        return bool(self.pending or self._in_flight)

    def _write_in_background(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, {}
        self._in_flight.update(batch)
        if self._work is None:
            self._work = BackgroundWork("studio-settings", self)
        path, format = self.settings.fileName(), self.settings.format()
        self._work.run(lambda: _write(path, format, batch), lambda _ok, _value: self._written(batch))

    def _written(self, batch: dict[str, Any]) -> None:
        self.writes += 1
        self._forget(batch)

    def _forget(self, batch: dict[str, Any]) -> None:
        """``batch`` is on disk: the settings give it from now on (unless set again meanwhile)."""
        for key, value in batch.items():
            if self._unwritten.get(key) is value:
                del self._unwritten[key]
            if self._in_flight.get(key) is value:
                del self._in_flight[key]

    def flush(self) -> None:
        """Write everything pending now and wait for writes in flight (closing the window)."""
        self._timer.stop()
        if self._work is not None:
            self._work.settle()
        if self.pending:
            batch, self.pending = self.pending, {}
            _write(self.settings.fileName(), self.settings.format(), batch)
            self.writes += 1
            self._forget(batch)
