"""The harmonizer: constraints hold, the melody stays the soprano, one track per voice.

A tiny harmony model is fitted here on a few hand-written four-part cadences in major and
minor (normalised to C, as the chorales are); the shipped model's figures are
measured by ``train_harmony`` and kept in the model card.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from melody_fakes import FakeContext
from studio_melody.chorales import Chorale
from studio_melody.harmonizer import chord_name
from studio_melody.harmony import (
    RANGES,
    Harmonizer,
    HarmonyConstraints,
    HarmonyModel,
    key_pitch_classes,
    parallel_between,
    voice_leading_stats,
)

from studio.core.errors import ParamError
from studio.core.melody import SCALES, Melody, Note
from studio.core.midi import read_midi_metadata, read_midi_parts, write_midi

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "plugins" / "melody"

# [S, A, T, B] per beat in C major / A minor (normalised to the tonic C / A->C below)
MAJOR_PHRASES = [
    [[72, 67, 64, 48], [72, 69, 65, 53], [71, 67, 62, 55], [72, 67, 64, 48]],
    [[76, 67, 60, 48], [77, 69, 60, 53], [74, 67, 59, 55], [72, 64, 55, 48]],
    [[67, 64, 60, 48], [69, 65, 60, 53], [67, 62, 59, 43], [67, 64, 60, 48]],
    [[64, 60, 55, 48], [65, 60, 57, 53], [62, 59, 55, 43], [60, 55, 52, 48]],
    [[72, 64, 55, 48], [74, 65, 57, 50], [71, 62, 55, 43], [72, 64, 55, 48]],
    [[79, 71, 62, 55], [77, 72, 65, 53], [76, 72, 67, 48], [74, 71, 67, 55], [72, 67, 64, 48]],
]
MINOR_PHRASES = [  # in C minor (a minor tune moved to C)
    [[72, 67, 63, 48], [72, 68, 65, 53], [71, 67, 62, 55], [72, 67, 63, 48]],
    [[75, 67, 60, 48], [74, 65, 59, 55], [72, 63, 55, 48], [71, 62, 55, 43], [72, 63, 55, 48]],
    [[67, 63, 60, 48], [68, 65, 60, 53], [67, 62, 59, 43], [67, 63, 60, 48]],
]


def _chorales() -> list[Chorale]:
    out = []
    for index, phrase in enumerate(MAJOR_PHRASES * 3):
        out.append(Chorale(f"M{index}", 0, "major", "4/4", phrase))
    for index, phrase in enumerate(MINOR_PHRASES * 3):
        out.append(Chorale(f"m{index}", 9, "minor", "4/4", phrase))
    return out


@pytest.fixture(scope="module")
def tiny_harmony() -> HarmonyModel:
    return HarmonyModel.fit(_chorales())


@pytest.fixture(scope="module")
def harmony_model_dir(tiny_model_dir, tiny_harmony, tmp_path_factory):
    folder = tmp_path_factory.mktemp("harmony") / "tiny-with-harmony"
    shutil.copytree(tiny_model_dir, folder)
    tiny_harmony.save(folder)
    return folder


def test_parallels_are_found_between_any_two_voices():
    assert parallel_between([72, 67, 64, 48], [74, 69, 65, 50]) >= 1  # S-B octaves C->D
    assert parallel_between([72, 67, 64, 48], [72, 69, 65, 53]) == 0  # soprano holds
    assert voice_leading_stats([[[72, 67, 64, 48], [74, 69, 65, 50]]])["parallels_per_100_beats"] > 0


def test_chord_names():
    assert chord_name([48, 64, 67, 72]) == "C"
    assert chord_name([52, 60, 67, 72]) == "C/E"
    assert chord_name([43, 59, 65, 74]) == "G7"
    assert chord_name([45, 60, 64, 69]) == "Am"


def test_decoding_keeps_every_constraint(tiny_harmony):
    c_major = key_pitch_classes(0, "major")
    constraints = HarmonyConstraints(c_major, 0, dict(RANGES), no_crossing=True, no_parallels=True)
    melodies = [[72, 72, 71, 72], [76, 77, 74, 72], [67, 69, 67, 67, 64, 65, 62, 60], [79, 77, 76, 74, 72]]
    for soprano in melodies:
        voicings = Harmonizer(tiny_harmony).harmonize(soprano, shift=0, mode="major", constraints=constraints)
        rows = [[s, s - v[0], s - v[1], s - v[2]] for s, v in zip(soprano, voicings)]
        for row in rows:
            assert row[0] >= row[1] >= row[2] >= row[3], row
            for voice, pitch in zip(("soprano", "alto", "tenor", "bass"), row):
                if voice != "soprano":
                    low, high = RANGES[voice]
                    assert low <= pitch <= high, (voice, pitch)
                    assert pitch % 12 in c_major
        assert all(parallel_between(a, b) == 0 for a, b in zip(rows, rows[1:])), rows
        assert rows[-1][3] % 12 == 0, "the last chord has the tonic in the bass"


def test_the_model_prefers_bach_like_voice_leading(tiny_harmony):
    held_out = [Chorale("x", 0, "major", "4/4", MAJOR_PHRASES[0])]
    baseline = HarmonyModel.fit(_chorales(), ("deg+next", "deg", "mode", "none"))
    assert tiny_harmony.nll(held_out)["nats_per_beat"] < baseline.nll(held_out)["nats_per_beat"]


def _melody() -> Melody:
    pitches = [67, 69, 71, 72, 74, 72, 71, 69, 67, 66, 67, 67]  # G major, ends on G
    return Melody([Note(p, i, 1) for i, p in enumerate(pitches)], tempo=90, time_signature=(4, 4), key="G")


@pytest.fixture
def generate_harmony(specs, harmony_model_dir):
    from studio_melody.harmonizer import HarmonyGenerator

    from studio.core.params import validate_params
    from studio.plugins.api import Request
    from studio.plugins.manifest import read_manifest

    manifest = read_manifest(PLUGIN_DIR, source="first-party")
    spec = next(g for g in manifest.generators if g.id == "studio.harmony").params

    def run(melody: Melody, seed: int = 0, **params):
        ctx = FakeContext(seed)
        prime = ctx.add_midi(write_midi(melody))
        values = validate_params(spec, {"prime": prime, "model": str(harmony_model_dir), **params})
        return HarmonyGenerator().generate(Request("studio.harmony", values, seed), ctx)[0], ctx

    return run


def test_chorale_style_gives_one_track_per_voice_with_the_melody_as_soprano(generate_harmony):
    melody = _melody()
    output, _ = generate_harmony(melody)
    parts = read_midi_parts(output.midi)
    assert [name for name, _ in parts] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert parts[0][1].notes == melody.notes
    beats = {n.start_ticks // 12 for n in melody.notes}
    sounding = {voice: {} for voice in ("Alto", "Tenor", "Bass")}
    for name, part in parts[1:]:
        for note in part.notes:
            for tick in range(note.start_ticks, note.end_ticks, 12):
                sounding[name][tick // 12] = note.pitch
    g_major = set((7 + s) % 12 for s in SCALES["major"])
    for beat in beats:
        soprano = next(n.pitch for n in melody.notes if n.start_ticks // 12 == beat)
        alto, tenor, bass = (sounding[v][beat] for v in ("Alto", "Tenor", "Bass"))
        assert soprano >= alto >= tenor >= bass
        assert {alto % 12, tenor % 12, bass % 12} <= g_major
    assert parts[3][1].notes[-1].pitch % 12 == 7, "ends with G in the bass"
    record = read_midi_metadata(output.midi)["output"]
    assert record["style"] == "chorale" and record["key"] == "G" and record["parts"][0] == "Soprano"
    assert record["chords"][0][1]


def test_chords_style_writes_symbols_and_an_accompaniment(generate_harmony):
    import io

    import mido

    output, _ = generate_harmony(_melody(), style="chords", chord_rhythm="half-bar")
    midi = mido.MidiFile(file=io.BytesIO(output.midi))
    markers = [m.text for m in midi.tracks[0] if m.type == "marker"]
    assert markers and all(markers)
    names = [name for name, _ in read_midi_parts(output.midi)]
    assert names == ["Melody", "Chords", "Bass"]
    chords = output.parameters["chords"]
    assert all(beat % 2 == 0 for beat, _ in chords), "a chord per half bar of 4/4"


def test_any_register_is_harmonized_under_the_melody(generate_harmony):
    low = _melody().transposed(-24).copy(key="G")
    output, _ = generate_harmony(low)
    parts = read_midi_parts(output.midi)
    assert parts[0][1].notes == low.notes
    assert max(n.pitch for n in parts[1][1].notes) <= max(n.pitch for n in low.notes)
    assert output.parameters["octave_shift"] == -24


def test_a_melody_without_notes_is_refused_clearly(generate_harmony):
    with pytest.raises(ParamError, match="no notes"):
        generate_harmony(Melody([], length=4))


def test_the_vectorised_parallel_check_agrees_with_the_plain_one():
    import itertools

    from studio_melody.harmony import parallel_mask

    voicings = [(a, t, b) for a, t, b in itertools.product((3, 5, 8, 12), (8, 12, 15, 19), (12, 17, 24, 28))]
    mask = parallel_mask(72, voicings, 74, voicings)
    for i, before in enumerate(voicings):
        for j, after in enumerate(voicings):
            plain = parallel_between([72] + [72 - x for x in before], [74] + [74 - x for x in after]) > 0
            assert mask[i, j] == plain


@pytest.mark.parametrize("style", ["chorale", "chords"])
def test_a_melody_that_opens_with_a_pickup_is_harmonized_from_its_first_note(generate_harmony, style):
    """New tunes may open with a pickup (a rest, then the upbeat): the accompaniment waits
    for the melody instead of playing chords under its silence."""
    pitches = [62, 67, 69, 71, 72, 74, 72, 71, 69, 67, 66, 67]  # D upbeat on beat 4, then G major
    melody = Melody([Note(p, 3 + i, 1) for i, p in enumerate(pitches)], tempo=90, time_signature=(4, 4), key="G", length=16)
    output, _ = generate_harmony(melody, style=style)
    parts = read_midi_parts(output.midi)
    for name, part in parts[1:]:
        assert part.notes and min(n.start for n in part.notes) >= 3.0, name
    assert all(beat >= 3.0 for beat, _ in output.parameters["chords"])
