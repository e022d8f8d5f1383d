"""What a single-file checkpoint is, read from its safetensors header alone.

A safetensors file starts with an 8-byte little-endian header length and a JSON header
naming every tensor with its dtype, shape and byte range. Reading that header (a few
hundred KB even for a 7 GB SDXL checkpoint) tells us the model family from its tensor
names and shapes, and whether the file is complete, without loading a single weight.

Family detection follows the same key checks as diffusers' ``infer_diffusers_model_type``
for the Stable Diffusion families we ship offline configs for, and falls back to that
function itself (given shape-only stand-ins for the tensors) for every other family it
knows (SD3, Flux, ...), so "other" models are named the way diffusers names them.

No torch here: this module runs while the studio lists models.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.errors import ModelFormatError

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
# A header larger than this is not a safetensors header (the format caps it at 100 MB).
_MAX_HEADER = 100 * 2**20

SD1 = "sd1"
SD2 = "sd2"
SDXL = "sdxl"
SDXL_REFINER = "sdxl-refiner"
LORA = "lora"
VAE = "vae"
UNKNOWN = "unknown"

FAMILY_LABELS = {
    SD1: "SD 1.x",
    SD2: "SD 2.x",
    SDXL: "SDXL",
    SDXL_REFINER: "SDXL refiner",
    LORA: "LoRA",
    VAE: "VAE",
    UNKNOWN: "unknown",
}

_UNET = "model.diffusion_model."
_SD2_CROSS_ATTN = "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight"
_LORA_KEY = re.compile(r"(^lora_(unet|te\d?)_)|(\.lora_(down|up|A|B)\.)|(\.lora\.(down|up)\.)|(^lora_)|(\.alpha$)")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the header describes it; ``shape`` is what diffusers' checks read."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Checkpoint:
    """A single-file checkpoint as its header describes it."""

    path: Path
    tensors: Mapping[str, TensorInfo]
    metadata: Mapping[str, str] = field(default_factory=dict)
    family: str = UNKNOWN
    # "inpainting" for 9-channel UNets; the diffusers model type for other families.
    variant: str = ""

    @property
    def label(self) -> str:
        base = FAMILY_LABELS.get(self.family, self.family)
        return f"{base} ({self.variant})" if self.variant else base

    @property
    def inpainting(self) -> bool:
        return self.variant == "inpainting"


def read_safetensors_header(path: Path) -> tuple[dict[str, TensorInfo], dict[str, str], int]:
    """(tensors, metadata, data offset) from a safetensors file; ModelFormatError if damaged.

    A file shorter than its header promises (an interrupted download) is refused here with
    the numbers, rather than failing deep inside a loader with an mmap error.
    """
    name = path.name
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                raise ModelFormatError(
                    f"{name}: the file is empty or truncated ({size} bytes); it holds no safetensors header. Download it again."
                )
            (length,) = struct.unpack("<Q", head)
            if length == 0 or length > _MAX_HEADER:
                raise ModelFormatError(f"{name}: not a safetensors file (its first bytes are not a safetensors header)")
            if 8 + length > size:
                raise ModelFormatError(
                    f"{name}: the file is truncated: its header alone should be {length} bytes but the file "
                    f"has only {size} bytes. Download it again."
                )
            raw = handle.read(length)
    except OSError as exc:
        raise ModelFormatError(f"{name}: cannot be read: {exc}") from None
    try:
        header = json.loads(raw)
        if not isinstance(header, dict):
            raise ValueError("header is not an object")
    except (ValueError, UnicodeDecodeError):
        raise ModelFormatError(f"{name}: not a safetensors file (its header is not valid JSON)") from None

    metadata = header.pop("__metadata__", None) or {}
    tensors: dict[str, TensorInfo] = {}
    data_end = 0
    try:
        for key, value in header.items():
            start, end = (int(x) for x in value["data_offsets"])
            tensors[key] = TensorInfo(str(value["dtype"]), tuple(int(x) for x in value["shape"]), start, end)
            data_end = max(data_end, end)
    except (KeyError, TypeError, ValueError):
        raise ModelFormatError(f"{name}: not a safetensors file (its header does not describe tensors)") from None
    expected = 8 + length + data_end
    if size < expected:
        raise ModelFormatError(
            f"{name}: the file is truncated: its header describes {expected} bytes of data but the file has "
            f"only {size} bytes ({100 * size / max(expected, 1):.0f}%). Download it again."
        )
    if not tensors:
        raise ModelFormatError(f"{name}: the safetensors file holds no tensors")
    return tensors, {str(k): str(v) for k, v in metadata.items()}, 8 + length


def inspect_checkpoint(path: Path) -> Checkpoint:
    """Read a .safetensors checkpoint's header and name its family."""
    tensors, metadata, _offset = read_safetensors_header(path)
    family, variant = detect_family({key: info.shape for key, info in tensors.items()})
    return Checkpoint(path=path, tensors=tensors, metadata=metadata, family=family, variant=variant)


