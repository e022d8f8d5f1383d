"""plugin.toml validation: every mistake is refused with a message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.core.errors import ManifestError
from studio.plugins.discovery import discover
from studio.plugins.manifest import parse_manifest_text, read_manifest

GOOD = """
[plugin]
id = "me.pixelsort"
name = "Pixel sort"
version = "1.2.0"
api = ">=1,<2"
permissions = ["files"]

[[generators]]
id = "me.pixelsort"
kind = "image"
entry = "pixelsort.gen:PixelSort"

[[generators.params]]
name = "threshold"
type = "float"
default = 0.5
min = 0
max = 1
"""


def parse(text: str):
    return parse_manifest_text(text, root=Path("."))


def test_a_good_manifest_parses_into_generators_and_param_specs():
    manifest = parse(GOOD)
    assert manifest.plugin.id == "me.pixelsort" and manifest.plugin.permissions == ("files",)
    (generator,) = manifest.generators
    assert generator.params[0].name == "threshold" and generator.params[0].max == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('version = "1.2.0"', 'version = "1.2.0"\ncolour = "red"'), "plugin.colour: unknown key"),
        (('id = "me.pixelsort"\nname', 'id = "Pixel Sort"\nname'), "not a reverse-dns id"),
        (('api = ">=1,<2"', 'api = ">=2,<3"'), "needs plugin API >=2,<3"),
        (('api = ">=1,<2"', 'api = "one"'), "not a version range"),
        (('version = "1.2.0"', 'version = "banana"'), "not a version"),
        (('kind = "image"', 'kind = "video"'), "unknown kind"),
        (('entry = "pixelsort.gen:PixelSort"', 'entry = "pixelsort.gen"'), "package.module:ClassName"),
        (('type = "float"', 'type = "colour"'), "unknown type"),
        (("min = 0\nmax = 1", "min = 2\nmax = 1"), "min (2.0) is greater than max"),
        (("default = 0.5", "default = 5"), "its default is invalid"),
        (('permissions = ["files"]', 'permissions = ["root"]'), "unknown permission"),
        (('name = "Pixel sort"\n', ""), "plugin.name: required key is missing"),
    ],
)
def test_manifest_mistakes_are_refused_with_the_key_named(change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(GOOD.replace(old, new, 1))


def test_invalid_toml_and_missing_generators_are_refused(tmp_path):
    with pytest.raises(ManifestError, match="not valid TOML"):
        parse("[plugin\nid=")
    with pytest.raises(ManifestError, match="declares no"):
        parse(GOOD.split("[[generators]]")[0])
    with pytest.raises(ManifestError, match="no plugin.toml found"):
        read_manifest(tmp_path)


def test_discovery_reports_broken_plugins_instead_of_raising(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "plugin.toml").write_text(GOOD)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "plugin.toml").write_text(GOOD.replace('api = ">=1,<2"', 'api = ">=9"'))
    empty = tmp_path / "half-copied"
    empty.mkdir()
    (tmp_path / "_template").mkdir()
    found = discover([(tmp_path, "user")], entry_points=False)
    states = {record.folder.name: record.state for record in found.records}
    assert states == {"good": "enabled", "bad": "incompatible", "half-copied": "failed"}
    assert set(found.generators()) == {"me.pixelsort"}


def test_a_duplicate_id_never_shadows_the_first_plugin(tmp_path):
    for root in ("first", "second"):
        folder = tmp_path / root / "p"
        folder.mkdir(parents=True)
        (folder / "plugin.toml").write_text(GOOD)
    found = discover([(tmp_path / "first", "first-party"), (tmp_path / "second", "user")], entry_points=False)
    assert [record.state for record in found.records] == ["enabled", "failed"]
    assert "already provided" in found.records[1].error
    assert found.generator("me.pixelsort")[1].source == "first-party"


def test_safe_mode_disables_everything_but_first_party(tmp_path):
    for root in ("ours", "theirs"):
        folder = tmp_path / root / "p"
        folder.mkdir(parents=True)
        (folder / "plugin.toml").write_text(GOOD.replace("me.pixelsort", f"{root}.pixelsort"))
    found = discover([(tmp_path / "ours", "first-party"), (tmp_path / "theirs", "user")], safe_mode=True, entry_points=False)
    assert {record.id: record.state for record in found.records} == {"ours.pixelsort": "enabled", "theirs.pixelsort": "disabled"}


def test_every_first_party_manifest_is_valid():
    root = Path(__file__).resolve().parents[2] / "plugins"
    found = discover([(root, "first-party")], entry_points=False)
    assert found.records, "no first-party plugins found"
    for record in found.records:
        assert record.state == "enabled", f"{record.folder}: {record.error}"
