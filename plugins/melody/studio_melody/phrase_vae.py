"""A small latent model over short phrases (MusicVAE-style): phrases <-> points in R^d.

A phrase is one or two bars of a tune in the plugin's tonic-normalised tokens, written
``METER MODE`` then the bars' events, each bar ending in ``BAR`` (a tie into the
phrase's first note is dropped: a phrase stands on its own). A bidirectional GRU reads
the phrase into a Gaussian posterior over ``z``; a GRU decoder, started from ``z`` and
reading ``z`` beside every token, predicts the phrase token by token.

The plugin never samples the decoder freely: ``PhraseStepper`` is a ``decoding.Stepper``,
so the decoded phrases go through the same constrained decoder as every other melody
and the guarantees (scale, full bars, range, closing tonic) still hold.

Files: ``phrase_vae.safetensors`` (weights, no pickle) and ``phrase_vae.json``
(architecture, token scheme, training record) beside a melody model's own files. The
torch module is for training (``train_vae``); inference here is numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import tokens as tk
from .config import read_versioned_config

VAE_FORMAT = "studio-melody-phrase-vae"
VAE_WEIGHTS = "phrase_vae.safetensors"
VAE_CONFIG = "phrase_vae.json"
PHRASE_BARS = 2
MAX_PHRASE_TOKENS = 100  # METER MODE + the bars' tokens


@dataclass
class VAEConfig:
    embed: int = 64
    pos_embed: int = 16
    encoder_hidden: int = 192
    decoder_hidden: int = 256
    latent: int = 32
    phrase_bars: int = PHRASE_BARS
    vocab_size: int = tk.VOCAB_SIZE
    positions: int = tk.POSITIONS
    tokens_version: int = tk.TOKENS_VERSION
    training: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["format"] = VAE_FORMAT
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VAEConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


# --------------------------------------------------------------------------- phrases


def phrase_sequence(meter_token: int, mode_token: int, bars: Sequence[Sequence[int]]) -> list[int]:
    """``METER MODE`` + the bars' tokens, a leading tie dropped (see the module doc)."""
    body = [t for bar in bars for t in bar]
    if body and body[0] == tk.TIE:
        body = body[1:]
    return [meter_token, mode_token] + body


def tune_phrases(tokens: Sequence[int], *, stride: int = 1, bars: int = PHRASE_BARS) -> list[list[int]]:
    """Every ``bars``-bar phrase of a tune (with header) starting every ``stride`` bars."""
    if len(tokens) < tk.HEADER:
        return []
    meter, mode = tokens[1], tokens[2]
    tune_bars = tk.split_bars(tokens[tk.HEADER :])
    out = []
    for start in range(0, len(tune_bars) - bars + 1, stride):
        seq = phrase_sequence(meter, mode, tune_bars[start : start + bars])
        if len(seq) <= MAX_PHRASE_TOKENS:
            out.append(seq)
    return out


def phrase_positions(seq: Sequence[int]) -> list[int]:
    return tk.bar_positions(seq)


# --------------------------------------------------------------------------- latent maths


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation (what MusicVAE uses: Gaussian latents live near a shell)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-9 or nb < 1e-9:
        return (1 - t) * a + t * b
    cos = float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    omega = np.arccos(cos)
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


# --------------------------------------------------------------------------- numpy model


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


class _GRU:
    """One torch ``nn.GRU`` direction (gate order r, z, n) in numpy."""

    def __init__(self, w_ih: np.ndarray, w_hh: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray) -> None:
        self.hidden = w_hh.shape[1]
        self.w_ih = np.ascontiguousarray(w_ih.T, dtype=np.float32)
        self.w_hh = np.ascontiguousarray(w_hh.T, dtype=np.float32)
        self.b_ih = b_ih.astype(np.float32)
        self.b_hh = b_hh.astype(np.float32)

    def step_gates(self, gi: np.ndarray, h: np.ndarray) -> np.ndarray:
        """``gi`` is the input's share ``x @ w_ih + b_ih`` (precomputed where it can be)."""
        size = self.hidden
        gh = np.einsum("i,ij->j", h, self.w_hh) + self.b_hh
        r = _sigmoid(gi[:size] + gh[:size])
        u = _sigmoid(gi[size : 2 * size] + gh[size : 2 * size])
        n = np.tanh(gi[2 * size :] + r * gh[2 * size :])
        return (1 - u) * n + u * h


