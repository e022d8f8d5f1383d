"""studio.diffusion through the real engine runner, on tiny random SD 1.x models."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from diffusion_helpers import SIZE, Events, base_params, png_image, store_png
from PIL import Image

from studio.core import png_metadata
from studio.core.errors import Cancelled, ModelFormatError


def fields_of(artifact) -> dict:
    """The ``Key: value`` fields of the PNG's A1111 parameters chunk."""
    return png_metadata.parse_a1111(png_image(artifact).text["parameters"])["parameters"]


def pixels(artifact) -> np.ndarray:
    return np.asarray(png_image(artifact).convert("RGB"), dtype=np.int16)


def test_txt2img_writes_png_with_a1111_parameters(runner, tiny):
    result = runner.run("studio.diffusion", base_params(tiny.folder, negative_prompt="blurry"), seed=7)
    [artifact] = result.artifacts
    image = png_image(artifact)
    assert image.size == (SIZE, SIZE)
    assert pixels(artifact).std() > 1.0  # a real picture, not a flat fill

    meta = png_metadata.read_png_metadata(artifact.data)
    text = png_image(artifact).text["parameters"]
    assert text.startswith("a red cat\nNegative prompt: blurry\n")
    parsed = png_metadata.parse_a1111(text)
    assert (parsed["prompt"], parsed["negative_prompt"]) == ("a red cat", "blurry")
    fields = parsed["parameters"]
    assert fields["Steps"] == 3
    assert fields["Sampler"] == "Euler"
    assert fields["CFG scale"] == 7.0
    assert fields["Seed"] == 7
    assert fields["Size"] == f"{SIZE}x{SIZE}"
    assert fields["Model"] == "tiny-sd1-diffusers"
    assert fields["Model hash"] == runner.models.content_hash(tiny.folder)[:10]
    assert meta  # the engine's provenance chunk reads back


def test_same_seed_gives_the_same_bytes_and_another_seed_differs(runner, tiny):
    params = base_params(tiny.folder, scheduler="Euler a")  # ancestral: noise every step
    first = runner.run("studio.diffusion", params, seed=11).artifacts[0]
    again = runner.run("studio.diffusion", params, seed=11).artifacts[0]
    other = runner.run("studio.diffusion", params, seed=12).artifacts[0]
    assert first.data == again.data
    assert not np.array_equal(pixels(first), pixels(other))


def test_second_job_on_the_same_model_hits_the_cache(runner, tiny):
    runner.run("studio.diffusion", base_params(tiny.folder, steps=1), seed=1)
    before = runner.models.stats()
    runner.run("studio.diffusion", base_params(tiny.folder, steps=1, prompt="a dog"), seed=2)
    after = runner.models.stats()
    assert after["loads"] == before["loads"]
    assert after["hits"] == before["hits"] + 1
    [entry] = [m for m in runner.models.loaded() if m["path"] == str(tiny.folder.resolve())]
    assert entry["kind"] == "diffusion" and entry["bytes"] > 0


def test_single_file_checkpoint_gives_the_same_image_as_its_diffusers_folder(runner, tiny):
    from_folder = runner.run("studio.diffusion", base_params(tiny.folder), seed=3).artifacts[0]
    from_file = runner.run("studio.diffusion", base_params(tiny.single_file), seed=3).artifacts[0]
    assert np.array_equal(pixels(from_folder), pixels(from_file))
    assert fields_of(from_file)["Model"] == "tiny-sd1"


def test_hugging_face_cache_folder_loads_by_its_repo_name(runner, tiny):
    result = runner.run("studio.diffusion", base_params(tiny.hf_cache, steps=1), seed=1)
    assert fields_of(result.artifacts[0])["Model"] == "tiny/sd1"


