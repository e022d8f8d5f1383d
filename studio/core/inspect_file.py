"""What ``python main.py inspect FILE`` prints: the generation parameters inside a file.

The kind of file is decided by its first bytes (PNG signature, ``MThd``, ``RIFF…WAVE``,
``fLaC``, the SQLite header), not by its name, so a renamed file is still read correctly
and a file whose name lies is refused with a one-line ``FileFormatError``. Every result is
plain JSON-serialisable data with ``"file"`` and ``"format"``, and ``"studio"`` holding our
generation record where the file carries one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from studio.core.errors import FileFormatError, ProjectError
from studio.core.special_files import special_file_kind

MIDI_RECORD_PREFIX = "studio:"


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"MThd"):
        return "midi"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"SQLite format 3\x00"):
        return "sqlite"
    return None


def inspect_path(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of a PNG/JPEG/WebP, MIDI, WAV/FLAC/Ogg or ``.studio`` project file, as a dict.

    Raises ``FileFormatError`` (one line, naming the file) for a missing, unknown or corrupt file.
    """
    path = Path(path)
    try:
        special = special_file_kind(os.stat(path).st_mode)  # stat, not open: a FIFO would block
        if special is not None:
            raise FileFormatError(f"{path}: is {special}, not a file Studio can inspect")
        with open(path, "rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        raise FileFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise FileFormatError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    kind = _sniff(head)
    if kind in ("png", "jpeg", "webp"):
        info = _inspect_image(path)
    elif kind == "midi":
        info = _inspect_midi(path)
    elif kind in ("wav", "flac", "ogg"):
        info = _inspect_audio(path)
    elif kind == "sqlite":
        info = _inspect_project(path)
    else:
        raise FileFormatError(
            f"{path}: not a file Studio can inspect (expected PNG, JPEG, WebP, MIDI, WAV, FLAC, Ogg or a .studio project)"
        )
    return {"file": str(path), **info}


def _inspect_image(path: Path) -> dict[str, Any]:
    """PNG, JPEG or WebP: size, the A1111 fields, our record, and every metadata text.

    ``texts`` holds the raw metadata texts by keyword (PNG chunks; for JPEG/WebP the EXIF
    UserComment as ``parameters``), which the restore readers of other tools work on.
    """
    from studio.core.image_metadata import read_image_texts, studio_record
    from studio.core.png_metadata import PARAMETERS_KEY, XMP_KEY, _declares_ai, parse_a1111

    data = path.read_bytes()
    kind, (width, height), texts = read_image_texts(data, str(path))
    raw = texts.get(PARAMETERS_KEY, "")
    is_a1111_text = bool(raw) and not raw.lstrip().startswith("{")
    parsed = parse_a1111(raw) if is_a1111_text else {"prompt": "", "negative_prompt": "", "parameters": {}}
    return {
        "format": kind,
        "width": width,
        "height": height,
        "prompt": parsed["prompt"],
        "negative_prompt": parsed["negative_prompt"],
        "parameters": parsed["parameters"],
        "studio": studio_record(texts),
        "ai_generated": _declares_ai(texts.get(XMP_KEY, "")),
        "raw": raw,
        "texts": texts,
    }


def _inspect_audio(path: Path) -> dict[str, Any]:
    from studio.core.audio_io import read_audio_info

    return read_audio_info(path)


def _inspect_midi(path: Path) -> dict[str, Any]:
    info = _read_midi_with_mido(path)
    try:
        # The melody module owns how the record is stored; ask it when it is there.
        from studio.core.midi import read_midi_metadata
    except ImportError:
        pass
    else:
        info["studio"] = read_midi_metadata(path) or None
    # A key signature can only say major or minor (D dorian is written as C major); the
    # record says what the generator was asked for or found, mode included.
    output = ((info.get("studio") or {}).get("output") or {}) if isinstance(info.get("studio"), dict) else {}
    if output.get("key") and output.get("scale"):
        info["key_signature"] = info.get("key")
        info["key"] = f"{output['key']} {output['scale']}"
    elif not info.get("studio"):
        found = _key_from_notes(path, info.get("key"))
        if found:
            info["key_signature"] = info.get("key")
            info["key"] = found
    return {"format": "midi", **info}


def _key_from_notes(path: Path, signature: str | None) -> str:
    """ "D dorian": the mode among those the key signature allows that the notes fit best
    (another tool's MIDI has no record; its signature alone would say "C")."""
    try:
        from studio.core.errors import StudioError
        from studio.core.melody import find_melody_key, key_signature_sharps
        from studio.core.midi import read_midi
    except ImportError:
        return ""
    try:
        melody = read_midi(path.read_bytes()).melody
        if not melody.notes:
            return ""
        sharps = None
        if signature:
            minor = signature.endswith("m")
            sharps = key_signature_sharps(signature[:-1] if minor else signature, "minor" if minor else "major")
        found = find_melody_key(melody, sharps=sharps)
    except (StudioError, OSError, ValueError, KeyError):
        return ""
    if signature and (found.key, found.mode) in ((signature, "major"), (signature[:-1], "minor")):
        return ""  # the signature already says it
    return f"{found.key} {found.mode}"


def _meta_text(text: str) -> str:
    # mido decodes meta text as Latin-1; a writer that stored UTF-8 gets its characters back.
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _read_midi_with_mido(path: Path) -> dict[str, Any]:
    """Tempo, metre, key, tracks, length and our ``studio:`` record from a Standard MIDI File.

    The record is a track-0 text meta event ``studio:{json}``; ``studio.core.midi`` (when
    present) has the final say on reading it, this copy keeps inspect working without it.
    """
    import mido

    try:
        midi = mido.MidiFile(path, clip=True)
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise FileFormatError(f"{path}: not a readable MIDI file ({exc})") from None
    record: dict[str, Any] | None = None
    tempo = time_signature = key = None
    for track_index, track in enumerate(midi.tracks):
        for message in track:
            if not message.is_meta:
                continue
            if message.type == "set_tempo" and tempo is None:
                tempo = round(mido.tempo2bpm(message.tempo), 3)
            elif message.type == "time_signature" and time_signature is None:
                time_signature = f"{message.numerator}/{message.denominator}"
            elif message.type == "key_signature" and key is None:
                key = message.key
            elif message.type == "text" and track_index == 0 and record is None:
                text = _meta_text(message.text)
                if text.startswith(MIDI_RECORD_PREFIX):
                    try:
                        value = json.loads(text[len(MIDI_RECORD_PREFIX) :])
                    except ValueError:
                        value = None
                    record = value if isinstance(value, dict) else None
    try:
        length: float | None = round(midi.length, 3)
    except ValueError:  # type 2 (asynchronous) files have no single length
        length = None
    return {
        "type": midi.type,
        "tracks": len(midi.tracks),
        "ticks_per_beat": midi.ticks_per_beat,
        "tempo_bpm": tempo if tempo is not None else 120.0,
        "time_signature": time_signature or "4/4",
        "key": key,
        "length_seconds": length,
        "studio": record,
    }


def _inspect_project(path: Path) -> dict[str, Any]:
    from studio.core.history import HistoryNode
    from studio.core.project_store import ProjectStore

    try:
        store = ProjectStore.open(path, readonly=True)
    except ProjectError as exc:
        raise FileFormatError(str(exc)) from None
    try:
        nodes = [HistoryNode.from_dict(data) for data in store.nodes()]
        last = nodes[-1] if nodes else None
        return {
            "format": "studio-autosave" if store.get_meta("kind") == "autosave" else "studio-project",
            "schema_version": store.schema_version,
            "untitled": store.is_untitled,
            "node_count": len(nodes),
            "artifact_count": store.blob_count(),
            "generators": sorted({node.generator for node in nodes if node.generator}),
            "starred": sum(1 for node in nodes if node.starred),
            "has_canvas": store.load_canvas() is not None,
            "has_timeline": store.load_timeline() is not None,
            "last_node": last.to_dict() if last else None,
            "last_params": dict(last.params) if last else None,
        }
    except ProjectError as exc:
        raise FileFormatError(str(exc)) from None
    finally:
        store.close()
