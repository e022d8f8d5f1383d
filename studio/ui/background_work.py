"""One background thread for slow writes, with the answer delivered on the GUI thread.

An autosave wrote a fresh SQLite file on the GUI thread every few seconds after a change:
25–95 ms in which the window could not paint, often while a job streamed its previews
(issue 13, defect 11: the goal is one 60 fps frame, 16 ms). ``BackgroundWork`` runs such
work on its own thread, in the order it was given, and hands the result (or the exception)
to a callback on the GUI thread. ``settle`` waits for what is in flight, for the moments
the file must be known to be written (closing, saving, writing it synchronously).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal, Slot


class BackgroundWork(QObject):
    """Runs callables one at a time on a worker thread; ``done(ok, value)`` back on the GUI thread."""

    _finished = Signal(int, bool, object)  # token, ok, (value,) or (exception,)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._tokens = itertools.count(1)
        self._waiting: dict[int, Callable[[bool, Any], None]] = {}
        self._futures: list[Future[None]] = []
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @property
    def busy(self) -> bool:
        return any(not future.done() for future in self._futures)

    def run(self, work: Callable[[], Any], done: Callable[[bool, Any], None]) -> None:
        """Run ``work()`` in the background; ``done(True, result)`` or ``done(False, exception)`` follows on the GUI thread."""
        token = next(self._tokens)
        self._waiting[token] = done
        self._futures = [future for future in self._futures if not future.done()]
        self._futures.append(self._pool.submit(self._work, token, work))

    def _work(self, token: int, work: Callable[[], Any]) -> None:
        try:
            value = work()
        except Exception as exc:  # handed to ``done``, which says what went wrong
            self._finished.emit(token, False, (exc,))
            return
        # Always a tuple: a bare None through an ``object`` signal trips a PySide6 refcount bug.
        self._finished.emit(token, True, (value,))

    @Slot(int, bool, object)
    def _deliver(self, token: int, ok: bool, boxed: object) -> None:
        done = self._waiting.pop(token, None)
        if done is not None:
            done(ok, boxed[0])  # type: ignore[index]

    def settle(self) -> None:
        """Wait for the work in flight, then run its callbacks now (on the calling, GUI, thread)."""
        futures, self._futures = self._futures, []
        for future in futures:
            future.result()
        # The queued deliveries may not have run yet: run them here, in order.
        if self._waiting:
            QCoreApplication.sendPostedEvents(self, 0)

    def close(self) -> None:
        self.settle()
        self._pool.shutdown(wait=True)
