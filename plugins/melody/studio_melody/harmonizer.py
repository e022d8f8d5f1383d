"""The ``studio.harmony`` generator: harmony for a melody the musician sketched.

Two styles, both from the chorale model (``harmony``), both as one multi-track MIDI file
that drops into a DAW with a track per voice:

- ``chorale``: four-part harmony, the melody as soprano (kept exactly as it came in),
  alto, tenor and bass one chord per beat of the metre, repeated notes held;
- ``chords``: a chord symbol per bar or half-bar (the model run at that rhythm, the chord
  named from its four voices), written as marker events a DAW shows, with a simple voiced
  accompaniment: the inner voices as a block chord and the bass line on their own tracks.

The melody is moved by whole octaves to sit in the soprano range for harmonizing, and the
harmony moved back with it, so a melody in any register gets a harmony under it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.errors import ParamError
from studio.core.melody import MODE_OF_SCALE, PITCH_CLASSES, Melody, Note, beat_ticks, beats, pitch_class
from studio.core.midi import Part, write_parts
from studio.plugins.api import Context, Generator, MelodyOutput, ModelFormatError, Request

from . import tokens as tk
from .harmony import HARMONY_NAME, RANGES, Harmonizer, HarmonyConstraints, HarmonyModel, key_pitch_classes

#: the soprano's usual middle: a melody is moved by octaves to sit around here
SOPRANO_CENTRE = 70
CHORD_TEMPLATES = (
    ("", (0, 4, 7)),
    ("m", (0, 3, 7)),
    ("dim", (0, 3, 6)),
    ("aug", (0, 4, 8)),
    ("7", (0, 4, 7, 10)),
    ("maj7", (0, 4, 7, 11)),
    ("m7", (0, 3, 7, 10)),
    ("m7b5", (0, 3, 6, 10)),
    ("dim7", (0, 3, 6, 9)),
    ("sus4", (0, 5, 7)),
)
_FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")


def harmony_model_path(value: str | None = None, model_paths: tuple[Path, ...] = ()) -> Path:
    """The harmony counts in the chosen melody model folder (the shipped one by default)."""
    from .plugin import resolve_model

    return resolve_model(value, model_paths) / HARMONY_NAME


def _load(path: Path) -> HarmonyModel:
    try:
        return HarmonyModel.load(path)
    except ValueError as exc:
        raise ModelFormatError(str(exc)) from None


def chord_name(pitches: list[int], *, flats: bool = False) -> str:
    """A chord symbol for sounding pitches ('C', 'Am/C', 'G7', 'F#dim'); the lowest note
    is the bass; the root is the one whose template covers the most pitch classes."""
    classes = {p % 12 for p in pitches}
    bass = min(pitches) % 12
    names = _FLAT_NAMES if flats else PITCH_CLASSES
    best: tuple[float, str] | None = None
    for root in range(12):
        for suffix, template in CHORD_TEMPLATES:
            tones = {(root + step) % 12 for step in template}
            if not classes <= tones or root not in classes:
                continue
            # fewer missing tones first, then plain triads, then root position
            score = len(tones - classes) * 2 + len(template) * 0.1 + (0 if root == bass else 0.5)
            if best is None or score < best[0]:
                label = names[root] + suffix + ("" if root == bass else "/" + names[bass])
                best = (score, label)
    return best[1] if best is not None else names[bass] + "(" + ",".join(names[c] for c in sorted(classes)) + ")"


def soprano_per_step(melody: Melody, step: int, steps: int) -> list[int]:
    """The melody's pitch at the start of each step (the note sounding then; in a rest,
    the next note to start within the step, else the one before)."""
    notes = sorted(melody.notes, key=lambda n: n.start_ticks)
    out: list[int | None] = []
    for index in range(steps):
        tick = index * step
        sounding = next((n for n in notes if n.start_ticks <= tick < n.end_ticks), None)
        if sounding is None:
            sounding = next((n for n in notes if tick <= n.start_ticks < tick + step), None)
        out.append(sounding.pitch if sounding is not None else None)
    filled: list[int] = []
    for index, pitch in enumerate(out):
        if pitch is None:
            pitch = filled[-1] if filled else next((p for p in out[index:] if p is not None), None)
        if pitch is None:
            raise ParamError("prime: the melody has no notes to harmonize")
        filled.append(pitch)
    return filled


def held(pitches: list[int], step: int, velocity: int = 72) -> list[Note]:
    """One note per step, repeated pitches held as one note."""
    notes: list[Note] = []
    for index, pitch in enumerate(pitches):
        if notes and notes[-1].pitch == pitch and notes[-1].end_ticks == index * step:
            notes[-1] = replace(notes[-1], duration=beats(notes[-1].duration_ticks + step))
        else:
            notes.append(Note(pitch, beats(index * step), beats(step), velocity))
    return notes


def from_tick(notes: list[Note], tick: int) -> list[Note]:
    """``notes`` from ``tick`` on: those that end by then dropped, one sounding then cut to
    start there."""
    out = []
    for note in notes:
        if note.end_ticks <= tick:
            continue
        if note.start_ticks < tick:
            note = replace(note, start=beats(tick), duration=beats(note.end_ticks - tick))
        out.append(note)
    return out


class HarmonyGenerator(Generator):
    """Four-part chorale harmony, or chord symbols with an accompaniment, under a melody."""

    def generate(self, request: Request, ctx: Context) -> list[MelodyOutput]:
        from .plugin import _Run, _Settings

        params = dict(request.params)
        path = harmony_model_path(params.get("model"), tuple(getattr(ctx, "model_paths", ()) or ()))
        if not path.is_file():
            raise ModelFormatError(
                f"{path}: no harmony model; reinstall the studio or run `python main.py train melody --harmony --out DIR`"
            )
        model = ctx.models.load(path, lambda p: _load(Path(p)), kind="melody") if ctx is not None else _load(path)
        runner = _Run(None, ctx, request.seed)
        imported = runner._input({**params, "mode": "harmonize"}, "prime", required=True)
        assert imported is not None
        settings = _Settings(params, imported)
        melody = imported.melody
        style = str(params.get("style") or "chorale")
        ts = melody.time_signature
        bar = melody.bar_ticks
        beat = beat_ticks(ts)
        if style == "chords":
            rhythm = str(params.get("chord_rhythm") or "half-bar")
            step = bar if rhythm == "bar" or bar // beat < 2 or (bar // beat) % 2 else bar // 2
        else:
            step = beat
        steps = max(1, -(-int(round(melody.length * 12)) // step))
        soprano = soprano_per_step(melody, step, steps)
        mode = MODE_OF_SCALE.get(settings.scale, "major")
        model_mode = "minor" if mode in ("minor", "dorian", "phrygian", "locrian") else "major"
        tonic = pitch_class(settings.key)
        shift = tk.tonic_shift(settings.key)
        middle = float(np.median(soprano))
        octave = int(round((SOPRANO_CENTRE - middle) / 12.0)) * 12
        normalised = [p + octave - shift for p in soprano]
        # voice ranges in the model's frame (normalised pitch + shift is the sounding pitch
        # after the octave move)
        ranges = {voice: (low - shift, high - shift) for voice, (low, high) in RANGES.items()}
        scale_name = (
            settings.scale
            if settings.scale in ("major", "minor", "dorian", "mixolydian", "phrygian", "lydian", "harmonic minor")
            else model_mode
        )
        allowed = key_pitch_classes(tonic, "minor" if scale_name in ("minor", "harmonic minor") else scale_name)
        constraints = HarmonyConstraints(
            allowed,
            tonic,
            ranges,
            no_crossing=bool(params.get("no_crossing", True)),
            no_parallels=bool(params.get("no_parallels", True)),
            end_on_tonic=bool(params.get("end_on_tonic", True)),
        )
        temperature = float(params.get("temperature", 0.0) or 0.0)
        rng = np.random.default_rng(request.seed)
        harmonizer = Harmonizer(model, log=ctx.log)
        ctx.progress(0, 2, "harmonizing")
        ctx.check_cancelled()
        try:
            voicings = harmonizer.harmonize(
                normalised, shift=shift, mode=model_mode, constraints=constraints, temperature=temperature, rng=rng
            )
        except ValueError as exc:
            raise ParamError(f"prime: {exc}") from None
        ctx.progress(1, 2, "writing voices")
        back = shift - octave
        lower = [[s - v[i] + back for s, v in zip(normalised, voicings)] for i in range(3)]
        flats = settings.key in ("F", "Bb", "Eb", "Ab", "Db") or (settings.key in ("C", "G", "D") and model_mode == "minor")
        chords = [chord_name([s + back, a, t, b], flats=flats) for s, a, t, b in zip(normalised, lower[0], lower[1], lower[2])]
        length = beats(steps * step)
        frame = melody.copy(notes=[], length=length, key=settings.key, mode=settings.scale)
        soprano_part = Part("Melody" if style == "chords" else "Soprano", melody.copy(key=settings.key, mode=settings.scale))
        # the accompaniment waits for the melody: nothing sounds under a pickup's opening rest
        lead = min(n.start_ticks for n in melody.notes)
        first = lead // step
        markers = [
            (beats(max(index * step, lead)), name)
            for index, name in enumerate(chords)
            if index >= first and (index == first or name != chords[index - 1])
        ]
        if style == "chords":
            block = [Note(p, beats(i * step), beats(step), 64) for i in range(steps) for p in (lower[0][i], lower[1][i])]
            parts = [
                soprano_part,
                Part("Chords", frame.copy(notes=from_tick(block, lead)), program=0, markers=markers),
                Part("Bass", frame.copy(notes=from_tick(held(lower[2], step, 76), lead)), program=32),
            ]
        else:
            parts = [soprano_part] + [
                Part(name, frame.copy(notes=from_tick(held(lower[i], step), lead)), program=52 if i < 2 else 52)
                for i, name in enumerate(("Alto", "Tenor", "Bass"))
            ]
            parts[1].markers = markers
        parameters: dict[str, Any] = {
            "mode": "harmonize",
            "style": style,
            "seed": request.seed,
            "temperature": temperature,
            "key": settings.key,
            "scale": settings.scale,
            "key_source": settings.key_source,
            "metre": melody.meter,
            "tempo": settings.tempo,
            "parts": [part.name for part in parts],
            "chords": [[round(beat_, 3), name] for beat_, name in markers],
            "chord_rhythm": {beat: "beat", bar: "bar"}.get(step, "half-bar"),
            "no_crossing": constraints.no_crossing,
            "no_parallels": constraints.no_parallels,
            "octave_shift": -octave,
            "model": "Bach chorales n-gram",
        }
        record_melody = imported.record.get("output") if isinstance(imported.record.get("output"), dict) else None
        if record_melody:
            parameters["prime_record"] = {k: record_melody.get(k) for k in ("mode", "seed", "model") if k in record_melody}
        data = write_parts(parts, record={"output": parameters})
        ctx.progress(2, 2, "done")
        return [MelodyOutput(midi=data, parameters=parameters)]


__all__ = ["HarmonyGenerator", "chord_name", "held", "soprano_per_step"]
