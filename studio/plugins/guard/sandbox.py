"""What a community plugin's own process may touch, and the layers that hold it there.

A community plugin runs in a worker process of its own (never the process of first-party
plugins, never one that knows the engine's token). Before any of its code is imported, that
process restricts itself, for good:

- **Landlock** (Linux ≥ 5.13): reads only the Python installation, the studio's code, the
  system's libraries and configuration, the plugin's own folder and the model folders;
  writes only its data folder (``STUDIO_HOME/plugin-data/<id>``), its private work and
  temporary folder, and the artefact store (where its outputs go). The rest of the studio
  home (``engine.json`` with the token, ``settings.json``, other plugins) is neither
  readable nor writable. With the ``files`` permission it may write anywhere *except* the
  studio home and the code it runs on. TCP is refused without ``network`` (ABI ≥ 4), and
  signals to processes outside the sandbox always are (ABI ≥ 6).
- **seccomp**: sockets other than unix ones without ``network``; new programs, forks and
  signals to other processes without ``subprocess`` (``studio.plugins.guard.seccomp``).
- **the audit hook** (``guard_process``): names the plugin, the action and the permission
  in the job's error, and is the whole guard where the kernel layers are missing.

``STUDIO_SANDBOX=audit`` turns the kernel layers off (to compare, or on a kernel that
misbehaves); the plugin list then says so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from studio.plugins.guard import landlock, seccomp
from studio.plugins.guard.audit import FILES, NETWORK, SUBPROCESS, declared, guard_process

SANDBOX_ENV = "STUDIO_SANDBOX"
# Read-only system folders every Python process needs (libraries, certificates, time zones,
# CPU topology); missing ones are skipped.
_SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/opt", "/sys", "/run/nvidia-persistenced")
# Of /proc, only the process's own folder and machine-wide facts: another process's
# /proc/<pid>/environ (the engine's environment) stays unreadable.
_PROC_READ = (
    "/proc/self",
    "/proc/cpuinfo",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/loadavg",
    "/proc/uptime",
    "/proc/version",
    "/proc/filesystems",
    "/proc/sys",
    "/proc/driver",
)
# Devices a plugin may open: the usual character devices, and GPUs.
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
_GPU_DEVICE_PREFIXES = ("nvidia", "dri", "kfd")


def kernel_layers_wanted() -> bool:
    return os.environ.get(SANDBOX_ENV, "").strip().lower() not in ("audit", "off", "none", "0")


@dataclass
class SandboxPlan:
    """Everything the sandboxed worker needs to restrict itself (JSON-able, crosses argv)."""

    plugin_id: str
    permissions: list[str]
    plugin_folder: str
    home: str
    data_dir: str
    work_dir: str
    artifacts_dir: str
    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)
    private: list[str] = field(default_factory=list)  # never readable, whatever is granted
    kernel_layers: bool = True

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxPlan:
        return cls(**data)

    @property
    def temp_dir(self) -> str:
        return os.path.join(self.work_dir, "tmp")


def plan_sandbox(
    *,
    plugin_id: str,
    permissions: Iterable[str],
    plugin_folder: Path,
    home: Path,
    data_dir: Path,
    work_dir: Path,
    artifacts_dir: Path,
    model_paths: Iterable[Path] = (),
    code_paths: Iterable[str] = (),
) -> SandboxPlan:
    """The folders a plugin's process may read and write (creates the ones it owns)."""
    for folder in (data_dir, work_dir, Path(work_dir) / "tmp", artifacts_dir):
        Path(folder).mkdir(parents=True, exist_ok=True)
    home_real = os.path.realpath(home)
    read = [os.path.realpath(plugin_folder)]
    read += [os.path.realpath(p) for p in model_paths]
    for path in _python_paths(code_paths):
        if _contains(path, home_real):
            continue  # a folder above the studio home would expose engine.json
        read.append(path)
    write = [os.path.realpath(p) for p in (data_dir, work_dir, artifacts_dir)]
    return SandboxPlan(
        plugin_id=plugin_id,
        permissions=sorted(set(permissions)),
        plugin_folder=os.path.realpath(plugin_folder),
        home=home_real,
        data_dir=os.path.realpath(data_dir),
        work_dir=os.path.realpath(work_dir),
        artifacts_dir=os.path.realpath(artifacts_dir),
        read=_unique(read),
        write=_unique(write),
        private=[home_real],
        kernel_layers=kernel_layers_wanted(),
    )


