"""The layer boundaries of DESIGN.md, checked on every test run."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint, "import-linter is not installed (it is part of the test extras)"
    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_first_party_plugins_import_only_the_plugin_api_and_core():
    """Plugin code may use the API and core; a plugin's own tests may also use the author kit."""
    offenders = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        is_test = path.name.startswith("test_") or path.name == "conftest.py" or "tests" in path.parts
        allowed = ("studio.plugins.api", "studio.core") + (("studio.plugins.testing",) if is_test else ())
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name == "studio" or (name.startswith("studio.") and not name.startswith(allowed)):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_the_window_process_modules_do_not_pull_in_torch():
    code = (
        "import sys, importlib, pkgutil, studio.ui as ui\n"
        "import studio.engine.client, studio.core.params\n"
        "for m in pkgutil.walk_packages(ui.__path__, 'studio.ui.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [name for name in ('torch', 'diffusers', 'transformers') if name in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    if not (ROOT / "studio" / "ui" / "__init__.py").exists():
        code = "import sys, studio.engine.client\nprint(','.join(n for n in ('torch','diffusers','transformers') if n in sys.modules))\n"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
