"""The engine's shared model cache.

One loaded object per (path, content hash, dtype, device): every plugin that asks for the
same weights gets the same object, the way ComfyUI and Ollama keep hot models resident.
Memory is budgeted separately for RAM and accelerator memory; when a load would exceed
the budget, least-recently-used models are dropped first (never one the running job is
already holding). ``loaded()`` reports what is really resident and how big it is, so
``GET /models`` never claims a model is loaded when it is not.

The content hash is the SHA-256 of the weights (for a folder: of every file in it). It is
computed once per file and remembered by (path, size, mtime), so a multi-GB checkpoint is
hashed the first time it is used, not on every load. That first hash runs on a background
thread while the model loads and the job samples: a cache entry is keyed by the file's
identity (path, size, mtime: the same facts the remembered hash is keyed by), and the hash
is waited for only when something asks for it (the job's record, a PNG's "Model hash"), by
which time it is usually done. Hashing a 7 GB SDXL file no longer delays the first image.
"""

from __future__ import annotations

import gc
import hashlib
import json
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from studio.core.atomic_files import write_json_atomic
from studio.core.errors import ModelFormatError

T = TypeVar("T")

_HASH_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class CacheKey:
    path: str
    identity: str  # size + mtime of the file(s): cheap, and changes whenever the content may have
    dtype: str
    device: str
    variant: str = ""
    hash_of: Callable[[], str] | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def content_hash(self) -> str:
        """The SHA-256, waiting for the background hash if it is still running."""
        return self.hash_of() if self.hash_of is not None else self.identity


@dataclass
class CacheEntry:
    key: CacheKey
    value: Any
    kind: str
    size_bytes: int
    loaded_at: float
    load_seconds: float
    last_used: float = field(default_factory=time.monotonic)
    uses: int = 0

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.key.path,
            "hash": self.key.content_hash,
            "dtype": self.key.dtype,
            "device": self.key.device,
            "variant": self.key.variant,
            "kind": self.kind,
            "bytes": self.size_bytes,
            "load_seconds": round(self.load_seconds, 3),
            "uses": self.uses,
        }


