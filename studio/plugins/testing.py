"""The plugin author's test kit: pytest fixtures and helpers for testing a plugin for real.

In your plugin's ``tests/conftest.py``::

    from studio.plugins.testing import plugin_folder, studio_home, studio_plugin  # noqa: F401

and in a test::

    def test_sorts_an_image(studio_plugin):
        image_id = studio_plugin.upload(Image.new("RGB", (32, 32), "red"))
        result = studio_plugin.generate(image=image_id, seed=1)
        assert result.image().size == (32, 32)

``studio_plugin`` is a ``PluginHarness``: the studio's engine core (the same plugin host,
model cache, parameter validation, permission guard and output encoding the engine's
worker uses, without the HTTP transport) in a temporary ``STUDIO_HOME``, with only the
plugin under test (first-party plugins are off). ``check_manifest`` validates a plugin
folder the way the installer does, and ``pack_and_install`` packs the folder and installs
the archive through the real installer (trial import included) into a temporary home.

This module is for tests only. It is the one module of ``studio.plugins`` that sits on top of
the engine (it runs the engine's core, ``studio.engine.runner``, in the test's process); the
import is ordinary and declared as the only exception in the layer contracts of
``pyproject.toml``, and nothing else in the studio imports this module.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from studio.core.errors import StudioError
from studio.core.paths import HomeLayout
from studio.engine.config import EngineConfig
from studio.engine.runner import LocalRunner
from studio.plugins.manifest import MANIFEST_NAME, Manifest, read_manifest

__all__ = [
    "Generation",
    "PluginHarness",
    "check_manifest",
    "find_plugin_folder",
    "pack_and_install",
    "plugin_folder",
    "studio_home",
    "studio_plugin",
]


def find_plugin_folder(start: Path) -> Path:
    """The nearest folder at or above ``start`` that holds a plugin.toml."""
    start = Path(start).resolve()
    for folder in [start, *start.parents]:
        if (folder / MANIFEST_NAME).is_file():
            return folder
    raise FileNotFoundError(f"no {MANIFEST_NAME} in {start} or any folder above it")


def check_manifest(folder: Path) -> Manifest:
    """Validate a plugin folder as the installer will; raises AssertionError saying what is wrong.

    Checks: plugin.toml parses against the schema and accepts this studio's plugin API; the id
    is not in the reserved ``studio.`` namespace; every generator's entry module exists; every
    parameter's default is valid for its type and bounds (checked while parsing).
    """
    folder = Path(folder)
    try:
        manifest = read_manifest(folder)
    except StudioError as exc:
        raise AssertionError(str(exc)) from None
    if manifest.plugin.id.startswith("studio."):
        raise AssertionError(f"{manifest.plugin.id}: ids starting with 'studio.' are reserved for first-party plugins")
    for generator in manifest.generators:
        module = generator.entry.partition(":")[0]
        base = folder / module.replace(".", "/")
        if not (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
            raise AssertionError(f"generator {generator.id}: entry {generator.entry!r} but {base.relative_to(folder)}.py does not exist")
    return manifest


@dataclass
class Generation:
    """The outcome of one ``PluginHarness.generate``: artefacts, provenance record, events."""

    artifacts: list[Any]
    record: dict[str, Any]
    logs: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def data(self, index: int = 0) -> bytes:
        return self.artifacts[index].data

    def image(self, index: int = 0) -> Any:
        """Output ``index`` as a PIL image (it was encoded to PNG, as the engine stores it)."""
        from PIL import Image

        image = Image.open(io.BytesIO(self.data(index)))
        image.load()
        return image

    @property
    def text(self) -> str:
        return self.data(0).decode("utf-8")

    def progress(self) -> list[tuple[float, float]]:
        return [(event["done"], event["total"]) for event in self.events if event.get("type") == "progress"]


class PluginHarness:
    """An engine core with one plugin, in a temporary STUDIO_HOME."""

    def __init__(self, folder: Path, home: Path, *, device: str = "cpu") -> None:
        self.folder = Path(folder).resolve()
        self.home = Path(home)
        self.manifest = check_manifest(self.folder)
        config = EngineConfig(home=self.home, plugin_dirs=[self.folder], include_first_party=False, device=device)
        self.runner = LocalRunner(config)
        record = self.runner.plugins.discovery.plugin(self.manifest.plugin.id)
        if record is None or not record.usable:
            why = record.error if record is not None else "not found"
            raise AssertionError(f"{self.manifest.plugin.id} is not usable in the engine: {why}")

    @property
    def generators(self) -> list[str]:
        return [generator.id for generator in self.manifest.generators]

    def upload(self, value: Any, *, kind: str | None = None, mime: str | None = None) -> str:
        """Store an input (a PIL image, a file path, or bytes) and return the id a param takes."""
        if hasattr(value, "save") and hasattr(value, "size"):
            buffer = io.BytesIO()
            value.save(buffer, format="PNG")
            return self.runner.store_input(buffer.getvalue(), kind or "image", mime or "image/png")
        if isinstance(value, (str, Path)):
            from studio.core.artifacts import kind_for_path

            path = Path(value)
            guessed_kind, guessed_mime = kind_for_path(path.name)
            return self.runner.store_input(path.read_bytes(), kind or guessed_kind, mime or guessed_mime)
        if isinstance(value, bytes):
            if kind is None or mime is None:
                raise TypeError("upload(bytes) needs kind= and mime=")
            return self.runner.store_input(value, kind, mime)
        raise TypeError(f"cannot upload a {type(value).__name__}")

    def generate(self, generator: str | None = None, *, seed: int | None = 0, **params: Any) -> Generation:
        """Run one generation through the engine core. Raises the engine's errors unchanged."""
        if generator is None:
            if len(self.generators) != 1:
                raise TypeError(f"{self.manifest.plugin.id} has several generators; name one of {self.generators}")
            generator = self.generators[0]
        events: list[dict[str, Any]] = []
        result = self.runner.run(generator, params, seed, on_event=events.append)
        return Generation(artifacts=list(result.artifacts), record=dict(result.record), logs=list(result.logs), events=events)


def pack_and_install(folder: Path, home: Path) -> Any:
    """Pack ``folder`` and install the archive into ``home`` with the real installer.

    Returns the installer's ``InstallResult``. Proves the archive is accepted, its dependencies
    resolve under the studio's pins, and it imports in a fresh, permission-guarded process.
    """
    from studio.plugins.archive import pack_folder
    from studio.plugins.install import install, plan_install

    layout = HomeLayout(Path(home)).ensure()
    archive, _digest = pack_folder(folder, out=layout.cache_dir / f"{Path(folder).name}.zip")
    plan = plan_install(archive, layout=layout, plugin_folders=[(layout.plugins_dir, "user")])
    return install(plan)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def studio_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh STUDIO_HOME for one test (settings, plugins, caches), offline."""
    home = tmp_path / "studio-home"
    HomeLayout(home).ensure()
    monkeypatch.setenv("STUDIO_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture
def plugin_folder(request: pytest.FixtureRequest) -> Path:
    """The plugin under test: the nearest folder above the test file holding a plugin.toml.

    Override this fixture in your conftest.py to test a plugin that lives elsewhere.
    """
    return find_plugin_folder(Path(str(request.node.fspath)).parent)


@pytest.fixture
def studio_plugin(plugin_folder: Path, studio_home: Path) -> PluginHarness:
    """A PluginHarness for the plugin under test."""
    return PluginHarness(plugin_folder, studio_home)
