"""A killed worker is described from the kernel's own record: signal, or out of memory."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from studio.engine.exit_reason import OomCount, describe_exit, oom_kill_count

ENGINE_PLUGINS = ["slow", "hog"]


def wait_state(engine, job_id: str, states=("done", "failed", "cancelled"), timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = engine.job(job_id)
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {engine.job(job_id)['state']}")


def plugin_worker(engine_home: Path, plugin_id: str, timeout: float = 60.0) -> psutil.Process:
    """The sandboxed worker process that runs ``plugin_id`` (a child of the engine)."""
    import json

    pid = json.loads((engine_home / "engine.json").read_text())["pid"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(pid).children(recursive=True):
            try:
                command = " ".join(child.cmdline())
            except psutil.NoSuchProcess:
                continue
            if "studio.engine.sandbox_worker" in command and f'"plugin_id": "{plugin_id}"' in command:
                return child
        time.sleep(0.1)
    raise AssertionError(f"no worker process for {plugin_id}")


def test_a_kill_9_is_reported_as_a_signal_and_not_blamed_on_memory(engine, engine_home):
    job_id = engine.submit("test.slow", {"steps": 400, "step_seconds": 0.05}, seed=1)
    wait_state(engine, job_id, states=("running",))
    worker = plugin_worker(engine_home, "test.slow")
    deadline = time.monotonic() + 60
    while engine.job(job_id)["progress_detail"]["done"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the plugin's code is running in that worker
    worker.send_signal(signal.SIGKILL)
    job = wait_state(engine, job_id)
    assert job["state"] == "failed"
    assert "killed by SIGKILL" in job["error"]
    assert "out of memory" not in job["error"] and "out-of-memory killer ended it" not in job["error"]
    if oom_kill_count(os.getpid()) is not None:  # Linux: the kernel's count says it was not memory
        assert "not for memory" in job["error"] and "oom_kill count" in job["error"]
    assert engine.run("test.slow", {"steps": 1, "step_seconds": 0}, seed=2, timeout=120)["state"] == "done"


def _memory_cgroup(pid: int) -> Path | None:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, group = line.split(":", 2)
        if "memory" in controllers.split(","):
            folder = Path("/sys/fs/cgroup/memory") / group.lstrip("/")
            return folder if (folder / "memory.limit_in_bytes").is_file() else None
        if controllers == "":
            folder = Path("/sys/fs/cgroup") / group.lstrip("/")
            if (folder / "memory.max").is_file():
                return folder
    return None


@pytest.fixture
def small_cgroup(engine, engine_home):
    """A memory cgroup of 96 MB holding the hog's worker (needs a writable cgroup tree)."""
    engine.run("test.hog", {"megabytes": 1}, seed=1, timeout=120)  # starts its worker
    worker = plugin_worker(engine_home, "test.hog")
    parent = _memory_cgroup(worker.pid)
    if parent is None or not os.access(parent, os.W_OK):
        pytest.skip("no writable memory cgroup here to confine the worker in")
    group = parent / f"studio-oom-test-{os.getpid()}"
    try:
        group.mkdir()
        if (group / "memory.limit_in_bytes").exists():  # cgroup v1
            (group / "memory.limit_in_bytes").write_text(str(96 * 1024 * 1024))
            if (group / "memory.memsw.limit_in_bytes").exists():
                (group / "memory.memsw.limit_in_bytes").write_text(str(96 * 1024 * 1024))
        else:
            (group / "memory.max").write_text(str(96 * 1024 * 1024))
            (group / "memory.swap.max").write_text("0")
        (group / "cgroup.procs").write_text(str(worker.pid))
    except OSError as exc:
        pytest.skip(f"cannot make a memory cgroup here: {exc}")
    yield group
    for _ in range(50):
        try:
            group.rmdir()
            break
        except OSError:
            time.sleep(0.1)


def test_a_worker_killed_by_the_kernels_oom_killer_is_reported_as_out_of_memory(engine, small_cgroup):
    job = engine.run("test.hog", {"megabytes": 1024}, seed=1, timeout=120)
    assert job["state"] == "failed"
    assert "killed by SIGKILL: the kernel's out-of-memory killer ended it" in job["error"]
    assert str(small_cgroup) in job["error"]
    assert engine.run("test.slow", {"steps": 1, "step_seconds": 0}, seed=2, timeout=120)["state"] == "done"


def test_describe_exit_names_signals_and_exit_codes_and_admits_what_it_cannot_tell():
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV"
    before, same, more = OomCount("/x/memory.events", 2), OomCount("/x/memory.events", 2), OomCount("/x/memory.events", 3)
    assert "out-of-memory killer ended it" in describe_exit(-9, before, more)
    assert "not for memory" in describe_exit(-9, before, same)
    assert "cause is unknown" in describe_exit(-9, None, None)
