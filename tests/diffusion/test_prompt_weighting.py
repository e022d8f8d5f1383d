"""A1111 prompt syntax: the parser's weights, chunking past 77 tokens, BREAK, and the
embeddings that reach the UNet (SD 1.x, SD 2.x-style OpenCLIP padding, SDXL), on tiny models."""

from __future__ import annotations

import pytest
import torch
from diffusion_helpers import base_params, png_image
from studio_diffusion.prompt_encoding import (
    BREAK,
    CHUNK_TOKENS,
    encoder_specs,
    parse_prompt_attention,
    prompt_embeddings,
    tokenize_chunks,
)
from tiny_sd import _tokenizer, build_tiny_pipeline, build_tiny_sdxl_pipeline


def long_prompt(last_word: str = "cat") -> str:
    """200 tokens with the tiny vocabulary ("a", "red", "cat", "," are one token each)."""
    return " ".join(["a red cat,"] * 49 + [f"a red {last_word},"])


LONG = long_prompt()


@pytest.fixture(scope="module")
def sd1():
    pipe = build_tiny_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def sdxl():
    pipe = build_tiny_sdxl_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe


# --------------------------------------------------------------------------- parser


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The examples A1111 documents for its parser, with its exact floats.
        ("normal text", [("normal text", 1.0)]),
        ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
        ("(unbalanced", [("unbalanced", 1.1)]),
        ("\\(literal\\]", [("(literal]", 1.0)]),
        ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
        (
            "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
            [
                ("a ", 1.0),
                ("house", 1.5730000000000004),
                (" ", 1.1),
                ("on", 1.0),
                (" a ", 1.1),
                ("hill", 0.55),
                (", sun, ", 1.1),
                ("sky", 1.4641000000000006),
                (".", 1.1),
            ],
        ),
        ("((word))", [("word", 1.2100000000000002)]),
        ("[word]", [("word", 1 / 1.1)]),
        ("[[word]]", [("word", 1 / 1.1 / 1.1)]),
        ("(word:1.2)", [("word", 1.2)]),
        ("((word:1.5))", [("word", 1.5 * 1.1)]),
        ("a \\\\ b", [("a \\ b", 1.0)]),
        ("ratio 16:9", [("ratio 16:9", 1.0)]),
        ("stray :1.2) close", [("stray :1.2) close", 1.0)]),
        ("", [("", 1.0)]),
    ],
)
def test_parser_weights_match_a1111(text, expected):
    assert parse_prompt_attention(text) == expected


def test_break_splits_the_prompt_and_stays_a_break_inside_brackets():
    assert parse_prompt_attention("a cat BREAK a dog") == [("a cat", 1.0), (BREAK, -1.0), ("a dog", 1.0)]
    assert parse_prompt_attention("(cat BREAK dog)") == [("cat", 1.1), (BREAK, -1.0), ("dog", 1.1)]
    # only the word on its own: "BREAKFAST" is text
    assert parse_prompt_attention("BREAKFAST") == [("BREAKFAST", 1.0)]


# --------------------------------------------------------------------------- chunks


def test_200_token_prompt_becomes_three_full_chunks_with_every_token():
    tokenizer = _tokenizer()
    chunks = tokenize_chunks(LONG, tokenizer, comma_backtrack=0)
    plain = tokenizer(LONG, add_special_tokens=False)["input_ids"]
    assert len(plain) == 200
    assert len(chunks) == 3
    for chunk in chunks:
        assert len(chunk.tokens) == CHUNK_TOKENS + 2 == len(chunk.multipliers)
        assert chunk.tokens[0] == tokenizer.bos_token_id and chunk.tokens[-1] == tokenizer.eos_token_id
    body = [t for chunk in chunks for t in chunk.tokens[1:-1]]
    assert body[:200] == plain  # nothing cut, nothing reordered
    assert set(body[200:]) == {tokenizer.eos_token_id}  # the last chunk is padded with EOS


