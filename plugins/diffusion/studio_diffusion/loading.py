"""Loading a diffusion model (diffusers folder or single file) and preparing it for a device.

The loaded object (``LoadedModel``) lives in the engine's shared model cache under
(path, content hash, dtype, device): a second job on the same model reuses it, and so does
any other plugin that asks for it. Everything a job changes on it (scheduler, LoRA
adapters, VAE tiling) is set per job, so jobs never see each other's settings.

Speed per device (chosen here, once per load, and per job where it depends on the job):
- CUDA: the engine's half precision (bf16 where the card supports it, else fp16; the SDXL
  VAE's ``force_upcast`` keeps its decode in fp32 where fp16 would overflow). Attention
  runs through PyTorch's scaled-dot-product attention, diffusers' default processor on
  torch 2 (flash / memory-efficient kernels, no xformers needed). UNet and VAE use the
  channels-last memory format, which the convolution kernels of recent cards prefer.
  When the model plus an activation reserve does not fit in the free VRAM, the pipeline is
  moved to the GPU one component at a time (model CPU offload) instead of failing.
- Apple MPS: fp16, attention slicing (diffusers' advice for unified memory below 64 GB).
- CPU: float32 (half precision is slower on CPUs, and fp16 convolutions are missing);
  torch's intra-op threads are set by the engine from the core count (``OMP_NUM_THREADS``
  wins when set); channels-last is not used, since oneDNN gains little from it for these
  models on CPU.
- Every device: VAE tiling for large images (over ``TILING_PIXELS``), so decoding a 2048²
  image does not need several GB for one convolution; smaller images decode in one piece,
  exactly as plain diffusers does.
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.errors import ModelFormatError, ParamError
from studio_diffusion.checkpoint import (
    LORA,
    PICKLE_SUFFIXES,
    UNKNOWN,
    VAE,
    Checkpoint,
    detect_family,
    inspect_checkpoint,
    load_pickle_state_dict,
    pickle_refused_message,
    read_safetensors_header,
)
from studio_diffusion.discovery import diffusers_family, display_name, model_folder_to_load
from studio_diffusion.offline_configs import config_for, tokenizers_for
from studio_diffusion.single_file import DictSource, TensorSource, can_stream, load_components

TILING_PIXELS = 1536 * 1536
# VRAM kept free for activations when deciding on CPU offload (more for the XL-sized models).
_ACTIVATION_RESERVE = {"small": 2 * 2**30, "large": 5 * 2**30}
# RAM kept free for sampling on a CPU when choosing float32 or bfloat16.
_CPU_SAMPLING_RESERVE = {"small": int(1.5 * 2**30), "large": 4 * 2**30}
_TASKS = ("txt2img", "img2img", "inpaint")
_MODEL_LIBRARIES = ("diffusers", "transformers")
_WEIGHT_FOLDERS = ("unet", "vae", "text_encoder", "text_encoder_2", "text_encoder_3", "transformer")
_NON_MODEL_SUFFIXES = ("Scheduler", "Tokenizer", "TokenizerFast", "FeatureExtractor", "ImageProcessor", "Processor")


@dataclass
class LoadedModel:
    """A pipeline in the model cache, with what jobs need to know about it."""

    pipe: Any
    path: Path
    name: str
    family: str
    variant: str
    device: str
    dtype: str
    offload: bool
    base_scheduler_config: Any
    studio_size_bytes: int = 0  # read by the engine's cache to budget memory
    loras: dict[str, Path] = field(default_factory=dict)
    _pipes: dict[str, Any] = field(default_factory=dict)
    _hooked_for: str = ""

    @property
    def inpainting(self) -> bool:
        unet = getattr(self.pipe, "unet", None)
        return unet is not None and getattr(unet.config, "in_channels", 4) == 9

    @property
    def vae_scale_factor(self) -> int:
        return int(getattr(self.pipe, "vae_scale_factor", 8) or 8)

    @property
    def size_multiple(self) -> int:
        # Transformer models (SD3, Flux) patchify 2x2 latents; the UNet pipelines insist on
        # multiples of 8 pixels whatever their VAE's scale.
        if getattr(self.pipe, "transformer", None) is not None:
            return self.vae_scale_factor * 2
        return max(8, self.vae_scale_factor)

    @property
    def native_size(self) -> int:
        unet = getattr(self.pipe, "unet", None)
        if unet is not None:
            sample = unet.config.sample_size
            sample = sample[0] if isinstance(sample, (list, tuple)) else sample
        else:
            sample = getattr(self.pipe, "default_sample_size", 128)
        return int(sample) * self.vae_scale_factor

    def pipeline_for(self, task: str) -> Any:
        """The pipeline for txt2img / img2img / inpaint, sharing this model's components."""
        assert task in _TASKS
        pipe = self._pipes.get(task)
        if pipe is None:
            pipe = self._derive(task)
            pipe.set_progress_bar_config(disable=True)
            self._pipes[task] = pipe
        if self.offload and self._hooked_for != task:
            # Offload hooks live on the shared modules; re-hook for the pipeline about to run.
            pipe.enable_model_cpu_offload(device=self.device)
            self._hooked_for = task
        return pipe

    def _derive(self, task: str) -> Any:
        import diffusers

        auto = {
            "txt2img": diffusers.AutoPipelineForText2Image,
            "img2img": diffusers.AutoPipelineForImage2Image,
            "inpaint": diffusers.AutoPipelineForInpainting,
        }[task]
        current = type(self.pipe).__name__
        if (task == "inpaint" and "Inpaint" in current) or (task == "img2img" and "Img2Img" in current):
            return self.pipe
        if task == "txt2img" and "Img2Img" not in current and "Inpaint" not in current:
            return self.pipe
        try:
            return auto.from_pipe(self.pipe)
        except (ValueError, KeyError, TypeError) as exc:
            raise ParamError(f"{self.name} ({self.family}) cannot do {task}: {exc}") from None

    def set_vae_tiling(self, width: int, height: int) -> None:
        vae = getattr(self.pipe, "vae", None)
        if vae is None or not hasattr(vae, "enable_tiling"):
            return
        if width * height > TILING_PIXELS:
            vae.enable_tiling()
        else:
            vae.disable_tiling()


