"""The author's and the user's command line, end to end, against an index on 127.0.0.1.

The example plugin in examples/ is packed, signed and published with `plugins keygen`,
`plugins pack`, `plugins sign` and `plugins index build`, served by http.server in a thread,
and installed by name with `plugins install ID` (trial import included), as a user would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from index_helpers import IndexServer, example_folder, studio

from studio.core.paths import HomeLayout


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    HomeLayout(folder).ensure()
    return folder


def ok(result) -> str:
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def refused(result) -> str:
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def publish_example(home: Path, tmp_path: Path, folder: Path) -> Path:
    """keygen + pack + sign + index build, each with the CLI; returns the published folder."""
    published = tmp_path / "published"
    published.mkdir(exist_ok=True)
    if not (tmp_path / "author.key").exists():
        ok(studio(home, "plugins", "keygen", "--out", str(tmp_path / "author.key")))
        ok(studio(home, "plugins", "keygen", "--out", str(tmp_path / "index.key")))
    out = ok(
        studio(home, "plugins", "pack", str(folder), "--out", str(published / f"examples.pixelsort-{folder.name.rsplit('-', 1)[1]}.zip"))
    )
    archive = Path(out.splitlines()[0])
    ok(studio(home, "plugins", "sign", str(archive), "--key", str(tmp_path / "author.key")))
    ok(studio(home, "plugins", "index", "build", str(published), "--key", str(tmp_path / "index.key"), "--name", "Loopback test index"))
    return published


def test_the_example_plugin_is_published_found_and_installed_by_name(tmp_path, home):
    published = publish_example(home, tmp_path, example_folder(tmp_path, "1.0.0"))
    assert "no keys are pinned" in ok(studio(home, "plugins", "trust", "list"))
    assert json.loads((published / "examples.pixelsort-1.0.0.zip.sig.json").read_text())["id"] == "examples.pixelsort"
    with IndexServer(published) as server:
        added = ok(studio(home, "plugins", "index", "add", server.url()))
        assert "added index 'Loopback test index'" in added and "publisher key" in added
        fingerprint = added.split("publisher key ")[1].split(" (")[0]

        found = ok(studio(home, "plugins", "search", "glitch"))
        assert "examples.pixelsort  1.0.0" in found and "by Studio examples (no permissions)" in found
        info = ok(studio(home, "plugins", "info", "examples.pixelsort"))
        assert "author:     Studio examples, key" in info and fingerprint in info

        installed = studio(home, "plugins", "install", "examples.pixelsort", "--yes")
        out = ok(installed)
        assert "permissions:  none" in out
        assert "author key:" in out and "the key will be pinned" in out
        assert f"index key:    {fingerprint}" in out
        assert "installed examples.pixelsort 1.0.0" in out
        assert "downloading examples.pixelsort: 100%" in installed.stderr and "trial import" in installed.stderr
        assert (home / "plugins" / "examples.pixelsort" / "current").read_text().strip() == "1.0.0"
        assert "[installed 1.0.0]" in ok(studio(home, "plugins", "search", "pixel"))
        trust = ok(studio(home, "plugins", "trust", "list"))
        assert "author  Studio examples" in trust and "plugin  examples.pixelsort" in trust

        # Without --yes and without a terminal nothing is installed, and the download is gone.
        (home / "plugins" / "examples.pixelsort").rename(tmp_path / "aside")
        assert "run again with --yes" in refused(studio(home, "plugins", "install", "examples.pixelsort"))
        assert not (home / "plugins" / "examples.pixelsort").exists()
        assert list((home / "cache" / "plugin-downloads").iterdir()) == []


def test_update_whose_trial_import_fails_keeps_the_installed_version(tmp_path, home):
    published = publish_example(home, tmp_path, example_folder(tmp_path, "1.0.0"))
    with IndexServer(published) as server:
        ok(studio(home, "plugins", "index", "add", server.url()))
        ok(studio(home, "plugins", "install", "examples.pixelsort", "--yes"))
        assert "every plugin installed from an index is up to date" in ok(studio(home, "plugins", "outdated"))

        publish_example(home, tmp_path, example_folder(tmp_path, "1.1.0", broken=True))
        assert "examples.pixelsort  1.0.0 → 1.1.0" in ok(studio(home, "plugins", "outdated"))
        update = studio(home, "plugins", "update", "--yes")
        error = refused(update)
        assert "examples.pixelsort 1.1.0 failed to load, so it was not installed; examples.pixelsort 1.0.0 stays installed" in error
        assert "this release is broken on purpose" in error
        assert (home / "plugins" / "examples.pixelsort" / "current").read_text().strip() == "1.0.0"
        assert sorted(p.name for p in (home / "plugins" / "examples.pixelsort").iterdir()) == ["1.0.0", "current"]
        assert list((home / "cache" / "plugin-downloads").iterdir()) == []


def test_refusals_on_the_command_line_name_what_did_not_match(tmp_path, home):
    published = publish_example(home, tmp_path, example_folder(tmp_path, "1.0.0"))
    with IndexServer(published) as server:
        ok(studio(home, "plugins", "index", "add", server.url()))
        archive = published / "examples.pixelsort-1.0.0.zip"
        original = archive.read_bytes()
        archive.write_bytes(original[:-1] + b"!")
        error = refused(studio(home, "plugins", "install", "examples.pixelsort", "--yes"))
        assert "SHA-256 mismatch: the signed index says" in error
        assert not (home / "plugins" / "examples.pixelsort").exists()

        archive.write_bytes(original)
        ok(studio(home, "plugins", "keygen", "--out", str(tmp_path / "other.key")))
        ok(studio(home, "plugins", "index", "build", str(published), "--key", str(tmp_path / "other.key")))
        error = refused(studio(home, "plugins", "install", "examples.pixelsort", "--yes"))
        assert "its key changed" in error

        error = refused(studio(home, "plugins", "index", "add", "http://10.1.2.3/index.json"))
        assert "plain http:// is allowed only on this computer" in error
        error = refused(studio(home, "plugins", "install", "nobody.nothing==1.0", "--yes"))
        assert "no plugin 'nobody.nothing'" in error


def test_the_index_commands_explain_an_empty_configuration(home):
    assert "no plugin index is configured" in ok(studio(home, "plugins", "index", "list"))
    assert "plugins index add URL" in refused(studio(home, "plugins", "search", "anything"))
    assert "plugins index add URL" in refused(studio(home, "plugins", "install", "acme.thing", "--yes"))


def test_update_all_leaves_a_plugin_installed_from_an_archive_unless_named(tmp_path, home):
    from index_helpers import Publisher, small_plugin

    from studio.plugins.archive import pack_folder
    from studio.plugins.install import install, plan_install

    archive, _ = pack_folder(small_plugin(tmp_path, "acme.glow", "1.0.0"), out=tmp_path / "glow-1.0.0.zip")
    install(plan_install(archive, layout=HomeLayout(home)), trial=False)
    publisher = Publisher(tmp_path / "published")
    publisher.add(small_plugin(tmp_path / "newer", "acme.glow", "1.1.0"))
    publisher.build()
    with IndexServer(publisher.folder) as server:
        ok(studio(home, "plugins", "index", "add", server.url()))
        out = ok(studio(home, "plugins", "update", "--yes"))
        assert "acme.glow was not installed from an index; `plugins update acme.glow` takes 1.1.0" in out
        assert (home / "plugins" / "acme.glow" / "current").read_text().strip() == "1.0.0"
        out = ok(studio(home, "plugins", "update", "acme.glow", "--yes"))
        assert "upgraded acme.glow 1.0.0 → 1.1.0" in out and "rollback acme.glow" in out
        assert "every plugin installed from an index is up to date" in ok(studio(home, "plugins", "update"))
