"""One editor widget per parameter type, built from a ParamSpec dict of a manifest.

Every editor has ``value()`` / ``set_value(v)`` and a ``changed`` signal. Ranged numbers get
a slider with a numeric entry beside it; choices a combo box; text a line or a text area;
seeds a dice and a lock; image / mask / melody / audio inputs a source picker (the window
resolves the source to bytes when Generate is pressed); models a combo box fed by
``GET /models``.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QSlider,
    QSpinBox,
    QToolButton,
    QWidget,
)

from studio.core.seeds import RANDOM_SEED_MAX, SEED_MAX
from studio.ui.note_spin import NoteSpinBox
from studio.ui.wheel_guard import wheel_only_when_focused

if TYPE_CHECKING:  # pydantic's models load after the window's first paint
    from studio.engine.protocol import ModelEntry, ModelsReport

INT_LIMIT = 2**31 - 1  # QSpinBox is 32-bit signed: fine for sizes and steps, never for seeds

INPUT_SOURCES = {
    "image": [
        ("None", "none"),
        ("Canvas selection", "selection"),
        ("Active layer", "layer"),
        ("Whole canvas", "canvas"),
        ("File…", "file"),
    ],
    "mask": [("None", "none"), ("Canvas mask", "mask")],
    "melody": [("None", "none"), ("Selected timeline clip", "clip"), ("File…", "file")],
    "audio": [("None", "none"), ("Selected timeline clip", "clip"), ("File…", "file")],
}
FILE_FILTERS = {
    "image": "Images (*.png *.jpg *.jpeg *.webp)",
    "melody": "MIDI files (*.mid *.midi)",
    "audio": "Audio (*.wav *.flac)",
}


PINNED = "pinned"


def random_seed() -> int:
    return random.randint(0, RANDOM_SEED_MAX)


def describe_input(value: dict[str, Any]) -> str:
    """A pinned input source in words: one clip, or one region of the canvas or its mask."""
    if value.get("clip"):
        return f"Clip “{value.get('name') or value['clip']}”"
    rect = value.get("rect")
    if rect:
        x, y, w, h = (int(round(float(v))) for v in rect)
        what = "Mask" if value.get("source") == "mask" else "Canvas"
        return f"{what} region {w}×{h} at {x},{y}"
    return str(value.get("source") or "input")


def model_kind(entry: ModelEntry) -> str:
    """A found model's kind as the engine's scan reports it (melody, diffusion, llm, …)."""
    return entry.kind or "unknown"


class ParamEditor(QWidget):
    changed = Signal()

    def __init__(self, spec: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.setObjectName(f"param-{spec['name']}")
        self.layout_ = QHBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        if spec.get("help"):
            self.setToolTip(spec["help"])

    @property
    def name(self) -> str:
        return self.spec["name"]

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError


class NumberEditor(ParamEditor):
    """int / float: a spin box, plus a slider when the manifest gives a range."""

    SLIDER_STEPS = 1000

    def __init__(self, spec: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.integral = spec["type"] == "int"
        low, high = spec.get("min"), spec.get("max")
        if self.integral:
            self.spin: QSpinBox | QDoubleSpinBox = NoteSpinBox() if spec.get("unit") == "note" else QSpinBox()
            self.spin.setRange(int(low) if low is not None else -INT_LIMIT, int(high) if high is not None else INT_LIMIT)
            self.spin.setSingleStep(int(spec.get("step") or 1))
        else:
            self.spin = QDoubleSpinBox()
            step = float(spec.get("step") or 0.01)
            decimals = max(2, min(6, -int(math.floor(math.log10(step))) if step < 1 else 2))
            self.spin.setDecimals(decimals)
            self.spin.setRange(float(low) if low is not None else -1e9, float(high) if high is not None else 1e9)
            self.spin.setSingleStep(step)
        self.spin.setKeyboardTracking(False)
        if spec.get("special"):
            self.spin.setSpecialValueText(spec["special"])  # what the minimum means, in words
        self.spin.setToolTip(spec.get("help") or "")
        self.slider: QSlider | None = None
        if low is not None and high is not None and high > low:
            self.slider = QSlider(Qt.Orientation.Horizontal)
            self.slider.setRange(0, self.SLIDER_STEPS)
            self.layout_.addWidget(self.slider, 1)
            self.slider.valueChanged.connect(self._from_slider)
            self.spin.setMaximumWidth(90 if not spec.get("special") else 200)
            # The slider gives way in a narrow panel; the value itself is never clipped.
            self.spin.setMinimumWidth(self.spin.minimumSizeHint().width() + 8)
            # A value in words ("keep the prime's tempo") needs the row: its slider may vanish.
            self.slider.setMinimumWidth(0 if spec.get("special") else 40)
        self.layout_.addWidget(self.spin, 0 if self.slider else 1)
        wheel_only_when_focused(self.spin, self.slider)
        self.spin.valueChanged.connect(self._from_spin)
        default = spec.get("default")
        if default is not None:
            self.set_value(default)

    def _from_slider(self, position: int) -> None:
        low, high = float(self.spec["min"]), float(self.spec["max"])
        value = low + (high - low) * position / self.SLIDER_STEPS
        step = self.spec.get("step")
        if step:
            value = low + round((value - low) / float(step)) * float(step)
        self.spin.blockSignals(True)
        self.spin.setValue(int(round(value)) if self.integral else value)
        self.spin.blockSignals(False)
        self.changed.emit()

    def _from_spin(self, _value: float) -> None:
        self._sync_slider()
        self.changed.emit()

    def _sync_slider(self) -> None:
        if self.slider is None:
            return
        low, high = float(self.spec["min"]), float(self.spec["max"])
        self.slider.blockSignals(True)
        self.slider.setValue(int(round((float(self.spin.value()) - low) / (high - low) * self.SLIDER_STEPS)))
        self.slider.blockSignals(False)

    def value(self) -> Any:
        return int(self.spin.value()) if self.integral else float(self.spin.value())

    def set_value(self, value: Any) -> None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return
        self.spin.setValue(int(round(number)) if self.integral else number)
        self._sync_slider()


class BoolEditor(ParamEditor):
    def __init__(self, spec: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.box = QCheckBox()
        self.layout_.addWidget(self.box)
        self.box.toggled.connect(lambda _v: self.changed.emit())
        self.set_value(spec.get("default"))

    def value(self) -> bool:
        return self.box.isChecked()

    def set_value(self, value: Any) -> None:
        if isinstance(value, str):
            value = value.strip().lower() in ("1", "true", "yes", "on")
        self.box.setChecked(bool(value))


class ChoiceEditor(ParamEditor):
    def __init__(self, spec: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.combo = QComboBox()
        if spec.get("optional"):
            self.combo.addItem("(none)", None)
        for choice in spec.get("choices") or []:
            self.combo.addItem(str(choice), choice)
        self.layout_.addWidget(self.combo, 1)
        wheel_only_when_focused(self.combo)
        self.combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.set_value(spec.get("default"))

    def value(self) -> Any:
        return self.combo.currentData()

    def set_value(self, value: Any) -> None:
        index = self.combo.findData(value)
        if index < 0 and value is not None:
            index = self.combo.findText(str(value), Qt.MatchFlag.MatchFixedString)
        if index >= 0:
            self.combo.setCurrentIndex(index)


class TextEditor(ParamEditor):
    def __init__(self, spec: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.multiline = bool(spec.get("multiline")) or spec["name"] in ("prompt", "negative_prompt")
        if self.multiline:
            self.edit: QLineEdit | QPlainTextEdit = QPlainTextEdit()
            self.edit.setMaximumHeight(90 if spec["name"] != "negative_prompt" else 60)
            self.edit.setTabChangesFocus(True)
            self.edit.textChanged.connect(self.changed)
        else:
            self.edit = QLineEdit()
            self.edit.textChanged.connect(lambda _t: self.changed.emit())
        if spec.get("help"):
            self.edit.setPlaceholderText(spec["help"][:120])
        self.layout_.addWidget(self.edit, 1)
        self.set_value(spec.get("default"))

    def value(self) -> Any:
        text = self.edit.toPlainText() if isinstance(self.edit, QPlainTextEdit) else self.edit.text()
        if not text and self.spec.get("optional"):
            return None
        return text

    def set_value(self, value: Any) -> None:
        text = "" if value is None else str(value)
        if isinstance(self.edit, QPlainTextEdit):
            self.edit.setPlainText(text)
        else:
            self.edit.setText(text)


class SeedValidator(QValidator):
    """Digits only, at most 2**64 - 1: a seed is an unsigned 64-bit number."""

    def validate(self, text: str, pos: int) -> QValidator.State:  # type: ignore[override]
        stripped = text.strip()
        if not stripped:
            return QValidator.State.Intermediate
        if not stripped.isdigit():
            return QValidator.State.Invalid
        return QValidator.State.Acceptable if int(stripped) <= SEED_MAX else QValidator.State.Invalid


class SeedEditor(ParamEditor):
    """A seed with a dice (new random seed) and, for the job seed, a lock (keep it).

    A validated line edit rather than a QSpinBox: QSpinBox holds a signed 32-bit int, and
    seeds go to 2**64 - 1 (ComfyUI) — a spin box silently wrapped 3000000000 to 852516352.
    """

    def __init__(self, spec: dict[str, Any], parent: QWidget | None = None, *, lockable: bool = False) -> None:
        super().__init__(spec, parent)
        self.edit = QLineEdit()
        self.edit.setValidator(SeedValidator(self.edit))
        self.edit.setToolTip(f"{spec.get('help') or 'Seed'} (0 to {SEED_MAX})")
        self._value = 0
        self.dice = QToolButton()
        self.dice.setText("⚄")
        self.dice.setToolTip("A new random seed")
        self.dice.clicked.connect(self.roll)
        self.layout_.addWidget(self.edit, 1)
        self.layout_.addWidget(self.dice)
        self.lock: QToolButton | None = None
        if lockable:
            self.lock = QToolButton()
            self.lock.setCheckable(True)
            self.lock.setText("Lock")
            self.lock.setToolTip("Locked: every Generate uses this seed. Unlocked: a new seed each time.")
            self.lock.toggled.connect(lambda on: self.lock.setText("Locked" if on else "Lock"))  # type: ignore[union-attr]
            self.layout_.addWidget(self.lock)
        self.edit.editingFinished.connect(self._edited)
        default = spec.get("default")
        self.set_value(default if default is not None else random_seed())

    @property
    def locked(self) -> bool:
        return self.lock is not None and self.lock.isChecked()

    def set_locked(self, locked: bool) -> None:
        if self.lock is not None:
            self.lock.setChecked(locked)

    def roll(self) -> int:
        self.set_value(random_seed())
        return self.value()

    def value(self) -> int:
        return self._value

    def set_value(self, value: Any) -> None:
        """Take ``value`` when it is a seed (0..2**64-1); anything else leaves the seed as it is."""
        try:
            number = int(value)
        except (TypeError, ValueError):
            return
        if isinstance(value, bool) or not 0 <= number <= SEED_MAX:
            return
        changed = number != self._value
        self._value = number
        self.edit.setText(str(number))
        if changed:
            self.changed.emit()

    def _edited(self) -> None:
        text = self.edit.text().strip()
        if text.isdigit() and int(text) <= SEED_MAX:
            self.set_value(int(text))
        else:
            self.edit.setText(str(self._value))


class InputEditor(ParamEditor):
    """image / mask / melody / audio: where the input comes from when Generate is pressed.

    Besides the general sources (the selection, the selected clip, a file…) an action can pin
    one exact source — a clip, a region of the canvas — so the form shows what was used and
    Generate uses it again.
    """

    def __init__(self, spec: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.kind = spec["type"]
        self.combo = QComboBox()
        wheel_only_when_focused(self.combo)
        for label, key in INPUT_SOURCES.get(self.kind, [("None", "none")]):
            self.combo.addItem(label, key)
        self.path = ""
        self.pinned: dict[str, Any] | None = None
        self.file_label = QLineEdit()
        self.file_label.setReadOnly(True)
        self.file_label.setPlaceholderText("no file")
        self.file_label.hide()
        self.layout_.addWidget(self.combo, 1)
        self.layout_.addWidget(self.file_label, 1)
        self.combo.currentIndexChanged.connect(self._source_changed)

    def _source_changed(self, _index: int) -> None:
        if self.combo.currentData() == "file" and not self.path:
            path, _ = QFileDialog.getOpenFileName(self, f"Choose {self.kind}", "", FILE_FILTERS.get(self.kind, ""))
            if path:
                self.path = path
        self.file_label.setVisible(self.combo.currentData() == "file")
        self.file_label.setText(Path(self.path).name if self.path else "")
        self.changed.emit()

    def value(self) -> dict[str, Any] | None:
        source = self.combo.currentData()
        if source == "none":
            return None
        if source == PINNED:
            return dict(self.pinned or {})
        return {"source": source, "path": self.path} if source == "file" else {"source": source}

    def _pin(self, value: dict[str, Any]) -> None:
        self.pinned = dict(value)
        index = self.combo.findData(PINNED)
        if index < 0:
            self.combo.addItem("", PINNED)
            index = self.combo.count() - 1
        self.combo.setItemText(index, describe_input(value))
        self.combo.setItemData(index, describe_input(value), Qt.ItemDataRole.ToolTipRole)
        if self.combo.currentIndex() == index:
            self.changed.emit()
        else:
            self.combo.setCurrentIndex(index)

    def set_value(self, value: Any) -> None:
        if isinstance(value, dict) and (value.get("clip") or value.get("rect")):
            self._pin(value)
        elif isinstance(value, dict):
            self.path = str(value.get("path") or "")
            index = self.combo.findData(value.get("source"))
            if index >= 0:
                self.combo.setCurrentIndex(index)
        else:
            self.combo.setCurrentIndex(0)


AUTOMATIC_MODEL = "Automatic (first found)"


class ModelEditor(ParamEditor):
    """A model path picked from what the engine found (or typed), filtered by ``model_kind``."""

    def __init__(self, spec: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self.combo = QComboBox()
        wheel_only_when_focused(self.combo)
        self.combo.setEditable(True)
        self.combo.lineEdit().setPlaceholderText("model folder or file")
        self.combo.setToolTip(spec.get("help") or "A model file or folder")
        self.layout_.addWidget(self.combo, 1)
        self.combo.currentTextChanged.connect(lambda _t: self.changed.emit())
        from studio.engine.protocol import ModelsReport

        self.set_models(ModelsReport())
        self.set_value(spec.get("default"))

    def set_models(self, models: ModelsReport) -> None:
        current = self.value()
        wanted = self.spec.get("model_kind") or ""
        self.combo.blockSignals(True)
        self.combo.clear()
        if self.spec.get("optional"):
            # A real choice, in normal text: a grey placeholder looked like a disabled field.
            self.combo.addItem(AUTOMATIC_MODEL, None)
        for entry in models.found:
            kind = model_kind(entry)
            if wanted and kind not in (wanted, "unknown"):
                continue
            self.combo.addItem(f"{entry.name}  ({entry.format}, {kind})", entry.path)
        self.combo.blockSignals(False)
        self.set_value(current)

    def value(self) -> Any:
        index = self.combo.currentIndex()
        text = self.combo.currentText()
        if index >= 0 and self.combo.itemText(index) == text:
            return self.combo.itemData(index)
        return text or None

    def set_value(self, value: Any) -> None:
        if value is None or value == "":
            self.combo.setCurrentIndex(0 if self.combo.count() else -1)
            if not self.combo.count():
                self.combo.setEditText("")
            self.combo.lineEdit().setCursorPosition(0)
            return
        index = self.combo.findData(value)
        if index >= 0:
            self.combo.setCurrentIndex(index)
        else:
            self.combo.setEditText(str(value))
        self.combo.lineEdit().setCursorPosition(0)  # a long name shows its start, not its tail


def editor_for(spec: dict[str, Any]) -> ParamEditor:
    kind = spec.get("type")
    if kind in ("int", "float"):
        return NumberEditor(spec)
    if kind == "bool":
        return BoolEditor(spec)
    if kind == "choice":
        return ChoiceEditor(spec)
    if kind == "seed":
        return SeedEditor(spec)
    if kind in ("image", "mask", "melody", "audio"):
        return InputEditor(spec)
    if kind == "model":
        return ModelEditor(spec)
    return TextEditor(spec)
