"""Model files without running a pipeline: headers, families, discovery, offline configs."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from PIL import Image
from studio_diffusion import canvas
from studio_diffusion.checkpoint import detect_family, inspect_checkpoint, read_safetensors_header
from studio_diffusion.discovery import find_models, resolve_model
from studio_diffusion.generator import choose_mode
from studio_diffusion.loras import parse_lora_list
from studio_diffusion.offline_configs import clip_tokenizer, config_for, configs_root, shipped_config_name

from studio.core.errors import ModelFormatError, ParamError

U = "model.diffusion_model."
SD1_KEYS = {
    U + "input_blocks.0.0.weight": (320, 4, 3, 3),
    U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 768),
    U + "output_blocks.11.0.skip_connection.weight": (320, 640, 1, 1),
    "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": (77, 768),
    "first_stage_model.decoder.conv_out.weight": (3, 128, 3, 3),
}
SD2_KEYS = {
    U + "input_blocks.0.0.weight": (320, 4, 3, 3),
    U + "input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024),
    "cond_stage_model.model.token_embedding.weight": (49408, 1024),
}
SDXL_KEYS = {
    U + "input_blocks.0.0.weight": (320, 4, 3, 3),
    "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight": (77, 768),
    "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias": (1280,),
    "conditioner.embedders.1.model.positional_embedding": (77, 1280),
}
REFINER_KEYS = {
    U + "input_blocks.0.0.weight": (384, 4, 3, 3),
    "conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias": (1280,),
}


def write_header_only(path: Path, shapes: dict[str, tuple[int, ...]], *, data: bool = True) -> Path:
    """A valid safetensors file holding zero-filled float16 tensors of the given shapes."""
    header, offset = {}, 0
    for key, shape in shapes.items():
        size = 2
        for dim in shape:
            size *= dim
        size = min(size, 2)  # the family check reads only shapes; keep the file tiny
        header[key] = {"dtype": "F16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + (b"\0" * offset if data else b""))
    return path


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (SD1_KEYS, ("sd1", "")),
        ({**SD1_KEYS, U + "input_blocks.0.0.weight": (320, 9, 3, 3)}, ("sd1", "inpainting")),
        (SD2_KEYS, ("sd2", "")),
        (SDXL_KEYS, ("sdxl", "")),
        ({**SDXL_KEYS, U + "input_blocks.0.0.weight": (320, 9, 3, 3)}, ("sdxl", "inpainting")),
        (REFINER_KEYS, ("sdxl-refiner", "")),
        (
            {
                "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": (4, 320),
                "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": (320, 4),
                "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": (),
            },
            ("lora", ""),
        ),
        (
            {
                "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight": (4, 64),
                "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.lora_B.weight": (64, 4),
            },
            ("lora", ""),
        ),
        ({"encoder.conv_in.weight": (128, 3, 3, 3), "decoder.conv_out.weight": (3, 128, 3, 3)}, ("vae", "")),
        ({U + "double_blocks.0.img_attn.norm.key_norm.scale": (128,), U + "img_in.weight": (3072, 64)}, ("flux-schnell", "")),
        ({"some.random.tensor": (3, 3)}, ("unknown", "")),
    ],
    ids=["sd1", "sd1-inpaint", "sd2", "sdxl", "sdxl-inpaint", "refiner", "kohya-lora", "peft-lora", "vae", "flux", "unknown"],
)
def test_family_is_detected_from_tensor_keys(keys, expected):
    assert detect_family(keys) == expected


def test_family_is_read_from_the_header_alone(tmp_path, tiny):
    assert inspect_checkpoint(write_header_only(tmp_path / "xl.safetensors", SDXL_KEYS)).family == "sdxl"
    assert inspect_checkpoint(tiny.single_file).family == "sd1"
    assert inspect_checkpoint(tiny.lora).family == "lora"


def test_truncated_and_foreign_files_get_clear_errors(tmp_path):
    complete = write_header_only(tmp_path / "whole.safetensors", SD1_KEYS)
    data = complete.read_bytes()
    (tmp_path / "cut-data.safetensors").write_bytes(data[:-3])
    (tmp_path / "cut-header.safetensors").write_bytes(data[:20])
    (tmp_path / "zero.safetensors").write_bytes(b"")
    (tmp_path / "text.safetensors").write_bytes(b"hello, this is not a model at all" * 4)
    read_safetensors_header(complete)
    for name, words in [
        ("cut-data", "truncated"),
        ("cut-header", "truncated"),
        ("zero", "empty or truncated"),
        ("text", "not a safetensors file"),
    ]:
        with pytest.raises(ModelFormatError) as caught:
            read_safetensors_header(tmp_path / f"{name}.safetensors")
        assert f"{name}.safetensors" in str(caught.value) and words in str(caught.value)


def test_discovery_lists_checkpoints_loras_and_hf_cache_with_families(tiny, tmp_path):
    (tmp_path / "old.ckpt").write_bytes(b"not really")
    found = {entry.name: entry for entry in find_models([tiny.models_dir, tiny.hf_cache.parent, tmp_path])}
    assert found["tiny-sd1-diffusers"].format == "diffusers" and found["tiny-sd1-diffusers"].family == "sd1"
    assert found["tiny-sd1"].format == "safetensors" and found["tiny-sd1"].family == "sd1"
    assert found["tiny-lora"].kind == "lora"
    assert found["tiny/sd1"].path == tiny.hf_cache and found["tiny/sd1"].family == "sd1"
    assert found["old"].format == "pickle" and "refused" in found["old"].note
    # A checkpoint's .config/ folder and a diffusers folder's component weights are not models.
    assert not any(entry.path.name.endswith(".config") for entry in found.values())
    assert not any("unet" in entry.path.parts for entry in found.values())


def test_model_names_resolve_in_the_model_folders(tiny):
    assert resolve_model("tiny-sd1", [tiny.models_dir]) == tiny.single_file
    assert resolve_model("tiny/sd1", [tiny.hf_cache.parent]) == tiny.hf_cache
    with pytest.raises(ParamError, match="no such model"):
        resolve_model("missing-model", [tiny.models_dir])
    with pytest.raises(ParamError, match="no Stable Diffusion model found"):
        resolve_model(None, [])


def test_shipped_clip_tokenizer_matches_openai_clip():
    tokenizer = clip_tokenizer()
    assert len(tokenizer) == 49408
    # The published CLIP ids for this sentence (start, a, photo, of, a, cat, end).
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert tokenizer.model_max_length == 77
    assert clip_tokenizer("!").pad_token_id == 0  # OpenCLIP (SD 2.x, SDXL's second encoder) pads with "!"


def test_shipped_configs_get_tokenizers_with_each_encoders_padding():
    from studio_diffusion.offline_configs import tokenizers_for

    sd1 = tokenizers_for(configs_root() / "sd1", "sd1")
    assert list(sd1) == ["tokenizer"] and sd1["tokenizer"].pad_token == "<|endoftext|>"
    assert tokenizers_for(configs_root() / "sd2-v", "sd2")["tokenizer"].pad_token == "!"
    xl = tokenizers_for(configs_root() / "sdxl", "sdxl")
    assert (xl["tokenizer"].pad_token, xl["tokenizer_2"].pad_token) == ("<|endoftext|>", "!")
    assert list(tokenizers_for(configs_root() / "sdxl-refiner", "sdxl-refiner")) == ["tokenizer_2"]


def test_single_files_map_to_the_shipped_configs(tmp_path):
    def config_name(keys, yaml=None):
        path = write_header_only(tmp_path / "model.safetensors", keys)
        if yaml is not None:
            path.with_suffix(".yaml").write_text(yaml)
        else:
            path.with_suffix(".yaml").unlink(missing_ok=True)
        return shipped_config_name(inspect_checkpoint(path))

    assert config_name(SD1_KEYS) == "sd1"
    assert config_name({**SD1_KEYS, U + "input_blocks.0.0.weight": (320, 9, 3, 3)}) == "sd1-inpainting"
    assert config_name(SD2_KEYS) == "sd2-v"
    assert config_name(SD2_KEYS, yaml='model:\n  params:\n    parameterization: "v"\n') == "sd2-v"
    assert config_name(SD2_KEYS, yaml="model:\n  params:\n    linear_start: 0.00085\n") == "sd2-base"
    assert config_name(SDXL_KEYS) == "sdxl"
    assert config_name(REFINER_KEYS) == "sdxl-refiner"
    flux = write_header_only(tmp_path / "flux.safetensors", {U + "double_blocks.0.img_attn.norm.key_norm.scale": (128,)})
    with pytest.raises(ModelFormatError, match="diffusers folder"):
        config_for(inspect_checkpoint(flux))


@pytest.mark.parametrize(
    "name", ["sd1", "sd1-inpainting", "sd2-v", "sd2-base", "sd2-inpainting", "sdxl", "sdxl-inpainting", "sdxl-refiner"]
)
def test_shipped_config_folders_are_complete(name):
    import diffusers

    folder = configs_root() / name
    index = json.loads((folder / "model_index.json").read_text())
    pipeline = getattr(diffusers, index["_class_name"])
    for component, (library, class_name) in ((k, v) for k, v in index.items() if isinstance(v, list)):
        if library is None or class_name == "CLIPTokenizer":
            continue  # tokenizers come from the shipped CLIP vocabulary
        configs = list((folder / component).glob("*config.json"))
        assert configs, f"{name}: {component}/ has no config"
    assert pipeline.__name__ == index["_class_name"]


def test_shipped_configs_describe_the_published_model_sizes():
    """Parameter counts of the reference models, built on the meta device (no memory)."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    def count(module):
        return sum(p.numel() for p in module.parameters())

    def unet(name):
        with init_empty_weights():
            return count(UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(configs_root() / name / "unet")))

    def text(name, sub="text_encoder", cls=CLIPTextModel):
        with init_empty_weights():
            return count(cls(CLIPTextConfig.from_pretrained(configs_root() / name / sub)))

    with init_empty_weights():
        vae = count(AutoencoderKL.from_config(AutoencoderKL.load_config(configs_root() / "sd1" / "vae")))
    assert unet("sd1") == 859_520_964  # SD 1.5
    assert unet("sd2-v") == 865_910_724  # SD 2.1
    assert unet("sdxl") == 2_567_463_684  # SDXL base 1.0
    assert vae == 83_653_863
    assert text("sd1") == 123_060_480  # CLIP ViT-L/14 text tower
    assert text("sdxl", "text_encoder_2", CLIPTextModelWithProjection) == 694_659_840  # OpenCLIP bigG


