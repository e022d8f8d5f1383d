"""Finding and checking a local language model before anything heavy is imported.

A model is a Hugging Face folder (``config.json``, ``*.safetensors``, a tokenizer) or a
single ``.gguf`` file. Every way such a folder can be incomplete gets its own message that
says what is missing, because "Error no file named pytorch_model.bin" is not something a
writer can act on. Pickle weights (``.bin``, ``.pt``, ``.pth``, ``.ckpt``) can run code when
loaded, so they are refused unless the user allowed them in Settings.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.errors import ModelFormatError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model", "tiktoken.model")
# Architectures AutoModelForCausalLM maps that do not end in "ForCausalLM".
_CAUSAL_EXTRA = ("LMHeadModel",)


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files are: a folder, or a .gguf file (``gguf_file`` set)."""

    path: Path  # what the cache keys on: the folder, or the .gguf file
    folder: Path  # what from_pretrained reads
    gguf_file: str | None = None
    allow_pickle: bool = False
    trust_remote_code: bool = False

    @property
    def name(self) -> str:
        return self.gguf_file or self.folder.name


def resolve_model(value: str | None, model_paths: Iterable[Path], settings: Mapping[str, Any]) -> ModelSource:
    """The model the user named (a path, or a name inside a model folder), or the first found."""
    paths = [Path(p) for p in model_paths]
    if value:
        candidate = Path(value).expanduser()
        if not candidate.exists():
            for folder in paths:
                if (folder / value).exists():
                    candidate = folder / value
                    break
            else:
                searched = ", ".join(str(p) for p in paths) or "no model folders configured"
                raise ModelFormatError(f"model {value!r}: no such file or folder (looked in {searched})")
        return check_model(candidate, settings)
    found = find_models(paths)
    if not found:
        searched = ", ".join(str(p) for p in paths) or "no model folders configured"
        raise ModelFormatError(
            "no language model found: put a Hugging Face model folder (config.json, *.safetensors and "
            f"tokenizer files) or a .gguf file in one of the model folders ({searched}), or choose one in 'model'"
        )
    return check_model(found[0], settings)


def find_models(model_paths: Iterable[Path]) -> list[Path]:
    """Causal-LM folders and .gguf files in the model folders and one level below them."""
    found: list[Path] = []
    for root in model_paths:
        root = Path(root)
        if not root.is_dir():
            continue
        candidates = [root] + sorted(child for child in root.iterdir() if not child.name.startswith("."))
        for candidate in candidates:
            if candidate.is_file() and candidate.suffix == ".gguf" or candidate.is_dir() and _looks_causal(candidate):
                found.append(candidate)
    return found


def check_model(path: Path, settings: Mapping[str, Any]) -> ModelSource:
    """Raise ModelFormatError naming what is missing or refused; else the ModelSource."""
    path = Path(path).expanduser().resolve()
    allow_pickle = bool(settings.get("allow_pickle", False))
    trusted = {str(Path(str(p)).expanduser().resolve()) for p in (settings.get("trust_remote_code") or [])}
    trust = str(path) in trusted

    if path.is_file():
        if path.suffix == ".gguf":
            if importlib.util.find_spec("gguf") is None:
                raise ModelFormatError(
                    f"{path.name} is a GGUF file; reading GGUF through transformers needs the 'gguf' package "
                    "(pip install gguf), or use the model's Hugging Face folder (config.json + .safetensors) instead"
                )
            return ModelSource(path, path.parent, gguf_file=path.name, allow_pickle=allow_pickle, trust_remote_code=trust)
        if path.suffix in PICKLE_SUFFIXES or path.suffix == ".safetensors":
            raise ModelFormatError(
                f"{path.name} is a bare weights file; a language model needs its folder "
                "(config.json, weights and tokenizer files): choose the folder instead"
            )
        raise ModelFormatError(f"{path.name} is not a language model (expected a model folder or a .gguf file)")
    if not path.is_dir():
        raise ModelFormatError(f"{path}: no such model file or folder")

    if not (path / "config.json").is_file():
        raise ModelFormatError(f"{path.name} is not a Hugging Face model folder: config.json is missing")
    safetensors = list(path.glob("*.safetensors"))
    pickles = [p for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES and p.is_file()]
    if not safetensors:
        if pickles and not allow_pickle:
            raise ModelFormatError(
                f"{path.name} has only pickle weights ({pickles[0].name}), which can run code when loaded; "
                "convert them to .safetensors or allow pickle loading in Settings"
            )
        if not pickles:
            raise ModelFormatError(
                f"{path.name} has no weights: model.safetensors (or sharded model-*.safetensors with their index.json) is missing"
            )
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ModelFormatError(
            f"{path.name} has no tokenizer: tokenizer.json (or tokenizer.model, or vocab.json with merges.txt) "
            "is missing; copy the tokenizer files from the model's original folder"
        )
    return ModelSource(path, path, allow_pickle=allow_pickle, trust_remote_code=trust)


def _looks_causal(folder: Path) -> bool:
    config_file = folder / "config.json"
    if not config_file.is_file():
        return False
    architectures = _read_config(folder).get("architectures") or []
    return any(str(a).endswith("ForCausalLM") or str(a).endswith(_CAUSAL_EXTRA) for a in architectures)


def _read_config(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{folder.name}/config.json cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ModelFormatError(f"{folder.name}/config.json is not a JSON object")
    return data
