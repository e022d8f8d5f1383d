"""The studio window: dockable panels around the canvas, menus, the engine status.

The window builds the panels and wires them; the work lives in objects named for it, each
given what it needs (a small ``Protocol`` host or explicit collaborators), not the window:

- a generation (submit → progress → land → history): ``generation_flow``;
- the History's Re-run / Vary / Send / Use as input: ``history_actions``;
- the timeline's melody actions (``melody_actions``), the canvas' diffusion actions
  (``canvas_actions``), text / image / prompt-list → prompt (``prompt_routing``), restoring
  settings (``restore_actions``);
- projects (``project_flow``, ``project_session``, ``project_blobs``, ``recent_projects``);
- files in and out (``file_transfer``); model folders (``model_folders``, ``preferences``);
- the engine's state and restarts (``engine_status``); training on the user's MIDI
  (``melody_training_flow``); menus declared as data (``window_actions``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QPointF, Qt, Signal
from PySide6.QtGui import QCloseEvent, QUndoStack
from PySide6.QtWidgets import QDialog, QDockWidget, QMainWindow, QVBoxLayout, QWidget

from studio.core.errors import ProjectError
from studio.core.history import HistoryNode
from studio.core.paths import HomeLayout
from studio.ui import accessibility, first_run, keyboard_nav, mask_brush, slot_takes
from studio.ui.canvas import CanvasWidget
from studio.ui.canvas_actions import CanvasActions
from studio.ui.dialogs import PROJECT_FILTER, Prompter
from studio.ui.engine_link import EngineLink
from studio.ui.engine_status import EngineStatus
from studio.ui.file_transfer import PLUGIN_ARCHIVE_SUFFIXES, FileTransfer  # noqa: F401 (re-exported)
from studio.ui.generate_panel import GeneratePanel
from studio.ui.generation_flow import GenerationFlow
from studio.ui.history_actions import HistoryActions
from studio.ui.history_panel import HistoryPanel
from studio.ui.image_decode import Decoded
from studio.ui.jobs import Job, JobTracker
from studio.ui.jobs_panel import JobBar, JobsPanel
from studio.ui.melody_actions import MelodyActions
from studio.ui.melody_training_flow import MelodyTrainingFlow
from studio.ui.message_bar import MessageBar, first_sentence
from studio.ui.preferences import PreferencesDialog
from studio.ui.project_blobs import ProjectBlobs, ui_settings  # noqa: F401 (ui_settings re-exported)
from studio.ui.project_flow import ProjectFlow
from studio.ui.project_session import Documents, ProjectSession, find_recovery
from studio.ui.prompt_routing import PromptRouting
from studio.ui.recent_projects import RecentProjects
from studio.ui.restore_actions import RestoreActions
from studio.ui.text_panel import TextPanel
from studio.ui.timeline import TimelineWidget
from studio.ui.window_actions import build_menus
from studio.ui.workspaces import Workspaces


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
        self.blobs = ProjectBlobs(lambda: self.session.store)
        self.session = ProjectSession(self.home / "recovery", self._documents, self)
        self.project_flow = ProjectFlow(self)  # open / save / save as, every failure in a dialog
        self.link = EngineLink(self.home, safe_mode=safe_mode, parent=self)
        self.tracker = JobTracker(self)
        self.melody_actions = MelodyActions(self)
        self.restore_actions = RestoreActions(self)
        self.canvas_actions = CanvasActions(self)
        self.prompts = PromptRouting(self)
        self.training = MelodyTrainingFlow(self, self)
        self.recent = RecentProjects(self.settings, self.open_project)
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
        self.jobs_panel = JobsPanel(self.tracker, remote_host=self.link.remote_host)
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
        self.canvas_takes, self.timeline_takes = slot_takes.for_canvas(self.canvas), slot_takes.for_timeline(self.timeline)
        self.mask_overlay = mask_brush.MaskOverlay(self.canvas)

        self.engine_status = EngineStatus(self, self)
        self.engine_label = self.engine_status.label
        self.job_bar = JobBar(self.tracker)
        self.statusBar().addPermanentWidget(self.job_bar)
        self.statusBar().addPermanentWidget(self.engine_label)
        self.flow = GenerationFlow(self)
        self.history_actions = HistoryActions(self)
        self.files = FileTransfer(self)
        self._build_menus()
        self._wire()
        self.engine_status.show_state(self.link.state, "")
        self._restore_layout()
        accessibility.describe_window(self)  # names, tooltips and keyboard focus (studio.ui.accessibility)
        self.key_maps = keyboard_nav.install(self)  # arrows / Enter / Delete in the views

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
        self.recent.menu = self.recent_menu
        self.recent.rebuild()

    def _wire(self) -> None:
        link = self.link
        link.state_changed.connect(self.engine_status.show_state)
        link.catalogue_changed.connect(self.generate_panel.set_catalogue)
        link.models_changed.connect(self.generate_panel.set_models)
        link.models_changed.connect(lambda _models: self.model_guide.update())
        link.event.connect(self.tracker.on_event)
        link.jobs_lost.connect(self.tracker.lost)
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
        for mode in ("continue", "vary", "interpolate", "harmonize"):  # the timeline's melody actions, by role
            getattr(self.timeline, f"{mode}_action").triggered.connect(lambda _=False, mode=mode: self.melody_actions.run(mode))
        self.timeline.title_action.triggered.connect(self.melody_actions.title_selected)
        self.timeline.view.files_dropped.connect(self._timeline_files_dropped)
        self.timeline.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.timeline.export_midi_action.triggered.connect(lambda: self.export_timeline_dialog("mid"))
        self.timeline.export_audio_action.triggered.connect(lambda: self.export_timeline_dialog("wav"))
        self.history_panel.restore_requested.connect(self.restore_node)
        for name in ("rerun", "vary", "use_as_input", "send"):
            getattr(self.history_panel, f"{name}_requested").connect(getattr(self.history_actions, name))
        slot_takes.wire_vary(self.canvas_takes, lambda: self.session.history, self.vary_node, self.statusBar())
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
        self.training.close()  # a running training checkpoints: training again with the same name resumes
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

    # ------------------------------------------------------------------ engine state (``engine_status``)

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
            self.history_panel.set_history(self.session.history, self.blobs.load)
            self.undo.setClean()
        finally:
            self._loading = False
        self.workspaces.switch(self.workspaces.remembered_for(None if self.session.untitled else self.session.path))
        self.canvas.view.fit()
        self.flow.branch_parent = None
        if problems:
            self.statusBar().showMessage("; ".join(problems), 10000)
        if self.session.path is not None and not self.session.untitled:
            self.recent.add(self.session.path)

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
        """The remembered project paths, newest first (``recent_projects``)."""
        return self.recent.paths()

    # ------------------------------------------------------------------ the generation flow (``generation_flow``)

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

    # ------------------------------------------------------------------ history actions (``history_actions``)

    def restore_node(self, node: HistoryNode) -> bool:
        return self.restore_actions.from_node(node) is not None

    def rerun_node(self, node: HistoryNode) -> Job | None:
        return self.history_actions.rerun(node)

    def vary_node(self, node: HistoryNode) -> Job | None:
        return self.history_actions.vary(node)

    def send_node(self, node: HistoryNode) -> None:
        self.history_actions.send(node)

    # ------------------------------------------------------------------ files in

    def restore_from_png(self, data: bytes, name: str = "PNG") -> bool:
        """A dropped image's settings (PNG, JPEG or WebP; ours or another tool's) into the Generate panel."""
        return self.restore_actions.from_image(data, name) is not None

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
        return self.engine_status.offer_restart(why)

    def restart_engine(self) -> None:
        self.engine_status.restart()

    # ------------------------------------------------------------------ training

    def train_melody_dialog(self) -> Any:
        """Tools ▸ Train on my MIDI… (``melody_training_flow``)."""
        return self.training.start()

    def _use_as_prompt(self, text: str) -> None:
        if not self.generate_panel.set_prompt(text):
            self.statusBar().showMessage("The selected generator has no text prompt", 5000)
        else:
            self.docks["generate"].raise_()

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
