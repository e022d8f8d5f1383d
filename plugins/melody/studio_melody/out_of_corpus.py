"""Likelihood on folk tunes the model never saw: the model card's out-of-corpus figures.

    python -m studio_melody.out_of_corpus --model resources/models/melody --out ooc.json [--essen-every 20]

(run with ``plugins/melody`` on ``sys.path``). Two collections that ship with music21 and
are left out of training (see the model card's Data section): the Nottingham Music Database
sample (``nottingham-dataset``, Nottingham-style dance tunes with chord symbols) and a
systematic sample of the Essen folk songs (every ``--essen-every``-th tune, in file order;
German and other European songs, Essen-style). Each tune goes through the training
pipeline (music21 parse, ``score_to_melody``, ``tokens.encode``), so a tune the training
data would have rejected (metre change, off-grid notes) is rejected here too and counted.
NLL is nats per token after the header, as in the card, for the LSTM and for the
Witten-Bell n-gram of the order chosen on validation, fitted on the training tunes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import tokens as tk


def abc_tune_texts(path: Path) -> Iterator[str]:
    """The tunes of an ABC file, one text each (split at ``X:`` lines)."""
    text = path.read_text(encoding="latin-1")
    for chunk in re.split(r"(?m)^(?=X:)", text):
        if chunk.startswith("X:"):
            yield chunk


def encode_tunes(texts: list[str]) -> tuple[list[list[int]], dict[str, int]]:
    """Token sequences of the tunes the training pipeline accepts, and why others were not."""
    import warnings

    import music21

    from .data import RejectTune, score_to_melody

    warnings.simplefilter("ignore")
    sequences: list[list[int]] = []
    reasons: dict[str, int] = {}
    for text in texts:
        try:
            score = music21.converter.parse(text, format="abc", forceSource=True)
            melody, _title = score_to_melody(score)
            sequences.append(tk.encode(melody))
        except RejectTune as exc:
            reasons[str(exc)] = reasons.get(str(exc), 0) + 1
        except Exception as exc:  # music21 raises many kinds on odd tunes
            key = f"error: {type(exc).__name__}"
            reasons[key] = reasons.get(key, 0) + 1
    return sequences, reasons


def collections(every: int) -> dict[str, list[str]]:
    import music21

    root = Path(music21.__file__).parent / "corpus"
    nottingham = [text for path in sorted((root / "nottingham-dataset").glob("*.abc")) for text in abc_tune_texts(path)]
    essen_all = [text for path in sorted((root / "essenFolksong").glob("*.abc")) for text in abc_tune_texts(path)]
    return {"nottingham": nottingham, "essen": essen_all[::every]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--essen-every", type=int, default=20)
    parser.add_argument("--order", type=int, default=6, help="the n-gram order (the card's, chosen on validation)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from .data import load_corpus_dataset
    from .model import load_model
    from .ngram import NGramModel
    from .train import evaluate

    started = time.time()
    model = load_model(args.model)
    dataset = load_corpus_dataset(args.cache)
    train = [t.tokens for t in dataset.split("train")]
    ngram = NGramModel(args.order).fit(train)
    results: dict[str, Any] = {"settings": {"essen_every": args.essen_every, "ngram_order": args.order}}
    # the in-corpus test set first: it should reproduce the card's figures
    sets: dict[str, tuple[list[str], list[list[int]] | None]] = {"test": ([], [t.tokens for t in dataset.split("test")])}
    sets.update({name: (texts, None) for name, texts in collections(args.essen_every).items()})
    for name, (texts, given) in sets.items():
        sequences, reasons = (given, {}) if given is not None else encode_tunes(texts)
        total, count = ngram.nll(sequences)
        results[name] = {
            "tunes_tried": len(texts) or len(sequences),
            "tunes_scored": len(sequences),
            "tokens": count,
            "rejected": reasons,
            "lstm_nll": round(evaluate(model, sequences), 4) if sequences else None,
            f"ngram{args.order}_nll": round(total / count, 4) if count else None,
        }
        print(f"{name}: {results[name]} ({time.time() - started:.0f}s)", file=sys.stderr, flush=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
