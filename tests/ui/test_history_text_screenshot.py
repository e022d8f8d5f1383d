"""History actions, the text panel's streaming, the Plugins action and the off-screen screenshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from studio.core.history import HistoryNode
from studio.ui.dialogs import QuietPrompter
from studio.ui.jobs import DONE
from tests.ui.conftest import PATTERNS_CATALOGUE, png_bytes


def _node(window: Any, seed: int, generator: str = "studio.patterns", parents: list[str] | None = None) -> HistoryNode:
    blob = window.session.store.put_blob(png_bytes(20 + seed, 20), "image", "image/png", {})
    return window.session.history.add(
        HistoryNode(
            generator=generator,
            params={"width": 64, "height": 48, "palette": "pastel"},
            seed=seed,
            outputs=[blob],
            kind="image",
            parents=parents or [],
        )
    )


def test_history_tree_star_filter_delete_and_undo(make_window: Any) -> None:
    window = make_window(catalogue=PATTERNS_CATALOGUE)
    panel = window.history_panel
    root = _node(window, 1)
    child = _node(window, 2, parents=[root.id])
    _node(window, 3, generator="test.writer")
    assert panel.tree.topLevelItemCount() == 2  # the child hangs under its parent
    assert panel.tree.topLevelItem(0).childCount() == 1
    assert not panel.tree.topLevelItem(0).icon(0).isNull()  # a thumbnail
    panel.select_node(child.id)
    panel.toggle_star()
    assert window.session.history.get(child.id).starred
    panel.starred_only.setChecked(True)
    assert panel.tree.topLevelItemCount() == 1
    panel.starred_only.setChecked(False)
    panel.generator_filter.setCurrentIndex(panel.generator_filter.findData("test.writer"))
    assert panel.tree.topLevelItemCount() == 1
    panel.generator_filter.setCurrentIndex(0)
    panel.select_node(root.id)
    panel.delete_selected()
    assert root.id not in window.session.history
    assert window.session.history.get(child.id).parents == []  # the child closes over the gap
    window.undo.undo()
    assert root.id in window.session.history
    assert window.session.history.get(child.id).parents == [root.id]


def test_restore_parameters_and_compare_from_history(make_window: Any) -> None:
    window = make_window(catalogue=PATTERNS_CATALOGUE)
    first, second = _node(window, 11), _node(window, 12)
    window.generate_panel.select_generator("test.writer")
    assert window.restore_node(first)
    assert window.generate_panel.current["id"] == "studio.patterns"
    assert window.generate_panel.editors["palette"].value() == "pastel"
    assert window.generate_panel.seed.value() == 11
    window.history_panel.select_node(first.id)
    item = window.history_panel.tree.topLevelItem(1)
    item.setSelected(True)
    dialog = window.history_panel.compare_selected()
    assert dialog is not None and "seed" in dialog.differences and "params.width" not in dialog.differences
    dialog.close()
    # Send to canvas puts the output there.
    window.send_node(second)
    assert [layer.node for layer in window.canvas.layers.values()] == [second.id]


def test_text_panel_receives_streamed_text_and_sends_a_prompt(make_window: Any) -> None:
    window = make_window(catalogue=PATTERNS_CATALOGUE)
    window.generate_panel.select_generator("test.writer")
    window.text_panel.set_text("Intro")
    tracker = window.tracker
    job = tracker.new_job("test.writer", "Writer", "text", {"prompt": "go"}, 1)
    tracker.on_event({"type": "queued", "job": "j1"})  # before the submit call returned
    tracker.accepted(job.ticket, "j1")
    for delta in ("Once ", "upon ", "a time"):
        tracker.on_event({"type": "preview", "job": "j1", "text": delta})
    assert window.text_panel.text() == "Intro\n\nOnce upon a time"
    tracker.on_event({"type": "done", "job": "j1", "outputs": [], "artifacts": []})
    assert job.state == DONE
    editor = window.text_panel.editor
    cursor = editor.textCursor()
    cursor.setPosition(len("Intro\n\n"))
    cursor.setPosition(len("Intro\n\nOnce upon"), cursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    window.text_panel.prompt_button.click()
    assert window.generate_panel.current["id"] == "test.writer"
    assert window.generate_panel.editors["prompt"].value() == "Once upon"


def test_plugins_action_says_when_the_manager_is_missing(make_window: Any, monkeypatch: Any) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "studio.ui.plugin_manager", None)  # import fails as if not written yet
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)
    window.show_plugins()
    assert prompter.infos and "plugin manager" in prompter.infos[-1][1]


def test_screenshot_renders_the_window_with_its_panels(make_window: Any, tmp_path: Path, engine_home: Path) -> None:
    from studio.ui.screenshot import take_screenshot

    project = tmp_path / "shot.studio"
    window = make_window(prompter=QuietPrompter(paths=[project]))
    window.canvas.add_image(png_bytes(120, 90, (250, 200, 20)), name="yellow")
    assert window.save()
    window.close()
    out = take_screenshot(tmp_path / "shot.png", project=project, size=(1200, 800), engine_timeout=0.0)
    image = Image.open(out).convert("RGB")
    assert image.size == (1200, 800)
    colours = image.getcolors(1_000_000)
    assert colours is not None and len(colours) > 40  # panels, text and widgets, not a blank window
    pixels = {colour for _count, colour in colours}
    assert (250, 200, 20) in pixels  # the project's layer is on the canvas
    assert any(abs(r - 0x4F) < 12 and abs(g - 0x8C) < 12 and b > 230 for r, g, b in pixels)  # the Generate button


def test_open_recent_lists_whole_paths_after_each_save(make_window: Any, tmp_path: Path) -> None:
    window = make_window()
    first, second = tmp_path / "first.studio", tmp_path / "second.studio"
    assert window.save_as(first)
    assert window.save_as(second)
    window.close()
    reopened = make_window()
    assert [action.text() for action in reopened.recent_menu.actions()] == [str(second), str(first)]
    assert reopened.recent_projects() == [str(second), str(first)]