def test_a_chunk_that_fills_up_breaks_after_the_last_comma():
    tokenizer = _tokenizer()
    text = " ".join(["a red cat a dog,"] * 20)  # a comma every 6 tokens: chunk 1 would end mid-phrase
    chunks = tokenize_chunks(text, tokenizer)  # A1111's default backtrack of 20 tokens
    comma = tokenizer.get_vocab()[",</w>"]
    first_body = [t for t in chunks[0].tokens[1:-1] if t != tokenizer.eos_token_id]
    assert first_body[-1] == comma and len(first_body) < CHUNK_TOKENS
    assert chunks[0].tokens[len(first_body) + 1 :] == [tokenizer.eos_token_id] * (CHUNK_TOKENS + 1 - len(first_body))
    # and the words after it open the next chunk
    assert len(first_body) == 72
    assert chunks[1].tokens[1:5] == tokenizer("a red cat a", add_special_tokens=False)["input_ids"]


def test_break_starts_a_new_chunk():
    tokenizer = _tokenizer()
    chunks = tokenize_chunks("a red cat BREAK a dog", tokenizer)
    assert len(chunks) == 2
    first = tokenizer("a red cat", add_special_tokens=False)["input_ids"]
    second = tokenizer("a dog", add_special_tokens=False)["input_ids"]
    assert chunks[0].tokens[1 : 1 + len(first)] == first
    assert chunks[0].tokens[1 + len(first) :] == [tokenizer.eos_token_id] * (CHUNK_TOKENS + 1 - len(first))
    assert chunks[1].tokens[1 : 1 + len(second)] == second


def test_weights_follow_their_tokens_into_the_chunk():
    tokenizer = _tokenizer()
    [chunk] = tokenize_chunks("a (red:1.5) [cat]", tokenizer)
    red = tokenizer.get_vocab()["red</w>"]
    cat = tokenizer.get_vocab()["cat</w>"]
    assert chunk.multipliers[chunk.tokens.index(red)] == 1.5
    assert chunk.multipliers[chunk.tokens.index(cat)] == pytest.approx(1 / 1.1)
    assert chunk.multipliers[0] == chunk.multipliers[-1] == 1.0


# --------------------------------------------------------------------------- embeddings, SD 1.x


def _raw(pipe, ids, layer=None):
    """The encoder's output for a chunk of ids, no weighting (what the weights are applied to)."""
    with torch.no_grad():
        out = pipe.text_encoder(torch.tensor([ids]), output_hidden_states=True)
    if layer is None:
        return out.last_hidden_state
    return pipe.text_encoder.final_layer_norm(out.hidden_states[layer])


def test_plain_prompt_embeds_equal_diffusers_own_encoding(sd1):
    ours = prompt_embeddings(sd1, "a red cat", "a dog", clip_skip=1, with_negative=True)
    theirs, negative = sd1.encode_prompt("a red cat", "cpu", 1, True, negative_prompt="a dog")
    assert torch.equal(ours["prompt_embeds"], theirs)
    assert torch.equal(ours["negative_prompt_embeds"], negative)


def test_weighted_prompt_scales_its_tokens_and_restores_the_mean(sd1):
    [chunk] = tokenize_chunks("a (red:1.5) cat", sd1.tokenizer)
    raw = _raw(sd1, chunk.tokens)
    weights = torch.tensor(chunk.multipliers)[None, :, None]
    expected = raw * weights
    expected = expected * (raw.mean() / expected.mean())
    got = prompt_embeddings(sd1, "a (red:1.5) cat", "", clip_skip=1, with_negative=False)["prompt_embeds"]
    assert torch.allclose(got, expected, atol=1e-6)
    assert got.mean().item() == pytest.approx(raw.mean().item(), abs=1e-6)
    red = chunk.tokens.index(sd1.tokenizer.get_vocab()["red</w>"])
    plain = prompt_embeddings(sd1, "a red cat", "", clip_skip=1, with_negative=False)["prompt_embeds"]
    # "red" is scaled 1.5x more than the unweighted tokens (all share the mean-restoring factor)
    red_ratio = got[0, red] / plain[0, red]
    other_ratio = got[0, red + 1] / plain[0, red + 1]
    assert torch.allclose(red_ratio, 1.5 * other_ratio, rtol=1e-4)
    assert not torch.allclose(got, plain)
    # a weight of 1 is no weight: "(red:1)" is the plain prompt
    one = prompt_embeddings(sd1, "a (red:1) cat", "", clip_skip=1, with_negative=False)["prompt_embeds"]
    assert torch.equal(one, plain)


