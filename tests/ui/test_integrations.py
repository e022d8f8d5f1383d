"""Cross-medium actions of the window: melodies on the timeline, diffusion on the canvas,
model folders, and text / image / prompt lists becoming prompts of other generators.

Most tests run the window against a fake engine client behind the real ``EngineLink``
(``tests/ui/fake_engine.py``): they pin the exact job an action submits (generator, params,
uploaded inputs) and where its outputs land. Two run through a real engine subprocess,
where that is cheap: a melody continuation, and a dropped checkpoint showing up in the
model picker after the engine restarts.
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPointF, QRectF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage

from studio.core.history import HistoryNode
from studio.core.melody import Melody, Note
from studio.core.midi import read_midi, write_midi
from studio.ui import melody_training
from studio.ui.dialogs import QuietPrompter
from studio.ui.melody_words import clean_title, describe_melody, title_prompt
from studio.ui.param_widgets import InputEditor
from tests.ui.conftest import engine_pid, png_bytes, wait_for, wait_ready
from tests.ui.fake_engine import attach_fake_engine, finish_job, first_party_catalogue

SD_MODEL = {"path": "/models/sd15.safetensors", "name": "sd15", "format": "safetensors", "kind": "diffusion", "detail": "", "bytes": 1}
LLM_MODEL = {"path": "/models/tiny-llm", "name": "tiny-llm", "format": "transformers", "kind": "llm", "detail": "", "bytes": 1}
MUSICGEN_MODEL = {
    "path": "/models/musicgen-small",
    "name": "musicgen-small",
    "format": "transformers",
    "kind": "musicgen",
    "detail": "",
    "bytes": 1,
}


@pytest.fixture(autouse=True)
def _collect_earlier_windows() -> None:
    """Collect the wrappers of earlier tests' windows here, on the GUI thread, before this
    test starts engine threads (a collection run on a worker thread that frees Qt objects
    can crash the process)."""
    gc.collect()


def _tune(pitches: list[int], *, start: float = 0.0, key: str = "C", mode: str = "major", metre: tuple[int, int] = (4, 4)) -> Melody:
    return Melody(notes=[Note(p, start + i, 1.0, 90) for i, p in enumerate(pitches)], tempo=100.0, time_signature=metre, key=key, mode=mode)


def _png_of(image: QImage) -> bytes:
    from studio.ui.canvas import image_to_png

    return image_to_png(image)


def _solid_png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    return png_bytes(width, height, colour)


def _jobs(qtbot: Any, client: Any, count: int) -> list[Any]:
    wait_for(qtbot, lambda: len(client.jobs) >= count, 10000)
    return client.jobs


def _accepted(qtbot: Any, job: Any) -> None:
    wait_for(qtbot, lambda: bool(job.job_id), 10000)


# --------------------------------------------------------------------------- melody on the timeline


def test_continue_sends_the_clip_as_prime_with_the_panel_settings_and_lands_only_new_bars_after_it(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window)
    panel, timeline = window.generate_panel, window.timeline
    # The musician's Melody settings, set earlier; the panel is on another generator now.
    panel.select_generator("studio.melody")
    panel.editors["bars"].set_value(4)
    panel.editors["temperature"].set_value(0.7)
    panel.select_generator("studio.patterns")

    source = timeline.add_melody(_tune([60, 62, 64, 65, 67, 65, 64, 62]), name="my phrase")
    blocker = timeline.add_melody(_tune([72, 71, 69, 67]), name="next", start=8.0)
    timeline.select_clip(source)
    assert timeline.continue_action.isEnabled() and not timeline.interpolate_action.isEnabled()
    timeline.continue_action.trigger()

    submitted = _jobs(qtbot, client, 1)[0]
    assert submitted.plugin == "studio.melody"
    assert submitted.params["mode"] == "continue"
    assert submitted.params["bars"] == 4 and submitted.params["temperature"] == pytest.approx(0.7)
    assert "target" not in submitted.params
    data, kind, mime = client.uploads[submitted.params["prime"]]
    assert (kind, mime) == ("melody", "audio/midi")
    assert [n.pitch for n in read_midi(data).melody.notes] == [60, 62, 64, 65, 67, 65, 64, 62]
    # The panel shows what was used: the Melody generator, mode continue, the clip as prime.
    assert panel.current["id"] == "studio.melody"
    assert panel.editors["mode"].value() == "continue"
    prime = panel.editors["prime"]
    assert isinstance(prime, InputEditor) and prime.value() == {"source": "clip", "clip": source, "name": "my phrase"}
    assert "my phrase" in prime.combo.currentText()

    # The engine answers with the prime (2 bars) followed by 2 new bars.
    job = next(iter(window.tracker.jobs.values()))
    _accepted(qtbot, job)
    new_bars = [Note(70, 8.0 + i * 2, 2.0, 80) for i in range(4)]
    output = Melody(notes=_tune([60, 62, 64, 65, 67, 65, 64, 62]).notes + new_bars, tempo=100.0)
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        finish_job(
            window, client, submitted.id, [("melody", "audio/midi", write_midi(output), {"output": {"mode": "continue", "prime_bars": 2}})]
        )
    node = landed.args[0]
    track = timeline.doc.tracks[0]
    placed = [clip for clip in track["clips"] if clip.get("node") == node.id]
    assert len(placed) == 1
    clip = placed[0]
    # After the source clip; the clip right after it is taken, so after that one.
    assert clip["start"] == pytest.approx(12.0)
    assert Melody.from_dict(clip["melody"]).notes == [Note(70, i * 2.0, 2.0, 80) for i in range(4)]
    assert "continue" in clip["name"].split(" · ")  # a readable label: key · action · bars
    assert timeline.doc.find_clip(blocker)[1]["start"] == 8.0


def test_vary_and_interpolate_pin_their_clips_and_results_follow_the_later_clip(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window)
    timeline = window.timeline
    first = timeline.add_melody(_tune([60, 64, 67, 72]), name="A")
    second = timeline.add_melody(_tune([62, 65, 69, 74]), name="B", start=8.0)

    timeline.select_clip(first)
    timeline.vary_action.trigger()
    vary = _jobs(qtbot, client, 1)[0]
    assert vary.params["mode"] == "vary" and "keep_bars" in vary.params and "variation" in vary.params
    assert [n.pitch for n in read_midi(client.uploads[vary.params["prime"]][0]).melody.notes] == [60, 64, 67, 72]

    # Shift+click the other clip: B was clicked first, A second, but the timeline reads A → B.
    timeline.select_clip(second)
    timeline.select_clip(first, extend=True)
    assert [clip["id"] for clip in timeline.selected_clips()] == [second, first]
    assert timeline.interpolate_action.isEnabled()
    timeline.interpolate_action.trigger()
    interpolate = _jobs(qtbot, client, 2)[1]
    assert interpolate.params["mode"] == "interpolate" and interpolate.params["count"] == 5
    prime = read_midi(client.uploads[interpolate.params["prime"]][0]).melody
    target = read_midi(client.uploads[interpolate.params["target"]][0]).melody
    assert [n.pitch for n in prime.notes] == [60, 64, 67, 72] and [n.pitch for n in target.notes] == [62, 65, 69, 74]
    assert window.generate_panel.editors["target"].value()["clip"] == second

    job = [j for j in window.tracker.jobs.values() if j.params.get("mode") == "interpolate"][0]
    assert job.placement == {"after_clip": second, "role": "melody.interpolate"}
    _accepted(qtbot, job)
    steps = [write_midi(_tune([60 + step] * 4)) for step in range(3)]
    with qtbot.waitSignal(window.generation_landed, timeout=10000):
        finish_job(
            window, client, interpolate.id, [("melody", "audio/midi", data, {"output": {"step": i + 1}}) for i, data in enumerate(steps)]
        )
    landed = sorted((clip for clip in timeline.doc.tracks[0]["clips"] if clip["id"] not in (first, second)), key=lambda c: c["start"])
    # One after another, right after B (which ends at beat 12).
    assert [clip["start"] for clip in landed] == [12.0, 16.0, 20.0]
    assert [Melody.from_dict(clip["melody"]).notes[0].pitch for clip in landed] == [60, 61, 62]


def test_clip_and_canvas_context_menus_offer_the_actions(make_window: Any) -> None:
    window = make_window()
    timeline, canvas = window.timeline, window.canvas
    timeline.select_clip(timeline.add_melody(_tune([60, 62]), name="tune"))
    menu = timeline.build_context_menu(window)
    texts = [action.text() for action in menu.actions() if action.text()]
    assert texts[:5] == ["Continue melody", "Vary melody", "Interpolate between the two clips", "Harmonize melody", "Title this tune"]
    assert not timeline.interpolate_action.isEnabled()  # one clip selected
    timeline.select_clip(None)
    assert not timeline.continue_action.isEnabled() and not timeline.title_action.isEnabled()
    texts = [action.text() for action in canvas.build_context_menu(window).actions() if action.text()]
    assert texts == ["Refine selection (img2img)", "Inpaint masked area", "Outpaint…", "Music for this image", "Use these settings"]
    assert canvas.refine_action.iconText() == "Refine"  # short in the toolbar


def test_interpolate_without_two_melody_clips_says_what_to_select(make_window: Any) -> None:
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)
    client = attach_fake_engine(window)
    window.timeline.select_clip(window.timeline.add_melody(_tune([60, 62]), name="only"))
    assert window.melody_actions.run("interpolate") == []
    assert "two melody clips" in prompter.infos[-1][1] and not client.jobs


@pytest.mark.slow
def test_continue_through_the_engine_lands_the_continuation_after_the_clip(make_window: Any, engine_home: Path, qtbot: Any) -> None:
    modules_before = set(sys.modules)  # earlier tests in this process may have loaded torch
    window = make_window(engine=True)
    wait_ready(qtbot, window)
    panel, timeline = window.generate_panel, window.timeline
    panel.select_generator("studio.melody")
    panel.editors["bars"].set_value(2)
    panel.seed.set_value(11)
    panel.seed.set_locked(True)
    source = timeline.add_melody(_tune([67, 69, 71, 72, 74, 72, 71, 69]), name="phrase")
    timeline.select_clip(source)
    with qtbot.waitSignal(window.generation_landed, timeout=60000) as landed:
        timeline.continue_action.trigger()
    node = landed.args[0]
    assert node.generator == "studio.melody" and node.params["mode"] == "continue" and node.seed == 11
    added = [clip for clip in timeline.doc.tracks[0]["clips"] if clip.get("node") == node.id]
    assert len(added) == 1
    clip = added[0]
    assert clip["start"] == pytest.approx(8.0)  # right after the 2-bar source clip
    melody = Melody.from_dict(clip["melody"])
    assert 0 < melody.length <= 8.0 + 1e-9  # the two new bars, without the prime again
    # The full output (prime + continuation) is in the project, as the engine made it.
    full = read_midi(window.session.store.get_blob(node.outputs[0])).melody
    assert [n.pitch for n in full.notes[:8]] == [67, 69, 71, 72, 74, 72, 71, 69]
    assert not {"torch", "diffusers", "transformers"} & (set(sys.modules) - modules_before)  # the window loaded none of them


# --------------------------------------------------------------------------- training on the user's MIDI


def _midi_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "my midi"
    folder.mkdir()
    (folder / "reel.mid").write_bytes(write_midi(_tune([62, 64, 66, 67])))
    return folder


def _training_job(qtbot: Any, client: Any) -> Any:
    wait_for(qtbot, lambda: any(job.command for job in client.jobs), 10000)
    return next(job for job in client.jobs if job.command)


def test_train_arguments_fine_tune_the_shipped_model_under_a_name() -> None:
    assert melody_training.train_args("my-reels", "@artifacts:ab") == ["--data", "@artifacts:ab", "--from", "shipped", "--name", "my-reels"]
    assert melody_training.model_name(" My reels / 2024 ") == "My-reels-2024"


def test_train_on_my_midi_is_an_engine_job_with_progress_and_the_model_joins_the_melody_picker(
    make_window: Any, qtbot: Any, tmp_path: Path, studio_home: Path
) -> None:
    prompter = QuietPrompter(folders=[_midi_folder(tmp_path)], texts=["Reels 2024"])
    window = make_window(prompter=prompter)
    client = attach_fake_engine(window)
    client.model_folders = [studio_home / "models"]  # what the engine scans
    window.generate_panel.select_generator("studio.melody")

    dialog = window.train_melody_dialog()
    assert dialog is not None
    job = _training_job(qtbot, client)
    assert (job.plugin, job.params["command"]) == ("studio.melody", "train")
    args = job.params["args"]
    assert args[0] == "--data" and args[2:] == ["--from", "shipped", "--name", "Reels-2024"]
    (upload,) = [client.uploads[artifact] for artifact in args[1].removeprefix("@artifacts:").split(",")]
    assert upload[1:] == ("melody", "audio/midi") and [n.pitch for n in read_midi(upload[0]).melody.notes] == [62, 64, 66, 67]
    assert "$ train studio.melody" in dialog.log.toPlainText() and "--from shipped" in dialog.log.toPlainText()

    for step in range(1, 5):
        window.link._on_event({"type": "progress", "job": job.id, "progress": step / 4, "message": f"epoch {step}/4"})
    window.link._on_event({"type": "preview", "job": job.id, "text": "best epoch 4: validation "})
    window.link._on_event({"type": "preview", "job": job.id, "text": "loss 1.02\n"})
    assert dialog.progress.value() == 1000 and "epoch 4/4" in dialog.status.text()
    assert "best epoch 4: validation loss 1.02" in dialog.log.toPlainText()
    out = studio_home / "models" / "melody" / "Reels-2024"  # what the engine's trainer wrote
    out.mkdir(parents=True)
    (out / "config.json").write_text(json.dumps({"name": out.name, "hidden": 8, "tokens_version": 1}))
    (out / "model.safetensors").write_bytes(b"weights")
    with qtbot.waitSignal(dialog.training_finished, timeout=10000) as finished:
        window.link._on_event({"type": "done", "job": job.id, "outputs": [], "artifacts": []})
    assert finished.args[0] is True, finished.args[1]
    picker = window.generate_panel.editors["model"]
    wait_for(qtbot, lambda: picker.combo.findData(str(out)) >= 0, 10000)
    wait_for(qtbot, lambda: picker.value() == str(out), 10000)  # and it is the one picked
    dialog.close()


def test_cancelling_training_cancels_the_job(make_window: Any, qtbot: Any, tmp_path: Path) -> None:
    window = make_window(prompter=QuietPrompter(folders=[_midi_folder(tmp_path)], texts=["x"]))
    client = attach_fake_engine(window)
    dialog = window.train_melody_dialog()
    assert dialog is not None
    job = _training_job(qtbot, client)
    wait_for(qtbot, lambda: dialog.job_id == job.id, 10000)
    window.link._on_event({"type": "progress", "job": job.id, "progress": 0.5, "message": "epoch 1/20"})
    assert dialog.progress.value() == 500 and "epoch" in dialog.status.text()
    dialog.reject()  # Cancel: the job is asked to stop; the dialog waits for the engine's answer
    wait_for(qtbot, lambda: client.cancelled == [job.id], 10000)
    assert dialog.running
    with qtbot.waitSignal(dialog.training_finished, timeout=10000) as finished:
        window.link._on_event({"type": "cancelled", "job": job.id})
    assert finished.args[0] is False and "cancelled" in finished.args[1]
    assert not dialog.running


def test_train_on_an_empty_folder_says_so(make_window: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    prompter = QuietPrompter(folders=[empty])
    window = make_window(prompter=prompter)
    attach_fake_engine(window)
    assert window.train_melody_dialog() is None
    assert "no .mid" in prompter.errors[-1][1]


def test_train_without_a_plugin_that_trains_on_midi_says_so(make_window: Any, tmp_path: Path) -> None:
    prompter = QuietPrompter(folders=[_midi_folder(tmp_path)])
    window = make_window(prompter=prompter)
    client = attach_fake_engine(window, first_party_catalogue("patterns", "llm"))
    assert window.train_melody_dialog() is None
    assert "No plugin here trains on MIDI" in prompter.errors[-1][1] and not client.jobs


# --------------------------------------------------------------------------- diffusion on the canvas


def _two_colour_canvas(window: Any) -> Any:
    """A 64x48 layer: left half red, right half blue."""
    image = QImage(64, 48, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.red)
    for x in range(32, 64):
        for y in range(48):
            image.setPixelColor(x, y, Qt.GlobalColor.blue)
    return window.canvas.add_image(_png_of(image), name="picture")


def test_refine_selection_uploads_the_crop_and_the_result_lands_over_it(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window, found=[SD_MODEL])
    canvas = window.canvas
    _two_colour_canvas(window)
    window.generate_panel.select_generator("studio.diffusion")
    window.generate_panel.editors["prompt"].set_value("a red barn")
    window.generate_panel.editors["strength"].set_value(0.4)
    canvas.select_region(QRectF(24.4, 8, 16, 20))  # the edge between red and blue
    canvas.refine_action.trigger()

    submitted = _jobs(qtbot, client, 1)[0]
    assert submitted.plugin == "studio.diffusion"
    params = submitted.params
    assert params["mode"] == "img2img" and params["prompt"] == "a red barn" and params["strength"] == pytest.approx(0.4)
    assert "mask" not in params and all(params[f"extend_{side}"] == 0 for side in ("left", "right", "top", "bottom"))
    data, kind, mime = client.uploads[params["image"]]
    assert (kind, mime) == ("image", "image/png")
    crop = QImage.fromData(data)
    assert (crop.width(), crop.height()) == (17, 20)  # the selection on whole pixels (x 24..41)
    assert crop.pixelColor(0, 0).red() > 200 and crop.pixelColor(16, 19).blue() > 200
    assert window.generate_panel.editors["image"].value() == {"source": "region", "rect": [24.0, 8.0, 17.0, 20.0]}

    job = next(iter(window.tracker.jobs.values()))
    _accepted(qtbot, job)
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        finish_job(window, client, submitted.id, [("image", "image/png", _solid_png(17, 20, (0, 200, 0)), {})])
    layer = [item for item in canvas.layers.values() if item.node == landed.args[0].id][0]
    assert (layer.pos().x(), layer.pos().y(), layer.scale()) == (24.0, 8.0, 1.0)
    assert canvas.doc_size == (64, 48)
    assert layer.zValue() == max(item.zValue() for item in canvas.layers.values())  # a new top layer


def test_inpaint_sends_the_mask_cropped_to_the_area_around_it(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window, found=[SD_MODEL])
    canvas = window.canvas
    big = QImage(256, 256, QImage.Format.Format_RGB32)
    big.fill(Qt.GlobalColor.darkGreen)
    canvas.add_image(_png_of(big), name="field")
    canvas.brush_size = 10
    before = canvas.mask_image.copy()
    canvas.paint_dab(QPointF(128, 128), erase=False)
    canvas.commit_stroke(before, erase=False)
    canvas.inpaint_action.trigger()

    params = _jobs(qtbot, client, 1)[0].params
    assert params["mode"] == "inpaint"
    image = QImage.fromData(client.uploads[params["image"]][0])
    mask_data, mask_kind, _mime = client.uploads[params["mask"]]
    mask = QImage.fromData(mask_data)
    # No selection: the mask's bounds plus 64 px of context, inside the canvas.
    assert (image.width(), image.height()) == (mask.width(), mask.height())
    assert 128 + 10 <= image.width() <= 128 + 12 and mask_kind == "image"
    centre = image.width() // 2
    assert mask.pixelColor(centre, centre).value() > 200 and mask.pixelColor(1, 1).value() == 0
    assert window.generate_panel.editors["mask"].value()["source"] == "mask"


def test_inpaint_without_a_mask_asks_for_one(make_window: Any) -> None:
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)
    client = attach_fake_engine(window, found=[SD_MODEL])
    _two_colour_canvas(window)
    assert window.canvas_actions.inpaint() == []
    assert "mask brush" in prompter.infos[-1][1] and not client.jobs


def test_outpaint_extends_the_canvas_around_the_image_in_one_undo_step(make_window: Any, qtbot: Any) -> None:
    prompter = QuietPrompter(outpaint={"left": 16, "right": 0, "top": 0, "bottom": 8})
    window = make_window(prompter=prompter)
    client = attach_fake_engine(window, found=[SD_MODEL])
    canvas = window.canvas
    original = _two_colour_canvas(window)
    canvas.select_region(QRectF(0, 0, 64, 48))
    canvas.outpaint_action.trigger()

    submitted = _jobs(qtbot, client, 1)[0]
    params = submitted.params
    assert params["mode"] == "outpaint"
    assert (params["extend_left"], params["extend_right"], params["extend_top"], params["extend_bottom"]) == (16, 0, 0, 8)
    source = QImage.fromData(client.uploads[params["image"]][0])
    assert (source.width(), source.height()) == (64, 48)

    job = next(iter(window.tracker.jobs.values()))
    assert job.placement == {"rect": [0.0, 0.0, 64.0, 48.0], "extend": [16, 0, 0, 8]}
    _accepted(qtbot, job)
    undo_before = window.undo.index()
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        finish_job(window, client, submitted.id, [("image", "image/png", _solid_png(80, 56, (10, 10, 10)), {})])
    result = [item for item in canvas.layers.values() if item.node == landed.args[0].id][0]
    assert canvas.doc_size == (80, 56)
    assert (original.pos().x(), original.pos().y()) == (16.0, 0.0)  # the picture moved with the canvas
    assert (result.pos().x(), result.pos().y()) == (0.0, 0.0)
    assert canvas.selection == QRectF(0, 0, 80, 56)
    assert window.undo.index() == undo_before + 1
    window.undo.undo()
    assert canvas.doc_size == (64, 48) and result.layer_id not in canvas.layers
    assert (original.pos().x(), original.pos().y()) == (0.0, 0.0)
    assert canvas.selection == QRectF(0, 0, 64, 48)


def test_without_a_diffusion_model_the_panel_is_filled_and_the_user_told(make_window: Any) -> None:
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)
    client = attach_fake_engine(window)
    _two_colour_canvas(window)
    window.canvas.select_region(QRectF(0, 0, 32, 32))
    assert window.canvas_actions.refine() == []
    assert not client.jobs
    assert "No Stable Diffusion model" in prompter.infos[-1][1]
    panel = window.generate_panel
    assert panel.current["id"] == "studio.diffusion" and panel.editors["mode"].value() == "img2img"
    assert panel.editors["image"].value()["rect"] == [0.0, 0.0, 32.0, 32.0]


# --------------------------------------------------------------------------- model folders


def _safetensors(path: Path, keys: list[str]) -> Path:
    header = json.dumps({key: {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]} for key in keys}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0\0\0\0")
    return path


def test_dropping_a_checkpoint_or_diffusers_folder_adds_its_folder_and_offers_a_restart(
    make_window: Any, studio_home: Path, tmp_path: Path
) -> None:
    from studio.core.paths import HomeLayout
    from studio.core.settings import load_settings

    prompter = QuietPrompter(ask=True)
    window = make_window(prompter=prompter)
    attach_fake_engine(window)
    restarts: list[bool] = []
    window.link.restart_engine = lambda: restarts.append(True)  # type: ignore[method-assign]
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    checkpoint = _safetensors(checkpoints / "dreamy.safetensors", ["model.diffusion_model.x"])
    diffusers = tmp_path / "sd-turbo"
    diffusers.mkdir()
    (diffusers / "model_index.json").write_text("{}")

    # Dropped on the canvas: it is no image, so the window asks about model folders.
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(checkpoint)), QUrl.fromLocalFile(str(diffusers))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.canvas.view.dropEvent(event)
    assert load_settings(HomeLayout(studio_home)).model_folders == [str(checkpoints.resolve()), str(diffusers.resolve())]
    assert any("Add to the model folders" in question for question in prompter.questions)
    assert restarts == [True]

    # The same again: nothing to add, no restart.
    assert window.models_dropped([str(checkpoint)]) == []
    assert restarts == [True]
    # Not a model: no question.
    asked = len(prompter.questions)
    notes = tmp_path / "notes.txt"
    notes.write_text("hi")
    assert window.models_dropped([str(notes)]) == [] and len(prompter.questions) == asked


def test_preferences_edit_the_model_folders_list(make_window: Any, studio_home: Path, tmp_path: Path) -> None:
    from studio.core.paths import HomeLayout
    from studio.core.settings import Settings, load_settings, save_settings

    save_settings(HomeLayout(studio_home), Settings(model_folders=["/old/models"], disabled_plugins=["x.y"]))
    added = tmp_path / "more models"
    added.mkdir()
    prompter = QuietPrompter(ask=False, folders=[added])
    window = make_window(prompter=prompter)
    dialog = window.make_preferences()
    editor = dialog.model_folders
    assert editor.folders() == ["/old/models"]
    editor.add_button.click()  # Add… asks for a folder
    editor.list.item(0).setSelected(True)
    editor.remove_button.click()
    assert editor.folders() == [str(added)]
    window.apply_preferences(dialog)
    saved = load_settings(HomeLayout(studio_home))
    assert saved.model_folders == [str(added)] and saved.disabled_plugins == ["x.y"]
    assert any("Restart it now" in question for question in prompter.questions)
    assert "next starts" in window.statusBar().currentMessage()


@pytest.mark.slow
def test_a_dropped_checkpoint_is_in_the_model_picker_after_the_engine_restarts(
    make_window: Any, engine_home: Path, qtbot: Any, tmp_path: Path
) -> None:
    window = make_window(prompter=QuietPrompter(ask=True), engine=True)
    wait_ready(qtbot, window)
    old_pid = engine_pid(engine_home)
    folder = tmp_path / "downloads"
    folder.mkdir()
    checkpoint = _safetensors(folder / "dreamy.safetensors", ["model.diffusion_model.input_blocks.0.weight"])
    panel = window.generate_panel
    panel.select_generator("studio.diffusion")

    def offered() -> bool:  # the form is rebuilt when the new engine's catalogue arrives
        return panel.editors["model"].combo.findData(str(checkpoint.resolve())) >= 0

    assert not offered()
    window.models_dropped([str(checkpoint)])
    wait_for(qtbot, offered, 60000)
    assert engine_pid(engine_home) not in (None, old_pid)
    assert window.link.ready and "engine ready" in window.engine_label.text()


# --------------------------------------------------------------------------- cross-modal prompts


def _select_text(window: Any, text: str, start: int, end: int) -> None:
    window.text_panel.set_text(text)
    editor = window.text_panel.editor
    cursor = editor.textCursor()
    cursor.setPosition(start)
    cursor.setPosition(end, cursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)


def test_text_selection_becomes_an_image_prompt_of_a_generator_that_takes_one(make_window: Any) -> None:
    window = make_window()
    attach_fake_engine(window, found=[SD_MODEL])
    panel = window.generate_panel
    panel.select_generator("studio.patterns")  # no prompt: never the target
    _select_text(window, "A lighthouse in fog. Gulls.", 0, 19)
    window.text_panel.image_prompt_action.trigger()
    assert panel.current["id"] == "studio.diffusion"
    assert panel.editors["prompt"].value() == "A lighthouse in fog"


def test_image_prompt_with_only_patterns_explains_why_nothing_takes_it(make_window: Any) -> None:
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)
    attach_fake_engine(window, first_party_catalogue("patterns", "llm"))
    window.generate_panel.select_generator("studio.llm")
    _select_text(window, "a cat", 0, 5)
    window.text_panel.image_prompt_action.trigger()
    assert window.generate_panel.current["id"] == "studio.llm"
    assert "Patterns" in prompter.infos[-1][1]


def test_text_and_an_images_stored_prompt_become_the_musicgen_prompt(make_window: Any) -> None:
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)
    attach_fake_engine(window, found=[MUSICGEN_MODEL])
    panel = window.generate_panel
    _select_text(window, "slow harp over rain", 0, 19)
    window.text_panel.music_prompt_action.trigger()
    assert panel.current["id"] == "studio.musicgen" and panel.editors["prompt"].value() == "slow harp over rain"

    panel.select_generator("studio.patterns")
    made = png_bytes(24, 24, prompt="a stormy sea at night, oil painting", negative_prompt="blurry", parameters={"Steps": 20, "Seed": 3})
    layer = window.canvas.add_image(made, name="storm")
    window.canvas.scene.clearSelection()
    layer.setSelected(True)
    window.canvas.music_action.trigger()
    assert panel.current["id"] == "studio.musicgen"
    assert panel.editors["prompt"].value() == "a stormy sea at night, oil painting"

    plain = window.canvas.add_image(png_bytes(24, 24), name="photo")
    window.canvas.scene.clearSelection()
    plain.setSelected(True)
    assert window.prompts.music_for_image() is False
    assert "carries no prompt" in prompter.infos[-1][1]


def test_title_this_tune_asks_the_language_model_and_names_the_clip(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window, found=[LLM_MODEL])
    timeline = window.timeline
    tune = _tune([62, 66, 69, 74, 73, 71, 69, 66, 62], key="D", mode="major", metre=(3, 4))
    clip_id = timeline.add_melody(tune, name="melody #5")
    timeline.select_clip(clip_id)
    window.text_panel.set_text("my notes")
    timeline.title_action.trigger()

    submitted = _jobs(qtbot, client, 1)[0]
    assert submitted.plugin == "studio.llm"
    prompt = submitted.params["prompt"]
    assert "D major" in prompt and "3/4" in prompt and "rises to its peak (D5)" in prompt and "ends on the tonic" in prompt
    assert submitted.params["mode"] == "chat" and submitted.params["max_new_tokens"] <= 32
    job = next(iter(window.tracker.jobs.values()))
    _accepted(qtbot, job)
    window.link._on_event({"type": "preview", "job": submitted.id, "text": "Title: "})
    with qtbot.waitSignal(window.generation_landed, timeout=10000):
        finish_job(window, client, submitted.id, [("text", "text/plain", "Title: “The Lark's Return”\n".encode(), {})])
    assert timeline.doc.find_clip(clip_id)[1]["name"] == "The Lark's Return"
    assert window.text_panel.text() == "my notes"  # the title named the clip, it did not go into the text
    window.undo.undo()
    assert timeline.doc.find_clip(clip_id)[1]["name"] == "melody #5"


def test_title_this_tune_without_a_language_model_says_what_is_missing(make_window: Any) -> None:
    prompter = QuietPrompter()
    window = make_window(prompter=prompter)
    client = attach_fake_engine(window)
    window.timeline.select_clip(window.timeline.add_melody(_tune([60, 62]), name="t"))
    assert window.melody_actions.title_selected() is None
    assert "No language model is configured" in prompter.infos[-1][1] and not client.jobs


def test_send_each_prompt_submits_one_image_job_per_prompt(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window, found=[SD_MODEL])
    store, history = window.session.store, window.session.history
    prompts = ["a red fox, watercolour", "a blue heron, ink", "a golden owl, pastel"]
    blobs = [store.put_blob(text.encode(), "text", "text/plain", {}) for text in prompts]
    node = history.add(HistoryNode(generator="studio.prompts", params={"template": "a {red|blue} …"}, seed=1, outputs=blobs, kind="text"))
    panel = window.generate_panel
    panel.select_generator("studio.diffusion")
    panel.editors["mode"].set_value("img2img")  # left over from a refine: prompts need no image
    panel.editors["steps"].set_value(12)
    panel.seed.set_value(100)
    panel.seed.set_locked(True)
    window.history_panel.send_prompts_requested.emit(node)

    jobs = _jobs(qtbot, client, 3)
    assert [job.plugin for job in jobs] == ["studio.diffusion"] * 3
    assert sorted(job.params["prompt"] for job in jobs) == sorted(prompts)
    assert all(job.params["mode"] == "txt2img" and job.params["steps"] == 12 and "image" not in job.params for job in jobs)
    assert sorted(job.seed for job in jobs) == [100, 101, 102]
    assert all(job.parents == [node.id] for job in window.tracker.jobs.values())
    # Also from the Generate menu, on the newest prompt-builder output.
    assert len(window.send_latest_prompts()) == 3


def test_a_single_prompt_list_is_split_into_lines(make_window: Any) -> None:
    window = make_window()
    attach_fake_engine(window)
    blob = window.session.store.put_blob(b"one\n\ntwo\nthree\n", "text", "text/plain", {})
    node = window.session.history.add(HistoryNode(generator="studio.prompts", params={}, seed=1, outputs=[blob], kind="text"))
    assert window.prompts.prompts_of(node) == ["one", "two", "three"]


# --------------------------------------------------------------------------- the words for a melody


def test_a_melody_is_described_by_key_metre_range_and_contour() -> None:
    tune = _tune([62, 66, 69, 74, 73, 71, 69, 66, 62], key="D", mode="major", metre=(3, 4))
    words = describe_melody(tune)
    assert (words.key, words.mode, words.metre, words.bars) == ("D", "major", "3/4", 3)
    assert (words.lowest, words.highest) == ("D4", "D5")
    assert words.contour == "rises to its peak (D5) in bar 2, then falls back"
    assert words.ending == "ends on the tonic"
    # A melody without a stated key gets the key its notes suggest.
    unstated = Melody(notes=[Note(p, i, 1.0) for i, p in enumerate([57, 60, 64, 69, 67, 64, 60, 57])])
    assert describe_melody(unstated).key == "A" and describe_melody(unstated).mode == "minor"
    assert "Answer with the title only" in title_prompt(tune)
    assert clean_title('**Title:** "Morning on the Moss."\nIt is a jig.') == "Morning on the Moss"
