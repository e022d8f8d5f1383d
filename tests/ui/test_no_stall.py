"""Landing a big image does its decoding off the UI thread (issue 13, defect 11)."""

from __future__ import annotations

import io
import threading
from typing import Any

import numpy as np
from PIL import Image

from studio.ui import image_decode
from studio.ui.image_decode import decode_image
from tests.ui.conftest import wait_for
from tests.ui.fake_engine import attach_fake_engine, finish_job, first_party_catalogue


def _noise_png(size: int = 512) -> bytes:
    pixels = (np.random.default_rng(1).random((size, size, 3)) * 255).astype("uint8")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_decode_gives_the_picture_and_its_thumbnails() -> None:
    decoded = decode_image(_noise_png(64))
    assert decoded is not None and (decoded.image.width(), decoded.image.height()) == (64, 64)
    assert max(decoded.icon.width(), decoded.icon.height()) == image_decode.LAYER_ICON
    assert max(decoded.thumb.width(), decoded.thumb.height()) == image_decode.HISTORY_THUMB
    assert decode_image(b"not an image") is None


def test_a_landing_image_is_decoded_on_a_worker_thread_not_the_ui_thread(make_window: Any, qtbot: Any, monkeypatch: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window, first_party_catalogue("patterns"))
    threads: list[str] = []
    real = image_decode.decode_image

    def spy(data: bytes) -> Any:
        threads.append(threading.current_thread().name)
        return real(data)

    monkeypatch.setattr(image_decode, "decode_image", spy)
    window.generate_panel.select_generator("studio.patterns")
    jobs = window.generate()
    wait_for(qtbot, lambda: bool(jobs[0].job_id), 10000)
    png = _noise_png()
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        finish_job(window, client, client.jobs[-1].id, [("image", "image/png", png, {})])
    node = landed.args[0]
    assert threads and all(name.startswith("studio-decode") for name in threads)
    layer = next(item for item in window.canvas.layers.values() if item.node == node.id)
    assert (layer.image.width(), layer.image.height()) == (512, 512)
    assert layer.image.pixelColor(10, 10) == _pixel(png, 10, 10)
    # History's thumbnail came from the worker too: it is cached, not decoded again.
    assert node.outputs[0] in window.history_panel.thumbs.cache


def _pixel(png: bytes, x: int, y: int) -> Any:
    from PySide6.QtGui import QColor

    r, g, b = Image.open(io.BytesIO(png)).convert("RGB").getpixel((x, y))
    return QColor(r, g, b)
