"""Compositional pattern-producing networks (CPPNs): images from random MLPs over coordinates.

Each pixel's (x, y, r) plus a latent vector z goes through a small random network whose
weights come from the seed; the output is the pixel's colour. The same seed always gives
the same network, and z moves smoothly between the seed's latent and the variation seed's,
so "variation strength" explores close relatives of an image the user liked.

numpy only: a new user sees an image in well under a second without torch or weights.
Rows are rendered in bands so progress is real and a cancel takes effect between bands.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from studio.plugins.api import Context, Generator, ImageOutput, Request
from studio_patterns.palettes import PALETTES, apply_palette

LATENT_SIZE = 8
# The latent enters the first layer more weakly than the coordinates: the seed picks the
# network (the "family"), the latent moves within it, so a small variation strength gives
# a close relative instead of the chaotic jump a deep sine network would otherwise make.
LATENT_GAIN = 0.15
BAND_PIXELS = 65536  # pixels per band: ~16 progress steps for a 1024x1024 image

_ACTIVATIONS = {
    "tanh": np.tanh,
    "sin": lambda v: np.sin(v * 1.7),
    "gauss": lambda v: np.exp(-(v * v)),
    "abs": lambda v: np.abs(v) * 1.2 - 0.6,
    "softsign": lambda v: v / (1.0 + np.abs(v)),
}

_STYLES = {
    "mixed": ("sin", "tanh", "gauss", "sin", "softsign"),
    "smooth": ("tanh", "softsign"),
    "waves": ("sin", "tanh"),
    "rings": ("gauss", "sin"),
    "marble": ("sin", "abs", "tanh"),
}


class PatternsGenerator(Generator):
    def generate(self, request: Request, ctx: Context) -> list[ImageOutput]:
        p = request.params
        width, height = int(p["width"]), int(p["height"])
        network = build_network(
            request.seed, depth=int(p["depth"]), neurons=int(p["neurons"]), style=str(p["style"]), colour=p["palette"] == "vivid"
        )
        latent = blend_latents(request.seed, int(p["variation_seed"]), float(p["variation"]))

        zoom = float(p["zoom"])
        # A small probe render fixes the contrast stretch for the whole image, so bands
        # rendered separately still agree with each other.
        low, high = value_range(network, latent, width, height, zoom)

        rows_per_band = max(1, BAND_PIXELS // width)
        bands = range(0, height, rows_per_band)
        total = len(bands)
        image = np.empty((height, width, 3), dtype=np.uint8)
        for index, top in enumerate(bands):
            ctx.check_cancelled()
            bottom = min(height, top + rows_per_band)
            values = render_rows(network, latent, width, height, top, bottom, zoom=zoom)
            image[top:bottom] = to_rgb(normalise(values, low, high), str(p["palette"]))
            ctx.progress(index + 1, total, f"rows {bottom}/{height}")
            if index % 4 == 3 and index + 1 < total:
                ctx.preview(image[:bottom])

        picture = Image.fromarray(image, "RGB")
        fields = {
            "Palette": p["palette"],
            "Style": p["style"],
            "Depth": p["depth"],
            "Neurons": p["neurons"],
            "Zoom": p["zoom"],
        }
        if float(p["variation"]) > 0:
            fields["Variation seed"] = p["variation_seed"]
            fields["Variation strength"] = p["variation"]
        return [ImageOutput(picture, prompt="", parameters=fields)]


class Network:
    """Weights and activation choices of one CPPN."""

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray], activations: list[str]) -> None:
        self.weights = weights
        self.biases = biases
        self.activations = activations


def build_network(seed: int, *, depth: int, neurons: int, style: str, colour: bool) -> Network:
    rng = np.random.default_rng([seed, 0x5EED])
    names = _STYLES.get(style, _STYLES["mixed"])
    inputs = 3 + LATENT_SIZE
    outputs = 3 if colour else 1
    sizes = [inputs] + [neurons] * depth + [outputs]
    weights, biases, activations = [], [], []
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        # A gain above 1 keeps activations from washing out, which is what makes the
        # patterns fold rather than fade to a flat gradient.
        gain = 2.2 if layer == 0 else 1.6
        weight = rng.standard_normal((fan_in, fan_out)) * gain / np.sqrt(fan_in)
        if layer == 0:
            weight[3:] *= LATENT_GAIN
        weights.append(weight.astype(np.float32))
        biases.append((rng.standard_normal(fan_out) * 0.3).astype(np.float32))
        activations.append(names[int(rng.integers(len(names)))])
    return Network(weights, biases, activations)


def seed_latent(seed: int) -> np.ndarray:
    return np.random.default_rng([seed, 0x1A7E]).standard_normal(LATENT_SIZE)


def blend_latents(seed: int, variation_seed: int, strength: float) -> np.ndarray:
    """Spherical interpolation keeps the blended latent's norm typical of a fresh one."""
    a, b = seed_latent(seed), seed_latent(variation_seed)
    if strength <= 0:
        return a.astype(np.float32)
    cos = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return a.astype(np.float32)
    mix = (np.sin((1 - strength) * omega) * a + np.sin(strength * omega) * b) / np.sin(omega)
    return mix.astype(np.float32)


