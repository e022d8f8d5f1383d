"""The ``studio.melody`` generator: new, continue, vary and interpolate.

Every mode runs the same constrained decoder (``decoding``) over a plan of bars: bars to
sample, bars to keep as they are (a prime, the first bars of a variation, the bars an
interpolation takes from either input) and bars whose rhythm is kept while pitches are
re-sampled. Kept notes come back exactly as they went in (pitch, start, duration and
velocity), so a continuation starts with its prime bit for bit.

Interpolation is done in token space, not in a learned latent space: step ``i`` of ``n``
takes each bar from the second melody when that bar's place in a seeded ordering falls
below ``i/(n-1)`` and from the first otherwise, and the model re-samples a share of the
pitches that peaks in the middle of the morph (none at the ends, so the first and last
steps reproduce the two inputs).

When the model folder also holds a phrase VAE (``phrase_vae.safetensors``, see
``phrase_vae``), the steps between the two ends are made in its latent space instead:
each 2-bar phrase of both inputs is encoded, the two codes are slerped, and the decoder
writes the phrase from the blend through the same constrained decoder (so the
guarantees hold); the two ends are still the inputs, exactly. ``vary`` with
``vary_what = everything`` then moves each phrase's code towards a seeded random one
by the ``variation`` amount (0: the phrase as it was; 1: a fresh phrase).
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.errors import ParamError
from studio.core.melody import (
    PITCH_CLASSES as PITCH_NAMES,
)
from studio.core.melody import (
    SCALES,
    Melody,
    Note,
    accent_velocities,
    bar_ticks,
    beat_ticks,
    beats,
    find_melody_key,
    key_signature_sharps,
    ticks,
)
from studio.core.midi import MidiImport, read_midi, read_midi_metadata, write_midi
from studio.plugins.api import Context, Generator, MelodyOutput, ModelFormatError, Request

from . import tokens as tk
from .decoding import BarPlan, Constraints, Decoder
from .forms import load_patterns, pick_pattern
from .inference import NumpyStepper
from .phrase_vae import PHRASE_BARS, PhraseStepper, has_phrase_vae, phrase_sequence, slerp

#: the phrase decoder writes the most likely notes under the constraints (its latent is
#: what varies), so a latent decodes the same way every time
LATENT_TEMPERATURE = 1e-3

SHIPPED_NAME = "folk"
MAX_PRIMING_NOTES = 64

#: the middle of the register (normalised to C) the model writes most of its notes in; a
#: requested range is moved there by whole octaves for decoding and the notes moved back
COMFORT_CENTRE = 69
#: the fewest notes of the scale a range must hold for a melody to be written in it
MIN_RANGE_NOTES = 3


# --------------------------------------------------------------------------- models


def shipped_model_dir() -> Path:
    from studio.core.paths import resources_dir

    return resources_dir() / "models" / "melody"


def user_model_dirs(model_paths: tuple[Path, ...] | list[Path] = ()) -> list[Path]:
    """Folders whose sub-folders are melody models: ``STUDIO_HOME/models/melody`` and
    ``<each model path>/melody``."""
    from studio.core.paths import HomeLayout, studio_home

    folders = [HomeLayout(studio_home()).models_dir / "melody"]
    folders += [Path(p) / "melody" for p in model_paths]
    return folders


def available_models(model_paths: tuple[Path, ...] | list[Path] = ()) -> list[dict[str, str]]:
    """Every melody model this plugin can use, shipped first: ``[{"name", "path"}]``."""
    from .config import is_model_folder

    found = [{"name": SHIPPED_NAME, "path": str(shipped_model_dir())}]
    for folder in user_model_dirs(model_paths):
        if folder.is_dir():
            for child in sorted(folder.iterdir()):
                if child.is_dir() and is_model_folder(child):
                    found.append({"name": child.name, "path": str(child)})
    return found


def resolve_model(value: str | None, model_paths: tuple[Path, ...] | list[Path] = ()) -> Path:
    from .config import is_model_folder

    if not value or value.strip().lower() in (SHIPPED_NAME, "shipped", "default"):
        return shipped_model_dir()
    candidate = Path(value).expanduser()
    if candidate.is_file() and candidate.suffix == ".safetensors":
        candidate = candidate.parent
    if is_model_folder(candidate):
        return candidate
    for folder in user_model_dirs(model_paths):
        if is_model_folder(folder / value):
            return folder / value
    names = ", ".join(m["name"] for m in available_models(model_paths))
    raise ParamError(f"model: no melody model {value!r}; available: {names} (or a model folder's path)")


def _load(folder: Path):
    from .inference import load_numpy_model

    try:
        return load_numpy_model(folder)
    except ValueError as exc:
        raise ModelFormatError(str(exc)) from None


def _load_vae(folder: Path):
    from .phrase_vae import load_phrase_vae

    try:
        return load_phrase_vae(folder)
    except ValueError as exc:
        raise ModelFormatError(str(exc)) from None


def load_vae_for(ctx: Context | None, folder: Path):
    """The model folder's phrase VAE, or ``None`` when it has none."""
    from .phrase_vae import VAE_WEIGHTS

    if not has_phrase_vae(folder):
        return None
    if ctx is None:
        return _load_vae(folder)
    return ctx.models.load(folder / VAE_WEIGHTS, lambda path: _load_vae(Path(path).parent), kind="melody")


