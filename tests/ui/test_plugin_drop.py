"""A plugin archive dropped on the window goes to the plugin manager's confirmation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from studio.plugins.archive import pack_folder

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pixelsort"


def test_a_dropped_plugin_archive_is_shown_for_confirmation_and_declining_installs_nothing(
    make_window: Any, studio_home: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    from studio.ui import plugin_manager

    archive, _sha = pack_folder(EXAMPLE, out=tmp_path / "pixelsort.zip")
    asked: list[Any] = []
    monkeypatch.setattr(plugin_manager.PluginManagerDialog, "confirm_install", lambda self, plan: asked.append(plan) or False)
    window = make_window()

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(archive))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.canvas.view.dropEvent(event)

    assert len(asked) == 1
    assert asked[0].manifest.plugin.id.endswith("pixelsort")
    assert not any((studio_home / "plugins").glob("*pixelsort*"))
    window._plugin_dialog.close()
