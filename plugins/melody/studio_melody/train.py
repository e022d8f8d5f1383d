"""Training and fine-tuning the melody model: ``python main.py train melody ...``.

    train melody --out DIR                      trains from scratch on the music21 folk corpus
    train melody --data FOLDER --from shipped --out DIR
                                                fine-tunes the shipped model on your MIDI files
    train melody --vae --out DIR                trains the phrase VAE (see train_vae)

The output folder is a model folder (``model.safetensors`` + ``config.json``) that the
plugin offers as a model choice (put it under ``STUDIO_HOME/models/melody/`` or pick it
by path). Training is:

- resumable: ``DIR/checkpoint.pt`` (weights, optimiser, position, RNG state) is written
  every few minutes and after each epoch; running the same command again continues;
- deterministic for a seed on the same machine and thread count: batch order comes from
  ``seed`` and the epoch, dropout from a torch generator saved in the checkpoint;
- validated: the best epoch by validation loss is what ``model.safetensors`` holds, and
  ``training_log.json`` lists every epoch's losses.

A progress bar goes to stderr. As an engine job (``run_command``, the manifest's
``[[commands]] id = "train"``) progress, log lines and cancel go through the job instead;
a cancelled job leaves its checkpoint, so the same job run again resumes.
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
from typing import Any

from . import tokens as tk

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "training_log.json"


def shipped_model_dir() -> Path:
    from studio.core.paths import resources_dir

    return resources_dir() / "models" / "melody"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio train melody", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a folder of your MIDI files (default: the music21 folk corpus)")
    parser.add_argument("--from", dest="init", help="start from 'shipped' or a model folder (fine-tuning)")
    parser.add_argument("--out", type=Path, required=True, help="the model folder to write")
    parser.add_argument("--epochs", type=int, default=None, help="passes over the data (default 12; 20 when fine-tuning)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--embed", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default 2e-3; 5e-4 fine-tuning)")
    parser.add_argument("--window", type=int, default=384, help="longest training window in tokens")
    parser.add_argument("--max-minutes", type=float, default=0.0, help="stop (resumably) after this long; 0 = no limit")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: the machine is shared)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache", type=Path, default=None, help="where the parsed corpus is cached")
    parser.add_argument("--workers", type=int, default=1, help="processes for parsing the corpus the first time")
    parser.add_argument("--limit-tunes", type=int, default=0, help="use only this many training tunes (quick tries)")
    parser.add_argument("--fresh", action="store_true", help="ignore a checkpoint in --out and start over")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--name", default="", help="the model's display name")
    return parser


def run_command(argv: list[str], ctx: Any) -> Any:
    """``train`` as an engine job: ``--name NAME`` trains into ``ctx.models_dir/NAME``.

    ``--out DIR`` still works (a folder on the engine's machine). Raises ``Cancelled`` when
    the job is cancelled, after writing a checkpoint.
    """
    from studio.plugins.api import CommandResult

    if "--vae" in argv:  # the phrase VAE's own trainer (no progress events; its log goes to the engine's)
        from .train_vae import cli_main as train_vae

        ctx.log("training the phrase VAE; its progress is in the engine's log")
        code = train_vae([a for a in argv if a != "--vae"])
        if code != 0:
            raise ValueError(f"the phrase VAE trainer stopped with exit code {code}; see the engine's log")
        return CommandResult(message="the phrase VAE is trained")
    parser = build_parser()
    for action in parser._actions:
        if action.dest == "out":
            action.required = False
    args = parser.parse_args(argv) if "-h" not in argv and "--help" not in argv else None
    if args is None:
        ctx.log(parser.format_help())
        return CommandResult(message="help")
    if args.out is None:
        name = _folder_name(args.name)
        if not name:
            raise ValueError("say where the model goes: --name NAME (a folder under the engine's models/melody) or --out DIR")
        args.out = ctx.models_dir / name
    if args.device == "cpu" and ctx.device != "cpu" and "--device" not in argv:
        args.device = ctx.device
    _train(args, JobProgress(ctx))
    out = Path(args.out)
    if not (out / "model.safetensors").is_file():
        return CommandResult(message=f"stopped before the first epoch ended; run it again to resume ({out})")
    return CommandResult(message=f"the melody model “{out.name}” is ready", models=[out])


def _folder_name(text: str) -> str:
    import re

    name = re.sub(r"[^\w.\-]+", "-", text.strip())
    return re.sub(r"-{2,}", "-", name).strip(".-")[:64]


def cli_main(argv: list[str]) -> int:
    if "--vae" in argv:  # the phrase VAE has its own trainer and options (see train_vae)
        from .train_vae import cli_main as train_vae

        return train_vae([a for a in argv if a != "--vae"])
    if "--harmony" in argv:  # the chorale harmony model (see train_harmony)
        from .train_harmony import cli_main as train_harmony

        return train_harmony([a for a in argv if a != "--harmony"])
    args = build_parser().parse_args(argv)
    try:
        return _train(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"train melody: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ntrain melody: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


# --------------------------------------------------------------------------- data


def make_windows(sequences: Sequence[Sequence[int]], window: int) -> list[list[int]]:
    """Cut tunes into windows of at most ``window`` tokens at bar lines; each window keeps
    the tune's header, later ones starting with ``CONT`` instead of ``BOS``."""
    windows: list[list[int]] = []
    for sequence in sequences:
        head, body = list(sequence[: tk.HEADER]), list(sequence[tk.HEADER :])
        limit = max(8, window - tk.HEADER)
        start = 0
        while start < len(body):
            end = min(len(body), start + limit)
            if end < len(body):
                cut = end
                while cut > start and body[cut - 1] != tk.BAR:
                    cut -= 1
                end = cut if cut > start else end
            prefix = head if start == 0 else [tk.CONT] + head[1:]
            windows.append(prefix + body[start:end])
            start = end
    return windows


def _batches(windows: list[list[int]], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Indices grouped into batches of similar length (less padding), in a seeded order."""
    order = list(range(len(windows)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(windows[i]))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _tensors(sequences: Sequence[Sequence[int]]):
    import torch

    length = max(len(s) for s in sequences)
    tokens = torch.full((len(sequences), length), tk.PAD, dtype=torch.long)
    positions = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        tokens[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        positions[row, : len(sequence)] = torch.tensor(tk.bar_positions(sequence), dtype=torch.long)
    return tokens, positions


def _loss_terms(model, sequences: Sequence[Sequence[int]], device: str):
    """Summed cross-entropy (nats) over scored targets, and their count.

    Scored targets are every token after the header: the metre and mode are conditions
    the user chooses, not something the model predicts.
    """
    import torch.nn.functional as F

    tokens, positions = _tensors(sequences)
    tokens, positions = tokens.to(device), positions.to(device)
    logits, _ = model(tokens[:, :-1], positions[:, :-1])
    targets = tokens[:, 1:].clone()
    targets[:, : tk.HEADER - 1] = tk.PAD
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=tk.PAD, reduction="sum")
    return loss, int((targets != tk.PAD).sum())


def evaluate(model, sequences: Sequence[Sequence[int]], *, device: str = "cpu", batch_size: int = 32) -> float:
    """Mean negative log-likelihood per scored token (nats) over whole tunes."""
    import torch

    model.eval()
    total, count = 0.0, 0
    ordered = sorted(sequences, key=len)
    with torch.inference_mode():
        for start in range(0, len(ordered), batch_size):
            loss, n = _loss_terms(model, ordered[start : start + batch_size], device)
            total += float(loss)
            count += n
    return total / max(count, 1)


# --------------------------------------------------------------------------- training


class ProgressBar:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.last = 0.0

    def show(self, text: str, fraction: float, *, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.time()
        if not force and now - self.last < 0.5:
            return
        self.last = now
        width = 24
        filled = int(width * min(max(fraction, 0.0), 1.0))
        print(f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction * 100:5.1f}% {text}   ", end="", file=sys.stderr, flush=True)

    def line(self, text: str) -> None:
        if not self.quiet:
            print("\r" + " " * 100 + "\r", end="", file=sys.stderr)
        print(text, file=sys.stderr, flush=True)

    @property
    def cancelled(self) -> bool:
        return False


class JobProgress(ProgressBar):
    """Progress, log lines and cancel through an engine job's context."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(quiet=True)
        self.ctx = ctx

    def show(self, text: str, fraction: float, *, force: bool = False) -> None:
        self.ctx.progress(min(max(fraction, 0.0), 1.0) * 1000, 1000, text)

    def line(self, text: str) -> None:
        self.ctx.log(text)

    @property
    def cancelled(self) -> bool:
        return bool(self.ctx.cancelled)


def _train(args: argparse.Namespace, bar: ProgressBar | None = None) -> int:  # noqa: C901
    import torch

    from . import data as melody_data
    from .model import MelodyLSTM, ModelConfig, load_model, save_model

    torch.set_num_threads(max(1, args.threads))
    bar = bar or ProgressBar(args.quiet)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    fine_tuning = bool(args.init)
    epochs = args.epochs if args.epochs is not None else (20 if fine_tuning else 12)
    lr = args.lr if args.lr is not None else (5e-4 if fine_tuning else 2e-3)

    # data
    if args.data:
        dataset = melody_data.load_midi_folder(args.data, log=bar.line)
    else:
        dataset = melody_data.load_corpus_dataset(args.cache, workers=args.workers, log=bar.line)
    train_tunes = dataset.split("train")
    if args.limit_tunes:
        train_tunes = train_tunes[: args.limit_tunes]
    val_tunes = dataset.split("val")
    if not train_tunes:
        raise ValueError("no training tunes")
    train_seqs = [t.tokens for t in train_tunes]
    val_seqs = [t.tokens for t in val_tunes]
    windows = make_windows(train_seqs, args.window)
    bar.line(
        f"data: {len(train_tunes)} training tunes ({sum(map(len, train_seqs))} tokens, {len(windows)} windows), "
        f"{len(val_tunes)} validation tunes"
    )

    # model
    torch.manual_seed(args.seed)
    if fine_tuning:
        source = shipped_model_dir() if args.init == "shipped" else Path(args.init)
        model = load_model(source)
        config = model.config
        base = config.name or source.name
        config.name = args.name or f"{base}, fine-tuned on {args.data.name if args.data else 'the corpus'}"
        # keep the rhythms the new tunes use common too (quarter-note triplets, say)
        config.durations = sorted(set(config.durations) | set(_common_durations(train_seqs)))
        bar.line(f"fine-tuning {source} ({model.parameter_count():,} parameters)")
    else:
        durations = sorted({tk.token_duration(t) for s in train_seqs for t in s if tk.is_duration(t)})
        config = ModelConfig(
            embed=args.embed, hidden=args.hidden, layers=args.layers, dropout=args.dropout, durations=_common_durations(train_seqs)
        )
        model = MelodyLSTM(config)
        bar.line(f"new model: {model.parameter_count():,} parameters; {len(durations)} durations seen")
    model.to(args.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(windows) / args.batch_size)
    total_steps = steps_per_epoch * epochs
    warmup = min(200, max(1, total_steps // 20))

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    signature = {
        "seed": args.seed,
        "epochs": epochs,
        "lr": lr,
        "batch_size": args.batch_size,
        "window": args.window,
        "init": args.init or "",
        "data": str(args.data or "music21-corpus"),
        "hidden": config.hidden,
        "layers": config.layers,
        "limit_tunes": args.limit_tunes,
    }
    state: dict[str, Any] = {"epoch": 0, "step_in_epoch": 0, "best_val": None, "history": [], "seconds": 0.0}
    checkpoint_path = out / CHECKPOINT_NAME
    if checkpoint_path.exists() and not args.fresh:
        saved = torch.load(checkpoint_path, map_location=args.device, weights_only=True)
        if saved["signature"] != json.dumps(signature, sort_keys=True):
            raise ValueError(f"{checkpoint_path} was made with other settings; use --fresh to start over")
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = json.loads(saved["state"])
        torch.set_rng_state(saved["torch_rng"])
        bar.line(f"resuming at epoch {state['epoch'] + 1}, step {state['step_in_epoch']}")
    elif state["best_val"] is None:
        initial = evaluate(model, val_seqs, device=args.device) if val_seqs else float("nan")
        state["initial_val"] = initial
        bar.line(f"validation loss before training: {initial:.4f} nats/token")

    def save_checkpoint() -> None:
        payload = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "state": json.dumps(state),
            "signature": json.dumps(signature, sort_keys=True),
            "torch_rng": torch.get_rng_state(),
        }
        tmp = checkpoint_path.with_suffix(".tmp")
        torch.save(payload, tmp)
        tmp.replace(checkpoint_path)

    started = time.time()
    base_seconds = state["seconds"]
    last_checkpoint = time.time()
    if state["epoch"] == 0 and state["step_in_epoch"] == 0:
        torch.manual_seed(args.seed * 1000 + 1)
    while state["epoch"] < epochs:
        epoch = state["epoch"]
        batches = _batches(windows, args.batch_size, random.Random(args.seed * 7919 + epoch))
        model.train()
        running, running_n = 0.0, 0
        for index in range(state["step_in_epoch"], len(batches)):
            step = epoch * steps_per_epoch + index
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
            loss, count = _loss_terms(model, [windows[i] for i in batches[index]], args.device)
            optimizer.zero_grad(set_to_none=True)
            (loss / max(count, 1)).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            running += float(loss.detach())
            running_n += count
            state["step_in_epoch"] = index + 1
            elapsed = base_seconds + time.time() - started
            state["seconds"] = elapsed
            done = (epoch * len(batches) + index + 1) / (epochs * len(batches))
            rate = (done * total_steps) / max(elapsed, 1e-6)
            eta = (total_steps * (1 - done)) / max(rate, 1e-6)
            bar.show(f"epoch {epoch + 1}/{epochs} loss {running / max(running_n, 1):.3f} eta {eta / 60:.1f} min", done)
            if time.time() - last_checkpoint > args.checkpoint_minutes * 60:
                save_checkpoint()
                last_checkpoint = time.time()
            if bar.cancelled:
                from studio.core.errors import Cancelled

                save_checkpoint()
                bar.line(f"cancelled at epoch {epoch + 1}, step {index + 1}; the checkpoint is kept, train again to resume")
                raise Cancelled()
            if args.max_minutes and time.time() - started > args.max_minutes * 60:
                save_checkpoint()
                bar.line(
                    f"stopped after {args.max_minutes} minutes at epoch {epoch + 1}, step {index + 1}; run the same command again to resume"
                )
                return 0
        val = evaluate(model, val_seqs, device=args.device) if val_seqs else running / max(running_n, 1)
        train_loss = running / max(running_n, 1)
        state["history"].append(
            {"epoch": epoch + 1, "train": round(train_loss, 5), "val": round(val, 5), "seconds": round(state["seconds"], 1)}
        )
        improved = state["best_val"] is None or val < state["best_val"]
        if improved:
            state["best_val"] = val
            state["best_epoch"] = epoch + 1
            _write_model(out, model, config, args, dataset, state, signature, save_model)
        bar.line(
            f"epoch {epoch + 1}/{epochs}: train {train_loss:.4f}, validation {val:.4f} nats/token" + (" (best, saved)" if improved else "")
        )
        state["epoch"] = epoch + 1
        state["step_in_epoch"] = 0
        torch.manual_seed(args.seed * 1000 + epoch + 2)
        save_checkpoint()
        last_checkpoint = time.time()
    (out / LOG_NAME).write_text(json.dumps({"signature": signature, **state}, indent=2) + "\n", encoding="utf-8")
    bar.line(f"done: best validation {state['best_val']:.4f} nats/token at epoch {state.get('best_epoch')}; model in {out}")
    return 0


def _common_durations(sequences: Sequence[Sequence[int]], share: float = 0.0005) -> list[int]:
    """Durations that make up at least ``share`` of the data's notes and rests.

    Rarer ones are mostly artefacts (a 32nd note rounded onto the grid, a mis-typed bar)
    that sound like glitches when sampled, so decoding keeps to these.
    """
    counts: dict[int, int] = {}
    for sequence in sequences:
        for token in sequence:
            if tk.is_duration(token):
                d = tk.token_duration(token)
                counts[d] = counts.get(d, 0) + 1
    total = max(1, sum(counts.values()))
    common = sorted(d for d, n in counts.items() if n / total >= share)
    for needed in (2, 3):  # with 2 and 3 every remainder above 1 tick can be filled
        if needed not in common:
            common.append(needed)
    return sorted(common)


def _write_model(out, model, config, args, dataset, state, signature, save_model) -> None:
    import platform

    import torch

    config.name = args.name or config.name or (f"fine-tuned on {args.data.name}" if args.data else "folk LSTM")
    config.training = {
        "data": dataset.info,
        "signature": signature,
        "best_epoch": state.get("best_epoch"),
        "best_val_nll": round(state["best_val"], 5),
        "initial_val_nll": None if state.get("initial_val") is None else round(state["initial_val"], 5),
        "history": state["history"],
        "seconds": round(state["seconds"], 1),
        "hardware": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s), {args.device}",
    }
    model.config = config
    save_model(out, model)
    (out / LOG_NAME).write_text(json.dumps({"signature": signature, **state}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(cli_main(sys.argv[1:]))
