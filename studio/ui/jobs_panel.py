"""The Jobs panel (queue with progress, latest preview, cancel, errors with details, the machine
that ran each job) and the job bar."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.ui.jobs import CANCELLED, DONE, FAILED, Job, JobTracker

if TYPE_CHECKING:  # pydantic's models stay out of the window's first paint
    from studio.engine.protocol import JobRunner

THUMB = 56
MAX_ROWS = 200


def status_text(job: Job) -> str:
    """ "queued (2 ahead)", "running — step 3/20": the state once, then what the message adds."""
    state = str(getattr(job.state, "value", job.state))
    message = (job.message or "").strip()
    if not message or message.lower().startswith(state.lower()):
        return message or state
    return f"{state} — {message}"


def machine_text(runner: JobRunner | None, remote_host: str | None = None) -> str:
    """Where a job ran, for its row: "this computer" for the local engine's worker, the remote
    engine's host for a remote one, and node · actor · device for a Ray actor."""
    if runner is None:
        return ""
    if runner.kind == "ray":
        node = runner.host or runner.address or "?"
        if runner.address and runner.address != node:
            node += f" {runner.address}"
        if runner.node:
            node += f" (node {runner.node})"
        return " · ".join(part for part in (node, runner.name, runner.device) if part)
    if remote_host:
        return remote_host
    return "this computer"


