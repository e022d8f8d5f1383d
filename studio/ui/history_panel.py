"""The History panel: every generation as a tree by parent, with thumbnails and actions.

It listens to the project's ``History`` (not to jobs): whatever adds, stars or deletes a
node, the tree follows. Deleting is undoable through the window's undo stack.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPen, QPixmap, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.history import Deletion, History, HistoryNode
from studio.ui.labels import generation_label

THUMB = 48


class DeleteNodeCommand(QUndoCommand):
    def __init__(self, history: History, node_id: str) -> None:
        super().__init__("Delete generation")
        self.history, self.node_id = history, node_id
        self.deletion: Deletion | None = None

    def redo(self) -> None:
        self.deletion = self.history.delete(self.node_id)

    def undo(self) -> None:
        if self.deletion is not None:
            self.history.restore(self.deletion)


class StarCommand(QUndoCommand):
    def __init__(self, history: History, node_id: str, starred: bool) -> None:
        super().__init__("Star generation" if starred else "Unstar generation")
        self.history, self.node_id, self.starred = history, node_id, starred

    def redo(self) -> None:
        self.history.star(self.node_id, self.starred)

    def undo(self) -> None:
        self.history.star(self.node_id, not self.starred)


def node_summary(node: HistoryNode) -> str:
    """The node's label (set when it landed), else one made from its params: see ``labels``."""
    if node.label:
        return node.label
    short = (node.generator or node.plugin_id or "generation").rsplit(".", 1)[-1]
    return generation_label(None, node.params, node.seed, kind=node.kind, fallback=short)


class Thumbnails:
    """Small pictures of outputs by kind: the image, a mini piano roll, a waveform, a text line."""

    def __init__(self, load: Callable[[str], tuple[bytes, str, str]]) -> None:
        self.load = load  # blob id -> (bytes, kind, mime)
        self.cache: dict[str, QPixmap] = {}
        self.first_lines: dict[str, str] = {}

    def for_node(self, node: HistoryNode) -> QPixmap | None:
        if not node.outputs:
            return None
        blob = node.outputs[0]
        if blob in self.cache:
            return self.cache[blob]
        try:
            data, kind, _mime = self.load(blob)
        except KeyError:
            return None
        pixmap = None
        try:
            if kind == "image":
                image = QImage.fromData(data)
                if not image.isNull():
                    pixmap = QPixmap.fromImage(
                        image.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
                    )
            elif kind == "melody":
                pixmap = self._piano_roll(data)
            elif kind == "audio":
                pixmap = self._waveform(data)
            elif kind == "text":
                self.first_lines[blob] = data.decode("utf-8", "replace").strip().splitlines()[0][:80] if data.strip() else ""
                pixmap = self._text_icon()
        except Exception:  # a thumbnail is never worth a crash
            pixmap = None
        if pixmap is not None:
            self.cache[blob] = pixmap
        return pixmap

    def _canvas(self) -> tuple[QPixmap, QPainter]:
        pixmap = QPixmap(THUMB, THUMB)
        pixmap.fill(QColor("#141518"))
        return pixmap, QPainter(pixmap)

    def _piano_roll(self, data: bytes) -> QPixmap:
        from studio.core.midi import read_midi

        melody = read_midi(data).melody
        pixmap, painter = self._canvas()
        if melody.notes:
            low, high = melody.pitch_range
            span = max(12, high - low + 1)
            length = max(melody.length, 1.0)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#6c9cff"))
            for note in melody.notes:
                x = note.start / length * THUMB
                y = THUMB - 4 - (note.pitch - low + 1) / span * (THUMB - 8)
                painter.drawRect(int(x), int(y), max(1, int(note.duration / length * THUMB)), 2)
        painter.end()
        return pixmap

    def _waveform(self, data: bytes) -> QPixmap:
        import numpy as np

        from studio.core.audio_io import read_audio

        samples = read_audio(data).samples
        mono = samples.mean(axis=1) if samples.ndim == 2 else samples
        pixmap, painter = self._canvas()
        painter.setPen(QPen(QColor("#57c99a"), 1))
        if len(mono):
            chunks = np.array_split(np.abs(mono), THUMB)
            for x, chunk in enumerate(chunks):
                peak = float(chunk.max()) if len(chunk) else 0.0
                half = peak * (THUMB / 2 - 2)
                painter.drawLine(x, int(THUMB / 2 - half), x, int(THUMB / 2 + half))
        painter.end()
        return pixmap

    def _text_icon(self) -> QPixmap:
        pixmap, painter = self._canvas()
        painter.setPen(QColor("#c9cbd0"))
        for row in range(5):
            painter.drawLine(6, 9 + row * 7, THUMB - 6 - (row % 2) * 10, 9 + row * 7)
        painter.end()
        return pixmap


