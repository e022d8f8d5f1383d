"""The indexes a user configured and the keys the studio pinned, in STUDIO_HOME.

One JSON file, ``STUDIO_HOME/plugin-indexes.json``, written atomically:

- ``indexes``: in priority order (the official index first); each with its URL or folder and
  the publisher key pinned when it was added (trust on first use, shown with its fingerprint).
- ``authors``: author name → the key that signed the first archive of theirs installed here.
- ``plugins``: plugin id → the author key, index and version it was installed with.

A changed key is never accepted silently: the user removes and re-adds the index (or forgets
the author) after checking the new fingerprint with its owner.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from studio.core.atomic_files import write_json_atomic
from studio.core.paths import HomeLayout
from studio.plugins.index.errors import PluginIndexError, TrustError
from studio.plugins.index.signing import PublicKey, fingerprint

TRUST_FILE = "plugin-indexes.json"


def trust_file(layout: HomeLayout) -> Path:
    return layout.root / TRUST_FILE


def downloads_dir(layout: HomeLayout) -> Path:
    """Where archives are downloaded (and partial downloads wait to be resumed)."""
    return layout.cache_dir / "plugin-downloads"


def index_cache_dir(layout: HomeLayout) -> Path:
    """Verified copies of each index, for searching offline and for start-up advisories."""
    return layout.cache_dir / "plugin-indexes"


@dataclass
class IndexSource:
    """A configured index: where it is, and the publisher key pinned for it."""

    url: str
    key: str
    name: str = ""
    added: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


@dataclass
class AuthorPin:
    key: str
    first_seen: str = ""


@dataclass
class PluginPin:
    key: str
    author: str = ""
    index: str = ""
    version: str = ""
    sha256: str = ""


@dataclass
class TrustStore:
    """The contents of ``plugin-indexes.json``; ``save`` writes it back atomically."""

    path: Path
    indexes: list[IndexSource] = field(default_factory=list)
    authors: dict[str, AuthorPin] = field(default_factory=dict)
    plugins: dict[str, PluginPin] = field(default_factory=dict)

    @classmethod
    def load(cls, layout: HomeLayout) -> TrustStore:
        path = trust_file(layout)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            # Unlike settings, pins are not replaced by defaults: forgetting them would
            # silently re-trust whatever key shows up next.
            raise PluginIndexError(
                f"{path} is unreadable ({exc}); fix or delete it (deleting forgets every configured index and pinned key)"
            ) from None
        try:
            return cls(
                path,
                indexes=[IndexSource(**item) for item in raw.get("indexes", [])],
                authors={name: AuthorPin(**pin) for name, pin in raw.get("authors", {}).items()},
                plugins={name: PluginPin(**pin) for name, pin in raw.get("plugins", {}).items()},
            )
        except (TypeError, AttributeError) as exc:
            raise PluginIndexError(f"{path}: unexpected content ({exc}); fix or delete it") from None

    def save(self) -> None:
        write_json_atomic(
            self.path,
            {
                "indexes": [asdict(item) for item in self.indexes],
                "authors": {name: asdict(pin) for name, pin in sorted(self.authors.items())},
                "plugins": {name: asdict(pin) for name, pin in sorted(self.plugins.items())},
            },
        )

    # ------------------------------------------------------------------ indexes

    def index(self, url: str) -> IndexSource | None:
        return next((item for item in self.indexes if item.url == url), None)

    def add_index(self, url: str, key: PublicKey, name: str, *, first: bool = False) -> IndexSource:
        if self.index(url) is not None:
            raise PluginIndexError(f"{url} is already configured; remove it first (`plugins index remove {url}`) to pin another key")
        source = IndexSource(url=url, key=key.text, name=name, added=_now())
        if first:
            self.indexes.insert(0, source)
        else:
            self.indexes.append(source)
        return source

    def remove_index(self, url_or_name: str) -> IndexSource:
        for item in self.indexes:
            if url_or_name in (item.url, item.name):
                self.indexes.remove(item)
                return item
        configured = ", ".join(item.url for item in self.indexes) or "none"
        raise PluginIndexError(f"no index {url_or_name!r} is configured (configured: {configured})")

    # ------------------------------------------------------------------ authors

    def check_author(self, plugin_id: str, author: str, key: PublicKey) -> bool:
        """Raise TrustError if ``key`` contradicts a pin; True when nothing is pinned yet (first use)."""
        first_use = True
        pin = self.plugins.get(plugin_id)
        if pin is not None:
            first_use = False
            if pin.key != key.text:
                raise TrustError(
                    f"{plugin_id}: the author key changed: the index now says it is signed by {key.fingerprint}, "
                    f"but it was installed signed by {fingerprint(pin.key)}"
                    f"{f' ({pin.author})' if pin.author else ''}. Refused. If the author really changed keys, "
                    f"check the new fingerprint with them, then `plugins trust forget {plugin_id}`"
                )
        author_pin = self.authors.get(author)
        if author_pin is not None:
            first_use = False
            if author_pin.key != key.text:
                raise TrustError(
                    f"{plugin_id}: its author {author!r} signs with {fingerprint(author_pin.key)} (pinned {author_pin.first_seen}), "
                    f"but this archive is signed by {key.fingerprint}. Refused: someone else may be publishing under that name. "
                    f"If {author} really changed keys, check with them, then `plugins trust forget {author!r}`"
                )
        return first_use

    def pin_author(self, plugin_id: str, author: str, key: PublicKey, *, index: str, version: str, sha256: str) -> None:
        self.authors.setdefault(author, AuthorPin(key=key.text, first_seen=_now()))
        self.plugins[plugin_id] = PluginPin(key=key.text, author=author, index=index, version=version, sha256=sha256)

    def forget(self, name: str) -> list[str]:
        """Drop the pins for a plugin id or an author name; returns what was forgotten."""
        gone = []
        if self.plugins.pop(name, None) is not None:
            gone.append(f"plugin {name}")
        if self.authors.pop(name, None) is not None:
            gone.append(f"author {name}")
        if not gone:
            raise PluginIndexError(f"no key is pinned for {name!r} (a plugin id or an author name)")
        return gone

    def to_dict(self) -> dict[str, Any]:
        return {
            "indexes": [dict(asdict(item), fingerprint=item.fingerprint) for item in self.indexes],
            "authors": {name: dict(asdict(pin), fingerprint=fingerprint(pin.key)) for name, pin in self.authors.items()},
            "plugins": {name: dict(asdict(pin), fingerprint=fingerprint(pin.key)) for name, pin in self.plugins.items()},
        }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
