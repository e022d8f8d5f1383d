"""Tiny random Stable Diffusion models for tests and benchmarks (no downloads).

Like diffusers' own ``get_dummy_components()``: a 2-level UNet, a 2-level VAE and a 5-layer
CLIP text encoder with a tokenizer made here, so a whole pipeline runs in milliseconds on a
CPU. ``write_tiny_models`` writes the same weights as a diffusers folder, an original-layout
single-file .safetensors checkpoint (with a ``.config/`` folder beside it, since the shipped
SD 1.x config describes the full-size model), a LoRA, and a Hugging Face cache layout.
Needs ``plugins/diffusion`` on sys.path (for the CLIP byte table).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

SIZE = 32  # pixels; the tiny VAE halves it once, so latents are 16x16


@dataclass(frozen=True)
class TinyModels:
    root: Path
    models_dir: Path  # what the engine scans
    folder: Path  # diffusers folder
    single_file: Path  # LDM-layout .safetensors with tiny-sd1.config/ beside it
    lora: Path  # a LoRA for the tiny UNet (diffusers/PEFT key layout)
    kohya_lora: Path  # the same LoRA in kohya's layout, as most downloadable LoRAs are
    hf_cache: Path  # models--tiny--sd1 inside a hub cache folder


def _tokenizer(pad_token: str = "<|endoftext|>"):
    from studio_diffusion.offline_configs import _bytes_to_unicode
    from transformers import CLIPTokenizer

    base = list(_bytes_to_unicode().values())
    merges = [("c", "a"), ("ca", "t</w>"), ("d", "o"), ("do", "g</w>"), ("r", "e"), ("re", "d</w>")]
    tokens = base + [t + "</w>" for t in base] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(tokens)}
    # OpenAI CLIP pads with <|endoftext|>; OpenCLIP (SD 2.x, SDXL's second encoder) with "!".
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, pad_token=pad_token)
    tokenizer.model_max_length = 77
    return tokenizer


def build_tiny_pipeline(scale: int = 1, vae_scale: int | None = None):
    """The tiny SD 1.x pipeline; ``scale`` multiplies the UNet's and text encoder's widths, and
    ``vae_scale`` the VAE's (default: ``scale``), for memory tests that need a model big enough
    to measure and shaped like a real one (SD 1.5's VAE is 8% of its weights)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32 * scale, 64 * scale),
        layers_per_block=2,
        sample_size=SIZE // 2,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32 * scale,
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[32 * (vae_scale or scale), 64 * (vae_scale or scale)],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=2,
            hidden_size=32 * scale,
            intermediate_size=37 * scale,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=5,
            pad_token_id=1,
            vocab_size=1000,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=_tokenizer(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_tiny_sdxl_pipeline():
    """A tiny SDXL pipeline (two CLIP encoders, the second with a projection; text_time UNet),
    shaped like diffusers' own SDXL test components."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=SIZE // 2,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,  # 6 size/crop values * 8 + 32 pooled
        cross_attention_dim=64,  # 32 (first encoder) + 32 (second)
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
    )
    config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=2,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=5,
        pad_token_id=1,
        vocab_size=1000,
        hidden_act="gelu",
        projection_dim=32,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(config)
    torch.manual_seed(1)
    text_encoder_2 = CLIPTextModelWithProjection(config)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=_tokenizer(),
        tokenizer_2=_tokenizer(pad_token="!"),
        unet=unet,
        scheduler=scheduler,
    )


def make_lora(folder: Path, out: Path) -> None:
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    torch.manual_seed(1)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    StableDiffusionPipeline.save_lora_weights(
        save_directory=out.parent, unet_lora_layers=get_peft_model_state_dict(unet), weight_name=out.name, safe_serialization=True
    )


def to_kohya_lora(source: Path, out: Path) -> None:
    """Rewrite a diffusers-layout UNet LoRA with kohya-ss key names (lora_unet_..., lora_down/up, alpha)."""
    import re

    import torch
    from safetensors.torch import load_file, save_file

    converted = {}
    for key, tensor in load_file(str(source)).items():
        match = re.fullmatch(r"unet\.(.+)\.lora_([AB])\.weight", key)
        module = "lora_unet_" + match[1].replace(".", "_")
        converted[f"{module}.lora_{'down' if match[2] == 'A' else 'up'}.weight"] = tensor
        if match[2] == "A":
            converted[f"{module}.alpha"] = torch.tensor(float(tensor.shape[0]))  # alpha = rank: scale 1
    save_file(converted, str(out))


def write_tiny_models(root: Path) -> TinyModels:
    """The tiny model written as a diffusers folder, a single file, a LoRA and an HF cache repo."""
    from ldm_format import pipeline_to_ldm
    from safetensors.torch import save_file

    models = root / "models"
    models.mkdir()
    pipe = build_tiny_pipeline()
    folder = models / "tiny-sd1-diffusers"
    pipe.save_pretrained(folder, safe_serialization=True)

    single = models / "tiny-sd1.safetensors"
    save_file(pipeline_to_ldm(pipe), str(single))
    config = models / "tiny-sd1.config"
    for item in ("model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json", "scheduler", "tokenizer"):
        source = folder / item
        target = config / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)

    lora = models / "loras" / "tiny-lora.safetensors"
    lora.parent.mkdir()
    make_lora(folder, lora)
    kohya = lora.with_name("tiny-lora-kohya.safetensors")
    to_kohya_lora(lora, kohya)

    hub = root / "hub"
    repo = hub / "models--tiny--sd1"
    snapshot = repo / "snapshots" / "0123abcd"
    shutil.copytree(folder, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    return TinyModels(root, models, folder, single, lora, kohya, repo)
