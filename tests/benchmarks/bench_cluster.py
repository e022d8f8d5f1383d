"""Benchmark: the Ray backend and the remote path against the local worker.

Run: ``.venv/bin/python tests/benchmarks/bench_cluster.py [--jobs 8] [--size 384] [--runs 3]``
(needs the cluster extra: ``pip install .[cluster]``).

Prints a table (not a pytest test):

- a batch of N CPU-bound jobs (studio.patterns at SIZE², seeds 1..N) on a local Ray
  (``ray.init(num_cpus=2)``) with 1 actor vs 2 actors: wall time of the batch, speed-up, and
  where the CPU went during the 2-actor batch (actors, this driver, Ray's own processes);
- the ceiling for that speed-up on this machine: the same batch in 1 vs 2 plain processes
  (``LocalRunner`` in a ``multiprocessing`` pool, no Ray, no engine);
- per-job time, one job at a time, through the engine's local worker (``JobQueue``) vs one
  Ray actor (``RayJobQueue``): the Ray path's overhead per job;
- the remote path on loopback: a job through a real engine process over HTTP + WebSocket
  with its output downloaded (what ``--engine URL`` does) vs the same job in ``LocalRunner``.

Medians over ``--runs``; the machine may be shared, so the spread is printed too.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


class Finished:
    """The queue's publish callback: wakes the waiter on a job's final event (no polling loop
    in this driver to steal CPU from the actors, as an engine's clients wait on events too)."""

    def __init__(self) -> None:
        self._done: dict[str, threading.Event] = collections.defaultdict(threading.Event)
        self._lock = threading.Lock()

    def __call__(self, event) -> None:
        if getattr(event, "type", None) in ("done", "failed", "cancelled"):
            with self._lock:
                self._done[event.job].set()

    def wait(self, job_id: str, timeout: float) -> None:
        with self._lock:
            done = self._done[job_id]
        if not done.wait(timeout):
            raise TimeoutError(job_id)


FINISHED = Finished()


def _wait(queue, job_id: str, timeout: float = 600.0):
    FINISHED.wait(job_id, timeout)
    job = queue.get(job_id)
    assert job.state == "done", job.error
    return job


def _cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of this process, its Ray actors and Ray's own processes."""
    import psutil

    me = psutil.Process()
    totals = {"actors": 0.0, "driver": 0.0, "ray": 0.0}
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
            name = process.name()
        except psutil.Error:
            continue
        group = "driver" if process.pid == me.pid else "actors" if "StudioActor" in name else "ray"
        totals[group] += times.user + times.system
    return totals


_POOL_RUNNER = None


def _pool_start(home: str) -> None:
    """One compute thread per process, as a 1-CPU Ray actor has (set before numpy/torch load)."""
    global _POOL_RUNNER
    from studio.engine.ray_backend import THREAD_VARIABLES

    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    from studio.engine.config import EngineConfig
    from studio.engine.runner import LocalRunner

    _POOL_RUNNER = LocalRunner(EngineConfig(home=Path(home) / f"process-{os.getpid()}"))  # a home each, as each actor has its cache


def _pool_job(args: tuple[int, int]) -> int:
    seed, size = args
    assert _POOL_RUNNER is not None
    return len(_POOL_RUNNER.run("studio.patterns", {"width": size, "height": size}, seed).artifacts[0].data)


def _ceiling(home: Path, jobs: int, size: int, runs: int) -> dict[int, list[float]]:
    """The batch in 1 and 2 plain processes: what 2 cores give this workload without Ray."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    times: dict[int, list[float]] = {}
    for processes in (1, 2):
        with context.Pool(processes, initializer=_pool_start, initargs=(str(home),)) as pool:
            pool.map(_pool_job, [(seed, size) for seed in range(1, 2 * processes + 1)], chunksize=1)  # warm each
            times[processes] = []
            for _ in range(runs):
                started = time.perf_counter()
                pool.map(_pool_job, [(seed, size) for seed in range(1, jobs + 1)], chunksize=1)
                times[processes].append(time.perf_counter() - started)
    return times


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
    cpu: dict[str, float] = {}
    for actors in (1, 2):
        queue = RayJobQueue(config, FINISHED, lambda failure: None, store=store, actors=actors)
        queue.start()
        _batch(queue, 2, args.size)  # warm every actor (imports, first run)
        before = _cpu_seconds()
        batch[actors] = [_batch(queue, args.jobs, args.size) for _ in range(args.runs)]
        if actors == 2:
            cpu = {group: (seconds - before[group]) / args.runs for group, seconds in _cpu_seconds().items()}
        if actors == 1:
            for _ in range(args.runs):
                ray_job += _sequential(queue, max(2, args.jobs // 2), args.size)
        queue.close()
    ray.shutdown()

    # ---------------------------------------------------------------- local worker per job
    local = JobQueue(config, FINISHED, lambda failure: None)
    local.start()
    _sequential(local, 2, args.size)
    local_job: list[float] = []
    for _ in range(args.runs):
        local_job += _sequential(local, max(2, args.jobs // 2), args.size)
    local.close()

    ceiling = _ceiling(home, args.jobs, args.size, args.runs)

    # ---------------------------------------------------------------- remote path on loopback
    from studio.engine.client import EngineClient
    from studio.engine.runner import LocalRunner

    runner = LocalRunner(config)
    runner.run("studio.patterns", {"width": 32, "height": 32}, 1)  # warm: the plugin's import, as for the engine below
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
    print("CPU per 2-actor batch: " + ", ".join(f"{group} {seconds:.2f}s" for group, seconds in cpu.items()))
    bare = statistics.median(ceiling[1]) / statistics.median(ceiling[2])
    print(f"batch of {args.jobs} in 1 plain process : {_spread(ceiling[1])}")
    print(f"batch of {args.jobs} in 2 plain processes: {_spread(ceiling[2])}")
    print(f"speed-up 2 vs 1 plain processes (this machine's ceiling for the workload): {bare:.2f}x")
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
