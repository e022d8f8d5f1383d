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

Community plugin code also runs under its declared permissions (``studio.engine.permissions``).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from studio.core.errors import StudioError
from studio.plugins.api import Generator
from studio.plugins.discovery import STATE_FAILED, Discovery, PluginRecord, discover
from studio.plugins.manifest import GeneratorInfo

from studio.engine.config import EngineConfig
from studio.engine.permissions import Guard, default_allowed_dirs, plugin_permissions

DEPS_DIR = "deps"


class PluginUnavailable(StudioError):
    """The generator is unknown, disabled, or its plugin failed to load."""


@dataclass
class LoadedGenerator:
    info: GeneratorInfo
    record: PluginRecord
    instance: Generator


class PluginHost:
    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._instances: dict[str, LoadedGenerator] = {}
        self.discovery: Discovery = self.rediscover()

    def rediscover(self) -> Discovery:
        with self._lock:
            self.discovery = discover(
                self.config.plugin_folders(),
                disabled=self.config.disabled_plugins,
                safe_mode=self.config.safe_mode,
            )
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
        return default_allowed_dirs(home_cache=self.config.layout.cache_dir, model_paths=self.config.all_model_paths(), scratch=scratch)

    @contextlib.contextmanager
    def running(self, record: PluginRecord, scratch: Path | None = None, log: Callable[[str], None] | None = None) -> Iterator[Guard | None]:
        """Plugin code runs inside this: its folders on sys.path, its permissions enforced."""
        with plugin_import_path(record), plugin_permissions(record.manifest, self.allowed_dirs(scratch), log=log) as guard:
            yield guard

    def _instantiate(self, info: GeneratorInfo, record: PluginRecord) -> Generator:
        with self.running(record):
            return instantiate_generator(info, record)


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
