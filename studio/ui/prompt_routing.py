"""Text from one medium becomes the prompt of another.

- text selected in the Text panel → an image generator's prompt, or MusicGen's;
- an image on the canvas → its stored prompt (PNG ``parameters``) becomes MusicGen's;
- the prompt builder's outputs (one text per prompt) → one image job per prompt.

Generators are found by role (``image.from_text``, ``audio.from_text``, ``prompt.expand``)
and take a prompt when the role maps its ``prompt`` input. Which image generator: the one
in the Generate panel when it takes a prompt, else the last such one used, else one whose
model was found, else one that needs no model, else any. A generator whose role maps no
prompt (the built-in patterns) is never the target of a prompt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from studio.core.errors import FileFormatError
from studio.core.history import HistoryNode
from studio.core.roles import generators_with_role, neutral_params, params_for_role, role_param
from studio.ui.generate_panel import ready_without_a_model
from studio.ui.jobs import Job
from studio.ui.role_choice import ChoiceHost, choose_generator

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDockWidget, QStatusBar

    from studio.ui.canvas import CanvasWidget, ImageLayer
    from studio.ui.history_panel import HistoryPanel
    from studio.ui.project_session import ProjectSession


class PromptRoutingHost(ChoiceHost, Protocol):
    """Where prompts come from and go: the canvas, the project's history and blobs, jobs."""

    canvas: CanvasWidget
    session: ProjectSession
    history_panel: HistoryPanel
    blobs: Any  # get(blob_id) -> bytes
    docks: dict[str, QDockWidget]

    def submit(self, generator: dict[str, Any], params: dict[str, Any], seed: int | None, **where: Any) -> Job: ...

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)


IMAGE, MUSIC, PROMPTS = "image.from_text", "audio.from_text", "prompt.expand"


