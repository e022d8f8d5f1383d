"""The engine's HTTP + WebSocket API against a real engine subprocess (DESIGN.md routes)."""

from __future__ import annotations

import io
import json
import os
import platform
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from studio.engine.client import EngineClient, RequestRejected


def wait_state(engine: EngineClient, job_id: str, states=("done", "failed", "cancelled"), timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = engine.job(job_id)
        if job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} stuck in {engine.job(job_id)['state']}")


# --------------------------------------------------------------------------- security


def test_health_answers_without_a_token(engine):
    response = httpx.get(engine.url + "/health", trust_env=False)
    assert response.status_code == 200
    assert response.json()["ok"] is True


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic abc"}])
def test_requests_without_the_right_token_are_refused_with_401(engine, headers):
    for path in ("/plugins", "/models", "/jobs", "/openapi.json"):
        response = httpx.get(engine.url + path, headers=headers, trust_env=False)
        assert response.status_code == 401, path
    response = httpx.post(engine.url + "/jobs", json={"plugin": "test.slow"}, headers=headers, trust_env=False)
    assert response.status_code == 401


def test_a_foreign_origin_is_refused_with_403_even_with_the_token(engine):
    headers = {"Authorization": f"Bearer {engine.token}", "Origin": "https://evil.example"}
    assert httpx.get(engine.url + "/plugins", headers=headers, trust_env=False).status_code == 403
    assert httpx.get(engine.url + "/health", headers={"Origin": "http://localhost:1"}, trust_env=False).status_code == 403
    posted = httpx.post(engine.url + "/jobs", json={"plugin": "test.slow"}, headers=headers, trust_env=False)
    assert posted.status_code == 403
    same_origin = {"Authorization": f"Bearer {engine.token}", "Origin": engine.url}
    assert httpx.get(engine.url + "/plugins", headers=same_origin, trust_env=False).status_code == 200


def test_websocket_refuses_foreign_origin_and_missing_token(engine):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = engine.events_url()
    with pytest.raises(InvalidStatus) as no_token:
        connect(url, open_timeout=5).close()
    assert no_token.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as foreign:
        connect(
            url, additional_headers={"Authorization": f"Bearer {engine.token}", "Origin": "https://evil.example"}, open_timeout=5
        ).close()
    assert foreign.value.response.status_code == 403


def test_connection_file_is_readable_by_the_user_only(engine_home: Path, engine):
    mode = stat.S_IMODE((engine_home / "engine.json").stat().st_mode)
    assert mode == 0o600
    data = json.loads((engine_home / "engine.json").read_text())
    assert data["url"] == engine.url and data["token"] == engine.token
    assert data["url"].startswith("http://127.0.0.1:")


def test_openapi_schema_is_published(engine):
    schema = engine._call("GET", "/openapi.json").json()
    assert {"/jobs", "/jobs/{job_id}", "/artifacts/{artifact_id}", "/plugins", "/models"} <= set(schema["paths"])


# --------------------------------------------------------------------------- jobs


def test_a_job_runs_end_to_end_over_http_and_websocket(engine):
    events = []
    job = engine.run("test.slow", {"steps": 4, "step_seconds": 0.01}, seed=11, on_event=events.append, timeout=60)
    assert job["state"] == "done"
    kinds = [event["type"] for event in events]
    assert kinds[0] == "queued" and "started" in kinds and kinds[-1] == "done"
    assert kinds.index("started") < kinds.index("progress")
    streamed = "".join(event.get("text", "") for event in events if event["type"] == "preview")
    assert streamed == "1 2 3 4 "
    assert job["progress"] == 1.0 and len(job["outputs"]) == 1
    data, mime = engine.artifact(job["outputs"][0])
    assert mime.startswith("text/plain")
    assert data.decode().startswith("steps=4 seed=11 ")
    assert job["record"]["seed"] == 11 and job["record"]["plugin"] == "test.slow"
    assert job["record"]["params"]["steps"] == 4 and job["record"]["device"] in ("cpu", "cuda", "mps")
    # where it ran: this engine's own worker, on this machine, named in the status and the events
    runner = job["runner"]
    assert runner["kind"] == "worker" and runner["host"] == platform.node() and runner["device"] == job["record"]["device"]
    started, done = (next(e for e in events if e["type"] == kind) for kind in ("started", "done"))
    assert done["runner"] == runner
    assert (started["runner"]["kind"], started["runner"]["host"]) == ("worker", platform.node())  # device: once the worker said


