"""Benchmark: studio.diffusion through the engine vs the same diffusers pipeline called directly.

Run: ``.venv/bin/python tests/benchmarks/bench_diffusion.py [--steps 20] [--size 64] [--runs 10]``

Prints a table (not a pytest test). Both sides run the same tiny random SD 1.x pipeline
(tests/diffusion/tiny_sd.py) on the CPU with the same prompt, size, steps, scheduler
(Euler), guidance and seed, interleaved run by run so machine noise hits both alike:

- seconds per denoising step: the median gap between consecutive step callbacks, so the
  studio side includes everything it adds per step (live preview projection + JPEG,
  progress event, cancel check); target ratio <= 1.03;
- the studio's own work per step, timed inside its step callback, and per job, timed
  outside the pipeline call (on a busy shared CPU these are the trustworthy overhead
  figures; the side-by-side ratios move with the machine's load);
- seconds per whole job (studio adds model-cache lookup, LoRA/scheduler setup, PNG with
  metadata; diffusers returns PIL images);
- model switching: a cold load through the engine's cache vs diffusers' own loading, and
  switching back to a model that is still cached.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "plugins" / "diffusion"), str(REPO / "tests" / "diffusion")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (tiny VAE: latents are half)")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the dev machine's cores are shared)")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import torch

    torch.set_num_threads(args.threads)
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline
    from tiny_sd import write_tiny_models

    from studio.engine.config import EngineConfig
    from studio.engine.runner import LocalRunner

    root = Path(tempfile.mkdtemp(prefix="bench-diffusion-"))
    tiny = write_tiny_models(root)
    runner = LocalRunner(EngineConfig(home=root / "home", plugin_dirs=[REPO / "plugins"], model_paths=[tiny.models_dir]))
    prompt, seed, guidance = "a red cat", 1234, 7.0
    params = {
        "model": str(tiny.folder),
        "prompt": prompt,
        "steps": args.steps,
        "width": args.size,
        "height": args.size,
        "scheduler": "Euler",
        "guidance": guidance,
    }

    # ---- cold loads (first job through the engine vs diffusers' loaders), before anything is cached
    started = time.perf_counter()
    direct = StableDiffusionPipeline.from_pretrained(tiny.folder, safety_checker=None, requires_safety_checker=False)
    direct_folder_load = time.perf_counter() - started
    direct.set_progress_bar_config(disable=True)
    runner.run("studio.diffusion", dict(params, steps=1), seed=seed)  # loads through the cache
    studio_folder_load = _load_seconds(runner, tiny.folder)
    runner.run("studio.diffusion", dict(params, steps=1, model=str(tiny.single_file)), seed=seed)
    studio_file_load = _load_seconds(runner, tiny.single_file)

    # ---- switching back to a cached model: the engine's lookup, measured alone
    hits = []
    for _ in range(20):
        started = time.perf_counter()
        runner.models.load(tiny.folder, _must_not_load, kind="diffusion", dtype=runner.device.dtype, device=runner.device.name)
        hits.append(time.perf_counter() - started)
    runner.models.end_job()

    # ---- sampling, interleaved
    def studio_run() -> tuple[list[float], float]:
        stamps: list[float] = []
        lock = threading.Lock()

        def on_event(event):
            if event["type"] == "preview":
                with lock:
                    stamps.append(time.perf_counter())

        started = time.perf_counter()
        runner.run("studio.diffusion", params, seed=seed, on_event=on_event)
        return _gaps(stamps), time.perf_counter() - started

    def direct_run() -> tuple[list[float], float]:
        stamps: list[float] = []

        def on_step(pipe, step, timestep, tensors):
            stamps.append(time.perf_counter())
            return tensors

        started = time.perf_counter()
        direct.scheduler = EulerDiscreteScheduler.from_config(direct.scheduler.config)
        with torch.inference_mode():
            direct(
                prompt,
                num_inference_steps=args.steps,
                guidance_scale=guidance,
                width=args.size,
                height=args.size,
                generator=[torch.Generator("cpu").manual_seed(seed)],
                callback_on_step_end=on_step,
            )
        return _gaps(stamps), time.perf_counter() - started

    # What the studio adds inside each step (preview projection + JPEG, progress, cancel check),
    # timed around the plugin's step callback itself: immune to the machine's load, unlike
    # the side-by-side ratio on a shared CPU.
    from studio_diffusion import generator as plugin_generator

    callback_seconds: list[float] = []
    original_callback = plugin_generator._Job._on_step_end

    def timed_callback(self, pipe, step, timestep, tensors):
        started = time.perf_counter()
        try:
            return original_callback(self, pipe, step, timestep, tensors)
        finally:
            callback_seconds.append(time.perf_counter() - started)

    plugin_generator._Job._on_step_end = timed_callback
    # Likewise the time inside the pipeline call of each studio job, to see the studio's
    # own per-job work (model-cache lookup, LoRA/scheduler setup, PNG + metadata, store).
    pipeline_seconds: list[float] = []
    original_call = plugin_generator._Job._call

    def timed_call(self, pipe, call):
        started = time.perf_counter()
        try:
            return original_call(self, pipe, call)
        finally:
            pipeline_seconds.append(time.perf_counter() - started)

    plugin_generator._Job._call = timed_call
    studio_run(), direct_run()  # warm-up
    studio_steps, direct_steps, studio_jobs, direct_jobs = [], [], [], []
    for _ in range(args.runs):
        gaps, job = studio_run()
        studio_steps += gaps
        studio_jobs.append(job)
        gaps, job = direct_run()
        direct_steps += gaps
        direct_jobs.append(job)

    plugin_generator._Job._on_step_end = original_callback
    plugin_generator._Job._call = original_call
    outside = statistics.median(job - inside for job, inside in zip(studio_jobs, pipeline_seconds[-len(studio_jobs) :]))
    s_step, d_step = statistics.median(studio_steps), statistics.median(direct_steps)
    callback = statistics.median(callback_seconds)
    s_job, d_job = statistics.median(studio_jobs), statistics.median(direct_jobs)
    rows = [
        (f"s/step, txt2img {args.size}x{args.size}, {args.steps} steps (median)", s_step, d_step),
        ("s/job (whole generation)", s_job, d_job),
        ("studio's own work per step (inside the callback)", callback, None),
        ("studio's own work per job (outside the pipeline)", outside, None),
        ("cold load, diffusers folder", studio_folder_load, direct_folder_load),
        ("cold load, single-file .safetensors", studio_file_load, None),
        ("switch back to a cached model", statistics.median(hits), None),
    ]
    print(
        f"\nstudio.diffusion vs diffusers {_version('diffusers')}, torch {torch.__version__}, "
        f"CPU threads {torch.get_num_threads()}, runs {args.runs}"
    )
    print(f"{'measure':<52} {'studio':>12} {'diffusers':>12} {'ratio':>8}")
    for label, studio, plain in rows:
        ratio = f"{studio / plain:8.3f}" if plain else f"{'':>8}"
        plain_text = f"{plain:12.5f}" if plain is not None else f"{'-':>12}"
        print(f"{label:<52} {studio:12.5f} {plain_text} {ratio}")
    print(
        f"\nper-step ratio {s_step / d_step:.3f} (target <= 1.03); the studio's own per-step work is "
        f"{1000 * callback:.2f} ms = {100 * callback / d_step:.1f}% of a step; cached switch "
        f"{1000 * statistics.median(hits):.2f} ms vs cold load {studio_folder_load:.3f} s"
    )


def _gaps(stamps: list[float]) -> list[float]:
    return [b - a for a, b in zip(stamps, stamps[1:])]


def _load_seconds(runner, path: Path) -> float:
    resolved = str(path.resolve())
    for entry in runner.models.loaded():
        if entry["path"] == resolved:
            return float(entry["load_seconds"])
    raise RuntimeError(f"{path} is not in the model cache")


def _must_not_load(path):
    raise AssertionError(f"{path} should have been cached")


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    main()
