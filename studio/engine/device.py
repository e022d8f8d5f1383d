"""Choosing where work runs and in which precision.

CUDA first, then Apple MPS, then CPU. Half precision where the device computes it fast
(bf16 on CUDA cards that support it, else fp16; fp16 on MPS) and float32 on the CPU, where
half precision is slower and less accurate. torch is imported only when this is asked,
so a worker that runs numpy-only plugins never pays for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceInfo:
    name: str  # "cuda", "mps" or "cpu"
    dtype: str  # "float16", "bfloat16" or "float32"
    description: str
    total_memory: int = 0  # bytes of accelerator memory (0 on CPU)

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "dtype": self.dtype, "description": self.description, "total_memory": self.total_memory}


def choose_device(preference: str = "auto") -> DeviceInfo:
    """The best device the machine has, or the one the user asked for when it exists."""
    try:
        import torch
    except ImportError:
        return DeviceInfo("cpu", "float32", "CPU (torch not installed)")

    want = (preference or "auto").lower()
    if want in ("auto", "cuda") and torch.cuda.is_available():
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return DeviceInfo("cuda", dtype, f"CUDA {props.name}", int(props.total_memory))
    mps = getattr(torch.backends, "mps", None)
    if want in ("auto", "mps") and mps is not None and mps.is_available():
        return DeviceInfo("mps", "float16", "Apple MPS")
    threads = configure_cpu_threads(torch)
    return DeviceInfo("cpu", "float32", f"CPU ({threads} threads)")


def configure_cpu_threads(torch_module: object) -> int:
    """Use every physical core for intra-op work unless the user set OMP_NUM_THREADS."""
    if os.environ.get("OMP_NUM_THREADS"):
        return int(torch_module.get_num_threads())  # type: ignore[attr-defined]
    cores = os.cpu_count() or 1
    torch_module.set_num_threads(max(1, cores))  # type: ignore[attr-defined]
    return cores