class JobRow(QWidget):
    cancel_clicked = Signal(str)

    def __init__(self, job: Job, parent: QWidget | None = None, remote_host: Callable[[], str | None] | None = None) -> None:
        super().__init__(parent)
        self.ticket = job.ticket
        self._remote_host = remote_host or (lambda: None)
        self.setObjectName(f"job-{job.ticket}")
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 4, 6, 4)
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setStyleSheet("background:#141518;border:1px solid #2f3136;")
        outer.addWidget(self.thumb)
        body = QVBoxLayout()
        body.setSpacing(2)
        self.title = QLabel(job.title)
        self.status = QLabel()
        self.status.setObjectName("muted")
        self.machine = QLabel()  # the "Machine" column: where the engine ran the job
        self.machine.setObjectName("muted")
        self.machine.setAccessibleName("Machine")
        self.status_line = status_line = QHBoxLayout()
        status_line.setContentsMargins(0, 0, 0, 0)
        status_line.addWidget(self.status, 1)
        status_line.addWidget(self.machine, 0, Qt.AlignmentFlag.AlignRight)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QToolButton()
        self.details_button.setText("Details")
        self.details_button.setCheckable(True)
        self.details_button.setToolTip("Show or hide the error's full details")
        # The error's details box is made when a job has a traceback to show: a text editor in
        # every row made each Generate click build a scroll area nobody looked at.
        self.details: QPlainTextEdit | None = None
        self.details_button.toggled.connect(lambda shown: self._details_box().setVisible(shown))
        body.addWidget(self.title)
        body.addLayout(status_line)
        for widget in (self.bar, self.error):
            body.addWidget(widget)
        row = QHBoxLayout()
        row.addWidget(self.details_button)
        row.addStretch(1)
        body.addLayout(row)
        self._body = body
        outer.addLayout(body, 1)
        self.cancel = QPushButton("✕")
        self.cancel.setToolTip("Cancel this job")
        self.cancel.setFixedWidth(30)
        self.cancel.clicked.connect(lambda: self.cancel_clicked.emit(self.ticket))
        outer.addWidget(self.cancel, 0, Qt.AlignmentFlag.AlignTop)
        self._shown: dict[str, Any] = {}
        self.update_from(job)

    def _details_box(self) -> QPlainTextEdit:
        if self.details is None:
            self.details = QPlainTextEdit()
            self.details.setReadOnly(True)
            self.details.setMaximumHeight(160)
            self.details.hide()
            self._body.addWidget(self.details)  # last in the text column, as it always was
        return self.details

    def _changed(self, key: str, value: Any) -> bool:
        if key in self._shown and self._shown[key] == value:
            return False
        self._shown[key] = value
        return True

    def update_from(self, job: Job) -> None:
        """Show the job's state; only what changed is touched (``_changed``): a progress
        event used to reset every label, the details text and the scaled preview, each of
        which relayouts the row, several times a second while a job ran."""
        if self._changed("title", job.title):
            self.title.setText(job.title)
        status = status_text(job)
        if self._changed("status", status):
            self.status.setText(status)
        machine = machine_text(job.runner, self._remote_host())
        if self._changed("machine", machine):
            self.machine.setText(machine)
            self.machine.setToolTip(f"Machine: {machine}" if machine else "")
            self.machine.setVisible(bool(machine))
        self.bar.setValue(int(job.progress * 1000))
        self.bar.setVisible(job.active or job.state == DONE)
        self.cancel.setEnabled(job.active and not job.cancel_requested)
        self.cancel.setVisible(job.active)
        has_error = job.state == FAILED and bool(job.error)
        self.error.setVisible(has_error)
        if self._changed("error", job.error):
            self.error.setText(job.error)
        self.details_button.setVisible(has_error and bool(job.traceback))
        if self._changed("traceback", job.traceback) and (job.traceback or self.details is not None):
            self._details_box().setPlainText(job.traceback)
        if job.preview is not None and self._changed("preview", id(job.preview)):
            self.thumb.setPixmap(
                QPixmap.fromImage(job.preview).scaled(
                    THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
            )
        elif job.preview is None and job.kind == "text" and job.text:
            self.thumb.setText("T")
        if job.state == CANCELLED:
            self.title.setStyleSheet("color:#8c9099;")


class JobsPanel(QWidget):
    """Per-job rows, newest first; "Cancel all" and "Clear finished" on top."""

    cancel_requested = Signal(str)  # ticket
    cancel_all_requested = Signal()

    def __init__(self, tracker: JobTracker, parent: QWidget | None = None, remote_host: Callable[[], str | None] | None = None) -> None:
        """``remote_host``: the remote engine's host name while the window uses one, else None."""
        super().__init__(parent)
        self.tracker = tracker
        self.remote_host = remote_host
        self.rows: dict[str, tuple[QListWidgetItem, JobRow]] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        header = QHBoxLayout()
        self.summary = QLabel("No jobs")
        self.summary.setObjectName("muted")
        self.cancel_all = QPushButton("Cancel all")
        self.cancel_all.setObjectName("danger")
        self.cancel_all.setToolTip("Cancel every queued and running job")
        self.cancel_all.clicked.connect(self.cancel_all_requested)
        self.clear = QPushButton("Clear finished")
        self.clear.setToolTip("Take finished, failed and cancelled jobs off the list (History keeps their results)")
        self.clear.clicked.connect(self.clear_finished)
        header.addWidget(self.summary, 1)
        header.addWidget(self.clear)
        header.addWidget(self.cancel_all)
        layout.addLayout(header)
        self.list = QListWidget()
        self.list.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        layout.addWidget(self.list, 1)
        tracker.added.connect(self._add)
        tracker.changed.connect(self._update)
        tracker.preview_image.connect(lambda ticket, _image: self._update(ticket))
        self._refresh_summary()

    def row(self, ticket: str) -> JobRow | None:
        entry = self.rows.get(ticket)
        return entry[1] if entry else None

    def _add(self, ticket: str) -> None:
        job = self.tracker.jobs[ticket]
        row = JobRow(job, remote_host=self.remote_host)
        row.cancel_clicked.connect(self.cancel_requested)
        item = QListWidgetItem()
        item.setSizeHint(self._row_size(row))
        self.list.insertItem(0, item)
        self.list.setItemWidget(item, row)
        self.rows[ticket] = (item, row)
        while self.list.count() > MAX_ROWS:
            self._remove_oldest_finished()
        self._refresh_summary()

    def _update(self, ticket: str) -> None:
        entry = self.rows.get(ticket)
        job = self.tracker.jobs.get(ticket)
        if entry is None or job is None:
            return
        item, row = entry
        row.update_from(job)
        size = self._row_size(row)
        if size != item.sizeHint():  # a new hint relayouts the whole list
            item.setSizeHint(size)
        self._refresh_summary()

    def _row_size(self, row: QWidget) -> QSize:
        """The row's height at the list's width: a wrapped error gets all its lines, not two."""
        width = max(120, self.list.viewport().width())
        hint = row.sizeHint()
        # The text column is what the thumbnail, the cancel button and the margins leave.
        text_width = max(60, width - THUMB - 30 - 12 - 12)
        body = row.layout().itemAt(1).layout() if row.layout() is not None and row.layout().count() > 1 else None
        if body is None:
            return QSize(width, hint.height())
        heights = []
        for index in range(body.count()):
            widget = body.itemAt(index).widget()
            if isinstance(row, JobRow) and body.itemAt(index).layout() is row.status_line:
                heights.append(row.status_line.sizeHint().height())
                continue
            if widget is None or widget.isHidden():
                continue
            wrapped = isinstance(widget, QLabel) and widget.wordWrap()
            heights.append(widget.heightForWidth(text_width) if wrapped else widget.sizeHint().height())
        margins = row.layout().contentsMargins()
        needed = sum(heights) + body.spacing() * max(0, len(heights) - 1) + margins.top() + margins.bottom()
        return QSize(width, max(hint.height(), needed))

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        for item, row in self.rows.values():
            item.setSizeHint(self._row_size(row))

    def _remove_oldest_finished(self) -> None:
        for index in range(self.list.count() - 1, -1, -1):
            item = self.list.item(index)
            row = self.list.itemWidget(item)
            job = self.tracker.jobs.get(row.ticket) if isinstance(row, JobRow) else None
            if job is None or not job.active:
                self.list.takeItem(index)
                if isinstance(row, JobRow):
                    self.rows.pop(row.ticket, None)
                return
        self.list.takeItem(self.list.count() - 1)

    def clear_finished(self) -> None:
        for ticket, (item, _row) in list(self.rows.items()):
            job = self.tracker.jobs.get(ticket)
            if job is None or not job.active:
                self.list.takeItem(self.list.row(item))
                del self.rows[ticket]
        self._refresh_summary()

    def _refresh_summary(self) -> None:
        active = self.tracker.active()
        summary = f"{len(active)} active, {len(self.rows)} shown" if self.rows else "No jobs"
        if summary != self.summary.text():
            self.summary.setText(summary)
        self.cancel_all.setEnabled(bool(active))


class JobBar(QWidget):
    """The status-bar strip: the running job's progress and how many wait."""

    def __init__(self, tracker: JobTracker, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tracker = tracker
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.label = QLabel("")
        self.label.setObjectName("muted")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFixedWidth(160)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(10)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        tracker.changed.connect(self.refresh)
        tracker.added.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args: object) -> None:
        active = self.tracker.active()
        running = self.tracker.running()
        self.setVisible(bool(active))
        if running is not None:
            self.bar.setValue(int(running.progress * 1000))
        waiting = len(active) - (1 if running else 0)
        text = running.generator_name if running else ""
        if waiting:
            text += f"  (+{waiting} queued)"
        self.label.setText(text)
