"""Running the trained LSTM with numpy: generation needs no torch.

Sampling feeds one token at a time, where a framework call costs more than the arithmetic
and a multi-threaded kernel can spin against other work on a busy CPU. A plain numpy step
over the same safetensors weights is faster, single-threaded, deterministic, and keeps
torch out of the engine's generation path for this plugin (the training command still
uses torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.core.melody import GRID

from . import tokens as tk
from .config import WEIGHTS_NAME, ModelConfig, read_model_config


@dataclass
class _Layer:
    w: np.ndarray  # (input + hidden, 4 * hidden): [x, h] @ w
    b: np.ndarray  # (4 * hidden,)


class NumpyLSTM:
    """The weights of a ``MelodyLSTM`` as numpy arrays, with a stepping interface."""

    def __init__(self, config: ModelConfig, tensors: dict[str, np.ndarray]) -> None:
        self.config = config
        self.hidden = config.hidden
        self._count = int(sum(t.size for t in tensors.values()))
        tok = tensors["tok.weight"].astype(np.float32)
        pos = tensors["pos.weight"].astype(np.float32)
        w_ih0 = tensors["lstm.weight_ih_l0"].astype(np.float32)
        # The first layer's input is [token embedding, position embedding]: its share of the
        # gates is a lookup, computed once here instead of a matrix product per step.
        self.token_gates = np.ascontiguousarray(tok @ w_ih0[:, : config.embed].T)
        self.position_gates = np.ascontiguousarray(pos @ w_ih0[:, config.embed :].T)
        self.first_bias = (tensors["lstm.bias_ih_l0"] + tensors["lstm.bias_hh_l0"]).astype(np.float32)
        self.first_recurrent = np.ascontiguousarray(tensors["lstm.weight_hh_l0"].T, dtype=np.float32)
        self.layers: list[_Layer] = []
        for index in range(1, config.layers):
            w_ih = tensors[f"lstm.weight_ih_l{index}"]
            w_hh = tensors[f"lstm.weight_hh_l{index}"]
            bias = tensors[f"lstm.bias_ih_l{index}"] + tensors[f"lstm.bias_hh_l{index}"]
            self.layers.append(
                _Layer(np.ascontiguousarray(np.concatenate([w_ih, w_hh], axis=1).T, dtype=np.float32), bias.astype(np.float32))
            )
        self.head_w = np.ascontiguousarray(tensors["head.weight"].T, dtype=np.float32)
        self.head_b = tensors["head.bias"].astype(np.float32)

    @property
    def parameter_count(self) -> int:
        return self._count

    @property
    def studio_size_bytes(self) -> int:
        """What the engine's model cache counts against its memory budget."""
        arrays = [self.token_gates, self.position_gates, self.first_bias, self.first_recurrent, self.head_w, self.head_b] + [
            a for layer in self.layers for a in (layer.w, layer.b)
        ]
        return int(sum(a.nbytes for a in arrays))

    def initial_state(self) -> list[tuple[np.ndarray, np.ndarray]]:
        zeros = np.zeros(self.hidden, dtype=np.float32)
        return [(zeros, zeros) for _ in range(self.config.layers)]

    def step(self, token: int, position: int, state: list[tuple[np.ndarray, np.ndarray]]):
        """One token in; (next-token logits, new state) out.

        Products go through ``einsum``, which never calls the BLAS: a threaded BLAS
        matrix-vector product spins against other work on a busy CPU and costs several
        times more than this single-threaded loop for matrices this small.
        """
        size = self.hidden
        h, c = state[0]
        gates = self.token_gates[token] + self.position_gates[position] + self.first_bias + np.einsum("i,ij->j", h, self.first_recurrent)
        h, c = _cell(gates, c, size)
        new_state = [(h, c)]
        x = h
        for layer, (h, c) in zip(self.layers, state[1:]):
            gates = np.einsum("i,ij->j", np.concatenate([x, h]), layer.w) + layer.b
            h, c = _cell(gates, c, size)
            new_state.append((h, c))
            x = h
        return np.einsum("i,ij->j", x, self.head_w) + self.head_b, new_state


def _cell(gates: np.ndarray, c: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    i = _sigmoid(gates[:size])
    f = _sigmoid(gates[size : 2 * size])
    g = np.tanh(gates[2 * size : 3 * size])
    o = _sigmoid(gates[3 * size :])
    c = f * c + i * g
    return o * np.tanh(c), c


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def load_numpy_model(folder: Path) -> NumpyLSTM:
    """A model folder as a ``NumpyLSTM``; ``ValueError`` naming what is wrong."""
    from safetensors.numpy import load_file

    folder, config = read_model_config(folder)
    weights = folder / WEIGHTS_NAME
    try:
        tensors = load_file(str(weights))
        return NumpyLSTM(config, tensors)
    except Exception as exc:  # a truncated or foreign file: say which and why
        raise ValueError(f"{weights}: cannot be loaded: {exc}") from None


class NumpyStepper:
    """The decoder's ``Stepper`` over a ``NumpyLSTM``: tracks bar positions and state."""

    def __init__(self, model: NumpyLSTM) -> None:
        self.model = model
        self.state = model.initial_state()
        self.position = 0
        self.tokens_fed = 0

    def feed(self, tokens: Sequence[int]) -> np.ndarray:
        logits = None
        for token in tokens:
            if tk.METER_BASE <= token < tk.MODE_BASE or token == tk.BAR:
                self.position = 0
            elif tk.is_duration(token):
                self.position = min(self.position + tk.token_duration(token), tk.MAX_DURATION)
            logits, self.state = self.model.step(token, self.position, self.state)
            self.tokens_fed += 1
        assert logits is not None, "feed needs at least one token"
        return logits.astype(np.float64)


__all__ = ["GRID", "NumpyLSTM", "NumpyStepper", "load_numpy_model"]
