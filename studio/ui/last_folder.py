"""Where file dialogs open: the folder last used for a file, else the user's home.

Dialogs opened in the process's working directory, which for a studio started from its
checkout is the repository: exports landed among the source files. The last folder is kept
in the window settings (``STUDIO_HOME/ui-settings.ini``, key ``dialogs/last_folder``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from studio.core.paths import studio_home

KEY = "dialogs/last_folder"


def _settings() -> QSettings:
    return QSettings(str(studio_home() / "ui-settings.ini"), QSettings.Format.IniFormat)


def last_folder() -> Path:
    raw = str(_settings().value(KEY, "") or "")
    folder = Path(raw) if raw else None
    return folder if folder is not None and folder.is_dir() else Path.home()


def start_path(suggested: str = "") -> str:
    """What a dialog starts at: ``suggested`` (a bare file name) inside the last folder."""
    if suggested and Path(suggested).is_absolute():
        return suggested
    return str(last_folder() / suggested) if suggested else str(last_folder())


def remember(path: Path | None, *, is_folder: bool = False) -> None:
    if path is None:
        return
    folder = Path(path) if is_folder else Path(path).parent
    settings = _settings()
    settings.setValue(KEY, str(folder))
    settings.sync()
