"""The window's responsiveness: time to first paint, and event-loop stalls while a job runs.

    .venv/bin/python tests/benchmarks/bench_ui.py [--runs 3] [--size 1024]

1. *Process start → first paint*: a fresh ``python`` process (clock read by the parent just
   before it starts it) imports the studio, opens the main window and reports when the window
   first paints. The engine starts in the background meanwhile; the time until it is ready is
   shown beside it, so the two can be compared.
2. *Longest Qt event-loop stall during a generation*: in one process, a 5 ms timer measures
   how late each tick fires, first while the window is idle and then while the built-in
   patterns generator renders a SIZE×SIZE image (progress and preview events streaming in,
   the output fetched, stored and placed on the canvas). The idle run is the baseline.

Runs off-screen (QT_QPA_PLATFORM=offscreen) unless a display is set.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from PySide6.QtCore import QEvent, QObject, QTimer
from studio.ui.app import make_application
from studio.ui.dialogs import QuietPrompter
from studio.ui.engine_link import READY
from studio.ui.main_window import MainWindow
imported = time.time()
app = make_application()
window = MainWindow(Path(os.environ["STUDIO_HOME"]), prompter=QuietPrompter(ask=False))
marks = {{"imported": imported}}

def painted():
    if "painted" not in marks:
        marks["painted"] = time.time()

window.first_paint.connect(painted)
window.show()
from studio.ui.timers import call_later
call_later(0, lambda: window.start(None))
def check():
    if window.link.state == READY and window.link.ready and "ready" not in marks:
        marks["ready"] = time.time()
    if "ready" in marks and "painted" in marks:
        app.quit()
timer = QTimer(); timer.timeout.connect(check); timer.start(5)
call_later(120000, app.quit)
app.exec()
window.session.close(discard_untitled=True)
window.link.call(lambda client: client.shutdown())
t = time.time()
while time.time() - t < 1.0:
    app.processEvents()
window.link.close()
print("MARKS " + json.dumps(marks), flush=True)
"""


def first_paint_once() -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="studio-bench-ui-"))
    env = dict(os.environ, STUDIO_HOME=str(home), HF_HUB_OFFLINE="1")
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    start = time.time()
    result = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT))], env=env, capture_output=True, text=True, timeout=180)
    line = next((line for line in result.stdout.splitlines() if line.startswith("MARKS ")), None)
    _stop_engine(home)
    if line is None:
        raise RuntimeError(f"the window process did not report (exit {result.returncode}): {result.stderr[-2000:]}")
    marks = json.loads(line[len("MARKS ") :])
    return {name: (value - start) * 1000 for name, value in marks.items()}


def _stop_engine(home: Path) -> None:
    try:
        pid = int(json.loads((home / "engine.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return
    try:
        import psutil

        process = psutil.Process(pid)
        children = process.children(recursive=True)
        _gone, alive = psutil.wait_procs([process], timeout=5)
        for item in alive + children:
            item.kill()
    except Exception:
        pass


def stalls(size: int) -> dict[str, dict[str, float]]:
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    home = Path(tempfile.mkdtemp(prefix="studio-bench-stall-"))
    os.environ["STUDIO_HOME"] = str(home)
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QElapsedTimer, QTimer

    from studio.ui.app import make_application
    from studio.ui.dialogs import QuietPrompter
    from studio.ui.engine_link import READY
    from studio.ui.main_window import MainWindow
    from studio.ui.timers import call_later

    app = make_application()
    window = MainWindow(home, prompter=QuietPrompter(ask=False))
    window.show()
    window.start(None)

    def pump_until(predicate, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not predicate():
            app.processEvents()
            time.sleep(0.002)
        return predicate()

    if not pump_until(lambda: window.link.state == READY and bool(window.generate_panel.generators), 120):
        raise RuntimeError(f"engine not ready: {window.link.detail}")

    def measure(run_for: float | None, until=None) -> list[float]:
        gaps: list[float] = []
        clock = QElapsedTimer()
        clock.start()
        last = [clock.nsecsElapsed()]

        def tick() -> None:
            now = clock.nsecsElapsed()
            gaps.append((now - last[0]) / 1e6)
            last[0] = now
            if (run_for is not None and now / 1e9 >= run_for) or (until is not None and until()):
                loop_timer.stop()
                app.quit()

        loop_timer = QTimer()
        loop_timer.setInterval(5)
        loop_timer.timeout.connect(tick)
        loop_timer.start()
        guard = call_later(180000, app.quit)
        app.exec()
        guard.stop()
        return gaps

    panel = window.generate_panel
    panel.select_generator("studio.patterns")
    panel.editors["width"].set_value(size)
    panel.editors["height"].set_value(size)
    landed: list = []
    window.generation_landed.connect(landed.append)
    # Warm-up generation (first job loads the plugin in the worker).
    window.generate()
    pump_until(lambda: bool(landed), 120)
    started = time.monotonic()
    call_later(0, window.generate)
    busy = measure(None, until=lambda: len(landed) >= 2)
    job_seconds = time.monotonic() - started
    idle = measure(job_seconds)
    window.session.close(discard_untitled=True)
    window.link.call(lambda client: client.shutdown())
    pump_until(lambda: False, 1.0)
    window.link.close()
    _stop_engine(home)

    def summary(gaps: list[float]) -> dict[str, float]:
        stall = [max(0.0, gap - 5.0) for gap in gaps]
        ordered = sorted(stall)
        return {
            "ticks": len(gaps),
            "max_stall_ms": max(stall, default=0.0),
            "p99_stall_ms": ordered[int(0.99 * (len(ordered) - 1))] if ordered else 0.0,
            "mean_gap_ms": statistics.fmean(gaps) if gaps else 0.0,
        }

    return {"idle": summary(idle), "generating": summary(busy), "job_seconds": {"value": job_seconds}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=1024, help="image size for the generation (pixels)")
    args = parser.parse_args()

    paints = [first_paint_once() for _ in range(args.runs)]
    stall = stalls(args.size)

    def median(key: str) -> float:
        values = [run[key] for run in paints if key in run]
        return statistics.median(values) if values else float("nan")

    print()
    print(f"{'measure':58} {'value':>12}")
    print("-" * 71)
    print(f"{'process start -> studio imported (median of %d)' % args.runs:58} {median('imported'):>9.0f} ms")
    print(f"{'process start -> first paint of the window (median of %d)' % args.runs:58} {median('painted'):>9.0f} ms")
    print(f"{'process start -> engine ready (background; median of %d)' % args.runs:58} {median('ready'):>9.0f} ms")
    each = ", ".join("%.0f" % run.get("painted", float("nan")) for run in paints)
    print(f"{'first paint, each run':58} {each:>12} ms")
    print(f"{'generation of a %dx%d pattern (wall time)' % (args.size, args.size):58} {stall['job_seconds']['value'] * 1000:>9.0f} ms")
    print(f"{'longest event-loop stall while generating':58} {stall['generating']['max_stall_ms']:>9.1f} ms")
    print(f"{'p99 event-loop stall while generating':58} {stall['generating']['p99_stall_ms']:>9.1f} ms")
    print(f"{'longest event-loop stall idle, same duration (baseline)':58} {stall['idle']['max_stall_ms']:>9.1f} ms")
    print(f"{'p99 event-loop stall idle (baseline)':58} {stall['idle']['p99_stall_ms']:>9.1f} ms")
    print(f"{'timer ticks measured (generating / idle)':58} {stall['generating']['ticks']:>6} / {stall['idle']['ticks']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
