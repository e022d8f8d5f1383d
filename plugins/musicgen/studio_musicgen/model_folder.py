"""Finding and checking a MusicGen model folder before transformers is asked to load it.

A MusicGen folder (as saved by ``save_pretrained``, or downloaded from a model page) holds
``config.json`` with ``model_type`` "musicgen" or "musicgen_melody", safetensors weights,
the T5 text tokenizer and the processor config. Each missing piece gets its own message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.errors import ModelFormatError

MUSICGEN_TYPES = ("musicgen", "musicgen_melody")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TOKENIZER_FILES = ("tokenizer.json", "spiece.model")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


@dataclass(frozen=True)
class MusicgenSource:
    folder: Path
    model_type: str
    allow_pickle: bool

    @property
    def melody(self) -> bool:
        return self.model_type == "musicgen_melody"


def resolve_musicgen(value: str | None, model_paths: Iterable[Path], settings: Mapping[str, Any]) -> MusicgenSource:
    """The folder the user named (a path or a name inside a model folder), or the first found."""
    paths = [Path(p) for p in model_paths]
    searched = ", ".join(str(p) for p in paths) or "no model folders configured"
    if value:
        candidate = Path(value).expanduser()
        if not candidate.exists():
            matches = [folder / value for folder in paths if (folder / value).exists()]
            if not matches:
                raise ModelFormatError(f"model {value!r}: no such folder (looked in {searched})")
            candidate = matches[0]
        return check_musicgen(candidate, settings)
    found = find_musicgen(paths)
    if not found:
        raise ModelFormatError(
            f"no MusicGen model found: put a MusicGen model folder (e.g. musicgen-small, with config.json, "
            f"model.safetensors and its tokenizer) in one of the model folders ({searched}), or choose one in 'model'"
        )
    return check_musicgen(found[0], settings)


def find_musicgen(model_paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for root in model_paths:
        root = Path(root)
        if not root.is_dir():
            continue
        for candidate in [root] + sorted(c for c in root.iterdir() if c.is_dir() and not c.name.startswith(".")):
            try:
                if _model_type(candidate) in MUSICGEN_TYPES:
                    found.append(candidate)
            except ModelFormatError:
                continue  # someone else's broken folder is not ours to report here
    return found


def check_musicgen(path: Path, settings: Mapping[str, Any]) -> MusicgenSource:
    path = Path(path).expanduser().resolve()
    allow_pickle = bool(settings.get("allow_pickle", False))
    if path.is_file():
        raise ModelFormatError(f"{path.name} is a file; a MusicGen model is a folder (config.json, weights, tokenizer): choose the folder")
    if not path.is_dir():
        raise ModelFormatError(f"{path}: no such model folder")
    if not (path / "config.json").is_file():
        raise ModelFormatError(f"{path.name} is not a MusicGen model: config.json is missing")
    model_type = _model_type(path)
    if model_type not in MUSICGEN_TYPES:
        described = f"a {model_type!r} model" if model_type else "no model_type"
        raise ModelFormatError(
            f"{path.name} is not a MusicGen model: its config.json describes {described}, "
            "where MusicGen has model_type 'musicgen' (or 'musicgen_melody')"
        )
    if not list(path.glob("*.safetensors")):
        pickles = [p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES]
        if pickles and not allow_pickle:
            raise ModelFormatError(
                f"{path.name} has only pickle weights ({pickles[0]}), which can run code when loaded; "
                "convert them to .safetensors or allow pickle loading in Settings"
            )
        if not pickles:
            raise ModelFormatError(f"{path.name} is not a usable MusicGen model: model.safetensors (the weights) is missing")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ModelFormatError(
            f"{path.name} is not a usable MusicGen model: the text tokenizer (tokenizer.json or spiece.model) is missing"
        )
    if not any((path / name).is_file() for name in PROCESSOR_FILES):
        raise ModelFormatError(f"{path.name} is not a usable MusicGen model: the processor config (preprocessor_config.json) is missing")
    return MusicgenSource(path, model_type, allow_pickle)


def _model_type(folder: Path) -> str:
    config = folder / "config.json"
    if not config.is_file():
        return ""
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{folder.name}/config.json cannot be read: {exc}") from None
    return str(data.get("model_type", "")) if isinstance(data, dict) else ""
