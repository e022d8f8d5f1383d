"""Turning a generator id into a live Generator object, importing plugin code on first use.

A plugin that fails to import, fails to construct, or names an entry that is not a
Generator is marked failed with its traceback; the rest keep working. Plugin folders are
put on ``sys.path`` only when their code is first needed.
"""

from __future__ import annotations

import importlib
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError
from studio.plugins.api import Generator
from studio.plugins.discovery import STATE_FAILED, Discovery, PluginRecord, discover
from studio.plugins.manifest import GeneratorInfo

from studio.engine.config import EngineConfig


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

    def _instantiate(self, info: GeneratorInfo, record: PluginRecord) -> Generator:
        if record.source != "entry-point":
            folder = str(Path(record.folder).resolve())
            if folder not in sys.path:
                sys.path.insert(0, folder)
        module_name, _, attribute = info.entry.partition(":")
        module = importlib.import_module(module_name)
        factory = getattr(module, attribute, None)
        if factory is None:
            raise ImportError(f"{module_name} has no attribute {attribute!r} (entry {info.entry!r} in plugin.toml)")
        instance = factory()
        if not isinstance(instance, Generator):
            raise TypeError(f"{info.entry} is not a studio.plugins.api.Generator")
        return instance
