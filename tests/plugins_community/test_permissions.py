"""Undeclared network, process and file access is refused while a plugin's code runs."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from community_helpers import make_plugin, stop_engine, studio, zip_folder

from studio.core.paths import HomeLayout
from studio.plugins.guard import PermissionRefused, plugin_permissions


@pytest.fixture
def listener():
    """A local TCP server that answers one line: proof that a connection really happened."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                accepted.append(conn.recv(100))
                conn.sendall(b"pong")

    threading.Thread(target=serve, daemon=True).start()
    yield SimpleNamespace(port=server.getsockname()[1], accepted=accepted)
    server.close()


HERE = Path(__file__).resolve().parent


def community(permissions=(), root: Path = HERE):
    """A community plugin's manifest whose code is this test module (its folder is the root)."""
    return SimpleNamespace(id="acme.test", permissions=tuple(permissions), source="user", root=root)


# --------------------------------------------------------------------------- in-process guard


def test_a_socket_connection_without_network_permission_is_refused(listener):
    with pytest.raises(PermissionRefused) as caught:
        with plugin_permissions(community()):
            socket.create_connection(("127.0.0.1", listener.port), timeout=2)
    assert caught.value.permission == "network"
    assert f"plugin acme.test tried to connect to 127.0.0.1:{listener.port}" in str(caught.value)
    assert "'network' permission" in str(caught.value)
    assert listener.accepted == []
    assert isinstance(caught.value, PermissionError)


def test_a_host_name_lookup_without_network_permission_is_refused():
    with pytest.raises(PermissionRefused, match="look up the address of example.com"):
        with plugin_permissions(community()):
            socket.getaddrinfo("example.com", 443)


def test_the_network_permission_allows_connections(listener):
    with plugin_permissions(community(["network"])):
        with socket.create_connection(("127.0.0.1", listener.port), timeout=2) as conn:
            conn.sendall(b"ping")
            assert conn.recv(4) == b"pong"


@pytest.mark.parametrize(
    "launch, what",
    [
        (lambda: subprocess.run(["true"]), "start the program 'true'"),
        (lambda: os.system("true"), "run the shell command 'true'"),
        (lambda: os.execv("/bin/true", ["true"]), "start the program '/bin/true'"),
        (lambda: multiprocessing.get_context("spawn").Process(target=print).start(), "start the program"),
    ],
)
def test_starting_a_process_without_subprocess_permission_is_refused(launch, what):
    with pytest.raises(PermissionRefused, match=what) as caught:
        with plugin_permissions(community()):
            launch()
    assert caught.value.permission == "subprocess"


def test_the_subprocess_permission_allows_processes():
    with plugin_permissions(community(["subprocess"])):
        assert subprocess.run(["true"]).returncode == 0


