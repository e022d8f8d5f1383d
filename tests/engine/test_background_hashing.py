"""The model cache hashes a model on a background thread: loading (and sampling) never waits
for the SHA-256 of a multi-GB file; the hash is read once and remembered by path+size+mtime."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from studio.engine.model_cache import FileHasher, ModelCache


class SlowDiskHasher(FileHasher):
    """A hasher whose reads wait until the test lets them go (a slow disk), counting real reads."""

    def __init__(self, cache_file=None) -> None:
        super().__init__(cache_file)
        self.release = threading.Event()
        self.reads = 0

    def _hash_file(self, path):
        stat = path.stat()
        if f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}" not in self._known:
            self.reads += 1
            assert self.release.wait(10), "the test never released the disk"
        return super()._hash_file(path)


def test_load_returns_before_the_hash_is_done_and_the_hash_is_read_once(tmp_path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"weights" * 1000)
    hasher = SlowDiskHasher()
    cache = ModelCache(ram_budget=10**9, hasher=hasher)

    started = time.perf_counter()
    value = cache.load(model, lambda path: {"loaded": path.name})
    assert value == {"loaded": "model.safetensors"}
    assert time.perf_counter() - started < 5  # did not wait for the (blocked) hash
    assert not hasher.release.is_set()

    got: list[str] = []
    asker = threading.Thread(target=lambda: got.append(cache.content_hash(model)))
    asker.start()
    asker.join(0.3)
    assert asker.is_alive()  # asking for the hash waits for the background one...
    hasher.release.set()
    asker.join(10)
    assert got == [hashlib.sha256(model.read_bytes()).hexdigest()]  # ...and gets the real SHA-256
    assert hasher.reads == 1  # the file was read once, by the background thread

    [entry] = cache.loaded()
    assert entry["hash"] == got[0]
    assert cache.load(model, lambda path: pytest.fail("should be cached")) == value


def test_a_changed_file_is_a_new_cache_entry_and_a_new_hash(tmp_path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"one")
    cache = ModelCache(ram_budget=10**9)
    first = cache.load(model, lambda path: ["first"])
    model.write_bytes(b"two, longer")
    second = cache.load(model, lambda path: ["second"])
    assert first == ["first"] and second == ["second"]
    assert cache.content_hash(model) == hashlib.sha256(b"two, longer").hexdigest()


def test_remembered_hashes_skip_the_read_in_a_new_engine(tmp_path):
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"weights" * 100)
    remembered = tmp_path / "hashes.json"
    first = FileHasher(remembered).hash_path(model)
    again = SlowDiskHasher(remembered)  # never released: a read would fail the test
    assert again.hash_path(model) == first and again.reads == 0
