"""The engine link's threads: connect, pump the event stream, run requests.

Each runs off the GUI thread and answers with Qt signals (see ``engine_link``). The engine
client (httpx, pydantic models: ~300 ms of imports) is imported here, on the connector
thread, after the window has painted; the GUI thread only finds it in ``sys.modules``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal

from studio.core.engine_target import load_engine_target

if TYPE_CHECKING:
    from studio.engine.client import EngineClient


class _Connector(QThread):
    """Finds or starts the engine, then reads its catalogue (generators, models)."""

    connected = Signal(object, object, object)  # client, Catalogue, ModelsReport
    failed = Signal(str)

    def __init__(self, home: Path, safe_mode: bool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.home, self.safe_mode = home, safe_mode

    def run(self) -> None:
        try:
            from studio.engine.client import EngineClient, EngineError

            target = load_engine_target(self.home)
            if target.remote:  # a remote engine: never started from here, only reached
                client = EngineClient(target.url, target.token, timeout=30.0)
            else:
                client = EngineClient.connect(self.home, start=True, safe_mode=self.safe_mode, started_by="window")
            catalogue = client.plugins()
            try:
                models = client.models()
            except EngineError:
                from studio.engine.protocol import ModelsReport

                models = ModelsReport()
        except Exception as exc:  # any failure becomes "failed: why" in the status bar
            self.failed.emit(str(exc) or type(exc).__name__)
            return
        self.connected.emit(client, catalogue, models)


class _EventPump(QThread):
    """Reads the engine's event stream until stopped or until the connection is lost."""

    opened = Signal()
    received = Signal(object)  # a typed event from studio.engine.protocol
    lost = Signal(str)

    def __init__(self, client: EngineClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        try:
            with self.client.events() as receive:
                self.opened.emit()
                while not self._stop.is_set():
                    event = receive(0.25)
                    if event is not None:
                        self.received.emit(event)
        except Exception as exc:  # websockets / OSError: the engine went away
            if not self._stop.is_set():
                self.lost.emit(str(exc) or type(exc).__name__)
            return
        if not self._stop.is_set():
            self.lost.emit("the engine closed the event stream")


class _RequestWorkers:
    """A few long-lived QThreads that run queued requests.

    Not QThreadPool.start(callable): PySide6 6.12 drops a reference to the callable's return
    value on every call (None's refcount falls until the interpreter aborts), so requests run
    on threads whose ``run`` is entered once each.
    """

    def __init__(self, count: int) -> None:
        self.queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.threads = [_RequestThread(self.queue) for _ in range(count)]
        for thread in self.threads:
            thread.start()

    def start(self, work: Callable[[], None]) -> None:
        self.queue.put(work)

    def stop(self, wait_ms: int) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.wait(wait_ms)


class _RequestThread(QThread):
    def __init__(self, jobs: queue.Queue[Callable[[], None] | None]) -> None:
        super().__init__()
        self.jobs = jobs

    def run(self) -> None:
        while True:
            work = self.jobs.get()
            if work is None:
                return
            work()
