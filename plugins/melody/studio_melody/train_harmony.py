"""Fit the chorale harmony model and measure it (the model card's harmonizer figures).

    python main.py train melody --harmony --out DIR     (or: python -m studio_melody.train_harmony --out DIR)

Reads Bach's chorales from the music21 corpus (``chorales``; parsed once, about ten minutes,
then cached), counts voicings on the training chorales (seconds), and writes
``DIR/harmony.json.gz`` (deterministic: the same corpus gives the same bytes) and
``DIR/harmony_eval.json``: nats per beat on the validation and test chorales for the model
and for two baselines (the same smoothing without the voicing before, i.e. no voice
leading; and the voicing distribution alone), and voice-leading statistics of the model's
harmonizations of the test sopranos against Bach's own harmonizations of them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import tokens as tk
from .chorales import load_chorales
from .harmony import (
    BASELINE_CONTEXTS,
    CONTEXTS,
    RANGES,
    Harmonizer,
    HarmonyConstraints,
    HarmonyModel,
    key_pitch_classes,
    voice_leading_stats,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio train melody --harmony", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the model folder to write harmony.json.gz into")
    parser.add_argument("--cache", type=Path, default=None, help="where the parsed chorales are cached")
    parser.add_argument("--no-eval", action="store_true", help="only fit and write the model")
    return parser


def harmonize_chorale(model: HarmonyModel, chorale, *, no_parallels: bool = True) -> list[list[int]] | None:
    """Our [S, A, T, B] per beat (absolute pitches) under a test chorale's soprano."""
    shift = chorale.tonic if chorale.tonic <= 6 else chorale.tonic - 12
    rows = [row for row in chorale.beats if row[0] >= 0]
    if len(rows) < 2:
        return None
    soprano = [row[0] for row in rows]
    ranges = {voice: (low - shift, high - shift) for voice, (low, high) in RANGES.items()}
    constraints = HarmonyConstraints(key_pitch_classes(chorale.tonic, chorale.mode), chorale.tonic, ranges, no_parallels=no_parallels)
    try:
        voicings = Harmonizer(model).harmonize(soprano, shift=shift, mode=chorale.mode, constraints=constraints)
    except ValueError:
        return None
    return [[s + shift] + [s - v[i] + shift for i in range(3)] for s, v in zip(soprano, voicings)]


def evaluate(model: HarmonyModel, baseline: HarmonyModel, unigram: HarmonyModel, chorales) -> dict:
    out: dict = {}
    for split in ("val", "test"):
        part = [c for c in chorales if c.split == split]
        out[f"nll_{split}"] = {
            "model": model.nll(part),
            "baseline_no_voice_leading": baseline.nll(part),
            "baseline_voicing_frequencies": unigram.nll(part),
        }
    test = [c for c in chorales if c.split == "test"]
    bach = [[[p + (c.tonic if c.tonic <= 6 else c.tonic - 12) if p >= 0 else -1 for p in row] for row in c.beats] for c in test]
    ours, ours_free, same, bass_same, total, failed = [], [], 0, 0, 0, 0
    started = time.time()
    for chorale, original in zip(test, bach):
        rows = harmonize_chorale(model, chorale)
        if rows is None:
            failed += 1
            continue
        ours.append(rows)
        free = harmonize_chorale(model, chorale, no_parallels=False)
        if free is not None:
            ours_free.append(free)
        reference = [row for row in original if row[0] >= 0]
        for mine, theirs in zip(rows, reference):
            total += 1
            same += mine == theirs
            bass_same += mine[3] % 12 == theirs[3] % 12
    out["voice_leading"] = {
        "bach_test_chorales": voice_leading_stats(bach),
        "model_test_sopranos": voice_leading_stats(ours),
        "model_test_sopranos_parallels_allowed": voice_leading_stats(ours_free),
    }
    out["agreement_with_bach"] = {
        "beats": total,
        "same_voicing_percent": round(100 * same / max(1, total), 2),
        "same_bass_pitch_class_percent": round(100 * bass_same / max(1, total), 2),
        "chorales_without_a_harmony": failed,
        "seconds": round(time.time() - started, 1),
    }
    return out


def cli_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    chorales = load_chorales(args.cache, log=log)
    train = [c for c in chorales if c.split == "train"]
    log(f"{len(chorales)} chorales: {len(train)} for training")
    model = HarmonyModel.fit(train, CONTEXTS)
    model.info.update(
        {
            "chorales": {s: sum(c.split == s for c in chorales) for s in ("train", "val", "test")},
            "contexts": list(CONTEXTS),
            "voicings": len(model.vocabulary),
            "tokens_version": tk.TOKENS_VERSION,
        }
    )
    path = model.save(args.out)
    log(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {len(model.vocabulary)} voicings)")
    if args.no_eval:
        return 0
    baseline = HarmonyModel.fit(train, BASELINE_CONTEXTS)
    unigram = HarmonyModel.fit(train, ("mode", "none"))
    report = {"model": model.info, **evaluate(model, baseline, unigram, chorales)}
    (args.out / "harmony_eval.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli_main(sys.argv[1:]))
