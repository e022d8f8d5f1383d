"""Benchmark: loading full-size Stable Diffusion checkpoints on the CPU, single file vs folder.

Run: ``.venv/bin/python tests/benchmarks/bench_diffusion_loading.py [--runs 3] [--sdxl] [--keep DIR]``

Prints a table (not a pytest test). Writes, in a temporary folder deleted afterwards (10 GB
of disk; ``--sdxl`` adds 7 GB), an SD 1.5-size model with random weights in the layouts
artists have: a single-file fp16 .safetensors (original LDM key names, as downloaded), the
same file in fp32, and a diffusers folder (fp32). Every load runs in a fresh process
(tests/diffusion/load_probe.py), one after the other, interleaved run by run:

- load seconds (median);
- peak RSS over the load *and one 64x64 denoising step* (median): a diffusers folder's
  weights are memory-mapped and read on first use, so its load alone touches almost nothing;
  the step makes every path hold the weights it needs;
- the ratio of that peak to diffusers' own folder load (target <= 1.15 for single files);
- the previous single-file path, diffusers' ``from_single_file`` (reads the whole file, then
  casts into a second copy), for comparison (``--old-runs``, default 1: it is slow and big);
- the SHA-256 of the single file: what the first job waited for before loading, until the
  model cache moved it to a background thread.

``--sdxl`` also writes an SDXL-size fp16 file and loads it in bfloat16 (what the plugin picks
on a CPU without room for float32, e.g. 16 GB machines) with one step; the float32 figures
are computed from the tensor sizes in the header (too big for the shared dev machine).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = REPO / "tests" / "diffusion" / "load_probe.py"
sys.path[:0] = [str(REPO), str(REPO / "plugins" / "diffusion"), str(REPO / "tests" / "diffusion")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
GIB = 2**30


def probe(how: str, path: Path, *extra: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    result = subprocess.run([sys.executable, str(PROBE), how, str(path), *extra], check=False, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{how} {path.name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def make_folder(single: Path, folder: Path) -> None:
    """The same model as a diffusers folder (fp32), written by a separate process."""
    code = (
        "import sys; from pathlib import Path; "
        f"sys.path[:0]={[str(REPO), str(REPO / 'plugins' / 'diffusion')]!r}; "
        "from studio_diffusion.loading import load_model; "
        f"load_model(Path({str(single)!r}), device='cpu', dtype='float32', allow_pickle=False)"
        f".pipe.save_pretrained({str(folder)!r}, safe_serialization=True)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def derive_fp32(source: Path, target: Path) -> None:
    import torch
    from ldm_format import write_safetensors_streamed
    from studio_diffusion.single_file import TensorSource

    tensors = TensorSource(source)
    shapes = {key: torch.empty(info.shape, device="meta") for key, info in tensors.infos.items()}
    write_safetensors_streamed(target, shapes, torch.float32, lambda name, shape: tensors.read([name], torch.float32)[name])


def sha256_seconds(path: Path) -> float:
    started = time.perf_counter()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 * 2**20):
            digest.update(chunk)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--old-runs", type=int, default=1, help="runs of the previous path (0 skips it)")
    parser.add_argument("--step", type=int, default=64, help="image side of the one denoising step")
    parser.add_argument("--sdxl", action="store_true", help="also an SDXL-size file in bfloat16 (7 GB file, ~7.5 GB RSS)")
    parser.add_argument("--sdxl-only", action="store_true", help="only the SDXL measurement")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them (default: a temp dir, deleted)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-loading-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if not args.sdxl_only:
            sd15_table(args, work)
        if args.sdxl or args.sdxl_only:
            sdxl_rows(args, work)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def sd15_table(args: argparse.Namespace, work: Path) -> None:
    import torch
    from full_size import write_full_size_checkpoint
    from studio_diffusion.offline_configs import configs_root

    fp16 = work / "sd15-fp16.safetensors"
    fp32 = work / "sd15-fp32.safetensors"
    folder = work / "sd15-folder"
    started = time.perf_counter()
    if not fp16.exists():
        write_full_size_checkpoint(configs_root() / "sd1", fp16, torch.float16)
    if not fp32.exists():
        derive_fp32(fp16, fp32)
    if not folder.exists():
        make_folder(fp16, folder)
    print(
        f"wrote SD 1.5-size files in {time.perf_counter() - started:.0f}s: fp16 {fp16.stat().st_size / GIB:.2f} GiB, "
        f"fp32 {fp32.stat().st_size / GIB:.2f} GiB, folder "
        f"{sum(p.stat().st_size for p in folder.rglob('*') if p.is_file()) / GIB:.2f} GiB",
        flush=True,
    )

    step = ("--step", str(args.step))
    rows = {
        "diffusers folder (from_pretrained)": ("diffusers", folder, step),
        "studio, diffusers folder": ("studio", folder, step),
        "studio, single file fp16 -> fp32": ("studio", fp16, step),
        "studio, single file fp32": ("studio", fp32, step),
    }
    old = "previous: diffusers from_single_file fp16 -> fp32"
    results: dict[str, list[dict]] = {label: [] for label in [*rows, old]}
    for run in range(max(args.runs, args.old_runs)):
        if run < args.runs:
            for label, (how, path, extra) in rows.items():
                results[label].append(probe(how, path, *extra))
        if run < args.old_runs:
            results[old].append(probe("diffusers", fp16, "--config", str(configs_root() / "sd1"), *step))
        print(f"run {run + 1} done", flush=True)
    hash_seconds = statistics.median(sha256_seconds(fp16) for _ in range(args.runs))

    reference = statistics.median(r["peak_rss"] for r in results["diffusers folder (from_pretrained)"])
    print(
        f"\nloading an SD 1.5-size model on the CPU (float32), torch {torch.__version__}, 1 thread, "
        f"runs {args.runs} (previous path {args.old_runs}); peak = load + one {args.step}x{args.step} step"
    )
    print(f"{'path':<52} {'load s':>8} {'peak GiB':>9} {'vs folder':>10} {'step s':>8}")
    for label, measured in results.items():
        if not measured:
            continue
        load = statistics.median(r["seconds"] for r in measured)
        peak = statistics.median(r["peak_rss"] for r in measured)
        step_s = statistics.median(r["step_seconds"] or 0 for r in measured)
        print(f"{label:<52} {load:8.2f} {peak / GIB:9.2f} {peak / reference:10.3f} {step_s:8.2f}")
    print(f"{'SHA-256 of the fp16 file (now off the load path)':<52} {hash_seconds:8.2f}")


def sdxl_rows(args: argparse.Namespace, work: Path) -> None:
    import torch
    from full_size import write_full_size_checkpoint
    from studio_diffusion.checkpoint import read_safetensors_header
    from studio_diffusion.offline_configs import configs_root

    xl = work / "sdxl-fp16.safetensors"
    if not xl.exists():
        write_full_size_checkpoint(configs_root() / "sdxl", xl, torch.float16)
    tensors, _meta, _offset = read_safetensors_header(xl)
    weights = sum(int(torch.Size(info.shape).numel()) for info in tensors.values())
    measured = probe("studio", xl, "--dtype", "bfloat16", "--step", str(args.step))
    print(f"\nSDXL-size single file ({weights / 1e9:.2f} billion weights, file {xl.stat().st_size / GIB:.2f} GiB), 1 run")
    print(f"{'':<52} {'load s':>8} {'peak GiB':>9} {'step s':>8}")
    print(
        f"{'studio, bfloat16, measured (load + one step)':<52} {measured['seconds']:8.2f} "
        f"{measured['peak_rss'] / GIB:9.2f} {measured['step_seconds'] or 0:8.2f}"
    )
    print(f"{'float32 weights alone (computed)':<52} {'':>8} {weights * 4 / GIB:9.2f}")
    print(f"{'previous path, float32: file + cast copy (computed)':<52} {'':>8} {(xl.stat().st_size + weights * 4) / GIB:9.2f}")


if __name__ == "__main__":
    main()
