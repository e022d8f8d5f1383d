"""Constrained decoding: sampling tokens that always make a valid melody.

Constraints are masks on the model's next-token distribution, so they are guarantees:

- metre: a duration is offered only if it fits in what is left of the bar *and* leaves a
  remainder that the allowed durations can still fill exactly; ``BAR`` is forced when the
  bar is full and nowhere else; decoding stops after the requested number of bars, so
  every bar (the last included) is exactly full.
- scale: pitches outside the scale are masked, except, when ``passing`` > 0, as passing
  or neighbour notes: a semitone or tone from the in-scale note before it, at most a beat
  long, never tied, never in the last bar, and always followed by an in-scale note a
  semitone or tone away (their probability is scaled by ``passing``).
- range: pitches outside ``low..high`` (normalised) are masked.
- no silent bar: a bar the model writes holds at least one note (a rest may not fill
  what is left of a bar that has no note yet), so no step of an interpolation, no
  variation and no new tune can come back empty. A tune may open with a pickup (a rest,
  then the upbeat in the same bar); a copy of that bar in a form is written afresh (see
  ``Decoder.run``), so no bar in the middle of a tune is a pickup's silence.
- closing tonic: with ``end_on_tonic`` the last bar closes on a tonic that lasts at
  least a beat and holds to the end, in a re-written bar and in a bar whose rhythm is
  kept (see ``Decoder.pitches_bar``); no passing note in the last two bars.

Notes that are given (a prime, kept bars) are fed to the model as they are and are not
checked: the constraints speak for what the model writes.

Decoding works on tonic-normalised tokens (see ``tokens``); the caller transposes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from studio.core.melody import GRID

from . import tokens as tk


class Stepper(Protocol):
    def feed(self, tokens: Sequence[int]) -> np.ndarray:
        """Read ``tokens``; return the next token's logits (any additive constant)."""


@dataclass
class Constraints:
    scale: frozenset[int]  # pitch classes, relative to the tonic (C after normalising)
    low: int = tk.PITCH_LOW
    high: int = tk.PITCH_HIGH
    passing: float = 0.0
    durations: Sequence[int] = field(default_factory=lambda: list(range(1, tk.MAX_DURATION + 1)))
    temperature: float = 1.0
    top_p: float = 0.95
    max_passing_duration: int = GRID
    #: no rest as the very first event (the plugin leaves it off: a new tune may open with
    #: a pickup, as most folk tunes do, and forbidding it skews the rhythm; model card)
    start_with_note: bool = False
    #: the last bar written ends on the tonic (when a tonic lies in the range)
    end_on_tonic: bool = False
    #: every bar the model writes holds at least one note
    no_silent_bars: bool = True

    def __post_init__(self) -> None:
        self.low = max(self.low, tk.PITCH_LOW)
        self.high = min(self.high, tk.PITCH_HIGH)
        self.in_scale = np.zeros(tk.PITCH_HIGH + 1, dtype=bool)
        for pitch in range(tk.PITCH_LOW, tk.PITCH_HIGH + 1):
            self.in_scale[pitch] = pitch % 12 in self.scale
        self.scale_pitches = [p for p in range(self.low, self.high + 1) if self.in_scale[p]]
        self.tonic_pitches = [p for p in self.scale_pitches if p % 12 == 0]
        self._fillable_cache: dict[tuple[int, ...], list[bool]] = {}

    def fillable(self, durations: Sequence[int]) -> list[bool]:
        key = tuple(durations)
        table = self._fillable_cache.get(key)
        if table is None:
            table = [False] * (tk.MAX_DURATION + 1)
            table[0] = True
            for remaining in range(1, tk.MAX_DURATION + 1):
                table[remaining] = any(d <= remaining and table[remaining - d] for d in key)
            self._fillable_cache[key] = table
        return table


class BarCallback(Protocol):
    def __call__(self, bars_done: int, bars_total: int) -> None: ...


@dataclass
class BarPlan:
    """What to do with one bar: ``sample`` it, ``keep`` its tokens, keep its rhythm and
    re-sample the pitches of the events flagged in ``resample``, or ``copy`` the bar
    written at index ``source`` of this plan (a repeated phrase)."""

    kind: str  # "sample" | "keep" | "pitches" | "copy"
    tokens: list[int] = field(default_factory=list)  # the bar's tokens, ending in BAR
    resample: list[bool] = field(default_factory=list)  # per event, for "pitches"
    source: int = -1  # for "copy"
    #: for "sample": a ``TIE PITCH DUR`` event fed before sampling the rest of the bar, so
    #: a note kept from the bar before is held over the bar line as it was
    lead: list[int] = field(default_factory=list)


