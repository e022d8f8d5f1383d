"""Restore in the window: a dropped image, a history node's Restore, a layer's "Use these settings".

All three go through ``studio.core.restore`` (the function behind ``inspect`` and
``generate --from``), so the window restores exactly what the command line re-runs: the
generator is chosen by role, the Generate panel switches to it by itself, and what could
not be carried over is said in the status bar, never a bare "Restored".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from studio.core.errors import FileFormatError
from studio.core.restore import LocalModel, Restore, local_models, restore_bytes, restore_record

if TYPE_CHECKING:
    from PySide6.QtWidgets import QDockWidget, QStatusBar

    from studio.ui.generate_panel import GeneratePanel


class RestoreHost(Protocol):
    """Where restored settings go (the Generate panel) and where pictures come from (blobs)."""

    generate_panel: GeneratePanel
    blobs: Any  # get(blob_id) -> bytes
    docks: dict[str, QDockWidget]

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)


class RestoreActions:
    def __init__(self, window: RestoreHost) -> None:
        self.window = window

    def _catalogue(self) -> list[dict[str, Any]]:
        return [generator.model_dump(mode="json") for generator in self.window.generate_panel.generators.values()]

    def _models(self) -> list[LocalModel]:
        from studio.core.paths import HomeLayout, studio_home

        models = self.window.generate_panel.models  # None until the engine has answered
        found = [entry.model_dump(mode="json") for entry in models.found] if models is not None else []
        return local_models(found, HomeLayout(studio_home()).cache_dir / "hashes.json")

    def from_image(self, data: bytes, name: str = "image", *, quiet_if_none: bool = True) -> Restore | None:
        """Restore the settings an image records (ours or another tool's) into the panel."""
        try:
            restore = restore_bytes(data, self._catalogue(), self._models(), name=name)
        except FileFormatError as exc:
            if not quiet_if_none:
                self.window.statusBar().showMessage(str(exc), 8000)
            return None
        return self.apply(restore, name)

    def from_layer(self, layer: Any) -> Restore | None:
        """ "Use these settings" on a canvas layer: the settings its image records."""
        if layer is None or not getattr(layer, "blob", None):
            self.window.statusBar().showMessage("Select an image layer first", 6000)
            return None
        try:
            data = self.window.blobs.get(layer.blob)
        except KeyError:
            self.window.statusBar().showMessage(f"{layer.name}: its image is no longer stored", 8000)
            return None
        return self.from_image(data, layer.name, quiet_if_none=False)

    def from_node(self, node: Any) -> Restore | None:
        """A history node's Restore: its generator, params and seed (the item's own seed)."""
        record = {"generator": node.generator or node.plugin_id, "params": dict(node.params), "seed": node.seed}
        return self.apply(restore_record(record, self._catalogue(), self._models()), "the generation")

    def apply(self, restore: Restore, name: str) -> Restore | None:
        """Put ``restore`` in the Generate panel (switching generator) and say what was left out."""
        window = self.window
        bar = window.statusBar()
        if restore.generator is None or restore.generator not in window.generate_panel.generators:
            why = restore.unmapped.get("generator") or f"{restore.generator} is not available"
            bar.showMessage(f"Cannot restore {name}: {why}", 10000)
            return None
        if not window.generate_panel.set_values(restore.generator, restore.params, restore.seed):
            bar.showMessage(f"Cannot restore {name}: {restore.generator} is not available", 10000)
            return None
        window.docks["generate"].raise_()
        title = window.generate_panel.generators[restore.generator].get("name") or restore.generator
        message = f"Restored {name} ({restore.source}) into {title}"
        if restore.unmapped:
            details = "; ".join(f"{field}: {why}" for field, why in restore.unmapped.items())
            message += f" — not restored: {', '.join(restore.unmapped)}"
            bar.setToolTip(details)
        bar.showMessage(message, 15000)
        return restore
