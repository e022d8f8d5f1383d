"""What the History's actions do in the window: Re-run, Vary, Send to canvas / timeline, Use
as input (branch), from the panel's menu or the keyboard (Ctrl+R, Ctrl+Shift+R).

Split out of ``main_window.py``. A re-run or a variation is a new job through the
``GenerationFlow``; the inputs the node used (artefact ids) go up again from the project in
case this engine lacks them. What it needs of the window is ``HistoryHost``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QSettings

from studio.core.history import HistoryNode
from studio.ui import follow_results
from studio.ui.generation_flow import GenerationFlow
from studio.ui.input_sources import INPUT_KINDS

if TYPE_CHECKING:
    from PySide6.QtWidgets import QStatusBar

    from studio.ui.canvas import CanvasWidget
    from studio.ui.generate_panel import GeneratePanel
    from studio.ui.history_panel import HistoryPanel
    from studio.ui.jobs import Job
    from studio.ui.project_session import ProjectSession
    from studio.ui.timeline import TimelineWidget


class HistoryHost(Protocol):
    session: ProjectSession
    generate_panel: GeneratePanel
    history_panel: HistoryPanel
    canvas: CanvasWidget
    timeline: TimelineWidget
    settings: QSettings
    flow: GenerationFlow

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)


class HistoryActions:
    def __init__(self, host: HistoryHost) -> None:
        self.host = host

    def _say(self, text: str, ms: int) -> None:
        self.host.statusBar().showMessage(text, ms)

    def generator_for(self, node: HistoryNode) -> dict[str, Any] | None:
        generators = self.host.generate_panel.generators
        return generators.get(node.generator) or generators.get(node.plugin_id)

    def node_uploads(self, generator: dict[str, Any], params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, tuple[bytes, str, str]]]:
        """Inputs a node used (artefact ids) go up again from the project, in case this engine lacks them."""
        params = dict(params)
        uploads: dict[str, tuple[bytes, str, str]] = {}
        store = self.host.session.store
        for spec in generator.get("params") or []:
            value = params.get(spec["name"])
            if spec["type"] in INPUT_KINDS and isinstance(value, str) and store is not None and store.has_blob(value):
                info = store.blob_info(value)
                uploads[spec["name"]] = (store.get_blob(value), info["kind"], info["mime"])
                params.pop(spec["name"])
        return params, uploads

    def rerun(self, node: HistoryNode) -> Job | None:
        generator = self.generator_for(node)
        if generator is None:
            self._say(f"{node.generator} is not available", 8000)
            return None
        params, uploads = self.node_uploads(generator, node.params)
        return self.host.flow.submit(generator, params, node.seed, uploads=uploads, parents=list(node.parents))

    def vary(self, node: HistoryNode) -> Job | None:
        generator = self.generator_for(node)
        if generator is None:
            return None
        params, uploads = self.node_uploads(generator, node.params)
        names = {spec["name"] for spec in generator.get("params") or []}
        seed = node.seed
        if {"variation", "variation_seed"} <= names:
            # A small step in latent space: same seed, a nearby latent.
            params["variation_seed"] = random.randint(0, 2**31 - 1)
            params["variation"] = float(params.get("variation") or 0.0) or 0.25
        else:
            seed = random.randint(0, 2**31 - 1)
        return self.host.flow.submit(generator, params, seed, uploads=uploads, parents=[node.id], placement={"vary_of": node.id})

    def on_target(self, action: Callable[[HistoryNode], Any]) -> Any:
        """Re-run / Vary from the keyboard: the History's selected generation, else the latest."""
        nodes = self.host.history_panel.selected_nodes()
        history = self.host.session.history
        if not nodes and history is not None:
            latest = max(history.nodes(), key=lambda node: node.finished or 0.0, default=None)
            nodes = [latest] if latest is not None else []
        if not nodes:
            self._say("Nothing to re-run yet: generate something first", 6000)
            return None
        return action(nodes[0])

    def use_as_input(self, node: HistoryNode) -> None:
        """Branch from a node: its output goes where inputs are taken from, and the next generation is its child."""
        self.send(node)
        self.host.flow.branch_parent = node.id
        self._say("The next generation branches from the chosen node", 6000)

    def send(self, node: HistoryNode) -> None:
        store = self.host.session.store
        if store is None:
            return
        landed = follow_results.Landed()
        for blob in node.outputs:
            try:
                data = store.get_blob(blob)
                info = store.blob_info(blob)
            except KeyError:
                continue
            landed.add(self.host.flow.place(node, info["kind"], data, blob))
        follow_results.reveal(landed, canvas=self.host.canvas, timeline=self.host.timeline, settings=self.host.settings)
