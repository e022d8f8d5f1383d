"""Studio's diffusion plugin: Stable Diffusion family models through diffusers.

Importing the package is cheap (no torch): torch and diffusers load on the first job.
"""

__all__ = ["DiffusionGenerator"]


def __getattr__(name: str):
    if name == "DiffusionGenerator":
        from studio_diffusion.generator import DiffusionGenerator

        return DiffusionGenerator
    raise AttributeError(name)