def test_writes_outside_the_allowed_folders_are_refused_and_reads_are_not(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    with pytest.raises(PermissionRefused, match="write to"):  # caught refusals still fail the call
        with plugin_permissions(community(), [scratch]):
            (scratch / "ok.txt").write_text("fine")
            (scratch / "sub").mkdir()
            os.replace(scratch / "ok.txt", scratch / "sub" / "moved.txt")
            assert outside.read_text() == "secret"
            for action in (
                lambda: outside.write_text("overwritten"),
                lambda: open(outside, "a"),  # noqa: SIM115 (the open itself must be refused)
                lambda: os.open(tmp_path / "new.txt", os.O_WRONLY | os.O_CREAT),
                lambda: outside.unlink(),
                lambda: os.rename(outside, scratch / "taken.txt"),
                lambda: (tmp_path / "newdir").mkdir(),
            ):
                with pytest.raises(PermissionRefused) as caught:
                    action()
                assert caught.value.permission == "files"
    assert outside.read_text() == "secret"
    assert (scratch / "sub" / "moved.txt").read_text() == "fine"


def test_the_files_permission_allows_writes_anywhere(tmp_path):
    with plugin_permissions(community(["files"]), [tmp_path / "scratch"]):
        (tmp_path / "anywhere.txt").write_text("ok")


def test_a_refusal_the_plugin_catches_still_fails_the_call(listener):
    with pytest.raises(PermissionRefused, match="connect to"):
        with plugin_permissions(community()):
            try:
                socket.create_connection(("127.0.0.1", listener.port), timeout=2)
            except OSError:
                pass  # a plugin hiding what it tried
    assert listener.accepted == []


def test_a_refusal_wrapped_in_another_error_is_reported_as_the_refusal():
    with pytest.raises(PermissionRefused, match="start the program"):
        with plugin_permissions(community()):
            try:
                subprocess.run(["true"])
            except OSError as exc:
                raise RuntimeError("something went wrong") from exc


def test_a_refusal_inside_a_library_the_plugin_uses_is_raised_to_the_library_and_logged(tmp_path):
    # Libraries probe: urllib3 binds a socket to test for IPv6, matplotlib runs fc-list.
    # They carry on when refused, so the plugin's call goes on; the refusal is noted.
    library = tmp_path / "probing_library.py"
    library.write_text(
        "import subprocess\ndef probe():\n    try:\n        subprocess.run(['true'])\n    except OSError:\n        return 'carried on'\n"
    )
    namespace: dict = {}
    exec(compile(library.read_text(), str(library), "exec"), namespace)
    logged: list[str] = []
    with plugin_permissions(community(), log=logged.append):
        assert namespace["probe"]() == "carried on"
    assert logged and "refused and caught by the plugin" in logged[0] and "start the program 'true'" in logged[0]


def test_threads_the_plugin_starts_are_guarded_too(tmp_path):
    results: list[str] = []
    release = threading.Event()

    def background() -> None:
        for attempt in range(2):
            try:
                subprocess.run(["true"])
                results.append("ran")
            except PermissionRefused:
                results.append("refused")
            if attempt == 0:
                release.wait(5)

    with pytest.raises(PermissionRefused):
        with plugin_permissions(community()):
            thread = threading.Thread(target=background)
            thread.start()
            while not results:
                pass
    # The thread outlived the plugin's call: it stays under the plugin's permissions.
    release.set()
    thread.join(5)
    assert results == ["refused", "refused"]
    assert subprocess.run(["true"]).returncode == 0  # the test's own thread is free again


def test_first_party_plugins_are_not_restricted(tmp_path):
    manifest = SimpleNamespace(id="studio.thing", permissions=(), source="first-party", root=None)
    with plugin_permissions(manifest, []) as guard:
        assert guard is None
        assert subprocess.run(["true"]).returncode == 0


def test_the_plugins_own_bytecode_cache_may_be_written(tmp_path):
    root = tmp_path / "plugin"
    (root / "pkg").mkdir(parents=True)
    with plugin_permissions(community(root=root), []):  # (this test's code is not under root)
        (root / "pkg" / "__pycache__").mkdir()
        (root / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"")
        with pytest.raises(PermissionRefused):
            (root / "pkg" / "mod.py").write_text("tampered")


# --------------------------------------------------------------------------- through the engine

EVIL = {
    "acme.evil-net": "import socket\nsocket.create_connection(('127.0.0.1', PORT), timeout=2).sendall(b'stolen')",
    "acme.evil-proc": "import subprocess\nsubprocess.run(['touch', MARKER])",
    "acme.evil-write": "open(STOLEN, 'w').write('x')",
    "acme.evil-hidden": "import socket\ntry:\n    socket.create_connection(('127.0.0.1', PORT), timeout=2)\nexcept OSError:\n    pass",
    "acme.evil-ok": "(ctx.scratch_dir / 'work.txt').write_text('scratch is fine')\n(ctx.data_dir / 'state.txt').write_text('kept')",
    "acme.evil-read": "open(STOLEN_SOURCE, 'rb').read()",
}
HONEST = {
    "acme.honest": "import socket\nwith socket.create_connection(('127.0.0.1', PORT), timeout=2) as c:\n    c.sendall(b'hello')\n    ctx.log(c.recv(4).decode())"
}


def test_plugins_without_permissions_get_a_clear_job_error_and_the_engine_keeps_serving(tmp_path, home, listener, input_png):
    engine_tmp = tmp_path / "engine-tmp"  # the engine's temporary folder, apart from the home
    engine_tmp.mkdir()
    marker = tmp_path / "spawned.txt"
    stolen = home / "stolen.txt"
    prelude = f"PORT = {listener.port}\nMARKER = {str(marker)!r}\nSTOLEN = {str(stolen)!r}\nSTOLEN_SOURCE = {str(input_png)!r}\n"
    evil = zip_folder(make_plugin(tmp_path / "evil", plugin_id="acme.evil", generators=EVIL, module_prelude=prelude), tmp_path / "evil.zip")
    honest = zip_folder(
        make_plugin(tmp_path / "honest", plugin_id="acme.honest", permissions=["network"], generators=HONEST, module_prelude=prelude),
        tmp_path / "honest.zip",
    )
    env = {"TMPDIR": str(engine_tmp)}
    for archive in (evil, honest):
        result = studio(home, "plugins", "install", str(archive), "--yes", env=env)
        assert result.returncode == 0, result.stderr
    try:
        # Through the command line: a one-line error naming the plugin, the action and the permission.
        result = studio(home, "generate", "acme.evil-net", "--out", str(tmp_path / "out.png"), env=env)
        assert result.returncode == 1
        assert (
            f"error: plugin acme.evil tried to connect to 127.0.0.1:{listener.port}, but it does not declare the 'network' permission"
            in result.stderr
        )
        assert "Traceback" not in result.stderr

        from studio.engine.client import EngineClient

        with EngineClient.connect(home, start=False) as client:
            failures = {}
            for generator in ("acme.evil-proc", "acme.evil-write", "acme.evil-hidden"):
                job = client.run(generator, {}, 1, timeout=60)
                assert job["state"] == "failed", generator
                failures[generator] = job["error"]
            assert (
                "tried to start the program 'touch'" in failures["acme.evil-proc"]
                and "'subprocess' permission" in failures["acme.evil-proc"]
            )
            assert f"tried to write to {stolen}" in failures["acme.evil-write"] and "'files' permission" in failures["acme.evil-write"]
            assert "tried to connect to" in failures["acme.evil-hidden"]  # caught by the plugin, reported anyway

            # Nothing got through ...
            assert listener.accepted == [] and not marker.exists() and not stolen.exists()
            # ... and the engine, its worker and the same plugin's honest generator keep working.
            job = client.run("acme.evil-ok", {}, 1, timeout=60)
            assert job["state"] == "done", job.get("error")
            assert (home / "plugin-data" / "acme.evil" / "state.txt").read_text() == "kept"
            # Its sandbox reads only its own folder, the models and the studio's code.
            job = client.run("acme.evil-read", {}, 1, timeout=60)
            assert job["state"] == "failed" and "Permission denied" in job["error"] and "sandbox" in job["error"]
            assert client.run("studio.patterns", {"width": 32, "height": 32}, 1, timeout=60)["state"] == "done"
            # A plugin that declares "network" may connect.
            job = client.run("acme.honest", {}, 1, timeout=60)
            assert job["state"] == "done", job.get("error")
            assert listener.accepted == [b"hello"]
    finally:
        stop_engine(home)
    assert HomeLayout(home).plugins_dir.joinpath("acme.evil", "current").is_file()


def test_a_new_thread_that_reuses_a_finished_plugin_threads_id_is_not_under_the_plugins_guard():
    from studio.plugins.guard.audit import active_guard

    opened, release = threading.Event(), threading.Event()

    def plugin_thread() -> None:
        with open(__file__, "rb"):  # an audited event: the guard learns this thread is the plugin's
            opened.set()
        release.wait()

    with plugin_permissions(community()):
        left_behind = threading.Thread(target=plugin_thread)  # outlives the job: stays guarded
        left_behind.start()
        assert opened.wait(10)
    tainted_ident = left_behind.ident
    release.set()
    left_behind.join()
    seen: list[tuple[int | None, object]] = []

    def look() -> None:
        seen.append((threading.get_ident(), active_guard()))

    for _ in range(200):  # thread ids are reused once a thread has ended; find a reuse
        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
        if seen[-1][0] == tainted_ident:
            break
    assert seen[-1][0] == tainted_ident, "no thread reused the id here"
    assert seen[-1][1] is None  # a studio thread, not the plugin's
