"""Prompts read the way AUTOMATIC1111 reads them, encoded here rather than by diffusers.

A1111's prompt syntax is what artists write and what their PNGs record, so a restored
prompt must mean here what it meant there:

- emphasis ``(word)`` multiplies the weight of its tokens by 1.1, ``[word]`` divides it by
  1.1, nesting multiplies (``((word))`` is 1.21), ``(word:1.3)`` sets a factor; an unclosed
  bracket applies to the end of the prompt; ``\\(`` ``\\)`` ``\\[`` ``\\]`` ``\\\\`` are
  literal characters;
- ``BREAK`` ends the current 75-token chunk (the rest of the chunk is padding);
- prompts are not cut at 77 tokens: they are split into chunks of 75 tokens, each wrapped in
  BOS/EOS and encoded separately, and the chunk embeddings are concatenated (1 chunk = 77
  vectors, 2 chunks = 154, ...). A chunk that fills up within 20 tokens of a comma is broken
  after the comma, as A1111's default "comma padding backtrack" does;
- the weights scale each token's embedding, then the whole embedding is rescaled so that its
  mean is what it was before weighting (A1111's default "Original" emphasis);
- the negative prompt is encoded the same way, and whichever of the two has fewer chunks is
  padded with the empty prompt's encoding, so both have the same length (A1111's "pad
  prompt/negative prompt to the same length"; without that option A1111 runs the two through
  the UNet separately, which diffusers' pipelines cannot); an empty negative for SDXL is
  zeros, as in A1111 and diffusers;
- SDXL: both text encoders get the same chunks (penultimate layers, concatenated); the
  pooled embedding is the second encoder's, from the first chunk, unweighted.

This is written from A1111's documented behaviour (its wiki and the examples in its
``prompt_parser.py`` docstring), not from its code. ``compel`` was considered: it reads its
own syntax (``word++``, ``(word)1.2``), weights down by blending with a masked prompt rather
than scaling and restoring the mean, and has no ``BREAK``, so its embeddings would differ from
A1111's for the same text.

One deliberate difference: A1111 multiplies a ``BREAK`` inside brackets like any text, which
makes it encode the literal word "BREAK" with a negative weight; here ``BREAK`` always breaks.
The scheduling syntax (``[from:to:when]``, ``[a|b]``) is not interpreted.

Clip skip (A1111's number: 1 = last layer) is applied to the prompt *and* the negative
prompt, as A1111 does; diffusers' own SD path skips it for the negative, and reaches the
final layer norm through ``text_model``, which transformers >= 5.6 no longer has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1
CHUNK_TOKENS = 75  # tokens per chunk between BOS and EOS
COMMA_BACKTRACK = 20  # A1111's default: break after a comma at most this many tokens back
BREAK = "BREAK"
BREAK_WEIGHT = -1.0  # how A1111's parser marks a BREAK in its output

_TOKENS = re.compile(
    r"""
    \\\(|\\\)|\\\[|\\]|\\\\|\\|   # escapes, and a lone backslash
    \(|\[|                        # openers
    :\s*([+-]?[.\d]+)\s*\)|       # ":1.2)" closes a round bracket with a factor
    \)|]|                         # closers
    [^\\()\[\]:]+|                # plain text
    :                             # a colon that is not a factor
    """,
    re.VERBOSE,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.DOTALL)


def parse_prompt_attention(text: str) -> list[tuple[str, float]]:  # noqa: C901
    """``[(text, weight), ...]`` as A1111 parses emphasis; ``("BREAK", -1.0)`` marks a BREAK.

    Neighbouring pieces with the same weight are merged, and an empty prompt gives
    ``[("", 1.0)]``, as in A1111.
    """
    pieces: list[list[Any]] = []
    round_open: list[int] = []
    square_open: list[int] = []

    def multiply_from(start: int, factor: float) -> None:
        for piece in pieces[start:]:
            if not _is_break(piece):  # a BREAK stays a break inside brackets
                piece[1] *= factor

    for match in _TOKENS.finditer(text):
        token, factor = match.group(0), match.group(1)
        if token.startswith("\\"):
            pieces.append([token[1:], 1.0])
        elif token == "(":
            round_open.append(len(pieces))
        elif token == "[":
            square_open.append(len(pieces))
        elif factor is not None and round_open:
            multiply_from(round_open.pop(), _number(factor))
        elif token == ")" and round_open:
            multiply_from(round_open.pop(), ROUND_MULTIPLIER)
        elif token == "]" and square_open:
            multiply_from(square_open.pop(), SQUARE_MULTIPLIER)
        else:
            for index, part in enumerate(_BREAK.split(token)):
                if index > 0:
                    pieces.append([BREAK, BREAK_WEIGHT])
                pieces.append([part, 1.0])
    for start in round_open:
        multiply_from(start, ROUND_MULTIPLIER)
    for start in square_open:
        multiply_from(start, SQUARE_MULTIPLIER)

    if not pieces:
        pieces = [["", 1.0]]
    merged = [pieces[0]]
    for piece in pieces[1:]:
        last = merged[-1]
        if piece[1] == last[1] and not _is_break(piece) and not _is_break(last):
            last[0] += piece[0]
        else:
            merged.append(piece)
    return [(str(t), float(w)) for t, w in merged]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "(x:1.2.3)" and the like: A1111 would fail; treat the factor as none
        return 1.0


def _is_break(piece: Any) -> bool:
    return piece[0] == BREAK and piece[1] == BREAK_WEIGHT


@dataclass
class PromptChunk:
    """One encoder pass: BOS, 75 tokens (padded), EOS, and each position's weight."""

    tokens: list[int]
    multipliers: list[float]


