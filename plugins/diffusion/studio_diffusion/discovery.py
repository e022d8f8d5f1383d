"""Finding diffusion models in the user's model folders, from their files alone.

Recognised:
- diffusers folders (``model_index.json``), including Hugging Face cache layouts
  ``models--org--name/snapshots/<hash>/`` (the snapshot ``refs/main`` points at, else the
  newest), named ``org/name``;
- single-file ``.safetensors`` checkpoints, classified by their tensor keys (SD 1.x, SD 2.x,
  SDXL, other families by diffusers' detector), LoRAs and VAEs, reading only the header;
- pickle checkpoints (``.ckpt`` ...), listed so the user sees them, marked as refused.

Nothing is loaded and no torch is imported; a folder of multi-GB checkpoints lists at once.
Results are remembered per (path, size, mtime).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from studio.core.errors import ModelFormatError, ParamError
from studio_diffusion.checkpoint import (
    FAMILY_LABELS,
    LORA,
    PICKLE_SUFFIXES,
    SD1,
    SD2,
    SDXL,
    SDXL_REFINER,
    UNKNOWN,
    VAE,
    inspect_checkpoint,
)

MAX_DEPTH = 5
CHECKPOINT = "checkpoint"


@dataclass(frozen=True)
class ModelEntry:
    path: Path
    name: str
    format: str  # "diffusers", "safetensors" or "pickle"
    kind: str  # "checkpoint", "lora", "vae" or "unknown"
    family: str  # sd1, sd2, sdxl, sdxl-refiner, a diffusers model type, pipeline class, or unknown
    variant: str = ""
    note: str = ""

    @property
    def label(self) -> str:
        base = FAMILY_LABELS.get(self.family, self.family)
        return f"{base} ({self.variant})" if self.variant else base

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["label"] = self.label
        return data


_memo: dict[tuple[str, int, int], ModelEntry | None] = {}
_memo_lock = threading.Lock()


def find_models(folders: Iterable[Path], *, kinds: tuple[str, ...] = (CHECKPOINT, LORA, VAE)) -> list[ModelEntry]:
    """Every model under ``folders`` (depth-limited), in a stable order."""
    found: list[ModelEntry] = []
    seen: set[Path] = set()
    for folder in folders:
        folder = Path(folder).expanduser()
        if folder.is_file():
            entry = describe_path(folder)
            if entry is not None and entry.path.resolve() not in seen:
                seen.add(entry.path.resolve())
                found.append(entry)
        elif folder.is_dir():
            _walk(folder, 0, found, seen)
    return [entry for entry in found if entry.kind in kinds]


def describe_path(path: Path) -> ModelEntry | None:
    """What one file or folder is, or None when it is not a diffusion model at all."""
    path = Path(path)
    if path.is_dir():
        snapshot = hf_snapshot(path)
        if snapshot is not None:
            # Listed as the repo folder (stable across updates); loaded from its snapshot.
            family, variant = diffusers_family(snapshot)
            return ModelEntry(path, hf_repo_name(path), "diffusers", CHECKPOINT, family, variant)
        if (path / "model_index.json").is_file():
            return _describe_diffusers(path, name=display_name(path))
        return None
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return _describe_safetensors(path)
    if suffix in PICKLE_SUFFIXES:
        return ModelEntry(path, path.stem, "pickle", CHECKPOINT, UNKNOWN, note="pickle checkpoint: refused unless allowed in Settings")
    return None


def resolve_model(value: str | None, folders: Iterable[Path], *, kind: str = CHECKPOINT) -> Path:
    """A model param (a path, or the name shown in the picker) as a path on disk."""
    folders = [Path(f) for f in folders]
    if value:
        candidate = Path(value).expanduser()
        if candidate.exists():
            return candidate
        for folder in folders:
            if (folder / value).exists():
                return folder / value
        wanted = value.strip().lower()
        for entry in find_models(folders, kinds=(kind,)):
            if wanted in (entry.name.lower(), entry.path.name.lower(), entry.path.stem.lower()):
                return entry.path
        where = ", ".join(str(f) for f in folders) or "no model folders are configured"
        raise ParamError(f"{value}: no such model file or folder, and no {kind} of that name in the model folders ({where})")
    entries = [entry for entry in find_models(folders, kinds=(kind,)) if entry.format != "pickle"]
    if not entries:
        where = ", ".join(str(f) for f in folders) or "none configured"
        raise ParamError(
            f"no Stable Diffusion model found in the model folders ({where}). Add a .safetensors checkpoint "
            "or a diffusers folder: drop it on the studio window, or Edit ▸ Preferences ▸ Model folders "
            "(command line: --param model=PATH or STUDIO_MODEL_PATH)"
        )
    return entries[0].path


def hf_snapshot(folder: Path) -> Path | None:
    """The snapshot folder of a Hugging Face cache repo (``models--org--name``), if it is one."""
    if not folder.name.startswith("models--"):
        return None
    snapshots = folder / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = folder / "refs" / "main"
    if ref.is_file():
        try:
            chosen = snapshots / ref.read_text(encoding="utf-8").strip()
            if (chosen / "model_index.json").is_file():
                return chosen
        except OSError:
            pass
    candidates = [p for p in snapshots.iterdir() if (p / "model_index.json").is_file()]
    if not candidates:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime)


def model_folder_to_load(path: Path) -> Path:
    """What to load (and hash) for a model path: an HF cache repo's current snapshot, else itself.

    Hashing the snapshot rather than the whole repo keeps other revisions and half-finished
    downloads in ``blobs/`` out of the model's identity.
    """
    return (hf_snapshot(path) if path.is_dir() else None) or path


def display_name(path: Path) -> str:
    """The name users know a model by: ``org/name`` for HF cache snapshots, else the file/folder name."""
    if path.parent.name == "snapshots" and path.parent.parent.name.startswith("models--"):
        return hf_repo_name(path.parent.parent)
    if path.name.startswith("models--"):
        return hf_repo_name(path)
    return path.stem if path.is_file() else path.name


def hf_repo_name(folder: Path) -> str:
    parts = folder.name.split("--")[1:]
    return "/".join(parts) if parts else folder.name


def _walk(folder: Path, depth: int, found: list[ModelEntry], seen: set[Path]) -> None:
    if depth > MAX_DEPTH or folder.name.endswith(".config"):
        return  # "<checkpoint>.config/" folders are configs that belong to a checkpoint
    entry = describe_path(folder)
    if entry is not None:
        if entry.path.resolve() not in seen:
            seen.add(entry.path.resolve())
            found.append(entry)
        return  # never descend into a model folder: its component weights are not checkpoints
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return
    for child in children:
        if child.name.startswith("."):
            continue
        if child.is_dir():
            _walk(child, depth + 1, found, seen)
        elif child.suffix.lower() in (".safetensors",) + PICKLE_SUFFIXES:
            entry = _memoised(child)
            if entry is not None and child.resolve() not in seen:
                seen.add(child.resolve())
                found.append(entry)


def _memoised(path: Path) -> ModelEntry | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    token = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _memo_lock:
        if token in _memo:
            return _memo[token]
    entry = describe_path(path)
    with _memo_lock:
        _memo[token] = entry
    return entry


def _describe_safetensors(path: Path) -> ModelEntry | None:
    try:
        checkpoint = inspect_checkpoint(path)
    except ModelFormatError as exc:
        return ModelEntry(path, path.stem, "safetensors", UNKNOWN, UNKNOWN, note=str(exc))
    family = checkpoint.family
    if family == LORA:
        kind = LORA
    elif family == VAE:
        kind = VAE
    elif family == UNKNOWN:
        kind = UNKNOWN
    else:
        kind = CHECKPOINT
    return ModelEntry(path, path.stem, "safetensors", kind, family, checkpoint.variant)


def _describe_diffusers(folder: Path, *, name: str) -> ModelEntry:
    family, variant = diffusers_family(folder)
    return ModelEntry(folder, name, "diffusers", CHECKPOINT, family, variant)


def diffusers_family(folder: Path) -> tuple[str, str]:
    """(family, variant) of a diffusers folder from model_index.json and the UNet config."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return UNKNOWN, ""
    class_name = str(index.get("_class_name", "")) if isinstance(index, dict) else ""
    unet: dict[str, Any] = {}
    try:
        unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    variant = "inpainting" if unet.get("in_channels") == 9 else ""
    if class_name.startswith("StableDiffusionXL"):
        if not index.get("text_encoder") or index.get("text_encoder", [None])[0] is None:
            return SDXL_REFINER, variant
        return SDXL, variant
    if class_name.startswith("StableDiffusion") and "3" not in class_name:
        cross = unet.get("cross_attention_dim")
        return (SD2 if cross == 1024 else SD1), variant
    return class_name or UNKNOWN, variant
