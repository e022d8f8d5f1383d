"""Plugin archives: a ``.zip`` of a plugin folder or a wheel, opened without trusting it.

An archive comes from a stranger, so every member is checked before a single byte is
written: no absolute paths, no ``..`` components, no backslashes or drive letters, no
symlinks, device files, FIFOs or sockets, no encrypted members, no two members that land on
the same path (also ignoring case), and limits on the number of members, the unpacked size
and the compression ratio (zip bombs). Extraction then writes only regular files, checks
that each one lands inside the destination, and stops at the member's declared size.

Nothing here parses the manifest or imports plugin code: ``open_archive`` hands back the
manifest's text and the facts the installer shows before the user confirms.
"""

from __future__ import annotations

import email.parser
import hashlib
import io
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from packaging.tags import sys_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from studio.core.errors import StudioError
from studio.plugins.manifest import MANIFEST_NAME

WHEELS_DIR = "wheels"
# Junk that archivers add and that is skipped rather than refused.
_JUNK_DIRS = ("__MACOSX",)
_JUNK_FILES = (".DS_Store", "Thumbs.db")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 << 16


class ArchiveError(StudioError):
    """An archive was refused: unreadable, unsafe, too large, or not a plugin."""


@dataclass(frozen=True)
class ArchiveLimits:
    """How much an archive may unpack to. Generous for real plugins, fatal for zip bombs."""

    max_members: int = 5000
    max_total_bytes: int = 1024 * 2**20  # bundled wheels of torch-free libraries fit easily
    max_member_bytes: int = 512 * 2**20
    # A member that is more than this many times larger unpacked than packed is a bomb;
    # real text and code compress 3-10x, already-compressed wheels and images ~1x.
    max_ratio: int = 200
    # Members smaller than this are never ratio-checked (a file of zeros compresses well).
    ratio_floor_bytes: int = 1 * 2**20


DEFAULT_LIMITS = ArchiveLimits()


@dataclass
class PluginArchive:
    """A checked archive and what is inside it; nothing has been written yet."""

    path: Path
    sha256: str
    kind: str  # "folder" (a .zip of a plugin folder) or "wheel"
    manifest_text: str
    manifest_member: str
    members: list[zipfile.ZipInfo]
    # For a folder archive, the folder prefix stripped on extraction ("" or "name/").
    prefix: str = ""
    # For a wheel: its distribution name, version and Requires-Dist lines.
    wheel_name: str = ""
    wheel_version: str = ""
    wheel_requires: list[str] = field(default_factory=list)

    @property
    def file_count(self) -> int:
        return sum(1 for info in self.members if not info.is_dir())

    @property
    def unpacked_bytes(self) -> int:
        return sum(info.file_size for info in self.members if not info.is_dir())

    def relative_names(self) -> list[str]:
        """Member paths as they will be laid out in the installed plugin folder."""
        return [name for name, _info in self._layout() if name]

    def has_file(self, relative: str) -> bool:
        return relative in set(self.relative_names())

    def bundled_wheels(self) -> list[str]:
        """Relative paths of the wheels bundled in ``wheels/`` (folder archives only)."""
        if self.kind != "folder":
            return []
        return sorted(
            name for name in self.relative_names() if name.startswith(f"{WHEELS_DIR}/") and name.endswith(".whl") and name.count("/") == 1
        )

    def read_member(self, relative: str) -> bytes:
        """The bytes of one member, by its installed relative path (bounded by its size)."""
        for name, info in self._layout():
            if name == relative:
                with zipfile.ZipFile(self.path) as archive:
                    return _read_bounded(archive, info)
        raise KeyError(relative)

    def extract_to(self, destination: Path) -> list[Path]:
        """Write every member under ``destination`` (which must not exist yet)."""
        destination.mkdir(parents=True, exist_ok=False)
        root = destination.resolve()
        written: list[Path] = []
        with zipfile.ZipFile(self.path) as archive:
            for relative, info in self._layout():
                if not relative:
                    continue
                target = (root / relative).resolve()
                if target != root and root not in target.parents:
                    raise ArchiveError(f"{self.path.name}: member {info.filename!r} would be written outside the plugin folder")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
                with os.fdopen(fd, "wb") as handle:
                    for chunk in _iter_bounded(archive, info):
                        handle.write(chunk)
                written.append(target)
            if self.kind == "wheel":
                # Discovery reads <folder>/plugin.toml: a wheel keeps its manifest inside its
                # package, so a copy goes to the top of the installed folder.
                (root / MANIFEST_NAME).write_text(self.manifest_text, encoding="utf-8")
        return written

    def _layout(self) -> Iterator[tuple[str, zipfile.ZipInfo]]:
        for info in self.members:
            name = info.filename.rstrip("/")
            if self.kind == "folder":
                name = name[len(self.prefix) :] if self.prefix else name
            else:
                name = _wheel_install_path(name)
            yield name, info


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(actual: str, expected: str | None, *, name: str) -> None:
    """Raise ArchiveError when ``expected`` (a hex SHA-256 the user was given) does not match."""
    if expected is None:
        return
    wanted = expected.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", wanted):
        raise ArchiveError(f"--sha256 takes 64 hexadecimal digits, got {expected!r}")
    if wanted != actual:
        raise ArchiveError(
            f"{name}: SHA-256 mismatch: expected {wanted}, the file has {actual}. "
            "The download is corrupt or is not the archive its author published; nothing was installed."
        )


