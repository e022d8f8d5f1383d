"""The canvas' diffusion actions: refine a selection, inpaint the mask, outpaint around it.

Each action fills the Generate panel for ``studio.diffusion`` (mode, the canvas region as
the image, the mask cropped to it) and submits at once with the panel's other settings
(prompt, strength, steps…), so one click gives a result and the panel shows what was
used; pressing Generate again repeats it. The result comes back over the region as a new
layer (see ``studio.ui.placement``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QSpinBox, QWidget

from studio.ui.jobs import Job

if TYPE_CHECKING:
    from studio.ui.main_window import MainWindow

DIFFUSION = "studio.diffusion"
INPAINT_CONTEXT = 64  # pixels around the mask the model sees when there is no selection
SIDES = ("left", "right", "top", "bottom")


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


class CanvasActions:
    def __init__(self, window: "MainWindow") -> None:
        self.window = window

    @property
    def canvas(self) -> Any:
        return self.window.canvas

    def _say(self, title: str, text: str) -> None:
        self.window.prompter.info(self.window, title, text)

    # ------------------------------------------------------------------ regions

    def _work_region(self) -> QRectF | None:
        """The selection, else the active layer, on whole pixels."""
        rect = self.canvas.selection_rect()
        if rect is None:
            layer = self.canvas.active_layer()
            if layer is not None:
                rect = QRectF(self.canvas.layer_rect(layer).toAlignedRect())
        return rect

    # ------------------------------------------------------------------ actions

    def refine(self) -> list[Job]:
        rect = self._work_region()
        if rect is None:
            self._say("Refine", "Draw a selection on the canvas first (Select tool, M), or add an image to refine.")
            return []
        return self._run("img2img", rect, extend=None, use_mask=False)

    def inpaint(self) -> list[Job]:
        if self.canvas.mask_is_empty():
            self._say("Inpaint", "Paint the area to repaint with the mask brush (B) first.")
            return []
        rect = self.canvas.selection_rect() or self.canvas.mask_bounds(INPAINT_CONTEXT)
        return self._run("inpaint", rect, extend=None, use_mask=True)

    def outpaint(self, extents: dict[str, int] | None = None) -> list[Job]:
        rect = self._work_region()
        if rect is None:
            self._say("Outpaint", "Draw a selection around the picture to extend (Select tool, M), or add an image first.")
            return []
        if extents is None:
            extents = self.window.prompter.outpaint_sides(self.window)
            if extents is None:
                return []
        if not any(int(extents.get(side) or 0) > 0 for side in SIDES):
            self._say("Outpaint", "Choose at least one side to extend.")
            return []
        return self._run("outpaint", rect, extend=extents, use_mask=False)

    # ------------------------------------------------------------------ the job

    def _run(self, mode: str, rect: QRectF, *, extend: dict[str, int] | None, use_mask: bool) -> list[Job]:
        window, panel = self.window, self.window.generate_panel
        if DIFFUSION not in panel.generators:
            self._say("Stable Diffusion", "The Stable Diffusion plugin (studio.diffusion) is not available: see Tools ▸ Plugins.")
            return []
        region = [rect.x(), rect.y(), rect.width(), rect.height()]
        values: dict[str, Any] = {"mode": mode}
        for side in SIDES:
            values[f"extend_{side}"] = int((extend or {}).get(side) or 0)
        panel.set_values(DIFFUSION, values)
        panel.set_inputs({"image": {"source": "region", "rect": region}, "mask": {"source": "mask", "rect": region} if use_mask else None})
        prompt = panel.editors.get("prompt")
        if prompt is not None and not prompt.value():
            remembered = window.prompts.layer_prompt(self.canvas.active_layer())
            if remembered:
                prompt.set_value(remembered)  # refine an image with the prompt that made it
        window.docks["generate"].raise_()
        model = panel.editors.get("model")
        if not panel.models_of_kind("diffusion") and (model is None or not model.value()):
            self._say(
                "Stable Diffusion",
                "No Stable Diffusion model was found. Drop a .safetensors checkpoint or a diffusers folder on the window "
                "(or add its folder in Preferences ▸ Model folders); the Generate panel is ready with this "
                f"{mode} for when it is there.",
            )
            return []
        return window.generate()
