"""Help: the version, the documentation shipped with the studio, and where the logs are.

A one-line About told a user nothing they could act on. The About box now says which
version runs, where the docs and the log files (``STUDIO_HOME/logs``, what a bug report
needs) are, and the menu opens each of them. Everything is local: the studio is offline.
"""

from __future__ import annotations

from pathlib import Path

from studio import __version__
from studio.core.paths import REPO_ROOT, HomeLayout
from studio.ui.first_run import MODELS_PAGE

DOCS_DIR = REPO_ROOT / "docs"
README = REPO_ROOT / "README.md"


def docs_entry() -> Path:
    """The first page to open as "Documentation": the README, else the docs folder."""
    return README if README.exists() else DOCS_DIR


def about_text(home: Path) -> str:
    layout = HomeLayout(Path(home))
    return (
        f"Studio {__version__}: an offline creative studio for images, melodies, text and audio.\n\n"
        f"Documentation: {docs_entry()}\n"
        f"Where to find models: {MODELS_PAGE}\n"
        f"Log files: {layout.logs_dir}\n"
        f"Settings and plugins: {layout.root}"
    )
