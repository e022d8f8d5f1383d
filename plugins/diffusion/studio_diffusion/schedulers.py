"""The samplers and schedule types users know by their A1111 names, as diffusers schedulers.

A scheduler holds no weights: switching is ``Class.from_config(model's own config, ...)``
on the loaded pipeline, which keeps the model's training schedule (betas, prediction type)
and costs microseconds, never a reload. A fresh scheduler per job also means no step
state leaks from one job into the next.

Sampler x schedule type follows A1111 1.9+: ``Sampler: DPM++ 2M, Schedule type: Karras``.
"Automatic" is the sampler's own default in A1111 (Karras for the DPM++ family,
Exponential for DPM++ 3M SDE, the model's spacing otherwise). The names come from
``studio.core.samplers`` so restore and the plugin share one list; a name diffusers cannot
reproduce is a ``ParamError`` that says so, never a silent substitute.
"""

from __future__ import annotations

from typing import Any

from studio.core.errors import ParamError
from studio.core.samplers import A1111_UNSUPPORTED_SAMPLERS, SCHEDULES, UNSUPPORTED_SCHEDULES

DEFAULT = "Default"
AUTOMATIC = "Automatic"

# A1111 sampler name -> (diffusers class name, config overrides), per the diffusers docs'
# A1111 equivalents table.
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "Heun": ("HeunDiscreteScheduler", {}),
    "LMS": ("LMSDiscreteScheduler", {}),
    "DPM2": ("KDPM2DiscreteScheduler", {}),
    "DPM2 a": ("KDPM2AncestralDiscreteScheduler", {}),
    # diffusers has no ancestral single-step DPM++; its single-step 2nd-order solver is the
    # closest (the job log says so when it is used).
    "DPM++ 2S a": ("DPMSolverSinglestepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "DPM++ SDE": ("DPMSolverSDEScheduler", {}),
    "DPM++ 2M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    "DPM++ 3M SDE": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 3}),
    "DDIM": ("DDIMScheduler", {}),
    "DDPM": ("DDPMScheduler", {}),
    "PLMS": ("PNDMScheduler", {"skip_prk_steps": True}),
    "UniPC": ("UniPCMultistepScheduler", {}),
    "DEIS": ("DEISMultistepScheduler", {}),
    "LCM": ("LCMScheduler", {}),
    "TCD": ("TCDScheduler", {}),
}

# Names from before A1111 1.9, when the schedule was part of the sampler's name.
LEGACY_NAMES: dict[str, tuple[str, str]] = {
    "DPM++ 2M Karras": ("DPM++ 2M", "Karras"),
    "DPM++ SDE Karras": ("DPM++ SDE", "Karras"),
    "DPM++ 2M SDE Karras": ("DPM++ 2M SDE", "Karras"),
    "DPM++ 2M SDE Exponential": ("DPM++ 2M SDE", "Exponential"),
    "DPM++ 2S a Karras": ("DPM++ 2S a", "Karras"),
    "DPM++ 3M SDE Karras": ("DPM++ 3M SDE", "Karras"),
    "DPM++ 3M SDE Exponential": ("DPM++ 3M SDE", "Exponential"),
    "DPM2 Karras": ("DPM2", "Karras"),
    "DPM2 a Karras": ("DPM2 a", "Karras"),
    "LMS Karras": ("LMS", "Karras"),
}

# What "Automatic" means per sampler in A1111 (its sampler table's default scheduler).
AUTOMATIC_SCHEDULE: dict[str, str] = {
    "DPM++ 2M": "Karras",
    "DPM++ SDE": "Karras",
    "DPM++ 2M SDE": "Karras",
    "DPM++ 2S a": "Karras",
    "DPM++ 3M SDE": "Exponential",
}

# Schedule type -> the scheduler config that gives it (checked against the class).
_SCHEDULE_CONFIG: dict[str, dict[str, Any]] = {
    "Uniform": {},
    "Karras": {"use_karras_sigmas": True},
    "Exponential": {"use_exponential_sigmas": True},
    "Beta": {"use_beta_sigmas": True},
    "SGM Uniform": {"timestep_spacing": "trailing"},
}
_SIGMA_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")

