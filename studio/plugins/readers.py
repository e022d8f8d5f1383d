"""Metadata readers contributed by plugins (``[[readers]]``): another tool's file → params.

A reader is a function ``read(path: Path) -> dict | None`` named by the manifest; it returns
``{"role", "inputs", "seed", "source"}`` in the role vocabulary (``studio.core.roles``) or
None when the file is not its format. ``readers_for`` lists the readers declared for a
file's suffix without importing anything; ``load_reader`` imports one (the plugin's folder
on ``sys.path`` for the import only: first-party at the front, others at the end, as the
plugin host does); ``read_metadata`` tries them in order.

Loading a reader runs plugin code: do it where plugin code may run (the engine, the CLI),
not in the window's process.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError
from studio.plugins.manifest import Manifest, ReaderSpec

log = logging.getLogger("studio.plugins.readers")

Reader = Callable[[Path], "dict[str, Any] | None"]
RESULT_KEYS = ("role", "inputs")


def readers_for(manifests: Iterable[Manifest], path: str | Path) -> list[tuple[ReaderSpec, Manifest]]:
    """Readers whose ``suffixes`` include the file's (all of them when a reader names none)."""
    suffix = Path(path).suffix.lower()
    found = []
    for manifest in manifests:
        for reader in manifest.readers:
            if not reader.suffixes or suffix in reader.suffixes:
                found.append((reader, manifest))
    return found


def load_reader(reader: ReaderSpec, manifest: Manifest) -> Reader:
    """Import a reader's entry function from its plugin's folder."""
    module_name, _, attribute = reader.entry.partition(":")
    folder = str(Path(manifest.root).resolve())
    added = manifest.source != "entry-point" and folder not in sys.path
    if added:
        sys.path.insert(0, folder) if manifest.first_party else sys.path.append(folder)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise StudioError(f"reader {reader.id} of plugin {manifest.plugin.id} cannot be imported: {type(exc).__name__}: {exc}") from None
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)
    function = getattr(module, attribute, None)
    if not callable(function):
        raise StudioError(f"reader {reader.id}: {module_name} has no function {attribute!r} (entry {reader.entry!r} in plugin.toml)")
    return function


def read_metadata(manifests: Iterable[Manifest], path: str | Path) -> tuple[dict[str, Any], ReaderSpec] | None:
    """The first contributed reader's answer for ``path`` (None: no reader knows the file).

    A reader that raises or answers without ``role`` and ``inputs`` is skipped: one broken
    plugin must not stop a file from opening.
    """
    for reader, manifest in readers_for(manifests, path):
        try:
            result = load_reader(reader, manifest)(Path(path))
        except Exception:  # a plugin's bug: try the next reader
            log.debug("metadata reader %s failed on %s", reader.entry, path, exc_info=True)
            continue
        if isinstance(result, dict) and all(key in result for key in RESULT_KEYS):
            if not result.get("role") and reader.role:
                result["role"] = reader.role
            result.setdefault("source", reader.id)
            return result, reader
    return None
