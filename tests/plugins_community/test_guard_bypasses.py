"""The bypasses of issue 10 (item 5), each tried by a real plugin, each refused.

Two layers are checked separately: the audit hook alone (in this process, as on a machine
without Landlock or seccomp, and with ``STUDIO_SANDBOX=audit``), and the whole guard through
a real engine, where a community plugin runs in its own sandboxed worker.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sqlite3
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
from community_helpers import REPO, make_plugin, stop_engine, studio, zip_folder

from studio.core.paths import HomeLayout
from studio.plugins.guard import (
    PermissionRefused,
    landlock,
    plugin_permissions,
    seccomp,
)
from studio.plugins.guard.sandbox import expected_protection


def community(permissions=(), root: Path | None = None):
    return SimpleNamespace(id="acme.test", permissions=tuple(permissions), source="user", root=root or Path(__file__).resolve().parent)


@pytest.fixture
def studio_files(tmp_path: Path) -> SimpleNamespace:
    """A studio home's private files and a plugin's scratch folder beside them."""
    home = tmp_path / "home"
    home.mkdir()
    settings = home / "settings.json"
    settings.write_text('{"device": "cpu"}')
    token = home / "engine.json"
    token.write_text('{"token": "secret"}')
    token.chmod(0o600)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return SimpleNamespace(home=home, settings=settings, token=token, scratch=scratch)


# --------------------------------------------------------------------------- the audit hook alone


def _hard_link_then_write(files):
    os.link(files.settings, files.scratch / "settings-link.json")
    (files.scratch / "settings-link.json").write_text("{}")


def _dir_fd_open(files):
    os.chdir(files.scratch)  # the relative name would look like it is inside scratch
    home_fd = os.open(files.home, os.O_RDONLY)
    os.close(os.open("settings.json", os.O_WRONLY | os.O_TRUNC, dir_fd=home_fd))


def _dir_fd_opener(files):
    os.chdir(files.scratch)
    home_fd = os.open(files.home, os.O_RDONLY)
    with open("settings.json", "w", opener=lambda name, flags: os.open(name, flags, dir_fd=home_fd)) as handle:
        handle.write("{}")


def _dir_fd_rename(files):
    home_fd = os.open(files.home, os.O_RDONLY)
    os.rename("settings.json", "taken.json", src_dir_fd=home_fd, dst_dir_fd=home_fd)


def _sqlite(files):
    sqlite3.connect(files.home / "planted.db").execute("create table t (x)")


def _mkfifo(files):
    os.mkfifo(files.home / "trap.studio")


def _mknod_fifo(files):
    os.mknod(files.home / "trap2.studio", 0o600 | stat.S_IFIFO)


def _fchmod_token(files):
    fd = os.open(files.token, os.O_RDONLY)
    os.fchmod(fd, 0o644)


def _ctypes_syscall(files):
    ctypes.CDLL(None).syscall  # noqa: B018 - the look-up is the attempt


BYPASSES = {
    "hard link to settings.json": (_hard_link_then_write, "files"),
    "dir_fd open": (_dir_fd_open, "files"),
    "dir_fd opener": (_dir_fd_opener, "files"),
    "dir_fd rename": (_dir_fd_rename, "files"),
    "sqlite3.connect": (_sqlite, "files"),
    "mkfifo": (_mkfifo, "files"),
    "mknod fifo": (_mknod_fifo, "files"),
    "fchmod of engine.json": (_fchmod_token, "files"),
    "ctypes syscall": (_ctypes_syscall, "files"),
}


@pytest.mark.parametrize("name", list(BYPASSES))
def test_the_audit_hook_refuses_each_bypass_without_the_kernel_layers(name, studio_files, monkeypatch):
    attempt, permission = BYPASSES[name]
    monkeypatch.chdir(studio_files.scratch)
    with pytest.raises(PermissionRefused) as caught, plugin_permissions(community(), [studio_files.scratch]):
        attempt(studio_files)
    assert caught.value.permission == permission
    assert "plugin acme.test tried to" in str(caught.value)
    assert json.loads(studio_files.settings.read_text()) == {"device": "cpu"}
    assert stat.S_IMODE(studio_files.token.stat().st_mode) == 0o600
    assert sorted(p.name for p in studio_files.home.iterdir()) == ["engine.json", "settings.json"]


def test_the_audit_hook_refuses_signalling_another_process_through_a_pidfd():
    with pytest.raises(PermissionRefused) as caught, plugin_permissions(community()):
        signal.pidfd_send_signal(os.pidfd_open(os.getppid()), 0)
    assert caught.value.permission == "subprocess"


def test_writes_through_a_dir_fd_inside_the_allowed_folders_still_work(studio_files):
    with plugin_permissions(community(), [studio_files.scratch]):
        fd = os.open(studio_files.scratch, os.O_RDONLY)
        os.close(os.open("made.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
        os.rename("made.txt", "moved.txt", src_dir_fd=fd, dst_dir_fd=fd)
        sqlite3.connect(studio_files.scratch / "own.db").execute("create table t (x)")
        os.mkfifo(studio_files.scratch / "own.fifo")
    assert (studio_files.scratch / "moved.txt").exists() and (studio_files.scratch / "own.fifo").exists()


def test_a_process_guard_is_never_lifted_so_atexit_code_runs_guarded(tmp_path):
    """guard_process is what a sandboxed worker and the trial import use: code a plugin left
    behind (atexit, patched functions) runs under the same refusals after its call returned."""
    marker = tmp_path / "after-exit.txt"
    program = (
        "import atexit, sys\n"
        "from types import SimpleNamespace\n"
        "from studio.plugins.guard import guard_process\n"
        f"guard_process(SimpleNamespace(id='acme.test', permissions=(), source='user', root=None), [])\n"
        "def leave_behind():\n"
        f"    open({str(marker)!r}, 'w').write('ran unguarded')\n"
        "atexit.register(leave_behind)\n"
    )
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", program], check=False, capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO))
    )
    assert not marker.exists()
    assert "PermissionRefused" in result.stderr and "tried to write to" in result.stderr


# --------------------------------------------------------------------------- the kernel layers


def test_this_machine_reports_which_kernel_layers_it_has():
    protection = expected_protection([], source="user")
    if landlock.abi_version():
        assert protection.level == "kernel" and protection.landlock.startswith("Landlock ABI ")
    else:
        assert protection.level == "audit" and any("no Landlock" in note for note in protection.notes)
    assert bool(protection.seccomp) == seccomp.supported()
    assert expected_protection([], source="first-party").level == "none"


def test_without_landlock_the_audit_hook_is_the_protection_and_the_list_says_why(monkeypatch):
    monkeypatch.setattr(landlock, "abi_version", lambda: 0)
    monkeypatch.setattr(landlock, "unavailable_reason", lambda: "this kernel has no Landlock")
    protection = expected_protection([], source="user")
    assert protection.level == "audit" and protection.audit and not protection.landlock
    assert "no Landlock: this kernel has no Landlock" in protection.summary
    monkeypatch.setenv("STUDIO_SANDBOX", "audit")
    assert "kernel layers off" in expected_protection([], source="user").summary


# --------------------------------------------------------------------------- through the engine

# With the audit hook switched off from inside (what native code or a determined plugin can
# do), only the kernel layers stand: every attempt must still fail.
DISARMED = """
import json, signal, socket, sqlite3, subprocess
import studio.plugins.guard.audit as audit
audit._process_guard = None
audit._active.clear()
audit._tainted.clear()
results = {}
def attempt(name, action):
    try:
        action()
        results[name] = "done"
    except Exception as exc:
        results[name] = f"{type(exc).__name__}: {exc}"
