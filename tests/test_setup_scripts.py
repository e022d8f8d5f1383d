"""The README's two commands share one setup: running one after the other installs nothing.

The scripts run for real against a stand-in `.venv/bin/python` that records each pip call,
so the test pins the stamp logic without installing anything.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _sandbox(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    log = tmp_path / "pip.log"
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/usr/bin/env bash\necho "$*" >> {log}\n')
    python.chmod(0o755)
    return tmp_path, log


def _setup(root: Path, *extras: str) -> None:
    subprocess.run(["bash", "scripts/setup.sh", *extras], cwd=root, check=True, capture_output=True, timeout=60)


def _installs(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "install" in line] if log.exists() else []


def test_app_setup_after_test_setup_installs_nothing(tmp_path):
    root, log = _sandbox(tmp_path)
    _setup(root, "test")
    assert any(".[test" in line for line in _installs(log))
    log.unlink()
    _setup(root)
    _setup(root, "test")
    assert _installs(log) == []


def test_test_setup_after_app_setup_adds_the_test_tools_once(tmp_path):
    root, log = _sandbox(tmp_path)
    _setup(root)
    assert _installs(log) and not any(".[test" in line for line in _installs(log))
    log.unlink()
    _setup(root, "test")
    assert any(".[test" in line for line in _installs(log))
    log.unlink()
    _setup(root)
    assert _installs(log) == []


def test_a_changed_pyproject_reinstalls(tmp_path):
    root, log = _sandbox(tmp_path)
    _setup(root, "test")
    log.unlink()
    with (root / "pyproject.toml").open("a") as handle:
        handle.write("\n# changed\n")
    _setup(root)
    assert _installs(log)
