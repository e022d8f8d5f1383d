"""Full-size single-file checkpoints with random weights, written shape by shape (no downloads).

For the loading benchmark and manual checks: the shipped offline config of a family gives
every component's shapes (built on the meta device: no memory), the converters in
ldm_format.py give the original (LDM) key names artists' files use, and
``write_safetensors_streamed`` writes one tensor at a time, so an SD 1.5-size file needs no
more memory than its largest tensor. Not used by the test suite (the files are GBs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ldm_format import (
    clip_to_ldm,
    open_clip_to_ldm,
    unet_to_ldm,
    vae_to_ldm,
    write_safetensors_streamed,
)


def meta_components(config_dir: Path) -> dict[str, Any]:
    """The model components a config folder describes, on the meta device."""
    import json

    import diffusers
    import transformers
    from accelerate import init_empty_weights

    index = json.loads((config_dir / "model_index.json").read_text(encoding="utf-8"))
    built: dict[str, Any] = {}
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        entry = index.get(name)
        if not entry or entry[0] is None:
            continue
        library, class_name = entry
        with init_empty_weights(include_buffers=True):
            if library == "diffusers":
                cls = getattr(diffusers, class_name)
                built[name] = cls.from_config(cls.load_config(config_dir / name))
            else:
                cls = getattr(transformers, class_name)
                built[name] = cls(cls.config_class.from_pretrained(config_dir / name))
    return built


def ldm_layout(config_dir: Path) -> dict[str, Any]:
    """LDM key -> meta tensor for a whole checkpoint of the family ``config_dir`` describes."""
    parts = meta_components(config_dir)
    layout: dict[str, Any] = {}
    xl = "text_encoder_2" in parts
    if "text_encoder" in parts:
        prefix = "conditioner.embedders.0.transformer." if xl else "cond_stage_model.transformer."
        layout.update(clip_to_ldm(parts["text_encoder"].state_dict(), prefix))
    if xl:
        second = "conditioner.embedders.1.model." if "text_encoder" in parts else "conditioner.embedders.0.model."
        layout.update(open_clip_to_ldm(parts["text_encoder_2"].state_dict(), second))
    layout.update(vae_to_ldm(parts["vae"].state_dict(), dict(parts["vae"].config)))
    layout.update(unet_to_ldm(parts["unet"].state_dict(), dict(parts["unet"].config)))
    return layout


def write_full_size_checkpoint(config_dir: Path, path: Path, dtype: Any, seed: int = 0) -> int:
    """A random checkpoint of ``config_dir``'s family at ``path``; returns its size in bytes.

    Values come from one block of 4M normal samples (std 0.02), read from a moving offset:
    random-looking weights for a few seconds of work rather than minutes of sampling 1-3.5
    billion numbers.
    """
    import torch

    block = torch.randn(1 << 22, generator=torch.Generator().manual_seed(seed)) * 0.02
    state = {"offset": 0}

    def fill(name: str, shape: tuple[int, ...]) -> Any:
        count = 1
        for dim in shape:
            count *= dim
        start = state["offset"] % block.numel()
        state["offset"] += 7919
        values = block.roll(-start)
        if count > values.numel():
            values = values.repeat(count // values.numel() + 1)
        return values[:count].reshape(shape)

    return write_safetensors_streamed(path, ldm_layout(config_dir), dtype, fill)