class FileHasher:
    """SHA-256 of files and folders, remembered across runs by (path, size, mtime)."""

    def __init__(self, cache_file: Path | None) -> None:
        self._cache_file = cache_file
        self._lock = threading.Lock()
        self._known: dict[str, str] = {}
        self._running: dict[str, threading.Thread] = {}
        if cache_file is not None and cache_file.is_file():
            try:
                data = json.loads(cache_file.read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    self._known = {str(k): str(v) for k, v in data.items()}
            except (OSError, ValueError):
                self._known = {}

    def fingerprint(self, path: Path) -> str:
        """What identifies the content without reading it: size and mtime of each file."""
        path = Path(path)
        if path.is_file():
            stat = path.stat()
            return f"{stat.st_size}:{stat.st_mtime_ns}"
        if path.is_dir():
            files = _files_of(path)
            digest = hashlib.sha256()
            for file in files:
                stat = file.stat()
                digest.update(f"{file.relative_to(path).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
            return "folder:" + digest.hexdigest()
        raise ModelFormatError(f"{path}: no such file or folder")

    def hash_in_background(self, path: Path) -> None:
        """Start hashing ``path`` on a daemon thread (once); ``hash_path`` then waits for it."""
        token = str(Path(path).resolve())
        with self._lock:
            running = self._running.get(token)
            if running is not None and running.is_alive():
                return
            thread = threading.Thread(target=self._hash_quietly, args=(Path(path),), name=f"hash {Path(path).name}", daemon=True)
            self._running[token] = thread
        thread.start()

    def _hash_quietly(self, path: Path) -> None:
        try:
            self._hash_now(path)
        except (OSError, ModelFormatError):
            pass  # whoever asks for the hash gets the error then

    def hash_path(self, path: Path) -> str:
        path = Path(path)
        with self._lock:
            running = self._running.get(str(path.resolve()))
        if running is not None and running is not threading.current_thread():
            running.join()  # one read of the file, not two
        return self._hash_now(path)

    def _hash_now(self, path: Path) -> str:
        if path.is_file():
            return self._hash_file(path)
        if path.is_dir():
            digest = hashlib.sha256()
            for file in _files_of(path):
                digest.update(str(file.relative_to(path).as_posix()).encode())
                digest.update(self._hash_file(file).encode())
            return digest.hexdigest()
        raise ModelFormatError(f"{path}: no such file or folder")

    def _hash_file(self, path: Path) -> str:
        stat = path.stat()
        token = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        with self._lock:
            known = self._known.get(token)
        if known:
            return known
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
        value = digest.hexdigest()
        with self._lock:
            self._known[token] = value
            if self._cache_file is not None:
                try:
                    write_json_atomic(self._cache_file, self._known)
                except OSError:
                    pass  # remembering hashes is an optimisation, never a failure
        return value


class ModelCache:
    """Loads models once, shares them, and keeps RAM and VRAM use inside a budget."""

    def __init__(self, *, ram_budget: int, vram_budget: int = 0, hasher: FileHasher | None = None) -> None:
        self.ram_budget = int(ram_budget)
        self.vram_budget = int(vram_budget)
        self._hasher = hasher or FileHasher(None)
        self._entries: OrderedDict[CacheKey, CacheEntry] = OrderedDict()
        self._pinned: set[CacheKey] = set()
        self._lock = threading.RLock()
        self._stats = {"loads": 0, "hits": 0, "evictions": 0}
        self.log: Callable[[str], None] = lambda message: None

    # ------------------------------------------------------------------ plugin-facing API

    def content_hash(self, path: str | Path) -> str:
        return self._hasher.hash_path(Path(path))

    def load(
        self,
        path: str | Path,
        loader: Callable[[Path], T],
        *,
        kind: str = "",
        dtype: str | None = None,
        device: str | None = None,
        variant: str = "",
    ) -> T:
        resolved = Path(path).expanduser().resolve()
        if not resolved.exists():
            raise ModelFormatError(f"{path}: no such model file or folder")
        hasher = self._hasher
        key = CacheKey(
            str(resolved), hasher.fingerprint(resolved), dtype or "", device or "", variant, hash_of=lambda: hasher.hash_path(resolved)
        )
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                entry.last_used = time.monotonic()
                entry.uses += 1
                self._pinned.add(key)
                self._stats["hits"] += 1
                return entry.value

            # Make room before loading, estimating from the size on disk, so the peak stays
            # inside the budget; measure the real size afterwards and settle again.
            self._evict_for(_disk_size(resolved), device or "cpu")
            hasher.hash_in_background(resolved)  # while the model loads; asked for when outputs are written
            started = time.perf_counter()
            value = loader(resolved)
            elapsed = time.perf_counter() - started
            size = estimate_bytes(value) or _disk_size(resolved)
            entry = CacheEntry(key, value, kind, size, time.time(), elapsed, uses=1)
            self._entries[key] = entry
            self._pinned.add(key)
            self._stats["loads"] += 1
            self._evict_for(0, device or "cpu")
            self.log(f"loaded {resolved.name} ({size / 2**20:.1f} MiB) in {elapsed:.2f}s")
            return value

    def release(self, path: str | Path) -> None:
        """Drop every cached variant of ``path`` now (e.g. after the user deleted it)."""
        resolved = str(Path(path).expanduser().resolve())
        with self._lock:
            for key in [k for k in self._entries if k.path == resolved]:
                self._drop(key)
        _free_memory()

    # ------------------------------------------------------------------ engine-facing API

    def end_job(self) -> None:
        """Unpin the models the finished job used so they become evictable again."""
        with self._lock:
            self._pinned.clear()
            over = self._over_budget()
        if over:
            with self._lock:
                self._evict_for(0, "cpu")
                self._evict_for(0, "cuda")

    def in_use(self) -> list[CacheKey]:
        """Keys of the models the running job has asked for (recorded with its outputs)."""
        with self._lock:
            return sorted(self._pinned, key=lambda key: key.path)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def loaded(self) -> list[dict[str, Any]]:
        with self._lock:
            return [entry.describe() for entry in self._entries.values()]

    def usage(self) -> dict[str, int]:
        with self._lock:
            return {
                "ram_bytes": self._used(on_accelerator=False),
                "vram_bytes": self._used(on_accelerator=True),
                "ram_budget": self.ram_budget,
                "vram_budget": self.vram_budget,
            }

    def clear(self) -> None:
        with self._lock:
            for key in list(self._entries):
                self._drop(key)
        _free_memory()

    # ------------------------------------------------------------------ internals

    def _used(self, *, on_accelerator: bool) -> int:
        return sum(e.size_bytes for e in self._entries.values() if _is_accelerator(e.key.device) == on_accelerator)

    def _over_budget(self) -> bool:
        ram_over = self.ram_budget > 0 and self._used(on_accelerator=False) > self.ram_budget
        vram_over = self.vram_budget > 0 and self._used(on_accelerator=True) > self.vram_budget
        return ram_over or vram_over

    def _evict_for(self, incoming: int, device: str) -> None:
        on_accelerator = _is_accelerator(device)
        budget = self.vram_budget if on_accelerator else self.ram_budget
        if budget <= 0:
            return
        evicted = False
        for key in list(self._entries):  # oldest first
            if self._used(on_accelerator=on_accelerator) + incoming <= budget:
                break
            if key in self._pinned or _is_accelerator(key.device) != on_accelerator:
                continue
            self.log(f"evicting {Path(key.path).name} to stay within the memory budget")
            self._drop(key)
            self._stats["evictions"] += 1
            evicted = True
        if evicted:
            _free_memory()

    def _drop(self, key: CacheKey) -> None:
        entry = self._entries.pop(key, None)
        self._pinned.discard(key)
        if entry is not None:
            entry.value = None


def default_budgets() -> tuple[int, int]:
    """(RAM, VRAM) budgets when the user set none: half the free RAM, 90% of the card."""
    try:
        import psutil

        ram = int(psutil.virtual_memory().available * 0.5)
    except Exception:
        ram = 4 * 2**30
    vram = 0
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        vram = int(torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory * 0.9)
    return ram, vram


def estimate_bytes(value: Any, _seen: set[int] | None = None) -> int:
    """Bytes held by a loaded model: tensors of torch modules, diffusers pipelines, containers."""
    seen = _seen if _seen is not None else set()
    if value is None or id(value) in seen:
        return 0
    seen.add(id(value))
    size_hint = getattr(value, "studio_size_bytes", None)
    if isinstance(size_hint, int):
        return size_hint
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(value, torch.Tensor):
            return value.numel() * value.element_size()
        if isinstance(value, torch.nn.Module):
            total = 0
            tensors: dict[int, Any] = {}
            for tensor in list(value.parameters()) + list(value.buffers()):
                tensors[id(tensor)] = tensor
            for tensor in tensors.values():
                total += tensor.numel() * tensor.element_size()
            return total
    components = getattr(value, "components", None)
    if isinstance(components, dict):
        return sum(estimate_bytes(component, seen) for component in components.values())
    if isinstance(value, dict):
        return sum(estimate_bytes(item, seen) for item in value.values())
    if isinstance(value, (list, tuple)):
        return sum(estimate_bytes(item, seen) for item in value)
    nbytes = getattr(value, "nbytes", None)  # numpy arrays
    if isinstance(nbytes, int):
        return nbytes
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return sum(estimate_bytes(item, seen) for item in vars(value).values())
    return 0


def _disk_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _is_accelerator(device: str) -> bool:
    return device.startswith(("cuda", "mps"))


def _files_of(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not _hidden(p.relative_to(folder)))
    if not files:
        raise ModelFormatError(f"{folder}: the folder is empty; it does not contain a model")
    return files


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _free_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
