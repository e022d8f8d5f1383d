"""Where per-user files live.

Everything the studio writes for a user (settings, installed plugins, the engine's
connection file, logs, the engine's artefact store) lives under one folder, ``STUDIO_HOME``
when set, else the platform's user data folder. Tests and portable installs point
``STUDIO_HOME`` at a folder of their own, and nothing leaks elsewhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "STUDIO_HOME"
MODEL_PATH_ENV = "STUDIO_MODEL_PATH"

# The repository root, where first-party plugins/ and resources/ live.
REPO_ROOT = Path(__file__).resolve().parents[2]


def studio_home() -> Path:
    """The per-user folder: ``$STUDIO_HOME`` or the platform's user data dir."""
    value = os.environ.get(HOME_ENV)
    if value:
        return Path(value).expanduser().resolve()
    from platformdirs import user_data_dir

    return Path(user_data_dir("studio", appauthor=False))


def env_model_paths() -> list[Path]:
    """Folders named in ``STUDIO_MODEL_PATH`` (os.pathsep-separated), in order."""
    value = os.environ.get(MODEL_PATH_ENV, "")
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]


@dataclass(frozen=True)
class HomeLayout:
    """The named files and folders inside a studio home."""

    root: Path

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    @property
    def plugins_dir(self) -> Path:
        return self.root / "plugins"

    @property
    def engine_file(self) -> Path:
        return self.root / "engine.json"

    @property
    def engine_lock(self) -> Path:
        return self.root / "engine.lock"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def models_dir(self) -> Path:
        """The default model folder, always scanned (users drop files here)."""
        return self.root / "models"

    def ensure(self) -> HomeLayout:
        for folder in (self.root, self.plugins_dir, self.logs_dir, self.artifacts_dir, self.cache_dir, self.models_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def first_party_plugins_dir() -> Path:
    return REPO_ROOT / "plugins"


def resources_dir() -> Path:
    return REPO_ROOT / "resources"
