"""Palette quantising: redraw an image with a handful of colours, optionally dithered and
in chunky square pixels."""

from __future__ import annotations

from PIL import Image

from studio.core.errors import ParamError
from studio.plugins.api import Context, Generator, ImageOutput, Request

PALETTES: dict[str, list[tuple[int, int, int]]] = {
    "pico-8": [
        (0, 0, 0),
        (29, 43, 83),
        (126, 37, 83),
        (0, 135, 81),
        (171, 82, 54),
        (95, 87, 79),
        (194, 195, 199),
        (255, 241, 232),
        (255, 0, 77),
        (255, 163, 0),
        (255, 236, 39),
        (0, 228, 54),
        (41, 173, 255),
        (131, 118, 156),
        (255, 119, 168),
        (255, 204, 170),
    ],
    "game-boy": [(15, 56, 15), (48, 98, 48), (139, 172, 15), (155, 188, 15)],
    "cga": [(0, 0, 0), (85, 255, 255), (255, 85, 255), (255, 255, 255)],
    "sepia": [(38, 25, 16), (92, 64, 43), (150, 112, 80), (203, 170, 132), (244, 229, 203)],
}


def palette_image(colours: list[tuple[int, int, int]]) -> Image.Image:
    flat = [channel for colour in colours for channel in colour]
    flat += flat[-3:] * (256 - len(colours))  # pad with the last colour: never picked twice
    holder = Image.new("P", (1, 1))
    holder.putpalette(flat)
    return holder


def quantise(image: Image.Image, *, palette: str, colours: int, dither: bool, pixel_size: int) -> Image.Image:
    rgb = image.convert("RGB")
    width, height = rgb.size
    if pixel_size > 1:
        small = (max(1, width // pixel_size), max(1, height // pixel_size))
        rgb = rgb.resize(small, Image.Resampling.BOX)
    mode = Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE
    if palette == "adaptive":
        out = rgb.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=mode)
    else:
        out = rgb.quantize(palette=palette_image(PALETTES[palette]), dither=mode)
    out = out.convert("RGB")
    if pixel_size > 1:
        out = out.resize((width, height), Image.Resampling.NEAREST)
    return out


class PaletteQuantise(Generator):
    def generate(self, request: Request, ctx: Context) -> list[ImageOutput]:
        p = request.params
        if not p.get("image"):
            raise ParamError("image: choose an image to redraw")
        source = ctx.input_image(p["image"])
        ctx.progress(0, 1)
        image = quantise(source, palette=p["palette"], colours=int(p["colours"]), dither=bool(p["dither"]), pixel_size=int(p["pixel_size"]))
        ctx.progress(1, 1)
        return [
            ImageOutput(
                image=image, parameters={"Palette": p["palette"], "Dither": "on" if p["dither"] else "off", "Pixel size": p["pixel_size"]}
            )
        ]
