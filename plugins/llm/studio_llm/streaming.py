"""Streaming text out of ``model.generate`` as it is produced, with stop strings and cancel.

One object, called by ``generate`` after every new token in the calling thread (it is a
``StoppingCriteria``), does all of it:

- decodes the new token incrementally (only the last few tokens are decoded, so the cost
  per token does not grow with the reply; a token that ends inside a multi-byte character
  waits for the next one);
- holds back text that might be the start of a stop string, so a stop string never
  reaches the window, and cuts the reply where one appears;
- sends each piece to ``emit`` (``ctx.stream_text``): the pieces joined are exactly the
  final text;
- raises ``Cancelled`` as soon as the job is cancelled, so ``generate`` unwinds at the next
  token instead of running on in a thread nobody can stop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from studio.core.errors import Cancelled

try:  # transformers is a dependency of the plugin, but keep this module importable without it
    from transformers import StoppingCriteria
except ImportError:  # pragma: no cover
    StoppingCriteria = object  # type: ignore[misc,assignment]

STOP_EOS = "eos"
STOP_STRING = "stop string"
STOP_LENGTH = "length"


def parse_stop_strings(text: str) -> list[str]:
    """Stop strings, one a line; ``\\n``, ``\\t`` and ``\\\\`` in a line are a newline, a tab, a backslash."""
    stops: list[str] = []
    for line in (text or "").splitlines():
        if not line:
            continue
        value = line.replace("\\\\", "\0").replace("\\n", "\n").replace("\\t", "\t").replace("\0", "\\")
        if value not in stops:
            stops.append(value)
    return stops


class IncrementalDecoder:
    """Token ids in, new text out, decoding a short window rather than the whole reply.

    The window starts one token before the last emitted one, so tokenizers that drop or
    merge spaces at the start of a decode (SentencePiece) still produce the right spacing.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        # Fast tokenizers: call the Rust decoder directly (a third of the cost per token).
        self._backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
        self._ids: list[int] = []
        self._prefix = 0
        self._read = 0

    def _decode(self, ids: list[int]) -> str:
        if not ids:
            return ""
        if self._backend is not None:
            return self._backend.decode(ids, skip_special_tokens=True)
        return self._tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def push(self, token: int) -> str:
        self._ids.append(token)
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self._prefix, self._read = self._read, len(self._ids)
            return after[len(before) :]
        return ""

    def flush(self) -> str:
        before = self._decode(self._ids[self._prefix : self._read])
        after = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return after[len(before) :] if len(after) > len(before) else ""

    @property
    def token_count(self) -> int:
        return len(self._ids)


class TextStream(StoppingCriteria):
    """The per-token hook: decode, hold back possible stop strings, emit, stop or cancel."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        emit: Callable[[str], None],
        is_cancelled: Callable[[], bool],
        stop_strings: Iterable[str] = (),
        eos_token_ids: Iterable[int] = (),
        max_new_tokens: int | None = None,
    ) -> None:
        self._decoder = IncrementalDecoder(tokenizer)
        self._emit = emit
        self._is_cancelled = is_cancelled
        self.stop_strings = [s for s in stop_strings if s]
        self._eos = {int(t) for t in eos_token_ids}
        self._max_new_tokens = max_new_tokens
        self._pending = ""  # decoded but not yet emitted: might be the start of a stop string
        self._pieces: list[str] = []
        self.finished = False
        self.reason = STOP_LENGTH
        self.generated = 0  # tokens generated, EOS included
        self._answers: dict[tuple[int, bool, Any], Any] = {}

    # ------------------------------------------------------------------ StoppingCriteria

    def __call__(self, input_ids: Any, scores: Any = None, **kwargs: Any) -> Any:
        if not self.finished:
            self.step(int(input_ids[0, -1]))
        return self._answer(input_ids)

    def _answer(self, input_ids: Any) -> Any:
        key = (input_ids.shape[0], self.finished, input_ids.device)
        answer = self._answers.get(key)
        if answer is None:
            import torch

            answer = torch.full((input_ids.shape[0],), self.finished, dtype=torch.bool, device=input_ids.device)
            self._answers[key] = answer
        return answer

    # ------------------------------------------------------------------ per token

    def step(self, token: int) -> None:
        """Take one generated token (also usable without ``generate``, e.g. in tests)."""
        if self._is_cancelled():
            raise Cancelled()
        self.generated += 1
        if token in self._eos:
            self.finished, self.reason = True, STOP_EOS
            self._accept(self._decoder.flush(), final=True)
            return
        self._accept(self._decoder.push(token), final=False)
        if not self.finished and self._max_new_tokens is not None and self.generated >= self._max_new_tokens:
            self.finished, self.reason = True, STOP_LENGTH
            self._accept(self._decoder.flush(), final=True)

    def finish(self) -> str:
        """Emit whatever is still held back; the full text (equal to the emitted pieces joined)."""
        if not self.finished:
            self.finished = True
            self._accept(self._decoder.flush(), final=True)
        return self.text

    @property
    def text(self) -> str:
        return "".join(self._pieces)

    # ------------------------------------------------------------------ internals

    def _accept(self, delta: str, *, final: bool) -> None:
        pending = self._pending + delta
        if self.stop_strings:
            hits = [index for index in (pending.find(stop) for stop in self.stop_strings) if index >= 0]
            if hits:
                self._send(pending[: min(hits)])
                self._pending = ""
                self.finished, self.reason = True, STOP_STRING
                return
            keep = 0 if final else _held_back(pending, self.stop_strings)
            self._send(pending[: len(pending) - keep])
            self._pending = pending[len(pending) - keep :]
        else:
            self._send(pending)
            self._pending = ""

    def _send(self, piece: str) -> None:
        if piece:
            self._pieces.append(piece)
            self._emit(piece)


def _held_back(text: str, stops: list[str]) -> int:
    """Length of the longest end of ``text`` that is the beginning of a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest
