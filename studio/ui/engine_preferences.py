"""Preferences ▸ Engine: run on this computer, or on a remote engine by URL and token.

The Connect button asks the remote for its plugins, models and device before anything is
saved, so a wrong URL or token shows up here, not as a failed first job. Instead of the
long token, the user may type the short pairing code the remote printed (``K7QM-4XPD``):
Connect trades it once for the token (``POST /pair``) and fills the token field. With a remote
engine, model folders, plugins and settings are the remote's; the section says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from studio.core.engine_target import (
    LOCAL,
    REMOTE,
    EngineTarget,
    load_engine_target,
    save_engine_target,
)
from studio.engine.remote import EngineAddressError, pair, split_connection_string

MODES = (("this computer", LOCAL), ("remote", REMOTE))


def describe_remote(url: str, token: str, timeout: float = 10.0) -> dict[str, Any]:
    """What the engine at ``url`` offers: plugins, generators, models found, its device."""
    from studio.engine.client import EngineClient  # httpx: imported when a connection is tried, not at start

    with EngineClient(url, token, timeout=timeout) as client:
        catalogue = client.plugins()
        models = client.models()
        health = client.health()
    device = models.device
    return {
        "version": health.version,
        "plugins": [record.id for record in catalogue.plugins if record.state == "enabled"],
        "generators": [generator.id for generator in catalogue.generators],
        "models": [entry.name or entry.path for entry in models.found],
        "device": device.get("name")
        or device.get("kind")
        or device.get("type")
        or ", ".join(f"{k}={v}" for k, v in device.items() if isinstance(v, (str, int)))
        or "unknown",
    }


class _Probe(QThread):
    paired = Signal(str)  # the token a pairing code was traded for
    answered = Signal(dict)
    failed = Signal(str)

    def __init__(self, url: str, token: str, code: str = "") -> None:
        super().__init__()
        self.url, self.token, self.code = url, token, code

    def run(self) -> None:
        try:
            if self.code:
                self.token = pair(self.url, self.code).token
                self.paired.emit(self.token)
            self.answered.emit(describe_remote(self.url, self.token))
        except Exception as exc:  # any failure is shown in the dialog, never raised
            self.failed.emit(str(exc) or type(exc).__name__)


class EngineSection(QWidget):
    """The Engine rows of the Preferences form."""

    def __init__(self, home: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.home = Path(home)
        self.saved = load_engine_target(self.home)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.mode = QComboBox()
        self.mode.setObjectName("engineMode")
        self.mode.setToolTip("Run the engine on this computer, or use one running elsewhere")
        for label, value in MODES:
            self.mode.addItem(label, value)
        self.mode.setCurrentIndex(1 if self.saved.mode == REMOTE else 0)
        form.addRow("Engine", self.mode)
        self.url = QLineEdit(self.saved.url)
        self.url.setObjectName("engineUrl")
        self.url.setToolTip("The remote engine's address, or the connection string it printed")
        self.url.setPlaceholderText("http://gpu-box:8188  (or the connection string the engine printed)")
        self.token = QLineEdit(self.saved.token)
        self.token.setObjectName("engineToken")
        self.token.setToolTip("The remote engine's access token (from its remote.json)")
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("the token from the remote's remote.json")
        row = QHBoxLayout()
        row.addWidget(self.url, 1)
        self.connect_button = QPushButton("Connect")
        self.connect_button.setObjectName("engineConnect")
        self.connect_button.setToolTip("Try the connection to the remote engine now")
        row.addWidget(self.connect_button)
        form.addRow("URL", row)
        form.addRow("Token", self.token)
        self.code = QLineEdit()
        self.code.setObjectName("enginePairCode")
        self.code.setPlaceholderText("or the short pairing code the remote printed, e.g. K7QM-4XPD")
        self.code.setMaxLength(32)
        self.code.setToolTip(
            "The short single-use code the remote engine printed (python main.py engine-pair makes a new one); Connect trades it for the token"
        )
        form.addRow("Pairing code", self.code)
        self.status = QLabel("")
        self.status.setObjectName("engineRemoteStatus")
        self.status.setWordWrap(True)
        form.addRow("", self.status)
        self.remote_info: dict[str, Any] | None = None
        self._probe: _Probe | None = None
        self.connect_button.clicked.connect(self.test_connection)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.url.editingFinished.connect(self._split_pasted_string)
        self._mode_changed()

    def _mode_changed(self) -> None:
        remote = self.mode.currentData() == REMOTE
        for widget in (self.url, self.token, self.code, self.connect_button):
            widget.setEnabled(remote)
        if not remote:
            self.status.setText("Jobs run on this computer's engine, started when the window needs it.")
        elif not self.status.text() or self.status.text().startswith("Jobs run on this"):
            self.status.setText("Model folders, plugins and settings are the remote engine's.")

    def _split_pasted_string(self) -> None:
        """A pasted ``URL#token=…`` fills both fields."""
        text = self.url.text().strip()
        if "#token=" in text:
            try:
                url, token = split_connection_string(text)
            except EngineAddressError:
                return
            self.url.setText(url)
            if token:
                self.token.setText(token)

    def target(self) -> EngineTarget:
        self._split_pasted_string()
        if self.mode.currentData() != REMOTE:
            return EngineTarget(LOCAL, self.url.text().strip(), self.token.text().strip())
        return EngineTarget(REMOTE, self.url.text().strip().rstrip("/"), self.token.text().strip())

    def test_connection(self) -> None:
        target = self.target()
        try:
            split_connection_string(target.url)
        except EngineAddressError as exc:
            self.status.setText(str(exc))
            return
        code = self.code.text().strip()
        if not target.token and not code:
            self.status.setText("Enter the pairing code the remote engine printed, or its token (from its remote.json).")
            return
        self.status.setText(f"Pairing with {target.url}…" if code else f"Connecting to {target.url}…")
        self.connect_button.setEnabled(False)
        probe = _Probe(target.url, target.token, code)
        probe.paired.connect(self._paired)
        probe.answered.connect(self._answered)
        probe.failed.connect(self._failed)
        probe.finished.connect(lambda: self.connect_button.setEnabled(self.mode.currentData() == REMOTE))
        self._probe = probe
        probe.start()

    def _paired(self, token: str) -> None:
        """The code is used up: keep the token it bought, clear the code."""
        self.token.setText(token)
        self.code.clear()

    def _answered(self, info: dict) -> None:
        self.remote_info = info
        models = info["models"]
        shown = ", ".join(models[:5]) + (f" and {len(models) - 5} more" if len(models) > 5 else "")
        self.status.setText(
            f"Connected: engine {info['version']} on {info['device']}. Plugins: {', '.join(p for p in info['plugins'] if p)}. "
            f"Models: {shown or 'none found'}. Model folders, plugins and settings are the remote's."
        )

    def _failed(self, message: str) -> None:
        self.remote_info = None
        self.status.setText(f"Cannot connect: {message}")

    def apply(self) -> bool:
        """Save; True when the window should connect to another engine."""
        target = self.target()
        if target.mode == REMOTE:
            split_connection_string(target.url)  # raises a clear message for a bad URL
        save_engine_target(self.home, target)
        changed = (target.mode, target.url, target.token) != (self.saved.mode, self.saved.url, self.saved.token)
        self.saved = target
        return changed

    def wait(self, ms: int = 5000) -> None:
        if self._probe is not None:
            self._probe.wait(ms)
