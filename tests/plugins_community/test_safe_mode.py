"""Safe mode: the studio starts with every community plugin off, first-party plugins on."""

from __future__ import annotations

import json

import pytest
from community_helpers import stop_engine, studio

from studio.core.paths import HomeLayout
from studio.core.settings import load_settings
from studio.engine.config import EngineConfig
from studio.engine.plugin_host import PluginHost, PluginUnavailable


def test_safe_mode_turns_community_plugins_off_and_leaves_first_party_ones_on(tmp_path, home, example_archives, input_png):
    assert studio(home, "plugins", "install", str(example_archives["1.0.0"]), "--yes").returncode == 0
    try:
        listed = studio(home, "--safe-mode", "plugins", "list", "--json")
        rows = {row["id"]: row for row in json.loads(listed.stdout)}
        assert rows["examples.pixelsort"]["state"] == "disabled"
        assert "safe mode" in rows["examples.pixelsort"]["error"]
        assert rows["studio.patterns"]["state"] == "enabled"

        # An engine started in safe mode refuses the community generator, with the reason ...
        result = studio(
            home, "--safe-mode", "generate", "examples.pixelsort", "-p", f"image=@{input_png}", "--out", str(tmp_path / "x.png")
        )
        assert result.returncode == 1
        assert "safe mode: community plugins are off" in result.stderr
        # ... and still runs first-party ones.
        result = studio(
            home, "--safe-mode", "generate", "studio.patterns", "-p", "width=32", "-p", "height=32", "--out", str(tmp_path / "p.png")
        )
        assert result.returncode == 0, result.stderr
    finally:
        stop_engine(home)
    # Safe mode is for this start only: nothing was disabled for good.
    assert load_settings(HomeLayout(home)).disabled_plugins == []
    rows = {row["id"]: row for row in json.loads(studio(home, "plugins", "list", "--json").stdout)}
    assert rows["examples.pixelsort"]["state"] == "enabled"


def test_the_plugin_host_in_safe_mode_never_imports_community_code(tmp_path, home, example_archives):
    from studio.plugins.install import install, plan_install

    layout = HomeLayout(home)
    install(plan_install(example_archives["1.0.0"], layout=layout, plugin_folders=[(layout.plugins_dir, "user")]), trial=False)
    host = PluginHost(EngineConfig(home=home, safe_mode=True))
    with pytest.raises(PluginUnavailable, match="safe mode"):
        host.get("examples.pixelsort")
    assert host.get("studio.patterns").instance is not None
