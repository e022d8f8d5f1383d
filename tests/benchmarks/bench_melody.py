"""Melody generation speed: a 32-bar melody through the engine vs the model called directly.

    .venv/bin/python tests/benchmarks/bench_melody.py [--runs 7] [--bars 32] [--model DIR]

Prints a table of medians. "direct (numpy)" is the decoder and numpy LSTM the plugin uses,
called without the engine; "LocalRunner" is the full in-process engine path (parameter
validation, plugin host, model cache, MIDI encoding with the provenance record); "direct
(torch)" steps the same weights through torch's LSTM, for reference. The same seeds are
used everywhere, so each path produces the same tokens and tokens/s compare like with like.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "plugins" / "melody"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--bars", type=int, default=32)
    parser.add_argument("--model", type=Path, default=REPO / "resources" / "models" / "melody")
    args = parser.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(1)
    from studio_melody import tokens as tk
    from studio_melody.decoding import BarPlan, Constraints, Decoder, LSTMStepper
    from studio_melody.inference import NumpyStepper, load_numpy_model
    from studio_melody.model import load_model

    from studio.core.melody import SCALES
    from studio.engine.config import EngineConfig
    from studio.engine.runner import LocalRunner

    numpy_model = load_numpy_model(args.model)
    torch_model = load_model(args.model)

    def direct(stepper, seed: int) -> tuple[float, int]:
        constraints = Constraints(
            scale=frozenset(SCALES["major"]),
            low=55,
            high=84,
            passing=0.2,
            durations=numpy_model.config.durations,
            temperature=1.0,
            top_p=0.95,
            start_with_note=True,
            end_on_tonic=True,
        )
        started = time.perf_counter()
        decoder = Decoder(stepper, constraints, np.random.default_rng(seed), 48)
        decoder.start(tk.header("4/4", "major"))
        body = decoder.run([BarPlan("sample") for _ in range(args.bars)])
        return time.perf_counter() - started, tk.HEADER + len(body)

    rows = []
    seeds = list(range(args.runs))
    direct([NumpyStepper(numpy_model)][0], 99)  # warm up
    timings = [direct(NumpyStepper(numpy_model), seed) for seed in seeds]
    token_counts = {seed: count for seed, (_, count) in zip(seeds, timings)}
    rows.append(("direct (numpy)", [t for t, _ in timings], [c for _, c in timings]))
    timings = [direct(LSTMStepper(torch_model), seed) for seed in seeds]
    rows.append(("direct (torch, 1 thread)", [t for t, _ in timings], [c for _, c in timings]))

    with tempfile.TemporaryDirectory() as home:
        runner = LocalRunner(EngineConfig(home=Path(home), plugin_dirs=[REPO / "plugins"], device="cpu"))
        params = {"bars": args.bars, "key": "C", "scale": "major", "metre": "4/4", "model": str(args.model)}
        runner.run("studio.melody", params, seed=99)  # warm up: imports, model load
        times = []
        for seed in seeds:
            started = time.perf_counter()
            runner.run("studio.melody", params, seed=seed)
            times.append(time.perf_counter() - started)
        rows.append(("LocalRunner", times, [token_counts[s] for s in seeds]))

    base = statistics.median(rows[0][1])
    print(
        f"{args.bars}-bar melody, 4/4, C major, {args.runs} runs, medians "
        f"({numpy_model.config.layers}x{numpy_model.config.hidden} LSTM, {numpy_model.parameter_count:,} parameters)"
    )
    print(f"{'path':<26}{'seconds':>10}{'tokens':>9}{'tokens/s':>11}{'vs direct':>11}")
    for name, times, counts in rows:
        median = statistics.median(times)
        tokens = statistics.median(counts)
        rate = statistics.median([c / t for c, t in zip(counts, times)])
        print(f"{name:<26}{median:>10.3f}{tokens:>9.0f}{rate:>11.0f}{median / base:>10.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