def _python_paths(extra: Iterable[str]) -> list[str]:
    """The Python installation and everything on sys.path (the studio's code included)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *extra}
    paths.update(p for p in sys.path if p)
    result = []
    for path in paths:
        real = os.path.realpath(path)
        if os.path.exists(real) and real != "/":
            result.append(real)
    return sorted(result)


# --------------------------------------------------------------------------- what is available


@dataclass
class Protection:
    """Which layers guard a plugin: shown in ``plugins list`` and asserted by the worker."""

    process: bool
    landlock: str = ""  # e.g. "Landlock ABI 7: files + TCP, signals"; "" when off
    seccomp: str = ""  # e.g. "seccomp: network sockets + new processes and signals"
    audit: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if not self.process:
            return "first-party: not restricted"
        parts = ["own process"]
        if self.landlock:
            parts.append(self.landlock)
        if self.seccomp:
            parts.append(self.seccomp)
        if self.audit:
            parts.append("audit hook")
        text = " + ".join(parts)
        return text + (f" ({'; '.join(self.notes)})" if self.notes else "")

    @property
    def level(self) -> str:
        """One word for tables: kernel, audit, process or none."""
        if not self.process:
            return "none"
        if self.landlock:
            return "kernel"
        return "audit" if self.audit else "process"

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "summary": self.summary,
            "landlock": self.landlock,
            "seccomp": self.seccomp,
            "audit_hook": self.audit,
            "own_process": self.process,
            "notes": list(self.notes),
        }


def expected_protection(permissions: Iterable[str], *, source: str, kernel_layers: bool | None = None) -> Protection:
    """The layers this machine gives a plugin with these permissions, without applying any."""
    if source == "first-party":
        return Protection(process=False)
    granted = set(permissions)
    wants_kernel = kernel_layers_wanted() if kernel_layers is None else kernel_layers
    protection = Protection(process=True, audit=not {NETWORK, SUBPROCESS, FILES} <= granted)
    if not wants_kernel:
        protection.notes.append(f"kernel layers off: {SANDBOX_ENV}={os.environ.get(SANDBOX_ENV, '')}")
        return protection
    abi = landlock.abi_version()
    if abi:
        protection.landlock = _landlock_for(granted, abi).describe()
    else:
        protection.notes.append(f"no Landlock: {landlock.unavailable_reason()}")
    if seccomp.supported():
        protection.seccomp = seccomp.describe(allow_network=NETWORK in granted, allow_processes=SUBPROCESS in granted)
    elif not {NETWORK, SUBPROCESS} <= granted:
        protection.notes.append(f"no seccomp: {seccomp.unavailable_reason()}")
    return protection


def protection_for(record: Any) -> Protection:
    """The protection a discovered plugin (a ``PluginRecord``) runs under on this machine."""
    manifest = getattr(record, "manifest", None)
    permissions = declared(manifest, "permissions", ()) if manifest is not None else ()
    return expected_protection(permissions, source=getattr(record, "source", "user"))


def _landlock_for(granted: set[str], abi: int) -> landlock.Landlock:
    return landlock.Landlock(abi=abi, block_tcp=NETWORK not in granted, scope_signals=True)


# --------------------------------------------------------------------------- applying


class SandboxError(OSError):
    """A layer the plan called for could not be applied; the plugin must not run."""


def apply_kernel_layers(plan: SandboxPlan) -> Protection:
    """Restrict this process with Landlock and seccomp as ``plan`` says. Call before any
    thread starts and before any plugin code is imported. Raises SandboxError when a layer
    this machine offers could not be applied (fail closed, never silently weaker)."""
    granted = set(plan.permissions)
    expected = expected_protection(granted, source="user", kernel_layers=plan.kernel_layers)
    applied = Protection(process=True, audit=expected.audit, notes=list(expected.notes))
    tcp_by_landlock = False
    if expected.landlock:
        ruleset = _landlock_for(granted, landlock.abi_version())
        tcp_by_landlock = ruleset.handles_tcp
        _grant(ruleset, plan, granted)
        try:
            ruleset.restrict_self()
        except OSError as exc:
            raise SandboxError(f"could not restrict plugin {plan.plugin_id} with Landlock: {exc}") from exc
        applied.landlock = ruleset.describe()
    if expected.seccomp:
        try:
            seccomp.restrict_self(allow_network=NETWORK in granted, allow_processes=SUBPROCESS in granted, tcp_by_landlock=tcp_by_landlock)
        except OSError as exc:
            raise SandboxError(f"could not restrict plugin {plan.plugin_id} with seccomp: {exc}") from exc
        applied.seccomp = expected.seccomp
    return applied


def _grant(ruleset: landlock.Landlock, plan: SandboxPlan, granted: set[str]) -> None:
    system = [p for p in _SYSTEM_READ if os.path.exists(p)]
    ruleset.grant_all(system, landlock.READ)
    ruleset.grant_all([os.path.realpath(p) for p in _PROC_READ], landlock.READ)
    ruleset.grant_all(plan.read, landlock.READ)
    ruleset.grant_all(_DEVICES, landlock.DEVICE)
    ruleset.grant_all(_gpu_devices(), landlock.DEVICE)
    if os.path.isdir("/dev/shm"):
        ruleset.grant("/dev/shm", landlock.READ_WRITE)  # shared memory of torch and multiprocessing
    ruleset.grant_all(plan.write, landlock.READ | landlock.READ_WRITE)
    if FILES in granted:
        # Everywhere but the studio home, the code being run and the kernel's own trees.
        keep_out = [plan.home, *plan.read, *system, "/dev", "/proc"]
        for path in everything_but(keep_out):
            ruleset.grant(path, landlock.READ | landlock.READ_WRITE)


def _gpu_devices() -> list[str]:
    try:
        names = os.listdir("/dev")
    except OSError:
        return []
    return [os.path.join("/dev", name) for name in names if name.startswith(_GPU_DEVICE_PREFIXES)]


def everything_but(excluded: Iterable[str], root: str = "/") -> list[str]:
    """The largest folders and files under ``root`` that hold none of ``excluded`` (nor are
    inside one): granting all of them grants everything else."""
    keep_out = [os.path.realpath(p) for p in excluded]
    found: list[str] = []

    def walk(folder: str) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for entry in entries:
            path = os.path.realpath(entry.path)
            if any(path == other or _contains(other, path) for other in keep_out):
                continue  # kept out, or inside something kept out
            if any(_contains(path, other) for other in keep_out):
                if entry.is_dir(follow_symlinks=False):
                    walk(entry.path)  # holds something kept out: grant its other children
                continue
            found.append(path)

    walk(root)
    return found


def enter(plan: SandboxPlan) -> Protection:
    """Everything a sandboxed process does to itself before plugin code runs: a private
    temporary folder, no inherited token, the kernel layers, then the audit hook for good."""
    os.environ["TMPDIR"] = plan.temp_dir
    os.environ.pop("STUDIO_ENGINE_TOKEN", None)
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    sys.dont_write_bytecode = True
    import tempfile

    tempfile.tempdir = plan.temp_dir
    protection = Protection(process=True)
    if plan.kernel_layers:
        protection = apply_kernel_layers(plan)
    else:
        protection.notes.append(f"kernel layers off: {SANDBOX_ENV}={os.environ.get(SANDBOX_ENV, '')}")
    return protection


def guard_for_life(plan: SandboxPlan, manifest: Any, protection: Protection) -> Protection:
    """Install the audit hook for the rest of this process's life (after the worker's own
    set-up, which writes where the plugin may not)."""
    home = Path(plan.home)
    private = [home / "engine.json", home / "engine.lock", home / "settings.json"]
    guard = guard_process(manifest, [Path(p) for p in plan.write], private=private)
    protection.audit = guard is not None
    return protection


def _contains(folder: str, path: str) -> bool:
    """Whether ``path`` lies strictly inside ``folder``."""
    return path != folder and path.startswith(folder.rstrip(os.sep) + os.sep)


def _unique(paths: list[str]) -> list[str]:
    seen: list[str] = []
    for path in paths:
        if path not in seen:
            seen.append(path)
    return seen
