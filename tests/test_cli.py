"""The command line as a user runs it: a real process, a temporary STUDIO_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.engine.client import EngineClient

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-home")
    yield root
    try:
        EngineClient.connect(root, start=False).shutdown()
    except Exception:
        pass


def studio(home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, STUDIO_HOME=str(home))
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def test_generate_twice_gives_byte_identical_pngs_that_inspect_reads(home, tmp_path):
    first = studio(home, "generate", "studio.patterns", "--seed", "7", "--out", str(tmp_path / "a.png"))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == str(tmp_path / "a.png")
    second = studio(home, "generate", "studio.patterns", "--seed", "7", "--out", str(tmp_path / "b.png"))
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()

    from PIL import Image

    with Image.open(tmp_path / "a.png") as image:
        assert image.size == (512, 512)
        assert "Seed: 7" in image.info["parameters"]

    shown = studio(home, "inspect", str(tmp_path / "a.png"))
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["parameters"]["Seed"] == 7
    assert data["studio"]["generator"] == "studio.patterns" and data["studio"]["seed"] == 7


def test_generate_passes_params_and_a_different_seed_changes_the_image(home, tmp_path):
    result = studio(
        home,
        "generate",
        "studio.patterns",
        "--param",
        "width=64",
        "--param",
        "height=32",
        "--param",
        "palette=ocean",
        "--seed",
        "8",
        "--out",
        str(tmp_path / "small"),
    )
    assert result.returncode == 0, result.stderr
    written = Path(result.stdout.strip())
    assert written.suffix == ".png"
    from PIL import Image

    with Image.open(written) as image:
        assert image.size == (64, 32)
        assert "Palette: ocean" in image.info["parameters"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "no.such.plugin", "--out", "x.png"], "unknown generator 'no.such.plugin'"),
        (["generate", "studio.patterns", "--param", "width=wide", "--out", "x.png"], "width: expected a whole number"),
        (["generate", "studio.patterns", "--param", "colour=red", "--out", "x.png"], "unknown parameter(s) colour"),
        (["generate", "studio.patterns", "--param", "width", "--out", "x.png"], "--param takes NAME=VALUE"),
        (["generate", "studio.patterns", "--param", "width=@/no/such/file", "--out", "x.png"], "cannot read /no/such/file"),
        (["inspect", "/no/such/file.png"], "no such file"),
    ],
)
def test_failures_exit_non_zero_with_a_one_line_reason(home, args, message):
    result = studio(home, *args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert message in lines[0]


def test_inspect_refuses_a_corrupt_file_with_a_clear_reason(home, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    result = studio(home, "inspect", str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "bad.png" in result.stderr


def test_plugins_list_shows_first_party_plugins_as_json_and_table(home):
    result = studio(home, "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["id"]: row for row in json.loads(result.stdout)}
    assert rows["studio.patterns"]["state"] == "enabled"
    assert rows["studio.patterns"]["source"] == "first-party"
    table = studio(home, "plugins", "list")
    assert "studio.patterns" in table.stdout and "enabled" in table.stdout


def test_disable_and_enable_persist_in_settings(home):
    assert studio(home, "plugins", "disable", "studio.patterns").returncode == 0
    rows = {row["id"]: row for row in json.loads(studio(home, "plugins", "list", "--json").stdout)}
    assert rows["studio.patterns"]["state"] == "disabled"
    assert studio(home, "plugins", "enable", "studio.patterns").returncode == 0
    rows = {row["id"]: row for row in json.loads(studio(home, "plugins", "list", "--json").stdout)}
    assert rows["studio.patterns"]["state"] == "enabled"


def test_disabling_a_plugin_applies_to_the_running_engine_at_once(home, tmp_path):
    assert (
        studio(
            home, "generate", "studio.patterns", "--param", "width=16", "--param", "height=16", "--out", str(tmp_path / "a.png")
        ).returncode
        == 0
    )
    pid = json.loads((home / "engine.json").read_text())["pid"]
    disabled = studio(home, "plugins", "disable", "studio.patterns")
    assert "applied to the running engine" in disabled.stdout
    refused = studio(home, "generate", "studio.patterns", "--out", str(tmp_path / "b.png"))
    assert refused.returncode == 1 and "disabled" in refused.stderr
    enabled = studio(home, "plugins", "enable", "studio.patterns")
    assert "applied to the running engine" in enabled.stdout
    assert (
        studio(
            home, "generate", "studio.patterns", "--param", "width=16", "--param", "height=16", "--out", str(tmp_path / "c.png")
        ).returncode
        == 0
    )
    assert json.loads((home / "engine.json").read_text())["pid"] == pid  # the same engine all along


def test_the_engine_is_restarted_by_the_next_command_after_it_was_killed(home, tmp_path):
    import signal

    assert (
        studio(
            home, "generate", "studio.patterns", "--param", "width=32", "--param", "height=32", "--out", str(tmp_path / "1.png")
        ).returncode
        == 0
    )
    pid = json.loads((home / "engine.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    result = studio(home, "generate", "studio.patterns", "--param", "width=32", "--param", "height=32", "--out", str(tmp_path / "2.png"))
    assert result.returncode == 0, result.stderr
    assert json.loads((home / "engine.json").read_text())["pid"] != pid