class NumpyPhraseVAE:
    """The weights of a ``PhraseVAE`` as numpy arrays: ``encode`` a phrase, step the decoder."""

    def __init__(self, config: VAEConfig, t: dict[str, np.ndarray]) -> None:
        self.config = config
        self._count = int(sum(a.size for a in t.values()))
        f32 = lambda name: t[name].astype(np.float32)  # noqa: E731
        self.enc_tok, self.enc_pos = f32("enc_tok.weight"), f32("enc_pos.weight")
        self.enc_fwd = _GRU(t["encoder.weight_ih_l0"], t["encoder.weight_hh_l0"], t["encoder.bias_ih_l0"], t["encoder.bias_hh_l0"])
        self.enc_bwd = _GRU(
            t["encoder.weight_ih_l0_reverse"],
            t["encoder.weight_hh_l0_reverse"],
            t["encoder.bias_ih_l0_reverse"],
            t["encoder.bias_hh_l0_reverse"],
        )
        self.mu_w, self.mu_b = f32("mu.weight"), f32("mu.bias")
        self.logvar_w, self.logvar_b = f32("logvar.weight"), f32("logvar.bias")
        self.init_w, self.init_b = f32("init.weight"), f32("init.bias")
        self.decoder = _GRU(t["decoder.weight_ih_l0"], t["decoder.weight_hh_l0"], t["decoder.bias_ih_l0"], t["decoder.bias_hh_l0"])
        e, p = config.embed, config.pos_embed
        w_ih = self.decoder.w_ih  # (embed + pos + latent, 3H)
        self.dec_token_gates = np.ascontiguousarray(f32("dec_tok.weight") @ w_ih[:e])
        self.dec_position_gates = np.ascontiguousarray(f32("dec_pos.weight") @ w_ih[e : e + p])
        self.dec_latent_w = np.ascontiguousarray(w_ih[e + p :])
        self.head_w = np.ascontiguousarray(t["head.weight"].T, dtype=np.float32)
        self.head_b = f32("head.bias")

    @property
    def parameter_count(self) -> int:
        return self._count

    @property
    def studio_size_bytes(self) -> int:
        return self._count * 4 * 2

    def posterior(self, seq: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(mean, log-variance) of ``z`` for a phrase sequence (``METER MODE ...``)."""
        positions = phrase_positions(seq)
        x = np.concatenate([self.enc_tok[list(seq)], self.enc_pos[positions]], axis=1)
        gi_f = x @ self.enc_fwd.w_ih + self.enc_fwd.b_ih
        gi_b = x @ self.enc_bwd.w_ih + self.enc_bwd.b_ih
        h_f = np.zeros(self.enc_fwd.hidden, dtype=np.float32)
        for row in gi_f:
            h_f = self.enc_fwd.step_gates(row, h_f)
        h_b = np.zeros(self.enc_bwd.hidden, dtype=np.float32)
        for row in gi_b[::-1]:
            h_b = self.enc_bwd.step_gates(row, h_b)
        h = np.concatenate([h_f, h_b])
        return (self.mu_w @ h + self.mu_b).astype(np.float64), (self.logvar_w @ h + self.logvar_b).astype(np.float64)

    def encode(self, seq: Sequence[int]) -> np.ndarray:
        return self.posterior(seq)[0]

    def start(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The decoder's state for ``z``: (hidden, z's constant share of the input gates)."""
        z = np.asarray(z, dtype=np.float32)
        return np.tanh(self.init_w @ z + self.init_b), z @ self.dec_latent_w + self.decoder.b_ih

    def step(self, token: int, position: int, h: np.ndarray, latent_gates: np.ndarray):
        gi = self.dec_token_gates[token] + self.dec_position_gates[position] + latent_gates
        h = self.decoder.step_gates(gi, h)
        return np.einsum("i,ij->j", h, self.head_w) + self.head_b, h

    def teacher_forced_argmax(self, seq: Sequence[int], z: np.ndarray) -> list[int]:
        """The decoder's most likely token after each prefix of ``seq`` (for figures)."""
        h, lg = self.start(z)
        positions = phrase_positions(seq)
        out = []
        for token, position in zip(seq[:-1], positions[:-1]):
            logits, h = self.step(token, position, h, lg)
            out.append(int(np.argmax(logits)))
        return out


def has_phrase_vae(folder: Path) -> bool:
    return (Path(folder) / VAE_WEIGHTS).is_file() and (Path(folder) / VAE_CONFIG).is_file()


def load_phrase_vae(folder: Path) -> NumpyPhraseVAE:
    """A folder's phrase VAE; ``ValueError`` naming what is wrong."""
    from safetensors.numpy import load_file

    folder = Path(folder)
    config: VAEConfig = read_versioned_config(folder / VAE_CONFIG, VAE_FORMAT, VAEConfig.from_json, what="phrase model")
    try:
        return NumpyPhraseVAE(config, load_file(str(folder / VAE_WEIGHTS)))
    except Exception as exc:  # a truncated or foreign file
        raise ValueError(f"{folder / VAE_WEIGHTS}: cannot be loaded: {exc}") from None


class PhraseStepper:
    """A ``decoding.Stepper`` that writes bars from latent codes.

    ``bar_latents[i]`` is the index into ``latents`` of the phrase that bar ``i`` belongs
    to, or ``None`` for a bar the decoder is given (kept bars: their logits are never
    used). At the first bar of each phrase the decoder restarts from that phrase's ``z``
    and reads ``METER MODE``, exactly as in training.
    """

    def __init__(self, vae: NumpyPhraseVAE, latents: Sequence[np.ndarray], bar_latents: Sequence[int | None]) -> None:
        self.vae = vae
        self.latents = list(latents)
        self.bar_latents = list(bar_latents)
        self.meter: int | None = None
        self.mode: int | None = None
        self.bar = 0
        self.position = 0
        self.h: np.ndarray | None = None
        self.latent_gates: np.ndarray | None = None
        self.logits = np.zeros(tk.VOCAB_SIZE)
        self.tokens_fed = 0

    def _phrase_start(self) -> None:
        index = self.bar_latents[self.bar] if self.bar < len(self.bar_latents) else None
        previous = self.bar_latents[self.bar - 1] if 0 < self.bar <= len(self.bar_latents) else None
        if index is None:
            self.h = None
            self.logits = np.zeros(tk.VOCAB_SIZE)
            return
        if self.h is not None and index == previous:
            return  # the phrase goes on
        assert self.meter is not None and self.mode is not None, "the header comes first"
        self.h, self.latent_gates = self.vae.start(self.latents[index])
        self.position = 0
        for token in (self.meter, self.mode):
            self.logits, self.h = self.vae.step(token, 0, self.h, self.latent_gates)

    def feed(self, tokens: Sequence[int]) -> np.ndarray:
        for token in tokens:
            self.tokens_fed += 1
            if tk.METER_BASE <= token < tk.MODE_BASE:
                self.meter = token
                continue
            if tk.MODE_BASE <= token < tk.PITCH_BASE:
                self.mode = token
                self.bar = 0
                self._phrase_start()
                continue
            if token in (tk.BOS, tk.CONT):
                continue
            if token == tk.BAR:
                self.position = 0
            elif tk.is_duration(token):
                self.position = min(self.position + tk.token_duration(token), tk.MAX_DURATION)
            if self.h is not None:
                self.logits, self.h = self.vae.step(token, self.position, self.h, self.latent_gates)
            if token == tk.BAR:
                self.bar += 1
                self._phrase_start()
        return np.asarray(self.logits, dtype=np.float64)


__all__ = [
    "MAX_PHRASE_TOKENS",
    "NumpyPhraseVAE",
    "PHRASE_BARS",
    "PhraseStepper",
    "VAEConfig",
    "VAE_CONFIG",
    "VAE_FORMAT",
    "VAE_WEIGHTS",
    "has_phrase_vae",
    "load_phrase_vae",
    "phrase_sequence",
    "slerp",
    "tune_phrases",
    "decode_latent",
    "reconstruction_figures",
]


# --------------------------------------------------------------------------- figures


def decode_latent(vae: NumpyPhraseVAE, z: np.ndarray, meter_token: int, mode_token: int, bars: int, constraints=None) -> list[int]:
    """The tokens (bars, each ending in ``BAR``) that ``z`` decodes to under ``constraints``
    (default: any pitch, any duration: only the metre is enforced), most likely first."""
    from studio.core.melody import bar_ticks

    from .decoding import Constraints, Decoder

    if constraints is None:
        constraints = Constraints(scale=frozenset(range(12)), temperature=1e-3, top_p=1.0)
    size = bar_ticks(tuple(int(p) for p in tk.meter_of(meter_token).split("/")))  # type: ignore[arg-type]
    decoder = Decoder(PhraseStepper(vae, [z], [0] * bars), constraints, np.random.default_rng(0), size)
    decoder.start([meter_token, mode_token])
    from .decoding import BarPlan

    return decoder.run([BarPlan("sample") for _ in range(bars)])


def phrase_notes(seq: Sequence[int]) -> set[tuple[int, int, int]]:
    """(pitch, onset tick, duration ticks) of a phrase sequence's notes (rests left out)."""
    meter = tk.meter_of(seq[0])
    numerator, denominator = (int(p) for p in meter.split("/"))
    melody = tk.decode_body(seq[2:], time_signature=(numerator, denominator), key="C", mode="major")
    return {(n.pitch, n.start_ticks, n.duration_ticks) for n in melody.notes}


def reconstruction_figures(vae: NumpyPhraseVAE, phrases: Sequence[Sequence[int]]) -> dict[str, float]:
    """Encode each phrase (posterior mean), decode it (metre only enforced) and compare:
    exact phrases %, notes recovered % (same pitch, onset and duration), token accuracy %."""
    exact = notes_hit = notes_total = tokens_hit = tokens_total = 0
    for seq in phrases:
        bars = sum(1 for t in seq if t == tk.BAR)
        body = decode_latent(vae, vae.encode(seq), seq[0], seq[1], bars)
        target = list(seq[2:])
        exact += body == target
        tokens_hit += sum(a == b for a, b in zip(body, target))
        tokens_total += max(len(body), len(target))
        want = phrase_notes(seq)
        got = phrase_notes(list(seq[:2]) + body)
        notes_hit += len(want & got)
        notes_total += len(want)
    n = max(len(phrases), 1)
    return {
        "phrases": len(phrases),
        "exact_phrases_pct": 100.0 * exact / n,
        "notes_recovered_pct": 100.0 * notes_hit / max(notes_total, 1),
        "token_accuracy_pct": 100.0 * tokens_hit / max(tokens_total, 1),
    }
