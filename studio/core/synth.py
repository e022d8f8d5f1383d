"""A small built-in synthesizer: a melody as float32 audio, numpy only.

The window plays melodies through this, so it must stay light (no torch). Two voices:

- ``pluck``: a plucked-string tone, a few harmonics whose upper partials die away
  faster than the fundamental, like a harp or a nylon string;
- ``sine``: a soft flute-like sine with a touch of second harmonic and an ADSR envelope.

Every note starts with a short raised-cosine attack and ends with a raised-cosine release
after its written end, so nothing starts or stops with a jump (no clicks), and the mix is
scaled so it never clips.
"""

from __future__ import annotations

import io

import numpy as np

from studio.core.melody import Melody

SAMPLE_RATE = 44100
VOICES = ("pluck", "sine")


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def _ramp(length: int) -> np.ndarray:
    """Raised-cosine rise from 0 to 1 over ``length`` samples."""
    if length <= 0:
        return np.ones(0, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(np.pi * (np.arange(length) + 0.5) / length)


def note_samples(
    pitch: int, seconds: float, velocity: int = 80, *, sample_rate: int = SAMPLE_RATE, voice: str = "pluck", release: float = 0.12
) -> np.ndarray:
    """One note, including its release tail, as float64 samples starting and ending at 0."""
    if voice not in VOICES:
        raise ValueError(f"voice {voice!r} is not one of {', '.join(VOICES)}")
    held = max(1, int(round(seconds * sample_rate)))
    tail = max(1, int(round(release * sample_rate)))
    total = held + tail
    t = np.arange(total) / sample_rate
    frequency = midi_to_hz(pitch)
    amplitude = (max(1, min(127, velocity)) / 127.0) ** 1.6
    wave = np.zeros(total)
    if voice == "pluck":
        for harmonic in range(1, 7):
            partial = harmonic * frequency
            if partial >= sample_rate / 2.2:
                break
            decay = 1.2 + 0.9 * harmonic * (1 + frequency / 880.0)
            wave += (0.9**harmonic / harmonic) * np.exp(-decay * t) * np.sin(2 * np.pi * partial * t)
    else:
        vibrato = 1 + 0.003 * np.sin(2 * np.pi * 5.0 * t) * _ramp(total)
        phase = 2 * np.pi * frequency * np.cumsum(vibrato) / sample_rate
        wave = np.sin(phase) + 0.12 * np.sin(2 * phase)
        sustain = 0.8 + 0.2 * np.exp(-6.0 * t)
        wave *= sustain
    envelope = np.ones(total)
    attack = min(int(0.006 * sample_rate), held)
    envelope[:attack] = _ramp(attack)
    envelope[held:] = _ramp(tail)[::-1]
    return amplitude * wave * envelope


def render(
    melody: Melody, *, sample_rate: int = SAMPLE_RATE, voice: str = "pluck", gain: float = 0.8, tail_seconds: float = 0.5
) -> np.ndarray:
    """The melody as mono float32 samples in [-gain, gain]."""
    seconds_per_beat = 60.0 / max(1.0, float(melody.tempo))
    length_seconds = melody.length * seconds_per_beat + tail_seconds
    out = np.zeros(int(np.ceil(length_seconds * sample_rate)) + 1, dtype=np.float64)
    for note in melody.notes:
        samples = note_samples(note.pitch, note.duration * seconds_per_beat, note.velocity, sample_rate=sample_rate, voice=voice)
        start = int(round(note.start * seconds_per_beat * sample_rate))
        end = min(len(out), start + len(samples))
        if end > start:
            out[start:end] += samples[: end - start]
    peak = float(np.max(np.abs(out))) if len(out) else 0.0
    if peak > 0:
        out *= gain / max(peak, 1.0)
    # fade the very end so a tail cut by the buffer never clicks
    fade = min(len(out), int(0.01 * sample_rate))
    if fade:
        out[-fade:] *= _ramp(fade)[::-1]
    return out.astype(np.float32)


def render_wav(melody: Melody, *, sample_rate: int = SAMPLE_RATE, voice: str = "pluck", fmt: str = "WAV") -> bytes:
    """The rendered melody as WAV (or FLAC) file bytes, written with soundfile."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, render(melody, sample_rate=sample_rate, voice=voice), sample_rate, format=fmt)
    return buffer.getvalue()


__all__ = ["SAMPLE_RATE", "VOICES", "midi_to_hz", "note_samples", "render", "render_wav"]
