"""Writing files so that a reader (or a crash) sees the old content or the new, never half.

Every file the studio writes for the user — exported images and audio, settings, the
engine's connection file, stored artefacts — goes through here: a temporary file in the
same folder, flushed, then renamed over the target.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` would race other threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def default_mode(target: Path) -> int:
    """Permissions a plain ``open(path, "w")`` would give: the old file's when replacing one,
    else 0o666 less the umask. ``mkstemp`` alone made every export 0600, unreadable to the
    other programs and users a WAV or PNG is exported for."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; ``mode`` sets permissions before any byte lands
    (None: what a plain write would give, see ``default_mode``; secrets pass 0o600).

    ``durable`` also fsyncs, for files whose loss after a power cut matters (settings).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    wanted = default_mode(target) if mode is None else mode
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, wanted)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_json_atomic(path: str | os.PathLike[str], data: Any, mode: int | None = None) -> Path:
    """JSON (indented, sorted keys) written atomically and durably."""
    text = json.dumps(data, indent=2, sort_keys=True)
    return write_bytes_atomic(path, text.encode("utf-8"), mode=mode, durable=True)
