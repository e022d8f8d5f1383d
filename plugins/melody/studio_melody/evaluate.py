"""The figures in the model card: likelihoods against an n-gram baseline, and statistics of
generated tunes against the test set.

    python -m studio_melody.evaluate --model resources/models/melody --out results.json [--tunes 500]

(run with ``plugins/melody`` on ``sys.path``). Negative log-likelihoods are nats per token
over every token after the header, on whole validation and test tunes, for the LSTM and
for Witten-Bell n-grams of order 3 to 6 fitted on the same training tunes (the order is
chosen on validation). Generation statistics compare tunes sampled under the same metre
and mode as test tunes (first ``--max-bars`` bars) with those test tunes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.melody import SCALES, bar_ticks, beat_ticks

from . import tokens as tk


def head_bars(sequence: Sequence[int], count: int) -> list[int]:
    """The header and the first ``count`` bars of a tune."""
    bars = tk.split_bars(sequence[tk.HEADER :])[:count]
    return list(sequence[: tk.HEADER]) + [t for bar in bars for t in bar]


def notes_of(bar: Sequence[int]) -> list[tuple[int, int]]:
    """(pitch, duration) of the sounding notes in a bar's tokens (ties merged away)."""
    notes, pitch, tie = [], None, False
    for token in bar:
        if token == tk.TIE:
            tie = True
        elif token == tk.REST:
            pitch = -1
        elif tk.is_pitch(token):
            pitch = tk.token_pitch(token)
        elif tk.is_duration(token) and pitch is not None:
            if pitch >= 0 and not tie:
                notes.append((pitch, tk.token_duration(token)))
            pitch, tie = None, False
    return notes


def tune_stats(sequences: Sequence[Sequence[int]]) -> dict[str, Any]:
    in_scale = total_notes = full = total_bars = 0
    ranges: list[int] = []
    intervals: Counter[int] = Counter()
    durations: Counter[int] = Counter()
    pitch_classes: Counter[int] = Counter()
    repeated_bars = repeated_pairs = pair_total = bar_total_for_repeats = 0
    tunes_with_repeated_pair = tunes_with_aligned_repeat = 0
    sounding = span = pickups = 0
    notes_per_bar = []
    for sequence in sequences:
        pickups += len(sequence) > tk.HEADER and sequence[tk.HEADER] == tk.REST  # a rest, then the upbeat
        meter, mode = tk.meter_of(sequence[1]), tk.mode_of(sequence[2])
        size = bar_ticks(tuple(int(x) for x in meter.split("/")))  # type: ignore[arg-type]
        scale = set(SCALES[mode])
        bars = tk.split_bars(sequence[tk.HEADER :])
        pitches = []
        seen_bars, seen_pairs = set(), set()
        previous_key = None
        repeats_before = repeated_pairs
        aligned = [(tuple(bars[i]), tuple(bars[i + 1])) for i in range(0, min(len(bars), 16) - 1, 2)]
        tunes_with_aligned_repeat += len(set(aligned)) < len(aligned)
        for bar in bars:
            span += size
            pending_rest = False
            for token in bar:
                if token == tk.REST:
                    pending_rest = True
                elif tk.is_pitch(token):
                    pending_rest = False
                elif tk.is_duration(token):
                    sounding += 0 if pending_rest else tk.token_duration(token)
                    pending_rest = False
            total_bars += 1
            if sum(tk.token_duration(t) for t in bar if tk.is_duration(t)) == size:
                full += 1
            notes = notes_of(bar)
            notes_per_bar.append(len(notes))
            for pitch, duration in notes:
                total_notes += 1
                in_scale += pitch % 12 in scale
                pitches.append(pitch)
                pitch_classes[pitch % 12] += 1  # tunes are normalised to the tonic: 0 is the tonic
                durations[duration] += 1
            key = tuple(t for t in bar)
            if notes:
                bar_total_for_repeats += 1
                repeated_bars += key in seen_bars
                seen_bars.add(key)
                if previous_key is not None:
                    pair = (previous_key, key)
                    pair_total += 1
                    repeated_pairs += pair in seen_pairs
                    seen_pairs.add(pair)
            previous_key = key
        tunes_with_repeated_pair += repeated_pairs > repeats_before
        if pitches:
            ranges.append(max(pitches) - min(pitches))
            for a, b in zip(pitches, pitches[1:]):
                intervals[max(-13, min(13, b - a))] += 1
    return {
        "tunes": len(sequences),
        "notes": total_notes,
        "in_scale_pct": round(100 * in_scale / max(total_notes, 1), 2),
        "bars_full_pct": round(100 * full / max(total_bars, 1), 2),
        "pitch_range_mean": round(float(np.mean(ranges)), 2) if ranges else 0.0,
        "pitch_range_p10_p90": [float(np.percentile(ranges, 10)), float(np.percentile(ranges, 90))] if ranges else [],
        "notes_per_bar": round(float(np.mean(notes_per_bar)), 2) if notes_per_bar else 0.0,
        "repeated_bars_pct": round(100 * repeated_bars / max(bar_total_for_repeats, 1), 2),
        "repeated_2bar_phrases_pct": round(100 * repeated_pairs / max(pair_total, 1), 2),
        "tunes_with_a_repeated_2bar_phrase_pct": round(100 * tunes_with_aligned_repeat / max(len(sequences), 1), 2),
        "tunes_with_a_repeated_bar_pair_anywhere_pct": round(100 * tunes_with_repeated_pair / max(len(sequences), 1), 2),
        "sounding_time_pct": round(100 * sounding / max(span, 1), 2),
        "opening_with_a_pickup_pct": round(100 * pickups / max(len(sequences), 1), 2),
        "duration_shares_pct": {str(d): round(100 * n / max(sum(durations.values()), 1), 2) for d, n in sorted(durations.items())},
        **motion_shares(intervals),
        "_intervals": intervals,
        "_durations": durations,
        "_pitch_classes": pitch_classes,
    }


