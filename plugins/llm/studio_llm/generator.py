"""``studio.llm``: any local causal language model, streamed token by token.

Generation runs in the calling (job) thread through ``model.generate``. A ``TextStream``
passed as a stopping criterion sees every new token there: it streams the text, applies
stop strings and raises ``Cancelled`` at the next token after a cancel, so there is never a
``generate()`` left running in a thread nobody can stop.

The loaded model and tokenizer live in the engine's shared cache (``ctx.models``), keyed on
the folder's content, dtype and device: the second job on a model starts at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from studio.core.errors import ModelFormatError, ParamError
from studio.plugins.api import Context, Generator, Request, TextOutput, seeded_torch
from studio_llm.conversation import conversation_with_reply, parse_conversation, render
from studio_llm.model_folder import ModelSource, resolve_model
from studio_llm.streaming import TextStream, parse_stop_strings


@dataclass
class LoadedLanguageModel:
    """What the model cache holds for one model: the network, its tokenizer, their size."""

    model: Any
    tokenizer: Any
    name: str
    studio_size_bytes: int  # read by the cache's memory accounting
    context_length: int | None


def load_language_model(source: ModelSource, *, dtype: str, device: str) -> LoadedLanguageModel:
    """Load with transformers, offline, refusing pickle and remote code unless allowed."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    common: dict[str, Any] = {"local_files_only": True, "trust_remote_code": source.trust_remote_code}
    if source.gguf_file:
        common["gguf_file"] = source.gguf_file
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source.folder), **common)
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError… for a bad folder
        raise ModelFormatError(f"{source.name}: the tokenizer cannot be loaded: {_why(exc)}") from None

    model_options = dict(common, dtype=getattr(torch, dtype, torch.float32))
    if not source.gguf_file:
        model_options["use_safetensors"] = None if source.allow_pickle else True
    try:
        model = AutoModelForCausalLM.from_pretrained(str(source.folder), **model_options)
    except Exception as exc:
        raise ModelFormatError(f"{source.name}: the model cannot be loaded: {_why(exc)}") from None
    model.to(device)
    model.eval()
    size = sum(t.numel() * t.element_size() for t in model.parameters()) + sum(t.numel() * t.element_size() for t in model.buffers())
    context = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    return LoadedLanguageModel(model, tokenizer, source.name, int(size), int(context) if context else None)


