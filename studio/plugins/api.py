"""The plugin API, version 1: everything a generator plugin imports from the studio.

A plugin imports only this module and ``studio.core``. The engine hands each ``generate``
call a ``Context``; the plugin returns outputs as plain data (``ImageOutput``,
``TextOutput``, ``MelodyOutput``, ``AudioOutput``), and the engine turns them into files
with the generation's provenance (plugin, version, model hash, seed, params, device)
embedded, so no plugin can forget to record how an output was made.

Stability: names exported here keep their meaning for every 1.x API version. A manifest
states the range it works with (``api = ">=1,<2"``); the studio refuses a plugin whose
range excludes ``API_VERSION``.
"""

from __future__ import annotations

import abc
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Protocol, TypeVar, runtime_checkable

from studio.core.artifacts import Artifact
from studio.core.errors import Cancelled, ModelFormatError, ParamError, StudioError
from studio.core.params import ParamSpec
from studio.plugins.api_version import API_VERSION

if TYPE_CHECKING:  # pragma: no cover - typing only; plugins need not have these installed
    import numpy as np
    from PIL import Image


T = TypeVar("T")


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    """What the user asked a generator for: validated params and the job's seed."""

    generator: str
    params: Mapping[str, Any]
    seed: int
    job_id: str = ""


# --------------------------------------------------------------------------- outputs


@dataclass
class ImageOutput:
    """An image; ``parameters`` adds plugin-specific fields to the PNG's parameters chunk.

    ``prompt`` and ``negative_prompt`` become the first lines of the A1111-convention
    ``parameters`` text so other Stable Diffusion tools read them; the ordered
    ``parameters`` dict becomes its ``Key: value, ...`` line (e.g. Steps, Sampler, CFG scale).
    """

    image: "Image.Image"
    prompt: str = ""
    negative_prompt: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class TextOutput:
    text: str
    markdown: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class MelodyOutput:
    """A melody as Standard MIDI file bytes (the engine embeds the provenance)."""

    midi: bytes
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class AudioOutput:
    """Audio samples, float32 in [-1, 1], shaped (frames,) or (frames, channels)."""

    samples: "np.ndarray"
    sample_rate: int
    format: str = "wav"  # or "flac"
    parameters: dict[str, Any] = field(default_factory=dict)


Output = ImageOutput | TextOutput | MelodyOutput | AudioOutput | Artifact


# --------------------------------------------------------------------------- context


@runtime_checkable
class ModelCache(Protocol):
    """The engine's shared model cache, as plugins see it.

    ``load`` returns the object already loaded for the same (path, content hash, dtype,
    device) when there is one (by any plugin), otherwise calls ``loader(path)`` and keeps its
    result within the engine's memory budget, evicting least-recently-used models first.
    """

    def load(
        self,
        path: str | Path,
        loader: Callable[[Path], T],
        *,
        kind: str = "",
        dtype: str | None = None,
        device: str | None = None,
        variant: str = "",
    ) -> T: ...

    def content_hash(self, path: str | Path) -> str: ...

    def release(self, path: str | Path) -> None: ...


class Context(abc.ABC):
    """What the engine gives a running generator.

    Cancel is cooperative: check ``cancelled`` (or call ``check_cancelled``) between steps.
    The engine answers a cancel at once; a plugin that keeps running for more than a few
    seconds after one has its worker process ended and restarted.
    """

    #: the job's seed (also the seed of ``rng``)
    seed: int
    #: "cuda", "mps" or "cpu": where the engine wants work to run
    device: str
    #: "float16", "bfloat16" or "float32": the engine's choice for this device
    dtype: str
    #: the shared model cache
    models: ModelCache
    #: folders the user configured for models (STUDIO_MODEL_PATH and Preferences)
    model_paths: tuple[Path, ...]
    #: user settings a plugin may honour, e.g. {"allow_pickle": False}
    settings: Mapping[str, Any]
    #: a per-job folder the plugin may write scratch files to
    scratch_dir: Path
    #: the plugin's own folder for files that last between jobs (STUDIO_HOME/plugin-data/<id>);
    #: a community plugin without the "files" permission may write here and to scratch_dir only
    data_dir: Path | None = None
    #: the engine's memory budgets in bytes (0: none set). A plugin compares a model's size
    #: with ``vram_budget`` to decide on CPU offload instead of guessing from free memory.
    ram_budget: int = 0
    vram_budget: int = 0

    @property
    @abc.abstractmethod
    def rng(self) -> "np.random.Generator":
        """A numpy Generator seeded from the job's seed."""

    @property
    @abc.abstractmethod
    def cancelled(self) -> bool:
        """True once the user asked to cancel this job."""

    def check_cancelled(self) -> None:
        """Raise ``Cancelled`` when the job was cancelled; call it between steps."""
        if self.cancelled:
            raise Cancelled()

    @abc.abstractmethod
    def progress(self, done: float, total: float, message: str = "") -> None:
        """Report progress; cheap enough to call every step."""

    @abc.abstractmethod
    def preview(self, partial: "Image.Image | np.ndarray") -> None:
        """Send a preview image of the work in progress (downscaled by the engine)."""

    @abc.abstractmethod
    def stream_text(self, delta: str) -> None:
        """Send the next piece of streamed text (tokens) to the window as it is produced."""

    @abc.abstractmethod
    def input_artifact(self, artifact_id: str) -> Artifact:
        """The bytes behind an image/mask/melody/audio parameter value."""

    def input_image(self, artifact_id: str) -> "Image.Image":
        """An image parameter as a PIL image (RGBA/RGB/L as stored)."""
        import io

        from PIL import Image

        artifact = self.input_artifact(artifact_id)
        try:
            image = Image.open(io.BytesIO(artifact.data))
            image.load()
        except Exception as exc:  # Pillow raises many types for corrupt data
            raise ParamError(f"input {artifact_id[:12]} is not a readable image: {exc}") from None
        return image

    @abc.abstractmethod
    def log(self, message: str) -> None:
        """A line for the engine's log (shown in the job's details)."""


