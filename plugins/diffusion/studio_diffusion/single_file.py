"""A single-file SD 1.x / 2.x / XL checkpoint loaded one tensor at a time.

diffusers' ``from_single_file`` reads the whole file into memory, converts it, and only then
copies each tensor (cast to the target dtype) into the model, so the file's tensors and the
model's are alive together: an SD 1.5-size fp16 file peaked at 6.7 GB on a CPU where its
diffusers folder takes 4.7 GB, and took ~30 s.

Here each component is built on the meta device (no memory, no random init) from the
config folder, and filled from the file component by component, smallest first:
1. the component's tensors are read one by one and cast to the target dtype as they are
   read (through one reused scratch buffer), or, when the file already holds that dtype,
   taken as views of a memory map of the file: one copy, no cast, read lazily like a
   diffusers folder (see ``TensorSource``);
2. diffusers' own key conversion (``convert_ldm_*``) renames them, so the layouts stay the
   ones diffusers maintains;
3. each converted tensor is *assigned* as the module's parameter (no copy into an
   initialised one) and leaves the conversion's dict at once.
So memory holds the model built so far plus one tensor in the file's dtype: the peak is about
the size of the finished model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from studio.core.errors import ModelFormatError
from studio_diffusion.checkpoint import (
    SD2,
    SDXL,
    SDXL_REFINER,
    Checkpoint,
    TensorInfo,
    read_safetensors_header,
)

# safetensors dtype names -> torch dtype names
_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
}
_STREAMED_CLASSES = {"UNet2DConditionModel", "AutoencoderKL", "CLIPTextModel", "CLIPTextModelWithProjection"}
# Load order: small components first, so the big UNet's file copy is never alive next to a
# half-built small one.
_ORDER = ("text_encoder", "text_encoder_2", "vae", "unet")
_VAE_PREFIXES = ("first_stage_model.", "vae.")


def can_stream(config_dir: Path) -> bool:
    """True when every model component of this config is one this module knows how to fill."""
    index = _model_index(config_dir)
    models = {name: entry for name, entry in _components(index)}
    return bool(models) and set(models) <= set(_ORDER) and all(entry[1] in _STREAMED_CLASSES for entry in models.values())


class TensorSource:
    """Tensors by name from a .safetensors file, in the dtype the model wants.

    A tensor already in that dtype is a view of a private (copy-on-write) memory map of the
    file: nothing is read until the model first uses it, exactly as diffusers loads a
    folder's safetensors, so such a load takes about a second. A tensor that must be cast is
    read into one reused scratch buffer and cast from there into its own memory: the file's
    copy never exists next to the cast one, beyond the tensor being cast (a whole component
    read first and cast after would also leave the allocator's heap full of holes the size of
    the freed file copies).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.infos, self.metadata, self._offset = read_safetensors_header(path)
        self._mapped: Any = None

    def keys(self) -> Iterable[str]:
        return self.infos.keys()

    def read(self, keys: Iterable[str], dtype: Any) -> dict[str, Any]:
        import torch

        wanted = sorted(keys, key=lambda key: self.infos[key].start)  # one forward pass over the file
        tensors: dict[str, Any] = {}
        scratch = torch.empty(0, dtype=torch.uint8)
        with self.path.open("rb", buffering=0) as handle:
            for key in wanted:
                info = self.infos[key]
                stored = _torch_dtype(info, torch, self.path)
                target = dtype if stored.is_floating_point else stored
                tensor = self._view(info, stored, target, torch)
                if tensor is None:
                    size = info.end - info.start
                    if scratch.numel() < size:
                        scratch = torch.empty(size, dtype=torch.uint8)
                    _read_into(handle, self._offset + info.start, scratch[:size], self.path)
                    raw = scratch[:size].view(stored).reshape(info.shape)
                    tensor = raw.to(target, copy=True)
                tensors[key] = tensor
        return tensors

    def _view(self, info: TensorInfo, stored: Any, target: Any, torch: Any) -> Any:
        if stored != target or info.end == info.start:
            return None
        start = self._offset + info.start
        itemsize = torch.tensor([], dtype=stored).element_size()
        if start % itemsize:
            return None  # an unaligned tensor (rare): read it instead
        if self._mapped is None:
            self._mapped = torch.UntypedStorage.from_file(str(self.path), shared=False, nbytes=self.path.stat().st_size)
        return torch.empty(0, dtype=stored).set_(self._mapped, start // itemsize, info.shape)


class DictSource:
    """A state dict already in memory (a weights-only pickle): handed out, cast, and forgotten."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state

    def keys(self) -> Iterable[str]:
        return self._state.keys()

    def read(self, keys: Iterable[str], dtype: Any) -> dict[str, Any]:
        out = {}
        for key in list(keys):
            value = self._state.pop(key)
            out[key] = value.to(dtype) if getattr(value, "is_floating_point", lambda: False)() else value
        return out


def _torch_dtype(info: TensorInfo, torch: Any, path: Path) -> Any:
    dtype = getattr(torch, _DTYPES.get(info.dtype, ""), None)
    if dtype is None:
        raise ModelFormatError(f"{path.name}: a tensor has dtype {info.dtype}, which Studio cannot load")
    return dtype


def _read_into(handle: Any, position: int, buffer: Any, path: Path) -> None:
    size = buffer.numel()
    if not size:
        return
    handle.seek(position)
    view = memoryview(buffer.numpy())
    done = 0
    while done < size:
        read = handle.readinto(view[done:])
        if not read:
            raise ModelFormatError(f"{path.name}: the file ended inside a tensor; download it again")
        done += read


def load_components(
    source: TensorSource | DictSource,
    checkpoint: Checkpoint,
    config_dir: Path,
    dtype: Any,
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """The model components named by ``config_dir``'s model_index.json, filled from ``source``."""
    index = _model_index(config_dir)
    wanted = dict(_components(index))
    built: dict[str, Any] = {}
    keys = list(source.keys())
    for name in _ORDER:
        if name not in wanted:
            continue
        library, class_name = wanted[name]
        module = _empty_module(config_dir / name, library, class_name)
        prefix, convert = _conversion(name, module, checkpoint, keys)
        tensors = source.read([key for key in keys if key.startswith(prefix)], dtype)
        if not tensors:
            raise ModelFormatError(f"{checkpoint.path.name}: the checkpoint holds no {name} weights (no '{prefix}' keys)")
        converted = convert(tensors)
        del tensors  # only the converted dict refers to the file's tensors now
        if not hasattr(module, "text_model") and any(key.startswith("text_model.") for key in converted):
            # transformers >= 5.6 flattened CLIPTextModel; diffusers' converter still names text_model.*
            converted = {key.removeprefix("text_model."): value for key, value in converted.items()}
        _assign(module, converted, dtype, checkpoint.path.name, name, log)
        built[name] = module.eval()
    return built


def _model_index(config_dir: Path) -> dict[str, Any]:
    return json.loads((config_dir / "model_index.json").read_text(encoding="utf-8"))


def _components(index: Mapping[str, Any]) -> Iterable[tuple[str, tuple[str, str]]]:
    for name, entry in index.items():
        if name.startswith("_") or not isinstance(entry, list) or len(entry) != 2 or entry[0] is None:
            continue
        if entry[0] in ("diffusers", "transformers") and not str(entry[1]).endswith(("Scheduler", "Tokenizer", "TokenizerFast")):
            yield name, (str(entry[0]), str(entry[1]))


def _empty_module(folder: Path, library: str, class_name: str) -> Any:
    from accelerate import init_empty_weights

    if library == "diffusers":
        import diffusers

        cls = getattr(diffusers, class_name)
        config = cls.load_config(folder)
        with init_empty_weights():
            return cls.from_config(config)
    import transformers

    cls = getattr(transformers, class_name)
    config = cls.config_class.from_pretrained(folder)
    with init_empty_weights():
        return cls(config)


def _conversion(name: str, module: Any, checkpoint: Checkpoint, keys: list[str]) -> tuple[str, Callable[[dict], dict]]:
    from diffusers.loaders import single_file_utils as sfu

    if name == "unet":
        return sfu.LDM_UNET_KEY, lambda tensors: sfu.convert_ldm_unet_checkpoint(tensors, module.config)
    if name == "vae":
        prefix = next((p for p in _VAE_PREFIXES if any(key.startswith(p) for key in keys)), _VAE_PREFIXES[0])
        return prefix, lambda tensors: sfu.convert_ldm_vae_checkpoint(tensors, module.config)
    family = checkpoint.family
    if name == "text_encoder":
        if family == SD2:
            prefix = "cond_stage_model.model."
            return prefix, lambda tensors: sfu.convert_open_clip_checkpoint(module, tensors, prefix=prefix)
        prefix = "conditioner.embedders.0.transformer." if family == SDXL else "cond_stage_model.transformer."
        return prefix, lambda tensors: sfu.convert_ldm_clip_checkpoint(tensors, remove_prefix=prefix)
    if name == "text_encoder_2":
        prefix = "conditioner.embedders.0.model." if family == SDXL_REFINER else "conditioner.embedders.1.model."
        return prefix, lambda tensors: sfu.convert_open_clip_checkpoint(module, tensors, prefix=prefix)
    raise ModelFormatError(f"{checkpoint.path.name}: no way to read a {name} from a single-file checkpoint")


def _assign(module: Any, converted: dict[str, Any], dtype: Any, file_name: str, component: str, log: Callable[[str], None]) -> None:
    """Each tensor becomes the module's parameter (cast once), and leaves ``converted`` at once."""
    import torch

    params = dict(module.named_parameters())
    buffers = dict(module.named_buffers())
    unexpected: list[str] = []
    for key in list(converted):
        value = converted.pop(key)
        target = params.get(key)
        is_param = target is not None
        if target is None:
            target = buffers.get(key)
        if target is None:
            unexpected.append(key)
            continue
        if tuple(value.shape) != tuple(target.shape):
            raise ModelFormatError(
                f"{file_name}: the {component} weight {key} has shape {tuple(value.shape)} where this model "
                f"needs {tuple(target.shape)}; the file is another model variant than its header suggests"
            )
        value = value.to(dtype) if value.is_floating_point() else value.to(target.dtype)  # no-op: read in dtype
        owner, _, attribute = key.rpartition(".")
        holder = module.get_submodule(owner) if owner else module
        if is_param:
            holder._parameters[attribute] = torch.nn.Parameter(value, requires_grad=False)
        else:
            holder._buffers[attribute] = value
        del value
    missing = [name for name, param in module.named_parameters() if param.is_meta]
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise ModelFormatError(
            f"{file_name}: the checkpoint lacks {len(missing)} {component} weights ({shown}); it is incomplete or another model"
        )
    if unexpected:
        log(f"{file_name}: {len(unexpected)} {component} tensors not used by the model (e.g. {unexpected[0]})")
