"""plugin.toml: reading and validating a plugin's manifest without importing its code.

The manifest is the trust boundary between the studio and a stranger's folder, so it is
parsed strictly: unknown keys, malformed ids, an ``api`` range that excludes this studio,
or a parameter spec that contradicts itself are each refused with a message that names the
file, the key and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import tomllib
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from studio.core.errors import ManifestError, ParamError
from studio.core.params import ParamSpec, check_spec, coerce_value
from studio.core.roles import ROLE_ID, ROLE_INPUTS
from studio.plugins.api_version import API_VERSION

MANIFEST_NAME = "plugin.toml"
GENERATOR_KINDS = ("image", "text", "music", "audio")
KNOWN_PERMISSIONS = ("network", "files", "subprocess", "clipboard", "microphone", "camera")

_ID = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")
_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class RoleSpec(BaseModel):
    """``[[generators.roles]]``: a role the generator fills and how its params map onto it.

    ``inputs`` maps the role's canonical input names (see ``studio.core.roles``) to this
    generator's param names; ``fixed`` holds params the role always sets (``mode``, say).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str
    inputs: dict[str, str] = Field(default_factory=dict)
    fixed: dict[str, Any] = Field(default_factory=dict)

    @field_validator("role")
    @classmethod
    def _good_role(cls, value: str) -> str:
        if not ROLE_ID.match(value):
            raise ValueError(f"{value!r} is not a role id like 'image.inpaint'")
        return value

    @model_validator(mode="after")
    def _known_inputs(self) -> RoleSpec:
        known = ROLE_INPUTS.get(self.role)
        if known is not None:
            unknown = sorted(set(self.inputs) - set(known))
            if unknown:
                raise ValueError(f"role {self.role}: unknown input(s) {', '.join(unknown)}; this role's inputs are {', '.join(known)}")
        return self


class GeneratorInfo(BaseModel):
    """``[[generators]]``: one generator a plugin offers, its parameter schema and roles.

    ``plugin`` is filled in from the manifest's ``[plugin] id``; it is not written in TOML.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: str
    entry: str
    name: str = ""
    description: str = ""
    params: tuple[ParamSpec, ...] = ()
    roles: tuple[RoleSpec, ...] = ()
    plugin: str = ""

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

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("name"):
            data = dict(data, name=data.get("id", ""))
        return data

    def param(self, name: str) -> ParamSpec | None:
        return next((spec for spec in self.params if spec.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The catalogue entry of ``GET /plugins`` (params, roles, owning plugin)."""
        return self.model_dump(mode="json")


