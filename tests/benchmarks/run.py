"""Run every benchmark script in this folder (or those named) and print their tables.

    .venv/bin/python tests/benchmarks/run.py                 # all
    .venv/bin/python tests/benchmarks/run.py foundation      # bench_foundation.py only

Benchmarks are measurements, never asserts: each script prints a table of medians and
ratios measured side by side in one run (the studio's path against the direct call).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [script for script in scripts if any(name in script.stem for name in argv)]
    failed = 0
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parents[1])
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
