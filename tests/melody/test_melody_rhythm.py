"""New tunes keep the rhythm of the tunes the model learnt from (issue 14, item 6).

72 % of the corpus tunes open with a pickup: a rest, then the upbeat, in the first bar.
Forbidding that rest steered the model towards the rarer tunes that start on the downbeat
and skewed the whole rhythm (more quarter notes, fewer sixteenths; the duration distance
to the test tunes was 0.070 on validation tunes against 0.036 with the pickup allowed;
model card). These tests pin both halves of the fix: the pickup is allowed, and a form
never repeats the pickup's silence in the middle of a tune.
"""

from __future__ import annotations

import numpy as np
from studio_melody import tokens as tk
from studio_melody.decoding import BarPlan, Constraints, Decoder

from studio.core.melody import SCALES
from studio.core.midi import read_midi


def test_new_tunes_may_open_with_a_pickup_as_most_folk_tunes_do(generate):
    """The shipped model, plugin defaults: pickups in a good share of new tunes (the corpus
    has 72 %; 16, 13 and 22 of 24 on three seed sets; the old rule allowed none), and the
    first note always inside the first bar (no silent bar)."""
    from studio_melody.plugin import shipped_model_dir

    openings = []
    for seed in range(24):
        outputs, _ = generate({"bars": 4, "key": "G", "scale": "major"}, seed=seed, model=shipped_model_dir())
        melody = read_midi(outputs[0].midi).melody
        first = min(n.start for n in melody.notes)
        assert first < 4, (seed, first)  # 4/4: a note in bar 1
        openings.append(first > 0)
    assert np.mean(openings) >= 0.4, openings


def test_pickup_off_puts_the_first_note_on_the_downbeat(generate):
    """For a loop in a DAW: with ``pickup`` off every new tune starts on beat one."""
    from studio_melody.plugin import shipped_model_dir

    for seed in range(8):
        outputs, _ = generate({"bars": 4, "key": "G", "scale": "major", "pickup": False}, seed=seed, model=shipped_model_dir())
        assert min(n.start for n in read_midi(outputs[0].midi).melody.notes) == 0, seed


class _PickupLover:
    """A stepper that opens every tune with a rest and never rests after that."""

    def __init__(self) -> None:
        self.fed = 0

    def feed(self, tokens):
        self.fed += len(tokens)
        logits = np.zeros(tk.VOCAB_SIZE)
        logits[tk.REST] = 40.0 if self.fed == tk.HEADER else -40.0
        return logits


def test_a_form_never_repeats_a_pickup_bar_mid_tune():
    constraints = Constraints(scale=frozenset(SCALES["major"]), low=60, high=72, temperature=1.0, top_p=1.0)
    # bars 2 and 4 repeat bar 0 (the A phrase coming back), bar 3 repeats bar 1
    plan = [BarPlan("sample"), BarPlan("sample"), BarPlan("copy", source=0), BarPlan("copy", source=1)]
    plan += [BarPlan("copy", source=0), BarPlan("sample")]
    for seed in range(6):
        decoder = Decoder(_PickupLover(), constraints, np.random.default_rng(seed), 48)
        decoder.start(tk.header("4/4", "major"))
        bars = tk.split_bars(decoder.run(plan))
        assert bars[0][0] == tk.REST  # the tune opens with a pickup
        assert all(bar[0] != tk.REST for bar in bars[1:]), [tk.describe(bar) for bar in bars]
        assert bars[3] == bars[1]  # other copies are kept
        assert bars[4] == bars[2]  # later returns of the A phrase repeat the bar written afresh
