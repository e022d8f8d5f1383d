"""The Generate panel is built from the manifest's parameter schema alone."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QGroupBox

from studio.engine.protocol import Catalogue, ModelsReport
from studio.ui.generate_panel import GeneratePanel
from studio.ui.main_window import ui_settings
from studio.ui.param_widgets import BoolEditor, ChoiceEditor, InputEditor, ModelEditor, NumberEditor, SeedEditor, TextEditor

EVERY_TYPE = {
    "generators": [
        {
            "id": "test.everything",
            "kind": "image",
            "name": "Everything",
            "description": "one of each parameter type",
            "params": [
                {"name": "prompt", "type": "text", "default": "a fox", "multiline": True},
                {"name": "title", "type": "text", "default": "", "optional": True},
                {"name": "steps", "type": "int", "default": 20, "min": 1, "max": 150},
                {"name": "count", "type": "int", "default": 3},
                {"name": "strength", "type": "float", "default": 0.75, "min": 0.0, "max": 1.0, "step": 0.05},
                {"name": "tiling", "type": "bool", "default": True},
                {"name": "sampler", "type": "choice", "default": "euler", "choices": ["euler", "ddim", "dpm"]},
                {"name": "variation_seed", "type": "seed", "default": 7},
                {"name": "init", "type": "image", "optional": True},
                {"name": "mask", "type": "mask", "optional": True},
                {"name": "prime", "type": "melody", "optional": True},
                {"name": "clip", "type": "audio", "optional": True},
                {"name": "model", "type": "model", "model_kind": "diffusion", "optional": True},
                {"name": "eta", "type": "float", "default": 0.0, "min": 0.0, "max": 1.0, "advanced": True},
            ],
        },
        {"id": "test.other", "kind": "text", "name": "Other", "params": [{"name": "prompt", "type": "text", "default": ""}]},
    ]
}

MODELS = {
    "found": [
        {"path": "/models/sd15", "name": "sd15", "format": "diffusers", "kind": "diffusion"},
        {"path": "/models/tiny-llm", "name": "tiny-llm", "format": "transformers", "kind": "llm"},
    ]
}


def _panel(qtbot: Any, home: Path) -> GeneratePanel:
    panel = GeneratePanel(ui_settings(home))
    qtbot.addWidget(panel)
    panel.set_models(ModelsReport.model_validate(MODELS))
    panel.set_catalogue(Catalogue.model_validate(EVERY_TYPE))
    return panel


def test_panel_builds_one_editor_per_manifest_param(qtbot: Any, studio_home: Path) -> None:
    modules_before = set(sys.modules)  # other tests in this process may have loaded torch
    panel = _panel(qtbot, studio_home)
    assert panel.current["id"] == "test.everything"
    editors = panel.editors
    assert isinstance(editors["prompt"], TextEditor) and editors["prompt"].multiline
    assert isinstance(editors["steps"], NumberEditor) and editors["steps"].slider is not None
    assert isinstance(editors["count"], NumberEditor) and editors["count"].slider is None  # no range: entry only
    assert isinstance(editors["strength"], NumberEditor) and editors["strength"].value() == 0.75
    assert isinstance(editors["tiling"], BoolEditor) and editors["tiling"].value() is True
    assert isinstance(editors["sampler"], ChoiceEditor) and editors["sampler"].combo.count() == 3
    assert isinstance(editors["variation_seed"], SeedEditor) and editors["variation_seed"].value() == 7
    for name in ("init", "mask", "prime", "clip"):
        assert isinstance(editors[name], InputEditor)
    assert isinstance(editors["model"], ModelEditor)
    # Model pickers show only the models of their kind, fed by GET /models.
    model_items = [editors["model"].combo.itemData(i) for i in range(editors["model"].combo.count())]
    assert "/models/sd15" in model_items and "/models/tiny-llm" not in model_items
    # Advanced parameters sit in a collapsed group.
    advanced = panel.findChild(QGroupBox, "advancedParams")
    assert advanced is not None and not advanced.isChecked()
    # The request leaves out unset optional inputs and carries the typed values.
    params, inputs = panel.request()
    assert params["steps"] == 20 and params["sampler"] == "euler" and params["tiling"] is True
    assert "title" not in params and inputs == {}
    # No plugin code was imported to build it.
    new_modules = set(sys.modules) - modules_before
    assert not any(name.startswith(("studio_patterns", "torch", "diffusers")) for name in new_modules)


def test_slider_and_entry_stay_in_step(qtbot: Any, studio_home: Path) -> None:
    panel = _panel(qtbot, studio_home)
    steps = panel.editors["steps"]
    steps.slider.setValue(steps.slider.maximum())
    assert steps.value() == 150
    steps.set_value(1)
    assert steps.slider.value() == 0


def test_seed_lock_keeps_the_seed_and_batch_counts_up(qtbot: Any, studio_home: Path) -> None:
    panel = _panel(qtbot, studio_home)
    panel.seed.set_value(41)
    panel.seed.set_locked(True)
    assert panel.take_seeds(3) == [41, 42, 43]
    panel.seed.set_locked(False)
    fresh = panel.take_seeds(1)
    assert panel.seed.value() == fresh[0]


def test_params_are_remembered_per_generator(qtbot: Any, studio_home: Path) -> None:
    panel = _panel(qtbot, studio_home)
    panel.editors["steps"].set_value(42)
    panel.editors["prompt"].set_value("a heron")
    panel.select_generator("test.other")
    panel.editors["prompt"].set_value("a poem")
    panel.select_generator("test.everything")
    assert panel.editors["steps"].value() == 42
    assert panel.editors["prompt"].value() == "a heron"
    # And across runs (QSettings under STUDIO_HOME).
    again = _panel(qtbot, studio_home)
    again.select_generator("test.everything")
    assert again.editors["steps"].value() == 42
    assert (studio_home / "ui-settings.ini").exists()


def test_restoring_values_selects_the_generator_and_locks_the_seed(qtbot: Any, studio_home: Path) -> None:
    panel = _panel(qtbot, studio_home)
    panel.select_generator("test.other")
    assert panel.set_values("test.everything", {"steps": 9, "sampler": "ddim"}, seed=99)
    assert panel.current["id"] == "test.everything"
    assert panel.editors["steps"].value() == 9 and panel.editors["sampler"].value() == "ddim"
    assert panel.seed.value() == 99 and panel.seed.locked
    assert not panel.set_values("no.such.generator", {}, None)