def load_for(ctx: Context | None, folder: Path):
    from .config import WEIGHTS_NAME

    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise ModelFormatError(f"{folder}: no {WEIGHTS_NAME}; reinstall the studio or train a model")
    if ctx is None:
        return _load(folder)
    return ctx.models.load(weights, lambda path: _load(Path(path).parent), kind="melody")


# --------------------------------------------------------------------------- settings


def _meter_tuple(meter: str) -> tuple[int, int]:
    numerator, denominator = meter.split("/")
    return int(numerator), int(denominator)


class _Settings:
    """The request's params, with 'auto' values filled in from a prime (or defaults)."""

    def __init__(self, params: dict[str, Any], prime: MidiImport | None, *, last_meter: bool = False) -> None:
        self.params = params
        melody = prime.melody if prime else None
        if melody is not None and last_meter and melody.meter_changes:
            # continue writes on in the metre the prime ends in
            melody = melody.copy(time_signature=melody.last_time_signature, meter_changes=[])
        key = params.get("key") or "auto"
        scale = params.get("scale") or "auto"
        recorded = prime.record.get("output", {}) if prime is not None else {}
        #: where the key came from: "asked", "record" (a studio melody's own), "signature"
        #: (the mode found among those of the file's key signature) or "estimated" (from the notes)
        self.key_source = "asked" if key != "auto" and scale != "auto" else "default"
        if melody is not None:
            if recorded.get("key") in PITCH_NAMES and recorded.get("scale") in SCALES:
                # a studio melody says its exact key and scale (MIDI can only say major/minor)
                prime_key, prime_mode, source = recorded["key"], recorded["scale"], "record"
            else:
                # a key signature says which notes, not which tonic or mode: a minor or dorian
                # tune is often written with a major signature, so the tonic is found among the
                # modes the signature allows
                sharps = key_signature_sharps(melody.key, melody.mode) if prime.has_key_signature else None
                found = find_melody_key(melody, sharps=sharps)
                prime_key, prime_mode, source = found.key, found.mode, found.source
            if self.key_source != "asked":
                self.key_source = source
        else:
            prime_key, prime_mode = "C", "major"
        self.key = prime_key if key == "auto" else key
        self.scale = (prime_mode if prime_mode in SCALES else "major") if scale == "auto" else scale
        meter = params.get("metre") or "auto"
        if melody is not None:
            self.meter = melody.meter if melody.meter != "2/2" else "4/4"
            if meter not in ("auto", self.meter):
                self.meter_note = f"the prime is in {melody.meter}; kept that instead of {meter}"
            else:
                self.meter_note = ""
        else:
            self.meter = "4/4" if meter == "auto" else meter
            self.meter_note = ""
        if self.meter not in tk.METERS:
            raise ParamError(f"metre: {self.meter} is not supported; use one of {', '.join(tk.METERS)}")
        tempo = float(params.get("tempo") or 0)
        self.tempo = tempo if tempo > 0 else (melody.tempo if melody is not None else 120.0)
        #: the prime's tempo map, kept unless a tempo was asked for (see ``with_timing_of``)
        self.tempo_changes = list(melody.tempo_changes) if melody is not None and tempo <= 0 else []
        self.tempo_note = (
            "the prime's tempo changes were replaced by the tempo asked for"
            if melody is not None and tempo > 0 and melody.tempo_changes
            else ""
        )
        self.time_signature = _meter_tuple(self.meter)
        self.size = bar_ticks(self.time_signature)
        self.lowest, self.highest = int(params.get("lowest", 55)), int(params.get("highest", 84))
        if self.highest < self.lowest:
            raise ParamError(f"highest ({self.highest}) is below lowest ({self.lowest}); swap them")
        self.window = register_window(self.lowest, self.highest, self.key, self.scale)
        self.octave = self.window.octave

    def in_meter(self, signature: tuple[int, int]) -> _Settings:
        """These settings for a stretch of the prime in another metre (2/2 read as 4/4)."""
        other = copy.copy(self)
        other.time_signature = (4, 4) if signature == (2, 2) else signature
        other.meter = f"{other.time_signature[0]}/{other.time_signature[1]}"
        if other.meter not in tk.METERS:
            raise ParamError(f"metre: the prime changes to {other.meter}, which is not supported; use one of {', '.join(tk.METERS)}")
        other.size = bar_ticks(other.time_signature)
        return other

    def model_view(self, melody: Melody) -> Melody:
        """``melody`` moved by the octaves the model writes in (see ``register_window``)."""
        if not self.octave:
            return melody
        return melody.copy(notes=[replace(n, pitch=n.pitch + self.octave) for n in melody.notes])

    def constraints(self, model_config, *, start_with_note: bool) -> Constraints:
        p = self.params
        constraints = Constraints(
            scale=frozenset(SCALES[self.scale]),
            low=self.window.low,
            high=self.window.high,
            passing=float(p.get("passing_notes", 0.0)),
            durations=model_config.durations,
            temperature=float(p.get("temperature", 1.0)),
            top_p=float(p.get("top_p", 1.0)),  # calibrated on validation tunes (model card)
            start_with_note=start_with_note,
            end_on_tonic=bool(p.get("end_on_tonic", True)),
        )
        return constraints


