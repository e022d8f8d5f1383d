"""The melody model's and the phrase VAE's config files are checked by one helper, so a
foreign or outdated file is refused the same way, with the file named, by both loaders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from studio_melody import tokens as tk
from studio_melody.config import CONFIG_NAME, MODEL_FORMAT, WEIGHTS_NAME, ModelConfig, read_model_config
from studio_melody.phrase_vae import VAE_CONFIG, VAE_FORMAT, VAE_WEIGHTS, VAEConfig, load_phrase_vae


def _folder(tmp_path: Path, name: str, weights: str, config: str, data: object) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / weights).write_bytes(b"")
    (folder / config).write_text(json.dumps(data), encoding="utf-8")
    return folder


def _read_lstm(folder: Path) -> None:
    read_model_config(folder)


LOADERS = {
    "lstm": (WEIGHTS_NAME, CONFIG_NAME, MODEL_FORMAT, ModelConfig, _read_lstm),
    "phrase_vae": (VAE_WEIGHTS, VAE_CONFIG, VAE_FORMAT, VAEConfig, load_phrase_vae),
}


@pytest.mark.parametrize("which", sorted(LOADERS))
def test_a_config_of_another_format_is_refused_naming_the_file(tmp_path, which):
    weights, config, _format, _cls, load = LOADERS[which]
    folder = _folder(tmp_path, which, weights, config, {"format": "something-else"})
    with pytest.raises(ValueError, match=rf"{config}: format is 'something-else', expected"):
        load(folder)


@pytest.mark.parametrize("which", sorted(LOADERS))
def test_a_config_for_another_token_scheme_is_refused(tmp_path, which):
    weights, config, fmt, cls, load = LOADERS[which]
    data = cls(tokens_version=tk.TOKENS_VERSION + 1).to_json()
    assert data["format"] == fmt
    folder = _folder(tmp_path, which, weights, config, data)
    with pytest.raises(ValueError, match=rf"made for token scheme v{tk.TOKENS_VERSION + 1}; this plugin reads v{tk.TOKENS_VERSION}"):
        load(folder)


@pytest.mark.parametrize("which", sorted(LOADERS))
def test_an_unreadable_or_non_object_config_is_refused(tmp_path, which):
    weights, config, _format, _cls, load = LOADERS[which]
    folder = _folder(tmp_path, which, weights, config, [1, 2])
    with pytest.raises(ValueError, match=rf"{config}: format is 'list'"):
        load(folder)
    (folder / config).write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{config}: unreadable"):
        load(folder)
