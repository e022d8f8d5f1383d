"""The user's model folders: what a dropped model adds, and the Preferences list that edits them.

Model folders live in ``settings.json`` (``model_folders``); the engine reads them when it
starts, so after a change the window offers to restart the engine. A dropped
``.safetensors`` / ``.ckpt`` / ``.gguf`` file adds the folder it lies in; a dropped model
folder (a diffusers folder with ``model_index.json``, a transformers folder with
``config.json``) adds itself. ``STUDIO_HOME/models`` is always scanned and never listed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from studio.core.paths import HomeLayout
from studio.core.settings import load_settings, save_settings

MODEL_FILE_SUFFIXES = (".safetensors", ".ckpt", ".gguf")
SCAN_DEPTH = 4  # how deep the engine's scan looks inside a model folder


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and ((path / "model_index.json").is_file() or (path / "config.json").is_file())


def folder_to_add(path: Path) -> Path | None:
    """The model folder a dropped path asks for, or None when it is no model."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() in MODEL_FILE_SUFFIXES:
        return path.parent.resolve()
    if is_model_folder(path):
        return path.resolve()
    return None


def covering_folder(folder: Path, folders: list[Path]) -> Path | None:
    """The listed folder that already finds ``folder`` (itself, or an ancestor close enough)."""
    folder = Path(folder).resolve()
    for candidate in folders:
        try:
            resolved = Path(candidate).expanduser().resolve()
        except OSError:
            continue
        if folder == resolved:
            return resolved
        try:
            depth = len(folder.relative_to(resolved).parts)
        except ValueError:
            continue
        if depth <= SCAN_DEPTH:
            return resolved
    return None


def add_model_folders(home: Path, folders: list[Path]) -> list[Path]:
    """Add folders to settings.json (those not already found); returns the ones added."""
    layout = HomeLayout(Path(home))
    settings = load_settings(layout)
    added: list[Path] = []
    for folder in folders:
        known = [Path(p) for p in settings.model_folders] + [layout.models_dir]
        if covering_folder(folder, known) is None:
            settings.model_folders.append(str(folder))
            added.append(Path(folder))
    if added:
        save_settings(layout, settings)
    return added


class ModelFoldersEditor(QWidget):
    """A list of folders with Add… and Remove, for Preferences."""

    changed = Signal()

    def __init__(self, folders: list[str], choose_folder: Callable[[], Path | None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choose_folder = choose_folder
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.list = QListWidget()
        self.list.setObjectName("modelFolders")
        self.list.setToolTip("Folders scanned for models (.safetensors checkpoints, diffusers and transformers folders, .gguf files)")
        layout.addWidget(self.list)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add…")
        self.add_button.setToolTip("Add a folder to scan for models")
        self.add_button.clicked.connect(self._choose)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Stop scanning the selected folder (its files stay where they are)")
        self.remove_button.clicked.connect(self.remove_selected)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        layout.addLayout(row)
        for folder in folders:
            self.add_folder(Path(folder))

    def folders(self) -> list[str]:
        return [self.list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.list.count())]

    def add_folder(self, folder: Path) -> bool:
        text = str(folder)
        if text in self.folders():
            return False
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, text)
        if not Path(folder).expanduser().is_dir():
            item.setToolTip("This folder does not exist (any more)")
            item.setForeground(Qt.GlobalColor.gray)
        self.list.addItem(item)
        self.changed.emit()
        return True

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self.changed.emit()

    def _choose(self) -> None:
        folder = self.choose_folder()
        if folder is not None:
            self.add_folder(folder)