class RegisterWindow:
    """Where a requested range is written: ``low..high`` normalised to C and moved by
    ``octave`` semitones (a multiple of 12) towards the register the model knows best."""

    def __init__(self, octave: int, low: int, high: int, note: str = "") -> None:
        self.octave, self.low, self.high, self.note = octave, low, high, note


def register_window(lowest: int, highest: int, key: str, scale: str) -> RegisterWindow:
    """Any range on the MIDI keyboard, made writable by the model.

    The model's vocabulary spans normalised pitches 36..96 and it writes most fluently
    around ``COMFORT_CENTRE``; a low range such as 40..52 taken as it is gives mostly rests.
    So the range is moved by whole octaves to the place nearest that centre, decoded there,
    and the notes are moved back: the melody lies in the requested range, in the style the
    model has for its usual register. A range wider than the vocabulary's five octaves is
    narrowed around its middle (said in ``note``). A range that holds fewer than
    ``MIN_RANGE_NOTES`` notes of the scale is refused, naming what it holds.
    """
    from studio.core.melody import pitch_class, pitch_name

    tonic = pitch_class(key)
    degrees = set(SCALES[scale])
    inside = [p for p in range(lowest, highest + 1) if (p - tonic) % 12 in degrees]
    if len(inside) < MIN_RANGE_NOTES:
        held = ", ".join(pitch_name(p) for p in inside) or "none"
        raise ParamError(
            f"range: {lowest}..{highest} ({pitch_name(lowest)}..{pitch_name(highest)}) holds "
            f"{len(inside)} note(s) of {key} {scale} ({held}); a melody needs at least "
            f"{MIN_RANGE_NOTES}: widen the range or choose another key or scale"
        )
    shift = tk.tonic_shift(key)
    low, high = lowest - shift, highest - shift
    note = ""
    span = tk.PITCH_HIGH - tk.PITCH_LOW
    if high - low > span:
        middle = (low + high) // 2
        low, high = middle - span // 2, middle - span // 2 + span
        note = f"the range {lowest}..{highest} is wider than the model's {span // 12} octaves; wrote within {low + shift}..{high + shift}"
    best: tuple[float, int] | None = None
    for octave in range(-96, 97, 12):
        if low + octave < tk.PITCH_LOW or high + octave > tk.PITCH_HIGH:
            continue
        distance = abs((low + high) / 2 + octave - COMFORT_CENTRE)
        if best is None or distance < best[0]:
            best = (distance, octave)
    if best is None:  # the range straddles the vocabulary's octave grid: clip its top
        octave = -12 * ((low - tk.PITCH_LOW) // 12)
        clipped_high = min(high, tk.PITCH_HIGH - octave)
        note = note or (f"the range {lowest}..{highest} was narrowed to {lowest}..{clipped_high + shift} to fit the model's vocabulary")
        high = clipped_high
        best = (0.0, octave)
    octave = best[1]
    return RegisterWindow(octave, low + octave, high + octave, note)


# --------------------------------------------------------------------------- generator


class MelodyGenerator(Generator):
    """Melodies from the built-in folk model (or a fine-tuned one) under key, scale, metre
    and range constraints."""

    def generate(self, request: Request, ctx: Context) -> list[MelodyOutput]:
        params = dict(request.params)
        mode = params.get("mode") or "new"
        folder = resolve_model(params.get("model"), tuple(getattr(ctx, "model_paths", ()) or ()))
        model = load_for(ctx, folder)
        model_name = model.config.name or folder.name
        runner = _Run(model, ctx, request.seed)
        if mode == "new":
            runner.patterns = load_patterns(folder) or load_patterns(shipped_model_dir())
        if mode in ("vary", "interpolate"):
            runner.vae = load_vae_for(ctx, folder)
        if mode == "new":
            outputs = [runner.new(params)]
        elif mode == "continue":
            outputs = [runner.continue_(params)]
        elif mode == "vary":
            outputs = [runner.vary(params)]
        elif mode == "interpolate":
            outputs = runner.interpolate(params)
        else:
            raise ParamError(f"mode: {mode!r} is not one of new, continue, vary, interpolate")
        for output in outputs:
            output.parameters = {"model": model_name, **output.parameters}
        return outputs


class _Run:
    def __init__(self, model, ctx: Context, seed: int) -> None:
        self.model = model
        self.ctx = ctx
        self.seed = int(seed)
        self.bars_done = 0
        self.bars_total = 1
        self.vae = None  # a phrase VAE (``phrase_vae.NumpyPhraseVAE``) when the model folder has one
        self.decoder: Decoder | None = None  # the last one run (its ``resampled`` ticks)
        self.patterns: list[tuple[list[int], int]] = []  # copy patterns for form "auto" (see ``forms``)

    # -------------------------------------------------------------- plumbing

    def _input(self, params: dict[str, Any], name: str, *, required: bool) -> MidiImport | None:
        artifact_id = params.get(name)
        if not artifact_id:
            if required:
                raise ParamError(f"{name}: mode {params.get('mode')} needs a melody here (a MIDI clip)")
            return None
        artifact = self.ctx.input_artifact(artifact_id)
        imported = read_midi(artifact.data, name=f"{name} melody")
        imported.record = read_midi_metadata(artifact.data)
        for message in imported.messages:
            self.ctx.log(f"{name}: {message}")
        if not imported.melody.notes:
            raise ParamError(f"{name}: the MIDI file has no notes (outside the drum channel)")
        if imported.melody.meter not in tk.METERS and imported.melody.meter != "2/2":
            raise ParamError(f"{name}: its metre {imported.melody.meter} is not supported; use one of {', '.join(tk.METERS)}")
        return imported

    def _on_bar(self, done: int, total: int) -> None:
        self.bars_done += 1
        self.ctx.progress(self.bars_done, self.bars_total, f"bar {self.bars_done} of {self.bars_total}")
        self.ctx.check_cancelled()

    def _decode(
        self, settings: _Settings, constraints: Constraints, prefix: list[int], plan: list[BarPlan], rng: np.random.Generator, stepper=None
    ) -> list[int]:
        self.ctx.check_cancelled()
        decoder = Decoder(
            stepper or NumpyStepper(self.model),
            constraints,
            rng,
            settings.size,
            beat=beat_ticks(settings.time_signature),
            on_bar=self._on_bar,
        )
        decoder.start(prefix)
        self.decoder = decoder
        return decoder.run(plan)

    def _melody(self, settings: _Settings, body: list[int]) -> Melody:
        """Decoded tokens as notes in the requested register (the window's octave undone)."""
        melody = tk.decode_body(body, time_signature=settings.time_signature, key=settings.key, mode=settings.scale, tempo=settings.tempo)
        if settings.octave:
            melody = melody.copy(notes=[replace(n, pitch=n.pitch - settings.octave) for n in melody.notes])
        return melody

    def _output(
        self,
        melody: Melody,
        settings: _Settings,
        params: dict[str, Any],
        kept: set[int] | None = None,
        extra: dict[str, Any] | None = None,
        prime: Melody | None = None,
        seed: int | None = None,
    ) -> MelodyOutput:
        seed = self.seed if seed is None else seed
        accents = accent_velocities(melody, seed=seed)
        notes = [note if kept and index in kept else replace(note, velocity=accents[index]) for index, note in enumerate(melody.notes)]
        melody = melody.copy(notes=notes)
        parameters: dict[str, Any] = {
            "mode": params.get("mode", "new"),
            "seed": seed,
            "temperature": params.get("temperature"),
            "top_p": params.get("top_p"),
            "key": settings.key,
            "scale": settings.scale,
            "key_source": settings.key_source,
            "metre": settings.meter,
            "tempo": settings.tempo,
            "bars": melody.bars,
            "passing_notes": params.get("passing_notes"),
            "range": [params.get("lowest"), params.get("highest")],
            "end_on_tonic": params.get("end_on_tonic"),
        }
        if prime is not None:
            parameters["priming_notes"] = [[n.pitch, n.start, n.duration] for n in prime.notes[:MAX_PRIMING_NOTES]]
            parameters["priming_notes_total"] = len(prime.notes)
        if settings.window.note:
            parameters["range_note"] = settings.window.note
        if extra:
            parameters.update(extra)
        return MelodyOutput(midi=write_midi(melody, record={"output": parameters}), parameters=parameters)

    # -------------------------------------------------------------- modes

    def new(self, params: dict[str, Any]) -> MelodyOutput:
        settings = _Settings(params, None)
        # a new tune may open with a pickup (a rest, then its upbeat), as 72 % of the
        # corpus does; forbidding it steered the model to the rarer downbeat tunes and
        # skewed their rhythm (model card); no bar is silent, so a note comes in bar 1.
        # ``pickup`` off asks for the first note on the downbeat (a DAW user's loop).
        constraints = settings.constraints(self.model.config, start_with_note=not bool(params.get("pickup", True)))
        bars = int(params.get("bars") or 8)
        self.bars_total = bars
        rng = np.random.default_rng(self.seed)
        asked = str(params.get("form") or "auto")
        form = asked
        plan = None
        if asked == "auto":
            # the repetition of a training tune's first 16 bars (see ``forms``)
            pattern = pick_pattern(bars, np.random.default_rng([self.seed, 31]), self.patterns)
            form = "learnt" if pattern is not None else "free"
            if pattern is not None:
                plan = [BarPlan("copy", source=src) if src >= 0 else BarPlan("sample") for src in pattern]
        else:
            plan = form_plan(form, bars)
        if plan is None and form == "free":
            plan = [BarPlan("sample") for _ in range(bars)]
        if plan is None:
            self.ctx.log(f"form {form} needs a number of bars divisible by {len(form)}; wrote a free form")
            form, plan = "free", [BarPlan("sample") for _ in range(bars)]
        body = self._decode(settings, constraints, tk.header(settings.meter, settings.scale), plan, rng)
        extra: dict[str, Any] = {"form": form}
        if asked == "auto":
            extra["form_asked"] = "auto"
        return self._output(self._melody(settings, body), settings, params, extra=extra)

    def continue_(self, params: dict[str, Any]) -> MelodyOutput:
        imported = self._input(params, "prime", required=True)
        assert imported is not None
        settings = _Settings(params, imported, last_meter=True)
        for note in (settings.meter_note, settings.tempo_note):
            if note:
                self.ctx.log(note)
        original = imported.melody
        # the model reads the prime from its last metre change on (all of it when there is none)
        since = ticks(original.last_meter_start)
        tail = [replace(n, start=beats(n.start_ticks - since)) for n in original.notes if n.start_ticks >= since]
        prime = original.copy(
            notes=tail,
            time_signature=settings.time_signature,
            key=settings.key,
            length=beats(max(0, ticks(original.length) - since)),
            meter_changes=[],
            tempo_changes=[],
        )
        constraints = settings.constraints(self.model.config, start_with_note=False)
        bars = int(params.get("bars") or 8)
        self.bars_total = bars
        prime_bars = tk.encode_bars(settings.model_view(prime), fold=True)
        prefix = tk.header(settings.meter, settings.scale) + [t for bar in prime_bars for t in bar]
        rng = np.random.default_rng(self.seed)
        body = self._decode(settings, constraints, prefix, [BarPlan("sample") for _ in range(bars)], rng)
        continuation = self._melody(settings, body)
        offset = since + len(prime_bars) * settings.size
        moved = [replace(n, start=beats(n.start_ticks + offset)) for n in continuation.notes]
        notes = list(original.notes) + moved
        melody = Melody(
            notes=notes,
            tempo=settings.tempo,
            time_signature=original.time_signature,
            key=settings.key,
            mode=settings.scale,
            length=beats(offset + bars * settings.size),
            tempo_changes=settings.tempo_changes,
            meter_changes=original.meter_changes,
        )
        kept = set(range(len(original.notes)))
        return self._output(
            melody,
            settings,
            params,
            kept=kept,
            prime=original,
            extra={"prime_bars": len(prime_bars), "new_bars": bars, "new_bars_start": beats(offset)},
        )

    def vary(self, params: dict[str, Any]) -> MelodyOutput:
        imported = self._input(params, "prime", required=True)
        assert imported is not None
        settings = _Settings(params, imported)
        prime = imported.melody
        amount = float(params.get("variation", 0.5))
        what = params.get("vary_what") or "everything"
        rng = np.random.default_rng(self.seed)
        # a prime that changes metre is varied one metre at a time, so every bar is a whole
        # bar of its own metre and keep_bars counts the bars a musician sees
        parts = metre_parts(prime)
        keep_left = int(params.get("keep_bars") or 0)
        self.bars_total = sum(math.ceil((end - start) / bar_ticks(signature) - 1e-9) for start, end, signature in parts)
        notes: list[Note] = []
        kept: set[int] = set()
        latent = False
        for index, (start, end, signature) in enumerate(parts):
            part_settings = settings.in_meter(signature) if len(parts) > 1 else settings
            source = _part_of(prime, start, end).copy(time_signature=part_settings.time_signature, key=settings.key)
            varied, part_kept, keep, latent_here = self._vary_part(
                part_settings, source, keep_left, amount, what, rng, last=index == len(parts) - 1
            )
            keep_left -= keep
            latent = latent or latent_here
            kept |= {len(notes) + i for i in part_kept}
            notes += [replace(n, start=beats(n.start_ticks + start)) for n in varied.notes]
        melody = prime.copy(
            notes=notes,
            time_signature=settings.time_signature,
            key=settings.key,
            mode=settings.scale,
            tempo=settings.tempo,
            length=beats(parts[-1][1]),
        )
        # the rhythm in beats is the prime's, so its tempo and metre maps still fit
        melody = melody.copy(tempo_changes=settings.tempo_changes, meter_changes=prime.meter_changes)
        if settings.tempo_note:
            self.ctx.log(settings.tempo_note)
        extra = {"keep_bars": int(params.get("keep_bars") or 0) - max(0, keep_left), "vary_what": what, "variation": amount}
        if latent:
            extra["variation_space"] = "latent"
        return self._output(melody, settings, params, kept=kept, prime=prime, extra=extra)

    def _vary_part(
        self, settings: _Settings, source: Melody, keep_bars: int, amount: float, what: str, rng: np.random.Generator, *, last: bool
    ) -> tuple[Melody, set[int], int, bool]:
        """One metre's stretch of a vary: (melody, indices of kept notes, bars kept, latent?).
        Only the ``last`` stretch closes on the tonic."""
        constraints = settings.constraints(self.model.config, start_with_note=False)
        if not last:
            constraints = replace(constraints, end_on_tonic=False)
        bar_tokens = tk.encode_bars(settings.model_view(source), fold=True)
        count = len(bar_tokens)
        keep = max(0, min(keep_bars, count))
        plan: list[BarPlan] = [BarPlan("keep", bar) for bar in bar_tokens[:keep]]
        free = list(range(keep, count))
        stepper = None
        if self.vae is not None and what == "everything" and amount > 0 and free:
            # latent variation: each phrase after the kept bars is encoded, its code moved
            # towards a seeded random code by ``amount`` (slerp), and decoded under the constraints
            noise = np.random.default_rng([self.seed, 7])
            latents = []
            for start in range(keep, count, PHRASE_BARS):
                z = self._encode_phrase(settings, bar_tokens[start : start + PHRASE_BARS])
                latents.append(slerp(z, noise.standard_normal(z.shape), amount))
            bar_latents = [None] * keep + [(i - keep) // PHRASE_BARS for i in free]
            stepper = PhraseStepper(self.vae, latents, bar_latents)
            constraints = replace(constraints, temperature=LATENT_TEMPERATURE)
            plan += [BarPlan("sample") for _ in free]
        elif what == "pitches":
            for index in free:
                events = len(_events(bar_tokens[index]))
                flags = [bool(rng.random() < amount) for _ in range(events)]
                plan.append(BarPlan("pitches", bar_tokens[index], flags))
        else:
            chosen = {i for i in free if rng.random() < amount}
            if amount > 0 and free and not chosen:
                chosen = {free[int(rng.integers(len(free)))]}
            plan += [BarPlan("sample") if i in chosen else BarPlan("keep", bar_tokens[i]) for i in free]
        closes = constraints.end_on_tonic and bool(constraints.tonic_pitches)
        if closes and free and plan[-1].kind == "keep":
            # the last bar is not one the user asked to keep: it closes on the tonic, its
            # rhythm kept as far as a closing tonic of at least a beat allows
            plan[-1] = BarPlan("pitches", bar_tokens[-1], [False] * len(_events(bar_tokens[-1])))
        elif closes and not free:
            self.ctx.log("end_on_tonic: every bar is kept (keep_bars covers the melody), so the ending is the prime's")
        hold_ties_over(plan, bar_tokens)
        body = self._decode(settings, constraints, tk.header(settings.meter, settings.scale), plan, rng, stepper=stepper)
        decoded = self._melody(settings, body)
        sources = [_source_of(bar, source) for bar in plan]
        melody, kept = _restore(decoded, sources, settings.size, self._resampled(settings))
        return melody, kept, keep, stepper is not None

    def _resampled(self, settings: _Settings) -> set[int]:
        """Ticks of the notes whose pitch the last decoder chose in a rhythm-kept bar."""
        return set(self.decoder.resampled) if self.decoder is not None else set()

    def _encode_phrase(self, settings: _Settings, bars: list[list[int]]) -> np.ndarray:
        assert self.vae is not None
        return self.vae.encode(phrase_sequence(tk.meter_token(settings.meter), tk.mode_token(settings.scale), bars))

    def _latent_step(
        self,
        settings: _Settings,
        constraints: Constraints,
        alpha: float,
        length: int,
        codes_a: list[np.ndarray],
        codes_b: list[np.ndarray],
        rng: np.random.Generator,
    ) -> Melody:
        """One interpolation step written from slerped phrase codes (see the module doc)."""
        latents: list[np.ndarray] = []
        bar_latents: list[int | None] = []
        for index, start in enumerate(range(0, length, PHRASE_BARS)):
            za = codes_a[index] if index < len(codes_a) else None
            zb = codes_b[index] if index < len(codes_b) else None
            if za is not None and zb is not None:
                z = slerp(za, zb, alpha)
            else:
                z = za if za is not None else zb
            assert z is not None  # a step is never longer than the longer input
            latents.append(z)
            bar_latents += [index] * min(PHRASE_BARS, length - start)
        stepper = PhraseStepper(self.vae, latents, bar_latents)
        body = self._decode(
            settings,
            replace(constraints, temperature=LATENT_TEMPERATURE),
            tk.header(settings.meter, settings.scale),
            [BarPlan("sample") for _ in range(length)],
            rng,
            stepper=stepper,
        )
        return self._melody(settings, body)

    def interpolate(self, params: dict[str, Any]) -> list[MelodyOutput]:
        first = self._input(params, "prime", required=True)
        second = self._input(params, "target", required=True)
        assert first is not None and second is not None
        if first.melody.meter.replace("2/2", "4/4") != second.melody.meter.replace("2/2", "4/4"):
            raise ParamError(f"interpolate needs two melodies in the same metre; got {first.melody.meter} and {second.melody.meter}")
        count = max(2, int(params.get("count") or 5))
        settings_a, settings_b = _Settings(params, first), _Settings(params, second)
        a = first.melody.copy(key=settings_a.key, time_signature=settings_a.time_signature)
        b = second.melody.copy(key=settings_b.key, time_signature=settings_b.time_signature)
        if settings_b.octave != settings_a.octave:  # one register for both, so their bars can mix
            settings_b.octave = settings_a.octave
            settings_b.window = RegisterWindow(
                settings_a.octave,
                max(tk.PITCH_LOW, settings_b.window.low - settings_b.window.octave + settings_a.octave),
                min(tk.PITCH_HIGH, settings_b.window.high - settings_b.window.octave + settings_a.octave),
                settings_b.window.note,
            )
        bars_a = tk.encode_bars(settings_a.model_view(a), fold=True)
        bars_b = tk.encode_bars(settings_b.model_view(b), fold=True)
        order_rng = np.random.default_rng([self.seed, 0])
        span = max(len(bars_a), len(bars_b))
        rank = np.empty(span)
        rank[order_rng.permutation(span)] = np.arange(span) / span
        lengths = [round((1 - i / (count - 1)) * len(bars_a) + i / (count - 1) * len(bars_b)) for i in range(count)]
        self.bars_total = sum(lengths)
        codes_a: list[np.ndarray] = []
        codes_b: list[np.ndarray] = []
        if self.vae is not None:
            codes_a = [self._encode_phrase(settings_a, bars_a[s : s + PHRASE_BARS]) for s in range(0, len(bars_a), PHRASE_BARS)]
            codes_b = [self._encode_phrase(settings_b, bars_b[s : s + PHRASE_BARS]) for s in range(0, len(bars_b), PHRASE_BARS)]
        outputs = []
        for step in range(count):
            alpha = step / (count - 1)
            settings = settings_a if alpha < 0.5 else settings_b
            constraints = settings.constraints(self.model.config, start_with_note=False)
            rng = np.random.default_rng([self.seed, step + 1])
            if self.vae is not None and 0 < alpha < 1:
                melody = self._latent_step(settings, constraints, alpha, lengths[step], codes_a, codes_b, rng)
                outputs.append(
                    self._output(
                        melody,
                        settings,
                        params,
                        prime=first.melody,
                        seed=self.seed,
                        extra={"interpolation": round(alpha, 4), "step": step + 1, "steps": count, "interpolation_space": "latent"},
                    )
                )
                continue
            smoothing = 2.0 * alpha * (1 - alpha)  # 0 at the ends, 0.5 half-way
            plan: list[BarPlan] = []
            sources: list[BarSource | None] = []
            for index in range(lengths[step]):
                use_b = rank[index] < alpha if index < span else alpha >= 0.5
                options = (
                    [(bars_b, b, settings_b), (bars_a, a, settings_a)] if use_b else [(bars_a, a, settings_a), (bars_b, b, settings_b)]
                )
                picked = next(((bars, mel, s) for bars, mel, s in options if index < len(bars)), None)
                if picked is None:
                    plan.append(BarPlan("sample"))
                    sources.append(None)
                    continue
                bars, mel, source_settings = picked
                transpose = tk.tonic_shift(settings.key) - tk.tonic_shift(source_settings.key)
                if smoothing > 0:
                    flags = [bool(rng.random() < smoothing) for _ in _events(bars[index])]
                    if any(flags):
                        plan.append(BarPlan("pitches", bars[index], flags))
                        sources.append(BarSource(mel, transpose, rhythm_only=True))
                        continue
                plan.append(BarPlan("keep", bars[index]))
                sources.append(BarSource(mel, transpose))
            hold_ties_over(plan, None)
            body = self._decode(settings, constraints, tk.header(settings.meter, settings.scale), plan, rng)
            decoded = self._melody(settings, body)
            melody, kept = _restore(decoded, sources, settings.size, self._resampled(settings))
            outputs.append(
                self._output(
                    melody,
                    settings,
                    params,
                    kept=kept,
                    prime=first.melody,
                    seed=self.seed,
                    extra={"interpolation": round(alpha, 4), "step": step + 1, "steps": count},
                )
            )
        return outputs


def metre_parts(melody: Melody) -> list[tuple[int, int, tuple[int, int]]]:
    """(start tick, end tick, time signature) of each stretch of ``melody`` in one metre,
    in order; one stretch for a melody that never changes metre. Each stretch is whole
    bars of its metre (a metre change lands on a bar line); the last ends at the melody's
    last bar line."""
    changes = [(0, melody.time_signature)] + [(ticks(beat), signature) for beat, signature in melody.meter_changes if ticks(beat) > 0]
    end_of_melody = max([ticks(melody.length)] + [n.end_ticks for n in melody.notes])
    parts = []
    for index, (start, signature) in enumerate(changes):
        if index + 1 < len(changes):
            end = changes[index + 1][0]
        else:
            size = bar_ticks(signature)
            end = start + max(1, math.ceil((end_of_melody - start) / size - 1e-9)) * size
        if end > start:
            parts.append((start, end, signature))
    return parts


def _part_of(melody: Melody, start: int, end: int) -> Melody:
    """The notes starting in ``start..end`` ticks, moved to start at 0 and cut at ``end``."""
    notes = [
        replace(n, start=beats(n.start_ticks - start), duration=beats(min(n.end_ticks, end) - n.start_ticks))
        for n in melody.notes
        if start <= n.start_ticks < end
    ]
    return melody.copy(notes=notes, length=beats(end - start), meter_changes=[], tempo_changes=[])


def form_plan(form: str, bars: int) -> list[BarPlan] | None:
    """Bars to sample or to copy for a phrase form such as AABA (``None`` when ``bars``
    does not divide into its phrases).

    The tune is cut into one phrase per letter; the first phrase of each letter is
    sampled and its repeats copy it, except that a repeat's last bar is written anew
    (a second-time ending) and the tune's last bar is always written (its cadence).
    """
    if form == "free":
        return [BarPlan("sample") for _ in range(bars)]
    if bars % len(form) or bars < len(form):
        return None
    length = bars // len(form)
    first: dict[str, int] = {}
    plan: list[BarPlan] = []
    for phrase, letter in enumerate(form):
        start = phrase * length
        if letter not in first:
            first[letter] = start
            plan += [BarPlan("sample") for _ in range(length)]
            continue
        for offset in range(length):
            repeat_end = offset == length - 1 and length > 1
            if repeat_end or start + offset == bars - 1:
                plan.append(BarPlan("sample"))
            else:
                plan.append(BarPlan("copy", source=first[letter] + offset))
    return plan


def _events(bar_tokens: list[int]) -> list[tuple[str, int, int]]:
    from .decoding import split_events

    return split_events(bar_tokens)


class BarSource:
    """Where an output bar's notes come from when the model did not write them all: an
    input ``melody`` moved by ``transpose`` semitones; ``rhythm_only`` for a bar whose
    rhythm is the input's and whose re-sampled pitches are the model's."""

    def __init__(self, melody: Melody, transpose: int = 0, *, rhythm_only: bool = False) -> None:
        self.melody, self.transpose, self.rhythm_only = melody, transpose, rhythm_only


def _source_of(bar: BarPlan, melody: Melody) -> BarSource | None:
    if bar.kind == "keep":
        return BarSource(melody)
    if bar.kind == "pitches":
        return BarSource(melody, rhythm_only=True)
    return None


def hold_ties_over(plan: list[BarPlan], bar_tokens: list[list[int]] | None) -> None:
    """A re-written bar after a kept one starts with the kept note's tie when the input
    holds that note over the bar line, so the note is kept whole (``BarPlan.lead``)."""
    for index in range(1, len(plan)):
        bar, before = plan[index], plan[index - 1]
        if bar.kind != "sample" or bar_tokens is None or index >= len(bar_tokens):
            continue
        tokens = bar_tokens[index]
        held = before.kind == "keep" or (before.lead and _lead_fills_bar(before.lead, tokens))
        if held and len(tokens) >= 3 and tokens[0] == tk.TIE:
            bar.lead = list(tokens[:3])


def _lead_fills_bar(lead: list[int], tokens: list[int]) -> bool:
    return sum(tk.token_duration(t) for t in tokens if tk.is_duration(t)) == tk.token_duration(lead[2])


def _restore(decoded: Melody, sources: list[BarSource | None], size: int, resampled: set[int] | None = None) -> tuple[Melody, set[int]]:
    """Put the inputs' exact notes back into the bars taken from them.

    ``sources[k]`` says where bar ``k`` comes from (``None``: the model wrote it). A kept
    note is held as far as the decoder held it (over bar lines into kept bars, a re-written
    bar's leading tie, or a rhythm-kept bar's tie), up to its own end; a kept bar that
    starts inside an input note whose start was re-written gets that note's tail. In a
    rhythm-kept bar, notes whose pitch the model did not choose (``resampled`` ticks) are
    the input's own pitch and velocity, so notes outside the model's vocabulary come back
    where they were. Returns the melody and the indices of notes taken from the inputs
    (their velocities are the input's).
    """
    resampled = resampled or set()
    total = len(sources) * size
    decoded_at = {note.start_ticks: note for note in decoded.notes}
    notes: list[tuple[Note, bool]] = []
    for note in decoded.notes:
        bar = note.start_ticks // size
        source = sources[bar] if bar < len(sources) else None
        if source is None:
            notes.append((note, False))
        elif source.rhythm_only:
            original = next((n for n in source.melody.notes if n.start_ticks == note.start_ticks), None)
            if note.start_ticks in resampled or original is None:
                notes.append((note, False))
            else:
                notes.append((replace(note, pitch=original.pitch + source.transpose, velocity=original.velocity), True))
    for bar, source in enumerate(sources):
        if source is None or source.rhythm_only:
            continue
        start, end = bar * size, (bar + 1) * size
        for note in source.melody.notes:
            held = decoded_at.get(note.start_ticks) if start <= note.start_ticks < end else decoded_at.get(start)
            if start <= note.start_ticks < end:
                stop = min(note.end_ticks, held.end_ticks if held is not None else end, total)
                notes.append((replace(note, pitch=note.pitch + source.transpose, duration=beats(max(1, stop - note.start_ticks))), True))
            elif note.start_ticks < start < note.end_ticks and held is not None:
                # the note's start was re-written and its tie dropped: its tail sounds anew
                stop = min(note.end_ticks, held.end_ticks, total)
                notes.append((replace(note, pitch=note.pitch + source.transpose, start=beats(start), duration=beats(stop - start)), True))
    notes.sort(key=lambda item: item[0].start_ticks)
    cleaned: list[tuple[Note, bool]] = []
    for note, kept in notes:
        if cleaned and cleaned[-1][0].end_ticks > note.start_ticks:
            previous, previous_kept = cleaned[-1]
            if note.start_ticks <= previous.start_ticks:
                continue
            cleaned[-1] = (replace(previous, duration=beats(note.start_ticks - previous.start_ticks)), previous_kept)
        cleaned.append((note, kept))
    melody = decoded.copy(notes=[n for n, _ in cleaned], length=beats(total))
    kept_indices = {index for index, (_, kept) in enumerate(cleaned) if kept}
    return melody, kept_indices
