"""The canvas toolbar: the tools (move, select, mask brush, eraser), the brush settings, the
image actions the window wires up (refine, inpaint, outpaint, music, use settings) and zoom.

Split out of ``canvas.py``. ``CanvasTools`` builds the actions onto the toolbar of whatever
widget it is given (``ToolbarHost``), so the toolbar needs no import of the widget.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QSpinBox, QToolBar

from studio.ui.canvas_view import CanvasView

TOOLS = (
    (CanvasView.MOVE, "Move", "V"),
    (CanvasView.SELECT, "Select", "M"),
    (CanvasView.BRUSH, "Mask brush", "B"),
    (CanvasView.ERASE, "Mask eraser", "E"),
)


class ToolbarHost(Protocol):
    """What the toolbar drives: the tool, the brush, the mask and the view's zoom."""

    view: CanvasView
    brush_size: int
    brush_hardness: float

    def set_tool(self, tool: str) -> None: ...

    def clear_mask(self) -> None: ...


def _image_action(parent: QObject, text: str, name: str, tip: str, icon_text: str = "") -> QAction:
    action = QAction(text, parent)
    action.setObjectName(name)
    action.setToolTip(tip)
    if icon_text:
        action.setIconText(icon_text)
    return action


class CanvasTools:
    """The toolbar's actions and controls; the window decides what the image actions do
    (see ``studio.ui.canvas_actions``)."""

    def __init__(self, host: ToolbarHost, bar: QToolBar, parent: QObject) -> None:
        group = QActionGroup(parent)
        self.tool_actions: dict[str, QAction] = {}
        for tool, text, key in TOOLS:
            action = QAction(text, parent)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.setToolTip(f"{text} ({key})")
            action.triggered.connect(lambda _c=False, t=tool: host.set_tool(t))
            group.addAction(action)
            bar.addAction(action)
            self.tool_actions[tool] = action
        self.tool_actions[CanvasView.MOVE].setChecked(True)
        bar.addSeparator()
        bar.addWidget(QLabel(" Brush "))
        self.brush_box = QSpinBox()
        self.brush_box.setRange(1, 500)
        self.brush_box.setValue(host.brush_size)
        self.brush_box.setToolTip("Mask brush size in pixels")
        self.brush_box.valueChanged.connect(lambda v: setattr(host, "brush_size", v))
        bar.addWidget(self.brush_box)
        bar.addWidget(QLabel(" Hardness "))
        self.hardness_box = QSpinBox()
        self.hardness_box.setRange(0, 100)
        self.hardness_box.setSuffix("%")
        self.hardness_box.setValue(int(host.brush_hardness * 100))
        self.hardness_box.setToolTip("Mask brush hardness: 100 % is a hard edge, lower is softer")
        self.hardness_box.valueChanged.connect(lambda v: setattr(host, "brush_hardness", v / 100.0))
        bar.addWidget(self.hardness_box)
        clear_mask = QAction("Clear mask", parent)
        clear_mask.triggered.connect(host.clear_mask)
        bar.addAction(clear_mask)
        bar.addSeparator()
        self.refine_action = _image_action(
            parent,
            "Refine selection (img2img)",
            "canvasRefine",
            "Refine the selection with Stable Diffusion img2img (the Generate panel's prompt and strength)",
            "Refine",
        )
        self.inpaint_action = _image_action(
            parent,
            "Inpaint masked area",
            "canvasInpaint",
            "Repaint the masked area (paint it with the mask brush, B) with Stable Diffusion",
            "Inpaint",
        )
        self.outpaint_action = _image_action(
            parent, "Outpaint…", "canvasOutpaint", "Extend the picture beyond the selection's edges with Stable Diffusion"
        )
        self.music_action = _image_action(parent, "Music for this image", "canvasMusic", "The image's prompt becomes the MusicGen prompt")
        self.settings_action = _image_action(
            parent, "Use these settings", "canvasUseSettings", "Restore the settings this image was made with into the Generate panel"
        )
        for action in (self.refine_action, self.inpaint_action, self.outpaint_action):
            bar.addAction(action)
        bar.addSeparator()
        view = host.view
        fit = QAction("Fit", parent)
        fit.setToolTip("Fit the canvas in the view")
        fit.triggered.connect(view.fit)
        bar.addAction(fit)
        actual = QAction("100%", parent)
        actual.triggered.connect(lambda: view.set_zoom(1.0))
        bar.addAction(actual)
        self.zoom_label = QLabel(" 100% ")
        self.zoom_label.setObjectName("muted")
        view.zoom_changed.connect(lambda z: self.zoom_label.setText(f" {z * 100:.0f}% "))
        bar.addWidget(self.zoom_label)
