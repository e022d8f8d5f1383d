"""Tools ▸ Train on my MIDI… in the window: a folder of MIDI files and a name, then a
training job followed in a dialog, and the new model picked in the Generate panel.

Split out of ``main_window.py``; the dialog and the rules (names, files, trainers) are in
``melody_training``. The trainer is whichever plugin declares a ``train`` command for
melodies (the user picks when several do); the job runs on the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from studio.ui import melody_training

if TYPE_CHECKING:
    from PySide6.QtWidgets import QStatusBar, QWidget

    from studio.engine.protocol import ModelEntry, ModelsReport
    from studio.ui.dialogs import Prompter
    from studio.ui.engine_link import EngineLink
    from studio.ui.generate_panel import GeneratePanel


class TrainingHost(Protocol):
    link: EngineLink
    prompter: Prompter
    generate_panel: GeneratePanel

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)


def _found(models: ModelsReport, kind: str, name: str) -> list[ModelEntry]:
    """The engine's found models of ``kind`` whose folder is called ``name``."""
    return [entry for entry in models.found if entry.kind == kind and Path(entry.path).name == name]


class MelodyTrainingFlow:
    TITLE = "Train on my MIDI"

    def __init__(self, host: TrainingHost, parent: QWidget) -> None:
        self.host, self.parent = host, parent
        self.dialog: melody_training.TrainingDialog | None = None

    @property
    def running(self) -> bool:
        return self.dialog is not None and self.dialog.running

    def close(self) -> None:
        if self.dialog is not None and self.dialog.running:
            self.dialog.cancel()  # it checkpoints: training again with the same name resumes

    def _pick_trainer(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        trainers = melody_training.midi_trainers(self.host.link.catalogue)
        if not trainers:
            self.host.prompter.error(
                self.parent,
                self.TITLE,
                "No plugin here trains on MIDI files (none declares a train command for melodies): see Tools ▸ Plugins.",
            )
            return None
        if len(trainers) == 1:
            return trainers[0]
        labels = {f"{r.get('name') or r['id']} ({r['id']})": (r, c) for r, c in trainers}
        picked = self.host.prompter.choose(self.parent, self.TITLE, "Train which plugin's model?", list(labels))
        return labels[picked] if picked is not None else None

    def start(self) -> melody_training.TrainingDialog | None:
        """Ask for the folder and the name, then start the job in a dialog (or raise the running one)."""
        if self.dialog is not None and self.dialog.running:
            self.dialog.raise_()
            return self.dialog
        prompter = self.host.prompter
        if not melody_training.midi_trainers(self.host.link.catalogue):
            self._pick_trainer()  # says why there is none
            return None
        folder = prompter.open_folder(self.parent, "Train on my MIDI: choose a folder of MIDI files")
        if folder is None:
            return None
        files = melody_training.midi_files(folder)
        if not files:
            prompter.error(self.parent, self.TITLE, f"{folder} holds no .mid or .midi files.")
            return None
        trainer = self._pick_trainer()
        if trainer is None:
            return None
        row, command = trainer
        count = len(files)
        typed = prompter.ask_text(
            self.parent,
            self.TITLE,
            f"{count} MIDI file{'s' if count != 1 else ''} found. Name the new model:",
            melody_training.model_name(folder.name) or "my-tunes",
        )
        name = melody_training.model_name(typed or "")
        if not name:
            return None
        kind = str(command.get("models") or "")
        if _found(self.host.link.models, kind, name) and not prompter.ask(
            self.parent, self.TITLE, f"A model “{name}” exists. Train it further on these files?"
        ):
            return None
        dialog = melody_training.TrainingDialog(self.host.link, row["id"], name, files, self.parent)
        dialog.training_finished.connect(lambda ok, message: self._finished(ok, message, name, kind))
        if self.dialog is not None:
            self.dialog.deleteLater()  # the finished run's dialog
        self.dialog = dialog
        dialog.show()
        dialog.start()
        return dialog

    def _finished(self, ok: bool, message: str, name: str, kind: str) -> None:
        self.host.statusBar().showMessage(message, 12000)
        if not ok:
            return
        link = self.host.link

        def pick(models: ModelsReport) -> None:
            link.models_changed.disconnect(pick)
            panel = self.host.generate_panel
            editor = next(
                (
                    panel.editors.get(spec["name"])
                    for spec in (panel.current or {}).get("params") or []
                    if spec.get("type") == "model" and spec.get("model_kind") == kind
                ),
                None,
            )
            found = _found(models, kind, name)
            path = found[0].path if found else None
            if editor is not None and path:
                editor.set_value(path)

        link.models_changed.connect(pick)
        link.refresh_models()  # the new folder appears in GET /models and the model pickers
