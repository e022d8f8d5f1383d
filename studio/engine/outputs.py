"""Turning a generator's outputs into artefact files that carry their provenance.

The engine, not the plugin, writes the record of how an output was made (plugin, version,
generator, seed, params, device, model hashes) into the file itself: the PNG's
``parameters`` and ``studio`` chunks, a MIDI text event, the audio file's comment. So
every output can be inspected and re-run, whichever plugin made it.

Files leave the machine, so the record names models by file name and hash, never by
local path (A1111's habit; a path leaks user and folder names): ``file_record`` strips
them unless the user opted in. An output that is one item of a batch records its own
index and seed, so restoring it re-makes that item alone.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import PurePath
from typing import Any

from studio.core.artifacts import MIME_BY_KIND, Artifact
from studio.core.errors import StudioError
from studio.plugins.api import AudioOutput, ImageOutput, MelodyOutput, TextOutput

MIDI_RECORD_PREFIX = "studio:"


def encode_output(output: Any, record: dict[str, Any], *, index: int = 0, count: int = 1, include_paths: bool = False) -> Artifact:
    """One output (of any API type) as an Artifact with ``record`` embedded.

    ``index`` / ``count`` place the output in its job's outputs; ``include_paths`` keeps
    local model paths in the file (the user's opt-in setting).
    """
    if isinstance(output, Artifact):
        return output
    record = file_record(record, include_paths=include_paths)
    if count > 1:
        record["item"] = {"index": index, "count": count, "seed": _item_seed(output, record)}
    if isinstance(output, ImageOutput):
        return _image(output, record)
    if isinstance(output, TextOutput):
        meta = dict(record, output=output.parameters)
        mime = "text/markdown; charset=utf-8" if output.markdown else MIME_BY_KIND["text"]
        return Artifact("text", mime, output.text.encode("utf-8"), meta)
    if isinstance(output, MelodyOutput):
        meta = dict(record, output=output.parameters)
        return Artifact("melody", MIME_BY_KIND["melody"], embed_midi_record(output.midi, meta), meta)
    if isinstance(output, AudioOutput):
        from studio.core import audio_io

        meta = dict(record, output=output.parameters)
        data = audio_io.encode_audio(output.samples, output.sample_rate, format=output.format, record=meta)
        mime = "audio/flac" if output.format == "flac" else "audio/wav"
        return Artifact("audio", mime, data, meta)
    raise StudioError(
        f"generator {record.get('generator')} returned a {type(output).__name__}; "
        "return ImageOutput, TextOutput, MelodyOutput or AudioOutput from studio.plugins.api"
    )


def file_record(record: dict[str, Any], *, include_paths: bool = False) -> dict[str, Any]:
    """``record`` as written into a file: models by name and hash, params without local paths."""
    result = dict(record)
    models = []
    for model in record.get("models") or []:
        if not isinstance(model, dict):
            continue
        entry = {key: value for key, value in model.items() if key != "path"}
        path = model.get("path")
        if path:
            entry = {"name": PurePath(str(path)).name, **entry}
            if include_paths:
                entry["path"] = path
        models.append(entry)
    if "models" in record:
        result["models"] = models
    if not include_paths and isinstance(record.get("params"), dict):
        result["params"] = {name: _without_path(value) for name, value in record["params"].items()}
    return result


def _without_path(value: Any) -> Any:
    """A local file or folder path as its last part (the name model folders resolve)."""
    if isinstance(value, str) and os.path.isabs(value) and "\n" not in value and os.path.exists(value):
        return PurePath(value).name
    return value


def _item_seed(output: Any, record: dict[str, Any]) -> Any:
    """The seed of one item: what the plugin declared for it (A1111's Seed field), else the job's."""
    parameters = getattr(output, "parameters", None) or {}
    for key in ("Seed", "seed"):
        value = parameters.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return record.get("seed")


def a1111_parameters(output: ImageOutput, record: dict[str, Any]) -> dict[str, Any]:
    """The ordered ``Key: value`` fields: the plugin's own first, then our provenance.

    A plugin key that A1111-convention readers could not parse back (``:`` or ``,`` in it,
    a single character) is cleaned rather than failing the job: the exact values are in
    the ``studio`` chunk anyway.
    """
    fields: dict[str, Any] = {}
    for key, value in output.parameters.items():
        cleaned = re.sub(r"[^\w \-/]+", " ", str(key)).strip()
        if len(cleaned) < 2:
            cleaned = f"Param {cleaned}".strip()
        fields[cleaned] = value
    width, height = output.image.size
    fields.setdefault("Seed", record.get("seed"))
    fields.setdefault("Size", f"{width}x{height}")
    fields.setdefault("Generator", record.get("generator"))
    fields.setdefault("Version", record.get("version"))
    return fields


def _image(output: ImageOutput, record: dict[str, Any]) -> Artifact:
    from studio.core import png_metadata

    fields = a1111_parameters(output, record)
    meta = dict(record, output={"prompt": output.prompt, "negative_prompt": output.negative_prompt, **fields})
    data = png_metadata.encode_png(
        output.image,
        prompt=output.prompt,
        negative_prompt=output.negative_prompt,
        parameters=fields,
        record=record,
    )
    return Artifact("image", MIME_BY_KIND["image"], data, meta)


def embed_midi_record(midi: bytes, record: dict[str, Any]) -> bytes:
    """Put ``record`` in a text meta event at the start of track 0 (DAWs ignore it)."""
    import mido

    try:
        song = mido.MidiFile(file=io.BytesIO(midi))
    except Exception as exc:  # mido raises several types for malformed data
        raise StudioError(f"the generator returned MIDI data that cannot be read: {exc}") from None
    if not song.tracks:
        song.tracks.append(mido.MidiTrack())
    track = song.tracks[0]
    for message in list(track):
        if message.is_meta and message.type == "text" and message.text.startswith(MIDI_RECORD_PREFIX):
            track.remove(message)
    text = MIDI_RECORD_PREFIX + json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    track.insert(0, mido.MetaMessage("text", text=text, time=0))
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()
