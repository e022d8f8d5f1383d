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

import io
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

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
    holds it throughout, so a decoding thread stalled the GUI thread all the same."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as picture:
            picture.load()
            rgba = picture.convert("RGBA")
        raw = rgba.tobytes("raw", "RGBA")
    except Exception:
        return None
    # ``copy`` gives the QImage its own pixels (``raw`` is freed with this frame).
    return QImage(raw, rgba.width, rgba.height, rgba.width * 4, QImage.Format.Format_RGBA8888).copy()


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

    def _work(self, token: int, pictures: list[bytes]) -> None:
        results: list[Decoded | None] = []
        for data in pictures:
            try:
                results.append(decode_image(data))
            except Exception:  # a picture that cannot be decoded lands as raw bytes
                results.append(None)
        self._finished.emit(token, results)

    @Slot(int, object)
    def _deliver(self, token: int, results: list[Decoded | None]) -> None:
        done = self._waiting.pop(token, None)
        if done is not None:
            done(results)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
