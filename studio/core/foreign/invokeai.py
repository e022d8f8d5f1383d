"""InvokeAI: ``invokeai_metadata`` (3.x-5.x, JSON of the generation), and the 2.x formats
(``sd-metadata`` JSON, the ``Dream`` command line).

InvokeAI counts clip skip as layers skipped (0 = none); A1111's Clip skip counts from 1,
so A1111 = InvokeAI + 1. A scheduler id ending in ``_k`` uses Karras sigmas.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from studio.core.foreign import Found, copy_numbers, to_number, to_seed
from studio.core.samplers import invoke_sampler

_IMAGE_MODES = ("img2img", "inpaint", "outpaint")


def read(texts: dict[str, str]) -> Found | None:
    if texts.get("invokeai_metadata"):
        data = _json(texts["invokeai_metadata"])
        if data is not None:
            return _read_v3(data)
    for key in ("sd-metadata", "invokeai"):
        if texts.get(key):
            data = _json(texts[key])
            if data is not None:
                return _read_v2(data)
    if texts.get("Dream"):
        return _read_dream(texts["Dream"])
    return None


def _json(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _scheduler(found: Found, value: Any) -> None:
    if value is None:
        return
    sampler, schedule = invoke_sampler(str(value))
    if sampler is None:
        found.unmapped["scheduler"] = f"InvokeAI scheduler {value!r} has no A1111 equivalent"
        return
    found.inputs["sampler"] = sampler
    found.inputs["schedule"] = schedule or "Automatic"


def _read_v3(data: dict[str, Any]) -> Found:  # noqa: C901
    found = Found(source="invokeai")
    inputs = found.inputs
    copy_numbers(
        found,
        data,
        (
            ("steps", "steps", True),
            ("cfg_scale", "guidance", False),
            ("width", "width", True),
            ("height", "height", True),
        ),
    )
    inputs["prompt"] = str(data.get("positive_prompt") or "")
    inputs["negative_prompt"] = str(data.get("negative_prompt") or "")
    found.seed = to_seed(data.get("seed"))
    _scheduler(found, data.get("scheduler"))
    clip_skip = to_number(data.get("clip_skip"), integral=True)
    if clip_skip is not None:
        inputs["clip_skip"] = int(clip_skip) + 1
    mode = str(data.get("generation_mode") or "")
    if any(word in mode for word in _IMAGE_MODES):
        found.role = "image.from_image"
        strength = to_number(data.get("strength"))
        if strength is not None:
            inputs["strength"] = strength
        found.unmapped["image"] = "the source image is not stored in the file; give it as the image input"
    model = data.get("model")
    if isinstance(model, dict):
        found.model_name = model.get("name") or model.get("model_name")
        found.model_hash = model.get("hash")
    elif isinstance(model, str):
        found.model_name = model
    for key in ("positive_style_prompt", "negative_style_prompt"):
        text = data.get(key)
        base = data.get("positive_prompt" if key.startswith("positive") else "negative_prompt")
        if text and text != base:
            found.unmapped[key] = "SDXL's second text encoder got a different prompt; the restore uses one prompt"
    if data.get("hrf_enabled"):
        found.unmapped["hrf_enabled"] = "high-resolution fix is not restored; the image is made at the base size"
    loras = data.get("loras") or []
    if loras:
        names = []
        for entry in loras:
            if isinstance(entry, dict):
                model_info = entry.get("model") or entry.get("lora") or {}
                names.append(f"{model_info.get('name') or model_info.get('model_name')} ({entry.get('weight')})")
        found.unmapped["loras"] = f"LoRAs {', '.join(names)}: add them with the LoRA parameters"
    if data.get("vae"):
        found.unmapped["vae"] = "a separate VAE is not restored"
    if to_number(data.get("cfg_rescale_multiplier")):
        found.unmapped["cfg_rescale_multiplier"] = f"{data.get('cfg_rescale_multiplier')}: CFG rescale is not a setting here"
    if data.get("seamless_x") or data.get("seamless_y"):
        found.unmapped["seamless"] = "seamless tiling is not restored"
    return found


def _split_bracketed(prompt: str) -> tuple[str, str]:
    """InvokeAI 2.x wrote the negative prompt in [brackets] inside the prompt."""
    negatives = re.findall(r"\[([^\[\]]*)\]", prompt)
    positive = re.sub(r"\s*\[[^\[\]]*\]", "", prompt).strip()
    return positive, ", ".join(part.strip() for part in negatives if part.strip())


def _read_v2(data: dict[str, Any]) -> Found:
    found = Found(source="invokeai")
    image: dict[str, Any] = data["image"] if isinstance(data.get("image"), dict) else data
    prompt = image.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(str(part.get("prompt", "")) for part in prompt if isinstance(part, dict))
    found.inputs["prompt"], found.inputs["negative_prompt"] = _split_bracketed(str(prompt or ""))
    copy_numbers(
        found,
        image,
        (
            ("steps", "steps", True),
            ("cfg_scale", "guidance", False),
            ("width", "width", True),
            ("height", "height", True),
        ),
    )
    found.seed = to_seed(image.get("seed"))
    _scheduler(found, image.get("sampler"))
    if image.get("type") == "img2img":
        found.role = "image.from_image"
        strength = to_number(image.get("strength"))
        if strength is not None:
            found.inputs["strength"] = strength
        found.unmapped["image"] = "the source image is not stored in the file; give it as the image input"
    found.model_name = data.get("model_weights")
    found.model_hash = data.get("model_hash")
    if image.get("hires_fix"):
        found.unmapped["hires_fix"] = "hires fix is not restored; the image is made at the base size"
    if image.get("variations"):
        found.unmapped["variations"] = "seed variations are not restored"
    return found


def _read_dream(text: str) -> Found | None:
    """``"prompt [negative]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms``."""
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    if not words:
        return None
    found = Found(source="invokeai")
    found.inputs["prompt"], found.inputs["negative_prompt"] = _split_bracketed(words[0])
    options = {"-s": ("steps", True), "-W": ("width", True), "-H": ("height", True), "-C": ("guidance", False)}
    index = 1
    while index < len(words):
        flag = words[index]
        value = words[index + 1] if index + 1 < len(words) else None
        if flag in options and value is not None:
            name, integral = options[flag]
            number = to_number(value, integral=integral)
            if number is not None:
                found.inputs[name] = number
            index += 2
        elif flag == "-S" and value is not None:
            found.seed = to_seed(value)
            index += 2
        elif flag == "-A" and value is not None:
            _scheduler(found, value)
            index += 2
        else:
            index += 1
    return found
