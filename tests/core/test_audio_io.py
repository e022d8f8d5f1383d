"""WAV/FLAC with the generation record in the comment field."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from studio.core.audio_io import encode_audio, read_audio, read_audio_info, wav_comment, write_audio
from studio.core.errors import FileFormatError

RATE = 32000
RECORD = {
    "plugin": "studio.musicgen",
    "generator": "studio.musicgen",
    "version": "1.0.0",
    # Longer than the ~2 KB of INFO text libsndfile reads back: must still come back whole.
    "params": {"prompt": "lo-fi piano with rain, " * 150, "duration": 0.25},
    "seed": 11,
    "device": "cpu",
    "note": "ünïcode ✓",
}
PCM16_STEP = 1.0 / 32768


def _stereo(frames: int = RATE // 4) -> np.ndarray:
    t = np.arange(frames) / RATE
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 660 * t)], axis=1).astype(np.float32)


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_samples_and_record_round_trip(fmt):
    samples = _stereo()
    decoded = read_audio(encode_audio(samples, RATE, format=fmt, record=RECORD))

    assert decoded.format == fmt
    assert decoded.sample_rate == RATE
    assert decoded.channels == 2
    assert decoded.samples.dtype == np.float32
    assert decoded.samples.shape == samples.shape
    assert np.max(np.abs(decoded.samples - samples)) <= PCM16_STEP
    assert decoded.record == RECORD
    assert decoded.duration == pytest.approx(0.25)


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_same_inputs_give_identical_bytes(fmt):
    assert encode_audio(_stereo(), RATE, format=fmt, record=RECORD) == encode_audio(_stereo(), RATE, format=fmt, record=RECORD)


def test_wav_record_lives_in_the_info_icmt_chunk():
    data = encode_audio(_stereo(), RATE, format="wav", record={"seed": 1})
    assert b"LIST" in data and b"INFO" in data and b"ICMT" in data
    assert wav_comment(data) == '{"seed":1}'


def test_flac_record_is_the_vorbis_comment_other_tools_show():
    data = encode_audio(_stereo(), RATE, format="flac", record={"seed": 1})
    with soundfile.SoundFile(io.BytesIO(data)) as handle:
        assert handle.comment == '{"seed":1}'


def test_mono_stays_one_dimensional_and_format_follows_the_extension(tmp_path):
    mono = _stereo()[:, 0].copy()
    path = write_audio(tmp_path / "take.flac", mono, RATE, record={"seed": 2})
    assert path.read_bytes()[:4] == b"fLaC"
    decoded = read_audio(path)
    assert decoded.samples.shape == (len(mono),)
    assert decoded.channels == 1
    assert decoded.record == {"seed": 2}


def test_info_without_decoding(tmp_path):
    path = write_audio(tmp_path / "take.wav", _stereo(RATE), RATE, record=RECORD)
    info = read_audio_info(path)
    assert info["format"] == "wav"
    assert info["sample_rate"] == RATE
    assert info["channels"] == 2
    assert info["frames"] == RATE
    assert info["duration"] == pytest.approx(1.0)
    assert info["studio"] == RECORD


def test_out_of_range_samples_clip_instead_of_wrapping():
    loud = np.array([1.5, -1.5, 0.5], dtype=np.float32)
    decoded = read_audio(encode_audio(loud, RATE))
    assert decoded.samples[0] > 0.99 and decoded.samples[1] < -0.99


def test_file_without_our_record_reads_with_none():
    buffer = io.BytesIO()
    soundfile.write(buffer, _stereo(), RATE, format="WAV")
    decoded = read_audio(buffer.getvalue())
    assert decoded.record is None and decoded.comment == ""


def test_foreign_comment_is_not_mistaken_for_a_record():
    buffer = io.BytesIO()
    with soundfile.SoundFile(buffer, "w", samplerate=RATE, channels=1, format="FLAC") as handle:
        handle.comment = "recorded in the kitchen"
        handle.write(np.zeros(100, dtype=np.float32))
    decoded = read_audio(buffer.getvalue())
    assert decoded.record is None and decoded.comment == "recorded in the kitchen"


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_truncated_file_is_a_file_format_error(tmp_path, fmt):
    data = encode_audio(_stereo(), RATE, format=fmt, record=RECORD)
    path = tmp_path / f"cut.{fmt}"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(FileFormatError, match=r"cut\."):
        read_audio(path)


def test_garbage_and_missing_files_are_file_format_errors(tmp_path):
    (tmp_path / "noise.wav").write_bytes(b"definitely not audio" * 10)
    with pytest.raises(FileFormatError, match="noise.wav"):
        read_audio(tmp_path / "noise.wav")
    with pytest.raises(FileFormatError, match="no such file"):
        read_audio_info(tmp_path / "missing.flac")


@pytest.mark.parametrize(
    "samples, rate, fmt, message",
    [
        (np.zeros((0,), np.float32), RATE, "wav", "non-empty"),
        (np.zeros((4, 2, 2), np.float32), RATE, "wav", "non-empty"),
        (np.zeros(4, np.int16), RATE, "wav", "floating point"),
        (np.array([0.0, np.nan], np.float32), RATE, "wav", "NaN"),
        (np.zeros(4, np.float32), 0, "wav", "sample rate"),
        (np.zeros(4, np.float32), RATE, "mp3", "not supported"),
    ],
)
def test_bad_inputs_are_refused_with_the_reason(samples, rate, fmt, message):
    with pytest.raises(ValueError, match=message):
        encode_audio(samples, rate, format=fmt)
