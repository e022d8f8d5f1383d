"""Configs for loading single-file checkpoints with no network.

``from_single_file`` normally downloads the diffusers config of a reference repository
(``stable-diffusion-v1-5``, ``stable-diffusion-xl-base-1.0``, ...) to know how to lay the
weights out. Studio ships those configs instead, in ``resources/diffusion/configs/``:
``model_index.json`` plus each component's config, written from the published reference
repositories (their parameter counts are checked by the tests). The CLIP tokenizer's BPE
vocabulary is the one OpenAI published with CLIP, shipped verbatim as
``resources/diffusion/clip/bpe_simple_vocab_16e6.txt.gz`` (MIT, taken from the
open_clip_torch wheel); ``vocab.json``/``merges.txt`` are derived from it in memory the way
open_clip and Hugging Face do, and every family's tokenizers are built from it.

Which config a checkpoint gets:
1. a ``<checkpoint stem>.config/`` folder beside it (a diffusers config folder the user or a
   test supplies for a non-standard layout) always wins;
2. SD 1.x / 2.x / XL (and their inpainting variants, and the XL refiner) map to the shipped
   folder; SD 2.x is v-prediction 768px (what diffusers assumes) unless the A1111-style
   ``<stem>.yaml`` beside it or the file's ModelSpec metadata says epsilon;
3. any other family is loaded only when its reference config is already in the local
   Hugging Face cache; otherwise ModelFormatError says to use the model's diffusers folder.
"""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from studio.core.errors import ModelFormatError
from studio.core.paths import resources_dir
from studio_diffusion.checkpoint import SD1, SD2, SDXL, SDXL_REFINER, Checkpoint

CLIP_MAX_LENGTH = 77
# Pad tokens differ by encoder: OpenAI CLIP pads with <|endoftext|>, OpenCLIP with "!" (id 0).
_PAD_CLIP = "<|endoftext|>"
_PAD_OPEN_CLIP = "!"


def resources() -> Path:
    return resources_dir() / "diffusion"


def configs_root() -> Path:
    return resources() / "configs"


def bpe_path() -> Path:
    return resources() / "clip" / "bpe_simple_vocab_16e6.txt.gz"


def sidecar_config(path: Path) -> Path | None:
    folder = path.with_name(path.stem + ".config")
    return folder if (folder / "model_index.json").is_file() else None


def shipped_config_name(checkpoint: Checkpoint) -> str | None:
    """The folder under resources/diffusion/configs for this checkpoint, or None."""
    family, inpainting = checkpoint.family, checkpoint.inpainting
    if family == SD1:
        return "sd1-inpainting" if inpainting else "sd1"
    if family == SD2:
        if inpainting:
            return "sd2-inpainting"
        return "sd2-v" if _sd2_is_v_prediction(checkpoint) else "sd2-base"
    if family == SDXL:
        return "sdxl-inpainting" if inpainting else "sdxl"
    if family == SDXL_REFINER:
        return "sdxl-refiner"
    return None


def config_for(checkpoint: Checkpoint) -> Path:
    """A local diffusers config folder to load ``checkpoint`` with, or ModelFormatError."""
    sidecar = sidecar_config(checkpoint.path)
    if sidecar is not None:
        return sidecar
    name = shipped_config_name(checkpoint)
    if name is not None:
        folder = configs_root() / name
        if not (folder / "model_index.json").is_file():
            raise ModelFormatError(f"the offline config for {checkpoint.label} is missing from {folder}; reinstall Studio")
        return folder
    cached = _hub_cache_config(checkpoint.family)
    if cached is not None:
        return cached
    raise ModelFormatError(
        f"{checkpoint.path.name}: a {checkpoint.label} checkpoint. Studio can load SD 1.x, SD 2.x and SDXL "
        "single files offline; for other families use the model's diffusers folder (with model_index.json, "
        "for example from a Hugging Face cache), or put a diffusers config folder beside the file named "
        f"{checkpoint.path.stem}.config/"
    )


def _sd2_is_v_prediction(checkpoint: Checkpoint) -> bool:
    yaml = checkpoint.path.with_suffix(".yaml")
    if yaml.is_file():
        try:
            text = yaml.read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        return bool(re.search(r"parameterization:\s*[\"']?v[\"']?\s*$", text, re.MULTILINE))
    meta = {key.lower(): value.lower() for key, value in checkpoint.metadata.items()}
    prediction = meta.get("modelspec.prediction_type", "")
    if prediction:
        return prediction.startswith("v")
    if meta.get("modelspec.architecture", "").endswith("-v"):
        return True
    return True  # diffusers' default for SD 2.x single files: the 768px v-prediction model


def _hub_cache_config(model_type: str) -> Path | None:
    """The reference repo's config folder when it is already in the local HF cache."""
    try:
        from diffusers.loaders.single_file_utils import DIFFUSERS_DEFAULT_PIPELINE_PATHS
        from huggingface_hub import try_to_load_from_cache
    except Exception:
        return None
    entry = DIFFUSERS_DEFAULT_PIPELINE_PATHS.get(model_type)
    if not entry or entry.get("subfolder"):
        return None
    found = try_to_load_from_cache(entry["pretrained_model_name_or_path"], "model_index.json")
    if isinstance(found, str):
        return Path(found).parent
    return None


# --------------------------------------------------------------------------- tokenizers


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable unicode characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in chars)))


@lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's 49,408-token vocabulary and 48,894 merges, derived from the shipped BPE file."""
    path = bpe_path()
    try:
        with gzip.open(path) as packed:
            lines = packed.read().decode("utf-8").split("\n")
    except OSError as exc:
        raise ModelFormatError(f"the CLIP tokenizer vocabulary {path} cannot be read ({exc}); reinstall Studio") from None
    # The file's first line is a version header; CLIP uses the first 49152-256-2 merges.
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    base = list(_bytes_to_unicode().values())
    tokens = base + [token + "</w>" for token in base] + ["".join(merge) for merge in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}, merges  # type: ignore[return-value]


@lru_cache(maxsize=4)
def clip_tokenizer(pad_token: str = _PAD_CLIP) -> Any:
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocab_and_merges()
    tokenizer = CLIPTokenizer(vocab=dict(vocab), merges=list(merges), pad_token=pad_token)
    tokenizer.model_max_length = CLIP_MAX_LENGTH
    return tokenizer


def tokenizers_for(config_dir: Path, family: str) -> dict[str, Any]:
    """The tokenizer components a config folder names but does not ship files for."""
    import json

    index = json.loads((config_dir / "model_index.json").read_text(encoding="utf-8"))
    found: dict[str, Any] = {}
    for name in ("tokenizer", "tokenizer_2"):
        entry = index.get(name)
        if not entry or entry[0] is None or (config_dir / name).is_dir():
            continue
        if entry[1] != "CLIPTokenizer":
            continue
        open_clip = name == "tokenizer_2" or family == SD2
        found[name] = clip_tokenizer(_PAD_OPEN_CLIP if open_clip else _PAD_CLIP)
    return found
