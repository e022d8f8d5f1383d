"""The ``studio.diffusion`` generator: Stable Diffusion family models through diffusers.

One job: resolve the model, take it from the shared model cache (loading it on a miss),
make the job's LoRAs and scheduler current on it, run the txt2img / img2img / inpaint
pipeline that shares its components, and return the images with A1111-style parameters.
Previews, progress and cancel all come from diffusers' per-step callback.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from studio.core.errors import Cancelled, ModelFormatError, ParamError
from studio.plugins.api import Context, Generator, ImageOutput, Request
from studio_diffusion import canvas
from studio_diffusion.checkpoint import PICKLE_SUFFIXES, SDXL_REFINER, pickle_refused_message, read_safetensors_header
from studio_diffusion.discovery import find_models, model_folder_to_load, resolve_model
from studio_diffusion.loading import LoadedModel, check_diffusers_folder, load_model
from studio_diffusion.loras import apply_loras, parse_lora_list, prepare_loras
from studio_diffusion.previews import LatentPreviewer
from studio_diffusion.prompt_encoding import has_clip_text_encoders, prompt_embeddings
from studio_diffusion.schedulers import make_scheduler

MODES = ("auto", "txt2img", "img2img", "inpaint", "outpaint")
_SIDES = ("left", "right", "top", "bottom")


class DiffusionGenerator(Generator):
    """Stable Diffusion 1.x / 2.x / XL (and other diffusers families) from local files."""

    def generate(self, request: Request, ctx: Context) -> list[ImageOutput]:
        params = request.params
        allow_pickle = bool(ctx.settings.get("allow_pickle", False))
        model_path = model_folder_to_load(resolve_model(params.get("model"), ctx.model_paths))
        preflight(model_path, allow_pickle=allow_pickle)
        mode = choose_mode(params)
        lora_requests = prepare_loras(_lora_entries(params), _lora_folders(ctx, model_path), allow_pickle=allow_pickle)

        ctx.progress(0, 1, "loading model")
        model: LoadedModel = ctx.models.load(
            model_path,
            lambda path: load_model(path, device=ctx.device, dtype=ctx.dtype, allow_pickle=allow_pickle, log=ctx.log),
            kind="diffusion",
            dtype=ctx.dtype,
            device=ctx.device,
        )
        ctx.check_cancelled()
        if model.family == SDXL_REFINER and mode == "txt2img":
            raise ParamError("the SDXL refiner only refines images: give it an image (img2img) or use an SDXL base model")
        apply_loras(model.pipe, model.loras, lora_requests)

        job = _Job(request, ctx, model, mode)
        images = job.run()

        model_hash = ctx.models.content_hash(model_path)[:10]
        outputs = []
        for index, image in enumerate(images):
            fields: dict[str, Any] = {
                "Steps": job.steps,
                "Sampler": job.sampler_name,
                "Schedule type": job.schedule_name,
                "CFG scale": job.guidance,
                "Seed": item_seed(request.seed, index),
                "Size": f"{image.width}x{image.height}",
                "Model hash": model_hash,
                "Model": model.name,
            }
            if mode != "txt2img":
                fields["Denoising strength"] = job.strength
            if job.clip_skip > 1:
                fields["Clip skip"] = job.clip_skip
            if mode in ("inpaint", "outpaint"):
                fields["Mask blur"] = job.mask_blur
            if mode == "outpaint":
                fields["Outpaint"] = ", ".join(
                    f"{side} {params.get('extend_' + side) or 0}" for side in _SIDES if params.get("extend_" + side)
                )
            if lora_requests:
                fields["Lora hashes"] = ", ".join(f"{r.name}: {r.hash[:12]}" for r in lora_requests)
                fields["LoRAs"] = ", ".join(f"{r.name}: {r.weight:g}" for r in lora_requests)
            outputs.append(ImageOutput(image, prompt=job.prompt, negative_prompt=job.negative_prompt, parameters=fields))
        return outputs


def item_seed(seed: int, index: int) -> int:
    """Image ``index`` of a batch is seeded ``seed + index``, wrapping inside the unsigned
    64-bit range (torch.manual_seed takes 0..2**64-1), so it can be re-made alone."""
    return (int(seed) + index) % (1 << 64)


def list_models(folders: list[Path]) -> list[dict[str, Any]]:
    """Checkpoints and LoRAs under ``folders`` with their detected families (for model pickers)."""
    return [entry.to_dict() for entry in find_models(folders)]


def preflight(path: Path, *, allow_pickle: bool) -> None:
    """Refuse what cannot load before the engine hashes gigabytes of it."""
    if path.is_dir():
        check_diffusers_folder(path, allow_pickle=allow_pickle)
    elif path.suffix.lower() in PICKLE_SUFFIXES and not allow_pickle:
        raise ModelFormatError(pickle_refused_message(path))
    elif path.suffix.lower() == ".safetensors":
        read_safetensors_header(path)


def choose_mode(params: Mapping[str, Any]) -> str:
    mode = params.get("mode") or "auto"
    if mode not in MODES:
        raise ParamError(f"mode: {mode!r} is not one of {', '.join(MODES)}")
    has_image = bool(params.get("image"))
    extends = any(int(params.get("extend_" + side) or 0) > 0 for side in _SIDES)
    if mode == "auto":
        if not has_image:
            return "txt2img"
        if extends:
            return "outpaint"
        return "inpaint" if params.get("mask") else "img2img"
    if mode in ("img2img", "inpaint", "outpaint") and not has_image:
        raise ParamError(f"mode {mode} needs an image (the canvas selection)")
    if mode == "inpaint" and not params.get("mask"):
        raise ParamError("mode inpaint needs a mask (white where the image is repainted)")
    if mode == "outpaint" and not extends:
        raise ParamError("mode outpaint needs at least one of extend_left/right/top/bottom above 0")
    return mode


def _lora_entries(params: Mapping[str, Any]) -> list[tuple[str, float]]:
    entries: list[tuple[str, float]] = []
    if params.get("lora"):
        weight = params.get("lora_weight")
        entries.append((str(params["lora"]), 1.0 if weight is None else float(weight)))
    entries.extend(parse_lora_list(params.get("loras") or ""))
    return entries


def _lora_folders(ctx: Context, model_path: Path) -> list[Path]:
    return [*ctx.model_paths, model_path.parent]


class _Job:
    """One sampling run: inputs prepared for the mode, the call, and results brought back."""

    def __init__(self, request: Request, ctx: Context, model: LoadedModel, mode: str) -> None:
        params = request.params
        self.request = request
        self.ctx = ctx
        self.model = model
        self.mode = mode
        self.prompt = str(params.get("prompt") or "")
        self.negative_prompt = str(params.get("negative_prompt") or "")
        self.steps = int(params.get("steps") or 20)
        self.guidance = float(params.get("guidance") if params.get("guidance") is not None else 7.0)
        self.strength = float(params.get("strength") if params.get("strength") is not None else 0.75)
        self.batch = int(params.get("batch_size") or 1)
        self.clip_skip = int(params.get("clip_skip") or 1)
        self.mask_blur = int(params.get("mask_blur") if params.get("mask_blur") is not None else 4)
        self.scheduler_name = str(params.get("scheduler") or "Default")
        self.sampler_name = self.scheduler_name
        self.schedule_name = str(params.get("schedule") or "Automatic")
        self.previewer = LatentPreviewer(model.family)
        self.steps_done = 0

    def run(self) -> list[Any]:
        params = self.request.params
        model = self.model
        multiple = model.size_multiple
        call: dict[str, Any] = {}
        original = mask = None
        final_size: tuple[int, int] | None = None
        crop_box = None

        if self.mode == "txt2img":
            width = canvas.snap(int(params.get("width") or model.native_size), multiple)
            height = canvas.snap(int(params.get("height") or model.native_size), multiple)
            if model.inpainting:
                # An inpainting UNet also paints from nothing: a blank canvas, all masked.
                from PIL import Image

                task = "inpaint"
                call.update(
                    image=Image.new("RGB", (width, height), (128, 128, 128)), mask_image=Image.new("L", (width, height), 255), strength=1.0
                )
            else:
                task = "txt2img"
            call.update(width=width, height=height)
        else:
            source = canvas.as_rgb(self.ctx.input_image(params["image"]))
            if self.mode == "outpaint":
                extended = canvas.outpaint_canvas(
                    source, multiple=multiple, **{side: int(params.get("extend_" + side) or 0) for side in _SIDES}
                )
                original, mask = extended.image, extended.mask
                final_size, crop_box = extended.final_size, extended.crop_box
                self.strength = 1.0  # the new area holds nothing worth keeping
            else:
                original = source
                final_size = source.size
                if self.mode == "inpaint":
                    mask = canvas.as_mask(self.ctx.input_image(params["mask"]), source.size)
            width, height = canvas.snap(original.width, multiple), canvas.snap(original.height, multiple)
            work = original.resize((width, height), _lanczos()) if original.size != (width, height) else original
            if mask is None and model.inpainting:
                from PIL import Image

                mask = Image.new("L", original.size, 255)  # img2img on an inpainting UNet: all of it
            if mask is not None:
                task = "inpaint"
                work_mask = mask.resize((width, height), _bilinear()) if mask.size != (width, height) else mask
                call.update(image=work, mask_image=work_mask, strength=self.strength, width=width, height=height)
            else:
                task = "img2img"
                call.update(image=work, strength=self.strength)

        pipe = model.pipeline_for(task)
        scheduler, self.sampler_name, self.schedule_name = make_scheduler(
            self.scheduler_name, model.base_scheduler_config, schedule=self.schedule_name, log=self.ctx.log
        )
        pipe.scheduler = scheduler
        model.set_vae_tiling(width, height)
        images = self._call(pipe, call)

        if self.mode == "txt2img":
            return images
        results = []
        for image in images:
            if mask is not None and self.mode in ("inpaint", "outpaint"):
                image = canvas.composite(original, image, mask, self.mask_blur)
            elif image.size != original.size:
                image = image.resize(original.size, _lanczos())
            if crop_box is not None:
                image = image.crop(crop_box)
            if final_size is not None and image.size != final_size:
                image = image.resize(final_size, _lanczos())
            results.append(image)
        return results

    def _call(self, pipe: Any, call: dict[str, Any]) -> list[Any]:
        import torch

        seed = self.request.seed
        # CPU generators, one per image: the same seed gives the same noise on every device,
        # and image i of a batch is reproducible alone with seed + i (as in A1111).
        generators = [torch.Generator("cpu").manual_seed(item_seed(seed, i)) for i in range(self.batch)]
        accepted = _call_parameters(pipe)
        call.update(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt or None,
            num_inference_steps=self.steps,
            guidance_scale=self.guidance,
            num_images_per_prompt=self.batch,
            generator=generators,
            callback_on_step_end=self._on_step_end,
        )
        if has_clip_text_encoders(pipe):
            # A1111's prompt syntax (weights, BREAK, no 77-token limit) and its clip skip.
            call.update(
                prompt_embeddings(pipe, self.prompt, self.negative_prompt, clip_skip=self.clip_skip, with_negative=self.guidance > 1)
            )
            call.pop("prompt")
            call.pop("negative_prompt")
        elif self.clip_skip > 1:
            if "clip_skip" in accepted:
                call["clip_skip"] = self.clip_skip - 1  # A1111's "Clip skip 2" is diffusers' clip_skip=1
            else:
                self.ctx.log(f"clip skip does not apply to {self.model.family} models; ignored")
                self.clip_skip = 1
        call = {key: value for key, value in call.items() if key in accepted}
        with torch.inference_mode():
            result = pipe(**call)
        return list(result.images)

    def _on_step_end(self, pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        self.steps_done = step + 1
        total = getattr(pipe, "_num_timesteps", None) or self.steps
        if self.ctx.cancelled:
            # Raising ends sampling now and skips the VAE decode of a result nobody wants.
            pipe._interrupt = True
            raise Cancelled()
        self.ctx.progress(step + 1, total, f"step {step + 1}/{total}")
        preview = self.previewer(tensors.get("latents"))
        if preview is not None:
            self.ctx.preview(preview)
        return tensors


def _call_parameters(pipe: Any) -> set[str]:
    return set(inspect.signature(type(pipe).__call__).parameters)


def _lanczos() -> Any:
    from PIL import Image

    return Image.Resampling.LANCZOS


def _bilinear() -> Any:
    from PIL import Image

    return Image.Resampling.BILINEAR