class CompareDialog(QDialog):
    """Two generations side by side: a parameter table with differences marked, and outputs."""

    def __init__(self, a: HistoryNode, b: HistoryNode, thumbs: Thumbnails, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare generations")
        self.resize(760, 520)
        layout = QVBoxLayout(self)
        pictures = QHBoxLayout()
        for node in (a, b):
            column = QVBoxLayout()
            label = QLabel()
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            big = self._big_picture(node, thumbs)
            if big is not None:
                label.setPixmap(big)
            column.addWidget(label)
            column.addWidget(QLabel(node_summary(node)))
            pictures.addLayout(column)
        layout.addLayout(pictures)
        fields = {
            "generator": (a.generator, b.generator),
            "seed": (a.seed, b.seed),
            "model": (a.model_id, b.model_id),
            "device": (a.device, b.device),
        }
        for key in dict.fromkeys(list(a.params) + list(b.params)):
            fields[f"params.{key}"] = (a.params.get(key), b.params.get(key))
        self.table = QTableWidget(len(fields), 3)
        self.table.setHorizontalHeaderLabels(["Parameter", "A", "B"])
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.differences: list[str] = []
        for row, (key, (left, right)) in enumerate(fields.items()):
            cells = [QTableWidgetItem(key), QTableWidgetItem(json.dumps(left)), QTableWidgetItem(json.dumps(right))]
            if left != right:
                self.differences.append(key)
                for cell in cells:
                    cell.setBackground(QColor("#4a3a16"))
            for column, cell in enumerate(cells):
                self.table.setItem(row, column, cell)
        layout.addWidget(self.table, 1)

    @staticmethod
    def _big_picture(node: HistoryNode, thumbs: Thumbnails) -> QPixmap | None:
        if not node.outputs:
            return None
        try:
            data, kind, _mime = thumbs.load(node.outputs[0])
        except KeyError:
            return None
        if kind == "image":
            image = QImage.fromData(data)
            return QPixmap.fromImage(image.scaled(320, 320, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
        small = thumbs.for_node(node)
        return small.scaled(160, 160) if small is not None else None


class HistoryPanel(QWidget):
    restore_requested = Signal(object)  # HistoryNode
    rerun_requested = Signal(object)
    vary_requested = Signal(object)
    use_as_input_requested = Signal(object)
    send_requested = Signal(object)
    send_prompts_requested = Signal(object)  # a text node: one image job per prompt it holds

    def __init__(self, undo: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.undo = undo
        self.history: History | None = None
        self.thumbs: Thumbnails | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._items: dict[str, QTreeWidgetItem] = {}  # node id -> its row, as the last rebuild or add left them
        self._simple_tree = True
        self.rebuilds = 0  # whole-tree rebuilds (``refresh``)
        self.rows_added = 0  # single rows added for a new generation
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        filters = QHBoxLayout()
        self.generator_filter = QComboBox()
        self.generator_filter.setObjectName("historyGeneratorFilter")
        self.generator_filter.setToolTip("Show the generations of one generator only")
        self.generator_filter.addItem("All generators", None)
        self.generator_filter.currentIndexChanged.connect(lambda _i: self.refresh())
        self.starred_only = QCheckBox("★ only")
        self.starred_only.setToolTip("Show only starred generations")
        self.starred_only.toggled.connect(lambda _on: self.refresh())
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter…")
        self.search.setToolTip("Show the generations whose label, prompt or parameters contain this text")
        self.search.textChanged.connect(lambda _t: self.refresh())
        filters.addWidget(self.generator_filter, 1)
        filters.addWidget(self.starred_only)
        layout.addLayout(filters)
        layout.addWidget(self.search)
        self.tree = QTreeWidget()
        self.tree.setObjectName("historyTree")
        self.tree.setHeaderLabels(["Generation", "Seed", "When"])
        self.tree.setIconSize(QSize(THUMB, THUMB))
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.itemDoubleClicked.connect(lambda item, _c: self._emit(self.send_requested, item))
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.tree, 1)
        buttons = QHBoxLayout()
        buttons.setSpacing(3)
        tips = {
            "Restore": "Put its settings in the Generate panel",
            "Re-run": "Run it again with the same seed (Ctrl+R)",
            "Vary": "A variation: a new seed or a nearby latent (Ctrl+Shift+R)",
            "★": "Star / unstar",
            "Compare": "Compare two selected generations",
        }
        for text, handler in (
            ("Restore", lambda: self._with_selected(self.restore_requested.emit)),
            ("Re-run", lambda: self._with_selected(self.rerun_requested.emit)),
            ("Vary", lambda: self._with_selected(self.vary_requested.emit)),
            ("★", self.toggle_star),
            ("Compare", self.compare_selected),
        ):
            button = QPushButton(text)
            button.setToolTip(tips[text])
            # Narrow enough that the right-hand docks do not squeeze the canvas.
            button.setMinimumWidth(button.fontMetrics().horizontalAdvance(text) + 26)
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            button.clicked.connect(handler)
            buttons.addWidget(button)
        layout.addLayout(buttons)

    # ------------------------------------------------------------------ binding

    def set_history(self, history: History | None, load_blob: Callable[[str], tuple[bytes, str, str]] | None) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.history = history
        self.thumbs = Thumbnails(load_blob) if load_blob is not None else None
        if history is not None:
            self._unsubscribe = history.subscribe(self._history_changed)
        self.refresh()

    def _history_changed(self, change: str, ids: list[str]) -> None:
        if change == "added" and len(ids) == 1 and self._add_row(ids[0]):
            return
        self.refresh()

    def _add_row(self, node_id: str) -> bool:
        """A new generation as one more row, where ``refresh`` would put it, without rebuilding
        the others (each rebuild read every node back from the store and remade its row, in
        the turn a result lands). False where only a rebuild puts it right: a filter is on, a
        generator the filter list lacks, or a node with several parents in the tree."""
        if self.history is None or not self._simple_tree or self._filtering():
            return False
        try:
            node = self.history.get(node_id)
        except KeyError:
            return False
        generator = node.generator or node.plugin_id
        if len(node.parents) > 1 or node_id in self._items or (generator and self.generator_filter.findData(generator) < 0):
            return False
        item = self._item_for(node)
        parent = next((self._items[p] for p in node.parents if p in self._items), None)
        if parent is not None:
            parent.addChild(item)
        else:
            self.tree.addTopLevelItem(item)
        self._items[node.id] = item
        self.tree.expandAll()
        self.rows_added += 1
        return True

    def _filtering(self) -> bool:
        return bool(self.generator_filter.currentData() or self.starred_only.isChecked() or self.search.text().strip())

    def refresh(self) -> None:
        selected = {item.data(0, Qt.ItemDataRole.UserRole) for item in self.tree.selectedItems()}
        self.tree.clear()
        self._items = {}
        self.rebuilds += 1
        if self.history is None:
            return
        nodes = list(self.history.walk())
        # One parent or none everywhere: the tree is the walk, and a new node is its parent's last row.
        self._simple_tree = all(len(node.parents) <= 1 for node, _depth in nodes)
        generators = sorted({node.generator or node.plugin_id for node, _d in nodes if node.generator or node.plugin_id})
        current = self.generator_filter.currentData()
        self.generator_filter.blockSignals(True)
        self.generator_filter.clear()
        self.generator_filter.addItem("All generators", None)
        for generator in generators:
            self.generator_filter.addItem(generator, generator)
        index = self.generator_filter.findData(current)
        self.generator_filter.setCurrentIndex(max(0, index))
        self.generator_filter.blockSignals(False)
        wanted = self.generator_filter.currentData()
        starred = self.starred_only.isChecked()
        needle = self.search.text().strip().lower()
        filtering = bool(wanted or starred or needle)
        items: dict[str, QTreeWidgetItem] = {}
        for node, _depth in nodes:
            if filtering:
                if wanted and (node.generator or node.plugin_id) != wanted:
                    continue
                if starred and not node.starred:
                    continue
                if needle and needle not in json.dumps(node.params).lower() and needle not in node_summary(node).lower():
                    continue
            item = self._item_for(node)
            parent = next((items[p] for p in node.parents if p in items), None) if not filtering else None
            if parent is not None:
                parent.addChild(item)
            else:
                self.tree.addTopLevelItem(item)
            items[node.id] = item
            if node.id in selected:
                item.setSelected(True)
        self._items = items
        self.tree.expandAll()

    def _item_for(self, node: HistoryNode) -> QTreeWidgetItem:
        title = ("★ " if node.starred else "") + node_summary(node)
        if self.thumbs is not None:
            pixmap = self.thumbs.for_node(node)
            if node.outputs and node.outputs[0] in self.thumbs.first_lines:
                title += f"\n{self.thumbs.first_lines[node.outputs[0]]}"
        else:
            pixmap = None
        when = time.strftime("%H:%M:%S", time.localtime(node.finished)) if node.finished else ""
        item = QTreeWidgetItem([title, "" if node.seed is None else str(node.seed), when])
        item.setData(0, Qt.ItemDataRole.UserRole, node.id)
        item.setToolTip(0, json.dumps(node.params, indent=1)[:1500])
        if pixmap is not None:
            item.setIcon(0, QIcon(pixmap))
        return item

    # ------------------------------------------------------------------ actions

    def selected_nodes(self) -> list[HistoryNode]:
        if self.history is None:
            return []
        found = []
        for item in self.tree.selectedItems():
            try:
                found.append(self.history.get(item.data(0, Qt.ItemDataRole.UserRole)))
            except KeyError:
                continue
        return found

    def _with_selected(self, action: Callable[[HistoryNode], None]) -> None:
        nodes = self.selected_nodes()
        if nodes:
            action(nodes[0])

    def _emit(self, signal: Any, item: QTreeWidgetItem) -> None:
        if self.history is None:
            return
        try:
            signal.emit(self.history.get(item.data(0, Qt.ItemDataRole.UserRole)))
        except KeyError:
            pass

    def select_node(self, node_id: str) -> bool:
        for item in self.tree.findItems("", Qt.MatchFlag.MatchContains | Qt.MatchFlag.MatchRecursive):
            if item.data(0, Qt.ItemDataRole.UserRole) == node_id:
                self.tree.clearSelection()
                item.setSelected(True)
                self.tree.setCurrentItem(item)
                return True
        return False

    def toggle_star(self) -> None:
        if self.history is None:
            return
        for node in self.selected_nodes():
            self.undo.push(StarCommand(self.history, node.id, not node.starred))

    def delete_selected(self) -> None:
        if self.history is None:
            return
        nodes = self.selected_nodes()
        if not nodes:
            return
        self.undo.beginMacro("Delete generations" if len(nodes) > 1 else "Delete generation")
        for node in nodes:
            if node.id in self.history:
                self.undo.push(DeleteNodeCommand(self.history, node.id))
        self.undo.endMacro()

    def compare_selected(self) -> CompareDialog | None:
        nodes = self.selected_nodes()
        if len(nodes) != 2 or self.thumbs is None:
            return None
        dialog = CompareDialog(nodes[0], nodes[1], self.thumbs, self)
        dialog.show()
        return dialog

    def _context_menu(self, position: Any) -> None:
        nodes = self.selected_nodes()
        if not nodes:
            return
        menu = QMenu(self)
        node = nodes[0]
        menu.addAction("Restore parameters", lambda: self.restore_requested.emit(node))
        menu.addAction("Re-run", lambda: self.rerun_requested.emit(node))
        menu.addAction("Vary (new seed)", lambda: self.vary_requested.emit(node))
        menu.addAction("Branch from here / use as input", lambda: self.use_as_input_requested.emit(node))
        menu.addAction("Send to canvas / timeline / text", lambda: self.send_requested.emit(node))
        if node.kind == "text":
            menu.addAction("Send each to image generator", lambda: self.send_prompts_requested.emit(node))
        menu.addSeparator()
        menu.addAction("Unstar" if node.starred else "Star", self.toggle_star)
        compare = menu.addAction("Compare the two selected", self.compare_selected)
        compare.setEnabled(len(nodes) == 2)
        menu.addSeparator()
        menu.addAction("Delete", self.delete_selected)
        menu.exec(self.tree.viewport().mapToGlobal(position))
