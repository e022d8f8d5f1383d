"""Parameter schemas and validation.

A generator's parameters are declared as data in its manifest, so the window can build a
panel and the engine can reject a malformed request (422) before any plugin code runs.
Values arrive as JSON from the API or as strings from the command line; ``validate_params``
turns either into typed values or raises ``ParamError`` naming the parameter and the fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from studio.core.errors import ParamError
from studio.core.seeds import RANDOM_SEED_MAX, SEED_MAX  # re-exported: callers import them from here

PARAM_TYPES = (
    "int",
    "float",
    "bool",
    "choice",
    "text",
    "seed",
    "image",
    "mask",
    "melody",
    "audio",
    "model",
)

# Inputs that refer to an artefact the engine already stores (uploaded or generated).
ARTIFACT_PARAM_TYPES = ("image", "mask", "melody", "audio")


_ARTIFACT_ID = re.compile(r"^[0-9a-f]{64}$")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ParamSpec(BaseModel):
    """One parameter of a generator, as declared in plugin.toml.

    This pydantic model *is* the manifest's parameter table: the manifest parser validates
    TOML straight into it, the engine validates requests against it, and ``GET /plugins``
    serialises it with ``model_dump``; there is no mirror class to keep in step.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: str
    default: Any = None
    label: str = ""
    help: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    multiline: bool = False
    optional: bool = False
    model_kind: str = ""
    advanced: bool = False
    #: numbers: what the minimum means, shown instead of it ("keep the prime's tempo" for 0)
    special: str = ""
    #: numbers: "note" shows a MIDI pitch as its name (60 as C4)
    unit: str = ""
    #: the longest text a ``text`` param accepts (the engine applies a default when unset)
    max_length: int | None = None

    def __init__(self, name: str | None = None, type: str | None = None, /, **data: Any) -> None:
        # ParamSpec("steps", "int", default=20) keeps reading like the dataclass it was.
        if name is not None:
            data["name"] = name
        if type is not None:
            data["type"] = type
        super().__init__(**data)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in PARAM_TYPES:
            raise ValueError(f"unknown type {value!r}; use one of {', '.join(PARAM_TYPES)}")
        return value

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


def check_spec(spec: ParamSpec) -> None:
    """Raise ParamError when a declared parameter is inconsistent with itself."""
    where = f"parameter {spec.name!r}"
    if not re.fullmatch(r"[a-z][a-z0-9_]*", spec.name):
        raise ParamError(f"{where}: names are lower_snake_case (letters, digits, _)")
    if spec.type not in PARAM_TYPES:
        raise ParamError(f"{where}: unknown type {spec.type!r}; use one of {', '.join(PARAM_TYPES)}")
    if spec.type == "choice" and not spec.choices:
        raise ParamError(f"{where}: a choice parameter needs a non-empty 'choices' list")
    if spec.max_length is not None and (spec.type != "text" or spec.max_length < 1):
        raise ParamError(f"{where}: max_length is a positive number of characters, for text parameters only")
    if spec.min is not None and spec.max is not None and spec.min > spec.max:
        raise ParamError(f"{where}: min ({spec.min}) is greater than max ({spec.max})")
    if spec.default is not None and spec.type not in ARTIFACT_PARAM_TYPES:
        try:
            coerce_value(spec, spec.default)
        except ParamError as exc:
            raise ParamError(f"{where}: its default is invalid: {exc}") from None


