"""Text from one medium becomes the prompt of another.

- text selected in the Text panel → an image generator's prompt, or MusicGen's;
- an image on the canvas → its stored prompt (PNG ``parameters``) becomes MusicGen's;
- the prompt builder's outputs (one text per prompt) → one image job per prompt.

Which image generator: the one in the Generate panel when it is an image generator that
takes a prompt, else the last such one used, else Stable Diffusion when a model for it was
found, else any image generator with a prompt. The built-in Patterns generator has no
prompt, so it is never the target of a prompt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.core.errors import FileFormatError
from studio.core.history import HistoryNode
from studio.ui.jobs import Job

if TYPE_CHECKING:
    from studio.ui.canvas import ImageLayer
    from studio.ui.main_window import MainWindow

DIFFUSION = "studio.diffusion"
MUSICGEN = "studio.musicgen"
IMAGE_ONLY_MODES = ("img2img", "inpaint", "outpaint")


class PromptRouting:
    def __init__(self, window: "MainWindow") -> None:
        self.window = window

    @property
    def panel(self) -> Any:
        return self.window.generate_panel

    def _takes_prompt(self, generator: dict[str, Any] | None) -> bool:
        return generator is not None and "prompt" in self.panel.param_names(generator["id"])

    def _status(self, text: str, ms: int = 8000) -> None:
        self.window.statusBar().showMessage(text, ms)

    # ------------------------------------------------------------------ choosing

    def image_generator(self) -> dict[str, Any] | None:
        panel = self.panel
        image = [g for g in panel.generators.values() if g.get("kind") == "image" and self._takes_prompt(g)]
        if not image:
            return None
        current = panel.current
        if current is not None and current in image:
            return current
        last = panel.generators.get(panel.last_of_kind("image"))
        if last is not None and last in image:
            return last
        diffusion = panel.generators.get(DIFFUSION)
        if diffusion in image and panel.models_of_kind("diffusion"):
            return diffusion
        others = [g for g in image if g["id"] != DIFFUSION]
        return others[0] if others else diffusion

    # ------------------------------------------------------------------ text → prompt

    def use_as_image_prompt(self, text: str) -> bool:
        generator = self.image_generator()
        if generator is None:
            self.window.prompter.info(
                self.window,
                "Use as image prompt",
                "No image generator here takes a prompt (the built-in Patterns generator has none). "
                "Stable Diffusion does: enable it in Tools ▸ Plugins and drop a .safetensors checkpoint on the window.",
            )
            return False
        return self._fill(generator, text, "image")

    def use_as_music_prompt(self, text: str) -> bool:
        generator = self.panel.generators.get(MUSICGEN)
        if generator is None or not self._takes_prompt(generator):
            self.window.prompter.info(self.window, "Use as music prompt", "The MusicGen plugin (studio.musicgen) is not available: see Tools ▸ Plugins.")
            return False
        return self._fill(generator, text, "musicgen")

    def _fill(self, generator: dict[str, Any], text: str, model_kind: str) -> bool:
        text = text.strip()
        if not text:
            self._status("There is no text to use as a prompt.")
            return False
        self.panel.set_values(generator["id"], {"prompt": text})
        self.window.docks["generate"].raise_()
        wanted = "diffusion" if generator["id"] == DIFFUSION else model_kind if generator["id"] == MUSICGEN else ""
        model = self.panel.editors.get("model")
        if wanted and not self.panel.models_of_kind(wanted) and (model is None or not model.value()):
            self._status(f"The prompt is in {generator.get('name') or generator['id']}, but no {wanted} model was found yet: add one in Preferences ▸ Model folders.", 12000)
        else:
            self._status(f"The prompt is in {generator.get('name') or generator['id']}: press Generate (Ctrl+Enter).")
        return True

    # ------------------------------------------------------------------ image → music

    def layer_prompt(self, layer: "ImageLayer | None") -> str:
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

    def music_for_image(self, layer: "ImageLayer | None" = None) -> bool:
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
        if params.get("mode") in IMAGE_ONLY_MODES:
            params["mode"] = "txt2img"
        for side in ("left", "right", "top", "bottom"):
            if f"extend_{side}" in params:
                params[f"extend_{side}"] = 0
        panel.set_values(generator["id"], {"prompt": prompts[-1], **({"mode": params["mode"]} if "mode" in params else {})})
        seeds = panel.take_seeds(len(prompts))
        jobs = [self.window.submit(generator, dict(params, prompt=prompt), seed, parents=[node.id]) for prompt, seed in zip(prompts, seeds)]
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
        candidates = [node for node in history.nodes() if (node.generator or node.plugin_id) == "studio.prompts"]
        return candidates[-1] if candidates else None
