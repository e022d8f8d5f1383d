"""Canvas geometry for img2img, inpaint and outpaint: sizes, masks and compositing.

Plain PIL/numpy. Diffusion models need sizes that are multiples of their latent scale, but
a canvas selection can be any size; images are resized to the nearest allowed size for
sampling and the result is brought back to exactly the size the user asked for, so it drops
back onto the canvas where it came from. Pixels outside the mask are the user's own pixels,
composited back through a softened mask edge, as A1111 and Krita do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter


def snap(value: int, multiple: int) -> int:
    """The nearest multiple of ``multiple`` (at least one multiple)."""
    return max(multiple, int(round(value / multiple)) * multiple)


def snap_up(value: int, multiple: int) -> int:
    return max(multiple, -(-value // multiple) * multiple)


def as_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent canvas pixels become mid grey rather than black: a neutral start.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def as_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """An 'L' mask at ``size``: white is repainted. A mask drawn on a transparent layer uses its alpha."""
    if mask.mode in ("RGBA", "LA"):
        alpha = mask.getchannel("A")
        if alpha.getextrema() != (255, 255):
            mask = alpha
    mask = mask.convert("L")
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    return mask


@dataclass
class OutpaintCanvas:
    image: Image.Image  # the extended canvas, new area pre-filled from the edges
    mask: Image.Image  # white where new content is painted (plus a thin overlap)
    final_size: tuple[int, int]  # exactly original + extensions
    crop_box: tuple[int, int, int, int]  # where the final area lies inside ``image``


def outpaint_canvas(image: Image.Image, *, left: int, right: int, top: int, bottom: int, multiple: int, overlap: int = 8) -> OutpaintCanvas:
    """Extend ``image`` by the given pixels; the canvas is rounded up to ``multiple``.

    The new area starts as the image's edge pixels stretched outwards (colour continuity for
    models that blend from the original), and the mask reaches ``overlap`` pixels into the
    original on each extended side so the seam is repainted too.
    """
    width, height = image.size
    final = (width + left + right, height + top + bottom)
    extra_w = snap_up(final[0], multiple) - final[0]
    extra_h = snap_up(final[1], multiple) - final[1]
    # Rounding pixels go on a side being extended (so they are masked and cropped off later).
    pad_left, pad_right = (left + extra_w, right) if left and not right else (left, right + extra_w)
    pad_top, pad_bottom = (top + extra_h, bottom) if top and not bottom else (top, bottom + extra_h)
    pixels = np.asarray(as_rgb(image))
    padded = np.pad(pixels, ((pad_top, pad_bottom), (pad_left, pad_right), (0, 0)), mode="edge")
    canvas = Image.fromarray(padded)
    # Soften the stretched streaks so the model does not read them as structure.
    blurred = canvas.filter(ImageFilter.GaussianBlur(radius=max(4, min(width, height) // 16)))
    mask = np.full((padded.shape[0], padded.shape[1]), 255, dtype=np.uint8)
    # The seam overlap only where the user extends: rounding pixels are cropped off again,
    # so the original's edge there stays untouched.
    inner_top = pad_top + (overlap if top else 0)
    inner_left = pad_left + (overlap if left else 0)
    inner_bottom = pad_top + height - (overlap if bottom else 0)
    inner_right = pad_left + width - (overlap if right else 0)
    mask[max(inner_top, 0) : max(inner_bottom, 0), max(inner_left, 0) : max(inner_right, 0)] = 0
    mask_image = Image.fromarray(mask, mode="L")
    canvas = Image.composite(blurred, canvas, mask_image)
    # Crop box of the final (exact) area inside the padded canvas.
    crop_left = pad_left - left
    crop_top = pad_top - top
    return OutpaintCanvas(canvas, mask_image, final, (crop_left, crop_top, crop_left + final[0], crop_top + final[1]))


def composite(original: Image.Image, generated: Image.Image, mask: Image.Image, blur: int) -> Image.Image:
    """``generated`` where the (softened) mask is white, ``original`` elsewhere."""
    if generated.size != original.size:
        generated = generated.resize(original.size, Image.Resampling.LANCZOS)
    soft = mask if mask.size == original.size else mask.resize(original.size, Image.Resampling.BILINEAR)
    if blur > 0:
        soft = soft.filter(ImageFilter.GaussianBlur(radius=blur))
    return Image.composite(generated.convert("RGB"), original.convert("RGB"), soft)
