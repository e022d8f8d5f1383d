"""Edit ▸ Preferences: the settings the engine runs with (model folders, device, pickle).

They are saved to ``STUDIO_HOME/settings.json``; the engine reads them when it starts, so
``apply`` says whether anything it reads changed and the window offers a restart.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel, QPushButton, QWidget

from studio.core.paths import HomeLayout
from studio.core.settings import load_settings, save_settings
from studio.ui import accessibility
from studio.ui.dialogs import Prompter
from studio.ui.engine_preferences import EngineSection
from studio.ui.first_run import open_path
from studio.ui.model_folders import ModelFoldersEditor


class PreferencesDialog(QDialog):
    def __init__(self, home: Path, prompter: Prompter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setObjectName("preferencesDialog")
        self.layout_ = HomeLayout(Path(home))
        self.settings = load_settings(self.layout_)
        form = QFormLayout(self)
        self.model_folders = ModelFoldersEditor(self.settings.model_folders, lambda: prompter.open_folder(self, "Add a model folder"))
        form.addRow("Model folders", self.model_folders)
        # The folder that is always scanned (and that errors name), shown and openable.
        default_row = QHBoxLayout()
        self.default_folder = QLabel(str(self.layout_.models_dir))
        self.default_folder.setObjectName("defaultModelFolder")
        self.default_folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.default_folder.setToolTip("Always scanned for models, besides the folders above")
        open_default = QPushButton("Open")
        open_default.setObjectName("openDefaultModelFolder")
        open_default.setToolTip("Open this folder in the file manager")
        open_default.clicked.connect(lambda: open_path(self.layout_.models_dir))
        default_row.addWidget(self.default_folder, 1)
        default_row.addWidget(open_default)
        form.addRow("Always scanned", default_row)
        self.device = QComboBox()
        self.device.addItems(["auto", "cuda", "mps", "cpu"])
        self.device.setCurrentText(self.settings.device)
        self.device.setToolTip("Where models run: auto picks CUDA, then Apple MPS, then the CPU")
        form.addRow("Device", self.device)
        self.pickle = QCheckBox("Allow pickle checkpoints (.ckpt/.bin) — they can run code")
        self.pickle.setChecked(self.settings.allow_pickle)
        self.pickle.setToolTip("Pickle checkpoints can run any code when loaded: allow only files you trust")
        form.addRow("", self.pickle)
        self.model_paths = QCheckBox("Write models' local paths into output files (default: name and hash only)")
        self.model_paths.setObjectName("embedModelPaths")
        self.model_paths.setChecked(self.settings.embed_model_paths)
        self.model_paths.setToolTip("Output files then name the model's folder on this computer, which others can read")
        form.addRow("", self.model_paths)
        self.engine = EngineSection(home)
        form.addRow(self.engine)
        self.engine_target_changed = False
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        accessibility.describe_dialog(self)

    def apply(self) -> bool:
        """Save; True when something the engine reads at start changed."""
        settings = load_settings(self.layout_)  # keep what others wrote meanwhile (disabled plugins…)
        before = (list(settings.model_folders), settings.device, settings.allow_pickle, settings.embed_model_paths)
        settings.model_folders = self.model_folders.folders()
        settings.device = self.device.currentText()
        settings.allow_pickle = self.pickle.isChecked()
        settings.embed_model_paths = self.model_paths.isChecked()
        save_settings(self.layout_, settings)
        self.engine_target_changed = self.engine.apply()  # the window reconnects when this is True
        return before != (settings.model_folders, settings.device, settings.allow_pickle, settings.embed_model_paths)