class ReaderSpec(BaseModel):
    """``[[readers]]``: a metadata reader: another tool's file → generation params.

    ``entry`` names a function ``read(path: Path) -> dict | None`` (None: not this format)
    returning ``{"role", "inputs", "seed", "source"}`` in the role vocabulary, so restore
    can hand the result to whichever generator fills that role (``params_for_role``).
    ``suffixes`` says which files to offer it (``[".png"]``); ``role`` the role its
    inputs belong to, when it is always the same.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    entry: str
    name: str = ""
    description: str = ""
    suffixes: tuple[str, ...] = ()
    role: str = ""
    plugin: str = ""

    @field_validator("id")
    @classmethod
    def _good_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"{value!r} is not a reverse-dns id like 'myname.a1111-png'")
        return value

    @field_validator("entry")
    @classmethod
    def _good_entry(cls, value: str) -> str:
        if not _ENTRY.match(value):
            raise ValueError(f"{value!r} should look like 'package.module:function'")
        return value

    @field_validator("suffixes")
    @classmethod
    def _dotted(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [item for item in value if not re.fullmatch(r"\.[a-z0-9]+", item)]
        if bad:
            raise ValueError(f"suffixes {bad} should be lower-case file endings like '.png'")
        return value


class CommandSpec(BaseModel):
    """``[[commands]]``: something a plugin does besides generating (``train``, say).

    It runs as an engine job (``kind = "command"``), so it reports progress, can be
    cancelled and runs wherever the engine runs. ``entry`` names a function
    ``run(args: list[str], ctx) -> dict`` (see ``studio.plugins.api.CommandContext``);
    ``models`` is the model kind whose folder (``STUDIO_HOME/models/<kind>/``) the
    command writes its results into, so they appear as model choices; ``data`` the
    artefact kind of the files it learns from (``melody`` for MIDI), so the window can
    offer "Train on my MIDI…" for any plugin that trains on melodies.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    entry: str
    title: str = ""
    description: str = ""
    models: str = ""
    data: str = ""
    plugin: str = ""

    @field_validator("id")
    @classmethod
    def _good_id(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", value):
            raise ValueError(f"{value!r} is not a command id like 'train'")
        return value

    @field_validator("entry")
    @classmethod
    def _good_entry(cls, value: str) -> str:
        if not _ENTRY.match(value):
            raise ValueError(f"{value!r} should look like 'package.module:function'")
        return value


class PluginInfo(BaseModel):
    """``[plugin]``: who the plugin is, what it needs, what it may do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    version: str
    api: str
    permissions: tuple[str, ...] = ()
    author: str = ""
    description: str = ""
    homepage: str = ""
    license: str = ""
    dependencies: tuple[str, ...] = ()

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
    def _good_permissions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [item for item in value if item not in KNOWN_PERMISSIONS]
        if unknown:
            raise ValueError(f"unknown permission(s) {unknown}; known: {', '.join(KNOWN_PERMISSIONS)}")
        return value


_OWNED = ("generators", "readers", "commands")


class Manifest(BaseModel):
    """A validated plugin.toml: the one model of a manifest the whole studio uses.

    The TOML validates straight into it; ``root`` (the folder) and ``source``
    (``first-party``, ``user`` or ``entry-point``) are where it was found, not part of the
    file. ``to_dict()`` is its JSON form for the plugin manager and ``GET /plugins``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    plugin: PluginInfo
    generators: tuple[GeneratorInfo, ...] = ()
    readers: tuple[ReaderSpec, ...] = ()
    commands: tuple[CommandSpec, ...] = ()

    _root: Path = PrivateAttr(default=Path("."))
    _source: str = PrivateAttr(default="user")
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _stamp_owner(cls, data: Any) -> Any:
        """Every generator, reader and command learns the plugin id it belongs to."""
        if not isinstance(data, dict) or not isinstance(data.get("plugin"), dict):
            return data
        owner = data["plugin"].get("id", "")
        data = dict(data)
        for key in _OWNED:
            items = data.get(key)
            if isinstance(items, list):
                data[key] = [dict(item, plugin=owner) if isinstance(item, dict) and "plugin" not in item else item for item in items]
        return data

    # -------------------------------------------------------------- where it came from

    @property
    def root(self) -> Path:
        return self._root

    @property
    def source(self) -> str:
        return self._source

    @property
    def raw(self) -> dict[str, Any]:
        return self._raw

    @property
    def first_party(self) -> bool:
        return self._source == "first-party"

    def api_compatible(self) -> bool:
        return Version(API_VERSION) in SpecifierSet(self.plugin.api)

    def command(self, command_id: str) -> CommandSpec | None:
        return next((command for command in self.commands if command.id == command_id), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON row of this plugin: ``[plugin]`` facts flattened, contributions, origin."""
        data = self.model_dump(mode="json")
        row = data.pop("plugin")
        row.update(data, source=self._source, path=str(self._root))
        return row


def parse_manifest_text(text: str, *, root: Path, where: str = MANIFEST_NAME, source: str = "user") -> Manifest:
    """Validate manifest text; raise ManifestError naming the file and what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{where}: not valid TOML: {exc}") from None
    for key in _OWNED:
        for index, item in enumerate(data.get(key) or []):
            if isinstance(item, dict) and "plugin" in item:
                raise ManifestError(f"{where}: {key}.{index}.plugin: unknown key (the owner is [plugin] id)")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"{where}: {_describe_validation(exc)}") from None
    _check_consistency(manifest, where)
    manifest._root, manifest._source, manifest._raw = root, source, data
    if not manifest.api_compatible():
        raise ManifestError(
            f"{where}: plugin {manifest.plugin.id} needs plugin API {manifest.plugin.api}, but this studio provides "
            f"API {API_VERSION}; install a version of the plugin made for API {API_VERSION.split('.')[0]}.x"
        )
    return manifest


def _check_consistency(manifest: Manifest, where: str) -> None:
    """What pydantic cannot see field by field: duplicates, params against roles."""
    if not manifest.generators:
        raise ManifestError(f"{where}: declares no [[generators]]; a plugin must offer at least one")
    for key in _OWNED:
        ids = [item.id for item in getattr(manifest, key)]
        twice = sorted({item for item in ids if ids.count(item) > 1})
        if twice:
            raise ManifestError(f"{where}: {key[:-1]} id {twice[0]!r} appears twice")
    for generator in manifest.generators:
        names: set[str] = set()
        for spec in generator.params:
            try:
                check_spec(spec)
            except ParamError as exc:
                raise ManifestError(f"{where}: generator {generator.id!r}: {exc}") from None
            if spec.name in names:
                raise ManifestError(f"{where}: generator {generator.id!r}: parameter {spec.name!r} appears twice")
            names.add(spec.name)
        _check_roles(generator, where)


def _check_roles(generator: GeneratorInfo, where: str) -> None:
    specs = {spec.name: spec for spec in generator.params}
    seen: set[str] = set()
    for role in generator.roles:
        here = f"{where}: generator {generator.id!r}: role {role.role}"
        if role.role in seen:
            raise ManifestError(f"{here}: declared twice")
        seen.add(role.role)
        for name, param in role.inputs.items():
            if param not in specs:
                raise ManifestError(f"{here}: input {name!r} maps to {param!r}, which is not one of this generator's params")
        for name, value in role.fixed.items():
            spec = specs.get(name)
            if spec is None:
                raise ManifestError(f"{here}: fixed {name!r} is not one of this generator's params")
            try:
                coerce_value(spec, value)
            except ParamError as exc:
                raise ManifestError(f"{here}: fixed {exc}") from None


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
