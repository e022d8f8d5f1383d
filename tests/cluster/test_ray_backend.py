"""The Ray backend on a two-node Ray cluster started by the test (``ray.cluster_utils.Cluster``,
1 CPU per node, so one actor per node): same bytes as the local runner for the same seed, a
batch fanned out over both nodes, each job and ``/health``'s actor list naming its node,
model-affinity routing, an actor killed mid-job, cancel. Skipped only when ray is not installed.

Both nodes run on this machine (same IP, same host name); what tells them apart is Ray's node
id, which the machine field carries."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from ray.cluster_utils import Cluster  # noqa: E402 (after the importorskip)

from studio.engine.artifact_store import ArtifactStore  # noqa: E402 (after the importorskip)
from studio.engine.config import EngineConfig  # noqa: E402 (after the importorskip)
from studio.engine.protocol import JobState  # noqa: E402 (after the importorskip)
from studio.engine.ray_backend import THREAD_VARIABLES, RayJobQueue  # noqa: E402 (after the importorskip)
from studio.engine.runner import LocalRunner  # noqa: E402 (after the importorskip)

pytestmark = pytest.mark.slow
FIXTURE_PLUGINS = Path(__file__).resolve().parents[1] / "fixtures" / "plugins"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    home = tmp_path_factory.mktemp("ray") / "home"
    (home / "plugins").mkdir(parents=True)
    for name in ("slow", "modelload"):
        shutil.copytree(FIXTURE_PLUGINS / name, home / "plugins" / name)
    config = EngineConfig(home=home, cancel_grace=3.0)
    # A driver environment asking for 2 threads (Ray keeps it): each 1-CPU actor must still use 1.
    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "2"
    try:
        nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        nodes.add_node(num_cpus=1)
        ray.init(address=nodes.address, include_dashboard=False, log_to_driver=False)
        nodes.wait_for_nodes()
    finally:
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous
    events: list = []
    store = ArtifactStore(config.layout.ensure().artifacts_dir)
    queue = RayJobQueue(config, events.append, lambda failure: None, store=store, actors=2)
    queue.start()
    yield queue, config, store, events
    queue.close()
    ray.shutdown()
    nodes.shutdown()


def _wait(queue: RayJobQueue, job_id: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = queue.get(job_id)
        if job.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {queue.get(job_id).state}")


def test_a_batch_fans_out_over_both_nodes_with_the_same_bytes_as_the_local_runner(cluster):
    queue, config, store, _events = cluster
    params = {"width": 256, "height": 256}
    ids = [queue.submit("studio.patterns", dict(params), seed).id for seed in range(1, 7)]
    jobs = [_wait(queue, job_id) for job_id in ids]
    assert all(job.state == JobState.DONE for job in jobs), [job.error for job in jobs]
    assert {job.record["actor"] for job in jobs} == {"actor-1", "actor-2"}
    runners = [job.to_status().runner for job in jobs]  # each status says which actor on which node
    assert {runner.name for runner in runners} == {"actor-1", "actor-2"}
    assert all(runner.kind == "ray" and runner.address and len(runner.node) == 8 and runner.device == "cpu" for runner in runners)
    node_ids = {node["NodeID"][:8] for node in ray.nodes() if node["Alive"]}
    assert len(node_ids) == 2 and {runner.node for runner in runners} == node_ids  # both nodes ran part of the batch
    assert {actor["node_id"][:8] for actor in queue.actors_report()} == node_ids  # what GET /health lists
    for slot in queue.slots:  # one compute thread per CPU the actor was given, not the driver's 2
        assert ray.get(slot.handle.threads_in_use.remote())["env"] == dict.fromkeys(THREAD_VARIABLES, "1")
    local = LocalRunner(config)
    for seed, job in zip(range(1, 7), jobs):
        expected = local.run("studio.patterns", dict(params), seed).artifacts[0].data
        assert store.get(job.outputs[0]).data == expected


def test_jobs_go_to_the_actor_that_already_holds_their_model(cluster):
    queue, config, store, _events = cluster
    models = []
    for name in ("a", "b"):
        path = config.home / "models" / f"{name}.npy"
        path.parent.mkdir(exist_ok=True)
        np.save(path, np.arange(100, dtype=np.float32) * (1 if name == "a" else 2))
        models.append(str(path))
    first = _wait(queue, queue.submit("test.modelload", {"model": models[0]}, 1).id)
    holder = first.record["actor"]
    for _ in range(3):
        job = _wait(queue, queue.submit("test.modelload", {"model": models[0]}, 1).id)
        assert job.record["actor"] == holder
        assert store.get(job.outputs[0]).data.decode().startswith("loads=1 ")  # never loaded twice
    other = _wait(queue, queue.submit("test.modelload", {"model": models[1]}, 1).id)
    assert other.record["actor"] != holder  # the least-loaded actor, not the busy cache
    report = {actor["name"]: actor for actor in queue.actors_report()}
    assert str(Path(models[0]).resolve()) in report[holder]["models"]
    loaded = queue.worker_status()["loaded"]
    assert {entry["actor"] for entry in loaded} == {holder, other.record["actor"]}


def test_an_actor_killed_mid_job_hands_the_job_to_another_and_is_replaced(cluster):
    queue, _config, store, events = cluster
    job = queue.submit("test.slow", {"steps": 40, "step_seconds": 0.1}, 3)
    deadline = time.monotonic() + 60
    while not any(slot.job is job for slot in queue.slots) or job.progress["done"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    slot = next(slot for slot in queue.slots if slot.job is job)
    ray.kill(slot.handle)
    finished = _wait(queue, job.id)
    assert finished.state == JobState.DONE, finished.error
    assert finished.record["actor"] != slot.name
    assert any("trying the job on another actor" in line for line in finished.logs)
    assert len(queue.slots) == 2 and all(s.alive for s in queue.slots)
    assert store.get(finished.outputs[0]).data.decode().startswith("steps=40 seed=3")
    assert any(getattr(e, "type", None) == "progress" and getattr(e, "job", None) == job.id for e in events)


def test_cancel_reaches_the_actor(cluster):
    queue, _config, _store, _events = cluster
    job = queue.submit("test.slow", {"steps": 200, "step_seconds": 0.05}, 4)
    deadline = time.monotonic() + 60
    while job.progress["done"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    slot = next(slot for slot in queue.slots if slot.job is job)
    started = time.monotonic()
    queue.cancel(job.id)
    assert _wait(queue, job.id).state == JobState.CANCELLED
    assert time.monotonic() - started < 2.5  # the plugin stopped itself: well within the grace
    assert slot.alive and slot in queue.slots  # a cooperative cancel keeps the actor
