"""The plugin manager's Browse tab: find plugins in the signed indexes, install and update them.

Everything that touches the network or the disk at length runs on a ``QThread``: reading the
indexes, the download with its checks (``prepare_install``) and the install itself
(``complete_install``: the ordinary installer with its trial import). The GUI thread only
reads the verified copies of the indexes kept in the cache (a few small files) to show
something at once, then shows fresh results when the worker brings them. The user confirms
with the same facts the command line prints — the plugin's permissions first, its author
and the fingerprints of the author's and the index's keys — before anything is installed.

Categories are the roles a plugin's generators fill (``image.inpaint``, ``melody.continue``
…) when its index lists them, else its generator kinds (image, text, music, audio).
"""

from __future__ import annotations

import html

from packaging.version import InvalidVersion, Version
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import StudioError
from studio.core.paths import HomeLayout
from studio.plugins.index.catalogue import (
    Catalogue,
    Listing,
    Withdrawn,
    add_index,
    cached_catalogue,
    load_catalogue,
    managed_plugins,
    withdrawn_installed,
)
from studio.plugins.index.download import TransferLimits
from studio.plugins.index.fetch_install import ARCHIVE_LIMIT, IndexedPlan, complete_install, prepare_install
from studio.plugins.index.signing import fingerprint
from studio.plugins.install import PERMISSION_TEXT
from studio.ui.table_details import table_with_details

BROWSE_COLUMNS = ("Plugin", "Id", "Version", "Author", "Permissions", "Status")
ALL_CATEGORIES = "All categories"
_DANGER = "#e5534b"
_MUTED = "#8c9099"
_ACCENT = "#3fb950"


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, StudioError) else f"{type(exc).__name__}: {exc}"


class _CatalogueThread(QThread):
    """Fetches and verifies every configured index."""

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, layout: HomeLayout, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.layout_ = layout

    def run(self) -> None:
        try:
            self.loaded.emit(load_catalogue(self.layout_))
        except Exception as exc:  # a message in the tab, never a crash
            self.failed.emit(_message(exc))


