"""Tools ▸ Train on my MIDI…: fine-tune the melody model on a folder of the user's MIDI files.

Training runs as ``python main.py train melody --data FOLDER --from shipped --out
STUDIO_HOME/models/melody/NAME`` in a QProcess (torch never enters the window's process),
behind a dialog that shows the trainer's stderr progress and can cancel it. The trainer
checkpoints as it goes, so a cancelled run resumes when started again with the same name.
The finished model folder is where the melody plugin and the engine's model scan look.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from PySide6.QtCore import QProcess, QProcessEnvironment, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

from studio.core.paths import REPO_ROOT, HomeLayout
from studio.ui.timers import call_later

MIDI_SUFFIXES = (".mid", ".midi")
PROGRESS = re.compile(r"(\d+(?:\.\d+)?)%\s*(.*)")
KILL_AFTER_MS = 5000
LOG_LINES = 400


def model_name(text: str) -> str:
    """A folder name from what the user typed ("" when nothing usable is left)."""
    name = re.sub(r"[^\w.\-]+", "-", text.strip())
    return re.sub(r"-{2,}", "-", name).strip(".-")[:64]


def midi_files(folder: Path) -> list[Path]:
    return sorted(path for path in Path(folder).rglob("*") if path.suffix.lower() in MIDI_SUFFIXES and path.is_file())


def melody_model_dir(home: Path, name: str) -> Path:
    return HomeLayout(Path(home)).models_dir / "melody" / name


def train_command(home: Path, data: Path, name: str) -> tuple[str, list[str]]:
    """(program, arguments) of the training run."""
    main = REPO_ROOT / "main.py"
    head = [str(main)] if main.is_file() else ["-m", "studio"]
    out = melody_model_dir(home, name)
    return sys.executable, head + ["train", "melody", "--data", str(data), "--from", "shipped", "--out", str(out)]


def is_model_folder(folder: Path) -> bool:
    return (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()


class TrainingDialog(QDialog):
    """Runs one training process; shows its progress line and its log; Cancel stops it."""

    training_finished = Signal(bool, str)  # ok, message

    def __init__(self, program: str, arguments: list[str], home: Path, out: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Training melody model “{out.name}”")
        self.setObjectName("trainingDialog")
        self.resize(620, 380)
        self.program, self.arguments, self.out = program, list(arguments), Path(out)
        self.cancelled = False
        self.ended = False  # (not "done": that would hide QDialog.done, which reject() calls)
        self.succeeded = False
        self._pending = ""
        layout = QVBoxLayout(self)
        self.status = QLabel("Starting…")
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

        self.process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("STUDIO_HOME", str(home))
        env.insert("HF_HUB_OFFLINE", "1")
        env.insert("PYTHONUNBUFFERED", "1")
        self.process.setProcessEnvironment(env)
        self.process.setWorkingDirectory(str(REPO_ROOT))
        self.process.readyReadStandardError.connect(lambda: self._read(bytes(self.process.readAllStandardError().data())))
        self.process.readyReadStandardOutput.connect(lambda: self._read(bytes(self.process.readAllStandardOutput().data())))
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)

    def start(self) -> None:
        self.log.appendPlainText("$ " + " ".join([Path(self.program).name] + self.arguments))
        self.process.start(self.program, self.arguments)

    @property
    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    # ------------------------------------------------------------------ output

    def _read(self, chunk: bytes) -> None:
        # The trainer redraws one progress line with "\r"; other messages end with "\n".
        text = self._pending + chunk.decode("utf-8", "replace")
        parts = re.split(r"[\r\n]", text)
        self._pending = parts.pop()
        for part in parts:
            self._line(part.strip())

    def _line(self, line: str) -> None:
        if not line:
            return
        match = PROGRESS.search(line)
        if match and line.lstrip().startswith("["):
            self.progress.setValue(int(round(min(100.0, float(match.group(1))) * 10)))
            self.status.setText(match.group(2).strip() or line)
            return
        self.log.appendPlainText(line)

    # ------------------------------------------------------------------ ending

    def cancel(self) -> None:
        if not self.running:
            return
        self.cancelled = True
        self.status.setText("Stopping…")
        self.process.terminate()
        call_later(KILL_AFTER_MS, self._kill_if_running, self)

    def _kill_if_running(self) -> None:
        if self.running:
            self.process.kill()

    def reject(self) -> None:
        if self.running:
            self.cancel()  # the dialog closes when the process has ended
            return
        super().reject()

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._end(False, f"The trainer could not start: {self.process.errorString()}")

    def _finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        if self._pending.strip():
            self._line(self._pending.strip())
            self._pending = ""
        if self.cancelled:
            self._end(False, f"Training was cancelled. Train again with the name “{self.out.name}” to resume from its last checkpoint.")
        elif code == 0 and is_model_folder(self.out):
            self.progress.setValue(1000)
            self._end(True, f"The melody model “{self.out.name}” is ready: pick it in the Melody generator's Model setting.")
        else:
            last = self.log.toPlainText().strip().splitlines()[-1:] or [""]
            self._end(False, f"Training failed (exit code {code}). {last[0]}".strip())

    def _end(self, ok: bool, message: str) -> None:
        if self.ended:
            return
        self.ended, self.succeeded = True, ok
        self.status.setText(message)
        self.buttons.setStandardButtons(QDialogButtonBox.StandardButton.Close)  # rejected → reject → closes
        self.training_finished.emit(ok, message)
        if self.cancelled:
            self.close()
