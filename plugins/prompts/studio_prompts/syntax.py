"""The dynamic-prompt template language, parsed into a small tree.

The syntax is the one artists already write for the Dynamic Prompts extension:

- ``{red|blue|green}``: one of the alternatives. Whitespace around each alternative is
  dropped, so ``{red | blue}`` reads naturally.
- ``{2$$a|b|c}``: two different alternatives, joined by ``", "``. ``{1-3$$...}`` picks one to
  three, ``{-2$$...}`` up to two, ``{2-$$...}`` two or more; ``{2$$ and $$a|b|c}`` joins
  them with `` and `` instead.
- ``{3::a|b}``: weights; ``a`` is picked three times as often as ``b`` (weight 1 when not
  given). Weights matter in random mode only.
- ``__name__``: a line from the wildcard file ``name.txt`` (``__colours/warm__`` for a file
  in a sub-folder, ``__colours/*__`` for every file in it). ``{2$$__name__}`` picks two
  different lines.
- Braces nest: ``{a {small|large} cat|a dog}``.
- ``\\{``, ``\\}`` and ``\\|`` are literal characters. Every other backslash is kept as it
  is, so ``\\(`` still reaches an image generator that gives it meaning.

``parse`` raises ``PromptSyntaxError`` (a ``ParamError``) whose message names the position,
counted from 1, and whose ``position`` attribute is the 0-based index into the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from studio.core.errors import ParamError

DEFAULT_SEPARATOR = ", "

_ESCAPABLE = "{}|"
_WILDCARD = re.compile(r"__([A-Za-z0-9*][A-Za-z0-9_\-/.*]*?)__")
_QUANTITY = re.compile(r"\s*(\d*)\s*(-?)\s*(\d*)\s*\$\$")
_WEIGHT = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*::")


class PromptSyntaxError(ParamError):
    """A template (or a wildcard line) cannot be parsed; says where and how to fix it."""

    def __init__(self, message: str, position: int, source: str = "template") -> None:
        super().__init__(message)
        self.position = position
        self.source = source


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Wildcard:
    name: str
    position: int


@dataclass(frozen=True)
class Option:
    weight: float
    body: Sequence


@dataclass(frozen=True)
class Variants:
    options: tuple[Option, ...]
    min_count: int
    max_count: int | None  # None: as many as there are options
    separator: str
    position: int
    # ``{2$$__name__}``: the options are the lines of the wildcard file, not the braces' body.
    from_wildcard: Wildcard | None = None


@dataclass(frozen=True)
class Sequence:
    parts: tuple[Node, ...]


Node = Literal | Wildcard | Variants | Sequence


def parse(text: str, source: str = "template") -> Sequence:
    """Parse a template; raise PromptSyntaxError naming the position of the problem."""
    parser = _Parser(text, source)
    sequence = parser.sequence(inside_braces=False)
    return sequence


def wildcard_names(node: Node) -> list[Wildcard]:
    """Every wildcard a tree refers to, in reading order (for checking files up front)."""
    found: list[Wildcard] = []

    def visit(item: Node) -> None:
        if isinstance(item, Wildcard):
            found.append(item)
        elif isinstance(item, Sequence):
            for part in item.parts:
                visit(part)
        elif isinstance(item, Variants):
            if item.from_wildcard is not None:
                found.append(item.from_wildcard)
            for option in item.options:
                visit(option.body)

    visit(node)
    return found


def _snippet(text: str, position: int, width: int = 24) -> str:
    start = max(0, position - 4)
    piece = text[start : start + width]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(text) else ""
    return f"{prefix}{piece}{suffix}"


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.index = 0

    def error(self, what: str, position: int, fix: str = "") -> PromptSyntaxError:
        where = "" if self.source == "template" else f"{self.source}: "
        fix = f"; {fix}" if fix else ""
        return PromptSyntaxError(
            f"{where}{what} at position {position + 1} (near {_snippet(self.text, position)!r}){fix}",
            position,
            self.source,
        )

    def sequence(self, *, inside_braces: bool) -> Sequence:
        """Read until the end, or (inside braces) until an unescaped '|' or '}'."""
        text = self.text
        parts: list[Node] = []
        literal: list[str] = []

        def flush() -> None:
            if literal:
                parts.append(Literal("".join(literal)))
                literal.clear()

        while self.index < len(text):
            char = text[self.index]
            if char == "\\" and self.index + 1 < len(text) and text[self.index + 1] in _ESCAPABLE:
                literal.append(text[self.index + 1])
                self.index += 2
                continue
            if char == "{":
                flush()
                parts.append(self.variants())
                continue
            if char == "}":
                if inside_braces:
                    break
                raise self.error("'}'", self.index, "it has no matching '{' (write \\} for a literal brace)")
            if char == "|" and inside_braces:
                break
            if char == "_" and text.startswith("__", self.index):
                match = _WILDCARD.match(text, self.index)
                if match:
                    flush()
                    parts.append(Wildcard(match.group(1), self.index))
                    self.index = match.end()
                    continue
            literal.append(char)
            self.index += 1
        flush()
        return Sequence(tuple(parts))

    def variants(self) -> Variants:
        text = self.text
        opened = self.index
        self.index += 1  # past '{'

        min_count, max_count, separator, counted = 1, 1, DEFAULT_SEPARATOR, False
        quantity = _QUANTITY.match(text, self.index)
        if quantity:
            low, dash, high = quantity.groups()
            if not (low or dash or high):
                min_count = max_count = 1
            elif dash:
                min_count = int(low) if low else 1
                max_count = int(high) if high else None
            else:
                min_count = max_count = int(low)
            if max_count is not None and min_count > max_count:
                raise self.error(f"the range {min_count}-{max_count}", opened, f"it goes backwards: write {max_count}-{min_count}")
            counted = True
            self.index = quantity.end()
            separator, self.index = self._separator(self.index, separator)

        options: list[Option] = []
        while True:
            weight = 1.0
            weighted = _WEIGHT.match(text, self.index)
            if weighted:
                weight = float(weighted.group(1))
                self.index = weighted.end()
            body = self.sequence(inside_braces=True)
            options.append(Option(weight, _strip(body)))
            if self.index >= len(text):
                raise self.error("'{'", opened, "it is never closed: add a matching '}'")
            if text[self.index] == "}":
                self.index += 1
                break
            self.index += 1  # past '|'

        from_wildcard = None
        if counted and len(options) == 1:
            parts = options[0].body.parts
            if len(parts) == 1 and isinstance(parts[0], Wildcard):
                from_wildcard = parts[0]
        return Variants(tuple(options), min_count, max_count, separator, opened, from_wildcard)

    def _separator(self, start: int, default: str) -> tuple[str, int]:
        """``{2$$ and $$a|b}``: a second ``$$`` before any brace or bar ends a separator."""
        end = self.text.find("$$", start)
        if end < 0:
            return default, start
        between = self.text[start:end]
        if any(char in between for char in "{}|"):
            return default, start
        return between, end + 2


def _strip(body: Sequence) -> Sequence:
    """Drop whitespace around an alternative: ``{red | blue}`` gives 'red' and 'blue'."""
    parts = list(body.parts)
    if parts and isinstance(parts[0], Literal):
        stripped = parts[0].text.lstrip()
        parts[0] = Literal(stripped)
    if parts and isinstance(parts[-1], Literal):
        stripped = parts[-1].text.rstrip()
        parts[-1] = Literal(stripped)
    return Sequence(tuple(part for part in parts if not (isinstance(part, Literal) and not part.text)))
