"""Load one model in a fresh process and print, as JSON, how long it took and the peak memory.

    python tests/diffusion/load_probe.py studio|diffusers PATH [--dtype float32] [--config DIR] [--step SIZE]

``studio`` loads through the plugin (``load_model``, what a job does); ``diffusers`` makes the
library call directly (``DiffusionPipeline.from_pretrained`` for a folder, ``from_single_file``
with the shipped offline config for a file: the plugin's previous single-file path).
``--step SIZE`` also runs one denoising step at SIZExSIZE, so the peak includes sampling.
Peak RSS is the process's VmHWM (what the OS charged it, file-backed pages included), reset
after the imports; ``baseline_rss`` is the RSS then, before loading.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(REPO / "plugins" / "diffusion"), str(HERE)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rss_now() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> None:
    """Forget the peak so far (Linux: "5" in clear_refs resets VmHWM): importing torch and
    diffusers briefly peaks higher than a small model, and would hide it."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_rss() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("how", choices=("studio", "diffusers"))
    parser.add_argument("path", type=Path)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--config", type=Path, help="config folder for diffusers' from_single_file")
    parser.add_argument("--step", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    import diffusers
    import transformers  # noqa: F401
    from diffusers import (  # noqa: F401
        AutoencoderKL,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from diffusers.loaders import single_file_utils  # noqa: F401  (the lazy imports a load triggers)
    from studio_diffusion.loading import load_model, quiet_loading, torch_dtype
    from studio_diffusion.offline_configs import tokenizers_for
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer  # noqa: F401

    reset_peak()
    baseline = rss_now()
    started = time.perf_counter()
    dtype_used = args.dtype
    if args.how == "studio":
        model = load_model(args.path, device="cpu", dtype=args.dtype, allow_pickle=False)
        pipe, dtype_used = model.pipe, model.dtype
    else:
        dtype = torch_dtype(args.dtype, "cpu")
        with quiet_loading():
            if args.path.is_dir():
                pipe = diffusers.DiffusionPipeline.from_pretrained(str(args.path), torch_dtype=dtype, local_files_only=True)
            else:
                index = json.loads((args.config / "model_index.json").read_text())
                cls = getattr(diffusers, index["_class_name"])
                family = "sdxl" if "text_encoder_2" in index else "sd1"
                pipe = cls.from_single_file(
                    str(args.path), config=str(args.config), torch_dtype=dtype, local_files_only=True, **tokenizers_for(args.config, family)
                )
    seconds = time.perf_counter() - started
    load_peak = peak_rss()
    step_seconds = None
    if args.step:
        pipe.set_progress_bar_config(disable=True)
        started = time.perf_counter()
        with torch.inference_mode():
            pipe("a cat", num_inference_steps=1, width=args.step, height=args.step, output_type="np")
        step_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss": peak_rss(),
                "load_peak_rss": load_peak,
                "baseline_rss": baseline,
                "rss_after": rss_now(),
                "dtype": dtype_used,
                "step_seconds": step_seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
