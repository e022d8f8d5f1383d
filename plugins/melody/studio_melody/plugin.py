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

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.errors import ParamError
from studio.core.melody import (
    PITCH_CLASSES as PITCH_NAMES,
    SCALES,
    Melody,
    Note,
    accent_velocities,
    bar_ticks,
    beat_ticks,
    beats,
    estimate_key,
)
from studio.core.midi import MidiImport, read_midi, read_midi_metadata, write_midi
from studio.plugins.api import Context, Generator, MelodyOutput, ModelFormatError, Request

from . import tokens as tk
from .decoding import BarPlan, Constraints, Decoder
from .inference import NumpyStepper
from .phrase_vae import PHRASE_BARS, PhraseStepper, has_phrase_vae, phrase_sequence, slerp

#: the phrase decoder writes the most likely notes under the constraints (its latent is
#: what varies), so a latent decodes the same way every time
LATENT_TEMPERATURE = 1e-3

SHIPPED_NAME = "folk"
MAX_PRIMING_NOTES = 64


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

    def __init__(self, params: dict[str, Any], prime: MidiImport | None) -> None:
        self.params = params
        melody = prime.melody if prime else None
        key = params.get("key") or "auto"
        scale = params.get("scale") or "auto"
        recorded = prime.record.get("output", {}) if prime is not None else {}
        if melody is not None:
            if recorded.get("key") in PITCH_NAMES and recorded.get("scale") in SCALES:
                # a studio melody says its exact key and scale (MIDI can only say major/minor)
                prime_key, prime_mode = recorded["key"], recorded["scale"]
            elif prime is not None and prime.has_key_signature:
                prime_key, prime_mode = melody.key, melody.mode
            else:
                prime_key, prime_mode = estimate_key(melody.notes)
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
        self.time_signature = _meter_tuple(self.meter)
        self.size = bar_ticks(self.time_signature)

    def constraints(self, model_config, *, start_with_note: bool) -> Constraints:
        p = self.params
        lowest, highest = int(p.get("lowest", 55)), int(p.get("highest", 84))
        if highest < lowest:
            raise ParamError(f"highest ({highest}) is below lowest ({lowest})")
        shift = tk.tonic_shift(self.key)
        constraints = Constraints(
            scale=frozenset(SCALES[self.scale]),
            low=lowest - shift,
            high=highest - shift,
            passing=float(p.get("passing_notes", 0.0)),
            durations=model_config.durations,
            temperature=float(p.get("temperature", 1.0)),
            top_p=float(p.get("top_p", 0.95)),
            start_with_note=start_with_note,
            end_on_tonic=bool(p.get("end_on_tonic", True)),
        )
        if len(constraints.scale_pitches) < 3:
            raise ParamError(f"the range {lowest}..{highest} holds fewer than 3 notes of {self.key} {self.scale}; "
                             "widen it (an octave or more works for every scale)")
        return constraints


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
            raise ParamError(f"{name}: its metre {imported.melody.meter} is not supported; "
                             f"use one of {', '.join(tk.METERS)}")
        return imported

    def _on_bar(self, done: int, total: int) -> None:
        self.bars_done += 1
        self.ctx.progress(self.bars_done, self.bars_total, f"bar {self.bars_done} of {self.bars_total}")
        self.ctx.check_cancelled()

    def _decode(self, settings: _Settings, constraints: Constraints, prefix: list[int], plan: list[BarPlan],
                rng: np.random.Generator, stepper=None) -> list[int]:
        self.ctx.check_cancelled()
        decoder = Decoder(stepper or NumpyStepper(self.model), constraints, rng, settings.size,
                          beat=beat_ticks(settings.time_signature), on_bar=self._on_bar)
        decoder.start(prefix)
        return decoder.run(plan)

    def _melody(self, settings: _Settings, body: list[int]) -> Melody:
        return tk.decode_body(body, time_signature=settings.time_signature, key=settings.key,
                              mode=settings.scale, tempo=settings.tempo)

    def _output(self, melody: Melody, settings: _Settings, params: dict[str, Any], kept: set[int] | None = None,
                extra: dict[str, Any] | None = None, prime: Melody | None = None, seed: int | None = None) -> MelodyOutput:
        seed = self.seed if seed is None else seed
        accents = accent_velocities(melody, seed=seed)
        notes = [note if kept and index in kept else replace(note, velocity=accents[index])
                 for index, note in enumerate(melody.notes)]
        melody = melody.copy(notes=notes)
        parameters: dict[str, Any] = {
            "mode": params.get("mode", "new"),
            "seed": seed,
            "temperature": params.get("temperature"),
            "top_p": params.get("top_p"),
            "key": settings.key,
            "scale": settings.scale,
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
        if extra:
            parameters.update(extra)
        return MelodyOutput(midi=write_midi(melody, record={"output": parameters}), parameters=parameters)

    # -------------------------------------------------------------- modes

    def new(self, params: dict[str, Any]) -> MelodyOutput:
        settings = _Settings(params, None)
        constraints = settings.constraints(self.model.config, start_with_note=True)
        bars = int(params.get("bars") or 8)
        self.bars_total = bars
        rng = np.random.default_rng(self.seed)
        plan = self._form_plan(str(params.get("form") or "free"), bars)
        body = self._decode(settings, constraints, tk.header(settings.meter, settings.scale), plan, rng)
        return self._output(self._melody(settings, body), settings, params,
                            extra={"form": params.get("form") or "free"})

    def _form_plan(self, form: str, bars: int) -> list[BarPlan]:
        plan = form_plan(form, bars)
        if plan is None:
            self.ctx.log(f"form {form} needs a number of bars divisible by {len(form)}; wrote a free form")
            plan = [BarPlan("sample") for _ in range(bars)]
        return plan

    def continue_(self, params: dict[str, Any]) -> MelodyOutput:
        imported = self._input(params, "prime", required=True)
        assert imported is not None
        settings = _Settings(params, imported)
        if settings.meter_note:
            self.ctx.log(settings.meter_note)
        prime = imported.melody.copy(time_signature=settings.time_signature, key=settings.key)
        constraints = settings.constraints(self.model.config, start_with_note=False)
        bars = int(params.get("bars") or 8)
        self.bars_total = bars
        prime_bars = tk.encode_bars(prime, fold=True)
        prefix = tk.header(settings.meter, settings.scale) + [t for bar in prime_bars for t in bar]
        rng = np.random.default_rng(self.seed)
        body = self._decode(settings, constraints, prefix, [BarPlan("sample") for _ in range(bars)], rng)
        continuation = self._melody(settings, body)
        offset = len(prime_bars) * settings.size
        moved = [replace(n, start=beats(n.start_ticks + offset)) for n in continuation.notes]
        notes = list(imported.melody.notes) + moved
        melody = Melody(notes=notes, tempo=settings.tempo, time_signature=settings.time_signature, key=settings.key,
                        mode=settings.scale, length=beats(offset + bars * settings.size))
        kept = set(range(len(imported.melody.notes)))
        return self._output(melody, settings, params, kept=kept, prime=imported.melody,
                            extra={"prime_bars": len(prime_bars), "new_bars": bars})

    def vary(self, params: dict[str, Any]) -> MelodyOutput:
        imported = self._input(params, "prime", required=True)
        assert imported is not None
        settings = _Settings(params, imported)
        source = imported.melody.copy(time_signature=settings.time_signature, key=settings.key)
        constraints = settings.constraints(self.model.config, start_with_note=False)
        bar_tokens = tk.encode_bars(source, fold=True)
        count = len(bar_tokens)
        keep = max(0, min(int(params.get("keep_bars") or 0), count))
        amount = float(params.get("variation", 0.5))
        what = params.get("vary_what") or "everything"
        rng = np.random.default_rng(self.seed)
        plan: list[BarPlan] = [BarPlan("keep", bar) for bar in bar_tokens[:keep]]
        free = list(range(keep, count))
        stepper = None
        if self.vae is not None and what == "everything" and amount > 0 and free:
            # latent variation: each phrase after the kept bars is encoded, its code moved
            # towards a seeded random code by ``amount`` (slerp), and decoded under the constraints
            noise = np.random.default_rng([self.seed, 7])
            latents = []
            for start in range(keep, count, PHRASE_BARS):
                z = self._encode_phrase(settings, bar_tokens[start:start + PHRASE_BARS])
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
        self.bars_total = count
        body = self._decode(settings, constraints, tk.header(settings.meter, settings.scale), plan, rng,
                            stepper=stepper)
        decoded = self._melody(settings, body)
        sources = [(source, 0) if bar.kind == "keep" else None for bar in plan]
        melody, kept = _restore(decoded, sources, settings.size)
        extra = {"keep_bars": keep, "vary_what": what, "variation": amount}
        if stepper is not None:
            extra["variation_space"] = "latent"
        return self._output(melody, settings, params, kept=kept, prime=imported.melody, extra=extra)

    def _encode_phrase(self, settings: _Settings, bars: list[list[int]]) -> np.ndarray:
        assert self.vae is not None
        return self.vae.encode(phrase_sequence(tk.meter_token(settings.meter), tk.mode_token(settings.scale), bars))

    def _latent_step(self, settings: _Settings, constraints: Constraints, alpha: float, length: int,
                     codes_a: list[np.ndarray], codes_b: list[np.ndarray], rng: np.random.Generator) -> Melody:
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
        body = self._decode(settings, replace(constraints, temperature=LATENT_TEMPERATURE),
                            tk.header(settings.meter, settings.scale), [BarPlan("sample") for _ in range(length)],
                            rng, stepper=stepper)
        return self._melody(settings, body)

    def interpolate(self, params: dict[str, Any]) -> list[MelodyOutput]:
        first = self._input(params, "prime", required=True)
        second = self._input(params, "target", required=True)
        assert first is not None and second is not None
        if first.melody.meter.replace("2/2", "4/4") != second.melody.meter.replace("2/2", "4/4"):
            raise ParamError(f"interpolate needs two melodies in the same metre; got {first.melody.meter} "
                             f"and {second.melody.meter}")
        count = max(2, int(params.get("count") or 5))
        settings_a, settings_b = _Settings(params, first), _Settings(params, second)
        a = first.melody.copy(key=settings_a.key, time_signature=settings_a.time_signature)
        b = second.melody.copy(key=settings_b.key, time_signature=settings_b.time_signature)
        bars_a, bars_b = tk.encode_bars(a, fold=True), tk.encode_bars(b, fold=True)
        order_rng = np.random.default_rng([self.seed, 0])
        span = max(len(bars_a), len(bars_b))
        rank = np.empty(span)
        rank[order_rng.permutation(span)] = np.arange(span) / span
        lengths = [round((1 - i / (count - 1)) * len(bars_a) + i / (count - 1) * len(bars_b)) for i in range(count)]
        self.bars_total = sum(lengths)
        codes_a: list[np.ndarray] = []
        codes_b: list[np.ndarray] = []
        if self.vae is not None:
            codes_a = [self._encode_phrase(settings_a, bars_a[s:s + PHRASE_BARS])
                       for s in range(0, len(bars_a), PHRASE_BARS)]
            codes_b = [self._encode_phrase(settings_b, bars_b[s:s + PHRASE_BARS])
                       for s in range(0, len(bars_b), PHRASE_BARS)]
        outputs = []
        for step in range(count):
            alpha = step / (count - 1)
            settings = settings_a if alpha < 0.5 else settings_b
            constraints = settings.constraints(self.model.config, start_with_note=False)
            rng = np.random.default_rng([self.seed, step + 1])
            if self.vae is not None and 0 < alpha < 1:
                melody = self._latent_step(settings, constraints, alpha, lengths[step], codes_a, codes_b, rng)
                outputs.append(self._output(melody, settings, params, prime=first.melody, seed=self.seed,
                                            extra={"interpolation": round(alpha, 4), "step": step + 1,
                                                   "steps": count, "interpolation_space": "latent"}))
                continue
            smoothing = 2.0 * alpha * (1 - alpha)  # 0 at the ends, 0.5 half-way
            plan: list[BarPlan] = []
            sources: list[tuple[Melody, int] | None] = []
            for index in range(lengths[step]):
                use_b = rank[index] < alpha if index < span else alpha >= 0.5
                options = [(bars_b, b, settings_b), (bars_a, a, settings_a)] if use_b else \
                    [(bars_a, a, settings_a), (bars_b, b, settings_b)]
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
                        sources.append(None)
                        continue
                plan.append(BarPlan("keep", bars[index]))
                sources.append((mel, transpose))
            body = self._decode(settings, constraints, tk.header(settings.meter, settings.scale), plan, rng)
            decoded = self._melody(settings, body)
            melody, kept = _restore(decoded, sources, settings.size)
            outputs.append(self._output(melody, settings, params, kept=kept, prime=first.melody,
                                        seed=self.seed, extra={"interpolation": round(alpha, 4), "step": step + 1,
                                                               "steps": count}))
        return outputs


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


def _restore(decoded: Melody, sources: list[tuple[Melody, int] | None], size: int) -> tuple[Melody, set[int]]:
    """Put the exact notes back into bars that were kept from an input.

    ``sources[k]`` is (input melody, semitones to move it) for a kept bar, ``None`` for a
    bar the model wrote. Returns the melody and the indices of the restored notes (their
    velocities are the input's).
    """
    notes: list[tuple[Note, bool]] = []
    for note in decoded.notes:
        bar = note.start_ticks // size
        if bar < len(sources) and sources[bar] is not None:
            continue
        notes.append((note, False))
    for bar, source in enumerate(sources):
        if source is None:
            continue
        melody, transpose = source
        for note in melody.notes:
            if bar * size <= note.start_ticks < (bar + 1) * size:
                end = note.end_ticks
                next_same = bar + 1 < len(sources) and sources[bar + 1] is not None and sources[bar + 1][0] is melody
                if not next_same:
                    end = min(end, (bar + 1) * size)
                end = min(end, len(sources) * size)
                notes.append((replace(note, pitch=note.pitch + transpose,
                                      duration=beats(end - note.start_ticks)), True))
    notes.sort(key=lambda item: item[0].start_ticks)
    cleaned: list[tuple[Note, bool]] = []
    for note, kept in notes:
        if cleaned and cleaned[-1][0].end_ticks > note.start_ticks:
            previous, previous_kept = cleaned[-1]
            if note.start_ticks <= previous.start_ticks:
                continue
            cleaned[-1] = (replace(previous, duration=beats(note.start_ticks - previous.start_ticks)), previous_kept)
        cleaned.append((note, kept))
    melody = decoded.copy(notes=[n for n, _ in cleaned], length=beats(len(sources) * size))
    kept_indices = {index for index, (_, kept) in enumerate(cleaned) if kept}
    return melody, kept_indices
