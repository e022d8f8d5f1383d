"""A remote engine: one engine in its own STUDIO_HOME on its own port, driven by the CLI of
another home through --engine / STUDIO_ENGINE_URL and a token file or STUDIO_ENGINE_TOKEN."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.engine.client import EngineClient
from studio.engine.remote import (
    EngineAddressError,
    connection_string,
    read_token_file,
    resolve_address,
    split_connection_string,
)
from tests.engine.conftest import popen_engine_on_every_interface


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """A hand-started engine ('another machine'): its own home, a fixed port."""
    home = tmp_path_factory.mktemp("remote") / "home"
    env = dict(os.environ, STUDIO_HOME=str(home))
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", "engine", "--port", "0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 90
    while not (home / "remote.json").exists() or not (home / "engine.json").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the remote engine did not start"
        time.sleep(0.1)
    data = json.loads((home / "remote.json").read_text())
    client = EngineClient(data["url"], data["token"])
    while True:
        try:
            client.plugins()
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    yield home, data, client
    client.shutdown()
    process.wait(timeout=20)
    client.close()


def _cli(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("STUDIO_ENGINE_")}
    environment.update(STUDIO_HOME=str(home), **env)
    return subprocess.run([sys.executable, "-m", "studio", *args], env=environment, capture_output=True, text=True, timeout=180)


def test_the_cli_generates_on_a_remote_engine_with_a_token_file_and_inspects_the_result(remote, tmp_path):
    remote_home, data, _client = remote
    local = tmp_path / "local"
    token_file = tmp_path / "remote.json"
    token_file.write_text((remote_home / "remote.json").read_text())
    out = tmp_path / "out.png"
    result = _cli(
        [
            "generate",
            "studio.patterns",
            "--engine",
            data["url"],
            "--engine-token-file",
            str(token_file),
            "-p",
            "width=24",
            "-p",
            "height=16",
            "--seed",
            "7",
            "-o",
            str(out),
            "-q",
        ],
        local,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (local / "engine.json").exists()  # no local engine was started
    inspected = _cli(["inspect", str(out)], local)
    assert inspected.returncode == 0, inspected.stderr
    info = json.loads(inspected.stdout)
    assert "studio.patterns" in json.dumps(info) and '"seed": 7' in json.dumps(info)
    # the same seed on the same engine through the environment gives the same bytes
    again = tmp_path / "again.png"
    result = _cli(
        ["generate", "studio.patterns", "-p", "width=24", "-p", "height=16", "--seed", "7", "-o", str(again), "-q"],
        local,
        STUDIO_ENGINE_URL=data["url"],
        STUDIO_ENGINE_TOKEN=data["token"],
    )
    assert result.returncode == 0, result.stderr
    assert again.read_bytes() == out.read_bytes()


def test_an_image_input_is_uploaded_to_the_remote_engine(remote, tmp_path):
    remote_home, data, client = remote
    catalogue = {g.id: g for g in client.plugins().generators}
    image_params = [(gid, p.name) for gid, g in catalogue.items() for p in g.params if p.type == "image" and not p.get("required", False)]
    if not image_params:
        pytest.skip("no generator with an optional image input in this build")
    before = len(list((remote_home / "artifacts").rglob("*")))
    source = tmp_path / "in.png"
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 10, 10)).save(source)
    address = resolve_address(connection_string(data["url"], data["token"]))
    assert address is not None
    with EngineClient(address.url, address.token) as remote_client:
        artifact = remote_client.upload(source.read_bytes(), kind="image", mime="image/png")
        fetched, mime = remote_client.artifact(artifact)
    assert fetched == source.read_bytes() and mime == "image/png"
    assert len(list((remote_home / "artifacts").rglob("*"))) > before


def test_a_wrong_token_or_missing_token_ends_with_a_clear_message(remote, tmp_path):
    _home, data, _client = remote
    wrong = _cli(
        ["generate", "studio.patterns", "--engine", data["url"], "-o", str(tmp_path / "x.png"), "-q"],
        tmp_path / "local",
        STUDIO_ENGINE_TOKEN="nope",
    )
    assert wrong.returncode == 1 and "token" in wrong.stderr and "Traceback" not in wrong.stderr
    missing = _cli(["generate", "studio.patterns", "--engine", data["url"], "-o", str(tmp_path / "x.png"), "-q"], tmp_path / "local")
    assert missing.returncode == 1 and "--engine-token-file" in missing.stderr and "Traceback" not in missing.stderr
    bad = _cli(
        ["generate", "studio.patterns", "--engine", "ftp://x", "-o", str(tmp_path / "x.png"), "-q"],
        tmp_path / "local",
        STUDIO_ENGINE_TOKEN="t",
    )
    assert bad.returncode == 1 and "not an engine URL" in bad.stderr


def test_connection_strings_and_token_files_round_trip(tmp_path, monkeypatch):
    for key in ("STUDIO_ENGINE_URL", "STUDIO_ENGINE_TOKEN", "STUDIO_ENGINE_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    assert split_connection_string("https://gpu.lan:8188/#token=abc") == ("https://gpu.lan:8188", "abc")
    assert resolve_address() is None
    plain = tmp_path / "token"
    plain.write_text("abc\n")
    assert read_token_file(plain) == (None, "abc")
    monkeypatch.setenv("STUDIO_ENGINE_URL", "http://gpu.lan:8188")
    monkeypatch.setenv("STUDIO_ENGINE_TOKEN_FILE", str(plain))
    assert resolve_address() == resolve_address("http://gpu.lan:8188#token=ignored-when-a-file-is-given")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(EngineAddressError, match="junk.json"):
        read_token_file(tmp_path / "junk.json")


def test_an_engine_bound_beyond_loopback_prints_how_to_connect(tmp_path):
    home = tmp_path / "home"
    process = popen_engine_on_every_interface(home)
    try:
        deadline = time.monotonic() + 90
        while not (home / "remote.json").exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        data = json.loads((home / "remote.json").read_text())
        assert (home / "remote.json").stat().st_mode & 0o777 == 0o600
        assert data["urls"] and all("0.0.0.0" not in url for url in data["urls"])
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=20)
    assert "connect from another machine" in err and f"#token={data['token']}" in err and "--engine-token-file" in err