def test_long_prompt_is_not_cut_at_77_tokens(sd1):
    got = prompt_embeddings(sd1, LONG, "", clip_skip=1, with_negative=False)["prompt_embeds"]
    assert got.shape == (1, 3 * 77, 32)
    chunks = tokenize_chunks(LONG, sd1.tokenizer)
    for index, chunk in enumerate(chunks):
        assert torch.allclose(got[:, 77 * index : 77 * (index + 1)], _raw(sd1, chunk.tokens), atol=1e-6)
    # a word near the end (token ~190) still changes what the UNet sees
    changed = prompt_embeddings(sd1, long_prompt("dog"), "", clip_skip=1, with_negative=False)["prompt_embeds"]
    assert torch.equal(changed[:, :154], got[:, :154])
    assert not torch.allclose(changed[:, 154:], got[:, 154:])


def test_negative_prompt_is_padded_to_the_prompts_length_with_the_empty_prompt(sd1):
    call = prompt_embeddings(sd1, LONG, "blurry", clip_skip=1, with_negative=True)
    assert call["prompt_embeds"].shape == call["negative_prompt_embeds"].shape == (1, 3 * 77, 32)
    empty = prompt_embeddings(sd1, "", "", clip_skip=1, with_negative=False)["prompt_embeds"]
    blurry = prompt_embeddings(sd1, "blurry", "", clip_skip=1, with_negative=False)["prompt_embeds"]
    negative = call["negative_prompt_embeds"]
    assert torch.equal(negative[:, :77], blurry)
    assert torch.equal(negative[:, 77:154], empty) and torch.equal(negative[:, 154:], empty)
    # and the other way round: a long negative pads the prompt
    call = prompt_embeddings(sd1, "a cat", LONG, clip_skip=1, with_negative=True)
    assert call["prompt_embeds"].shape == call["negative_prompt_embeds"].shape == (1, 3 * 77, 32)


def test_clip_skip_applies_to_every_chunk(sd1):
    skipped = prompt_embeddings(sd1, "a red cat BREAK a dog", "", clip_skip=2, with_negative=False)["prompt_embeds"]
    chunks = tokenize_chunks("a red cat BREAK a dog", sd1.tokenizer)
    assert skipped.shape == (1, 154, 32)
    for index, chunk in enumerate(chunks):
        assert torch.allclose(skipped[:, 77 * index : 77 * (index + 1)], _raw(sd1, chunk.tokens, layer=-2), atol=1e-6)
    plain = prompt_embeddings(sd1, "a red cat BREAK a dog", "", clip_skip=1, with_negative=False)["prompt_embeds"]
    assert not torch.allclose(skipped, plain)


def test_openclip_padding_matches_diffusers_for_sd2_style_tokenizers(sd1):
    """SD 2.x's tokenizer pads with "!" (id 0) after the first EOS, as A1111's OpenCLIP path does."""
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline(**{**sd1.components, "tokenizer": _tokenizer(pad_token="!")})
    ours = prompt_embeddings(pipe, "a red cat", "", clip_skip=1, with_negative=False)["prompt_embeds"]
    theirs, _ = pipe.encode_prompt("a red cat", "cpu", 1, False)
    assert torch.equal(ours, theirs)


# --------------------------------------------------------------------------- SDXL


