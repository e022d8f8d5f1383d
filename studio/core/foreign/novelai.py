"""NovelAI: the ``Comment`` text chunk holds the request as JSON (``scale`` is the CFG,
``uc`` the negative prompt; V4 keeps the prompts in ``v4_prompt``), ``Software`` says
NovelAI and ``Source`` names the hosted model, which is never a local file.
"""

from __future__ import annotations

import json

from studio.core.foreign import Found, copy_numbers, to_number, to_seed
from studio.core.samplers import NOVELAI_SAMPLERS, NOVELAI_SCHEDULES


def read(texts: dict[str, str]) -> Found | None:  # noqa: C901
    raw = texts.get("Comment")
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if "NovelAI" not in texts.get("Software", "") and not ("uc" in data and "scale" in data):
        return None
    found = Found(source="novelai")
    inputs = found.inputs
    prompt = data.get("prompt")
    v4 = data.get("v4_prompt")
    if isinstance(v4, dict):
        prompt = ((v4.get("caption") or {}).get("base_caption")) or prompt
    inputs["prompt"] = str(prompt if prompt is not None else texts.get("Description", ""))
    negative = data.get("uc")
    v4_negative = data.get("v4_negative_prompt")
    if isinstance(v4_negative, dict):
        negative = ((v4_negative.get("caption") or {}).get("base_caption")) or negative
    inputs["negative_prompt"] = str(negative or "")
    copy_numbers(
        found,
        data,
        (
            ("steps", "steps", True),
            ("scale", "guidance", False),
            ("width", "width", True),
            ("height", "height", True),
        ),
    )
    found.seed = to_seed(data.get("seed"))
    sampler = data.get("sampler")
    if sampler is not None:
        if str(sampler) in NOVELAI_SAMPLERS:
            inputs["sampler"] = NOVELAI_SAMPLERS[str(sampler)]
        else:
            found.unmapped["sampler"] = f"NovelAI sampler {sampler!r} has no diffusers equivalent"
    schedule = data.get("noise_schedule")
    if schedule is not None:
        if str(schedule) in NOVELAI_SCHEDULES:
            inputs["schedule"] = NOVELAI_SCHEDULES[str(schedule)]
        else:
            found.unmapped["noise_schedule"] = f"{schedule!r} has no A1111 schedule type"
    samples = to_number(data.get("n_samples"), integral=True)
    if samples:
        inputs["batch_size"] = samples
    if data.get("strength") is not None and data.get("noise") is not None:
        found.role = "image.from_image"
        inputs["strength"] = to_number(data.get("strength"))
        found.unmapped["image"] = "the source image is not stored in the file; give it as the image input"
    source = texts.get("Source", "")
    found.model_name = source or None
    found.unmapped["model"] = (
        f"NovelAI's hosted model ({source or 'unnamed'}) is not a file you can have locally; the restore uses a local model"
    )
    if data.get("uncond_scale") not in (None, 1, 1.0):
        found.unmapped["uncond_scale"] = f"{data.get('uncond_scale')}: NovelAI's negative prompt strength is not a setting here"
    if to_number(data.get("cfg_rescale")):
        found.unmapped["cfg_rescale"] = f"{data.get('cfg_rescale')}: CFG rescale is not a setting here"
    if data.get("sm") or data.get("sm_dyn"):
        found.unmapped["sm"] = "NovelAI's SMEA sampling is not reproducible"
    return found
