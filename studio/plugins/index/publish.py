"""The author's side: sign an archive, build a ready-to-host index from a folder of archives.

``sign_archive`` writes ``<archive>.sig.json`` next to the archive: the author's public key
and signature over (plugin id, version, size, SHA-256). ``build_index`` reads every archive
in a folder with the installer's own checks (``open_archive`` + the manifest parser), takes
each archive's author signature from its ``.sig.json`` (or, for archives without one, signs
them itself: the index publisher is then the author), adds ``advisories.json`` if the folder
has one, and writes ``index.json`` signed with the publisher's key. Serve the folder with any
static web server (or point ``plugins index add`` at it) and it is an index.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import Version

from studio.core.atomic_files import write_bytes_atomic
from studio.plugins.archive import open_archive
from studio.plugins.index.errors import PluginIndexError
from studio.plugins.index.model import INDEX_FORMAT, Advisory, parse_content
from studio.plugins.index.signing import PublicKey, SignatureError, SigningKey, archive_statement, canonical_json
from studio.plugins.manifest import Manifest, parse_manifest_text

SIGNATURE_SUFFIX = ".sig.json"
ADVISORIES_FILE = "advisories.json"
INDEX_FILE = "index.json"


@dataclass(frozen=True)
class ArchiveFacts:
    """What an index needs to know about one archive, read with the installer's checks."""

    path: Path
    plugin_id: str
    version: str
    sha256: str
    size: int
    manifest: Manifest


def read_archive(path: Path) -> ArchiveFacts:
    archive = open_archive(path)
    manifest = parse_manifest_text(archive.manifest_text, root=archive.path, where=f"{path.name}:{archive.manifest_member}")
    return ArchiveFacts(
        path=path,
        plugin_id=manifest.plugin.id,
        version=manifest.plugin.version,
        sha256=archive.sha256,
        size=path.stat().st_size,
        manifest=manifest,
    )


