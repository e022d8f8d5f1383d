"""Tests for the plugin, run with the studio's kit: `python -m pytest tests`."""

import pytest

from studio.plugins.testing import check_manifest


def test_manifest_passes_the_installers_checks(plugin_folder):
    manifest = check_manifest(plugin_folder)
    assert manifest.generators


def test_generates_an_image_of_the_requested_size(studio_plugin):
    result = studio_plugin.generate(width=64, height=48, seed=1)
    assert result.image().size == (64, 48)
    assert result.progress()[-1] == (8.0, 8.0)


def test_same_seed_gives_the_same_image(studio_plugin):
    first = studio_plugin.generate(width=32, height=32, seed=7)
    again = studio_plugin.generate(width=32, height=32, seed=7)
    other = studio_plugin.generate(width=32, height=32, seed=8)
    assert first.data() == again.data()
    assert first.data() != other.data()


def test_rejects_an_unknown_colour_pair(studio_plugin):
    with pytest.raises(ValueError, match="colours"):
        studio_plugin.generate(colours="plaid")
