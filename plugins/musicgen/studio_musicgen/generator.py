"""``studio.musicgen``: text-to-music audio from a local MusicGen model folder.

MusicGen writes audio as frames of codec tokens (50 a second for the released models),
one frame per decoding step, then the EnCodec decoder turns the frames into a waveform.
A stopping criterion sees every step in the job's thread: it reports progress per frame
and raises ``Cancelled`` between frames, so a cancel never waits for the whole clip and
never leaves the codec decoding audio nobody wants.

Duration: the codebooks are generated with a delay pattern (codebook k lags k frames), so
``frames + codebooks - 1`` steps give ``frames`` complete frames; the waveform is trimmed
to the exact requested length. The model's position limit (``max_position_embeddings``
steps, 2048 for the released models ≈ 40 s) is the longest clip it can make in one go;
longer requests are refused with the limit in the message.

Not yet: melody conditioning. MusicGen-Melody folders load and generate from text, but the
plugin takes no melody input (its processor's chroma extractor also needs torchaudio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from studio.core.errors import Cancelled, ModelFormatError, ParamError
from studio.plugins.api import AudioOutput, Context, Generator, Request, seeded_torch
from studio_musicgen.model_folder import MusicgenSource, resolve_musicgen

try:
    from transformers import StoppingCriteria
except ImportError:  # pragma: no cover
    StoppingCriteria = object  # type: ignore[misc,assignment]


@dataclass
class LoadedMusicgen:
    model: Any
    processor: Any
    name: str
    melody: bool
    sample_rate: int
    frame_rate: float
    codebook_delay: int  # steps by which the last codebook lags the first
    max_steps: int
    studio_size_bytes: int

    @property
    def max_seconds(self) -> float:
        """The longest clip one generation can make."""
        return max(0.0, (self.max_steps - 1 - self.codebook_delay) / self.frame_rate)


def load_musicgen(source: MusicgenSource, *, dtype: str, device: str) -> LoadedMusicgen:
    import torch
    from transformers import AutoProcessor, MusicgenForConditionalGeneration
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if source.melody:
        from transformers import MusicgenMelodyForConditionalGeneration as model_class
    else:
        model_class = MusicgenForConditionalGeneration
    try:
        processor = AutoProcessor.from_pretrained(str(source.folder), local_files_only=True)
    except Exception as exc:  # transformers raises many types for a broken folder
        raise ModelFormatError(f"{source.folder.name}: the MusicGen processor cannot be loaded: {_first_line(exc)}") from None
    try:
        model = model_class.from_pretrained(
            str(source.folder),
            local_files_only=True,
            dtype=getattr(torch, dtype, torch.float32),
            use_safetensors=None if source.allow_pickle else True,
        )
    except Exception as exc:
        raise ModelFormatError(f"{source.folder.name}: the MusicGen model cannot be loaded: {_first_line(exc)}") from None
    model.to(device)
    model.eval()

    audio_config = model.config.audio_encoder
    decoder_config = model.config.decoder
    channels = int(getattr(decoder_config, "audio_channels", 1) or 1)
    sample_rate = int(audio_config.sampling_rate)
    frame_rate = float(audio_config.frame_rate)
    size = sum(t.numel() * t.element_size() for t in model.parameters())
    return LoadedMusicgen(
        model=model,
        processor=processor,
        name=source.folder.name,
        melody=source.melody,
        sample_rate=sample_rate,
        frame_rate=frame_rate,
        codebook_delay=int(decoder_config.num_codebooks) // channels - 1,
        max_steps=int(decoder_config.max_position_embeddings),
        studio_size_bytes=int(size),
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class FrameProgress(StoppingCriteria):
    """Called by generate() after every frame: progress, and cancel between frames."""

    def __init__(self, ctx: Context, start_length: int, total: int) -> None:
        self._ctx = ctx
        self._start = start_length
        self._total = total
        self._answer: Any = None

    def __call__(self, input_ids: Any, scores: Any = None, **kwargs: Any) -> Any:
        if self._ctx.cancelled:
            raise Cancelled()
        done = input_ids.shape[-1] - self._start
        self._ctx.progress(done, self._total, f"frame {done}/{self._total}")
        if self._answer is None or self._answer.shape[0] != input_ids.shape[0]:
            import torch

            self._answer = torch.zeros((input_ids.shape[0],), dtype=torch.bool, device=input_ids.device)
        return self._answer


class MusicgenGenerator(Generator):
    def generate(self, request: Request, ctx: Context) -> list[AudioOutput]:
        import numpy as np
        import torch
        from transformers import StoppingCriteriaList

        params = request.params
        source = resolve_musicgen(params.get("model"), ctx.model_paths, ctx.settings or {})
        mg: LoadedMusicgen = ctx.models.load(
            source.folder,
            lambda _path: load_musicgen(source, dtype=ctx.dtype, device=ctx.device),
            kind="musicgen",
            dtype=ctx.dtype,
            device=ctx.device,
        )
        duration = float(params.get("duration") or 8.0)
        if duration > mg.max_seconds + 1e-9:
            raise ParamError(
                f"duration: {duration:g} s is longer than {mg.name} can make in one go "
                f"({mg.max_seconds:.1f} s: {mg.max_steps} steps at {mg.frame_rate:g} frames a second)"
            )
        prompt = str(params.get("prompt") or "").strip()
        guidance = float(params.get("guidance_scale") if params.get("guidance_scale") is not None else 3.0)
        temperature = float(params.get("temperature") or 1.0)
        top_k = int(params.get("top_k") if params.get("top_k") is not None else 250)

        frames = max(1, math.ceil(duration * mg.frame_rate))
        steps = frames + mg.codebook_delay
        if prompt:
            inputs = mg.processor(text=[prompt], padding=True, return_tensors="pt")
            inputs = {key: value.to(ctx.device) for key, value in inputs.items()}
            options: dict[str, Any] = {"guidance_scale": guidance if guidance > 1.0 else None}
        else:  # no prompt: MusicGen's unconditional generation
            unconditional = mg.model.get_unconditional_inputs(num_samples=1)
            inputs = {
                "encoder_outputs": tuple(t.to(ctx.device, dtype=mg.model.dtype) for t in unconditional.encoder_outputs),
                "attention_mask": unconditional.attention_mask.to(ctx.device),
            }
            options = {"guidance_scale": None}
        progress = FrameProgress(ctx, start_length=1, total=steps)

        with torch.inference_mode(), seeded_torch(request.seed, ctx.device):
            audio = mg.model.generate(
                **inputs,
                do_sample=True,
                temperature=temperature,
                top_k=top_k,
                max_new_tokens=steps,
                stopping_criteria=StoppingCriteriaList([progress]),
                **options,
            )
        ctx.check_cancelled()
        samples = audio[0].float().cpu().numpy()  # (channels, samples)
        wanted = int(round(duration * mg.sample_rate))
        samples = samples[:, :wanted]
        if samples.shape[1] < wanted:  # never expected; keep the promised length anyway
            samples = np.pad(samples, ((0, 0), (0, wanted - samples.shape[1])))
        samples = np.clip(samples, -1.0, 1.0).astype(np.float32)
        samples = samples[0] if samples.shape[0] == 1 else samples.T
        ctx.progress(steps, steps)

        parameters = {
            "Prompt": prompt,
            "Duration": duration,
            "Guidance scale": guidance,
            "Temperature": temperature,
            "Top k": top_k,
            "Seed": request.seed,
            "Model": mg.name,
            "Sample rate": mg.sample_rate,
            "Frames": frames,
        }
        return [AudioOutput(samples, mg.sample_rate, format=str(params.get("format") or "wav"), parameters=parameters)]
