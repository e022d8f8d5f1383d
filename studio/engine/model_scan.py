"""Finding model files and folders in the user's model folders, without loading anything.

The scan reads only small files (``model_index.json``, ``config.json``) and safetensors
headers, so listing models is instant even for folders of multi-GB checkpoints.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
MAX_DEPTH = 4


def scan_models(folders: list[Path]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    seen: set[Path] = set()
    for folder in folders:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            continue
        _walk(folder, 0, found, seen)
    return found


def _walk(folder: Path, depth: int, found: list[dict[str, Any]], seen: set[Path]) -> None:
    if depth > MAX_DEPTH:
        return
    entry = describe_model_folder(folder)
    if entry is not None and folder.resolve() not in seen:
        seen.add(folder.resolve())
        found.append(entry)
        return
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return
    for child in children:
        if child.name.startswith("."):
            continue
        if (
            child.is_dir()
            and child.name.endswith(".config")
            and any((folder / (child.name[: -len(".config")] + suffix)).is_file() for suffix in WEIGHT_SUFFIXES)
        ):
            continue  # a single file's sidecar config folder, not a model of its own
        if child.is_dir():
            _walk(child, depth + 1, found, seen)
        elif child.suffix.lower() in WEIGHT_SUFFIXES and child.resolve() not in seen:
            seen.add(child.resolve())
            found.append(describe_model_file(child))


def describe_model_folder(folder: Path) -> dict[str, Any] | None:
    """A diffusers or transformers folder, or None when the folder is not one model."""
    index = folder / "model_index.json"
    config = folder / "config.json"
    if index.is_file():
        data = _read_json(index)
        return _entry(folder, "diffusers", kind="diffusion", detail=str(data.get("_class_name", "")))
    if config.is_file():
        data = _read_json(config)
        if "tokens_version" in data and (folder / "model.safetensors").is_file():
            # The melody plugin's own format (shipped or made by `train melody`).
            return _entry(folder, "studio-melody", kind="melody", detail=str(data.get("name", "")))
        architectures = data.get("architectures") or []
        architecture = architectures[0] if architectures else str(data.get("model_type", ""))
        kind = (
            "musicgen"
            if "Musicgen" in architecture or data.get("model_type") == "musicgen"
            else "llm"
            if "CausalLM" in architecture
            else "transformers"
        )
        return _entry(folder, "transformers", kind=kind, detail=architecture)
    return None


def describe_model_file(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        keys = safetensors_keys(path)
        kind = guess_kind_from_keys(keys) if keys is not None else "unreadable"
        return _entry(path, "safetensors", kind=kind)
    if suffix == ".gguf":
        return _entry(path, "gguf", kind="llm")
    return _entry(path, "pickle", kind="unknown", detail="pickle checkpoint: refused unless allowed in Settings")


def safetensors_keys(path: Path) -> list[str] | None:
    """Tensor names from a safetensors header (first 8 bytes: header length), or None."""
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
            if len(head) != 8:
                return None
            (length,) = struct.unpack("<Q", head)
            if length > 100 * 2**20:
                return None
            header = json.loads(handle.read(length))
    except (OSError, ValueError):
        return None
    return [key for key in header if key != "__metadata__"]


def guess_kind_from_keys(keys: list[str]) -> str:
    if any(key.startswith("model.diffusion_model.") for key in keys):
        return "diffusion"
    if any("lora" in key.lower() for key in keys[:200]):
        return "lora"
    if any(key.startswith(("encoder.", "decoder.")) and "conv" in key for key in keys[:200]):
        return "vae"
    return "unknown"


def _entry(path: Path, fmt: str, *, kind: str, detail: str = "") -> dict[str, Any]:
    try:
        size = path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    except OSError:
        size = 0
    return {
        "path": str(path),
        "name": path.stem if path.is_file() else path.name,
        "format": fmt,
        "kind": kind,
        "detail": detail,
        "bytes": size,
    }


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
