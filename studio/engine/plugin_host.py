"""The engine's plugin host: ``studio.plugins.host`` over an ``EngineConfig``'s folders.

Loading plugin code (sys.path handling, the permission guard, failure reports) lives in the
plugins layer so the installer's trial import loads plugins the same way; this module only
says where an engine finds them and where a guarded plugin may write.
"""

from __future__ import annotations

from pathlib import Path

from studio.engine.config import EngineConfig
from studio.plugins.discovery import Discovery, PluginRecord, discover
from studio.plugins.guard import default_allowed_dirs
from studio.plugins.host import (
    DEPS_DIR,
    LoadedGenerator,
    PluginUnavailable,
    instantiate_generator,
    plugin_data_dir,
    plugin_import_path,
    plugin_sys_paths,
)
from studio.plugins.host import PluginHost as _PluginHost


class PluginHost(_PluginHost):
    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        super().__init__()

    def find(self) -> Discovery:
        return discover(self.config.plugin_folders(), disabled=self.config.disabled_plugins, safe_mode=self.config.safe_mode)

    def allowed_dirs(self, scratch: Path | None = None) -> list[Path]:
        return default_allowed_dirs(home_cache=self.config.layout.cache_dir, model_paths=self.config.all_model_paths(), scratch=scratch)

    def data_dir(self, record: PluginRecord) -> Path | None:
        return plugin_data_dir(self.config.home, record.id) if record.manifest is not None else None


__all__ = [
    "DEPS_DIR",
    "LoadedGenerator",
    "PluginHost",
    "PluginUnavailable",
    "instantiate_generator",
    "plugin_data_dir",
    "plugin_import_path",
    "plugin_sys_paths",
]