def render_rows(network: Network, latent: np.ndarray, width: int, height: int, top: int, bottom: int, *, zoom: float) -> np.ndarray:
    """Network output in [0, 1] for rows [top, bottom), shaped (rows, width, channels)."""
    aspect = width / height
    scale = 2.0 * zoom
    xs = (np.arange(width, dtype=np.float32) / max(1, width - 1) - 0.5) * scale * max(1.0, aspect)
    ys = (np.arange(top, bottom, dtype=np.float32) / max(1, height - 1) - 0.5) * scale * max(1.0, 1.0 / aspect)
    grid_x, grid_y = np.meshgrid(xs, ys)
    radius = np.sqrt(grid_x * grid_x + grid_y * grid_y)
    count = grid_x.size
    features = np.empty((count, 3 + LATENT_SIZE), dtype=np.float32)
    features[:, 0] = grid_x.ravel()
    features[:, 1] = grid_y.ravel()
    features[:, 2] = radius.ravel()
    features[:, 3:] = latent
    hidden = features
    last = len(network.weights) - 1
    for layer, (weight, bias, name) in enumerate(zip(network.weights, network.biases, network.activations)):
        # einsum, not @: BLAS splits a matmul by thread count, so the same seed gave different
        # bytes on machines (or Ray actors, or OMP_NUM_THREADS settings) with other core counts.
        hidden = np.einsum("ij,jk->ik", hidden, weight) + bias
        if layer < last:
            hidden = _ACTIVATIONS[name](hidden).astype(np.float32, copy=False)
    out = 1.0 / (1.0 + np.exp(-hidden * 1.5))
    return out.reshape(bottom - top, width, -1)


def value_range(network: Network, latent: np.ndarray, width: int, height: int, zoom: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel 1st and 99th percentiles of the output, from a 64-pixel-wide probe."""
    probe_w = 64
    probe_h = max(1, round(64 * height / width))
    # Same coordinate frame as the full render: render_rows scales by the aspect ratio only.
    values = render_rows(network, latent, probe_w, probe_h, 0, probe_h, zoom=zoom)
    flat = values.reshape(-1, values.shape[-1])
    return np.percentile(flat, 1, axis=0), np.percentile(flat, 99, axis=0)


def normalise(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Stretch to use the full range, but never amplify a near-flat channel into noise."""
    span = np.maximum(high - low, 0.15)
    centre = (high + low) / 2
    return np.clip((values - centre) / span + 0.5, 0.0, 1.0)


def to_rgb(values: np.ndarray, palette: str) -> np.ndarray:
    if values.shape[-1] == 3:
        return (values * 255.0 + 0.5).astype(np.uint8)
    return apply_palette(values[..., 0], PALETTES[palette])