def tokenize_chunks(text: str, tokenizer: Any, *, comma_backtrack: int = COMMA_BACKTRACK) -> list[PromptChunk]:
    """The prompt as A1111 chunks it: 77 ids per chunk, however long the prompt."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    comma = tokenizer.get_vocab().get(",</w>")
    parsed = parse_prompt_attention(text)
    # verbose=False: a prompt longer than 77 tokens is expected here, not a mistake to warn about
    ids = tokenizer([piece for piece, _ in parsed], truncation=False, add_special_tokens=False, verbose=False)["input_ids"]

    chunks: list[PromptChunk] = []
    tokens: list[int] = []
    weights: list[float] = []
    last_comma = -1

    def close_chunk() -> None:
        nonlocal tokens, weights, last_comma
        padding = CHUNK_TOKENS - len(tokens)
        chunks.append(PromptChunk([bos, *tokens, *[eos] * padding, eos], [1.0, *weights, *[1.0] * padding, 1.0]))
        tokens, weights, last_comma = [], [], -1

    for piece_ids, (piece, weight) in zip(ids, parsed):
        if piece == BREAK and weight == BREAK_WEIGHT:
            close_chunk()
            continue
        for token in piece_ids:
            if token == comma:
                last_comma = len(tokens)
            elif comma_backtrack and len(tokens) == CHUNK_TOKENS and last_comma != -1 and len(tokens) - last_comma <= comma_backtrack:
                # Move the words after the last comma to the next chunk, so a phrase is not split.
                cut = last_comma + 1
                moved_tokens, moved_weights = tokens[cut:], weights[cut:]
                tokens, weights = tokens[:cut], weights[:cut]
                close_chunk()
                tokens, weights = moved_tokens, moved_weights
            if len(tokens) == CHUNK_TOKENS:
                close_chunk()
            tokens.append(token)
            weights.append(weight)
    if tokens or not chunks:
        close_chunk()
    return chunks


# --------------------------------------------------------------------------- encoding


@dataclass(frozen=True)
class EncoderSpec:
    """How one text encoder is read: which hidden layer, and whether the final norm follows."""

    encoder: Any
    tokenizer: Any
    hidden_from_end: int  # 1 = the last layer's output
    final_norm: bool
    pooled: bool = False


def has_clip_text_encoders(pipe: Any) -> bool:
    """True for the SD 1.x / 2.x / XL pipelines whose prompts are encoded here."""
    pairs = [
        (getattr(pipe, "text_encoder", None), getattr(pipe, "tokenizer", None)),
        (getattr(pipe, "text_encoder_2", None), getattr(pipe, "tokenizer_2", None)),
    ]
    present = [(e, t) for e, t in pairs if e is not None]
    if not present or any(t is None for _e, t in present):
        return False
    if getattr(pipe, "text_encoder_3", None) is not None or getattr(pipe, "transformer", None) is not None:
        return False  # SD3 / Flux: T5 and their own conditioning; diffusers encodes those
    return all(type(e).__name__.startswith("CLIPTextModel") for e, _t in present)


def encoder_specs(pipe: Any, clip_skip: int) -> list[EncoderSpec]:
    """The encoders of ``pipe`` and how A1111 reads each, for A1111's ``clip_skip``."""
    clip_skip = max(1, int(clip_skip))
    second = getattr(pipe, "text_encoder_2", None)
    first = getattr(pipe, "text_encoder", None)
    if second is None:
        # SD 1.x / 2.x: the last layer (already normed), or an earlier one put through the final norm.
        return [EncoderSpec(first, pipe.tokenizer, clip_skip, final_norm=clip_skip > 1)]
    # SDXL: the penultimate layer of each encoder, no final norm (clip skip N moves it N-1 further).
    specs = []
    if first is not None:
        specs.append(EncoderSpec(first, pipe.tokenizer, clip_skip + 1, final_norm=False))
    specs.append(EncoderSpec(second, pipe.tokenizer_2, clip_skip + 1, final_norm=False, pooled=True))
    return specs


@dataclass
class Encoded:
    embeds: Any  # [1, 77 * chunks, dim]
    pooled: Any = None  # [1, projection dim] for SDXL


def encode_prompt(specs: list[EncoderSpec], text: str, device: Any) -> Encoded:
    """``text`` through every encoder, chunked and weighted; features concatenated across encoders."""
    import torch

    parts = []
    pooled = None
    for spec in specs:
        chunks = tokenize_chunks(text, spec.tokenizer)
        embeds, spec_pooled = _encode_chunks(spec, chunks, device)
        parts.append(embeds)
        if spec.pooled:
            pooled = spec_pooled
    length = max(part.shape[1] for part in parts)
    if any(part.shape[1] != length for part in parts):
        # Two tokenizers that split the text differently: pad the shorter with its empty chunk.
        parts = [_pad_with_empty(part, spec, device, length) for part, spec in zip(parts, specs)]
    return Encoded(torch.cat(parts, dim=-1), pooled)


