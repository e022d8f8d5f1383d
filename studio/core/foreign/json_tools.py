"""Tools that put a JSON object where A1111 puts its text: SwarmUI (``sui_image_params``),
Fooocus (its ``fooocus`` metadata scheme), RuinedFooocus (``"software": "RuinedFooocus"``)
and Stability Matrix (``parameters-json``). Their sampler names are ComfyUI's.

Without these readers the JSON would be read as an A1111 prompt, which is how a SwarmUI
image used to restore its whole metadata as the prompt text.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from studio.core.foreign import Found, copy_numbers, to_number, to_seed
from studio.core.samplers import A1111_SAMPLERS, comfy_sampler, normal_schedule, split_a1111_sampler


def _json_parameters(texts: dict[str, str], key: str = "parameters") -> dict[str, Any] | None:
    raw = texts.get(key, "")
    if not raw.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _comfy_names(found: Found, sampler: Any, scheduler: Any, *, sampler_key: str = "sampler", scheduler_key: str = "scheduler") -> None:
    if sampler:
        name, _ = comfy_sampler(str(sampler))
        if name is None:
            # Some writers already use A1111 names.
            name, schedule = split_a1111_sampler(str(sampler))
            if name not in A1111_SAMPLERS:
                found.unmapped[sampler_key] = f"sampler {sampler!r} has no diffusers equivalent"
                name = None
            elif schedule:
                found.inputs["schedule"] = schedule
        if name:
            found.inputs["sampler"] = name
    if scheduler:
        _, schedule = comfy_sampler("euler", str(scheduler))
        if schedule is None:
            candidate = normal_schedule(str(scheduler))
            from studio.core.samplers import SCHEDULES

            schedule = candidate if candidate in SCHEDULES else None
        if schedule is None:
            found.unmapped[scheduler_key] = f"scheduler {scheduler!r} has no A1111 schedule type"
        else:
            found.inputs["schedule"] = schedule


def read_swarmui(texts: dict[str, str]) -> Found | None:
    data = _json_parameters(texts)
    if data is None or not isinstance(data.get("sui_image_params"), dict):
        return None
    params = data["sui_image_params"]
    found = Found(source="swarmui")
    found.inputs["prompt"] = str(params.get("prompt") or "")
    found.inputs["negative_prompt"] = str(params.get("negativeprompt") or "")
    copy_numbers(
        found,
        params,
        (
            ("steps", "steps", True),
            ("cfgscale", "guidance", False),
            ("width", "width", True),
            ("height", "height", True),
            ("batchsize", "batch_size", True),
        ),
    )
    found.seed = to_seed(params.get("seed"))
    _comfy_names(found, params.get("sampler"), params.get("scheduler"))
    stop = to_number(params.get("clipstopatlayer"), integral=True)
    if stop is not None and stop < 0:
        found.inputs["clip_skip"] = -int(stop)
    if params.get("initimagecreativity") is not None:
        found.role = "image.from_image"
        found.inputs["strength"] = to_number(params.get("initimagecreativity"))
        found.unmapped["image"] = "the init image is not stored in the file; give it as the image input"
    found.model_name = params.get("model")
    for model in data.get("sui_models") or []:
        if isinstance(model, dict) and model.get("param") == "model" and model.get("hash"):
            found.model_hash = str(model["hash"])
    if params.get("loras"):
        weights = params.get("loraweights") or []
        found.unmapped["loras"] = (
            f"LoRAs {', '.join(map(str, params['loras']))} (weights {', '.join(map(str, weights))}): add them with the LoRA parameters"
        )
    for key in params:
        if key.startswith("refiner"):
            found.unmapped["refiner"] = "the refiner / upscale pass is not restored"
            break
    return found


def read_ruinedfooocus(texts: dict[str, str]) -> Found | None:
    data = _json_parameters(texts)
    if data is None or str(data.get("software", "")).lower() != "ruinedfooocus":
        return None
    found = Found(source="ruinedfooocus")
    found.inputs["prompt"] = str(data.get("Prompt") or "")
    found.inputs["negative_prompt"] = str(data.get("Negative") or "")
    copy_numbers(found, data, (("steps", "steps", True), ("cfg", "guidance", False), ("width", "width", True), ("height", "height", True)))
    found.seed = to_seed(data.get("seed"))
    _comfy_names(found, data.get("sampler_name"), data.get("scheduler"), sampler_key="sampler_name")
    clip_skip = to_number(data.get("clip_skip"), integral=True)
    if clip_skip:
        found.inputs["clip_skip"] = abs(int(clip_skip))
    found.model_name = data.get("base_model_name")
    found.model_hash = data.get("base_model_hash")
    if data.get("loras"):
        found.unmapped["loras"] = "LoRAs: add them with the LoRA parameters"
    if to_number(data.get("start_step")):
        found.unmapped["start_step"] = "starting part-way through the steps is not restored"
    return found


_RE_RESOLUTION = re.compile(r"\(?\s*'?(\d+)'?\s*,\s*'?(\d+)'?\s*\)?")


def read_fooocus(texts: dict[str, str]) -> Found | None:
    data = _json_parameters(texts)
    if data is None:
        return None
    if texts.get("fooocus_scheme") != "fooocus" and not ("base_model" in data and "guidance_scale" in data):
        return None
    found = Found(source="fooocus")
    found.inputs["prompt"] = str(data.get("prompt") or "")
    found.inputs["negative_prompt"] = str(data.get("negative_prompt") or "")
    copy_numbers(found, data, (("steps", "steps", True), ("guidance_scale", "guidance", False)))
    match = _RE_RESOLUTION.fullmatch(str(data.get("resolution", "")).strip())
    if match:
        found.inputs["width"], found.inputs["height"] = int(match.group(1)), int(match.group(2))
    found.seed = to_seed(data.get("seed"))
    _comfy_names(found, data.get("sampler"), data.get("scheduler"))
    clip_skip = to_number(data.get("clip_skip"), integral=True)
    if clip_skip:
        found.inputs["clip_skip"] = int(clip_skip)
    found.model_name = data.get("base_model")
    found.model_hash = data.get("base_model_hash")
    styles = data.get("styles")
    if isinstance(styles, str):
        try:
            styles = ast.literal_eval(styles)
        except (ValueError, SyntaxError):
            styles = [styles]
    if styles:
        full = data.get("full_prompt")
        shown = ", ".join(full) if isinstance(full, list) else None
        found.unmapped["styles"] = f"Fooocus styles {', '.join(map(str, styles))} rewrite the prompt; " + (
            f"the prompt Fooocus encoded was: {shown}" if shown else "they are not applied here"
        )
    if data.get("refiner_model") not in (None, "", "None"):
        found.unmapped["refiner_model"] = f"{data['refiner_model']}: the refiner pass is not restored"
    for key in ("sharpness", "adm_guidance", "adaptive_cfg"):
        if key in data:
            found.unmapped[key] = f"{data[key]}: a Fooocus-only setting"
    loras = [value for key, value in data.items() if key.startswith("lora_combined_")] or data.get("loras") or []
    if loras:
        found.unmapped["loras"] = f"LoRAs {loras}: add them with the LoRA parameters"
    return found


def read_stability_matrix(texts: dict[str, str]) -> Found | None:
    data = _json_parameters(texts, "parameters-json")
    if data is None:
        return None
    found = Found(source="stability-matrix")
    found.inputs["prompt"] = str(data.get("PositivePrompt") or "")
    found.inputs["negative_prompt"] = str(data.get("NegativePrompt") or "")
    copy_numbers(
        found, data, (("Steps", "steps", True), ("CfgScale", "guidance", False), ("Width", "width", True), ("Height", "height", True))
    )
    found.seed = to_seed(data.get("Seed"))
    _comfy_names(found, data.get("Sampler"), data.get("Scheduler"), sampler_key="Sampler", scheduler_key="Scheduler")
    found.model_name = data.get("ModelName")
    found.model_hash = data.get("ModelHash")
    return found
