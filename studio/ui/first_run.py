"""A first run that guides: what to do when the chosen generator has no model yet.

A new user who picked Stable Diffusion used to get an error after pressing Generate. Now the
Generate panel shows, above the form, what is missing and the three ways to fix it: add a
model folder, drop a file on the window, or read where to find models (a page shipped with
the studio, ``docs/models.md``). The model kind comes from the generator's manifest (its
main ``model`` param's ``model_kind``), so a community generator gets the same panel; the
words for the kinds the studio knows are below, anything else reads "a <kind> model".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from studio.core.paths import REPO_ROOT

if TYPE_CHECKING:
    from studio.ui.generate_panel import GeneratePanel

MODELS_PAGE = REPO_ROOT / "docs" / "models.md"


@dataclass(frozen=True)
class ModelKind:
    noun: str  # "a Stable Diffusion checkpoint"
    files: str  # what to drop: "a .safetensors file or a diffusers folder"


KNOWN_KINDS: dict[str, ModelKind] = {
    "diffusion": ModelKind("a Stable Diffusion checkpoint", "a .safetensors file or a diffusers folder"),
    "llm": ModelKind("a language model", "a Hugging Face model folder (config.json, tokenizer, .safetensors)"),
    "musicgen": ModelKind("a MusicGen model", "a MusicGen model folder"),
    "lora": ModelKind("a LoRA", "a LoRA .safetensors file"),
    "melody": ModelKind("a melody model", "a melody model folder"),
}


def describe_kind(kind: str) -> ModelKind:
    return KNOWN_KINDS.get(kind) or ModelKind(f"a {kind} model", f"a {kind} model file or folder")


def open_path(path: Path) -> bool:
    """Show a folder or file in the desktop's file manager / viewer (created if a folder is missing)."""
    if not path.suffix:
        path.mkdir(parents=True, exist_ok=True)
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


class ModelEmptyState(QFrame):
    """ "Add a Stable Diffusion checkpoint": shown instead of a doomed Generate."""

    add_folder_requested = Signal()

    def __init__(self, models_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelEmptyState")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.models_dir = Path(models_dir)
        self.kind = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        self.title = QLabel()
        self.title.setObjectName("emptyStateTitle")
        self.title.setWordWrap(True)
        self.title.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout.addWidget(self.title)
        self.body = QLabel()
        self.body.setWordWrap(True)
        self.body.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout.addWidget(self.body)
        row = QGridLayout()  # two rows of buttons: the panel never widens the dock
        self.add_button = QPushButton("Add folder…")
        self.add_button.setToolTip("Choose a folder that holds models; the engine scans it")
        self.add_button.clicked.connect(self.add_folder_requested)
        self.open_button = QPushButton("Open models folder")
        self.open_button.setToolTip(f"Put model files in {self.models_dir}; it is always scanned")
        self.open_button.clicked.connect(lambda: open_path(self.models_dir))
        self.help_button = QPushButton("Where to find models")
        self.help_button.setToolTip("What models work and where to get them")
        self.help_button.clicked.connect(lambda: open_path(MODELS_PAGE))
        row.addWidget(self.add_button, 0, 0)
        row.addWidget(self.open_button, 0, 1)
        row.addWidget(self.help_button, 1, 0, 1, 2)
        layout.addLayout(row)
        self.hide()

    def show_for(self, kind: str, generator_name: str = "") -> None:
        """Show what ``generator_name`` needs (``kind`` from its manifest); hide for ""."""
        self.kind = kind
        if not kind:
            self.hide()
            return
        what = describe_kind(kind)
        self.title.setText(f"<b>Add {what.noun}</b>" + (f" to use {generator_name}" if generator_name else ""))
        self.body.setText(
            f"Add folder… that holds {what.files},<br>or drop one on this window,<br>or put it in <code>{self.models_dir}</code>."
        )
        self.body.setToolTip(f"{what.noun[0].upper()}{what.noun[1:]}: {what.files}. Always scanned: {self.models_dir}")
        self.show()


class ModelGuide:
    """Keeps the empty-state panel in step with the Generate panel's generator and the models found."""

    def __init__(self, panel: GeneratePanel, models_dir: Path, add_folder: Callable[[], object]) -> None:
        self.panel = panel
        self.widget = ModelEmptyState(models_dir)
        self.widget.add_folder_requested.connect(add_folder)
        layout = panel.layout()
        # Under the generator's description, above its form: seen before the Generate button.
        layout.insertWidget(min(2, layout.count()), self.widget)
        panel.generator_changed.connect(lambda _id: self.update())

    def update(self) -> str:
        """Show the panel when the current generator lacks its model; returns the missing kind."""
        current = self.panel.current
        kind = self.panel.missing_model_kind(current["id"]) if current else ""
        main = next((spec for spec in (current or {}).get("params") or [] if spec.get("type") == "model"), None)
        if main is not None and main.get("advanced"):
            # An advanced model param means the generator works without one of the user's
            # (a model it ships): nothing to add before the first run.
            kind = ""
        self.widget.show_for(kind, (current or {}).get("name") or "")
        return kind
