"""Benchmark: studio.llm through the engine's runner vs ``model.generate`` called directly.

Both sides run the same model folder, prompt (rendered with the model's chat template),
sampling settings and seed, on the same device and thread count, in one process,
alternating, after a warm-up each. Reported: generated tokens, median wall time, tokens
per second and time to first token (studio: the first streamed text event; direct: the
first call of a no-op stopping criterion, i.e. the first token). The ratio
studio/direct of tokens per second is the figure of merit (target ≥ 0.95).

    .venv/bin/python tests/benchmarks/bench_llm.py [--repeats 7] [--tokens 128] [--model FOLDER]

Without ``--model`` a small random Llama (hidden 256, 4 layers) is built in a temporary
folder. This is a script that prints a table, not a pytest test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--tokens", type=int, default=128, help="max new tokens per run")
    parser.add_argument("--model", type=Path, default=None, help="a local causal-LM folder (default: build a small random Llama)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for both sides")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    # Before torch is imported: the engine leaves the thread count alone when this is set.
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests" / "text_audio"))

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList
    from transformers.utils import logging as hf_logging

    from studio.engine.config import EngineConfig
    from studio.engine.runner import LocalRunner

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)

    work = Path(tempfile.mkdtemp(prefix="bench-llm-"))
    if args.model is None:
        from tiny_text_audio_models import build_llama

        model_dir = build_llama(work / "models" / "bench-llama", hidden=256, layers=4)
    else:
        model_dir = args.model.resolve()

    params = {
        "prompt": "Write a short poem about a lighthouse.",
        "system_prompt": "You are a poet.",
        "model": str(model_dir),
        "max_new_tokens": args.tokens,
        "temperature": 0.7,
        "top_k": 40,
        "top_p": 0.95,
        "min_p": 0.05,
        "repetition_penalty": 1.1,
    }
    seed = 1234

    # ---------------------------------------------------------------- direct
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32).to(args.device).eval()
    messages = [{"role": "system", "content": params["system_prompt"]}, {"role": "user", "content": params["prompt"]}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = tokenizer(text, return_tensors="pt", add_special_tokens=False).to(args.device)
    pad = model.generation_config.pad_token_id
    if pad is None:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    class FirstToken(StoppingCriteria):
        def __init__(self) -> None:
            self.at: float | None = None

        def __call__(self, input_ids, scores, **kwargs):
            if self.at is None:
                self.at = time.perf_counter()
            return torch.zeros((input_ids.shape[0],), dtype=torch.bool, device=input_ids.device)

    def direct() -> tuple[float, float, int, str]:
        first = FirstToken()
        torch.manual_seed(seed)
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                do_sample=True,
                temperature=params["temperature"],
                top_k=params["top_k"],
                top_p=params["top_p"],
                min_p=params["min_p"],
                repetition_penalty=params["repetition_penalty"],
                max_new_tokens=params["max_new_tokens"],
                pad_token_id=pad,
                stopping_criteria=StoppingCriteriaList([first]),
            )
        elapsed = time.perf_counter() - started
        new = out[0, inputs["input_ids"].shape[1] :]
        return elapsed, (first.at or started) - started, int(new.shape[0]), tokenizer.decode(new, skip_special_tokens=True)

    # ---------------------------------------------------------------- studio
    runner = LocalRunner(
        EngineConfig(home=work / "home", plugin_dirs=[REPO / "plugins"], model_paths=[model_dir.parent], device=args.device)
    )

    def studio() -> tuple[float, float, int, str]:
        first: list[float] = []

        def on_event(event):
            if event["type"] == "text" and not first:
                first.append(time.perf_counter())

        started = time.perf_counter()
        result = runner.run("studio.llm", params, seed=seed, on_event=on_event)
        elapsed = time.perf_counter() - started
        artifact = result.artifacts[0]
        tokens = int(artifact.meta["output"]["Tokens"])
        return elapsed, (first[0] if first else started) - started, tokens, artifact.data.decode("utf-8")

    direct()  # warm-up (first-call overheads)
    studio()  # warm-up, and loads the model into the engine's cache
    rows: dict[str, list[tuple[float, float, int, str]]] = {"model.generate (direct)": [], "studio.llm (LocalRunner)": []}
    for _ in range(args.repeats):
        rows["model.generate (direct)"].append(direct())
        rows["studio.llm (LocalRunner)"].append(studio())

    summary = {}
    print(
        f"model: {model_dir.name}  device: {args.device}  threads: {args.threads}  repeats: {args.repeats}  max new tokens: {args.tokens}"
    )
    print(f"{'path':<26} {'tokens':>7} {'median s':>9} {'tokens/s':>9} {'TTFT ms':>8}")
    for name, runs in rows.items():
        tokens = statistics.median(run[2] for run in runs)
        seconds = statistics.median(run[0] for run in runs)
        rate = statistics.median(run[2] / run[0] for run in runs)
        ttft = statistics.median(run[1] for run in runs) * 1000
        summary[name] = (rate, ttft)
        print(f"{name:<26} {tokens:>7.0f} {seconds:>9.4f} {rate:>9.1f} {ttft:>8.2f}")
    (direct_rate, direct_ttft), (studio_rate, studio_ttft) = summary.values()
    same = rows["model.generate (direct)"][0][3] == rows["studio.llm (LocalRunner)"][0][3]
    ratio = studio_rate / direct_rate
    # Each studio run against the direct run just before it: robust to a machine whose load drifts.
    paired = statistics.median(
        (s[2] / s[0]) / (d[2] / d[0]) for d, s in zip(rows["model.generate (direct)"], rows["studio.llm (LocalRunner)"])
    )
    verdict = "OK" if ratio >= 0.95 else "BELOW TARGET"
    print(f"tokens/s ratio studio/direct: {ratio:.3f} (median of paired runs {paired:.3f}; target >= 0.95)  {verdict}")
    print(f"TTFT studio - direct: {studio_ttft - direct_ttft:+.2f} ms")
    print(f"same text from both paths for the same seed: {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