# Optional packages some schedulers need (diffusers gives a placeholder class without them).
_NEEDS = {"LMSDiscreteScheduler": "scipy", "DPMSolverSDEScheduler": "torchsde"}

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
    "HeunDiscreteScheduler": "Heun",
    "DDPMScheduler": "DDPM",
    "FlowMatchEulerDiscreteScheduler": "Euler",
}


def resolve_names(sampler: str, schedule: str | None) -> tuple[str, str]:
    """(sampler, concrete schedule) for the names a user or a restored file gave.

    Raises ``ParamError`` naming the problem for a sampler or schedule diffusers cannot
    reproduce, or a combination the sampler does not support.
    """
    sampler = sampler or DEFAULT
    schedule = schedule or AUTOMATIC
    if sampler in LEGACY_NAMES:
        sampler, implied = LEGACY_NAMES[sampler]
        if schedule == AUTOMATIC:
            schedule = implied
    if sampler == DEFAULT:
        return sampler, schedule
    if sampler in A1111_UNSUPPORTED_SAMPLERS:
        raise ParamError(f"scheduler: A1111's {sampler!r} has no diffusers equivalent; pick one of {', '.join(SAMPLERS)}")
    if sampler not in SAMPLERS:
        raise ParamError(f"scheduler: {sampler!r} is not a sampler this plugin knows; pick one of {', '.join([DEFAULT, *SAMPLERS])}")
    if schedule in UNSUPPORTED_SCHEDULES:
        raise ParamError(f"schedule: A1111's {schedule!r} schedule has no diffusers equivalent; pick one of {', '.join(SCHEDULES)}")
    if schedule not in SCHEDULES:
        raise ParamError(f"schedule: {schedule!r} is not a schedule type; pick one of {', '.join(SCHEDULES)}")
    if schedule == AUTOMATIC:
        schedule = AUTOMATIC_SCHEDULE.get(sampler, "Uniform")
    return sampler, schedule


def make_scheduler(name: str, base_config: Any, *, schedule: str | None = None, log=lambda message: None) -> tuple[Any, str, str]:
    """(scheduler, sampler name to record, schedule type to record) on the model's ``base_config``.

    Flow-matching models (SD3, Flux...) train on a different schedule than the SD samplers
    assume; for them only their own scheduler and Euler are meaningful, and any other choice
    falls back to the model's own scheduler with a line in the job log.
    """
    import diffusers

    base_class = base_config.get("_class_name", "") if hasattr(base_config, "get") else ""
    sampler, schedule_name = resolve_names(name, schedule)
    if sampler == DEFAULT:
        return _from_config(getattr(diffusers, base_class), base_config), _NAMES_OF_DEFAULTS.get(base_class, base_class), "Automatic"
    if base_class.startswith("FlowMatch"):
        if sampler != "Euler":
            log(f"{sampler} does not apply to this flow-matching model; using its own {base_class}")
        return _from_config(getattr(diffusers, base_class), base_config), _NAMES_OF_DEFAULTS.get(base_class, "Euler"), "Automatic"
    class_name, overrides = SAMPLERS[sampler]
    cls = getattr(diffusers, class_name)
    accepted = _init_keys(cls)
    if class_name in _NEEDS and not accepted:
        raise ParamError(f"scheduler: {sampler} needs the Python package {_NEEDS[class_name]} (pip install {_NEEDS[class_name]})")
    config = dict(overrides)
    # The model's own config may switch a sigma schedule on; the chosen schedule decides.
    for flag in _SIGMA_FLAGS:
        if flag in accepted:
            config[flag] = False
    wanted = _SCHEDULE_CONFIG[schedule_name]
    for key, value in wanted.items():
        if key not in accepted:
            raise ParamError(f"schedule: {schedule_name} does not apply to the {sampler} sampler in diffusers; pick Automatic or Uniform")
        config[key] = value
    if sampler == "DPM++ 2S a":
        log("DPM++ 2S a: diffusers has no ancestral single-step DPM++; using its single-step DPM++ 2S (not stochastic)")
    return _from_config(cls, base_config, **config), sampler, schedule_name


def _init_keys(cls: Any) -> set[str]:
    import inspect

    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return set()
    return {name for name, p in parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)} - {"self"}


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
