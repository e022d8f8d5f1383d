"""The generator named by plugin.toml's ``entry``.

Import only ``studio.plugins.api`` and ``studio.core`` from the studio, plus third-party
libraries. Work in steps and call ``ctx.check_cancelled()`` between them so that a cancel
is answered at once; report ``ctx.progress``; draw randomness from ``ctx.rng`` (seeded from
the job's seed) so the same seed always gives the same output.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from studio.plugins.api import Context, Generator, ImageOutput, Request

PALETTES = {
    "dusk": ((38, 28, 84), (244, 140, 96)),
    "sea": ((6, 48, 74), (120, 214, 200)),
    "ember": ((40, 6, 6), (255, 176, 40)),
    "mono": ((12, 12, 12), (236, 236, 236)),
}
BANDS = 8


class MyGenerator(Generator):
    def generate(self, request: Request, ctx: Context) -> list[ImageOutput]:
        p = request.params
        width, height = int(p["width"]), int(p["height"])
        start, end = (np.array(c, dtype=np.float32) for c in PALETTES[p["colours"]])
        angle = math.radians(float(p["angle"]))
        grain = float(p["grain"])

        xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)
        image = np.empty((height, width, 3), dtype=np.uint8)
        rows = np.array_split(np.arange(height), BANDS)
        for index, band in enumerate(rows):
            ctx.check_cancelled()
            ys = (band.astype(np.float32) / max(height - 1, 1) - 0.5)[:, None]
            t = np.clip(xs[None, :] * math.cos(angle) + ys * math.sin(angle) + 0.5, 0.0, 1.0)
            colour = start + (end - start) * t[..., None]
            colour += ctx.rng.normal(0.0, 255.0 * grain, size=colour.shape).astype(np.float32)
            image[band] = np.clip(colour, 0, 255).astype(np.uint8)
            ctx.progress(index + 1, BANDS)
        return [ImageOutput(image=Image.fromarray(image, "RGB"), parameters={"Colours": p["colours"], "Angle": p["angle"]})]