def test_scheduler_switch_changes_output_without_reloading(runner, tiny):
    runner.run("studio.diffusion", base_params(tiny.folder, steps=1), seed=1)
    loads = runner.models.stats()["loads"]
    outputs = {}
    for name in ("Euler", "DPM++ 2M Karras", "DDIM", "UniPC", "Default"):
        artifact = runner.run("studio.diffusion", base_params(tiny.folder, scheduler=name, steps=4), seed=5).artifacts[0]
        outputs[name] = pixels(artifact)
        fields = fields_of(artifact)
        if name == "DPM++ 2M Karras":
            # The pre-1.9 A1111 name is written as A1111 1.9+ writes it: sampler + schedule type.
            assert (fields["Sampler"], fields["Schedule type"]) == ("DPM++ 2M", "Karras")
        else:
            assert fields["Sampler"] == ("DDIM" if name == "Default" else name)  # the tiny model ships DDIM
    assert runner.models.stats()["loads"] == loads
    assert not np.array_equal(outputs["Euler"], outputs["DPM++ 2M Karras"])
    assert np.array_equal(outputs["DDIM"], outputs["Default"])


def test_previews_arrive_every_step_and_progress_reaches_the_end(runner, tiny):
    events = Events()
    runner.run("studio.diffusion", base_params(tiny.folder, steps=5), seed=1, on_event=events)
    previews = events.of("preview")
    assert len(previews) == 5
    assert all(p["mime"] == "image/jpeg" and p["data"][:2] == b"\xff\xd8" for p in previews)
    last = events.of("progress")[-1]
    assert last["done"] == last["total"] == 5


def test_cancel_stops_within_one_step(runner, tiny):
    cancel = threading.Event()
    events = Events()

    def on_event(event):
        events(event)
        if event["type"] == "preview" and len(events.of("preview")) == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        runner.run("studio.diffusion", base_params(tiny.folder, steps=30), seed=1, on_event=on_event, cancel=cancel)
    assert len(events.of("preview")) == 2  # the step in flight when cancel came was the last


def test_img2img_follows_the_input_more_at_low_strength(runner, tiny):
    ramp = np.linspace(0, 255, SIZE, dtype=np.uint8)
    first = np.stack([np.tile(ramp, (SIZE, 1)), np.tile(ramp[:, None], (1, SIZE)), np.full((SIZE, SIZE), 40, np.uint8)], -1)
    second = 255 - first
    inputs = [store_png(runner, Image.fromarray(first)), store_png(runner, Image.fromarray(second))]
    spread = {}
    for strength in (0.3, 1.0):
        outs = []
        for image_id in inputs:
            artifact = runner.run(
                "studio.diffusion", base_params(tiny.folder, image=image_id, strength=strength, steps=10), seed=4
            ).artifacts[0]
            assert png_image(artifact).size == (SIZE, SIZE)
            assert fields_of(artifact)["Denoising strength"] == strength
            outs.append(pixels(artifact))
        spread[strength] = np.abs(outs[0] - outs[1]).mean()
    # Same seed, different inputs: at low strength the input decides the picture, at full
    # strength the noise does, so the two outputs differ more at low strength.
    assert spread[0.3] > spread[1.0] > 0


def test_inpaint_repaints_only_the_masked_region(runner, tiny):
    source = np.full((SIZE, SIZE, 3), (30, 160, 90), dtype=np.uint8)
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    mask[8:24, 8:24] = 255
    params = base_params(
        tiny.folder,
        image=store_png(runner, Image.fromarray(source)),
        mask=store_png(runner, Image.fromarray(mask, "L")),
        strength=1.0,
        mask_blur=0,
        steps=4,
    )
    artifact = runner.run("studio.diffusion", params, seed=2).artifacts[0]
    out = pixels(artifact)
    outside = mask == 0
    assert np.array_equal(out[outside], source[outside].astype(np.int16))  # untouched pixels are the user's
    assert np.abs(out[mask == 255] - source[mask == 255].astype(np.int16)).mean() > 5
    fields = fields_of(artifact)
    assert fields["Mask blur"] == 0 and fields["Denoising strength"] == 1.0


