"""A first run that guides (issue 13, defect 3): an empty-state panel for a generator without
its model, the always-scanned model folder shown in Preferences, a Help menu with version,
docs and logs, errors shown in full, and an "automatic" model that reads as a choice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction

from studio import __version__
from studio.core.paths import HomeLayout
from studio.core.settings import load_settings
from studio.engine.protocol import ModelsReport
from studio.ui.dialogs import QuietPrompter
from studio.ui.first_run import MODELS_PAGE
from studio.ui.message_bar import first_sentence
from studio.ui.param_widgets import AUTOMATIC_MODEL, ModelEditor
from tests.ui.conftest import wait_for
from tests.ui.fake_engine import attach_fake_engine, first_party_catalogue

SD_MODEL = {"name": "sd15", "path": "/models/sd15.safetensors", "format": "safetensors", "kind": "diffusion", "bytes": 1, "detail": ""}


def _sd_panel(window: Any, found: list[dict[str, Any]]) -> Any:
    attach_fake_engine(window, first_party_catalogue("patterns", "diffusion"), found=found)
    window.generate_panel.select_generator("studio.diffusion")
    return window.model_guide.widget


def test_a_generator_without_its_model_shows_how_to_add_one(make_window: Any) -> None:
    window = make_window()
    empty = _sd_panel(window, [])
    assert empty.isVisible()
    assert empty.kind == "diffusion"  # read from the manifest's model param
    assert "Add a Stable Diffusion checkpoint" in empty.title.text()
    assert ".safetensors" in empty.body.text() and str(HomeLayout(window.home).models_dir) in empty.body.text()
    assert {b.text() for b in (empty.add_button, empty.open_button, empty.help_button)} == {
        "Add folder…",
        "Open models folder",
        "Where to find models",
    }
    assert MODELS_PAGE.exists()
    # The built-in generator needs nothing: no panel.
    window.generate_panel.select_generator("studio.patterns")
    assert not empty.isVisible()


def test_the_panel_goes_away_once_a_model_is_found(make_window: Any) -> None:
    window = make_window()
    empty = _sd_panel(window, [])
    assert empty.isVisible()
    window.link.models_changed.emit(ModelsReport.model_validate({"found": [SD_MODEL], "folders": [], "loaded": []}))
    assert not empty.isVisible()


def test_add_folder_in_the_panel_adds_a_model_folder(make_window: Any, tmp_path: Path) -> None:
    folder = tmp_path / "my models"
    folder.mkdir()
    window = make_window(prompter=QuietPrompter(folders=[folder]))
    empty = _sd_panel(window, [])
    empty.add_button.click()
    assert str(folder) in [str(Path(p)) for p in load_settings(HomeLayout(window.home)).model_folders]


def test_preferences_show_the_always_scanned_model_folder(make_window: Any) -> None:
    window = make_window()
    dialog = window.make_preferences()
    assert dialog.default_folder.text() == str(HomeLayout(window.home).models_dir)
    dialog.deleteLater()


def test_help_says_the_version_and_where_docs_and_logs_are(make_window: Any) -> None:
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)
    names = {action.objectName() for action in window.findChildren(QAction)}
    assert {"actionDocs", "actionModelsHelp", "actionLogs", "actionAbout"} <= names
    about = window.findChild(QAction, "actionAbout")
    about.trigger()
    text = " ".join(body for _title, body in prompter.infos)
    assert __version__ in text and str(HomeLayout(window.home).logs_dir) in text and "docs" in text.lower()


def test_a_long_error_is_shown_in_full_above_the_canvas(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    message = "no Stable Diffusion model found in the model folders (/a, /b). Add a .safetensors checkpoint " + "x" * 300
    window.show_error(message)
    wait_for(qtbot, lambda: window.message_bar.isVisible(), 2000)
    assert window.message_bar.text.text() == message and window.message_bar.text.wordWrap()
    assert window.statusBar().currentMessage() == first_sentence(message)
    assert len(window.statusBar().currentMessage()) < 130


def test_automatic_model_is_a_real_choice_not_a_grey_placeholder(qtbot: Any) -> None:
    editor = ModelEditor({"name": "model", "type": "model", "model_kind": "diffusion", "optional": True})
    qtbot.addWidget(editor)
    editor.set_models(ModelsReport.model_validate({"found": [SD_MODEL]}))
    assert editor.combo.currentText() == AUTOMATIC_MODEL
    assert editor.value() is None
    editor.set_value(SD_MODEL["path"])
    assert editor.value() == SD_MODEL["path"]
    editor.set_value(None)
    assert editor.value() is None and editor.combo.currentText() == AUTOMATIC_MODEL


def test_a_generator_that_ships_its_model_shows_no_empty_state(make_window: Any) -> None:
    window = make_window()
    attach_fake_engine(window, first_party_catalogue("patterns", "melody"), found=[])
    window.generate_panel.select_generator("studio.melody")
    assert not window.model_guide.widget.isVisible()
