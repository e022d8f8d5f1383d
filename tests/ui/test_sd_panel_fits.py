"""The Stable Diffusion panel fits its dock (issue 13, defect 4): after Refine (img2img), at
1280×720, no control of the form is cut off — Steps / CFG / Denoising / LoRA values and combo
arrows show in full and nothing needs a horizontal scrollbar — and a restart (the layout
restored from settings, even one saved with a too-narrow panel) keeps it so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QRect, QRectF, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QGroupBox, QLineEdit, QSlider, QWidget

from tests.ui.conftest import png_bytes
from tests.ui.fake_engine import attach_fake_engine

SD_MODEL = {"path": "/models/sd15.safetensors", "name": "sd15", "format": "safetensors", "kind": "diffusion", "detail": "", "bytes": 1}
CONTROLS = (QAbstractSpinBox, QComboBox, QSlider, QLineEdit)


def _refine_at_720p(window: Any, qtbot: Any) -> None:
    window.showNormal()
    window.resize(1280, 720)
    attach_fake_engine(window, found=[SD_MODEL])
    window.canvas.add_image(png_bytes(64, 48), name="picture")
    window.generate_panel.select_generator("studio.diffusion")
    window.canvas.select_region(QRectF(8, 8, 32, 24))
    window.canvas.refine_action.trigger()
    qtbot.waitUntil(lambda: window.generate_panel.editors["mode"].value() == "img2img", timeout=10000)
    QApplication.processEvents()


def _cut_off(panel: Any) -> list[str]:
    """Every visible control of the form that is not shown in full, with why."""
    viewport = panel.scroll.viewport()
    room = viewport.rect()
    problems = []
    for widget in panel.form_host.findChildren(QWidget):
        if not isinstance(widget, CONTROLS) or not widget.isVisibleTo(panel.form_host) or isinstance(widget.parent(), CONTROLS):
            continue
        where = QRect(widget.mapTo(viewport, widget.rect().topLeft()), widget.size())
        name = widget.objectName() or type(widget).__name__
        if where.left() < room.left() or where.right() > room.right():
            problems.append(f"{name} reaches past the panel ({where.left()}..{where.right()} of {room.width()})")
        if widget.width() < widget.minimumSizeHint().width():
            problems.append(f"{name} is {widget.width()} px wide, needs {widget.minimumSizeHint().width()}")
    return problems


def _check(window: Any) -> None:
    panel = window.generate_panel
    assert panel.scroll.horizontalScrollBar().maximum() == 0, "the form is wider than the panel"
    assert panel.form_host.width() <= panel.scroll.viewport().width()
    assert panel.width() >= panel.minimumSizeHint().width(), "the dock is narrower than the panel needs"
    assert _cut_off(panel) == []
    # The Advanced part open too (LoRA weight, clip skip, …): still nothing cut off.
    advanced = panel.form_host.findChild(QGroupBox, "advancedParams")
    if advanced is not None:
        advanced.setChecked(True)
        QApplication.processEvents()
        assert panel.scroll.horizontalScrollBar().maximum() == 0, "the open Advanced part is wider than the panel"
        assert _cut_off(panel) == []
        advanced.setChecked(False)
    for name in ("steps", "guidance", "strength", "lora_weight"):  # Steps, CFG, Denoising, LoRA
        assert panel.editors[name].isVisibleTo(panel.form_host) or advanced is not None, name


def test_after_refine_at_1280x720_every_sd_control_shows_in_full_and_after_a_restart(
    make_window: Any, qtbot: Any, studio_home: Path
) -> None:
    window = make_window()
    _refine_at_720p(window, qtbot)
    _check(window)
    # The user squeezes the panel as far as the dock lets them, then quits: the state is saved.
    window.resizeDocks([window.docks["generate"]], [120], Qt.Orientation.Horizontal)
    QApplication.processEvents()
    window.close()

    again = make_window()
    _refine_at_720p(again, qtbot)
    _check(again)
    # The workspaces restore their own saved layouts: Music and back to Image still fit.
    for name in ("music", "image"):
        again.workspaces.switch(name)
        QApplication.processEvents()
        _check(again)


def test_every_generator_form_fits_its_panel_in_both_workspaces(make_window: Any, qtbot: Any) -> None:
    """Seen in the Music workspace under Xvfb: the Melody form's combo and spin arrows were cut
    off at the panel's right edge (a vertical scrollbar took the width the form needed)."""
    window = make_window()
    window.showNormal()
    window.resize(1280, 720)
    attach_fake_engine(window, found=[SD_MODEL])
    panel = window.generate_panel
    problems = []
    for workspace in ("music", "image"):
        window.workspaces.switch(workspace)
        for generator_id in list(panel.generators):
            panel.select_generator(generator_id)
            QApplication.processEvents()
            if panel.scroll.horizontalScrollBar().maximum() > 0:
                problems.append(f"{workspace}/{generator_id}: the form is wider than the panel")
            problems += [f"{workspace}/{generator_id}: {problem}" for problem in _cut_off(panel)]
    assert problems == []
