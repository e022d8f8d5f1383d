"""Accessibility basics (issue 13): every control says what it is (a tooltip or an accessible
name), the main widgets have accessible names, Tab reaches the controls of every dock, and the
canvas, timeline, History and Jobs lists take the keyboard focus and work with the keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QSlider, QWidget

from studio.ui.accessibility import unexplained
from studio.ui.dialogs import QuietPrompter
from studio.ui.preferences import PreferencesDialog
from tests.ui.conftest import png_bytes
from tests.ui.fake_engine import attach_fake_engine

CONTROLS = (QAbstractButton, QAbstractSpinBox, QComboBox, QSlider, QLineEdit)


def _unexplained(root: QWidget) -> list[str]:
    """Controls under ``root`` with neither a tooltip nor an accessible name."""
    missing = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, CONTROLS) or isinstance(widget.parent(), CONTROLS):
            continue  # a spin box's own line edit is the spin box
        if widget.toolTip().strip() or widget.accessibleName().strip():
            continue
        text = widget.text() if isinstance(widget, (QAbstractButton, QLineEdit)) else ""
        parent = widget.parentWidget()
        missing.append(f"{type(widget).__name__} {widget.objectName()!r} {text!r} in {type(parent).__name__} {parent.objectName()!r}")
    return missing


@pytest.fixture(scope="module")
def window(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One window for the module (building one takes seconds); the tests keep out of each other's way."""
    from studio.ui.app import make_application
    from studio.ui.main_window import MainWindow

    home = tmp_path_factory.mktemp("a11y-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_HOME", str(home))
        make_application()
        window = MainWindow(home, prompter=QuietPrompter())
        window.show()
        window.start(None, engine=False)
        attach_fake_engine(window)
        window.canvas.add_image(png_bytes(64, 48), name="picture")
        QApplication.processEvents()
        yield window
        window.session.close(discard_untitled=True)
        window.link.close()
        window.close()
        window.deleteLater()


@pytest.fixture
def studio_home(window: Any) -> Path:
    return Path(window.home)


def test_every_control_of_the_window_its_docks_and_every_generator_form_is_explained(window: Any) -> None:
    problems = _unexplained(window)
    panel = window.generate_panel
    for generator_id in list(panel.generators):
        panel.select_generator(generator_id)
        problems += [f"{generator_id}: {problem}" for problem in _unexplained(panel)]
    assert sorted(set(problems)) == []


def test_every_control_of_the_preferences_dialog_is_explained(window: Any, studio_home: Any) -> None:
    dialog = PreferencesDialog(studio_home, QuietPrompter(), window)
    try:
        assert _unexplained(dialog) == []
    finally:
        dialog.deleteLater()


def test_the_main_widgets_have_accessible_names(window: Any) -> None:
    widgets = {
        "canvas": window.canvas.view,
        "layers": window.canvas.layer_list,
        "timeline": window.timeline.view,
        "piano roll": window.timeline.roll,
        "history": window.history_panel,
        "jobs": window.jobs_panel,
        "generate": window.generate_panel,
        "text": window.text_panel,
    }
    assert {name: widget.accessibleName() for name, widget in widgets.items() if not widget.accessibleName()} == {}


def _tab_chain(window: Any) -> list[QWidget]:
    """The widgets Tab stops at, in order, once round the window."""
    chain, widget = [], window.nextInFocusChain()
    while widget is not window and len(chain) < 2000:
        if widget.focusPolicy() & Qt.FocusPolicy.TabFocus and widget.isVisible() and widget.isEnabled():
            chain.append(widget)
        widget = widget.nextInFocusChain()
    return chain


def test_tab_reaches_every_open_dock_and_the_canvas_timeline_history_and_jobs(window: Any) -> None:
    chain = _tab_chain(window)
    for key, dock in window.docks.items():
        if dock.isVisible() and not dock.visibleRegion().isEmpty():
            assert any(dock.isAncestorOf(widget) for widget in chain), f"Tab never reaches the {key} panel"
    for widget in (window.canvas.view, window.canvas.layer_list, window.history_panel.tree, window.jobs_panel.list):
        assert widget in chain, widget.accessibleName()
    window.workspaces.switch("music")  # the timeline's panel is open there
    try:
        QApplication.processEvents()
        assert window.timeline.view in _tab_chain(window) and window.timeline.roll in _tab_chain(window)
    finally:
        window.workspaces.switch("image")


def test_canvas_keys_pick_nudge_and_delete_the_active_layer(window: Any, qtbot: Any) -> None:
    canvas = window.canvas
    second = canvas.add_image(png_bytes(32, 32, (0, 0, 255)), name="second")
    first = next(layer for layer in canvas.layers.values() if layer is not second)
    view = canvas.view
    view.setFocus()
    assert canvas.active_layer() is second
    qtbot.keyClick(view, Qt.Key.Key_PageDown)
    assert canvas.active_layer() is first
    x, y = first.pos().x(), first.pos().y()
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert (first.pos().x(), first.pos().y()) == (x + 1, y + 10)
    window.undo.undo()
    assert (first.pos().x(), first.pos().y()) == (x + 1, y)
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert first.layer_id not in canvas.layers and second.layer_id in canvas.layers
    canvas.layer_list.setFocus()
    canvas._refresh_list(select=second.layer_id)
    qtbot.keyClick(canvas.layer_list, Qt.Key.Key_Delete)
    assert second.layer_id not in canvas.layers


def test_timeline_arrows_walk_the_clips_and_enter_opens_the_notes(window: Any, qtbot: Any) -> None:
    from studio.core.melody import Melody, Note

    timeline = window.timeline
    tune = Melody(notes=[Note(60 + i, float(i), 1.0, 90) for i in range(4)], tempo=100.0)
    first = timeline.add_melody(tune, name="a", start=0.0)
    second = timeline.add_melody(tune, name="b", start=8.0)
    timeline.select_clip(first)
    view = timeline.view
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert timeline.selected == second
    qtbot.keyClick(view, Qt.Key.Key_Left)
    assert timeline.selected == first
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert timeline.roll.hasFocus() or QApplication.focusWidget() is timeline.roll


def test_history_enter_sends_and_jobs_delete_cancels(window: Any, qtbot: Any) -> None:
    from tests.ui.fake_engine import finish_job

    client = window.link.client
    window.generate_panel.select_generator("studio.patterns")
    job = window.generate()[0]
    qtbot.waitUntil(lambda: bool(job.job_id), timeout=10000)
    jobs = window.jobs_panel
    jobs.list.setFocus()
    jobs.list.setCurrentRow(0)
    with qtbot.waitSignal(jobs.cancel_requested, timeout=2000) as cancelled:
        qtbot.keyClick(jobs.list, Qt.Key.Key_Delete)
    assert cancelled.args == [job.ticket]
    assert [type(widget).__name__ for widget in unexplained(jobs)] == []  # a job row's own buttons too
    second = window.generate()[0]
    qtbot.waitUntil(lambda: bool(second.job_id), timeout=10000)
    with qtbot.waitSignal(window.generation_landed, timeout=10000):
        finish_job(window, client, second.job_id, [("image", "image/png", png_bytes(32, 32), {})])
    tree = window.history_panel.tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() > 0, timeout=5000)
    tree.setFocus()
    tree.setCurrentItem(tree.topLevelItem(0))
    with qtbot.waitSignal(window.history_panel.send_requested, timeout=2000):
        qtbot.keyClick(tree, Qt.Key.Key_Return)
