"""One restore path: a file's generation -> ``{generator, params, seed, source, unmapped}``.

``inspect FILE``, ``generate --from FILE`` and the window's drop / Restore / "use these
settings" all call ``restore_file`` (or ``build_restore``), so the three never disagree.

Our own files name their generator and its own params. Another tool's file is read into
canonical role inputs (``studio.core.foreign``), and the generator is chosen by the role
it fills (``image.from_text``, ``image.from_image``; helpers in ``studio.core.roles``), never by a first-party id,
so a community generator with the same role restores the same file. Its params come from
the role's ``inputs`` mapping plus the role's ``fixed`` params. Whatever could not be
carried over is in ``unmapped`` with the reason, and callers show it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.errors import FileFormatError
from studio.core.foreign import Found, read_generation
from studio.core.roles import generators_with_role, params_for_role

# When no generator fills a file's role, try the next one (img2img -> txt2img: the
# strength is then reported unmapped rather than the whole restore failing).
_FALLBACK_ROLES = {"image.from_image": "image.from_text"}


@dataclass
class Restore:
    """What re-making a file takes: the generator, its params, the seed, and what is lost."""

    generator: str | None
    params: dict[str, Any]
    seed: int | None
    source: str
    unmapped: dict[str, str] = field(default_factory=dict)
    role: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "params": dict(self.params),
            "seed": self.seed,
            "source": self.source,
            "unmapped": dict(self.unmapped),
        }


@dataclass(frozen=True)
class LocalModel:
    """A model file or folder the user has, with its SHA-256 when known."""

    name: str
    path: str = ""
    sha256: str | None = None


# --------------------------------------------------------------------------- restore


def restore_file(
    path: str | os.PathLike[str],
    catalogue: Sequence[Mapping[str, Any]],
    models: Sequence[LocalModel] = (),
) -> Restore:
    """The restore of an image (PNG/JPEG/WebP), MIDI, WAV/FLAC or project file.

    Raises ``FileFormatError`` for a file without generation settings.
    """
    from studio.core.inspect_file import inspect_path

    return restore_from_info(inspect_path(path), catalogue, models)


def restore_bytes(
    data: bytes,
    catalogue: Sequence[Mapping[str, Any]],
    models: Sequence[LocalModel] = (),
    name: str = "image",
) -> Restore:
    """The restore of an image's bytes (PNG, JPEG, WebP): what a drop on the window gives."""
    from studio.core.image_metadata import read_image_texts

    _kind, size, texts = read_image_texts(data, name)
    found = read_generation(texts, size)
    if found is None:
        raise FileFormatError(f"{name}: it records no generation settings to restore")
    return build_restore(found, catalogue, models)


def restore_record(record: Mapping[str, Any], catalogue: Sequence[Mapping[str, Any]], models: Sequence[LocalModel] = ()) -> Restore:
    """The restore of one of our own records (a history node's generator, params and seed)."""
    found = found_in_info({"studio": dict(record)})
    if found is None:
        raise FileFormatError("the generation names no generator; nothing to restore")
    return build_restore(found, catalogue, models)


def restore_from_info(info: Mapping[str, Any], catalogue: Sequence[Mapping[str, Any]], models: Sequence[LocalModel] = ()) -> Restore:
    """The restore for what ``inspect_path`` found in a file."""
    found = found_in_info(info)
    if found is None:
        raise FileFormatError(f"{info.get('file', 'the file')}: it records no generation settings to restore")
    return build_restore(found, catalogue, models)


def found_in_info(info: Mapping[str, Any]) -> Found | None:
    """The generation an ``inspect_path`` result describes (images, MIDI, audio, projects)."""
    texts = info.get("texts")
    if isinstance(texts, Mapping):
        size = (info["width"], info["height"]) if info.get("width") and info.get("height") else None
        return read_generation(dict(texts), size)
    record = info.get("studio")
    if info.get("format") in ("studio-project", "studio-autosave"):
        node = info.get("last_node") or {}
        record = {"generator": node.get("generator") or node.get("plugin_id"), "params": node.get("params"), "seed": node.get("seed")}
    if isinstance(record, Mapping) and (record.get("generator") or record.get("plugin")):
        import json

        return read_generation({"studio": json.dumps(dict(record), default=str)})
    return None


def build_restore(found: Found, catalogue: Sequence[Mapping[str, Any]], models: Sequence[LocalModel] = ()) -> Restore:
    """Choose the generator for ``found`` and give its params in that generator's names."""
    if found.generator is not None:
        return _restore_own(found, catalogue, models)
    unmapped = dict(found.unmapped)
    inputs = dict(found.inputs)
    _resolve_model(found, models, inputs, unmapped)
    role = found.role
    candidates = generators_with_role(catalogue, role)
    while not candidates and role in _FALLBACK_ROLES:
        role = _FALLBACK_ROLES[role]
        candidates = generators_with_role(catalogue, role)
    if not candidates:
        unmapped["generator"] = f"no installed generator fills the role {found.role}; install or enable one (e.g. Stable Diffusion)"
        return Restore(None, {}, found.seed, found.source, unmapped, role=found.role)
    # The generator that takes the most of what the file says, first in the catalogue on a tie.
    best = max(candidates, key=lambda g: (len(params_for_role(g, role, inputs)["params"]), -candidates.index(g)))
    mapped = params_for_role(best, role, inputs)
    params, left = mapped["params"], mapped["unmapped"]
    params = _checked(best, params, unmapped)
    for name, value in left.items():
        if name == "model":
            unmapped.setdefault("model", f"{best.get('id')} takes no model; {value} is not used")
        elif value not in (None, ""):
            unmapped.setdefault(name, f"{_short(value)}: {best.get('id')} has no setting for {name}")
    return Restore(str(best["id"]), params, found.seed, found.source, unmapped, role=role)