def motion_shares(intervals: Counter) -> dict[str, float]:
    """Shares of melodic motion: repeated notes, steps (1-2 semitones), thirds (3-4) and
    leaps over a third (5 or more), in % of all successive-note intervals."""
    total = max(sum(intervals.values()), 1)
    share = lambda test: round(100 * sum(n for i, n in intervals.items() if test(abs(i))) / total, 2)  # noqa: E731
    return {
        "repeated_notes_pct": share(lambda i: i == 0),
        "stepwise_pct": share(lambda i: 1 <= i <= 2),
        "thirds_pct": share(lambda i: 3 <= i <= 4),
        "leaps_over_a_third_pct": share(lambda i: i >= 5),
    }


def distribution_distance(a: Counter, b: Counter) -> dict[str, float]:
    keys = sorted(set(a) | set(b))
    p = np.array([a.get(k, 0) for k in keys], dtype=float)
    q = np.array([b.get(k, 0) for k in keys], dtype=float)
    p /= max(p.sum(), 1)
    q /= max(q.sum(), 1)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        js = 0.5 * np.nansum(np.where(p > 0, p * np.log2(p / m), 0)) + 0.5 * np.nansum(np.where(q > 0, q * np.log2(q / m), 0))
    return {"total_variation": round(float(0.5 * np.abs(p - q).sum()), 4), "jensen_shannon_bits": round(float(js), 4)}


