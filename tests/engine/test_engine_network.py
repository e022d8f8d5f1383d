"""Who may talk to the engine over the network: Host names (DNS rebinding), Origins, TLS.

A page on evil.example that re-resolves its name to 127.0.0.1 reaches the engine's socket
with ``Host: evil.example``; the engine must refuse it. Bound beyond loopback the engine
warns, serves HTTPS when given a certificate (made here with ``cryptography``), and accepts
requests from its own origin under any of its names.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from studio.engine.client import EngineClient
from studio.engine.protocol import JobState

ENGINE_PLUGINS = ["slow"]


def auth(engine) -> dict[str, str]:
    return {"Authorization": f"Bearer {engine.token}"}


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "attacker.test:{port}", "127.0.0.1.evil.example"])
def test_a_foreign_host_header_is_refused_against_dns_rebinding(engine, host):
    port = httpx.URL(engine.url).port
    headers = {**auth(engine), "Host": host.format(port=port)}
    for path in ("/health", "/plugins", "/jobs"):
        response = httpx.get(engine.url + path, headers=headers, trust_env=False)
        assert response.status_code == 400, (path, response.text)
        assert "host name" in response.json()["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "localhost"])
def test_loopback_host_names_are_served(engine, host):
    port = httpx.URL(engine.url).port
    response = httpx.get(engine.url + "/plugins", headers={**auth(engine), "Host": host.format(port=port)}, trust_env=False)
    assert response.status_code == 200


def make_certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "studio test engine")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "engine.crt", folder / "engine.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def start_engine(home: Path, *args: str) -> tuple[subprocess.Popen, dict]:
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, STUDIO_HOME=str(home), PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", "engine", "--port", "0", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"engine exited: {process.stderr.read()}")
        try:
            data = json.loads((home / "engine.json").read_text())
            if data.get("pid") == process.pid:
                return process, data
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    process.kill()
    raise AssertionError("engine did not start")


def stop_engine(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        _out, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate()
    return err


@pytest.mark.slow
def test_an_engine_beyond_loopback_serves_tls_warns_and_accepts_its_own_origin(tmp_path):
    cert, key = make_certificate(tmp_path)
    process, connection = start_engine(tmp_path / "home", "--host", "0.0.0.0", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    try:
        assert connection["url"].startswith("https://0.0.0.0:")
        port = httpx.URL(connection["url"]).port
        url = f"https://127.0.0.1:{port}"
        context = ssl.create_default_context(cafile=str(cert))
        headers = {"Authorization": f"Bearer {connection['token']}"}
        with httpx.Client(verify=context, trust_env=False, timeout=30) as http:
            assert http.get(url + "/plugins", headers=headers).status_code == 200
            own = http.get(url + "/plugins", headers={**headers, "Origin": f"https://127.0.0.1:{port}"})
            assert own.status_code == 200
            assert http.get(url + "/plugins", headers={**headers, "Origin": f"https://localhost:{port}"}).status_code == 200
            assert http.get(url + "/plugins", headers={**headers, "Origin": "https://evil.example"}).status_code == 403
            assert http.get(url + "/plugins", headers={**headers, "Origin": f"http://127.0.0.1:{port}"}).status_code == 403
            assert http.get(url + "/plugins", headers={**headers, "Host": "evil.example"}).status_code == 400
        with pytest.raises(httpx.TransportError):  # plain HTTP clients cannot talk to it
            httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False, timeout=5)
        with EngineClient(url, connection["token"], verify=str(cert)) as client:
            job = (
                client.run("test.slow", {"steps": 1, "step_seconds": 0}, seed=1, timeout=60)
                if _has_slow(client)
                else client.run("studio.patterns", {"width": 16, "height": 16}, seed=1, timeout=60)
            )
            assert job.state == JobState.DONE
    finally:
        err = stop_engine(process)
    assert "warning: the engine listens on 0.0.0.0" in err
    assert "plain HTTP" not in err


def _has_slow(client: EngineClient) -> bool:
    return any(generator.id == "test.slow" for generator in client.catalogue().generators)


@pytest.mark.slow
def test_an_engine_beyond_loopback_without_tls_warns_that_the_token_travels_in_clear(tmp_path):
    process, connection = start_engine(tmp_path / "home", "--host", "0.0.0.0")
    try:
        port = httpx.URL(connection["url"]).port
        headers = {"Authorization": f"Bearer {connection['token']}", "Origin": f"http://127.0.0.1:{port}"}
        assert httpx.get(f"http://127.0.0.1:{port}/plugins", headers=headers, trust_env=False).status_code == 200
        # Local clients use engine.json's URL as written (http://0.0.0.0:PORT).
        with EngineClient(connection["url"], connection["token"]) as client:
            assert client.catalogue().generators
    finally:
        err = stop_engine(process)
    assert "plain HTTP" in err and "--ssl-certfile" in err


def test_tls_needs_both_files_and_says_so(tmp_path):
    cert, _key = make_certificate(tmp_path)
    env = dict(os.environ, STUDIO_HOME=str(tmp_path / "home"))
    result = subprocess.run(
        [sys.executable, "-m", "studio", "engine", "--port", "0", "--ssl-certfile", str(cert)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--ssl-keyfile" in result.stderr and "Traceback" not in result.stderr