def _restore_own(found: Found, catalogue: Sequence[Mapping[str, Any]], models: Sequence[LocalModel]) -> Restore:
    unmapped = dict(found.unmapped)
    generator = next((g for g in catalogue if g.get("id") == found.generator), None)
    if generator is None:
        unmapped["generator"] = f"{found.generator} is not installed or is disabled; its settings cannot be applied"
        return Restore(found.generator, dict(found.params), found.seed, found.source, unmapped)
    params = _checked(generator, dict(found.params), unmapped)
    # The record's params chose the model (a name, or empty for the default), and re-running
    # them on this machine chooses it again. A named model is pinned to the local file with
    # the recorded hash, which also finds it after a rename.
    wanted = _normal_hash(found.model_hash)
    if params.get("model") and wanted:
        match = next((m for m in models if m.sha256 and m.sha256.lower().startswith(wanted)), None)
        if match is not None:
            params["model"] = match.name
    return Restore(found.generator, params, found.seed, found.source, unmapped)


def _checked(generator: Mapping[str, Any], params: dict[str, Any], unmapped: dict[str, str]) -> dict[str, Any]:
    """Params the generator declares and accepts; the rest go to ``unmapped`` with the reason."""
    from studio.core.errors import ParamError
    from studio.core.params import ParamSpec, coerce_value

    specs = {spec["name"]: spec for spec in generator.get("params") or []}
    kept: dict[str, Any] = {}
    for name, value in params.items():
        spec = specs.get(name)
        if spec is None:
            unmapped[name] = f"{generator.get('id')} has no parameter {name} (a different version made this file)"
            continue
        if value is None:
            continue
        try:
            kept[name] = coerce_value(ParamSpec(**dict(spec)), value)
        except (ParamError, TypeError) as exc:
            unmapped[name] = str(exc)
    return kept


def _resolve_model(found: Found, models: Sequence[LocalModel], inputs: dict[str, Any], unmapped: dict[str, str]) -> None:
    """Point ``inputs["model"]`` at the local model with the file's hash (or name)."""
    if not found.model_name and not found.model_hash:
        return
    wanted_hash = _normal_hash(found.model_hash)
    if wanted_hash:
        for model in models:
            if model.sha256 and model.sha256.lower().startswith(wanted_hash):
                inputs["model"] = model.name
                return
    if found.model_name:
        stem = Path(str(found.model_name).replace("\\", "/")).name
        names = {stem.lower(), Path(stem).stem.lower()}
        for model in models:
            if {model.name.lower(), Path(model.name).stem.lower()} & names:
                inputs["model"] = model.name
                if wanted_hash and model.sha256:
                    unmapped["model hash"] = (
                        f"{found.model_hash}: your {model.name} has a different hash ({model.sha256[:10]}); "
                        "it may be another version of the model"
                    )
                return
    described = f"{found.model_name or 'the model'}" + (f" (hash {found.model_hash})" if found.model_hash else "")
    unmapped.setdefault("model", f"{described} is not among your local models; add it to a model folder, or pick another model")


def _normal_hash(value: Any) -> str:
    """A hash as lowercase hex without tool prefixes (``0x`` SwarmUI, ``sha256:``)."""
    if not value:
        return ""
    text = str(value).strip().lower()
    for prefix in ("0x", "sha256:"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if ":" in text or not all(ch in "0123456789abcdef" for ch in text):
        return ""  # blake3:… (InvokeAI) and A1111's old 8-digit hash are not file SHA-256s
    return text if len(text) >= 8 else ""


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def local_models(found: Iterable[Mapping[str, Any]], hash_cache: str | os.PathLike[str] | None = None) -> list[LocalModel]:
    """Models from a model scan (``GET /models`` "found"), with SHA-256s the engine already knows.

    The engine remembers each file's hash in ``cache/hashes.json`` by ``path|size|mtime``;
    restore matches a file's ``Model hash`` against those without hashing gigabytes again.
    """
    import json

    known: dict[str, str] = {}
    if hash_cache is not None:
        try:
            data = json.loads(Path(hash_cache).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if isinstance(data, dict):
            known = {str(token): str(digest) for token, digest in data.items()}
    models = []
    for entry in found:
        path = str(entry.get("path") or "")
        name = str(entry.get("name") or Path(path).name)
        digest = None
        if path and Path(path).is_file():
            try:
                stat = Path(path).stat()
                digest = known.get(f"{Path(path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}")
            except OSError:
                digest = None
        models.append(LocalModel(name=name, path=path, sha256=digest))
    return models
