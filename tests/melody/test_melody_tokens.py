"""The token scheme: real corpus tunes survive encode -> decode exactly."""

from __future__ import annotations

import pytest
from studio_melody import data
from studio_melody import tokens as tk

from studio.core.melody import Melody, Note, ticks
from studio.core.midi import read_midi, write_midi


def _signature(melody: Melody) -> list[tuple[int, int, int]]:
    return [(n.pitch, n.start_ticks, n.duration_ticks) for n in melody.notes]


@pytest.fixture(scope="module")
def corpus_melodies() -> list[Melody]:
    import music21

    files = sorted((data.corpus_root() / "ryansMammoth").glob("*.abc"))[:40:4]
    files += [data.corpus_root() / "miscFolk" / "northumbrianminstrelsyopus.abc"]
    melodies = []
    for path in files:
        parsed = music21.converter.parse(str(path), forceSource=True)
        scores = list(parsed.scores)[:3] if hasattr(parsed, "scores") and len(parsed.scores) else [parsed]
        for score in scores:
            try:
                melodies.append(data.score_to_melody(score)[0])
            except data.RejectTune:
                continue
    assert len(melodies) >= 8
    return melodies


def test_corpus_tunes_round_trip_through_tokens_exactly(corpus_melodies):
    for melody in corpus_melodies:
        decoded = tk.decode(tk.encode(melody), key=melody.key)
        assert _signature(decoded) == _signature(melody)
        assert ticks(decoded.length) == ticks(melody.length)
        assert decoded.meter == melody.meter and decoded.mode == melody.mode


def test_corpus_tunes_round_trip_through_midi_exactly(corpus_melodies):
    for melody in corpus_melodies:
        back = read_midi(write_midi(melody)).melody
        assert _signature(back) == _signature(melody)


def test_tokens_are_normalised_to_the_tonic():
    in_g = Melody([Note(67, 0, 1), Note(71, 1, 1), Note(74, 2, 2)], key="G", mode="major")
    in_c = in_g.transposed(5)  # G moves up a fourth to C (the nearer way)
    assert tk.encode(in_g)[tk.HEADER :] == tk.encode(in_c)[tk.HEADER :]


def test_a_note_over_the_bar_line_is_tied_and_comes_back_whole():
    melody = Melody([Note(60, 0, 3), Note(64, 3, 2), Note(62, 5, 3)], time_signature=(4, 4), length=8)
    encoded = tk.encode(melody)
    assert tk.TIE in encoded
    assert _signature(tk.decode(encoded)) == _signature(melody)


def test_triplets_and_sixteenths_are_exact_on_the_grid():
    third = 1 / 3
    melody = Melody(
        [Note(60, 0, third), Note(62, third, third), Note(64, 2 * third, third), Note(65, 1, 0.25), Note(67, 1.25, 0.75)],
        time_signature=(2, 4),
    )
    assert _signature(tk.decode(tk.encode(melody))) == _signature(melody)
    assert [tk.token_name(t) for t in tk.encode(melody)[tk.HEADER : tk.HEADER + 2]] == ["P60", "D4"]


def test_bar_positions_follow_the_metre():
    melody = Melody([Note(60, 0, 1.5), Note(62, 1.5, 1.5)], time_signature=(6, 8))
    encoded = tk.encode(melody)
    positions = tk.bar_positions(encoded)
    # after P60 D18 the bar is half full; after the second note it is full (36 ticks)
    assert positions[tk.HEADER + 1] == 18
    assert positions[tk.HEADER + 3] == 36
    assert positions[encoded.index(tk.BAR)] == 0
