"""Fixtures for the community-plugin tests (helpers live in community_helpers.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from community_helpers import EXAMPLE

from studio.core.paths import HomeLayout


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    HomeLayout(folder).ensure()
    return folder


@pytest.fixture(scope="session")
def example_archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example plugin packed as 1.0.0 (as shipped) and as an upgrade 1.1.0."""
    from studio.plugins.archive import pack_folder

    root = tmp_path_factory.mktemp("example-archives")
    v1, _ = pack_folder(EXAMPLE, out=root / "pixelsort-1.0.0.zip")
    newer = root / "pixelsort-1.1.0"
    shutil.copytree(EXAMPLE, newer, ignore=shutil.ignore_patterns("__pycache__"))
    toml = newer / "plugin.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('version = "1.0.0"', 'version = "1.1.0"'), encoding="utf-8")
    v2, _ = pack_folder(newer, out=root / "pixelsort-1.1.0.zip")
    return {"1.0.0": v1, "1.1.0": v2}


@pytest.fixture(scope="session")
def input_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import numpy as np
    from PIL import Image

    path = tmp_path_factory.mktemp("inputs") / "input.png"
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8), "RGB").save(path)
    return path
