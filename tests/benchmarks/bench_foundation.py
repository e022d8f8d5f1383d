"""Engine overhead, engine cold start and CLI time to first output, for studio.patterns.

Side by side in one run, interleaved so machine noise hits both paths alike:
  direct  — the generator called in-process plus the PNG encoding (what the engine adds
            nothing to);
  engine  — the same job through HTTP + WebSocket to a warm engine and its worker, output
            downloaded.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins" / "patterns"))

REPEATS = 9
PARAMS = {"width": 768, "height": 768, "depth": 7}  # about a second on a laptop core


def direct_call(seed: int) -> float:
    from studio_patterns.generator import PatternsGenerator

    from studio.core.params import validate_params
    from studio.engine.config import EngineConfig
    from studio.engine.outputs import encode_output
    from studio.engine.runner import JobContext, LocalRunner
    from studio.plugins.api import Request

    global _runner, _generator, _specs
    if "_runner" not in globals():
        _runner = LocalRunner(EngineConfig(home=Path(tempfile.mkdtemp()), device="cpu"))
        _generator = PatternsGenerator()
        _specs = _runner.plugins.describe("studio.patterns")[0].params
    values = validate_params(_specs, PARAMS)
    started = time.perf_counter()
    ctx = JobContext(
        runner=_runner,
        seed=seed,
        device=_runner.device,
        emit=lambda e: None,
        cancel=threading.Event(),
        scratch_dir=Path(tempfile.gettempdir()),
    )
    outputs = _generator.generate(Request("studio.patterns", values, seed), ctx)
    encode_output(outputs[0], {"seed": seed})
    return time.perf_counter() - started


def engine_call(client, seed: int) -> float:
    started = time.perf_counter()
    job = client.run("studio.patterns", PARAMS, seed)
    client.artifact(job["outputs"][0])
    return time.perf_counter() - started


def main() -> None:
    from studio.engine.client import EngineClient

    home = Path(tempfile.mkdtemp(prefix="bench-home-"))
    env = dict(os.environ, STUDIO_HOME=str(home))

    # Cold start: process spawn → API answering → first job done (worker warmed up).
    started = time.perf_counter()
    client = EngineClient.connect(home, start=True)
    api_ready = time.perf_counter() - started
    client.run("studio.patterns", {"width": 16, "height": 16}, 0)
    first_job = time.perf_counter() - started

    direct, engine = [], []
    for index in range(REPEATS):
        direct.append(direct_call(index))
        engine.append(engine_call(client, index))
    d, e = statistics.median(direct), statistics.median(engine)

    # CLI: a whole `python main.py generate` process against the warm engine.
    cli_warm = []
    for index in range(5):
        out = home / f"cli-{index}.png"
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, str(ROOT / "main.py"), "generate", "studio.patterns", "--seed", str(index), "--out", str(out)],
            env=env,
            check=True,
            capture_output=True,
        )
        cli_warm.append(time.perf_counter() - t)
    client.shutdown()
    time.sleep(1.0)

    cold_home = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "generate", "studio.patterns", "--seed", "7", "--out", str(cold_home / "a.png")],
        env=dict(env, STUDIO_HOME=str(cold_home)),
        check=True,
        capture_output=True,
    )
    cli_cold = time.perf_counter() - t
    EngineClient.connect(cold_home, start=False).shutdown()

    print(f"studio.patterns {PARAMS['width']}x{PARAMS['height']} depth {PARAMS['depth']}, medians of {REPEATS} interleaved runs")
    print(f"{'measure':<46} {'seconds':>9} {'ratio':>7}")
    print(f"{'direct in-process call (generate + PNG)':<46} {d:>9.3f} {'1.000':>7}")
    print(f"{'through the engine (HTTP + WS + worker + fetch)':<46} {e:>9.3f} {e / d:>7.3f}")
    print(f"{'engine overhead per job':<46} {e - d:>9.3f} {'':>7}")
    print(f"{'engine cold start: API answering':<46} {api_ready:>9.3f}")
    print(f"{'engine cold start: first job done':<46} {first_job:>9.3f}")
    print(f"{'CLI generate 512x512, warm engine (median of 5)':<46} {statistics.median(cli_warm):>9.3f}")
    print(f"{'CLI generate 512x512, no engine running':<46} {cli_cold:>9.3f}")


if __name__ == "__main__":
    main()
