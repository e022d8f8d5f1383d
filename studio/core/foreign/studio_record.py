"""Our own files: the exact JSON record the engine embeds (PNG ``studio`` chunk, XMP in
JPEG/WebP). It names the generator and its own parameters, so nothing is translated.

One batch item restores alone: the record carries the item's own seed and index (older
files only in the A1111 ``Seed`` field, which was always the item's), and the restore asks
for a batch of one with that seed, which is how image i of a batch was seeded.
"""

from __future__ import annotations

import json
from typing import Any

from studio.core.foreign import Found, to_seed


def read(texts: dict[str, str]) -> Found | None:
    raw = texts.get("studio")
    if not raw:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    generator = record.get("generator") or record.get("plugin")
    if not isinstance(generator, str) or not generator:
        return None
    params: dict[str, Any] = dict(record.get("params") or {})
    seed = to_seed(record.get("seed"))
    item = record.get("item") if isinstance(record.get("item"), dict) else None
    item_seed = to_seed(item.get("seed")) if item else None
    if item_seed is None and int(params.get("batch_size") or 1) > 1:
        item_seed = _a1111_seed(texts.get("parameters", ""))
    if item_seed is not None:
        seed = item_seed
        if "batch_size" in params:
            params["batch_size"] = 1
    found = Found(source="studio", generator=generator, params=params, seed=seed)
    for model in record.get("models") or []:
        if isinstance(model, dict):
            found.model_name = found.model_name or model.get("name")
            found.model_hash = found.model_hash or model.get("hash")
    return found


def _a1111_seed(text: str) -> int | None:
    if not text:
        return None
    from studio.core.png_metadata import parse_a1111

    return to_seed(parse_a1111(text)["parameters"].get("Seed"))
