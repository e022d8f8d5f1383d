"""Fixtures for the window tests: off-screen Qt, a temporary STUDIO_HOME, real engines."""

from __future__ import annotations

import gc
import io
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402

from studio.engine.protocol import Catalogue  # noqa: E402
from studio.ui.qt_compat import guard_singleton_refcounts  # noqa: E402

guard_singleton_refcounts()  # see studio/ui/qt_compat.py: PySide6 6.12 on Python 3.11 leaks None

PATTERNS_CATALOGUE: dict[str, Any] = {
    "plugins": [],
    "generators": [
        {
            "id": "studio.patterns",
            "kind": "image",
            "name": "Patterns (built-in)",
            "description": "test",
            "plugin": "studio.patterns",
            "params": [
                {"name": "width", "type": "int", "default": 512, "min": 16, "max": 4096, "step": 16},
                {"name": "height", "type": "int", "default": 512, "min": 16, "max": 4096, "step": 16},
                {"name": "palette", "type": "choice", "default": "vivid", "choices": ["vivid", "pastel"]},
                {"name": "zoom", "type": "float", "default": 1.0, "min": 0.05, "max": 20.0, "step": 0.05},
                {"name": "variation", "type": "float", "default": 0.0, "min": 0.0, "max": 1.0, "step": 0.01},
                {"name": "variation_seed", "type": "seed", "default": 0},
                {"name": "neurons", "type": "int", "default": 24, "min": 4, "max": 128, "advanced": True},
            ],
        },
        {
            "id": "test.writer",
            "kind": "text",
            "name": "Writer",
            "description": "",
            "plugin": "test.writer",
            "params": [
                {"name": "prompt", "type": "text", "default": "", "multiline": True},
                {"name": "temperature", "type": "float", "default": 0.7, "min": 0.0, "max": 2.0, "step": 0.05},
            ],
        },
    ],
}


def png_bytes(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (200, 40, 40), **metadata: Any) -> bytes:
    from PIL import Image

    from studio.core.png_metadata import encode_png

    image = Image.new("RGB", (width, height), colour)
    if metadata:
        return encode_png(image, **metadata)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def studio_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("STUDIO_HOME", str(home))
    return home


def _engine_pid(home: Path) -> int | None:
    try:
        return int(json.loads((home / "engine.json").read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stop_engine(home: Path) -> None:
    """Shut down the engine of ``home`` (started by the test), and make sure its processes end."""
    import psutil

    from studio.engine.client import EngineClient, EngineError

    pid = _engine_pid(home)
    try:
        client = EngineClient.connect(home, start=False)
        client.shutdown()
        client.close()
    except EngineError:
        pass
    if pid is None:
        return
    try:
        process = psutil.Process(pid)
        children = process.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    gone, alive = psutil.wait_procs([process], timeout=5)
    for item in alive + children:
        try:
            item.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_gui_thread() -> Iterator[None]:
    """Free the previous test's Qt objects here, on the GUI thread.

    Otherwise Python's cyclic collector may run on an engine-link request thread and free
    Qt objects there, which crashes Qt intermittently.
    """
    gc.collect()
    yield


@pytest.fixture
def engine_home(studio_home: Path) -> Iterator[Path]:
    """A home whose engine (started by the window under test) is stopped afterwards."""
    homes = [studio_home]
    yield studio_home
    for home in homes:
        stop_engine(home)


@pytest.fixture
def make_window(qtbot: Any, studio_home: Path) -> Iterator[Callable[..., Any]]:
    from studio.ui.app import make_application
    from studio.ui.dialogs import QuietPrompter
    from studio.ui.main_window import MainWindow

    make_application()
    windows: list[Any] = []

    def factory(
        *,
        prompter: QuietPrompter | None = None,
        project: Path | None = None,
        engine: bool = False,
        catalogue: dict[str, Any] | None = None,
        home: Path | None = None,
    ) -> Any:
        window = MainWindow(home or studio_home, prompter=prompter or QuietPrompter())
        qtbot.addWidget(window)
        window.show()
        window.start(project, engine=engine)
        if catalogue is not None:
            window.generate_panel.set_catalogue(Catalogue.model_validate(catalogue))
        windows.append(window)
        return window

    yield factory
    for window in windows:
        try:
            window.timeline.player.stop()
            if window.session.store is not None:
                window.session.close(discard_untitled=True) if window.session.untitled else window.session.close()
            window.link.close()
        except RuntimeError:  # already deleted by a test that closed it
            pass


def wait_ready(qtbot: Any, window: Any, timeout: int = 60000) -> None:
    from studio.ui.engine_link import READY

    qtbot.waitUntil(lambda: window.link.state == READY and window.link.ready and bool(window.generate_panel.generators), timeout=timeout)


def wait_for(qtbot: Any, predicate: Callable[[], bool], timeout: int = 30000) -> None:
    qtbot.waitUntil(predicate, timeout=timeout)


def set_param(window: Any, name: str, value: Any) -> None:
    window.generate_panel.editors[name].set_value(value)


def engine_pid(home: Path) -> int | None:
    return _engine_pid(home)


def slow_job_params() -> dict[str, Any]:
    return {"width": 4096, "height": 4096}


def deadline(seconds: float) -> float:
    return time.monotonic() + seconds
