"""Turning a generator id into a live Generator object, importing plugin code on first use.

A plugin that fails to import, fails to construct, or names an entry that is not a
Generator is marked failed with its traceback; the rest keep working.

``sys.path``: a plugin's folder and its ``deps/`` folder (where its own dependencies are
installed) are on ``sys.path`` only while that plugin's code is imported, constructed or
running ``generate`` (``plugin_import_path``). Community plugins go at the *end* of the path,
so a plugin can never shadow a module the studio itself provides; first-party plugins keep
their place at the front. This is not full isolation, and cannot be in one interpreter:
``sys.modules`` is shared, so a module a plugin imported stays imported for everyone, and two
plugins that bundle different versions of the same dependency get whichever loaded first.
The installer refuses the collisions it can see (a plugin package named like a studio module
or another plugin's package, a dependency that would replace a studio package).

Community plugin code also runs under its declared permissions (``studio.plugins.guard``).

This module is the plugins layer's: the engine's worker (``studio.engine.plugin_host`` adapts
it to an ``EngineConfig``) and the installer's trial import (``studio.plugins.trial``) load
plugins the same way through it.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError
from studio.plugins.api import Generator
from studio.plugins.discovery import STATE_FAILED, Discovery, PluginRecord, discover
from studio.plugins.guard import Guard, default_allowed_dirs, plugin_permissions
from studio.plugins.manifest import GeneratorInfo

DEPS_DIR = "deps"


class PluginUnavailable(StudioError):
    """The generator is unknown, disabled, or its plugin failed to load."""


@dataclass
class LoadedGenerator:
    info: GeneratorInfo
    record: PluginRecord
    instance: Generator


class PluginHost:
    """Generators by id: discovered from manifests, imported and constructed on first use.

    Subclasses say where plugins are (``find``) and where a community plugin without the
    ``files`` permission may write (``allowed_dirs``).
    """

    #: False in a process that must never import community code (the first-party worker)
    community_allowed = True

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._instances: dict[str, LoadedGenerator] = {}
        self.discovery: Discovery = self.rediscover()

    def find(self) -> Discovery:
        """One discovery pass (manifests only, no plugin code)."""
        raise NotImplementedError

    def rediscover(self) -> Discovery:
        with self._lock:
            self.discovery = self.find()
            self._instances.clear()
            return self.discovery

    def describe(self, generator_id: str) -> tuple[GeneratorInfo, PluginRecord]:
        """The manifest-side facts about a generator, or PluginUnavailable saying why not."""
        found = self.discovery.generator(generator_id)
        if found is not None:
            return found
        for record in self.discovery.records:
            if record.manifest is None:
                continue
            if any(g.id == generator_id for g in record.manifest.generators):
                why = record.error or record.state
                raise PluginUnavailable(f"generator {generator_id} is {record.state}: {why}")
        known = ", ".join(sorted(self.discovery.generators())) or "none"
        raise PluginUnavailable(f"unknown generator {generator_id!r}; available: {known}")

    def record_for(self, generator_id: str) -> PluginRecord | None:
        """The plugin record that declares ``generator_id``, whatever its state."""
        for record in self.discovery.records:
            if record.manifest is not None and any(g.id == generator_id for g in record.manifest.generators):
                return record
        return None

    def get(self, generator_id: str) -> LoadedGenerator:
        with self._lock:
            loaded = self._instances.get(generator_id)
            if loaded is not None:
                return loaded
            info, record = self.describe(generator_id)
            if record.source != "first-party" and not self.community_allowed:
                raise PluginUnavailable(f"{record.id} is a community plugin: it runs only in its own sandboxed worker, not in this process")
            try:
                instance = self._instantiate(info, record)
            except Exception as exc:
                record.state = STATE_FAILED
                record.error = f"{type(exc).__name__}: {exc}"
                record.traceback = traceback.format_exc()
                raise PluginUnavailable(
                    f"plugin {record.id} failed to load and was disabled: {record.error} (see the plugin manager for the traceback)"
                ) from exc
            loaded = LoadedGenerator(info, record, instance)
            self._instances[generator_id] = loaded
            return loaded

    def allowed_dirs(self, scratch: Path | None = None) -> list[Path]:
        """Where community plugins without the ``files`` permission may write."""
        raise NotImplementedError

    def data_dir(self, record: PluginRecord) -> Path | None:
        """The plugin's own lasting folder (``plugin_data_dir``), where the host knows a home."""
        return None

    @contextlib.contextmanager
    def running(
        self, record: PluginRecord, scratch: Path | None = None, log: Callable[[str], None] | None = None
    ) -> Iterator[Guard | None]:
        """Plugin code runs inside this: its folders on sys.path, its permissions enforced."""
        allowed = self.allowed_dirs(scratch)
        data = self.data_dir(record)
        if data is not None:
            allowed.append(data)
        with plugin_import_path(record), plugin_permissions(record.manifest, allowed, log=log) as guard:
            yield guard

    def _instantiate(self, info: GeneratorInfo, record: PluginRecord) -> Generator:
        with self.running(record):
            return instantiate_generator(info, record)


