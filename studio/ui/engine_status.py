"""The engine's state in the status bar, and restarting the engine when settings changed.

Split out of ``main_window.py``: the coloured "● engine ready" label, and the two questions a
restart needs (jobs still running? restart now or later?).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from studio.ui.engine_link import FAILED, READY, RESTARTING, STARTING
from studio.ui.theme import ACCENT, DANGER, OK, WARN

if TYPE_CHECKING:
    from studio.ui.dialogs import Prompter
    from studio.ui.engine_link import EngineLink

STATE_COLOURS = {STARTING: WARN, READY: OK, RESTARTING: WARN, FAILED: DANGER}


class EngineStatusHost(Protocol):
    link: EngineLink
    prompter: Prompter

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)


class EngineStatus:
    def __init__(self, host: EngineStatusHost, parent: QWidget) -> None:
        self.host, self.parent = host, parent
        self.label = QLabel()
        self.label.setObjectName("engineState")

    def show_state(self, state: str, detail: str) -> None:
        text = {
            STARTING: "engine starting…",
            READY: "engine ready",
            RESTARTING: "engine restarting…",
            FAILED: f"engine failed: {detail}",
        }.get(state, state)
        self.label.setText(f"● {text}")
        self.label.setToolTip(detail or text)
        self.label.setStyleSheet(f"color: {STATE_COLOURS.get(state, ACCENT)};")
        status = self.host.statusBar()
        if state == RESTARTING and detail:
            status.showMessage(detail, 10000)
        if state == FAILED:
            status.showMessage(f"The engine could not start: {detail}. Tools ▸ Restart engine connection tries again.")

    def offer_restart(self, why: str) -> bool:
        busy = self.host.link.active_jobs
        if busy:
            self.host.prompter.info(
                self.parent,
                "Restart the engine",
                f"{why} The engine reads them when it starts; restart it (Tools ▸ Restart engine) when the running job{'s are' if busy != 1 else ' is'} done.",
            )
            return False
        if self.host.prompter.ask(self.parent, "Restart the engine", f"{why} The engine reads them when it starts. Restart it now?"):
            self.restart()
            return True
        self.host.statusBar().showMessage(f"{why} They apply when the engine next starts (Tools ▸ Restart engine).", 10000)
        return False

    def restart(self) -> None:
        busy = self.host.link.active_jobs
        if busy and not self.host.prompter.ask(
            self.parent,
            "Restart the engine",
            f"{busy} job{'s are' if busy != 1 else ' is'} still running and will be lost. Restart the engine anyway?",
        ):
            return
        self.host.link.restart_engine()