def open_archive(path: Path, *, expected_sha256: str | None = None, limits: ArchiveLimits = DEFAULT_LIMITS) -> PluginArchive:
    """Check an archive and find its manifest. Raises ArchiveError naming what is wrong."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ArchiveError(f"{path}: no such file")
    digest = sha256_file(path)
    check_sha256(digest, expected_sha256, name=name)
    if not zipfile.is_zipfile(path):
        raise ArchiveError(f"{name}: not a zip archive; a plugin archive is a .zip of the plugin folder or a wheel (.whl)")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveError(f"{name}: unreadable zip archive: {exc}") from None

    members = _check_members(name, infos, limits)
    if not members:
        raise ArchiveError(f"{name}: the archive is empty")
    if path.suffix.lower() == ".whl":
        return _open_wheel(path, digest, members)
    return _open_folder(path, digest, members)


# --------------------------------------------------------------------------- member checks


def _check_members(archive_name: str, infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> list[zipfile.ZipInfo]:
    if len(infos) > limits.max_members:
        raise ArchiveError(
            f"{archive_name}: {len(infos)} members is more than the limit of {limits.max_members}; refused as a possible zip bomb"
        )
    kept: list[zipfile.ZipInfo] = []
    seen: dict[str, str] = {}
    total = 0
    for info in infos:
        raw = info.filename
        parts = _check_name(archive_name, raw)
        if parts[0] in _JUNK_DIRS or parts[-1] in _JUNK_FILES:
            continue
        _check_type(archive_name, info)
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{archive_name}: member {raw!r} is encrypted; plugin archives cannot be encrypted")
        key = "/".join(parts).casefold()
        if key in seen:
            raise ArchiveError(f"{archive_name}: members {seen[key]!r} and {raw!r} would be written to the same file")
        seen[key] = raw
        if not info.is_dir():
            if info.file_size > limits.max_member_bytes:
                raise ArchiveError(
                    f"{archive_name}: member {raw!r} unpacks to {_size(info.file_size)}, over the limit of {_size(limits.max_member_bytes)}"
                )
            if info.file_size >= limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise ArchiveError(
                    f"{archive_name}: member {raw!r} unpacks to {_size(info.file_size)} from {_size(info.compress_size)} "
                    f"(more than {limits.max_ratio}x); refused as a zip bomb"
                )
            total += info.file_size
            if total > limits.max_total_bytes:
                raise ArchiveError(
                    f"{archive_name}: unpacks to more than {_size(limits.max_total_bytes)}, over the limit; refused as a possible zip bomb"
                )
        kept.append(info)
    return kept


def _check_name(archive_name: str, raw: str) -> list[str]:
    if not raw or "\x00" in raw or any(ord(ch) < 32 for ch in raw):
        raise ArchiveError(f"{archive_name}: member {raw!r} has control characters in its name")
    if "\\" in raw:
        raise ArchiveError(f"{archive_name}: member {raw!r} uses backslashes; paths inside a plugin archive use '/'")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise ArchiveError(f"{archive_name}: member {raw!r} has an absolute path; refused")
    parts = raw.rstrip("/").split("/")
    if ".." in parts:
        raise ArchiveError(f"{archive_name}: member {raw!r} climbs out of the plugin folder with '..'; refused")
    if any(part in ("", ".") for part in parts):
        raise ArchiveError(f"{archive_name}: member {raw!r} has an empty or '.' path component; refused")
    return parts


def _check_type(archive_name: str, info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == 0 or kind == stat.S_IFREG or (kind == stat.S_IFDIR and info.is_dir()):
        return
    if kind == stat.S_IFLNK:
        raise ArchiveError(f"{archive_name}: member {info.filename!r} is a symbolic link; plugin archives may contain only regular files")
    what = {
        stat.S_IFCHR: "a character device",
        stat.S_IFBLK: "a block device",
        stat.S_IFIFO: "a FIFO",
        stat.S_IFSOCK: "a socket",
        stat.S_IFDIR: "a directory entry without a trailing '/'",
    }.get(kind, f"a special file (mode {oct(mode)})")
    raise ArchiveError(f"{archive_name}: member {info.filename!r} is {what}; plugin archives may contain only regular files")


def _iter_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """Yield a member's bytes, refusing to produce more than its declared size."""
    produced = 0
    with archive.open(info) as source:
        while True:
            chunk = source.read(_CHUNK)
            if not chunk:
                break
            produced += len(chunk)
            if produced > info.file_size:
                raise ArchiveError(f"member {info.filename!r} unpacks to more than its declared size; refused")
            yield chunk


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        return b"".join(_iter_bounded(archive, info))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveError(f"member {info.filename!r} is corrupt: {exc}") from None


