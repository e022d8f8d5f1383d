"""Model folder names and the model configuration (no torch: the plugin reads these
without importing it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import tokens as tk

MODEL_FORMAT = "studio-melody-lstm"
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


@dataclass
class ModelConfig:
    embed: int = 128
    pos_embed: int = 32
    hidden: int = 384
    layers: int = 2
    dropout: float = 0.2
    vocab_size: int = tk.VOCAB_SIZE
    positions: int = tk.POSITIONS
    tokens_version: int = tk.TOKENS_VERSION
    #: durations (ticks) seen in training; decoding keeps to these when it can
    durations: list[int] = field(default_factory=lambda: list(range(1, tk.MAX_DURATION + 1)))
    name: str = ""
    training: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["format"] = MODEL_FORMAT
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelConfig:
        known = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        return cls(**known)


def is_model_folder(folder: Path) -> bool:
    return (folder / WEIGHTS_NAME).is_file() and (folder / CONFIG_NAME).is_file()


def read_model_config(folder: Path) -> tuple[Path, ModelConfig]:
    """(model folder, its config) for a folder or its weights file; ``ValueError`` naming what
    is wrong. The torch loader and the numpy loader both start here."""
    folder = Path(folder)
    if folder.is_file() and folder.name == WEIGHTS_NAME:
        folder = folder.parent
    if not is_model_folder(folder):
        raise ValueError(f"{folder} is not a melody model folder (needs {WEIGHTS_NAME} and {CONFIG_NAME})")
    config_path = folder / CONFIG_NAME
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{config_path}: unreadable: {exc}") from None
    if data.get("format") != MODEL_FORMAT:
        raise ValueError(f"{config_path}: format is {data.get('format')!r}, expected {MODEL_FORMAT!r}")
    config = ModelConfig.from_json(data)
    if config.tokens_version != tk.TOKENS_VERSION or config.vocab_size != tk.VOCAB_SIZE:
        raise ValueError(f"{folder}: made for token scheme v{config.tokens_version}; this plugin reads v{tk.TOKENS_VERSION}")
    return folder, config
