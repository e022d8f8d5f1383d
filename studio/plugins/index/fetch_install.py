"""Installing and updating plugins by name from the configured indexes.

``prepare_install("acme.thing==1.2")`` does every check that needs no confirmation, in the
order that refuses cheapest first: the version exists, is compatible and is not withdrawn;
it is not older than the installed one (a downgrade; ``plugins rollback`` is the way back);
the author's signature over (id, version, size, SHA-256) verifies and the author's key
matches the one pinned for that author and that plugin; then the archive is downloaded
(bounded, resumable) and its size and SHA-256 must be the index's; finally the existing
``plan_install`` checks the archive itself, and the manifest must say the same id, version
and permissions as the index showed. The result, an ``IndexedPlan``, is what the user
confirms; ``complete_install`` hands it to the ordinary installer (trial import, rollback on
failure) and pins the author's key once the install succeeded.

A downloaded archive never outlives its install: it is deleted on success and on every
refusal. Only an interrupted transfer keeps its ``.part`` file, in the cache, to resume.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from studio.core.paths import HomeLayout
from studio.plugins import install as installer
from studio.plugins.archive import sha256_file
from studio.plugins.index.catalogue import Catalogue, Listing, LoadedIndex
from studio.plugins.index.download import Progress, TransferLimits, download_file, resolve_location
from studio.plugins.index.errors import DowngradeRefused, IntegrityError, PluginIndexError, TrustError, WithdrawnVersion
from studio.plugins.index.model import PluginEntry, VersionEntry
from studio.plugins.index.signing import PublicKey, SignatureError, archive_statement
from studio.plugins.index.trust import TrustStore, downloads_dir

ARCHIVE_LIMIT = 1024 * 2**20  # the installer's own unpacked limit; no archive is larger packed
_SPEC = re.compile(r"^\s*([a-z][a-z0-9_.-]*)\s*(?:==\s*([0-9A-Za-z.+!_-]+))?\s*$")


@dataclass
class IndexedPlan:
    """An install plan for an archive that came from an index, with the trust facts to show."""

    plan: installer.InstallPlan
    listing: Listing
    version: VersionEntry
    author_first_use: bool
    archive: Path

    @property
    def index(self) -> LoadedIndex:
        return self.listing.index

    @property
    def entry(self) -> PluginEntry:
        return self.listing.entry

    def trust_facts(self) -> list[tuple[str, str]]:
        key = PublicKey.parse(self.entry.author_key)
        author_state = "first install from this author: the key will be pinned" if self.author_first_use else "matches the pinned key"
        return [
            ("index", f"{self.index.name} ({self.index.url})"),
            ("index key", f"{self.index.source.fingerprint} (pinned {self.index.source.added or 'when added'})"),
            ("author key", f"{key.fingerprint} ({author_state})"),
            ("verified", f"index signature, author signature, size {self.version.size} bytes, SHA-256"),
        ]

    def facts(self) -> list[tuple[str, str]]:
        return self.plan.facts() + self.trust_facts()

    def describe(self) -> str:
        rows = self.facts()
        width = max(len(label) for label, _ in rows)
        lines = [f"{label + ':':<{width + 1}} {value}" for label, value in rows]
        lines += [f"note: {note}" for note in self.plan.notes]
        return "\n".join(lines)

    def discard(self) -> None:
        """Delete the downloaded archive (the plan was not confirmed, or is done)."""
        self.archive.unlink(missing_ok=True)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``ID`` or ``ID==VERSION``."""
    match = _SPEC.match(spec)
    if not match:
        raise PluginIndexError(f"{spec!r}: give a plugin id, optionally with a version: acme.thing or acme.thing==1.2.0")
    return match.group(1), match.group(2)


def choose_version(listing: Listing, wanted: str | None) -> VersionEntry:
    entry = listing.entry
    if wanted is None:
        latest = listing.latest
        if latest is None:
            reasons = []
            for item in entry.sorted_versions():
                advisory = listing.advisory(item.version)
                reasons.append(f"{item.version}: {'withdrawn: ' + advisory.reason if advisory else item.incompatibility()}")
            raise PluginIndexError(
                f"{entry.id}: no version in {listing.index.name} can be installed here ({'; '.join(reasons) or 'it lists none'})"
            )
        return latest
    version = entry.version(wanted)
    if version is None:
        known = ", ".join(item.version for item in entry.sorted_versions())
        raise PluginIndexError(f"{entry.id} has no version {wanted} in {listing.index.name} (it lists {known})")
    advisory = listing.advisory(version.version)
    if advisory is not None:
        raise WithdrawnVersion(
            f"{entry.id} {version.version} was withdrawn by {listing.index.name}: {advisory.reason}; refused. Install another version"
        )
    problem = version.incompatibility()
    if problem:
        raise PluginIndexError(f"{entry.id} {version.version} {problem}")
    return version


