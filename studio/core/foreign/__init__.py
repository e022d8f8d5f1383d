"""Reading how an image was made, whichever tool made it.

Each module here reads one family of tools' metadata (A1111/Forge, ComfyUI, InvokeAI,
NovelAI, Fooocus/RuinedFooocus, SwarmUI, Stability Matrix) out of the ``{keyword: text}``
map that ``studio.core.image_metadata.read_image_texts`` gives for PNG, JPEG and WebP, and
returns a ``Found``: the settings in the canonical role-input names of docs ROLES
(prompt, negative_prompt, steps, guidance, width, height, sampler, schedule, clip_skip,
strength, batch_size), the seed, the model's name and hash, and every field that has no
canonical name with the reason. ``studio.core.restore`` then picks the generator.

We write these readers ourselves rather than depend on ``sd-parsers``: it covers
A1111/ComfyUI/Fooocus/InvokeAI/NovelAI but not SwarmUI, Stability Matrix or EXIF in WebP,
and its output still needs this same translation into role inputs and A1111 sampler
names, which is most of the work. Qt-free and torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Found:
    """What one file says about its generation, in canonical (role input) names."""

    source: str
    role: str = "image.from_text"
    inputs: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    unmapped: dict[str, str] = field(default_factory=dict)
    model_name: str | None = None
    model_hash: str | None = None
    # Set only for our own files: the exact generator and its own params.
    generator: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    stages: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "source": self.source,
            "role": self.role,
            "inputs": dict(self.inputs),
            "seed": self.seed,
            "model_name": self.model_name,
            "model_hash": self.model_hash,
            "unmapped": dict(self.unmapped),
        }
        if self.stages:
            data["stages"] = list(self.stages)
        return data


def to_seed(value: Any) -> int | None:
    """A seed as an unsigned 64-bit int (None for something that is not one).

    Seeds arrive as ints, floats written by JSON encoders, or strings (Fooocus); negative
    values (-1 = "random" in A1111 and SwarmUI) and values past 2**64 are no seed at all.
    """
    from studio.core.params import SEED_MAX

    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, str):
            value = value.strip()
            number = int(value) if value.lstrip("-").isdigit() else int(float(value))
        elif isinstance(value, float):
            if not value.is_integer():
                return None
            number = int(value)
        else:
            number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 <= number <= SEED_MAX else None


def copy_numbers(found: Found, data: dict[str, Any], keys: tuple[tuple[str, str, bool], ...]) -> None:
    """For each (key in ``data``, canonical input name, integral?) that holds a number, set it."""
    for key, name, integral in keys:
        number = to_number(data.get(key), integral=integral)
        if number is not None:
            found.inputs[name] = number


def to_number(value: Any, *, integral: bool = False) -> int | float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    if integral:
        return int(number) if number.is_integer() else None
    return int(number) if isinstance(value, int) else number


def read_generation(texts: dict[str, str], size: tuple[int, int] | None = None) -> Found | None:
    """The generation a file's metadata texts describe, or None when they describe none.

    Readers are tried from the most specific marker to the least: our own record, then
    tools that leave unambiguous keys (InvokeAI, SwarmUI, Fooocus, Stability Matrix,
    NovelAI), then a ComfyUI graph, then the A1111 text that many tools also write.
    """
    from studio.core.foreign import a1111, comfyui, invokeai, json_tools, novelai, studio_record

    for reader in (
        studio_record.read,
        invokeai.read,
        json_tools.read_swarmui,
        json_tools.read_ruinedfooocus,
        json_tools.read_fooocus,
        json_tools.read_stability_matrix,
        novelai.read,
        comfyui.read,
        a1111.read,
    ):
        found = reader(texts)
        if found is not None:
            if size is not None and found.generator is None:
                # A tool that did not write a size (or wrote none we read) made this image
                # at its own size; hires fix and upscales are already flagged as unmapped.
                found.inputs.setdefault("width", size[0])
                found.inputs.setdefault("height", size[1])
            return found
    return None
