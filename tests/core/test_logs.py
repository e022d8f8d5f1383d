"""Each process logs to its own bounded file under STUDIO_HOME/logs."""

from __future__ import annotations

import logging
import subprocess
import sys

from studio.core.logs import MAX_BYTES, configure_logging


def _reset(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


def test_messages_reach_the_process_log_file(tmp_path):
    logger = logging.getLogger("studio")
    try:
        path = configure_logging(tmp_path / "logs", "engine")
        assert configure_logging(tmp_path / "logs", "engine") == path
        logging.getLogger("studio.engine.jobs").info("job %s done", "abc")
        for handler in logger.handlers:
            handler.flush()
        assert path is not None and "studio.engine.jobs: job abc done" in path.read_text()
        assert sum(1 for h in logger.handlers if getattr(h, "baseFilename", None)) == 1
    finally:
        _reset(logger)


def test_log_files_rotate_instead_of_growing(tmp_path):
    logger = logging.getLogger("studio")
    try:
        path = configure_logging(tmp_path / "logs", "worker")
        for _ in range(MAX_BYTES // 500 * 2):
            logger.info("x" * 500)
        for handler in logger.handlers:
            handler.flush()
        files = sorted((tmp_path / "logs").iterdir())
        assert len(files) >= 2 and all(f.stat().st_size <= MAX_BYTES + 1000 for f in files)
        assert path in files
    finally:
        _reset(logger)


def test_an_unwritable_log_folder_does_not_stop_the_process(tmp_path):
    blocker = tmp_path / "logs"
    blocker.write_text("a file where the folder should be")
    code = "from pathlib import Path; from studio.core.logs import configure_logging; print(configure_logging(Path(%r), 'cli'))" % str(
        blocker
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "None"
    assert "cannot write logs" in result.stderr
