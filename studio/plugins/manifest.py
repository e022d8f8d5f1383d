"""plugin.toml: reading and validating a plugin's manifest without importing its code.

The manifest is the trust boundary between the studio and a stranger's folder, so it is
parsed strictly: unknown keys, malformed ids, an ``api`` range that excludes this studio,
or a parameter spec that contradicts itself are each refused with a message that names the
file, the key and the fix.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from studio.core.errors import ManifestError, ParamError
from studio.core.params import PARAM_TYPES, ParamSpec, check_spec
from studio.plugins.api_version import API_VERSION

MANIFEST_NAME = "plugin.toml"
GENERATOR_KINDS = ("image", "text", "music", "audio")
KNOWN_PERMISSIONS = ("network", "files", "subprocess", "clipboard", "microphone", "camera")

_ID = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")
_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class _ParamModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: str
    default: Any = None
    label: str = ""
    help: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: list[str] = Field(default_factory=list)
    multiline: bool = False
    optional: bool = False
    model_kind: str = ""
    advanced: bool = False

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in PARAM_TYPES:
            raise ValueError(f"unknown type {value!r}; use one of {', '.join(PARAM_TYPES)}")
        return value


class _GeneratorModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    kind: str
    entry: str
    name: str = ""
    description: str = ""
    params: list[_ParamModel] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _good_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"{value!r} is not a reverse-dns id like 'myname.pixelsort'")
        return value

    @field_validator("kind")
    @classmethod
    def _good_kind(cls, value: str) -> str:
        if value not in GENERATOR_KINDS:
            raise ValueError(f"unknown kind {value!r}; use one of {', '.join(GENERATOR_KINDS)}")
        return value

    @field_validator("entry")
    @classmethod
    def _good_entry(cls, value: str) -> str:
        if not _ENTRY.match(value):
            raise ValueError(f"{value!r} should look like 'package.module:ClassName'")
        return value


class _PluginModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    version: str
    api: str
    permissions: list[str] = Field(default_factory=list)
    author: str = ""
    description: str = ""
    homepage: str = ""
    license: str = ""
    dependencies: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _good_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"{value!r} is not a reverse-dns id like 'myname.pixelsort'")
        return value

    @field_validator("version")
    @classmethod
    def _good_version(cls, value: str) -> str:
        try:
            Version(value)
        except InvalidVersion:
            raise ValueError(f"{value!r} is not a version like '1.0.0'") from None
        return value

    @field_validator("api")
    @classmethod
    def _good_api(cls, value: str) -> str:
        try:
            SpecifierSet(value)
        except InvalidSpecifier:
            raise ValueError(f"{value!r} is not a version range like '>=1,<2'") from None
        return value

    @field_validator("permissions")
    @classmethod
    def _good_permissions(cls, value: list[str]) -> list[str]:
        unknown = [item for item in value if item not in KNOWN_PERMISSIONS]
        if unknown:
            raise ValueError(f"unknown permission(s) {unknown}; known: {', '.join(KNOWN_PERMISSIONS)}")
        return value


class _ManifestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plugin: _PluginModel
    generators: list[_GeneratorModel] = Field(default_factory=list)


@dataclass(frozen=True)
class GeneratorInfo:
    """One generator a plugin offers, with the parameter schema its panel is built from."""

    id: str
    kind: str
    entry: str
    name: str
    description: str
    params: tuple[ParamSpec, ...]
    plugin_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "entry": self.entry,
            "name": self.name,
            "description": self.description,
            "plugin": self.plugin_id,
            "params": [spec.to_dict() for spec in self.params],
        }


@dataclass(frozen=True)
class Manifest:
    """A validated plugin.toml and the folder it came from."""

    id: str
    name: str
    version: str
    api: str
    permissions: tuple[str, ...]
    author: str
    description: str
    homepage: str
    license: str
    dependencies: tuple[str, ...]
    generators: tuple[GeneratorInfo, ...]
    root: Path
    source: str = "user"  # "first-party", "user" or "entry-point"
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def first_party(self) -> bool:
        return self.source == "first-party"

    def api_compatible(self) -> bool:
        return Version(API_VERSION) in SpecifierSet(self.api)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "api": self.api,
            "permissions": list(self.permissions),
            "author": self.author,
            "description": self.description,
            "homepage": self.homepage,
            "license": self.license,
            "dependencies": list(self.dependencies),
            "source": self.source,
            "path": str(self.root),
            "generators": [generator.to_dict() for generator in self.generators],
        }


def parse_manifest_text(text: str, *, root: Path, where: str = MANIFEST_NAME, source: str = "user") -> Manifest:
    """Validate manifest text; raise ManifestError naming the file and what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{where}: not valid TOML: {exc}") from None
    try:
        model = _ManifestModel.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"{where}: {_describe_validation(exc)}") from None

    plugin = model.plugin
    generators: list[GeneratorInfo] = []
    seen: set[str] = set()
    for generator in model.generators:
        if generator.id in seen:
            raise ManifestError(f"{where}: generator id {generator.id!r} appears twice")
        seen.add(generator.id)
        specs: list[ParamSpec] = []
        names: set[str] = set()
        for param in generator.params:
            spec = ParamSpec.from_dict(param.model_dump())
            try:
                check_spec(spec)
            except ParamError as exc:
                raise ManifestError(f"{where}: generator {generator.id!r}: {exc}") from None
            if spec.name in names:
                raise ManifestError(f"{where}: generator {generator.id!r}: parameter {spec.name!r} appears twice")
            names.add(spec.name)
            specs.append(spec)
        generators.append(
            GeneratorInfo(
                id=generator.id,
                kind=generator.kind,
                entry=generator.entry,
                name=generator.name or generator.id,
                description=generator.description,
                params=tuple(specs),
                plugin_id=plugin.id,
            )
        )
    if not generators:
        raise ManifestError(f"{where}: declares no [[generators]]; a plugin must offer at least one")

    manifest = Manifest(
        id=plugin.id,
        name=plugin.name,
        version=plugin.version,
        api=plugin.api,
        permissions=tuple(plugin.permissions),
        author=plugin.author,
        description=plugin.description,
        homepage=plugin.homepage,
        license=plugin.license,
        dependencies=tuple(plugin.dependencies),
        generators=tuple(generators),
        root=root,
        source=source,
        raw=data,
    )
    if not manifest.api_compatible():
        raise ManifestError(
            f"{where}: plugin {plugin.id} needs plugin API {plugin.api}, but this studio provides "
            f"API {API_VERSION}; install a version of the plugin made for API {API_VERSION.split('.')[0]}.x"
        )
    return manifest


def read_manifest(folder: Path, *, source: str = "user") -> Manifest:
    """Read ``folder/plugin.toml``."""
    path = folder / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{folder}: no {MANIFEST_NAME} found; a plugin folder must contain one") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot be read: {exc}") from None
    return parse_manifest_text(text, root=folder, where=str(path), source=source)


def _describe_validation(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = ".".join(str(item) for item in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling against docs/plugins.md)"
        elif error["type"] == "missing":
            message = "required key is missing"
        parts.append(f"{location}: {message}")
    return "; ".join(parts)
