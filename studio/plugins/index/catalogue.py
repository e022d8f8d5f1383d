"""Reading the configured indexes: fetch, check against the pinned key, search, advisories.

``load_catalogue`` fetches every configured index (verifying each against the publisher key
pinned when it was added) and keeps a verified copy in the cache; an index that cannot be
reached falls back to that copy, with a note. ``cached_catalogue`` reads only the copies, so
start-up and the plugin manager's first paint never wait on the network. A key that changed,
a bad signature or an index older than the copy already seen (a replay that would hide new
advisories) is refused, never replaced by the cached copy silently: it is reported.

When two indexes list the same plugin id, the first configured one wins (the official index
is first), so a second index cannot take over a plugin by publishing the same id.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

from studio.core.atomic_files import write_bytes_atomic
from studio.core.paths import HomeLayout
from studio.plugins.index.download import TransferLimits, check_url, fetch_bytes, index_file_path, is_remote
from studio.plugins.index.errors import DownloadError, PluginIndexError, TrustError
from studio.plugins.index.model import Advisory, IndexContent, PluginEntry, VersionEntry, parse_envelope, verify_envelope
from studio.plugins.index.signing import PublicKey, fingerprint
from studio.plugins.index.trust import IndexSource, TrustStore, index_cache_dir

DEFAULT_INDEX_LIMITS = TransferLimits(max_bytes=8 * 2**20, stall_timeout=30.0, total_timeout=120.0)


@dataclass
class LoadedIndex:
    """A verified index and where it came from."""

    source: IndexSource
    content: IndexContent
    from_cache: bool = False

    @property
    def name(self) -> str:
        return self.content.name or self.source.name or self.source.url

    @property
    def url(self) -> str:
        return self.source.url


@dataclass
class Listing:
    """One plugin as the catalogue offers it: the index entry and the index it comes from."""

    index: LoadedIndex
    entry: PluginEntry

    @property
    def id(self) -> str:
        return self.entry.id

    def advisory(self, version: str) -> Advisory | None:
        return self.index.content.advisory(self.entry.id, version)

    def installable(self) -> list[VersionEntry]:
        """Versions this studio can install, newest first (compatible and not withdrawn)."""
        return [item for item in self.entry.sorted_versions() if item.incompatibility() is None and self.advisory(item.version) is None]

    @property
    def latest(self) -> VersionEntry | None:
        versions = self.installable()
        return versions[0] if versions else None


@dataclass
class Catalogue:
    """Every configured index that could be read, and what went wrong with the others."""

    indexes: list[LoadedIndex] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # unreachable, fell back to the cache
    refused: list[str] = field(default_factory=list)  # failed a trust check: not used at all

    def listings(self) -> list[Listing]:
        seen: set[str] = set()
        found = []
        for index in self.indexes:
            for entry in index.content.plugins:
                if entry.id not in seen:
                    seen.add(entry.id)
                    found.append(Listing(index, entry))
        return found

    def find(self, plugin_id: str) -> Listing | None:
        return next((listing for listing in self.listings() if listing.id == plugin_id), None)

    def search(self, words: str = "", category: str = "") -> list[Listing]:
        """Plugins whose id, name, description, author or categories contain every word."""
        terms = [word.casefold() for word in words.split()]
        found = []
        for listing in self.listings():
            entry = listing.entry
            if category and category not in entry.categories:
                continue
            text = " ".join([entry.id, entry.name, entry.description, entry.author, *entry.categories]).casefold()
            if all(term in text for term in terms):
                found.append(listing)
        return found

    def categories(self) -> list[str]:
        return sorted({category for listing in self.listings() for category in listing.entry.categories})


# --------------------------------------------------------------------------- reading one index


def normalise_location(location: str) -> str:
    """The form a location is stored in: URLs as given (checked), folders as absolute paths."""
    if is_remote(location):
        check_url(location)
        return location
    if "://" in location and not location.startswith("file://"):
        raise PluginIndexError(f"{location}: an index is an https:// URL, an http:// URL on this computer, or a folder")
    path = index_file_path(location)
    if not path.is_file():
        raise PluginIndexError(f"{location}: no index.json there; build one with `plugins index build FOLDER`")
    return str(path.resolve())


def read_index(
    location: str, pinned: PublicKey | None, *, limits: TransferLimits = DEFAULT_INDEX_LIMITS
) -> tuple[IndexContent, PublicKey, bytes]:
    """Fetch and verify an index; with ``pinned``, the index must be signed by that key."""
    data = fetch_bytes(location, limits, what="index")
    signed, key, signature = parse_envelope(data, where=location)
    if pinned is not None and key.text != pinned.text:
        raise TrustError(
            f"index {location}: its key changed: it is now signed by {key.fingerprint}, but {pinned.fingerprint} was pinned when it was added. "
            "Refused. If its publisher really changed keys, check the new fingerprint with them, then remove and add the index again"
        )
    content = verify_envelope(signed, pinned or key, signature, where=location)
    return content, key, data


def add_index(
    layout: HomeLayout, location: str, *, key: str | None = None, first: bool = False, limits: TransferLimits = DEFAULT_INDEX_LIMITS
) -> tuple[IndexSource, IndexContent]:
    """Configure an index: fetch it, verify it, pin its key (or check it against ``key``)."""
    location = normalise_location(location)
    store = TrustStore.load(layout)
    if store.index(location) is not None:
        raise PluginIndexError(f"{location} is already configured; remove it first (`plugins index remove {location}`) to pin another key")
    expected = PublicKey.parse(key, what="--key") if key else None
    content, actual, data = read_index(location, expected, limits=limits)
    source = store.add_index(location, actual, content.name, first=first)
    _write_cache(layout, location, data)
    store.save()
    return source, content


def remove_index(layout: HomeLayout, location: str) -> IndexSource:
    store = TrustStore.load(layout)
    candidates = [location]
    if not is_remote(location):
        try:
            candidates.append(str(index_file_path(location).resolve()))
        except OSError:
            pass
    for candidate in candidates:
        try:
            source = store.remove_index(candidate)
        except PluginIndexError:
            continue
        store.save()
        _cache_file(layout, source.url).unlink(missing_ok=True)
        return source
    return store.remove_index(location)  # raises, naming what is configured


# --------------------------------------------------------------------------- the catalogue


def load_catalogue(layout: HomeLayout, *, refresh: bool = True, limits: TransferLimits = DEFAULT_INDEX_LIMITS) -> Catalogue:
    """Every configured index; fresh from its source when ``refresh``, else the cached copies."""
    store = TrustStore.load(layout)
    catalogue = Catalogue()
    for source in store.indexes:
        pinned = PublicKey.parse(source.key)
        cached = _read_cached(layout, source, pinned)
        if not refresh:
            if cached is not None:
                catalogue.indexes.append(LoadedIndex(source, cached, from_cache=True))
            else:
                catalogue.problems.append(f"{source.url}: not fetched yet (search or refresh to read it)")
            continue
        try:
            content, _key, data = read_index(source.url, pinned, limits=limits)
        except DownloadError as exc:
            if cached is not None:
                catalogue.indexes.append(LoadedIndex(source, cached, from_cache=True))
                catalogue.problems.append(f"{exc}; using the copy fetched {_cache_age(layout, source.url)}")
            else:
                catalogue.problems.append(str(exc))
            continue
        except PluginIndexError as exc:
            catalogue.refused.append(str(exc))
            continue
        if cached is not None and content.generated and cached.generated and content.generated < cached.generated:
            catalogue.refused.append(
                f"index {source.url}: it is older ({content.generated}) than the copy already seen ({cached.generated}); "
                "refused, because an old index can hide withdrawn versions. Try again later"
            )
            continue
        _write_cache(layout, source.url, data)
        catalogue.indexes.append(LoadedIndex(source, content))
    return catalogue


def cached_catalogue(layout: HomeLayout) -> Catalogue:
    """The last verified copy of every configured index; never touches the network."""
    return load_catalogue(layout, refresh=False)


def _cache_file(layout: HomeLayout, url: str) -> Path:
    return index_cache_dir(layout) / f"{hashlib.sha256(url.encode('utf-8')).hexdigest()[:24]}.json"


def _write_cache(layout: HomeLayout, url: str, data: bytes) -> None:
    write_bytes_atomic(_cache_file(layout, url), data)


def _read_cached(layout: HomeLayout, source: IndexSource, pinned: PublicKey) -> IndexContent | None:
    path = _cache_file(layout, source.url)
    try:
        data = path.read_bytes()
        signed, _key, signature = parse_envelope(data, where=str(path))
        return verify_envelope(signed, pinned, signature, where=source.url)
    except (OSError, PluginIndexError):
        return None


def _cache_age(layout: HomeLayout, url: str) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(_cache_file(layout, url).stat().st_mtime))
    except OSError:
        return "earlier"


# --------------------------------------------------------------------------- installed plugins


def managed_plugins(layout: HomeLayout) -> dict[str, str]:
    """Plugins installed with ``plugins install`` (id → current version)."""
    from studio.plugins.install import installed_versions

    found: dict[str, str] = {}
    if not layout.plugins_dir.is_dir():
        return found
    for child in sorted(layout.plugins_dir.iterdir()):
        if child.is_dir() and not child.name.startswith("."):
            current = installed_versions(child.name, layout)["current"]
            if current:
                found[child.name] = current
    return found


@dataclass(frozen=True)
class Withdrawn:
    """An installed plugin version that its index withdrew."""

    plugin_id: str
    version: str
    reason: str
    index: str

    def describe(self) -> str:
        return f"{self.plugin_id} {self.version} was withdrawn by {self.index}: {self.reason}"


@dataclass(frozen=True)
class Outdated:
    plugin_id: str
    installed: str
    latest: str
    index: str
    new_permissions: tuple[str, ...] = ()


def withdrawn_installed(layout: HomeLayout, catalogue: Catalogue | None = None) -> list[Withdrawn]:
    """Installed plugins whose installed version an index withdrew (cached indexes by default)."""
    catalogue = catalogue if catalogue is not None else cached_catalogue(layout)
    found = []
    for plugin_id, version in managed_plugins(layout).items():
        listing = catalogue.find(plugin_id)
        advisory = listing.advisory(version) if listing else None
        if advisory is not None and listing is not None:
            found.append(Withdrawn(plugin_id, version, advisory.reason, listing.index.name))
    return found


def outdated_plugins(layout: HomeLayout, catalogue: Catalogue) -> list[Outdated]:
    """Installed plugins for which an index offers a newer installable version."""
    found = []
    for plugin_id, version in managed_plugins(layout).items():
        listing = catalogue.find(plugin_id)
        latest = listing.latest if listing else None
        if latest is None or listing is None:
            continue
        try:
            newer = latest.parsed > Version(version)
        except InvalidVersion:
            newer = False
        if newer:
            current = listing.entry.version(version)
            before = set(current.permissions) if current else set()
            found.append(Outdated(plugin_id, version, latest.version, listing.index.name, tuple(sorted(set(latest.permissions) - before))))
    return found


def describe_key(key_text: str) -> str:
    return f"{fingerprint(key_text)}"


def catalogue_json(catalogue: Catalogue) -> list[dict]:
    """The catalogue as plain data (``search --json``)."""
    rows = []
    for listing in catalogue.listings():
        entry = listing.entry
        latest = listing.latest
        rows.append(
            {
                "id": entry.id,
                "name": entry.name,
                "description": entry.description,
                "author": entry.author,
                "author_key_fingerprint": fingerprint(entry.author_key),
                "categories": list(entry.categories),
                "latest": latest.version if latest else None,
                "permissions": list(latest.permissions) if latest else [],
                "index": listing.index.name,
            }
        )
    return json.loads(json.dumps(rows))
