"""Pixel sorting: within each row (or column), sort the runs of pixels whose key lies
between two thresholds; pixels outside the thresholds stay put and break the runs."""

from __future__ import annotations

import numpy as np
from PIL import Image

from studio.core.errors import ParamError
from studio.plugins.api import Context, Generator, ImageOutput, Request

BANDS = 16


def pixel_keys(rgb: np.ndarray, key: str) -> np.ndarray:
    """A value in [0, 1] per pixel of an (h, w, 3) uint8 array."""
    values = rgb.astype(np.float32) / 255.0
    r, g, b = values[..., 0], values[..., 1], values[..., 2]
    if key == "brightness":
        return 0.299 * r + 0.587 * g + 0.114 * b
    if key in ("red", "green", "blue"):
        return {"red": r, "green": g, "blue": b}[key]
    high = values.max(axis=-1)
    low = values.min(axis=-1)
    chroma = high - low
    if key == "saturation":
        return np.where(high > 0, chroma / np.maximum(high, 1e-6), 0.0)
    # hue, in turns
    safe = np.maximum(chroma, 1e-6)
    hue = np.where(high == r, ((g - b) / safe) % 6, np.where(high == g, (b - r) / safe + 2, (r - g) / safe + 4))
    return np.where(chroma > 0, hue / 6.0, 0.0)


def sort_line(pixels: np.ndarray, keys: np.ndarray, low: float, high: float, reverse: bool) -> np.ndarray:
    """Sort each run of in-threshold pixels of one line (pixels: (n, c), keys: (n,))."""
    inside = (keys >= low) & (keys <= high)
    out = pixels.copy()
    # Run boundaries: where `inside` switches on or off.
    edges = np.flatnonzero(np.diff(np.concatenate(([0], inside.astype(np.int8), [0]))))
    for start, stop in zip(edges[::2], edges[1::2]):
        order = np.argsort(keys[start:stop], kind="stable")
        if reverse:
            order = order[::-1]
        out[start:stop] = pixels[start:stop][order]
    return out


def pixel_sort(
    image: Image.Image, *, key: str, low: float, high: float, reverse: bool, vertical: bool, ctx: Context | None = None
) -> Image.Image:
    has_alpha = "A" in image.getbands()
    array = np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
    if vertical:
        array = array.transpose(1, 0, 2)
    keys = pixel_keys(array[..., :3], key)
    result = np.empty_like(array)
    bands = np.array_split(np.arange(array.shape[0]), min(BANDS, array.shape[0]))
    for index, rows in enumerate(bands):
        if ctx is not None:
            ctx.check_cancelled()
        for row in rows:
            result[row] = sort_line(array[row], keys[row], low, high, reverse)
        if ctx is not None:
            ctx.progress(index + 1, len(bands))
    if vertical:
        result = result.transpose(1, 0, 2)
    return Image.fromarray(np.ascontiguousarray(result), "RGBA" if has_alpha else "RGB")


class PixelSort(Generator):
    def generate(self, request: Request, ctx: Context) -> list[ImageOutput]:
        p = request.params
        if not p.get("image"):
            raise ParamError("image: choose an image to sort")
        low, high = float(p["low"]), float(p["high"])
        if low > high:
            raise ParamError(f"low ({low}) must not be above high ({high})")
        source = ctx.input_image(p["image"])
        image = pixel_sort(
            source, key=p["key"], low=low, high=high, reverse=bool(p["reverse"]), vertical=p["direction"] == "vertical", ctx=ctx
        )
        return [ImageOutput(image=image, parameters={"Sort": f"{p['direction']} by {p['key']}", "Thresholds": f"{low:.2f}-{high:.2f}"})]
