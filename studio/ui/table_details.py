"""A read-only table of rows beside a pane describing the selected one.

The plugin manager's Installed and Browse tabs are both this shape; one builder keeps them
looking and behaving alike (row selection, no editing, columns sized to their contents).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QSplitter, QTableWidget, QTextBrowser


def table_with_details(columns: Sequence[str], name: str, on_select: Callable[[], None]) -> tuple[QSplitter, QTableWidget, QTextBrowser]:
    """(splitter, table, details); the widgets are named ``<name>-table`` / ``<name>-details``."""
    splitter = QSplitter(Qt.Orientation.Horizontal)
    table = QTableWidget(0, len(columns))
    table.setObjectName(f"{name}-table")
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.itemSelectionChanged.connect(on_select)
    splitter.addWidget(table)
    details = QTextBrowser()
    details.setObjectName(f"{name}-details")
    details.setOpenExternalLinks(False)
    splitter.addWidget(details)
    splitter.setSizes([560, 420])
    return splitter, table, details