class PromptRouting:
    def __init__(self, window: PromptRoutingHost) -> None:
        self.window = window

    @property
    def panel(self) -> Any:
        return self.window.generate_panel

    @staticmethod
    def _takes_prompt(generator: dict[str, Any] | None, role: str = IMAGE) -> bool:
        return generator is not None and role_param(generator, role, "prompt") is not None

    def _status(self, text: str, ms: int = 8000) -> None:
        self.window.statusBar().showMessage(text, ms)

    # ------------------------------------------------------------------ choosing

    def image_generator(self) -> dict[str, Any] | None:
        panel = self.panel
        image = [g for g in generators_with_role(panel.generators, IMAGE) if self._takes_prompt(g)]
        if not image:
            return None
        current = panel.current
        if current is not None and current in image:
            return current
        last = panel.generators.get(panel.last_of_kind("image"))
        if last is not None and last in image:
            return last

        def readiness(generator: dict[str, Any]) -> int:
            if ready_without_a_model(generator):
                return 1
            return 0 if not panel.missing_model_kind(generator["id"]) else 2

        return sorted(image, key=readiness)[0]

    # ------------------------------------------------------------------ text → prompt

    def use_as_image_prompt(self, text: str) -> bool:
        generator = self.image_generator()
        if generator is None:
            without = [g.get("name") or g["id"] for g in self.panel.generators.values() if g.get("kind") == "image"]
            these = f" (here: {', '.join(without)})" if without else ""
            self.window.prompter.info(
                self.window,
                "Use as image prompt",
                f"No image generator here takes a prompt{these}. A Stable Diffusion-style plugin does: "
                "enable one in Tools ▸ Plugins and drop a .safetensors checkpoint on the window.",
            )
            return False
        return self._fill(generator, text, IMAGE)

    def use_as_music_prompt(self, text: str) -> bool:
        generator = choose_generator(self.window, MUSIC, "Use as music prompt")
        if generator is None or not self._takes_prompt(generator, MUSIC):
            self.window.prompter.info(
                self.window,
                "Use as music prompt",
                f"No audio generator here takes a text prompt (none fills the role {MUSIC}): see Tools ▸ Plugins.",
            )
            return False
        return self._fill(generator, text, MUSIC)

    def _fill(self, generator: dict[str, Any], text: str, role: str) -> bool:
        text = text.strip()
        if not text:
            self._status("There is no text to use as a prompt.")
            return False
        self.panel.set_values(generator["id"], params_for_role(generator, role, {"prompt": text})["params"])
        self.window.docks["generate"].raise_()
        wanted = self.panel.missing_model_kind(generator["id"])
        if wanted:
            self._status(
                f"The prompt is in {generator.get('name') or generator['id']}, but no {wanted} model was found yet: add one in Preferences ▸ Model folders.",
                12000,
            )
        else:
            self._status(f"The prompt is in {generator.get('name') or generator['id']}: press Generate (Ctrl+Enter).")
        return True

    # ------------------------------------------------------------------ image → music

    def layer_prompt(self, layer: ImageLayer | None) -> str:
        """The prompt an image was made with, from its PNG metadata ("" when it has none)."""
        if layer is None:
            return ""
        try:
            data = self.window.blobs.get(layer.blob)
        except KeyError:
            return ""
        from studio.core.foreign import read_generation
        from studio.core.image_metadata import read_image_texts

        try:
            _kind, _size, texts = read_image_texts(data)
        except FileFormatError:
            return ""
        found = read_generation(texts)  # ours or any tool's (A1111, ComfyUI, SwarmUI, ...)
        if found is None:
            return ""
        return str(found.params.get("prompt") or found.inputs.get("prompt") or "").strip()

    def music_for_image(self, layer: ImageLayer | None = None) -> bool:
        layer = layer or self.window.canvas.active_layer()
        if layer is None:
            self.window.prompter.info(self.window, "Music for this image", "Select an image on the canvas first.")
            return False
        prompt = self.layer_prompt(layer)
        if not prompt:
            self.window.prompter.info(
                self.window,
                "Music for this image",
                f"“{layer.name}” carries no prompt in its PNG parameters, so there is nothing to describe the music with. "
                "Type a description in the Generate panel's MusicGen prompt instead.",
            )
            return False
        return self.use_as_music_prompt(prompt)

    # ------------------------------------------------------------------ prompts → image jobs

    def prompts_of(self, node: HistoryNode) -> list[str]:
        """The prompts a text node holds: one per output, or one per line of a single list."""
        store = self.window.session.store
        if store is None:
            return []
        texts = []
        for blob in node.outputs:
            try:
                texts.append(store.get_blob(blob).decode("utf-8", "replace"))
            except KeyError:
                continue
        if len(texts) == 1:
            texts = texts[0].splitlines()
        return [text.strip() for text in texts if text.strip()]

    def send_each_to_image_generator(self, node: HistoryNode) -> list[Job]:
        prompts = self.prompts_of(node)
        if not prompts:
            self._status("That generation holds no prompts.")
            return []
        generator = self.image_generator()
        if generator is None:
            self.use_as_image_prompt(prompts[0])  # says why no image generator can take it
            return []
        panel = self.panel
        panel.select_generator(generator["id"])
        params, _inputs = panel.request()  # the form's settings; a prompt needs no input image
        params.update(neutral_params(generator, IMAGE))  # no leftovers of a refine or outpaint
        prompt_param = role_param(generator, IMAGE, "prompt")
        panel.set_values(generator["id"], dict(neutral_params(generator, IMAGE), **{prompt_param: prompts[-1]}))
        seeds = panel.take_seeds(len(prompts))
        jobs = [
            self.window.submit(generator, dict(params, **{prompt_param: prompt}), seed, parents=[node.id])
            for prompt, seed in zip(prompts, seeds)
        ]
        self._status(f"Queued {len(jobs)} {generator.get('name') or generator['id']} job{'s' if len(jobs) != 1 else ''}, one per prompt.")
        return jobs

    def latest_prompts_node(self) -> HistoryNode | None:
        """The selected text generation, else the newest one from the prompt builder."""
        selected = [node for node in self.window.history_panel.selected_nodes() if node.kind == "text"]
        if selected:
            return selected[0]
        history = self.window.session.history
        if history is None:
            return None
        builders = {generator["id"] for generator in generators_with_role(self.panel.generators, PROMPTS)}
        candidates = [node for node in history.nodes() if (node.generator or node.plugin_id) in builders]
        return candidates[-1] if candidates else None
