"""A worker process for one community plugin, restricted before the plugin's code loads.

The engine starts it with ``python -P -m studio.engine.sandbox_worker FD PLAN`` (not
multiprocessing: the environment and argument list are ours to choose, so the token of a
remote engine in ``STUDIO_ENGINE_TOKEN`` never reaches it). In the child, in this order:

1. ``studio.plugins.guard.sandbox.enter``: private temporary folder, Landlock and seccomp
   (one thread exists, so every later thread inherits them);
2. the runner is built over this one plugin's folder (no other plugin is even read);
3. the audit hook is installed for the rest of the process's life;
4. the same message loop as the first-party worker (``worker_main``);
5. ``os._exit``: code a plugin registered with ``atexit`` or ``weakref.finalize`` never runs.

Protocol, messages and exit handling are those of ``studio.engine.worker``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from studio.core.paths import REPO_ROOT
from studio.engine.config import EngineConfig
from studio.plugins.discovery import PluginRecord
from studio.plugins.guard.sandbox import Protection, SandboxPlan, plan_sandbox
from studio.plugins.host import plugin_data_dir


class SandboxedProcess:
    """A ``multiprocessing.Process``-shaped view of the child (pid, exitcode, kill, join)."""

    def __init__(self, popen: subprocess.Popen) -> None:
        self._popen = popen
        self.pid = popen.pid

    @property
    def exitcode(self) -> int | None:
        return self._popen.poll()

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    def kill(self) -> None:
        if self.is_alive():
            self._popen.kill()

    def join(self, timeout: float | None = None) -> None:
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass


def sandbox_plan(config: EngineConfig, record: PluginRecord) -> SandboxPlan:
    manifest = record.manifest
    assert manifest is not None
    layout = config.layout
    return plan_sandbox(
        plugin_id=manifest.plugin.id,
        permissions=manifest.plugin.permissions,
        plugin_folder=Path(record.folder),
        home=Path(config.home),
        data_dir=plugin_data_dir(config.home, manifest.plugin.id),
        work_dir=layout.cache_dir / "sandbox" / manifest.plugin.id,
        artifacts_dir=layout.artifacts_dir,
        model_paths=config.all_model_paths(),
        # The studio's code, found through its folder (Python lists it to import ``studio``).
        code_paths=[str(REPO_ROOT), str(REPO_ROOT / "studio"), str(REPO_ROOT / "resources")],
    )


def start_sandboxed(
    config: EngineConfig, record: PluginRecord, config_data: dict[str, Any], device: dict[str, Any] | None = None
) -> tuple[Connection, SandboxedProcess]:
    """Start the sandboxed worker for ``record``; returns the engine's end of its pipe."""
    plan = sandbox_plan(config, record)
    parent, child = socket.socketpair()
    env = {key: value for key, value in os.environ.items() if key != "STUDIO_ENGINE_TOKEN"}
    env.update(PYTHONDONTWRITEBYTECODE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TMPDIR=plan.temp_dir)
    # The studio's own code must stay importable from the work folder the child runs in.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    payload = json.dumps(
        {"plan": plan.to_json(), "config": config_data, "folder": str(record.folder), "source": record.source, "device": device}
    )
    try:
        popen = subprocess.Popen(
            [sys.executable, "-P", "-m", "studio.engine.sandbox_worker", str(child.fileno()), payload],
            pass_fds=(child.fileno(),),
            env=env,
            cwd=plan.work_dir,
            stdin=subprocess.DEVNULL,
            close_fds=True,
        )
    finally:
        child.close()
    connection = Connection(parent.detach())
    return connection, SandboxedProcess(popen)


# --------------------------------------------------------------------------- child side


def main(argv: list[str]) -> None:
    fd, payload = int(argv[0]), json.loads(argv[1])
    conn = Connection(fd)
    plan = SandboxPlan.from_json(payload["plan"])
    from studio.plugins.guard.sandbox import SandboxError, enter, guard_for_life

    try:
        protection: Protection = enter(plan)
    except SandboxError as exc:
        # Fail closed: the plugin does not run with less protection than the list promised.
        conn.send(("sandbox-failed", str(exc)))
        os._exit(4)
    from studio.engine.device import DeviceInfo
    from studio.engine.runner import LocalRunner
    from studio.engine.worker import config_from_dict, worker_main
    from studio.plugins.host import SinglePluginHost

    config = config_from_dict(payload["config"])
    host = SinglePluginHost(Path(payload["folder"]), payload["source"], writable=[Path(p) for p in plan.write], data_root=Path(config.home))
    runner = LocalRunner(config, plugins=host, work_dir=Path(plan.work_dir))
    if payload.get("device"):
        runner.preset_device(DeviceInfo(**payload["device"]))
    record = host.discovery.records[0] if host.discovery.records else None
    if record is not None and record.manifest is not None:
        guard_for_life(plan, record.manifest, protection)
    runner.sandbox_hint = (
        f"refused by the sandbox of plugin {plan.plugin_id} ({protection.summary}): it may read its own folder, the model "
        "folders and the studio's code, and write its data folder, its scratch folder and the temporary folder"
    )
    try:
        worker_main(conn, payload["config"], runner=runner)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
