"""Manual check (not run by pytest): the shipped offline configs load full-size checkpoints.

Run: ``.venv/bin/python tests/diffusion/verify_full_size_configs.py [--sdxl]``

Writes an SD 1.5-shaped single-file checkpoint in the original (LDM) layout, every weight
0.01 (2 GB in fp16), loads it through the plugin exactly as a user's download would be
(family from the header, shipped ``configs/sd1``, tokenizer from the shipped CLIP BPE), checks
that every parameter came from the file, and runs one step. ``--sdxl`` also converts an
SDXL-shaped UNet (5 GB) through ``configs/sdxl``. Needs ~10 GB RAM and the disk for the file;
too heavy for CI on the 2-core machine, so it lives here as a script.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(REPO / "plugins" / "diffusion"), str(HERE)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

VALUE = 0.01


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sdxl", action="store_true", help="also check the SDXL UNet config (5 GB file)")
    args = parser.parse_args()
    import torch
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from ldm_format import clip_to_ldm, unet_to_ldm, vae_to_ldm
    from safetensors.torch import save_file
    from studio_diffusion.checkpoint import inspect_checkpoint
    from studio_diffusion.loading import load_model
    from studio_diffusion.offline_configs import configs_root
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="sd-configs-"))

    def filled(module):
        return {k: torch.full(tuple(v.shape), VALUE, dtype=torch.float16) for k, v in module.state_dict().items()}

    def not_from_file(module):
        return [
            n
            for n, p in module.named_parameters()
            if p.is_meta or not torch.allclose(p.float(), torch.full_like(p.float(), VALUE), atol=1e-4)
        ]

    config = configs_root() / "sd1"
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(config / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(config / "vae"))
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(config / "text_encoder"))
    state = {**unet_to_ldm(filled(unet), dict(unet.config)), **vae_to_ldm(filled(vae), dict(vae.config)), **clip_to_ldm(filled(text))}
    path = work / "sd15-shaped.safetensors"
    save_file(state, str(path))
    del state
    print(f"wrote {path} ({path.stat().st_size / 2**30:.2f} GiB); header says {inspect_checkpoint(path).label}")
    started = time.perf_counter()
    model = load_model(path, device="cpu", dtype="float32", allow_pickle=False)
    print(f"loaded {type(model.pipe).__name__} in {time.perf_counter() - started:.1f}s, native {model.native_size}px")
    for name in ("unet", "vae", "text_encoder"):
        missing = not_from_file(getattr(model.pipe, name))
        print(f"  {name}: {'all weights from the file' if not missing else f'{len(missing)} NOT from the file, e.g. {missing[:3]}'}")
    print("  tokenizer ids for 'a photo of a cat':", model.pipe.tokenizer("a photo of a cat").input_ids)
    with torch.inference_mode():
        image = model.pipe("a cat", num_inference_steps=1, width=64, height=64, output_type="np").images[0]
    print(f"  one step ran: {image.shape}")
    del model
    path.unlink()

    if args.sdxl:
        config = configs_root() / "sdxl"
        with init_empty_weights():
            unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(config / "unet"))
        state = unet_to_ldm(filled(unet), dict(unet.config))
        path = work / "sdxl-unet-shaped.safetensors"
        save_file(state, str(path))
        del state, unet
        unet = UNet2DConditionModel.from_single_file(
            str(path), config=str(config), subfolder="unet", torch_dtype=torch.float16, local_files_only=True
        )
        missing = not_from_file(unet)
        print(f"SDXL unet: {'all weights from the file' if not missing else f'{len(missing)} NOT from the file'}")
        path.unlink()


if __name__ == "__main__":
    main()
