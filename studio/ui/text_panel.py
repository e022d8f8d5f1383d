"""The Text panel: a plain-text / Markdown editor that text generators stream into.

Each text job gets its own cursor when its first token arrives: at the caret (insert), over
the selection (replace) or at the end (append). The user keeps typing elsewhere while a
job streams; "Use as prompt" sends the selection (or everything) to the Generate panel.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

INSERT, REPLACE, APPEND = "insert", "replace", "append"


class TextPanel(QWidget):
    changed = Signal()
    use_as_prompt = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(QLabel("Generated text goes"))
        self.mode = QComboBox()
        self.mode.setObjectName("textMode")
        self.mode.addItem("at the cursor", INSERT)
        self.mode.addItem("over the selection", REPLACE)
        self.mode.addItem("at the end", APPEND)
        self.mode.setCurrentIndex(2)
        row.addWidget(self.mode)
        row.addStretch(1)
        self.prompt_button = QPushButton("Use as prompt")
        self.prompt_button.setToolTip("Send the selection (or all the text) to the Generate panel's prompt")
        self.prompt_button.clicked.connect(self._send_prompt)
        row.addWidget(self.prompt_button)
        layout.addLayout(row)
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("textEditor")
        self.editor.setPlaceholderText("Text from language models appears here. Markdown is fine.")
        self.editor.textChanged.connect(self.changed)
        layout.addWidget(self.editor, 1)
        self._streams: dict[str, QTextCursor] = {}
        self._streamed: set[str] = set()

    # ------------------------------------------------------------------ content

    def text(self) -> str:
        return self.editor.toPlainText()

    def set_text(self, text: str) -> None:
        self.editor.setPlainText(text or "")

    def _send_prompt(self) -> None:
        selected = self.editor.textCursor().selectedText().replace("\u2029", "\n")
        self.use_as_prompt.emit(selected or self.text())

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
