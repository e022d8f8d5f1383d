"""Generation parameters inside PNG files, readable by other Stable Diffusion tools.

Three text chunks go into every PNG the studio writes:

- ``parameters``: the AUTOMATIC1111 convention (prompt, ``Negative prompt: ...``, then one
  ``Key: value, Key: value`` line) that A1111, Forge, InvokeAI, Civitai and image viewers
  read, so our images carry their settings into the rest of the ecosystem and theirs into
  ours;
- ``studio``: the exact JSON generation record, because the A1111 line is lossy (types,
  nesting, fields other tools do not know) and a history node must be restorable exactly;
- an XMP packet declaring IPTC DigitalSourceType ``trainedAlgorithmicMedia``, the
  disclosure that the image was made by a generative model.

The writer is deterministic (no timestamps, no carried-over chunks): the same image and
record give the same bytes, so content-addressed artefacts dedupe and tests can compare
files. The reader walks the PNG chunks itself (checking CRCs and the final IEND) rather than
trusting a decoder that silently accepts truncated files, and never decodes pixels.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from studio.core.atomic_files import write_bytes_atomic
from studio.core.errors import FileFormatError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PARAMETERS_KEY = "parameters"
STUDIO_KEY = "studio"
XMP_KEY = "XML:com.adobe.xmp"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_AI_SOURCE_TYPES = {
    TRAINED_ALGORITHMIC_MEDIA,
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
}

# A text chunk larger than this is not metadata we want in memory (zip-bomb guard).
_MAX_TEXT_BYTES = 16 * 1024 * 1024

# The A1111 parser's own patterns (modules/infotext_utils.py), kept identical so that we
# split a ``parameters`` text exactly where A1111 does.
_RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_RE_KEY = re.compile(r"\w[\w \-/]*\w")
_RE_INT = re.compile(r"-?(?:0|[1-9]\d*)")
_RE_FLOAT = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+)")
_NEGATIVE = "Negative prompt:"
_RE_SOURCE_TYPE = re.compile(r"DigitalSourceType\s*(?:=\s*[\"']|>)\s*([^\"'<\s]+)")


# --------------------------------------------------------------------------- A1111 text


def _parse_scalar(text: str) -> Any:
    """A1111 writes everything as text; give numbers and booleans back their type."""
    if _RE_INT.fullmatch(text):
        return int(text)
    if _RE_FLOAT.fullmatch(text):
        return float(text)
    if text in ("True", "False"):
        return text == "True"
    return text


def _format_value(value: Any) -> str:
    """One value of the ``Key: value`` line, JSON-quoted where A1111 would need it.

    A1111 quotes values holding commas, colons or newlines. We also quote strings that
    would otherwise read back as something else (``"20"``, ``"True"``, leading quotes or
    spaces, the empty string) so that ``parse_a1111(format_a1111(...))`` is exact; A1111's
    own reader unquotes them to the same strings.
    """
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # numpy scalars print like Python numbers once unwrapped
    if isinstance(value, (bool, int, float)):
        return str(value)
    if isinstance(value, str):
        text = value
        needs_quotes = (
            any(ch in text for ch in ",:\n\r")
            or text != text.strip()
            or text == ""
            or text.startswith('"')
            or _parse_scalar(text) is not text
        )
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        needs_quotes = True
    return json.dumps(text, ensure_ascii=False) if needs_quotes else text


def format_a1111(prompt: str, negative: str = "", params: Mapping[str, Any] | None = None) -> str:
    """The ``parameters`` text as AUTOMATIC1111 writes it.

    ``params`` is ordered (Steps, Sampler, CFG scale, Seed, Size, Model hash, Model, ...);
    ``None`` values are left out, as A1111 does. Keys must look like A1111 keys (letters,
    digits, spaces, ``-``, ``/``; at least two characters) or its reader would skip them.
    Readers, ours included, take the last line as parameters only when it holds at least
    three fields, so pass three or more for them to come back as fields.
    """
    fields = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        if not isinstance(key, str) or not _RE_KEY.fullmatch(key):
            raise ValueError(
                f"parameter key {key!r} cannot be written in the A1111 'parameters' text; "
                "use letters, digits, spaces, '-' or '/' (two characters or more)"
            )
        fields.append(f"{key}: {_format_value(value)}")
    negative_text = f"\n{_NEGATIVE} {negative}" if negative else ""
    return f"{prompt}{negative_text}\n{', '.join(fields)}".strip()


def parse_a1111(text: str) -> dict[str, Any]:
    """Split an A1111 ``parameters`` text into prompt, negative prompt and ordered fields.

    Follows A1111's ``parse_generation_parameters``: the last line is the field line when it
    holds at least three ``Key: value`` pairs; quoted values are JSON-unquoted; unquoted
    values that read as numbers (or True/False) become numbers (or booleans). ``Size``
    stays the ``WxH`` string.
    """
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    *lines, last = text.strip().split("\n")
    if len(_RE_PARAM.findall(last)) < 3:
        lines.append(last)
        last = ""
    in_negative = False
    for line in lines:
        line = line.strip()
        if line.startswith(_NEGATIVE):
            in_negative = True
            line = line[len(_NEGATIVE) :].strip()
        (negative_lines if in_negative else prompt_lines).append(line)
    params: dict[str, Any] = {}
    for key, raw in _RE_PARAM.findall(last):
        if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
            try:
                params[key] = json.loads(raw)
                continue
            except ValueError:
                pass  # A1111 keeps a malformed quoted value as it is
        params[key] = _parse_scalar(raw)
    return {"prompt": "\n".join(prompt_lines), "negative_prompt": "\n".join(negative_lines), "parameters": params}


# --------------------------------------------------------------------------- writing


def xmp_packet(creator_tool: str = "Studio") -> str:
    """An XMP packet declaring the image AI-generated (IPTC DigitalSourceType)."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/">\n'
        f"   <Iptc4xmpExt:DigitalSourceType>{TRAINED_ALGORITHMIC_MEDIA}</Iptc4xmpExt:DigitalSourceType>\n"
        f"   <xmp:CreatorTool>{escape(creator_tool)}</xmp:CreatorTool>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="r"?>'
    )


