"""The shared model cache: one object per key, LRU eviction within budget, honest reporting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.core.errors import ModelFormatError
from studio.engine.model_cache import FileHasher, ModelCache, estimate_bytes


def write_model(folder: Path, name: str, count: int) -> Path:
    path = folder / name
    np.save(path, np.ones(count, dtype=np.float32))
    return path


class CountingLoader:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, path: Path):
        self.calls.append(path.name)
        return np.load(path)


def test_same_path_dtype_and_device_share_one_object(tmp_path):
    cache = ModelCache(ram_budget=10**9)
    loader = CountingLoader()
    model = write_model(tmp_path, "a.npy", 100)
    first = cache.load(model, loader, dtype="float32", device="cpu")
    second = cache.load(str(model), loader, dtype="float32", device="cpu")
    assert first is second
    assert loader.calls == ["a.npy"]
    assert cache.stats() == {"loads": 1, "hits": 1, "evictions": 0}


def test_a_different_dtype_or_device_is_a_different_entry(tmp_path):
    cache = ModelCache(ram_budget=10**9)
    loader = CountingLoader()
    model = write_model(tmp_path, "a.npy", 100)
    cache.load(model, loader, dtype="float32", device="cpu")
    cache.load(model, loader, dtype="float16", device="cpu")
    assert len(loader.calls) == 2 and len(cache.loaded()) == 2


def test_changed_file_content_is_loaded_again(tmp_path):
    cache = ModelCache(ram_budget=10**9)
    loader = CountingLoader()
    model = write_model(tmp_path, "a.npy", 100)
    cache.load(model, loader)
    cache.end_job()
    np.save(model, np.zeros(100, dtype=np.float32))
    reloaded = cache.load(model, loader)
    assert len(loader.calls) == 2 and float(reloaded.sum()) == 0.0


def test_least_recently_used_models_are_evicted_to_stay_in_budget(tmp_path):
    # Each model holds 4000 bytes; the budget fits two.
    cache = ModelCache(ram_budget=8500)
    loader = CountingLoader()
    a, b, c = (write_model(tmp_path, f"{name}.npy", 1000) for name in "abc")
    cache.load(a, loader)
    cache.end_job()
    cache.load(b, loader)
    cache.end_job()
    cache.load(a, loader)  # a is now more recent than b
    cache.end_job()
    cache.load(c, loader)
    cache.end_job()
    resident = sorted(Path(entry["path"]).name for entry in cache.loaded())
    assert resident == ["a.npy", "c.npy"]
    assert cache.stats()["evictions"] == 1
    assert cache.usage()["ram_bytes"] <= 8500


def test_models_held_by_the_running_job_are_not_evicted(tmp_path):
    cache = ModelCache(ram_budget=5000)
    loader = CountingLoader()
    a, b = (write_model(tmp_path, f"{name}.npy", 1000) for name in "ab")
    first = cache.load(a, loader)
    second = cache.load(b, loader)  # same job: both pinned even though over budget
    assert first is not None and second is not None
    assert len(cache.loaded()) == 2
    cache.end_job()  # now the budget is enforced again
    assert len(cache.loaded()) == 1


def test_loaded_reports_real_sizes_and_uses(tmp_path):
    cache = ModelCache(ram_budget=10**9)
    model = write_model(tmp_path, "a.npy", 250)
    cache.load(model, CountingLoader(), kind="test")
    cache.load(model, CountingLoader(), kind="test")
    (entry,) = cache.loaded()
    assert entry["bytes"] == 1000 and entry["uses"] == 2 and entry["kind"] == "test"
    assert len(entry["hash"]) == 64


def test_missing_model_and_empty_folder_are_clear_errors(tmp_path):
    cache = ModelCache(ram_budget=10**9)
    with pytest.raises(ModelFormatError, match="no such model"):
        cache.load(tmp_path / "missing.safetensors", CountingLoader())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelFormatError, match="folder is empty"):
        cache.load(empty, CountingLoader())


def test_content_hashes_are_remembered_across_cache_instances(tmp_path):
    model = write_model(tmp_path, "a.npy", 10)
    hashes = tmp_path / "hashes.json"
    first = FileHasher(hashes).hash_path(model)
    assert hashes.is_file()
    assert FileHasher(hashes).hash_path(model) == first


def test_estimate_bytes_counts_torch_module_parameters():
    torch = pytest.importorskip("torch")
    module = torch.nn.Linear(10, 10)  # 100 weights + 10 biases, float32
    assert estimate_bytes(module) == 440
    assert estimate_bytes({"a": module, "b": module}) == 440


def test_the_runner_evicts_under_the_configured_budget_and_records_model_hashes(tmp_path):
    """Through the real runner and a plugin: the budget from the config drives eviction."""
    from studio.engine.config import EngineConfig
    from studio.engine.runner import LocalRunner

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "plugins"
    runner = LocalRunner(
        EngineConfig(home=tmp_path / "home", plugin_dirs=[fixtures / "modelload"], ram_budget=6000, device="cpu", include_first_party=False)
    )
    a, b = (write_model(tmp_path, f"{name}.npy", 1000) for name in "ab")
    first = runner.run("test.modelload", {"model": str(a)}, seed=1)
    runner.run("test.modelload", {"model": str(b)}, seed=1)
    resident = [Path(entry["path"]).name for entry in runner.models.loaded()]
    assert resident == ["b.npy"]
    assert runner.models.stats()["evictions"] == 1
    assert first.record["models"][0]["hash"] == runner.models.content_hash(a)
