"""The studio window: dockable panels around the canvas, menus, the engine status, the job flow.

A generation is a job: the Generate panel describes it, ``EngineLink`` submits it off the GUI
thread, the ``JobTracker`` follows its events, and when it is done its artefacts are fetched,
committed to the project (blobs + a history node) and placed where they belong: images on
the canvas, melodies and audio on the timeline, text in the text panel. A job made from a
canvas region or a timeline clip lands back there (``studio.ui.placement``).

The cross-medium actions live in their own modules and are wired here: the timeline's
melody actions (``melody_actions``), the canvas' diffusion actions (``canvas_actions``),
text / image / prompt-list → prompt (``prompt_routing``), model folders from a drop or
Preferences (``model_folders``, ``preferences``) and training on the user's MIDI
(``melody_training``).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QPointF, QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent, QUndoStack
from PySide6.QtWidgets import QDialog, QDockWidget, QLabel, QMainWindow, QVBoxLayout, QWidget

from studio.core.errors import ProjectError
from studio.core.history import HistoryNode
from studio.core.paths import HomeLayout
from studio.engine.protocol import ModelsReport
from studio.ui import first_run, follow_results, melody_training
from studio.ui.canvas import CanvasWidget
from studio.ui.canvas_actions import CanvasActions
from studio.ui.dialogs import PROJECT_FILTER, Prompter
from studio.ui.engine_link import FAILED, READY, RESTARTING, STARTING, EngineLink
from studio.ui.file_transfer import PLUGIN_ARCHIVE_SUFFIXES, FileTransfer  # noqa: F401 (re-exported)
from studio.ui.generate_panel import GeneratePanel
from studio.ui.generation_flow import INPUT_KINDS, GenerationFlow
from studio.ui.history_panel import HistoryPanel
from studio.ui.image_decode import Decoded
from studio.ui.jobs import Job, JobTracker
from studio.ui.jobs_panel import JobBar, JobsPanel
from studio.ui.melody_actions import MelodyActions
from studio.ui.melody_words import clean_title
from studio.ui.message_bar import MessageBar, first_sentence
from studio.ui.preferences import PreferencesDialog
from studio.ui.project_flow import ProjectFlow
from studio.ui.project_session import Documents, ProjectSession, find_recovery
from studio.ui.prompt_routing import PromptRouting
from studio.ui.restore_actions import RestoreActions
from studio.ui.text_panel import TextPanel
from studio.ui.theme import ACCENT, DANGER, OK, WARN
from studio.ui.timeline import TimelineWidget
from studio.ui.window_actions import build_menus
from studio.ui.workspaces import Workspaces

MAX_RECENT = 8
STATE_COLOURS = {STARTING: WARN, READY: OK, RESTARTING: WARN, FAILED: DANGER}


def ui_settings(home: Path) -> QSettings:
    """Window settings (layout, recent files, remembered params) live in STUDIO_HOME, never in the user's real config."""
    return QSettings(str(Path(home) / "ui-settings.ini"), QSettings.Format.IniFormat)


