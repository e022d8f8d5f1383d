"""The Text panel: a plain-text / Markdown editor that text generators stream into.

Each text job gets its own cursor when its first token arrives: at the caret (insert), over
the selection (replace) or at the end (append). The user keeps typing elsewhere while a
job streams; "Use as prompt" sends the selection (or everything) to the Generate panel,
"Use as image prompt" / "Use as music prompt" to an image or music generator's prompt.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QTextCursor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMenu, QPlainTextEdit, QPushButton, QToolButton, QVBoxLayout, QWidget

INSERT, REPLACE, APPEND = "insert", "replace", "append"


class TextPanel(QWidget):
    changed = Signal()
    use_as_prompt = Signal(str)
    use_as_image_prompt = Signal(str)
    use_as_music_prompt = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        goes = QLabel("New text")
        goes.setToolTip("Where generated text goes in the editor")
        row.addWidget(goes)
        self.mode = QComboBox()
        self.mode.setObjectName("textMode")
        self.mode.addItem("at the cursor", INSERT)
        self.mode.addItem("over the selection", REPLACE)
        self.mode.addItem("at the end", APPEND)
        self.mode.setCurrentIndex(2)
        self.mode.setToolTip("Where generated text goes in the editor")
        # Shrinks with the dock rather than holding the right-hand docks wide.
        self.mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode.setMinimumContentsLength(8)
        row.addWidget(self.mode)
        row.addStretch(1)
        self.prompt_button = QPushButton("Use as prompt")
        self.prompt_button.setToolTip("Send the selection (or all the text) to the Generate panel's prompt")
        self.prompt_button.clicked.connect(self._send_prompt)
        row.addWidget(self.prompt_button)
        self.image_prompt_action = QAction("Use as image prompt", self)
        self.image_prompt_action.setToolTip("The selection (or all the text) becomes an image generator's prompt")
        self.image_prompt_action.triggered.connect(lambda: self.use_as_image_prompt.emit(self.chosen_text()))
        self.music_prompt_action = QAction("Use as music prompt", self)
        self.music_prompt_action.setToolTip("The selection (or all the text) becomes MusicGen's prompt")
        self.music_prompt_action.triggered.connect(lambda: self.use_as_music_prompt.emit(self.chosen_text()))
        self.more_button = QToolButton()
        self.more_button.setText("▾")
        self.more_button.setToolTip("Send the text to an image or music generator")
        self.more_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        more = QMenu(self.more_button)
        more.addAction(self.image_prompt_action)
        more.addAction(self.music_prompt_action)
        self.more_button.setMenu(more)
        row.addWidget(self.more_button)
        layout.addLayout(row)
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("textEditor")
        self.editor.setPlaceholderText("Text from language models appears here. Markdown is fine.")
        self.editor.textChanged.connect(self.changed)
        self.editor.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.editor.customContextMenuRequested.connect(self._context_menu)
        layout.addWidget(self.editor, 1)
        self._streams: dict[str, QTextCursor] = {}
        self._streamed: set[str] = set()

    # ------------------------------------------------------------------ content

    def text(self) -> str:
        return self.editor.toPlainText()

    def set_text(self, text: str) -> None:
        self.editor.setPlainText(text or "")

    def chosen_text(self) -> str:
        """The selection, or all the text when nothing is selected."""
        selected = self.editor.textCursor().selectedText().replace("\u2029", "\n")
        return selected or self.text()

    def _send_prompt(self) -> None:
        self.use_as_prompt.emit(self.chosen_text())

    def _context_menu(self, position: Any) -> None:
        menu = self.editor.createStandardContextMenu()
        menu.addSeparator()
        menu.addAction("Use as prompt", self._send_prompt)
        menu.addAction(self.image_prompt_action)
        menu.addAction(self.music_prompt_action)
        menu.exec(self.editor.viewport().mapToGlobal(position))
        menu.deleteLater()

    # ------------------------------------------------------------------ streaming

    def _cursor_for(self, ticket: str) -> QTextCursor:
        cursor = self._streams.get(ticket)
        if cursor is not None:
            return cursor
        mode = self.mode.currentData()
        cursor = QTextCursor(self.editor.document())
        user = self.editor.textCursor()
        if mode == REPLACE and user.hasSelection():
            cursor.setPosition(user.selectionStart())
            cursor.setPosition(user.selectionEnd(), QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
        elif mode == INSERT:
            cursor.setPosition(user.position())
        else:
            cursor.movePosition(QTextCursor.MoveOperation.End)
            if self.text() and not self.text().endswith("\n"):
                cursor.insertText("\n\n")
        self._streams[ticket] = cursor
        return cursor

    def stream(self, ticket: str, delta: str) -> None:
        self._cursor_for(ticket).insertText(delta)
        self._streamed.add(ticket)

    def finish(self, ticket: str, full_text: str) -> None:
        """The job is done: if nothing streamed (a generator without streaming), insert it all."""
        if ticket not in self._streamed and full_text:
            self._cursor_for(ticket).insertText(full_text)
        self._streams.pop(ticket, None)
        self._streamed.discard(ticket)
