"""Model folder names and the model configuration (no torch: the plugin reads these
without importing it)."""

from __future__ import annotations

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
    def from_json(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        return cls(**known)


def is_model_folder(folder: Path) -> bool:
    return (folder / WEIGHTS_NAME).is_file() and (folder / CONFIG_NAME).is_file()
