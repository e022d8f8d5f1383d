"""Fixtures for the text and audio plugins: tiny models built once per run, and a runner.

The runner is the engine's real in-process path (plugin host, model cache, output
encoding), pointed at a temporary home and at a models folder holding the tiny models.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_text_audio_models import build_gpt2, build_llama, build_musicgen

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_torch_thread(monkeypatch: pytest.MonkeyPatch):
    """Tiny models run fastest on one thread, and the machine's cores are shared.

    The engine sets torch to one thread per core unless OMP_NUM_THREADS is set; on a busy
    two-core machine that makes these tiny models ~20x slower (threads spin-waiting).
    """
    import torch

    previous = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder with a tiny Llama (chat template), GPT-2 (none) and MusicGen."""
    root = tmp_path_factory.mktemp("text-audio-models")
    build_llama(root / "tiny-llama")
    build_gpt2(root / "tiny-gpt2")
    build_musicgen(root / "tiny-musicgen")
    return root


@pytest.fixture(scope="session")
def llama_dir(model_dir: Path) -> Path:
    return model_dir / "tiny-llama"


@pytest.fixture(scope="session")
def gpt2_dir(model_dir: Path) -> Path:
    return model_dir / "tiny-gpt2"


@pytest.fixture(scope="session")
def musicgen_dir(model_dir: Path) -> Path:
    return model_dir / "tiny-musicgen"


@pytest.fixture
def make_runner(tmp_path: Path, model_dir: Path):
    """Build a LocalRunner over a fresh home; keyword arguments go to EngineConfig."""
    from studio.engine.config import EngineConfig
    from studio.engine.runner import LocalRunner

    def make(**overrides):
        options = {"home": tmp_path / "home", "plugin_dirs": [REPO / "plugins"], "model_paths": [model_dir], "device": "cpu"}
        options.update(overrides)
        return LocalRunner(EngineConfig(**options))

    return make


@pytest.fixture
def runner(make_runner):
    return make_runner()
