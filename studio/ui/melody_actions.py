"""The timeline's melody actions: continue, vary, interpolate a clip; title a tune.

Continue / Vary / Interpolate are the roles ``melody.continue`` / ``melody.vary`` /
``melody.interpolate``: the generator that fills the role (chosen by the user when several
do, see ``role_choice``) is put on the Generate panel with the role's fixed params, the
clip(s) pinned to the inputs the role maps ``prime`` (and ``target``) to, and submitted at
once with the panel's other settings (bars, key, temperature, …): one click gives a result,
the panel shows what was used, and Generate repeats it with a new seed. Results land after
the source clip on its track (see ``studio.ui.placement``); a continuation lands as its new
bars only.

"Title this tune" asks a generator that fills ``text.chat`` for a title, from a description
of the melody (key, metre, range, contour), and names the clip with the reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from studio.core.roles import neutral_params, params_for_role, role_of
from studio.ui.jobs import Job
from studio.ui.key_chooser import clip_key, key_inputs
from studio.ui.melody_words import title_prompt
from studio.ui.param_widgets import INT_LIMIT, random_seed
from studio.ui.role_choice import ChoiceHost, choose_generator
from studio.ui.timeline_model import clipped_melody

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDockWidget, QStatusBar

    from studio.ui.timeline import TimelineWidget


class MelodyActionsHost(ChoiceHost, Protocol):
    """What the timeline's melody actions use: the timeline, Generate, and a job of their own."""

    timeline: TimelineWidget
    docks: dict[str, QDockWidget]

    def generate(self) -> list[Job]: ...

    def submit(self, generator: dict[str, Any], params: dict[str, Any], seed: int | None, **where: Any) -> Job: ...

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)


MODES = ("continue", "vary", "interpolate", "harmonize")
#: the role input that takes the selected clip (melody.harmonize names it ``melody``)
CLIP_INPUT = {"harmonize": "melody"}
CHAT = "text.chat"
TITLE_TOKENS = 24


def _pin(clip: dict[str, Any]) -> dict[str, Any]:
    return {"source": "clip", "clip": clip["id"], "name": clip.get("name") or "clip"}


class MelodyActions:
    def __init__(self, window: MelodyActionsHost) -> None:
        self.window = window

    def _say(self, title: str, text: str) -> None:
        self.window.prompter.info(self.window, title, text)

    def run(self, mode: str) -> list[Job]:
        window, panel, timeline = self.window, self.window.generate_panel, self.window.timeline
        if mode not in MODES:
            raise ValueError(mode)
        role = f"melody.{mode}"
        if not panel.generators:
            self._say(mode.title(), "The engine's generators are not listed yet; try again in a moment.")
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
            inputs = {CLIP_INPUT.get(mode, "prime"): _pin(primary)}
        generator = choose_generator(window, role, mode.title())
        if generator is None:
            self._say(mode.title(), f"No melody generator here can {mode} a clip (none fills the role {role}): see Tools ▸ Plugins.")
            return []
        mapped = role_of(generator, role)["inputs"]
        panel.set_values(generator["id"], neutral_params(generator, role))
        if mode != "interpolate":  # the clip's key, found or chosen (see key_chooser), as the role's key inputs
            panel.set_values(generator["id"], key_inputs(generator, role, clip_key(primary, timeline.blobs)))
        sources: dict[str, dict[str, Any] | None] = {name: None for name in panel.input_names(generator["id"])}
        sources.update({mapped[name]: source for name, source in inputs.items() if name in mapped})
        panel.set_inputs(sources)
        window.docks["generate"].raise_()
        return window.generate()

    # ------------------------------------------------------------------ titles

    def chat_generator(self) -> dict[str, Any] | None:
        return choose_generator(self.window, CHAT, "Title this tune")

    def llm_available(self) -> bool:
        generator = self.chat_generator()
        return generator is not None and not self.window.generate_panel.missing_model_kind(generator["id"])

    def title_selected(self) -> Job | None:
        window, panel = self.window, self.window.generate_panel
        clip = window.timeline.selected_clip()
        if clip is None or not clip.get("melody"):
            self._say("Title this tune", "Select a melody clip on the timeline first.")
            return None
        generator = self.chat_generator()
        if generator is None:
            self._say("Title this tune", "No language model generator is available (none fills the role text.chat): see Tools ▸ Plugins.")
            return None
        if panel.missing_model_kind(generator["id"]):
            self._say(
                "Title this tune",
                "No language model is configured. Put a Hugging Face model folder (config.json, *.safetensors, tokenizer) "
                "or a .gguf file in a model folder (Preferences ▸ Model folders), then try again.",
            )
            return None
        melody = clipped_melody(clip)
        assert melody is not None
        params = dict(panel.stored_values(generator["id"]))
        ask = {
            "prompt": title_prompt(melody),
            "system_prompt": "You name pieces of music. Reply with a title only.",
            "max_tokens": TITLE_TOKENS,
        }
        params.update(params_for_role(generator, CHAT, ask)["params"])
        seed = random_seed() % INT_LIMIT
        job = window.submit(
            generator, params, seed, parents=[clip["node"]] if clip.get("node") else [], placement={"title_clip": clip["id"]}
        )
        window.statusBar().showMessage(f"Asking the language model for a title for “{clip.get('name')}”…", 8000)
        return job