def check_not_downgrade(plugin_id: str, version: str, layout: HomeLayout) -> str | None:
    """Refuse a version older than (or equal to) the installed one; returns the installed version."""
    installed = installer.installed_versions(plugin_id, layout)["current"]
    if installed is None:
        return None
    try:
        older = Version(version) < Version(installed)
        same = Version(version) == Version(installed)
    except InvalidVersion:
        older, same = False, version == installed
    if older:
        raise DowngradeRefused(
            f"{plugin_id}: the index offers {version}, older than the installed {installed}; a downgrade is refused "
            f"(an old version may have the flaw a newer one fixed). `plugins rollback {plugin_id}` returns to the version kept before the last upgrade"
        )
    if same:
        raise PluginIndexError(f"{plugin_id} {installed} is already installed")
    return installed


def verify_author(entry: PluginEntry, version: VersionEntry, store: TrustStore) -> bool:
    """Check the author's archive signature and the author pins; True on first use."""
    key = PublicKey.parse(entry.author_key, what=f"{entry.id}: author_key")
    try:
        key.verify(
            version.signature,
            archive_statement(entry.id, version.version, version.sha256, version.size),
            what=f"{entry.id} {version.version}: author signature",
        )
    except SignatureError as exc:
        raise TrustError(str(exc)) from None
    return store.check_author(entry.id, entry.author, key)


def prepare_install(
    layout: HomeLayout,
    spec: str,
    catalogue: Catalogue,
    *,
    limits: TransferLimits | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    plugin_folders: Iterable[tuple[Path, str]] | None = None,
) -> IndexedPlan:
    """Resolve, verify and download ``spec``; returns the plan the user confirms."""
    plugin_id, wanted = parse_spec(spec)
    listing = catalogue.find(plugin_id)
    if listing is None:
        raise PluginIndexError(_not_found(plugin_id, catalogue))
    version = choose_version(listing, wanted)
    check_not_downgrade(plugin_id, version.version, layout)
    store = TrustStore.load(layout)
    first_use = verify_author(listing.entry, version, store)

    location = resolve_location(listing.index.url, version.url)
    target = downloads_dir(layout) / _download_name(plugin_id, version)
    limits = limits or TransferLimits(max_bytes=ARCHIVE_LIMIT)
    download_file(location, target, size=version.size, limits=limits, progress=progress, cancelled=cancelled)
    try:
        digest = sha256_file(target)
        if digest != version.sha256:
            raise IntegrityError(
                f"{target.name}: SHA-256 mismatch: the signed index says {version.sha256}, the download has {digest}. "
                "The archive was changed after it was published (or corrupted on the way); refused and deleted"
            )
        plan = installer.plan_install(target, layout=layout, plugin_folders=plugin_folders, expected_sha256=version.sha256)
        _check_matches_index(plan, listing.entry, version)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return IndexedPlan(plan=plan, listing=listing, version=version, author_first_use=first_use, archive=target)


def complete_install(indexed: IndexedPlan, *, step: installer.Step | None = None, trial: bool = True) -> installer.InstallResult:
    """Install a confirmed plan with the ordinary installer; pin the author's key on success."""
    try:
        result = installer.install(indexed.plan, step=step, trial=trial)
    finally:
        indexed.discard()
    store = TrustStore.load(indexed.plan.layout)
    store.pin_author(
        indexed.entry.id,
        indexed.entry.author,
        PublicKey.parse(indexed.entry.author_key),
        index=indexed.index.url,
        version=indexed.version.version,
        sha256=indexed.version.sha256,
    )
    store.save()
    return result


def _check_matches_index(plan: installer.InstallPlan, entry: PluginEntry, version: VersionEntry) -> None:
    manifest = plan.manifest
    if manifest.plugin.id != entry.id or manifest.plugin.version != version.version:
        raise IntegrityError(
            f"the archive is {manifest.plugin.id} {manifest.plugin.version}, but the index lists it as {entry.id} {version.version}; refused"
        )
    extra = sorted(set(manifest.plugin.permissions) - set(version.permissions))
    if extra:
        raise IntegrityError(
            f"{entry.id} {version.version} asks for permission(s) {', '.join(extra)} that the index does not show; "
            "refused, because what you were shown before installing must be what it gets"
        )


def _not_found(plugin_id: str, catalogue: Catalogue) -> str:
    if not catalogue.indexes and not catalogue.refused and not catalogue.problems:
        return f"no plugin index is configured; add one with `plugins index add URL` (then `plugins install {plugin_id}`)"
    message = f"no plugin {plugin_id!r} in the configured indexes"
    close = [listing.id for listing in catalogue.search(plugin_id.split(".")[-1])][:5]
    if close:
        message += f" (did you mean {', '.join(close)}?)"
    extra = catalogue.refused + catalogue.problems
    if extra:
        message += "; also: " + "; ".join(extra)
    return message


def _download_name(plugin_id: str, version: VersionEntry) -> str:
    """The archive's own file name when it is a plain one (a wheel's name carries its tags)."""
    name = version.url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*\.(zip|whl)", name):
        return name
    return f"{plugin_id}-{version.version}.zip"
