"""An engine started on demand goes away when nobody needs it; models are given back after a keep-alive.

Real engine processes with short timeouts (STUDIO_ENGINE_IDLE_EXIT / STUDIO_KEEP_ALIVE).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import make_home

from studio.engine.client import EngineClient


def _stop(client: EngineClient) -> None:
    if client.process is not None and client.process.poll() is None:
        client.process.kill()
        client.process.wait(timeout=10)
    client.close()


def _wait_for(predicate, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def test_an_engine_started_on_demand_exits_after_its_idle_time_but_not_while_a_client_listens(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_ENGINE_IDLE_EXIT", "2")
    client = EngineClient.connect(tmp_path / "home", start=True, timeout=120, started_by="cli")
    try:
        health = client.health()
        assert health.started_by == "cli" and health.idle_exit == 2.0
        with client.events():
            assert client.run("studio.patterns", {"width": 16, "height": 16}, 1)["state"] == "done"
            time.sleep(4)  # twice the idle time, but a subscriber is connected
            assert client.process.poll() is None
            assert client.health().exit_at is not None
        started = time.monotonic()
        assert client.process.wait(timeout=30) == 0
        assert time.monotonic() - started < 25
        assert not (tmp_path / "home" / "engine.json").exists()
    finally:
        _stop(client)


def test_an_engine_started_by_hand_stays_and_says_so(tmp_path):
    home = tmp_path / "home"
    env = dict(os.environ, STUDIO_HOME=str(home), STUDIO_ENGINE_IDLE_EXIT="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", "engine", "--port", "0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert _wait_for(lambda: (home / "engine.json").exists(), 60)
        data = json.loads((home / "engine.json").read_text())
        client = EngineClient(data["url"], data["token"])
        assert _wait_for(lambda: _answers(client), 60)
        time.sleep(3)
        assert process.poll() is None
        health = client.health()
        assert health.started_by == "user" and health.idle_exit is None and health.exit_at is None
        client.close()
    finally:
        process.terminate()
        process.wait(timeout=20)


def _answers(client: EngineClient) -> bool:
    try:
        return client.health().ok
    except Exception:
        return False


def test_models_stay_for_the_keep_alive_and_go_after_a_requests_own_keep_alive(tmp_path, monkeypatch):
    home = make_home(tmp_path, ["modelload"])
    model = home / "models" / "weights.npy"
    model.parent.mkdir(exist_ok=True)
    np.save(model, np.arange(1000, dtype=np.float32))
    monkeypatch.setenv("STUDIO_KEEP_ALIVE", "60")
    monkeypatch.setenv("STUDIO_ENGINE_IDLE_EXIT", "0")
    client = EngineClient.connect(home, start=True, timeout=120)
    try:

        def loaded() -> list:
            return [entry for entry in client.models().loaded if entry["path"] == str(model.resolve())]

        first = client.run("test.modelload", {"model": str(model)}, timeout=120)
        assert first["state"] == "done"
        health = client.health()
        assert health.keep_alive == 60.0 and health.exit_at is None  # STUDIO_ENGINE_IDLE_EXIT=0: stays
        assert health.unload_at == pytest.approx(client.job(first["id"]).finished + 60, abs=0.01)
        time.sleep(2)
        assert loaded()  # within the keep-alive the model stays

        for keep_alive in (1, 0):  # a request's own keep-alive wins; 0 = right after the job
            job = client.run("test.modelload", {"model": str(model)}, timeout=120, keep_alive=keep_alive)
            assert job["state"] == "done"
            assert _wait_for(lambda: client.models().worker == "ready" and not loaded(), 30, 0.3)
            assert client.health().unload_at is None  # nothing left to unload
            text = client.artifact(job["outputs"][0])[0].decode()
            assert text.startswith("loads=1 ")  # each fresh worker had to load it again
    finally:
        client.shutdown()
        if client.process is not None:
            client.process.wait(timeout=20)
        _stop(client)


def test_a_negative_keep_alive_is_refused_with_its_field_named(engine):
    from studio.engine.client import RequestRejected

    with pytest.raises(RequestRejected, match="keep_alive"):
        engine.submit("studio.patterns", {}, keep_alive=-1)