def torch_dtype(name: str, device: str) -> Any:
    import torch

    if device == "cpu" and name == "float16":
        name = "float32"  # fp16 convolutions are missing or slow on CPUs
    return {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(name, torch.float32)


def cpu_dtype_for(weights: int, available: int, *, large: bool) -> str:
    """float32 when the model in float32 plus room to sample fits the free RAM, else bfloat16.

    SDXL has ~3.5 billion weights: 14 GB in float32, more than a 16 GB machine has free, so
    it loads in bfloat16 (7 GB); SD 1.5 (~1.1 billion, 4.3 GB) stays in float32 there.
    """
    reserve = _CPU_SAMPLING_RESERVE["large" if large else "small"]
    return "float32" if weights * 4 + reserve <= available else "bfloat16"


def load_model(
    path: Path,
    *,
    device: str,
    dtype: str,
    allow_pickle: bool,
    log: Callable[[str], None] = lambda m: None,
    available_ram: int | None = None,
) -> LoadedModel:
    """Load ``path`` (diffusers folder, HF cache repo, or single-file checkpoint) for ``device``.

    On a CPU a model too big for the free RAM in float32 is loaded in bfloat16 (see
    ``cpu_dtype_for``; ``available_ram`` overrides the measured free RAM, for tests).
    """
    path = Path(path)
    target_dtype = torch_dtype(dtype, device)
    if device == "cpu" and str(target_dtype) == "torch.float32":
        weights = weight_count(path)
        available = available_ram if available_ram is not None else _available_ram()
        if weights and cpu_dtype_for(weights, available, large=weights > 2 * 10**9) == "bfloat16":
            log(
                f"{path.name}: {weights * 4 / 2**30:.1f} GiB of weights in float32 plus room to sample does not fit the "
                f"{available / 2**30:.1f} GiB of free RAM: loading in bfloat16 ({weights * 2 / 2**30:.1f} GiB)"
            )
            target_dtype = torch_dtype("bfloat16", device)
    if path.is_dir():
        pipe, family, variant, name = _load_folder(path, target_dtype, allow_pickle)
    elif path.is_file():
        pipe, family, variant, name = _load_file(path, target_dtype, allow_pickle, log)
    else:
        raise ModelFormatError(f"{path}: no such model file or folder")
    pipe.set_progress_bar_config(disable=True)
    offload = prepare_for_device(pipe, device, family, log)
    return LoadedModel(
        pipe=pipe,
        path=path,
        name=name,
        family=family,
        variant=variant,
        device=device,
        dtype=str(target_dtype).removeprefix("torch."),
        offload=offload,
        base_scheduler_config=dict(pipe.scheduler.config),
        studio_size_bytes=module_bytes(pipe),
    )


def weight_count(path: Path) -> int:
    """How many weights a model has, from safetensors headers alone (0 when unknown).

    A single file's EMA copy (``model_ema.*``) is not counted: it is never loaded.
    """
    files: list[Path] = []
    if path.is_file() and path.suffix.lower() == ".safetensors":
        files = [path]
    elif path.is_dir():
        folder = model_folder_to_load(path)
        files = [f for f in folder.glob("*/*.safetensors") if f.parent.name in _WEIGHT_FOLDERS and ".fp16." not in f.name]
        if not files:
            files = [f for f in folder.glob("*/*.safetensors") if f.parent.name in _WEIGHT_FOLDERS]
    total = 0
    for file in files:
        try:
            tensors, _metadata, _offset = read_safetensors_header(file)
        except ModelFormatError:
            return 0
        for key, info in tensors.items():
            if not key.startswith("model_ema."):
                total += math.prod(info.shape)
    return total


def _available_ram() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:
        return 2**62  # unknown: keep the device's dtype


# --------------------------------------------------------------------------- folders


def _load_folder(folder: Path, dtype: Any, allow_pickle: bool) -> tuple[Any, str, str, str]:
    folder = model_folder_to_load(folder)
    name = display_name(folder)
    index = check_diffusers_folder(folder, allow_pickle=allow_pickle)
    family, variant = diffusers_family(folder)

    import diffusers

    kwargs: dict[str, Any] = {"torch_dtype": dtype, "local_files_only": True}
    kwargs["use_safetensors"] = None if allow_pickle else True
    fp16_only = _only_variant_weights(folder, index, "fp16")
    if fp16_only:
        kwargs["variant"] = "fp16"
    if "safety_checker" in index:
        # No NSFW filter: an offline studio on the user's own machine, as A1111 and ComfyUI.
        kwargs["safety_checker"] = None
        kwargs["requires_safety_checker"] = False
    try:
        with quiet_loading():
            pipe = diffusers.DiffusionPipeline.from_pretrained(str(folder), **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, AttributeError) as exc:
        raise ModelFormatError(f"{name}: the diffusers folder could not be loaded: {_first_line(exc)}") from None
    return pipe, family, variant, name


def check_diffusers_folder(folder: Path, *, allow_pickle: bool) -> dict[str, Any]:
    """model_index.json and every component it names, or ModelFormatError naming what is missing."""
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        contents = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []
        if not contents:
            raise ModelFormatError(
                f"{folder}: the folder is empty. A model folder needs model_index.json with unet/ (or transformer/), "
                "vae/, text_encoder/, tokenizer/ and scheduler/ folders (the diffusers layout); or choose a "
                ".safetensors checkpoint file instead."
            )
        shown = ", ".join(contents[:8]) + (", ..." if len(contents) > 8 else "")
        raise ModelFormatError(
            f"{folder}: not a diffusers model folder: model_index.json is missing (the folder holds: {shown}). "
            "Choose the folder that contains model_index.json, or a .safetensors checkpoint file."
        )
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        if not isinstance(index, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"{index_path}: unreadable model_index.json ({exc})") from None

    missing: list[str] = []
    for component, entry in index.items():
        if component.startswith("_") or not isinstance(entry, list) or len(entry) != 2 or entry[0] is None:
            continue
        if component in ("safety_checker", "feature_extractor", "image_encoder"):
            continue  # optional; Studio loads without them
        library, class_name = entry
        sub = folder / component
        if not sub.is_dir():
            missing.append(f"{component}/ (a {class_name})")
            continue
        if library not in _MODEL_LIBRARIES or str(class_name).endswith(_NON_MODEL_SUFFIXES):
            continue
        files = [p.name for p in sub.iterdir() if p.is_file()]
        if any(f.endswith(".safetensors") or f.endswith(".safetensors.index.json") for f in files):
            continue
        pickles = [f for f in files if f.endswith(PICKLE_SUFFIXES)]
        if pickles:
            if not allow_pickle:
                raise ModelFormatError(pickle_refused_message(sub / pickles[0]))
            continue
        missing.append(f"{component}/ weights (no .safetensors file in {component}/)")
    if missing:
        raise ModelFormatError(f"{folder.name}: incomplete diffusers folder, missing: {'; '.join(missing)}")
    return index


def _only_variant_weights(folder: Path, index: dict[str, Any], variant: str) -> bool:
    """True when model components ship only ``*.fp16.safetensors`` (common in HF snapshots)."""
    saw_variant = False
    for component, entry in index.items():
        if component.startswith("_") or not isinstance(entry, list) or entry[0] not in _MODEL_LIBRARIES:
            continue
        sub = folder / component
        if not sub.is_dir():
            continue
        names = [p.name for p in sub.iterdir() if p.name.endswith(".safetensors")]
        plain = [n for n in names if f".{variant}." not in n]
        if plain:
            return False
        saw_variant = saw_variant or bool(names)
    return saw_variant


# --------------------------------------------------------------------------- single files


def _load_file(path: Path, dtype: Any, allow_pickle: bool, log: Callable[[str], None] = lambda m: None) -> tuple[Any, str, str, str]:
    suffix = path.suffix.lower()
    state: dict[str, Any] | None = None
    if suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise ModelFormatError(pickle_refused_message(path))
        state = load_pickle_state_dict(path)
        shapes = {key: tuple(getattr(value, "shape", ())) for key, value in state.items()}
        family, variant = detect_family(shapes)
        checkpoint = Checkpoint(path=path, tensors={}, family=family, variant=variant)
    elif suffix == ".safetensors":
        checkpoint = inspect_checkpoint(path)
    else:
        raise ModelFormatError(f"{path.name}: not a model file Studio loads (use a .safetensors checkpoint or a diffusers folder)")

    if checkpoint.family == LORA:
        raise ModelFormatError(f"{path.name} is a LoRA, not a full model: choose a checkpoint as the model and add this file under LoRAs")
    if checkpoint.family == VAE:
        raise ModelFormatError(f"{path.name} is a VAE on its own, not a full model: choose a checkpoint as the model")
    if checkpoint.family == UNKNOWN:
        raise ModelFormatError(
            f"{path.name}: its tensors match no diffusion model family Studio knows (SD 1.x, SD 2.x, SDXL, or "
            "another family diffusers recognises); it may be a text encoder, ControlNet or upscaler"
        )
    config_dir = config_for(checkpoint)

    import diffusers

    index = json.loads((config_dir / "model_index.json").read_text(encoding="utf-8"))
    pipeline_class = getattr(diffusers, str(index.get("_class_name", "")), None)
    if pipeline_class is None:
        raise ModelFormatError(f"{config_dir}: model_index.json names a pipeline class this diffusers lacks")
    kwargs: dict[str, Any] = dict(tokenizers_for(config_dir, checkpoint.family))
    if "safety_checker" in index:
        kwargs["safety_checker"] = None
        kwargs["requires_safety_checker"] = False
    try:
        with quiet_loading():
            if can_stream(config_dir):
                # SD 1.x / 2.x / XL: one tensor at a time into meta-initialised modules (single_file.py).
                source = DictSource(state) if state is not None else TensorSource(path)
                state = None
                kwargs.update(load_components(source, checkpoint, config_dir, dtype, log))
                pipe = pipeline_class.from_pretrained(str(config_dir), torch_dtype=dtype, local_files_only=True, **kwargs)
            else:
                state = None
                pipe = pipeline_class.from_single_file(
                    str(path), config=str(config_dir), torch_dtype=dtype, local_files_only=True, **kwargs
                )
    except (OSError, ValueError, KeyError, RuntimeError, AttributeError) as exc:
        raise ModelFormatError(f"{path.name}: could not be loaded as a {checkpoint.label} checkpoint: {_first_line(exc)}") from None
    return pipe, checkpoint.family, checkpoint.variant, path.stem


@contextlib.contextmanager
def quiet_loading():
    """No per-component progress bars on the engine's stderr, and no ``torch_dtype`` rename notice.

    ``torch_dtype`` is kept (diffusers 0.42 also accepts ``dtype``) because every diffusers
    version this plugin supports understands it.
    """
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    restore = [(module, module.is_progress_bar_enabled()) for module in (diffusers_logging, transformers_logging)]
    for module, _enabled in restore:
        module.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            yield
    finally:
        for module, enabled in restore:
            if enabled:
                module.enable_progress_bar()


# --------------------------------------------------------------------------- devices


def module_bytes(pipe: Any) -> int:
    import torch

    total = 0
    seen: set[int] = set()
    for component in getattr(pipe, "components", {}).values():
        if isinstance(component, torch.nn.Module):
            for tensor in list(component.parameters()) + list(component.buffers()):
                if id(tensor) not in seen:
                    seen.add(id(tensor))
                    total += tensor.numel() * tensor.element_size()
    return total


def prepare_for_device(pipe: Any, device: str, family: str, log: Callable[[str], None]) -> bool:
    """Move ``pipe`` to ``device`` with that device's fast settings; True when CPU-offloaded."""
    import torch

    if device.startswith("cuda"):
        size = module_bytes(pipe)
        free, _total = torch.cuda.mem_get_info()
        reserve = _ACTIVATION_RESERVE["large" if size > 4 * 2**30 or family.startswith("sdxl") else "small"]
        offload = size + reserve > free
        for name in ("unet", "vae", "transformer"):
            module = getattr(pipe, name, None)
            if isinstance(module, torch.nn.Module):
                module.to(memory_format=torch.channels_last)
        if offload:
            log(f"model ({size / 2**30:.1f} GiB) + activations do not fit the free VRAM ({free / 2**30:.1f} GiB): using model CPU offload")
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        return offload
    if device.startswith("mps"):
        pipe.to(device)
        pipe.enable_attention_slicing()
        return False
    pipe.to("cpu")
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:400]