class _PrepareThread(QThread):
    """Downloads and verifies one plugin (``prepare_install``); the user confirms afterwards."""

    progress = Signal(int, int)
    prepared = Signal(object)
    failed = Signal(str)

    def __init__(self, layout: HomeLayout, spec: str, catalogue: Catalogue, limits: TransferLimits, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.layout_, self.spec, self.catalogue, self.limits = layout, spec, catalogue, limits

    def run(self) -> None:
        try:
            indexed = prepare_install(
                self.layout_,
                self.spec,
                self.catalogue,
                limits=self.limits,
                progress=self.progress.emit,
                cancelled=self.isInterruptionRequested,
            )
        except Exception as exc:
            self.failed.emit(_message(exc))
            return
        self.prepared.emit(indexed)


class _CompleteThread(QThread):
    """Installs a confirmed plan with the ordinary installer (trial import included)."""

    step = Signal(str)
    succeeded = Signal(str)
    failed = Signal(str)

    def __init__(self, indexed: IndexedPlan, trial: bool, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.indexed, self.trial = indexed, trial

    def run(self) -> None:
        try:
            result = complete_install(self.indexed, step=self.step.emit, trial=self.trial)
        except Exception as exc:
            self.failed.emit(_message(exc))
            return
        if result.previous_version:
            self.succeeded.emit(
                f"Updated {result.manifest.plugin.id} from {result.previous_version} to {result.manifest.plugin.version} (the old version is kept for rollback)."
            )
        else:
            self.succeeded.emit(f"Installed {result.manifest.plugin.id} {result.manifest.plugin.version}.")


class PluginBrowser(QWidget):
    """Search, categories, details (permissions, author, keys) and install/update buttons."""

    catalogue_loaded = Signal()
    install_finished = Signal(bool, str)  # ok, message
    plugins_changed = Signal()

    def __init__(self, layout: HomeLayout, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("plugin-browser")
        self.layout_ = layout
        self.catalogue = Catalogue()
        self.installed: dict[str, str] = {}
        self.shown: list[Listing] = []
        self.stall_timeout = 30.0
        self.trial = True
        self.fetched = False  # fresh from the network at least once (else the cached copies)
        self._threads: list[QThread] = []
        self._busy: QThread | None = None
        self._build()
        self.show_catalogue(cached_catalogue(layout))  # the cached copies: no network on the GUI thread

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search plugins by name, description, author…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._apply_filter)
        self.category = QComboBox()
        self.category.addItem(ALL_CATEGORIES)
        self.category.currentIndexChanged.connect(self._apply_filter)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Fetch the configured indexes again")
        self.refresh_button.clicked.connect(self.refresh)
        self.add_index_button = QPushButton("Add index…")
        self.add_index_button.clicked.connect(self._ask_for_index)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.category)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.add_index_button)
        outer.addLayout(bar)

        splitter, self.table, self.details = table_with_details(BROWSE_COLUMNS, "plugin-browse", self._show_selected)
        outer.addWidget(splitter, 1)

        row = QHBoxLayout()
        self.status = QLabel()
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setMaximumWidth(220)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.install_button = QPushButton("Install")
        self.install_button.setObjectName("primary")
        self.install_button.clicked.connect(self.install_selected)
        row.addWidget(self.status, 1)
        row.addWidget(self.progress)
        row.addWidget(self.cancel_button)
        row.addWidget(self.install_button)
        outer.addLayout(row)

    # ------------------------------------------------------------------ data

    def refresh(self) -> None:
        """Fetch the indexes on a worker thread; the tab keeps working meanwhile."""
        if any(isinstance(thread, _CatalogueThread) and thread.isRunning() for thread in self._threads):
            return
        self.status.setText("Reading the plugin indexes…")
        self.refresh_button.setEnabled(False)
        thread = _CatalogueThread(self.layout_, self)
        thread.loaded.connect(self._catalogue_arrived)
        thread.failed.connect(self._catalogue_failed)
        self._start(thread)

    @Slot(object)
    def _catalogue_arrived(self, catalogue: Catalogue) -> None:
        self.fetched = True
        self.refresh_button.setEnabled(True)
        self.show_catalogue(catalogue)
        self.catalogue_loaded.emit()

    @Slot(str)
    def _catalogue_failed(self, message: str) -> None:
        self.refresh_button.setEnabled(True)
        self.status.setText(message)
        self.catalogue_loaded.emit()

    def show_catalogue(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.installed = managed_plugins(self.layout_)
        current = self.category.currentText()
        self.category.blockSignals(True)
        self.category.clear()
        self.category.addItem(ALL_CATEGORIES)
        self.category.addItems(catalogue.categories())
        self.category.setCurrentIndex(max(0, self.category.findText(current)))
        self.category.blockSignals(False)
        notes = catalogue.refused + catalogue.problems
        if not catalogue.indexes and not notes:
            self.status.setText("No plugin index is configured: Add index… takes the address its publisher gives.")
        else:
            count = len(catalogue.listings())
            names = ", ".join(index.name for index in catalogue.indexes) or "none readable"
            self.status.setText(f"{count} plugin(s) from {names}." + (" " + " ".join(notes) if notes else ""))
        self._apply_filter()

    def withdrawn(self) -> list[Withdrawn]:
        return withdrawn_installed(self.layout_, self.catalogue)

    def _apply_filter(self) -> None:
        selected = self.selected_id()
        category = self.category.currentText()
        category = "" if category == ALL_CATEGORIES else category
        self.shown = self.catalogue.search(self.search.text(), category)
        self.table.setRowCount(len(self.shown))
        for index, listing in enumerate(self.shown):
            entry = listing.entry
            latest = listing.latest
            permissions = ", ".join(latest.permissions) if latest and latest.permissions else "none"
            status, colour = self.badge(listing)
            values = (entry.name, entry.id, latest.version if latest else "-", entry.author, permissions, status)
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, entry.id)
                if column == BROWSE_COLUMNS.index("Permissions") and latest and latest.permissions:
                    item.setForeground(QColor(_DANGER))
                if column == BROWSE_COLUMNS.index("Status") and colour:
                    item.setForeground(QColor(colour))
                self.table.setItem(index, column, item)
        if not (selected and self.select(selected)) and self.shown:
            self.table.selectRow(0)
        self._show_selected()

    def badge(self, listing: Listing) -> tuple[str, str]:
        """The Status column: installed, update available, withdrawn."""
        installed = self.installed.get(listing.id)
        if installed is None:
            return "", ""
        advisory = listing.advisory(installed)
        if advisory is not None:
            return f"withdrawn ({installed} installed)", _DANGER
        latest = listing.latest
        if latest is not None and _newer(latest.version, installed):
            return f"update available ({installed} → {latest.version})", _ACCENT
        return f"installed ({installed})", _MUTED

    # ------------------------------------------------------------------ selection

    def selected_id(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def selected(self) -> Listing | None:
        plugin_id = self.selected_id()
        return next((listing for listing in self.shown if listing.id == plugin_id), None)

    def select(self, plugin_id: str) -> bool:
        for index, listing in enumerate(self.shown):
            if listing.id == plugin_id:
                self.table.selectRow(index)
                return True
        return False

    def _show_selected(self) -> None:
        listing = self.selected()
        busy = self._busy is not None and self._busy.isRunning()
        if listing is None:
            self.details.setHtml("<p>Select a plugin.</p>" if self.catalogue.indexes else "<p>No plugins to show.</p>")
            self.install_button.setEnabled(False)
            return
        installed = self.installed.get(listing.id)
        latest = listing.latest
        if installed is None:
            self.install_button.setText("Install")
            self.install_button.setEnabled(latest is not None and not busy)
        else:
            can_update = latest is not None and _newer(latest.version, installed)
            self.install_button.setText(f"Update to {latest.version}" if can_update and latest else "Installed")
            self.install_button.setEnabled(can_update and not busy)
        self.details.setHtml(describe_listing(listing, installed))

    # ------------------------------------------------------------------ install / update

    def install_selected(self) -> bool:
        listing = self.selected()
        return self.install(listing.id) if listing is not None else False

    def install(self, spec: str) -> bool:
        """Download and verify ``spec`` in the background, then ask, then install; False if not started."""
        if self._busy is not None and self._busy.isRunning():
            self.show_error("Busy", "Another plugin is being downloaded or installed; wait for it to finish.")
            return False
        limits = TransferLimits(max_bytes=ARCHIVE_LIMIT, stall_timeout=self.stall_timeout)
        thread = _PrepareThread(self.layout_, spec, self.catalogue, limits, self)
        thread.progress.connect(self._progress)
        thread.prepared.connect(self._prepared)
        thread.failed.connect(self._failed)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.status.setText(f"Downloading {spec}…")
        self._busy = thread
        self._start(thread)
        self._show_selected()
        return True

    def cancel(self) -> None:
        if self._busy is not None and isinstance(self._busy, _PrepareThread):
            self._busy.requestInterruption()

    @Slot(int, int)
    def _progress(self, done: int, total: int) -> None:
        scale = max(1, total // 1_000_000)  # QProgressBar holds ints
        self.progress.setRange(0, total // scale)
        self.progress.setValue(done // scale)
        self.status.setText(f"Downloading: {done / 1024:.0f} of {total / 1024:.0f} KiB")

    @Slot(object)
    def _prepared(self, indexed: IndexedPlan) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        if not self.confirm_install(indexed):
            indexed.discard()
            self._busy = None
            self.status.setText(f"{indexed.plan.manifest.plugin.id} was not installed.")
            self._show_selected()
            return
        self.status.setText(f"Installing {indexed.plan.manifest.plugin.id} {indexed.plan.manifest.plugin.version}…")
        thread = _CompleteThread(indexed, self.trial, self)
        thread.step.connect(lambda message: self.status.setText(f"{indexed.plan.manifest.plugin.id}: {message}…"))
        thread.succeeded.connect(self._succeeded)
        thread.failed.connect(self._failed)
        self._busy = thread
        self._start(thread)

    @Slot(str)
    def _succeeded(self, message: str) -> None:
        self._busy = None
        self.status.setText(message)
        self.installed = managed_plugins(self.layout_)
        self._apply_filter()
        self.plugins_changed.emit()
        self.install_finished.emit(True, message)

    @Slot(str)
    def _failed(self, message: str) -> None:
        self._busy = None
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.status.setText("Not installed.")
        self._show_selected()
        self.show_error("Not installed", message)
        self.install_finished.emit(False, message)

    def add_index(self, location: str) -> bool:
        """Configure an index (pins its key) on the GUI thread's behalf, then refresh."""
        try:
            source, _content = add_index(self.layout_, location)
        except StudioError as exc:
            self.show_error("Index not added", str(exc))
            return False
        self.status.setText(f"Added {source.name or source.url}; its key {source.fingerprint} is pinned.")
        self.refresh()
        return True

    def _ask_for_index(self) -> None:
        location, ok = QInputDialog.getText(self, "Add plugin index", "Address (https://…) or folder of a signed plugin index:")
        if ok and location.strip():
            self.add_index(location.strip())

    def _start(self, thread: QThread) -> None:
        self._threads = [item for item in self._threads if item.isRunning()]
        self._threads.append(thread)
        thread.start()

    def wait_for_threads(self, milliseconds: int = 30000) -> None:
        """Let running workers finish (the dialog is closing)."""
        for thread in self._threads:
            thread.requestInterruption()
            thread.wait(milliseconds)

    # ------------------------------------------------------------------ questions (tests replace these)

    def confirm_install(self, indexed: IndexedPlan) -> bool:
        from studio.ui.plugin_plan_text import describe_plan

        plan = indexed.plan
        trust = "".join(
            f"<tr><td style='padding-right:10px;color:{_MUTED}'>{html.escape(label)}</td><td>{html.escape(value)}</td></tr>"
            for label, value in indexed.trust_facts()
        )
        box = QMessageBox(self)
        box.setWindowTitle(f"{plan.action.capitalize()} {plan.manifest.plugin.name}?")
        box.setIcon(QMessageBox.Icon.Question if not plan.manifest.plugin.permissions else QMessageBox.Icon.Warning)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(describe_plan(plan) + f"<table>{trust}</table>")
        box.setStandardButtons(QMessageBox.StandardButton.Cancel)
        accept = box.addButton(plan.action.capitalize(), QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is accept

    def show_error(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)


class WithdrawnBar(QWidget):
    """A red line above the plugin manager's tabs: installed versions their index withdrew."""

    disable_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setStyleSheet(f"color: {_DANGER}")
        self.button = QPushButton("Disable withdrawn")
        self.button.setObjectName("danger")
        self.button.setToolTip("Disable every installed plugin whose version was withdrawn (one click)")
        self.button.clicked.connect(self.disable_clicked)
        row.addWidget(self.label, 1)
        row.addWidget(self.button)
        self.setVisible(False)

    def show_flagged(self, flagged: list[Withdrawn]) -> None:
        self.label.setText("; ".join(item.describe() for item in flagged))
        self.setVisible(bool(flagged))


# --------------------------------------------------------------------------- text


def describe_listing(listing: Listing, installed: str | None) -> str:
    """The details pane: what it is, who signed it, what it may do, its versions."""
    esc = html.escape
    entry = listing.entry
    latest = listing.latest
    parts = [f"<h3>{esc(entry.name)} <span style='color:{_MUTED}'>{esc(latest.version if latest else '')}</span></h3>"]
    if entry.description:
        parts.append(f"<p>{esc(entry.description)}</p>")
    parts.append(
        f"<p><b>Id:</b> {esc(entry.id)}<br><b>Author:</b> {esc(entry.author)} "
        f"<span style='color:{_MUTED}'>(key {esc(fingerprint(entry.author_key))})</span><br>"
        f"<b>Index:</b> {esc(listing.index.name)} <span style='color:{_MUTED}'>(key {esc(listing.index.source.fingerprint)})</span>"
        + (f"<br><b>Homepage:</b> {esc(entry.homepage)}" if entry.homepage else "")
        + (f"<br><b>Licence:</b> {esc(entry.license)}" if entry.license else "")
        + (f"<br><b>Categories:</b> {esc(', '.join(entry.categories))}" if entry.categories else "")
        + f"<br><b>Installed:</b> {esc(installed or 'no')}</p>"
    )
    if installed and listing.advisory(installed):
        parts.append(
            f"<p style='color:{_DANGER}'><b>Version {esc(installed)} was withdrawn:</b> {esc(listing.advisory(installed).reason)}</p>"
        )
    if latest is not None and latest.permissions:
        items = "".join(f"<li><b>{esc(name)}</b>: {esc(PERMISSION_TEXT.get(name, name))}</li>" for name in latest.permissions)
        parts.append(f"<p style='color:{_DANGER}'><b>This plugin asks to:</b></p><ul>{items}</ul>")
    elif latest is not None:
        parts.append("<p><b>Permissions:</b> none. It cannot use the network, start programs or write outside its folders.</p>")
    rows = []
    for item in entry.sorted_versions():
        advisory = listing.advisory(item.version)
        note = f"withdrawn: {advisory.reason}" if advisory else (item.incompatibility() or "")
        rows.append(
            f"<li>{esc(item.version)} — {item.size / 1024:.0f} KiB, permissions: {esc(', '.join(item.permissions) or 'none')}{(' — ' + esc(note)) if note else ''}</li>"
        )
    parts.append(f"<p><b>Versions</b></p><ul>{''.join(rows)}</ul>")
    return "".join(parts)


def withdrawn_notice(layout: HomeLayout) -> str:
    """One line for the window's start-up: installed versions their index withdrew (cache only)."""
    try:
        flagged = withdrawn_installed(layout)
    except StudioError:
        return ""
    if not flagged:
        return ""
    return (
        "Withdrawn by their publisher: " + "; ".join(item.describe() for item in flagged) + ". Plugins ▸ Disable withdrawn turns them off."
    )


def _newer(candidate: str, installed: str) -> bool:
    try:
        return Version(candidate) > Version(installed)
    except InvalidVersion:
        return False
