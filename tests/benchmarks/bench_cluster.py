"""Benchmark: the Ray backend and the remote path against the local worker.

Run: ``.venv/bin/python tests/benchmarks/bench_cluster.py [--jobs 8] [--size 384] [--runs 3]``
(needs the cluster extra: ``pip install .[cluster]``).

Prints a table (not a pytest test):

- a batch of N CPU-bound jobs (studio.patterns at SIZE², seeds 1..N) on a local Ray
  (``ray.init(num_cpus=2)``) with 1 actor vs 2 actors: wall time of the batch, speed-up;
- per-job time, one job at a time, through the engine's local worker (``JobQueue``) vs one
  Ray actor (``RayJobQueue``): the Ray path's overhead per job;
- the remote path on loopback: a job through a real engine process over HTTP + WebSocket
  with its output downloaded (what ``--engine URL`` does) vs the same job in ``LocalRunner``.

Medians over ``--runs``; the machine may be shared, so the spread is printed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _wait(queue, job_id: str, timeout: float = 600.0):
    from studio.engine.protocol import FINAL_STATES

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = queue.get(job_id)
        if job.state in FINAL_STATES:
            assert job.state == "done", job.error
            return job
        time.sleep(0.005)
    raise TimeoutError(job_id)


def _batch(queue, jobs: int, size: int) -> float:
    started = time.perf_counter()
    ids = [queue.submit("studio.patterns", {"width": size, "height": size}, seed).id for seed in range(1, jobs + 1)]
    for job_id in ids:
        _wait(queue, job_id)
    return time.perf_counter() - started


def _sequential(queue, jobs: int, size: int) -> list[float]:
    times = []
    for seed in range(1, jobs + 1):
        started = time.perf_counter()
        _wait(queue, queue.submit("studio.patterns", {"width": size, "height": size}, seed).id)
        times.append(time.perf_counter() - started)
    return times


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f}s (min {min(values):.3f}, max {max(values):.3f}, n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import ray

    from studio.engine.artifact_store import ArtifactStore
    from studio.engine.config import EngineConfig
    from studio.engine.jobs import JobQueue
    from studio.engine.ray_backend import RayJobQueue

    home = Path(tempfile.mkdtemp(prefix="bench-cluster-")) / "home"
    config = EngineConfig(home=home)
    store = ArtifactStore(config.layout.ensure().artifacts_dir)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; jobs: studio.patterns {args.size}²")

    # ---------------------------------------------------------------- 1 vs 2 actors
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    batch: dict[int, list[float]] = {}
    ray_job: list[float] = []
    for actors in (1, 2):
        queue = RayJobQueue(config, lambda event: None, lambda failure: None, store=store, actors=actors)
        queue.start()
        _batch(queue, 2, args.size)  # warm every actor (imports, first run)
        batch[actors] = [_batch(queue, args.jobs, args.size) for _ in range(args.runs)]
        if actors == 1:
            for _ in range(args.runs):
                ray_job += _sequential(queue, max(2, args.jobs // 2), args.size)
        queue.close()
    ray.shutdown()

    # ---------------------------------------------------------------- local worker per job
    local = JobQueue(config, lambda event: None, lambda failure: None)
    local.start()
    _sequential(local, 2, args.size)
    local_job: list[float] = []
    for _ in range(args.runs):
        local_job += _sequential(local, max(2, args.jobs // 2), args.size)
    local.close()

    # ---------------------------------------------------------------- remote path on loopback
    from studio.engine.client import EngineClient
    from studio.engine.runner import LocalRunner

    runner = LocalRunner(config)
    direct: list[float] = []
    for seed in range(1, args.jobs + 1):
        started = time.perf_counter()
        runner.run("studio.patterns", {"width": args.size, "height": args.size}, seed)
        direct.append(time.perf_counter() - started)
    engine_home = Path(tempfile.mkdtemp(prefix="bench-remote-")) / "home"
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", "engine", "--port", "0"],
        env=dict(os.environ, STUDIO_HOME=str(engine_home), PYTHONPATH=str(REPO)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not (engine_home / "remote.json").exists():
            time.sleep(0.1)
        import json

        data = json.loads((engine_home / "remote.json").read_text())
        client = EngineClient(data["url"], data["token"])
        while True:
            try:
                client.plugins()
                break
            except Exception:
                time.sleep(0.2)
        client.run("studio.patterns", {"width": 32, "height": 32}, 1)  # warm the worker
        remote: list[float] = []
        for seed in range(1, args.jobs + 1):
            started = time.perf_counter()
            job = client.run("studio.patterns", {"width": args.size, "height": args.size}, seed)
            client.artifact(job["outputs"][0])
            remote.append(time.perf_counter() - started)
        client.shutdown()
        client.close()
    finally:
        process.wait(timeout=30)

    one, two = statistics.median(batch[1]), statistics.median(batch[2])
    print(f"batch of {args.jobs} on 1 actor : {_spread(batch[1])}")
    print(f"batch of {args.jobs} on 2 actors: {_spread(batch[2])}")
    print(f"speed-up 2 vs 1 actors: {one / two:.2f}x (target >= 1.8 on 2 free cores)")
    print(f"per job, local worker : {_spread(local_job)}")
    print(f"per job, 1 Ray actor  : {_spread(ray_job)}")
    print(f"Ray overhead per job: {100 * (statistics.median(ray_job) / statistics.median(local_job) - 1):+.1f}% (target <= 5%)")
    print(f"per job, LocalRunner in-process  : {_spread(direct)}")
    print(f"per job, engine over loopback API: {_spread(remote)} (submit, events, output download)")
    print(
        f"remote path overhead on loopback: {100 * (statistics.median(remote) / statistics.median(direct) - 1):+.1f}%, {1000 * (statistics.median(remote) - statistics.median(direct)):+.0f} ms per job"
    )
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