class Decoder:
    """Runs a ``Stepper`` through a plan of bars under ``Constraints``."""

    def __init__(
        self,
        stepper: Stepper,
        constraints: Constraints,
        rng: np.random.Generator,
        bar_size: int,
        *,
        beat: int = GRID,
        on_bar: Callable[[int, int], None] | None = None,
    ) -> None:
        self.stepper = stepper
        self.c = constraints
        self.rng = rng
        self.size = bar_size
        self.on_bar = on_bar
        self.body: list[int] = []
        self.logits: np.ndarray | None = None
        # state of the line so far
        self.position = 0
        self.last_pitch: int | None = None  # previous event's pitch (None after a rest)
        self.last_generated_chromatic = False
        self.last_event_was_note = False
        self._pending: int | None = None
        allowed = [d for d in constraints.durations if 1 <= d <= bar_size]
        table = constraints.fillable(allowed)
        if not table[bar_size]:
            allowed = list(range(1, bar_size + 1))
        self.durations = allowed
        self.fill = constraints.fillable(allowed)
        # what the closing tonic lasts at least: a beat (see studio.core.melody.beat_ticks)
        self.beat = min(beat, bar_size)
        self.sampled_tokens = 0
        #: body ticks of the notes whose pitch was chosen in a "pitches" bar
        self.resampled: set[int] = set()
        self.bar_index = 0

    # ------------------------------------------------------------------ feeding

    def start(self, prefix: Sequence[int]) -> None:
        """Feed the header (and any context before the planned bars)."""
        self.logits = self.stepper.feed(list(prefix))
        self._track(prefix, generated=False)

    def _feed(self, tokens: Sequence[int], *, generated: bool) -> None:
        self.logits = self.stepper.feed(list(tokens))
        self.body.extend(tokens)
        self.bar_index += sum(1 for token in tokens if token == tk.BAR)
        self._track(tokens, generated=generated)

    def _track(self, tokens: Sequence[int], *, generated: bool) -> None:
        for token in tokens:
            if token == tk.BAR:
                self.position = 0
            elif token == tk.REST:
                self._pending = -1
            elif tk.is_pitch(token):
                self._pending = tk.token_pitch(token)
            elif tk.is_duration(token):
                self.position += tk.token_duration(token)
                if self._pending == -1:
                    self.last_pitch = None
                    self.last_event_was_note = False
                    self.last_generated_chromatic = False
                elif self._pending is not None:
                    self.last_pitch = self._pending
                    self.last_event_was_note = True
                    self.last_generated_chromatic = generated and not self._in_scale(self._pending)
                self._pending = None

    def _in_scale(self, pitch: int) -> bool:
        return tk.PITCH_LOW <= pitch <= tk.PITCH_HIGH and bool(self.c.in_scale[pitch])

    # ------------------------------------------------------------------ sampling

    def _sample(self, allowed: np.ndarray, bias: np.ndarray | None = None) -> int:
        assert self.logits is not None
        candidates = np.flatnonzero(allowed)
        if len(candidates) == 1:
            return int(candidates[0])
        logits = self.logits[candidates].astype(np.float64)
        if bias is not None:
            logits = logits + bias[candidates]
        temperature = max(self.c.temperature, 1e-3)
        logits = (logits - logits.max()) / temperature
        probs = np.exp(logits)
        probs /= probs.sum()
        if self.c.top_p < 1.0:
            order = np.argsort(-probs, kind="stable")
            cumulative = np.cumsum(probs[order])
            keep = order[: int(np.searchsorted(cumulative, self.c.top_p) + 1)]
            mask = np.zeros_like(probs, dtype=bool)
            mask[keep] = True
            probs = np.where(mask, probs, 0.0)
            probs /= probs.sum()
        choice = int(np.searchsorted(np.cumsum(probs), self.rng.random() * probs.sum() * (1 - 1e-12)))
        self.sampled_tokens += 1
        return int(candidates[min(choice, len(candidates) - 1)])

    def _pitch_mask(self, *, last_bar: bool, allow_rest: bool, allow_tie: bool) -> tuple[np.ndarray, np.ndarray | None]:
        allowed = np.zeros(tk.VOCAB_SIZE, dtype=bool)
        bias = None
        c = self.c
        if self.last_generated_chromatic and self.last_pitch is not None:
            # a passing note must resolve by step to the scale
            for pitch in c.scale_pitches:
                if 1 <= abs(pitch - self.last_pitch) <= 2:
                    allowed[tk.pitch_token(pitch)] = True
            if allowed.any():
                return allowed, None
        for pitch in c.scale_pitches:
            allowed[tk.pitch_token(pitch)] = True
        if allow_rest:
            allowed[tk.REST] = True
        if allow_tie and self.last_pitch is not None and self._in_scale(self.last_pitch) and c.low <= self.last_pitch <= c.high:
            allowed[tk.TIE] = True
        remaining = self.size - self.position
        if (
            c.passing > 0
            and not last_bar
            and self.last_event_was_note
            and self.last_pitch is not None
            and self._in_scale(self.last_pitch)
            and any(d <= min(remaining, c.max_passing_duration) and self.fill[remaining - d] for d in self.durations)
        ):
            bias = np.zeros(tk.VOCAB_SIZE)
            for pitch in range(max(c.low, self.last_pitch - 2), min(c.high, self.last_pitch + 2) + 1):
                if pitch == self.last_pitch or self._in_scale(pitch):
                    continue
                if any(1 <= abs(r - pitch) <= 2 for r in c.scale_pitches):
                    token = tk.pitch_token(pitch)
                    allowed[token] = True
                    bias[token] = math.log(c.passing)
        return allowed, bias

    def _cadence(self, final: bool) -> bool:
        return final and self.c.end_on_tonic and bool(self.c.tonic_pitches)

    def _can_go_on(self) -> bool:
        """Whether a note can still come before the closing tonic, leaving it a full beat."""
        remaining = self.size - self.position
        return any(remaining - d >= self.beat and self.fill[remaining - d] for d in self.durations)

    def _duration_mask(self, pitch: int | None, *, final: bool = False) -> np.ndarray:
        remaining = self.size - self.position
        limit = remaining
        if pitch is not None and not self._in_scale(pitch):
            limit = min(limit, self.c.max_passing_duration)
        allowed = np.zeros(tk.VOCAB_SIZE, dtype=bool)
        if self._cadence(final):
            if pitch is not None and pitch % 12 == 0 and not self._can_go_on():
                allowed[tk.duration_token(remaining)] = True  # the closing tonic holds to the end
                return allowed
            # anything else leaves at least a beat for the closing tonic
            limit = min(limit, remaining - self.beat)
        for d in self.durations:
            if d <= limit and self.fill[remaining - d]:
                allowed[tk.duration_token(d)] = True
        if not allowed.any():  # cannot happen with a fillable bar, but never emit an overfull one
            allowed[tk.duration_token(remaining)] = True
        return allowed

    # ------------------------------------------------------------------ bars

    def _rest_leaves_room(self) -> bool:
        """Whether a rest can come now and still leave room for a note in this bar."""
        remaining = self.size - self.position
        return any(d < remaining and self.fill[remaining - d] for d in self.durations)

    def sample_bar(self, *, last_bar: bool, first_of_tune: bool = False, final: bool = False, lead: Sequence[int] = ()) -> None:
        start_of_bar = True
        has_note = False
        if (
            lead
            and self.last_event_was_note
            and self.body
            and self.body[-1] == tk.BAR
            and len(lead) == 3
            and tk.is_pitch(lead[1])
            and tk.token_pitch(lead[1]) == self.last_pitch
        ):
            self._feed(list(lead), generated=False)
            start_of_bar = False
            has_note = True
        while self.position < self.size:
            can_tie = start_of_bar and self.last_event_was_note and bool(self.body) and self.body[-1] == tk.BAR
            allow_rest = not (first_of_tune and self.c.start_with_note and not self.body) and not self.last_generated_chromatic
            if self.c.no_silent_bars and not has_note and not self._rest_leaves_room():
                allow_rest = False
            allowed, bias = self._pitch_mask(last_bar=last_bar, allow_rest=allow_rest, allow_tie=can_tie)
            if self._cadence(final) and not self._can_go_on():
                # the next note is the last: a tonic (or a tie continuing one)
                closing = np.zeros_like(allowed)
                for pitch in self.c.tonic_pitches:
                    closing[tk.pitch_token(pitch)] = allowed[tk.pitch_token(pitch)]
                if allowed[tk.TIE] and self.last_pitch is not None and self.last_pitch % 12 == 0:
                    closing[tk.TIE] = True
                if not closing.any():
                    for pitch in self.c.tonic_pitches:
                        closing[tk.pitch_token(pitch)] = True
                allowed = closing
            token = self._sample(allowed, bias)
            if token == tk.TIE:
                pitch = self.last_pitch
                assert pitch is not None
                self._feed([tk.TIE], generated=True)
                token = tk.pitch_token(pitch)
            self._feed([token], generated=True)
            pitch = None if token == tk.REST else tk.token_pitch(token)
            mask = self._duration_mask(pitch, final=final)
            if pitch is None and self.c.no_silent_bars and not has_note:
                remaining = self.size - self.position
                mask[tk.duration_token(remaining)] = False  # leave room for a note
                if not mask.any():
                    mask[tk.duration_token(remaining)] = True
            duration = self._sample(mask)
            self._feed([duration], generated=True)
            has_note = has_note or pitch is not None
            start_of_bar = False
        self._feed([tk.BAR], generated=True)

    def keep_bar(self, tokens: Sequence[int], *, generated: bool = False) -> None:
        tokens = list(tokens)
        if tokens and tokens[0] == tk.TIE:
            # a tie continues the pitch before it; after a re-sampled bar that may differ
            continues = (
                self.last_event_was_note
                and bool(self.body)
                and self.body[-1] == tk.BAR
                and len(tokens) > 1
                and tk.is_pitch(tokens[1])
                and tk.token_pitch(tokens[1]) == self.last_pitch
            )
            if not continues:
                tokens = tokens[1:]
        self._feed(tokens, generated=generated)

    def pitches_bar(  # noqa: C901
        self,
        tokens: Sequence[int],
        resample: Sequence[bool],
        *,
        last_bar: bool,
        final: bool = False,
    ) -> None:
        """Keep the bar's rhythm and re-sample the pitches of the flagged events.

        In the tune's last bar with ``end_on_tonic``, the closing tonic is placed on the
        last note that starts at least a beat before the bar's end and held to the end
        (what comes after it in the input is merged into it; the rhythm before it is
        kept); an input that already closes that way is left as it is. The tick of every
        note whose pitch the model chose is added to ``resampled`` (body ticks).
        """
        events = split_events(tokens)
        forced = -1
        if self._cadence(final):
            events, forced = closing_events(events, self.size, self.beat)
        for index, event in enumerate(events):
            flag = resample[index] if index < len(resample) else False
            kind, pitch_tok, duration_tok = event
            onset = self.bar_index * self.size + self.position
            if index == forced:
                current = tk.token_pitch(pitch_tok) if tk.is_pitch(pitch_tok) else None
                continues_tonic = kind == "tie" and self.last_event_was_note and self.last_pitch is not None and self.last_pitch % 12 == 0
                if continues_tonic:
                    self._feed([tk.TIE, tk.pitch_token(self.last_pitch), duration_tok], generated=False)
                    continue
                if current is not None and current % 12 == 0 and not flag and kind == "note":
                    self._feed([pitch_tok, duration_tok], generated=False)
                    continue
                allowed = np.zeros(tk.VOCAB_SIZE, dtype=bool)
                for pitch in self.c.tonic_pitches:
                    allowed[tk.pitch_token(pitch)] = True
                if self.last_generated_chromatic and self.last_pitch is not None:
                    near = allowed.copy()
                    for pitch in self.c.tonic_pitches:
                        near[tk.pitch_token(pitch)] = 1 <= abs(pitch - self.last_pitch) <= 2
                    if near.any():
                        allowed = near
                self._feed([self._sample(allowed)], generated=True)
                self._feed([duration_tok], generated=True)
                self.resampled.add(onset)
                continue
            if kind == "rest":
                self._feed([tk.REST, duration_tok], generated=False)
                continue
            if kind == "tie":
                if self.last_event_was_note and self.last_pitch is not None:
                    self._feed([tk.TIE, tk.pitch_token(self.last_pitch), duration_tok], generated=False)
                else:
                    self._feed([pitch_tok, duration_tok], generated=False)
                continue
            if not flag and not self.last_generated_chromatic:
                self._feed([pitch_tok, duration_tok], generated=False)
                continue
            following = events[index + 1] if index + 1 < len(events) else None
            resolves = (
                following is not None
                and following[0] == "note"
                and index + 1 != forced
                and index + 1 < len(resample)
                and resample[index + 1]
            )
            allowed, bias = self._pitch_mask(last_bar=last_bar or not resolves, allow_rest=False, allow_tie=False)
            # keep the rhythm: a passing note may not outlast its limit
            if tk.token_duration(duration_tok) > self.c.max_passing_duration:
                for pitch in range(tk.PITCH_LOW, tk.PITCH_HIGH + 1):
                    if not self.c.in_scale[pitch]:
                        allowed[tk.pitch_token(pitch)] = False
            if not allowed.any():
                token = pitch_tok
            else:
                token = self._sample(allowed, bias)
            self._feed([token], generated=True)
            self._feed([duration_tok], generated=True)
            self.resampled.add(onset)
        self._feed([tk.BAR], generated=False)

    def run(self, plan: Sequence[BarPlan]) -> list[int]:
        total = len(plan)
        sources = {bar.source for bar in plan if bar.kind == "copy"}
        written: list[list[int]] = []
        #: copies of a pickup bar go to the bar written afresh in place of its first copy
        redirect: dict[int, int] = {}
        for index, bar in enumerate(plan):
            if bar.kind == "copy" and 0 <= bar.source < index:
                source = redirect.get(bar.source, bar.source)
                if source == 0 and written[0][:1] == [tk.REST]:
                    # the tune opened with a pickup (a rest, then its upbeat); folk tunes
                    # never repeat that bar mid-tune, so the first copy is written afresh
                    # and later copies repeat the fresh bar (the form is kept)
                    redirect[0] = index
                    sources.add(index)
                    bar = BarPlan("sample")
                else:
                    bar = BarPlan("copy", source=source)
            # a passing note needs a written note after it to resolve to: none in the last
            # bar, nor just before a bar that is kept or copied as it was, nor in a bar that
            # will be copied (its copy may be followed by anything)
            closing = index == total - 1 or plan[index + 1].kind in ("keep", "copy") or index in sources
            if self.c.end_on_tonic and index == total - 2 and plan[-1].kind in ("sample", "pitches"):
                closing = True  # the final bar may have to open with its closing tonic
            start = len(self.body)
            if bar.kind == "keep":
                self.keep_bar(bar.tokens)
            elif bar.kind == "copy":
                if not 0 <= bar.source < index:
                    raise ValueError(f"bar {index} copies bar {bar.source}, which is not written yet")
                self.keep_bar(written[bar.source], generated=True)
            elif bar.kind == "pitches":
                self.pitches_bar(bar.tokens, bar.resample, last_bar=closing, final=index == total - 1)
            else:
                self.sample_bar(last_bar=closing, first_of_tune=index == 0, final=index == total - 1, lead=bar.lead)
            written.append(list(self.body[start:]))
            if self.on_bar is not None:
                self.on_bar(index + 1, total)
        return list(self.body)