def compare(generated: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    result = {k: v for k, v in generated.items() if not k.startswith("_")}
    result["interval_distance"] = distribution_distance(generated["_intervals"], reference["_intervals"])
    result["duration_distance"] = distribution_distance(generated["_durations"], reference["_durations"])
    result["pitch_class_distance"] = distribution_distance(generated["_pitch_classes"], reference["_pitch_classes"])
    result["histogram_tv_sum"] = round(
        sum(result[name]["total_variation"] for name in ("pitch_class_distance", "interval_distance", "duration_distance")), 4
    )
    return result


def generate_like(
    stepper_factory,
    prompts: Sequence[Sequence[int]],
    *,
    model_durations,
    scale_mode: str,
    low: int,
    high: int,
    passing: float,
    temperature: float,
    top_p: float,
    seed: int,
    form: str = "free",
    patterns: list | None = None,
    start_with_note: bool = False,
    end_on_tonic: bool | None = None,
    no_silent_bars: bool = True,
) -> list[list[int]]:
    """Tunes sampled like ``prompts`` (their header and number of bars). ``scale_mode``:
    "mode" masks to the prompt's mode, "none" is the metre mask only (and no closing
    tonic), "all" allows every pitch class under the other constraints. ``end_on_tonic``
    defaults to whether a scale mode is on; the plugin's new tunes may open with a pickup
    (``start_with_note`` off)."""
    from .decoding import BarPlan, Constraints, Decoder
    from .forms import pick_pattern
    from .plugin import form_plan

    results = []
    for index, prompt in enumerate(prompts):
        meter, mode = tk.meter_of(prompt[1]), tk.mode_of(prompt[2])
        size = bar_ticks(tuple(int(x) for x in meter.split("/")))  # type: ignore[arg-type]
        scale = frozenset(range(12)) if scale_mode in ("none", "all") else frozenset(SCALES[mode])
        constraints = Constraints(
            scale=scale,
            low=low,
            high=high,
            passing=passing,
            durations=model_durations,
            temperature=temperature,
            top_p=top_p,
            start_with_note=start_with_note,
            end_on_tonic=scale_mode != "none" if end_on_tonic is None else end_on_tonic,
            no_silent_bars=no_silent_bars,
        )
        bars = len(tk.split_bars(prompt[tk.HEADER :]))
        signature = tuple(int(x) for x in meter.split("/"))
        decoder = Decoder(stepper_factory(), constraints, np.random.default_rng([seed, index]), size, beat=beat_ticks(signature))  # type: ignore[arg-type]
        decoder.start(list(prompt[: tk.HEADER]))
        if form == "auto":
            pattern = pick_pattern(bars, np.random.default_rng([seed, index, 31]), patterns or [])
            plan = (
                [BarPlan("copy", source=s) if s >= 0 else BarPlan("sample") for s in pattern]
                if pattern
                else [BarPlan("sample") for _ in range(bars)]
            )
        else:
            plan = form_plan(form, bars) or [BarPlan("sample") for _ in range(bars)]
        body = decoder.run(plan)
        results.append(list(prompt[: tk.HEADER]) + body)
    return results


def sounding_by_register(
    numpy_model, lows: Sequence[int], *, tunes: int = 20, bars: int = 8, seed: int = 0, key: str = "D", scale: str = "major"
) -> dict[str, dict[str, float]]:
    """Sounding time (% of the bars' span) and notes inside the range (%) of new 4/4 tunes
    written in one-octave ranges ``low..low+12``, through the plugin's register window."""
    from .decoding import BarPlan, Constraints, Decoder
    from .inference import NumpyStepper
    from .plugin import register_window

    out = {}
    for low in lows:
        window = register_window(low, low + 12, key, scale)
        shares, inside = [], []
        for index in range(tunes):
            constraints = Constraints(
                scale=frozenset(SCALES[scale]),
                low=window.low,
                high=window.high,
                passing=0.2,
                durations=numpy_model.config.durations,
                temperature=1.0,
                top_p=0.95,
                start_with_note=False,
                end_on_tonic=True,
            )
            decoder = Decoder(NumpyStepper(numpy_model), constraints, np.random.default_rng([seed, index]), 48)
            decoder.start(tk.header("4/4", scale))
            body = decoder.run([BarPlan("sample") for _ in range(bars)])
            melody = tk.decode_body(body, time_signature=(4, 4), key=key, mode=scale)
            pitches = [n.pitch - window.octave for n in melody.notes]
            shares.append(sum(n.duration_ticks for n in melody.notes) / (bars * 48))
            inside.append(np.mean([low <= p <= low + 12 for p in pitches]) if pitches else 0.0)
        out[f"{low}-{low + 12}"] = {
            "sounding_pct": round(100 * float(np.mean(shares)), 2),
            "notes_in_range_pct": round(100 * float(np.mean(inside)), 2),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--tunes", type=int, default=500)
    parser.add_argument("--max-bars", type=int, default=16)
    parser.add_argument("--orders", default="3,4,5,6")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-nll", action="store_true")
    parser.add_argument("--only", default="", help="generation configs to run (comma-separated names)")
    parser.add_argument("--registers", action="store_true", help="only the sounding time in one-octave ranges")
    parser.add_argument("--ablations", action="store_true", help="the plugin defaults with one constraint switched off at a time")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument(
        "--prompts", choices=("test", "val"), default="test", help="whose tunes the generated ones imitate and are compared with"
    )
    parser.add_argument("--grid", default="", help="TEMPERATURE:TOP_P pairs (comma-separated) to compare, instead of one setting")
    parser.add_argument(
        "--ngram", action="store_true", help="with --skip-nll: still fit the best-order n-gram (--orders' last) and sample it"
    )
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from .data import load_corpus_dataset
    from .forms import load_patterns
    from .inference import NumpyStepper, load_numpy_model
    from .model import load_model
    from .ngram import NGramModel, NGramStepper
    from .train import evaluate

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.registers:
        from .inference import load_numpy_model as _load_numpy

        report = sounding_by_register(_load_numpy(args.model), [28, 40, 48, 55, 60, 67, 72, 84, 96], seed=args.seed)
        args.out.write_text(json.dumps({"sounding_by_register": report}, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(report, indent=2))
        return 0

    dataset = load_corpus_dataset(args.cache)
    train = [t.tokens for t in dataset.split("train")]
    val = [t.tokens for t in dataset.split("val")]
    test = [t.tokens for t in dataset.split("test")]
    results: dict[str, Any] = {"data": dataset.info}
    started = time.time()

    # likelihoods
    orders = [int(o) for o in args.orders.split(",")]
    ngrams = {}
    if not args.skip_nll:
        model = load_model(args.model)
        results["lstm"] = {
            "parameters": model.parameter_count(),
            "val_nll": round(evaluate(model, val), 4),
            "test_nll": round(evaluate(model, test), 4),
        }
        log(f"lstm: {results['lstm']} ({time.time() - started:.0f}s)")
        results["ngram"] = {}
        for order in orders:
            ngram = NGramModel(order).fit(train)
            ngrams[order] = ngram
            total, count = ngram.nll(val)
            results["ngram"][str(order)] = {"val_nll": round(total / count, 4)}
            log(f"{order}-gram val {total / count:.4f} ({time.time() - started:.0f}s)")
        best = min(orders, key=lambda o: results["ngram"][str(o)]["val_nll"])
        total, count = ngrams[best].nll(test)
        results["ngram"][str(best)]["test_nll"] = round(total / count, 4)
        results["ngram_best_order"] = best
        log(f"best n-gram: order {best}, test {total / count:.4f}")
    else:
        best = orders[-1]
        if args.ngram:
            ngrams[best] = NGramModel(best).fit(train)

    # generation statistics
    pool = val if args.prompts == "val" else test
    picked = [pool[i % len(pool)] for i in range(args.tunes)]
    prompts = [head_bars(sequence, args.max_bars) for sequence in picked]
    reference = tune_stats(prompts)
    results["test_set_stats"] = {k: v for k, v in reference.items() if not k.startswith("_")}
    numpy_model = load_numpy_model(args.model)
    configs: dict[str, dict[str, Any]] = {
        "lstm_metre_only": dict(scale_mode="none", low=tk.PITCH_LOW, high=tk.PITCH_HIGH, passing=0.0),
        "lstm_plugin_defaults": dict(scale_mode="mode", low=55, high=84, passing=0.2),
        "lstm_plugin_defaults_form_AABB": dict(scale_mode="mode", low=55, high=84, passing=0.2, form="AABB"),
        "lstm_plugin_defaults_form_auto": dict(
            scale_mode="mode", low=55, high=84, passing=0.2, form="auto", patterns=load_patterns(args.model)
        ),
    }
    if args.ablations:
        # the plugin defaults with one constraint changed at a time (model card, "Which duration bins")
        auto = configs["lstm_plugin_defaults_form_auto"]
        configs = {
            "lstm_plugin_defaults_form_auto": auto,
            "ablate_opening_note_required": dict(auto, start_with_note=True),
            "ablate_no_closing_tonic": dict(auto, end_on_tonic=False),
            "ablate_silent_bars_allowed": dict(auto, no_silent_bars=False),
            "ablate_no_scale_mask": dict(auto, scale_mode="all", passing=0.0),
            "ablate_no_passing_notes": dict(auto, passing=0.0),
            "ablate_range_36_96": dict(auto, low=36, high=96),
            "ablate_form_free": dict(auto, form="free"),
            "metre_mask_only": dict(configs["lstm_metre_only"], no_silent_bars=False),
        }
    if args.only:
        configs = {name: config for name, config in configs.items() if name in args.only.split(",")}
    results["generation"] = {}
    settings = (
        [tuple(float(x) for x in pair.split(":")) for pair in args.grid.split(",")] if args.grid else [(args.temperature, args.top_p)]
    )
    for name, config in configs.items():
        for temperature, top_p in settings:
            label = name if not args.grid else f"{name}@T{temperature:g}_p{top_p:g}"
            t = time.time()
            generated = generate_like(
                lambda: NumpyStepper(numpy_model),
                prompts,
                model_durations=numpy_model.config.durations,
                temperature=temperature,
                top_p=top_p,
                seed=args.seed,
                **config,
            )
            results["generation"][label] = compare(tune_stats(generated), reference)
            results["generation"][label]["seconds"] = round(time.time() - t, 1)
            log(f"{label}: {results['generation'][label]}")
    if best in ngrams:
        ngram = ngrams[best]
        t = time.time()
        generated = generate_like(
            lambda: NGramStepper(ngram),
            prompts,
            model_durations=numpy_model.config.durations,
            temperature=1.0,
            top_p=0.95,
            seed=args.seed,
            scale_mode="none",
            low=tk.PITCH_LOW,
            high=tk.PITCH_HIGH,
            passing=0.0,
        )
        results["generation"][f"ngram{best}_metre_only"] = compare(tune_stats(generated), reference)
        results["generation"][f"ngram{best}_metre_only"]["seconds"] = round(time.time() - t, 1)
        log(f"ngram: {results['generation'][f'ngram{best}_metre_only']}")
    results["settings"] = {
        "tunes": args.tunes,
        "max_bars": args.max_bars,
        "prompts": args.prompts,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "grid": args.grid,
        "seed": args.seed,
    }
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    log(f"wrote {args.out} ({time.time() - started:.0f}s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
