"""Test helper: write a diffusers SD 1.x pipeline as an original (LDM) single-file checkpoint.

This is the inverse of diffusers' ``convert_ldm_*_checkpoint`` for the UNet, VAE and CLIP
text encoder, generic over the number of levels and layers, so the tests can make the kind
of file artists download (``model.diffusion_model.*``, ``first_stage_model.*``,
``cond_stage_model.transformer.*``) from a tiny random pipeline.
"""

from __future__ import annotations

import re
from typing import Any

_RESNET = (
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
)
_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
    "add_embedding.linear_1": "label_emb.0.0",  # SDXL's size/pooled-text embedding
    "add_embedding.linear_2": "label_emb.0.2",
}


def _resnet(rest: str) -> str:
    for new, old in _RESNET:
        if rest.startswith(new + "."):
            return old + rest[len(new) :]
    return rest


def unet_to_ldm(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    per = config["layers_per_block"] + 1
    up_types = list(config["up_block_types"])
    out: dict[str, Any] = {}
    for key, tensor in state.items():
        new = None
        for diffusers_name, ldm_name in _UNET_TOP.items():
            if key.startswith(diffusers_name + "."):
                new = ldm_name + key[len(diffusers_name) :]
        if m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            block, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
            index = 1 + block * per + layer
            new = f"input_blocks.{index}.0.{_resnet(rest)}" if kind == "resnets" else f"input_blocks.{index}.1.{rest}"
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            new = f"input_blocks.{1 + int(m[1]) * per + per - 1}.0.op.{m[2]}"
        elif m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
            new = f"middle_block.{2 * int(m[1])}.{_resnet(m[2])}"
        elif m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
            new = f"middle_block.1.{m[1]}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            block, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
            index = block * per + layer
            new = f"output_blocks.{index}.0.{_resnet(rest)}" if kind == "resnets" else f"output_blocks.{index}.1.{rest}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            block = int(m[1])
            slot = 2 if "CrossAttn" in up_types[block] else 1
            new = f"output_blocks.{block * per + per - 1}.{slot}.conv.{m[2]}"
        if new is None:
            raise KeyError(f"no LDM name for UNet key {key}")
        out["model.diffusion_model." + new] = tensor
    return out


def vae_to_ldm(state: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    levels = len(config["up_block_types"])
    out: dict[str, Any] = {}
    attention = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
    for key, tensor in state.items():
        new = key.replace("conv_norm_out", "norm_out")
        if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            new = f"encoder.down.{m[1]}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
        elif m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            new = f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
        elif m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
            new = f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
        elif m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)", key):
            new = f"{m[1]}.mid.attn_1.{attention[m[2]]}.{m[3]}"
            if m[3] == "weight" and tensor.ndim == 2:
                tensor = tensor[:, :, None, None]  # LDM keeps these as 1x1 convolutions
        elif m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            new = f"decoder.up.{levels - 1 - int(m[1])}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
        elif m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            new = f"decoder.up.{levels - 1 - int(m[1])}.upsample.conv.{m[2]}"
        out["first_stage_model." + new] = tensor
    return out


def clip_to_ldm(state: dict[str, Any], prefix: str = "cond_stage_model.transformer.") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, tensor in state.items():
        if key.endswith("position_ids"):
            continue
        name = key if key.startswith("text_model.") else "text_model." + key
        out[prefix + name] = tensor
    return out


def pipeline_to_ldm(pipe: Any) -> dict[str, Any]:
    state: dict[str, Any] = {}
    state.update(unet_to_ldm(pipe.unet.state_dict(), dict(pipe.unet.config)))
    state.update(vae_to_ldm(pipe.vae.state_dict(), dict(pipe.vae.config)))
    state.update(clip_to_ldm(pipe.text_encoder.state_dict()))
    return {key: value.contiguous().clone() for key, value in state.items()}


def open_clip_to_ldm(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A diffusers CLIPTextModelWithProjection state dict in OpenCLIP's layout (SDXL's second
    encoder, ``conditioner.embedders.1.model.``): q/k/v fused into ``in_proj``, the projection
    transposed. Works on meta tensors too (for writing full-size files shape by shape)."""
    import torch

    out: dict[str, Any] = {}
    fused: dict[str, dict[str, Any]] = {}
    names = {
        "layer_norm1": "ln_1",
        "layer_norm2": "ln_2",
        "mlp.fc1": "mlp.c_fc",
        "mlp.fc2": "mlp.c_proj",
        "self_attn.out_proj": "attn.out_proj",
    }
    for key, tensor in state.items():
        name = key.removeprefix("text_model.")
        if name.endswith("position_ids"):
            continue
        if name == "embeddings.position_embedding.weight":
            out[prefix + "positional_embedding"] = tensor
        elif name == "embeddings.token_embedding.weight":
            out[prefix + "token_embedding.weight"] = tensor
        elif name.startswith("final_layer_norm."):
            out[prefix + "ln_final." + name.rsplit(".", 1)[1]] = tensor
        elif name == "text_projection.weight":
            out[prefix + "text_projection"] = tensor.T
        elif m := re.fullmatch(r"encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)", name):
            fused.setdefault(f"{prefix}transformer.resblocks.{m[1]}.attn.in_proj_{m[3]}", {})[m[2]] = tensor
        elif m := re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", name):
            out[f"{prefix}transformer.resblocks.{m[1]}.{names[m[2]]}.{m[3]}"] = tensor
        else:
            raise KeyError(f"no OpenCLIP name for {key}")
    for key, parts in fused.items():
        out[key] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


_SAFETENSORS_DTYPES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


def write_safetensors_streamed(path, tensors: dict[str, Any], dtype: Any, fill, metadata: dict | None = None) -> int:
    """Write a .safetensors file holding one tensor in memory at a time.

    ``tensors`` maps names to tensors that only give shapes (meta tensors do); ``fill(name,
    shape)`` makes each one's values when its turn comes. Returns the bytes written. This is
    the format safetensors writes (8-byte header length, JSON header, raw little-endian data),
    so full-size checkpoints can be made without holding a full-size state dict.
    """
    import json
    import math
    import struct

    import torch

    element = torch.tensor([], dtype=dtype).element_size()
    header: dict[str, Any] = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for name, tensor in tensors.items():
        size = math.prod(tensor.shape) * element
        header[name] = {
            "dtype": _SAFETENSORS_DTYPES[str(dtype).removeprefix("torch.")],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)))
        handle.write(raw)
        for name, tensor in tensors.items():
            values = fill(name, tuple(tensor.shape)).to(dtype).contiguous().reshape(-1)
            handle.write(values.view(torch.uint8).numpy().tobytes())
            del values
    return 8 + len(raw) + offset


def sdxl_pipeline_to_ldm(pipe: Any) -> dict[str, Any]:
    """An SDXL pipeline as an original single file (``conditioner.embedders.0/1``)."""
    state: dict[str, Any] = {}
    state.update(unet_to_ldm(pipe.unet.state_dict(), dict(pipe.unet.config)))
    state.update(vae_to_ldm(pipe.vae.state_dict(), dict(pipe.vae.config)))
    state.update(clip_to_ldm(pipe.text_encoder.state_dict(), "conditioner.embedders.0.transformer."))
    state.update(open_clip_to_ldm(pipe.text_encoder_2.state_dict(), "conditioner.embedders.1.model."))
    return {key: value.contiguous().clone() for key, value in state.items()}
