"""A full or read-only disk under the engine: a message naming the folder, never a 500 or a traceback.

Real file systems: small tmpfs mounts (needs root and mount rights, as in the CI container;
elsewhere these tests say why they cannot run).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from studio.engine.client import EngineClient

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *options: str):
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs", str(path)], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path) -> None:
    """Write until the file system says it is full."""
    with open(folder / f"filler-{uuid.uuid4().hex}", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


def run_engine_command(home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, STUDIO_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "studio", "engine", "--port", "0"], capture_output=True, text=True, env=env, timeout=60)


def test_engine_start_on_a_full_disk_names_the_folder(tmp_path):
    with tmpfs(tmp_path / "home", "2m") as home:
        for name in ("plugins", "logs", "artifacts", "cache", "models"):
            (home / name).mkdir()
        fill(home)
        result = run_engine_command(home)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "full" in result.stderr and str(home) in result.stderr


def test_engine_start_on_a_read_only_home_names_the_folder(tmp_path):
    with tmpfs(tmp_path / "home", "2m", "ro") as home:
        result = run_engine_command(home)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "read-only" in result.stderr and str(home) in result.stderr


@pytest.fixture
def engine_on_small_artifacts(tmp_path):
    home = tmp_path / "home"
    artifacts = home / "artifacts"
    with tmpfs(artifacts, "4m"):
        client = EngineClient.connect(home, start=True, timeout=120)
        try:
            yield client, artifacts
        finally:
            client.shutdown()
            if client.process is not None:
                try:
                    client.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    client.process.kill()
            client.close()


def upload(client: EngineClient, data: bytes) -> httpx.Response:
    headers = {"Authorization": f"Bearer {client.token}", "Content-Type": "application/octet-stream", "X-Studio-Kind": "audio"}

    def body():
        for start in range(0, len(data), 65536):
            yield data[start : start + 65536]

    return httpx.post(client.url + "/artifacts", content=body(), headers=headers, trust_env=False, timeout=60)


def test_an_upload_onto_a_full_disk_is_507_naming_the_folder_and_leaves_nothing_behind(engine_on_small_artifacts):
    client, artifacts = engine_on_small_artifacts
    response = upload(client, os.urandom(8 * 2**20))
    assert response.status_code == 507, response.text
    assert "full" in response.json()["detail"] and str(artifacts) in response.json()["detail"]
    assert not any((artifacts / ".incoming").glob("*"))
    small = upload(client, b"fits")
    assert small.status_code == 201  # space came back: the engine carries on


def test_an_upload_onto_a_read_only_disk_is_507_naming_the_folder(engine_on_small_artifacts):
    client, artifacts = engine_on_small_artifacts
    subprocess.run(["mount", "-o", "remount,ro", str(artifacts)], check=True)
    response = upload(client, b"x" * 1000)
    assert response.status_code == 507, response.text
    assert "read-only" in response.json()["detail"] and str(artifacts) in response.json()["detail"]
    assert client.health().ok