class ProjectBlobs:
    """Blob access for the canvas and timeline, always through the window's current project."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window

    def get(self, blob_id: str) -> bytes:
        store = self.window.session.store
        if store is None:
            raise KeyError(blob_id)
        try:
            return store.get_blob(blob_id)
        except ProjectError:  # damaged (fails its hash): shown as missing; reported on open
            raise KeyError(blob_id) from None

    def put(self, data: bytes, kind: str, mime: str, meta: dict[str, Any] | None = None) -> str:
        store = self.window.session.store
        if store is None:
            raise ProjectError("no project is open")
        return store.put_blob(data, kind, mime, meta or {})


class MainWindow(QMainWindow):
    generation_landed = Signal(object)  # HistoryNode
    first_paint = Signal()

    def __init__(self, home: Path, *, safe_mode: bool = False, prompter: Prompter | None = None) -> None:
        super().__init__()
        self.home = Path(home)
        HomeLayout(self.home).ensure()
        self.prompter = prompter or Prompter()
        self.settings = ui_settings(self.home)
        self.setObjectName("studioMainWindow")
        self.setWindowTitle("Studio")
        self.resize(1500, 950)
        self.setDockNestingEnabled(True)
        # The Generate panel runs the full height; the timeline sits under the canvas only.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.undo = QUndoStack(self)
        self.blobs = ProjectBlobs(self)
        self.session = ProjectSession(self.home / "recovery", self._documents, self)
        self.project_flow = ProjectFlow(self)  # open / save / save as, every failure in a dialog
        self.link = EngineLink(self.home, safe_mode=safe_mode, parent=self)
        self.tracker = JobTracker(self)
        self.branch_parent: str | None = None
        self.melody_actions = MelodyActions(self)
        self.restore_actions = RestoreActions(self)
        self.canvas_actions = CanvasActions(self)
        self.prompts = PromptRouting(self)
        self._training_dialog: melody_training.TrainingDialog | None = None
        self.setAcceptDrops(True)  # model files dropped anywhere on the window
        self._painted = False
        self._loading = False

        self.canvas = CanvasWidget(self.undo, self.blobs)
        self.message_bar = MessageBar()
        centre = QWidget()
        centre.setObjectName("centre")
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.setSpacing(0)
        centre_layout.addWidget(self.message_bar)
        centre_layout.addWidget(self.canvas, 1)
        self.setCentralWidget(centre)
        self.generate_panel = GeneratePanel(self.settings)
        self.model_guide = first_run.ModelGuide(self.generate_panel, HomeLayout(self.home).models_dir, self.add_model_folder_dialog)
        self.history_panel = HistoryPanel(self.undo)
        self.jobs_panel = JobsPanel(self.tracker)
        self.text_panel = TextPanel()
        self.timeline = TimelineWidget(self.undo, self.blobs)
        self.docks: dict[str, QDockWidget] = {}
        self._add_dock("generate", "Generate", self.generate_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("history", "History", self.history_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("jobs", "Jobs", self.jobs_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("text", "Text", self.text_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("timeline", "Timeline", self.timeline, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.docks["jobs"], self.docks["text"])
        self.docks["jobs"].raise_()
        self.resizeDocks([self.docks["generate"]], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["history"]], [330], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["timeline"]], [300], Qt.Orientation.Vertical)
        self._default_state = self.saveState()
        self.workspaces = Workspaces(self)

        self.engine_label = QLabel()
        self.engine_label.setObjectName("engineState")
        self.job_bar = JobBar(self.tracker)
        self.statusBar().addPermanentWidget(self.job_bar)
        self.statusBar().addPermanentWidget(self.engine_label)
        self.flow = GenerationFlow(self)
        self.files = FileTransfer(self)
        self._build_menus()
        self._wire()
        self._show_engine_state(self.link.state, "")
        self._restore_layout()

    # ------------------------------------------------------------------ construction

    def _add_dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{key}")
        dock.setWidget(widget)
        # Movable between dock areas, never torn off into a floating window by a stray drag.
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.docks[key] = dock

    def _build_menus(self) -> None:
        """Menus and shortcuts come from the table in ``window_actions``."""
        self.actions_by_id = build_menus(self)
        self._rebuild_recent()

    def _wire(self) -> None:
        link = self.link
        link.state_changed.connect(self._show_engine_state)
        link.catalogue_changed.connect(self.generate_panel.set_catalogue)
        link.models_changed.connect(self.generate_panel.set_models)
        link.models_changed.connect(lambda _models: self.model_guide.update())
        link.event.connect(self.tracker.on_event)
        link.jobs_lost.connect(self.tracker.lost)
        self.tracker.text_delta.connect(self._text_delta)
        self.jobs_panel.cancel_requested.connect(self.cancel_job)
        self.jobs_panel.cancel_all_requested.connect(self.cancel_all)
        self.generate_panel.generate_requested.connect(self.generate)
        self.session.opened.connect(self._project_opened)
        self.session.title_changed.connect(self.setWindowTitle)
        self.undo.indexChanged.connect(lambda _i: self._document_changed())
        self.text_panel.changed.connect(self._document_changed)
        self.text_panel.use_as_prompt.connect(self._use_as_prompt)
        self.text_panel.use_as_image_prompt.connect(self.prompts.use_as_image_prompt)
        self.text_panel.use_as_music_prompt.connect(self.prompts.use_as_music_prompt)
        self.canvas.image_files_dropped.connect(self.import_images)
        self.canvas.settings_action.triggered.connect(lambda: self.restore_actions.from_layer(self.canvas.active_layer()))
        self.canvas.other_files_dropped.connect(self.models_dropped)
        self.canvas.refine_action.triggered.connect(self.canvas_actions.refine)
        self.canvas.inpaint_action.triggered.connect(self.canvas_actions.inpaint)
        self.canvas.outpaint_action.triggered.connect(lambda: self.canvas_actions.outpaint())
        self.canvas.music_action.triggered.connect(lambda: self.prompts.music_for_image())
        self.timeline.other_files_dropped.connect(self.models_dropped)
        self.timeline.continue_action.triggered.connect(lambda: self.melody_actions.run("continue"))
        self.timeline.vary_action.triggered.connect(lambda: self.melody_actions.run("vary"))
        self.timeline.interpolate_action.triggered.connect(lambda: self.melody_actions.run("interpolate"))
        self.timeline.harmonize_action.triggered.connect(lambda: self.melody_actions.run("harmonize"))
        self.timeline.title_action.triggered.connect(self.melody_actions.title_selected)
        self.timeline.view.files_dropped.connect(self._timeline_files_dropped)
        self.timeline.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.timeline.export_midi_action.triggered.connect(lambda: self.export_timeline_dialog("mid"))
        self.timeline.export_audio_action.triggered.connect(lambda: self.export_timeline_dialog("wav"))
        self.history_panel.restore_requested.connect(self.restore_node)
        self.history_panel.rerun_requested.connect(self.rerun_node)
        self.history_panel.vary_requested.connect(self.vary_node)
        self.history_panel.use_as_input_requested.connect(self.use_node_as_input)
        self.history_panel.send_requested.connect(self.send_node)
        self.history_panel.send_prompts_requested.connect(self.prompts.send_each_to_image_generator)

    # ------------------------------------------------------------------ start and stop

    def start(self, project: Path | None = None, *, engine: bool = True) -> None:
        """Open the project (or offer to recover a crashed session), then connect the engine in the background."""
        if project is not None:
            self.open_project(Path(project), ask_recovery=True)
        if self.session.store is None:
            self._recover_or_new()
        if engine:
            self.link.start()
        self._flag_withdrawn_plugins()

    def _flag_withdrawn_plugins(self) -> None:
        """Installed plugin versions their index withdrew, from the cached indexes (no network)."""
        from studio.ui.plugin_browser import withdrawn_notice

        self.withdrawn_notice = withdrawn_notice(HomeLayout(self.home))
        if self.withdrawn_notice:
            self.statusBar().showMessage(self.withdrawn_notice, 60000)

    def _recover_or_new(self) -> None:
        offers = find_recovery(self.session.recovery_dir)
        for offer in offers[:1]:
            if self.prompter.ask(self, "Recover work", offer.describe()):
                try:
                    self.session.recover(offer)
                    self.statusBar().showMessage("Recovered the automatically saved work.", 8000)
                    return
                except ProjectError as exc:
                    self.prompter.error(self, "Cannot recover", str(exc))
            else:
                self.session.discard_offer(offer)
        self.project_flow.new()

    def paintEvent(self, event: Any) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.first_paint.emit()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.maybe_keep_changes():
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.workspaces.save_current()
        self.settings.sync()
        self.timeline.player.stop()
        if self._training_dialog is not None and self._training_dialog.running:
            self._training_dialog.cancel()  # it checkpoints: training again with the same name resumes
        self.session.close()
        self.link.close()
        self.flow.close()
        event.accept()

    def maybe_keep_changes(self) -> bool:
        """Before closing the project: save / discard / cancel. False means "stay"."""
        if self.session.store is None:
            return True
        unsaved_untitled = self.session.untitled and self.session.store.node_count() > 0
        if not self.session.dirty and not unsaved_untitled:
            return True
        name = "the untitled project" if self.session.untitled else self.session.store.path.name
        answer = self.prompter.ask_save(self, f"Save the changes to {name}?")
        if answer == "cancel":
            return False
        if answer == "save":
            return self.save()
        if self.session.untitled:
            self.session.close(discard_untitled=True)
        else:
            self.session.close()
        return True

    # ------------------------------------------------------------------ layout

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def reset_layout(self) -> None:
        """Every dock back in its place, then the current workspace's arrangement afresh."""
        self.restoreState(self._default_state)
        for dock in self.docks.values():
            dock.show()
        self.workspaces.reset()

    # ------------------------------------------------------------------ engine state

    def _show_engine_state(self, state: str, detail: str) -> None:
        text = {
            STARTING: "engine starting…",
            READY: "engine ready",
            RESTARTING: "engine restarting…",
            FAILED: f"engine failed: {detail}",
        }.get(state, state)
        self.engine_label.setText(f"● {text}")
        self.engine_label.setToolTip(detail or text)
        self.engine_label.setStyleSheet(f"color: {STATE_COLOURS.get(state, ACCENT)};")
        if state == RESTARTING and detail:
            self.statusBar().showMessage(detail, 10000)
        if state == FAILED:
            self.statusBar().showMessage(f"The engine could not start: {detail}. Tools ▸ Restart engine connection tries again.")

    @property
    def engine_state(self) -> str:
        return self.link.state

    # ------------------------------------------------------------------ project

    def _documents(self) -> Documents:
        return Documents(self.canvas.to_document(), self.timeline.to_document(), self.text_panel.text())

    def _document_changed(self) -> None:
        if not self._loading:
            self.session.mark_changed()

    def _project_opened(self) -> None:
        self._loading = True
        try:
            self.undo.clear()
            docs = self.session.loaded
            problems = self.canvas.load_document(docs.canvas)
            self.timeline.load_document(docs.timeline)
            self.text_panel.set_text(docs.text)
            self.history_panel.set_history(self.session.history, self._load_blob)
            self.undo.setClean()
        finally:
            self._loading = False
        self.workspaces.switch(self.workspaces.remembered_for(None if self.session.untitled else self.session.path))
        self.canvas.view.fit()
        self.branch_parent = None
        if problems:
            self.statusBar().showMessage("; ".join(problems), 10000)
        if self.session.path is not None and not self.session.untitled:
            self._add_recent(self.session.path)

    def _load_blob(self, blob_id: str) -> tuple[bytes, str, str]:
        store = self.session.store
        if store is None:
            raise KeyError(blob_id)
        try:
            info = store.blob_info(blob_id)
            return store.get_blob(blob_id), info["kind"], info["mime"]
        except ProjectError:  # damaged (fails its hash): no thumbnail; reported on open
            raise KeyError(blob_id) from None

    def new_project(self) -> None:
        if not self.maybe_keep_changes():
            return
        self.session.close()
        self.project_flow.new()

    def open_project_dialog(self) -> None:
        path = self.prompter.open_path(self, "Open project", PROJECT_FILTER)
        if path is not None:
            self.open_project(path)

    def open_project(self, path: Path, *, ask_recovery: bool = True) -> bool:
        """Open a project; a file that cannot be opened gets a clear error and stays untouched."""
        return self.project_flow.open(Path(path), ask_recovery=ask_recovery)

    def save(self) -> bool:
        return self.project_flow.save()

    def save_as_dialog(self) -> bool:
        return self.project_flow.save_as_dialog()

    def save_as(self, path: Path) -> bool:
        return self.project_flow.save_as(Path(path))

    def recent_projects(self) -> list[str]:
        """The remembered project paths, newest first. QSettings hands back a lone string
        for a one-item list, which must not be read as a list of characters."""
        value = self.settings.value("recent", []) or []
        return [value] if isinstance(value, str) else [str(entry) for entry in value]

    def _add_recent(self, path: Path) -> None:
        recent = [p for p in self.recent_projects() if p != str(path)]
        recent.insert(0, str(path))
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_projects()
        for entry in recent:
            self.recent_menu.addAction(entry, lambda p=entry: self.open_project(Path(p)))
        self.recent_menu.setEnabled(bool(recent))

    # ------------------------------------------------------------------ generating

    # ------------------------------------------------------------------ the generation flow (studio.ui.generation_flow)

    def generate(self) -> list[Job]:
        return self.flow.generate()

    def submit(self, generator: dict[str, Any], params: dict[str, Any], seed: int | None, **where: Any) -> Job:
        return self.flow.submit(generator, params, seed, **where)

    def cancel_job(self, ticket: str) -> None:
        self.flow.cancel_job(ticket)

    def cancel_current(self) -> None:
        self.flow.cancel_current()

    def cancel_all(self) -> None:
        self.flow.cancel_all()

    def land(
        self, job: Job, results: list[tuple[dict[str, Any], bytes]], *, decoded: list[Decoded | None] | None = None
    ) -> HistoryNode | None:
        return self.flow.land(job, results, decoded=decoded)

    def _place(
        self,
        node: HistoryNode,
        kind: str,
        data: bytes,
        blob: str,
        job: Job | None = None,
        info: dict[str, Any] | None = None,
        *,
        decoded: Decoded | None = None,
    ) -> Any:
        return self.flow.place(node, kind, data, blob, job, info, decoded=decoded)

    # ------------------------------------------------------------------ history actions

    def _generator_for(self, node: HistoryNode) -> dict[str, Any] | None:
        return self.generate_panel.generators.get(node.generator) or self.generate_panel.generators.get(node.plugin_id)

    def _node_uploads(self, generator: dict[str, Any], params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, tuple[bytes, str, str]]]:
        """Inputs a node used (artefact ids) go up again from the project, in case this engine lacks them."""
        params = dict(params)
        uploads: dict[str, tuple[bytes, str, str]] = {}
        store = self.session.store
        for spec in generator.get("params") or []:
            value = params.get(spec["name"])
            if spec["type"] in INPUT_KINDS and isinstance(value, str) and store is not None and store.has_blob(value):
                info = store.blob_info(value)
                uploads[spec["name"]] = (store.get_blob(value), info["kind"], info["mime"])
                params.pop(spec["name"])
        return params, uploads

    def restore_node(self, node: HistoryNode) -> bool:
        return self.restore_actions.from_node(node) is not None

    def rerun_node(self, node: HistoryNode) -> Job | None:
        generator = self._generator_for(node)
        if generator is None:
            self.statusBar().showMessage(f"{node.generator} is not available", 8000)
            return None
        params, uploads = self._node_uploads(generator, node.params)
        return self.submit(generator, params, node.seed, uploads=uploads, parents=list(node.parents))

    def vary_node(self, node: HistoryNode) -> Job | None:
        generator = self._generator_for(node)
        if generator is None:
            return None
        params, uploads = self._node_uploads(generator, node.params)
        names = {spec["name"] for spec in generator.get("params") or []}
        seed = node.seed
        if {"variation", "variation_seed"} <= names:
            # A small step in latent space: same seed, a nearby latent.
            params["variation_seed"] = random.randint(0, 2**31 - 1)
            params["variation"] = float(params.get("variation") or 0.0) or 0.25
        elif "temperature" in names and node.kind in ("music", "text"):
            seed = random.randint(0, 2**31 - 1)
        else:
            seed = random.randint(0, 2**31 - 1)
        return self.submit(generator, params, seed, uploads=uploads, parents=[node.id])

    def _on_history_target(self, action: Any) -> Any:
        """Re-run / Vary from the keyboard: the History's selected generation, else the latest."""
        nodes = self.history_panel.selected_nodes()
        history = self.session.history
        if not nodes and history is not None:
            latest = max(history.nodes(), key=lambda node: node.finished or 0.0, default=None)
            nodes = [latest] if latest is not None else []
        if not nodes:
            self.statusBar().showMessage("Nothing to re-run yet: generate something first", 6000)
            return None
        return action(nodes[0])

    def use_node_as_input(self, node: HistoryNode) -> None:
        """Branch from a node: its output goes where inputs are taken from, and the next generation is its child."""
        self.send_node(node)
        self.branch_parent = node.id
        self.statusBar().showMessage("The next generation branches from the chosen node", 6000)

    def send_node(self, node: HistoryNode) -> None:
        if self.session.store is None:
            return
        landed = follow_results.Landed()
        for blob in node.outputs:
            try:
                data = self.session.store.get_blob(blob)
                info = self.session.store.blob_info(blob)
            except KeyError:
                continue
            landed.add(self._place(node, info["kind"], data, blob))
        follow_results.reveal(landed, canvas=self.canvas, timeline=self.timeline, settings=self.settings)

    # ------------------------------------------------------------------ files in

    def restore_from_png(self, data: bytes, name: str = "PNG") -> bool:
        """A dropped image's settings (PNG, JPEG or WebP; ours or another tool's) into the Generate panel."""
        return self.restore_actions.from_image(data, name) is not None

    def _text_delta(self, ticket: str, delta: str) -> None:
        job = self.tracker.jobs.get(ticket)
        if job is not None and job.placement.get("title_clip"):
            return  # a title names its clip; it does not go into the text
        self.text_panel.stream(ticket, delta)

    def _title_landed(self, clip_id: str, reply: str) -> None:
        title = clean_title(reply)
        if not title:
            self.statusBar().showMessage("The language model gave no title", 8000)
            return
        try:
            self.timeline.rename_clip(clip_id, title)
        except KeyError:
            self.statusBar().showMessage(f"Title: {title} (its clip was deleted meanwhile)", 10000)
            return
        self.docks["timeline"].raise_()
        self.statusBar().showMessage(f"Titled the tune “{title}”", 8000)

    def send_latest_prompts(self) -> list[Job]:
        node = self.prompts.latest_prompts_node()
        if node is None:
            self.prompter.info(
                self, "Send each prompt", "Generate prompts with the Prompt builder first (or select a text generation in the History)."
            )
            return []
        return self.prompts.send_each_to_image_generator(node)

    # ------------------------------------------------------------------ model files dropped

    def dragEnterEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:
        self.files.drop(event)

    def import_images(self, paths: list[str], pos: QPointF | None = None) -> None:
        self.files.import_images(paths, pos)

    def models_dropped(self, paths: list[str]) -> list[Path]:
        return self.files.models_dropped(paths)

    def add_model_folder_dialog(self) -> list[Path]:
        return self.files.add_model_folder_dialog()

    def _timeline_files_dropped(self, paths: list[str], beat: float, track_index: int) -> None:
        self.files.timeline_files_dropped(paths, beat, track_index)

    def export_canvas(self, path: Path, *, layer_only: bool = False) -> Path:
        return self.files.export_canvas(path, layer_only=layer_only)

    def export_canvas_dialog(self, *, layer_only: bool) -> None:
        self.files.export_canvas_dialog(layer_only=layer_only)

    def export_timeline_dialog(self, kind: str, *, clip_only: bool = False) -> None:
        self.files.export_timeline_dialog(kind, clip_only=clip_only)

    def export_text_dialog(self) -> None:
        self.files.export_text_dialog()

    def show_error(self, message: str) -> None:
        """An error in full above the canvas, a short form in the status bar."""
        self.message_bar.show_error(message)
        self.statusBar().showMessage(first_sentence(message), 15000)

    def offer_engine_restart(self, why: str) -> bool:
        busy = self.link.active_jobs
        if busy:
            self.prompter.info(
                self,
                "Restart the engine",
                f"{why} The engine reads them when it starts; restart it (Tools ▸ Restart engine) when the running job{'s are' if busy != 1 else ' is'} done.",
            )
            return False
        if self.prompter.ask(self, "Restart the engine", f"{why} The engine reads them when it starts. Restart it now?"):
            self.restart_engine()
            return True
        self.statusBar().showMessage(f"{why} They apply when the engine next starts (Tools ▸ Restart engine).", 10000)
        return False

    def restart_engine(self) -> None:
        busy = self.link.active_jobs
        if busy and not self.prompter.ask(
            self,
            "Restart the engine",
            f"{busy} job{'s are' if busy != 1 else ' is'} still running and will be lost. Restart the engine anyway?",
        ):
            return
        self.link.restart_engine()

    # ------------------------------------------------------------------ training

    def train_melody_dialog(self) -> melody_training.TrainingDialog | None:
        """Tools ▸ Train on my MIDI…: a folder of MIDI files and a name, then a training job.

        The trainer is whichever plugin declares a ``train`` command for melodies (the user
        picks when several do); the job runs on the engine (see ``melody_training``).
        """
        if self._training_dialog is not None and self._training_dialog.running:
            self._training_dialog.raise_()
            return self._training_dialog
        trainers = melody_training.midi_trainers(self.link.catalogue)
        if not trainers:
            self.prompter.error(
                self,
                "Train on my MIDI",
                "No plugin here trains on MIDI files (none declares a train command for melodies): see Tools ▸ Plugins.",
            )
            return None
        folder = self.prompter.open_folder(self, "Train on my MIDI: choose a folder of MIDI files")
        if folder is None:
            return None
        files = melody_training.midi_files(folder)
        if not files:
            self.prompter.error(self, "Train on my MIDI", f"{folder} holds no .mid or .midi files.")
            return None
        row, command = trainers[0]
        if len(trainers) > 1:
            labels = {f"{r.get('name') or r['id']} ({r['id']})": (r, c) for r, c in trainers}
            picked = self.prompter.choose(self, "Train on my MIDI", "Train which plugin's model?", list(labels))
            if picked is None:
                return None
            row, command = labels[picked]
        count = len(files)
        typed = self.prompter.ask_text(
            self,
            "Train on my MIDI",
            f"{count} MIDI file{'s' if count != 1 else ''} found. Name the new model:",
            melody_training.model_name(folder.name) or "my-tunes",
        )
        name = melody_training.model_name(typed or "")
        if not name:
            return None
        kind = str(command.get("models") or "")
        known = [entry for entry in self.link.models.found if entry.kind == kind and Path(entry.path).name == name]
        if known and not self.prompter.ask(self, "Train on my MIDI", f"A model “{name}” exists. Train it further on these files?"):
            return None
        dialog = melody_training.TrainingDialog(self.link, row["id"], name, files, self)
        dialog.training_finished.connect(lambda ok, message: self._training_finished(ok, message, name, kind))
        if self._training_dialog is not None:
            self._training_dialog.deleteLater()  # the finished run's dialog
        self._training_dialog = dialog
        dialog.show()
        dialog.start()
        return dialog

    def _training_finished(self, ok: bool, message: str, name: str, kind: str) -> None:
        self.statusBar().showMessage(message, 12000)
        if not ok:
            return

        def pick(models: ModelsReport) -> None:
            self.link.models_changed.disconnect(pick)
            panel = self.generate_panel
            editor = next(
                (
                    panel.editors.get(spec["name"])
                    for spec in (panel.current or {}).get("params") or []
                    if spec.get("type") == "model" and spec.get("model_kind") == kind
                ),
                None,
            )
            path = next(
                (entry.path for entry in models.found if entry.kind == kind and Path(entry.path).name == name),
                None,
            )
            if editor is not None and path:
                editor.set_value(path)

        self.link.models_changed.connect(pick)
        self.link.refresh_models()  # the new folder appears in GET /models and the model pickers

    def _use_as_prompt(self, text: str) -> None:
        if not self.generate_panel.set_prompt(text):
            self.statusBar().showMessage("The selected generator has no text prompt", 5000)
        else:
            self.docks["generate"].raise_()

    # ------------------------------------------------------------------ files out

    # ------------------------------------------------------------------ other dialogs

    def install_plugin_archive(self, path: Path) -> Any:
        """A plugin .zip or wheel dropped on the window: the plugin manager shows what it is and asks."""
        dialog = self.show_plugins()
        if dialog is not None:
            dialog.install_archive(path)
        return dialog

    def show_plugins(self) -> Any:
        try:
            from studio.ui.plugin_manager import PluginManagerDialog  # written alongside; may not exist yet
        except ImportError:
            self.prompter.info(
                self,
                "Plugins",
                "The plugin manager is not available in this build yet. `python main.py plugins list` shows the installed plugins.",
            )
            return None
        try:
            dialog = PluginManagerDialog(self.link, self, safe_mode=self.link.safe_mode)
        except TypeError:  # an older signature
            dialog = PluginManagerDialog(self)
        if hasattr(dialog, "plugins_changed"):
            dialog.plugins_changed.connect(self.link.refresh_catalogue)
        dialog.show()
        self._plugin_dialog = dialog
        return dialog

    def make_preferences(self) -> PreferencesDialog:
        return PreferencesDialog(self.home, self.prompter, self)

    def preferences(self) -> None:
        dialog = self.make_preferences()
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.apply_preferences(dialog)
        dialog.deleteLater()

    def apply_preferences(self, dialog: PreferencesDialog) -> None:
        if dialog.apply():
            self.offer_engine_restart("Preferences changed.")
        else:
            self.statusBar().showMessage("Preferences saved.", 5000)
        if dialog.engine_target_changed:  # this computer ↔ a remote engine
            self.link.reconnect()
        self.link.refresh_models()
