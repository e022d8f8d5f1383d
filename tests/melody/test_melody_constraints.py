"""Constraints are guarantees: scale, full bars and range hold for every seed.

These run a tiny model with *random* weights at a high temperature, which proposes
anything; only the decoder's masks keep the output valid.
"""

from __future__ import annotations

import numpy as np
import pytest
from studio_melody import tokens as tk
from studio_melody.decoding import BarPlan, Constraints, Decoder
from studio_melody.inference import NumpyStepper, load_numpy_model

from studio.core.melody import SCALES, bar_ticks, pitch_class
from studio.core.midi import read_midi

SEEDS = range(40)


def _bars_of(body: list[int]) -> list[list[int]]:
    bars, current = [], []
    for token in body:
        current.append(token)
        if token == tk.BAR:
            bars.append(current)
            current = []
    assert current == [], "the body ends with a bar line"
    return bars


@pytest.mark.parametrize("meter", tk.METERS)
def test_every_bar_is_exactly_full_in_every_metre(tiny_model_dir, meter):
    model = load_numpy_model(tiny_model_dir)
    numerator, denominator = (int(x) for x in meter.split("/"))
    size = bar_ticks((numerator, denominator))
    for seed in range(12):
        constraints = Constraints(
            scale=frozenset(SCALES["major"]), low=55, high=84, temperature=1.6, top_p=1.0, durations=model.config.durations, passing=0.5
        )
        decoder = Decoder(NumpyStepper(model), constraints, np.random.default_rng(seed), size)
        decoder.start(tk.header(meter, "major"))
        body = decoder.run([BarPlan("sample") for _ in range(6)])
        bars = _bars_of(body)
        assert len(bars) == 6
        for bar in bars:
            assert sum(tk.token_duration(t) for t in bar if tk.is_duration(t)) == size


@pytest.mark.parametrize("scale", ["major", "minor", "dorian", "mixolydian", "pentatonic major", "pentatonic minor"])
def test_scale_and_range_hold_over_many_seeds(generate, scale):
    key = "Eb"
    allowed = {(pitch_class(key) + step) % 12 for step in SCALES[scale]}
    for seed in SEEDS:
        outputs, _ = generate(
            {
                "bars": 4,
                "key": key,
                "scale": scale,
                "metre": "6/8",
                "temperature": 1.8,
                "top_p": 1.0,
                "passing_notes": 0.0,
                "lowest": 60,
                "highest": 79,
            },
            seed=seed,
        )
        melody = read_midi(outputs[0].midi).melody
        assert melody.notes
        assert all(n.pitch % 12 in allowed for n in melody.notes), (seed, [n.pitch for n in melody.notes])
        assert all(60 <= n.pitch <= 79 for n in melody.notes)
        assert round(melody.length * 12) <= 4 * melody.bar_ticks
        assert all(n.end_ticks <= 4 * melody.bar_ticks for n in melody.notes)


def test_passing_notes_step_in_and_out_and_stay_short(generate):
    allowed = set(SCALES["major"])
    chromatic_seen = 0
    for seed in SEEDS:
        outputs, _ = generate(
            {
                "bars": 6,
                "key": "C",
                "scale": "major",
                "metre": "4/4",
                "temperature": 1.8,
                "top_p": 1.0,
                "passing_notes": 1.0,
                "lowest": 48,
                "highest": 84,
            },
            seed=seed,
        )
        melody = read_midi(outputs[0].midi).melody
        notes = melody.notes
        last_bar_start = 5 * melody.bar_ticks
        for index, note in enumerate(notes):
            if note.pitch % 12 in allowed:
                continue
            chromatic_seen += 1
            assert 0 < index < len(notes) - 1, "a passing note is never first or last"
            before, after = notes[index - 1], notes[index + 1]
            assert before.end_ticks == note.start_ticks and note.end_ticks == after.start_ticks
            assert before.pitch % 12 in allowed and after.pitch % 12 in allowed
            assert 1 <= abs(note.pitch - before.pitch) <= 2 and 1 <= abs(after.pitch - note.pitch) <= 2
            assert note.duration <= 1.0
            assert note.start_ticks < last_bar_start
    assert chromatic_seen > 0, "with passing notes at 1.0 a random model should use some"


def test_a_range_too_narrow_for_the_scale_is_refused(generate):
    from studio.core.errors import ParamError

    with pytest.raises(ParamError, match="range"):
        generate({"scale": "pentatonic minor", "lowest": 61, "highest": 62})


@pytest.mark.parametrize("what", ["everything", "pitches"])
def test_passing_notes_in_variations_resolve_before_kept_bars(generate, what):
    from melody_fakes import FakeContext

    from studio.core.melody import Melody, Note
    from studio.core.midi import write_midi

    scale = set(SCALES["major"])
    line = [60, 62, 64, 65, 67, 69, 71, 72]
    prime = Melody([Note(line[(i * 3) % 8], i * 0.5, 0.5) for i in range(48)], time_signature=(4, 4), key="C")
    for seed in range(15):
        ctx = FakeContext(seed)
        prime_id = ctx.add_midi(write_midi(prime))
        outputs, _ = generate(
            {
                "mode": "vary",
                "prime": prime_id,
                "keep_bars": 0,
                "variation": 0.5,
                "vary_what": what,
                "passing_notes": 1.0,
                "temperature": 1.8,
                "top_p": 1.0,
                "lowest": 48,
                "highest": 84,
            },
            ctx=ctx,
        )
        notes = read_midi(outputs[0].midi).melody.notes
        for index, note in enumerate(notes):
            if note.pitch % 12 in scale:
                continue
            after = notes[index + 1]
            assert after.pitch % 12 in scale and 1 <= abs(after.pitch - note.pitch) <= 2
            assert after.start_ticks == note.end_ticks


