"""The samplers users know by their A1111 names, as diffusers schedulers.

A scheduler holds no weights: switching is ``Class.from_config(model's own config, ...)``
on the loaded pipeline, which keeps the model's training schedule (betas, prediction type,
timestep spacing) and costs microseconds, never a reload. A fresh scheduler per job also
means no step state leaks from one job into the next.
"""

from __future__ import annotations

from typing import Any

from studio.core.errors import ParamError

DEFAULT = "Default"

# name -> (diffusers class name, config overrides)
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": False}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True}),
    "DDIM": ("DDIMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "LCM": ("LCMScheduler", {}),
}

# What A1111 calls the schedulers a model may come with.
_NAMES_OF_DEFAULTS = {
    "EulerDiscreteScheduler": "Euler",
    "EulerAncestralDiscreteScheduler": "Euler a",
    "DDIMScheduler": "DDIM",
    "PNDMScheduler": "PLMS",
    "UniPCMultistepScheduler": "UniPC",
    "LCMScheduler": "LCM",
    "LMSDiscreteScheduler": "LMS",
    "DPMSolverMultistepScheduler": "DPM++ 2M",
    "FlowMatchEulerDiscreteScheduler": "Euler",
}


def make_scheduler(name: str, base_config: Any, *, log=lambda message: None) -> tuple[Any, str]:
    """(scheduler, the name to record) for ``name`` built on the model's ``base_config``.

    Flow-matching models (SD3, Flux...) train on a different schedule than the SD samplers
    assume; for them only their own scheduler and Euler are meaningful, and any other choice
    falls back to the model's own scheduler with a line in the job log.
    """
    import diffusers

    base_class = base_config.get("_class_name", "") if hasattr(base_config, "get") else ""
    if name == DEFAULT or not name:
        return _from_config(getattr(diffusers, base_class), base_config), _NAMES_OF_DEFAULTS.get(base_class, base_class)
    if name not in SAMPLERS:
        raise ParamError(f"scheduler: {name!r} is not one of {', '.join([DEFAULT, *SAMPLERS])}")
    if base_class.startswith("FlowMatch"):
        if name == "Euler":
            return _from_config(getattr(diffusers, base_class), base_config), "Euler"
        log(f"{name} does not apply to this flow-matching model; using its own {base_class}")
        return _from_config(getattr(diffusers, base_class), base_config), _NAMES_OF_DEFAULTS.get(base_class, base_class)
    class_name, overrides = SAMPLERS[name]
    return _from_config(getattr(diffusers, class_name), base_config, **overrides), name


def _from_config(cls: Any, config: Any, **overrides: Any) -> Any:
    import logging

    # from_config warns about every key the target class does not use (PNDM's skip_prk_steps
    # when building DPM++, ...); those keys are expected and the warning is noise.
    quiet = logging.getLogger("diffusers.configuration_utils")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return cls.from_config(config, **overrides)
    finally:
        quiet.setLevel(level)
