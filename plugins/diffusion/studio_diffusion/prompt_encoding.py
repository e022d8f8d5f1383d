"""Clip skip for single-encoder models (SD 1.x / 2.x), encoded here rather than by diffusers.

Two reasons to do it ourselves:
- A1111 applies clip skip to the prompt *and* the negative prompt; diffusers applies it
  to the prompt only, so the same settings would give different images in the two tools.
- diffusers' SD pipelines reach the final layer norm through ``text_encoder.text_model``,
  which transformers >= 5.6 no longer has on ``CLIPTextModel`` (it was flattened), so their
  clip skip fails with an AttributeError on current versions.
SDXL pipelines handle clip skip without either problem and keep diffusers' own path.
"""

from __future__ import annotations

from typing import Any


def needs_own_clip_skip(pipe: Any) -> bool:
    return getattr(pipe, "text_encoder", None) is not None and getattr(pipe, "text_encoder_2", None) is None


def clip_skip_embeddings(pipe: Any, prompt: str, negative_prompt: str, clip_skip: int, with_negative: bool) -> dict[str, Any]:
    """``prompt_embeds`` (and ``negative_prompt_embeds``) taken ``clip_skip`` layers from the end.

    ``clip_skip`` is A1111's number: 1 is the last layer (no skip), 2 the one before it.
    """
    import torch

    encoder = pipe.text_encoder
    tokenizer = pipe.tokenizer
    device = pipe._execution_device
    final_norm = getattr(getattr(encoder, "text_model", encoder), "final_layer_norm")

    def encode(text: str) -> Any:
        tokens = tokenizer(
            text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
        )
        mask = None
        if getattr(encoder.config, "use_attention_mask", False):
            mask = tokens.attention_mask.to(device)
        with torch.no_grad():
            output = encoder(tokens.input_ids.to(device), attention_mask=mask, output_hidden_states=True)
            hidden = output.hidden_states[-clip_skip]
            return final_norm(hidden).to(dtype=encoder.dtype, device=device)

    embeds = {"prompt_embeds": encode(prompt)}
    if with_negative:
        embeds["negative_prompt_embeds"] = encode(negative_prompt or "")
    return embeds
