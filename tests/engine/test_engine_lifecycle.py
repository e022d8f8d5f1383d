"""Starting and stopping the engine process cleanly: no engine outlives its request to stop."""

from __future__ import annotations

import os
import signal
import time

import pytest

from studio.engine.client import EngineClient


@pytest.fixture
def fresh_engine(tmp_path):
    client = EngineClient.connect(tmp_path / "home", start=True, timeout=120)
    yield client
    if client.process is not None and client.process.poll() is None:
        client.process.kill()
        client.process.wait(timeout=10)
    client.close()


def test_shutdown_ends_the_engine_even_after_an_event_stream_was_used(fresh_engine):
    assert fresh_engine.run("studio.patterns", {"width": 16, "height": 16}, 1)["state"] == "done"
    fresh_engine.shutdown()
    fresh_engine.process.wait(timeout=20)
    assert not (fresh_engine.home / "engine.json").exists()


def test_sigterm_with_a_subscriber_connected_stops_the_engine_and_removes_its_connection_file(fresh_engine):
    with fresh_engine.events():
        os.kill(fresh_engine.process.pid, signal.SIGTERM)
        started = time.monotonic()
        fresh_engine.process.wait(timeout=20)
    assert time.monotonic() - started < 15
    assert not (fresh_engine.home / "engine.json").exists()
    # and the next client starts a new one
    again = EngineClient.connect(fresh_engine.home, start=True, timeout=120)
    try:
        assert again.health()["ok"] and again.process is not None
    finally:
        again.shutdown()
        again.process.wait(timeout=20)
        again.close()
