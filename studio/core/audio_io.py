"""WAV and FLAC files that carry their generation record.

Audio outputs leave the studio as plain WAV or FLAC (any DAW reads them) with our JSON
generation record in the file's comment field: the RIFF ``LIST/INFO`` ``ICMT`` chunk in a
WAV, the ``COMMENT`` Vorbis comment in a FLAC. Both are what tag editors and DAWs show as
"Comment", so the provenance travels with the file and survives a trip through other tools
that keep tags.

libsndfile writes long INFO strings but reads back only about 2 KB of them, so WAV comments
are read by walking the RIFF chunks here; a record with a long prompt still comes back whole.
"""

from __future__ import annotations

import io
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from studio.core.atomic_files import write_bytes_atomic
from studio.core.errors import FileFormatError

AUDIO_FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}
DEFAULT_SUBTYPE = "PCM_16"  # what every DAW and player reads; FLAC has no float subtype
# Ogg holds Vorbis (lossy); its Vorbis comment carries the record as in FLAC.
SUBTYPE_BY_FORMAT = {"ogg": "VORBIS"}
SOFTWARE = "Studio"


@dataclass
class DecodedAudio:
    """Samples (float32 in [-1, 1], ``(frames,)`` for mono else ``(frames, channels)``) and metadata."""

    samples: np.ndarray = field(repr=False)
    sample_rate: int
    channels: int
    format: str
    subtype: str
    record: dict[str, Any] | None
    comment: str = ""

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


# --------------------------------------------------------------------------- writing


def _record_comment(record: Mapping[str, Any]) -> str:
    # ASCII-only JSON: INFO chunks have no declared encoding, and \u escapes survive any tool.
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"))


