"""Log files for every studio process, in one folder a user can send with a bug report.

Each process (window, engine, worker, command line) writes its own rotating file under
``STUDIO_HOME/logs`` so a crash in one never truncates another's record, and the folder
stays bounded (a few MB per process) however long the studio runs.
``STUDIO_LOG_LEVEL`` (debug, info, warning…) raises or lowers the detail; the default,
info, records job and plugin lifecycle without per-step noise.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

LEVEL_ENV = "STUDIO_LOG_LEVEL"
MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 3
_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def log_level() -> int:
    name = os.environ.get(LEVEL_ENV, "info").strip().upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


def configure_logging(logs_dir: Path, process: str) -> Path | None:
    """Send the ``studio`` loggers of this process to ``logs_dir/<process>.log``.

    Idempotent per process. Returns the log file, or None when the folder cannot be written
    (a read-only home must not stop the studio from starting; the failure goes to stderr).
    """
    logger = logging.getLogger("studio")
    path = Path(logs_dir) / f"{process}.log"
    for handler in logger.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and Path(handler.baseFilename) == path.resolve():
            return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)
    except OSError as exc:
        logging.getLogger("studio").addHandler(logging.StreamHandler())
        logging.getLogger("studio").warning("cannot write logs to %s (%s); logging to stderr", path.parent, exc)
        return None
    handler.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(log_level())
    return path