def test_outpaint_extends_the_chosen_sides_and_keeps_the_original(runner, tiny):
    source = np.full((SIZE, SIZE, 3), (220, 200, 40), dtype=np.uint8)
    source[:, : SIZE // 2] = (40, 60, 200)
    params = base_params(
        tiny.folder, image=store_png(runner, Image.fromarray(source)), extend_right=16, extend_bottom=10, steps=3, mask_blur=0
    )
    artifact = runner.run("studio.diffusion", params, seed=3).artifacts[0]
    out = pixels(artifact)
    assert out.shape == (SIZE + 10, SIZE + 16, 3)
    keep = 8  # the mask reaches 8 px into the original on extended sides to repaint the seam
    assert np.array_equal(out[: SIZE - keep, : SIZE - keep], source[: SIZE - keep, : SIZE - keep].astype(np.int16))
    fields = fields_of(artifact)
    assert fields["Outpaint"] == "right 16, bottom 10"
    assert fields["Size"] == f"{SIZE + 16}x{SIZE + 10}"


def test_lora_changes_output_and_removing_it_restores_the_base_without_reload(runner, tiny):
    params = base_params(tiny.folder, steps=3)
    base = runner.run("studio.diffusion", params, seed=9).artifacts[0]
    loads = runner.models.stats()["loads"]

    with_lora = runner.run("studio.diffusion", dict(params, lora=str(tiny.lora), lora_weight=1.0), seed=9).artifacts[0]
    half = runner.run("studio.diffusion", dict(params, lora=str(tiny.lora), lora_weight=0.5), seed=9).artifacts[0]
    restored = runner.run("studio.diffusion", params, seed=9).artifacts[0]

    assert runner.models.stats()["loads"] == loads  # the base model was never reloaded
    assert not np.array_equal(pixels(base), pixels(with_lora))
    assert not np.array_equal(pixels(with_lora), pixels(half))
    assert np.array_equal(pixels(base), pixels(restored))
    fields = fields_of(with_lora)
    from studio_diffusion.loras import lora_hash

    assert fields["Lora hashes"] == f"tiny-lora: {lora_hash(tiny.lora)[:12]}"
    assert fields["LoRAs"] == "tiny-lora: 1"


def test_kohya_format_lora_gives_the_same_image_as_the_diffusers_format(runner, tiny):
    peft = runner.run("studio.diffusion", base_params(tiny.folder, lora=str(tiny.lora)), seed=9).artifacts[0]
    kohya = runner.run("studio.diffusion", base_params(tiny.folder, lora=str(tiny.kohya_lora)), seed=9).artifacts[0]
    assert np.array_equal(pixels(peft), pixels(kohya))


def test_two_loras_combine_with_their_weights(runner, tiny):
    one = runner.run("studio.diffusion", base_params(tiny.folder, lora=str(tiny.lora)), seed=9).artifacts[0]
    # The two files hold the same LoRA, so half of each is the whole of one.
    halves = runner.run("studio.diffusion", base_params(tiny.folder, loras="tiny-lora:0.5; tiny-lora-kohya:0.5"), seed=9).artifacts[0]
    assert np.abs(pixels(one) - pixels(halves)).max() <= 1
    assert fields_of(halves)["LoRAs"] == "tiny-lora: 0.5, tiny-lora-kohya: 0.5"


def test_lora_by_name_from_the_model_folders(runner, tiny):
    by_path = runner.run("studio.diffusion", base_params(tiny.folder, lora=str(tiny.lora)), seed=9).artifacts[0]
    by_name = runner.run("studio.diffusion", base_params(tiny.folder, loras="tiny-lora:1.0"), seed=9).artifacts[0]
    assert np.array_equal(pixels(by_path), pixels(by_name))


def test_batch_image_i_is_reproducible_alone_with_seed_plus_i(runner, tiny):
    batch = runner.run("studio.diffusion", base_params(tiny.folder, batch_size=2), seed=20).artifacts
    assert len(batch) == 2
    alone = runner.run("studio.diffusion", base_params(tiny.folder), seed=21).artifacts[0]
    assert np.array_equal(pixels(batch[1]), pixels(alone))
    assert fields_of(batch[1])["Seed"] == 21


def test_clip_skip_changes_the_conditioning_and_is_recorded(runner, tiny):
    plain = runner.run("studio.diffusion", base_params(tiny.folder), seed=5).artifacts[0]
    skipped = runner.run("studio.diffusion", base_params(tiny.folder, clip_skip=2), seed=5).artifacts[0]
    assert not np.array_equal(pixels(plain), pixels(skipped))
    assert fields_of(skipped)["Clip skip"] == 2


def test_width_and_height_snap_to_the_model_multiple(runner, tiny):
    params = base_params(tiny.folder, width=SIZE + 5, height=SIZE + 2, steps=1)
    artifact = runner.run("studio.diffusion", params, seed=1).artifacts[0]
    assert png_image(artifact).size == (SIZE + 8, SIZE)  # nearest multiples of 8


def test_img2img_keeps_an_odd_selection_size(runner, tiny):
    image_id = store_png(runner, Image.new("RGB", (SIZE + 5, SIZE - 3), (200, 40, 40)))
    artifact = runner.run("studio.diffusion", base_params(tiny.folder, image=image_id, steps=2), seed=1).artifacts[0]
    assert png_image(artifact).size == (SIZE + 5, SIZE - 3)


def test_pickle_checkpoint_is_refused_naming_the_file_and_the_fix(runner, tiny, tmp_path):
    import torch
    from safetensors.torch import load_file

    ckpt = tmp_path / "old-model.ckpt"
    torch.save({"state_dict": load_file(str(tiny.single_file))}, ckpt)
    with pytest.raises(ModelFormatError) as caught:
        runner.run("studio.diffusion", base_params(ckpt), seed=1)
    message = str(caught.value)
    assert "old-model.ckpt" in message and "pickle" in message
    assert ".safetensors" in message and "Settings" in message


def test_pickle_checkpoint_loads_weights_only_when_allowed(tiny, tmp_path):
    import shutil

    import torch
    from diffusion_helpers import PLUGINS
    from safetensors.torch import load_file

    from studio.engine.config import EngineConfig
    from studio.engine.runner import LocalRunner

    ckpt = tmp_path / "old-model.ckpt"
    torch.save({"state_dict": load_file(str(tiny.single_file))}, ckpt)
    shutil.copytree(tiny.models_dir / "tiny-sd1.config", tmp_path / "old-model.config")
    allowing = LocalRunner(EngineConfig(home=tmp_path / "home", plugin_dirs=[PLUGINS], allow_pickle=True))
    from_pickle = allowing.run("studio.diffusion", base_params(ckpt, steps=2), seed=3).artifacts[0]
    from_safetensors = allowing.run("studio.diffusion", base_params(tiny.single_file, steps=2), seed=3).artifacts[0]
    assert np.array_equal(pixels(from_pickle), pixels(from_safetensors))


def test_truncated_safetensors_is_refused_clearly(runner, tiny, tmp_path):
    data = tiny.single_file.read_bytes()
    broken = tmp_path / "half-downloaded.safetensors"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFormatError) as caught:
        runner.run("studio.diffusion", base_params(broken), seed=1)
    message = str(caught.value)
    assert "half-downloaded.safetensors" in message and "truncated" in message and "Download it again" in message


def test_empty_folder_is_refused_saying_what_a_model_folder_needs(runner, tmp_path):
    empty = tmp_path / "my-model"
    empty.mkdir()
    with pytest.raises(ModelFormatError) as caught:
        runner.run("studio.diffusion", base_params(empty), seed=1)
    message = str(caught.value)
    assert "empty" in message and "model_index.json" in message and "unet" in message


def test_folder_missing_a_component_names_it(runner, tiny, tmp_path):
    import shutil

    broken = tmp_path / "no-unet"
    shutil.copytree(tiny.folder, broken)
    shutil.rmtree(broken / "unet")
    with pytest.raises(ModelFormatError) as caught:
        runner.run("studio.diffusion", base_params(broken), seed=1)
    assert "unet/" in str(caught.value) and "missing" in str(caught.value)


def test_model_defaults_to_the_first_found_in_the_model_folders(runner):
    result = runner.run("studio.diffusion", {"prompt": "x", "steps": 1, "width": SIZE, "height": SIZE}, seed=1)
    assert png_image(result.artifacts[0]).size == (SIZE, SIZE)
