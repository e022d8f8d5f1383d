"""Restoring other tools' images: what each tool shows is what the restore gives, by role.

The files are written by ``tool_files`` the way each tool writes them; the catalogue is
``GET /plugins``-shaped, with generators found by the roles they declare (ROLES), never by
their id: Patterns comes first in it and must not receive a Stable Diffusion file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tool_files import (
    A1111_OLD_TEXT,
    A1111_TEXT,
    COMFY_DEFAULT,
    FOOOCUS_META,
    INVOKE_2,
    INVOKE_5,
    INVOKE_33,
    RUINED,
    STABILITY_MATRIX,
    SWARM,
    a1111_image,
    comfy_hires_graph,
    fooocus_image,
    novelai_texts,
    png_with_texts,
)

from studio.core.errors import FileFormatError
from studio.core.inspect_file import inspect_path
from studio.core.restore import LocalModel, restore_file
from studio.plugins.manifest import read_manifest

REPO = Path(__file__).resolve().parents[2]
_IMAGE_INPUTS = {
    name: name for name in ("prompt", "negative_prompt", "steps", "guidance", "width", "height", "clip_skip", "model", "batch_size")
}


def _generator(folder: str) -> dict:
    return read_manifest(REPO / "plugins" / folder, source="first-party").generators[0].to_dict()


@pytest.fixture(scope="module")
def catalogue() -> list[dict]:
    patterns = _generator("patterns")
    # Patterns also makes images from nothing: it fills image.from_text with its size only.
    patterns["roles"] = [{"role": "image.from_text", "inputs": {"width": "width", "height": "height"}, "fixed": {}}]
    diffusion = _generator("diffusion")
    # The roles block as ROLES.md specifies it (helper `contrib` adds it to the manifests).
    diffusion["roles"] = [
        {
            "role": "image.from_text",
            "inputs": {**_IMAGE_INPUTS, "sampler": "scheduler", "schedule": "schedule"},
            "fixed": {"mode": "txt2img"},
        },
        {
            "role": "image.from_image",
            "inputs": {**_IMAGE_INPUTS, "sampler": "scheduler", "schedule": "schedule", "image": "image", "strength": "strength"},
            "fixed": {"mode": "img2img"},
        },
    ]
    return [patterns, diffusion]


MODELS = [
    LocalModel(
        "v1-5-pruned-emaonly", "/models/v1-5-pruned-emaonly.safetensors", "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa"
    ),
    LocalModel("dreamshaper_8", "/models/dreamshaper_8.safetensors", "879db523c30d3b9017143d56705015e15a2cb5628762c11d086fed9538abd7fd"),
]


def test_a1111_png_restores_cfg_size_sampler_schedule_seed_into_the_text_to_image_generator(tmp_path, catalogue):
    restore = restore_file(a1111_image(tmp_path / "a.png", A1111_TEXT), catalogue, MODELS)
    assert restore.generator == "studio.diffusion" and restore.source == "automatic1111"
    assert restore.seed == 3000000000
    params = restore.params
    assert params["prompt"] == "masterpiece, a lighthouse at dusk, (dramatic sky:1.2)"
    assert params["negative_prompt"] == "blurry, lowres"
    assert (params["steps"], params["guidance"], params["width"], params["height"]) == (28, 6.5, 512, 768)
    assert (params["scheduler"], params["schedule"], params["clip_skip"]) == ("DPM++ 2M", "Karras", 2)
    assert params["mode"] == "txt2img"
    assert params["model"] == "v1-5-pruned-emaonly"  # selected by its hash
    assert {"Hires upscale", "Hires steps", "Hires upscaler", "Lora hashes", "Denoising strength"} <= set(restore.unmapped)
    assert "hires" in restore.unmapped["Denoising strength"]


def test_old_a1111_sampler_names_split_into_sampler_and_schedule(tmp_path, catalogue):
    restore = restore_file(a1111_image(tmp_path / "a.png", A1111_OLD_TEXT), catalogue, MODELS)
    assert (restore.params["scheduler"], restore.params["schedule"]) == ("DPM++ 2M", "Karras")
    assert restore.params["guidance"] == 7 and (restore.params["width"], restore.params["height"]) == (640, 448)
    assert restore.unmapped == {}


def test_an_unknown_sampler_is_reported_never_silently_replaced(tmp_path, catalogue):
    text = "a cat\nSteps: 20, Sampler: DPM adaptive, Schedule type: Align Your Steps, CFG scale: 7, Seed: 5, Size: 512x512"
    restore = restore_file(a1111_image(tmp_path / "a.png", text), catalogue)
    assert "scheduler" not in restore.params and "schedule" not in restore.params
    assert "no diffusers equivalent" in restore.unmapped["Sampler"]
    assert "no diffusers equivalent" in restore.unmapped["Schedule type"]


def test_a_missing_model_is_named_with_its_hash(tmp_path, catalogue):
    text = "a cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512, Model hash: 0123456789, Model: someOtherModel_v2"
    restore = restore_file(a1111_image(tmp_path / "a.png", text), catalogue, MODELS)
    assert "model" not in restore.params
    assert "someOtherModel_v2" in restore.unmapped["model"] and "0123456789" in restore.unmapped["model"]


@pytest.mark.parametrize("name, little_endian", [("a.jpg", False), ("a.webp", False), ("le.jpg", True)])
def test_a1111_jpeg_and_webp_restore_from_the_exif_user_comment(tmp_path, catalogue, name, little_endian):
    path = a1111_image(tmp_path / name, A1111_TEXT, little_endian=little_endian)
    info = inspect_path(path)
    assert info["format"] in ("jpeg", "webp") and info["parameters"]["Seed"] == 3000000000
    restore = restore_file(path, catalogue, MODELS)
    assert restore.seed == 3000000000 and restore.params["guidance"] == 6.5 and restore.params["height"] == 768


def test_img2img_settings_choose_the_image_to_image_role(tmp_path, catalogue):
    text = "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512, Denoising strength: 0.6"
    restore = restore_file(a1111_image(tmp_path / "a.png", text), catalogue)
    assert restore.params["mode"] == "img2img" and restore.params["strength"] == 0.6
    assert "image" in restore.unmapped  # the source image is not in the file: said, not hidden


def test_without_an_image_to_image_generator_the_text_to_image_one_is_used(tmp_path, catalogue):
    only_txt2img = [dict(g, roles=[r for r in g.get("roles", []) if r["role"] == "image.from_text"]) for g in catalogue]
    text = "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512, Denoising strength: 0.6"
    restore = restore_file(a1111_image(tmp_path / "a.png", text), only_txt2img)
    assert restore.generator == "studio.diffusion" and restore.params["mode"] == "txt2img"
    assert "strength" in restore.unmapped


def test_no_generator_with_the_role_says_so(tmp_path, catalogue):
    restore = restore_file(a1111_image(tmp_path / "a.png", A1111_TEXT), [dict(catalogue[0], roles=[])])
    assert restore.generator is None and "image.from_text" in restore.unmapped["generator"]


def test_a_disabled_generator_is_not_chosen(tmp_path, catalogue):
    patterns, diffusion = catalogue
    restore = restore_file(a1111_image(tmp_path / "a.png", A1111_TEXT), [patterns, dict(diffusion, state="disabled")])
    # Only Patterns fills the role now: it gets the size, and everything else is listed as not restored.
    assert restore.generator == "studio.patterns" and restore.params == {"width": 512, "height": 768}
    assert {"prompt", "steps", "guidance", "sampler"} <= set(restore.unmapped)


def test_a_community_generator_with_the_role_restores_the_same_file(tmp_path):
    community = {
        "id": "someone.sdxl",
        "kind": "image",
        "params": [
            {"name": "text", "type": "text", "default": ""},
            {"name": "cfg", "type": "float", "default": 5.0, "min": 0, "max": 50},
        ],
        "roles": [{"role": "image.from_text", "inputs": {"prompt": "text", "guidance": "cfg"}, "fixed": {}}],
    }
    restore = restore_file(a1111_image(tmp_path / "a.png", A1111_TEXT), [community])
    assert restore.generator == "someone.sdxl"
    assert restore.params == {"text": "masterpiece, a lighthouse at dusk, (dramatic sky:1.2)", "cfg": 6.5}
    assert "steps" in restore.unmapped and "width" in restore.unmapped


def test_comfyui_default_graph_follows_the_sampler_links(tmp_path, catalogue):
    path = png_with_texts(tmp_path / "c.png", {"prompt": json.dumps(COMFY_DEFAULT), "workflow": json.dumps({"nodes": []})})
    restore = restore_file(path, catalogue, MODELS)
    assert restore.source == "comfyui" and restore.seed == 156680208700286
    p = restore.params
    assert p["prompt"] == "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"
    assert p["negative_prompt"] == "text, watermark"
    assert (p["steps"], p["guidance"], p["width"], p["height"]) == (20, 8.0, 512, 512)
    assert (p["scheduler"], p["schedule"]) == ("Euler", "Automatic")
    assert p["model"] == "v1-5-pruned-emaonly"  # ckpt_name matched to the local file by name


def test_comfyui_two_sampler_graph_restores_the_first_stage_and_lists_the_second(tmp_path, catalogue):
    path = png_with_texts(tmp_path / "c.png", {"prompt": json.dumps(comfy_hires_graph())})
    info = inspect_path(path)
    restore = restore_file(path, catalogue)
    assert restore.seed == 2**64 - 1  # ComfyUI seeds are unsigned 64-bit
    assert (restore.params["width"], restore.params["height"], restore.params["clip_skip"]) == (768, 512, 2)
    assert (restore.params["scheduler"], restore.params["schedule"]) == ("DPM++ 2M", "Karras")
    assert "stage 2" in restore.unmapped and "lora detail.safetensors" in restore.unmapped
    assert "texts" in info and "prompt" in info["texts"]


@pytest.mark.parametrize(
    "key, data, expected",
    [
        (
            "invokeai_metadata",
            INVOKE_33,
            {
                "prompt": "landscape",
                "negative_prompt": "low quality",
                "steps": 50,
                "guidance": 7.5,
                "width": 768,
                "height": 432,
                "scheduler": "DPM++ 2M SDE",
                "schedule": "Karras",
                "clip_skip": 1,
            },
        ),
        (
            "invokeai_metadata",
            INVOKE_5,
            {"prompt": "a cabin in the woods, snow", "steps": 30, "guidance": 5.5, "width": 1024, "scheduler": "Euler a", "clip_skip": 2},
        ),
        (
            "sd-metadata",
            INVOKE_2,
            {
                "prompt": "a cat on a sofa",
                "negative_prompt": "dog, blurry",
                "steps": 40,
                "width": 576,
                "height": 512,
                "scheduler": "Euler a",
            },
        ),
    ],
)
def test_invokeai_metadata_of_each_generation(tmp_path, catalogue, key, data, expected):
    restore = restore_file(png_with_texts(tmp_path / "i.png", {key: json.dumps(data)}), catalogue)
    assert restore.source == "invokeai" and restore.generator == "studio.diffusion"
    assert {name: restore.params[name] for name in expected} == expected
    image = data.get("image", data)
    assert restore.seed == image["seed"]


def test_invokeai_dream_command_line(tmp_path, catalogue):
    dream = '"a lighthouse [fog]" -s 30 -S 1234567 -W 512 -H 640 -C 7.5 -A k_lms'
    restore = restore_file(png_with_texts(tmp_path / "d.png", {"Dream": dream}), catalogue)
    assert restore.params["prompt"] == "a lighthouse" and restore.params["negative_prompt"] == "fog"
    assert (restore.seed, restore.params["steps"], restore.params["height"], restore.params["scheduler"]) == (1234567, 30, 640, "LMS")


def test_novelai_comment(tmp_path, catalogue):
    restore = restore_file(png_with_texts(tmp_path / "n.png", novelai_texts()), catalogue)
    assert restore.source == "novelai" and restore.seed == 3418829122
    p = restore.params
    assert (p["prompt"], p["negative_prompt"]) == ("1girl, {{silver hair}}, night city", "lowres, bad anatomy")
    assert (p["steps"], p["guidance"], p["width"], p["height"], p["scheduler"], p["schedule"]) == (28, 5.0, 832, 1216, "Euler a", "Karras")
    assert "hosted model" in restore.unmapped["model"]


@pytest.mark.parametrize("name", ["f.png", "f.jpg", "f.webp"])
def test_fooocus_json_scheme_in_png_and_exif(tmp_path, catalogue, name):
    restore = restore_file(fooocus_image(tmp_path / name, FOOOCUS_META), catalogue)
    assert restore.source == "fooocus" and restore.seed == 7480413924219290126
    p = restore.params
    assert (p["prompt"], p["steps"], p["guidance"], p["width"], p["height"]) == ("a red car", 30, 4.0, 1152, 896)
    assert (p["scheduler"], p["schedule"], p["clip_skip"]) == ("DPM++ 2M SDE", "Karras", 2)
    assert "a red car, cinematic, highly detailed" in restore.unmapped["styles"]


def test_swarmui_json_is_read_not_shown_as_the_prompt(tmp_path, catalogue):
    path = png_with_texts(tmp_path / "s.png", {"parameters": json.dumps(SWARM, indent=2)})
    assert inspect_path(path)["prompt"] == ""  # the JSON is not an A1111 prompt
    restore = restore_file(path, catalogue)
    p = restore.params
    assert restore.source == "swarmui" and restore.seed == 1826541207
    assert (p["prompt"], p["negative_prompt"], p["guidance"], p["width"], p["height"]) == ("a watercolor fox", "photo", 6.5, 896, 1152)
    assert (p["scheduler"], p["schedule"], p["clip_skip"]) == ("DPM++ 2M", "Karras", 2)


def test_ruinedfooocus_and_stability_matrix(tmp_path, catalogue):
    ruined = restore_file(png_with_texts(tmp_path / "r.png", {"parameters": json.dumps(RUINED)}), catalogue)
    assert ruined.source == "ruinedfooocus" and ruined.seed == 3456789012
    assert (ruined.params["prompt"], ruined.params["guidance"], ruined.params["scheduler"]) == ("castle on a hill", 8.0, "Euler a")
    texts = {
        "parameters": "a ship in a bottle\nNegative prompt: text\nSteps: 25, Sampler: Euler a, CFG scale: 7, Seed: 987654321, Size: 512x512",
        "parameters-json": json.dumps(STABILITY_MATRIX),
        "smproj": "{}",
    }
    matrix = restore_file(png_with_texts(tmp_path / "m.png", texts), catalogue, MODELS)
    assert matrix.source == "stability-matrix" and matrix.seed == 987654321
    assert (matrix.params["prompt"], matrix.params["steps"], matrix.params["model"]) == ("a ship in a bottle", 25, "dreamshaper_8")


def test_an_image_without_settings_is_a_clear_error(tmp_path, catalogue):
    with pytest.raises(FileFormatError, match="no generation settings"):
        restore_file(png_with_texts(tmp_path / "plain.png", {}), catalogue)


# --------------------------------------------------------------------------- robustness

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from studio.core.foreign import read_generation  # noqa: E402
from studio.core.restore import build_restore  # noqa: E402

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
_keys = st.sampled_from(
    [
        "parameters",
        "prompt",
        "workflow",
        "invokeai_metadata",
        "sd-metadata",
        "Dream",
        "Comment",
        "Software",
        "parameters-json",
        "fooocus_scheme",
        "studio",
    ]
)


@settings(max_examples=300, deadline=None, database=None)
@given(texts=st.dictionaries(_keys, st.one_of(st.text(max_size=80), _json.map(json.dumps)), max_size=4))
def test_readers_never_raise_on_malformed_metadata(texts):
    found = read_generation(texts, (64, 64))
    if found is not None:
        json.dumps(found.to_dict(), default=str)
        build_restore(found, [])


@settings(max_examples=150, deadline=None, database=None)
@given(
    graph=st.dictionaries(
        st.sampled_from(["1", "2", "3", "4"]),
        st.fixed_dictionaries(
            {
                "class_type": st.sampled_from(
                    [
                        "KSampler",
                        "KSamplerAdvanced",
                        "CLIPTextEncode",
                        "CheckpointLoaderSimple",
                        "EmptyLatentImage",
                        "LoraLoader",
                        "VAEEncode",
                        "CLIPSetLastLayer",
                    ]
                ),
                "inputs": st.dictionaries(
                    st.sampled_from(
                        [
                            "seed",
                            "steps",
                            "cfg",
                            "positive",
                            "negative",
                            "model",
                            "latent_image",
                            "clip",
                            "text",
                            "width",
                            "height",
                            "samples",
                            "stop_at_clip_layer",
                            "sampler_name",
                            "scheduler",
                            "denoise",
                        ]
                    ),
                    st.one_of(_json, st.tuples(st.sampled_from(["1", "2", "3", "4", "9"]), st.integers(0, 2)).map(list)),
                    max_size=8,
                ),
            }
        ),
        max_size=4,
    )
)
def test_comfyui_graphs_with_cycles_and_bad_links_never_raise(graph):
    found = read_generation({"prompt": json.dumps(graph)})
    if found is not None:
        json.dumps(found.to_dict(), default=str)


def test_json_parameters_are_never_read_as_an_a1111_prompt(tmp_path):
    from studio.core.png_metadata import read_png_metadata

    path = png_with_texts(tmp_path / "s.png", {"parameters": json.dumps(SWARM, indent=2)})
    meta = read_png_metadata(path)
    assert meta["prompt"] == "" and meta["parameters"] == {}