def _checked_samples(samples: Any) -> np.ndarray:
    array = np.asarray(samples)
    if array.ndim not in (1, 2) or array.size == 0:
        raise ValueError(f"audio samples must be a non-empty (frames,) or (frames, channels) array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"audio samples must be floating point in [-1, 1], got {array.dtype}")
    array = array.astype(np.float32, copy=False)
    if not np.all(np.isfinite(array)):
        raise ValueError("audio samples contain NaN or infinity")
    # libsndfile wraps out-of-range floats around when converting to integers; clip instead.
    return np.clip(array, -1.0, 1.0)


def encode_audio(
    samples: Any,
    sample_rate: int,
    *,
    format: str = "wav",
    record: Mapping[str, Any] | None = None,
    subtype: str | None = None,
) -> bytes:
    """WAV or FLAC bytes of float samples, with ``record`` as JSON in the comment field.

    Deterministic: the same samples and record give the same bytes.
    """
    kind = format.lower().lstrip(".")
    if kind not in AUDIO_FORMATS:
        raise ValueError(f"audio format {format!r} is not supported; use one of {', '.join(AUDIO_FORMATS)}")
    if int(sample_rate) <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    import soundfile

    array = _checked_samples(samples)
    channels = 1 if array.ndim == 1 else array.shape[1]
    buffer = io.BytesIO()
    with soundfile.SoundFile(
        buffer,
        "w",
        samplerate=int(sample_rate),
        channels=channels,
        format=AUDIO_FORMATS[kind],
        subtype=subtype or SUBTYPE_BY_FORMAT.get(kind, DEFAULT_SUBTYPE),
    ) as handle:
        # Strings must be set before the first frame for libsndfile to place them.
        handle.software = SOFTWARE
        if record is not None:
            handle.comment = _record_comment(record)
        handle.write(array)
    return buffer.getvalue()


def write_audio(
    path: str | os.PathLike[str],
    samples: Any,
    sample_rate: int,
    *,
    record: Mapping[str, Any] | None = None,
    subtype: str | None = None,
) -> Path:
    """Write a .wav or .flac (chosen by the extension) atomically; returns the path."""
    target = Path(path)
    data = encode_audio(samples, sample_rate, format=target.suffix, record=record, subtype=subtype)
    return write_bytes_atomic(target, data)


# --------------------------------------------------------------------------- reading


def _load(source: str | os.PathLike[str] | bytes) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "audio data"
    try:
        return Path(source).read_bytes(), str(source)
    except FileNotFoundError:
        raise FileFormatError(f"{source}: no such file") from None
    except OSError as exc:
        raise FileFormatError(f"{source}: cannot be read ({exc.strerror or exc})") from None


def wav_comment(data: bytes, name: str = "WAV") -> str:
    """The ICMT text of a WAV's LIST/INFO chunk ("" when none); checks the RIFF structure.

    Raises ``FileFormatError`` for a file whose chunks run past its end (truncated).
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise FileFormatError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    comment = ""
    pos = 12
    seen_data = False
    while pos + 8 <= len(data):
        kind, size = struct.unpack("<4sI", data[pos : pos + 8])
        body_end = pos + 8 + size
        if body_end > len(data):
            raise FileFormatError(f"{name}: truncated WAV (the {kind.decode('latin-1')!r} chunk at byte {pos} is cut short)")
        if kind == b"data":
            seen_data = True
        elif kind == b"LIST" and data[pos + 8 : pos + 12] == b"INFO":
            sub = pos + 12
            while sub + 8 <= body_end:
                sub_kind, sub_size = struct.unpack("<4sI", data[sub : sub + 8])
                value = data[sub + 8 : min(sub + 8 + sub_size, body_end)]
                if sub_kind == b"ICMT":
                    comment = value.split(b"\0", 1)[0].decode("utf-8", "replace")
                sub += 8 + sub_size + (sub_size & 1)
        pos = body_end + (size & 1)
    if not seen_data:
        raise FileFormatError(f"{name}: truncated or corrupt WAV (no data chunk)")
    return comment


def _record_from_comment(comment: str) -> dict[str, Any] | None:
    try:
        value = json.loads(comment) if comment.lstrip().startswith("{") else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _open(data: bytes, name: str):
    import soundfile

    try:
        return soundfile.SoundFile(io.BytesIO(data))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        # LibsndfileError names the BytesIO object in str(); its error_string is the useful part.
        message = getattr(exc, "error_string", None) or str(exc)
        raise FileFormatError(f"{name}: not a readable audio file ({message})") from None


def _describe(handle: Any, data: bytes, name: str) -> tuple[str, str, str]:
    kind = str(handle.format).lower()
    comment = wav_comment(data, name) if kind == "wav" else (handle.comment or "")
    return kind, str(handle.subtype), comment


def read_audio(source: str | os.PathLike[str] | bytes) -> DecodedAudio:
    """Samples and generation record of a WAV/FLAC (any format libsndfile reads)."""
    import soundfile

    data, name = _load(source)
    with _open(data, name) as handle:
        kind, subtype, comment = _describe(handle, data, name)
        try:
            samples = handle.read(dtype="float32", always_2d=False)
        except (soundfile.LibsndfileError, RuntimeError) as exc:
            message = getattr(exc, "error_string", None) or str(exc)
            raise FileFormatError(f"{name}: audio data is corrupt ({message})") from None
        channels = handle.channels
        rate = handle.samplerate
    return DecodedAudio(
        samples=samples,
        sample_rate=int(rate),
        channels=int(channels),
        format=kind,
        subtype=subtype,
        record=_record_from_comment(comment),
        comment=comment,
    )


def read_audio_info(source: str | os.PathLike[str] | bytes) -> dict[str, Any]:
    """What ``inspect`` shows of an audio file, without decoding its samples."""
    data, name = _load(source)
    with _open(data, name) as handle:
        kind, subtype, comment = _describe(handle, data, name)
        frames, rate, channels = int(handle.frames), int(handle.samplerate), int(handle.channels)
    return {
        "format": kind,
        "subtype": subtype,
        "sample_rate": rate,
        "channels": channels,
        "frames": frames,
        "duration": frames / rate if rate else 0.0,
        "studio": _record_from_comment(comment),
        "comment": comment,
    }
