"""Sampler and schedule names: AUTOMATIC1111's, and how the other tools spell the same ones.

The restore path speaks A1111's names (``Sampler: DPM++ 2M, Schedule type: Karras``),
because they are what artists read in infotexts, Civitai pages and tutorials. Every other
tool's spelling (ComfyUI's ``dpmpp_2m`` + ``karras``, InvokeAI's ``dpmpp_2m_k``, NovelAI's
``k_euler_ancestral``) is translated here, in plain data, so readers never guess and the
diffusion plugin builds its schedulers from the same table. A name that is not in these
tables is reported by the caller as unmapped; nothing is silently replaced by a default.
"""

from __future__ import annotations

# Every sampler name A1111 writes that diffusers can reproduce (the diffusion plugin maps
# each to a scheduler class), in A1111's own order.
A1111_SAMPLERS: tuple[str, ...] = (
    "DPM++ 2M",
    "DPM++ SDE",
    "DPM++ 2M SDE",
    "DPM++ 3M SDE",
    "DPM++ 2S a",
    "Euler a",
    "Euler",
    "LMS",
    "Heun",
    "DPM2",
    "DPM2 a",
    "DDIM",
    "DDPM",
    "PLMS",
    "UniPC",
    "DEIS",
    "LCM",
    "TCD",
)

# A1111 samplers that diffusers has no equivalent for: named so the message can say so.
A1111_UNSUPPORTED_SAMPLERS: tuple[str, ...] = (
    "DPM fast",
    "DPM adaptive",
    "Restart",
    "DPM++ 2M SDE Heun",
    "Heun++ 2",
    "DDIM CFG++",
    "Euler CFG++",
    "Euler a CFG++",
    "DPM++ 2M CFG++",
)

# A1111 1.9+ "Schedule type" values that diffusers reproduces.
SCHEDULES: tuple[str, ...] = ("Automatic", "Uniform", "Karras", "Exponential", "SGM Uniform", "Beta")
UNSUPPORTED_SCHEDULES: tuple[str, ...] = (
    "Polyexponential",
    "KL Optimal",
    "Align Your Steps",
    "Simple",
    "Normal",
    "DDIM",
    "Align Your Steps GITS",
    "Align Your Steps 11",
    "Align Your Steps 32",
)

# Before A1111 1.9 the schedule was part of the sampler name.
_SCHEDULE_SUFFIXES = {" Karras": "Karras", " Exponential": "Exponential", " SGM Uniform": "SGM Uniform", " Beta": "Beta"}

# ComfyUI's sampler names (also used by Fooocus, SwarmUI, Stability Matrix, RuinedFooocus).
COMFY_SAMPLERS: dict[str, str] = {
    "euler": "Euler",
    "euler_ancestral": "Euler a",
    "heun": "Heun",
    "dpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a",
    "lms": "LMS",
    "dpmpp_2s_ancestral": "DPM++ 2S a",
    "dpmpp_sde": "DPM++ SDE",
    "dpmpp_sde_gpu": "DPM++ SDE",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE",
    "dpmpp_3m_sde": "DPM++ 3M SDE",
    "dpmpp_3m_sde_gpu": "DPM++ 3M SDE",
    "ddpm": "DDPM",
    "lcm": "LCM",
    "tcd": "TCD",
    "ddim": "DDIM",
    "uni_pc": "UniPC",
    "uni_pc_bh2": "UniPC",
    "deis": "DEIS",
}

# ComfyUI's scheduler names -> A1111 schedule types ("normal" is ComfyUI's default spacing,
# which is what A1111 calls Automatic for these samplers).
COMFY_SCHEDULES: dict[str, str] = {
    "normal": "Automatic",
    "karras": "Karras",
    "exponential": "Exponential",
    "sgm_uniform": "SGM Uniform",
    "beta": "Beta",
    "simple": "Simple",
    "ddim_uniform": "DDIM",
    "kl_optimal": "KL Optimal",
    "align_your_steps": "Align Your Steps",
}