def record_json(record: Mapping[str, Any]) -> str:
    """The ``studio`` chunk's text: compact JSON, key order kept, UTF-8."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def encode_png(
    image: Image.Image,
    *,
    prompt: str = "",
    negative_prompt: str = "",
    parameters: Mapping[str, Any] | None = None,
    record: Mapping[str, Any] | None = None,
    ai_generated: bool = True,
    creator_tool: str = "Studio",
) -> bytes:
    """PNG bytes of ``image`` with the parameters, the exact record and the AI disclosure.

    The ``parameters`` chunk is tEXt when the text is Latin-1, else iTXt (what A1111 and
    Pillow do); ``studio`` and the XMP packet are uncompressed iTXt, as the XMP spec asks.
    Nothing from ``image.info`` except an ICC profile is carried over, so the bytes depend
    only on the pixels and these arguments.
    """
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if prompt or negative_prompt or parameters:
        info.add_text(PARAMETERS_KEY, format_a1111(prompt, negative_prompt, parameters))
    if record is not None:
        info.add_itxt(STUDIO_KEY, record_json(record))
    if ai_generated:
        info.add_itxt(XMP_KEY, xmp_packet(creator_tool))
    buffer = io.BytesIO()
    options: dict[str, Any] = {"pnginfo": info}
    icc = image.info.get("icc_profile")
    if icc:
        options["icc_profile"] = icc
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def write_png(path: str | os.PathLike[str], image: Image.Image, **metadata: Any) -> Path:
    """Write ``encode_png(image, **metadata)`` to ``path`` atomically (old file or new, never half)."""
    return write_bytes_atomic(path, encode_png(image, **metadata))


# --------------------------------------------------------------------------- reading


def _inflate(data: bytes, where: str) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, _MAX_TEXT_BYTES)
    except zlib.error as exc:
        raise FileFormatError(f"{where}: compressed text chunk is corrupt ({exc})") from None
    if inflater.unconsumed_tail:
        raise FileFormatError(f"{where}: a text chunk is larger than {_MAX_TEXT_BYTES} bytes")
    return out


def _text_chunk(kind: bytes, data: bytes, where: str) -> tuple[str, str]:
    """(keyword, text) of a tEXt, zTXt or iTXt chunk."""
    keyword, sep, rest = data.partition(b"\0")
    if not sep:
        raise FileFormatError(f"{where}: malformed {kind.decode()} chunk (no keyword separator)")
    key = keyword.decode("latin-1")
    if kind == b"tEXt":
        return key, rest.decode("latin-1")
    if kind == b"zTXt":
        if len(rest) < 1:
            raise FileFormatError(f"{where}: malformed zTXt chunk")
        return key, _inflate(rest[1:], where).decode("latin-1")
    # iTXt: compression flag, method, language\0, translated keyword\0, UTF-8 text
    if len(rest) < 2:
        raise FileFormatError(f"{where}: malformed iTXt chunk")
    compressed = rest[0] == 1
    _language, _, rest = rest[2:].partition(b"\0")
    _translated, _, body = rest.partition(b"\0")
    if compressed:
        body = _inflate(body, where)
    return key, body.decode("utf-8", "replace")


def read_png_chunks(data: bytes, name: str = "PNG") -> tuple[tuple[int, int], dict[str, str]]:
    """((width, height), {keyword: text}) after checking every chunk's length and CRC.

    Raises ``FileFormatError`` for a file that is not a PNG, has a damaged chunk, or ends
    before its IEND chunk (a truncated download or an interrupted write).
    """
    if not data.startswith(PNG_SIGNATURE):
        raise FileFormatError(f"{name}: not a PNG file (the PNG signature is missing)")
    texts: dict[str, str] = {}
    size: tuple[int, int] | None = None
    pos = len(PNG_SIGNATURE)
    while True:
        if pos + 8 > len(data):
            raise FileFormatError(f"{name}: truncated PNG (ends at byte {len(data)} before its IEND chunk)")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 8 + length + 4
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise FileFormatError(f"{name}: corrupt PNG (bad chunk header at byte {pos})")
        if end > len(data):
            raise FileFormatError(f"{name}: truncated PNG (the {kind.decode()} chunk at byte {pos} is cut short)")
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(kind + body) != crc:
            raise FileFormatError(f"{name}: corrupt PNG (CRC mismatch in the {kind.decode()} chunk at byte {pos})")
        if size is None:
            if kind != b"IHDR" or length != 13:
                raise FileFormatError(f"{name}: corrupt PNG (first chunk is not IHDR)")
            size = struct.unpack(">II", body[:8])
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            key, text = _text_chunk(kind, body, name)
            texts[key] = text  # the last one wins, as in Pillow (what A1111 reads)
        elif kind == b"IEND":
            return size, texts
        pos = end


def _declares_ai(xmp: str) -> bool:
    return any(match in _AI_SOURCE_TYPES for match in _RE_SOURCE_TYPE.findall(xmp))


def read_png_metadata(source: str | os.PathLike[str] | bytes) -> dict[str, Any]:
    """The generation metadata of a PNG, ours or another tool's.

    Returns ``{"prompt", "negative_prompt", "parameters", "studio", "ai_generated", "raw"}``:
    ``parameters`` are the A1111 fields in file order, ``studio`` our exact record (None when
    absent or unreadable), ``ai_generated`` whether the file *declares* itself AI-generated
    in XMP, ``raw`` the ``parameters`` text as stored ("" when absent).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "PNG data"
    else:
        name = str(source)
        try:
            data = Path(source).read_bytes()
        except FileNotFoundError:
            raise FileFormatError(f"{name}: no such file") from None
        except OSError as exc:
            raise FileFormatError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    _size, texts = read_png_chunks(data, name)
    raw = texts.get(PARAMETERS_KEY, "")
    # SwarmUI, Fooocus and RuinedFooocus put JSON here: it is not an A1111 prompt
    # (studio.core.foreign reads it).
    is_a1111 = bool(raw) and not raw.lstrip().startswith("{")
    parsed = parse_a1111(raw) if is_a1111 else {"prompt": "", "negative_prompt": "", "parameters": {}}
    studio: Any = None
    if STUDIO_KEY in texts:
        try:
            studio = json.loads(texts[STUDIO_KEY])
        except ValueError:
            studio = None
        if not isinstance(studio, dict):
            studio = None
    return {
        "prompt": parsed["prompt"],
        "negative_prompt": parsed["negative_prompt"],
        "parameters": parsed["parameters"],
        "studio": studio,
        "ai_generated": _declares_ai(texts.get(XMP_KEY, "")),
        "raw": raw,
    }


def png_size(data: bytes, name: str = "PNG") -> tuple[int, int]:
    """(width, height) from a checked PNG, without decoding pixels."""
    return read_png_chunks(data, name)[0]
