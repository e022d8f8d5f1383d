"""The kernel layers of the plugin guard, each checked in a real child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.plugins.guard import landlock, seccomp
from studio.plugins.guard.sandbox import everything_but

ROOT = Path(__file__).resolve().parents[2]


def run_child(program: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", program],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


ATTEMPT = """
import json, os, socket, subprocess, threading
results = {}
def attempt(name, action):
    try:
        action()
        results[name] = "done"
    except OSError as exc:
        results[name] = exc.errno
"""


@pytest.mark.skipif(not seccomp.supported(), reason=seccomp.unavailable_reason() or "no seccomp")
def test_the_seccomp_filter_refuses_undeclared_sockets_and_processes_but_not_threads():
    results = run_child(
        ATTEMPT
        + """
from studio.plugins.guard import seccomp
seccomp.restrict_self(allow_network=False, allow_processes=False, tcp_by_landlock=True)
attempt("thread", lambda: [t.start() or t.join() for t in [threading.Thread(target=lambda: None)]])
attempt("unix socket pair", lambda: socket.socketpair())
attempt("tcp socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
attempt("udp socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
attempt("netlink socket", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW))
attempt("program", lambda: subprocess.run(["true"]))
attempt("fork", lambda: os._exit(0) if os.fork() == 0 else None)
attempt("signal parent", lambda: os.kill(os.getppid(), 0))
attempt("signal self", lambda: os.kill(os.getpid(), 0))
print(json.dumps(results))
"""
    )
    assert results["thread"] == results["unix socket pair"] == results["tcp socket"] == results["signal self"] == "done"
    for name in ("udp socket", "netlink socket", "program", "fork", "signal parent"):
        assert results[name] == 1, (name, results[name])  # EPERM


@pytest.mark.skipif(not landlock.abi_version(), reason="this kernel has no Landlock")
def test_landlock_confines_a_process_to_what_it_was_granted(tmp_path):
    granted, outside = tmp_path / "granted", tmp_path / "outside"
    granted.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("token")
    results = run_child(
        ATTEMPT
        + f"""
import sys
from studio.plugins.guard import landlock
ruleset = landlock.Landlock.probe(block_tcp=True, scope_signals=True)
ruleset.grant_all([p for p in ("/usr", "/lib", "/lib64", "/etc", "/proc", sys.prefix, sys.base_prefix, *sys.path) if p], landlock.READ)
ruleset.grant({str(granted)!r}, landlock.READ_WRITE)
ruleset.restrict_self()
attempt("write granted", lambda: open({str(granted / "ok.txt")!r}, "w").write("x"))
attempt("read outside", lambda: open({str(outside / "secret.txt")!r}).read())
attempt("write outside", lambda: open({str(outside / "new.txt")!r}, "w"))
attempt("link outside in", lambda: os.link({str(outside / "secret.txt")!r}, {str(granted / "link.txt")!r}))
attempt("fifo in granted", lambda: os.mkfifo({str(granted / "fifo")!r}))
attempt("tcp connect", lambda: socket.create_connection(("127.0.0.1", 9), timeout=2))
attempt("signal parent", lambda: os.kill(os.getppid(), 0))
print(json.dumps(results))
"""
    )
    assert results["write granted"] == "done"
    assert results["read outside"] == results["write outside"] == 13  # EACCES
    assert results["link outside in"] in (13, 18)  # EACCES or EXDEV: Landlock refuses to widen access
    assert results["fifo in granted"] == 13  # FIFOs are never made (a trap for whoever opens one)
    if landlock.abi_version() >= 4:
        assert results["tcp connect"] == 13
    if landlock.abi_version() >= 6:
        assert results["signal parent"] == 1
    assert not (outside / "new.txt").exists()


def test_everything_but_grants_every_sibling_and_nothing_kept_out(tmp_path):
    for name in ("a/home/plugins", "a/home/artifacts", "a/other", "b", "c/d"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "a" / "home" / "engine.json").write_text("{}")
    found = set(everything_but([tmp_path / "a" / "home", tmp_path / "c"], root=str(tmp_path)))
    assert found == {str(tmp_path / "a" / "other"), str(tmp_path / "b")}


def test_the_landlock_probe_explains_why_it_is_missing(monkeypatch):
    monkeypatch.setattr(landlock.platform, "system", lambda: "Darwin")
    assert landlock.abi_version() == 0
    assert "Linux" in landlock.unavailable_reason()
    with pytest.raises(landlock.LandlockUnavailable):
        landlock.Landlock.probe()


@pytest.mark.skipif(not landlock.abi_version(), reason="this kernel has no Landlock")
@pytest.mark.parametrize("permissions", [[], ["files"]])
def test_a_sandboxed_plugin_never_reads_the_token_and_writes_only_what_it_was_granted(tmp_path, permissions):
    home = tmp_path / "home"
    (home / "plugins" / "acme.x").mkdir(parents=True)
    (home / "engine.json").write_text('{"token": "secret"}')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    results = run_child(
        ATTEMPT
        + f"""
from pathlib import Path
from studio.plugins.guard.sandbox import enter, plan_sandbox
home = Path({str(home)!r})
plan = plan_sandbox(plugin_id="acme.x", permissions={permissions!r}, plugin_folder=home / "plugins" / "acme.x", home=home,
                    data_dir=home / "plugin-data" / "acme.x", work_dir=home / "cache" / "sandbox" / "acme.x",
                    artifacts_dir=home / "artifacts", code_paths=[{str(ROOT)!r}])
protection = enter(plan)
attempt("read engine.json", lambda: open(home / "engine.json").read())
attempt("write data folder", lambda: open(home / "plugin-data" / "acme.x" / "state", "w").write("x"))
attempt("write elsewhere", lambda: open({str(elsewhere / "out.txt")!r}, "w").write("x"))
attempt("write studio code", lambda: open({str(ROOT / "studio" / "__init__.py")!r}, "a"))
attempt("write own code", lambda: open(home / "plugins" / "acme.x" / "plugin.toml", "a"))
results["level"] = protection.level
print(json.dumps(results))
"""
    )
    assert results["level"] == "kernel"
    assert results["read engine.json"] == 13
    assert results["write data folder"] == "done"
    assert results["write studio code"] == results["write own code"] == 13
    assert results["write elsewhere"] == ("done" if permissions else 13)
