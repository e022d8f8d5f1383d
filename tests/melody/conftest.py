"""Fixtures for the melody plugin: a tiny random model, a fake engine Context, MIDI helpers.

Constraint tests run on a tiny *random* model on purpose: it proposes anything, so the
masks, not the model's good manners, are what keeps the output valid.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / "plugins" / "melody"
if str(PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(PLUGIN_DIR))

from melody_fakes import FakeContext  # noqa: E402

from studio.core.params import validate_params  # noqa: E402
from studio.plugins.api import Request  # noqa: E402
from studio.plugins.manifest import read_manifest  # noqa: E402


@pytest.fixture(scope="session")
def specs():
    return read_manifest(PLUGIN_DIR, source="first-party").generators[0].params


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 1x32 LSTM with random weights, saved the way trained models are."""
    import torch
    from studio_melody.model import MelodyLSTM, ModelConfig, save_model

    torch.manual_seed(1234)
    folder = tmp_path_factory.mktemp("tiny-melody") / "tiny"
    model = MelodyLSTM(ModelConfig(embed=16, pos_embed=8, hidden=32, layers=1, dropout=0.0, name="tiny random"))
    save_model(folder, model)
    return folder


@pytest.fixture
def generate(specs, tiny_model_dir) -> Callable[..., tuple[list, FakeContext]]:
    """Run the generator like the engine does: validated params, a fresh context."""
    from studio_melody.plugin import MelodyGenerator

    generator = MelodyGenerator()

    def run(params: dict[str, Any] | None = None, *, seed: int = 0, ctx: FakeContext | None = None, model: Path | str | None = None):
        ctx = ctx or FakeContext(seed)
        raw = dict(params or {})
        raw.setdefault("model", str(model or tiny_model_dir))
        values = validate_params(specs, raw)
        outputs = generator.generate(Request("studio.melody", values, seed), ctx)
        return outputs, ctx

    return run
