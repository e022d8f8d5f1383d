"""Parameter coercion and validation, shared by the API (JSON) and the CLI (strings)."""

from __future__ import annotations

import pytest

from studio.core.errors import ParamError
from studio.core.params import ParamSpec, validate_params

SPECS = (
    ParamSpec("steps", "int", default=20, min=1, max=150),
    ParamSpec("cfg", "float", default=7.0, min=0, max=30),
    ParamSpec("tiled", "bool", default=False),
    ParamSpec("sampler", "choice", default="Euler", choices=("Euler", "DDIM")),
    ParamSpec("prompt", "text", default=""),
    ParamSpec("variation_seed", "seed", default=0),
    ParamSpec("init", "image"),
)


def test_defaults_fill_every_parameter():
    values = validate_params(SPECS, {})
    assert values == {"steps": 20, "cfg": 7.0, "tiled": False, "sampler": "Euler", "prompt": "", "variation_seed": 0, "init": None}


def test_strings_from_the_command_line_are_coerced():
    values = validate_params(SPECS, {"steps": "30", "cfg": "5.5", "tiled": "yes", "variation_seed": "42", "init": "A" * 64})
    assert values["steps"] == 30 and values["cfg"] == 5.5 and values["tiled"] is True
    assert values["variation_seed"] == 42 and values["init"] == "a" * 64


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"steps": "2.5"}, "steps: expected a whole number"),
        ({"steps": 0}, "below the minimum 1"),
        ({"cfg": "nan"}, "finite"),
        ({"tiled": "maybe"}, "expected true or false"),
        ({"sampler": "Heun"}, "not one of Euler, DDIM"),
        ({"variation_seed": -3}, "seed is a whole number from 0"),
        ({"init": "picture.png"}, "upload the file first"),
        ({"steps": True}, "expected a number"),
        ({"stepz": 3}, "unknown parameter(s) stepz"),
    ],
)
def test_bad_values_name_the_parameter_and_the_fix(raw, message):
    with pytest.raises(ParamError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_params(SPECS, raw)


def test_a_text_param_may_declare_its_own_max_length():
    from studio.core.params import check_spec

    spec = ParamSpec("title", "text", default="", max_length=10)
    check_spec(spec)
    assert validate_params([spec], {"title": "short"})["title"] == "short"
    with pytest.raises(ParamError, match=r"title: 11 characters; at most 10"):
        validate_params([spec], {"title": "x" * 11})
    with pytest.raises(ParamError, match="max_length"):
        check_spec(ParamSpec("steps", "int", default=1, max_length=10))
