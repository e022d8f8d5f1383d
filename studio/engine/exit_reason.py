"""Why a worker process ended, from the kernel's own record rather than a guess.

A process killed with SIGKILL may have been ended by the kernel's out-of-memory killer, by
a user (``kill -9``), by a supervisor, or by the engine itself. The kernel counts its
out-of-memory kills: per control group (cgroup v2 ``memory.events``, cgroup v1
``memory.oom_control``: ``oom_kill N``) and machine-wide (``/proc/vmstat``: ``oom_kill N``).
The engine reads the counter of the worker's cgroup (else the machine's) when the worker
starts a job and again when it dies: only a count that went up is reported as "out of memory".
Where no counter can be read (not Linux), the message says that the cause is unknown.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class OomCount:
    """One reading of a kernel out-of-memory-kill counter, and which file it came from."""

    source: str
    kills: int


def oom_kill_count(pid: int | None) -> OomCount | None:
    """The out-of-memory kill counter that covers process ``pid`` (None: this machine's)."""
    if pid is not None:
        for path in _cgroup_counter_files(pid):
            kills = _read_counter(path)
            if kills is not None:
                return OomCount(str(path), kills)
    kills = _read_counter(Path("/proc/vmstat"))
    return OomCount("/proc/vmstat", kills) if kills is not None else None


def read_again(previous: OomCount | None) -> OomCount | None:
    """The same counter as ``previous``, now (the process may be gone, its cgroup is not)."""
    if previous is None:
        return None
    kills = _read_counter(Path(previous.source))
    return OomCount(previous.source, kills) if kills is not None else None


def _cgroup_counter_files(pid: int) -> list[Path]:
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text(encoding="ascii").splitlines()
    except OSError:
        return []
    files = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, group = parts
        relative = group.lstrip("/")
        if controllers == "":  # cgroup v2 (unified)
            for base in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
                files.append(base / relative / "memory.events")
        elif "memory" in controllers.split(","):
            files.append(CGROUP_ROOT / "memory" / relative / "memory.oom_control")
    return [path for path in files if path.is_file()]


def _read_counter(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


def describe_exit(exitcode: int | None, before: OomCount | None = None, after: OomCount | None = None) -> str:
    """Words for how a worker ended; for SIGKILL, whether the kernel's OOM killer did it."""
    if exitcode is None:
        return "no exit code"
    if exitcode >= 0:
        return f"exit code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    if name != "SIGKILL":
        return f"killed by {name}"
    if before is None or after is None or before.source != after.source:
        return "killed by SIGKILL (the kernel keeps no out-of-memory count here, so the cause is unknown)"
    if after.kills > before.kills:
        return f"killed by SIGKILL: the kernel's out-of-memory killer ended it (oom_kill in {after.source} went from {before.kills} to {after.kills}); use a smaller size or model, or lower the memory budget"
    return f"killed by SIGKILL, not for memory (the kernel's oom_kill count in {after.source} did not change): something outside the studio ended it"
