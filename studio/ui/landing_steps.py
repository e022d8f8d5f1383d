"""The steps a finished job's outputs land in, each short enough for one frame.

Landing a 1024² picture did everything in one turn of the event loop: hash and store the
bytes, record the history node (History redrew every row), place the layer (the layer list
rebuilt twice), reveal it, then Qt repainted: 15–25 ms in which the window could not paint
(issue 13, defect 11: the goal is one 60 fps frame, 16 ms). Now:

1. a worker thread decodes the pictures and stores the bytes (``store_blobs``: the project
   store is thread-safe, one connection behind a lock);
2. the GUI thread records the node (History adds one row);
3. in the next turn (``next_turn``) it places the outputs and reveals them; Qt paints after.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer

if TYPE_CHECKING:
    from studio.core.project_store import ProjectStore


def store_blobs(store: ProjectStore, results: list[tuple[dict[str, Any], bytes]], kind: str) -> list[str]:
    """Any thread: store each output's bytes; their blob ids, in order."""
    return [
        store.put_blob(data, info.get("kind") or kind, info.get("mime") or "application/octet-stream", info.get("meta") or {})
        for info, data in results
    ]


def next_turn(owner: QObject, step: Callable[[], object]) -> None:
    """Run ``step`` in a later turn of the event loop, while ``owner`` lives.

    A 1 ms timer, not a zero one: Qt delivers a zero-delay call as a posted event, in the same
    batch as the posted events before it (the repaint the recording asked for among them), so
    the two steps would still hold the loop as one. A timer comes after that batch, and other
    due timers and input get their turn in between."""
    QTimer.singleShot(1, owner, step)
