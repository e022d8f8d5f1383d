"""The Generate panel: pick a generator, fill its form, press Generate.

The form is built from the manifest's parameter schema alone (the ``GET /plugins``
answer), so no plugin code is imported in the window process. Values are remembered per
generator (QSettings under STUDIO_HOME), and a history node or a PNG's metadata can be
restored into the form.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.seeds import SEED_MAX
from studio.ui import accessibility
from studio.ui.deferred_settings import DeferredSettings

if TYPE_CHECKING:  # pydantic's models load after the window's first paint
    from studio.engine.protocol import Catalogue, GeneratorEntry, ModelEntry, ModelsReport, ParamEntry

from studio.ui.param_widgets import InputEditor, ModelEditor, ParamEditor, SeedEditor, editor_for, model_kind

KIND_ORDER = ("image", "text", "music", "audio")
KIND_TITLES = {"image": "Image", "text": "Text", "music": "Music", "audio": "Audio"}
INPUT_TYPES = ("image", "mask", "melody", "audio")


def ready_without_a_model(generator: GeneratorEntry) -> bool:
    """True for a generator that needs no model file of the user's (no ``model`` param).

    Such generators (the built-in patterns, say) are listed first in their kind and picked
    when nothing was remembered, so a new user sees a result at once: the default comes
    from what manifests declare, never from a plugin id written here.
    """
    return not any(spec.type == "model" for spec in generator.params)


def _first_pick(generators: list[GeneratorEntry]) -> str | None:
    ordered = sorted(generators, key=lambda g: (KIND_ORDER.index(g.kind) if g.kind in KIND_ORDER else 99, not ready_without_a_model(g)))
    return ordered[0].id if ordered else None


def narrow_fields(host: QWidget) -> None:
    """Let combo boxes and text fields shrink to the panel instead of widening the form.

    A combo sized to its longest item (a model's full name, a sampler list) made the form
    wider than the dock: a horizontal scrollbar, clipped values, hidden arrows.
    """
    for combo in host.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(6)


def _param_title(spec: ParamEntry) -> str:
    return spec.label or spec.name.replace("_", " ").capitalize()


class GeneratePanel(QWidget):
    generate_requested = Signal()
    generator_changed = Signal(str)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.memory = DeferredSettings(settings, parent=self)  # remembered params: written later, off the GUI thread
        self.generators: dict[str, GeneratorEntry] = {}
        self.editors: dict[str, ParamEditor] = {}
        self.models: ModelsReport | None = None  # until the engine answers
        self._current: str | None = None
        self._restoring = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.picker = QComboBox()
        self.picker.setObjectName("generatorPicker")
        self.picker.setToolTip("Which generator the settings below are for")
        self._picker_model = QStandardItemModel(self.picker)
        self.picker.setModel(self._picker_model)
        self.picker.currentIndexChanged.connect(self._picked)
        layout.addWidget(self.picker)
        self.description = QLabel("Waiting for the engine…")
        self.description.setObjectName("muted")
        self.description.setWordWrap(True)
        layout.addWidget(self.description)

        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        # The form fits the panel's width (fields shrink, labels wrap); only vertical scrolling.
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.form_host = QWidget()
        self.form_layout = QVBoxLayout(self.form_host)
        self.form_layout.setContentsMargins(0, 0, 0, 0)
        self.scroll.setWidget(self.form_host)
        layout.addWidget(self.scroll, 1)

        bottom = QFormLayout()
        self.seed = SeedEditor({"name": "seed", "type": "seed", "default": None, "help": "The job's random seed."}, lockable=True)
        self.seed.setObjectName("jobSeed")
        bottom.addRow("Seed", self.seed)
        self.batch = QSpinBox()
        self.batch.setObjectName("batchCount")
        self.batch.setRange(1, 64)
        self.batch.setToolTip("How many jobs to queue (seeds seed, seed+1, …)")
        bottom.addRow("Batch count", self.batch)
        layout.addLayout(bottom)
        buttons = QHBoxLayout()
        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("primary")
        self.generate_button.setToolTip("Generate (Ctrl+Enter)")
        self.generate_button.clicked.connect(self.generate_requested)
        self.generate_button.setEnabled(False)
        buttons.addWidget(self.generate_button, 1)
        layout.addLayout(buttons)
        self.seed.changed.connect(self._remember)
        self.batch.valueChanged.connect(lambda _v: self._remember())

    # ------------------------------------------------------------------ catalogue

    def set_catalogue(self, catalogue: Catalogue) -> None:
        generators = [g for g in catalogue.generators if g.state not in ("disabled", "failed")]
        self.generators = {g.id: g for g in generators}
        keep = self._current or str(self.settings.value("generate/current", "") or "")
        self.picker.blockSignals(True)
        self._picker_model.clear()
        by_kind: dict[str, list[GeneratorEntry]] = {}
        for generator in generators:
            by_kind.setdefault(generator.kind, []).append(generator)
        for kind in sorted(by_kind, key=lambda k: KIND_ORDER.index(k) if k in KIND_ORDER else 99):
            header = QStandardItem(f"— {KIND_TITLES.get(kind, kind.title())} —")
            header.setFlags(Qt.ItemFlag.NoItemFlags)
            self._picker_model.appendRow(header)
            for generator in sorted(by_kind[kind], key=lambda g: (not ready_without_a_model(g), g.name or g.id)):
                item = QStandardItem("   " + (generator.name or generator.id))
                item.setData(generator.id, Qt.ItemDataRole.UserRole)
                item.setToolTip(generator.description)
                self._picker_model.appendRow(item)
        self.picker.blockSignals(False)
        target = keep if keep in self.generators else _first_pick(generators)
        self._current = None
        if target:
            self.select_generator(target)
        else:
            self.description.setText("No generators are available. Check the plugin manager.")
        self.generate_button.setEnabled(bool(self.generators))

    def set_models(self, models: ModelsReport) -> None:
        self.models = models
        for editor in self.editors.values():
            if isinstance(editor, ModelEditor):
                editor.set_models(self.models)

    def select_generator(self, generator_id: str) -> bool:
        for row in range(self._picker_model.rowCount()):
            if self._picker_model.item(row).data(Qt.ItemDataRole.UserRole) == generator_id:
                if self.picker.currentIndex() == row and self._current == generator_id:
                    return True
                self.picker.setCurrentIndex(row)
                if self._current != generator_id:
                    self._picked(row)
                return True
        return False

    def _picked(self, row: int) -> None:
        item = self._picker_model.item(row) if row >= 0 else None
        generator_id = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if not generator_id or generator_id == self._current:
            return
        self._remember()
        self._current = generator_id
        self.settings.setValue("generate/current", generator_id)
        self.settings.setValue(f"generate/last/{self.generators[generator_id].get('kind', 'other')}", generator_id)
        self._build_form(self.generators[generator_id])
        self._recall()
        self.generator_changed.emit(generator_id)

    def _build_form(self, generator: GeneratorEntry) -> None:
        self.editors = {}
        while self.form_layout.count():
            child = self.form_layout.takeAt(0)
            widget = child.widget()
            if widget is not None:
                widget.hide()
                widget.setParent(None)
                widget.deleteLater()
        self.editors = {}
        self.description.setText(generator.description)
        main = QFormLayout()
        main.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        advanced = QFormLayout()
        for spec in generator.params:
            editor = editor_for(spec)
            if isinstance(editor, ModelEditor) and self.models is not None:
                editor.set_models(self.models)
            editor.changed.connect(self._remember)
            self.editors[spec.name] = editor
            label = QLabel(_param_title(spec))
            label.setToolTip(spec.help)
            accessibility.explain_editor(editor, _param_title(spec), spec.help)
            (advanced if spec.get("advanced") else main).addRow(label, editor)
        main.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        advanced.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        host = QWidget()
        host.setLayout(main)
        self.form_layout.addWidget(host)
        if advanced.rowCount():
            box = QGroupBox("Advanced")
            box.setObjectName("advancedParams")
            box.setCheckable(True)
            box.setChecked(False)
            inner = QWidget()
            inner.setLayout(advanced)
            inner.setVisible(False)
            wrapper = QVBoxLayout(box)
            wrapper.addWidget(inner)
            box.setFlat(True)  # collapsed: just the title, no empty frame
            box.toggled.connect(inner.setVisible)
            box.toggled.connect(lambda shown, box=box: box.setFlat(not shown))
            self.form_layout.addWidget(box)
        self.form_layout.addStretch(1)
        narrow_fields(self.form_host)

    # ------------------------------------------------------------------ values

    @property
    def current(self) -> GeneratorEntry | None:
        return self.generators.get(self._current) if self._current else None

    def values(self) -> dict[str, Any]:
        return {name: editor.value() for name, editor in self.editors.items()}

    def request(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """(params for the engine, input sources to resolve into uploads)."""
        params: dict[str, Any] = {}
        inputs: dict[str, dict[str, Any]] = {}
        for name, editor in self.editors.items():
            value = editor.value()
            if isinstance(editor, InputEditor):
                if value is not None:
                    inputs[name] = value
                continue
            if value is None and editor.spec.get("optional"):
                continue
            params[name] = value
        return params, inputs

    def take_seeds(self, count: int) -> list[int]:
        """Seeds for ``count`` jobs: the locked seed and its successors, or a fresh one."""
        if not self.seed.locked:
            self.seed.roll()
        first = self.seed.value()
        return [(first + offset) % (SEED_MAX + 1) for offset in range(count)]

    def set_values(self, generator_id: str, params: dict[str, Any], seed: int | None = None) -> bool:
        """Restore a generation's parameters (from history or a PNG) into the form."""
        if generator_id not in self.generators or not self.select_generator(generator_id):
            return False
        self._restoring = True
        try:
            for name, value in (params or {}).items():
                editor = self.editors.get(name)
                if editor is not None and not isinstance(editor, InputEditor):
                    editor.set_value(value)
            if seed is not None:
                self.seed.set_value(seed)
                self.seed.set_locked(True)
        finally:
            self._restoring = False
        self._remember()
        return True

    def set_inputs(self, sources: dict[str, dict[str, Any] | None]) -> None:
        """Point input editors of the current generator at a source (``None``: no input)."""
        for name, source in sources.items():
            editor = self.editors.get(name)
            if isinstance(editor, InputEditor):
                editor.set_value(source)

    def last_of_kind(self, kind: str) -> str:
        """The generator of this kind the user last picked ("" when none)."""
        return str(self.settings.value(f"generate/last/{kind}", "") or "")

    def params_of(self, generator_id: str) -> list[ParamEntry]:
        """The generator's params as the catalogue lists them (none for an unknown id)."""
        generator = self.generators.get(generator_id)
        return generator.params if generator is not None else []

    def param_names(self, generator_id: str) -> set[str]:
        return {spec.name for spec in self.params_of(generator_id)}

    def input_names(self, generator_id: str) -> list[str]:
        """The generator's input params (images, masks, melodies, audio)."""
        return [spec.name for spec in self.params_of(generator_id) if spec.type in INPUT_TYPES]

    def missing_model_kind(self, generator_id: str) -> str:
        """The model kind the generator needs but has none of ("" when it is ready).

        The generator's first ``model`` param is its main model (later ones are add-ons such
        as a LoRA); with a ``model_kind`` it needs either a found model of that kind or a
        value the user set (a path, say).
        """
        main = next((spec for spec in self.params_of(generator_id) if spec.type == "model"), None)
        kind = str(main.get("model_kind") or "") if main is not None else ""
        if main is None or not kind or self.models_of_kind(kind):
            return ""
        values = self.request()[0] if generator_id == self._current else self.stored_values(generator_id)
        return "" if values.get(main.name) else kind

    def stored_values(self, generator_id: str) -> dict[str, Any]:
        """A generator's parameters as its form would give them, without switching to it:
        the manifest defaults, then what the user last set (inputs left out)."""
        if generator_id == self._current:
            return self.request()[0]
        values: dict[str, Any] = {}
        for spec in self.params_of(generator_id):
            if spec.type in INPUT_TYPES:
                continue
            if spec.default is not None or not spec.optional:
                values[spec.name] = spec.default
        raw = self.memory.value(f"generate/params/{generator_id}", "")
        try:
            remembered = (json.loads(raw) if raw else {}).get("params") or {}
        except (TypeError, ValueError, AttributeError):
            remembered = {}
        values.update({name: value for name, value in remembered.items() if name in values or name in self.param_names(generator_id)})
        return {name: value for name, value in values.items() if value is not None}

    def models_of_kind(self, kind: str) -> list[ModelEntry]:
        """Models the engine found that a ``model_kind = kind`` picker offers."""
        return [entry for entry in self.models.found if model_kind(entry) == kind] if self.models is not None else []

    def set_prompt(self, text: str) -> bool:
        editor = self.editors.get("prompt")
        if editor is None:
            editor = next((e for e in self.editors.values() if e.spec.get("type") == "text"), None)
        if editor is None:
            return False
        editor.set_value(text)
        return True

    # ------------------------------------------------------------------ memory

    def _remember(self) -> None:
        if self._current is None or self._restoring:
            return
        values = {name: value for name, value in self.values().items() if not isinstance(self.editors[name], InputEditor)}
        payload = {"params": values, "seed": self.seed.value(), "locked": self.seed.locked, "batch": self.batch.value()}
        self.memory.set_value(f"generate/params/{self._current}", json.dumps(payload))

    def _recall(self) -> None:
        raw = self.memory.value(f"generate/params/{self._current}", "")
        try:
            payload = json.loads(raw) if raw else {}
        except (TypeError, ValueError):
            payload = {}
        self._restoring = True
        try:
            for name, value in (payload.get("params") or {}).items():
                editor = self.editors.get(name)
                if editor is not None:
                    editor.set_value(value)
            if "seed" in payload:
                self.seed.set_value(payload["seed"])
            self.seed.set_locked(bool(payload.get("locked", False)))
            self.batch.setValue(int(payload.get("batch", 1) or 1))
        finally:
            self._restoring = False