def test_mode_follows_the_inputs():
    image, mask = "a" * 64, "b" * 64
    assert choose_mode({}) == "txt2img"
    assert choose_mode({"image": image}) == "img2img"
    assert choose_mode({"image": image, "mask": mask}) == "inpaint"
    assert choose_mode({"image": image, "extend_left": 64}) == "outpaint"
    with pytest.raises(ParamError, match="needs a mask"):
        choose_mode({"mode": "inpaint", "image": image})
    with pytest.raises(ParamError, match="needs an image"):
        choose_mode({"mode": "img2img"})


def test_lora_lists_accept_weights_windows_paths_and_a1111_tags():
    assert parse_lora_list("style.safetensors:0.8; other") == [("style.safetensors", 0.8), ("other", 1.0)]
    assert parse_lora_list("C:\\loras\\ink.safetensors\n<lora:film:0.5>") == [("C:\\loras\\ink.safetensors", 1.0), ("film", 0.5)]
    assert parse_lora_list("") == []


def test_outpaint_canvas_rounds_up_and_masks_only_new_pixels_plus_the_seam():
    image = Image.new("RGB", (30, 20), (10, 200, 30))
    extended = canvas.outpaint_canvas(image, left=0, right=13, top=0, bottom=0, multiple=8, overlap=4)
    assert extended.image.size == (48, 24)  # 43 wide -> 48, 20 high -> 24 (rounding pixels masked too)
    assert extended.final_size == (43, 20)
    assert extended.crop_box == (0, 0, 43, 20)
    mask = extended.mask
    assert mask.getpixel((0, 0)) == 0 and mask.getpixel((25, 10)) == 0  # original, away from the seam
    assert mask.getpixel((27, 10)) == 255  # the seam: 4 px into the original
    assert mask.getpixel((40, 10)) == 255 and mask.getpixel((5, 22)) == 255  # new area and rounding rows


def test_latent_preview_is_a_small_rgb_image():
    import torch
    from studio_diffusion.previews import LatentPreviewer

    preview = LatentPreviewer("sd1")(torch.randn(2, 4, 16, 12))
    assert preview.shape == (16, 12, 3) and str(preview.dtype) == "uint8"
    assert LatentPreviewer("flux")(torch.randn(1, 256, 64)) is None  # packed latents: no preview