# InvokeAI scheduler ids: a trailing ``_k`` means Karras sigmas.
INVOKE_SAMPLERS: dict[str, str] = {
    "ddim": "DDIM",
    "ddpm": "DDPM",
    "deis": "DEIS",
    "lms": "LMS",
    "pndm": "PLMS",
    "heun": "Heun",
    "euler": "Euler",
    "euler_a": "Euler a",
    "kdpm_2": "DPM2",
    "kdpm_2_a": "DPM2 a",
    "dpmpp_2s": "DPM++ 2S a",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_3m": "DPM++ 3M SDE",
    "dpmpp_sde": "DPM++ SDE",
    "unipc": "UniPC",
    "lcm": "LCM",
    "tcd": "TCD",
    # InvokeAI 2.x "k_" names
    "k_lms": "LMS",
    "k_euler": "Euler",
    "k_euler_a": "Euler a",
    "k_heun": "Heun",
    "k_dpm_2": "DPM2",
    "k_dpm_2_a": "DPM2 a",
    "k_dpmpp_2": "DPM++ 2M",
    "k_dpmpp_2_a": "DPM++ 2S a",
    "plms": "PLMS",
}

# NovelAI's sampler ids.
NOVELAI_SAMPLERS: dict[str, str] = {
    "k_euler": "Euler",
    "k_euler_ancestral": "Euler a",
    "k_dpmpp_2s_ancestral": "DPM++ 2S a",
    "k_dpmpp_2m": "DPM++ 2M",
    "k_dpmpp_2m_sde": "DPM++ 2M SDE",
    "k_dpmpp_sde": "DPM++ SDE",
    "k_dpm_2": "DPM2",
    "k_dpm_2_ancestral": "DPM2 a",
    "k_lms": "LMS",
    "k_heun": "Heun",
    "ddim": "DDIM",
    "ddim_v3": "DDIM",
    "plms": "PLMS",
}
NOVELAI_SCHEDULES: dict[str, str] = {
    "native": "Automatic",
    "karras": "Karras",
    "exponential": "Exponential",
    "polyexponential": "Polyexponential",
}


def split_a1111_sampler(name: str) -> tuple[str, str | None]:
    """(sampler, schedule or None) from an A1111 sampler name, old combined names included.

    ``"DPM++ 2M Karras"`` (A1111 before 1.9) is ``("DPM++ 2M", "Karras")``; ``"Euler a"``
    is ``("Euler a", None)``. Names are returned as written when unknown.
    """
    text = " ".join(str(name).split())
    if text in A1111_SAMPLERS or text in A1111_UNSUPPORTED_SAMPLERS:
        return text, None
    for suffix, schedule in _SCHEDULE_SUFFIXES.items():
        if text.endswith(suffix) and text[: -len(suffix)] in A1111_SAMPLERS + A1111_UNSUPPORTED_SAMPLERS:
            return text[: -len(suffix)], schedule
    # Case-insensitive match for hand-edited infotexts ("euler a", "dpm++ 2m").
    lowered = {sampler.lower(): sampler for sampler in A1111_SAMPLERS}
    if text.lower() in lowered:
        return lowered[text.lower()], None
    return text, None


def normal_schedule(name: str) -> str:
    """An A1111 schedule name with its usual capitalisation ("karras" -> "Karras")."""
    text = " ".join(str(name).split())
    for known in SCHEDULES + UNSUPPORTED_SCHEDULES:
        if known.lower() == text.lower():
            return known
    return text


def invoke_sampler(name: str) -> tuple[str | None, str | None]:
    """(A1111 sampler, schedule) for an InvokeAI scheduler id; (None, None) when unknown."""
    text = str(name).strip().lower()
    karras = text.endswith("_k") and text[:-2] in INVOKE_SAMPLERS
    base = text[:-2] if karras else text
    sampler = INVOKE_SAMPLERS.get(base)
    if sampler is None:
        return None, None
    return sampler, "Karras" if karras else None


def comfy_sampler(sampler: str, scheduler: str | None = None) -> tuple[str | None, str | None]:
    """(A1111 sampler, schedule) for ComfyUI names; None for a part that has no A1111 name."""
    return COMFY_SAMPLERS.get(str(sampler).strip().lower()), (COMFY_SCHEDULES.get(str(scheduler).strip().lower()) if scheduler else None)
