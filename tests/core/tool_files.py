"""Image files written the way other tools write them, by this test code (so the data is ours).

Each writer reproduces its tool's saving code path as published in that tool's source:

- AUTOMATIC1111 / Forge (``modules/images.py``, ``save_image_with_geninfo``): PNG ``parameters``
  text chunk through Pillow's PngInfo; JPEG/WebP ``piexif.dump({"Exif": {UserComment:
  UserComment.dump(text, encoding="unicode")}})``, i.e. ``UNICODE\\0`` + UTF-16BE in the Exif
  sub-IFD;
- ComfyUI (``nodes.py`` SaveImage): ``prompt`` and ``workflow`` text chunks holding JSON;
- InvokeAI 3.x-5.x: ``invokeai_metadata`` (+ ``invokeai_graph``) JSON chunks; 2.x: ``sd-metadata``
  JSON and the ``Dream`` command line;
- NovelAI: ``Title``, ``Description``, ``Software``, ``Source``, ``Generation time``, ``Comment``;
- Fooocus (``modules/meta_parser.py``): ``parameters`` JSON + ``fooocus_scheme``; JPEG/WebP
  ``exif[0x9286]`` (in IFD0) = the JSON, ``exif[0x0131]`` Software, ``exif[0x927C]`` scheme;
- SwarmUI (docs/Image Metadata Format.md): ``parameters`` = indented JSON with
  ``sui_image_params`` / ``sui_extra_data`` / ``sui_models``;
- Stability Matrix: ``parameters`` (A1111 text), ``parameters-json``, ``smproj``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin


def _image(size: tuple[int, int] = (64, 48)) -> Image.Image:
    return Image.new("RGB", size, (90, 120, 200))


def png_with_texts(path: Path, texts: dict[str, str], size: tuple[int, int] = (64, 48)) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    _image(size).save(path, format="PNG", pnginfo=info)
    return path


def a1111_exif(text: str, *, little_endian: bool = False) -> bytes:
    """What ``piexif.dump`` writes for A1111's UserComment (Exif sub-IFD, UNICODE prefix)."""
    exif = Image.Exif()
    body = text.encode("utf-16-le" if little_endian else "utf-16-be")
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + body
    return exif.tobytes()


def a1111_image(path: Path, text: str, *, little_endian: bool = False, size: tuple[int, int] = (64, 48)) -> Path:
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}[path.suffix.lower()]
    if fmt == "PNG":
        return png_with_texts(path, {"parameters": text}, size)
    options: dict[str, Any] = {"exif": a1111_exif(text, little_endian=little_endian), "quality": 90}
    if fmt == "WEBP":
        options["lossless"] = False
    _image(size).save(path, format=fmt, **options)
    return path


def fooocus_image(path: Path, metadata: dict[str, Any], version: str = "2.5.5") -> Path:
    text = json.dumps(dict(sorted(metadata.items())))
    if path.suffix.lower() == ".png":
        return png_with_texts(path, {"parameters": text, "fooocus_scheme": "fooocus"})
    exif = Image.Exif()
    exif[0x9286] = text
    exif[0x0131] = "Fooocus v" + version
    exif[0x927C] = "fooocus"
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "WEBP"
    _image().save(path, format=fmt, exif=exif, quality=90)
    return path


# --------------------------------------------------------------------------- sample metadata

A1111_TEXT = (
    "masterpiece, a lighthouse at dusk, (dramatic sky:1.2)\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3000000000, "
    "Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, "
    "Clip skip: 2, Hires upscale: 2, Hires steps: 10, Hires upscaler: Latent, "
    'Lora hashes: "detail: 1a2b3c4d5e6f", Version: v1.10.1'
)

A1111_OLD_TEXT = (
    "a red fox in snow\n"
    "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 640x448, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly"
)

