"""studio.musicgen through the engine's runner, on a tiny random MusicGen (4 kHz, 50 frames/s)."""

from __future__ import annotations

import io
import json
import shutil
import threading

import numpy as np
import pytest
import soundfile
from tiny_text_audio_models import build_musicgen

from studio.core.errors import Cancelled, ModelFormatError, ParamError

SAMPLE_RATE = 4000


def run_music(runner, params, seed=1, **kwargs):
    result = runner.run("studio.musicgen", params, seed=seed, **kwargs)
    [artifact] = result.artifacts
    samples, rate = soundfile.read(io.BytesIO(artifact.data), dtype="float32")
    return samples, rate, artifact


def test_audio_has_the_requested_duration_and_the_models_sample_rate(runner, musicgen_dir):
    samples, rate, artifact = run_music(runner, {"prompt": "happy jazz piano", "duration": 0.5, "model": str(musicgen_dir)})
    assert rate == SAMPLE_RATE
    assert samples.shape == (2000,)
    assert np.abs(samples).max() > 0, "the clip should not be silent"
    assert artifact.kind == "audio" and artifact.mime == "audio/wav"
    output = artifact.meta["output"]
    assert output["Sample rate"] == SAMPLE_RATE and output["Duration"] == 0.5 and output["Prompt"] == "happy jazz piano"


def test_duration_that_is_not_a_whole_number_of_frames_is_still_exact(runner, musicgen_dir):
    samples, _rate, _ = run_music(runner, {"prompt": "calm", "duration": 0.7, "model": str(musicgen_dir)})
    assert samples.shape == (2800,)


def test_same_seed_gives_the_same_audio_and_another_seed_different_audio(runner, musicgen_dir):
    params = {"prompt": "sad folk fiddle", "duration": 0.5, "model": str(musicgen_dir)}
    first, _, _ = run_music(runner, params, seed=5)
    again, _, _ = run_music(runner, params, seed=5)
    other, _, _ = run_music(runner, params, seed=6)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_progress_is_reported_per_frame(make_runner, musicgen_dir, monkeypatch):
    import studio.engine.runner as runner_module

    monkeypatch.setattr(runner_module, "PROGRESS_INTERVAL", 0.0)  # the runner coalesces events; see them all
    events: list[dict] = []
    run_music(make_runner(), {"prompt": "rock", "duration": 0.5, "model": str(musicgen_dir)}, on_event=events.append)
    progress = [e for e in events if e["type"] == "progress"]
    steps = 25 + 1  # 25 frames for 0.5 s at 50 frames/s, plus one step of codebook delay
    assert len(progress) >= steps
    assert progress[-1]["done"] == progress[-1]["total"] == steps
    assert [e["done"] for e in progress] == sorted(e["done"] for e in progress)


def test_cancel_stops_between_frames(make_runner, musicgen_dir, monkeypatch):
    import studio.engine.runner as runner_module

    monkeypatch.setattr(runner_module, "PROGRESS_INTERVAL", 0.0)
    runner = make_runner()
    run_music(runner, {"prompt": "warm up", "duration": 0.1, "model": str(musicgen_dir)})
    key = {"kind": "musicgen", "dtype": runner.device.dtype, "device": runner.device.name}
    loaded = runner.models.load(musicgen_dir, lambda path: pytest.fail("model was not cached"), **key)
    steps = {"count": 0, "at_cancel": None}
    hook = loaded.model.decoder.register_forward_hook(lambda *a: steps.__setitem__("count", steps["count"] + 1))
    cancel = threading.Event()
    frames_seen: list[float] = []

    def on_event(event):
        if event["type"] == "progress":
            frames_seen.append(event["done"])
            if event["done"] == 5:
                cancel.set()
                steps["at_cancel"] = steps["count"]

    try:
        with pytest.raises(Cancelled):
            runner.run(
                "studio.musicgen",
                {"prompt": "drums", "duration": 4.0, "model": str(musicgen_dir)},
                seed=1,
                on_event=on_event,
                cancel=cancel,
            )
    finally:
        hook.remove()
    assert frames_seen[-1] == 5, "no frame is reported after the cancel"
    assert steps["count"] <= steps["at_cancel"] + 1, "at most the frame in flight is computed"


def test_empty_prompt_generates_unconditionally(runner, musicgen_dir):
    samples, rate, _ = run_music(runner, {"prompt": "", "duration": 0.25, "model": str(musicgen_dir)})
    assert rate == SAMPLE_RATE and samples.shape == (1000,)


def test_flac_output(runner, musicgen_dir):
    samples, rate, artifact = run_music(runner, {"prompt": "synth", "duration": 0.25, "model": str(musicgen_dir), "format": "flac"})
    assert artifact.mime == "audio/flac" and rate == SAMPLE_RATE and samples.shape == (1000,)


def test_duration_beyond_the_models_limit_is_refused_with_the_limit(runner, musicgen_dir):
    # The tiny model has 256 positions: (256 - 1 - 1) frames / 50 per second = 5.08 s.
    with pytest.raises(ParamError, match=r"5\.1 s"):
        runner.run("studio.musicgen", {"prompt": "x", "duration": 6.0, "model": str(musicgen_dir)}, seed=1)


def test_model_is_loaded_once_and_found_without_naming_it(runner):
    run_music(runner, {"prompt": "a", "duration": 0.25})
    _, _, artifact = run_music(runner, {"prompt": "b", "duration": 0.25})
    assert runner.models.stats()["loads"] == 1
    assert artifact.meta["output"]["Model"] == "tiny-musicgen"


def test_a_language_model_folder_is_not_a_musicgen_model(runner, llama_dir):
    with pytest.raises(ModelFormatError, match="not a MusicGen model: its config.json describes a 'llama' model"):
        runner.run("studio.musicgen", {"prompt": "x", "model": str(llama_dir)}, seed=1)


def test_folder_without_config_is_not_a_musicgen_model(runner, tmp_path):
    folder = tmp_path / "loose-files"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelFormatError, match="config.json is missing"):
        runner.run("studio.musicgen", {"prompt": "x", "model": str(folder)}, seed=1)


@pytest.mark.parametrize(
    ("remove", "missing"),
    [("model.safetensors", "model.safetensors"), ("tokenizer.json", "tokenizer"), ("processor_config.json", "processor config")],
)
def test_musicgen_folder_missing_a_part_names_it(runner, musicgen_dir, tmp_path, remove, missing):
    broken = tmp_path / "broken-musicgen"
    shutil.copytree(musicgen_dir, broken)
    (broken / remove).unlink()
    with pytest.raises(ModelFormatError, match=missing):
        runner.run("studio.musicgen", {"prompt": "x", "model": str(broken)}, seed=1)


def test_melody_conditioning_is_not_offered_yet(runner, musicgen_dir):
    with pytest.raises(ParamError, match="unknown parameter"):
        runner.run("studio.musicgen", {"prompt": "x", "duration": 0.25, "model": str(musicgen_dir), "melody": "0" * 64}, seed=1)


def test_stereo_model_gives_two_channels(runner, tmp_path):
    folder = build_musicgen(tmp_path / "stereo", num_codebooks=4, stereo=True)
    config = json.loads((folder / "config.json").read_text())
    assert config["decoder"]["audio_channels"] == 2
    samples, rate, _ = run_music(runner, {"prompt": "calm", "duration": 0.25, "model": str(folder)})
    assert rate == SAMPLE_RATE and samples.shape == (1000, 2)
