"""Roles: what a generator can be used *for*, so the window and CLI never name a plugin.

A generator declares in its manifest the roles it fills (``image.inpaint``,
``melody.continue``…) and how each role's canonical inputs map onto its own parameter
names, plus the parameters a role always sets (``fixed``). The window asks "who fills
``image.inpaint``?" and gets every such generator, first-party or community, and turns the
canonical inputs it has (prompt, image, mask…) into that generator's params here. This is
npe2's habit (the host finds plugins by what they contribute, never by who they are).

Qt-free and import-free: it works on the ``GET /plugins`` catalogue (dicts) as well as on
parsed manifests (``GeneratorInfo``), so restore, the CLI and the window share it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_IMAGE = ("prompt", "negative_prompt", "steps", "guidance", "width", "height", "sampler", "schedule", "clip_skip", "model", "batch_size")
_MELODY_NEW = ("key", "scale", "metre", "tempo", "bars", "temperature", "lowest", "highest", "form")

# Role id -> its canonical input names. A generator maps the subset it supports; community
# plugins may declare roles not listed here (their inputs are then not checked).
ROLE_INPUTS: dict[str, tuple[str, ...]] = {
    "image.from_text": _IMAGE,
    "image.from_image": _IMAGE + ("image", "strength"),
    "image.inpaint": _IMAGE + ("image", "mask", "strength", "mask_blur"),
    "image.outpaint": _IMAGE + ("image", "extend_left", "extend_right", "extend_top", "extend_bottom"),
    "melody.new": _MELODY_NEW,
    "melody.continue": ("prime",) + _MELODY_NEW,
    "melody.vary": ("prime", "keep_bars", "variation", "vary_what", "key", "scale"),
    "melody.interpolate": ("prime", "target", "count"),
    "melody.harmonize": ("melody", "style", "key", "scale"),
    "text.chat": ("prompt", "system_prompt", "conversation", "max_tokens"),
    "prompt.expand": ("template", "count"),
    "audio.from_text": ("prompt", "duration"),
}

ROLE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def roles_of(generator: Any) -> list[dict[str, Any]]:
    """A generator's roles as ``{"role", "inputs", "fixed"}`` dicts (catalogue dict or GeneratorInfo)."""
    raw = generator.get("roles") if isinstance(generator, Mapping) else getattr(generator, "roles", ())
    roles = []
    for entry in raw or ():
        if isinstance(entry, Mapping):
            roles.append(
                {"role": str(entry.get("role", "")), "inputs": dict(entry.get("inputs") or {}), "fixed": dict(entry.get("fixed") or {})}
            )
        else:
            roles.append({"role": entry.role, "inputs": dict(entry.inputs), "fixed": dict(entry.fixed)})
    return roles


def role_of(generator: Any, role: str) -> dict[str, Any] | None:
    """The generator's declaration of ``role`` (None when it does not fill it)."""
    return next((entry for entry in roles_of(generator) if entry["role"] == role), None)


def fills(generator: Any, role: str) -> bool:
    return role_of(generator, role) is not None


def generators_with_role(catalogue_or_manifests: Any, role: str) -> list:
    """Every generator that fills ``role``, in catalogue order.

    Takes the ``GET /plugins`` answer (``{"generators": [...]}``), a list or dict of
    generator dicts, or parsed manifests (anything with ``.generators``); returns the same
    kind of item it was given. Generators reported disabled or failed are left out.
    """
    found = []
    for generator in _generators(catalogue_or_manifests):
        if isinstance(generator, Mapping) and generator.get("state", "enabled") in ("disabled", "failed", "incompatible"):
            continue
        if fills(generator, role):
            found.append(generator)
    return found


def params_for_role(generator: Any, role: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical ``inputs`` of ``role`` as this generator's params.

    Returns ``{"params": {...}, "unmapped": {...}}``: ``params`` holds the mapped inputs
    under the generator's own names plus the role's ``fixed`` params (fixed wins: they are
    what makes a generic generator do this role); ``unmapped`` holds the inputs the
    generator does not take, so a caller can tell the user what was left behind.
    Raises ``KeyError`` when the generator does not fill ``role``.
    """
    entry = role_of(generator, role)
    if entry is None:
        raise KeyError(f"{_generator_id(generator)} does not fill the role {role!r}")
    params: dict[str, Any] = {}
    unmapped: dict[str, Any] = {}
    for name, value in inputs.items():
        target = entry["inputs"].get(name)
        if target is None:
            unmapped[name] = value
        else:
            params[target] = value
    params.update(entry["fixed"])
    return {"params": params, "unmapped": unmapped}


def role_param(generator: Any, role: str, input_name: str) -> str | None:
    """The generator's param name for a canonical input of ``role`` (None when unmapped)."""
    entry = role_of(generator, role)
    return None if entry is None else entry["inputs"].get(input_name)


def role_fixed_params(generator: Any) -> set[str]:
    """Names of params any of the generator's roles fixes (a mode switch, say)."""
    return {name for entry in roles_of(generator) for name in entry["fixed"]}


def neutral_params(generator: Any, role: str) -> dict[str, Any]:
    """What to set so a generator that was doing some other role does ``role`` instead.

    The role's ``fixed`` params, and every input that only *other* roles map (an outpaint
    extent, an inpaint strength) reset to the parameter's default, so leftovers of the last
    action do not leak into this one.
    """
    entry = role_of(generator, role)
    if entry is None:
        return {}
    mine = set(entry["inputs"].values())
    defaults = {
        spec["name"] if isinstance(spec, Mapping) else spec.name: (spec.get("default") if isinstance(spec, Mapping) else spec.default)
        for spec in _params(generator)
    }
    values: dict[str, Any] = {}
    for other in roles_of(generator):
        if other["role"] == role:
            continue
        for target in other["inputs"].values():
            if target not in mine and target in defaults and _scalar(defaults[target]):
                values[target] = defaults[target]
    values.update(entry["fixed"])
    return values


def active_role(generator: Any, params: Mapping[str, Any], candidates: Iterable[str]) -> str | None:
    """Which of ``candidates`` the params express: the first role whose ``fixed`` params all
    hold (a role without fixed params holds whenever the generator fills it)."""
    for role in candidates:
        entry = role_of(generator, role)
        if entry is not None and all(params.get(name) == value for name, value in entry["fixed"].items()):
            return role
    return None


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool))


def _params(generator: Any) -> list:
    return list((generator.get("params") if isinstance(generator, Mapping) else getattr(generator, "params", ())) or ())


def _generator_id(generator: Any) -> str:
    return str(generator.get("id") if isinstance(generator, Mapping) else getattr(generator, "id", "generator"))


def _generators(source: Any) -> Iterable[Any]:
    if isinstance(source, Mapping):
        if "generators" in source:
            yield from source["generators"] or ()
        else:  # {id: generator}
            yield from source.values()
        return
    if callable(getattr(source, "generators", None)):  # a Discovery: usable plugins only
        yield from (info for info, _record in source.generators().values())
        return
    if hasattr(source, "generators"):  # one Manifest
        yield from source.generators
        return
    for item in source or ():
        if hasattr(item, "generators") and not isinstance(item, Mapping):
            yield from item.generators
        else:
            yield item


__all__ = [
    "ROLE_INPUTS",
    "active_role",
    "fills",
    "generators_with_role",
    "neutral_params",
    "params_for_role",
    "role_fixed_params",
    "role_of",
    "role_param",
    "roles_of",
]
