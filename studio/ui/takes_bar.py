"""The takes bar: ◀ 2/4 ▶ Promote, for the canvas layer or timeline clip Vary was run on.

It is a strip under the canvas's and the timeline's toolbars, shown while the selected slot
has alternatives (or, on the canvas, a generation to vary) (``studio.core.takes``). Its shortcuts work while focus is anywhere in the
widget it belongs to: Alt+Left / Alt+Right step, Alt+Return promotes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from studio.core.takes import TakeGroup

PREVIOUS_KEY = "Alt+Left"
NEXT_KEY = "Alt+Right"
PROMOTE_KEY = "Alt+Return"


class TakesBar(QWidget):
    stepped = Signal(int)  # -1 / +1
    promote_requested = Signal()
    vary_requested = Signal()

    def __init__(self, what: str, shortcut_owner: QWidget, parent: QWidget | None = None, *, vary: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName("takesBar")
        self.setAccessibleName(f"Takes of the selected {what}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)
        self.caption = QLabel("Takes")
        self.caption.setObjectName("muted")
        self.previous_button = self._button("◀", f"Previous take of this {what} ({PREVIOUS_KEY})", lambda: self.stepped.emit(-1))
        self.position = QLabel("1/1")
        self.position.setObjectName("takesPosition")
        self.position.setToolTip(f"Which of this {what}'s takes is shown: the original is 1")
        self.next_button = self._button("▶", f"Next take of this {what} ({NEXT_KEY})", lambda: self.stepped.emit(+1))
        self.promote_button = self._button(
            "Promote", f"Keep the shown take as this {what}; the others stay in History ({PROMOTE_KEY})", self.promote_requested.emit
        )
        # The canvas has no Vary of its own: the bar offers one for the selected layer's generation.
        self.vary_button = self._button("Vary", f"Another take of this {what}: a variation of its generation", self.vary_requested.emit)
        self.vary_button.setObjectName("takesVary")
        self._offers_vary = vary
        layout.addWidget(self.vary_button)
        for widget in (self.caption, self.previous_button, self.position, self.next_button, self.promote_button):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.actions_by_key: dict[str, QAction] = {}
        self.toolbar_action: QAction | None = None  # set when the bar sits in a QToolBar (which hides it through it)
        for key, slot in (
            (PREVIOUS_KEY, lambda: self.stepped.emit(-1)),
            (NEXT_KEY, lambda: self.stepped.emit(+1)),
            (PROMOTE_KEY, self.promote_requested.emit),
        ):
            action = QAction(key, shortcut_owner)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.setEnabled(False)
            action.triggered.connect(slot)
            shortcut_owner.addAction(action)
            self.actions_by_key[key] = action
        self.show_group(None)

    def _button(self, text: str, tip: str, slot: object) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAccessibleName(tip.split(" (")[0])
        button.clicked.connect(slot)  # type: ignore[arg-type]
        return button

    def show_group(self, group: TakeGroup | None, *, can_vary: bool = False) -> None:
        """Show where the slot's takes stand, or hide the bar (and its shortcuts) without any."""
        has = group is not None and len(group.takes) > 1
        if group is not None:
            self.position.setText(group.position())
        for action in self.actions_by_key.values():
            action.setEnabled(has)
        for widget in (self.caption, self.previous_button, self.position, self.next_button, self.promote_button):
            widget.setVisible(has)
        vary = self._offers_vary and can_vary
        self.vary_button.setVisible(vary)
        if self.toolbar_action is not None:
            self.toolbar_action.setVisible(has or vary)
        else:
            self.setVisible(has or vary)
