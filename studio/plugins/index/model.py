"""The index format: what a signed ``index.json`` holds (documented in docs/plugins.md).

The file is an envelope ``{"signed": {...}, "key": "ed25519:…", "signature": "…"}``: the
publisher's Ed25519 signature covers the canonical JSON of ``signed`` (see ``signing``). The
``signed`` object lists plugins, each with its versions (archive URL, SHA-256, size, plugin-API
range, permissions, minimum studio version, platforms) and the author's own signature over
each archive, plus advisories (versions withdrawn, with a reason). Everything here is parsed
strictly at the trust boundary; unknown keys are ignored so that newer indexes still load.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from studio import __version__ as STUDIO_VERSION
from studio.plugins.api_version import API_VERSION
from studio.plugins.index.errors import PluginIndexError, TrustError
from studio.plugins.index.signing import PublicKey, SignatureError, canonical_json

INDEX_FORMAT = 1
_ID = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
PLATFORMS = ("linux", "macos", "windows")


def this_platform() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "darwin":
        return "macos"
    if sys.platform.startswith(("win", "cygwin")):
        return "windows"
    return sys.platform


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class VersionEntry(_Model):
    """One published archive of a plugin."""

    version: str
    url: str  # absolute (https://, or http:// on loopback) or relative to the index
    sha256: str
    size: int = Field(gt=0)
    api: str = ">=1,<2"
    permissions: tuple[str, ...] = ()
    min_studio: str = ""
    platforms: tuple[str, ...] = ()  # empty: every platform
    signature: str  # the author's signature over signing.archive_statement(...)
    published: str = ""

    @field_validator("version", "min_studio")
    @classmethod
    def _pep440(cls, value: str) -> str:
        if value:
            try:
                Version(value)
            except InvalidVersion:
                raise ValueError(f"{value!r} is not a PEP 440 version") from None
        return value

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        value = value.lower()
        if not _SHA256.match(value):
            raise ValueError("must be 64 hexadecimal digits")
        return value

    @field_validator("api")
    @classmethod
    def _spec(cls, value: str) -> str:
        try:
            SpecifierSet(value)
        except InvalidSpecifier:
            raise ValueError(f"{value!r} is not a version range like '>=1,<2'") from None
        return value

    @property
    def parsed(self) -> Version:
        return Version(self.version)

    def incompatibility(self) -> str | None:
        """Why this studio cannot install this version, or None."""
        if Version(API_VERSION) not in SpecifierSet(self.api):
            return f"needs plugin API {self.api}, this studio has {API_VERSION}"
        if self.min_studio and Version(STUDIO_VERSION) < Version(self.min_studio):
            return f"needs studio {self.min_studio} or newer, this is {STUDIO_VERSION}"
        if self.platforms and this_platform() not in self.platforms:
            return f"is built for {', '.join(self.platforms)}, not {this_platform()}"
        return None


class PluginEntry(_Model):
    """A plugin listed in an index, with every published version."""

    id: str
    name: str
    description: str = ""
    author: str
    author_key: str
    homepage: str = ""
    license: str = ""
    roles: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    versions: tuple[VersionEntry, ...]

    @field_validator("id")
    @classmethod
    def _plugin_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"{value!r} is not a plugin id")
        return value

    @field_validator("author_key")
    @classmethod
    def _key(cls, value: str) -> str:
        try:
            return PublicKey.parse(value).text
        except SignatureError as exc:
            raise ValueError(str(exc)) from None

    @property
    def categories(self) -> tuple[str, ...]:
        """What the Browse tab files it under: its roles, else its generator kinds."""
        return self.roles or self.kinds

    def version(self, version: str) -> VersionEntry | None:
        try:
            wanted = Version(version)
        except InvalidVersion:
            return None
        return next((item for item in self.versions if item.parsed == wanted), None)

    def sorted_versions(self) -> list[VersionEntry]:
        return sorted(self.versions, key=lambda item: item.parsed, reverse=True)


class Advisory(_Model):
    """Versions of a plugin that its publisher withdrew, and why."""

    plugin: str
    versions: tuple[str, ...]
    reason: str
    kind: str = "withdrawn"

    def covers(self, plugin_id: str, version: str) -> bool:
        if plugin_id != self.plugin:
            return False
        try:
            wanted = Version(version)
            return any(Version(item) == wanted for item in self.versions)
        except InvalidVersion:
            return version in self.versions


class IndexContent(_Model):
    """The signed part of an index."""

    format: int = INDEX_FORMAT
    name: str
    publisher: str = ""
    generated: str = ""
    plugins: tuple[PluginEntry, ...] = ()
    advisories: tuple[Advisory, ...] = ()

    def plugin(self, plugin_id: str) -> PluginEntry | None:
        return next((entry for entry in self.plugins if entry.id == plugin_id), None)

    def advisory(self, plugin_id: str, version: str) -> Advisory | None:
        return next((item for item in self.advisories if item.covers(plugin_id, version)), None)


def parse_envelope(data: bytes, *, where: str) -> tuple[dict[str, Any], PublicKey, str]:
    """Split an index file into its signed object, the key it names and the signature."""
    import json

    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PluginIndexError(f"{where}: not a JSON index ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("signed"), dict):
        raise PluginIndexError(f"{where}: not a plugin index (no 'signed' object); build one with `plugins index build FOLDER`")
    signature = document.get("signature")
    if not isinstance(signature, str) or not signature:
        raise PluginIndexError(f"{where}: the index is not signed (no 'signature'); the studio only uses signed indexes")
    try:
        key = PublicKey.parse(document.get("key", ""), what=f"{where}: key")
    except SignatureError as exc:
        raise PluginIndexError(str(exc)) from None
    return document["signed"], key, signature


def verify_envelope(signed: dict[str, Any], key: PublicKey, signature: str, *, where: str) -> IndexContent:
    """Check the publisher's signature over ``signed`` with ``key``, then parse the content."""
    try:
        key.verify(signature, canonical_json(signed), what=f"index {where}")
    except SignatureError as exc:
        raise TrustError(str(exc)) from None
    return parse_content(signed, where=where)


def parse_content(signed: dict[str, Any], *, where: str) -> IndexContent:
    fmt = signed.get("format", INDEX_FORMAT)
    if fmt != INDEX_FORMAT:
        raise PluginIndexError(
            f"{where}: index format {fmt!r} is not one this studio reads (it reads format {INDEX_FORMAT}); update the studio"
        )
    try:
        content = IndexContent.model_validate(signed)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise PluginIndexError(f"{where}: {location}: {first['msg']}") from None
    seen: set[str] = set()
    for entry in content.plugins:
        if entry.id in seen:
            raise PluginIndexError(f"{where}: plugin {entry.id} is listed twice")
        seen.add(entry.id)
    return content
