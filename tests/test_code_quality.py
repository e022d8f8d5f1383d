"""Lint, format and type checks run inside the test command, so CI enforces them.

ruff (rules and formatter, configured in pyproject.toml) over the whole tree, and mypy over
the Qt-free layers (studio/core, studio/plugins, studio/engine) where types cross the engine
boundary. Each check runs the real tool from this environment and shows its report on failure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TREE = ["studio", "plugins", "tests", "examples", "main.py"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    result = _run("ruff", "check", "--no-cache", *TREE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_tree_is_formatted():
    result = _run("ruff", "format", "--check", "--no-cache", *TREE)
    assert result.returncode == 0, "run `ruff format` — these files differ:\n" + result.stdout + result.stderr


def test_mypy_is_clean_on_the_qt_free_layers():
    result = _run("mypy", "--no-incremental", "--cache-dir", "/dev/null")
    assert result.returncode == 0, result.stdout + result.stderr
