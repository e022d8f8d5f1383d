"""A community plugin's whole life through the command line, and upgrades that go wrong."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from community_helpers import make_plugin, stop_engine, studio, zip_folder

from studio.core.paths import HomeLayout
from studio.plugins.install import InstallError, install, plan_install, rollback

PLUGIN = "examples.pixelsort"


def plugin_rows(home: Path) -> dict[str, dict]:
    result = studio(home, "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    return {row["id"]: row for row in json.loads(result.stdout)}


def generate(home: Path, image: Path, out: Path):
    return studio(home, "generate", PLUGIN, "-p", f"image=@{image}", "-p", "key=hue", "--seed", "1", "--out", str(out))


def generated_version(home: Path, image: Path, out: Path) -> str:
    result = generate(home, image, out)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == out and out.is_file()
    inspected = studio(home, "inspect", str(out))
    return json.loads(inspected.stdout)["studio"]["plugin_version"]


def test_install_list_generate_disable_enable_upgrade_rollback_remove(tmp_path, home, example_archives, input_png):
    v1, v2 = example_archives["1.0.0"], example_archives["1.1.0"]
    digest = hashlib.sha256(v1.read_bytes()).hexdigest()
    plugins_dir = HomeLayout(home).plugins_dir
    try:
        # install, with the published SHA-256
        result = studio(home, "plugins", "install", str(v1), "--sha256", digest, "--yes")
        assert result.returncode == 0, result.stderr
        assert f"sha256:       {digest}" in result.stdout
        assert f"installed {PLUGIN} 1.0.0" in result.stdout
        assert (plugins_dir / PLUGIN / "current").read_text().strip() == "1.0.0"

        # list
        row = plugin_rows(home)[PLUGIN]
        assert (row["state"], row["version"], row["source"]) == ("enabled", "1.0.0", "user")
        assert [g["id"] for g in row["generators"]] == ["examples.pixelsort", "examples.palette"]

        # generate: the CLI starts a real engine, which loads the installed plugin
        assert generated_version(home, input_png, tmp_path / "first.png") == "1.0.0"

        # disable: persisted, and the restarted engine refuses the generator
        assert studio(home, "plugins", "disable", PLUGIN).returncode == 0
        assert plugin_rows(home)[PLUGIN]["state"] == "disabled"
        stop_engine(home)
        result = generate(home, input_png, tmp_path / "disabled.png")
        assert result.returncode == 1 and "disabled" in result.stderr
        assert not (tmp_path / "disabled.png").exists()

        # enable
        assert studio(home, "plugins", "enable", PLUGIN).returncode == 0
        assert plugin_rows(home)[PLUGIN]["state"] == "enabled"
        stop_engine(home)
        assert generated_version(home, input_png, tmp_path / "enabled.png") == "1.0.0"

        # upgrade: the previous version is kept
        result = studio(home, "plugins", "install", str(v2), "--yes")
        assert result.returncode == 0, result.stderr
        assert "version:      1.1.0  (upgrade from 1.0.0, which is kept for rollback)" in result.stdout
        assert f"upgraded {PLUGIN} 1.0.0 → 1.1.0" in result.stdout
        assert sorted(p.name for p in (plugins_dir / PLUGIN).iterdir() if p.is_dir()) == ["1.0.0", "1.1.0"]
        assert plugin_rows(home)[PLUGIN]["version"] == "1.1.0"
        stop_engine(home)
        assert generated_version(home, input_png, tmp_path / "upgraded.png") == "1.1.0"

        # rollback
        result = studio(home, "plugins", "rollback", PLUGIN)
        assert result.returncode == 0, result.stderr
        assert f"rolled {PLUGIN} back from 1.1.0 to 1.0.0" in result.stdout
        assert plugin_rows(home)[PLUGIN]["version"] == "1.0.0"
        assert (plugins_dir / PLUGIN / "previous").read_text().strip() == "1.1.0"
        stop_engine(home)
        assert generated_version(home, input_png, tmp_path / "rolled-back.png") == "1.0.0"

        # remove
        result = studio(home, "plugins", "remove", PLUGIN)
        assert result.returncode == 0, result.stderr
        assert not (plugins_dir / PLUGIN).exists()
        assert PLUGIN not in plugin_rows(home)
        stop_engine(home)
        result = generate(home, input_png, tmp_path / "removed.png")
        assert result.returncode == 1 and "unknown generator 'examples.pixelsort'" in result.stderr
    finally:
        stop_engine(home)


def test_the_cli_will_not_remove_a_first_party_plugin(home):
    result = studio(home, "plugins", "remove", "studio.patterns")
    assert result.returncode == 1
    assert "first-party plugin and cannot be removed; disable it instead" in result.stderr


def plan(archive: Path, home: Path):
    layout = HomeLayout(home)
    return plan_install(archive, layout=layout, plugin_folders=[(layout.plugins_dir, "user")])


def test_an_upgrade_that_fails_to_import_keeps_the_installed_version(tmp_path, home):
    good = zip_folder(make_plugin(tmp_path / "good", version="1.0.0"), tmp_path / "good.zip")
    install(plan(good, home))
    broken = make_plugin(tmp_path / "broken", version="2.0.0", module_prelude="raise RuntimeError('oops, a bug at import')")
    with pytest.raises(InstallError) as caught:
        install(plan(zip_folder(broken, tmp_path / "broken.zip"), home))
    message = str(caught.value)
    assert "acme.thing 2.0.0 failed to load, so it was not installed; acme.thing 1.0.0 stays installed" in message
    assert "RuntimeError: oops, a bug at import" in message
    id_dir = HomeLayout(home).plugins_dir / "acme.thing"
    assert (id_dir / "current").read_text().strip() == "1.0.0"
    assert sorted(p.name for p in id_dir.iterdir() if p.is_dir()) == ["1.0.0"]
    assert [p.name for p in HomeLayout(home).plugins_dir.iterdir() if p.name.startswith(".staging")] == []


def test_an_import_that_needs_an_undeclared_permission_fails_the_trial(tmp_path, home):
    sneaky = make_plugin(tmp_path / "sneaky", module_prelude="import subprocess\nsubprocess.run(['true'])")
    with pytest.raises(InstallError, match="tried to start the program 'true'"):
        install(plan(zip_folder(sneaky, tmp_path / "sneaky.zip"), home))
    assert not (HomeLayout(home).plugins_dir / "acme.thing").exists()


def test_rollback_needs_a_previous_version(tmp_path, home):
    install(plan(zip_folder(make_plugin(tmp_path / "only"), tmp_path / "only.zip"), home), trial=False)
    with pytest.raises(InstallError, match=r"has no previous version to roll back to \(only 1.0.0 is installed\)"):
        rollback("acme.thing", HomeLayout(home))
    with pytest.raises(InstallError, match="not a plugin id"):
        rollback("../../etc", HomeLayout(home))


def test_only_the_current_and_previous_versions_are_kept(tmp_path, home):
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        archive = zip_folder(make_plugin(tmp_path / version, version=version), tmp_path / f"{version}.zip")
        install(plan(archive, home), trial=False)
    id_dir = HomeLayout(home).plugins_dir / "acme.thing"
    assert sorted(p.name for p in id_dir.iterdir() if p.is_dir()) == ["1.1.0", "1.2.0"]
    assert rollback("acme.thing", HomeLayout(home)) == ("1.2.0", "1.1.0")
    assert rollback("acme.thing", HomeLayout(home)) == ("1.1.0", "1.2.0")  # and forward again


def test_leftovers_of_a_killed_install_are_cleared_by_the_next_one(tmp_path, home):
    plugins_dir = HomeLayout(home).plugins_dir
    (plugins_dir / ".staging-acme.thing-dead").mkdir(parents=True)
    (plugins_dir / ".staging-acme.thing-dead" / "plugin.toml").write_text("half written")
    install(plan(zip_folder(make_plugin(tmp_path / "src"), tmp_path / "p.zip"), home), trial=False)
    assert sorted(p.name for p in plugins_dir.iterdir()) == [".install.lock", "acme.thing"]
