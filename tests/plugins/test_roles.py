"""Contribution points: roles, metadata readers and commands declared in plugin.toml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.core.errors import ManifestError
from studio.core.roles import generators_with_role, neutral_params, params_for_role, role_param
from studio.plugins.discovery import discover
from studio.plugins.manifest import parse_manifest_text

REPO = Path(__file__).resolve().parents[2]
COMMUNITY = REPO / "tests" / "fixtures" / "plugins" / "community_roles"

BASE = """
[plugin]
id = "me.painter"
name = "Painter"
version = "1.0.0"
api = ">=1,<2"

[[generators]]
id = "me.painter"
kind = "image"
entry = "painter.gen:Painter"

[[generators.roles]]
role = "image.inpaint"
fixed = { how = "fill" }
[generators.roles.inputs]
prompt = "text"
image = "picture"
mask = "holes"

[[generators.params]]
name = "text"
type = "text"
default = ""

[[generators.params]]
name = "picture"
type = "image"

[[generators.params]]
name = "holes"
type = "mask"

[[generators.params]]
name = "how"
type = "choice"
choices = ["fill", "draw"]
default = "draw"
"""


def parse(text: str):
    return parse_manifest_text(text, root=Path("."))


def first_party():
    return discover([(REPO / "plugins", "first-party")], entry_points=False)


def test_roles_map_canonical_inputs_onto_the_generators_own_params_and_add_fixed():
    (generator,) = parse(BASE).generators
    mapped = params_for_role(generator, "image.inpaint", {"prompt": "a cat", "image": "i" * 64, "mask": "m" * 64, "steps": 30})
    assert mapped["params"] == {"text": "a cat", "picture": "i" * 64, "holes": "m" * 64, "how": "fill"}
    assert mapped["unmapped"] == {"steps": 30}
    assert role_param(generator, "image.inpaint", "mask") == "holes"
    with pytest.raises(KeyError, match="does not fill the role 'melody.vary'"):
        params_for_role(generator, "melody.vary", {})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('prompt = "text"', 'prompt = "words"'), "input 'prompt' maps to 'words', which is not one of this generator's params"),
        (('prompt = "text"', 'promt = "text"'), "unknown input\\(s\\) promt"),
        (('fixed = { how = "fill" }', 'fixed = { how = "paint" }'), "fixed how: 'paint' is not one of fill, draw"),
        (('fixed = { how = "fill" }', "fixed = { colour = 1 }"), "fixed 'colour' is not one of this generator's params"),
        (('role = "image.inpaint"', 'role = "Inpaint!"'), "not a role id"),
    ],
)
def test_role_mistakes_are_refused_with_the_role_and_key_named(change, message):
    old, new = change
    with pytest.raises(ManifestError, match=message):
        parse(BASE.replace(old, new, 1))


def test_readers_and_commands_are_contributions_with_their_owner():
    manifest = parse(
        BASE
        + '\n[[readers]]\nid = "me.painter-png"\nentry = "painter.meta:read"\nsuffixes = [".png"]\nrole = "image.from_text"\n'
        + '\n[[commands]]\nid = "train"\nentry = "painter.train:run"\nmodels = "painter"\n'
    )
    (reader,) = manifest.readers
    assert (reader.plugin, reader.suffixes, reader.role) == ("me.painter", (".png",), "image.from_text")
    assert manifest.command("train").models == "painter" and manifest.command("train").plugin == "me.painter"
    row = json.loads(json.dumps(manifest.to_dict()))
    assert row["readers"][0]["entry"] == "painter.meta:read" and row["commands"][0]["id"] == "train"
    assert row["generators"][0]["roles"] == [
        {"role": "image.inpaint", "inputs": {"prompt": "text", "image": "picture", "mask": "holes"}, "fixed": {"how": "fill"}}
    ]
    with pytest.raises(ManifestError, match="commands.0.plugin: unknown key"):
        parse(BASE + '\n[[commands]]\nid = "train"\nentry = "a.b:c"\nplugin = "someone.else"\n')
    with pytest.raises(ManifestError, match="suffixes"):
        parse(BASE + '\n[[readers]]\nid = "me.r"\nentry = "a.b:c"\nsuffixes = ["png"]\n')


def test_first_party_generators_fill_the_roles_the_window_uses():
    found = first_party()
    by_role = {
        role: sorted(g.id for g in generators_with_role(found, role))
        for role in (
            "image.from_text",
            "image.inpaint",
            "image.outpaint",
            "melody.continue",
            "melody.interpolate",
            "text.chat",
            "prompt.expand",
            "audio.from_text",
        )
    }
    assert by_role == {
        "image.from_text": ["studio.diffusion", "studio.patterns"],
        "image.inpaint": ["studio.diffusion"],
        "image.outpaint": ["studio.diffusion"],
        "melody.continue": ["studio.melody"],
        "melody.interpolate": ["studio.melody"],
        "text.chat": ["studio.llm"],
        "prompt.expand": ["studio.prompts"],
        "audio.from_text": ["studio.musicgen"],
    }
    melody = found.generator("studio.melody")[0]
    assert params_for_role(melody, "melody.interpolate", {"prime": "p", "target": "t"})["params"] == {
        "prime": "p",
        "target": "t",
        "mode": "interpolate",
    }
    assert found.plugin("studio.melody").manifest.command("train").entry == "studio_melody.train:run_command"


def test_switching_role_resets_what_only_other_roles_use():
    diffusion = first_party().generator("studio.diffusion")[0]
    values = neutral_params(diffusion, "image.from_text")
    assert values["mode"] == "txt2img" and values["extend_left"] == 0 and values["strength"] == 0.75
    assert "prompt" not in values  # the role's own inputs are left as the user set them


def test_the_catalogue_form_works_like_the_manifest_form():
    found = discover([(COMMUNITY.parent, "user")], entry_points=False)
    catalogue = {"generators": [dict(info.to_dict(), state=record.state) for info, record in found.generators().values()]}
    catalogue["generators"].append(dict(catalogue["generators"][0], id="other.off", state="disabled"))
    ids = [g["id"] for g in generators_with_role(catalogue, "image.inpaint")]
    assert ids == ["community.inpainter"]
    assert [g["id"] for g in generators_with_role(catalogue, "melody.continue")] == ["community.tunesmith"]


def test_a_contributed_reader_turns_a_foreign_file_into_params_for_whoever_fills_its_role(tmp_path):
    from studio.plugins.readers import read_metadata, readers_for

    found = discover([(REPO / "plugins", "first-party"), (COMMUNITY.parent, "user")], entry_points=False)
    manifests = [record.manifest for record in found.records if record.usable]
    hole = tmp_path / "sky.hole"
    hole.write_text('{"prompt": "a starry sky", "seed": 42}')
    assert [reader.id for reader, _m in readers_for(manifests, hole)] == ["community.hole-file"]
    assert readers_for(manifests, tmp_path / "x.png") == []  # nothing imported to say so

    result, reader = read_metadata(manifests, hole)
    assert result == {"role": "image.inpaint", "inputs": {"prompt": "a starry sky"}, "seed": 42, "source": "hole file"}
    diffusion = found.generator("studio.diffusion")[0]
    assert params_for_role(diffusion, result["role"], result["inputs"])["params"] == {"prompt": "a starry sky", "mode": "inpaint"}
    (tmp_path / "junk.hole").write_text("not json")
    assert read_metadata(manifests, tmp_path / "junk.hole") is None
