"""User settings: a small JSON file in STUDIO_HOME, written atomically.

Settings are read by the engine (model folders, pickle opt-in, memory budget, disabled
plugins) and by the window (Preferences). A corrupt settings file never stops the studio:
it is set aside as ``settings.json.corrupt`` and defaults are used, with a warning.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from studio.core.atomic_files import write_json_atomic
from studio.core.paths import HomeLayout


@dataclass
class Settings:
    model_folders: list[str] = field(default_factory=list)
    allow_pickle: bool = False
    disabled_plugins: list[str] = field(default_factory=list)
    # Memory budgets in bytes; 0 means "decide from the machine" (see engine.model_cache).
    ram_budget: int = 0
    vram_budget: int = 0
    device: str = "auto"  # auto | cuda | mps | cpu
    trust_remote_code: list[str] = field(default_factory=list)
    wildcards_dir: str = ""  # the user's prompt wildcard files (default STUDIO_HOME/wildcards)
    # Outputs name their models (file name + hash), never where they live on this machine,
    # unless the user opts in (a shared file would otherwise leak user names and folders).
    embed_model_paths: bool = False
    warnings: list[str] = field(default_factory=list, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("warnings")
        return data


def load_settings(layout: HomeLayout) -> Settings:
    path = layout.settings_file
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("top level is not an object")
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        aside = path.with_suffix(".json.corrupt")
        try:
            path.replace(aside)
        except OSError:
            pass
        return Settings(warnings=[f"{path} was unreadable ({exc}); moved to {aside.name}, defaults used"])
    known = {f.name for f in fields(Settings)} - {"warnings"}
    values = {key: value for key, value in raw.items() if key in known}
    try:
        return Settings(**values)
    except TypeError as exc:
        return Settings(warnings=[f"{path}: {exc}; defaults used"])


def save_settings(layout: HomeLayout, settings: Settings) -> None:
    write_json_atomic(layout.settings_file, settings.to_dict())
