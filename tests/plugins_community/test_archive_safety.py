"""Archives that must be refused before anything is written, and the ones that must pass."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import zipfile
from pathlib import Path

import pytest
from community_helpers import REGULAR, build_wheel, make_plugin, studio, zip_folder

from studio.core.errors import ManifestError, StudioError
from studio.core.paths import HomeLayout
from studio.plugins.api import API_VERSION
from studio.plugins.archive import ArchiveError, ArchiveLimits, open_archive
from studio.plugins.install import InstallError, install, plan_install


def plan(archive: Path, home: Path, **kwargs):
    layout = HomeLayout(home)
    kwargs.setdefault("plugin_folders", [(layout.plugins_dir, "user")])
    return plan_install(archive, layout=layout, **kwargs)


def plugin_zip(tmp_path: Path, name: str = "p.zip", extra=None, **plugin) -> Path:
    folder = make_plugin(tmp_path / f"src-{name}", **plugin)
    return zip_folder(folder, tmp_path / name, extra=extra)


def assert_nothing_written(home: Path) -> None:
    leftovers = [p.name for p in HomeLayout(home).plugins_dir.iterdir() if p.name != ".install.lock"]
    assert leftovers == []


@pytest.mark.parametrize(
    "member, mode, why",
    [
        ("/etc/evil.py", REGULAR, "absolute path"),
        ("C:/evil.py", REGULAR, "absolute path"),
        ("acme/../../evil.py", REGULAR, "'..'"),
        ("acme\\..\\evil.py", REGULAR, "backslashes"),
        ("link.py", stat.S_IFLNK | 0o777, "symbolic link"),
        ("dev/null", stat.S_IFCHR | 0o666, "character device"),
        ("disk", stat.S_IFBLK | 0o666, "block device"),
        ("pipe", stat.S_IFIFO | 0o644, "FIFO"),
    ],
)
def test_unsafe_member_is_refused_before_anything_is_written(tmp_path, home, member, mode, why):
    archive = plugin_zip(tmp_path, extra=[(member, b"x", mode)])
    with pytest.raises(ArchiveError, match=why):
        plan(archive, home)
    assert_nothing_written(home)


def test_members_landing_on_the_same_file_are_refused(tmp_path, home):
    archive = plugin_zip(tmp_path, extra=[("README.md", b"a", REGULAR), ("readme.MD", b"b", REGULAR)])
    with pytest.raises(ArchiveError, match="same file"):
        plan(archive, home)


def test_too_many_members_is_refused_as_a_zip_bomb(tmp_path, home):
    extra = [(f"data/{index}.txt", b"", REGULAR) for index in range(5001)]
    archive = plugin_zip(tmp_path, extra=extra)
    with pytest.raises(ArchiveError, match="more than the limit of 5000"):
        plan(archive, home)


def test_highly_compressed_member_is_refused_as_a_zip_bomb(tmp_path, home):
    archive = plugin_zip(tmp_path, extra=[("zeros.bin", bytes(8 * 2**20), REGULAR)])
    assert zipfile.ZipFile(archive).getinfo("zeros.bin").compress_size < 64 * 1024
    with pytest.raises(ArchiveError, match="zip bomb"):
        plan(archive, home)


def test_total_unpacked_size_over_the_limit_is_refused(tmp_path, home):
    extra = [(f"noise{index}.bin", os.urandom(300 * 1024), REGULAR) for index in range(4)]
    archive = plugin_zip(tmp_path, extra=extra)
    with pytest.raises(ArchiveError, match="over the limit"):
        plan(archive, home, limits=ArchiveLimits(max_total_bytes=1 * 2**20))
    plan(archive, home)  # the same archive is fine under the default limits


def test_sha256_must_match_when_given(tmp_path, home):
    archive = plugin_zip(tmp_path)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(ArchiveError, match="SHA-256 mismatch"):
        plan(archive, home, expected_sha256="0" * 64)
    with pytest.raises(ArchiveError, match="64 hexadecimal digits"):
        plan(archive, home, expected_sha256="abc")
    assert plan(archive, home, expected_sha256=digest.upper()).archive.sha256 == digest


def test_a_file_that_is_not_a_zip_is_refused(tmp_path, home):
    fake = tmp_path / "plugin.zip"
    fake.write_bytes(b"#!/bin/sh\necho not a zip\n")
    with pytest.raises(ArchiveError, match="not a zip archive"):
        plan(fake, home)


def test_an_archive_without_a_manifest_is_refused(tmp_path, home):
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("acme/__init__.py", "")
        handle.writestr("other/x.py", "")
    with pytest.raises(ArchiveError, match="no plugin.toml"):
        plan(archive, home)


def test_a_zip_of_the_plugin_folder_itself_is_accepted(tmp_path, home):
    folder = make_plugin(tmp_path / "acme-thing")
    archive = tmp_path / "folder.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in folder.rglob("*"):
            if path.is_file():
                handle.write(path, path.relative_to(tmp_path).as_posix())
        handle.writestr("__MACOSX/._plugin.toml", "junk that Finder adds")
    result = plan(archive, home)
    assert result.archive.prefix == "acme-thing/"
    assert "plugin.toml" in result.archive.relative_names()


def test_an_api_range_that_excludes_this_studio_is_refused_with_the_reason(tmp_path, home):
    archive = plugin_zip(tmp_path, api=">=2,<3")
    with pytest.raises(ManifestError, match=rf"needs plugin API >=2,<3, but this studio provides API {re.escape(API_VERSION)}"):
        plan(archive, home)


def test_the_studio_namespace_is_reserved_for_first_party_plugins(tmp_path, home):
    archive = plugin_zip(tmp_path, plugin_id="studio.patterns", package="fake_patterns")
    with pytest.raises(InstallError, match="reserved for the studio's first-party plugins"):
        plan(archive, home)


def test_an_id_taken_by_a_first_party_plugin_is_refused(tmp_path, home):
    first_party = tmp_path / "first-party"
    make_plugin(first_party / "thing", plugin_id="acme.thing", package="first_thing")
    archive = plugin_zip(tmp_path, plugin_id="acme.thing", package="other_thing")
    folders = [(first_party, "first-party"), (HomeLayout(home).plugins_dir, "user")]
    with pytest.raises(InstallError, match="already used by the first-party plugin"):
        plan(archive, home, plugin_folders=folders)


def test_an_id_taken_by_a_plugin_copied_into_the_plugins_folder_is_refused(tmp_path, home):
    make_plugin(HomeLayout(home).plugins_dir / "copied", plugin_id="acme.thing", package="copied_thing")
    archive = plugin_zip(tmp_path, plugin_id="acme.thing", package="other_thing")
    with pytest.raises(InstallError, match="already used by the plugin in"):
        plan(archive, home)


def test_a_generator_id_taken_by_another_plugin_is_refused(tmp_path, home):
    make_plugin(HomeLayout(home).plugins_dir / "other", plugin_id="acme.other", generators={"acme.shared": "pass"})
    archive = plugin_zip(tmp_path, plugin_id="acme.thing", generators={"acme.shared": "pass"})
    with pytest.raises(InstallError, match=r"generator id\(s\) acme.shared are already provided by plugin acme.other"):
        plan(archive, home)


def test_a_package_named_like_a_studio_module_is_refused(tmp_path, home):
    archive = plugin_zip(tmp_path, plugin_id="acme.numpy", package="numpy")
    with pytest.raises(InstallError, match="same name as a module the studio already has"):
        plan(archive, home)


def test_an_entry_module_missing_from_the_archive_is_refused(tmp_path, home):
    folder = make_plugin(tmp_path / "src")
    (folder / "thing" / "gen.py").unlink()
    with pytest.raises(InstallError, match="has no thing/gen.py"):
        plan(zip_folder(folder, tmp_path / "p.zip"), home)


def test_reinstalling_the_installed_version_is_refused(tmp_path, home):
    archive = plugin_zip(tmp_path)
    install(plan(archive, home), trial=False)
    with pytest.raises(InstallError, match="already installed"):
        plan(archive, home)


def test_the_cli_refuses_a_bad_archive_with_one_line_and_writes_nothing(tmp_path, home):
    archive = plugin_zip(tmp_path, extra=[("../../escape.py", b"print('pwned')", REGULAR)])
    result = studio(home, "plugins", "install", str(archive), "--yes")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "'..'" in result.stderr and "Traceback" not in result.stderr
    assert_nothing_written(home)
    assert not (tmp_path / "escape.py").exists()


def test_the_cli_verifies_sha256(tmp_path, home):
    archive = plugin_zip(tmp_path)
    result = studio(home, "plugins", "install", str(archive), "--sha256", "f" * 64, "--yes")
    assert result.returncode == 1 and "SHA-256 mismatch" in result.stderr
    assert_nothing_written(home)


def test_the_cli_does_not_install_without_confirmation(tmp_path, home):
    archive = plugin_zip(tmp_path, permissions=["network"])
    result = studio(home, "plugins", "install", str(archive))
    assert result.returncode == 1
    assert "id:           acme.thing" in result.stdout
    assert "network: connect to other computers" in result.stdout
    assert "--yes" in result.stderr
    assert_nothing_written(home)


# --------------------------------------------------------------------------- wheels


def plugin_wheel(tmp_path: Path, *, data_dir: str | None = None) -> Path:
    folder = make_plugin(tmp_path / "wheel-src", plugin_id="acme.wheely", package="wheely")
    files = {
        "wheely/__init__.py": "",
        "wheely/gen.py": (folder / "wheely" / "gen.py").read_text(),
        "wheely/plugin.toml": (folder / "plugin.toml").read_text(),
    }
    if data_dir:
        files[f"acme_wheely-1.0.0.data/{data_dir}/evil"] = "#!/bin/sh\n"
    return build_wheel(tmp_path / "dist", "acme_wheely", "1.0.0", requires=["numpy>=1.0"], files=files)


def test_a_plugin_wheel_installs_and_its_generators_load(tmp_path, home):
    wheel = plugin_wheel(tmp_path)
    result_plan = plan(wheel, home)
    assert result_plan.archive.kind == "wheel"
    assert [d.source for d in result_plan.dependencies] == ["studio"]  # numpy comes from the studio
    result = install(result_plan)  # includes the trial import in a separate process
    assert (result.path / "plugin.toml").is_file()
    assert (result.path / "wheely" / "gen.py").is_file()
    from studio.engine.config import EngineConfig
    from studio.engine.runner import LocalRunner

    runner = LocalRunner(EngineConfig(home=home, include_first_party=False, device="cpu"))
    assert runner.run("acme.wheely", {}, 1).artifacts[0].mime == "image/png"


def test_a_wheel_that_installs_scripts_is_refused(tmp_path, home):
    with pytest.raises(ArchiveError, match="scripts files"):
        open_archive(plugin_wheel(tmp_path, data_dir="scripts"))


def test_archive_errors_are_studio_errors():
    assert issubclass(ArchiveError, StudioError) and issubclass(InstallError, StudioError)
