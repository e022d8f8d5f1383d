"""Files in and out of the window: drops, imports, model folders, exports.

Split out of ``MainWindow``: a dropped file goes where it belongs (images to the canvas,
MIDI / audio to the timeline, model files and folders to the model folders, plugin archives
to the plugin manager); exports write the canvas, the timeline and the text with the
provenance each honestly has (``canvas_export``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage

from studio.core.errors import ProjectError, StudioError
from studio.ui import canvas_export
from studio.ui.model_folders import add_model_folders, folder_to_add

if TYPE_CHECKING:
    from PySide6.QtWidgets import QStatusBar

    from studio.ui.canvas import CanvasWidget, ImageLayer
    from studio.ui.dialogs import Prompter
    from studio.ui.engine_link import EngineLink
    from studio.ui.project_session import ProjectSession
    from studio.ui.text_panel import TextPanel
    from studio.ui.timeline import TimelineWidget


class TransferHost(Protocol):
    """Where files go and come from (canvas, timeline, text, project) and who asks and tells."""

    home: Path
    prompter: Prompter
    link: EngineLink
    session: ProjectSession
    blobs: Any  # put(data, kind, mime, meta) -> blob id
    canvas: CanvasWidget
    timeline: TimelineWidget
    text_panel: TextPanel

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)

    def offer_engine_restart(self, why: str) -> bool: ...

    def restore_from_png(self, data: bytes, name: str = "PNG") -> bool: ...

    def install_plugin_archive(self, path: Path) -> Any: ...


PLUGIN_ARCHIVE_SUFFIXES = (".zip", ".whl")


class FileTransfer:
    """Files in and out; ``host`` has the canvas, timeline, prompter and status bar (``TransferHost``)."""

    def __init__(self, host: TransferHost) -> None:
        self.host = host

    def import_images(self, paths: list[str], pos: QPointF | None = None) -> None:
        """Image files dropped on the canvas: new layers; a PNG's generation parameters go to the Generate panel."""
        for index, raw in enumerate(paths):
            path = Path(raw)
            try:
                data = path.read_bytes()
            except OSError as exc:
                self.host.prompter.error(self.host, "Cannot import", f"{path}: {exc}")
                continue
            mime = (
                "image/png" if path.suffix.lower() == ".png" else "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/webp"
            )
            try:
                blob = self.host.blobs.put(data, "image", mime, {"file": path.name})
            except ProjectError as exc:  # a read-only or full disk: say so, keep going
                self.host.prompter.error(self.host, "Cannot save project", f"{path.name} was not added: {exc}")
                return
            at = QPointF(pos.x() + 24 * index, pos.y() + 24 * index) if pos is not None else None
            if self.host.canvas.add_image(data, name=path.stem, blob=blob, pos=at, mime=mime) is None:
                self.host.prompter.error(self.host, "Cannot import", f"{path}: not an image this studio can read")
                continue
            layers = canvas_export.is_composite(data)
            if layers:
                self.host.statusBar().showMessage(
                    f"{path.name} is a canvas of {layers} layers: added as a picture; it records no single generation to restore (use History ▸ Restore on a layer's generation)",
                    15000,
                )
                continue
            self.host.restore_from_png(data, path.name)

    def timeline_files_dropped(self, paths: list[str], beat: float, track_index: int) -> None:
        for path in paths:
            try:
                self.host.timeline.import_file(Path(path), start=beat, track_index=track_index)
            except (OSError, StudioError) as exc:
                self.host.prompter.error(self.host, "Cannot import", f"{path}: {exc}")

    def drop(self, event: Any) -> None:
        """Files dropped on a panel without a drop target of its own: each goes where it belongs."""
        from studio.ui.canvas import IMAGE_SUFFIXES
        from studio.ui.timeline import AUDIO_SUFFIXES, MIDI_SUFFIXES

        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        images = [p for p in paths if p.lower().endswith(IMAGE_SUFFIXES)]
        sounds = [p for p in paths if p.lower().endswith(AUDIO_SUFFIXES + MIDI_SUFFIXES)]
        others = [p for p in paths if p not in images and p not in sounds]
        if images:
            self.import_images(images)
        for path in sounds:
            try:
                self.host.timeline.import_file(Path(path))
            except (OSError, StudioError) as exc:
                self.host.prompter.error(self.host, "Cannot import", f"{path}: {exc}")
        if others:
            self.models_dropped(others)

    def models_dropped(self, paths: list[str]) -> list[Path]:
        """Files that are no image or sound, dropped anywhere on the window.

        A plugin archive (.zip, .whl) goes to the plugin manager, which shows what it is and
        asks before installing; model files and folders are offered as model folders.
        """
        archives = [p for p in paths if p.lower().endswith(PLUGIN_ARCHIVE_SUFFIXES)]
        if archives:
            self.host.install_plugin_archive(Path(archives[0]))
            if len(archives) > 1:
                self.host.statusBar().showMessage("One plugin at a time: drop the others after this one is installed.", 8000)
            paths = [p for p in paths if p not in archives]
            if not paths:
                return []
        folders = list(dict.fromkeys(folder for folder in (folder_to_add(Path(p)) for p in paths) if folder is not None))
        if not folders:
            names = ", ".join(Path(p).name for p in paths[:3])
            self.host.statusBar().showMessage(f"{names}: not an image, MIDI, audio or model file this studio can use", 8000)
            return []
        listing = "\n".join(f"  {folder}" for folder in folders)
        if not self.host.prompter.ask(
            self.host, "Add model folder", f"Add to the model folders?\n{listing}\n\nThe engine scans them for models when it starts."
        ):
            return []
        added = add_model_folders(self.host.home, folders)
        if not added:
            self.host.statusBar().showMessage("Those models are in the model folders already.", 8000)
            self.host.link.refresh_models()
            return []
        self.host.offer_engine_restart("The model folders changed.")
        return added

    def add_model_folder_dialog(self) -> list[Path]:
        """The empty-state panel's "Add folder…": a folder of models, scanned after a restart."""
        folder = self.host.prompter.open_folder(self.host, "Add a model folder")
        if folder is None:
            return []
        added = add_model_folders(self.host.home, [Path(folder)])
        if added:
            self.host.offer_engine_restart("The model folders changed.")
        else:
            self.host.statusBar().showMessage(f"{folder} is in the model folders already.", 8000)
            self.host.link.refresh_models()
        return added

    def _encode_canvas_png(self, image: QImage, layer: ImageLayer | None) -> bytes:
        return canvas_export.encode_canvas_png(image, layer, self.host.canvas, self.host.session.history)

    def export_canvas(self, path: Path, *, layer_only: bool = False) -> Path:
        return self.host.canvas.export_png(Path(path), layer_only=layer_only, encode=self._encode_canvas_png)

    def export_canvas_dialog(self, *, layer_only: bool) -> None:
        path = self.host.prompter.save_path(self.host, "Export PNG", "PNG images (*.png)", "canvas.png")
        if path is not None:
            self.export_canvas(path if path.suffix else path.with_suffix(".png"), layer_only=layer_only)
            self.host.statusBar().showMessage(f"Exported {path}", 5000)

    def export_timeline_dialog(self, kind: str, *, clip_only: bool = False) -> None:
        if kind == "mid":
            path = self.host.prompter.save_path(self.host, "Export MIDI", "MIDI files (*.mid)", "timeline.mid")
            if path is not None:
                self.host.timeline.export_midi(path if path.suffix else path.with_suffix(".mid"), clip_only=clip_only)
        else:
            path = self.host.prompter.save_path(self.host, "Export audio", "Audio (*.wav *.flac)", "timeline.wav")
            if path is not None:
                self.host.timeline.export_audio(path if path.suffix in (".wav", ".flac") else path.with_suffix(".wav"), clip_only=clip_only)
        if path is not None:
            self.host.statusBar().showMessage(f"Exported {path}", 5000)

    def export_text_dialog(self) -> None:
        path = self.host.prompter.save_path(self.host, "Export text", "Markdown (*.md);;Text (*.txt)", "text.md")
        if path is not None:
            path.write_text(self.host.text_panel.text(), encoding="utf-8")
