"""The canvas' image-edit actions: refine a selection, inpaint the mask, outpaint around it.

Each action is a role (``image.from_image``, ``image.inpaint``, ``image.outpaint``): it
asks which generators fill it (first-party or community, see ``studio.core.roles``),
lets the user choose when there are several (``role_choice``), fills the Generate panel
through the role's input map (the canvas region as the image, the mask cropped to it, the
role's fixed params) and submits at once with the panel's other settings, so one click
gives a result and the panel shows what was used; pressing Generate again repeats it. The
result comes back over the region as a new layer (see ``studio.ui.placement``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QRectF

from studio.core.roles import neutral_params, params_for_role, role_of
from studio.ui import mask_brush
from studio.ui.dialogs import SIDES, OutpaintDialog  # noqa: F401 (OutpaintDialog re-exported)
from studio.ui.jobs import Job
from studio.ui.role_choice import ChoiceHost, choose_generator

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDockWidget

    from studio.ui.canvas import CanvasWidget
    from studio.ui.prompt_routing import PromptRouting


class CanvasActionsHost(ChoiceHost, Protocol):
    """What the canvas' image actions use: the canvas, the prompt of a layer, and Generate."""

    canvas: CanvasWidget
    prompts: PromptRouting
    docks: dict[str, QDockWidget]

    def generate(self) -> list[Job]: ...


REFINE, INPAINT, OUTPAINT = "image.from_image", "image.inpaint", "image.outpaint"
ACTION_TITLES = {REFINE: "Refine", INPAINT: "Inpaint", OUTPAINT: "Outpaint"}
INPAINT_CONTEXT = 64  # pixels around the mask the model sees when there is no selection


class CanvasActions:
    def __init__(self, window: CanvasActionsHost) -> None:
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
        return self._run(REFINE, rect, extend=None, use_mask=False)

    def inpaint(self) -> list[Job]:
        if self.canvas.mask_is_empty():
            self._say("Inpaint", "Paint the area to repaint with the mask brush (B) first.")
            return []
        rect = mask_brush.inpaint_region(self.canvas, INPAINT_CONTEXT)  # the selection and every masked area
        return self._run(INPAINT, rect, extend=None, use_mask=True)

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
        return self._run(OUTPAINT, rect, extend=extents, use_mask=False)

    # ------------------------------------------------------------------ the job

    def _run(self, role: str, rect: QRectF, *, extend: dict[str, int] | None, use_mask: bool) -> list[Job]:
        window, panel = self.window, self.window.generate_panel
        title = ACTION_TITLES[role]
        generator = choose_generator(window, role, title)
        if generator is None:
            self._say(title, f"No generator here can {title.lower()} (none fills the role {role}): see Tools ▸ Plugins.")
            return []
        generator_id = generator["id"]
        region = [rect.x(), rect.y(), rect.width(), rect.height()]
        wanted: dict[str, Any] = {f"extend_{side}": int((extend or {}).get(side) or 0) for side in SIDES} if extend else {}
        mapped = params_for_role(generator, role, wanted)["params"]
        panel.set_values(generator_id, {**neutral_params(generator, role), **mapped})
        inputs = role_of(generator, role)["inputs"]
        sources: dict[str, dict[str, Any] | None] = {name: None for name in panel.input_names(generator_id)}
        if "image" in inputs:
            sources[inputs["image"]] = {"source": "region", "rect": region}
        if use_mask and "mask" in inputs:
            sources[inputs["mask"]] = {"source": "mask", "rect": region}
        panel.set_inputs(sources)
        prompt = panel.editors.get(inputs.get("prompt", "")) if "prompt" in inputs else None
        if prompt is not None and not prompt.value():
            remembered = window.prompts.layer_prompt(self.canvas.active_layer())
            if remembered:
                prompt.set_value(remembered)  # refine an image with the prompt that made it
        window.docks["generate"].raise_()
        missing = panel.missing_model_kind(generator_id)
        if missing:
            name = generator.get("name") or generator_id
            self._say(
                name,
                f"No {name} model was found. Drop a .safetensors checkpoint or a model folder on the window "
                "(or add its folder in Preferences ▸ Model folders); the Generate panel is ready with this "
                f"{title.lower()} for when it is there.",
            )
            return []
        return window.generate()
