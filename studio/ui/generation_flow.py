"""The generation flow: submit → progress → land → history, in one place.

``MainWindow`` ran the whole job flow itself (71 methods, 1,100 lines). This object owns it:
it resolves the Generate panel's inputs (canvas regions, clips, files) into uploads through
a table of input sources (``input_sources``), submits jobs through the engine link, shows
previews, fetches and decodes outputs off the UI thread (``image_decode``), commits them to the project's history and places them (``placement``,
``follow_results``), with readable names (``labels``).

What it needs of the window is the small ``FlowHost`` surface below, not the whole window,
so the flow reads (and can be tested) on its own terms.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject
from PySide6.QtGui import QImage, QPixmap

from studio.core.errors import FileFormatError, ProjectError, StudioError
from studio.core.history import HistoryNode
from studio.ui import follow_results, labels, landing_steps, placement, slot_takes
from studio.ui.history_panel import node_summary
from studio.ui.image_decode import Decoded, ImageDecoder
from studio.ui.input_sources import INPUT_KINDS, INPUT_SOURCES, InputContext, resolve_inputs  # noqa: F401 (INPUT_KINDS re-exported)
from studio.ui.jobs import CANCELLED, DONE, Job
from studio.ui.jobs import FAILED as JOB_FAILED
from studio.ui.melody_words import clean_title

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings, SignalInstance
    from PySide6.QtWidgets import QDockWidget, QStatusBar

    from studio.ui.canvas import CanvasWidget
    from studio.ui.dialogs import Prompter
    from studio.ui.engine_link import EngineLink
    from studio.ui.generate_panel import GeneratePanel
    from studio.ui.history_panel import HistoryPanel
    from studio.ui.jobs import JobTracker
    from studio.ui.project_session import ProjectSession
    from studio.ui.text_panel import TextPanel
    from studio.ui.timeline import TimelineWidget
    from studio.ui.workspaces import Workspaces


class FlowHost(Protocol):
    """What the flow uses of the window."""

    link: EngineLink
    tracker: JobTracker
    session: ProjectSession
    blobs: Any
    canvas: CanvasWidget
    timeline: TimelineWidget
    generate_panel: GeneratePanel
    history_panel: HistoryPanel
    text_panel: TextPanel
    docks: dict[str, QDockWidget]
    settings: QSettings
    workspaces: Workspaces
    prompter: Prompter
    generation_landed: SignalInstance

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)

    def show_error(self, message: str) -> None: ...


class GenerationFlow(QObject):
    def __init__(self, host: FlowHost) -> None:
        super().__init__(host)  # type: ignore[arg-type]
        self.host = host
        self._fetching: dict[str, list[tuple[dict[str, Any], bytes] | None]] = {}
        self.decoder = ImageDecoder(self)
        host.tracker.finished.connect(self._job_finished)
        host.tracker.preview_image.connect(self._preview)
        host.tracker.text_delta.connect(self._text_delta)
        self.branch_parent: str | None = None  # Use as input: the next generation is this node's child
        self.input_sources = dict(INPUT_SOURCES)  # a new input source is one entry (``input_sources``)

    def close(self) -> None:
        self.decoder.close()
        self.host.generate_panel.memory.flush()  # the remembered params reach the file before the window goes

    def generate(self) -> list[Job]:
        generator = self.host.generate_panel.current
        if generator is None:
            self.host.statusBar().showMessage("No generator selected (is the engine running?)", 5000)
            return []
        params, inputs = self.host.generate_panel.request()
        try:
            uploads, parents = self._resolve_inputs(generator, inputs)
        except StudioError as exc:
            self.host.prompter.error(self.host, "Cannot generate", str(exc))
            return []
        if self.branch_parent and self.branch_parent not in parents:
            parents.insert(0, self.branch_parent)
        where = placement.plan(generator, params, inputs, canvas=self.host.canvas, timeline=self.host.timeline)
        seeds = self.host.generate_panel.take_seeds(self.host.generate_panel.batch.value())
        return [self.submit(generator, params, seed, uploads=uploads, parents=parents, placement=dict(where)) for seed in seeds]

    def _resolve_inputs(
        self, generator: dict[str, Any], inputs: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, tuple[bytes, str, str]], list[str]]:
        """The inputs' uploads and parents, each by its source's entry in ``INPUT_SOURCES``."""
        context = InputContext(canvas=self.host.canvas, timeline=self.host.timeline, blobs=self.host.blobs)
        return resolve_inputs(context, generator, inputs, self.input_sources)

    def submit(
        self,
        generator: dict[str, Any],
        params: dict[str, Any],
        seed: int | None,
        *,
        uploads: dict[str, tuple[bytes, str, str]] | None = None,
        parents: list[str] | None = None,
        placement: dict[str, Any] | None = None,
    ) -> Job:
        job = self.host.tracker.new_job(
            generator["id"], generator.get("name") or generator["id"], generator.get("kind", ""), params, seed, parents
        )
        job.placement = dict(placement or {})
        job.label = labels.generation_label(generator, params, seed, role=str(job.placement.get("role") or ""), fallback=job.generator_name)
        ticket = job.ticket
        self.host.docks["jobs"].raise_() if generator.get("kind") != "text" or job.placement.get("title_clip") else self.host.docks[
            "text"
        ].raise_()
        self.host.link.submit(
            generator["id"],
            params,
            seed,
            uploads=uploads,
            on_ok=lambda job_id: self._accepted(ticket, job_id),
            on_error=lambda message: self.host.tracker.rejected(ticket, message),
        )
        return job

    def _accepted(self, ticket: str, job_id: str) -> None:
        self.host.tracker.accepted(ticket, job_id)
        job = self.host.tracker.jobs.get(ticket)
        if job is not None and job.cancel_requested and job.active:
            self.host.link.cancel(job_id)

    def cancel_job(self, ticket: str) -> None:
        job = self.host.tracker.jobs.get(ticket)
        if job is None or not job.active:
            return
        job.cancel_requested = True
        self.host.tracker.changed.emit(ticket)
        if job.job_id:
            self.host.link.cancel(job.job_id, on_error=lambda message: self.host.statusBar().showMessage(message, 8000))

    def cancel_current(self) -> None:
        job = self.host.tracker.running() or next(iter(self.host.tracker.active()), None)
        if job is not None:
            self.cancel_job(job.ticket)

    def cancel_all(self) -> None:
        for job in self.host.tracker.active():
            self.cancel_job(job.ticket)

    def _preview(self, ticket: str, image: QImage) -> None:
        job = self.host.tracker.jobs.get(ticket)
        if job is not None and job.kind == "image":
            self.host.canvas.show_preview(image)
            slot_takes.place_preview(self.host.canvas_takes, job.placement, self.host.canvas)  # a Vary: over its layer

    def _text_delta(self, ticket: str, delta: str) -> None:
        job = self.host.tracker.jobs.get(ticket)
        if job is not None and job.placement.get("title_clip"):
            return  # a title names its clip; it does not go into the text
        self.host.text_panel.stream(ticket, delta)

    def _title_landed(self, clip_id: str, reply: str) -> None:
        title = clean_title(reply)
        status = self.host.statusBar()
        if not title:
            status.showMessage("The language model gave no title", 8000)
            return
        try:
            self.host.timeline.rename_clip(clip_id, title)
        except KeyError:
            status.showMessage(f"Title: {title} (its clip was deleted meanwhile)", 10000)
            return
        self.host.docks["timeline"].raise_()
        status.showMessage(f"Titled the tune “{title}”", 8000)

    def _job_finished(self, ticket: str) -> None:
        job = self.host.tracker.jobs.get(ticket)
        if job is None:
            return
        if job.kind == "image":
            self.host.canvas.hide_preview()
        if job.state == JOB_FAILED:
            self.host.show_error(f"{job.generator_name} failed: {job.error}")
            return
        if job.state == CANCELLED:
            self.host.statusBar().showMessage(f"{job.generator_name}: cancelled", 5000)
            if job.kind == "text":
                self.host.text_panel.finish(ticket, "")
            return
        if job.state != DONE:
            return
        artifacts = job.artifacts or [
            {"id": artifact_id, "kind": job.kind, "mime": "application/octet-stream", "meta": {}} for artifact_id in job.outputs
        ]
        if not artifacts:
            return
        slots: list[tuple[dict[str, Any], bytes] | None] = [None] * len(artifacts)
        self._fetching[ticket] = slots
        for index, info in enumerate(artifacts):
            self.host.link.fetch_artifact(
                info["id"],
                lambda result, i=index, meta=info: self._fetched(ticket, i, meta, result),
                lambda message: self._fetch_failed(ticket, message),
            )

    def _fetched(self, ticket: str, index: int, info: dict[str, Any], result: tuple[bytes, str]) -> None:
        slots = self._fetching.get(ticket)
        if slots is None:
            return
        data, mime = result
        if info.get("mime") in (None, "application/octet-stream"):
            info = dict(info, mime=mime)
        slots[index] = (info, data)
        if all(slot is not None for slot in slots):
            del self._fetching[ticket]
            job = self.host.tracker.jobs[ticket]
            results = [slot for slot in slots if slot is not None]
            pictures = [data for info, data in results if (info.get("kind") or job.kind) == "image"]
            store = self.host.session.store
            if store is None or job.landed:
                return
            # Decoded and stored (hashed, written) on a worker thread; then recorded in one turn
            # of the event loop and placed in the next, so no turn holds the UI for long.
            self.decoder.decode_then(
                pictures,
                lambda: landing_steps.store_blobs(store, results, job.kind),
                lambda decoded, ok, ids: self._stored(job, results, decoded, store, ok, ids),
            )

    def _stored(
        self, job: Job, results: list[tuple[dict[str, Any], bytes]], decoded: list[Decoded | None], store: Any, ok: bool, ids: Any
    ) -> None:
        """The GUI thread, after the worker stored the outputs: record them now, place them next turn."""
        if job.landed:
            return
        if self.host.session.store is not store:  # another project meanwhile: it lands there, as before
            self.land(job, results, decoded=decoded)
            return
        job.landed = True
        if not ok:
            self._not_stored(job, ids)
            return
        recorded = self._record(job, results, ids, decoded)
        if recorded is not None:
            landing_steps.next_turn(self, lambda: self._place_all(job, results, *recorded) if self.host.session.store is store else None)

    def _not_stored(self, job: Job, exc: Exception) -> None:
        self.host.prompter.error(self.host, "Cannot save project", f"The output of {job.generator_name} could not be added: {exc}")

    def _fetch_failed(self, ticket: str, message: str) -> None:
        self._fetching.pop(ticket, None)
        job = self.host.tracker.jobs.get(ticket)
        if job is not None:
            job.error = f"the output could not be fetched: {message}"
            self.host.tracker.changed.emit(ticket)
        self.host.statusBar().showMessage(f"Could not fetch the output: {message}", 10000)

    def land(
        self, job: Job, results: list[tuple[dict[str, Any], bytes]], *, decoded: list[Decoded | None] | None = None
    ) -> HistoryNode | None:
        """Commit a finished job's outputs to the project and place them; returns its history node.

        ``decoded``: the image outputs, in order, already decoded off the UI thread.
        """
        store, history = self.host.session.store, self.host.session.history
        if store is None or history is None or job.landed:
            return None
        job.landed = True
        try:
            ids = landing_steps.store_blobs(store, results, job.kind)
        except ProjectError as exc:  # a read-only or full disk: the output stays in the engine
            self._not_stored(job, exc)
            return None
        recorded = self._record(job, results, ids, decoded or [])
        if recorded is None:
            return None
        return self._place_all(job, results, *recorded)

    def _record(
        self, job: Job, results: list[tuple[dict[str, Any], bytes]], ids: list[str], decoded: list[Decoded | None]
    ) -> tuple[HistoryNode, list[str], list[Decoded | None]] | None:
        """The outputs' history node, added to the project's history (History shows it)."""
        history = self.host.session.history
        if history is None:
            return None
        record = dict(results[0][0].get("meta") or {})
        record.pop("output", None)
        record.setdefault("generator", job.plugin)
        record.setdefault("params", job.params)
        record.setdefault("seed", job.seed)
        record.pop("id", None)
        parents = [parent for parent in job.parents if parent in history]
        node = HistoryNode.from_record(record, outputs=ids, parents=parents)
        node.kind = job.kind
        node.finished = node.finished or time.time()
        output = (results[0][0].get("meta") or {}).get("output")
        generator = self.host.generate_panel.generators.get(job.plugin)
        node.label = node.label or labels.generation_label(
            generator,
            job.params,
            job.seed,
            kind=job.kind,
            role=str(job.placement.get("role") or ""),
            output=output if isinstance(output, dict) else None,
            fallback=job.generator_name,
        )
        pictures = iter(decoded)
        per_output = [next(pictures, None) if (info.get("kind") or job.kind) == "image" else None for info, _data in results]
        thumbs = self.host.history_panel.thumbs
        for blob, picture in zip(ids, per_output):
            if picture is not None and thumbs is not None:
                thumbs.cache[blob] = QPixmap.fromImage(picture.thumb)  # History need not decode it again
        try:
            history.add(node)
        except ProjectError as exc:
            self.host.prompter.error(
                self.host, "Cannot save project", f"The generation of {job.generator_name} could not be recorded: {exc}"
            )
            return None
        return node, ids, per_output

    def _place_all(
        self, job: Job, results: list[tuple[dict[str, Any], bytes]], node: HistoryNode, ids: list[str], per_output: list[Decoded | None]
    ) -> HistoryNode:
        """Put the recorded outputs in view and tell the jobs view and the window."""
        landed = follow_results.Landed()
        for (info, data), blob, picture in zip(results, ids, per_output):
            landed.add(self.place(node, info.get("kind") or job.kind, data, blob, job, info, decoded=picture))
        follow_results.reveal(landed, canvas=self.host.canvas, timeline=self.host.timeline, settings=self.host.settings)
        thumbs = self.host.history_panel.thumbs
        picture = thumbs.for_node(node) if thumbs is not None else None
        if picture is not None:
            job.preview = picture.toImage()  # the jobs view shows what came out
            self.host.tracker.changed.emit(job.ticket)
        self.host.generation_landed.emit(node)
        return node

    def place(
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
        """Put one output where it belongs; returns the new layer or clip id (None for text)."""
        name = node_summary(node)
        where = job.placement if job is not None else {}
        if kind == "image":
            pixels = {"image": decoded.image, "icon": decoded.icon} if decoded is not None else {}
            take = slot_takes.land_image(self.host.canvas_takes, where, name=name, blob=blob, node=node.id, image=pixels.get("image"))
            if take is not None:  # a Vary: a take of the layer it varies
                return take
            if where.get("rect"):
                return placement.land_image(self.host.canvas, where, data, name=name, blob=blob, node=node.id, **pixels)
            # Near the picture it came from: a Vary's parent, or a node sent again.
            near = follow_results.source_rect(self.host.canvas, list(job.parents) if job is not None else [node.id, *node.parents])
            return self.host.canvas.add_image(data, name=name, blob=blob, node=node.id, near=near, **pixels)
        elif kind == "melody":
            from studio.core.midi import read_midi, read_midi_parts

            try:
                melody = read_midi(data).melody
            except FileFormatError as exc:
                self.host.statusBar().showMessage(str(exc), 8000)
                return None
            if where.get("only_new_bars"):
                melody = placement.new_bars_only(melody, (info or {}).get("meta") or {})
            take = slot_takes.land_melody(self.host.timeline_takes, where, melody, name=name, blob=blob, node=node.id)
            if take is not None:  # a Vary: a take of the clip it varies
                self.host.workspaces.show_music_results()
                return take
            parts = read_midi_parts(data)  # a harmonization: one clip per voice, a track each
            if len(parts) > 1:
                clip_ids = placement.land_parts(self.host.timeline, parts, name=name, node=node.id, blob=blob)
                clip_id = clip_ids[0] if clip_ids else None
            else:
                clip_id = placement.land_melody(self.host.timeline, where, melody, name=name, node=node.id, blob=blob)
                if clip_id is None:
                    clip_id = self.host.timeline.add_melody(melody, name=name, node=node.id, blob=blob)
            self.host.workspaces.show_music_results()
            return clip_id
        elif kind == "audio":
            from studio.core.audio_io import read_audio_info

            info = read_audio_info(data)
            clip_id = self.host.timeline.add_audio(blob, float(info["duration"]), name=name, node=node.id)
            self.host.workspaces.show_music_results()
            return clip_id
        elif kind == "text":
            text = data.decode("utf-8", "replace")
            if where.get("title_clip"):
                self._title_landed(where["title_clip"], text)
                return None
            if job is not None:
                self.host.text_panel.finish(job.ticket, text)
            else:
                self.host.text_panel.stream(f"send-{node.id}", text)
                self.host.text_panel.finish(f"send-{node.id}", "")
            self.host.docks["text"].raise_()
        return None
