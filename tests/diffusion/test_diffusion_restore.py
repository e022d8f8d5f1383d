"""Stable Diffusion outputs: A1111-exact PNGs, every A1111 sampler x schedule, batch items that
restore alone, no local paths in files, and output -> restore -> re-run giving the same pixels."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from diffusion_helpers import SIZE, base_params
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.errors import ParamError
from studio.core.png_metadata import read_png_chunks
from studio.core.restore import restore_file
from studio.core.samplers import A1111_SAMPLERS, SCHEDULES, UNSUPPORTED_SCHEDULES

# diffusers' k-diffusion schedulers call numpy on torch tensors: thousands of NumPy 2
# deprecation notices per run that say nothing about this code.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def pixels(artifact) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(artifact.data)).convert("RGB"))


def restore_of(runner, artifact, folder: Path):
    path = folder / "out.png"
    path.write_bytes(artifact.data)
    generator = runner.plugins.describe("studio.diffusion")[0].to_dict()
    return restore_file(path, [generator])


def test_png_parameters_are_written_in_a1111_order_and_names(runner, tiny):
    params = base_params(tiny.folder, scheduler="DPM++ 2M", schedule="Karras", guidance=6.5, clip_skip=2, negative_prompt="blurry")
    artifact = runner.run("studio.diffusion", params, seed=3_000_000_000).artifacts[0]
    _size, texts = read_png_chunks(artifact.data)
    prompt, negative, fields = texts["parameters"].split("\n")
    assert (prompt, negative) == ("a red cat", "Negative prompt: blurry")
    keys = [item.split(": ")[0] for item in fields.split(", ")]
    assert keys[:8] == ["Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model hash", "Model"]
    assert keys.index("Clip skip") > keys.index("Model") and keys[-1] == "Version"
    assert "Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3000000000" in fields


def test_every_a1111_sampler_and_schedule_builds_a_scheduler_or_says_why(tiny):
    from studio_diffusion.schedulers import make_scheduler

    config = json.loads((tiny.folder / "scheduler" / "scheduler_config.json").read_text())
    built = refused = 0
    for sampler in A1111_SAMPLERS:
        for schedule in SCHEDULES:
            try:
                scheduler, name, used = make_scheduler(sampler, config, schedule=schedule)
            except ParamError as exc:
                assert schedule in str(exc) and sampler in str(exc)  # an explicit reason, naming both
                refused += 1
                continue
            built += 1
            assert name == sampler and used != "Automatic"
            if used == "Karras":
                assert scheduler.config.use_karras_sigmas
            if used == "Exponential":
                assert scheduler.config.use_exponential_sigmas
            if used == "SGM Uniform":
                assert scheduler.config.timestep_spacing == "trailing"
    assert built > 60 and refused < built
    for unknown in ("DPM adaptive", "Nonsense"):
        with pytest.raises(ParamError, match="scheduler"):
            make_scheduler(unknown, config)
    for schedule in UNSUPPORTED_SCHEDULES[:2]:
        with pytest.raises(ParamError, match="no diffusers equivalent"):
            make_scheduler("Euler", config, schedule=schedule)


@pytest.mark.parametrize(
    "sampler, schedule",
    [("Heun", "Karras"), ("DPM++ 2M SDE", "Exponential"), ("LMS", "Automatic"), ("DPM++ SDE", "Karras"), ("DPM2 a", "Beta")],
)
def test_samplers_beyond_the_old_list_generate_and_record_their_names(runner, tiny, sampler, schedule):
    artifact = runner.run("studio.diffusion", base_params(tiny.folder, scheduler=sampler, schedule=schedule, steps=2), seed=4).artifacts[0]
    fields = read_png_chunks(artifact.data)[1]["parameters"]
    assert f"Sampler: {sampler}, Schedule type: {schedule if schedule != 'Automatic' else 'Uniform'}" in fields


def test_a_batch_item_records_its_own_seed_and_restores_alone(runner, tiny, tmp_path):
    seed = 2**64 - 1  # the second item's seed wraps to 0 inside the unsigned 64-bit range
    batch = runner.run("studio.diffusion", base_params(tiny.folder, batch_size=2, steps=2), seed=seed).artifacts
    assert len(batch) == 2
    second = batch[1]
    record = json.loads(read_png_chunks(second.data)[1]["studio"])
    assert record["item"] == {"index": 1, "count": 2, "seed": 0}
    restore = restore_of(runner, second, tmp_path)
    assert restore.seed == 0 and restore.params["batch_size"] == 1
    again = runner.run("studio.diffusion", restore.params, restore.seed).artifacts
    assert len(again) == 1
    assert np.array_equal(pixels(again[0]), pixels(second))


def test_files_name_the_model_and_its_hash_never_its_local_path(runner, tiny, tmp_path):
    artifact = runner.run("studio.diffusion", base_params(tiny.folder, steps=1), seed=1).artifacts[0]
    assert str(tiny.root).encode() not in artifact.data
    record = json.loads(read_png_chunks(artifact.data)[1]["studio"])
    assert record["params"]["model"] == tiny.folder.name
    (model,) = record["models"]
    assert model["name"] == tiny.folder.name and len(model["hash"]) == 64 and "path" not in model
    # ...and the name is enough to re-make it from the model folders.
    restore = restore_of(runner, artifact, tmp_path)
    assert np.array_equal(pixels(runner.run("studio.diffusion", restore.params, restore.seed).artifacts[0]), pixels(artifact))


def test_the_embed_model_paths_setting_opts_in_to_paths(tiny, tmp_path):
    from diffusion_helpers import PLUGINS

    from studio.engine.config import EngineConfig
    from studio.engine.runner import LocalRunner

    runner = LocalRunner(EngineConfig(home=tmp_path / "home", plugin_dirs=[PLUGINS], model_paths=[tiny.models_dir], embed_model_paths=True))
    artifact = runner.run("studio.diffusion", base_params(tiny.folder, steps=1), seed=1).artifacts[0]
    record = json.loads(read_png_chunks(artifact.data)[1]["studio"])
    assert record["models"][0]["path"] == str(tiny.folder.resolve()) or record["models"][0]["path"].endswith(tiny.folder.name)


@settings(max_examples=6, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.one_of(st.integers(0, 2**32 - 1), st.integers(2**32, 2**64 - 1)),
    sampler=st.sampled_from(["Euler", "Euler a", "DPM++ 2M", "DDIM", "UniPC", "Heun"]),
    schedule=st.sampled_from(["Automatic", "Uniform"]),
    steps=st.integers(1, 3),
    guidance=st.sampled_from([1.0, 4.5, 7.0]),
    size=st.sampled_from([(SIZE, SIZE), (SIZE * 2, SIZE)]),
)
def test_output_reruns_to_the_same_pixels(runner, tiny, tmp_path_factory, seed, sampler, schedule, steps, guidance, size):
    params = base_params(tiny.folder, scheduler=sampler, schedule=schedule, steps=steps, guidance=guidance, width=size[0], height=size[1])
    first = runner.run("studio.diffusion", params, seed=seed).artifacts[0]
    restore = restore_of(runner, first, tmp_path_factory.mktemp("rerun"))
    assert restore.generator == "studio.diffusion" and restore.seed == seed and restore.unmapped == {}
    again = runner.run("studio.diffusion", restore.params, restore.seed).artifacts[0]
    assert again.data == first.data


def test_an_a1111_png_restores_into_a_job_that_writes_the_same_settings(runner, tiny, tmp_path):
    """Another tool's file -> restore by role -> a real job whose own PNG shows the same settings."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
    from tool_files import a1111_image

    from studio.core.png_metadata import parse_a1111

    text = (
        f"a red cat\nNegative prompt: blurry\nSteps: 3, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.5, "
        f"Seed: 3000000000, Size: {SIZE}x{SIZE}, Model hash: 0000000000, Model: {tiny.folder.name}, Version: v1.10.1"
    )
    path = a1111_image(tmp_path / "a1111.png", text)
    generator = runner.plugins.describe("studio.diffusion")[0].to_dict()
    inputs = {
        name: name for name in ("prompt", "negative_prompt", "steps", "guidance", "width", "height", "clip_skip", "model", "batch_size")
    }
    generator["roles"] = [
        {"role": "image.from_text", "inputs": {**inputs, "sampler": "scheduler", "schedule": "schedule"}, "fixed": {"mode": "txt2img"}}
    ]
    from studio.core.restore import LocalModel

    restore = restore_file(path, [generator], [LocalModel(tiny.folder.name, str(tiny.folder))])
    assert restore.params["model"] == tiny.folder.name and restore.unmapped == {}
    made = runner.run(restore.generator, restore.params, restore.seed).artifacts[0]
    written = parse_a1111(read_png_chunks(made.data)[1]["parameters"])
    fields = written["parameters"]
    assert (written["prompt"], written["negative_prompt"]) == ("a red cat", "blurry")
    assert (fields["Steps"], fields["Sampler"], fields["Schedule type"], fields["CFG scale"], fields["Seed"], fields["Size"]) == (
        3,
        "DPM++ 2M",
        "Karras",
        5.5,
        3000000000,
        f"{SIZE}x{SIZE}",
    )
