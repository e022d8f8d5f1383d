"""Colour ramps for single-channel patterns, as (position, RGB) stops."""

from __future__ import annotations

import numpy as np

Stops = list[tuple[float, tuple[int, int, int]]]

PALETTES: dict[str, Stops] = {
    # "vivid" is drawn by the network itself (three outputs); this ramp is its fallback.
    "vivid": [(0.0, (20, 10, 60)), (0.5, (230, 60, 120)), (1.0, (255, 230, 90))],
    "pastel": [(0.0, (250, 220, 230)), (0.35, (200, 225, 250)), (0.7, (210, 245, 215)), (1.0, (255, 245, 200))],
    "sunset": [(0.0, (25, 10, 50)), (0.3, (120, 30, 90)), (0.6, (240, 90, 60)), (0.85, (250, 180, 80)), (1.0, (255, 240, 190))],
    "ocean": [(0.0, (2, 12, 40)), (0.4, (10, 70, 130)), (0.75, (40, 170, 190)), (1.0, (220, 250, 245))],
    "forest": [(0.0, (12, 25, 12)), (0.4, (40, 90, 40)), (0.75, (140, 160, 70)), (1.0, (235, 225, 170))],
    "neon": [(0.0, (5, 0, 20)), (0.3, (80, 0, 160)), (0.55, (0, 220, 255)), (0.8, (255, 0, 170)), (1.0, (255, 255, 255))],
    "ink": [(0.0, (15, 15, 25)), (0.5, (40, 45, 80)), (0.8, (180, 170, 150)), (1.0, (245, 238, 220))],
    "grayscale": [(0.0, (0, 0, 0)), (1.0, (255, 255, 255))],
}


def apply_palette(values: np.ndarray, stops: Stops) -> np.ndarray:
    """Map values in [0, 1] through the ramp: an (…, 3) uint8 array."""
    positions = np.array([stop[0] for stop in stops], dtype=np.float32)
    colours = np.array([stop[1] for stop in stops], dtype=np.float32)
    flat = np.clip(values.ravel(), 0.0, 1.0)
    channels = [np.interp(flat, positions, colours[:, c]) for c in range(3)]
    rgb = np.stack(channels, axis=-1).reshape(values.shape + (3,))
    return (rgb + 0.5).astype(np.uint8)
