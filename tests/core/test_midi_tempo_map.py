"""MIDI primes keep their timing (issue 12, item 7): tempo and metre maps are read, kept
through continue and vary, and written back; new bars follow the last tempo and metre."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import mido
import pytest

from studio.core.melody import Melody, Note
from studio.core.midi import read_midi, write_midi

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "plugins" / "melody"


def _accelerating_prime() -> Melody:
    """4 bars of 4/4 quarter notes: 40 bpm for the first bar, then 240 bpm (like a rubato
    intro before the tune): 6 s + 3 s."""
    notes = [Note(60 + (i % 5), i, 1) for i in range(16)]
    return Melody(notes, tempo=40, time_signature=(4, 4), key="C", mode="major", length=16, tempo_changes=[(4.0, 240.0)])


def _seconds(data: bytes) -> float:
    return mido.MidiFile(file=io.BytesIO(data)).length


def test_tempo_and_metre_maps_survive_a_write_and_read():
    melody = Melody(
        [Note(60, 0, 1), Note(62, 4, 1), Note(64, 7, 2)],
        tempo=90,
        time_signature=(4, 4),
        length=10,
        tempo_changes=[(2.5, 120.0), (7.0, 60.0)],
        meter_changes=[(4.0, (3, 4))],
    )
    data = write_midi(melody)
    back = read_midi(data)
    assert back.melody.tempo == 90
    assert back.melody.tempo_changes == [(2.5, 120.0), (7.0, 60.0)]
    assert back.melody.meter_changes == [(4.0, (3, 4))]
    assert back.tempo_changes == 2
    assert not any("kept" in m and "tempo" in m for m in back.messages), "no tempo is thrown away any more"
    assert _seconds(data) == pytest.approx(melody.seconds, abs=1e-3)
    assert melody.seconds == pytest.approx(2.5 * 60 / 90 + 4.5 * 60 / 120 + 3 * 60 / 60)


def test_seconds_follow_the_tempo_map():
    prime = _accelerating_prime()
    assert prime.seconds == pytest.approx(9.0)
    assert prime.tempo_at(3.9) == 40 and prime.tempo_at(4.0) == 240


@pytest.fixture
def generate_melody(tmp_path_factory):
    if str(PLUGIN_DIR) not in sys.path:
        sys.path.insert(0, str(PLUGIN_DIR))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "melody"))
    import torch
    from melody_fakes import FakeContext
    from studio_melody.model import MelodyLSTM, ModelConfig, save_model
    from studio_melody.plugin import MelodyGenerator

    from studio.core.params import validate_params
    from studio.plugins.api import Request
    from studio.plugins.manifest import read_manifest

    torch.manual_seed(7)
    folder = tmp_path_factory.mktemp("tempo-map") / "tiny"
    save_model(folder, MelodyLSTM(ModelConfig(embed=8, pos_embed=4, hidden=16, layers=1, dropout=0.0)))
    specs = read_manifest(PLUGIN_DIR, source="first-party").generators[0].params

    def run(prime: Melody, **params):
        ctx = FakeContext(0)
        prime_id = ctx.add_midi(write_midi(prime))
        values = validate_params(specs, {"prime": prime_id, "model": str(folder), **params})
        return MelodyGenerator().generate(Request("studio.melody", values, 0), ctx)[0], ctx

    return run


def test_continue_keeps_the_tempo_map_and_new_bars_follow_the_last_tempo(generate_melody):
    prime = _accelerating_prime()
    output, _ = generate_melody(prime, mode="continue", bars=2)
    melody = read_midi(output.midi).melody
    assert melody.notes[: len(prime.notes)] == prime.notes
    assert melody.tempo == 40 and melody.tempo_changes == [(4.0, 240.0)]
    # 9 s of prime, then 2 bars of 4/4 at 240 bpm: 2 s (the first tempo would make it 36 s)
    assert _seconds(output.midi) == pytest.approx(11.0, abs=1e-3)


def test_vary_keeps_the_tempo_map(generate_melody):
    prime = _accelerating_prime()
    output, _ = generate_melody(prime, mode="vary", keep_bars=1, variation=1.0)
    assert _seconds(output.midi) == pytest.approx(9.0, abs=1e-3)
    assert read_midi(output.midi).melody.tempo_changes == [(4.0, 240.0)]


def test_an_asked_tempo_replaces_the_map_and_says_so(generate_melody):
    output, ctx = generate_melody(_accelerating_prime(), mode="continue", bars=1, tempo=120)
    melody = read_midi(output.midi).melody
    assert melody.tempo == 120 and melody.tempo_changes == []
    assert any("tempo changes" in line for line in ctx.logs)


def test_continue_after_a_metre_change_writes_on_in_the_last_metre(generate_melody):
    # 2 bars of 4/4, then 2 bars of 3/4
    notes = [Note(60 + i % 3, i, 1) for i in range(8)] + [Note(64, 8 + i, 1) for i in range(6)]
    prime = Melody(notes, tempo=100, time_signature=(4, 4), key="C", length=14, meter_changes=[(8.0, (3, 4))])
    output, _ = generate_melody(prime, mode="continue", bars=2)
    melody = read_midi(output.midi).melody
    assert melody.time_signature == (4, 4) and melody.meter_changes == [(8.0, (3, 4))]
    assert melody.notes[: len(notes)] == prime.notes
    new = melody.notes[len(notes) :]
    assert new and all(n.start >= 14 for n in new)
    assert melody.length == pytest.approx(14 + 2 * 3), "two more bars of 3/4"
    assert output.parameters["metre"] == "3/4"


def test_the_timeline_takes_only_the_new_bars_after_a_metre_change(generate_melody):
    pytest.importorskip("PySide6")
    from studio.ui.placement import new_bars_only

    notes = [Note(60 + i % 3, i, 1) for i in range(8)] + [Note(64, 8 + i, 1) for i in range(6)]
    prime = Melody(notes, tempo=100, time_signature=(4, 4), key="C", length=14, meter_changes=[(8.0, (3, 4))])
    output, _ = generate_melody(prime, mode="continue", bars=2)
    melody = read_midi(output.midi).melody
    new = new_bars_only(melody, output.parameters)
    assert new.length == pytest.approx(6.0)
    assert [n.pitch for n in new.notes] == [n.pitch for n in melody.notes[len(notes) :]]


def _three_four_then_four_four() -> Melody:
    """2 bars of 3/4 (beats 0-6), then 2 bars of 4/4 (beats 6-14), quarter notes."""
    notes = [Note(60 + i % 3, i, 1) for i in range(6)] + [Note(65 + i % 2, 6 + i, 1) for i in range(8)]
    return Melody(notes, tempo=100, time_signature=(3, 4), key="C", length=14, meter_changes=[(6.0, (4, 4))])


def test_vary_keeps_whole_bars_of_each_metre(generate_melody):
    prime = _three_four_then_four_four()
    output, _ = generate_melody(prime, mode="vary", keep_bars=3, variation=1.0, vary_what="everything")
    melody = read_midi(output.midi).melody
    assert melody.time_signature == (3, 4) and melody.meter_changes == [(6.0, (4, 4))]
    assert melody.length == pytest.approx(14.0), "2 bars of 3/4 and 2 of 4/4, not 3/4 bars all through"
    # keep_bars=3: both 3/4 bars and the first 4/4 bar (beats 6-10) are the prime's, note for note
    assert [n for n in melody.notes if n.start < 10] == [n for n in prime.notes if n.start < 10]
    # the varied bar is a whole 4/4 bar: its notes start and end inside beats 10-14
    varied = [n for n in melody.notes if n.start >= 10]
    assert varied and all(n.start + n.duration <= 14 + 1e-9 for n in varied)


def test_vary_pitches_keeps_each_metres_rhythm(generate_melody):
    prime = _three_four_then_four_four()
    output, _ = generate_melody(prime, mode="vary", keep_bars=1, variation=1.0, vary_what="pitches", end_on_tonic=False)
    melody = read_midi(output.midi).melody
    assert [(n.start, n.duration) for n in melody.notes] == [(n.start, n.duration) for n in prime.notes]