def _why(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "trust_remote_code" in str(exc):
        return f"{text} (this model needs its own code: trust its folder in Settings only if you trust its source)"
    return text


class LanguageModelGenerator(Generator):
    def generate(self, request: Request, ctx: Context) -> list[TextOutput]:
        params = request.params
        source = resolve_model(params.get("model"), ctx.model_paths, ctx.settings or {})
        lm: LoadedLanguageModel = ctx.models.load(
            source.path,
            lambda _path: load_language_model(source, dtype=ctx.dtype, device=ctx.device),
            kind="llm",
            dtype=ctx.dtype,
            device=ctx.device,
        )
        mode = str(params.get("mode") or "chat")
        prompt = str(params.get("prompt") or "")
        system_prompt = str(params.get("system_prompt") or "")
        conversation = parse_conversation(str(params.get("conversation") or ""))
        rendered = render(lm.tokenizer, mode, prompt, system_prompt, conversation)
        if rendered.note:
            ctx.log(rendered.note)

        inputs = lm.tokenizer(rendered.text, return_tensors="pt", add_special_tokens=rendered.add_special_tokens)
        inputs = {key: value.to(ctx.device) for key, value in inputs.items() if key in ("input_ids", "attention_mask")}
        prompt_tokens = int(inputs["input_ids"].shape[1])
        max_new_tokens = self._budget(int(params.get("max_new_tokens") or 256), prompt_tokens, lm, ctx)

        options = sampling_options(params)
        generation_config = lm.model.generation_config
        eos_ids = _token_ids(generation_config.eos_token_id) | _token_ids(lm.tokenizer.eos_token_id)
        pad_id = generation_config.pad_token_id
        if pad_id is None:
            pad_id = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else next(iter(eos_ids), 0)

        stream = TextStream(
            lm.tokenizer,
            emit=ctx.stream_text,
            is_cancelled=lambda: ctx.cancelled,
            stop_strings=parse_stop_strings(str(params.get("stop") or "")) + rendered.extra_stops,
            eos_token_ids=eos_ids,
            max_new_tokens=max_new_tokens,
        )
        started = time.perf_counter()
        run_generate(
            lm.model, inputs, stream, seed=request.seed, device=ctx.device, max_new_tokens=max_new_tokens, pad_token_id=pad_id, **options
        )
        text = stream.finish()
        ctx.check_cancelled()
        elapsed = max(time.perf_counter() - started, 1e-9)
        ctx.progress(1, 1)
        ctx.log(f"{stream.generated} tokens in {elapsed:.2f}s ({stream.generated / elapsed:.1f} tokens/s), stopped by {stream.reason}")

        parameters: dict[str, Any] = {
            "Model": lm.name,
            "Mode": mode,
            "Temperature": options.get("temperature", 0.0),
            "Top k": options.get("top_k", 0),
            "Top p": options.get("top_p", 1.0),
            "Min p": options.get("min_p", 0.0),
            "Repetition penalty": options.get("repetition_penalty", 1.0),
            "Max new tokens": max_new_tokens,
            "Seed": request.seed,
            "Prompt tokens": prompt_tokens,
            "Tokens": stream.generated,
            "Stopped by": stream.reason,
            "Chat template": "model" if rendered.used_template else "none",
        }
        if mode == "chat":
            parameters["Conversation"] = conversation_with_reply(rendered.messages, text)
        return [TextOutput(text, parameters=parameters)]

    @staticmethod
    def _budget(requested: int, prompt_tokens: int, lm: LoadedLanguageModel, ctx: Context) -> int:
        if lm.context_length is None:
            return requested
        room = lm.context_length - prompt_tokens
        if room <= 0:
            raise ParamError(
                f"the prompt is {prompt_tokens} tokens, as long as {lm.name}'s whole context "
                f"({lm.context_length} tokens); shorten the conversation"
            )
        if requested > room:
            ctx.log(f"max new tokens lowered from {requested} to {room} to fit the model's {lm.context_length}-token context")
            return room
        return requested


def sampling_options(params: Any) -> dict[str, Any]:
    """generate() keyword arguments for the panel's sampling controls (greedy at temperature 0)."""
    temperature = float(params.get("temperature", 0.7) or 0.0)
    options: dict[str, Any] = {}
    if temperature > 0:
        options.update(do_sample=True, temperature=temperature)
        options["top_k"] = int(params.get("top_k") or 0)
        options["top_p"] = float(params.get("top_p", 1.0) if params.get("top_p") is not None else 1.0)
        min_p = float(params.get("min_p") or 0.0)
        if min_p > 0:
            options["min_p"] = min_p
    else:
        options.update(do_sample=False, temperature=None, top_k=None, top_p=None)
    penalty = float(params.get("repetition_penalty") or 1.0)
    if penalty != 1.0:
        options["repetition_penalty"] = penalty
    return options


def run_generate(model: Any, inputs: dict[str, Any], stream: TextStream, *, seed: int, device: str, **options: Any) -> None:
    """``model.generate`` in this thread, seeded, with ``stream`` seeing every token."""
    import torch
    from transformers import StoppingCriteriaList

    with torch.inference_mode(), seeded_torch(seed, device):
        model.generate(**inputs, stopping_criteria=StoppingCriteriaList([stream]), **options)


def _token_ids(value: Any) -> set[int]:
    if value is None:
        return set()
    if isinstance(value, (list, tuple, set)):
        return {int(v) for v in value}
    return {int(value)}
