"""The plugin manager: every plugin with its state and permissions; install, enable, disable,
remove and roll back; a Browse tab (``studio.ui.plugin_browser``) finds plugins in the signed
indexes, and versions an index withdrew are flagged with a one-click "Disable withdrawn".

It works on the plugins folder of the studio home, through ``studio.plugins.install`` (the
same code as ``python main.py plugins …``), so it needs no running engine; when it has one
(an ``EngineLink`` or ``EngineClient``) it also shows the engine's load failures and offers to
restart the engine so that changes take effect. Installing reads the archive's manifest
without running any plugin code and asks the user to confirm what they are installing — the
plugin's identity, its declared permissions, its dependencies and the archive's SHA-256 —
then installs on a background thread. Qt only: no torch, no plugin code in this process.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import StudioError
from studio.core.paths import HomeLayout, studio_home
from studio.core.settings import load_settings, save_settings
from studio.engine.protocol import Catalogue, PluginEntry
from studio.plugins import install as installer
from studio.ui.plugin_browser import PluginBrowser, WithdrawnBar
from studio.ui.plugin_plan_text import describe_plan  # noqa: F401 (re-exported)
from studio.ui.table_details import table_with_details

COLUMNS = ("Plugin", "Id", "Version", "State", "Source", "Permissions")
ARCHIVE_SUFFIXES = (".zip", ".whl")
_DANGER = "#e5534b"
_MUTED = "#8c9099"


class _InstallThread(QThread):
    """Runs a confirmed install off the GUI thread (pip and the trial import take seconds)."""

    step = Signal(str)
    succeeded = Signal(str)
    failed = Signal(str)

    def __init__(self, plan: installer.InstallPlan, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.plan = plan

    def run(self) -> None:
        try:
            result = installer.install(self.plan, step=self.step.emit)
        except StudioError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # an unexpected failure is still a message, never a crash
            self.failed.emit(f"{type(exc).__name__}: {exc}")
            return
        if result.previous_version:
            self.succeeded.emit(
                f"Upgraded {result.manifest.plugin.id} from {result.previous_version} to {result.manifest.plugin.version} (the old version is kept for rollback)."
            )
        else:
            self.succeeded.emit(f"Installed {result.manifest.plugin.id} {result.manifest.plugin.version}.")


class PluginManagerDialog(QDialog):
    """Lists plugins and manages them. ``client_or_home``: an EngineLink, EngineClient or a home folder."""

    plugins_changed = Signal()  # something on disk changed (install, remove, enable, ...)
    install_finished = Signal(bool, str)  # ok, message
    _live_failures = Signal(object)  # Catalogue

    def __init__(self, client_or_home: Any = None, parent: QWidget | None = None, *, safe_mode: bool | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Plugins")
        self.setObjectName("plugin-manager")
        self.resize(980, 600)
        self.setAcceptDrops(True)
        self._source = client_or_home
        self.home = self._home_of(client_or_home)
        self.layout_ = HomeLayout(self.home)
        self.safe_mode = bool(safe_mode if safe_mode is not None else getattr(client_or_home, "safe_mode", False))
        self.rows: list[dict[str, Any]] = []
        self._failures: dict[str, PluginEntry] = {}
        self._thread: _InstallThread | None = None
        self._pending_restart = False
        self._build()
        self._live_failures.connect(self._merge_failures)
        self.refresh()
        self._fetch_live_failures()

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        self.banner = QLabel()
        self.banner.setObjectName("muted")
        self.banner.setWordWrap(True)
        outer.addWidget(self.banner)
        self.withdrawn_bar = WithdrawnBar()
        self.withdrawn_bar.disable_clicked.connect(self.disable_withdrawn)
        outer.addWidget(self.withdrawn_bar)

        splitter, self.table, self.details = table_with_details(COLUMNS, "plugin", self._show_selected)
        self.tabs = QTabWidget()
        self.tabs.addTab(splitter, "Installed")
        self.browser = PluginBrowser(self.layout_, self)
        self.browser.plugins_changed.connect(lambda: self._changed(self.browser.status.text()))
        self.browser.install_finished.connect(self.install_finished)
        self.browser.catalogue_loaded.connect(self._update_withdrawn)
        self.tabs.addTab(self.browser, "Browse")
        # The indexes are fetched (on a worker thread) only once someone looks at them.
        self.tabs.currentChanged.connect(lambda index: index == 1 and not self.browser.fetched and self.browser.refresh())
        self.finished.connect(lambda _result: self.browser.wait_for_threads())
        outer.addWidget(self.tabs, 1)

        self.status = QLabel()
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        outer.addWidget(self.status)

        buttons = QHBoxLayout()
        self.install_button = QPushButton("Install from archive…")
        self.install_button.setObjectName("primary")
        self.install_button.clicked.connect(self.choose_archive)
        self.toggle_button = QPushButton("Disable")
        self.toggle_button.clicked.connect(self._toggle_selected)
        self.rollback_button = QPushButton("Roll back")
        self.rollback_button.clicked.connect(lambda: self._act_on_selected(self.rollback_plugin))
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("danger")
        self.remove_button.clicked.connect(lambda: self._act_on_selected(self.remove_plugin))
        self.restart_button = QPushButton("Restart engine")
        self.restart_button.setToolTip("Changes to plugins take effect when the engine restarts; running jobs are cancelled.")
        self.restart_button.clicked.connect(self.restart_engine)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        for button in (self.install_button, self.toggle_button, self.rollback_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        for button in (self.restart_button, self.refresh_button, close):
            buttons.addWidget(button)
        outer.addLayout(buttons)

    def _update_withdrawn(self) -> None:
        """Installed versions an index withdrew (from the indexes already read: no network)."""
        disabled = set(load_settings(self.layout_).disabled_plugins)
        self.withdrawn_bar.show_flagged([item for item in self.browser.withdrawn() if item.plugin_id not in disabled])

    def disable_withdrawn(self) -> list[str]:
        """One click: disable every installed plugin whose version was withdrawn."""
        ids = sorted({item.plugin_id for item in self.browser.withdrawn()})
        if ids:
            settings = load_settings(self.layout_)
            settings.disabled_plugins = sorted(set(settings.disabled_plugins) | set(ids))
            save_settings(self.layout_, settings)
            self._changed(f"Disabled {', '.join(ids)} (withdrawn by their publisher).")
        return ids

    # ------------------------------------------------------------------ data

    @staticmethod
    def _home_of(source: Any) -> Path:
        if isinstance(source, (str, Path)):
            return Path(source)
        home = getattr(source, "home", None)
        return Path(home) if home is not None else studio_home()

    def _engine_client(self) -> Any:
        """The EngineClient behind the source, if there is one connected."""
        if hasattr(self._source, "plugins") and callable(self._source.plugins):
            return self._source
        return getattr(self._source, "client", None)

    def refresh(self) -> None:
        """Re-read the plugins folder (and keep the engine's load failures)."""
        selected = self.selected_id()
        self.rows = installer.plugin_rows(self.layout_, safe_mode=self.safe_mode)
        for row in self.rows:
            failure = self._failures.get(row["id"])
            if failure and row["state"] == "enabled":
                row.update(state="failed", error=failure.error, traceback=failure.traceback)
        self._fill_table()
        if selected:
            self.select(selected)
        elif self.rows:
            self.table.selectRow(0)
        self._update_banner()
        self._show_selected()
        self._update_withdrawn()

    def _fetch_live_failures(self) -> None:
        link_call = getattr(self._source, "call", None)
        if callable(link_call):  # an EngineLink: its pool, its GUI-thread callback
            link_call(lambda client: client.plugins(), self._merge_failures, None)
            return
        client = self._engine_client()
        if client is None:
            return

        def fetch() -> None:
            try:
                self._live_failures.emit(client.plugins())
            except Exception:  # no engine, or it went away: the disk view stands alone
                pass

        threading.Thread(target=fetch, name="plugin-manager-fetch", daemon=True).start()

    @Slot(object)
    def _merge_failures(self, catalogue: Catalogue) -> None:
        self._failures = {row.id: row for row in catalogue.plugins if row.state == "failed"}
        if self._failures:
            self.refresh()

    def _fill_table(self) -> None:
        self.table.setRowCount(len(self.rows))
        for index, row in enumerate(self.rows):
            state = row["state"]
            if state == "disabled" and "safe mode" in row.get("error", ""):
                state = "disabled (safe mode)"
            permissions = ", ".join(row.get("permissions") or []) or "none"
            values = (row.get("name") or row["id"], row["id"], row.get("version") or "-", state, row["source"], permissions)
            for column, value in enumerate(values):
                item = QTableWidgetItem(str(value))
                item.setData(Qt.ItemDataRole.UserRole, row["id"])
                if row["state"] in ("failed", "incompatible"):
                    item.setForeground(QColor(_DANGER))
                elif row["state"] == "disabled":
                    item.setForeground(QColor(_MUTED))
                self.table.setItem(index, column, item)

    def _update_banner(self) -> None:
        parts = []
        if self.safe_mode:
            parts.append("Safe mode: every community plugin is off until the studio starts normally.")
        parts.append(f"Plugins folder: {self.layout_.plugins_dir}")
        if self._pending_restart:
            parts.append("Changes take effect when the engine restarts.")
        self.banner.setText("  ".join(parts))
        self.restart_button.setEnabled(self._pending_restart and self._engine_client() is not None)

    # ------------------------------------------------------------------ selection

    def selected_id(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def row(self, plugin_id: str) -> dict[str, Any] | None:
        return next((row for row in self.rows if row["id"] == plugin_id), None)

    def select(self, plugin_id: str) -> bool:
        for index, row in enumerate(self.rows):
            if row["id"] == plugin_id:
                self.table.selectRow(index)
                return True
        return False

    def _show_selected(self) -> None:
        row = self.row(self.selected_id() or "")
        if row is None:
            self.details.setHtml("<p>Select a plugin.</p>")
            for button in (self.toggle_button, self.rollback_button, self.remove_button):
                button.setEnabled(False)
            return
        disabled_by_user = row["id"] in load_settings(self.layout_).disabled_plugins
        self.toggle_button.setText("Enable" if disabled_by_user else "Disable")
        self.toggle_button.setEnabled(row.get("version", "") != "")
        self.rollback_button.setEnabled(bool(row.get("can_rollback")))
        self.rollback_button.setToolTip(f"Go back to version {row['previous']}" if row.get("previous") else "No previous version is kept")
        self.remove_button.setEnabled(bool(row.get("removable")))
        self.details.setHtml(describe_row(row))

    # ------------------------------------------------------------------ actions

    def _act_on_selected(self, action: Any) -> None:
        plugin_id = self.selected_id()
        if plugin_id:
            action(plugin_id)

    def _toggle_selected(self) -> None:
        plugin_id = self.selected_id()
        if plugin_id:
            disabled = plugin_id in load_settings(self.layout_).disabled_plugins
            self.set_enabled(plugin_id, disabled)

    def set_enabled(self, plugin_id: str, enabled: bool) -> None:
        settings = load_settings(self.layout_)
        disabled = [item for item in settings.disabled_plugins if item != plugin_id]
        if not enabled:
            disabled.append(plugin_id)
        settings.disabled_plugins = disabled
        save_settings(self.layout_, settings)
        self._changed(f"{plugin_id} {'enabled' if enabled else 'disabled'}.")

    def remove_plugin(self, plugin_id: str) -> bool:
        if not self.confirm("Remove plugin", f"Remove {plugin_id} and every kept version of it? Its files are deleted."):
            return False
        try:
            path = installer.remove(plugin_id, self.layout_)
        except StudioError as exc:
            self.show_error("Not removed", str(exc))
            return False
        self._changed(f"Removed {plugin_id} ({path}).")
        return True

    def rollback_plugin(self, plugin_id: str) -> bool:
        try:
            old, new = installer.rollback(plugin_id, self.layout_)
        except StudioError as exc:
            self.show_error("Not rolled back", str(exc))
            return False
        self._changed(f"Rolled {plugin_id} back from {old} to {new}; {old} is kept.")
        return True

    def choose_archive(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(self, "Install plugin", str(Path.home()), "Plugin archives (*.zip *.whl)")
        if path:
            self.install_archive(Path(path))

    def install_archive(self, path: Path, sha256: str | None = None) -> bool:
        """Check an archive, ask the user, then install in the background; False if not started."""
        if self._thread is not None and self._thread.isRunning():
            self.show_error("Busy", "Another plugin is being installed; wait for it to finish.")
            return False
        try:
            plan = installer.plan_install(Path(path), layout=self.layout_, expected_sha256=sha256)
        except StudioError as exc:
            self.show_error("Not installed", str(exc))
            self.install_finished.emit(False, str(exc))
            return False
        if not self.confirm_install(plan):
            self.status.setText(f"{plan.manifest.plugin.id} was not installed.")
            return False
        self.install_button.setEnabled(False)
        self.status.setText(f"Installing {plan.manifest.plugin.id} {plan.manifest.plugin.version}…")
        thread = _InstallThread(plan, self)
        thread.step.connect(lambda message: self.status.setText(f"{plan.manifest.plugin.id}: {message}…"))
        thread.succeeded.connect(self._install_succeeded)
        thread.failed.connect(self._install_failed)
        self._thread = thread
        thread.start()
        return True

    @Slot(str)
    def _install_succeeded(self, message: str) -> None:
        self.install_button.setEnabled(True)
        self._changed(message)
        self.install_finished.emit(True, message)

    @Slot(str)
    def _install_failed(self, message: str) -> None:
        self.install_button.setEnabled(True)
        self.status.setText("Not installed.")
        self.show_error("Not installed", message)
        self.install_finished.emit(False, message)

    def restart_engine(self) -> None:
        """Stop the engine; the window's engine link starts a fresh one with the new plugins."""
        if not self.confirm("Restart engine", "Restart the engine now? Running and queued jobs are cancelled."):
            return
        link_call = getattr(self._source, "call", None)
        if callable(link_call):
            link_call(lambda client: client.shutdown(), None, None)
        else:
            client = self._engine_client()
            if client is not None:
                threading.Thread(target=client.shutdown, daemon=True).start()
        self._pending_restart = False
        self._update_banner()
        self.status.setText("The engine is restarting with the new plugins.")

    def _changed(self, message: str) -> None:
        self._pending_restart = True
        self.status.setText(message)
        self.refresh()
        self.plugins_changed.emit()

    # ------------------------------------------------------------------ questions (tests replace these)

    def confirm_install(self, plan: installer.InstallPlan) -> bool:
        box = QMessageBox(self)
        box.setWindowTitle(f"{plan.action.capitalize()} {plan.manifest.plugin.name}?")
        box.setIcon(QMessageBox.Icon.Question if not plan.manifest.plugin.permissions else QMessageBox.Icon.Warning)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(describe_plan(plan))
        box.setStandardButtons(QMessageBox.StandardButton.Cancel)
        install_button = box.addButton(plan.action.capitalize(), QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is install_button

    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(
            self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No
        )
        return answer == QMessageBox.StandardButton.Yes

    def show_error(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt)
        if _dropped_archive(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt)
        path = _dropped_archive(event)
        if path is not None:
            event.acceptProposedAction()
            self.install_archive(path)


def _dropped_archive(event: Any) -> Path | None:
    mime = event.mimeData()
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and url.toLocalFile().lower().endswith(ARCHIVE_SUFFIXES):
            return Path(url.toLocalFile())
    return None


# --------------------------------------------------------------------------- text


def describe_row(row: dict[str, Any]) -> str:
    """The details pane for one plugin."""
    esc = html.escape
    parts = [f"<h3>{esc(row.get('name') or row['id'])} <span style='color:{_MUTED}'>{esc(row.get('version') or '')}</span></h3>"]
    parts.append(
        f"<p><b>Id:</b> {esc(row['id'])}<br><b>Author:</b> {esc(row.get('author') or '—')}<br><b>Source:</b> {esc(row['source'])} ({esc(row.get('path', ''))})</p>"
    )
    if row.get("description"):
        parts.append(f"<p>{esc(row['description'])}</p>")
    state = row["state"]
    parts.append(f"<p><b>State:</b> {esc(state)}</p>")
    if row.get("error"):
        parts.append(f"<p style='color:{_DANGER}'>{esc(row['error'])}</p>")
    permissions = row.get("permissions") or []
    if permissions:
        items = "".join(f"<li><b>{esc(name)}</b>: {esc(row.get('permission_text', {}).get(name, name))}</li>" for name in permissions)
        parts.append(f"<p><b>Permissions</b></p><ul>{items}</ul>")
    else:
        parts.append("<p><b>Permissions:</b> none</p>")
    generators = row.get("generators") or []
    if generators:
        items = "".join(
            f"<li>{esc(g.get('name') or g['id'])} <span style='color:{_MUTED}'>({esc(g['id'])}, {esc(g.get('kind', ''))})</span></li>"
            for g in generators
        )
        parts.append(f"<p><b>Generators</b></p><ul>{items}</ul>")
    if row.get("dependencies"):
        parts.append(f"<p><b>Dependencies:</b> {esc(', '.join(row['dependencies']))}</p>")
    record = row.get("install") or {}
    if record:
        parts.append(
            f"<p><b>Installed from:</b> {esc(record.get('archive', ''))}<br><b>SHA-256:</b> <code>{esc(record.get('sha256', ''))}</code><br><b>On:</b> {esc(record.get('installed', ''))}</p>"
        )
        if record.get("installed_dependencies"):
            parts.append(f"<p><b>In its own deps/ folder:</b> {esc(', '.join(record['installed_dependencies']))}</p>")
    if row.get("previous"):
        parts.append(f"<p><b>Kept for rollback:</b> version {esc(row['previous'])}</p>")
    if row.get("traceback"):
        parts.append(f"<pre style='font-size:small'>{esc(row['traceback'])}</pre>")
    return "".join(parts)
