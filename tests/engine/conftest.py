"""A real engine subprocess on a free port, in a temporary STUDIO_HOME, with test plugins."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from studio.engine.client import EngineClient

FIXTURE_PLUGINS = Path(__file__).resolve().parents[1] / "fixtures" / "plugins"


def make_home(root: Path, plugins: list[str]) -> Path:
    home = root / "home"
    (home / "plugins").mkdir(parents=True)
    for name in plugins:
        shutil.copytree(FIXTURE_PLUGINS / name, home / "plugins" / name)
    return home


@pytest.fixture(scope="module")
def engine_home(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    plugins = getattr(request.module, "ENGINE_PLUGINS", ["slow", "crash", "stubborn", "broken_manifest", "import_error", "modelload"])
    home = make_home(tmp_path_factory.mktemp("engine"), plugins)
    previous = {key: os.environ.get(key) for key in ("STUDIO_HOME", "STUDIO_CANCEL_GRACE")}
    os.environ["STUDIO_HOME"] = str(home)
    os.environ["STUDIO_CANCEL_GRACE"] = "1.5"
    yield home
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def engine(engine_home: Path):
    client = EngineClient.connect(engine_home, start=True, timeout=120)
    yield client
    client.shutdown()
    if client.process is not None:
        try:
            client.process.wait(timeout=20)
        except Exception:
            client.process.kill()
    client.close()


def python() -> str:
    return sys.executable


def popen_engine_on_every_interface(home):
    """``python -m studio engine --host 0.0.0.0 --port 0`` with its own home, as a user starts a
    remote engine by hand; its stderr (the connection string, the pairing code) is a pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "studio", "engine", "--host", "0.0.0.0", "--port", "0"],
        env=dict(os.environ, STUDIO_HOME=str(home)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
