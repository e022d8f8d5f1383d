"""Generation metadata in JPEG and WebP files, where the A1111 family keeps it in EXIF.

A1111, Forge, Fooocus and SwarmUI write the same text they put in a PNG ``parameters``
chunk into the EXIF ``UserComment`` tag of a JPEG or WebP (A1111 through piexif:
``UNICODE\\0`` then UTF-16 big-endian; Fooocus through Pillow, in IFD0 with its scheme in
``MakerNote``). This module reads those texts into the same ``{keyword: text}`` shape the
PNG reader gives, so every reader downstream sees one shape whatever the container, and
writes JPEG/WebP the way A1111 does, with our exact record and the AI disclosure in XMP.
"""

from __future__ import annotations

import io
import json
import re
from typing import TYPE_CHECKING, Any

from studio.core.errors import FileFormatError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
MAKER_NOTE = 0x927C
SOFTWARE = 0x0131
IMAGE_DESCRIPTION = 0x010E

_UNICODE = b"UNICODE\x00"
_ASCII = b"ASCII\x00\x00\x00"
_JIS = b"JIS\x00\x00\x00\x00\x00"
_UNDEFINED = b"\x00" * 8

_RE_RECORD = re.compile(r"<studio:record[^>]*>(.*?)</studio:record>", re.S)


def sniff_image(head: bytes) -> str | None:
    """ "png", "jpeg" or "webp" from a file's first bytes (None for anything else)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    return None


def decode_user_comment(raw: Any) -> str:
    """The text of an EXIF UserComment, whichever of the encodings the writers use.

    The 8-byte prefix names the character code. ``UNICODE`` is UTF-16 whose byte order the
    EXIF spec leaves to the file's; piexif (A1111) writes big-endian, some Windows tools
    little-endian, so the order is read from where the zero bytes of ASCII text fall.
    """
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, (bytes, bytearray)):
        return ""
    data = bytes(raw)
    prefix, body = data[:8], data[8:]
    if prefix == _UNICODE:
        if len(body) % 2:
            body = body[:-1]
        even_zeros = body[0::2].count(0)
        odd_zeros = body[1::2].count(0)
        codec = "utf-16-be" if even_zeros >= odd_zeros else "utf-16-le"
        return body.decode(codec, "replace").rstrip("\x00")
    if prefix in (_ASCII, _UNDEFINED, _JIS):
        return body.decode("utf-8", "replace").rstrip("\x00")
    return data.decode("utf-8", "replace").rstrip("\x00")


def encode_user_comment(text: str) -> bytes:
    """The UserComment bytes A1111 writes (piexif ``UserComment.dump(text, "unicode")``)."""
    return _UNICODE + text.encode("utf-16-be")


def read_image_texts(data: bytes, name: str = "image") -> tuple[str, tuple[int, int], dict[str, str]]:  # noqa: C901
    """(format, (width, height), {keyword: text}) for a PNG, JPEG or WebP.

    For JPEG/WebP the EXIF UserComment becomes ``parameters`` (as A1111 reads it), the
    MakerNote ``fooocus_scheme`` when Fooocus wrote it, a JPEG comment ``comment``, and our
    XMP record ``studio``; ``XML:com.adobe.xmp`` holds the XMP packet for the AI disclosure.
    """
    kind = sniff_image(data[:16])
    if kind == "png":
        from studio.core.png_metadata import read_png_chunks

        size, png_texts = read_png_chunks(data, name)
        return "png", (int(size[0]), int(size[1])), png_texts
    if kind not in ("jpeg", "webp"):
        raise FileFormatError(f"{name}: not a PNG, JPEG or WebP image")
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        size = image.size
        exif = image.getexif()
        info = dict(image.info)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise FileFormatError(f"{name}: not a readable {kind.upper()} file ({exc})") from None
    texts: dict[str, str] = {}
    comment = exif.get(USER_COMMENT)
    if comment is None:
        try:
            comment = exif.get_ifd(EXIF_IFD).get(USER_COMMENT)
        except (KeyError, ValueError, TypeError):
            comment = None
    if comment is not None:
        text = decode_user_comment(comment)
        if text:
            texts["parameters"] = text
    scheme = exif.get(MAKER_NOTE)
    if scheme is None:
        try:
            scheme = exif.get_ifd(EXIF_IFD).get(MAKER_NOTE)
        except (KeyError, ValueError, TypeError):
            scheme = None
    if isinstance(scheme, (bytes, bytearray)):
        scheme = bytes(scheme).decode("utf-8", "replace").rstrip("\x00")
    if isinstance(scheme, str) and scheme in ("fooocus", "a1111"):
        texts["fooocus_scheme"] = scheme
    software = exif.get(SOFTWARE)
    if isinstance(software, str) and software:
        texts["Software"] = software
    jpeg_comment = info.get("comment")
    if isinstance(jpeg_comment, bytes):
        jpeg_comment = jpeg_comment.decode("utf-8", "replace")
    if isinstance(jpeg_comment, str) and jpeg_comment:
        texts["comment"] = jpeg_comment
    xmp = info.get("xmp")
    if isinstance(xmp, bytes):
        xmp = xmp.decode("utf-8", "replace")
    if isinstance(xmp, str) and xmp:
        texts["XML:com.adobe.xmp"] = xmp
        match = _RE_RECORD.search(xmp)
        if match:
            from xml.sax.saxutils import unescape

            texts["studio"] = unescape(match.group(1))
    return kind, (int(size[0]), int(size[1])), texts


def encode_image(
    image: Image.Image,
    fmt: str,
    *,
    parameters_text: str = "",
    record: dict[str, Any] | None = None,
    ai_generated: bool = True,
    quality: int = 95,
) -> bytes:
    """JPEG or WebP bytes with the A1111 text in EXIF UserComment and our record in XMP.

    The UserComment goes in the Exif sub-IFD as A1111 writes it, so A1111, Forge, Civitai
    and our reader restore it; the record and the IPTC ``trainedAlgorithmicMedia``
    disclosure travel in an XMP packet, the format's own place for them.
    """
    from PIL import Image

    from studio.core.png_metadata import record_json, xmp_packet

    fmt = fmt.lower()
    if fmt not in ("jpeg", "webp"):
        raise ValueError(f"encode_image writes jpeg or webp, not {fmt!r}")
    exif = Image.Exif()
    if parameters_text:
        exif.get_ifd(EXIF_IFD)[USER_COMMENT] = encode_user_comment(parameters_text)
    options: dict[str, Any] = {"quality": quality}
    if parameters_text:
        options["exif"] = exif.tobytes()
    xmp = ""
    if ai_generated or record is not None:
        xmp = xmp_packet()
        if record is not None:
            from xml.sax.saxutils import escape

            element = f'<studio:record xmlns:studio="https://studio.invalid/ns/1.0/">{escape(record_json(record))}</studio:record>\n'
            xmp = xmp.replace(" </rdf:RDF>", f" {element} </rdf:RDF>", 1)
    if xmp:
        options["xmp"] = xmp.encode("utf-8")
    picture = image.convert("RGB") if fmt == "jpeg" and image.mode not in ("RGB", "L") else image
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()


def studio_record(texts: dict[str, str]) -> dict[str, Any] | None:
    """Our JSON record from the texts, or None when absent or unreadable."""
    raw = texts.get("studio")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
