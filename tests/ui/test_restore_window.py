"""The window's restore: drop, history Restore and "Use these settings" share one path, switch
to the generator that fills the file's role by themselves, and say what was not restored."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from studio.core.history import HistoryNode
from studio.core.params import SEED_MAX

from .conftest import PATTERNS_CATALOGUE, png_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from tool_files import A1111_TEXT, a1111_image  # noqa: E402

_INPUTS = {name: name for name in ("prompt", "negative_prompt", "steps", "guidance", "width", "height", "clip_skip", "model", "batch_size")}
PAINTER = {
    "id": "someone.painter",
    "kind": "image",
    "name": "Painter",
    "description": "",
    "plugin": "someone.painter",
    "params": [
        {"name": "prompt", "type": "text", "default": "", "multiline": True},
        {"name": "negative_prompt", "type": "text", "default": ""},
        {"name": "steps", "type": "int", "default": 20, "min": 1, "max": 150},
        {"name": "guidance", "type": "float", "default": 7.0, "min": 0.0, "max": 30.0, "step": 0.5},
        {"name": "width", "type": "int", "default": 512, "min": 0, "max": 4096, "step": 8},
        {"name": "height", "type": "int", "default": 512, "min": 0, "max": 4096, "step": 8},
        {"name": "scheduler", "type": "choice", "default": "Euler", "choices": ["Euler", "DPM++ 2M"]},
        {"name": "schedule", "type": "choice", "default": "Automatic", "choices": ["Automatic", "Karras"]},
        {"name": "clip_skip", "type": "int", "default": 1, "min": 1, "max": 12},
        {"name": "batch_size", "type": "int", "default": 1, "min": 1, "max": 16},
    ],
    "roles": [{"role": "image.from_text", "inputs": {**_INPUTS, "sampler": "scheduler", "schedule": "schedule"}, "fixed": {}}],
}


def with_painter() -> dict[str, Any]:
    catalogue = copy.deepcopy(PATTERNS_CATALOGUE)
    catalogue["generators"].append(PAINTER)
    return catalogue


def test_dropped_a1111_png_restores_into_the_text_to_image_generator_and_says_what_was_left_out(make_window: Any, tmp_path: Path) -> None:
    window = make_window(catalogue=with_painter())
    window.generate_panel.select_generator("studio.patterns")  # a fresh window shows Patterns
    window.import_images([str(a1111_image(tmp_path / "a1111.png", A1111_TEXT))])
    panel = window.generate_panel
    assert panel.current["id"] == "someone.painter"
    assert panel.editors["guidance"].value() == 6.5
    assert (panel.editors["width"].value(), panel.editors["height"].value()) == (512, 768)
    assert (panel.editors["scheduler"].value(), panel.editors["schedule"].value()) == ("DPM++ 2M", "Karras")
    assert panel.seed.value() == 3000000000 and panel.seed.locked
    message = window.statusBar().currentMessage()
    assert "automatic1111" in message and "not restored" in message and "Hires upscale" in message


def test_a1111_jpeg_drop_restores_too(make_window: Any, tmp_path: Path) -> None:
    window = make_window(catalogue=with_painter())
    window.import_images([str(a1111_image(tmp_path / "a1111.jpg", A1111_TEXT))])
    assert window.generate_panel.current["id"] == "someone.painter"
    assert window.generate_panel.seed.value() == 3000000000


def test_without_a_generator_for_the_role_nothing_is_restored_and_the_reason_is_shown(make_window: Any, tmp_path: Path) -> None:
    window = make_window(catalogue=PATTERNS_CATALOGUE)
    window.generate_panel.select_generator("studio.patterns")
    before = window.generate_panel.editors["width"].value()
    window.import_images([str(a1111_image(tmp_path / "a1111.png", A1111_TEXT))])
    assert window.generate_panel.current["id"] == "studio.patterns"
    assert window.generate_panel.editors["width"].value() == before
    message = window.statusBar().currentMessage()
    assert message.startswith("Cannot restore") and "image.from_text" in message


def test_use_these_settings_on_a_layer(make_window: Any) -> None:
    window = make_window(catalogue=PATTERNS_CATALOGUE)
    record = {"generator": "studio.patterns", "params": {"width": 48, "height": 32, "palette": "pastel"}, "seed": SEED_MAX}
    data = png_bytes(16, 16, parameters={"Seed": SEED_MAX}, record=record)
    layer = window.canvas.add_image(data, name="made", blob=window.blobs.put(data, "image", "image/png", {}))
    assert window.canvas.active_layer() is layer
    window.generate_panel.select_generator("test.writer")
    window.canvas.settings_action.trigger()
    panel = window.generate_panel
    assert panel.current["id"] == "studio.patterns" and panel.editors["width"].value() == 48
    assert panel.seed.value() == SEED_MAX


def test_history_restore_of_a_batch_item_uses_its_own_seed(make_window: Any) -> None:
    window = make_window(catalogue=with_painter())
    node = HistoryNode(generator="someone.painter", params={"prompt": "a kite", "batch_size": 1, "steps": 12}, seed=2**40 + 1)
    assert window.restore_node(node)
    assert window.generate_panel.current["id"] == "someone.painter"
    assert window.generate_panel.seed.value() == 2**40 + 1 and window.generate_panel.editors["steps"].value() == 12
    assert "Restored" in window.statusBar().currentMessage()


def test_seed_field_holds_64_bit_seeds_and_refuses_more(make_window: Any) -> None:
    window = make_window(catalogue=PATTERNS_CATALOGUE)
    seed = window.generate_panel.seed
    seed.set_value(SEED_MAX)
    assert seed.value() == SEED_MAX and seed.edit.text() == str(SEED_MAX)
    seed.set_value(SEED_MAX + 1)  # not a seed: ignored
    assert seed.value() == SEED_MAX
    seed.edit.setText("")
    seed.edit.insert(str(SEED_MAX + 1))  # the validator refuses what would overflow
    assert seed.edit.text() != str(SEED_MAX + 1)
    seed.set_locked(True)
    assert window.generate_panel.take_seeds(2) == [SEED_MAX, 0]


def test_preferences_opt_in_to_model_paths_in_files(make_window: Any, studio_home: Path) -> None:
    from studio.core.paths import HomeLayout
    from studio.core.settings import load_settings
    from studio.engine.config import EngineConfig
    from studio.ui.dialogs import QuietPrompter
    from studio.ui.preferences import PreferencesDialog

    window = make_window()
    dialog = PreferencesDialog(studio_home, QuietPrompter(), window)
    assert not dialog.model_paths.isChecked()  # names and hashes only, by default
    dialog.model_paths.setChecked(True)
    assert dialog.apply()  # the engine reads it at start: a restart is offered
    assert load_settings(HomeLayout(studio_home)).embed_model_paths
    assert EngineConfig.from_environment(home=studio_home).embed_model_paths
