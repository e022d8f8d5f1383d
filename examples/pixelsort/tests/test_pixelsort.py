"""The example plugin's own tests, run with the studio's plugin kit."""

import numpy as np
import pytest
from PIL import Image
from pixelsort.palette import PALETTES

from studio.core.errors import ParamError
from studio.plugins.testing import check_manifest


def gradient_row(values):
    """A 1-pixel-high image whose pixels are the given grey levels."""
    array = np.array([[[v, v, v] for v in values]], dtype=np.uint8)
    return Image.fromarray(array, "RGB")


def greys(image):
    return [int(v) for v in np.asarray(image.convert("L"))[0]]


def test_manifest_passes_the_installers_checks(plugin_folder):
    manifest = check_manifest(plugin_folder)
    assert [g.id for g in manifest.generators] == ["examples.pixelsort", "examples.palette"]
    assert manifest.plugin.permissions == ()


def test_sorts_runs_inside_the_thresholds_and_leaves_the_rest(studio_plugin):
    # 10 and 250 are outside [0.25, 0.8] and split the row into two runs.
    image = gradient_row([200, 120, 100, 10, 180, 90, 150, 250, 60])
    result = studio_plugin.generate("examples.pixelsort", image=studio_plugin.upload(image), low=0.25, high=0.8, seed=1)
    assert greys(result.image()) == [100, 120, 200, 10, 90, 150, 180, 250, 60]


def test_reverse_sorts_bright_to_dark(studio_plugin):
    image = gradient_row([100, 200, 150])
    result = studio_plugin.generate("examples.pixelsort", image=studio_plugin.upload(image), low=0.0, high=1.0, reverse=True)
    assert greys(result.image()) == [200, 150, 100]


def test_vertical_sorts_columns(studio_plugin):
    column = np.array([[[200] * 3], [[50] * 3], [[120] * 3]], dtype=np.uint8)
    image = Image.fromarray(np.repeat(column, 2, axis=1), "RGB")
    result = studio_plugin.generate("examples.pixelsort", image=studio_plugin.upload(image), direction="vertical", low=0.0, high=1.0)
    out = np.asarray(result.image().convert("L"))
    assert out[:, 0].tolist() == [50, 120, 200]
    assert out.shape == (3, 2)


def test_pixel_sort_keeps_every_pixel(studio_plugin):
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8), "RGB")
    result = studio_plugin.generate("examples.pixelsort", image=studio_plugin.upload(image), key="hue")
    before = np.asarray(image).reshape(-1, 3)
    after = np.asarray(result.image()).reshape(-1, 3)
    assert sorted(map(tuple, before)) == sorted(map(tuple, after))
    assert result.record["plugin"] == "examples.pixelsort"


def test_palette_uses_only_the_palettes_colours(studio_plugin):
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8), "RGB")
    result = studio_plugin.generate("examples.palette", image=studio_plugin.upload(image), palette="game-boy", dither=False)
    used = {tuple(c) for c in np.asarray(result.image()).reshape(-1, 3)}
    assert used <= set(PALETTES["game-boy"])


def test_chunky_pixels_are_square_blocks(studio_plugin):
    rng = np.random.default_rng(2)
    image = Image.fromarray(rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8), "RGB")
    result = studio_plugin.generate("examples.palette", image=studio_plugin.upload(image), palette="adaptive", colours=4, pixel_size=8)
    out = np.asarray(result.image())
    assert out.shape == (32, 32, 3)
    block = out[8:16, 16:24].reshape(-1, 3)
    assert (block == block[0]).all()
    assert len({tuple(c) for c in out.reshape(-1, 3)}) <= 4


def test_asks_for_an_image_when_none_is_given(studio_plugin):
    with pytest.raises(ParamError, match="image"):
        studio_plugin.generate("examples.pixelsort")
