"""Fan-out of job events from engine threads to WebSocket subscribers on the event loop."""

from __future__ import annotations

import asyncio
import threading

from pydantic import BaseModel

from studio.engine.protocol import EventType


class EventBus:
    """Thread-safe publish; each subscriber gets its own bounded asyncio queue.

    A subscriber that stops reading (a frozen window) loses its oldest preview events
    rather than growing the engine's memory without bound; state-changing events are never
    dropped in favour of previews.
    """

    MAX_PENDING = 1000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = []

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        with self._lock:
            self._subscribers.append((loop, queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        with self._lock:
            self._subscribers = [(loop, q) for loop, q in self._subscribers if q is not queue]

    def publish(self, event: BaseModel) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_offer, queue, event)
            except RuntimeError:  # loop closed: the subscriber is gone
                self.unsubscribe(queue)


def _offer(queue: asyncio.Queue, event: BaseModel) -> None:
    if queue.qsize() >= EventBus.MAX_PENDING and getattr(event, "type", None) in (EventType.PREVIEW, EventType.PROGRESS):
        return
    queue.put_nowait(event)