def sign_archive(path: Path, key: SigningKey) -> Path:
    """Write ``<archive>.sig.json``: the author's signature over id, version, size and SHA-256."""
    facts = read_archive(Path(path))
    record = {
        "id": facts.plugin_id,
        "version": facts.version,
        "sha256": facts.sha256,
        "size": facts.size,
        "author": facts.manifest.plugin.author,
        "author_key": key.public.text,
        "signature": key.sign(archive_statement(facts.plugin_id, facts.version, facts.sha256, facts.size)),
    }
    out = facts.path.with_name(facts.path.name + SIGNATURE_SUFFIX)
    write_bytes_atomic(out, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    return out


def _read_signature(facts: ArchiveFacts) -> tuple[str, str] | None:
    """(author key, signature) from the archive's .sig.json, checked against the archive."""
    sig_path = facts.path.with_name(facts.path.name + SIGNATURE_SUFFIX)
    if not sig_path.is_file():
        return None
    try:
        record = json.loads(sig_path.read_text(encoding="utf-8"))
        key = PublicKey.parse(record["author_key"], what=f"{sig_path.name}: author_key")
        signature = record["signature"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PluginIndexError(f"{sig_path}: unreadable signature file ({exc}); sign the archive again with `plugins sign`") from None
    except SignatureError as exc:
        raise PluginIndexError(str(exc)) from None
    try:
        key.verify(signature, archive_statement(facts.plugin_id, facts.version, facts.sha256, facts.size), what=sig_path.name)
    except SignatureError:
        raise PluginIndexError(
            f"{sig_path.name}: the signature does not match {facts.path.name} as it is now (rebuilt or changed since it was signed?); sign it again"
        ) from None
    return key.text, signature


def _roles_and_kinds(manifest: Manifest) -> tuple[list[str], list[str]]:
    """Roles the generators fill (``[[generators.roles]]``, when manifests carry them) and kinds."""
    roles: list[str] = []
    for generator in manifest.generators:
        for item in getattr(generator, "roles", None) or ():
            role = item if isinstance(item, str) else getattr(item, "role", None) or (item.get("role") if isinstance(item, dict) else None)
            if role and role not in roles:
                roles.append(role)
    if not roles:
        for raw in (manifest.raw or {}).get("generators", []) or []:
            for item in raw.get("roles", []) if isinstance(raw, dict) else []:
                role = item.get("role") if isinstance(item, dict) else None
                if isinstance(role, str) and role not in roles:
                    roles.append(role)
    kinds = sorted({generator.kind for generator in manifest.generators})
    return roles, kinds


def build_index(
    folder: Path, key: SigningKey, *, name: str = "", publisher: str = "", base_url: str = "", out: Path | None = None
) -> tuple[Path, dict[str, Any]]:
    """Write a signed ``index.json`` for every archive in ``folder``; returns (path, signed content)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PluginIndexError(f"{folder}: not a folder")
    archives = sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in (".zip", ".whl"))
    if not archives:
        raise PluginIndexError(f"{folder}: no plugin archives (.zip or .whl) to index; pack them with `plugins pack`")
    by_id: dict[str, list[tuple[ArchiveFacts, str, str]]] = {}
    for path in archives:
        facts = read_archive(path)
        archive_signature = _read_signature(facts)
        if archive_signature is None:
            author_key = key.public.text
            signature = key.sign(archive_statement(facts.plugin_id, facts.version, facts.sha256, facts.size))
        else:
            author_key, signature = archive_signature
        versions = by_id.setdefault(facts.plugin_id, [])
        if any(other.version == facts.version for other, _k, _s in versions):
            raise PluginIndexError(f"{folder}: two archives are {facts.plugin_id} {facts.version}; keep one")
        if versions and versions[0][1] != author_key:
            raise PluginIndexError(
                f"{path.name}: {facts.plugin_id} is archive_signature by another author key than its other versions; one plugin has one author key"
            )
        versions.append((facts, author_key, signature))

    prefix = base_url.rstrip("/") + "/" if base_url else ""
    plugins = []
    for plugin_id, versions in sorted(by_id.items()):
        versions.sort(key=lambda item: Version(item[0].version), reverse=True)
        roles, kinds = _roles_and_kinds(versions[0][0].manifest)
        newest = versions[0][0].manifest.plugin
        plugins.append(
            {
                "id": plugin_id,
                "name": newest.name,
                "description": newest.description,
                "author": newest.author or "(not stated)",
                "author_key": versions[0][1],
                "homepage": newest.homepage,
                "license": newest.license,
                "roles": roles,
                "kinds": kinds,
                "versions": [
                    {
                        "version": facts.version,
                        "url": prefix + facts.path.name,
                        "sha256": facts.sha256,
                        "size": facts.size,
                        "api": facts.manifest.plugin.api,
                        "permissions": list(facts.manifest.plugin.permissions),
                        "min_studio": "",
                        "platforms": _platforms(facts),
                        "signature": signature,
                        "published": time.strftime("%Y-%m-%d", time.gmtime(facts.path.stat().st_mtime)),
                    }
                    for facts, _author_key, signature in versions
                ],
            }
        )
    signed: dict[str, Any] = {
        "format": INDEX_FORMAT,
        "name": name or folder.resolve().name,
        "publisher": publisher,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "plugins": plugins,
        "advisories": _read_advisories(folder),
    }
    parse_content(signed, where=str(folder))  # what the studio will read back must parse
    document = {"signed": signed, "key": key.public.text, "signature": key.sign(canonical_json(signed))}
    out = Path(out) if out is not None else folder / INDEX_FILE
    write_bytes_atomic(out, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return out, signed


def _platforms(facts: ArchiveFacts) -> list[str]:
    """A wheel with a platform tag runs on that platform only; everything else runs anywhere."""
    name = facts.path.name
    if not name.endswith(".whl"):
        return []
    tag = name[:-4].split("-")[-1]
    if tag == "any":
        return []
    found = [platform for key, platform in (("linux", "linux"), ("macosx", "macos"), ("win", "windows")) if key in tag]
    return found


def _read_advisories(folder: Path) -> list[dict[str, Any]]:
    path = folder / ADVISORIES_FILE
    if not path.is_file():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        items = [Advisory.model_validate(item).model_dump() for item in raw]
    except (OSError, ValueError, TypeError) as exc:
        raise PluginIndexError(
            f'{path}: {exc}; it holds a list like [{{"plugin": "acme.x", "versions": ["1.0.0"], "reason": "…"}}]'
        ) from None
    for item in items:
        item["versions"] = list(item["versions"])
    return items