# --------------------------------------------------------------------------- archive kinds


def _open_folder(path: Path, digest: str, members: list[zipfile.ZipInfo]) -> PluginArchive:
    names = [info.filename.rstrip("/") for info in members]
    prefix = ""
    manifest_member = ""
    if MANIFEST_NAME in names:
        manifest_member = MANIFEST_NAME
    else:
        tops = {name.split("/")[0] for name in names}
        if len(tops) == 1:
            top = tops.pop()
            if f"{top}/{MANIFEST_NAME}" in names:
                prefix = f"{top}/"
                manifest_member = f"{top}/{MANIFEST_NAME}"
    if not manifest_member:
        raise ArchiveError(
            f"{path.name}: no {MANIFEST_NAME} at the top of the archive (or inside its single top-level folder); "
            "pack a plugin with `python main.py plugins pack FOLDER`"
        )
    archive = PluginArchive(
        path=path, sha256=digest, kind="folder", manifest_text="", manifest_member=manifest_member, members=members, prefix=prefix
    )
    archive.manifest_text = _decode_manifest(path, archive.read_member(MANIFEST_NAME))
    return archive


def _open_wheel(path: Path, digest: str, members: list[zipfile.ZipInfo]) -> PluginArchive:
    try:
        dist_name, version, _build, tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename as exc:
        raise ArchiveError(f"{path.name}: not a valid wheel file name: {exc}") from None
    supported = set(sys_tags())
    if not any(tag in supported for tag in tags):
        raise ArchiveError(f"{path.name}: this wheel is built for another Python or platform ({', '.join(sorted(str(t) for t in tags))})")
    names = [info.filename.rstrip("/") for info in members]
    dist_infos = {name.split("/")[0] for name in names if name.split("/")[0].endswith(".dist-info")}
    if len(dist_infos) != 1:
        raise ArchiveError(f"{path.name}: a wheel has exactly one .dist-info folder, this one has {len(dist_infos)}")
    dist_info = dist_infos.pop()
    for name in names:
        top = name.split("/")[0]
        if top.endswith(".data"):
            parts = name.split("/")
            if len(parts) > 1 and parts[1] not in ("purelib", "platlib"):
                raise ArchiveError(
                    f"{path.name}: installs {parts[1]} files ({name!r}); a plugin wheel may contain only importable code and its data"
                )
    manifests = [
        name
        for name in names
        if name.count("/") == 1 and name.endswith(f"/{MANIFEST_NAME}") and not name.split("/")[0].endswith((".dist-info", ".data"))
    ]
    manifests += [name for name in names if re.fullmatch(rf"[^/]+\.data/(purelib|platlib)/[^/]+/{re.escape(MANIFEST_NAME)}", name)]
    if len(manifests) != 1:
        found = ", ".join(manifests) or "none"
        raise ArchiveError(f"{path.name}: a plugin wheel carries exactly one <package>/{MANIFEST_NAME}; found {found}")
    archive = PluginArchive(
        path=path,
        sha256=digest,
        kind="wheel",
        manifest_text="",
        manifest_member=manifests[0],
        members=members,
        wheel_name=str(dist_name),
        wheel_version=str(version),
    )
    with zipfile.ZipFile(path) as handle:
        by_name = {info.filename: info for info in members}
        manifest_info = by_name[manifests[0]]
        archive.manifest_text = _decode_manifest(path, _read_bounded(handle, manifest_info))
        metadata_info = by_name.get(f"{dist_info}/METADATA")
        if metadata_info is None:
            raise ArchiveError(f"{path.name}: {dist_info}/METADATA is missing")
        metadata = email.parser.Parser().parsestr(_read_bounded(handle, metadata_info).decode("utf-8", "replace"))
    if canonicalize_name(metadata.get("Name", "")) != canonicalize_name(str(dist_name)):
        raise ArchiveError(f"{path.name}: METADATA names {metadata.get('Name')!r}, the file name says {dist_name}")
    archive.wheel_requires = [value.strip() for value in metadata.get_all("Requires-Dist") or []]
    return archive