def detect_family(shapes: Mapping[str, tuple[int, ...]]) -> tuple[str, str]:
    """(family, variant) from tensor names and shapes; never loads weights.

    SD 1.x, 2.x and SDXL are told apart by their text encoders (CLIP ViT-L, OpenCLIP ViT-H,
    both CLIP-L and OpenCLIP bigG), which sit under fixed prefixes in every LDM-format
    checkpoint; the UNet's first convolution having 9 input channels marks an inpainting
    model. Anything else goes to diffusers' own detector.
    """
    keys = shapes.keys()
    # The LDM UNet's first convolution; DiT checkpoints (Flux, SD3) share the
    # "model.diffusion_model." prefix but not this layer.
    conv_in = shapes.get(_UNET + "input_blocks.0.0.weight")
    if conv_in is not None:
        in_channels = conv_in[1] if len(conv_in) > 1 else 4
        variant = "inpainting" if in_channels == 9 else ""
        if any(key.startswith("conditioner.embedders.1.") for key in keys):
            return SDXL, variant
        if any(key.startswith("conditioner.embedders.0.model.") for key in keys):
            return SDXL_REFINER, variant
        cross = shapes.get(_SD2_CROSS_ATTN)
        if any(key.startswith("cond_stage_model.model.") for key in keys) or (cross is not None and cross[-1] == 1024):
            return SD2, variant
        if (any(key.startswith("cond_stage_model.transformer.") for key in keys) or in_channels in (4, 9)) and not _is_other_sd_variant(
            shapes
        ):
            return SD1, variant
    elif any(key.startswith(_UNET) for key in keys):
        pass  # a transformer-based family: diffusers' detector below names it
    elif _looks_like_lora(keys):
        return LORA, ""
    elif _looks_like_vae(keys):
        return VAE, ""

    other = _diffusers_model_type(shapes)
    if other:
        return other, ""
    return UNKNOWN, ""


def _is_other_sd_variant(shapes: Mapping[str, tuple[int, ...]]) -> bool:
    # The x4 upscaler and ControlNets share the LDM UNet prefix but are not text-to-image models.
    return (_UNET + "input_blocks.10.0.skip_connection.bias") in shapes or any(key.startswith("control_model.") for key in shapes)


def _looks_like_lora(keys: Any) -> bool:
    sample = list(keys)[:400]
    hits = sum(1 for key in sample if _LORA_KEY.search(key))
    return hits > 0 and 2 * hits >= len(sample)


def _looks_like_vae(keys: Any) -> bool:
    keys = set(keys)
    return any(k.endswith("decoder.conv_out.weight") for k in keys) and any(k.endswith("encoder.conv_in.weight") for k in keys)


class _Shape:
    """A stand-in for a tensor that only answers ``.shape`` (all diffusers' detector reads)."""

    __slots__ = ("shape",)

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape


def _diffusers_model_type(shapes: Mapping[str, tuple[int, ...]]) -> str:
    try:
        from diffusers.loaders.single_file_utils import infer_diffusers_model_type
    except Exception:  # diffusers missing or changed: the family stays unknown, nothing breaks
        return ""
    try:
        model_type = infer_diffusers_model_type({key: _Shape(shape) for key, shape in shapes.items()})
    except Exception:
        return ""
    # diffusers falls back to "v1" when nothing matches; we already ruled SD 1.x in or out.
    return "" if model_type in ("v1", None) else str(model_type)


def load_pickle_state_dict(path: Path) -> dict[str, Any]:
    """A pickle checkpoint's tensors, loaded with ``weights_only=True`` (no code runs)."""
    import torch

    try:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (non-zip) checkpoints cannot be memory-mapped
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFormatError(
            f"{path.name}: could not be read as a weights-only pickle checkpoint ({type(exc).__name__}: {exc}); "
            "it may be damaged, or contain more than weights. Convert it to .safetensors with a trusted tool."
        ) from None
    while isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise ModelFormatError(f"{path.name}: the pickle checkpoint does not hold a dictionary of weights")
    return data


def pickle_refused_message(path: Path) -> str:
    return (
        f"{path.name} is a pickle checkpoint ({path.suffix}), which can run arbitrary code when loaded, so "
        "Studio does not load it by default. Convert it to .safetensors with a trusted tool (for example "
        "`safetensors.torch.save_file(torch.load(IN, weights_only=True)['state_dict'], 'OUT.safetensors')`), "
        "or allow pickle loading in Settings (it is then loaded with weights_only=True)."
    )
