"""Live previews: latents to RGB with one small matrix per model family.

Decoding the VAE every step would cost as much as a sampling step; a linear projection of
the 4 latent channels to RGB (the factors ComfyUI and A1111 use, fitted per VAE) costs
microseconds and shows composition and colour well enough to decide whether to cancel.
"""

from __future__ import annotations

from typing import Any

# Rows: latent channels; columns: R, G, B. Fitted for the SD 1.x/2.x VAE and the SDXL VAE.
SD_FACTORS = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
SD_BIAS = (0.0, 0.0, 0.0)
SDXL_FACTORS = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
SDXL_BIAS = (0.1084, -0.0175, -0.0011)


class LatentPreviewer:
    """Turns a batch of latents into a small RGB array (H, W, 3) of the first image."""

    def __init__(self, family: str) -> None:
        xl = family.startswith("sdxl")
        self._factors = SDXL_FACTORS if xl else SD_FACTORS
        self._bias = SDXL_BIAS if xl else SD_BIAS
        self._matrix: Any = None

    def __call__(self, latents: Any) -> Any | None:
        import torch

        if not isinstance(latents, torch.Tensor) or latents.ndim != 4:
            return None  # packed sequence latents (Flux...): progress only, no preview
        first = latents[0].detach().to("cpu", torch.float32)
        channels = first.shape[0]
        if channels == len(self._factors):
            if self._matrix is None:
                self._matrix = torch.tensor(self._factors, dtype=torch.float32)
            rgb = torch.einsum("chw,cr->hwr", first, self._matrix) + torch.tensor(self._bias)
            rgb = (rgb + 1.0) / 2.0
        else:
            # Unknown latent space: show the first three channels, each stretched to [0, 1].
            picked = first[: min(3, channels)]
            if picked.shape[0] < 3:
                picked = picked.repeat(3, 1, 1)[:3]
            low = picked.amin(dim=(1, 2), keepdim=True)
            high = picked.amax(dim=(1, 2), keepdim=True)
            rgb = ((picked - low) / (high - low).clamp_min(1e-6)).permute(1, 2, 0)
        return (rgb.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).numpy()
