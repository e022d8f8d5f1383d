"""Artefacts: the outputs of generations (and the inputs users bring), as content-addressed bytes.

An artefact is always bytes in a format other tools read (PNG, Standard MIDI, WAV/FLAC,
UTF-8 text), so the project store, the engine's store and an exported file are the same
thing. Its id is the SHA-256 of those bytes: storing the same output twice costs nothing,
and a history node can point at its outputs without copying them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

ARTIFACT_KINDS = ("image", "text", "melody", "audio")

MIME_BY_KIND = {
    "image": "image/png",
    "text": "text/plain; charset=utf-8",
    "melody": "audio/midi",
    "audio": "audio/wav",
}

EXTENSION_BY_MIME = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "text/plain; charset=utf-8": ".txt",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/markdown; charset=utf-8": ".md",
    "audio/midi": ".mid",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/flac": ".flac",
}

KIND_BY_EXTENSION = {
    ".png": ("image", "image/png"),
    ".jpg": ("image", "image/jpeg"),
    ".jpeg": ("image", "image/jpeg"),
    ".webp": ("image", "image/webp"),
    ".txt": ("text", "text/plain; charset=utf-8"),
    ".md": ("text", "text/markdown; charset=utf-8"),
    ".mid": ("melody", "audio/midi"),
    ".midi": ("melody", "audio/midi"),
    ".wav": ("audio", "audio/wav"),
    ".flac": ("audio", "audio/flac"),
}


def content_id(data: bytes) -> str:
    """The id of an artefact: the hex SHA-256 of its bytes."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Artifact:
    """One output or input: its bytes, what they are, and the parameters that made them."""

    kind: str
    mime: str
    data: bytes = field(repr=False)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return content_id(self.data)

    @property
    def extension(self) -> str:
        return EXTENSION_BY_MIME.get(self.mime, ".bin")

    def describe(self) -> dict[str, Any]:
        """What the API says about an artefact without sending its bytes."""
        return {"id": self.id, "kind": self.kind, "mime": self.mime, "size": len(self.data), "meta": self.meta}


def kind_for_path(name: str) -> tuple[str, str]:
    """(kind, mime) for a file name, or raise ValueError naming the supported extensions."""
    lower = name.lower()
    for extension, pair in KIND_BY_EXTENSION.items():
        if lower.endswith(extension):
            return pair
    supported = ", ".join(sorted(KIND_BY_EXTENSION))
    raise ValueError(f"{name}: unsupported file type; supported: {supported}")