@pytest.mark.parametrize("meter", ["4/4", "6/8", "3/4"])
def test_tunes_end_on_the_tonic_when_asked(generate, meter):
    for seed in range(20):
        outputs, _ = generate(
            {"bars": 3, "key": "F", "scale": "mixolydian", "metre": meter, "temperature": 1.8, "top_p": 1.0, "passing_notes": 1.0},
            seed=seed,
        )
        melody = read_midi(outputs[0].midi).melody
        last = melody.notes[-1]
        assert last.pitch % 12 == 5, (seed, last)
        assert last.end_ticks == 3 * melody.bar_ticks, "the closing tonic lasts to the end of the tune"
        assert last.duration_ticks >= (18 if meter == "6/8" else 12), "and at least a beat"


@pytest.mark.parametrize("form", ["AABB", "AABA", "ABAB"])
def test_forms_repeat_their_phrases_and_keep_every_guarantee(generate, form):

    allowed = set(SCALES["dorian"])
    for seed in range(10):
        outputs, _ = generate(
            {
                "bars": 8,
                "form": form,
                "key": "C",
                "scale": "dorian",
                "metre": "4/4",
                "temperature": 1.8,
                "top_p": 1.0,
                "passing_notes": 1.0,
                "lowest": 48,
                "highest": 84,
            },
            seed=seed,
        )
        melody = read_midi(outputs[0].midi).melody
        size = melody.bar_ticks
        # (pitch, onset, duration within the bar): a note tied over the bar line may differ after it
        bars = [
            [(n.pitch, n.start_ticks % size, min(n.duration_ticks, size - n.start_ticks % size)) for n in melody.notes_in_bar(b)]
            for b in range(8)
        ]
        first_a = 0
        repeat_a = 2 * form.index("A", 1)
        assert bars[repeat_a] == bars[first_a], "the repeated A phrase starts like the first"
        assert melody.notes[-1].pitch % 12 == 0
        for index, note in enumerate(melody.notes):
            if note.pitch % 12 not in allowed:
                after = melody.notes[index + 1]
                assert after.pitch % 12 in allowed and 1 <= abs(after.pitch - note.pitch) <= 2
                assert after.start_ticks == note.end_ticks


def test_auto_form_repeats_bars_as_a_learnt_pattern_says(generate, monkeypatch):
    from studio_melody import plugin

    pattern = [-1, -1, -1, -1, 0, 1, 2, -1, -1, -1, -1, -1, 8, 9, 10, -1]  # AABB-like, 4-bar phrases
    monkeypatch.setattr(plugin, "load_patterns", lambda folder: [(pattern, 1)])
    outputs, _ = generate({"bars": 16, "form": "auto", "temperature": 1.5, "top_p": 1.0}, seed=3)
    parameters = outputs[0].parameters
    assert parameters["form"] == "learnt" and parameters["form_asked"] == "auto"
    melody = read_midi(outputs[0].midi).melody
    size = melody.bar_ticks
    bar = lambda b: [
        (n.pitch, n.start_ticks % size, min(n.duration_ticks, size - n.start_ticks % size))  # noqa: E731
        for n in melody.notes_in_bar(b)
    ]
    for index, source in enumerate(pattern[:-1]):
        if source >= 0:
            assert bar(index) == bar(source), (index, source)
    assert melody.notes[-1].pitch % 12 == 0, "the written last bar still closes on the tonic"
    monkeypatch.setattr(plugin, "load_patterns", lambda folder: [])
    outputs, _ = generate({"bars": 16, "form": "auto"}, seed=3)
    assert outputs[0].parameters["form"] == "free", "without patterns, auto is free"


def test_copy_patterns_point_at_the_first_equal_bar():
    from studio_melody.forms import copy_pattern, pick_pattern

    a, b, c = ([tk.pitch_token(60 + i), tk.duration_token(48), tk.BAR] for i in range(3))
    rest = [tk.REST, tk.duration_token(48), tk.BAR]
    assert copy_pattern([a, b, a, rest, rest, c, b, a]) == [-1, -1, 0, -1, -1, -1, 1, 0]
    chosen = pick_pattern(8, np.random.default_rng(0), [([-1, -1, 0, 1, -1, -1, 0, 1], 3)])
    assert chosen == [-1, -1, 0, 1, -1, -1, 0, -1], "the last bar is always written"


def test_forms_are_read_from_phrase_repeats():
    from studio_melody.forms import form_of

    a, b, c, d, e = ([tk.pitch_token(60 + i), tk.duration_token(48), tk.BAR] for i in range(5))
    assert form_of([a, b, a, c, d, e, d, b]) == "AABB"
    assert form_of([a, b, a, c, d, e, a, b]) == "AABA"
    assert form_of([a, b, c, d, a, b, c, e]) == "ABAB"
    assert form_of([a, b, c, d, e, b, a, d]) == "free"
