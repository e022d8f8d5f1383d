"""`--out`: the extension decides the format, metadata moves to that format's own place."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio.core.audio_io import encode_audio, read_audio
from studio.core.errors import StudioError
from studio.core.image_metadata import read_image_texts, studio_record
from studio.core.output_files import check_out, convert
from studio.core.png_metadata import encode_png, parse_a1111

RECORD = {"generator": "studio.test", "params": {"n": 1}, "seed": 2**64 - 1}


@pytest.mark.parametrize("extension, fmt", [(".jpg", "jpeg"), (".webp", "webp")])
def test_png_becomes_jpeg_or_webp_with_user_comment_and_xmp_record(extension, fmt):
    png = encode_png(
        Image.new("RGB", (24, 16), (10, 200, 30)),
        prompt="a kite",
        negative_prompt="rain",
        parameters={"Steps": 4, "Seed": 2**64 - 1, "Size": "24x16"},
        record=RECORD,
    )
    data = convert(png, "image/png", extension)
    kind, size, texts = read_image_texts(data)
    assert (kind, size) == (fmt, (24, 16))
    parsed = parse_a1111(texts["parameters"])
    assert (parsed["prompt"], parsed["negative_prompt"], parsed["parameters"]["Seed"]) == ("a kite", "rain", 2**64 - 1)
    assert studio_record(texts) == RECORD
    assert "trainedAlgorithmicMedia" in texts["XML:com.adobe.xmp"]


@pytest.mark.parametrize("extension", [".flac", ".ogg", ".wav"])
def test_wav_becomes_flac_or_ogg_keeping_its_record(extension):
    wav = encode_audio(np.sin(np.arange(4000) / 7).astype("float32") * 0.4, 16000, format="wav", record=RECORD)
    decoded = read_audio(convert(wav, "audio/wav", extension))
    assert decoded.format == extension.lstrip(".") and decoded.record == RECORD and decoded.frames == 4000


def test_check_out_refuses_a_format_the_kind_cannot_write(tmp_path):
    with pytest.raises(StudioError, match="cannot write .mid"):
        check_out(tmp_path / "x.mid", "image")
    with pytest.raises(StudioError, match="an audio generator cannot write .png"):
        check_out(tmp_path / "x.png", "audio")
    assert check_out(tmp_path / "x.md", "text").extension == ".md"


def test_folders_and_relative_paths(tmp_path):
    target = check_out("sub/", "image", cwd=tmp_path)
    assert target.folder and target.paths_for(2, stem="patterns-7", default_extension=".png") == [
        tmp_path / "sub" / "patterns-7-1.png",
        tmp_path / "sub" / "patterns-7-2.png",
    ]
    plain = check_out("art", "image", cwd=tmp_path)
    assert plain.paths_for(1, stem="x", default_extension=".png") == [tmp_path / "art.png"]
