"""Which engine the window uses: this computer's (started on demand) or a remote one.

Kept in ``STUDIO_HOME/engine-target.json`` (mode 0600, since it holds the remote's bearer
token), not in settings.json: settings are what an engine reads, this is what a window
reads to find its engine. A missing or unreadable file means "this computer".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from studio.core.atomic_files import write_json_atomic

TARGET_FILE = "engine-target.json"
LOCAL, REMOTE = "local", "remote"


@dataclass(frozen=True)
class EngineTarget:
    mode: str = LOCAL
    url: str = ""
    token: str = ""

    @property
    def remote(self) -> bool:
        return self.mode == REMOTE and bool(self.url)


def load_engine_target(home: Path) -> EngineTarget:
    try:
        data = json.loads((Path(home) / TARGET_FILE).read_text(encoding="utf-8"))
        mode = REMOTE if data.get("mode") == REMOTE else LOCAL
        return EngineTarget(mode=mode, url=str(data.get("url") or ""), token=str(data.get("token") or ""))
    except (OSError, ValueError, AttributeError):
        return EngineTarget()


def save_engine_target(home: Path, target: EngineTarget) -> None:
    write_json_atomic(Path(home) / TARGET_FILE, asdict(target), mode=0o600)
