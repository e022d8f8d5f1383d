"""The plugin manager dialog: shows state and permissions, installs with a confirmation, manages."""

from __future__ import annotations

import os
import threading

os.environ["QT_QPA_PLATFORM"] = "offscreen"

import pytest  # noqa: E402

pytest.importorskip("PySide6")

from community_helpers import REGULAR, make_plugin, zip_folder  # noqa: E402

from studio.core.paths import HomeLayout  # noqa: E402
from studio.core.settings import load_settings  # noqa: E402
from studio.engine.protocol import Catalogue, PluginEntry  # noqa: E402
from studio.plugins.install import install, plan_install  # noqa: E402
from studio.ui.qt_compat import guard_singleton_refcounts  # noqa: E402

guard_singleton_refcounts()

from studio.ui.plugin_manager import COLUMNS, PluginManagerDialog, describe_plan  # noqa: E402


def install_plugin(home, tmp_path, **plugin):
    name = f"{plugin.get('plugin_id', 'acme.thing')}-{plugin.get('version', '1.0.0')}"
    archive = zip_folder(make_plugin(tmp_path / name, **plugin), tmp_path / f"{name}.zip")
    layout = HomeLayout(home)
    return install(plan_install(archive, layout=layout), trial=False)


def cell(dialog, plugin_id, column):
    for index in range(dialog.table.rowCount()):
        if dialog.table.item(index, COLUMNS.index("Id")).text() == plugin_id:
            return dialog.table.item(index, COLUMNS.index(column)).text()
    return None


@pytest.fixture
def dialog_for(qtbot):
    def make(source):
        dialog = PluginManagerDialog(source, None)
        qtbot.addWidget(dialog)
        dialog.show_error = lambda title, text: dialog.errors.append(text)
        dialog.errors = []
        return dialog

    return make


def test_lists_every_plugin_with_its_state_source_and_permissions(tmp_path, home, dialog_for):
    install_plugin(home, tmp_path, plugin_id="acme.net", permissions=["network"])
    dialog = dialog_for(home)
    assert cell(dialog, "acme.net", "State") == "enabled"
    assert cell(dialog, "acme.net", "Source") == "user"
    assert cell(dialog, "acme.net", "Permissions") == "network"
    assert cell(dialog, "studio.patterns", "Source") == "first-party"
    dialog.select("acme.net")
    details = dialog.details.toPlainText()
    assert "network: connect to other computers" in details
    assert "SHA-256" in details
    dialog.select("studio.patterns")
    assert not dialog.remove_button.isEnabled() and not dialog.rollback_button.isEnabled()


def test_install_from_an_archive_asks_with_the_manifest_facts_then_installs(qtbot, tmp_path, home, dialog_for):
    archive = zip_folder(make_plugin(tmp_path / "src", plugin_id="acme.net", permissions=["network"]), tmp_path / "net.zip")
    dialog = dialog_for(home)
    asked = []
    dialog.confirm_install = lambda plan: asked.append(plan) or True
    with qtbot.waitSignal(dialog.install_finished, timeout=120_000) as finished:
        assert dialog.install_archive(archive)
    assert finished.args[0] is True, finished.args[1]
    text = describe_plan(asked[0])
    assert "This plugin asks to" in text and "network" in text and asked[0].archive.sha256 in text
    assert "not a sandbox" in text
    assert cell(dialog, "acme.net", "Version") == "1.0.0"
    assert "Changes take effect when the engine restarts." in dialog.banner.text()


def test_declining_the_confirmation_installs_nothing(tmp_path, home, dialog_for):
    archive = zip_folder(make_plugin(tmp_path / "src"), tmp_path / "p.zip")
    dialog = dialog_for(home)
    dialog.confirm_install = lambda plan: False
    assert dialog.install_archive(archive) is False
    assert not (HomeLayout(home).plugins_dir / "acme.thing").exists()
    assert cell(dialog, "acme.thing", "State") is None


def test_a_refused_archive_is_explained_and_nothing_is_asked(tmp_path, home, dialog_for):
    archive = zip_folder(make_plugin(tmp_path / "src"), tmp_path / "p.zip", extra=[("../evil.py", b"", REGULAR)])
    dialog = dialog_for(home)
    dialog.confirm_install = lambda plan: pytest.fail("a refused archive must not reach the confirmation")
    assert dialog.install_archive(archive) is False
    assert "'..'" in dialog.errors[0]


def test_enable_disable_rollback_and_remove_from_the_dialog(tmp_path, home, dialog_for):
    install_plugin(home, tmp_path, version="1.0.0")
    install_plugin(home, tmp_path, version="1.1.0")
    dialog = dialog_for(home)
    dialog.confirm = lambda title, text: True
    dialog.select("acme.thing")
    assert dialog.rollback_button.isEnabled()
    dialog.rollback_button.click()
    assert cell(dialog, "acme.thing", "Version") == "1.0.0"

    assert dialog.toggle_button.text() == "Disable"
    dialog.toggle_button.click()
    assert load_settings(HomeLayout(home)).disabled_plugins == ["acme.thing"]
    assert cell(dialog, "acme.thing", "State") == "disabled"
    assert dialog.toggle_button.text() == "Enable"
    dialog.toggle_button.click()
    assert cell(dialog, "acme.thing", "State") == "enabled"

    dialog.remove_button.click()
    assert cell(dialog, "acme.thing", "State") is None
    assert not (HomeLayout(home).plugins_dir / "acme.thing").exists()
    assert dialog.errors == []


def test_safe_mode_is_shown(tmp_path, home, qtbot):
    install_plugin(home, tmp_path)
    dialog = PluginManagerDialog(home, None, safe_mode=True)
    qtbot.addWidget(dialog)
    assert cell(dialog, "acme.thing", "State") == "disabled (safe mode)"
    assert "Safe mode" in dialog.banner.text()


class FakeClient:
    """Stands in for an EngineClient: reports a load failure, records a shutdown."""

    def __init__(self, home):
        self.home = home
        self.shut_down = threading.Event()

    def plugins(self) -> Catalogue:
        failed = PluginEntry(id="acme.thing", state="failed", error="ImportError: no module named wobble", traceback="Traceback ...")
        return Catalogue(plugins=[failed])

    def shutdown(self):
        self.shut_down.set()


def test_shows_the_engines_load_failures_and_restarts_the_engine_after_changes(qtbot, tmp_path, home, dialog_for):
    install_plugin(home, tmp_path)
    client = FakeClient(home)
    dialog = dialog_for(client)
    qtbot.waitUntil(lambda: cell(dialog, "acme.thing", "State") == "failed", timeout=5000)
    dialog.select("acme.thing")
    assert "no module named wobble" in dialog.details.toPlainText()
    assert not dialog.restart_button.isEnabled()
    dialog.confirm = lambda title, text: True
    dialog.toggle_button.click()
    assert dialog.restart_button.isEnabled()
    dialog.restart_button.click()
    assert client.shut_down.wait(5)
