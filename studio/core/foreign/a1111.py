"""AUTOMATIC1111 and its family (Forge, SD.Next, Fooocus's A1111 scheme, Civitai): the
``parameters`` text, in PNG tEXt or in JPEG/WebP EXIF UserComment.

Every field A1111 writes is either given its canonical name or listed in ``unmapped``
with the reason (hires fix, LoRA hashes, VAE, ...), so a restore never drops a setting
without saying so.
"""

from __future__ import annotations

import json
import re
from typing import Any

from studio.core.foreign import Found, to_number, to_seed
from studio.core.samplers import A1111_SAMPLERS, SCHEDULES, normal_schedule, split_a1111_sampler

_RE_SIZE = re.compile(r"^\s*(\d+)\s*[x×]\s*(\d+)\s*$")

# Fields that only describe the file or the tool, never a setting to restore.
_INFORMATIONAL = {
    "Version",
    "Size",
    "Model",
    "Model hash",
    "Sampler",
    "Schedule type",
    "Seed",
    "Steps",
    "CFG scale",
    "Clip skip",
    "Denoising strength",
    "Batch size",
    "Batch pos",
}

_HIRES_PREFIX = ("Hires ", "Denoising strength")


def read(texts: dict[str, str]) -> Found | None:
    raw = texts.get("parameters")
    if not raw or raw.lstrip().startswith("{"):
        return None
    from studio.core.png_metadata import parse_a1111

    parsed = parse_a1111(raw)
    fields = parsed["parameters"]
    if not fields and not parsed["prompt"]:
        return None
    version = str(fields.get("Version", ""))
    source = "automatic1111"
    if version.startswith("f") and re.match(r"f\d", version):
        source = "forge"
    elif version.lower().startswith("fooocus"):
        source = "fooocus"
    found = Found(source=source)
    found.inputs["prompt"] = parsed["prompt"]
    found.inputs["negative_prompt"] = parsed["negative_prompt"]
    apply_fields(found, fields)
    return found


def apply_fields(found: Found, fields: dict[str, Any]) -> None:  # noqa: C901
    """Canonical inputs from A1111 ``Key: value`` fields (shared with readers of A1111-named JSON)."""
    inputs = found.inputs
    unmapped = found.unmapped
    hires = any(key.startswith("Hires ") for key in fields)
    for key, value in fields.items():
        if key == "Steps":
            _put(found, key, "steps", to_number(value, integral=True))
        elif key == "CFG scale":
            _put(found, key, "guidance", to_number(value))
        elif key == "Seed":
            seed = to_seed(value)
            if seed is None:
                unmapped[key] = f"{value!r} is not a seed (a whole number from 0 to 2^64-1)"
            found.seed = seed
        elif key == "Size":
            match = _RE_SIZE.match(str(value))
            if match:
                inputs["width"], inputs["height"] = int(match.group(1)), int(match.group(2))
            else:
                unmapped[key] = f"{value!r} is not WIDTHxHEIGHT"
        elif key == "Sampler":
            sampler, schedule = split_a1111_sampler(str(value))
            if sampler in A1111_SAMPLERS:
                inputs["sampler"] = sampler
            else:
                unmapped[key] = f"{sampler!r} has no diffusers equivalent; the generator's own sampler is kept"
            if schedule and "Schedule type" not in fields:
                inputs["schedule"] = schedule
        elif key == "Schedule type":
            schedule = normal_schedule(str(value))
            if schedule in SCHEDULES:
                inputs["schedule"] = schedule
            else:
                unmapped[key] = f"{value!r} has no diffusers equivalent; the sampler's own schedule is kept"
        elif key == "Clip skip":
            _put(found, key, "clip_skip", to_number(value, integral=True))
        elif key == "Denoising strength":
            strength = to_number(value)
            if hires:
                unmapped[key] = f"{value} is the hires fix's denoising strength (hires fix is not restored)"
            elif strength is not None:
                inputs["strength"] = strength
                found.role = "image.from_image"
        elif key == "Model hash":
            found.model_hash = str(value)
        elif key == "Model":
            found.model_name = str(value)
        elif key == "Batch size":
            _put(found, key, "batch_size", to_number(value, integral=True))
        elif key == "Version" or key == "Batch pos":
            continue
        elif key.startswith("Hires "):
            unmapped[key] = f"{value}: hires fix is not restored; the image is made at the base size (upscale it afterwards)"
        elif key == "Lora hashes":
            unmapped[key] = f"LoRAs {value}: add them with the LoRA parameters (their <lora:…> tags stay in the prompt as text)"
        elif key in ("TI hashes", "TI"):
            unmapped[key] = f"textual inversions {value} are not loaded by the restore"
        else:
            unmapped[key] = f"{_short(value)}: not a setting the restore can carry over"
    if "strength" in inputs and "image" not in inputs:
        unmapped.setdefault("image", "the img2img source image is not stored in the file; give it as the image input")


def _put(found: Found, key: str, name: str, value: Any) -> None:
    if value is None:
        found.unmapped[key] = "not a number"
    else:
        found.inputs[name] = value


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."
