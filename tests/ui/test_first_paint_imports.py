"""The window paints before the heavy libraries load (issue 13: first paint ≤ 0.6 s).

Importing the studio took ~1 s, most of it numpy, httpx (with its command-line extras) and
pydantic's models for the engine protocol and the project file, none of which the first
frame needs. They now load after it: the engine client and its models on the engine link's
threads, the project store when the first project opens, numpy when audio is mixed. This
pins that, in a fresh process (no timings: ``tests/benchmarks/bench_ui.py`` measures them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "httpx", "pydantic", "PIL", "studio.engine.client", "studio.engine.protocol", "studio.core.project_store")

CHILD = """
import json, os, sys
from pathlib import Path
from typing import Any
HEAVY = {heavy!r}
loaded = lambda: [name for name in HEAVY if name in sys.modules]
from studio.ui.app import make_application
from studio.ui.dialogs import QuietPrompter
from studio.ui.main_window import MainWindow
after = {{"import": loaded()}}
app = make_application()
window = MainWindow(Path(os.environ["STUDIO_HOME"]), prompter=QuietPrompter(ask=False))
window.show()
app.processEvents()
after["painted"] = loaded()
window.start(None, engine=False)  # the project opens: now the store is needed
after["project"] = loaded()
window.session.close(discard_untitled=True)
print("LOADED " + json.dumps(after), flush=True)
os._exit(0)
"""


def test_the_window_is_built_and_shown_without_numpy_httpx_or_pydantic(tmp_path: Path) -> None:
    env = dict(os.environ, STUDIO_HOME=str(tmp_path), PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", CHILD.format(heavy=HEAVY)], env=env, capture_output=True, text=True, timeout=120)
    line = next((line for line in result.stdout.splitlines() if line.startswith("LOADED ")), None)
    assert line is not None, result.stderr[-3000:]
    after = json.loads(line[len("LOADED ") :])
    assert after["import"] == [] and after["painted"] == [], after
    # Deferred, not removed: opening the project loads the store.
    assert "studio.core.project_store" in after["project"]


def test_the_project_and_engine_start_only_after_the_first_frame(make_window: Any, qtbot: Any) -> None:
    from studio.ui.app import start_after_first_paint

    window = make_window()
    window.hide()
    window._painted = False  # a window about to be shown for the first time
    order: list[str] = []
    window.first_paint.connect(lambda: order.append("painted"))
    start_after_first_paint(window, lambda: order.append("started"))
    qtbot.wait(20)  # a zero-delay timer would have fired here, before any paint
    assert order == []
    window.show()
    qtbot.waitUntil(lambda: "started" in order, timeout=10000)
    assert order == ["painted", "started"]
