"""Tiny random language and MusicGen models, built from small configs and saved to folders.

Shared by the text/audio tests and ``tests/benchmarks/bench_llm.py``. Everything is made
here — the tokenizers are trained on a few sentences — so nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a lighthouse stands on a rocky headland under a stormy sky",
    "write a short poem about the sea and the wind",
    "once upon a time there was a little robot who loved music",
    "user assistant system: hello, how are you today? I am fine, thank you.",
    "red green blue yellow purple orange black white silver gold",
    "one two three four five six seven eight nine ten END STOP",
    "piano guitar drums violin cello flute trumpet choir synth bass",
]

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

SPECIAL_TOKENS = ["<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>"]


def make_tokenizer(vocab_size: int = 320, *, chat_template: str | None = CHAT_TEMPLATE):
    """A byte-level BPE tokenizer trained on CORPUS, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    # Only the bytes of the (ASCII) corpus: every token decodes to complete characters.
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    backend.train_from_iterator(CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    if chat_template:
        tokenizer.chat_template = chat_template
    return tokenizer


def build_llama(folder: Path, *, hidden: int = 32, layers: int = 2, vocab_size: int = 320, seed: int = 0) -> Path:
    """A random LlamaForCausalLM with a chat template. EOS is suppressed so replies run to length."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = make_tokenizer(vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        # Random weights pick EOS (and the other special tokens) now and then; tests want full-length replies.
        suppress_tokens=[tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS],
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_gpt2(folder: Path, *, vocab_size: int = 320, seed: int = 1) -> Path:
    """A random GPT2LMHeadModel whose tokenizer has no chat template."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = make_tokenizer(vocab_size, chat_template=None)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=256,
        n_embd=32,
        n_layer=2,
        n_head=4,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


MUSICGEN_WORDS = [
    "happy",
    "sad",
    "calm",
    "jazz",
    "piano",
    "drums",
    "lofi",
    "beat",
    "rock",
    "guitar",
    "slow",
    "fast",
    "folk",
    "fiddle",
    "ambient",
    "synth",
]


def build_musicgen(folder: Path, *, seed: int = 0, num_codebooks: int = 2, max_positions: int = 256, stereo: bool = False) -> Path:
    """A random MusicgenForConditionalGeneration: 4 kHz, 50 frames a second, mono unless ``stereo``.

    A stereo MusicGen interleaves the codebooks of its two channels, so it needs an even
    ``num_codebooks`` (half per channel).
    """
    import torch
    from transformers import (
        EncodecConfig,
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
        T5Config,
        T5Tokenizer,
    )

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [("\u2581" + word, -3.0) for word in MUSICGEN_WORDS]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0)
    feature_extractor = EncodecFeatureExtractor(feature_size=1, sampling_rate=4000, padding_value=0.0)
    processor = MusicgenProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)

    codebook_size = 64
    text_encoder = T5Config(vocab_size=len(tokenizer), d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8)
    audio_encoder = EncodecConfig(
        sampling_rate=4000,
        target_bandwidths=[12.0],
        codebook_size=codebook_size,
        codebook_dim=16,
        hidden_size=16,
        num_filters=4,
        upsampling_ratios=[8, 10],  # 80 samples a frame: 50 frames a second, as in the real models
        num_residual_layers=1,
        num_lstm_layers=1,
        audio_channels=1,
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=codebook_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        num_codebooks=num_codebooks,
        max_position_embeddings=max_positions,
        audio_channels=2 if stereo else 1,
        pad_token_id=codebook_size,
        bos_token_id=codebook_size,
    )
    config = MusicgenConfig(text_encoder=text_encoder.to_dict(), audio_encoder=audio_encoder.to_dict(), decoder=decoder.to_dict())
    torch.manual_seed(seed)
    model = MusicgenForConditionalGeneration(config)
    # EnCodec starts its codebooks at zero (they are learned); random ones make each code sound different.
    with torch.no_grad():
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
    model.generation_config.decoder_start_token_id = codebook_size
    model.generation_config.pad_token_id = codebook_size
    model.generation_config.bos_token_id = codebook_size
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def strip_weights(source: Path, target: Path) -> Path:
    """A copy of a model folder without its weights (for the error tests)."""
    target.mkdir(parents=True, exist_ok=True)
    for file in source.iterdir():
        if file.suffix != ".safetensors":
            (target / file.name).write_bytes(file.read_bytes())
    return target


def config_architectures(folder: Path) -> list[str]:
    return json.loads((folder / "config.json").read_text())["architectures"]
