"""Every question and message the window puts to the user, in one replaceable object.

Tests (and the off-screen screenshot) swap ``Prompter`` for one that answers without a
modal dialog, so nothing blocks an event loop nobody is looking at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QWidget,
)

from studio.ui import last_folder

PROJECT_FILTER = "Studio projects (*.studio)"

# The answers of the two project questions (``Prompter.choose_action``), as plain strings.
SAVE_NEW_FILE, SAVE_INTACT, CANCEL = "new_file", "intact", "cancel"
SAVE_COPY, RELOAD, OVERWRITE = "copy", "reload", "overwrite"
SIDES = ("left", "right", "top", "bottom")  # what an outpaint extends

DAMAGED_SAVE_CHOICES: list[tuple[str, str]] = [
    (SAVE_NEW_FILE, "Save to a new file…"),
    (SAVE_INTACT, "Save only the intact parts"),
    (CANCEL, "Cancel"),
]
CONFLICT_CHOICES: list[tuple[str, str]] = [
    (SAVE_COPY, "Save as a copy…"),
    (RELOAD, "Reload theirs"),
    (OVERWRITE, "Overwrite theirs"),
    (CANCEL, "Cancel"),
]


class Prompter:
    def error(self, parent: QWidget | None, title: str, text: str, details: str = "") -> None:
        box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok, parent)
        if details:
            box.setDetailedText(details)
        box.exec()

    def info(self, parent: QWidget | None, title: str, text: str) -> None:
        QMessageBox.information(parent, title, text)

    def warn(self, parent: QWidget | None, title: str, text: str, details: str = "") -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
        if details:
            box.setDetailedText(details)
        box.exec()

    def choose_action(self, parent: QWidget | None, title: str, text: str, choices: list[tuple[str, str]], details: str = "") -> str:
        """One of ``choices`` (key, button label), as buttons; the last one is the escape answer ("cancel")."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton, parent)
        box.setObjectName("projectChoice")
        if details:
            box.setDetailedText(details)
        buttons: dict[object, str] = {}
        for index, (key, label) in enumerate(choices):
            last = index == len(choices) - 1
            role = QMessageBox.ButtonRole.RejectRole if last else QMessageBox.ButtonRole.AcceptRole
            button = box.addButton(label, role)
            button.setObjectName(f"choice_{key}")
            buttons[button] = key
            if index == 0:
                box.setDefaultButton(button)
            if last:
                box.setEscapeButton(button)
        box.exec()
        return buttons.get(box.clickedButton(), choices[-1][0])

    def ask(self, parent: QWidget | None, title: str, text: str) -> bool:
        answer = QMessageBox.question(
            parent, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes
        )
        return answer == QMessageBox.StandardButton.Yes

    def ask_save(self, parent: QWidget | None, text: str) -> str:
        """ "save", "discard" or "cancel"."""
        buttons = QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
        answer = QMessageBox.warning(parent, "Unsaved changes", text, buttons, QMessageBox.StandardButton.Save)
        return {QMessageBox.StandardButton.Save: "save", QMessageBox.StandardButton.Discard: "discard"}.get(answer, "cancel")

    def save_path(self, parent: QWidget | None, title: str, file_filter: str, suggested: str = "") -> Path | None:
        path, _ = QFileDialog.getSaveFileName(parent, title, last_folder.start_path(suggested), file_filter)
        last_folder.remember(Path(path) if path else None)
        return Path(path) if path else None

    def open_path(self, parent: QWidget | None, title: str, file_filter: str) -> Path | None:
        path, _ = QFileDialog.getOpenFileName(parent, title, last_folder.start_path(), file_filter)
        last_folder.remember(Path(path) if path else None)
        return Path(path) if path else None

    def open_folder(self, parent: QWidget | None, title: str) -> Path | None:
        path = QFileDialog.getExistingDirectory(parent, title, last_folder.start_path())
        last_folder.remember(Path(path) if path else None, is_folder=True)
        return Path(path) if path else None

    def ask_text(self, parent: QWidget | None, title: str, label: str, default: str = "") -> str | None:
        text, ok = QInputDialog.getText(parent, title, label, QLineEdit.EchoMode.Normal, default)
        return text if ok else None

    def choose(self, parent: QWidget | None, title: str, label: str, items: list[str]) -> str | None:
        """One of ``items`` (None when cancelled)."""
        text, ok = QInputDialog.getItem(parent, title, label, items, 0, False)
        return text if ok else None

    def outpaint_sides(self, parent: QWidget | None, default_pixels: int = 128) -> dict[str, int] | None:
        """Pixels to add per side (left / right / top / bottom), or None when cancelled."""
        dialog = OutpaintDialog(default_pixels, parent)
        try:
            return dialog.extents() if dialog.exec() == OutpaintDialog.DialogCode.Accepted else None
        finally:
            dialog.deleteLater()


