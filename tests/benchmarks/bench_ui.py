"""The window's responsiveness: time to first paint, and event-loop stalls while a job runs.

    .venv/bin/python tests/benchmarks/bench_ui.py [--runs 3] [--jobs 3] [--size 1024]

1. *Process start → first paint*: a fresh ``python`` process (clock read by the parent just
   before it starts it) imports the studio, opens the main window and reports when the window
   first paints; the median of RUNS. The engine starts in the background meanwhile; the time
   until it is ready is shown beside it, so the two can be compared. The runs use compiled
   bytecode, as an installed studio does (pip compiles it on install): one uncounted run
   first writes it to a cache in a temporary folder (``PYTHONPYCACHEPREFIX``), even where
   ``PYTHONDONTWRITEBYTECODE`` is set; that cold run is shown too.
2. *Longest Qt event-loop stall during a generation*: in one process, a 5 ms timer measures
   how late each tick fires while the built-in patterns generator renders a SIZE×SIZE image
   (progress and preview events streaming in, the output fetched, stored and placed on the
   canvas; the autosave that follows a change) and then, for as long, while the window is
   idle: the baseline, which shows what the machine's load alone costs. JOBS generations
   (after one uncounted warm-up that loads the plugin); the median of their longest stalls
   is the figure, the worst is shown beside it.

The machine's load average is printed with the figures: on a shared machine the stalls
and times grow with it, and the idle baseline shows by how much.

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
def start():
    marks["started"] = time.time()
    window.start(None)
try:  # as ``python main.py`` does: the project and the engine once the window has painted
    from studio.ui.app import start_after_first_paint
    start_after_first_paint(window, start)
except ImportError:  # an older checkout (--root): what it did then
    call_later(0, start)
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


def first_paint_once(bytecode: Path, root: Path = ROOT) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="studio-bench-ui-"))
    env = dict(os.environ, STUDIO_HOME=str(home), HF_HUB_OFFLINE="1", PYTHONPYCACHEPREFIX=str(bytecode))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    start = time.time()
    result = subprocess.run([sys.executable, "-c", CHILD.format(root=str(root))], env=env, capture_output=True, text=True, timeout=180)
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


def stalls(size: int, jobs: int, root: Path = ROOT) -> dict[str, list[dict[str, float]]]:
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    home = Path(tempfile.mkdtemp(prefix="studio-bench-stall-"))
    os.environ["STUDIO_HOME"] = str(home)
    sys.path.insert(0, str(root))
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

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
                loop.quit()

        # A local event loop, not app.exec()/quit(): quitting the application's loop stops
        # the engine link's request threads (aboutToQuit), and the next job would never start.
        loop = QEventLoop()
        loop_timer = QTimer()
        loop_timer.setInterval(5)
        loop_timer.timeout.connect(tick)
        loop_timer.start()
        guard = call_later(180000, loop.quit)
        loop.exec()
        guard.stop()
        return gaps

    panel = window.generate_panel
    panel.select_generator("studio.patterns")
    panel.editors["width"].set_value(size)
    panel.editors["height"].set_value(size)
    landed: list[float] = []
    window.generation_landed.connect(lambda _node: landed.append(time.monotonic()))
    # Warm-up generation (first job loads the plugin in the worker).
    window.generate()
    pump_until(lambda: bool(landed), 120)
    runs: dict[str, list[dict[str, float]]] = {"generating": [], "idle": []}
    for _ in range(jobs):  # one after the other, as someone iterating does
        target = len(landed) + 1
        started = time.monotonic()
        call_later(0, window.generate)
        # Until the result has landed and had a quarter second to be painted.
        busy = measure(None, until=lambda target=target: len(landed) >= target and time.monotonic() - landed[-1] > 0.25)
        runs["generating"].append(dict(summary(busy), seconds=time.monotonic() - started))
    pump_until(lambda: False, 3.5)  # the autosave that follows the last landing, before the idle baseline
    for run in list(runs["generating"]):
        runs["idle"].append(summary(measure(run["seconds"])))
    window.session.close(discard_untitled=True)
    window.link.call(lambda client: client.shutdown())
    pump_until(lambda: False, 1.0)
    window.link.close()
    _stop_engine(home)

    return runs


def summary(gaps: list[float]) -> dict[str, float]:
    stall = [max(0.0, gap - 5.0) for gap in gaps]
    ordered = sorted(stall)
    return {
        "ticks": len(gaps),
        "max_stall_ms": max(stall, default=0.0),
        "p99_stall_ms": ordered[int(0.99 * (len(ordered) - 1))] if ordered else 0.0,
        "mean_gap_ms": statistics.fmean(gaps) if gaps else 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="window starts measured for the first paint")
    parser.add_argument("--jobs", type=int, default=3, help="generations measured for the stall")
    parser.add_argument("--size", type=int, default=1024, help="image size for the generation (pixels)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to measure (to compare before and after)")
    args = parser.parse_args()
    root = args.root.resolve()
    os.environ["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [os.environ.get("PYTHONPATH")])])

    load_before = os.getloadavg()
    bytecode = Path(tempfile.mkdtemp(prefix="studio-bench-pyc-"))
    cold = first_paint_once(bytecode, root)  # compiles and caches the bytecode; not counted
    paints = [first_paint_once(bytecode, root) for _ in range(args.runs)]
    runs = stalls(args.size, args.jobs, root)
    load_after = os.getloadavg()

    def median(key: str) -> float:
        values = [run[key] for run in paints if key in run]
        return statistics.median(values) if values else float("nan")

    def stall(kind: str, key: str) -> tuple[float, float]:
        values = [run[key] for run in runs[kind]]
        return statistics.median(values), max(values)

    def line(label: str, value: str) -> None:
        print(f"{label:62} {value:>16}")

    print()
    line("measure", "value")
    print("-" * 79)
    line("checkout measured", str(root)[-16:])
    line(f"process start -> studio imported (median of {args.runs})", f"{median('imported'):.0f} ms")
    line(f"process start -> FIRST PAINT of the window (median of {args.runs})", f"{median('painted'):.0f} ms")
    line("first paint, each run", ", ".join("%.0f" % run.get("painted", float("nan")) for run in paints) + " ms")
    line("first paint, cold run (bytecode compiled first; not counted)", f"{cold.get('painted', float('nan')):.0f} ms")
    line(f"process start -> project opened, engine started (median of {args.runs})", f"{median('started'):.0f} ms")
    line(f"process start -> engine ready (background; median of {args.runs})", f"{median('ready'):.0f} ms")
    seconds = statistics.median(run["seconds"] for run in runs["generating"])
    line(f"generation of a {args.size}x{args.size} pattern (median wall time)", f"{seconds * 1000:.0f} ms")
    worst = stall("generating", "max_stall_ms")
    line(f"LONGEST EVENT-LOOP STALL while generating (median of {args.jobs})", f"{worst[0]:.1f} ms")
    line("  longest stall of each generation", ", ".join("%.1f" % run["max_stall_ms"] for run in runs["generating"]) + " ms")
    line("p99 event-loop stall while generating (median)", f"{stall('generating', 'p99_stall_ms')[0]:.1f} ms")
    idle = stall("idle", "max_stall_ms")
    line("longest stall idle, same duration (baseline; median, worst)", f"{idle[0]:.1f}, {idle[1]:.1f} ms")
    line("p99 event-loop stall idle (baseline, median)", f"{stall('idle', 'p99_stall_ms')[0]:.1f} ms")
    line("load average before / after (1 min)", f"{load_before[0]:.1f} / {load_after[0]:.1f}")
    line("CPUs", str(os.cpu_count()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
