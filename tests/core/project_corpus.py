"""A corpus of damaged project files, built from one good project (shared by core and window tests).

``PART_DAMAGE``: damage to one part (the project still opens; ``check()`` names the part).
``REFUSED``: files that cannot be opened at all (a clear ``ProjectError``, file untouched).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio.core.project_store import TEXT_KEY, ProjectStore

IMAGE = b"\x89PNG pretend image bytes" * 20
AUDIO = b"RIFF pretend wav bytes" * 20


def make_good_project(path: Path) -> dict[str, Any]:
    """A project with every part filled: two blobs, a canvas layer, melody + audio clips, history, text."""
    with ProjectStore.create(path) as store:
        image = store.put_blob(IMAGE, "image", "image/png", {"seed": 1})
        audio = store.put_blob(AUDIO, "audio", "audio/wav", {})
        store.add_node({"id": "n1", "parents": [], "generator": "studio.patterns", "params": {"width": 64}, "seed": 1, "outputs": [image]})
        store.add_node({"id": "n2", "parents": ["n1"], "generator": "studio.musicgen", "params": {}, "seed": 2, "outputs": [audio]})
        canvas = {
            "version": 1,
            "size": [512, 512],
            "layers": [
                {
                    "id": "l1",
                    "name": "art",
                    "blob": image,
                    "node": "n1",
                    "x": 1.0,
                    "y": 2.0,
                    "scale": 1.0,
                    "opacity": 1.0,
                    "visible": True,
                    "z": 0.0,
                }
            ],
            "selection": None,
            "mask": None,
        }
        timeline = {
            "version": 1,
            "tempo": 96.0,
            "time_signature": [4, 4],
            "tracks": [
                {
                    "id": "t1",
                    "name": "Melody 1",
                    "kind": "melody",
                    "clips": [
                        {
                            "id": "c1",
                            "name": "tune",
                            "start": 0.0,
                            "length": 4.0,
                            "melody": {"notes": [[60, 0.0, 1.0, 80], [62, 1.0, 1.0, 80]], "tempo": 96.0},
                            "blob": None,
                            "node": None,
                        }
                    ],
                },
                {
                    "id": "t2",
                    "name": "Audio 1",
                    "kind": "audio",
                    "clips": [{"id": "c2", "name": "loop", "start": 4.0, "length": 8.0, "melody": None, "blob": audio, "node": "n2"}],
                },
            ],
        }
        store.save_documents({"canvas": canvas, "timeline": timeline, "text": "# Notes\nkeep me"})
    return {"image": image, "audio": audio, "canvas": canvas, "timeline": timeline, "text": "# Notes\nkeep me"}


def sql(path: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    conn = sqlite3.connect(path)
    try:
        for sql, args in statements:
            conn.execute(sql, args)
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def raw_rows(path: Path) -> dict[str, bytes]:
    """Every stored document, setting and node as raw bytes (what must survive)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    rows: dict[str, bytes] = {}
    try:
        for query, prefix in (
            ("SELECT name, CAST(data AS BLOB) FROM documents", "doc:"),
            ("SELECT key, CAST(value AS BLOB) FROM kv", "kv:"),
            ("SELECT id, CAST(data AS BLOB) FROM nodes", "node:"),
            ("SELECT id, data FROM blobs", "blob:"),
        ):
            try:
                rows.update({prefix + str(key): bytes(value) for key, value in conn.execute(query)})
            except sqlite3.Error:
                pass
    finally:
        conn.close()
    return rows


