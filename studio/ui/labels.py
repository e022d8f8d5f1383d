"""Readable names for generations: layers, clips, history rows and jobs.

"patterns #697324651" on every layer, row and job told results apart only by a number.
A label says what a result *is*, from what the user asked for: the prompt's first phrases
and the seed for an image ("red fox, forest · seed 11"), key, mode, action and length for a
melody ("D dorian · continue · 8 bars"). Which param holds the prompt, the key or the bars
comes from the generator's roles (their canonical inputs), never from a plugin's id; a
generator without such roles falls back to params named that way, then to its name.

Qt-free plain functions, so the window, the history and the jobs view label alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from studio.core.roles import active_role, role_param, roles_of

MELODY_ACTIONS = ("melody.continue", "melody.vary", "melody.interpolate", "melody.harmonize", "melody.new")
PROMPT_ROLES = ("image.from_text", "image.from_image", "image.inpaint", "image.outpaint", "audio.from_text", "text.chat")
MAX_PROMPT = 32
_WEIGHT = re.compile(r"[()\[\]{}]|:\s*[0-9.]+")


def _param_for(generator: Mapping[str, Any] | None, roles: tuple[str, ...], canonical: str) -> str:
    """The generator's own name for a canonical input, from the first role that maps it."""
    if generator:
        for role in roles:
            name = role_param(generator, role, canonical)
            if name:
                return name
    return canonical


def short_prompt(prompt: str, limit: int = MAX_PROMPT) -> str:
    """The first phrases of a prompt, without emphasis syntax, cut at a phrase or word."""
    line = next((part.strip() for part in str(prompt).splitlines() if part.strip()), "")
    line = " ".join(_WEIGHT.sub("", line).split())
    phrases = [phrase.strip() for phrase in line.split(",") if phrase.strip()]
    kept: list[str] = []
    for phrase in phrases:
        candidate = ", ".join(kept + [phrase])
        if len(candidate) > limit:
            break
        kept.append(phrase)
    if kept:
        return ", ".join(kept)
    if not phrases:
        return ""
    words, text = phrases[0].split(), ""
    for word in words:
        if len(f"{text} {word}".strip()) > limit - 1:
            break
        text = f"{text} {word}".strip()
    return (text or phrases[0][: limit - 1]) + "…"


def melody_role(generator: Mapping[str, Any] | None, params: Mapping[str, Any], role: str = "") -> str:
    """Which melody action a job did: the placement's role, else what its params express."""
    if role:
        return role
    if generator and roles_of(generator):
        return active_role(generator, params, MELODY_ACTIONS) or ""
    return ""


def melody_label(
    generator: Mapping[str, Any] | None, params: Mapping[str, Any], *, role: str = "", output: Mapping[str, Any] | None = None
) -> str:
    """ "D dorian · continue · 8 bars": what the result is in (the output's record wins over
    "auto" params), what was done, and how long it is."""
    output = output or {}
    roles = ("melody.new", "melody.continue")

    def value(canonical: str) -> Any:
        found = output.get(canonical)
        if found in (None, "", "auto"):
            found = params.get(_param_for(generator, roles, canonical))
        return None if found in (None, "", "auto") else found

    key, scale, bars = value("key"), value("scale"), value("bars")
    parts = []
    tonality = " ".join(str(part) for part in (key, scale) if part)
    if tonality:
        parts.append(tonality)
    action = melody_role(generator, params, role)
    parts.append(action.split(".", 1)[1] if action else "new")
    if bars:
        parts.append(f"{int(bars)} bar" + ("" if int(bars) == 1 else "s"))
    return " · ".join(parts)


def generation_label(
    generator: Mapping[str, Any] | None,
    params: Mapping[str, Any],
    seed: int | None,
    *,
    kind: str = "",
    role: str = "",
    output: Mapping[str, Any] | None = None,
    fallback: str = "",
) -> str:
    """The label of one generation (see the module docstring)."""
    kind = kind or str((generator or {}).get("kind") or "")
    melodic = generator is None or any(str(r.get("role", "")).startswith("melody.") for r in roles_of(generator)) or "key" in params
    if (kind == "music" or (role or "").startswith("melody.")) and melodic:
        return melody_label(generator, params, role=role, output=output)
    prompt = short_prompt(str(params.get(_param_for(generator, PROMPT_ROLES, "prompt")) or ""))
    name = prompt or fallback or str((generator or {}).get("name") or "") or "generation"
    if seed is not None and kind != "text":
        return f"{name} · seed {seed}"
    return name