def test_sdxl_concatenates_both_encoders_and_pools_the_first_chunk(sdxl):
    call = prompt_embeddings(sdxl, LONG, "blurry", clip_skip=1, with_negative=True)
    assert call["prompt_embeds"].shape == (1, 3 * 77, 64)
    assert call["negative_prompt_embeds"].shape == (1, 3 * 77, 64)
    assert call["pooled_prompt_embeds"].shape == call["negative_pooled_prompt_embeds"].shape == (1, 32)

    # an empty negative is zeros for SDXL (A1111 and diffusers both do this)
    empty = prompt_embeddings(sdxl, LONG, "", clip_skip=1, with_negative=True)
    assert not empty["negative_prompt_embeds"].any() and not empty["negative_pooled_prompt_embeds"].any()
    _, zeros, _, zero_pooled = sdxl.encode_prompt(
        "a cat", device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True, negative_prompt=None
    )
    assert not zeros.any() and not zero_pooled.any()

    # short prompt: exactly what diffusers' SDXL encoder gives (penultimate layers, pooled from encoder 2)
    short = prompt_embeddings(sdxl, "a red cat", "a dog", clip_skip=1, with_negative=True)
    embeds, negative, pooled, negative_pooled = sdxl.encode_prompt(
        "a red cat", device="cpu", num_images_per_prompt=1, do_classifier_free_guidance=True, negative_prompt="a dog"
    )
    assert torch.allclose(short["prompt_embeds"], embeds, atol=1e-6)
    assert torch.allclose(short["negative_prompt_embeds"], negative, atol=1e-6)
    assert torch.allclose(short["pooled_prompt_embeds"], pooled, atol=1e-6)
    assert torch.allclose(short["negative_pooled_prompt_embeds"], negative_pooled, atol=1e-6)

    # the pooled embedding comes from the first chunk only
    first_chunk_text = "a red cat, a dog"
    first = prompt_embeddings(sdxl, first_chunk_text + " BREAK a dog", "", clip_skip=1, with_negative=False)
    alone = prompt_embeddings(sdxl, first_chunk_text, "", clip_skip=1, with_negative=False)
    assert torch.allclose(first["pooled_prompt_embeds"], alone["pooled_prompt_embeds"], atol=1e-6)


def test_sdxl_weights_apply_to_each_encoder_with_its_own_mean(sdxl):
    specs = encoder_specs(sdxl, 1)
    weighted = prompt_embeddings(sdxl, "a (red:1.4) cat", "", clip_skip=1, with_negative=False)
    plain = prompt_embeddings(sdxl, "a red cat", "", clip_skip=1, with_negative=False)
    for spec, part in zip(specs, (slice(0, 32), slice(32, 64))):
        raw = plain["prompt_embeds"][..., part]
        [chunk] = tokenize_chunks("a (red:1.4) cat", spec.tokenizer)
        expected = raw * torch.tensor(chunk.multipliers)[None, :, None]
        expected = expected * (raw.mean() / expected.mean())
        assert torch.allclose(weighted["prompt_embeds"][..., part], expected, atol=1e-5)
    assert torch.equal(weighted["pooled_prompt_embeds"], plain["pooled_prompt_embeds"])  # pooled is unweighted


def test_sdxl_pipeline_runs_on_chunked_weighted_embeddings(sdxl):
    call = prompt_embeddings(sdxl, "(" + LONG + ":1.2) BREAK [a dog]", "blurry", clip_skip=2, with_negative=True)
    with torch.inference_mode():
        image = sdxl(
            **call,
            num_inference_steps=1,
            width=32,
            height=32,
            guidance_scale=5.0,
            output_type="np",
            generator=torch.Generator("cpu").manual_seed(0),
        ).images[0]
    assert image.shape == (32, 32, 3)


# --------------------------------------------------------------------------- through the engine


def test_weighted_and_long_prompts_change_the_image_and_the_png_keeps_the_text(runner, tiny):
    import numpy as np

    def run(prompt):
        artifact = runner.run("studio.diffusion", base_params(tiny.folder, prompt=prompt, steps=2), seed=5).artifacts[0]
        return artifact, np.asarray(png_image(artifact).convert("RGB"), dtype=np.int16)

    _plain_artifact, plain = run("a red cat")
    weighted_artifact, weighted = run("a (red:1.6) cat")
    assert not np.array_equal(plain, weighted)
    assert png_image(weighted_artifact).text["parameters"].startswith("a (red:1.6) cat\n")

    _long, long_image = run(LONG)
    _changed, changed_end = run(long_prompt("dog"))  # differs only past token 77
    assert not np.array_equal(long_image, changed_end)
