"""Readable labels (issue 13, defect 7) and honest canvas provenance (defect 8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.melody import Melody, Note
from studio.core.midi import write_midi
from studio.core.png_metadata import read_png_metadata
from studio.ui.canvas_export import is_composite
from studio.ui.labels import generation_label, short_prompt
from tests.ui.conftest import PATTERNS_CATALOGUE, png_bytes, wait_for
from tests.ui.fake_engine import attach_fake_engine, finish_job, first_party_catalogue


def _melody_generator() -> dict[str, Any]:
    return first_party_catalogue("melody")["generators"][0]


def test_short_prompt_keeps_whole_phrases_without_emphasis() -> None:
    assert short_prompt("red fox, forest, (golden hour:1.3), 35mm film, very detailed") == "red fox, forest, golden hour"
    assert short_prompt("\n  a lighthouse\nsecond line") == "a lighthouse"
    assert short_prompt("") == ""
    long = short_prompt("an extraordinarily elaborate cathedral interior bathed in light")
    assert long.endswith("…") and len(long) <= 32


def test_image_and_melody_labels_say_what_the_result_is() -> None:
    image = {"id": "x.painter", "kind": "image", "name": "Painter", "params": [{"name": "prompt", "type": "text"}]}
    assert generation_label(image, {"prompt": "red fox, forest"}, 11) == "red fox, forest · seed 11"
    assert generation_label(image, {"prompt": ""}, 3) == "Painter · seed 3"
    melody = _melody_generator()
    params = {"mode": "continue", "key": "D", "scale": "dorian", "bars": 8}
    assert generation_label(melody, params, 5) == "D dorian · continue · 8 bars"
    # "auto" key: what the output record says it came out in.
    auto = {"mode": "vary", "key": "auto", "scale": "auto", "bars": 4}
    assert generation_label(melody, auto, 5, output={"key": "G", "scale": "major", "bars": 4}) == "G major · vary · 4 bars"
    assert generation_label(melody, {"mode": "new", "key": "A", "scale": "minor", "bars": 16}, 1).split(" · ")[1] == "new"


def test_history_rows_layers_and_jobs_of_new_continue_and_vary_read_differently(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window)
    panel = window.generate_panel
    labels = []
    for mode in ("new", "continue", "vary"):
        panel.select_generator("studio.melody")
        panel.editors["mode"].set_value(mode)
        panel.editors["key"].set_value("D")
        panel.editors["scale"].set_value("dorian")
        panel.editors["bars"].set_value(8)
        jobs = window.generate()
        assert jobs
        job = jobs[0]
        wait_for(qtbot, lambda job=job: bool(job.job_id), 10000)
        assert job.title.startswith("D dorian · ")
        melody = Melody(notes=[Note(62, float(i), 1.0, 90) for i in range(8)], tempo=100.0)
        with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
            finish_job(
                window,
                client,
                client.jobs[-1].id,
                [("melody", "audio/midi", write_midi(melody), {"output": {"key": "D", "scale": "dorian", "bars": 8, "mode": mode}})],
            )
        node = landed.args[0]
        labels.append(node.label)
        clip = next(c for _t, c in window.timeline.doc.clips() if c.get("node") == node.id)
        assert clip["name"] == node.label
    assert len(set(labels)) == 3
    assert labels[1] == "D dorian · continue · 8 bars"
    rows = [window.history_panel.tree.topLevelItem(i).text(0) for i in range(window.history_panel.tree.topLevelItemCount())]
    assert any("continue" in row for row in rows) and any("vary" in row for row in rows)


def test_an_image_layer_is_named_from_its_prompt_and_seed(make_window: Any, qtbot: Any) -> None:
    window = make_window()
    client = attach_fake_engine(window, first_party_catalogue("patterns"))
    window.generate_panel.select_generator("studio.patterns")
    jobs = window.generate()
    wait_for(qtbot, lambda: bool(jobs[0].job_id), 10000)
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        finish_job(window, client, client.jobs[-1].id, [("image", "image/png", png_bytes(32, 32), {})])
    node = landed.args[0]
    layer = next(item for item in window.canvas.layers.values() if item.node == node.id)
    assert layer.name == node.label and f"seed {node.seed}" in layer.name
    assert "#" not in layer.name


def test_canvas_png_of_several_layers_records_a_composite_and_restores_no_single_generation(
    make_window: Any, tmp_path: Path, qtbot: Any
) -> None:
    window = make_window(catalogue=PATTERNS_CATALOGUE)
    client = attach_fake_engine(window, PATTERNS_CATALOGUE)
    canvas = window.canvas
    canvas.add_image(png_bytes(64, 64, (10, 10, 10)), name="photo")
    window.generate_panel.select_generator("studio.patterns")
    jobs = window.generate()
    wait_for(qtbot, lambda: bool(jobs[0].job_id), 10000)
    with qtbot.waitSignal(window.generation_landed, timeout=10000) as landed:
        finish_job(window, client, client.jobs[-1].id, [("image", "image/png", png_bytes(64, 64, (200, 0, 0)), {})])
    node = landed.args[0]
    out = window.export_canvas(tmp_path / "canvas.png")
    meta = read_png_metadata(out.read_bytes())
    record = meta["studio"]
    assert record.get("composite") is True and "generator" not in record
    names = [row["name"] for row in record["layers"]]
    assert names == ["photo", node.label]
    assert record["layers"][1]["generator"] == "studio.patterns" and record["layers"][1]["seed"] == node.seed
    assert not meta.get("parameters")  # no A1111 text that would read as one generation
    assert is_composite(out.read_bytes()) == 2

    # Dropped back while another generator is on the panel: added, the panel does not switch.
    window.generate_panel.select_generator("test.writer")
    window.import_images([str(out)])
    assert window.generate_panel.current["id"] == "test.writer"
    assert "canvas of 2 layers" in window.statusBar().currentMessage()
    assert len(canvas.layers) == 3


def test_the_active_layer_alone_keeps_its_generations_record(make_window: Any, tmp_path: Path) -> None:
    window = make_window()
    data = png_bytes(16, 16, prompt="a kite", parameters={"Steps": 20, "Seed": 5, "Size": "16x16"}, record={"generator": "x.y", "seed": 5})
    window.canvas.add_image(data, name="kite")
    out = window.export_canvas(tmp_path / "layer.png", layer_only=True)
    assert read_png_metadata(out.read_bytes())["prompt"] == "a kite"
    assert is_composite(out.read_bytes()) == 0
