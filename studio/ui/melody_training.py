"""Tools ▸ Train on my MIDI…: fine-tune a melody model on a folder of the user's MIDI files.

Training is an engine job (``studio.engine.commands``): the dialog uploads the MIDI files,
submits the ``train`` command of a plugin that declares one for melodies
(``[[commands]] id = "train"``, ``data = "melody"``), and follows the job's events: progress
moves the bar, the trainer's log lines (``text`` events) fill the log, Cancel cancels the
job (the trainer leaves a checkpoint, so training again with the same name resumes). Torch
never enters the window's process, and a remote engine trains just the same. The finished
model lands in the engine's ``STUDIO_HOME/models/<kind>/NAME``, where its model scan offers
it as a choice.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

if TYPE_CHECKING:  # pydantic's models load after the window's first paint
    from studio.engine.protocol import Catalogue, CommandEntry, PluginEntry

MIDI_SUFFIXES = (".mid", ".midi")
LOG_LINES = 400
TRAIN = "train"
MIDI_DATA = "melody"  # the artefact kind of the files a MIDI trainer learns from


def model_name(text: str) -> str:
    """A folder name from what the user typed ("" when nothing usable is left)."""
    name = re.sub(r"[^\w.\-]+", "-", text.strip())
    return re.sub(r"-{2,}", "-", name).strip(".-")[:64]


def midi_files(folder: Path) -> list[Path]:
    return sorted(path for path in Path(folder).rglob("*") if path.suffix.lower() in MIDI_SUFFIXES and path.is_file())


def midi_trainers(catalogue: Catalogue) -> list[tuple[PluginEntry, CommandEntry]]:
    """(plugin row, command) for every enabled plugin that trains on MIDI files."""
    found = []
    for row in catalogue.plugins:
        if row.state != "enabled":
            continue
        for command in row.commands:
            if command.id == TRAIN and command.data == MIDI_DATA:
                found.append((row, command))
    return found


def train_args(name: str, data: str = "@artifacts:") -> list[str]:
    """The train command's arguments: fine-tune the shipped model on ``data`` into ``NAME``."""
    return ["--data", data, "--from", "shipped", "--name", name]


class TrainingDialog(QDialog):
    """Follows one training job; shows its progress and its log; Cancel cancels the job."""

    training_finished = Signal(bool, str)  # ok, message

    def __init__(self, link: Any, plugin_id: str, name: str, files: list[Path], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Training “{name}”")
        self.setObjectName("trainingDialog")
        self.resize(620, 380)
        self.link, self.plugin_id, self.name, self.files = link, plugin_id, name, list(files)
        self.job_id = ""
        self.cancelled = False
        self.started = False
        self.ended = False  # (not "done": that would hide QDialog.done, which reject() calls)
        self.succeeded = False
        self.record: dict[str, Any] = {}
        self._early: list[dict[str, Any]] = []
        layout = QVBoxLayout(self)
        self.status = QLabel("Uploading the MIDI files…")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        layout.addWidget(self.progress)
        self.log = QPlainTextEdit()
        self.log.setObjectName("trainingLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        layout.addWidget(self.log, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._pending = ""
        link.event.connect(self._on_event)

    def start(self) -> None:
        files, plugin_id = list(self.files), self.plugin_id
        self.log.appendPlainText(f"$ train {plugin_id} " + " ".join(train_args(self.name, f"<{len(files)} MIDI files>")))
        self.started = True

        def work(client: Any) -> str:
            ids = [client.upload(path.read_bytes(), kind=MIDI_DATA, mime="audio/midi") for path in files]
            return client.submit_command(plugin_id, TRAIN, train_args(self.name, "@artifacts:" + ",".join(ids)))

        self.link.call(work, self._accepted, lambda message: self._end(False, f"The training job was refused: {message}"))

    @property
    def running(self) -> bool:
        return self.started and not self.ended

    # ------------------------------------------------------------------ the job's events

    def _accepted(self, job_id: str) -> None:
        self.job_id = job_id
        self.status.setText("Queued…")
        if self.cancelled:
            self.link.cancel(job_id)
        early, self._early = self._early, []
        for event in early:
            self._on_event(event)

    def _on_event(self, event: dict) -> None:
        if self.ended:
            return
        if not self.job_id:
            self._early.append(event)  # the job's first events can beat its id here
            return
        if event.get("job") != self.job_id:
            return
        kind = event.get("type")
        if kind == "started":
            self.status.setText("Training…")
        elif kind == "progress":
            self.progress.setValue(int(round(min(1.0, float(event.get("progress") or 0.0)) * 1000)))
            if event.get("message"):
                self.status.setText(str(event["message"]))
        elif kind == "preview" and event.get("text"):
            self._text(str(event["text"]))
        elif kind == "done":
            self.progress.setValue(1000)
            self._end(True, f"The model “{self.name}” is ready: pick it in the generator's Model setting.")
        elif kind == "failed":
            self._end(False, f"Training failed: {event.get('error') or 'see the log'}")
        elif kind == "cancelled":
            self._end(False, f"Training was cancelled. Train again with the name “{self.name}” to resume from its last checkpoint.")

    def _text(self, chunk: str) -> None:
        text = self._pending + chunk
        lines = text.split("\n")
        self._pending = lines.pop()
        for line in lines:
            if line.strip():
                self.log.appendPlainText(line.rstrip())

    # ------------------------------------------------------------------ ending

    def cancel(self) -> None:
        if not self.running or self.cancelled:
            return
        self.cancelled = True
        self.status.setText("Stopping…")
        if self.job_id:
            self.link.cancel(self.job_id)

    def reject(self) -> None:
        if self.running:
            self.cancel()  # the dialog closes when the job has ended
            return
        super().reject()

    def _end(self, ok: bool, message: str) -> None:
        if self.ended:
            return
        if self._pending.strip():
            self.log.appendPlainText(self._pending.strip())
            self._pending = ""
        self.ended, self.succeeded = True, ok
        self.status.setText(message)
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)  # rejected → reject → closes
        try:
            self.link.event.disconnect(self._on_event)
        except (RuntimeError, TypeError):
            pass
        self.training_finished.emit(ok, message)
        if self.cancelled:
            self.close()
