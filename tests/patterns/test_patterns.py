"""studio.patterns through the engine's real in-process path (plugin host, context, PNG encoding)."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

from studio.core.errors import Cancelled
from studio.core.png_metadata import read_png_metadata
from studio.engine.config import EngineConfig
from studio.engine.runner import LocalRunner


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return LocalRunner(EngineConfig(home=tmp_path_factory.mktemp("patterns"), device="cpu"))


def pixels(artifact) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(artifact.data)).convert("RGB"), dtype=np.float32)


def test_default_output_is_a_512_square_png_with_its_parameters(runner):
    result = runner.run("studio.patterns", {}, seed=7)
    (artifact,) = result.artifacts
    assert artifact.mime == "image/png"
    assert Image.open(io.BytesIO(artifact.data)).size == (512, 512)
    meta = read_png_metadata(artifact.data)
    assert meta["parameters"]["Seed"] == 7 and meta["parameters"]["Size"] == "512x512"
    assert meta["studio"]["params"]["palette"] == "vivid" and meta["ai_generated"]


def test_same_seed_and_params_give_identical_bytes(runner):
    params = {"width": 96, "height": 64, "palette": "sunset", "style": "waves"}
    first = runner.run("studio.patterns", params, seed=3).artifacts[0]
    second = runner.run("studio.patterns", params, seed=3).artifacts[0]
    other = runner.run("studio.patterns", params, seed=4).artifacts[0]
    assert first.data == second.data
    assert first.data != other.data


@pytest.mark.parametrize("style", ["mixed", "waves", "smooth"])
def test_a_small_variation_stays_close_to_the_original(runner, style):
    """Compared on 8x8 block means: related images share their large-scale layout."""

    def layout(image: np.ndarray) -> np.ndarray:
        return image.reshape(8, 8, 8, 8, 3).mean(axis=(1, 3))

    base = {"width": 64, "height": 64, "style": style, "variation_seed": 99}
    original = layout(pixels(runner.run("studio.patterns", base, seed=10).artifacts[0]))
    near = layout(pixels(runner.run("studio.patterns", dict(base, variation=0.1), seed=10).artifacts[0]))
    far = layout(pixels(runner.run("studio.patterns", base, seed=11).artifacts[0]))
    near_distance = np.abs(original - near).mean()
    far_distance = np.abs(original - far).mean()
    assert 0 < near_distance < far_distance / 2


@pytest.mark.parametrize("palette", ["vivid", "pastel", "sunset", "ocean", "forest", "neon", "ink", "grayscale"])
def test_every_palette_renders_a_non_flat_image(runner, palette):
    image = pixels(runner.run("studio.patterns", {"width": 48, "height": 48, "palette": palette}, seed=1).artifacts[0])
    assert image.std() > 5


def test_progress_is_reported_per_band_and_ends_complete(runner):
    events = []
    runner.run("studio.patterns", {"width": 512, "height": 512}, seed=2, on_event=events.append)
    progress = [event for event in events if event["type"] == "progress"]
    assert progress[-1]["done"] == progress[-1]["total"] == 4
    assert [event["done"] for event in progress] == sorted(event["done"] for event in progress)


def test_cancel_is_honoured_between_bands(runner):
    cancel = threading.Event()
    seen = []

    def on_event(event):
        if event["type"] == "progress":
            seen.append(event["done"])
            cancel.set()

    with pytest.raises(Cancelled):
        runner.run("studio.patterns", {"width": 1024, "height": 1024}, seed=2, on_event=on_event, cancel=cancel)
    assert seen == [1]
