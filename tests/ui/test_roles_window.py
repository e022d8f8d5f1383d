"""A community plugin takes part in the canvas and timeline actions through the roles it declares.

The fixture plugin ``tests/fixtures/plugins/community_roles`` fills ``image.inpaint`` and
``melody.continue`` with param names of its own (``picture``/``holes``/``fill``,
``seed_tune``/``length``); the window must find it by role, map the canvas and clip inputs
onto its params, and ask which generator to use when a first-party one fills the role too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage

from studio.core.melody import Melody, Note
from studio.core.midi import read_midi, write_midi
from studio.plugins.manifest import read_manifest
from studio.ui.dialogs import QuietPrompter
from studio.ui.role_choice import remembered
from tests.ui.conftest import wait_for
from tests.ui.fake_engine import attach_fake_engine, finish_job, first_party_catalogue

REPO = Path(__file__).resolve().parents[2]
COMMUNITY = REPO / "tests" / "fixtures" / "plugins" / "community_roles"
FIRST_PARTY_IDS = ("studio.diffusion", "studio.melody", "studio.llm", "studio.prompts", "studio.musicgen", "studio.patterns")
SD_MODEL = {"name": "sd15", "path": "/models/sd15.safetensors", "format": "safetensors", "kind": "diffusion", "bytes": 1, "detail": ""}


def community_catalogue(*first_party: str) -> dict[str, Any]:
    """The community plugin's generators after the named first-party ones (all when none is named)."""
    catalogue = first_party_catalogue(*first_party)
    manifest = read_manifest(COMMUNITY, source="user")
    catalogue["generators"] += [dict(info.to_dict(), state="enabled") for info in manifest.generators]
    return catalogue


def _jobs(qtbot: Any, client: Any, count: int) -> list[Any]:
    wait_for(qtbot, lambda: len(client.jobs) >= count, 10000)
    return client.jobs


def _masked_canvas(window: Any) -> None:
    from studio.ui.canvas import image_to_png

    picture = QImage(96, 96, QImage.Format.Format_RGB32)
    picture.fill(Qt.GlobalColor.darkBlue)
    window.canvas.add_image(image_to_png(picture), name="sky")
    window.canvas.brush_size = 8
    before = window.canvas.mask_image.copy()
    window.canvas.paint_dab(QPointF(48, 48), erase=False)
    window.canvas.commit_stroke(before, erase=False)


def test_the_window_and_cli_name_no_first_party_plugin() -> None:
    files = sorted((REPO / "studio" / "ui").rglob("*.py")) + [REPO / "studio" / "cli.py"]
    found = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for plugin_id in FIRST_PARTY_IDS:
                if re.search(re.escape(plugin_id) + r"(?![\w.])", line):
                    found.append(f"{path.relative_to(REPO)}:{number}: {plugin_id}")
    assert not found, "the window and CLI must find plugins by role, not by id:\n" + "\n".join(found)


