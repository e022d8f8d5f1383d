"""The autoregressive melody model (an LSTM in the folk-rnn tradition) and its files.

A model folder holds ``model.safetensors`` (weights only, no pickle) and ``config.json``
(architecture, token-scheme version, the durations seen in training and how it was
trained). The shipped model lives in ``resources/models/melody``; fine-tuned ones are
folders of the same shape.

Beside each token the model reads the position in the bar reached after it (see
``tokens.bar_positions``), so it does not have to count ticks to know where the beat is.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from .config import CONFIG_NAME, MODEL_FORMAT, WEIGHTS_NAME, ModelConfig, is_model_folder, read_model_config

__all__ = ["CONFIG_NAME", "MODEL_FORMAT", "WEIGHTS_NAME", "MelodyLSTM", "ModelConfig", "is_model_folder", "load_model", "save_model"]


class MelodyLSTM(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.tok = nn.Embedding(config.vocab_size, config.embed)
        self.pos = nn.Embedding(config.positions, config.pos_embed)
        self.lstm = nn.LSTM(
            config.embed + config.pos_embed,
            config.hidden,
            config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        x = torch.cat([self.tok(tokens), self.pos(positions)], dim=-1)
        out, state = self.lstm(self.drop(x), state)
        return self.head(self.drop(out)), state

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def save_model(folder: Path, model: MelodyLSTM) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().contiguous().cpu() for name, tensor in model.state_dict().items()}
    tmp = folder / (WEIGHTS_NAME + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": MODEL_FORMAT})
    tmp.replace(folder / WEIGHTS_NAME)
    (folder / CONFIG_NAME).write_text(json.dumps(model.config.to_json(), indent=2) + "\n", encoding="utf-8")


def load_model(folder: Path) -> MelodyLSTM:
    """A model folder as an eval-mode model; ``ValueError`` naming what is wrong."""
    from safetensors.torch import load_file

    folder, config = read_model_config(folder)
    model = MelodyLSTM(config)
    try:
        state = load_file(str(folder / WEIGHTS_NAME))
        model.load_state_dict(state)
    except Exception as exc:  # safetensors / torch raise several types on bad files
        raise ValueError(f"{folder / WEIGHTS_NAME}: cannot be loaded: {exc}") from None
    model.eval()
    return model
