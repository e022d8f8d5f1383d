"""The studio.melody generator: modes, provenance, determinism, progress and cancel."""

from __future__ import annotations

import numpy as np
import pytest
from melody_fakes import FakeContext

from studio.core.errors import Cancelled, ParamError
from studio.core.melody import Melody, Note
from studio.core.midi import read_midi, read_midi_metadata, write_midi


def _prime(bars: int = 4) -> Melody:
    line = [62, 64, 65, 67, 69, 67, 65, 64]
    notes = []
    for bar in range(bars):
        for i, pitch in enumerate(line[:6]):
            notes.append(Note(pitch + (bar % 2) * 2, bar * 3 + i * 0.5, 0.5, 70 + i))
    return Melody(notes, tempo=100, time_signature=(3, 4), key="D", mode="minor", length=bars * 3)


def _notes(data: bytes) -> list[Note]:
    return read_midi(data).melody.notes


def test_same_seed_same_melody_different_seed_different(generate):
    first, _ = generate({"bars": 8}, seed=11)
    again, _ = generate({"bars": 8}, seed=11)
    other, _ = generate({"bars": 8}, seed=12)
    assert first[0].midi == again[0].midi
    assert _notes(first[0].midi) != _notes(other[0].midi)


def test_output_records_model_seed_temperature_and_settings(generate):
    outputs, _ = generate({"bars": 4, "key": "A", "scale": "dorian", "metre": "9/8", "temperature": 0.8}, seed=5)
    parameters = outputs[0].parameters
    assert parameters["model"] == "tiny random"
    assert parameters["seed"] == 5 and parameters["temperature"] == 0.8
    assert (parameters["key"], parameters["scale"], parameters["metre"]) == ("A", "dorian", "9/8")
    melody = read_midi(outputs[0].midi).melody
    assert melody.time_signature == (9, 8) and melody.bars == 4
    assert read_midi_metadata(outputs[0].midi)["output"]["scale"] == "dorian"


def test_progress_is_reported_per_bar(generate):
    _, ctx = generate({"bars": 6})
    assert [done for done, total, _ in ctx.events] == [1, 2, 3, 4, 5, 6]
    assert all(total == 6 for _, total, _ in ctx.events)


def test_cancel_stops_generation_between_bars(generate):
    ctx = FakeContext(0, cancel_after=3)
    with pytest.raises(Cancelled):
        generate({"bars": 32}, ctx=ctx)
    assert len(ctx.events) == 3


def test_continue_keeps_the_prime_bit_exact(generate):
    prime = _prime()
    ctx = FakeContext(3)
    prime_id = ctx.add_midi(write_midi(prime))
    outputs, _ = generate({"mode": "continue", "prime": prime_id, "bars": 4}, ctx=ctx)
    melody = read_midi(outputs[0].midi).melody
    assert melody.notes[: len(prime.notes)] == prime.notes
    assert all(n.start >= 12 for n in melody.notes[len(prime.notes) :])
    assert melody.bars == 8 and melody.tempo == 100 and melody.time_signature == (3, 4)
    parameters = outputs[0].parameters
    assert parameters["priming_notes"][0] == [62, 0.0, 0.5] and parameters["priming_notes_total"] == len(prime.notes)
    assert parameters["key"] == "D" and parameters["scale"] == "minor"


def test_vary_keeps_the_first_bars_and_changes_the_rest(generate):
    prime = _prime(6)
    ctx = FakeContext(4)
    prime_id = ctx.add_midi(write_midi(prime))
    outputs, _ = generate({"mode": "vary", "prime": prime_id, "keep_bars": 2, "variation": 1.0, "temperature": 1.5}, ctx=ctx)
    varied = read_midi(outputs[0].midi).melody
    kept = [n for n in prime.notes if n.start < 6]
    assert varied.notes[: len(kept)] == kept
    assert [n for n in varied.notes if n.start >= 6] != [n for n in prime.notes if n.start >= 6]
    assert varied.bars == 6


