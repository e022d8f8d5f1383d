"""Key finding for primes without a key label (issue 14, item 5).

The accuracy test reads held-out tunes of the Essen collection that ships inside the
music21 package (never used for training or for fitting the tonic weights: those used
the other half, see ``studio_melody.key_finding_eval``).
"""

from __future__ import annotations

import io

import mido
import pytest
from melody_fakes import FakeContext

from studio.core.melody import Melody, Note, find_key, find_melody_key, pitch_class
from studio.core.midi import read_midi_metadata, write_midi

ESSEN_FILES = ("boehme10", "erk10", "han1", "lux", "zuccal0", "ballad40", "kinder0")


def test_tonic_agrees_with_held_out_essen_labels():
    pytest.importorskip("music21")
    from pathlib import Path

    import music21
    from studio_melody.key_finding_eval import essen_tunes, half_of

    root = Path(music21.__file__).parent / "corpus" / "essenFolksong"
    if not root.is_dir():
        pytest.skip("music21 ships without its corpus here")
    tunes = [t for t in essen_tunes(root) if t.id.split(":")[0] in ESSEN_FILES and half_of(t.id) == "test"]
    assert len(tunes) > 1000
    hits = sum(pitch_class(find_key(t.notes, downbeats=t.downbeats).key) == pitch_class(t.tonic) for t in tunes)
    assert hits / len(tunes) >= 0.85, hits / len(tunes)


def _dorian() -> Melody:
    """D dorian, no key signature: D E F G A B C, the B natural and the final D say dorian."""
    line = [62, 64, 65, 67, 69, 71, 69, 67, 65, 64, 62, 60, 62, 65, 69, 71, 72, 71, 69, 67, 65, 64, 62, 62]
    return Melody(
        [Note(p, i * 0.5, 0.5 if i < 23 else 1.5) for i, p in enumerate(line)], time_signature=(4, 4), key="C", mode="major", length=13.0
    )


def _without_key_signature(melody: Melody) -> bytes:
    midi = mido.MidiFile(file=io.BytesIO(write_midi(melody)))
    midi.tracks[0][:] = [m for m in midi.tracks[0] if m.type != "key_signature"]
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def test_a_dorian_melody_is_found_as_d_dorian():
    found = find_melody_key(_dorian())
    assert (found.key, found.mode) == ("D", "dorian")


def test_a_minor_tune_with_a_major_signature_is_found_minor():
    # A minor (natural), written with C major's signature (no sharps or flats)
    line = [69, 71, 72, 74, 76, 74, 72, 71, 69, 67, 69, 72, 71, 69, 64, 69]
    melody = Melody([Note(p, i, 1) for i, p in enumerate(line)], time_signature=(4, 4))
    found = find_melody_key(melody, sharps=0)
    assert (found.key, found.mode) == ("A", "minor") and found.source == "signature"


def test_continue_reports_the_key_it_found(generate):
    ctx = FakeContext(1)
    prime_id = ctx.add_midi(_without_key_signature(_dorian()))
    outputs, _ = generate({"mode": "continue", "prime": prime_id, "bars": 2}, ctx=ctx)
    parameters = outputs[0].parameters
    assert (parameters["key"], parameters["scale"], parameters["key_source"]) == ("D", "dorian", "estimated")
    record = read_midi_metadata(outputs[0].midi)["output"]
    assert (record["key"], record["scale"]) == ("D", "dorian")


def test_a_minor_prime_with_a_major_signature_continues_in_minor(generate):
    line = [64, 66, 67, 69, 71, 69, 67, 66, 64, 62, 64, 67, 66, 64, 59, 64]  # E minor, written in G
    prime = Melody([Note(p, i, 1) for i, p in enumerate(line)], time_signature=(4, 4), key="G", mode="major")
    ctx = FakeContext(2)
    prime_id = ctx.add_midi(write_midi(prime))
    outputs, _ = generate({"mode": "continue", "prime": prime_id, "bars": 2}, ctx=ctx)
    assert (outputs[0].parameters["key"], outputs[0].parameters["scale"]) == ("E", "minor")
    assert outputs[0].parameters["key_source"] == "signature"