class SinglePluginHost(PluginHost):
    """A host over exactly one plugin folder: the sandboxed worker and the trial import.

    No other plugin's folder is read, so a sandbox needs to grant none of them.
    """

    def __init__(self, folder: Path, source: str, *, writable: Iterable[Path] = (), data_root: Path | None = None) -> None:
        self.folder = Path(folder)
        self.source = source
        self.writable = [Path(p) for p in writable]
        self.data_root = data_root
        super().__init__()

    def find(self) -> Discovery:
        return discover([(self.folder, self.source)], entry_points=False)

    def allowed_dirs(self, scratch: Path | None = None) -> list[Path]:
        return default_allowed_dirs(scratch=scratch, model_paths=self.writable)

    def data_dir(self, record: PluginRecord) -> Path | None:
        if self.data_root is None or record.manifest is None:
            return None
        return plugin_data_dir(self.data_root, record.manifest.plugin.id)


def plugin_data_dir(home: Path, plugin_id: str) -> Path:
    """The folder a plugin keeps its own files in (settings, downloads it was given, state):
    ``STUDIO_HOME/plugin-data/<id>``. A sandboxed plugin may write here and nowhere else
    that lasts."""
    return Path(home) / "plugin-data" / plugin_id


def plugin_sys_paths(record: PluginRecord) -> list[str]:
    """The folders a plugin's code is imported from: its folder and its ``deps/``."""
    if record.source == "entry-point":
        return []  # installed with pip: already importable from site-packages
    folder = Path(record.folder).resolve()
    paths = [str(folder)]
    if (folder / DEPS_DIR).is_dir():
        paths.append(str(folder / DEPS_DIR))
    return paths


@contextlib.contextmanager
def plugin_import_path(record: PluginRecord) -> Iterator[None]:
    """Put the plugin's folders on sys.path for the ``with`` body only."""
    added = [path for path in plugin_sys_paths(record) if path not in sys.path]
    if record.source == "first-party":
        sys.path[0:0] = added
    else:
        sys.path.extend(added)
    try:
        yield
    finally:
        for path in added:
            try:
                sys.path.remove(path)
            except ValueError:
                pass


def instantiate_generator(info: GeneratorInfo, record: PluginRecord) -> Generator:
    """Import a generator's entry and construct it (call inside ``plugin_import_path``)."""
    module_name, _, attribute = info.entry.partition(":")
    _check_package_is_the_plugins(module_name.split(".")[0], record)
    module = importlib.import_module(module_name)
    factory = getattr(module, attribute, None)
    if factory is None:
        raise ImportError(f"{module_name} has no attribute {attribute!r} (entry {info.entry!r} in plugin.toml)")
    instance = factory()
    if not isinstance(instance, Generator):
        raise TypeError(f"{info.entry} is not a studio.plugins.api.Generator")
    return instance


def _check_package_is_the_plugins(package: str, record: PluginRecord) -> None:
    """Refuse to hand a plugin a same-named package that another folder already imported.

    ``sys.modules`` is shared: without this check the plugin would silently run someone
    else's code under its own name.
    """
    module = sys.modules.get(package)
    if module is None or record.source == "entry-point":
        return
    folder = Path(record.folder).resolve()
    locations = [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]
    for location in locations:
        if location and (folder == Path(location).resolve() or folder in Path(location).resolve().parents):
            return
    where = next((location for location in locations if location), "a built-in module")
    raise ImportError(
        f"the Python package {package!r} is already loaded from {where}, so plugin {record.id} cannot load its own; "
        "another plugin (or the studio) uses the same package name; rename one of them"
    )
