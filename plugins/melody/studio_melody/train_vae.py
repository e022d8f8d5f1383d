"""Training the phrase VAE (``phrase_vae``): ``python -m studio_melody.train_vae --out DIR``.

Reads the cached corpus dataset (``data.load_corpus_dataset``; ``--cache`` names its
folder), cuts every 2-bar phrase of the training tunes (a phrase starting at every bar)
plus single-bar phrases every 4th bar (the last bar of an odd-length melody is encoded
alone), and trains for a fixed wall-clock budget or number of steps. Writes
``phrase_vae.safetensors`` + ``phrase_vae.json`` into ``DIR``.

Loss: token cross-entropy (summed over the phrase) + beta * max(KL - free_bits, 0), beta
warmed up linearly; decoder input tokens are dropped (replaced by ``PAD``) with a fixed
probability so that the decoder has to use ``z`` (the MusicVAE recipe, without its
hierarchical decoder). Deterministic for a seed, step budget and thread count
(``--minutes`` stops on the clock and is therefore not reproducible to the step).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from . import tokens as tk
from .phrase_vae import VAE_CONFIG, VAE_FORMAT, VAE_WEIGHTS, VAEConfig, phrase_positions, tune_phrases


class PhraseVAE(nn.Module):
    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.enc_tok = nn.Embedding(c.vocab_size, c.embed)
        self.enc_pos = nn.Embedding(c.positions, c.pos_embed)
        self.encoder = nn.GRU(c.embed + c.pos_embed, c.encoder_hidden, batch_first=True, bidirectional=True)
        self.mu = nn.Linear(2 * c.encoder_hidden, c.latent)
        self.logvar = nn.Linear(2 * c.encoder_hidden, c.latent)
        self.init = nn.Linear(c.latent, c.decoder_hidden)
        self.dec_tok = nn.Embedding(c.vocab_size, c.embed)
        self.dec_pos = nn.Embedding(c.positions, c.pos_embed)
        self.decoder = nn.GRU(c.embed + c.pos_embed + c.latent, c.decoder_hidden, batch_first=True)
        self.head = nn.Linear(c.decoder_hidden, c.vocab_size)

    def encode(self, tokens, positions, lengths):
        x = torch.cat([self.enc_tok(tokens), self.enc_pos(positions)], dim=-1)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.encoder(packed)  # (2, B, H)
        h = torch.cat([h[0], h[1]], dim=-1)
        return self.mu(h), self.logvar(h)

    def decode(self, z, tokens, positions):
        steps = tokens.shape[1]
        x = torch.cat([self.dec_tok(tokens), self.dec_pos(positions), z.unsqueeze(1).expand(-1, steps, -1)], dim=-1)
        h0 = torch.tanh(self.init(z)).unsqueeze(0)
        out, _ = self.decoder(x, h0)
        return self.head(out)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def batch_tensors(seqs: Sequence[Sequence[int]]):
    length = max(len(s) for s in seqs)
    tokens = torch.full((len(seqs), length), tk.PAD, dtype=torch.long)
    positions = torch.zeros((len(seqs), length), dtype=torch.long)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)] = torch.tensor(s)
        positions[i, : len(s)] = torch.tensor(phrase_positions(s))
    lengths = torch.tensor([len(s) for s in seqs])
    return tokens, positions, lengths


def losses(model: PhraseVAE, seqs, *, sample: bool, word_dropout: float = 0.0, generator=None):
    tokens, positions, lengths = batch_tensors(seqs)
    mu, logvar = model.encode(tokens, positions, lengths)
    if sample:
        eps = torch.randn(mu.shape, generator=generator)
        z = mu + eps * torch.exp(0.5 * logvar)
    else:
        z = mu
    inputs = tokens[:, :-1]
    if word_dropout > 0:
        drop = torch.rand(inputs.shape, generator=generator) < word_dropout
        drop[:, :2] = False  # METER MODE are conditions, never dropped
        inputs = inputs.masked_fill(drop, tk.PAD)
    logits = model.decode(z, inputs, positions[:, :-1])
    targets = tokens[:, 1:].clone()
    targets[:, 0] = tk.PAD  # MODE follows METER: given, not predicted
    mask = targets != tk.PAD
    ce = nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none") * mask
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)
    correct = ((logits.argmax(-1) == targets) & mask).sum()
    return ce.sum(-1), kl, correct, mask.sum()


def save_vae(folder: Path, model: PhraseVAE) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp = folder / (VAE_WEIGHTS + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": VAE_FORMAT})
    tmp.replace(folder / VAE_WEIGHTS)
    (folder / VAE_CONFIG).write_text(json.dumps(model.config.to_json(), indent=2) + "\n", encoding="utf-8")


def corpus_phrases(tunes, *, stride: int = 1, singles: bool = True) -> list[list[int]]:
    out: list[list[int]] = []
    for tune in tunes:
        out += tune_phrases(tune.tokens, stride=stride)
        if singles:
            out += tune_phrases(tune.tokens, stride=4, bars=1)
    return out


def evaluate(model: PhraseVAE, seqs, batch_size: int = 256) -> dict[str, float]:
    model.eval()
    ce_total = kl_total = 0.0
    correct = count = 0
    with torch.no_grad():
        for i in range(0, len(seqs), batch_size):
            ce, kl, c, n = losses(model, seqs[i : i + batch_size], sample=False)
            ce_total += float(ce.sum())
            kl_total += float(kl.sum())
            correct += int(c)
            count += int(n)
    model.train()
    return {"nll_per_token": ce_total / count, "kl_per_phrase": kl_total / len(seqs), "token_accuracy": correct / count}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="studio train melody --vae", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--cache", type=Path, default=None, help="folder of the cached corpus dataset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=100000)
    p.add_argument("--minutes", type=float, default=0.0, help="stop after this long (0: no limit)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--latent", type=int, default=32)
    p.add_argument("--free-bits", type=float, default=32.0, help="nats of KL per phrase left unpenalised")
    p.add_argument("--beta", type=float, default=0.25)
    p.add_argument("--warmup", type=int, default=1500, help="steps of linear beta warm-up")
    p.add_argument("--word-dropout", type=float, default=0.25)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit-tunes", type=int, default=0)
    return p


def cli_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from .data import load_corpus_dataset

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.time()
    dataset = load_corpus_dataset(args.cache)
    train_tunes, val_tunes = dataset.split("train"), dataset.split("val")
    if args.limit_tunes:
        train_tunes = train_tunes[: args.limit_tunes]
    train = corpus_phrases(train_tunes)
    val = corpus_phrases(val_tunes, stride=2, singles=False)
    print(f"phrases: train {len(train)}, validation {len(val)}", file=sys.stderr)
    config = VAEConfig(latent=args.latent)
    model = PhraseVAE(config)
    optim = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    rng = random.Random(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    order: list[int] = []
    log = []
    best = math.inf
    step = 0
    total_steps = args.steps
    val_probe = val[:2000]
    while step < total_steps:
        if args.minutes and time.time() - started > args.minutes * 60:
            break
        if len(order) < args.batch_size:
            more = list(range(len(train)))
            rng.shuffle(more)
            order += more
        batch = [train[i] for i in order[: args.batch_size]]
        del order[: args.batch_size]
        lr = args.lr * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(step / total_steps, 1.0))))
        for group in optim.param_groups:
            group["lr"] = lr
        ce, kl, correct, count = losses(model, batch, sample=True, word_dropout=args.word_dropout, generator=gen)
        beta = args.beta * min(1.0, step / max(args.warmup, 1))
        kl_mean = kl.mean()
        loss = ce.mean() + beta * torch.clamp(kl_mean - args.free_bits, min=0.0)
        optim.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        step += 1
        if step % 50 == 0:
            print(
                f"step {step} ce/tok {float(ce.detach().sum() / count):.3f} kl {float(kl_mean.detach()):.1f} acc "
                f"{int(correct) / int(count):.3f} lr {lr:.2e} {time.time() - started:.0f}s",
                file=sys.stderr,
                flush=True,
            )
        if step % args.eval_every == 0:
            figures = evaluate(model, val_probe)
            figures.update(step=step, seconds=round(time.time() - started, 1))
            log.append(figures)
            print("val", json.dumps(figures), file=sys.stderr, flush=True)
            if figures["nll_per_token"] < best:
                best = figures["nll_per_token"]
                _write(args, model, config, step, started, log, len(train), len(val))
    figures = evaluate(model, val_probe)
    figures.update(step=step, seconds=round(time.time() - started, 1))
    log.append(figures)
    if figures["nll_per_token"] < best:
        _write(args, model, config, step, started, log, len(train), len(val))
    else:  # keep the best weights, record the whole log
        data = json.loads((args.out / VAE_CONFIG).read_text(encoding="utf-8"))
        data["training"]["log"] = log
        (args.out / VAE_CONFIG).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"done: {step} steps, {time.time() - started:.0f}s", file=sys.stderr)
    return 0


def _write(args, model, config, step, started, log, n_train, n_val) -> None:
    config.training = {
        "data": "music21 folk corpus (see the model card), training tunes; 2-bar phrases at every bar + 1-bar phrases every 4th bar",
        "train_phrases": n_train,
        "val_phrases": n_val,
        "seed": args.seed,
        "steps": step,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "free_bits": args.free_bits,
        "beta": args.beta,
        "word_dropout": args.word_dropout,
        "threads": args.threads,
        "minutes": round((time.time() - started) / 60, 1),
        "torch": torch.__version__,
        "parameters": model.parameter_count(),
        "log": log,
    }
    save_vae(args.out, model)


if __name__ == "__main__":
    raise SystemExit(cli_main(sys.argv[1:]))
