"""How an engine is set up: one dataclass, passed in, never read from module globals."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.paths import HomeLayout, env_model_paths, first_party_plugins_dir, studio_home
from studio.core.settings import Settings, load_settings

DEFAULT_HOST = "127.0.0.1"


@dataclass
class EngineConfig:
    """Everything an engine needs to know; tests build one around a temporary home."""

    home: Path
    plugin_dirs: list[Path] = field(default_factory=list)
    model_paths: list[Path] = field(default_factory=list)
    device: str = "auto"
    ram_budget: int = 0
    vram_budget: int = 0
    allow_pickle: bool = False
    safe_mode: bool = False
    host: str = DEFAULT_HOST
    port: int = 0
    include_first_party: bool = True
    disabled_plugins: list[str] = field(default_factory=list)
    trust_remote_code: list[str] = field(default_factory=list)
    wildcards_dir: str = ""
    # Write models' local paths into output files (default: name and hash only).
    embed_model_paths: bool = False
    # Seconds a plugin may keep running after a cancel before its worker is ended.
    cancel_grace: float = 5.0
    # Seconds any job may run before its worker is ended (0: no limit); a hung or stopped
    # worker then no longer blocks the queue. Per generator: plugin_timeouts (settings.json
    # "plugin_timeouts", or a generator's `timeout` in its manifest); per job: the request.
    job_timeout: float = 6 * 3600.0
    plugin_timeouts: dict[str, float] = field(default_factory=dict)
    # TLS for an engine bound beyond loopback (uvicorn's ssl_certfile / ssl_keyfile).
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    # Host names (besides loopback and `host`) that requests may carry in their Host header.
    allowed_hosts: list[str] = field(default_factory=list)

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(Path(self.home))

    def plugin_folders(self) -> list[tuple[Path, str]]:
        """(folder, source) pairs in discovery priority order."""
        folders: list[tuple[Path, str]] = []
        if self.include_first_party:
            folders.append((first_party_plugins_dir(), "first-party"))
        folders.extend(
            (Path(folder), "first-party" if Path(folder).resolve() == first_party_plugins_dir() else "user") for folder in self.plugin_dirs
        )
        folders.append((self.layout.plugins_dir, "user"))
        # De-duplicate while keeping order (tests often pass plugins/ explicitly too).
        unique: list[tuple[Path, str]] = []
        seen: set[Path] = set()
        for folder, source in folders:
            resolved = Path(folder).resolve()
            if resolved not in seen:
                seen.add(resolved)
                unique.append((folder, source))
        return unique

    def all_model_paths(self) -> list[Path]:
        paths = [Path(p) for p in self.model_paths] + [self.layout.models_dir]
        unique: list[Path] = []
        for path in paths:
            if path not in unique:
                unique.append(path)
        return unique

    def user_settings(self) -> dict[str, object]:
        return {
            "allow_pickle": self.allow_pickle,
            "trust_remote_code": list(self.trust_remote_code),
            "wildcards_dir": self.wildcards_dir or str(self.layout.root / "wildcards"),
        }

    @classmethod
    def from_environment(cls, *, home: Path | None = None, safe_mode: bool = False, **overrides: object) -> EngineConfig:
        """The config a user's engine runs with: STUDIO_HOME, settings.json, STUDIO_MODEL_PATH."""
        root = home or studio_home()
        try:
            layout = HomeLayout(root).ensure()
        except OSError as exc:
            from studio.engine.artifact_store import StorageError, storage_message

            raise StorageError(f"cannot use the studio home: {storage_message(exc, Path(root))}") from None
        settings: Settings = load_settings(layout)
        model_paths = env_model_paths() + [Path(p).expanduser() for p in settings.model_folders]
        config = cls(
            home=root,
            model_paths=model_paths,
            device=os.environ.get("STUDIO_DEVICE", settings.device),
            ram_budget=settings.ram_budget,
            vram_budget=settings.vram_budget,
            allow_pickle=settings.allow_pickle,
            safe_mode=safe_mode,
            disabled_plugins=list(settings.disabled_plugins),
            trust_remote_code=list(settings.trust_remote_code),
            wildcards_dir=settings.wildcards_dir,
            embed_model_paths=settings.embed_model_paths,
        )
        grace = os.environ.get("STUDIO_CANCEL_GRACE")
        if grace:
            config.cancel_grace = float(grace)
        job_timeout = os.environ.get("STUDIO_JOB_TIMEOUT")
        if job_timeout:
            config.job_timeout = float(job_timeout)
        config.plugin_timeouts = _plugin_timeouts(layout.settings_file)
        config.allowed_hosts = [name.strip() for name in os.environ.get("STUDIO_ALLOWED_HOSTS", "").split(",") if name.strip()]
        for key, value in overrides.items():
            setattr(config, key, value)
        return config


def _plugin_timeouts(settings_file: Path) -> dict[str, float]:
    """``"plugin_timeouts": {"generator.id": seconds}`` from settings.json; bad entries are skipped."""
    import json

    try:
        data = json.loads(settings_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    raw = data.get("plugin_timeouts") if isinstance(data, dict) else None
    if not isinstance(raw, dict):
        return {}
    timeouts: dict[str, float] = {}
    for generator, seconds in raw.items():
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0:
            timeouts[str(generator)] = float(seconds)
    return timeouts
