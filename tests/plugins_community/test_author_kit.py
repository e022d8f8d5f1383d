"""The plugin author's kit: `plugins new`, `plugins pack`, the pytest fixtures, the example."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from community_helpers import EXAMPLE, make_plugin, studio

from studio.core.paths import HomeLayout
from studio.plugins.archive import ArchiveError, pack_folder
from studio.plugins.testing import PluginHarness, check_manifest, pack_and_install


def run_pytest(folder: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=str(cwd),
    )


def test_new_scaffolds_a_working_plugin_that_packs_installs_and_passes_its_own_tests(tmp_path, home):
    result = studio(
        home, "plugins", "new", "Pixel Dust", "--id", "alice.pixel-dust", "--author", "Alice", "--dir", str(tmp_path / "pixel-dust")
    )
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "pixel-dust"
    manifest = check_manifest(folder)
    facts = manifest.plugin
    assert (facts.id, facts.name, facts.author, facts.version) == ("alice.pixel-dust", "Pixel Dust", "Alice", "0.1.0")
    assert manifest.generators[0].entry == "pixel_dust.generator:MyGenerator"
    assert (folder / "pixel_dust" / "generator.py").is_file() and not (folder / "myplugin").exists()
    assert "myplugin" not in (folder / "plugin.toml").read_text()

    # Its tests, written with the kit, pass as scaffolded.
    tests = run_pytest(folder / "tests", cwd=folder)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout

    # pack prints the archive and its SHA-256, reproducibly; install accepts it.
    packed = studio(home, "plugins", "pack", str(folder), "--out", str(tmp_path / "dust.zip"))
    assert packed.returncode == 0, packed.stderr
    path_line, sha_line = packed.stdout.strip().splitlines()
    digest = hashlib.sha256(Path(path_line).read_bytes()).hexdigest()
    assert sha_line == f"sha256: {digest}"
    again = studio(home, "plugins", "pack", str(folder), "--out", str(tmp_path / "dust-again.zip"))
    assert again.stdout.strip().splitlines()[1] == sha_line
    installed = studio(home, "plugins", "install", path_line, "--sha256", digest, "--yes")
    assert installed.returncode == 0, installed.stderr
    assert (HomeLayout(home).plugins_dir / "alice.pixel-dust" / "0.1.0" / "pixel_dust" / "generator.py").is_file()


def test_new_picks_an_id_and_folder_from_the_name(tmp_path, home):
    result = studio(home, "plugins", "new", "Halftone")
    assert result.returncode == 0, result.stderr
    manifest = check_manifest(home / "halftone")
    assert manifest.plugin.id.endswith(".halftone") and not manifest.plugin.id.startswith("studio.")


def test_new_refuses_a_name_that_clashes_with_a_studio_module(home):
    result = studio(home, "plugins", "new", "numpy")
    assert result.returncode == 1 and "which the studio already has" in result.stderr


def test_the_example_plugins_own_tests_pass_with_the_kit(tmp_path):
    result = run_pytest(EXAMPLE / "tests", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 passed" in result.stdout


def test_pack_refuses_symlinks_and_skips_caches(tmp_path):
    folder = make_plugin(tmp_path / "src")
    (folder / "thing" / "__pycache__").mkdir()
    (folder / "thing" / "__pycache__" / "gen.cpython-311.pyc").write_bytes(b"stale")
    (folder / "deps").mkdir()
    (folder / "deps" / "x.py").write_text("")
    archive, _ = pack_folder(folder, out=tmp_path / "ok.zip")
    import zipfile

    assert sorted(zipfile.ZipFile(archive).namelist()) == ["plugin.toml", "thing/__init__.py", "thing/gen.py"]
    (folder / "secrets").symlink_to(Path.home())
    with pytest.raises(ArchiveError, match="symbolic link"):
        pack_folder(folder, out=tmp_path / "bad.zip")


def test_check_manifest_names_the_missing_entry_module(tmp_path):
    folder = make_plugin(tmp_path / "src")
    (folder / "thing" / "gen.py").unlink()
    with pytest.raises(AssertionError, match=r"entry 'thing.gen:Gen0' but thing/gen.py does not exist"):
        check_manifest(folder)


def test_the_harness_runs_only_the_plugin_under_test_and_pack_and_install_uses_the_real_installer(tmp_path):
    folder = make_plugin(tmp_path / "src", package="harnessed", generators={"acme.thing": "ctx.progress(1, 1)"})
    harness = PluginHarness(folder, tmp_path / "home")
    assert [r.manifest.plugin.id for r in harness.runner.plugins.discovery.records if r.manifest] == ["acme.thing"]
    result = harness.generate(seed=3)
    assert result.image().size == (8, 8) and result.progress() == [(1.0, 1.0)]
    assert result.record["seed"] == 3
    installed = pack_and_install(folder, tmp_path / "home2")
    assert installed.path == tmp_path / "home2" / "plugins" / "acme.thing" / "1.0.0"
