"""Decoding results off the UI thread, so the window never stalls while an image lands.

Decoding a 1024² PNG takes ~40 ms and the layer and history thumbnails each decoded and
scaled it again: a 60 ms stall on landing (issue 13, defect 11; the goal is one 60 fps frame,
16 ms). ``QImage`` (unlike ``QPixmap``) may be made on any thread, so a worker thread decodes
the picture (with Pillow, which releases the GIL while decoding) and scales its thumbnails,
and the GUI thread only wraps them.

The result comes back through a queued signal to a slot of this object, which lives on the
GUI thread; the callback given to ``decode`` then runs there.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage

LAYER_ICON = 32
HISTORY_THUMB = 48


@dataclass
class Decoded:
    """A picture and its small versions, ready for the canvas, the layer list and History."""

    image: QImage
    icon: QImage  # the layer list's
    thumb: QImage  # the History's


def _pillow_image(data: bytes) -> QImage | None:
    """Decode with Pillow, which lets go of the GIL while it decodes; ``QImage.fromData``
    holds it throughout, so a decoding thread stalled the GUI thread all the same.

    The pixels come out premultiplied BGRA, which is the raster paint engine's own format
    (``Format_ARGB32_Premultiplied`` on a little-endian machine): ``QPixmap.fromImage`` on
    the GUI thread is then a copy, not a conversion of every pixel."""
    premultiplied = sys.byteorder == "little"
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as picture:
            picture.load()
            rgba = picture.convert("RGBA")
        raw = rgba.tobytes("raw", "BGRa" if premultiplied else "RGBA")
    except Exception:
        return None
    form = QImage.Format.Format_ARGB32_Premultiplied if premultiplied else QImage.Format.Format_RGBA8888
    # ``copy`` gives the QImage its own pixels (``raw`` is freed with this frame).
    return QImage(raw, rgba.width, rgba.height, rgba.width * 4, form).copy()


def decode_image(data: bytes) -> Decoded | None:
    """Any thread: the picture in ``data`` with its thumbnails, or None when it is no image."""
    image = _pillow_image(data)
    if image is None or image.isNull():
        image = QImage.fromData(data)
    if image.isNull():
        return None
    icon = image.scaled(LAYER_ICON, LAYER_ICON, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    thumb = image.scaled(HISTORY_THUMB, HISTORY_THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    return Decoded(image, icon, thumb)


class ImageDecoder(QObject):
    """One background thread that decodes pictures in the order they arrive."""

    _finished = Signal(int, object)  # token, list[Decoded | None]

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-decode")
        self._tokens = itertools.count(1)
        self._waiting: dict[int, Callable[[list[Decoded | None]], None]] = {}
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def decode(self, pictures: list[bytes], done: Callable[[list[Decoded | None]], None]) -> None:
        """Decode ``pictures`` in the background; ``done`` gets them, in order, on the GUI thread."""
        token = next(self._tokens)
        self._waiting[token] = done
        self._pool.submit(self._work, token, list(pictures))

    def decode_then(self, pictures: list[bytes], then: Callable[[], Any], done: Callable[[list[Decoded | None], bool, Any], None]) -> None:
        """Decode ``pictures``, then run ``then()``, both on the worker thread (a landing stores its
        bytes there: hashing and writing a 1024² PNG held the UI thread for milliseconds);
        ``done(decoded, ok, then's result or exception)`` follows on the GUI thread."""
        token = next(self._tokens)
        self._waiting[token] = lambda boxed: done(*boxed)
        self._pool.submit(self._work, token, list(pictures), then)

    def _work(self, token: int, pictures: list[bytes], then: Callable[[], Any] | None = None) -> None:
        results: list[Decoded | None] = []
        for data in pictures:
            try:
                results.append(decode_image(data))
            except Exception:  # a picture that cannot be decoded lands as raw bytes
                results.append(None)
        if then is None:
            self._finished.emit(token, results)
            return
        try:
            outcome: tuple[bool, Any] = (True, then())
        except Exception as exc:  # handed to ``done``, which says what went wrong
            outcome = (False, exc)
        self._finished.emit(token, (results, *outcome))

    @Slot(int, object)
    def _deliver(self, token: int, results: Any) -> None:
        done = self._waiting.pop(token, None)
        if done is not None:
            done(results)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def decode_preview(data: str | bytes) -> QImage | None:
    """Any thread: a preview frame (base64 text from the event stream, or raw bytes)."""
    try:
        raw = base64.b64decode(data, validate=False) if isinstance(data, str) else data
    except (binascii.Error, ValueError):
        return None
    image = _pillow_image(raw)
    if image is None or image.isNull():
        image = QImage.fromData(raw)
    return None if image.isNull() else image


class PreviewDecoder(QObject):
    """Decodes a running job's preview frames off the GUI thread, newest first.

    Previews stream in faster than a slow machine decodes and shows them; each used to be
    decoded on the GUI thread as it arrived. Here a worker thread decodes one frame per job
    at a time; a frame that arrives meanwhile waits, and a newer one replaces it (the older
    is dropped: only the latest picture is worth showing). ``forget`` drops a finished
    job's frames, so a late one never reappears over the result that has landed.
    """

    decoded = Signal(str, QImage)  # ticket, the newest frame

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-preview")
        self._busy: set[str] = set()  # tickets with a frame being decoded
        self._pending: dict[str, str | bytes] = {}  # ticket -> the newest frame not yet started
        self._forgotten: set[str] = set()
        self.dropped = 0  # frames replaced by a newer one before they were decoded
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    _finished = Signal(str, object)  # ticket, (QImage | None,)

    def submit(self, ticket: str, data: str | bytes) -> None:
        """A new frame for ``ticket``: decoded now if the worker is free for it, else kept as the next."""
        self._forgotten.discard(ticket)
        if ticket in self._busy:
            if ticket in self._pending:
                self.dropped += 1
            self._pending[ticket] = data
            return
        self._start(ticket, data)

    def _start(self, ticket: str, data: str | bytes) -> None:
        self._busy.add(ticket)
        self._pool.submit(self._work, ticket, data)

    def _work(self, ticket: str, data: str | bytes) -> None:
        try:
            image = decode_preview(data)
        except Exception:  # a broken frame is skipped; the next one shows
            image = None
        self._finished.emit(ticket, (image,))

    @Slot(str, object)
    def _deliver(self, ticket: str, boxed: object) -> None:
        self._busy.discard(ticket)
        image = boxed[0]  # type: ignore[index]
        waiting = self._pending.pop(ticket, None)
        if ticket in self._forgotten:
            return
        if waiting is not None:
            self._start(ticket, waiting)
        if image is not None:
            self.decoded.emit(ticket, image)

    def forget(self, ticket: str) -> None:
        """The job is over: its waiting frame is dropped and one being decoded is not shown."""
        self._pending.pop(ticket, None)
        if ticket in self._busy:
            self._forgotten.add(ticket)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
