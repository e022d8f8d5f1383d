"""Signed plugin indexes served by a real HTTP server on 127.0.0.1 (http.server in a thread).

Every refusal is checked for its reason (what did not match) and for what it leaves behind:
no plugin folder, no downloaded archive, only a ``.part`` file where a transfer can resume.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from index_helpers import IndexServer, Publisher, example_folder, small_plugin

from studio.core.paths import HomeLayout
from studio.plugins import install as installer
from studio.plugins.index.catalogue import (
    add_index,
    cached_catalogue,
    load_catalogue,
    managed_plugins,
    outdated_plugins,
    withdrawn_installed,
)
from studio.plugins.index.download import TransferLimits, check_url, download_file
from studio.plugins.index.errors import DowngradeRefused, DownloadError, IntegrityError, PluginIndexError, TrustError, WithdrawnVersion
from studio.plugins.index.fetch_install import complete_install, prepare_install
from studio.plugins.index.signing import generate_key
from studio.plugins.index.trust import TrustStore, downloads_dir


@pytest.fixture
def layout(tmp_path: Path) -> HomeLayout:
    return HomeLayout(tmp_path / "home").ensure()


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    return Publisher(tmp_path / "published")


@pytest.fixture
def server(publisher: Publisher):
    with IndexServer(publisher.folder) as running:
        yield running


def install_by_name(layout: HomeLayout, spec: str, *, trial: bool = False, limits: TransferLimits | None = None) -> installer.InstallResult:
    indexed = prepare_install(layout, spec, load_catalogue(layout), limits=limits)
    return complete_install(indexed, trial=trial)


def left_behind(layout: HomeLayout) -> list[str]:
    """Files a refused install must not leave: plugin folders and finished downloads."""
    found = [p.name for p in layout.plugins_dir.iterdir() if not p.name.startswith(".install.lock")]
    folder = downloads_dir(layout)
    if folder.is_dir():
        found += [p.name for p in folder.iterdir()]
    return found


# --------------------------------------------------------------------------- finding and installing


def test_search_finds_plugins_by_words_and_by_category(tmp_path, layout, publisher, server):
    publisher.add(small_plugin(tmp_path, "acme.glow", description="Soft bloom around bright areas"))
    publisher.add(small_plugin(tmp_path, "acme.net", permissions=["network"], description="Fetches palettes"))
    publisher.add(example_folder(tmp_path))
    publisher.build()
    source, content = add_index(layout, server.url())
    assert source.key == publisher.key.public.text and len(content.plugins) == 3

    catalogue = load_catalogue(layout)
    assert [item.id for item in catalogue.search("bloom")] == ["acme.glow"]
    assert [item.id for item in catalogue.search("palette")] == ["acme.net", "examples.pixelsort"]
    assert [item.id for item in catalogue.search("glitch sorting")] == ["examples.pixelsort"]
    assert catalogue.search("nothing-like-this") == []
    assert "image" in catalogue.categories()
    assert {item.id for item in catalogue.search("", "image")} == {"acme.glow", "acme.net", "examples.pixelsort"}
    assert catalogue.find("acme.net").latest.permissions == ("network",)


def test_install_by_name_downloads_verifies_installs_and_pins_the_author_key(tmp_path, layout, publisher, server):
    publisher.add(small_plugin(tmp_path, "acme.net", permissions=["network"]))
    publisher.build()
    add_index(layout, server.url())

    indexed = prepare_install(layout, "acme.net", load_catalogue(layout))
    facts = dict(indexed.facts())
    assert facts["permissions"].startswith("network: connect to other computers")
    assert publisher.key.public.fingerprint in facts["author key"] and "will be pinned" in facts["author key"]
    assert publisher.key.public.fingerprint in facts["index key"]
    result = complete_install(indexed, trial=False)

    assert result.path == layout.plugins_dir / "acme.net" / "1.0.0"
    assert managed_plugins(layout) == {"acme.net": "1.0.0"}
    assert list(downloads_dir(layout).iterdir()) == []  # the archive does not outlive the install
    store = TrustStore.load(layout)
    assert store.plugins["acme.net"].key == publisher.key.public.text
    assert store.authors["Tests"].key == publisher.key.public.text


def test_a_version_can_be_asked_for_and_an_unknown_id_names_the_close_ones(tmp_path, layout, publisher, server):
    publisher.add(small_plugin(tmp_path, "acme.glow", "1.0.0"))
    publisher.add(small_plugin(tmp_path, "acme.glow", "1.1.0"))
    publisher.build()
    add_index(layout, server.url())
    assert install_by_name(layout, "acme.glow==1.0.0").manifest.plugin.version == "1.0.0"
    with pytest.raises(PluginIndexError, match=r"no plugin 'acme.glo' in the configured indexes"):
        install_by_name(layout, "acme.glo")
    with pytest.raises(PluginIndexError, match=r"has no version 3.0 .*lists 1.1.0, 1.0.0"):
        install_by_name(layout, "acme.glow==3.0")


def test_update_installs_the_newer_version_and_rollback_returns_to_the_old_one(tmp_path, layout, publisher, server):
    publisher.add(small_plugin(tmp_path, "acme.glow", "1.0.0"))
    publisher.build()
    add_index(layout, server.url())
    install_by_name(layout, "acme.glow")
    assert outdated_plugins(layout, load_catalogue(layout)) == []

    publisher.add(small_plugin(tmp_path, "acme.glow", "1.1.0", permissions=["files"]))
    publisher.build()
    catalogue = load_catalogue(layout)
    [outdated] = outdated_plugins(layout, catalogue)
    assert (outdated.plugin_id, outdated.installed, outdated.latest, outdated.new_permissions) == (
        "acme.glow",
        "1.0.0",
        "1.1.0",
        ("files",),
    )

    result = install_by_name(layout, "acme.glow")
    assert (result.previous_version, result.manifest.plugin.version) == ("1.0.0", "1.1.0")
    assert installer.rollback("acme.glow", layout) == ("1.1.0", "1.0.0")
    assert managed_plugins(layout) == {"acme.glow": "1.0.0"}


def test_the_index_must_show_every_permission_the_archive_asks_for(tmp_path, layout, publisher, server):
    archive = publisher.add(small_plugin(tmp_path, "acme.sly"))
    publisher.build()
    # The author ships an archive that asks for more than the index says.
    index = json.loads((publisher.folder / "index.json").read_text())
    sneaky = small_plugin(tmp_path / "sneaky", "acme.sly", permissions=["network"])
    from studio.plugins.archive import pack_folder

    pack_folder(sneaky, out=archive)
    signed = index["signed"]
    from studio.plugins.index.signing import archive_statement, canonical_json

    version = signed["plugins"][0]["versions"][0]
    version["sha256"] = installer.sha256_file(archive)
    version["size"] = archive.stat().st_size
    version["signature"] = publisher.key.sign(archive_statement("acme.sly", "1.0.0", version["sha256"], version["size"]))
    index["signature"] = publisher.key.sign(canonical_json(signed))
    (publisher.folder / "index.json").write_text(json.dumps(index))
    add_index(layout, server.url())
    with pytest.raises(IntegrityError, match=r"asks for permission\(s\) network that the index does not show"):
        install_by_name(layout, "acme.sly")
    assert left_behind(layout) == []


# --------------------------------------------------------------------------- tampering


def test_a_tampered_archive_is_refused_with_both_hashes_and_nothing_is_left(tmp_path, layout, publisher, server):
    archive = publisher.add(small_plugin(tmp_path, "acme.glow"))
    publisher.build()
    add_index(layout, server.url())
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    archive.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"SHA-256 mismatch: the signed index says [0-9a-f]{64}, the download has [0-9a-f]{64}"):
        install_by_name(layout, "acme.glow")
    assert left_behind(layout) == []

    archive.write_bytes(bytes(data) + b"more bytes than the index states")
    with pytest.raises(IntegrityError, match=r"the signed index says the archive has \d+ bytes"):
        install_by_name(layout, "acme.glow")
    assert left_behind(layout) == []


def test_an_index_changed_after_signing_is_refused_as_a_bad_signature(tmp_path, layout, publisher, server):
    publisher.add(small_plugin(tmp_path, "acme.glow"))
    publisher.build()
    add_index(layout, server.url())
    index = json.loads((publisher.folder / "index.json").read_text())
    index["signed"]["plugins"][0]["versions"][0]["permissions"] = []  # quietly edited
    index["signed"]["plugins"][0]["description"] = "now harmless-looking"
    (publisher.folder / "index.json").write_text(json.dumps(index))
    catalogue = load_catalogue(layout)
    assert catalogue.indexes == []
    assert "bad signature" in catalogue.refused[0] and publisher.key.public.fingerprint in catalogue.refused[0]
    with pytest.raises(PluginIndexError, match="bad signature"):
        prepare_install(layout, "acme.glow", catalogue)
    assert left_behind(layout) == []


def test_an_archive_whose_author_signature_is_wrong_is_refused(tmp_path, layout, publisher, server):
    stranger = generate_key(tmp_path / "stranger.key")
    author = generate_key(tmp_path / "author.key")
    archive = publisher.add(small_plugin(tmp_path, "acme.glow"), author_key=author)
    # The .sig.json claims the real author's key but carries a stranger's signature.
    sig_path = archive.with_name(archive.name + ".sig.json")
    record = json.loads(sig_path.read_text())
    from studio.plugins.index.signing import archive_statement

    record["signature"] = stranger.sign(archive_statement("acme.glow", "1.0.0", record["sha256"], record["size"]))
    sig_path.write_text(json.dumps(record))
    with pytest.raises(PluginIndexError, match="does not match"):
        publisher.build()  # the author tools refuse it first
    # A publisher that skips the check: the studio refuses it at install.
    record["signature"] = author.sign(archive_statement("acme.glow", "1.0.0", record["sha256"], record["size"]))
    sig_path.write_text(json.dumps(record))
    publisher.build()
    index = json.loads((publisher.folder / "index.json").read_text())
    from studio.plugins.index.signing import canonical_json

    index["signed"]["plugins"][0]["versions"][0]["signature"] = stranger.sign(
        archive_statement("acme.glow", "1.0.0", record["sha256"], record["size"])
    )
    index["signature"] = publisher.key.sign(canonical_json(index["signed"]))
    (publisher.folder / "index.json").write_text(json.dumps(index))
    add_index(layout, server.url())
    with pytest.raises(TrustError, match=rf"author signature: bad signature: it was not made by key {author.public.fingerprint}"):
        install_by_name(layout, "acme.glow")
    assert left_behind(layout) == []


def test_a_changed_index_key_is_refused_naming_both_fingerprints(tmp_path, layout, publisher, server):
    publisher.add(small_plugin(tmp_path, "acme.glow"))
    publisher.build()
    add_index(layout, server.url())
    old = publisher.key.public.fingerprint
    publisher.key = generate_key(tmp_path / "new-publisher.key")
    publisher.build()
    catalogue = load_catalogue(layout)
    assert catalogue.indexes == []
    [refusal] = catalogue.refused
    assert "its key changed" in refusal and old in refusal and publisher.key.public.fingerprint in refusal
    with pytest.raises(PluginIndexError, match="its key changed"):
        prepare_install(layout, "acme.glow", catalogue)
    # The cached copy is not used in its place either.
    assert cached_catalogue(layout).find("acme.glow") is not None  # the old, verified copy
    assert left_behind(layout) == []


def test_a_changed_author_key_is_refused_on_update(tmp_path, layout, publisher, server):
    alice = generate_key(tmp_path / "alice.key")
    publisher.add(small_plugin(tmp_path, "acme.glow", "1.0.0"), author_key=alice)
    publisher.build()
    add_index(layout, server.url())
    install_by_name(layout, "acme.glow")
    for stale in publisher.folder.glob("acme.glow-1.0.0.zip*"):
        stale.unlink()
    impostor = generate_key(tmp_path / "impostor.key")
    publisher.add(small_plugin(tmp_path, "acme.glow", "1.1.0"), author_key=impostor)
    publisher.build()
    with pytest.raises(TrustError, match="author key changed") as refused:
        install_by_name(layout, "acme.glow")
    assert alice.public.fingerprint in str(refused.value) and impostor.public.fingerprint in str(refused.value)
    assert managed_plugins(layout) == {"acme.glow": "1.0.0"}
    assert list(downloads_dir(layout).iterdir()) == []


def test_a_downgrade_below_the_installed_version_is_refused(tmp_path, layout, publisher, server):
    publisher.add(small_plugin(tmp_path, "acme.glow", "1.0.0"))
    publisher.add(small_plugin(tmp_path, "acme.glow", "2.0.0"))
    publisher.build()
    add_index(layout, server.url())
    install_by_name(layout, "acme.glow")
    assert managed_plugins(layout) == {"acme.glow": "2.0.0"}
    with pytest.raises(DowngradeRefused, match=r"offers 1.0.0, older than the installed 2.0.0.*plugins rollback acme.glow"):
        install_by_name(layout, "acme.glow==1.0.0")
    # An index that drops the newer version does not pull the user back either.
    (publisher.folder / "acme.glow-2.0.0.zip").unlink()
    publisher.build()
    catalogue = load_catalogue(layout)
    assert outdated_plugins(layout, catalogue) == []
    with pytest.raises(DowngradeRefused):
        prepare_install(layout, "acme.glow", catalogue)
    assert managed_plugins(layout) == {"acme.glow": "2.0.0"}


def test_a_withdrawn_version_is_flagged_when_installed_and_refused_when_asked_for(tmp_path, layout, publisher, server):
    publisher.add(small_plugin(tmp_path, "acme.glow", "1.0.0"))
    publisher.add(small_plugin(tmp_path, "acme.glow", "1.0.1"))
    publisher.build()
    add_index(layout, server.url())
    install_by_name(layout, "acme.glow==1.0.0")
    assert withdrawn_installed(layout) == []

    (publisher.folder / "advisories.json").write_text(
        json.dumps([{"plugin": "acme.glow", "versions": ["1.0.0"], "reason": "writes outside its folder"}])
    )
    publisher.build()
    catalogue = load_catalogue(layout)  # refreshes the cached copy
    [flag] = withdrawn_installed(layout)  # start-up reads the cache only: no network
    assert (flag.plugin_id, flag.version, flag.reason) == ("acme.glow", "1.0.0", "writes outside its folder")
    assert "withdrawn" in flag.describe()
    assert catalogue.find("acme.glow").latest.version == "1.0.1"
    with pytest.raises(WithdrawnVersion, match=r"acme.glow 1.0.0 was withdrawn by Test index: writes outside its folder"):
        prepare_install(layout, "acme.glow==1.0.0", catalogue)


def test_an_old_signed_index_cannot_replace_a_newer_one(tmp_path, layout, publisher, server):
    publisher.add(small_plugin(tmp_path, "acme.glow"))
    publisher.build()
    old_copy = (publisher.folder / "index.json").read_bytes()
    time.sleep(1.1)  # "generated" has one-second resolution
    (publisher.folder / "advisories.json").write_text(json.dumps([{"plugin": "acme.glow", "versions": ["1.0.0"], "reason": "broken"}]))
    publisher.build()
    add_index(layout, server.url())
    (publisher.folder / "index.json").write_bytes(old_copy)  # a mirror replays the old index
    catalogue = load_catalogue(layout)
    assert catalogue.indexes == [] and "older" in catalogue.refused[0]


# --------------------------------------------------------------------------- transfers


def test_a_server_that_stalls_mid_download_times_out_and_the_next_try_resumes(tmp_path, layout, publisher, server):
    folder = small_plugin(tmp_path, "acme.heavy")
    (folder / "heavy" / "weights.bin").write_bytes(os.urandom(300_000))  # incompressible
    archive = publisher.add(folder)
    publisher.build()
    add_index(layout, server.url())
    server.stall_after[archive.name] = 100_000
    server.stall_times[archive.name] = 1
    limits = TransferLimits(max_bytes=2**30, stall_timeout=1.0)

    started = time.monotonic()
    with pytest.raises(DownloadError, match=r"stopped sending after 97.7 KiB of .* run the command again to resume"):
        install_by_name(layout, "acme.heavy", limits=limits)
    assert time.monotonic() - started < 10
    part = downloads_dir(layout) / f"{archive.name}.part"
    assert part.stat().st_size == 100_000
    assert [p.name for p in layout.plugins_dir.iterdir() if p.name != ".install.lock"] == []

    install_by_name(layout, "acme.heavy", limits=limits)
    assert server.requests[-1] == (archive.name, "bytes=100000-")
    assert managed_plugins(layout) == {"acme.heavy": "1.0.0"}
    assert left_behind(layout) == ["acme.heavy"]


def test_a_server_that_ignores_range_restarts_the_download_cleanly(tmp_path, layout, publisher, server):
    archive = publisher.add(small_plugin(tmp_path, "acme.glow"))
    publisher.build()
    part = layout.cache_dir / "plugin-downloads" / f"{archive.name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale garbage from an earlier try")
    server.ignore_range = True
    add_index(layout, server.url())
    install_by_name(layout, "acme.glow")
    assert managed_plugins(layout) == {"acme.glow": "1.0.0"}
    assert server.requests[-1] == (archive.name, f"bytes={len(b'stale garbage from an earlier try')}-")


def test_an_index_larger_than_the_limit_is_refused(tmp_path, layout, publisher, server):
    publisher.add(small_plugin(tmp_path, "acme.glow"))
    publisher.build()
    with pytest.raises(DownloadError, match=r"larger than the limit of 1.0 KiB; refused"):
        add_index(layout, server.url(), limits=TransferLimits(max_bytes=1024))
    assert TrustStore.load(layout).indexes == []
    # With the default limit (8 MiB), a 9 MiB "index" is refused by its Content-Length.
    (publisher.folder / "huge.json").write_bytes(b" " * (9 * 2**20))
    with pytest.raises(DownloadError, match=r"is 9.0 MiB, larger than the limit of 8.0 MiB"):
        add_index(layout, server.url("huge.json"))


def test_a_download_that_sends_more_than_the_signed_size_is_cut_off(tmp_path, server, publisher):
    (publisher.folder / "blob.zip").write_bytes(b"x" * 5000)
    with pytest.raises(IntegrityError, match="sends 4.9 KiB, but the signed index says the archive has 100 bytes"):
        download_file(server.url("blob.zip"), tmp_path / "blob.zip", size=100, limits=TransferLimits(max_bytes=2**20))
    assert list(tmp_path.glob("blob.zip*")) == []


def test_plain_http_is_allowed_only_on_loopback():
    check_url("https://plugins.example.org/index.json")
    check_url("http://127.0.0.1:8000/index.json")
    check_url("http://localhost/index.json")
    for url in ("http://plugins.example.org/index.json", "http://192.168.1.5/index.json", "ftp://example.org/x", "file:///etc/passwd"):
        with pytest.raises(DownloadError):
            check_url(url)


def test_a_folder_index_works_without_a_server(tmp_path, layout, publisher):
    publisher.add(small_plugin(tmp_path, "acme.glow"))
    publisher.build()
    add_index(layout, str(publisher.folder))
    install_by_name(layout, "acme.glow")
    assert managed_plugins(layout) == {"acme.glow": "1.0.0"}


def test_a_web_index_cannot_point_at_files_on_this_computer(tmp_path, layout, publisher, server):
    from studio.plugins.index.download import resolve_location

    with pytest.raises(DownloadError, match="can only name https:// archives"):
        resolve_location(server.url(), "file:///etc/passwd")
    with pytest.raises(DownloadError, match="must lie inside that folder"):
        resolve_location(str(publisher.folder / "index.json"), "../outside.zip")
    assert resolve_location(server.url(), "sub/a.zip") == server.base + "sub/a.zip"


def test_categories_are_the_roles_a_manifest_declares_else_its_generator_kinds(tmp_path):
    from studio.plugins.index.publish import _roles_and_kinds
    from studio.plugins.manifest import read_manifest

    folder = small_plugin(tmp_path, "acme.glow")
    assert _roles_and_kinds(read_manifest(folder)) == ([], ["image"])
    toml = folder / "plugin.toml"  # [[generators.roles]] after the params still belong to the generator
    toml.write_text(
        toml.read_text(encoding="utf-8")
        + '\n[[generators.roles]]\nrole = "image.from_text"\n\n[[generators.roles]]\nrole = "image.inpaint"\n',
        encoding="utf-8",
    )
    assert _roles_and_kinds(read_manifest(folder)) == (["image.from_text", "image.inpaint"], ["image"])