def test_vary_pitches_keeps_the_rhythm(generate):
    prime = _prime(4)
    ctx = FakeContext(4)
    prime_id = ctx.add_midi(write_midi(prime))
    outputs, _ = generate(
        {
            "mode": "vary",
            "prime": prime_id,
            "keep_bars": 0,
            "variation": 1.0,
            "vary_what": "pitches",
            "temperature": 1.5,
            "end_on_tonic": False,
        },
        ctx=ctx,
    )
    varied = read_midi(outputs[0].midi).melody
    assert [(n.start, n.duration) for n in varied.notes] == [(n.start, n.duration) for n in prime.notes]
    assert [n.pitch for n in varied.notes] != [n.pitch for n in prime.notes]


def test_interpolate_endpoints_reconstruct_their_inputs(generate):
    first, second = _prime(4), _prime(6).transposed(-2).copy(key="C", mode="minor")
    ctx = FakeContext(9)
    a, b = ctx.add_midi(write_midi(first)), ctx.add_midi(write_midi(second))
    outputs, _ = generate({"mode": "interpolate", "prime": a, "target": b, "count": 5}, ctx=ctx)
    assert len(outputs) == 5
    melodies = [read_midi(o.midi).melody for o in outputs]
    assert melodies[0].notes == first.notes
    assert melodies[-1].notes == second.notes
    assert [m.bars for m in melodies] == [4, 4, 5, 6, 6]
    assert [o.parameters["interpolation"] for o in outputs] == [0.0, 0.25, 0.5, 0.75, 1.0]
    middle = {(n.pitch, n.start) for n in melodies[2].notes}
    assert middle != {(n.pitch, n.start) for n in first.notes}
    assert middle != {(n.pitch, n.start) for n in second.notes}


def test_interpolate_refuses_different_metres(generate):
    ctx = FakeContext(1)
    a = ctx.add_midi(write_midi(_prime()))
    b = ctx.add_midi(write_midi(Melody([Note(60, 0, 1)], time_signature=(4, 4))))
    with pytest.raises(ParamError, match="same metre"):
        generate({"mode": "interpolate", "prime": a, "target": b}, ctx=ctx)


def test_continue_without_a_prime_says_what_is_missing(generate):
    with pytest.raises(ParamError, match="prime"):
        generate({"mode": "continue"})


def test_prime_reduced_from_chords_is_reported(generate):
    ctx = FakeContext(2)
    chordy = write_midi(Melody([Note(60, 0, 1), Note(64, 1, 1)], time_signature=(4, 4)))
    import io

    import mido

    midi = mido.MidiFile(file=io.BytesIO(chordy))
    midi.tracks[1].insert(3, mido.Message("note_on", note=55, velocity=60, time=0))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    prime_id = ctx.add_midi(buffer.getvalue())
    generate({"mode": "continue", "prime": prime_id, "bars": 1}, ctx=ctx)
    assert any("highest" in line for line in ctx.logs)


def test_unknown_model_names_the_available_ones(generate):
    with pytest.raises(ParamError, match="folk"):
        generate({}, model="no-such-model")


def test_numpy_inference_matches_the_torch_model(tiny_model_dir):

    from studio_melody import tokens as tk
    from studio_melody.decoding import LSTMStepper
    from studio_melody.inference import NumpyStepper, load_numpy_model
    from studio_melody.model import load_model

    sequence = tk.encode(_prime())
    torch_logits = LSTMStepper(load_model(tiny_model_dir)).feed(sequence)
    numpy_logits = NumpyStepper(load_numpy_model(tiny_model_dir)).feed(sequence)
    assert np.allclose(torch_logits, numpy_logits, atol=1e-4)


def test_synth_renders_without_clicks():
    from studio.core.synth import render

    melody = _prime(2)
    for voice in ("pluck", "sine"):
        audio = render(melody, sample_rate=22050, voice=voice)
        assert audio.dtype == np.float32
        assert np.max(np.abs(audio)) <= 0.8 + 1e-6
        assert abs(audio[0]) < 1e-3 and abs(audio[-1]) < 1e-3
        # no jumps: the biggest sample-to-sample step stays far below full scale
        assert np.max(np.abs(np.diff(audio))) < 0.25
        assert len(audio) >= 22050 * melody.length * 60 / melody.tempo