attempt("read engine.json", lambda: open(TOKEN).read())
attempt("read the engine's environment", lambda: open(f"/proc/{os.getppid()}/environ").read())
attempt("write settings.json", lambda: open(SETTINGS, "a").write(" "))
attempt("hard link settings.json", lambda: os.link(SETTINGS, ctx.scratch_dir / "s.json"))
attempt("mkfifo in the home", lambda: os.mkfifo(os.path.join(HOME, "trap.studio")))
attempt("sqlite in the home", lambda: sqlite3.connect(os.path.join(HOME, "planted.db")).execute("create table t (x)"))
attempt("patch studio code on disk", lambda: open(RUNNER_FILE, "a").write(""))
attempt("signal the engine", lambda: os.kill(os.getppid(), 0))
attempt("pidfd_send_signal", lambda: signal.pidfd_send_signal(os.pidfd_open(os.getppid()), 0))
attempt("start a program", lambda: subprocess.run(["true"]))
attempt("fork", lambda: os._exit(0) if os.fork() == 0 else None)
attempt("tcp connect", lambda: socket.create_connection(("127.0.0.1", 9), timeout=2))
attempt("udp send", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", 9)))
ctx.log("RESULTS " + json.dumps(results))
"""


ATTEMPTS = {
    "acme.hardlink": "os.link(SETTINGS, ctx.scratch_dir / 's.json')\n(ctx.scratch_dir / 's.json').write_text('{}')",
    "acme.dirfd-open": "fd = os.open(HOME, os.O_RDONLY)\nos.close(os.open('settings.json', os.O_WRONLY | os.O_TRUNC, dir_fd=fd))",
    "acme.dirfd-rename": "fd = os.open(HOME, os.O_RDONLY)\nos.rename('settings.json', 'gone.json', src_dir_fd=fd, dst_dir_fd=fd)",
    "acme.sqlite": "import sqlite3\nsqlite3.connect(os.path.join(HOME, 'planted.db')).execute('create table t (x)')",
    "acme.mkfifo": "os.mkfifo(os.path.join(HOME, 'trap.studio'))",
    "acme.pidfd": "import signal\nsignal.pidfd_send_signal(os.pidfd_open(os.getppid()), signal.SIGUSR1)",
    "acme.fchmod": "os.fchmod(os.open(TOKEN, os.O_RDONLY), 0o644)",
    "acme.read-token": "ctx.log(open(TOKEN).read())",
    "acme.patch-runner": (
        "import studio.engine.runner as runner\n"
        "original = runner.LocalRunner.run\n"
        "def run(self, *args, **kwargs):\n"
        "    result = original(self, *args, **kwargs)\n"
        "    open(os.path.join(HOME, 'after-runner.txt'), 'w').write('x')\n"
        "    return result\n"
        "runner.LocalRunner.run = run"
    ),
    "acme.patch-first-party": (
        "import sys\n"
        "sys.path.insert(0, PATTERNS)\n"
        "import studio_patterns.plugin as patterns\n"
        "for cls in vars(patterns).values():\n"
        "    if isinstance(cls, type) and hasattr(cls, 'generate'):\n"
        "        original = cls.generate\n"
        "        def generate(self, request, ctx, original=original):\n"
        "            open(os.path.join(HOME, 'after-first-party.txt'), 'w').write('x')\n"
        "            return original(self, request, ctx)\n"
        "        cls.generate = generate"
    ),
    "acme.quiet": "pass",
    "acme.disarmed": DISARMED,
}
LEFT_BEHIND = ("planted.db", "trap.studio", "gone.json", "after-runner.txt", "after-first-party.txt", "after-exit.txt")


@pytest.mark.parametrize("layers", ["kernel", "audit"])
def test_every_listed_bypass_is_refused_through_the_engine(tmp_path, home, layers):
    if layers == "kernel" and not landlock.abi_version():
        pytest.skip("this kernel has no Landlock; the audit run covers the fallback")
    settings = HomeLayout(home).settings_file
    settings.write_text('{"device": "cpu"}')
    prelude = (
        "import atexit, os\n"
        f"HOME = {str(home)!r}\nSETTINGS = {str(settings)!r}\nTOKEN = {str(HomeLayout(home).engine_file)!r}\n"
        f"PATTERNS = {str(REPO / 'plugins' / 'patterns')!r}\nRUNNER_FILE = {str(REPO / 'studio' / 'engine' / 'runner.py')!r}\n"
        # Registered at import: would run (if anything let it) after `plugins install`'s trial
        # import and when the worker exits.
        "atexit.register(lambda: open(os.path.join(HOME, 'after-exit.txt'), 'w').write('x'))\n"
    )
    archive = zip_folder(
        make_plugin(tmp_path / "attacker", plugin_id="acme.attacker", generators=ATTEMPTS, module_prelude=prelude),
        tmp_path / "attacker.zip",
    )
    env = {"STUDIO_SANDBOX": "audit" if layers == "audit" else ""}
    result = studio(home, "plugins", "install", str(archive), "--yes", env=env)
    assert result.returncode == 0, result.stderr
    assert not any((home / name).exists() for name in LEFT_BEHIND), "code ran after the trial import's guard"

    listing = json.loads(studio(home, "plugins", "list", "--json", env=env).stdout)
    row = next(row for row in listing if row["id"] == "acme.attacker")
    assert row["protection"]["level"] == layers
    assert row["protection"]["own_process"] and row["protection"]["audit_hook"]
    patterns_row = next(row for row in listing if row["id"] == "studio.patterns")
    assert patterns_row["protection"]["level"] == "none"

    os.environ["STUDIO_SANDBOX"] = env["STUDIO_SANDBOX"]
    try:
        from studio.engine.client import EngineClient

        with EngineClient.connect(home, start=True, timeout=120) as client:
            engine_pid = json.loads(HomeLayout(home).engine_file.read_text())["pid"]
            errors = {}
            for generator in ATTEMPTS:
                if generator in ("acme.quiet", "acme.patch-runner", "acme.patch-first-party", "acme.disarmed"):
                    continue
                job = client.run(generator, {}, 1, timeout=60)
                assert job["state"] == "failed", f"{generator} got through: {job}"
                errors[generator] = job["error"]
            if layers == "kernel":
                job = client.run("acme.disarmed", {}, 1, timeout=60)
                assert job["state"] == "done", job["error"]
                results = json.loads(next(line for line in job["logs"] if line.startswith("RESULTS "))[len("RESULTS ") :])
                assert len(results) == 13
                # Each refused by the kernel (EACCES/EPERM; Landlock answers a link across its
                # rules with EXDEV, though both paths are on one file system), not merely
                # failing for another reason.
                refused = ("PermissionError", "OperationalError: unable to open", "OSError: [Errno 18] Invalid cross-device link")
                through = {name: outcome for name, outcome in results.items() if not outcome.startswith(refused)}
                assert not through, through
            # The patches themselves may succeed inside the plugin's own process ...
            for generator in ("acme.patch-runner", "acme.patch-first-party"):
                client.run(generator, {}, 1, timeout=60)
            # ... but the first-party plugin runs elsewhere, and the patched runner stays guarded.
            assert client.run("studio.patterns", {"width": 16, "height": 16}, 1, timeout=60)["state"] == "done"
            client.run("acme.quiet", {}, 1, timeout=60)
            token = json.loads(HomeLayout(home).engine_file.read_text())["token"]
            assert token not in json.dumps(errors)
            assert stat.S_IMODE(HomeLayout(home).engine_file.stat().st_mode) == 0o600
            if layers == "kernel":
                assert token not in json.dumps(results)
            assert client.health()["ok"]
            assert json.loads(HomeLayout(home).engine_file.read_text())["pid"] == engine_pid  # never signalled away
    finally:
        os.environ.pop("STUDIO_SANDBOX", None)
        stop_engine(home)
    assert json.loads(settings.read_text()) == {"device": "cpu"}
    assert not any((home / name).exists() for name in LEFT_BEHIND), [name for name in LEFT_BEHIND if (home / name).exists()]
    assert not (home / "gone.json").exists() and settings.exists()
    for generator in (
        "acme.hardlink",
        "acme.dirfd-open",
        "acme.sqlite",
        "acme.mkfifo",
        "acme.fchmod",
        "acme.read-token",
        "acme.dirfd-rename",
    ):
        assert ("files" in errors[generator]) or ("Permission denied" in errors[generator]), (generator, errors[generator])
    assert "subprocess" in errors["acme.pidfd"] or "not permitted" in errors["acme.pidfd"]
