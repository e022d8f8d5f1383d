"""Training is an engine job: a plugin's [[commands]] train runs in the worker, reports
progress and log lines, is cancellable, and its model becomes a choice in GET /models."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from studio.core.errors import StudioError
from studio.core.melody import Melody, Note
from studio.core.midi import write_midi

REPO = Path(__file__).resolve().parents[2]
ENGINE_PLUGINS: list[str] = []  # the first-party plugins are enough here


@pytest.fixture(scope="module")
def tiny_melody_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1x32 LSTM with random weights, saved the way trained models are."""
    import torch

    sys.path.insert(0, str(REPO / "plugins" / "melody"))
    try:
        from studio_melody.model import MelodyLSTM, ModelConfig, save_model
    finally:
        sys.path.remove(str(REPO / "plugins" / "melody"))
    torch.manual_seed(7)
    folder = tmp_path_factory.mktemp("tiny-melody") / "tiny"
    save_model(folder, MelodyLSTM(ModelConfig(embed=16, pos_embed=8, hidden=32, layers=1, dropout=0.0, name="tiny")))
    return folder


def my_tunes(folder: Path, count: int = 4) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        notes = [Note(60 + index + step, bar * 2 + i * 0.5, 0.5) for bar in range(4) for i, step in enumerate((0, 4, 7, 12))]
        write_midi(Melody(notes, key="C", mode="major"), path=folder / f"tune{index}.mid")
    (folder / "notes.txt").write_text("not a tune")  # uploaded too, ignored by the trainer
    return folder


def test_train_through_the_cli_alias_runs_as_a_job_and_the_model_is_a_choice(
    engine, engine_home: Path, tiny_melody_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from studio.cli import main

    data = my_tunes(tmp_path / "my tunes")
    code = main(
        ["train", "melody", "--data", str(data), "--from", str(tiny_melody_model), "--name", "my tunes", "--epochs", "2", "--lr", "0.01"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = engine_home / "models" / "melody" / "my-tunes"
    assert captured.out.strip().splitlines() == [str(out)]
    assert "epoch 2/2" in captured.err and "is ready" in captured.err  # the trainer's log lines, streamed
    assert (out / "model.safetensors").is_file()

    job = [job for job in engine.jobs() if job["kind"] == "command"][-1]
    assert job["state"] == "done" and job["record"]["command"] == "train" and job["record"]["models"] == [str(out)]
    assert job["params"]["args"][1].startswith("@artifacts:")  # the folder travelled as uploads
    found = {entry.path: entry for entry in engine.models().found}
    assert found[str(out)].kind == "melody"


def test_a_training_job_reports_progress_and_cancel_stops_it_leaving_a_checkpoint(
    engine, engine_home: Path, tiny_melody_model: Path, tmp_path: Path
) -> None:
    folder = my_tunes(tmp_path / "tunes", 6)
    ids = [engine.upload(path.read_bytes(), kind="melody", mime="audio/midi") for path in sorted(folder.glob("*.mid"))]
    args = [
        "--data",
        "@artifacts:" + ",".join(ids),
        "--from",
        str(tiny_melody_model),
        "--name",
        "long",
        "--epochs",
        "500",
        "--batch-size",
        "1",
    ]
    progress: list[float] = []
    with engine.events() as receive:
        job_id = engine.submit_command("studio.melody", "train", args)
        deadline = time.monotonic() + 120
        while len(progress) < 3 and time.monotonic() < deadline:
            event = receive(1.0)
            if event and event.get("job") == job_id and event.get("type") == "progress":
                progress.append(event["progress"])
        assert len(progress) >= 3 and progress == sorted(progress), progress
        asked = time.monotonic()
        engine.cancel(job_id)
        text = ""
        while time.monotonic() < deadline:
            event = receive(1.0)
            if event and event.get("job") == job_id:
                text += str(event.get("text") or "")
                if event.get("type") in ("done", "failed", "cancelled"):
                    break
    job = engine.job(job_id)
    assert job["state"] == "cancelled", job.get("error")
    assert time.monotonic() - asked < 10
    assert (engine_home / "models" / "melody" / "long" / "checkpoint.pt").is_file()
    assert "cancelled at epoch" in text  # the trainer's last log line, as a text event


@pytest.mark.parametrize(
    ("plugin", "params", "message"),
    [
        ("studio.melody", {"command": "fly", "args": []}, "has no command 'fly'; its commands: train"),
        ("nobody.here", {"command": "train", "args": []}, "no plugin 'nobody.here'; plugins with commands: studio.melody"),
        ("studio.melody", {"command": "train", "args": ["--data", "@artifacts:" + "ab" * 32]}, "upload it first"),
    ],
)
def test_bad_command_jobs_are_refused_with_the_reason(engine, plugin: str, params: dict, message: str) -> None:
    with pytest.raises(StudioError, match=message):
        engine._call("POST", "/jobs", json={"plugin": plugin, "kind": "command", "params": params})


def test_the_catalogue_carries_roles_and_commands(engine) -> None:
    catalogue = engine.plugins()
    melody = next(g for g in catalogue.generators if g.id == "studio.melody")
    continue_role = next(role for role in melody.roles if role.role == "melody.continue")
    assert continue_role.inputs["prime"] == "prime" and continue_role.fixed == {"mode": "continue"}
    row = next(p for p in catalogue.plugins if p.id == "studio.melody")
    assert [(c.id, c.models, c.data) for c in row.commands] == [("train", "melody", "melody")]
