"""LoRAs: which files a job asks for, their A1111 hashes, and applying them to a loaded model.

LoRAs go through diffusers' PEFT integration as named adapters on the cached pipeline:
loading one adds small adapter layers next to the base weights and never touches the base
weights themselves, so ``set_adapters`` changes weights between jobs and
``unload_lora_weights`` restores the base model exactly. The base model is never reloaded.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.errors import ModelFormatError, ParamError, StudioError
from studio_diffusion.checkpoint import LORA, PICKLE_SUFFIXES, detect_family, pickle_refused_message, read_safetensors_header

_A1111_TAG = re.compile(r"^<lora:(?P<name>[^:>]+)(?::(?P<weight>[^>]+))?>$")


@dataclass(frozen=True)
class LoraRequest:
    path: Path
    weight: float
    hash: str  # A1111's LoRA hash ("addnet": SHA-256 of the tensor data after the header)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def adapter_name(self) -> str:
        return "lora_" + self.hash[:16]


def parse_lora_list(text: str) -> list[tuple[str, float]]:
    """``FILE[:WEIGHT]`` entries, one per line or separated by ';' (also ``<lora:NAME:W>``)."""
    entries: list[tuple[str, float]] = []
    for raw in re.split(r"[;\n]", text or ""):
        item = raw.strip()
        if not item:
            continue
        tag = _A1111_TAG.match(item)
        if tag:
            name, weight_text = tag.group("name").strip(), tag.group("weight")
        else:
            name, sep, weight_text = item.rpartition(":")
            if not sep or not _is_number(weight_text) or not name:
                name, weight_text = item, None
        weight = 1.0
        if weight_text is not None:
            if not _is_number(weight_text):
                raise ParamError(f"loras: {item!r}: the weight after ':' should be a number like 0.8")
            weight = float(weight_text)
        entries.append((name.strip(), weight))
    return entries


def _is_number(text: str | None) -> bool:
    try:
        float(str(text).strip())
        return True
    except ValueError:
        return False


def find_lora_file(name: str, folders: Iterable[Path]) -> Path:
    candidate = Path(name).expanduser()
    if candidate.is_file():
        return candidate
    folders = [Path(f) for f in folders]
    wanted = {name.lower(), (name + ".safetensors").lower()}
    for folder in folders:
        if not folder.is_dir():
            continue
        direct = folder / name
        if direct.is_file():
            return direct
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name.lower() in wanted:
                return path
    raise ParamError(f"LoRA {name!r}: no such file, and none of that name in the model folders")


_hash_memo: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def lora_hash(path: Path) -> str:
    """A1111/kohya "addnet" hash: SHA-256 of a safetensors file's bytes after its header.

    It is what A1111 writes as ``Lora hashes`` and what model sites index LoRAs by, and it
    does not change when only the file's metadata is edited.
    """
    stat = path.stat()
    token = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _hash_lock:
        known = _hash_memo.get(token)
    if known:
        return known
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        if path.suffix.lower() == ".safetensors":
            length = int.from_bytes(handle.read(8), "little")
            handle.seek(8 + length)
        while chunk := handle.read(4 * 2**20):
            digest.update(chunk)
    value = digest.hexdigest()
    with _hash_lock:
        _hash_memo[token] = value
    return value


def prepare_loras(entries: list[tuple[str, float]], folders: Iterable[Path], *, allow_pickle: bool) -> list[LoraRequest]:
    folders = list(folders)
    merged: dict[Path, float] = {}
    for name, weight in entries:
        path = find_lora_file(name, folders).resolve()
        if path.suffix.lower() in PICKLE_SUFFIXES:
            if not allow_pickle:
                raise ModelFormatError(pickle_refused_message(path))
        elif path.suffix.lower() == ".safetensors":
            tensors, _meta, _offset = read_safetensors_header(path)  # truncated files fail here, clearly
            family, _variant = detect_family({key: info.shape for key, info in tensors.items()})
            if family != LORA:
                raise ModelFormatError(f"{path.name} is not a LoRA (it looks like a {family} file); pick a LoRA .safetensors")
        else:
            raise ModelFormatError(f"{path.name}: LoRAs are read from .safetensors files")
        merged[path] = merged.get(path, 0.0) + weight  # the same file twice adds its weights
    return [LoraRequest(path, weight, lora_hash(path)) for path, weight in merged.items()]


def _load_lora_state(path: Path) -> dict[str, Any]:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    from studio_diffusion.checkpoint import load_pickle_state_dict

    return load_pickle_state_dict(path)


def apply_loras(pipe: Any, active: dict[str, Path], wanted: list[LoraRequest]) -> None:
    """Make exactly ``wanted`` active on ``pipe``; ``active`` (adapter name → file) is updated.

    Adapters no longer wanted are deleted; with none wanted every LoRA layer is removed, so
    the model runs at its base speed and gives its base output again.
    """
    if not wanted:
        if active:
            pipe.unload_lora_weights()
            active.clear()
        return
    _require_peft()
    names = [request.adapter_name for request in wanted]
    stale = [name for name in active if name not in names]
    if stale:
        pipe.delete_adapters(stale)
        for name in stale:
            active.pop(name, None)
    for request in wanted:
        if request.adapter_name in active:
            continue
        state = _load_lora_state(request.path)
        try:
            pipe.load_lora_weights(state, adapter_name=request.adapter_name)
        except (ValueError, RuntimeError, KeyError) as exc:
            _forget_partial(pipe, request.adapter_name)
            raise ModelFormatError(f"LoRA {request.path.name} does not fit this model: {exc}") from None
        if not _adapter_present(pipe, request.adapter_name):
            raise ModelFormatError(
                f"LoRA {request.path.name} has no layers that match this model "
                "(a LoRA made for another model family, e.g. an SDXL LoRA on an SD 1.x model?)"
            )
        active[request.adapter_name] = request.path
    pipe.set_adapters(names, adapter_weights=[request.weight for request in wanted])


def _require_peft() -> None:
    from diffusers.utils import USE_PEFT_BACKEND

    if not USE_PEFT_BACKEND:
        raise StudioError("LoRAs need the 'peft' package next to diffusers (pip install peft), then restart the engine")


def _adapter_present(pipe: Any, name: str) -> bool:
    try:
        listing = pipe.get_list_adapters()
    except Exception:
        return True
    return any(name in adapters for adapters in listing.values())


def _forget_partial(pipe: Any, name: str) -> None:
    try:
        pipe.delete_adapters([name])
    except Exception:
        pass