def _pad_with_empty(part: Any, spec: EncoderSpec, device: Any, length: int) -> Any:
    import torch

    if part.shape[1] == length:
        return part
    empty, _ = _encode_chunks(spec, tokenize_chunks("", spec.tokenizer), device)
    repeats = (length - part.shape[1]) // empty.shape[1]
    return torch.cat([part, *[empty] * repeats], dim=1)


def _encode_chunks(spec: EncoderSpec, chunks: list[PromptChunk], device: Any) -> tuple[Any, Any]:
    import torch

    encoder, tokenizer = spec.encoder, spec.tokenizer
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    ids = torch.tensor([chunk.tokens for chunk in chunks], dtype=torch.long)
    if pad is not None and pad != eos:
        # OpenCLIP encoders (SD 2.x, SDXL's second) pad with their own token after the first EOS.
        for row in ids:
            first_eos = int((row == eos).nonzero()[0])
            row[first_eos + 1 :] = pad
    mask = None
    if getattr(encoder.config, "use_attention_mask", False):
        first_eos = (ids == eos).int().argmax(dim=1, keepdim=True)
        mask = (torch.arange(ids.shape[1])[None, :] <= first_eos).long().to(device)
    with torch.no_grad():
        output = encoder(ids.to(device), attention_mask=mask, output_hidden_states=True)
        if spec.hidden_from_end == 1:
            hidden = output.last_hidden_state  # the final norm already applied
        else:
            hidden = output.hidden_states[-spec.hidden_from_end]
            if spec.final_norm:
                hidden = _final_layer_norm(encoder)(hidden)
        hidden = hidden.to(dtype=encoder.dtype)
        weights = torch.tensor([chunk.multipliers for chunk in chunks], dtype=hidden.dtype, device=hidden.device)
        weighted = []
        for index in range(len(chunks)):
            z = hidden[index : index + 1]
            w = weights[index : index + 1]
            if bool((w != 1.0).any()):
                original_mean = z.mean()
                z = z * w.unsqueeze(-1)
                z = z * (original_mean / z.mean())
            weighted.append(z)
        embeds = torch.cat(weighted, dim=1)
        pooled = None
        if spec.pooled:
            pooled = getattr(output, "text_embeds", None)
            if pooled is None:
                pooled = output.pooler_output
            pooled = pooled[0:1].to(dtype=encoder.dtype)
    return embeds, pooled


def _final_layer_norm(encoder: Any) -> Any:
    return getattr(encoder, "text_model", encoder).final_layer_norm


def _same_length(cond: Any, uncond: Any, empty: Any) -> tuple[Any, Any]:
    """Pad the shorter of two conditionings with the empty prompt's chunk (A1111's pad_cond)."""
    import torch

    chunks = empty.shape[1]
    if cond.shape[1] < uncond.shape[1]:
        cond = torch.cat([cond, *[empty] * ((uncond.shape[1] - cond.shape[1]) // chunks)], dim=1)
    elif uncond.shape[1] < cond.shape[1]:
        uncond = torch.cat([uncond, *[empty] * ((cond.shape[1] - uncond.shape[1]) // chunks)], dim=1)
    return cond, uncond


def prompt_embeddings(pipe: Any, prompt: str, negative_prompt: str, *, clip_skip: int, with_negative: bool) -> dict[str, Any]:
    """The pipeline-call arguments (``prompt_embeds`` ... ) for ``prompt`` and its negative."""
    import torch

    specs = encoder_specs(pipe, clip_skip)
    device = pipe._execution_device
    cond = encode_prompt(specs, prompt, device)
    call: dict[str, Any] = {"prompt_embeds": cond.embeds}
    if cond.pooled is not None:
        call["pooled_prompt_embeds"] = cond.pooled
    if with_negative and not negative_prompt and getattr(pipe, "text_encoder_2", None) is not None:
        # SDXL: an empty negative prompt is zeros, not the encoded empty string (A1111 and
        # diffusers agree). Zero keys and values attend the same at any length, so the
        # prompt's chunk count needs no padding here.
        call["negative_prompt_embeds"] = torch.zeros_like(cond.embeds)
        if cond.pooled is not None:
            call["negative_pooled_prompt_embeds"] = torch.zeros_like(cond.pooled)
    elif with_negative:
        uncond = encode_prompt(specs, negative_prompt or "", device)
        if uncond.embeds.shape[1] != cond.embeds.shape[1]:
            empty = encode_prompt(specs, "", device).embeds
            call["prompt_embeds"], uncond.embeds = _same_length(cond.embeds, uncond.embeds, empty)
        call["negative_prompt_embeds"] = uncond.embeds
        if uncond.pooled is not None:
            call["negative_pooled_prompt_embeds"] = uncond.pooled
    return call
