"""The window on a remote engine: another STUDIO_HOME, another port, reached by URL + token
(Preferences ▸ Engine, Connect), the whole loop through it, and a network drop mid-job
after which the window picks up the result of the job that kept running on the engine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from studio.core.engine_target import load_engine_target
from studio.engine.client import EngineClient
from studio.engine.remote import connection_string
from studio.ui.engine_link import READY
from tests.ui.conftest import set_param, wait_ready
from tests.ui.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow
FIXTURE_PLUGINS = Path(__file__).resolve().parents[1] / "fixtures" / "plugins"


@pytest.fixture(scope="module")
def remote_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("remote") / "home"
    (home / "plugins").mkdir(parents=True)
    shutil.copytree(FIXTURE_PLUGINS / "slow", home / "plugins" / "slow")
    env = dict(os.environ, STUDIO_HOME=str(home))
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", "engine", "--port", "0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 90
    while not (home / "remote.json").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the remote engine did not start"
        time.sleep(0.1)
    data = json.loads((home / "remote.json").read_text())
    client = EngineClient(data["url"], data["token"])
    while True:
        try:
            client.plugins()
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    yield {"home": home, "url": data["url"], "token": data["token"], "client": client}
    client.shutdown()
    process.wait(timeout=20)
    client.close()


def test_preferences_connect_shows_the_remote_and_the_window_runs_its_loop_through_it(
    make_window: Any, studio_home: Path, remote_engine: dict, qtbot: Any
) -> None:
    window = make_window(engine=False)
    dialog = window.make_preferences()
    section = dialog.engine
    section.mode.setCurrentIndex(1)  # remote
    section.url.setText(connection_string(remote_engine["url"], remote_engine["token"]))
    section.url.editingFinished.emit()
    assert section.url.text() == remote_engine["url"] and section.token.text() == remote_engine["token"]
    section.connect_button.click()
    qtbot.waitUntil(lambda: section.status.text().startswith(("Connected", "Cannot")), timeout=30000)
    assert section.status.text().startswith("Connected"), section.status.text()
    assert "test.slow" in section.remote_info["generators"] and "studio.patterns" in section.remote_info["generators"]
    assert "remote's" in section.status.text()
    window.apply_preferences(dialog)
    section.wait()
    assert load_engine_target(studio_home).remote
    wait_ready(qtbot, window)
    assert window.link.remote and "remote engine at" in window.engine_label.toolTip()
    assert "test.slow" in window.generate_panel.generators  # the remote's plugins, not this home's
    assert not (studio_home / "engine.json").exists()  # no local engine was started

    window.generate_panel.select_generator("studio.patterns")
    set_param(window, "width", 32)
    set_param(window, "height", 32)
    window.generate_panel.seed.set_value(99)
    window.generate_panel.seed.set_locked(True)
    with qtbot.waitSignal(window.generation_landed, timeout=60000) as landed:
        window.generate()
    assert landed.args[0].seed == 99 and landed.args[0].generator == "studio.patterns"
    job = next(job for job in window.tracker.jobs.values() if job.state == "done")
    assert job.runner is not None and job.runner.kind == "worker"
    assert window.jobs_panel.row(job.ticket).machine.text() == "127.0.0.1"  # the remote engine's host, not "this computer"
    # a wrong token is said plainly
    section.token.setText("wrong")
    section.connect_button.click()
    qtbot.waitUntil(lambda: section.status.text().startswith(("Connected", "Cannot")) and section.connect_button.isEnabled(), timeout=30000)
    assert section.status.text().startswith("Cannot connect") and "token" in section.status.text()
    section.wait()
    dialog.deleteLater()


def test_a_dropped_connection_mid_job_reconnects_and_picks_up_the_result(
    make_window: Any, studio_home: Path, remote_engine: dict, qtbot: Any
) -> None:
    from studio.core.engine_target import EngineTarget, save_engine_target

    port = urlsplit(remote_engine["url"]).port
    proxy = TcpProxy(port).start()
    save_engine_target(studio_home, EngineTarget("remote", f"http://127.0.0.1:{proxy.port}", remote_engine["token"]))
    window = make_window(engine=True)
    try:
        wait_ready(qtbot, window)
        window.generate_panel.select_generator("test.slow")
        set_param(window, "steps", 20)
        set_param(window, "step_seconds", 0.25)
        landed: list[Any] = []
        window.generation_landed.connect(landed.append)
        window.generate()
        qtbot.waitUntil(lambda: window.link.active_jobs == 1, timeout=30000)
        job_id = next(iter(window.link._active_jobs))
        qtbot.waitUntil(lambda: remote_engine["client"].job(job_id).state == "running", timeout=30000)
        proxy.cut()  # the network goes away mid-job
        qtbot.waitUntil(lambda: window.link.state != READY, timeout=15000)
        # the engine goes on and finishes the job while the window cannot reach it
        qtbot.waitUntil(lambda: remote_engine["client"].job(job_id).state == "done", timeout=30000)
        assert not landed and window.link.state != READY
        proxy = TcpProxy(port, port=proxy.port).start()  # the network comes back
        qtbot.waitUntil(lambda: bool(landed), timeout=60000)
        assert window.link.state == READY
        assert landed[0].generator == "test.slow"
        assert remote_engine["client"].job(job_id).state == "done"
    finally:
        proxy.cut()


def test_preferences_pairs_with_a_short_code_once_and_refuses_it_the_second_time(
    make_window: Any, studio_home: Path, remote_engine: dict, qtbot: Any
) -> None:
    window = make_window(engine=False)
    dialog = window.make_preferences()
    section = dialog.engine
    section.mode.setCurrentIndex(1)  # remote
    section.url.setText(remote_engine["url"])
    section.token.clear()
    code = remote_engine["client"].new_pair_code().code
    section.code.setText(code)

    def settled() -> bool:
        return section.status.text().startswith(("Connected", "Cannot")) and section.connect_button.isEnabled()

    section.connect_button.click()
    qtbot.waitUntil(settled, timeout=30000)
    assert section.status.text().startswith("Connected"), section.status.text()
    assert section.token.text() == remote_engine["token"] and not section.code.text()  # the code bought the token
    assert "test.slow" in section.remote_info["generators"]
    window.apply_preferences(dialog)
    section.wait()
    assert load_engine_target(studio_home).token == remote_engine["token"]

    dialog = window.make_preferences()
    section = dialog.engine
    section.token.clear()
    section.code.setText(code)  # the same code again
    section.connect_button.click()
    qtbot.waitUntil(settled, timeout=30000)
    assert section.status.text().startswith("Cannot connect") and "already used" in section.status.text()
    assert not section.token.text()
    section.wait()
    dialog.deleteLater()
