"""Where ``generate --out PATH`` writes, and in which format: the extension decides.

The engine makes one canonical artefact per output (PNG, WAV/FLAC, MIDI, UTF-8 text); the
caller's extension picks the file format, and the metadata moves to that format's own
place (PNG text chunks -> JPEG/WebP EXIF UserComment + XMP; WAV INFO comment -> FLAC/OGG
Vorbis comment). An extension the generator's kind cannot produce is refused before the
job runs, so nobody waits a minute to learn that a melody cannot be a .png. An existing
folder, or a path ending in a separator, receives ``FOLDER/<name>.<ext>``. Relative paths
are resolved against the caller's working folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError

# Generator kind -> the extensions its outputs can be written as (first = the default).
EXTENSIONS_BY_KIND: dict[str, tuple[str, ...]] = {
    "image": (".png", ".jpg", ".jpeg", ".webp"),
    "music": (".mid", ".midi"),
    "melody": (".mid", ".midi"),
    "audio": (".wav", ".flac", ".ogg"),
    "text": (".txt", ".md"),
}

_MIME_KIND = {"image": "image", "audio": "audio", "text": "text", "midi": "music"}


@dataclass(frozen=True)
class OutTarget:
    """A checked ``--out``: a file path (with or without extension) or a folder."""

    path: Path
    folder: bool
    extension: str  # "" when the output's own format decides

    def paths_for(self, count: int, *, stem: str, default_extension: str) -> list[Path]:
        """The file paths for ``count`` outputs (``name-1.ext``, ``name-2.ext``… for several)."""
        extension = self.extension or default_extension
        if self.folder:
            base = self.path / f"{safe_stem(stem)}{extension}"
        else:
            base = self.path if self.path.suffix else self.path.with_suffix(extension)
        if count <= 1:
            return [base]
        return [base.with_name(f"{base.stem}-{index}{base.suffix}") for index in range(1, count + 1)]


def check_out(raw: str | os.PathLike[str], kind: str, *, cwd: str | os.PathLike[str] | None = None) -> OutTarget:
    """Check ``--out`` against the generator's kind; raises ``StudioError`` on a mismatch."""
    text = os.fspath(raw)
    if not text.strip():
        raise StudioError("--out needs a file or folder path")
    folder_syntax = text.endswith(("/", os.sep)) or (os.altsep is not None and text.endswith(os.altsep))
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = Path(cwd or os.getcwd()) / path
    allowed = EXTENSIONS_BY_KIND.get(kind)
    if folder_syntax or path.is_dir():
        return OutTarget(path, True, "")
    suffix = path.suffix.lower()
    if suffix and allowed is not None and suffix not in allowed:
        raise StudioError(
            f"--out {text}: {_article(kind)} {kind} generator cannot write {suffix} files; use one of {', '.join(allowed)} (or a folder)"
        )
    return OutTarget(path, False, suffix if suffix and allowed is not None else "")


def safe_stem(text: str) -> str:
    stem = re.sub(r"[^\w.\-]+", "-", text).strip("-.")
    return stem or "output"


def convert(data: bytes, mime: str, extension: str) -> bytes:
    """The artefact's bytes in the format ``extension`` names, metadata moved along."""
    mime = mime.split(";")[0].strip().lower()
    extension = extension.lower()
    if mime == "image/png" and extension in (".jpg", ".jpeg", ".webp"):
        return _png_to(data, "jpeg" if extension in (".jpg", ".jpeg") else "webp")
    if mime in ("audio/wav", "audio/x-wav", "audio/flac") and extension in (".wav", ".flac", ".ogg"):
        wanted = extension.lstrip(".")
        if (mime == "audio/flac") == (wanted == "flac") and wanted != "ogg":
            return data
        return _audio_to(data, wanted)
    return data


def _png_to(data: bytes, fmt: str) -> bytes:
    import io

    from PIL import Image

    from studio.core.image_metadata import encode_image, studio_record
    from studio.core.png_metadata import PARAMETERS_KEY, _declares_ai, read_png_chunks

    _size, texts = read_png_chunks(data)
    image = Image.open(io.BytesIO(data))
    image.load()
    return encode_image(
        image,
        fmt,
        parameters_text=texts.get(PARAMETERS_KEY, ""),
        record=studio_record(texts),
        ai_generated=_declares_ai(texts.get("XML:com.adobe.xmp", "")),
    )


def _audio_to(data: bytes, fmt: str) -> bytes:
    from studio.core.audio_io import encode_audio, read_audio

    decoded = read_audio(data)
    return encode_audio(decoded.samples, decoded.sample_rate, format=fmt, record=decoded.record)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
