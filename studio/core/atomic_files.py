"""Writing files so that a reader (or a crash) sees the old content or the new, never half.

Every file the studio writes for the user — exported images and audio, settings, the
engine's connection file, stored artefacts — goes through here: a temporary file in the
same folder, flushed, then renamed over the target.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; ``mode`` sets permissions before any byte lands.

    ``durable`` also fsyncs, for files whose loss after a power cut matters (settings).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        if mode is not None:
            os.fchmod(fd, mode)
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