def test_the_same_seed_gives_the_same_output(engine):
    first = engine.run("test.slow", {"steps": 1, "step_seconds": 0}, seed=5, timeout=60)
    second = engine.run("test.slow", {"steps": 1, "step_seconds": 0}, seed=5, timeout=60)
    third = engine.run("test.slow", {"steps": 1, "step_seconds": 0}, seed=6, timeout=60)
    assert first["outputs"] == second["outputs"]
    assert first["outputs"] != third["outputs"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"plugin": "no.such.generator"}, "unknown generator"),
        ({"plugin": "test.slow", "params": {"steps": "many"}}, "steps: expected a whole number"),
        ({"plugin": "test.slow", "params": {"steps": 0}}, "below the minimum"),
        ({"plugin": "test.slow", "params": {"stepz": 3}}, "unknown parameter(s) stepz"),
        ({"plugin": "test.slow", "params": {"image": "0" * 64}}, "no stored image"),
        ({"plugin": "test.slow", "params": {"image": "not-an-id"}}, "expected the id of a stored image"),
        ({"plugin": "test.slow", "seed": -1}, "seed"),
        ({"plugin": "test.slow", "params": [1, 2]}, "params"),
        ({"plugin": "test.slow", "bogus": True}, "bogus"),
    ],
)
def test_malformed_requests_get_422_with_the_reason(engine, body, reason):
    response = httpx.post(engine.url + "/jobs", json=body, headers={"Authorization": f"Bearer {engine.token}"}, trust_env=False)
    assert response.status_code == 422
    assert reason in json.dumps(response.json()["detail"])


def test_unknown_job_and_artifact_are_404(engine):
    assert httpx.get(engine.url + "/jobs/nope", headers={"Authorization": f"Bearer {engine.token}"}, trust_env=False).status_code == 404
    assert (
        httpx.get(engine.url + "/artifacts/" + "0" * 64, headers={"Authorization": f"Bearer {engine.token}"}, trust_env=False).status_code
        == 404
    )


def test_uploaded_image_is_passed_to_the_plugin(engine):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(buffer, format="PNG")
    image_id = engine.upload(buffer.getvalue(), kind="image", mime="image/png")
    job = engine.run("test.slow", {"steps": 1, "step_seconds": 0, "image": image_id}, seed=1, timeout=60)
    assert job["state"] == "done"
    assert engine.artifact(job["outputs"][0])[0].decode().endswith("image=40x30")


# --------------------------------------------------------------------------- cancel


def test_cancelling_a_running_job_takes_effect_within_one_step(engine):
    step = 0.3
    with engine.events() as receive:
        job_id = engine.submit("test.slow", {"steps": 200, "step_seconds": step}, seed=1)
        done_at_cancel = None
        while done_at_cancel is None:
            event = receive(30)
            assert event is not None
            if event.get("job") == job_id and event["type"] == "progress" and event["done"] >= 2:
                done_at_cancel = event["done"]
        asked = time.monotonic()
        engine.cancel(job_id)
        while True:
            event = receive(30)
            assert event is not None
            if event.get("job") == job_id and event["type"] in ("cancelled", "done", "failed"):
                break
        elapsed = time.monotonic() - asked
    job = engine.job(job_id)
    assert event["type"] == "cancelled" and job["state"] == "cancelled"
    assert elapsed < step * 2 + 0.5, f"cancel took {elapsed:.2f}s with {step}s steps"
    assert job["progress_detail"]["done"] <= done_at_cancel + 1


def test_cancelling_a_queued_job_removes_it_at_once(engine):
    first = engine.submit("test.slow", {"steps": 100, "step_seconds": 0.05})
    second = engine.submit("test.slow", {"steps": 1, "step_seconds": 0})
    assert engine.cancel(second)["state"] == "cancelled"
    engine.cancel(first)
    assert wait_state(engine, first)["state"] == "cancelled"
    assert engine.job(second)["outputs"] == []


def test_higher_priority_jobs_run_first(engine):
    blocker = engine.submit("test.slow", {"steps": 10, "step_seconds": 0.05})
    low = engine.submit("test.slow", {"steps": 1, "step_seconds": 0}, priority=0)
    high = engine.submit("test.slow", {"steps": 1, "step_seconds": 0}, priority=5)
    for job_id in (blocker, low, high):
        wait_state(engine, job_id)
    assert engine.job(high)["started"] < engine.job(low)["started"]


def test_a_plugin_that_ignores_cancel_has_its_worker_restarted(engine):
    job_id = engine.submit("test.stubborn")
    wait_state(engine, job_id, states=("running",))
    # Its code is running once it reports progress (a community plugin's worker may still be
    # starting when the job is marked running; a cancel then stops it before its code runs).
    deadline = time.monotonic() + 60
    while engine.job(job_id)["progress_detail"]["message"] != "sleeping" and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    engine.cancel(job_id)
    job = wait_state(engine, job_id, timeout=20)
    assert job["state"] == "cancelled"
    assert any("ignored the cancel" in line for line in job["logs"])
    assert engine.run("test.slow", {"steps": 2, "step_seconds": 0}, seed=3, timeout=120)["state"] == "done"


# --------------------------------------------------------------------------- failure isolation