def coerce_value(spec: ParamSpec, value: Any) -> Any:  # noqa: C901
    """Convert one raw value (JSON or CLI string) to the parameter's type, checking bounds."""
    name = spec.name
    kind = spec.type
    if value is None:
        if spec.optional or kind in ARTIFACT_PARAM_TYPES or kind == "model":
            return None
        raise ParamError(f"{name}: a value is required")

    if kind in ("int", "seed"):
        number = _to_number(name, value, integral=True)
        if kind == "seed" and not 0 <= number <= SEED_MAX:
            raise ParamError(f"{name}: a seed is a whole number from 0 to {SEED_MAX}, got {number}")
        _check_bounds(spec, number)
        return number
    if kind == "float":
        number = _to_number(name, value, integral=False)
        _check_bounds(spec, number)
        return number
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ParamError(f"{name}: expected true or false, got {value!r}")
    if kind == "choice":
        text = str(value)
        if text not in spec.choices:
            raise ParamError(f"{name}: {text!r} is not one of {', '.join(spec.choices)}")
        return text
    if kind == "text":
        if not isinstance(value, str):
            raise ParamError(f"{name}: expected text, got {type(value).__name__}")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise ParamError(f"{name}: {len(value):,} characters; at most {spec.max_length:,} are accepted")
        return value
    if kind == "model":
        if not isinstance(value, str) or not value.strip():
            raise ParamError(f"{name}: expected a model path or name")
        return value
    if kind in ARTIFACT_PARAM_TYPES:
        text = str(value).strip().lower()
        if not _ARTIFACT_ID.match(text):
            raise ParamError(
                f"{name}: expected the id of a stored {kind} (64 hex digits); upload the file first (the CLI does this for @file values)"
            )
        return text
    raise ParamError(f"{name}: unknown type {kind!r}")


def validate_params(specs: list[ParamSpec] | tuple[ParamSpec, ...], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Return every declared parameter with a typed value: given ones checked, others defaulted.

    Unknown names are refused rather than ignored, because a typo silently falling back to
    the default is how a user loses an hour wondering why their setting did nothing.
    """
    by_name = {spec.name: spec for spec in specs}
    unknown = sorted(set(raw) - set(by_name))
    if unknown:
        known = ", ".join(sorted(by_name)) or "none"
        raise ParamError(f"unknown parameter(s) {', '.join(unknown)}; this generator takes: {known}")
    values: dict[str, Any] = {}
    for spec in specs:
        if spec.name in raw:
            values[spec.name] = coerce_value(spec, raw[spec.name])
        else:
            values[spec.name] = None if spec.default is None else coerce_value(spec, spec.default)
    return values


def _to_number(name: str, value: Any, *, integral: bool) -> Any:
    if isinstance(value, bool):
        raise ParamError(f"{name}: expected a number, got {value!r}")
    try:
        if isinstance(value, str):
            number = float(value.strip()) if not integral else _parse_int(value.strip())
        else:
            number = value
        if integral:
            if isinstance(number, float):
                if not number.is_integer():
                    raise ValueError
                number = int(number)
            return int(number)
        number = float(number)
    except (TypeError, ValueError):
        expected = "a whole number" if integral else "a number"
        raise ParamError(f"{name}: expected {expected}, got {value!r}") from None
    if not math.isfinite(number):
        raise ParamError(f"{name}: expected a finite number, got {value!r}")
    return number


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        as_float = float(text)
        if not as_float.is_integer():
            raise
        return int(as_float)


def _check_bounds(spec: ParamSpec, number: float) -> None:
    if spec.min is not None and number < spec.min:
        raise ParamError(f"{spec.name}: {number} is below the minimum {_fmt(spec.min)}")
    if spec.max is not None and number > spec.max:
        raise ParamError(f"{spec.name}: {number} is above the maximum {_fmt(spec.max)}")


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def spec_list_to_dicts(specs: list[ParamSpec] | tuple[ParamSpec, ...]) -> list[dict[str, Any]]:
    """Parameter specs as JSON-ready dicts (what ``GET /plugins`` carries)."""
    return [spec.model_dump(mode="json") for spec in specs]


__all__ = [
    "ARTIFACT_PARAM_TYPES",
    "PARAM_TYPES",
    "ParamSpec",
    "RANDOM_SEED_MAX",
    "SEED_MAX",
    "check_spec",
    "coerce_value",
    "spec_list_to_dicts",
    "validate_params",
]