# name → (how to damage it, the damaged parts check() must report)
PART_DAMAGE: dict[str, tuple[Callable[[Path, dict[str, Any]], None], set[str]]] = {
    "canvas bad JSON": (lambda p, g: sql(p, ("UPDATE documents SET data = ? WHERE name = 'canvas'", ('{"layers": [',))), {"canvas"}),
    "canvas layers is a string": (
        lambda p, g: sql(p, ("UPDATE documents SET data = ? WHERE name = 'canvas'", ('{"layers":"x"}',))),
        {"canvas"},
    ),
    "canvas bad UTF-8": (
        lambda p, g: sql(
            p, ("UPDATE documents SET data = CAST(? AS TEXT) WHERE name = 'canvas'", (b'{"layers": [], "name": "\xff\xfe"}',))
        ),
        {"canvas"},
    ),
    "canvas is a list": (lambda p, g: sql(p, ("UPDATE documents SET data = ? WHERE name = 'canvas'", ("[1, 2]",))), {"canvas"}),
    "canvas mask not base64": (
        lambda p, g: sql(p, ("UPDATE documents SET data = ? WHERE name = 'canvas'", ('{"layers": [], "mask": "@@not base64@@"}',))),
        {"canvas"},
    ),
    "canvas absurd size": (
        lambda p, g: sql(p, ("UPDATE documents SET data = ? WHERE name = 'canvas'", ('{"layers": [], "size": [1000000000, -5]}',))),
        {"canvas"},
    ),
    "timeline time signature 4/0": (
        lambda p, g: sql(p, ("UPDATE documents SET data = ? WHERE name = 'timeline'", ('{"time_signature": [4, 0], "tracks": []}',))),
        {"timeline"},
    ),
    "timeline tracks wrong type": (
        lambda p, g: sql(p, ("UPDATE documents SET data = ? WHERE name = 'timeline'", ('{"tempo": "fast", "tracks": {"a": 1}}',))),
        {"timeline"},
    ),
    "timeline clip without start": (
        lambda p, g: sql(
            p,
            (
                "UPDATE documents SET data = ? WHERE name = 'timeline'",
                ('{"tracks": [{"id": "t", "kind": "melody", "clips": [{"id": "c", "length": 1}]}]}',),
            ),
        ),
        {"timeline"},
    ),
    "text not a string": (lambda p, g: sql(p, ("UPDATE kv SET value = ? WHERE key = ?", ('{"a": 1}', TEXT_KEY))), {"text"}),
    "text bad JSON": (lambda p, g: sql(p, ("UPDATE kv SET value = ? WHERE key = ?", ('"unterminated', TEXT_KEY))), {"text"}),
    "text bad UTF-8": (lambda p, g: sql(p, ("UPDATE kv SET value = CAST(? AS TEXT) WHERE key = ?", (b'"\xc3\x28"', TEXT_KEY))), {"text"}),
    "history row bad JSON": (lambda p, g: sql(p, ("UPDATE nodes SET data = ? WHERE id = 'n2'", ("{not json",))), {"history"}),
    "history row without id": (lambda p, g: sql(p, ("UPDATE nodes SET data = ? WHERE id = 'n2'", ('{"parents": "n1"}',))), {"history"}),
    "blob fails its hash": (
        lambda p, g: sql(p, ("UPDATE blobs SET data = ? WHERE id = ?", (b"tampered" + IMAGE[8:], g["image"]))),
        {"artefacts", "canvas"},
    ),
    "audio blob fails its hash": (
        lambda p, g: sql(p, ("UPDATE blobs SET data = ? WHERE id = ?", (b"tampered", g["audio"]))),
        {"artefacts", "timeline"},
    ),
    "documents table missing": (lambda p, g: sql(p, ("DROP TABLE documents", ())), {"canvas", "timeline"}),
    "nodes table missing": (lambda p, g: sql(p, ("DROP TABLE nodes", ())), {"history"}),
    "kv table missing": (lambda p, g: sql(p, ("DROP TABLE kv", ())), {"text"}),
    "blobs table missing": (lambda p, g: sql(p, ("DROP TABLE blobs", ())), {"artefacts", "canvas", "timeline"}),
}


def fingerprint(path: Path) -> tuple[str, list[str]]:
    data = path.read_bytes() if path.is_file() else b""
    return hashlib.sha256(data).hexdigest(), sorted(p.name for p in path.parent.iterdir())


def set_header_int(path: Path, offset: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset : offset + 4] = value.to_bytes(4, "big", signed=True)
    path.write_bytes(bytes(data))


REFUSED: dict[str, tuple[Callable[[Path], None], str]] = {
    "zero bytes": (lambda p: p.write_bytes(b""), "not a Studio project"),
    "not SQLite": (lambda p: p.write_text("hello, I am a text file\n" * 10), "not a Studio project"),
    "newer schema version": (lambda p: (make_good_project(p), set_header_int(p, 60, 99)), "newer Studio"),
    "no schema version": (lambda p: (make_good_project(p), set_header_int(p, 60, 0)), "no schema version"),
    "foreign application id": (lambda p: (make_good_project(p), set_header_int(p, 68, 0x1234)), "another application"),
    "meta table missing": (lambda p: (make_good_project(p), sql(p, ("DROP TABLE meta", ()))), "damaged"),
}