@pytest.mark.parametrize("how", ["exit", "segfault"])
def test_a_plugin_that_kills_its_process_fails_only_its_job(engine, how):
    job = engine.run("test.crash", {"how": how}, timeout=120)
    assert job["state"] == "failed"
    assert "process ended unexpectedly" in job["error"]
    assert ("exit code 3" in job["error"]) if how == "exit" else ("SIGSEGV" in job["error"])
    after = engine.run("test.slow", {"steps": 2, "step_seconds": 0}, seed=2, timeout=120)
    assert after["state"] == "done"
    assert engine.health()["ok"]


def test_a_plugin_exception_fails_the_job_with_its_traceback(engine):
    job = engine.run("test.crash", {"how": "raise"}, timeout=120)
    assert job["state"] == "failed"
    assert "ZeroDivisionError: this plugin has a bug" in job["error"]
    assert "test_crash/gen.py" in job["traceback"]


def test_a_broken_manifest_is_listed_as_failed_with_the_reason(engine):
    plugins = {row.id: row for row in engine.plugins().plugins}
    broken = plugins["test.broken"] if "test.broken" in plugins else next(row for row in plugins.values() if "broken_manifest" in row.path)
    assert broken.state == "failed"
    assert "plugin.colour: unknown key" in broken.error
    assert plugins["test.slow"].state == "enabled"


def test_a_plugin_that_fails_to_import_is_reported_and_others_keep_working(engine):
    job = engine.run("test.importerror", timeout=120)
    assert job["state"] == "failed"
    assert "failed to load" in job["error"] and "a_module_that_does_not_exist" in job["error"]
    row = next(row for row in engine.plugins().plugins if row.id == "test.importerror")
    assert row.state == "failed"
    assert "ModuleNotFoundError" in row.traceback
    assert engine.run("test.slow", {"steps": 1, "step_seconds": 0}, timeout=60)["state"] == "done"


# --------------------------------------------------------------------------- models


def test_jobs_share_one_loaded_model_and_models_reports_it(engine, engine_home: Path):
    model = engine_home / "models" / "weights.npy"
    model.parent.mkdir(exist_ok=True)
    np.save(model, np.arange(1000, dtype=np.float32))
    first = engine.run("test.modelload", {"model": str(model)}, timeout=120)
    second = engine.run("test.modelload", {"model": str(model)}, timeout=120)
    assert first["state"] == second["state"] == "done"
    text_one = engine.artifact(first["outputs"][0])[0].decode()
    text_two = engine.artifact(second["outputs"][0])[0].decode()
    assert text_one.split()[0] == text_two.split()[0] == "loads=1"
    assert text_one.split()[2] == text_two.split()[2]  # the very same object
    assert first["record"]["models"][0]["path"] == str(model.resolve())
    models = engine.models()
    loaded = [entry for entry in models.loaded if entry["path"] == str(model.resolve())]
    assert loaded and loaded[0]["bytes"] == 4000 and loaded[0]["uses"] == 2
    assert any(entry.path == str(model) for entry in models.found) or models.found is not None


# --------------------------------------------------------------------------- process


def test_clients_reuse_the_running_engine(engine, engine_home: Path):
    again = EngineClient.connect(engine_home, start=True)
    assert again.url == engine.url and again.process is None
    again.close()


def test_a_second_engine_for_the_same_home_refuses_to_start(engine, engine_home: Path):
    env = dict(os.environ, STUDIO_HOME=str(engine_home))
    result = subprocess.run([sys.executable, "-m", "studio", "engine"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "already running" in result.stderr
    assert engine.health()["ok"]


def test_rejected_request_raises_a_typed_error_in_the_client(engine):
    with pytest.raises(RequestRejected, match="unknown generator"):
        engine.submit("no.such")


def test_plugins_reload_is_refused_while_a_job_runs_and_works_after(engine):
    job_id = engine.submit("test.slow", {"steps": 100, "step_seconds": 0.05})
    wait_state(engine, job_id, states=("running",))
    response = httpx.post(engine.url + "/plugins/reload", headers={"Authorization": f"Bearer {engine.token}"}, trust_env=False)
    assert response.status_code == 409
    engine.cancel(job_id)
    wait_state(engine, job_id)
    reloaded = engine.reload_plugins()
    assert any(row.id == "test.slow" for row in reloaded.plugins)
    assert engine.run("test.slow", {"steps": 1, "step_seconds": 0}, timeout=120)["state"] == "done"


def test_the_engine_and_its_worker_log_job_outcomes_under_studio_home(engine, engine_home):
    job_id = engine.submit("test.slow", {"steps": 1, "step_seconds": 0}, seed=1)
    deadline = time.monotonic() + 60
    while engine.job(job_id).state not in ("done", "failed", "cancelled") and time.monotonic() < deadline:
        time.sleep(0.05)
    engine_log = engine_home / "logs" / "engine.log"

    def logged() -> bool:
        return engine_log.exists() and f"job {job_id} (test.slow) done" in engine_log.read_text(errors="replace")

    deadline = time.monotonic() + 10
    while not logged() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert logged()
    logs = engine_log.parent
    assert (logs / "worker.log").exists()
