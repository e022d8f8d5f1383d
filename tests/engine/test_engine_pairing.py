"""Short pairing codes: an engine bound beyond loopback prints ``XXXX-XXXX``; a CLI in another
STUDIO_HOME trades it once for the token (``--engine URL --pair CODE``) and remembers it; wrong,
reused, expired and brute-forced codes are refused with a clear message, and the engine logs
every pairing. The long token keeps working."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from studio import cli
from studio.engine.client import EngineClient
from studio.engine.pairing import ALPHABET, MAX_WRONG, PairingDesk, PairingRefused
from tests.engine.conftest import popen_engine_on_every_interface

CODE = re.compile(r"pairing code ([2-9A-Z]{4}-[2-9A-Z]{4})")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """A hand-started engine on every interface, its own home and port; its stderr is collected."""
    home = tmp_path_factory.mktemp("pairing") / "home"
    process = popen_engine_on_every_interface(home)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 90
    while not (home / "engine.json").exists() or not any(CODE.search(line) for line in lines):
        assert process.poll() is None and time.monotonic() < deadline, "the engine did not start: " + "".join(lines)
        time.sleep(0.1)
    data = json.loads((home / "engine.json").read_text())
    url = f"http://127.0.0.1:{urlsplit(data['url']).port}"
    client = EngineClient(url, data["token"])
    while True:
        try:
            client.plugins()
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    printed = next(CODE.search(line).group(1) for line in lines if CODE.search(line))
    yield {"home": home, "url": url, "token": data["token"], "client": client, "code": printed, "lines": lines}
    client.shutdown()
    process.wait(timeout=20)
    client.close()


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("STUDIO_ENGINE_")}
    environment["STUDIO_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "studio", *args], env=environment, capture_output=True, text=True, timeout=180)


def _generate(home: Path, out: Path, *engine_args: str) -> subprocess.CompletedProcess:
    return _cli(["generate", "studio.patterns", "-p", "width=32", "-p", "height=32", "--seed", "5", "--out", str(out), *engine_args], home)


def test_the_printed_code_pairs_the_cli_once_and_the_token_is_remembered(engine, tmp_path, monkeypatch, capsys):
    code = engine["code"]
    assert all(ch in ALPHABET for ch in code.replace("-", "")) and len(code) == 9
    local = tmp_path / "local"
    paired = _generate(local, tmp_path / "a.png", "--engine", engine["url"], "--pair", code.lower())  # case does not matter
    assert paired.returncode == 0, paired.stderr
    assert (tmp_path / "a.png").stat().st_size > 0
    remembered = local / "paired-engines.json"
    assert json.loads(remembered.read_text()) == {engine["url"]: engine["token"]}
    assert remembered.stat().st_mode & 0o777 == 0o600
    assert not (local / "engine.json").exists()  # no local engine was started
    assert any("paired with 127.0.0.1" in line for line in engine["lines"])  # the engine logs who paired
    log = (engine["home"] / "logs" / "engine.log").read_text()
    assert "paired with 127.0.0.1" in log

    again = _generate(local, tmp_path / "b.png", "--engine", engine["url"])  # no code, no token: the remembered one
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "b.png").read_bytes() == (tmp_path / "a.png").read_bytes()

    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "elsewhere"))  # the same code from another home (the CLI in-process)
    reused = cli.main(["generate", "studio.patterns", "--out", str(tmp_path / "c.png"), "--engine", engine["url"], "--pair", code])
    assert reused == 1 and "already used" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()


def test_wrong_and_expired_codes_are_refused_with_a_clear_message(engine, tmp_path, monkeypatch, capsys):
    """The CLI's own code in this process (the subprocess path is pinned above): one line, exit 1."""
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "w"))
    monkeypatch.delenv("STUDIO_ENGINE_URL", raising=False)

    def generate(*engine_args: str) -> tuple[int, str]:
        code = cli.main(["generate", "studio.patterns", "--out", str(tmp_path / "x.png"), *engine_args])
        return code, capsys.readouterr().err

    code, err = generate("--engine", engine["url"], "--pair", "ZZZZ-ZZZZ")
    assert code == 1 and err.startswith("error: pairing with") and "wrong pairing code" in err and "tries left" in err

    short = engine["client"].new_pair_code(ttl=0.2)
    time.sleep(0.4)
    code, err = generate("--engine", engine["url"], "--pair", short.code)
    assert code == 1 and "expired" in err and "engine-pair" in err

    code, err = generate("--pair", "ABCD-EFGH")
    assert code == 1 and "--pair needs the engine's URL" in err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "w" / "paired-engines.json").exists()


def test_a_few_wrong_codes_invalidate_the_open_code_so_it_cannot_be_guessed(engine):
    url = engine["url"]
    warmup = engine["client"].new_pair_code()
    assert httpx.post(f"{url}/pair", json={"code": warmup.code}).status_code == 200  # a good pairing resets the count
    target = engine["client"].new_pair_code()
    answers = [httpx.post(f"{url}/pair", json={"code": "2222-2222"}) for _ in range(MAX_WRONG)]
    assert all(answer.status_code == 403 for answer in answers)
    assert "1 tries left" in answers[-2].json()["detail"] and "invalidated" in answers[-1].json()["detail"]
    late = httpx.post(f"{url}/pair", json={"code": target.code})
    assert late.status_code == 403 and "invalidated" in late.json()["detail"]
    assert "token" not in late.json()


def test_engine_pair_prints_a_new_code_for_this_homes_engine_and_the_long_token_still_works(engine, tmp_path, monkeypatch, capsys):
    printed = _cli(["engine-pair", "--ttl", "60"], engine["home"])
    assert printed.returncode == 0, printed.stderr
    code = CODE.search(printed.stdout).group(1)
    answer = httpx.post(f"{engine['url']}/pair", json={"code": code, "client": "test box"})
    assert answer.status_code == 200 and answer.json()["token"] == engine["token"]
    assert any("paired with 127.0.0.1 (test box)" in line for line in engine["lines"])
    with EngineClient(engine["url"], engine["token"]) as client:
        assert client.health().ok  # the token itself is unchanged by pairing
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "empty"))
    assert cli.main(["engine-pair"]) == 1 and "no engine is running" in capsys.readouterr().err


def test_a_pairing_desk_expires_and_uses_up_codes_on_its_own_clock():
    now = [100.0]
    desk = PairingDesk(ttl=60, clock=lambda: now[0])
    code, ttl = desk.issue()
    assert ttl == 60 and re.fullmatch(r"[2-9A-Z]{4}-[2-9A-Z]{4}", code)
    now[0] += 59
    desk.redeem(f" {code.lower().replace('-', ' ')} ")
    with pytest.raises(PairingRefused, match="already used"):
        desk.redeem(code)
    late, _ = desk.issue()
    now[0] += 60
    with pytest.raises(PairingRefused, match="expired"):
        desk.redeem(late)
