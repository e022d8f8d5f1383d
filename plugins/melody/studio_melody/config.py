"""Model folder names and the model configuration (no torch: the plugin reads these
without importing it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

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


class _SchemeConfig(Protocol):
    tokens_version: int
    vocab_size: int


C = TypeVar("C", bound=_SchemeConfig)


def read_versioned_config(config_path: Path, expected_format: str, from_json: Callable[[dict[str, Any]], C], *, what: str = "model") -> C:
    """A model file's JSON config: read, its ``format`` checked, parsed with ``from_json``
    and its token scheme checked against this plugin's; ``ValueError`` naming the file and
    what is wrong. The LSTM's and the phrase VAE's configs share this shape, so they share
    these checks (and their messages)."""
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{config_path}: unreadable: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != expected_format:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{config_path}: format is {found!r}, expected {expected_format!r}")
    config = from_json(data)
    if config.tokens_version != tk.TOKENS_VERSION or config.vocab_size != tk.VOCAB_SIZE:
        raise ValueError(
            f"{config_path.parent}: {what} made for token scheme v{config.tokens_version}; this plugin reads v{tk.TOKENS_VERSION}"
        )
    return config


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
    config: ModelConfig = read_versioned_config(folder / CONFIG_NAME, MODEL_FORMAT, ModelConfig.from_json)
    return folder, config
