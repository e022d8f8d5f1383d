"""Helpers shared by the diffusion tests (a uniquely named module: several test folders have a conftest)."""

from __future__ import annotations

import threading
from pathlib import Path

from tiny_sd import SIZE

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "plugins"

__all__ = ["PLUGINS", "REPO", "SIZE", "Events", "base_params", "png_image", "store_png"]


class Events:
    def __init__(self) -> None:
        self.items: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, event: dict) -> None:
        with self.lock:
            self.items.append(event)

    def of(self, kind: str) -> list[dict]:
        return [event for event in self.items if event["type"] == kind]


def base_params(model: Path, **extra) -> dict:
    params = {"model": str(model), "prompt": "a red cat", "steps": 3, "width": SIZE, "height": SIZE, "scheduler": "Euler"}
    params.update(extra)
    return params


def png_image(artifact):
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(artifact.data))
    image.load()
    return image


def store_png(runner, image) -> str:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return runner.store_input(buffer.getvalue(), "image", "image/png")
