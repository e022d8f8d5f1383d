"""Wildcard files: plain text, one option a line, found by name in an ordered list of folders.

``__colours__`` reads ``colours.txt``; ``__colours/warm__`` reads ``colours/warm.txt``;
``__colours/*__`` merges every file directly inside ``colours/``. Blank lines and lines that
start with ``#`` are skipped. A line may itself use the template syntax (``{a|b}``, other
wildcards), so wildcard files can build on each other.

Folders are searched in order and the first file found for a name wins, so a user's
``subjects.txt`` replaces the shipped one without editing the studio's files.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import ParamError
from studio_prompts.syntax import Sequence, parse

SUFFIX = ".txt"


@dataclass(frozen=True)
class WildcardLine:
    """One option of a wildcard file, parsed, with where it came from (for error messages)."""

    source: str
    tree: Sequence


class WildcardLibrary:
    """Named option lists read from folders, each line parsed once and cached."""

    def __init__(self, folders: Iterable[Path]) -> None:
        self.folders: tuple[Path, ...] = tuple(Path(folder) for folder in folders)
        self._cache: dict[str, tuple[WildcardLine, ...]] = {}

    def names(self) -> list[str]:
        """Every wildcard name available (for the panel's completion list)."""
        found: set[str] = set()
        for folder in self.folders:
            if folder.is_dir():
                for file in folder.rglob(f"*{SUFFIX}"):
                    found.add(file.relative_to(folder).with_suffix("").as_posix())
        return sorted(found)

    def options(self, name: str, *, position: int = 0, source: str = "template") -> tuple[WildcardLine, ...]:
        """The parsed lines of wildcard ``name``; ParamError (with the position) if there are none."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        files = self._files(name, position=position, source=source)
        lines: list[WildcardLine] = []
        for file in files:
            try:
                text = file.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise ParamError(f"wildcard __{name}__: cannot read {file}: {exc}") from None
            for number, raw in enumerate(text.splitlines(), start=1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                where = f"{file.name} line {number}"
                lines.append(WildcardLine(where, parse(line, source=where)))
        if not lines:
            raise ParamError(
                f"{_where(source)}wildcard __{name}__ at position {position + 1}: "
                f"{', '.join(str(f) for f in files)} has no options (one option a line; '#' starts a comment)"
            )
        result = tuple(lines)
        self._cache[name] = result
        return result

    def _files(self, name: str, *, position: int, source: str) -> list[Path]:
        parts = name.split("/")
        if name.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ParamError(
                f"{_where(source)}wildcard __{name}__ at position {position + 1}: "
                "a wildcard name is a file name inside the wildcard folders, without '..' or a leading '/'"
            )
        if "*" in name:
            return self._glob(name, position=position, source=source)
        for folder in self.folders:
            candidate = folder.joinpath(*parts[:-1], parts[-1] + SUFFIX)
            if candidate.is_file():
                return [candidate]
        searched = ", ".join(str(folder) for folder in self.folders) or "no folders"
        raise ParamError(
            f"{_where(source)}wildcard __{name}__ at position {position + 1}: no file {name}{SUFFIX} in the wildcard folders ({searched})"
        )

    def _glob(self, name: str, *, position: int, source: str) -> list[Path]:
        chosen: dict[str, Path] = {}
        for folder in self.folders:
            if not folder.is_dir():
                continue
            for file in sorted(folder.rglob(f"*{SUFFIX}")):
                key = file.relative_to(folder).with_suffix("").as_posix()
                if key.count("/") == name.count("/") and fnmatch.fnmatchcase(key, name):
                    chosen.setdefault(key, file)  # earlier folders win
        if not chosen:
            searched = ", ".join(str(folder) for folder in self.folders) or "no folders"
            raise ParamError(
                f"{_where(source)}wildcard __{name}__ at position {position + 1}: "
                f"no wildcard file matches it in the wildcard folders ({searched})"
            )
        return [chosen[key] for key in sorted(chosen)]


def _where(source: str) -> str:
    return "" if source == "template" else f"{source}: "
