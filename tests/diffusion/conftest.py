"""Tiny random Stable Diffusion models (see tiny_sd.py), built once per session, and an engine.

The engine is the real in-process runner (plugin host, model cache, output encoding), so
these tests drive the plugin exactly as ``python main.py generate studio.diffusion`` does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest

# Unit tests import the plugin's modules directly, the way the plugin host would find them.
_PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "diffusion"
if str(_PLUGIN) not in sys.path:
    sys.path.insert(0, str(_PLUGIN))

from diffusion_helpers import PLUGINS  # noqa: E402
from tiny_sd import TinyModels, write_tiny_models  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _quiet_threads():
    """One torch thread while these tests run: the machine's cores are shared, and tiny models
    gain nothing from more. Restored after each module, so other test folders are unaffected."""
    import torch

    previous = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")  # the engine's device setup then leaves threads alone
        torch.set_num_threads(1)
        yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModels:
    return write_tiny_models(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="session")
def runner(tiny, tmp_path_factory):
    """One engine for the session: models stay cached across tests, as they do for a user."""
    from studio.engine.config import EngineConfig
    from studio.engine.runner import LocalRunner

    home = tmp_path_factory.mktemp("studio-home")
    return LocalRunner(EngineConfig(home=home, plugin_dirs=[PLUGINS], model_paths=[tiny.models_dir]))
