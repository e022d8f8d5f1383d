"""The plugin manager's Browse tab against a real index served on 127.0.0.1.

The window never waits on the network: indexes are read, archives downloaded and plugins
installed on worker threads, so the event loop keeps turning even while a server stalls.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from index_helpers import IndexServer, Publisher, small_plugin  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402

from studio.core.paths import HomeLayout  # noqa: E402
from studio.core.settings import load_settings  # noqa: E402
from studio.plugins.index.catalogue import (  # noqa: E402
    add_index,
    load_catalogue,  # noqa: E402
    managed_plugins,
)
from studio.plugins.index.fetch_install import complete_install, prepare_install  # noqa: E402
from studio.ui.plugin_browser import BROWSE_COLUMNS, withdrawn_notice  # noqa: E402
from studio.ui.plugin_manager import PluginManagerDialog  # noqa: E402


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    HomeLayout(folder).ensure()
    return folder


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    return Publisher(tmp_path / "published")


@pytest.fixture
def server(publisher: Publisher):
    with IndexServer(publisher.folder) as running:
        yield running


@pytest.fixture
def open_dialog(qtbot, home):
    def make() -> PluginManagerDialog:
        dialog = PluginManagerDialog(home, None)
        qtbot.addWidget(dialog)
        dialog.errors = []
        dialog.browser.show_error = lambda title, text: dialog.errors.append(text)
        dialog.browser.trial = False  # the trial import is the installer's, tested with it
        dialog.show()
        return dialog

    return make


def browse(qtbot, dialog: PluginManagerDialog) -> None:
    """Switch to the Browse tab and wait until the indexes were fetched in the background."""
    with qtbot.waitSignal(dialog.browser.catalogue_loaded, timeout=30_000):
        dialog.tabs.setCurrentIndex(1)


def cell(browser, plugin_id: str, column: str) -> str | None:
    for row in range(browser.table.rowCount()):
        if browser.table.item(row, BROWSE_COLUMNS.index("Id")).text() == plugin_id:
            return browser.table.item(row, BROWSE_COLUMNS.index(column)).text()
    return None


def test_browse_searches_filters_by_category_and_shows_permissions_and_author_before_install(
    tmp_path, home, publisher, server, qtbot, open_dialog
):
    publisher.add(small_plugin(tmp_path, "acme.glow", description="Soft bloom"))
    publisher.add(small_plugin(tmp_path, "acme.net", permissions=["network"], description="Fetches palettes from the web"))
    publisher.build()
    add_index(HomeLayout(home), server.url())
    dialog = open_dialog()
    browse(qtbot, dialog)
    browser = dialog.browser
    assert browser.table.rowCount() == 2
    assert [browser.category.itemText(i) for i in range(browser.category.count())] == ["All categories", "image"]

    browser.search.setText("palettes")
    assert browser.table.rowCount() == 1 and cell(browser, "acme.net", "Permissions") == "network"
    assert cell(browser, "acme.net", "Author") == "Tests"
    details = browser.details.toPlainText()
    assert "This plugin asks to:" in details and "network: connect to other computers" in details
    assert publisher.key.public.fingerprint in details  # the author's key, before anything is installed
    assert browser.install_button.text() == "Install" and browser.install_button.isEnabled()

    browser.search.setText("")
    browser.category.setCurrentText("image")
    assert browser.table.rowCount() == 2


def test_install_from_browse_confirms_the_facts_then_installs_in_the_background(tmp_path, home, publisher, server, qtbot, open_dialog):
    publisher.add(small_plugin(tmp_path, "acme.net", permissions=["network"]))
    publisher.build()
    add_index(HomeLayout(home), server.url())
    dialog = open_dialog()
    browse(qtbot, dialog)
    asked = []
    dialog.browser.confirm_install = lambda indexed: asked.append(indexed) or True
    dialog.browser.select("acme.net")
    with qtbot.waitSignal(dialog.install_finished, timeout=60_000) as finished:
        assert dialog.browser.install_selected()
    assert finished.args[0] is True, finished.args[1]
    facts = dict(asked[0].facts())
    assert facts["permissions"].startswith("network") and publisher.key.public.fingerprint in facts["author key"]
    assert managed_plugins(HomeLayout(home)) == {"acme.net": "1.0.0"}
    assert cell(dialog.browser, "acme.net", "Status") == "installed (1.0.0)"
    assert dialog.select("acme.net")  # the Installed tab lists it
    assert "Changes take effect when the engine restarts." in dialog.banner.text()


def test_declining_the_confirmation_installs_nothing_and_keeps_no_download(tmp_path, home, publisher, server, qtbot, open_dialog):
    publisher.add(small_plugin(tmp_path, "acme.glow"))
    publisher.build()
    add_index(HomeLayout(home), server.url())
    dialog = open_dialog()
    browse(qtbot, dialog)
    declined = []
    dialog.browser.confirm_install = lambda indexed: declined.append(indexed) or False
    dialog.browser.install("acme.glow")
    qtbot.waitUntil(lambda: bool(declined), timeout=30_000)
    assert managed_plugins(HomeLayout(home)) == {}
    assert list((home / "cache" / "plugin-downloads").iterdir()) == []
    assert "was not installed" in dialog.browser.status.text()


def test_an_available_update_is_badged_and_installed_by_the_update_button(tmp_path, home, publisher, server, qtbot, open_dialog):
    layout = HomeLayout(home)
    publisher.add(small_plugin(tmp_path, "acme.glow", "1.0.0"))
    publisher.build()
    add_index(layout, server.url())
    complete_install(prepare_install(layout, "acme.glow", load_catalogue(layout)), trial=False)
    publisher.add(small_plugin(tmp_path, "acme.glow", "1.2.0"))
    publisher.build()
    dialog = open_dialog()
    browse(qtbot, dialog)
    browser = dialog.browser
    assert cell(browser, "acme.glow", "Status") == "update available (1.0.0 → 1.2.0)"
    browser.select("acme.glow")
    assert browser.install_button.text() == "Update to 1.2.0"
    browser.confirm_install = lambda indexed: True
    with qtbot.waitSignal(dialog.install_finished, timeout=60_000) as finished:
        browser.install_button.click()
    assert finished.args[0] is True and "Updated acme.glow from 1.0.0 to 1.2.0" in finished.args[1]
    assert cell(browser, "acme.glow", "Status") == "installed (1.2.0)"
    assert not browser.install_button.isEnabled()


def test_the_window_keeps_working_while_a_download_stalls_and_the_stall_is_reported(tmp_path, home, publisher, server, qtbot, open_dialog):
    folder = small_plugin(tmp_path, "acme.heavy")
    (folder / "heavy" / "weights.bin").write_bytes(bytes(range(256)) * 1000)
    archive = publisher.add(folder)
    publisher.build()
    add_index(HomeLayout(home), server.url())
    server.stall_after[archive.name] = 2000
    dialog = open_dialog()
    browse(qtbot, dialog)
    dialog.browser.stall_timeout = 1.5
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    with qtbot.waitSignal(dialog.install_finished, timeout=30_000) as finished:
        assert dialog.browser.install("acme.heavy")
        assert dialog.browser.progress.isVisible()
    timer.stop()
    assert len(ticks) >= 20  # the event loop ran throughout the ~1.5 s stall
    assert finished.args[0] is False and "stopped sending" in finished.args[1]
    assert dialog.errors and "run the command again to resume" in dialog.errors[-1]
    assert managed_plugins(HomeLayout(home)) == {}
    assert not (home / "plugins" / "acme.heavy").exists()


def test_a_withdrawn_installed_version_is_flagged_and_disabled_in_one_click(tmp_path, home, publisher, server, qtbot, open_dialog):
    layout = HomeLayout(home)
    publisher.add(small_plugin(tmp_path, "acme.glow", "1.0.0"))
    publisher.build()
    add_index(layout, server.url())
    complete_install(prepare_install(layout, "acme.glow", load_catalogue(layout)), trial=False)
    (publisher.folder / "advisories.json").write_text(
        json.dumps([{"plugin": "acme.glow", "versions": ["1.0.0"], "reason": "leaks your prompts"}])
    )
    publisher.build()
    load_catalogue(layout)  # a refresh (the CLI, or the Browse tab) updates the cached copy

    assert "acme.glow 1.0.0 was withdrawn by Test index: leaks your prompts" in withdrawn_notice(layout)  # start-up, no network
    dialog = open_dialog()
    assert dialog.withdrawn_bar.isVisibleTo(dialog)
    assert "leaks your prompts" in dialog.withdrawn_bar.label.text()
    dialog.withdrawn_bar.button.click()
    assert "acme.glow" in load_settings(layout).disabled_plugins
    assert not dialog.withdrawn_bar.isVisibleTo(dialog)
    browse(qtbot, dialog)
    assert cell(dialog.browser, "acme.glow", "Status") == "withdrawn (1.0.0 installed)"


def test_adding_an_index_from_the_tab_pins_its_key_and_lists_its_plugins(tmp_path, home, publisher, server, qtbot, open_dialog):
    publisher.add(small_plugin(tmp_path, "acme.glow"))
    publisher.build()
    dialog = open_dialog()
    assert "No plugin index is configured" in dialog.browser.status.text()
    with qtbot.waitSignal(dialog.browser.catalogue_loaded, timeout=30_000):
        assert dialog.browser.add_index(server.url())
    assert cell(dialog.browser, "acme.glow", "Version") == "1.0.0"
    assert not dialog.browser.add_index("http://10.9.8.7/index.json")
    assert "only on this computer" in dialog.errors[-1]


def test_the_main_window_flags_a_withdrawn_plugin_at_start_up(tmp_path, studio_home, publisher, server, make_window):
    layout = HomeLayout(studio_home)
    layout.ensure()
    publisher.add(small_plugin(tmp_path, "acme.glow", "1.0.0"))
    publisher.build()
    add_index(layout, server.url())
    complete_install(prepare_install(layout, "acme.glow", load_catalogue(layout)), trial=False)
    (publisher.folder / "advisories.json").write_text(
        json.dumps([{"plugin": "acme.glow", "versions": ["1.0.0"], "reason": "crashes on large images"}])
    )
    publisher.build()
    load_catalogue(layout)
    server.httpd.shutdown()  # start-up reads the cached copy: the server is not asked again
    served = len(server.requests)
    window = make_window(engine=False)
    assert "acme.glow 1.0.0 was withdrawn by Test index: crashes on large images" in window.statusBar().currentMessage()
    assert "Disable withdrawn" in window.withdrawn_notice
    assert len(server.requests) == served


def test_categories_are_roles_when_the_index_lists_them(tmp_path, home, publisher, server, qtbot, open_dialog):
    from studio.plugins.index.signing import canonical_json

    publisher.add(small_plugin(tmp_path, "acme.fill"))
    publisher.add(small_plugin(tmp_path, "acme.glow"))
    path = publisher.build()
    document = json.loads(path.read_text())
    document["signed"]["plugins"][0]["roles"] = ["image.inpaint", "image.outpaint"]  # acme.fill
    document["signature"] = publisher.key.sign(canonical_json(document["signed"]))
    path.write_text(json.dumps(document))
    add_index(HomeLayout(home), server.url())
    dialog = open_dialog()
    browse(qtbot, dialog)
    browser = dialog.browser
    assert [browser.category.itemText(i) for i in range(browser.category.count())] == [
        "All categories",
        "image",
        "image.inpaint",
        "image.outpaint",
    ]
    browser.category.setCurrentText("image.inpaint")
    assert browser.table.rowCount() == 1 and cell(browser, "acme.fill", "Id") == "acme.fill"
    browser.category.setCurrentText("image")  # acme.glow has no roles: filed under its kind
    assert browser.table.rowCount() == 1 and cell(browser, "acme.glow", "Id") == "acme.glow"
