"""A community plugin's folders are on sys.path only while its code runs, behind the studio's own."""

from __future__ import annotations

import sys

import pytest
from community_helpers import make_plugin

from studio.engine.config import EngineConfig
from studio.engine.plugin_host import PluginUnavailable
from studio.engine.runner import LocalRunner

RECORD_PATH = """
import sys
import pathpkg_lazy  # a module of the plugin imported only when it generates
ctx.log(repr(sys.path[-2:]))
"""


def test_plugin_folders_are_on_sys_path_only_while_the_plugin_runs_and_after_the_studios(tmp_path, home):
    folder = make_plugin(tmp_path / "pathplug", plugin_id="acme.pathplug", package="pathpkg", generators={"acme.pathplug": RECORD_PATH})
    (folder / "pathpkg_lazy.py").write_text("VALUE = 1\n")
    (folder / "deps").mkdir()
    runner = LocalRunner(EngineConfig(home=home, plugin_dirs=[folder], include_first_party=False, device="cpu"))
    before = list(sys.path)

    result = runner.run("acme.pathplug", {}, 1)

    # Appended, after the studio's own entries: a plugin cannot shadow a module the studio has.
    assert result.logs == [repr([str(folder.resolve()), str((folder / "deps").resolve())])]
    assert sys.path == before
    assert "pathpkg_lazy" in sys.modules  # imported modules stay: sys.modules is shared


def test_a_package_name_already_loaded_from_another_folder_is_refused_not_reused(tmp_path, home):
    first = make_plugin(tmp_path / "first", plugin_id="acme.first", package="samename")
    second = make_plugin(tmp_path / "second", plugin_id="acme.second", package="samename")
    LocalRunner(EngineConfig(home=home, plugin_dirs=[first], include_first_party=False, device="cpu")).run("acme.first", {}, 1)
    runner = LocalRunner(EngineConfig(home=home, plugin_dirs=[second], include_first_party=False, device="cpu"))
    with pytest.raises(PluginUnavailable, match="package 'samename' is already loaded from .*first.*rename one of them"):
        runner.run("acme.second", {}, 1)
