"""Finding plugins: first-party ``plugins/``, the user's plugins folder, and entry points.

Discovery reads manifests only; it never imports plugin code. It never raises for a bad
plugin either: each folder becomes a ``PluginRecord`` that is either usable or carries
the reason it is not, so the plugin manager can show a broken plugin as a row instead of
the studio failing to start (the npe2 ``DiscoverResults`` habit).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.errors import ManifestError
from studio.plugins.manifest import MANIFEST_NAME, GeneratorInfo, Manifest, read_manifest

ENTRY_POINT_GROUP = "studio.plugins"

STATE_ENABLED = "enabled"
STATE_DISABLED = "disabled"
STATE_FAILED = "failed"
STATE_INCOMPATIBLE = "incompatible"


@dataclass
class PluginRecord:
    """One discovered plugin folder and what the studio thinks of it."""

    folder: Path
    source: str
    manifest: Manifest | None = None
    state: str = STATE_ENABLED
    error: str = ""
    traceback: str = ""

    @property
    def id(self) -> str:
        if self.manifest is not None:
            return self.manifest.plugin.id
        return f"<{self.folder.name}>"

    @property
    def usable(self) -> bool:
        return self.manifest is not None and self.state == STATE_ENABLED

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "path": str(self.folder),
            "state": self.state,
            "error": self.error,
            "traceback": self.traceback,
        }
        if self.manifest is not None:
            manifest = self.manifest.to_dict()
            manifest.update(data)
            return manifest
        data.update({"name": self.folder.name, "version": "", "generators": [], "permissions": []})
        return data


@dataclass
class Discovery:
    """The result of one discovery pass: every plugin found, usable or not."""

    records: list[PluginRecord] = field(default_factory=list)

    def plugin(self, plugin_id: str) -> PluginRecord | None:
        for record in self.records:
            if record.manifest is not None and record.manifest.plugin.id == plugin_id:
                return record
        return None

    def generators(self) -> dict[str, tuple[GeneratorInfo, PluginRecord]]:
        """Every generator of every usable plugin, by generator id."""
        found: dict[str, tuple[GeneratorInfo, PluginRecord]] = {}
        for record in self.records:
            if not record.usable or record.manifest is None:
                continue
            for generator in record.manifest.generators:
                found.setdefault(generator.id, (generator, record))
        return found

    def generator(self, generator_id: str) -> tuple[GeneratorInfo, PluginRecord] | None:
        return self.generators().get(generator_id)

    def failures(self) -> list[PluginRecord]:
        return [record for record in self.records if record.state in (STATE_FAILED, STATE_INCOMPATIBLE)]


def discover(
    folders: Iterable[tuple[Path, str]],
    *,
    disabled: Iterable[str] = (),
    safe_mode: bool = False,
    entry_points: bool = True,
) -> Discovery:
    """Read every plugin under ``folders`` ((path, source) pairs, in priority order).

    The first plugin with a given id wins; a later folder with the same id is reported as a
    failed duplicate, so a user's download can never silently shadow a first-party plugin.
    ``safe_mode`` disables everything that is not first-party.
    """
    disabled_ids = set(disabled)
    result = Discovery()
    seen: dict[str, Path] = {}

    candidates: list[tuple[Path, str]] = []
    for root, source in folders:
        candidates.extend((folder, source) for folder in _plugin_folders(root))
    if entry_points:
        candidates.extend((folder, "entry-point") for folder in _entry_point_folders())

    for folder, source in candidates:
        record = PluginRecord(folder=folder, source=source)
        try:
            record.manifest = read_manifest(folder, source=source)
        except ManifestError as exc:
            record.state = STATE_INCOMPATIBLE if "needs plugin API" in str(exc) else STATE_FAILED
            record.error = str(exc)
            result.records.append(record)
            continue
        manifest = record.manifest
        if manifest.plugin.id in seen:
            record.state = STATE_FAILED
            record.error = f"plugin id {manifest.plugin.id} is already provided by {seen[manifest.plugin.id]}; this copy is ignored"
        else:
            seen[manifest.plugin.id] = folder
            if safe_mode and source != "first-party":
                record.state = STATE_DISABLED
                record.error = "safe mode: community plugins are off"
            elif manifest.plugin.id in disabled_ids:
                record.state = STATE_DISABLED
        result.records.append(record)
    return result


def _plugin_folders(root: Path) -> list[Path]:
    """Plugin folders directly under ``root`` (or ``root`` itself when it is one).

    Names starting with ``_`` or ``.`` are skipped: ``plugins/_template`` is for copying.
    A folder of installed versions (``<id>/<version>/plugin.toml``) yields its ``current``
    version when a ``current`` marker file names one.
    """
    if not root.is_dir():
        return []
    if (root / MANIFEST_NAME).is_file():
        return [root]
    folders = []
    for child in sorted(root.iterdir()):
        if child.name.startswith((".", "_")) or not child.is_dir():
            continue
        if (child / MANIFEST_NAME).is_file():
            folders.append(child)
            continue
        marker = child / "current"
        if marker.is_file():
            version_dir = child / marker.read_text(encoding="utf-8").strip()
            if (version_dir / MANIFEST_NAME).is_file():
                folders.append(version_dir)
        else:
            # A folder without a manifest is reported, so a half-copied plugin is visible.
            folders.append(child)
    return folders


def _entry_point_folders() -> list[Path]:
    """Folders of packages registered in the ``studio.plugins`` entry-point group.

    ``find_spec`` locates a top-level package without executing it, so discovery stays
    import-free; the manifest is expected inside the package (``mypkg/plugin.toml``).
    """
    folders: list[Path] = []
    try:
        points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # a broken distribution's metadata must not stop the studio
        return folders
    for point in points:
        top = point.value.split(":")[0].split(".")[0]
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            folders.append(Path(list(spec.submodule_search_locations)[0]))
    return folders