class QuietPrompter(Prompter):
    """Answers every question with a fixed reply and records what would have been shown."""

    def __init__(
        self,
        *,
        ask: bool = True,
        save: str = "discard",
        paths: list[Path] | None = None,
        folders: list[Path] | None = None,
        texts: list[str] | None = None,
        outpaint: dict[str, int] | None = None,
        choices: list[str] | None = None,
        actions: list[str] | None = None,
    ) -> None:
        self.answer, self.save_answer = ask, save
        self.choices = list(choices or [])  # answers to choose(): an item, or a substring of one
        self.paths = list(paths or [])
        self.folders = list(folders or [])
        self.texts = list(texts or [])
        self.outpaint = outpaint
        self.errors: list[tuple[str, str, str]] = []
        self.infos: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []
        self.questions: list[str] = []
        self.actions: list[str] = list(actions or [])  # answers for ``choose_action``, in order (then: the escape answer)
        self.chosen: list[tuple[str, str]] = []  # (title, text) of each ``choose_action`` asked

    def error(self, parent: QWidget | None, title: str, text: str, details: str = "") -> None:
        self.errors.append((title, text, details))

    def info(self, parent: QWidget | None, title: str, text: str) -> None:
        self.infos.append((title, text))

    def warn(self, parent: QWidget | None, title: str, text: str, details: str = "") -> None:
        self.warnings.append((title, text))

    def choose_action(self, parent: QWidget | None, title: str, text: str, choices: list[tuple[str, str]], details: str = "") -> str:
        self.chosen.append((title, text))
        keys = [key for key, _label in choices]
        answer = self.actions.pop(0) if self.actions else keys[-1]
        assert answer in keys, f"{answer!r} is not one of {keys}"
        return answer

    def ask(self, parent: QWidget | None, title: str, text: str) -> bool:
        self.questions.append(text)
        return self.answer

    def ask_save(self, parent: QWidget | None, text: str) -> str:
        self.questions.append(text)
        return self.save_answer

    def save_path(self, parent: QWidget | None, title: str, file_filter: str, suggested: str = "") -> Path | None:
        return self.paths.pop(0) if self.paths else None

    def open_path(self, parent: QWidget | None, title: str, file_filter: str) -> Path | None:
        return self.paths.pop(0) if self.paths else None

    def open_folder(self, parent: QWidget | None, title: str) -> Path | None:
        return self.folders.pop(0) if self.folders else None

    def ask_text(self, parent: QWidget | None, title: str, label: str, default: str = "") -> str | None:
        self.questions.append(label)
        return self.texts.pop(0) if self.texts else None

    def choose(self, parent: QWidget | None, title: str, label: str, items: list[str]) -> str | None:
        self.questions.append(label)
        if not self.choices:
            return None
        wanted = self.choices.pop(0)
        return next((item for item in items if wanted in item), None)

    def outpaint_sides(self, parent: QWidget | None, default_pixels: int = 128) -> dict[str, Any] | None:
        return dict(self.outpaint) if self.outpaint is not None else None


class OutpaintDialog(QDialog):
    """Which sides to extend, and by how many pixels."""

    def __init__(self, pixels: int = 128, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Outpaint")
        form = QFormLayout(self)
        row = QHBoxLayout()
        self.sides: dict[str, QCheckBox] = {}
        for side in SIDES:
            box = QCheckBox(side.title())
            box.setChecked(side in ("left", "right"))
            self.sides[side] = box
            row.addWidget(box)
        form.addRow("Extend", row)
        self.pixels = QSpinBox()
        self.pixels.setRange(8, 2048)
        self.pixels.setSingleStep(8)
        self.pixels.setSuffix(" px")
        self.pixels.setValue(pixels)
        form.addRow("By", self.pixels)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def extents(self) -> dict[str, int]:
        return {side: self.pixels.value() if box.isChecked() else 0 for side, box in self.sides.items()}