def _wheel_install_path(name: str) -> str:
    """Where a wheel member goes in the installed folder (``.data/purelib/x`` → ``x``)."""
    parts = PurePosixPath(name).parts
    if parts and parts[0].endswith(".data") and len(parts) >= 2 and parts[1] in ("purelib", "platlib"):
        return "/".join(parts[2:])
    return name


def _decode_manifest(path: Path, data: bytes) -> str:
    if len(data) > 1 * 2**20:
        raise ArchiveError(f"{path.name}: {MANIFEST_NAME} is larger than 1 MiB; refused")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ArchiveError(f"{path.name}: {MANIFEST_NAME} is not UTF-8 text") from None


def read_wheel_metadata(data: bytes, *, name: str) -> tuple[str, str, list[str]]:
    """(name, version, Requires-Dist) of a bundled wheel, read from its bytes without installing it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as wheel:
            metas = [info for info in wheel.infolist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", info.filename)]
            if len(metas) != 1:
                raise ArchiveError(f"bundled wheel {name} has no single .dist-info/METADATA")
            if metas[0].file_size > 16 * 2**20:
                raise ArchiveError(f"bundled wheel {name}: METADATA is implausibly large")
            text = _read_bounded(wheel, metas[0]).decode("utf-8", "replace")
    except zipfile.BadZipFile:
        raise ArchiveError(f"bundled wheel {name} is not a valid wheel (zip)") from None
    metadata = email.parser.Parser().parsestr(text)
    return metadata.get("Name", ""), metadata.get("Version", ""), [value.strip() for value in metadata.get_all("Requires-Dist") or []]


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} bytes"


# --------------------------------------------------------------------------- packing

# Never packed: caches, version control, virtual environments, build output, installed deps.
_PACK_SKIP_DIRS = {
    "__pycache__",
    ".git",
    ".hg",
    ".svn",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".venv",
    "venv",
    "dist",
    "build",
    "deps",
    "node_modules",
    ".idea",
    ".vscode",
}
_PACK_SKIP_SUFFIXES = (".pyc", ".pyo", ".egg-info")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def pack_folder(folder: Path, *, out: Path | None = None, limits: ArchiveLimits = DEFAULT_LIMITS) -> tuple[Path, str]:
    """Build the installable ``.zip`` of a plugin folder; returns (path, sha256).

    The manifest is validated first and every generator's entry module must exist. The zip is
    reproducible (sorted members, fixed timestamps and modes), so the same folder always gives
    the same SHA-256, which an author can publish next to the download.
    """
    from studio.plugins.manifest import read_manifest

    folder = Path(folder)
    if not folder.is_dir():
        raise ArchiveError(f"{folder}: not a folder")
    manifest = read_manifest(folder)
    for generator in manifest.generators:
        base = folder / generator.entry.partition(":")[0].replace(".", "/")
        if not (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
            raise ArchiveError(
                f"{folder}: generator {generator.id} has entry {generator.entry!r}, but there is no {base.relative_to(folder)}.py"
            )
    out = Path(out) if out is not None else Path.cwd() / f"{manifest.plugin.id}-{manifest.plugin.version}.zip"
    out_resolved = out.resolve()
    files: list[tuple[str, Path]] = []
    for current, dirs, names in os.walk(folder):
        base = Path(current)
        for name in list(dirs):
            path = base / name
            if path.is_symlink():
                raise ArchiveError(f"{path}: is a symbolic link; a plugin archive holds only regular files")
        dirs[:] = sorted(d for d in dirs if d not in _PACK_SKIP_DIRS and not d.endswith(_PACK_SKIP_SUFFIXES))
        for name in sorted(names):
            path = base / name
            if name.endswith(_PACK_SKIP_SUFFIXES) or name in _JUNK_FILES or path.resolve() == out_resolved:
                continue
            if path.is_symlink():
                raise ArchiveError(f"{path}: is a symbolic link; a plugin archive holds only regular files")
            if not stat.S_ISREG(path.stat().st_mode):
                raise ArchiveError(f"{path}: is not a regular file")
            files.append((path.relative_to(folder).as_posix(), path))
    files.sort()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for relative, path in files:
            info = zipfile.ZipInfo(relative, date_time=_FIXED_TIME)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            archive.writestr(info, path.read_bytes())
    os.replace(tmp, out)
    checked = open_archive(out, limits=limits)  # the installer's own checks, before anyone ships it
    return out, checked.sha256
