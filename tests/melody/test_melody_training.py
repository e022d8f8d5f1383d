"""Fine-tuning on a musician's MIDI, model discovery, the shipped weights, the engine path."""

from __future__ import annotations

import json
from pathlib import Path

from studio.core.melody import Melody, Note
from studio.core.midi import read_midi, read_midi_metadata, write_midi

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "resources" / "models" / "melody"


def _my_tunes(folder: Path, count: int = 8) -> None:
    """A very particular style: arpeggios up in 6/8, always the same rhythm."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        root = 60 + (index % 3) * 2
        notes = []
        for bar in range(8):
            for i, step in enumerate((0, 4, 7, 12, 7, 4)):
                notes.append(Note(root + step + (bar % 2) * 5, bar * 3 + i * 0.5, 0.5))
        write_midi(Melody(notes, time_signature=(6, 8), key="C", mode="major"), path=folder / f"tune{index}.mid")


def test_fine_tuning_lowers_validation_loss_on_my_midi(tmp_path, tiny_model_dir):
    from studio_melody.train import cli_main

    _my_tunes(tmp_path / "mine")
    out = tmp_path / "my-style"
    code = cli_main(
        ["--data", str(tmp_path / "mine"), "--from", str(tiny_model_dir), "--out", str(out), "--epochs", "4", "--lr", "0.01", "--quiet"]
    )
    assert code == 0
    log = json.loads((out / "training_log.json").read_text())
    assert log["best_val"] < log["initial_val"] - 0.3
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["data"]["by_split"] == {"val": 1, "train": 7}


def test_training_resumes_from_its_checkpoint_to_the_same_weights(tmp_path, tiny_model_dir):
    from safetensors.numpy import load_file
    from studio_melody.train import cli_main

    _my_tunes(tmp_path / "mine", 4)
    args = ["--data", str(tmp_path / "mine"), "--from", str(tiny_model_dir), "--epochs", "2", "--quiet", "--batch-size", "1"]
    assert cli_main(args + ["--out", str(tmp_path / "straight")]) == 0
    # stop right away (after the first step), then run the same command again to finish
    assert cli_main(args + ["--out", str(tmp_path / "resumed"), "--max-minutes", "0.00001"]) == 0
    assert (tmp_path / "resumed" / "checkpoint.pt").is_file()
    assert cli_main(args + ["--out", str(tmp_path / "resumed")]) == 0
    straight = load_file(str(tmp_path / "straight" / "model.safetensors"))
    resumed = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert all((straight[k] == resumed[k]).all() for k in straight)


def test_fine_tuned_folder_under_studio_home_is_a_model_choice(tmp_path, tiny_model_dir, monkeypatch, generate):
    import shutil

    from studio_melody.plugin import available_models

    home = tmp_path / "home"
    shutil.copytree(tiny_model_dir, home / "models" / "melody" / "my-style")
    monkeypatch.setenv("STUDIO_HOME", str(home))
    names = [m["name"] for m in available_models()]
    assert names[0] == "folk" and "my-style" in names
    outputs, _ = generate({"bars": 2}, model="my-style")
    assert read_midi(outputs[0].midi).melody.bars == 2


def test_shipped_weights_load_offline_and_are_small(monkeypatch):
    from studio_melody.inference import load_numpy_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    weights = SHIPPED / "model.safetensors"
    assert weights.is_file(), "the shipped melody model is missing"
    total = sum(p.stat().st_size for p in SHIPPED.iterdir() if p.is_file())
    assert total < 25 * 1024 * 1024
    model = load_numpy_model(SHIPPED)
    assert model.config.training["best_val_nll"] > 0
    assert (SHIPPED / "README.md").is_file()


def test_shipped_model_generates_through_the_engine_runner(tmp_path):
    from studio.engine.config import EngineConfig
    from studio.engine.runner import LocalRunner

    runner = LocalRunner(EngineConfig(home=tmp_path / "home", plugin_dirs=[REPO / "plugins"], device="cpu"))
    events = []
    result = runner.run(
        "studio.melody", {"bars": 8, "key": "G", "scale": "major", "metre": "6/8", "passing_notes": 0.0}, seed=42, on_event=events.append
    )
    artifact = result.artifacts[0]
    assert artifact.kind == "melody" and artifact.mime == "audio/midi"
    melody = read_midi(artifact.data).melody
    assert melody.bars == 8 and melody.time_signature == (6, 8)
    assert melody.notes and all(n.pitch % 12 in {7, 9, 11, 0, 2, 4, 6} for n in melody.notes)
    record = read_midi_metadata(artifact.data)
    assert record["plugin"] == "studio.melody" and record["seed"] == 42
    assert record["output"]["model"] and record["output"]["temperature"] == 1.0
    assert any(e["type"] == "progress" for e in events)

    # continue the result through the runner: the prime comes back bit-exact
    prime_id = runner.store_input(artifact.data, "melody", "audio/midi")
    again = runner.run("studio.melody", {"mode": "continue", "prime": prime_id, "bars": 4}, seed=1)
    continued = read_midi(again.artifacts[0].data).melody
    assert continued.notes[: len(melody.notes)] == melody.notes
    assert continued.bars == 12
    assert read_midi_metadata(again.artifacts[0].data)["output"]["scale"] == "major"


def test_training_on_a_folder_without_midi_says_so(tmp_path, tiny_model_dir, capsys):
    from studio_melody.train import cli_main

    (tmp_path / "empty").mkdir()
    code = cli_main(["--data", str(tmp_path / "empty"), "--from", str(tiny_model_dir), "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    assert "no .mid or .midi files" in capsys.readouterr().err