# ComfyUI's default text-to-image graph, as its API-format "prompt" (node ids and classes as
# in the default workflow), with a 64-bit seed as ComfyUI allows.
COMFY_DEFAULT = {
    "3": {
        "inputs": {
            "seed": 156680208700286,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "class_type": "KSampler",
    },
    "4": {"inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}, "class_type": "CheckpointLoaderSimple"},
    "5": {"inputs": {"width": 512, "height": 512, "batch_size": 1}, "class_type": "EmptyLatentImage"},
    "6": {
        "inputs": {"text": "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,", "clip": ["4", 1]},
        "class_type": "CLIPTextEncode",
    },
    "7": {"inputs": {"text": "text, watermark", "clip": ["4", 1]}, "class_type": "CLIPTextEncode"},
    "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]}, "class_type": "VAEDecode"},
    "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage"},
}


def comfy_hires_graph() -> dict[str, Any]:
    """ComfyUI's hires-fix example shape: a second KSampler on an upscaled latent, with a LoRA
    and CLIPSetLastLayer between the checkpoint and the text encoders."""
    graph = json.loads(json.dumps(COMFY_DEFAULT))
    graph["3"]["inputs"].update(seed=18446744073709551615, sampler_name="dpmpp_2m", scheduler="karras", cfg=7.5, steps=25)
    graph["10"] = {
        "inputs": {"lora_name": "detail.safetensors", "strength_model": 0.8, "strength_clip": 0.8, "model": ["4", 0], "clip": ["4", 1]},
        "class_type": "LoraLoader",
    }
    graph["12"] = {"inputs": {"stop_at_clip_layer": -2, "clip": ["10", 1]}, "class_type": "CLIPSetLastLayer"}
    graph["6"]["inputs"]["clip"] = ["12", 0]
    graph["7"]["inputs"]["clip"] = ["12", 0]
    graph["3"]["inputs"]["model"] = ["10", 0]
    graph["5"]["inputs"].update(width=768, height=512)
    graph["11"] = {
        "inputs": {"upscale_method": "nearest-exact", "width": 1536, "height": 1024, "crop": "disabled", "samples": ["3", 0]},
        "class_type": "LatentUpscale",
    }
    graph["13"] = {
        "inputs": {
            "seed": 42,
            "steps": 14,
            "cfg": 7.5,
            "sampler_name": "dpmpp_2m",
            "scheduler": "karras",
            "denoise": 0.5,
            "model": ["10", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["11", 0],
        },
        "class_type": "KSampler",
    }
    graph["8"]["inputs"]["samples"] = ["13", 0]
    return graph


# InvokeAI 3.3 (from a published sample) and 5.x shapes of invokeai_metadata.
INVOKE_33 = {
    "app_version": "3.3.0post3",
    "generation_mode": "txt2img",
    "positive_prompt": "landscape",
    "negative_prompt": "low quality",
    "width": 768,
    "height": 432,
    "seed": 356120443,
    "rand_device": "cpu",
    "cfg_scale": 7.5,
    "steps": 50,
    "scheduler": "dpmpp_2m_sde_k",
    "clip_skip": 0,
    "model": {"model_name": "amixx_3Prunedfp16", "base_model": "sd-1", "model_type": "main"},
    "controlnets": [],
    "ipAdapters": [],
    "t2iAdapters": [],
    "loras": [],
    "vae": {"model_name": "sd-vae-ft-mse", "base_model": "sd-1"},
}
INVOKE_5 = {
    "app_version": "5.6.0",
    "generation_mode": "sdxl_txt2img",
    "positive_prompt": "a cabin in the woods, snow",
    "negative_prompt": "",
    "width": 1024,
    "height": 1024,
    "seed": 4000000001,
    "rand_device": "cpu",
    "cfg_scale": 5.5,
    "cfg_rescale_multiplier": 0,
    "steps": 30,
    "scheduler": "euler_a",
    "clip_skip": 1,
    "model": {"key": "0b7f", "hash": "blake3:8d2c1e", "name": "Juggernaut XL v9", "base": "sdxl", "type": "main"},
    "positive_style_prompt": "a cabin in the woods, snow",
    "negative_style_prompt": "",
    "loras": [{"model": {"key": "aa", "hash": "blake3:ff", "name": "film grain", "base": "sdxl", "type": "lora"}, "weight": 0.6}],
}
INVOKE_2 = {
    "model": "stable diffusion",
    "model_weights": "stable-diffusion-1.5",
    "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516",
    "app_id": "invoke-ai/InvokeAI",
    "app_version": "2.3.0",
    "image": {
        "prompt": [{"prompt": "a cat on a sofa [dog, blurry]", "weight": 1.0}],
        "steps": 40,
        "cfg_scale": 7.5,
        "threshold": 0,
        "perlin": 0,
        "height": 512,
        "width": 576,
        "seed": 2957282361,
        "seamless": False,
        "hires_fix": False,
        "type": "txt2img",
        "postprocessing": None,
        "sampler": "k_euler_a",
        "variations": [],
    },
}

NOVELAI_COMMENT = {
    "prompt": "1girl, {{silver hair}}, night city",
    "steps": 28,
    "height": 1216,
    "width": 832,
    "scale": 5.0,
    "uncond_scale": 1.0,
    "cfg_rescale": 0.0,
    "seed": 3418829122,
    "n_samples": 1,
    "hide_debug_overlay": False,
    "noise_schedule": "karras",
    "legacy_v3_extend": False,
    "reference_information_extracted_multiple": [],
    "reference_strength_multiple": [],
    "sampler": "k_euler_ancestral",
    "controlnet_strength": 1.0,
    "controlnet_model": None,
    "dynamic_thresholding": False,
    "dynamic_thresholding_percentile": 0.999,
    "dynamic_thresholding_mimic_scale": 10.0,
    "sm": False,
    "sm_dyn": False,
    "skip_cfg_above_sigma": None,
    "skip_cfg_below_sigma": 0.0,
    "lora_unet_weights": None,
    "lora_clip_weights": None,
    "deliberate_euler_ancestral_bug": False,
    "prefer_brownian": True,
    "cfg_sched_eligibility": "enable_for_post_summer_samplers",
    "explike_fine_detail": False,
    "minimize_sigma_inf": False,
    "uncond_per_vibe": True,
    "wonky_vibe_correlation": True,
    "version": 1,
    "uc": "lowres, bad anatomy",
    "request_type": "PromptGenerateRequest",
    "signed_hash": "c2lnbmVk",
}


def novelai_texts() -> dict[str, str]:
    return {
        "Title": "NovelAI generated image",
        "Description": NOVELAI_COMMENT["prompt"],
        "Software": "NovelAI",
        "Source": "NovelAI Diffusion V3 7BCCAA2C",
        "Generation time": "4.51",
        "Comment": json.dumps(NOVELAI_COMMENT),
    }


FOOOCUS_META = {
    "adm_guidance": "(1.5, 0.8, 0.3)",
    "base_model": "juggernautXL_v8Rundiffusion.safetensors",
    "base_model_hash": "aeb7e9e689",
    "clip_skip": 2,
    "full_negative_prompt": ["(worst quality, low quality:1.4)"],
    "full_prompt": ["a red car, cinematic, highly detailed"],
    "guidance_scale": 4,
    "loras": [["sd_xl_offset_example-lora_1.0.safetensors", 0.1, "4852686128"]],
    "metadata_scheme": "fooocus",
    "negative_prompt": "",
    "performance": "Speed",
    "prompt": "a red car",
    "prompt_expansion": "a red car, cinematic, highly detailed",
    "refiner_model": "None",
    "refiner_switch": 0.5,
    "resolution": "(1152, 896)",
    "sampler": "dpmpp_2m_sde_gpu",
    "scheduler": "karras",
    "seed": "7480413924219290126",
    "sharpness": 2,
    "steps": 30,
    "styles": "['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp']",
    "vae": "Default (model)",
    "version": "Fooocus v2.5.5",
}

SWARM = {
    "sui_image_params": {
        "prompt": "a watercolor fox",
        "negativeprompt": "photo",
        "model": "OfficialStableDiffusion/sd_xl_base_1.0",
        "seed": 1826541207,
        "steps": 24,
        "cfgscale": 6.5,
        "aspectratio": "Custom",
        "width": 896,
        "height": 1152,
        "sampler": "dpmpp_2m",
        "scheduler": "karras",
        "clipstopatlayer": -2,
        "swarm_version": "0.9.5.1",
        "date": "2025-02-01",
        "generation_time": "0.02 (prep) and 6.10 (gen) seconds",
    },
    "sui_extra_data": {"date": "2025-02-01", "prep_time": "0.02 sec", "generation_time": "6.10 sec"},
    "sui_models": [
        {
            "name": "sd_xl_base_1.0.safetensors",
            "param": "model",
            "hash": "0x31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b",
        }
    ],
}

RUINED = {
    "Prompt": "castle on a hill",
    "Negative": "",
    "steps": 30,
    "cfg": 8.0,
    "width": 1024,
    "height": 1024,
    "seed": 3456789012,
    "sampler_name": "euler_ancestral",
    "scheduler": "normal",
    "base_model_name": "sd_xl_base_1.0.safetensors",
    "base_model_hash": "31e35c80fc",
    "loras": [],
    "start_step": 0,
    "denoise": None,
    "clip_skip": 0,
    "software": "RuinedFooocus",
}

STABILITY_MATRIX = {
    "PositivePrompt": "a ship in a bottle",
    "NegativePrompt": "text",
    "Width": 512,
    "Height": 512,
    "Seed": 987654321,
    "Steps": 25,
    "CfgScale": 7.0,
    "Sampler": "euler_ancestral",
    "ModelName": "dreamshaper_8",
    "ModelHash": "879db523c30d3b9017143d56705015e15a2cb5628762c11d086fed9538abd7fd",
}