def closing_events(events: list[tuple[str, int, int]], size: int, beat: int) -> tuple[list[tuple[str, int, int]], int]:
    """A last bar's events with room for a closing tonic: the last note (or tie) that
    starts at least ``beat`` before the bar's end absorbs everything after it. Returns the
    events and the index of the closing one (a rest there when the bar has no such note)."""
    onsets, position = [], 0
    for _, _, duration_tok in events:
        onsets.append(position)
        position += tk.token_duration(duration_tok)
    candidates = [i for i, onset in enumerate(onsets) if onset <= size - beat]
    if not candidates:
        return events, -1
    notes = [i for i in candidates if events[i][0] != "rest"]
    chosen = notes[-1] if notes else candidates[-1]
    kind, pitch_tok, _ = events[chosen]
    if kind == "rest":
        kind = "note"
    merged = (kind, pitch_tok, tk.duration_token(size - onsets[chosen]))
    return events[:chosen] + [merged], chosen


def split_events(bar_tokens: Sequence[int]) -> list[tuple[str, int, int]]:
    """A bar's tokens as (kind, pitch token or REST, duration token) events."""
    events: list[tuple[str, int, int]] = []
    tie = False
    pitch_tok: int | None = None
    for token in bar_tokens:
        if token == tk.TIE:
            tie = True
        elif token == tk.REST or tk.is_pitch(token):
            pitch_tok = token
        elif tk.is_duration(token) and pitch_tok is not None:
            kind = "rest" if pitch_tok == tk.REST else ("tie" if tie else "note")
            events.append((kind, pitch_tok, token))
            pitch_tok, tie = None, False
    return events


class LSTMStepper:
    """Feeds tokens through the LSTM one call per chunk, keeping its state."""

    def __init__(self, model) -> None:
        self.model = model
        self.state = None
        self.size = 0
        self.position = 0

    def feed(self, tokens: Sequence[int]) -> np.ndarray:
        import torch

        positions = []
        for token in tokens:
            if tk.METER_BASE <= token < tk.MODE_BASE:
                numerator, denominator = (int(p) for p in tk.meter_of(token).split("/"))
                self.size = numerator * 4 * GRID // denominator
                self.position = 0
            elif token == tk.BAR:
                self.position = 0
            elif tk.is_duration(token):
                self.position = min(self.position + tk.token_duration(token), tk.MAX_DURATION)
            positions.append(self.position)
        with torch.inference_mode():
            x = torch.tensor([list(tokens)], dtype=torch.long)
            p = torch.tensor([positions], dtype=torch.long)
            logits, self.state = self.model(x, p, self.state)
        return logits[0, -1].double().numpy()
