"""``python main.py engine --ray``: the same API, jobs on Ray actors, /health lists them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("ray")

from studio.engine.client import EngineClient

pytestmark = pytest.mark.slow


def test_an_engine_with_ray_serves_the_same_api_and_lists_its_actors(tmp_path):
    home = tmp_path / "home"
    env = dict(os.environ, STUDIO_HOME=str(home))
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", "engine", "--port", "0", "--ray", "--ray-actors", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (home / "engine.json").exists():
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        data = json.loads((home / "engine.json").read_text())
        with EngineClient(data["url"], data["token"]) as client:
            while True:
                try:
                    actors = client.health().actors
                    break
                except Exception:
                    assert time.monotonic() < deadline
                    time.sleep(0.3)
            assert actors is not None and [actor["name"] for actor in actors] == ["actor-1", "actor-2"]
            assert all(actor["device"].get("name") and actor["node"] for actor in actors)
            job = client.run("studio.patterns", {"width": 32, "height": 32}, 5, timeout=120)
            assert job["state"] == "done"
            assert job["record"]["actor"] in ("actor-1", "actor-2")
            data_bytes, mime = client.artifact(job["outputs"][0])
            assert mime == "image/png" and data_bytes[:4] == b"\x89PNG"
            assert client.models()["worker"] == "ready"
            client.shutdown()
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