def test_a_community_inpainter_alone_does_the_canvas_inpaint_with_its_own_param_names(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window, community_catalogue("patterns"))
    _masked_canvas(window)
    window.canvas.inpaint_action.trigger()

    submitted = _jobs(qtbot, client, 1)[0]
    assert submitted.plugin == "community.inpainter"
    assert submitted.params["fill"] == "average"  # the role's fixed param
    picture, holes = client.uploads[submitted.params["picture"]], client.uploads[submitted.params["holes"]]
    assert picture[1] == "image" and holes[1] == "image"
    mask = QImage.fromData(holes[0])
    assert mask.pixelColor(mask.width() // 2, mask.height() // 2).value() > 200
    assert window.generate_panel.current["id"] == "community.inpainter"


def test_when_two_generators_inpaint_the_user_chooses_once_and_it_is_remembered(make_window: Any, qtbot: Any) -> None:
    prompter = QuietPrompter(choices=["Hole filler"])
    window = make_window(prompter=prompter)
    client = attach_fake_engine(window, community_catalogue(), found=[SD_MODEL])
    window.generate_panel.select_generator("studio.patterns")  # neither inpainter is on the panel
    _masked_canvas(window)
    window.canvas.inpaint_action.trigger()

    assert _jobs(qtbot, client, 1)[0].plugin == "community.inpainter"
    assert any("Several generators can inpaint" in question for question in prompter.questions)
    assert remembered(window, "image.inpaint") == "community.inpainter"

    # Next time: no question, the same generator, even after the panel moved elsewhere.
    asked = len(prompter.questions)
    window.generate_panel.select_generator("studio.patterns")
    window.canvas.inpaint_action.trigger()
    assert _jobs(qtbot, client, 2)[1].plugin == "community.inpainter"
    assert len(prompter.questions) == asked

    # Picking the other generator on the panel is choosing it.
    window.generate_panel.select_generator("studio.diffusion")
    window.canvas.inpaint_action.trigger()
    third = _jobs(qtbot, client, 3)[2]
    assert third.plugin == "studio.diffusion" and third.params["mode"] == "inpaint"
    assert remembered(window, "image.inpaint") == "studio.diffusion"


def test_a_community_melody_generator_continues_a_clip_and_the_result_lands_after_it(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window, community_catalogue("patterns"))
    timeline = window.timeline
    clip = timeline.add_melody(Melody(notes=[Note(60 + i, float(i), 1.0, 90) for i in range(4)], tempo=100.0), name="phrase")
    timeline.select_clip(clip)
    assert timeline.continue_action.isEnabled()
    timeline.continue_action.trigger()

    submitted = _jobs(qtbot, client, 1)[0]
    assert submitted.plugin == "community.tunesmith"
    data, kind, _mime = client.uploads[submitted.params["seed_tune"]]
    assert kind == "melody" and [n.pitch for n in read_midi(data).melody.notes] == [60, 61, 62, 63]
    assert submitted.params["length"] == 2 and "mode" not in submitted.params

    job = next(iter(window.tracker.jobs.values()))
    wait_for(qtbot, lambda: bool(job.job_id), 10000)
    assert job.placement == {"after_clip": clip, "role": "melody.continue", "only_new_bars": True}
    reply = Melody(notes=[Note(65, float(i), 1.0, 90) for i in range(4)], tempo=100.0)
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        finish_job(window, client, submitted.id, [("melody", "audio/midi", write_midi(reply), {})])
    placed = [c for c in timeline.doc.tracks[0]["clips"] if c.get("node") == landed.args[0].id]
    assert len(placed) == 1 and placed[0]["start"] >= 4.0 and "continue" in placed[0]["name"].split(" · ")


@pytest.mark.parametrize("mode", ["vary", "interpolate"])
def test_roles_the_community_plugin_does_not_fill_say_so(make_window: Any, mode: str) -> None:
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)
    client = attach_fake_engine(window, community_catalogue("patterns"))
    timeline = window.timeline
    first = timeline.add_melody(Melody(notes=[Note(60, 0.0, 1.0)], tempo=100.0), name="a")
    second = timeline.add_melody(Melody(notes=[Note(62, 0.0, 1.0)], tempo=100.0), name="b", start=8.0)
    timeline.select_clip(first)
    if mode == "interpolate":
        timeline.select_clip(second, extend=True)
    assert window.melody_actions.run(mode) == []
    assert f"melody.{mode}" in prompter.infos[-1][1] and not client.jobs


def test_harmonize_asks_the_generator_that_fills_the_role_and_lands_one_track_per_voice(make_window: Any, qtbot: Any) -> None:
    from studio.core.midi import Part, write_parts

    window = make_window()
    client = attach_fake_engine(window, first_party_catalogue("patterns", "melody"))
    timeline = window.timeline
    tune = Melody(notes=[Note(67 - i, float(i), 1.0, 90) for i in range(4)], tempo=90.0)
    clip = timeline.add_melody(tune, name="tune")
    timeline.select_clip(clip)
    assert timeline.harmonize_action.isEnabled()
    timeline.harmonize_action.trigger()

    submitted = _jobs(qtbot, client, 1)[0]
    harmonizers = [
        g["id"] for g in first_party_catalogue("melody")["generators"] if any(r["role"] == "melody.harmonize" for r in g.get("roles", []))
    ]
    assert submitted.plugin in harmonizers
    data, kind, _mime = client.uploads[submitted.params["prime"]]
    assert kind == "melody" and [n.pitch for n in read_midi(data).melody.notes] == [67, 66, 65, 64]

    voices = [
        Part(name, Melody(notes=[Note(pitch - i, float(i), 1.0, 80) for i in range(4)], tempo=90.0))
        for name, pitch in (("soprano", 67), ("alto", 62), ("tenor", 57), ("bass", 48))
    ]
    tracks_before = len(timeline.doc.tracks)
    with qtbot.waitSignal(window.generation_landed, timeout=10000):
        finish_job(window, client, submitted.id, [("melody", "audio/midi", write_parts(voices), {})])
    assert len(timeline.doc.tracks) >= tracks_before + 3
    landed = [c for track in timeline.doc.tracks for c in track["clips"] if c["id"] != clip]
    assert len(landed) == 4 and len({id(t) for t in timeline.doc.tracks for c in t["clips"] if c in landed}) == 4