# --------------------------------------------------------------------------- commands


class CommandContext(abc.ABC):
    """What the engine gives a running ``[[commands]]`` entry (``train``, say).

    A command runs as an engine job, so it is queued, reports progress, can be cancelled
    (check ``cancelled`` between steps, leave a checkpoint, raise ``Cancelled``) and runs
    wherever the engine runs. ``log`` lines reach the window and the CLI as they are
    written. Results that are models go under ``models_dir`` (``STUDIO_HOME/models/<kind>``
    of the engine's machine), where the model scan offers them as choices.
    """

    #: where the command's models go: STUDIO_HOME/models/<the command's ``models`` kind>
    models_dir: Path
    #: a per-job folder for scratch files
    scratch_dir: Path
    #: "cuda", "mps" or "cpu": where the engine wants work to run
    device: str

    @property
    @abc.abstractmethod
    def cancelled(self) -> bool:
        """True once the user asked to cancel this job."""

    def check_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled()

    @abc.abstractmethod
    def progress(self, done: float, total: float, message: str = "") -> None:
        """Report progress; cheap enough to call every step."""

    @abc.abstractmethod
    def log(self, message: str) -> None:
        """One line for the user (shown as the job runs, kept with the job)."""


@dataclass
class CommandResult:
    """What a command made: a sentence for the user and the model folders it wrote."""

    message: str = ""
    models: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------- generators


class Generator(abc.ABC):
    """Base class of every generator named by a manifest's ``entry``.

    The engine constructs it once per worker (no arguments) and calls ``generate`` for each
    job. Keep heavy loading inside ``generate`` through ``ctx.models`` so that it is shared
    and budgeted.
    """

    @abc.abstractmethod
    def generate(self, request: Request, ctx: Context) -> list[Output]:
        """Produce one or more outputs for ``request``."""


# --------------------------------------------------------------------------- helpers


@contextmanager
def seeded_torch(seed: int, device: str) -> Iterator[None]:
    """Seed torch's global generator for one job, restoring its state afterwards.

    For libraries that sample from torch's global generator (transformers' ``generate``):
    the same seed then gives the same output, and other jobs' randomness is untouched.

    Only the generators of the job's device are seeded: ``torch.manual_seed`` would also
    queue a seed for every CUDA device and record a stack trace for it, which costs
    milliseconds before the first token.
    """
    import torch

    kind = torch.device(device).type
    if kind == "cpu":
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            yield
    elif kind == "cuda":
        index = torch.device(device).index
        with torch.random.fork_rng(devices=[torch.cuda.current_device() if index is None else index], device_type="cuda"):
            torch.default_generator.manual_seed(seed)
            torch.cuda.manual_seed(seed)
            yield
    else:
        with torch.random.fork_rng(device_type=kind):
            torch.manual_seed(seed)
            yield


__all__ = [
    "API_VERSION",
    "Artifact",
    "AudioOutput",
    "Cancelled",
    "CommandContext",
    "CommandResult",
    "Context",
    "Generator",
    "ImageOutput",
    "MelodyOutput",
    "ModelCache",
    "ModelFormatError",
    "Output",
    "ParamError",
    "ParamSpec",
    "Request",
    "StudioError",
    "TextOutput",
    "seeded_torch",
]
