"""The timeline's melody actions: continue, vary, interpolate a clip; title a tune.

Continue / Vary / Interpolate switch the Generate panel to the Melody generator, set the
mode and pin the clip(s) as prime (and target), then submit at once with the panel's other
Melody settings (bars, key, temperature, …): one click gives a result, the panel shows
what was used, and Generate repeats it with a new seed. Results land after the source clip
on its track (see ``studio.ui.placement``); a continuation lands as its new bars only.

"Title this tune" asks the language model (``studio.llm``) for a title, from a description
of the melody (key, metre, range, contour), and names the clip with the reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.ui.jobs import Job
from studio.ui.melody_words import title_prompt
from studio.ui.param_widgets import INT_LIMIT, random_seed
from studio.ui.timeline_model import clipped_melody

if TYPE_CHECKING:
    from studio.ui.main_window import MainWindow

MELODY = "studio.melody"
LLM = "studio.llm"
MODES = ("continue", "vary", "interpolate")


def _pin(clip: dict[str, Any]) -> dict[str, Any]:
    return {"source": "clip", "clip": clip["id"], "name": clip.get("name") or "clip"}


class MelodyActions:
    def __init__(self, window: "MainWindow") -> None:
        self.window = window

    def _say(self, title: str, text: str) -> None:
        self.window.prompter.info(self.window, title, text)

    def run(self, mode: str) -> list[Job]:
        window, panel, timeline = self.window, self.window.generate_panel, self.window.timeline
        if mode not in MODES:
            raise ValueError(mode)
        if MELODY not in panel.generators:
            self._say("Melody", "The Melody generator (studio.melody) is not available: see Tools ▸ Plugins.")
            return []
        clips = timeline.selected_melody_clips()
        if mode == "interpolate":
            if len(clips) != 2:
                self._say("Interpolate", "Select two melody clips (click one, Shift+click the other).")
                return []
            # From the earlier clip to the later one, as the timeline reads.
            order = {track["id"]: index for index, track in enumerate(timeline.doc.tracks)}
            clips.sort(key=lambda clip: (float(clip["start"]), order.get(timeline.doc.find_clip(clip["id"])[0]["id"], 0)))
            inputs = {"prime": _pin(clips[0]), "target": _pin(clips[1])}
        else:
            primary = timeline.selected_clip()
            if primary is None or not primary.get("melody"):
                self._say(mode.title(), "Select a melody clip on the timeline first.")
                return []
            inputs = {"prime": _pin(primary), "target": None}
        panel.set_values(MELODY, {"mode": mode})
        panel.set_inputs(inputs)
        window.docks["generate"].raise_()
        return window.generate()

    # ------------------------------------------------------------------ titles

    def llm_available(self) -> bool:
        panel = self.window.generate_panel
        return bool(panel.models_of_kind("llm") or panel.stored_values(LLM).get("model"))

    def title_selected(self) -> Job | None:
        window, panel = self.window, self.window.generate_panel
        clip = window.timeline.selected_clip()
        if clip is None or not clip.get("melody"):
            self._say("Title this tune", "Select a melody clip on the timeline first.")
            return None
        generator = panel.generators.get(LLM)
        if generator is None:
            self._say("Title this tune", "The language model plugin (studio.llm) is not available: see Tools ▸ Plugins.")
            return None
        if not self.llm_available():
            self._say(
                "Title this tune",
                "No language model is configured. Put a Hugging Face model folder (config.json, *.safetensors, tokenizer) "
                "or a .gguf file in a model folder (Preferences ▸ Model folders), then try again.",
            )
            return None
        melody = clipped_melody(clip)
        assert melody is not None
        params = dict(panel.stored_values(LLM))
        names = panel.param_names(LLM)
        params.update({"prompt": title_prompt(melody), "mode": "chat", "system_prompt": "You name pieces of music. Reply with a title only.", "max_new_tokens": 24})
        params = {name: value for name, value in params.items() if name in names}
        seed = random_seed() % INT_LIMIT
        job = window.submit(generator, params, seed, parents=[clip["node"]] if clip.get("node") else [], placement={"title_clip": clip["id"]})
        window.statusBar().showMessage(f"Asking the language model for a title for “{clip.get('name')}”…", 8000)
        return job
