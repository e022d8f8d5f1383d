"""PNG metadata: the A1111 ``parameters`` chunk, our exact record, and the AI disclosure."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from studio.core.errors import FileFormatError
from studio.core.png_metadata import (
    TRAINED_ALGORITHMIC_MEDIA,
    XMP_KEY,
    encode_png,
    format_a1111,
    parse_a1111,
    read_png_chunks,
    read_png_metadata,
    write_png,
)

PARAMS = {
    "Steps": 20,
    "Sampler": "Euler a",
    "CFG scale": 7.5,
    "Seed": 7,
    "Size": "512x512",
    "Model hash": "abcdef1234",
    "Model": "tiny-sd",
    "Lora hashes": "a: 1, b: 2",
}
RECORD = {
    "plugin": "studio.diffusion",
    "generator": "studio.diffusion",
    "version": "1.0.0",
    "params": {"prompt": "a red fox, snow", "steps": 20, "cfg": 7.5, "size": [512, 512], "lora": None},
    "seed": 7,
    "device": "cpu",
    "model_hashes": {"unet": "ab" * 32},
    "note": "ünïcode ✓",
}


def _image(seed: int = 0) -> Image.Image:
    image = Image.new("RGB", (32, 24))
    image.putdata([((x * 7 + seed) % 256, (y * 11) % 256, (x * y) % 256) for y in range(24) for x in range(32)])
    return image


def _png(**overrides):
    options = {"prompt": "a red fox\nin the snow", "negative_prompt": "blurry", "parameters": PARAMS, "record": RECORD}
    options.update(overrides)
    return encode_png(_image(), **options)


def _chunk_types(data: bytes) -> list[bytes]:
    types, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        types.append(kind)
        pos += 12 + length
    return types


def test_our_png_gives_back_prompt_params_and_exact_record():
    meta = read_png_metadata(_png())

    assert meta["prompt"] == "a red fox\nin the snow"
    assert meta["negative_prompt"] == "blurry"
    assert meta["parameters"] == PARAMS
    assert list(meta["parameters"]) == list(PARAMS)  # order kept
    assert meta["studio"] == RECORD
    assert meta["ai_generated"] is True
    assert meta["raw"].splitlines()[-1].startswith("Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 7")
    assert 'Lora hashes: "a: 1, b: 2"' in meta["raw"]


def test_same_inputs_give_byte_identical_files(tmp_path):
    first = write_png(tmp_path / "a.png", _image(), prompt="p", parameters=PARAMS, record=RECORD)
    second = write_png(tmp_path / "b.png", _image(), prompt="p", parameters=PARAMS, record=RECORD)

    assert first.read_bytes() == second.read_bytes() == encode_png(_image(), prompt="p", parameters=PARAMS, record=RECORD)
    assert b"tIME" not in first.read_bytes()


def test_source_image_chunks_are_not_carried_over():
    image = _image()
    image.info["parameters"] = "stale text from the file this image was opened from"
    image.info["dpi"] = (300, 300)
    assert encode_png(image, prompt="p", parameters=PARAMS) == encode_png(_image(), prompt="p", parameters=PARAMS)


def test_pixels_survive_and_pil_sees_the_parameters_chunk():
    data = _png()
    reopened = Image.open(io.BytesIO(data))
    assert reopened.convert("RGB").tobytes() == _image().tobytes()
    # What A1111, Forge and image viewers read: Pillow's info["parameters"].
    assert reopened.info["parameters"] == format_a1111("a red fox\nin the snow", "blurry", PARAMS)


def test_xmp_packet_declares_trained_algorithmic_media():
    data = _png()
    _size, texts = read_png_chunks(data)

    assert XMP_KEY in texts
    assert "Iptc4xmpExt:DigitalSourceType" in texts[XMP_KEY]
    assert TRAINED_ALGORITHMIC_MEDIA in texts[XMP_KEY]
    assert Image.open(io.BytesIO(data)).info[XMP_KEY] == texts[XMP_KEY]
    assert b"iTXt" + XMP_KEY.encode() + b"\x00\x00\x00" in data  # uncompressed, as the XMP spec asks


def test_without_disclosure_the_file_does_not_claim_to_be_ai_generated():
    meta = read_png_metadata(_png(ai_generated=False))
    assert meta["ai_generated"] is False
    assert meta["studio"] == RECORD


def test_metadata_chunks_come_before_the_image_data():
    types = _chunk_types(_png())
    first_idat = types.index(b"IDAT")
    assert types[0] == b"IHDR" and types[-1] == b"IEND"
    assert types.index(b"tEXt") < first_idat
    assert types.count(b"iTXt") == 2 and max(i for i, t in enumerate(types) if t == b"iTXt") < first_idat


def test_non_latin_prompt_is_stored_as_itxt_and_read_back():
    meta = read_png_metadata(_png(prompt="狐狸 в снегу"))
    assert meta["prompt"] == "狐狸 в снегу"
    assert meta["parameters"] == PARAMS


A1111_TEXT = (
    "masterpiece, best quality, a lighthouse on a cliff at dusk,\n"
    "dramatic clouds, <lora:detail_tweaker:0.6>\n"
    "Negative prompt: lowres, bad anatomy, (worst quality:1.4),\n"
    "easynegative\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234567890, Size: 768x512, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Clip skip: 2, "
    'Lora hashes: "detail_tweaker: 3a2b1c0d9e8f, add_more: 0a1b2c3d4e5f", '
    'TI hashes: "easynegative: c74b4e810b03", Hires upscale: 2, Hires upscaler: Latent, '
    "Schedule type: Karras, Version: v1.7.0"
)


def test_reads_a_png_written_the_way_a1111_writes_it(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111_TEXT)  # exactly A1111's images.save_image_with_geninfo
    path = tmp_path / "00001-1234567890.png"
    _image().save(path, pnginfo=info)

    meta = read_png_metadata(path)

    assert meta["prompt"] == ("masterpiece, best quality, a lighthouse on a cliff at dusk,\ndramatic clouds, <lora:detail_tweaker:0.6>")
    assert meta["negative_prompt"] == "lowres, bad anatomy, (worst quality:1.4),\neasynegative"
    assert meta["parameters"] == {
        "Steps": 28,
        "Sampler": "DPM++ 2M Karras",
        "CFG scale": 6.5,
        "Seed": 1234567890,
        "Size": "768x512",
        "Model hash": "6ce0161689",
        "Model": "v1-5-pruned-emaonly",
        "Denoising strength": 0.45,
        "Clip skip": 2,
        "Lora hashes": "detail_tweaker: 3a2b1c0d9e8f, add_more: 0a1b2c3d4e5f",
        "TI hashes": "easynegative: c74b4e810b03",
        "Hires upscale": 2,
        "Hires upscaler": "Latent",
        "Schedule type": "Karras",
        "Version": "v1.7.0",
    }
    assert list(meta["parameters"])[:3] == ["Steps", "Sampler", "CFG scale"]
    assert meta["studio"] is None
    assert meta["ai_generated"] is False
    assert meta["raw"] == A1111_TEXT


def test_format_then_parse_is_exact_for_awkward_values():
    params = {
        "Steps": 20,
        "CFG scale": 7.0,
        "Eta": 1e-05,
        "Offset": -3,
        "Tiling": True,
        "Model hash": "0123456789",  # digits with a leading zero must stay a string
        "Number text": "20",
        "Bool text": "False",
        "Empty": "",
        "Padded": "  spaced  ",
        "Quoted": '"already quoted"',
        "Colon": "a: b",
        "Comma": "x, y",
        "Newline": "line one\nline two",
        "Unicode": "ü ✓",
        "Half quote": 'my"model',
        "Nested": {"b": 1, "a": [1, 2]},
        "Up/down-scale": "2x",
        "Skipped": None,
    }
    text = format_a1111("prompt line one\nprompt line two", "neg one\nneg two", params)
    parsed = parse_a1111(text)

    expected = {k: v for k, v in params.items() if v is not None}
    expected["Nested"] = '{"a": [1, 2], "b": 1}'  # nested values travel as JSON text
    assert parsed == {
        "prompt": "prompt line one\nprompt line two",
        "negative_prompt": "neg one\nneg two",
        "parameters": expected,
    }
    assert "\n" not in text.splitlines()[-1]


def test_format_matches_a1111_output_for_plain_fields():
    text = format_a1111("a cat", "", {"Steps": 20, "Sampler": "Euler a", "CFG scale": 7, "Seed": 7, "Size": "512x512"})
    assert text == "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 7, Size: 512x512"


def test_a_last_line_with_fewer_than_three_fields_is_prompt_as_in_a1111():
    parsed = parse_a1111("a portrait\nstyle: oil, light: soft")
    assert parsed["prompt"] == "a portrait\nstyle: oil, light: soft"
    assert parsed["parameters"] == {}


def test_params_only_text_without_prompt():
    parsed = parse_a1111(format_a1111("", "", {"Steps": 1, "Seed": 2, "Size": "8x8"}))
    assert parsed == {"prompt": "", "negative_prompt": "", "parameters": {"Steps": 1, "Seed": 2, "Size": "8x8"}}


@pytest.mark.parametrize("key", ["x", "Bad:key", "Bad,key", " padded", ""])
def test_keys_a1111_cannot_read_are_refused(key):
    with pytest.raises(ValueError, match="parameter key"):
        format_a1111("p", "", {"Steps": 1, key: 2, "Seed": 3})


def test_png_without_parameters_reads_as_empty():
    buffer = io.BytesIO()
    _image().save(buffer, format="PNG")
    meta = read_png_metadata(buffer.getvalue())
    assert meta == {
        "prompt": "",
        "negative_prompt": "",
        "parameters": {},
        "studio": None,
        "ai_generated": False,
        "raw": "",
    }


def test_compressed_text_chunks_are_read():
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111_TEXT, zip=True)  # zTXt
    info.add_itxt("studio", '{"seed": 3}', zip=True)  # compressed iTXt
    buffer = io.BytesIO()
    _image().save(buffer, format="PNG", pnginfo=info)
    meta = read_png_metadata(buffer.getvalue())
    assert meta["raw"] == A1111_TEXT
    assert meta["studio"] == {"seed": 3}


def test_truncated_png_is_a_file_format_error(tmp_path):
    data = _png()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match=r"cut\.png: truncated PNG"):
        read_png_metadata(path)
    # Missing only the IEND chunk: Pillow would decode it, we still call it truncated.
    with pytest.raises(FileFormatError, match="truncated PNG"):
        read_png_metadata(data[:-12])


def test_damaged_chunk_is_a_file_format_error():
    data = bytearray(_png())
    data[data.index(b"Steps") + 1] ^= 0xFF
    with pytest.raises(FileFormatError, match="CRC mismatch in the tEXt chunk"):
        read_png_metadata(bytes(data))


def test_non_png_and_missing_files_are_file_format_errors(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(FileFormatError, match="not a PNG file"):
        read_png_metadata(tmp_path / "notes.png")
    with pytest.raises(FileFormatError, match="no such file"):
        read_png_metadata(tmp_path / "missing.png")


def test_oversized_compressed_text_is_refused():
    bomb = zlib.compress(b"a" * (17 * 1024 * 1024))
    body = b"parameters\x00\x00" + bomb
    chunk = struct.pack(">I", len(body)) + b"zTXt" + body + struct.pack(">I", zlib.crc32(b"zTXt" + body))
    data = _png()
    data = data[:33] + chunk + data[33:]  # after the 8-byte signature and 25-byte IHDR chunk
    with pytest.raises(FileFormatError, match="larger than"):
        read_png_metadata(data)
