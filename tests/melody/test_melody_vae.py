"""The phrase VAE: numpy matches torch, reconstruction of real validation phrases, latent
interpolation and variation under the plugin's guarantees, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from melody_fakes import FakeContext
from studio_melody import tokens as tk
from studio_melody.phrase_vae import (
    PhraseStepper,
    has_phrase_vae,
    load_phrase_vae,
    reconstruction_figures,
    slerp,
    tune_phrases,
)
from studio_melody.plugin import shipped_model_dir

from studio.core.melody import SCALES, Melody, Note, pitch_class
from studio.core.midi import read_midi, write_midi

DATA = Path(__file__).parent / "data" / "phrase_vae_val.json"

#: measured on these 299 phrases with the shipped weights: 83.1 % of notes recovered, 55.9 %
#: of phrases exact (all 3,584 validation phrases: 83.3 % and 58.1 %, see the model card);
#: the thresholds sit a few points below so that a re-trained model of the same quality passes
MIN_NOTES_RECOVERED_PCT = 78.0
MIN_EXACT_PHRASES_PCT = 48.0

needs_shipped_vae = pytest.mark.skipif(not has_phrase_vae(shipped_model_dir()), reason="the shipped phrase VAE is missing")


@pytest.fixture(scope="module")
def shipped_vae():
    return load_phrase_vae(shipped_model_dir())


@pytest.fixture(scope="module")
def tiny_vae_dir(tmp_path_factory) -> Path:
    import torch
    from studio_melody.phrase_vae import VAEConfig
    from studio_melody.train_vae import PhraseVAE, save_vae

    torch.manual_seed(7)
    folder = tmp_path_factory.mktemp("tiny-vae")
    save_vae(folder, PhraseVAE(VAEConfig(embed=8, pos_embed=4, encoder_hidden=12, decoder_hidden=16, latent=4)))
    return folder


def test_numpy_phrase_vae_matches_the_torch_model(tiny_vae_dir):
    import torch
    from safetensors.torch import load_file
    from studio_melody.phrase_vae import VAEConfig, phrase_positions
    from studio_melody.train_vae import PhraseVAE, batch_tensors

    config = VAEConfig.from_json(json.loads((tiny_vae_dir / "phrase_vae.json").read_text()))
    model = PhraseVAE(config)
    model.load_state_dict(load_file(str(tiny_vae_dir / "phrase_vae.safetensors")))
    model.eval()
    numpy_vae = load_phrase_vae(tiny_vae_dir)
    seq = json.loads(DATA.read_text())["phrases"][3]
    tokens, positions, lengths = batch_tensors([seq])
    with torch.no_grad():
        mu, logvar = model.encode(tokens, positions, lengths)
        logits = model.decode(mu, tokens, positions)[0].numpy()
    np_mu, np_logvar = numpy_vae.posterior(seq)
    assert np.allclose(np_mu, mu[0].numpy(), atol=1e-4)
    assert np.allclose(np_logvar, logvar[0].numpy(), atol=1e-4)
    h, gates = numpy_vae.start(np_mu)
    for index, (token, position) in enumerate(zip(seq, phrase_positions(seq))):
        step_logits, h = numpy_vae.step(token, position, h, gates)
        assert np.allclose(step_logits, logits[index], atol=1e-3), index


def test_phrases_are_cut_at_bar_lines_without_a_leading_tie():
    melody = Melody([Note(60, 0, 1), Note(62, 1, 4), Note(64, 5, 3)], time_signature=(4, 4), key="C", mode="major", length=8)
    phrases = tune_phrases(tk.encode(melody), stride=1, bars=1)
    assert len(phrases) == 2
    assert phrases[1][:2] == [tk.meter_token("4/4"), tk.mode_token("major")]
    assert phrases[1][2] == tk.pitch_token(62), "the tied continuation starts the phrase as a plain note"
    assert all(p.count(tk.BAR) == 1 for p in phrases)


def test_slerp_ends_are_the_inputs():
    a, b = np.array([1.0, 2.0, 0.5]), np.array([-0.5, 1.0, 3.0])
    assert np.allclose(slerp(a, b, 0.0), a) and np.allclose(slerp(a, b, 1.0), b)
    middle = slerp(a, b, 0.5)
    assert not np.allclose(middle, a) and not np.allclose(middle, b)


@needs_shipped_vae
def test_validation_phrases_are_reconstructed_from_their_latent_codes(shipped_vae):
    phrases = json.loads(DATA.read_text())["phrases"]
    figures = reconstruction_figures(shipped_vae, phrases)
    assert figures["phrases"] == len(phrases) >= 250
    assert figures["notes_recovered_pct"] >= MIN_NOTES_RECOVERED_PCT, figures
    assert figures["exact_phrases_pct"] >= MIN_EXACT_PHRASES_PCT, figures


@needs_shipped_vae
def test_phrase_stepper_restarts_from_each_phrase_code(shipped_vae):
    """Two different phrases decoded one after the other come out as decoding each alone."""
    from studio_melody.phrase_vae import decode_latent

    phrases = json.loads(DATA.read_text())["phrases"]
    four = [p for p in phrases if p[0] == tk.meter_token("4/4") and p.count(tk.BAR) == 2][:2]
    codes = [shipped_vae.encode(p) for p in four]
    alone = [decode_latent(shipped_vae, z, four[0][0], four[0][1], 2) for z in codes]
    from studio_melody.decoding import BarPlan, Constraints, Decoder

    constraints = Constraints(scale=frozenset(range(12)), temperature=1e-3, top_p=1.0)
    decoder = Decoder(PhraseStepper(shipped_vae, codes, [0, 0, 1, 1]), constraints, np.random.default_rng(0), 48)
    decoder.start([four[0][0], four[0][1]])
    together = decoder.run([BarPlan("sample") for _ in range(4)])
    first = alone[0]
    second = alone[1]
    if second[0] == tk.TIE:  # cannot happen at a phrase start with no note before: kept for clarity
        second = second[1:]
    assert together[: len(first)] == first
    assert together[len(first) :] == second


def _tune(pitches: list[int], bars: int, *, key: str, mode: str) -> Melody:
    notes = []
    for bar in range(bars):
        for i in range(4):
            notes.append(Note(pitches[(bar * 4 + i) % len(pitches)], bar * 4 + i, 1.0, 80))
    return Melody(notes, tempo=110, time_signature=(4, 4), key=key, mode=mode, length=bars * 4)


def _pair() -> tuple[Melody, Melody]:
    """A 4-bar tune in G major (crotchets) and an 8-bar one in C major (quavers, then minims)."""
    first = _tune([67, 69, 71, 72, 74, 72, 71, 69, 67, 66, 67, 74, 71, 69, 67, 67], 4, key="G", mode="major")
    run = [72, 71, 69, 67, 65, 64, 62, 64, 65, 67, 69, 71, 72, 74, 72, 67]
    notes = [Note(run[i % len(run)], i * 0.5, 0.5, 80) for i in range(32)]
    notes += [Note(p, 16 + i * 2, 2, 80) for i, p in enumerate([64, 65, 67, 69, 67, 65, 62, 60])]
    second = Melody(notes, tempo=110, time_signature=(4, 4), key="C", mode="major", length=32)
    return first, second


def _check_guarantees(melody: Melody, key: str, scale: str, low: int, high: int, bars: int) -> None:
    allowed = {(pitch_class(key) + step) % 12 for step in SCALES[scale]}
    size = melody.bar_ticks
    assert melody.notes
    assert all(n.pitch % 12 in allowed for n in melody.notes), [n.pitch for n in melody.notes]
    assert all(low <= n.pitch <= high for n in melody.notes)
    assert all(n.end_ticks <= bars * size for n in melody.notes)
    assert round(melody.length * 12) == bars * size
    assert melody.notes[-1].pitch % 12 == pitch_class(key), "closes on the tonic"
    assert melody.notes[-1].end_ticks == bars * size


@needs_shipped_vae
def test_latent_interpolation_keeps_the_ends_and_the_guarantees_and_moves_in_between(generate):
    first, second = _pair()
    ctx = FakeContext(3)
    a, b = ctx.add_midi(write_midi(first)), ctx.add_midi(write_midi(second))
    outputs, _ = generate(
        {"mode": "interpolate", "prime": a, "target": b, "count": 5, "passing_notes": 0.0, "lowest": 55, "highest": 84},
        ctx=ctx,
        model=shipped_model_dir(),
        seed=3,
    )
    melodies = [read_midi(o.midi).melody for o in outputs]
    assert melodies[0].notes == first.notes
    assert melodies[-1].notes == second.notes
    assert [o.parameters.get("interpolation_space") for o in outputs] == [None, "latent", "latent", "latent", None]
    lengths = [m.bars for m in melodies]
    assert lengths == [4, 5, 6, 7, 8]
    for step, (melody, output) in enumerate(zip(melodies[1:-1], outputs[1:-1]), start=1):
        key = "G" if step < 2 else "C"
        _check_guarantees(melody, key, "major", 55, 84, lengths[step])
        assert output.parameters["key"] == key
    onsets = lambda m: {(n.pitch, n.start_ticks, n.duration_ticks) for n in m.notes}  # noqa: E731
    middle = onsets(melodies[2])
    assert middle != onsets(first) and middle != onsets(second)


@needs_shipped_vae
def test_latent_interpolation_is_deterministic_for_a_seed(generate):
    first, second = _pair()
    runs = []
    for _ in range(2):
        ctx = FakeContext(5)
        a, b = ctx.add_midi(write_midi(first)), ctx.add_midi(write_midi(second))
        outputs, _ = generate({"mode": "interpolate", "prime": a, "target": b, "count": 3}, ctx=ctx, model=shipped_model_dir(), seed=5)
        runs.append([o.midi for o in outputs])
    assert runs[0] == runs[1]


@needs_shipped_vae
@pytest.mark.parametrize("key,scale", [("G", "major"), ("D", "dorian"), ("E", "pentatonic minor")])
def test_latent_variation_keeps_the_first_bars_and_every_guarantee(generate, key, scale):
    first, _ = _pair()
    prime = first.copy(key=key)
    for seed in range(4):
        ctx = FakeContext(seed)
        a = ctx.add_midi(write_midi(prime))
        outputs, _ = generate(
            {
                "mode": "vary",
                "prime": a,
                "keep_bars": 1,
                "variation": 0.6,
                "key": key,
                "scale": scale,
                "lowest": 52,
                "highest": 81,
                "passing_notes": 0.0,
            },
            ctx=ctx,
            model=shipped_model_dir(),
            seed=seed,
        )
        assert outputs[0].parameters["variation_space"] == "latent"
        melody = read_midi(outputs[0].midi).melody
        kept = [n for n in prime.notes if n.start_ticks < melody.bar_ticks]
        assert melody.notes[: len(kept)] == kept
        later = melody.copy(notes=melody.notes[len(kept) :])
        _check_guarantees(later, key, scale, 52, 81, 4)


@needs_shipped_vae
def test_more_variation_moves_further_from_the_prime(generate):
    first, _ = _pair()
    onsets = lambda m: {(n.pitch, n.start_ticks, n.duration_ticks) for n in m.notes}  # noqa: E731
    shared = {}
    for amount in (0.1, 1.0):
        total = 0
        for seed in range(6):
            ctx = FakeContext(seed)
            a = ctx.add_midi(write_midi(first))
            outputs, _ = generate(
                {"mode": "vary", "prime": a, "keep_bars": 0, "variation": amount, "passing_notes": 0.0},
                ctx=ctx,
                model=shipped_model_dir(),
                seed=seed,
            )
            total += len(onsets(read_midi(outputs[0].midi).melody) & onsets(first))
        shared[amount] = total
    assert shared[0.1] > shared[1.0], shared


@needs_shipped_vae
def test_latent_variation_is_deterministic_for_a_seed_and_differs_across_seeds(generate):
    first, _ = _pair()

    def run(seed: int) -> bytes:
        ctx = FakeContext(seed)
        a = ctx.add_midi(write_midi(first))
        outputs, _ = generate({"mode": "vary", "prime": a, "keep_bars": 0, "variation": 0.8}, ctx=ctx, model=shipped_model_dir(), seed=seed)
        return outputs[0].midi

    assert run(11) == run(11)
    assert run(11) != run(12)
